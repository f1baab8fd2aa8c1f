//! Hooks through `run` (the conformance suite drives create/start/delete):
//! every kind runs once and poststop last, a hook past its timeout fails the
//! create and leaves nothing behind, a failing poststop hook of `run` is a
//! warning only.

mod common;

use common::{Bundle, Env};
use serde_json::{json, Value};

fn hook(cmd: &str) -> Value {
    json!({"path": "/bin/sh", "args": ["sh", "-c", cmd]})
}

/// A host directory bound at /hk in the container.
fn log_dir(b: &mut Bundle) -> std::path::PathBuf {
    let host = b.dir.join("hk");
    std::fs::create_dir_all(&host).unwrap();
    b.config["mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/hk", "type": "bind", "source": host.to_str().unwrap(),
        "options": ["rbind", "rw"],
    }));
    b.write();
    host
}

fn lines(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("log"))
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn run_runs_every_hook_once_and_poststop_last() {
    let env = Env::new("hooks-run");
    let mut b = env.bundle("b", &["sh", "-c", "echo program >> /hk/log"]);
    let dir = log_dir(&mut b);
    let d = dir.display();
    let mut hooks = json!({});
    for k in [
        "prestart",
        "createRuntime",
        "createContainer",
        "poststart",
        "poststop",
    ] {
        hooks[k] = json!([hook(&format!("echo {k} >> {d}/log"))]);
    }
    hooks["startContainer"] = json!([hook("echo startContainer >> /hk/log")]);
    b.set("/hooks", hooks);
    let out = env.brisk(&["run", "-b", b.path(), "r"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let l = lines(&dir);
    assert_eq!(
        &l[..4],
        [
            "prestart",
            "createRuntime",
            "createContainer",
            "startContainer"
        ],
        "{l:?}"
    );
    assert_eq!(l.last().map(String::as_str), Some("poststop"), "{l:?}");
    assert_eq!(l.len(), 7, "{l:?}");
    for k in ["program", "poststart"] {
        assert!(l.iter().any(|x| x == k), "{k} missing: {l:?}");
    }
    env.assert_clean();
}

#[test]
fn a_hook_past_its_timeout_fails_create_cleanly() {
    let env = Env::new("hooks-timeout");
    let mut b = env.bundle("b", &["true"]);
    b.set(
        "/hooks",
        json!({"createRuntime": [{"path": "/bin/sleep", "args": ["sleep", "30"], "timeout": 1}]}),
    );
    // Well before the hook's sleep would end.
    let out = common::run_bounded(
        env.cmd(&["create", "-b", b.path(), "t"]),
        &env.base,
        std::time::Duration::from_secs(20),
    );
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("hooks.createRuntime[0]") && out.stderr.contains("timed out"),
        "{}",
        out.stderr
    );
    env.assert_clean();
}

#[test]
fn the_largest_timeout_is_no_deadline_not_a_crash() {
    // timeout is an int: i64::MAX seconds used to overflow the deadline
    // (Instant + Duration panics), aborting brisk in the middle of create.
    let env = Env::new("hooks-max-timeout");
    let mut b = env.bundle("b", &["true"]);
    let h = json!([{"path": "/bin/true", "timeout": i64::MAX}]);
    b.set(
        "/hooks",
        json!({"createRuntime": h, "createContainer": h, "poststop": h}),
    );
    let out = env.brisk(&["run", "-b", b.path(), "m"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    env.assert_clean();
}

#[test]
fn a_failing_poststop_hook_of_run_is_a_warning() {
    let env = Env::new("hooks-poststop");
    let mut b = env.bundle("b", &["sh", "-c", "exit 7"]);
    b.set("/hooks", json!({"poststop": [hook("exit 3")]}));
    let out = env.brisk(&["run", "-b", b.path(), "p"]);
    assert_eq!(out.code, 7, "{}", out.stderr);
    assert!(
        out.stderr.contains("hooks.poststop[0]"),
        "no warning: {}",
        out.stderr
    );
    env.assert_clean();
}

#[test]
fn state_and_kill_work_while_a_start_hook_runs() {
    let env = Env::new("hooks-busy");
    let mut b = env.bundle("b", &["sleep", "30"]);
    // The hook runs in the container (its /tmp is the rootfs's): it says
    // it runs, then holds start for 30 s.
    b.set(
        "/hooks",
        json!({"startContainer": [{"path": "/bin/sh",
            "args": ["sh", "-c", "touch /tmp/hook-runs; exec sleep 30"]}]}),
    );
    env.brisk(&["create", "-b", b.path(), "s"]).ok();
    let mut start = env.cmd(&["start", "s"]);
    start
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut start = start.spawn().unwrap();
    let runs = env.in_container("s", "/tmp/hook-runs");
    common::wait_until(
        "the startContainer hook runs",
        std::time::Duration::from_secs(10),
        || runs.exists(),
    );
    // Neither waits for the hook: each returns well before it would end.
    let bound = std::time::Duration::from_secs(20);
    let st = common::run_bounded(env.cmd(&["state", "s"]), &env.base, bound);
    assert_eq!(st.code, 0, "{}", st.stderr);
    let k = common::run_bounded(env.cmd(&["kill", "s", "KILL"]), &env.base, bound);
    assert_eq!(k.code, 0, "{}", k.stderr);
    let status = start.wait().unwrap();
    assert!(
        !status.success(),
        "start succeeded though the container was killed"
    );
    env.wait_status("s", "stopped");
    env.brisk(&["delete", "s"]).ok();
    env.assert_clean();
}

#[test]
fn poststop_runs_after_a_failed_create() {
    let env = Env::new("hooks-fail-poststop");
    let mut b = env.bundle("b", &["true"]);
    let d = env.base.display();
    b.set(
        "/hooks",
        json!({
            "createContainer": [hook("exit 2")],
            "poststop": [hook(&format!("cat > {d}/poststop-state"))],
        }),
    );
    let out = env.brisk(&["create", "-b", b.path(), "f"]);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("hooks.createContainer[0]"),
        "{}",
        out.stderr
    );
    let state: Value =
        serde_json::from_slice(&std::fs::read(env.base.join("poststop-state")).unwrap()).unwrap();
    assert_eq!(state["status"], "stopped");
    assert_eq!(state["id"], "f");
    env.assert_clean();
}

/// A hook that copies its own /proc/self/status to `dir/kind` (`cp` is
/// the hook: a shell would change what it reports, busybox's ignores
/// SIGQUIT).
fn status_copy(kind: &str, dir: &str) -> Value {
    json!({"path": "/bin/cp", "args": ["cp", "/proc/self/status", format!("{dir}/{kind}")]})
}

/// A hook starts with no signal blocked or ignored, as under runc: brisk
/// itself blocks SIGTERM, SIGCHLD... while it creates a container (its
/// hooks inherited that mask: `timeout` never fired, SIGTERM did nothing)
/// and the caller here ignores SIGHUP and SIGUSR1 (which `execve` keeps,
/// and the init's hooks inherited). Every kind, on the host and in the
/// container.
#[test]
fn hooks_start_with_no_signal_blocked_or_ignored() {
    let env = Env::new("hooks-sigmask");
    let mut b = env.bundle("b", &["true"]);
    let dir = log_dir(&mut b);
    let kinds = [
        "prestart",
        "createRuntime",
        "createContainer",
        "startContainer",
        "poststart",
        "poststop",
    ];
    let mut hooks = json!({});
    for k in kinds {
        let d = if k == "startContainer" {
            "/hk".to_string()
        } else {
            dir.display().to_string()
        };
        hooks[k] = json!([status_copy(k, &d)]);
    }
    b.set("/hooks", hooks);
    let mut cmd = env.cmd(&["run", "-b", b.path(), "m"]);
    // SAFETY: runs in the forked child before exec; rt_sigaction is
    // async-signal-safe and the struct lives on the stack.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
            // Exactly these ignored: not glibc's 32 and 33, which its
            // posix_spawn leaves ignored in cargo's children and which
            // runc passes on.
            for sig in 1..=64 {
                let handler = match sig {
                    libc::SIGHUP | libc::SIGUSR1 => libc::SIG_IGN,
                    _ => libc::SIG_DFL,
                };
                let act: [usize; 4] = [handler, 0, 0, 0];
                libc::syscall(
                    libc::SYS_rt_sigaction,
                    sig,
                    act.as_ptr(),
                    std::ptr::null_mut::<usize>(),
                    8usize,
                );
            }
            Ok(())
        });
    }
    let out = common::run_to_files(cmd, &env.base);
    assert_eq!(out.code, 0, "{}", out.stderr);
    for k in kinds {
        let status = std::fs::read_to_string(dir.join(k))
            .unwrap_or_else(|e| panic!("{k}: the hook wrote nothing: {e}"));
        let sig: Vec<&str> = status
            .lines()
            .filter(|l| l.starts_with("SigBlk:") || l.starts_with("SigIgn:"))
            .collect();
        assert_eq!(
            sig,
            ["SigBlk:\t0000000000000000", "SigIgn:\t0000000000000000"],
            "{k}"
        );
    }
    env.assert_clean();
}

/// `timeout` in a hook ends its command: it needs SIGALRM, and the command
/// must die of SIGTERM; with brisk's blocked mask the hook waited for the
/// whole `sleep 30` instead. `timeout` is the hook itself (a shell in
/// between would clear the mask): it fails with 124 ("timed out") within
/// seconds, in `create` (createRuntime: the create fails) and in `run`
/// (poststop: a warning).
#[test]
fn a_timeout_inside_a_hook_fires() {
    let env = Env::new("hooks-inner-timeout");
    let h = json!({"path": "/usr/bin/timeout", "args": ["timeout", "1", "/bin/sleep", "30"]});
    for (kind, cmd, code) in [("createRuntime", "create", 1), ("poststop", "run", 0)] {
        let mut b = env.bundle(kind, &["true"]);
        b.set("/hooks", json!({ kind: [h] }));
        // Had the hook waited for its sleep, brisk would not return in time.
        let out = common::run_bounded(
            env.cmd(&[cmd, "-b", b.path(), kind]),
            &env.base,
            std::time::Duration::from_secs(15),
        );
        assert_eq!(out.code, code, "{kind}: {}", out.stderr);
        assert!(out.stderr.contains("124"), "{kind}: {}", out.stderr);
        env.assert_clean();
    }
}
