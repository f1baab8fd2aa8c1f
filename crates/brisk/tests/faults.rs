//! Fault injection: brisk killed (SIGKILL, `BRISK_FAULT=<phase>`) at each
//! of its phases must leave only what `brisk delete --force` removes
//! completely: no state directory, mount, cgroup directory or process.
//! The phases are read from `--timings`, so a new phase is a new kill
//! point without changing this test.

mod common;
#[path = "common/leaks.rs"]
mod leaks;

use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};

use common::{Bundle, Env};
use serde_json::{json, Value};

/// brisk's own phases of one command (the init's, `init: ...`, are not
/// kill points: the hook is the parent's).
fn parent_phases(env: &Env, args: &[&str]) -> Vec<String> {
    let mut c = env.cmd(args);
    c.env("BRISK_TIMINGS", "json");
    let out = common::run_to_files(c, &env.base);
    assert_eq!(out.code, 0, "{args:?}: {}", out.stderr);
    let line = out
        .stderr
        .lines()
        .find(|l| l.starts_with("{\"phases\""))
        .unwrap_or_else(|| panic!("no timings in {:?}", out.stderr));
    let v: Value = serde_json::from_str(line).unwrap();
    v["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["phase"].as_str().unwrap().to_string())
        .filter(|p| !p.starts_with("init: "))
        .collect()
}

/// Runs brisk with `BRISK_FAULT=phase`; it must die of SIGKILL there.
fn kill_at(env: &Env, args: &[&str], phase: &str) {
    let mut c: Command = env.cmd(args);
    c.env("BRISK_FAULT", phase)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let st = c.status().unwrap();
    assert_eq!(
        st.signal(),
        Some(libc::SIGKILL),
        "{args:?} with BRISK_FAULT={phase:?} was not killed there: {st:?}"
    );
}

/// After `delete --force`: nothing of the container, in any place.
fn assert_nothing_left(env: &Env, b: &Bundle, cache: Option<&std::path::Path>, what: &str) {
    // The init must be gone when delete returns, not some time later.
    let procs = env.processes();
    assert!(procs.is_empty(), "{what}: processes left: {procs:?}");
    let cg = leaks::cgroup_dirs(&leaks::cgroups_path(&b.config));
    assert!(cg.is_empty(), "{what}: cgroup directories left: {cg:?}");
    if let Some(cache) = cache {
        let tmp: Vec<_> = std::fs::read_dir(cache)
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.starts_with(".tmp"))
                    .collect()
            })
            .unwrap_or_default();
        assert!(tmp.is_empty(), "{what}: seccomp cache temp files: {tmp:?}");
    }
    env.assert_clean();
}

fn kill_at_every_phase(env: &Env, b: &Bundle, cmd: &[&str], cache: Option<&std::path::Path>) {
    let with = |id: &'static str| -> Vec<String> {
        let mut a: Vec<String> = Vec::new();
        if let Some(c) = cache {
            a.push("--seccomp-cache".into());
            a.push(c.to_string_lossy().into_owned());
        }
        a.extend(cmd.iter().map(|s| s.to_string()));
        a.extend(["-b".to_string(), b.path().to_string(), id.to_string()]);
        a
    };
    let probe = with("probe");
    let probe: Vec<&str> = probe.iter().map(String::as_str).collect();
    let phases = parent_phases(env, &probe);
    assert!(env.brisk(&["delete", "--force", "probe"]).code == 0);
    assert_nothing_left(env, b, cache, "the probe");
    // The phases around the state directory, the cgroup and the init are
    // the ones that matter; they must be among the kill points.
    for must in [
        "config parsed",
        "plan built",
        "state directory created",
        "init cloned",
        "ready received",
        "state saved, init released",
    ] {
        assert!(
            phases.iter().any(|p| p == must),
            "phase {must:?} missing from {phases:?}"
        );
    }
    for phase in &phases {
        if let Some(c) = cache {
            // Compiled and stored again by each run: a kill can land
            // right after the store.
            let _ = std::fs::remove_dir_all(c);
        }
        let args = with("victim");
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        kill_at(env, &args, phase);
        let out = env.brisk(&["delete", "--force", "victim"]);
        assert_eq!(
            out.code, 0,
            "{cmd:?} killed at {phase:?}: delete --force: {}",
            out.stderr
        );
        assert!(
            !out.stderr.contains("left in place"),
            "{cmd:?} killed at {phase:?}: {}",
            out.stderr
        );
        assert_nothing_left(env, b, cache, &format!("{cmd:?} killed at {phase:?}"));
    }
}

#[test]
fn create_killed_at_each_phase_is_cleaned_by_delete_force() {
    let env = Env::new("fault-create");
    let b = env.bundle("b", &["sleep", "100"]);
    kill_at_every_phase(&env, &b, &["create"], None);
}

/// `run -d`: the same phases, then the program's exec.
#[test]
fn run_killed_at_each_phase_is_cleaned_by_delete_force() {
    let env = Env::new("fault-run");
    let b = env.bundle("b", &["sleep", "100"]);
    kill_at_every_phase(&env, &b, &["run", "-d"], None);
}

/// A non-root process (its credential change clears the init's
/// parent-death signal: the init must still end, on EOF), in its own user
/// namespace (the id-map exchange is one more wait on brisk), with a
/// seccomp filter compiled and stored in a cache of the test's own.
#[test]
fn create_killed_with_user_namespace_seccomp_and_a_non_root_user() {
    let env = Env::new("fault-userns");
    let mut b = env.bundle("b", &["sleep", "100"]);
    b.set("/process/user", json!({"uid": 1000, "gid": 1000}));
    b.add_namespace("user", None);
    b.set(
        "/linux/uidMappings",
        json!([{"containerID": 0, "hostID": 100000, "size": 65536}]),
    );
    b.set(
        "/linux/gidMappings",
        json!([{"containerID": 0, "hostID": 100000, "size": 65536}]),
    );
    b.set(
        "/linux/seccomp",
        json!({"defaultAction": "SCMP_ACT_ALLOW",
               "syscalls": [{"names": ["kexec_load"], "action": "SCMP_ACT_ERRNO"}]}),
    );
    // The rootfs must be readable by the mapped root.
    let st = Command::new("chown")
        .args(["-R", "100000:100000"])
        .arg(b.dir.join("rootfs"))
        .status()
        .unwrap();
    assert!(st.success());
    let cache = env.base.join("seccomp-cache");
    kill_at_every_phase(&env, &b, &["create"], Some(&cache));
}
