//! `exec`: a process cloned into a running (or created) container joins
//! every namespace of the container, gets the process of `--process` or
//! the container's own changed by the flags, propagates its exit code,
//! and can be detached (pid file) or given a terminal. Bad requests fail
//! cleanly.

mod common;

use common::{ns_of, Env};
use serde_json::json;

const NAMESPACES: [&str; 6] = ["pid", "net", "ipc", "uts", "mnt", "cgroup"];

fn running(env: &Env, b: &common::Bundle, id: &str) -> String {
    env.brisk(&["run", "-d", "-b", b.path(), id]).ok();
    env.state(id)["pid"].as_i64().unwrap().to_string()
}

#[test]
fn exec_joins_every_namespace_of_the_container() {
    let env = Env::new("exec-ns");
    let mut b = env.bundle("b", &["sleep", "30"]);
    b.add_namespace("cgroup", None);
    let pid = running(&env, &b, "e");
    let script = NAMESPACES
        .iter()
        .map(|n| format!("readlink /proc/self/ns/{n}"))
        .collect::<Vec<_>>()
        .join("; ");
    let out = env.brisk(&["exec", "e", "sh", "-c", &script]).ok();
    let got: Vec<&str> = out.lines().collect();
    let want: Vec<String> = NAMESPACES.iter().map(|n| ns_of(&pid, n)).collect();
    assert_eq!(got, want, "exec'd process namespaces");
    // Inside the container's pid namespace, pid 1 is the init.
    let out = env
        .brisk(&["exec", "e", "sh", "-c", "cat /proc/1/comm; echo $$"])
        .ok();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "sleep");
    assert_ne!(lines[1], "1");
    env.brisk(&["delete", "--force", "e"]).ok();
    env.assert_clean();
}

#[test]
fn exec_in_a_user_namespace_container() {
    let env = Env::new("exec-userns");
    let mut b = env.bundle("b", &["sleep", "30"]);
    b.add_namespace("user", None);
    let map = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    b.set("/linux/uidMappings", map.clone());
    b.set("/linux/gidMappings", map);
    let st = std::process::Command::new("chown")
        .args(["-R", "100000:100000"])
        .arg(b.dir.join("rootfs"))
        .status()
        .unwrap();
    assert!(st.success());
    let pid = running(&env, &b, "u");
    let out = env
        .brisk(&[
            "exec",
            "u",
            "sh",
            "-c",
            "id -u; readlink /proc/self/ns/user",
        ])
        .ok();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines, ["0", ns_of(&pid, "user").as_str()]);
    env.brisk(&["delete", "--force", "u"]).ok();
    env.assert_clean();
}

#[test]
fn exit_codes_propagate() {
    let env = Env::new("exec-exit");
    let b = env.bundle("b", &["sleep", "30"]);
    running(&env, &b, "x");
    assert_eq!(env.brisk(&["exec", "x", "sh", "-c", "exit 42"]).code, 42);
    assert_eq!(
        env.brisk(&["exec", "x", "sh", "-c", "kill -TERM $$"]).code,
        128 + libc::SIGTERM
    );
    let out = env.brisk(&["exec", "x", "/no/such/program"]);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("/no/such/program"), "{}", out.stderr);
    env.brisk(&["delete", "--force", "x"]).ok();
    env.assert_clean();
}

#[test]
fn flags_change_the_process() {
    let env = Env::new("exec-flags");
    let b = env.bundle("b", &["sleep", "30"]);
    running(&env, &b, "f");
    let out = env
        .brisk(&[
            "exec",
            "-u",
            "1000:1001",
            "-g",
            "7",
            "--cwd",
            "/tmp",
            "-e",
            "FOO=bar",
            "--cap",
            "CAP_SYS_ADMIN",
            "--no-new-privs",
            "f",
            "sh",
            "-c",
            "id -u; id -g; id -G; pwd; echo $FOO; grep -E '^(CapBnd|NoNewPrivs)' /proc/self/status",
        ])
        .ok();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        &lines[..5],
        ["1000", "1001", "1001 7", "/tmp", "bar"],
        "{out}"
    );
    let bnd = u64::from_str_radix(lines[5].split_whitespace().nth(1).unwrap(), 16).unwrap();
    assert_ne!(
        bnd & (1 << 21),
        0,
        "CAP_SYS_ADMIN not in the bounding set: {out}"
    );
    assert!(lines[6].ends_with('1'), "no_new_privs: {out}");
    env.brisk(&["delete", "--force", "f"]).ok();
    env.assert_clean();
}

#[test]
fn process_file_replaces_the_process() {
    let env = Env::new("exec-process");
    let b = env.bundle("b", &["sleep", "30"]);
    running(&env, &b, "p");
    let file = env.base.join("process.json");
    std::fs::write(
        &file,
        serde_json::to_vec(&json!({
            "args": ["sh", "-c", "echo $ONLY; pwd; id -u"],
            "env": ["PATH=/bin", "ONLY=from-file"],
            "cwd": "/etc",
            "user": {"uid": 5, "gid": 5},
        }))
        .unwrap(),
    )
    .unwrap();
    let out = env
        .brisk(&["exec", "--process", file.to_str().unwrap(), "p"])
        .ok();
    assert_eq!(out.lines().collect::<Vec<_>>(), ["from-file", "/etc", "5"]);
    std::fs::write(&file, br#"{"args": "not a list", "cwd": "/"}"#).unwrap();
    let out = env.brisk(&["exec", "--process", file.to_str().unwrap(), "p"]);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("args"), "{}", out.stderr);
    env.brisk(&["delete", "--force", "p"]).ok();
    env.assert_clean();
}

#[test]
fn detached_exec_writes_its_pid() {
    let env = Env::new("exec-detach");
    let b = env.bundle("b", &["sleep", "30"]);
    let init = running(&env, &b, "d");
    let pid_file = env.base.join("exec.pid");
    env.brisk(&[
        "exec",
        "-d",
        "--pid-file",
        pid_file.to_str().unwrap(),
        "d",
        "sleep",
        "20",
    ])
    .ok();
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
    assert_eq!(comm.trim(), "sleep");
    assert_eq!(ns_of(&pid, "pid"), ns_of(&init, "pid"));
    env.brisk(&["delete", "--force", "d"]).ok();
    env.assert_clean();
}

#[test]
fn exec_with_a_terminal() {
    let env = Env::new("exec-tty");
    let b = env.bundle("b", &["sleep", "30"]);
    running(&env, &b, "t");
    let out = env.brisk(&["exec", "-t", "t", "sh", "-c", "tty; exit 3"]);
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(out.stdout.contains("/dev/pts/"), "{:?}", out.stdout);
    let out = env.brisk(&["exec", "-t", "-d", "t", "true"]);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("--console-socket"), "{}", out.stderr);
    env.brisk(&["delete", "--force", "t"]).ok();
    env.assert_clean();
}

#[test]
fn exec_into_a_created_container_and_not_a_stopped_one() {
    let env = Env::new("exec-status");
    let b = env.bundle("b", &["sleep", "30"]);
    env.brisk(&["create", "-b", b.path(), "c"]).ok();
    // The init has not exec'd its program yet: it is still brisk's copy,
    // named `brisk init` (as runc's is `runc init`).
    let out = env.brisk(&["exec", "c", "cat", "/proc/1/comm"]).ok();
    assert_eq!(out.trim(), "brisk init");
    env.brisk(&["kill", "c", "KILL"]).ok();
    env.wait_status("c", "stopped");
    let out = env.brisk(&["exec", "c", "true"]);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("stopped"), "{}", out.stderr);
    let out = env.brisk(&["exec", "nosuch", "true"]);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("does not exist"), "{}", out.stderr);
    env.brisk(&["delete", "c"]).ok();
    env.assert_clean();
}

#[test]
fn config_changes_after_create_do_not_affect_exec() {
    let env = Env::new("exec-config");
    let mut b = env.bundle("b", &["sleep", "30"]);
    b.set("/process/env", json!(["PATH=/bin", "WHO=create-time"]));
    running(&env, &b, "c");
    b.set("/process/env", json!(["PATH=/bin", "WHO=edited"]));
    let out = env.brisk(&["exec", "c", "sh", "-c", "echo $WHO"]).ok();
    assert_eq!(out.trim(), "create-time");
    env.brisk(&["delete", "--force", "c"]).ok();
    env.assert_clean();
}
