//! runtime.md: what lifecycle.rs leaves out — operations called without
//! an id or bundle, errors leaving no trace, create applying the whole
//! config before start, config changes after create, start of a stopped
//! container, kill of a created one, delete sparing what the container did
//! not create, and the state's schema.

use std::process::Command;

use serde_json::{json, Value};

use crate::common::{run_to_files, Env};
use crate::config_misc::{assert_create_or_start_fails, wait_comm};
use crate::support::Outcome;
use crate::tests;

tests![
    operations_without_an_id_fail => [
        "runtime.query-state.1", "runtime.start.1", "runtime.kill.1", "runtime.delete.1",
    ],
    create_without_an_id_or_a_bundle_fails => ["runtime.create.1"],
    a_failed_create_leaves_no_trace => [
        "runtime.errors.1", "runtime.lifecycle.2", "runtime.create.6",
    ],
    create_applies_the_config_before_start => [
        "runtime.create.4", "runtime.lifecycle.1", "runtime.lifecycle.3",
        "runtime.scope-of-a-container.1",
    ],
    config_changes_after_create_do_not_affect_the_container => ["runtime.lifecycle.4"],
    start_without_process_fails => ["runtime.start.4", "config.process.1"],
    start_of_a_stopped_container_fails => ["runtime.start.2"],
    kill_of_a_created_container_signals_it => ["runtime.kill.2", "runtime.kill.3"],
    delete_spares_what_the_container_did_not_create => [
        "runtime.delete.3", "runtime.delete.4",
    ],
    state_matches_the_schema => ["runtime.state.5", "runtime.state.8"],
];

fn operations_without_an_id_fail() -> Outcome {
    let env = Env::new("cf-ops-no-id");
    let b = env.bundle("b", &["sleep", "30"]);
    env.brisk(&["create", "-b", b.path(), "c"]).ok();
    let pid = env.state("c")["pid"].clone();
    for op in [
        &["state"][..],
        &["start"][..],
        &["kill"][..],
        &["kill", "--all"][..],
        &["delete"][..],
        &["delete", "--force"][..],
    ] {
        let out = env.brisk(op);
        assert_ne!(out.code, 0, "{op:?} without an id succeeded");
        let s = env.state("c");
        assert_eq!(s["status"], "created", "{op:?} changed the container");
        assert_eq!(s["pid"], pid, "{op:?} changed the container");
    }
    env.brisk(&["delete", "--force", "c"]).ok();
    env.assert_clean();
    Ok(())
}

fn create_without_an_id_or_a_bundle_fails() -> Outcome {
    let env = Env::new("cf-create-no-id");
    let b = env.bundle("b", &["true"]);
    let out = env.brisk(&["create", "-b", b.path()]);
    assert_ne!(out.code, 0, "create without an id succeeded");
    // No bundle given: the runtime may look in its working directory; an
    // empty one is no bundle.
    let empty = env.base.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let mut cmd = env.cmd(&["create", "nob"]);
    cmd.current_dir(&empty);
    let out = run_to_files(cmd, &env.base);
    assert_ne!(out.code, 0, "create without a bundle succeeded");
    assert_ne!(env.brisk(&["state", "nob"]).code, 0);
    env.assert_clean();
    Ok(())
}

fn a_failed_create_leaves_no_trace() -> Outcome {
    let env = Env::new("cf-create-error");
    let before = host_mounts(&env);
    // A bind mount whose source does not exist, after mounts that work:
    // the environment cannot be created.
    let mut b = env.bundle("b", &["sleep", "30"]);
    let mounts = b.config["mounts"].as_array_mut().unwrap();
    mounts.push(json!({"destination": "/ok", "type": "tmpfs", "source": "tmpfs"}));
    mounts.push(json!({
        "destination": "/missing", "type": "bind",
        "source": env.base.join("no-such-dir").to_str().unwrap(), "options": ["rbind"],
    }));
    b.write();
    let out = env.brisk(&["create", "-b", b.path(), "e"]);
    assert_ne!(out.code, 0, "create with an impossible mount succeeded");
    assert_ne!(env.brisk(&["state", "e"]).code, 0, "the container exists");
    env.assert_clean();
    assert_eq!(host_mounts(&env), before, "the host's mounts changed");
    // As if never attempted: the id is free.
    let good = env.bundle("good", &["sleep", "30"]);
    env.brisk(&["create", "-b", good.path(), "e"]).ok();
    assert_eq!(env.status("e"), "created");
    env.brisk(&["delete", "--force", "e"]).ok();
    env.assert_clean();
    Ok(())
}

/// The host's mounts this test could have made: those that mention its
/// base directory (its bundles' rootfs and mount sources are there). Other
/// tests mount and unmount on the host meanwhile.
fn host_mounts(env: &Env) -> Vec<String> {
    let base = env.base.to_string_lossy().into_owned();
    let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let mut v: Vec<String> = mi
        .lines()
        .filter(|l| l.contains(&base))
        .map(|l| l.split(' ').skip(3).collect::<Vec<_>>().join(" "))
        .collect();
    v.sort();
    v
}

fn create_applies_the_config_before_start() -> Outcome {
    let env = Env::new("cf-create-applies");
    let mut b = env.bundle("b", &["sleep", "30"]);
    b.set("/hostname", json!("applied-at-create"));
    b.config["mounts"].as_array_mut().unwrap().push(
        json!({"destination": "/extra", "type": "tmpfs", "source": "tmpfs",
                     "options": ["size=1m"]}),
    );
    b.write();
    env.brisk(&["create", "-b", b.path(), "c"]).ok();
    let pid = env.state("c")["pid"].as_i64().unwrap().to_string();
    // The environment exists before start: namespaces, mounts, hostname.
    for ns in ["mnt", "uts", "ipc", "net", "pid"] {
        assert_ne!(
            crate::common::ns_of(&pid, ns),
            crate::common::ns_of("self", ns),
            "no new {ns} namespace after create"
        );
    }
    let mi = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
    for point in ["/proc", "/dev", "/tmp", "/extra"] {
        assert!(
            mi.lines().any(|l| l.split(' ').nth(4) == Some(point)),
            "{point} not mounted after create: {mi}"
        );
    }
    let out = Command::new("nsenter")
        .args(["-t", &pid, "-u", "hostname"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "applied-at-create"
    );
    // The same container can then be started, killed and deleted.
    env.brisk(&["start", "c"]).ok();
    wait_comm(pid.parse().unwrap(), "sleep");
    env.brisk(&["kill", "c", "KILL"]).ok();
    env.wait_status("c", "stopped");
    env.brisk(&["delete", "c"]).ok();
    env.assert_clean();
    Ok(())
}

fn config_changes_after_create_do_not_affect_the_container() -> Outcome {
    let env = Env::new("cf-config-after-create");
    let mut b = env.bundle("b", &["sleep", "31"]);
    let n = b.config["process"]["env"].as_array().unwrap().len();
    b.config["process"]["env"]
        .as_array_mut()
        .unwrap()
        .push(json!("ORIGINAL=1"));
    b.write();
    env.brisk(&["create", "-b", b.path(), "c"]).ok();
    b.set("/process/args", json!(["sleep", "32"]));
    b.set(&format!("/process/env/{n}"), json!("CHANGED=1"));
    b.set("/process/cwd", json!("/tmp"));
    env.brisk(&["start", "c"]).ok();
    let pid = env.state("c")["pid"].as_i64().unwrap();
    wait_comm(pid, "sleep");
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    assert_eq!(cmdline, b"sleep\x0031\x00", "the changed args were used");
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    let environ = String::from_utf8_lossy(&environ);
    assert!(environ.contains("ORIGINAL=1"), "{environ}");
    assert!(!environ.contains("CHANGED=1"), "{environ}");
    let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap();
    assert_eq!(cwd.to_str().unwrap(), "/", "the changed cwd was used");
    env.brisk(&["delete", "--force", "c"]).ok();
    env.assert_clean();
    Ok(())
}

fn start_without_process_fails() -> Outcome {
    let env = Env::new("cf-start-no-process");
    let mut b = env.bundle("b", &["true"]);
    b.remove("/process");
    assert_create_or_start_fails(&env, &b, "p", "no process");
    Ok(())
}

fn start_of_a_stopped_container_fails() -> Outcome {
    let env = Env::new("cf-start-stopped");
    let b = env.bundle("b", &["true"]);
    env.brisk(&["create", "-b", b.path(), "s"]).ok();
    env.brisk(&["start", "s"]).ok();
    env.wait_status("s", "stopped");
    assert_ne!(
        env.brisk(&["start", "s"]).code,
        0,
        "start of a stopped container"
    );
    assert_eq!(env.status("s"), "stopped");
    env.brisk(&["delete", "s"]).ok();
    env.assert_clean();
    Ok(())
}

fn kill_of_a_created_container_signals_it() -> Outcome {
    let env = Env::new("cf-kill-created");
    let b = env.bundle("b", &["sleep", "30"]);
    env.brisk(&["create", "-b", b.path(), "k"]).ok();
    let out = env.brisk(&["kill", "k", "KILL"]);
    assert_eq!(out.code, 0, "kill of a created container: {}", out.stderr);
    env.wait_status("k", "stopped");
    env.brisk(&["delete", "k"]).ok();
    env.assert_clean();
    Ok(())
}

fn delete_spares_what_the_container_did_not_create() -> Outcome {
    let env = Env::new("cf-delete-spares");
    let shared = env.base.join("shared");
    std::fs::create_dir_all(&shared).unwrap();
    std::fs::write(shared.join("kept"), "kept\n").unwrap();
    let mut b = env.bundle("b", &["sh", "-c", "echo made > /s/made; sleep 30"]);
    b.config["mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/s", "type": "bind", "source": shared.to_str().unwrap(),
        "options": ["rbind", "rw"],
    }));
    b.write();
    env.brisk(&["create", "-b", b.path(), "d"]).ok();
    env.brisk(&["start", "d"]).ok();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !shared.join("made").exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the program never wrote"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    env.brisk(&["kill", "d", "KILL"]).ok();
    env.wait_status("d", "stopped");
    env.brisk(&["delete", "d"]).ok();
    // The container's resources are gone ...
    assert_ne!(env.brisk(&["state", "d"]).code, 0);
    env.assert_clean();
    // ... and what it only used is not: the bind source and its files, the
    // bundle and its rootfs.
    assert_eq!(
        std::fs::read_to_string(shared.join("kept")).unwrap(),
        "kept\n"
    );
    assert_eq!(
        std::fs::read_to_string(shared.join("made")).unwrap(),
        "made\n"
    );
    assert!(b.dir.join("config.json").is_file());
    assert!(b.dir.join("rootfs/bin/busybox").is_file());
    Ok(())
}

fn state_matches_the_schema() -> Outcome {
    let env = Env::new("cf-state-schema");
    let mut b = env.bundle("b", &["sleep", "30"]);
    b.set("/annotations", json!({"org.example.a": "1"}));
    env.brisk(&["create", "-b", b.path(), "s"]).ok();
    let check = |s: &Value, status: &str| {
        let o = s.as_object().expect("state is an object");
        let version = o["ociVersion"].as_str().expect("ociVersion is a string");
        let core = version.split(['-', '+']).next().unwrap();
        let parts: Vec<&str> = core.split('.').collect();
        assert!(
            parts.len() == 3 && parts.iter().all(|p| p.parse::<u64>().is_ok()),
            "ociVersion {version:?} is not SemVer"
        );
        assert!(o["id"].is_string());
        assert_eq!(o["status"], status);
        assert!(
            ["creating", "created", "running", "stopped"].contains(&o["status"].as_str().unwrap()),
            "status {} is not one the spec defines",
            o["status"]
        );
        if status != "stopped" {
            assert!(o["pid"].as_i64().is_some_and(|p| p > 0), "pid: {s}");
        }
        assert!(o["bundle"].as_str().is_some_and(|p| p.starts_with('/')));
        if let Some(a) = o.get("annotations") {
            let a = a.as_object().expect("annotations is a map");
            assert!(a.values().all(Value::is_string), "annotations: {a:?}");
        }
    };
    check(&env.state("s"), "created");
    env.brisk(&["start", "s"]).ok();
    check(&env.state("s"), "running");
    env.brisk(&["kill", "s", "KILL"]).ok();
    env.wait_status("s", "stopped");
    check(&env.state("s"), "stopped");
    env.brisk(&["delete", "s"]).ok();
    env.assert_clean();
    Ok(())
}
