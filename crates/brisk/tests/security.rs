//! Known container-escape classes, each with the test that would catch it.
//! See docs/SECURITY.md.

mod common;

use common::Env;
use serde_json::json;

/// runc CVE-2024-21626: a `process.cwd` of `/proc/self/fd/N`, where N is
/// one of the runtime's fds open on a host directory, put the container's
/// working directory outside its root. Every fd number brisk could hold is
/// tried: each run either fails, naming the cwd, or stays inside.
#[test]
fn cwd_through_a_leaked_fd_cannot_leave_the_root() {
    let env = Env::new("cwd-leak");
    let marker = format!("/etc/brisk-host-marker-{}", std::process::id());
    std::fs::write(&marker, "host file\n").unwrap();
    let name = marker.trim_start_matches('/');
    for n in 3..16 {
        let mut b = env.bundle(
            &format!("b{n}"),
            &[
                "sh",
                "-c",
                &format!("cat ../../../../../../../../{name} 2>/dev/null || echo no-escape"),
            ],
        );
        b.set("/process/cwd", json!(format!("/proc/self/fd/{n}")));
        let out = env.brisk(&["run", "-b", b.path(), &format!("c{n}")]);
        if out.code == 0 {
            assert_eq!(
                out.stdout.trim(),
                "no-escape",
                "fd {n}: the cwd was on the host"
            );
        } else {
            assert!(
                out.stderr.contains("process.cwd") || out.stderr.contains("/proc/self/fd"),
                "fd {n}: {}",
                out.stderr
            );
        }
        env.assert_clean();
    }
    let _ = std::fs::remove_file(&marker);
}

/// Only stdio (and what --preserve-fds asks for) reaches the program, with
/// every feature that opens fds in brisk at once: cgroups, seccomp with the
/// cache, hooks (start.result FIFO), a terminal proxy.
#[test]
fn no_runtime_fd_reaches_the_container() {
    let env = Env::new("fd-leak");
    let mut b = env.bundle("b", &["sh", "-c", "ls /proc/self/fd | tr '\\n' ' '"]);
    b.set(
        "/hooks",
        json!({"startContainer": [{"path": "/bin/true"}], "poststop": [{"path": "/bin/true"}]}),
    );
    b.set(
        "/linux/seccomp",
        json!({"defaultAction": "SCMP_ACT_ALLOW",
               "syscalls": [{"names": ["mkdirat"], "action": "SCMP_ACT_ERRNO"}]}),
    );
    let out = env.brisk(&["run", "-b", b.path(), "f"]).ok();
    // ls's own directory fd is the 3.
    assert_eq!(out.trim(), "0 1 2 3", "fds in the container: {out}");
    env.assert_clean();
}
