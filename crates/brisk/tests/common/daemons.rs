//! The daemons that the client tests start, in one place: a private
//! containerd (its own config, root, state and sockets under the test's
//! directory; the CRI plugin off, or on for tests/cri.rs), any other daemon
//! started the same way (dockerd), and the busybox images they run, packed
//! as OCI archives by scripts/oci-image.sh (no registry, no network).
//!
//! Every daemon is this test's child, marked with `common::MARK` (so are
//! the shims and runtime commands it starts, which inherit its
//! environment), and stopped by its pid on drop: SIGTERM, then SIGKILL.
//! Included by the tests that need it, beside `mod common;`, with
//! `#[path = "common/daemons.rs"] mod daemons;`.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{self, repo_root, Env};

/// A daemon this test started.
pub struct Daemon {
    child: Child,
    name: String,
    log: PathBuf,
    /// How long it may take to stop after SIGTERM before it is killed.
    grace: Duration,
}

impl Daemon {
    /// Starts `program args` with its output in `dir/<name>.log`.
    pub fn spawn(env: &Env, dir: &Path, program: &str, args: &[String]) -> Daemon {
        let name = Path::new(program)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| program.to_string());
        Daemon::spawn_named(env, dir, &name, program, args)
    }

    /// [`Daemon::spawn`] with the log named after `name`, not `program`
    /// (a daemon started through another command: `brisk exec`).
    pub fn spawn_named(
        env: &Env,
        dir: &Path,
        name: &str,
        program: &str,
        args: &[String],
    ) -> Daemon {
        std::fs::create_dir_all(dir).expect("daemon directory");
        let name = name.to_string();
        let log = dir.join(format!("{name}.log"));
        let out = std::fs::File::create(&log).expect("daemon log");
        let child = Command::new(program)
            .args(args)
            .env(common::MARK, env.base.to_str().expect("utf-8 test dir"))
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("daemon log"))
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("start {program}: {e} (scripts/deps.sh installs it)"));
        Daemon {
            child,
            name,
            log,
            grace: Duration::from_secs(20),
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// What the daemon has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until `ready` holds; fails with the daemon's log if it exits
    /// first or is not ready within `bound`.
    pub fn wait_ready(&mut self, bound: Duration, mut ready: impl FnMut() -> bool) {
        let deadline = Instant::now() + bound;
        while !ready() {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "{} exited ({status}) before it was ready:\n{}",
                    self.name,
                    self.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "{} not ready within {bound:?}:\n{}",
                self.name,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // Only a child not yet reaped still owns its pid: once `try_wait`
        // (here or in `wait_ready`) has collected its status, the pid may
        // already name another process, which must not be signalled.
        if !matches!(self.child.try_wait(), Ok(None)) {
            return;
        }
        // SAFETY: kill(2) on the pid of our own child, which `try_wait`
        // just found still running, so not yet reaped: the pid is still
        // ours (a zombie at worst) until we wait for it.
        unsafe { libc::kill(self.pid(), libc::SIGTERM) };
        let deadline = Instant::now() + self.grace;
        while self.child.try_wait().ok().flatten().is_none() {
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The configuration of a containerd that runs no CRI (the plugin is
/// disabled: no CNI, no pod state).
pub const CRI_OFF: &str = "disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n";

/// A private containerd.
pub struct Containerd {
    pub daemon: Daemon,
    pub dir: PathBuf,
    /// The path of its gRPC socket.
    pub address: PathBuf,
}

impl Containerd {
    /// Starts containerd with everything under `dir`: root, state, its
    /// gRPC, ttrpc and debug sockets, and the opt plugin's directory (the
    /// defaults are under /var/lib/containerd and /run/containerd, shared
    /// with any other containerd). `top` goes at the top of config.toml
    /// (before any table) and `plugins` after it: the plugins' tables.
    pub fn start(env: &Env, dir: &Path, top: &str, plugins: &str) -> Containerd {
        Containerd::start_via(env, dir, top, plugins, &[])
    }

    /// [`Containerd::start`] through `launcher`, a command line that runs
    /// the one it is given (`brisk exec <container>`: containerd inside a
    /// container whose mounts include `dir` at the same path, so that its
    /// sockets are reached from here). The launcher is this test's child,
    /// stopped as the daemon; it must pass SIGTERM on to containerd.
    pub fn start_via(
        env: &Env,
        dir: &Path,
        top: &str,
        plugins: &str,
        launcher: &[String],
    ) -> Containerd {
        std::fs::create_dir_all(dir).expect("containerd directory");
        let d = dir.display();
        let config = dir.join("config.toml");
        std::fs::write(
            &config,
            format!(
                "version = 2\nroot = \"{d}/root\"\nstate = \"{d}/state\"\n{top}\
                 [grpc]\n  address = \"{d}/c.sock\"\n\
                 [ttrpc]\n  address = \"{d}/c-ttrpc.sock\"\n\
                 [debug]\n  address = \"{d}/debug.sock\"\n\
                 [plugins.\"io.containerd.internal.v1.opt\"]\n  path = \"{d}/opt\"\n\
                 {plugins}"
            ),
        )
        .expect("write config.toml");
        let mut argv: Vec<String> = launcher.to_vec();
        argv.extend([
            "containerd".into(),
            "--config".into(),
            config.to_string_lossy().into_owned(),
        ]);
        let daemon = Daemon::spawn_named(env, dir, "containerd", &argv[0], &argv[1..]);
        let mut c = Containerd {
            daemon,
            dir: dir.to_path_buf(),
            address: dir.join("c.sock"),
        };
        let version = c.ctr("default") + " version";
        let base = env.base.clone();
        c.daemon.wait_ready(Duration::from_secs(60), || {
            sh(&base, &version, Duration::from_secs(20)).code == 0
        });
        c
    }

    /// `ctr` on this containerd, in `namespace`: a shell command prefix.
    pub fn ctr(&self, namespace: &str) -> String {
        format!(
            "ctr --address {} --namespace {namespace}",
            self.address.display()
        )
    }

    /// Imports an OCI archive into `namespace` (and unpacks it for the
    /// default snapshotter).
    pub fn import(&self, env: &Env, namespace: &str, archive: &Path) {
        sh_ok(
            &env.base,
            &format!(
                "{} images import {}",
                self.ctr(namespace),
                archive.display()
            ),
        );
    }
}

/// The busybox root filesystem every client's image is made of (the one
/// of scripts/make-bundle.sh).
pub fn busybox_rootfs(env: &Env) -> PathBuf {
    let b = env.bundle("image", &["true"]);
    b.dir.join("rootfs")
}

/// Packs `rootfs` as an OCI image archive named `name` (scripts/
/// oci-image.sh), with `entrypoint` (JSON) as its Entrypoint if given.
pub fn oci_archive(env: &Env, rootfs: &Path, name: &str, entrypoint: Option<&str>) -> PathBuf {
    let file = name.replace(['/', ':'], "_");
    let archive = env.base.join(format!("{file}.tar"));
    let mut cmd = Command::new(repo_root().join("scripts/oci-image.sh"));
    cmd.arg(rootfs).arg(name).arg(&archive);
    if let Some(e) = entrypoint {
        cmd.arg(e);
    }
    let out = common::run_bounded(cmd, &env.base, Duration::from_secs(120));
    assert_eq!(out.code, 0, "oci-image.sh {name}: {}", out.stderr);
    archive
}

/// Runs `sh -c cmd` with its output in files under `dir` (no pipe that a
/// daemon started by the command could hold open), bounded.
pub fn sh(dir: &Path, cmd: &str, bound: Duration) -> common::Out {
    let mut c = Command::new("sh");
    c.args(["-c", cmd]);
    c.env(common::MARK, dir.to_str().expect("utf-8 test dir"));
    c.stdin(Stdio::null());
    common::run_bounded(c, dir, bound)
}

/// [`sh`] that must succeed (within two minutes); its stdout.
pub fn sh_ok(dir: &Path, cmd: &str) -> String {
    let o = sh(dir, cmd, Duration::from_secs(120));
    assert_eq!(
        o.code, 0,
        "{cmd}\nstdout: {}\nstderr: {}",
        o.stdout, o.stderr
    );
    o.stdout
}
