//! runtime.md: State, Lifecycle and Operations (state, create, start,
//! kill, delete), observed through the CLI and from the host.

use serde_json::Value;

use crate::common::Env;
use crate::support::Outcome;
use crate::tests;

tests![
    state_has_the_required_fields => [
        "runtime.state.1", "runtime.state.2", "runtime.state.4", "runtime.state.6",
        "runtime.state.7", "runtime.query-state.3",
    ],
    state_of_unknown_container_is_an_error => ["runtime.query-state.2"],
    create_leaves_the_program_unstarted => ["runtime.create.3", "runtime.create.5", "runtime.lifecycle.3"],
    create_with_a_duplicate_id_fails => ["runtime.create.2", "runtime.state.3"],
    start_runs_the_program => ["runtime.start.3", "runtime.lifecycle.13"],
    start_of_a_running_container_fails => ["runtime.start.2"],
    kill_signals_the_process => ["runtime.kill.3", "runtime.operations.1"],
    kill_of_a_stopped_container_fails => ["runtime.kill.2"],
    delete_of_a_running_container_fails => ["runtime.delete.2"],
    delete_of_a_created_container_fails => ["runtime.delete.2"],
    delete_removes_the_container => ["runtime.delete.3", "runtime.lifecycle.16"],
    annotations_are_in_the_state => ["config.annotations.23"],
];

fn fields(s: &Value) -> Vec<&str> {
    s.as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default()
}

fn state_has_the_required_fields() -> Outcome {
    let env = Env::new("cf-state");
    let b = env.bundle("b", &["sleep", "30"]);
    env.brisk(&["create", "-b", b.path(), "s"]).ok();
    let s = env.state("s");
    for f in ["ociVersion", "id", "status", "pid", "bundle"] {
        assert!(fields(&s).contains(&f), "state lacks {f}: {s}");
    }
    assert_eq!(s["id"], "s");
    assert_eq!(s["status"], "created");
    assert!(
        s["pid"].as_i64().unwrap() > 0,
        "created container has no pid: {s}"
    );
    assert_eq!(s["bundle"], b.path(), "bundle must be the absolute path");
    env.brisk(&["start", "s"]).ok();
    env.wait_status("s", "running");
    env.brisk(&["kill", "s", "KILL"]).ok();
    env.wait_status("s", "stopped");
    env.brisk(&["delete", "s"]).ok();
    env.assert_clean();
    Ok(())
}

fn state_of_unknown_container_is_an_error() -> Outcome {
    let env = Env::new("cf-state-unknown");
    let out = env.brisk(&["state", "never-created"]);
    assert_ne!(out.code, 0, "state of an unknown id succeeded");
    Ok(())
}

fn create_leaves_the_program_unstarted() -> Outcome {
    let env = Env::new("cf-create");
    let b = env.bundle("b", &["sh", "-c", "touch /tmp/ran; sleep 30"]);
    env.brisk(&["create", "-b", b.path(), "c"]).ok();
    let pid = env.state("c")["pid"].as_i64().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    // The user's program has not been exec'd: the process is not sh/sleep.
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
    assert!(
        !matches!(comm.trim(), "sh" | "sleep"),
        "the program runs before start ({comm})"
    );
    assert_eq!(env.status("c"), "created");
    env.brisk(&["delete", "--force", "c"]).ok();
    env.assert_clean();
    Ok(())
}

fn create_with_a_duplicate_id_fails() -> Outcome {
    let env = Env::new("cf-dup");
    let b = env.bundle("b", &["sleep", "30"]);
    env.brisk(&["create", "-b", b.path(), "d"]).ok();
    let pid = env.state("d")["pid"].clone();
    assert_ne!(
        env.brisk(&["create", "-b", b.path(), "d"]).code,
        0,
        "duplicate id accepted"
    );
    assert_eq!(env.state("d")["pid"], pid, "the first container changed");
    env.brisk(&["delete", "--force", "d"]).ok();
    env.assert_clean();
    Ok(())
}

fn start_runs_the_program() -> Outcome {
    let env = Env::new("cf-start");
    let b = env.bundle("b", &["sh", "-c", "echo ran > /dev/shm/ran; sleep 30"]);
    env.brisk(&["create", "-b", b.path(), "s"]).ok();
    env.brisk(&["start", "s"]).ok();
    env.wait_status("s", "running");
    let pid = env.state("s")["pid"].as_i64().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        // sh, or the sleep it execs in its place.
        if matches!(comm.trim(), "sh" | "sleep") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the program never ran ({comm})"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    env.brisk(&["delete", "--force", "s"]).ok();
    env.assert_clean();
    Ok(())
}

fn start_of_a_running_container_fails() -> Outcome {
    let env = Env::new("cf-start-twice");
    let b = env.bundle("b", &["sleep", "30"]);
    env.brisk(&["create", "-b", b.path(), "s"]).ok();
    env.brisk(&["start", "s"]).ok();
    env.wait_status("s", "running");
    assert_ne!(env.brisk(&["start", "s"]).code, 0, "second start succeeded");
    env.brisk(&["delete", "--force", "s"]).ok();
    env.assert_clean();
    Ok(())
}

fn kill_signals_the_process() -> Outcome {
    let env = Env::new("cf-kill");
    let b = env.bundle(
        "b",
        &[
            "sh",
            "-c",
            "trap 'exit 0' USR1; echo ready > /tmp/ready; while true; do sleep 0.05; done",
        ],
    );
    env.brisk(&["create", "-b", b.path(), "k"]).ok();
    env.brisk(&["start", "k"]).ok();
    env.wait_status("k", "running");
    // The shell says when its trap is installed.
    let ready = env.in_container("k", "/tmp/ready");
    crate::common::wait_until(
        "the trap is set",
        std::time::Duration::from_secs(10),
        || ready.exists(),
    );
    env.brisk(&["kill", "k", "USR1"]).ok();
    env.wait_status("k", "stopped");
    env.brisk(&["delete", "k"]).ok();
    env.assert_clean();
    Ok(())
}

fn kill_of_a_stopped_container_fails() -> Outcome {
    let env = Env::new("cf-kill-stopped");
    let b = env.bundle("b", &["true"]);
    env.brisk(&["create", "-b", b.path(), "k"]).ok();
    env.brisk(&["start", "k"]).ok();
    env.wait_status("k", "stopped");
    assert_ne!(
        env.brisk(&["kill", "k", "TERM"]).code,
        0,
        "kill of a stopped container succeeded"
    );
    env.brisk(&["delete", "k"]).ok();
    env.assert_clean();
    Ok(())
}

fn delete_of_a_running_container_fails() -> Outcome {
    let env = Env::new("cf-delete-running");
    let b = env.bundle("b", &["sleep", "30"]);
    env.brisk(&["create", "-b", b.path(), "d"]).ok();
    env.brisk(&["start", "d"]).ok();
    env.wait_status("d", "running");
    assert_ne!(
        env.brisk(&["delete", "d"]).code,
        0,
        "delete of a running container succeeded"
    );
    assert_eq!(env.status("d"), "running");
    env.brisk(&["delete", "--force", "d"]).ok();
    env.assert_clean();
    Ok(())
}

fn delete_of_a_created_container_fails() -> Outcome {
    // "not stopped" includes created: the spec wants an error and no effect.
    let env = Env::new("cf-delete-created");
    let b = env.bundle("b", &["sleep", "30"]);
    env.brisk(&["create", "-b", b.path(), "d"]).ok();
    let pid = env.state("d")["pid"].clone();
    assert_ne!(
        env.brisk(&["delete", "d"]).code,
        0,
        "delete of a created container succeeded"
    );
    let s = env.state("d");
    assert_eq!(s["status"], "created", "delete changed the container");
    assert_eq!(s["pid"], pid);
    env.brisk(&["delete", "--force", "d"]).ok();
    env.assert_clean();
    Ok(())
}

fn delete_removes_the_container() -> Outcome {
    let env = Env::new("cf-delete");
    let b = env.bundle("b", &["true"]);
    env.brisk(&["create", "-b", b.path(), "d"]).ok();
    env.brisk(&["start", "d"]).ok();
    env.wait_status("d", "stopped");
    env.brisk(&["delete", "d"]).ok();
    assert_ne!(
        env.brisk(&["state", "d"]).code,
        0,
        "state after delete succeeded"
    );
    env.assert_clean();
    Ok(())
}

fn annotations_are_in_the_state() -> Outcome {
    let env = Env::new("cf-annotations");
    let mut b = env.bundle("b", &["true"]);
    b.set(
        "/annotations",
        serde_json::json!({"org.example.key": "value"}),
    );
    env.brisk(&["create", "-b", b.path(), "a"]).ok();
    assert_eq!(env.state("a")["annotations"]["org.example.key"], "value");
    env.brisk(&["delete", "--force", "a"]).ok();
    env.assert_clean();
    Ok(())
}
