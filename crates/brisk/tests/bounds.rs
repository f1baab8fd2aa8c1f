//! Every wait of brisk's is bounded, and a timeout is a clear error that
//! leaves nothing `delete --force` cannot clean: a hook without a timeout
//! (the default bound), a profile libseccomp does not finish compiling, a
//! state lock another command holds, and `delete --force` while a create
//! runs its hooks (it kills the init, which ends those hooks).

mod common;

use std::os::fd::AsRawFd;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{run_bounded, Env};
use serde_json::json;

#[test]
fn a_hook_without_a_timeout_gets_the_default_bound() {
    let env = Env::new("bound-hook");
    let mut b = env.bundle("b", &["true"]);
    b.set(
        "/hooks",
        json!({"prestart": [{"path": "/bin/sleep", "args": ["sleep", "600"]}]}),
    );
    let mut cmd = env.cmd(&["create", "-b", b.path(), "h"]);
    cmd.env("BRISK_HOOK_TIMEOUT", "1");
    let out = run_bounded(cmd, &env.base, Duration::from_secs(30));
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("hooks.prestart[0]")
            && out.stderr.contains("timed out after 1 s")
            && out.stderr.contains("BRISK_HOOK_TIMEOUT"),
        "{}",
        out.stderr
    );
    env.assert_clean();
}

#[test]
fn a_profile_libseccomp_does_not_finish_fails_create_within_the_bound() {
    let env = Env::new("bound-seccomp");
    let mut b = env.bundle("b", &["true"]);
    let profile: serde_json::Value = serde_json::from_str(include_str!(
        "../../brisk-seccomp/tests/data/libseccomp-slow.json"
    ))
    .unwrap();
    b.set("/linux/seccomp", profile);
    let cache = env.base.join("cache");
    let mut cmd = env.cmd(&[
        "--seccomp-cache",
        cache.to_str().unwrap(),
        "create",
        "-b",
        b.path(),
        "s",
    ]);
    cmd.env("BRISK_SECCOMP_TIMEOUT", "1");
    let out = run_bounded(cmd, &env.base, Duration::from_secs(30));
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("did not finish compiling"),
        "{}",
        out.stderr
    );
    env.assert_clean();
}

#[test]
fn a_held_lock_is_waited_for_within_a_bound() {
    let env = Env::new("bound-lock");
    let b = env.bundle("b", &["sleep", "600"]);
    env.brisk(&["run", "-d", "-b", b.path(), "l"]).ok();
    // Another command holds the lock (this test, standing in for one).
    let dir = std::fs::File::open(env.root.join("l")).unwrap();
    // SAFETY: flock on an fd we own.
    assert_eq!(unsafe { libc::flock(dir.as_raw_fd(), libc::LOCK_EX) }, 0);
    let mut cmd = env.cmd(&["pause", "l"]);
    cmd.env("BRISK_LOCK_TIMEOUT", "1");
    let out = run_bounded(cmd, &env.base, Duration::from_secs(30));
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("wait for the lock of container l")
            && out.stderr.contains("timed out after 1 s"),
        "{}",
        out.stderr
    );
    // delete --force kills the init before it waits (what the holder
    // waits for ends), and still says the lock was not had.
    let pid = env.state("l")["pid"].as_i64().unwrap();
    let mut cmd = env.cmd(&["delete", "--force", "l"]);
    cmd.env("BRISK_LOCK_TIMEOUT", "1");
    let out = run_bounded(cmd, &env.base, Duration::from_secs(30));
    assert_ne!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        env.status("l"),
        "stopped",
        "the init (pid {pid}) was killed"
    );
    drop(dir);
    env.brisk(&["delete", "--force", "l"]).ok();
    env.assert_clean();
}

#[test]
fn delete_force_ends_a_create_that_runs_its_hooks() {
    let env = Env::new("bound-delhook");
    let mut b = env.bundle("b", &["sleep", "600"]);
    let mark = env.base.join("hook-running");
    b.set(
        "/hooks",
        json!({"createRuntime": [{"path": "/bin/sh",
            "args": ["sh", "-c", format!("touch {}; exec sleep 600", mark.display())]}]}),
    );
    let mut create = env.cmd(&["create", "-b", b.path(), "d"]);
    create.stdout(Stdio::null()).stderr(Stdio::null());
    let mut create = create.spawn().unwrap();
    common::wait_until("the hook runs", Duration::from_secs(20), || mark.exists());
    let out = run_bounded(
        env.cmd(&["delete", "--force", "d"]),
        &env.base,
        Duration::from_secs(30),
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = create.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "create did not return");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(!status.success());
    env.assert_clean();
}
