//! config.md: Specification version, Annotations, Extensibility and Valid
//! values; plus the helpers the other config.md modules share (running a
//! bundle and reading its output, expecting a rejection, a host directory
//! bound into the container).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::{Bundle, Env, Out};
use crate::support::Outcome;
use crate::tests;

tests![
    a_semver_oci_version_is_accepted => ["config.specification-version.1"],
    an_oci_version_that_is_not_semver_is_rejected => [
        "config.specification-version.1", "config.valid-values.1",
    ],
    a_missing_oci_version_is_rejected => [
        "config.specification-version.1", "config.valid-values.1",
    ],
    unknown_properties_are_ignored => ["config.extensibility.1"],
    unknown_annotation_keys_are_ignored => ["config.annotations.23", "config.extensibility.1"],
    annotations_that_are_not_a_map_are_rejected => [
        "config.annotations.1", "config.valid-values.1",
    ],
    annotation_values_that_are_not_strings_are_rejected => [
        "config.annotations.24", "config.valid-values.1",
    ],
    an_empty_annotation_key_is_rejected => ["config.annotations.3", "config.valid-values.1"],
    values_of_the_wrong_type_are_rejected => ["config.valid-values.1", "runtime.errors.1"],
    memory_policy_mode_is_required_and_known => [
        "config-linux.memory-policy.1", "config.valid-values.1",
    ],
    intel_rdt_without_resctrl_is_an_error => ["config-linux.intelrdt.2"],
    intel_rdt_group_is_joined_and_removed_at_delete => [
        "config-linux.intelrdt.1", "config-linux.intelrdt.3",
        "config-linux.intelrdt.14", "config-linux.intelrdt.19", "config-linux.intelrdt.21",
        "config-linux.intelrdt.22", "config-linux.intelrdt.23",
    ],
];

// ---------------------------------------------------------------- helpers

/// `run`s the bundle to completion (the runtime waits for the program) and
/// returns what the runtime printed, the program's stdout included; the
/// container is deleted after.
pub fn run(env: &Env, b: &Bundle, id: &str) -> Out {
    let out = env.brisk(&["run", "-b", b.path(), id]);
    env.brisk(&["delete", "--force", id]);
    out
}

/// `run`s the bundle and returns the program's stdout, asserting success.
pub fn run_ok(env: &Env, b: &Bundle, id: &str) -> String {
    let out = run(env, b, id);
    assert_eq!(
        out.code, 0,
        "run {id} failed ({}): {}{}",
        out.code, out.stdout, out.stderr
    );
    out.stdout
}

/// Asserts that `create` of this bundle fails and leaves nothing behind.
pub fn assert_create_fails(env: &Env, b: &Bundle, id: &str, what: &str) {
    let out = env.brisk(&["create", "-b", b.path(), id]);
    if out.code == 0 {
        env.brisk(&["delete", "--force", id]);
        panic!("{what}: create succeeded");
    }
    assert_ne!(
        env.brisk(&["state", id]).code,
        0,
        "{what}: a container exists after a failed create"
    );
    env.assert_clean();
}

/// Asserts that `create` or, if it succeeded, `start` fails: for a config
/// whose error the spec lets the runtime find at either step. The program
/// must not have run (it would print to a file nobody reads: the caller
/// checks its own marker if it needs to).
pub fn assert_create_or_start_fails(env: &Env, b: &Bundle, id: &str, what: &str) {
    let out = env.brisk(&["create", "-b", b.path(), id]);
    if out.code == 0 {
        let started = env.brisk(&["start", id]);
        env.brisk(&["delete", "--force", id]);
        assert_ne!(started.code, 0, "{what}: create and start succeeded");
    }
    env.assert_clean();
}

/// `create` + `start`, then waits until the container's process is the
/// program (its `comm` is `comm`); returns its host pid.
pub fn start(env: &Env, b: &Bundle, id: &str, comm: &str) -> i64 {
    env.brisk(&["create", "-b", b.path(), id]).ok();
    env.brisk(&["start", id]).ok();
    let pid = env.state(id)["pid"].as_i64().unwrap();
    wait_comm(pid, comm);
    pid
}

/// Waits until /proc/PID/comm reads `comm`.
pub fn wait_comm(pid: i64, comm: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let c = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if c.trim() == comm {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "pid {pid} never became {comm} ({c})"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The `Name:` line of /proc/PID/status, without the name.
pub fn proc_status(pid: i64, name: &str) -> String {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap_or_else(|| panic!("no {name} in /proc/{pid}/status"))
        .trim()
        .to_string()
}

/// Adds a read-write bind mount of a new host directory (`<bundle>/out`)
/// at `dest` in the container; returns the host directory.
pub fn bind_out(b: &mut Bundle, dest: &str) -> PathBuf {
    let host = b.dir.join("out");
    std::fs::create_dir_all(&host).unwrap();
    let m = json!({
        "destination": dest, "type": "bind", "source": host.to_str().unwrap(),
        "options": ["rbind", "rw"],
    });
    b.config["mounts"].as_array_mut().unwrap().push(m);
    b.write();
    host
}

// ------------------------------------------------------------------ tests

fn a_semver_oci_version_is_accepted() -> Outcome {
    let env = Env::new("cf-ociversion-ok");
    for (i, v) in ["1.0.0", "1.0.2", "1.1.0"].iter().enumerate() {
        let mut b = env.bundle(&format!("b{i}"), &["sh", "-c", "echo ran"]);
        b.set("/ociVersion", json!(v));
        assert_eq!(run_ok(&env, &b, &format!("v{i}")).trim(), "ran", "{v}");
    }
    env.assert_clean();
    Ok(())
}

fn an_oci_version_that_is_not_semver_is_rejected() -> Outcome {
    let env = Env::new("cf-ociversion-bad");
    for (i, v) in ["not-a-version", "1.0", ""].iter().enumerate() {
        let mut b = env.bundle(&format!("b{i}"), &["true"]);
        b.set("/ociVersion", json!(v));
        assert_create_fails(&env, &b, &format!("v{i}"), &format!("ociVersion {v:?}"));
    }
    Ok(())
}

fn a_missing_oci_version_is_rejected() -> Outcome {
    let env = Env::new("cf-ociversion-missing");
    let mut b = env.bundle("b", &["true"]);
    b.remove("/ociVersion");
    assert_create_fails(&env, &b, "v", "no ociVersion");
    Ok(())
}

fn unknown_properties_are_ignored() -> Outcome {
    let env = Env::new("cf-unknown-props");
    let mut b = env.bundle("b", &["sh", "-c", "echo ran; hostname"]);
    b.set("/org.example.unknown", json!({"nested": [1, 2, 3]}));
    b.set("/process/org.example.unknown", json!(true));
    b.set("/process/user/org.example.unknown", json!("x"));
    b.set("/root/org.example.unknown", json!(7));
    b.set("/linux/org.example.unknown", json!({"a": "b"}));
    b.set("/mounts/0/org.example.unknown", json!(null));
    assert_eq!(run_ok(&env, &b, "u"), "ran\nbrisk\n");
    env.assert_clean();
    Ok(())
}

fn unknown_annotation_keys_are_ignored() -> Outcome {
    let env = Env::new("cf-unknown-annotations");
    let mut b = env.bundle("b", &["sh", "-c", "echo ran"]);
    b.set(
        "/annotations",
        json!({
            "org.example.never.heard.of": "x",
            "com.example.another": "{\"not\": \"parsed\"}",
        }),
    );
    assert_eq!(run_ok(&env, &b, "a").trim(), "ran");
    env.assert_clean();
    Ok(())
}

fn annotations_that_are_not_a_map_are_rejected() -> Outcome {
    let env = Env::new("cf-annotations-array");
    let mut b = env.bundle("b", &["true"]);
    b.set("/annotations", json!(["org.example.key=value"]));
    assert_create_fails(&env, &b, "a", "annotations as an array");
    Ok(())
}

fn annotation_values_that_are_not_strings_are_rejected() -> Outcome {
    let env = Env::new("cf-annotations-values");
    for (i, v) in [json!(1), json!(true), json!({"a": "b"}), json!(["x"])]
        .into_iter()
        .enumerate()
    {
        let mut b = env.bundle(&format!("b{i}"), &["true"]);
        b.set("/annotations", json!({ "org.example.key": v.clone() }));
        assert_create_fails(&env, &b, &format!("a{i}"), &format!("annotation value {v}"));
    }
    Ok(())
}

fn an_empty_annotation_key_is_rejected() -> Outcome {
    let env = Env::new("cf-annotations-empty-key");
    let mut b = env.bundle("b", &["true"]);
    b.set("/annotations", json!({"": "value"}));
    assert_create_fails(&env, &b, "a", "empty annotation key");
    Ok(())
}

fn values_of_the_wrong_type_are_rejected() -> Outcome {
    let env = Env::new("cf-wrong-types");
    let cases: &[(&str, Value)] = &[
        ("/root/readonly", json!("yes")),
        ("/process/args", json!("sh -c true")),
        ("/process/user/uid", json!("root")),
        ("/process/user/uid", json!(-1)),
        ("/hostname", json!(42)),
        ("/mounts", json!({"destination": "/tmp"})),
    ];
    for (i, (ptr, v)) in cases.iter().enumerate() {
        let mut b = env.bundle(&format!("b{i}"), &["true"]);
        b.set(ptr, v.clone());
        assert_create_fails(&env, &b, &format!("w{i}"), &format!("{ptr} = {v}"));
    }
    Ok(())
}

fn memory_policy_mode_is_required_and_known() -> Outcome {
    let env = Env::new("cf-mempolicy");
    let mut b = env.bundle("b", &["true"]);
    b.set("/linux/memoryPolicy", json!({"nodes": "0"}));
    assert_create_fails(&env, &b, "m", "memoryPolicy without mode");
    b.set("/linux/memoryPolicy", json!({"mode": "MPOL_NOPE"}));
    assert_create_fails(&env, &b, "m", "memoryPolicy with an unknown mode");
    b.set("/linux/memoryPolicy", json!({"mode": "MPOL_DEFAULT"}));
    run_ok(&env, &b, "m");
    env.assert_clean();
    Ok(())
}

fn intel_rdt_without_resctrl_is_an_error() -> Outcome {
    if resctrl().is_ok() {
        return Err(crate::support::NotApplicable(
            "resctrl is mounted on this host".into(),
        ));
    }
    let env = Env::new("cf-rdt");
    let mut b = env.bundle("b", &["true"]);
    b.set("/linux/intelRdt", json!({"closID": "gold"}));
    assert_create_fails(&env, &b, "r", "intelRdt without resctrl");
    Ok(())
}

/// Whether resctrl is mounted at /sys/fs/resctrl. The test does not
/// mount it itself: that would change the host for the other tests (one
/// checks the error without resctrl).
fn resctrl() -> Result<(), crate::support::NotApplicable> {
    let mounted = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .any(|l| l.contains(" /sys/fs/resctrl ") && l.contains(" - resctrl "));
    if mounted {
        return Ok(());
    }
    let known = std::fs::read_to_string("/proc/filesystems")
        .unwrap_or_default()
        .contains("resctrl");
    Err(crate::support::NotApplicable(if known {
        "resctrl is not mounted at /sys/fs/resctrl".into()
    } else {
        "this kernel has no resctrl file system".into()
    }))
}

fn intel_rdt_group_is_joined_and_removed_at_delete() -> Outcome {
    // intelRdt without closID or schemas, with monitoring: the init is in
    // the group named after the container, which has a monitoring group
    // of that name; no other group nor the default schemata changes; at
    // delete both groups are gone. A container without intelRdt touches
    // nothing in resctrl.
    resctrl()?;
    let root = std::path::Path::new("/sys/fs/resctrl");
    let groups = || {
        let mut v: Vec<String> = std::fs::read_dir(root)
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    };
    let schemata = || std::fs::read_to_string(root.join("schemata")).unwrap_or_default();
    let (before, schemata_before) = (groups(), schemata());
    let env = Env::new("cf-rdt-group");
    let mut plain = env.bundle("p", &["true"]);
    plain.remove("/linux/intelRdt");
    run_ok(&env, &plain, "plain");
    assert_eq!(
        groups(),
        before,
        "a container without intelRdt changed resctrl"
    );
    let mut b = env.bundle("b", &["sleep", "60"]);
    b.set("/linux/intelRdt", json!({"enableMonitoring": true}));
    let created = env.brisk(&["create", "-b", b.path(), "rdt"]);
    assert_eq!(created.code, 0, "{}", created.stderr);
    let pid = env.state("rdt")["pid"].as_i64().unwrap_or(0).to_string();
    let tasks = std::fs::read_to_string(root.join("rdt/tasks")).unwrap_or_default();
    let mon = std::fs::read_to_string(root.join("rdt/mon_groups/rdt/tasks")).unwrap_or_default();
    env.brisk(&["delete", "--force", "rdt"]);
    let (after, schemata_after) = (groups(), schemata());
    assert!(
        tasks.lines().any(|l| l == pid),
        "init {pid} not in rdt/tasks: {tasks:?}"
    );
    assert!(
        mon.lines().any(|l| l == pid),
        "init {pid} not in its monitoring group: {mon:?}"
    );
    assert_eq!(
        schemata_after, schemata_before,
        "the default group's schemata changed"
    );
    assert_eq!(after, before, "the group was not removed at delete");
    env.assert_clean();
    Ok(())
}
