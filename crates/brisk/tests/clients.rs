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
#[path = "common/daemons.rs"]
mod daemons;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::Env;
use daemons::{Containerd, Daemon};

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `sh -c cmd` with a time limit, output in files (no pipe that a
/// daemon started by the command could hold open).
fn sh(env: &Env, cmd: &str) -> Out {
    let o = daemons::sh(&env.base, cmd, Duration::from_secs(120));
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
    daemons::busybox_rootfs(env)
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

fn containerd_cases(runtime: &str, tag: &str) {
    let env = Env::new(tag);
    let image = "docker.io/library/bbox:latest";
    let archive = daemons::oci_archive(&env, &rootfs(&env), image, None);
    let c = Containerd::start(&env, &env.base.join("containerd"), daemons::CRI_OFF, "");
    // A namespace of its own: the shim keeps runtime state under
    // /run/containerd/runc/<namespace>, shared by every containerd.
    let ns = env.base.file_name().unwrap().to_string_lossy().into_owned();
    c.import(&env, &ns, &archive);
    let ctr = &c.ctr(&ns);
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
    remove_namespace_cgroups(&ns);
}

/// containerd's cgroupsPath is `/<namespace>/<id>`; runc removes the
/// container's cgroup but not the namespace's parent it made (brisk
/// removes parents it created), so the test removes what is left: an
/// empty `<namespace>` directory in each hierarchy, not to pile up on the
/// host run after run.
fn remove_namespace_cgroups(ns: &str) {
    let Ok(hierarchies) = std::fs::read_dir("/sys/fs/cgroup") else {
        return;
    };
    let mut dirs = vec![std::path::PathBuf::from("/sys/fs/cgroup").join(ns)];
    for h in hierarchies.flatten() {
        dirs.push(h.path().join(ns));
    }
    for d in dirs {
        // Empty directories only: rmdir fails on a cgroup with children or
        // processes, which is then a real leak for the asserts to show.
        let _ = std::fs::remove_dir(&d);
    }
}

#[test]
fn containerd_with_runc() {
    containerd_cases("/usr/sbin/runc", "ctd-runc");
}

#[test]
fn containerd_with_brisk() {
    containerd_cases(common::brisk_bin(), "ctd-brisk");
}

// ------------------------------------------------------------------ docker

/// A private dockerd (Debian's docker.io) on a private containerd, both
/// started here with their own roots, sockets and pid files, and stopped
/// by pid on drop: no iptables, no bridge (containers run with
/// `--network none`), the vfs storage driver, and brisk and runc as
/// runtimes, so that every case runs against both in one daemon.
struct Docker {
    // Field order is drop order: dockerd stops before its containerd.
    _dockerd: Daemon,
    _containerd: Containerd,
    /// `docker -H unix://…` (Debian's client, which matches its daemon).
    cli: String,
}

impl Docker {
    fn start(env: &Env, brisk: &str) -> Docker {
        let dir = env.base.join("docker");
        let containerd = Containerd::start(env, &dir.join("containerd"), daemons::CRI_OFF, "");
        let d = dir.display();
        let config = dir.join("daemon.json");
        std::fs::write(
            &config,
            serde_json::json!({
                "runtimes": {"brisk": {"path": brisk}},
                "data-root": format!("{d}/data"),
                "exec-root": format!("{d}/exec"),
                "pidfile": format!("{d}/dockerd.pid"),
                "hosts": [format!("unix://{d}/docker.sock")],
                "iptables": false,
                "ip6tables": false,
                "ip-forward": false,
                "ip-masq": false,
                "bridge": "none",
                "storage-driver": "vfs",
            })
            .to_string(),
        )
        .unwrap();
        let mut dockerd = Daemon::spawn(
            env,
            &dir,
            "dockerd",
            &[
                "--config-file".into(),
                config.to_str().unwrap().into(),
                "--containerd".into(),
                containerd.address.to_string_lossy().into_owned(),
                "--containerd-namespace".into(),
                format!("{}-d", env.base.file_name().unwrap().to_string_lossy()),
            ],
        );
        let cli = format!("/usr/bin/docker -H unix://{d}/docker.sock");
        dockerd.wait_ready(Duration::from_secs(60), || {
            sh(env, &format!("{cli} info")).code == 0
        });
        ok(
            env,
            &format!(
                "tar -C {} -c . | {cli} import - bbox:latest",
                rootfs(env).display(),
            ),
        );
        Docker {
            _dockerd: dockerd,
            _containerd: containerd,
            cli,
        }
    }
}

/// Waits (bounded) until `cmd` prints `want` (trimmed).
fn wait_output(env: &Env, cmd: &str, want: &str, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let o = sh(env, cmd);
        if o.stdout.trim() == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: `{cmd}` printed {:?} {:?}, not {want:?}",
            o.stdout,
            o.stderr
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn docker_cases(env: &Env, d: &Docker, runtime: &str) {
    let docker = |args: &str| ok(env, &format!("{} {args}", d.cli));
    let run = format!("run --runtime {runtime} --network none");
    let name = |n: &str| format!("{runtime}-{n}");

    // run --rm, exit codes
    assert_eq!(
        docker(&format!("{run} --rm bbox echo hello")).trim(),
        "hello"
    );
    let o = sh(env, &format!("{} {run} --rm bbox sh -c 'exit 3'", d.cli));
    assert_eq!(o.code, 3, "{}", o.stderr);
    let o = sh(env, &format!("{} {run} --rm bbox /no/such/program", d.cli));
    assert_eq!(o.code, 127, "a missing program: {} {}", o.stdout, o.stderr);

    // --user, -w, -e, --read-only, --cap-drop ALL
    let out = docker(&format!(
        "{run} --rm --user 1000:1000 -w /tmp -e K=V bbox sh -c 'id -u; id -g; pwd; echo $K'"
    ));
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["1000", "1000", "/tmp", "V"]
    );
    let out = docker(&format!(
        "{run} --rm --read-only bbox sh -c 'touch /x 2>/dev/null || echo ro'"
    ));
    assert_eq!(out.trim(), "ro");
    let out = docker(&format!(
        "{run} --rm --cap-drop ALL bbox sh -c 'grep CapEff /proc/self/status; chown 1 /tmp 2>/dev/null || echo no-chown'"
    ));
    assert!(
        out.contains("0000000000000000") && out.contains("no-chown"),
        "{out}"
    );

    // the default seccomp profile, and unconfined
    let out = docker(&format!(
        "{run} --rm bbox grep -E '^Seccomp:' /proc/self/status"
    ));
    assert!(out.contains('2'), "no seccomp filter: {out}");
    let out = docker(&format!(
        "{run} --rm --security-opt seccomp=unconfined bbox grep -E '^Seccomp:' /proc/self/status"
    ));
    assert!(out.contains('0'), "a seccomp filter: {out}");

    // resources
    let out = docker(&format!(
        "{run} --rm --memory 64m --pids-limit 50 --cpu-shares 512 bbox sh -c \
         'cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/cpu/cpu.shares'"
    ));
    assert_eq!(out.lines().collect::<Vec<_>>(), ["67108864", "50", "512"]);

    // -d, exec, update, stats, pause/unpause, stop
    let c1 = name("c1");
    docker(&format!("{run} -d --name {c1} --memory 64m bbox sleep 300"));
    let out = docker(&format!("exec {c1} sh -c 'echo in-exec; cat /proc/1/comm'"));
    assert_eq!(out.lines().collect::<Vec<_>>(), ["in-exec", "sleep"]);
    let out = docker(&format!(
        "exec -u 1000 -e X=1 -w /tmp {c1} sh -c 'id -u; echo $X; pwd'"
    ));
    assert_eq!(out.lines().collect::<Vec<_>>(), ["1000", "1", "/tmp"]);
    docker(&format!(
        "update --memory 96m --memory-swap 192m --pids-limit 60 {c1}"
    ));
    let out = docker(&format!(
        "exec {c1} cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max"
    ));
    assert_eq!(out.lines().collect::<Vec<_>>(), ["100663296", "60"]);
    let out = docker(&format!(
        "stats --no-stream --format '{{{{.Name}}}} {{{{.MemUsage}}}} {{{{.PIDs}}}}' {c1}"
    ));
    let f: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(f.first().copied(), Some(c1.as_str()), "{out}");
    assert!(
        !out.contains("0B / 0B") && f.last() != Some(&"0"),
        "empty stats: {out}"
    );
    docker(&format!("pause {c1}"));
    assert_eq!(
        docker(&format!("inspect -f '{{{{.State.Status}}}}' {c1}")).trim(),
        "paused"
    );
    docker(&format!("unpause {c1}"));
    assert_eq!(docker(&format!("exec {c1} echo back")).trim(), "back");
    docker(&format!("stop -t 1 {c1}"));
    assert_eq!(
        docker(&format!("inspect -f '{{{{.State.Status}}}}' {c1}")).trim(),
        "exited"
    );
    docker(&format!("rm {c1}"));

    // -t and -i
    let o = sh(
        env,
        &format!(
            "printf 'tty; exit 5\\n' | script -qec \"{} {run} -it --rm bbox sh\" /dev/null",
            d.cli
        ),
    );
    assert!(o.stdout.contains("/dev/pts/"), "{} {}", o.stdout, o.stderr);
    assert_eq!(o.code, 5, "{} {}", o.stdout, o.stderr);
    let out = ok(
        env,
        &format!("echo piped | {} {run} -i --rm bbox cat", d.cli),
    );
    assert_eq!(out.trim(), "piped");

    // --init: docker's tini is PID 1
    let out = docker(&format!("{run} --rm --init bbox cat /proc/1/cmdline"));
    assert!(out.contains("docker-init"), "{out:?}");

    // --restart on-failure: dockerd creates and starts it again
    let r = name("restart");
    docker(&format!(
        "{run} -d --name {r} --restart on-failure:2 bbox sh -c 'exit 1'"
    ));
    wait_output(
        env,
        &format!(
            "{} inspect -f '{{{{.RestartCount}}}} {{{{.State.Status}}}}' {r}",
            d.cli
        ),
        "2 exited",
        "restarted twice",
    );
    docker(&format!("rm {r}"));

    // a HEALTHCHECK: docker execs the probe in the container
    let h = name("health");
    docker(&format!(
        "{run} -d --name {h} --health-cmd 'test -e /tmp/ok' --health-interval 1s \
         --health-retries 1 bbox sh -c 'touch /tmp/ok; sleep 300'"
    ));
    wait_output(
        env,
        &format!("{} inspect -f '{{{{.State.Health.Status}}}}' {h}", d.cli),
        "healthy",
        "the exec probe passes",
    );
    docker(&format!("exec {h} rm /tmp/ok"));
    wait_output(
        env,
        &format!("{} inspect -f '{{{{.State.Health.Status}}}}' {h}", d.cli),
        "unhealthy",
        "the exec probe fails",
    );
    docker(&format!("rm -f {h}"));

    // an OOM kill is reported as such
    let oom = name("oom");
    let o = sh(
        env,
        &format!(
            "{} {run} --name {oom} --memory 32m --memory-swap 32m bbox \
             sh -c 'x=$(head -c 100000000 /dev/zero | tr \"\\\\000\" a); echo survived'",
            d.cli
        ),
    );
    assert_eq!(o.code, 137, "not killed: {} {}", o.stdout, o.stderr);
    assert_eq!(
        docker(&format!("inspect -f '{{{{.State.OOMKilled}}}}' {oom}")).trim(),
        "true"
    );
    docker(&format!("rm {oom}"));
}

/// docker run with dockerd's defaults (its spec sends zero-valued
/// resources, among others), and the features docker users rely on, with
/// runc and with brisk in the same daemon.
#[test]
fn docker_with_runc_and_brisk() {
    let env = Env::new("docker");
    let d = Docker::start(&env, common::brisk_bin());
    docker_cases(&env, &d, "runc");
    docker_cases(&env, &d, "brisk");
    drop(d);
    env.assert_clean();
}
