//! Real clients on brisk: podman (through conmon) and containerd (through
//! its runc shim, `ctr --runc-binary`) run their containers with brisk as
//! the runtime. Every case runs with runc too, as a check of the harness:
//! what fails with runc is the harness's fault, not brisk's.
//!
//! Everything lives under a temporary directory of the test: podman's
//! storage, run root and containers.conf; containerd's root, state, sockets
//! and config, its daemon started here and stopped on drop. The image is
//! the busybox rootfs of scripts/make-bundle.sh, imported with `podman
//! import` and, for containerd, packed as an OCI archive by
//! scripts/oci-image.sh. No registry, no network.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{repo_root, Env};

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `sh -c cmd` with a time limit, output in files (no pipe that a
/// daemon started by the command could hold open).
fn sh(env: &Env, cmd: &str) -> Out {
    let mut c = Command::new("timeout");
    c.args(["120", "sh", "-c", cmd]);
    c.env(common::MARK, env.base.to_str().unwrap());
    let o = common::run_to_files(c, &env.base);
    Out {
        code: o.code,
        stdout: o.stdout,
        stderr: o.stderr,
    }
}

fn ok(env: &Env, cmd: &str) -> String {
    let mut o = sh(env, cmd);
    // podman 4.3 sometimes loses the exit code of a container that has
    // just exited ("no such exit code ... from DB"), whatever the runtime:
    // a race of its own, retried once so that it does not hide a runtime's.
    if o.code != 0 && o.stderr.contains("no such exit code") {
        o = sh(env, cmd);
    }
    assert_eq!(
        o.code, 0,
        "{cmd}\nstdout: {}\nstderr: {}",
        o.stdout, o.stderr
    );
    o.stdout
}

/// The busybox rootfs every client imports.
fn rootfs(env: &Env) -> PathBuf {
    let b = env.bundle("image", &["true"]);
    b.dir.join("rootfs")
}

// ------------------------------------------------------------------ podman

struct Podman {
    cmd: String,
}

impl Podman {
    fn new(env: &Env, runtime: &str) -> Podman {
        let dir = env.base.join("podman");
        std::fs::create_dir_all(&dir).unwrap();
        // cgroupfs (no systemd here), file events, and rlimits the machine
        // can grant (no CAP_SYS_RESOURCE: podman's default nofile for root
        // cannot be set).
        let conf = dir.join("containers.conf");
        std::fs::write(
            &conf,
            "[engine]\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\n\
             [containers]\ncgroupns = \"private\"\n\
             default_ulimits = [\"nofile=1024:1024\", \"nproc=4096:4096\"]\n",
        )
        .unwrap();
        let cmd = format!(
            "CONTAINERS_CONF={conf} podman --root {root} --runroot {run} --storage-driver vfs \
             --cgroup-manager cgroupfs --runtime {runtime}",
            conf = conf.display(),
            root = dir.join("storage").display(),
            run = dir.join("run").display(),
        );
        let p = Podman { cmd };
        ok(
            env,
            &format!(
                "tar -C {} -c . | {} import - localhost/bbox:latest",
                rootfs(env).display(),
                p.cmd
            ),
        );
        p
    }

    fn run(&self, env: &Env, args: &str) -> Out {
        sh(env, &format!("{} {args}", self.cmd))
    }

    fn ok(&self, env: &Env, args: &str) -> String {
        ok(env, &format!("{} {args}", self.cmd))
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = Command::new("sh")
            .args([
                "-c",
                &format!("{} rm -af -t 0; {} system reset -f", self.cmd, self.cmd),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

fn podman_cases(runtime: &str, tag: &str) {
    let env = Env::new(tag);
    let p = Podman::new(&env, runtime);
    let net = "--network none";

    // run --rm
    let out = p.ok(&env, &format!("run --rm {net} localhost/bbox echo hello"));
    assert_eq!(out.trim(), "hello");
    let o = p.run(
        &env,
        &format!("run --rm {net} localhost/bbox sh -c 'exit 3'"),
    );
    assert_eq!(o.code, 3, "{}", o.stderr);

    // run -d, exec, ps, inspect, stop, rm
    let id = p.ok(
        &env,
        &format!("run -d --name c1 {net} localhost/bbox sleep 300"),
    );
    assert!(!id.trim().is_empty());
    let out = p.ok(&env, "exec c1 sh -c 'echo in-exec; cat /proc/1/comm'");
    assert_eq!(out.lines().collect::<Vec<_>>(), ["in-exec", "sleep"]);
    let out = p.ok(&env, "ps --format '{{.Names}} {{.Status}}'");
    assert!(out.contains("c1 Up"), "{out}");
    let out = p.ok(
        &env,
        "inspect c1 --format '{{.State.Status}} {{.State.Pid}}'",
    );
    let f: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(f[0], "running", "{out}");
    assert!(Path::new(&format!("/proc/{}", f[1])).exists(), "{out}");
    p.ok(&env, "stop -t 1 c1");
    let out = p.ok(&env, "inspect c1 --format '{{.State.Status}}'");
    assert_eq!(out.trim(), "exited");
    p.ok(&env, "rm c1");

    // run -it through a real terminal
    let o = sh(
        &env,
        &format!(
            // The commands go through the pty to a shell that reads them,
            // so the result does not depend on when script sees EOF.
            "printf 'tty; exit 5\\n' | script -qec \"{} run -it --rm {net} localhost/bbox sh\" /dev/null",
            p.cmd.replace('"', "\\\"")
        ),
    );
    assert!(o.stdout.contains("/dev/pts/"), "{} {}", o.stdout, o.stderr);
    assert_eq!(o.code, 5, "{} {}", o.stdout, o.stderr);

    // resources, read-only, capabilities, the default seccomp profile
    let out = p.ok(
        &env,
        &format!(
            "run --rm {net} --memory 64m --pids-limit 50 localhost/bbox \
             sh -c 'cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max'"
        ),
    );
    assert_eq!(out.lines().collect::<Vec<_>>(), ["67108864", "50"]);
    let out = p.ok(
        &env,
        &format!(
            "run --rm {net} --read-only localhost/bbox \
             sh -c 'touch /x 2>/dev/null || echo ro; touch /tmp/y && echo tmp-rw'"
        ),
    );
    assert_eq!(out.lines().collect::<Vec<_>>(), ["ro", "tmp-rw"]);
    let out = p.ok(
        &env,
        &format!(
            "run --rm {net} --cap-drop all localhost/bbox \
             sh -c 'grep CapEff /proc/self/status; chown 1 /tmp 2>/dev/null || echo no-chown'"
        ),
    );
    assert!(
        out.contains("0000000000000000") && out.contains("no-chown"),
        "{out}"
    );
    let out = p.ok(
        &env,
        &format!("run --rm {net} localhost/bbox grep -E '^Seccomp:' /proc/self/status"),
    );
    assert!(out.contains('2'), "no seccomp filter: {out}");
    env.assert_clean();
}

#[test]
fn podman_with_runc() {
    podman_cases("/usr/sbin/runc", "podman-runc");
}

#[test]
fn podman_with_brisk() {
    podman_cases(common::brisk_bin(), "podman-brisk");
}

// -------------------------------------------------------------- containerd

struct Containerd {
    child: Child,
    ctr: String,
}

impl Containerd {
    fn start(env: &Env) -> Containerd {
        let dir = env.base.join("containerd");
        std::fs::create_dir_all(&dir).unwrap();
        let d = dir.display();
        let config = dir.join("config.toml");
        std::fs::write(
            &config,
            format!(
                "version = 2\nroot = \"{d}/root\"\nstate = \"{d}/state\"\n\
                 [grpc]\n  address = \"{d}/c.sock\"\n\
                 [ttrpc]\n  address = \"{d}/c-ttrpc.sock\"\n\
                 [debug]\n  address = \"{d}/debug.sock\"\n\
                 [plugins.\"io.containerd.grpc.v1.cri\"]\n  disable = true\n"
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.join("log")).unwrap();
        let child = Command::new("containerd")
            .arg("--config")
            .arg(&config)
            .env(common::MARK, env.base.to_str().unwrap())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start containerd");
        // A namespace of its own: the shim keeps runtime state under
        // /run/containerd/runc/<namespace>, shared by every containerd.
        let ns = env.base.file_name().unwrap().to_string_lossy().into_owned();
        let ctr = format!("ctr --address {d}/c.sock --namespace {ns}");
        let c = Containerd { child, ctr };
        let deadline = Instant::now() + Duration::from_secs(30);
        while sh(env, &format!("{} version", c.ctr)).code != 0 {
            assert!(Instant::now() < deadline, "containerd did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        c
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        // SAFETY: our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.child.try_wait().ok().flatten().is_none() {
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn containerd_cases(runtime: &str, tag: &str) {
    let env = Env::new(tag);
    let archive = env.base.join("bbox.tar");
    ok(
        &env,
        &format!(
            "{} {} docker.io/library/bbox:latest {}",
            repo_root().join("scripts/oci-image.sh").display(),
            rootfs(&env).display(),
            archive.display()
        ),
    );
    let c = Containerd::start(&env);
    let ctr = &c.ctr;
    let image = "docker.io/library/bbox:latest";
    ok(&env, &format!("{ctr} images import {}", archive.display()));
    let run = format!("{ctr} run --runc-binary {runtime}");

    // foreground, exit code
    let out = ok(&env, &format!("{run} --rm {image} f1 echo hello"));
    assert_eq!(out.trim(), "hello");
    let o = sh(&env, &format!("{run} --rm {image} f2 sh -c 'exit 3'"));
    assert_eq!(o.code, 3, "{}", o.stderr);

    // detached, task exec, kill, delete
    ok(&env, &format!("{run} -d {image} d1 sleep 300"));
    let out = ok(&env, &format!("{ctr} task ls"));
    assert!(
        out.lines()
            .any(|l| l.starts_with("d1") && l.contains("RUNNING")),
        "{out}"
    );
    let out = ok(
        &env,
        &format!("{ctr} task exec --exec-id e1 d1 sh -c 'echo in-exec; cat /proc/1/comm'"),
    );
    assert_eq!(out.lines().collect::<Vec<_>>(), ["in-exec", "sleep"]);
    ok(&env, &format!("{ctr} task kill -s SIGKILL d1"));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = ok(&env, &format!("{ctr} task ls"));
        if out
            .lines()
            .any(|l| l.starts_with("d1") && l.contains("STOPPED"))
        {
            break;
        }
        assert!(Instant::now() < deadline, "d1 did not stop: {out}");
        std::thread::sleep(Duration::from_millis(100));
    }
    ok(&env, &format!("{ctr} task delete d1"));
    ok(&env, &format!("{ctr} container delete d1"));

    // a terminal
    let o = sh(
        &env,
        &format!("printf 'tty; exit 4\\n' | script -qec \"{run} --rm -t {image} t1 sh\" /dev/null"),
    );
    assert!(o.stdout.contains("/dev/pts/"), "{} {}", o.stdout, o.stderr);
    assert_eq!(o.code, 4, "{} {}", o.stdout, o.stderr);
    drop(c);
}

#[test]
fn containerd_with_runc() {
    containerd_cases("/usr/sbin/runc", "ctd-runc");
}

#[test]
fn containerd_with_brisk() {
    containerd_cases(common::brisk_bin(), "ctd-brisk");
}
