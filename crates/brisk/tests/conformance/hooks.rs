//! config.md: POSIX-platform Hooks (and runtime.md's lifecycle steps that
//! call them): when each hook runs, in which order, in which namespace its
//! path resolves and it executes, the state on its stdin, and what a
//! failing hook does. Hooks append to a log in a host directory that the
//! container also binds at /hk.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::{ns_of, run_to_files, Bundle, Env};
use crate::config_misc::{assert_create_fails, bind_out, wait_comm};
use crate::support::Outcome;
use crate::tests;

tests![
    each_hook_runs_at_its_lifecycle_step => [
        "runtime.lifecycle.5", "runtime.lifecycle.7", "runtime.lifecycle.9",
        "runtime.lifecycle.11", "runtime.lifecycle.14", "runtime.lifecycle.17",
        "config.prestart.2", "config.createcontainer-hooks.2",
        "config.startcontainer-hooks.1", "config.poststart.1", "config.poststop.1",
    ],
    hooks_run_in_the_listed_order => ["config.posix-platform-hooks.19"],
    hooks_get_the_state_on_stdin => ["config.posix-platform-hooks.20"],
    hooks_run_in_the_namespaces_the_spec_names => [
        "config.posix-platform-hooks.5", "config.posix-platform-hooks.10",
        "config.posix-platform-hooks.12", "config.posix-platform-hooks.14",
        "config.posix-platform-hooks.16", "config.posix-platform-hooks.18",
        "config.prestart.4", "config.createruntime-hooks.3",
        "config.createcontainer-hooks.4", "config.startcontainer-hooks.3",
        "config.poststart.3", "config.poststop.3",
    ],
    hook_paths_resolve_in_the_namespaces_the_spec_names => [
        "config.posix-platform-hooks.1", "config.posix-platform-hooks.4",
        "config.posix-platform-hooks.6", "config.posix-platform-hooks.9",
        "config.posix-platform-hooks.11", "config.posix-platform-hooks.13",
        "config.posix-platform-hooks.15", "config.posix-platform-hooks.17",
        "config.prestart.3", "config.createruntime-hooks.2",
        "config.createcontainer-hooks.3", "config.startcontainer-hooks.2",
        "config.poststart.2", "config.poststop.2",
    ],
    create_hooks_run_after_the_mounts_and_before_pivot_root => [
        "config.prestart.1", "config.createruntime-hooks.1", "config.createcontainer-hooks.1",
    ],
    a_failing_create_hook_fails_create => [
        "runtime.lifecycle.6", "runtime.lifecycle.8", "runtime.lifecycle.10",
    ],
    a_failing_start_container_hook_fails_start => ["runtime.lifecycle.12"],
    a_failing_poststart_hook_fails_start_and_stops_the_container => ["runtime.lifecycle.15"],
    a_failing_poststop_hook_is_only_a_warning => [
        "runtime.lifecycle.18", "runtime.warnings.1",
    ],
    a_zero_timeout_is_rejected => [
        "config.posix-platform-hooks.3", "config.posix-platform-hooks.8",
    ],
    a_relative_hook_path_is_rejected => [
        "config.posix-platform-hooks.2", "config.posix-platform-hooks.7",
    ],
];

const ALL: [&str; 6] = [
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
];

/// A hook running `sh -c cmd` (/bin/sh exists on the host and in the
/// busybox rootfs).
fn hook(cmd: &str) -> Value {
    json!({"path": "/bin/sh", "args": ["sh", "-c", cmd]})
}

/// A bundle whose /hk is the host directory returned; the program logs
/// "program" there and sleeps.
fn hooked_bundle(env: &Env, name: &str) -> (Bundle, PathBuf) {
    let mut b = env.bundle(
        name,
        &["sh", "-c", "echo program >> /hk/log; exec sleep 30"],
    );
    let dir = bind_out(&mut b, "/hk");
    (b, dir)
}

/// The directory in which a hook of this kind sees the log directory:
/// /hk inside the container after pivot_root, else the host path.
fn log_dir(kind: &str, host: &Path) -> String {
    if kind == "startContainer" {
        "/hk".into()
    } else {
        host.to_str().unwrap().into()
    }
}

fn log(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("log"))
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

fn wait_for_line(dir: &Path, line: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !log(dir).iter().any(|l| l == line) {
        assert!(
            Instant::now() < deadline,
            "{line} never logged: {:?}",
            log(dir)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn set_hooks(b: &mut Bundle, hooks: Value) {
    b.set("/hooks", hooks);
}

fn each_hook_runs_at_its_lifecycle_step() -> Outcome {
    let env = Env::new("cf-hooks-steps");
    let (mut b, dir) = hooked_bundle(&env, "b");
    let mut hooks = json!({});
    for k in ALL {
        hooks[k] = json!([hook(&format!("echo {k} >> {}/log", log_dir(k, &dir)))]);
    }
    set_hooks(&mut b, hooks);
    env.brisk(&["create", "-b", b.path(), "h"]).ok();
    assert_eq!(
        log(&dir),
        ["prestart", "createRuntime", "createContainer"],
        "after create"
    );
    env.brisk(&["start", "h"]).ok();
    // poststart has run when start returns, after startContainer.
    let l = log(&dir);
    let pos = |s: &str| l.iter().position(|x| x == s);
    assert!(
        pos("poststart").is_some(),
        "start returned before poststart: {l:?}"
    );
    assert!(pos("startContainer") < pos("poststart"), "{l:?}");
    wait_for_line(&dir, "program");
    let l = log(&dir);
    let pos = |s: &str| l.iter().position(|x| x == s);
    assert!(pos("startContainer") < pos("program"), "{l:?}");
    assert!(!l.contains(&"poststop".to_string()), "{l:?}");
    env.brisk(&["kill", "h", "KILL"]).ok();
    env.wait_status("h", "stopped");
    assert!(
        !log(&dir).contains(&"poststop".to_string()),
        "poststop before delete"
    );
    env.brisk(&["delete", "h"]).ok();
    assert_eq!(log(&dir).last().map(String::as_str), Some("poststop"));
    assert_eq!(
        log(&dir).iter().filter(|l| *l != "program").count(),
        6,
        "{:?}",
        log(&dir)
    );
    env.assert_clean();
    Ok(())
}

fn hooks_run_in_the_listed_order() -> Outcome {
    let env = Env::new("cf-hooks-order");
    let (mut b, dir) = hooked_bundle(&env, "b");
    let mut hooks = json!({});
    for k in ALL {
        let d = log_dir(k, &dir);
        hooks[k] = json!(["1", "2", "3"]
            .iter()
            .map(|n| hook(&format!("echo {k}{n} >> {d}/log")))
            .collect::<Vec<_>>());
    }
    set_hooks(&mut b, hooks);
    env.brisk(&["create", "-b", b.path(), "o"]).ok();
    env.brisk(&["start", "o"]).ok();
    env.brisk(&["kill", "o", "KILL"]).ok();
    env.wait_status("o", "stopped");
    env.brisk(&["delete", "o"]).ok();
    let l: Vec<String> = log(&dir).into_iter().filter(|l| l != "program").collect();
    for k in ALL {
        let mine: Vec<&String> = l.iter().filter(|x| x.starts_with(k)).collect();
        assert_eq!(
            mine,
            [&format!("{k}1"), &format!("{k}2"), &format!("{k}3")],
            "{l:?}"
        );
    }
    env.assert_clean();
    Ok(())
}

fn hooks_get_the_state_on_stdin() -> Outcome {
    let env = Env::new("cf-hooks-state");
    let (mut b, dir) = hooked_bundle(&env, "b");
    let mut hooks = json!({});
    for k in ALL {
        hooks[k] = json!([hook(&format!("cat > {}/state-{k}", log_dir(k, &dir)))]);
    }
    set_hooks(&mut b, hooks);
    env.brisk(&["create", "-b", b.path(), "s"]).ok();
    let pid = env.state("s")["pid"].as_i64().unwrap();
    env.brisk(&["start", "s"]).ok();
    env.brisk(&["kill", "s", "KILL"]).ok();
    env.wait_status("s", "stopped");
    env.brisk(&["delete", "s"]).ok();
    for k in ALL {
        let text = std::fs::read_to_string(dir.join(format!("state-{k}")))
            .unwrap_or_else(|e| panic!("{k} left no state: {e}"));
        let s: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{k}: {e}: {text:?}"));
        assert!(s["ociVersion"].is_string(), "{k}: {s}");
        assert_eq!(s["id"], "s", "{k}: {s}");
        assert_eq!(s["bundle"], b.path(), "{k}: {s}");
        assert!(s["status"].is_string(), "{k}: {s}");
        match k {
            "poststop" => {}
            // Run in the container's namespaces: its pid as seen there.
            "createContainer" | "startContainer" => {
                assert!(s["pid"].as_i64().is_some_and(|p| p > 0), "{k}: {s}")
            }
            _ => assert_eq!(s["pid"], pid, "{k}: {s}"),
        }
    }
    env.assert_clean();
    Ok(())
}

fn hooks_run_in_the_namespaces_the_spec_names() -> Outcome {
    let env = Env::new("cf-hooks-ns");
    let (mut b, dir) = hooked_bundle(&env, "b");
    let mut hooks = json!({});
    for k in ALL {
        let d = log_dir(k, &dir);
        hooks[k] = json!([hook(&format!(
            "echo {k} $(readlink /proc/self/ns/mnt) $(readlink /proc/self/ns/uts) >> {d}/log"
        ))]);
    }
    set_hooks(&mut b, hooks);
    env.brisk(&["create", "-b", b.path(), "n"]).ok();
    let pid = env.state("n")["pid"].as_i64().unwrap().to_string();
    let container = (ns_of(&pid, "mnt"), ns_of(&pid, "uts"));
    let runtime = (ns_of("self", "mnt"), ns_of("self", "uts"));
    env.brisk(&["start", "n"]).ok();
    env.brisk(&["kill", "n", "KILL"]).ok();
    env.wait_status("n", "stopped");
    env.brisk(&["delete", "n"]).ok();
    let l = log(&dir);
    for k in ALL {
        let line = l
            .iter()
            .find(|x| x.starts_with(&format!("{k} ")))
            .unwrap_or_else(|| panic!("{k} did not run: {l:?}"));
        let f: Vec<&str> = line.split(' ').collect();
        let want = if matches!(k, "createContainer" | "startContainer") {
            &container
        } else {
            &runtime
        };
        assert_eq!(
            (f[1], f[2]),
            (want.0.as_str(), want.1.as_str()),
            "{k} ran in the wrong namespaces"
        );
    }
    env.assert_clean();
    Ok(())
}

fn write_script(path: &Path, body: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn hook_paths_resolve_in_the_namespaces_the_spec_names() -> Outcome {
    let env = Env::new("cf-hooks-paths");
    let (mut b, dir) = hooked_bundle(&env, "b");
    // A script only the host has (not in the rootfs) ...
    let host_only = env.base.join("host-only-hook.sh");
    write_script(&host_only, &format!("echo \"$1\" >> {}/log", dir.display()));
    // ... and one only the container has (not on the host).
    let in_container = "/conformance-container-only-hook.sh";
    assert!(!Path::new(in_container).exists());
    write_script(
        &b.dir.join(format!("rootfs{in_container}")),
        "echo startContainer >> /hk/log",
    );
    let host_hook = |k: &str| json!([{"path": host_only.to_str().unwrap(), "args": ["x", k]}]);
    let mut hooks = json!({});
    for k in ALL {
        hooks[k] = if k == "startContainer" {
            json!([{"path": in_container}])
        } else {
            host_hook(k)
        };
    }
    set_hooks(&mut b, hooks);
    env.brisk(&["create", "-b", b.path(), "p"]).ok();
    env.brisk(&["start", "p"]).ok();
    env.brisk(&["kill", "p", "KILL"]).ok();
    env.wait_status("p", "stopped");
    env.brisk(&["delete", "p"]).ok();
    // Which hooks ran, not in what order (each_hook_runs_at_its_lifecycle_step).
    let mut l: Vec<String> = log(&dir).into_iter().filter(|l| l != "program").collect();
    l.sort();
    let mut all = ALL.to_vec();
    all.sort();
    assert_eq!(l, all, "hooks that ran");
    env.assert_clean();
    Ok(())
}

fn create_hooks_run_after_the_mounts_and_before_pivot_root() -> Outcome {
    let env = Env::new("cf-hooks-pivot");
    let (mut b, dir) = hooked_bundle(&env, "b");
    let rootfs = std::fs::canonicalize(b.dir.join("rootfs")).unwrap();
    let rootfs = rootfs.display();
    let d = dir.display();
    // Before pivot_root the container's mount table still shows the /tmp
    // mount under the rootfs's host path; after it, as /tmp.
    let check = |k: &str, table: &str| {
        format!(
            "if grep -q ' {rootfs}/tmp ' {table}; then echo {k} >> {d}/log; \
             else echo {k}-not-before-pivot >> {d}/log; fi"
        )
    };
    let hooks = json!({
        "prestart": [hook(&check("prestart", "/proc/$(jq .pid)/mountinfo"))],
        "createRuntime": [hook(&check("createRuntime", "/proc/$(jq .pid)/mountinfo"))],
        "createContainer": [hook(&check("createContainer", "/proc/self/mountinfo"))],
    });
    set_hooks(&mut b, hooks);
    env.brisk(&["create", "-b", b.path(), "v"]).ok();
    assert_eq!(log(&dir), ["prestart", "createRuntime", "createContainer"]);
    env.brisk(&["delete", "--force", "v"]).ok();
    env.assert_clean();
    Ok(())
}

fn a_failing_create_hook_fails_create() -> Outcome {
    let env = Env::new("cf-hooks-create-fail");
    for (i, k) in ["prestart", "createRuntime", "createContainer"]
        .iter()
        .enumerate()
    {
        let (mut b, dir) = hooked_bundle(&env, &format!("b{i}"));
        set_hooks(&mut b, json!({ *k: [hook("exit 3")] }));
        assert_create_fails(&env, &b, &format!("f{i}"), &format!("failing {k} hook"));
        assert!(log(&dir).is_empty(), "the program ran: {:?}", log(&dir));
    }
    Ok(())
}

fn a_failing_start_container_hook_fails_start() -> Outcome {
    let env = Env::new("cf-hooks-start-fail");
    let (mut b, dir) = hooked_bundle(&env, "b");
    set_hooks(&mut b, json!({"startContainer": [hook("exit 3")]}));
    env.brisk(&["create", "-b", b.path(), "f"]).ok();
    let out = env.brisk(&["start", "f"]);
    assert_ne!(
        out.code, 0,
        "start succeeded with a failing startContainer hook"
    );
    // Once the init is gone nothing can run the program any more.
    let st = env.brisk(&["state", "f"]);
    if st.code == 0 {
        env.wait_status("f", "stopped");
    }
    assert!(log(&dir).is_empty(), "the program ran: {:?}", log(&dir));
    env.brisk(&["delete", "--force", "f"]).ok();
    env.assert_clean();
    Ok(())
}

fn a_failing_poststart_hook_fails_start_and_stops_the_container() -> Outcome {
    let env = Env::new("cf-hooks-poststart-fail");
    let (mut b, _dir) = hooked_bundle(&env, "b");
    set_hooks(&mut b, json!({"poststart": [hook("exit 3")]}));
    env.brisk(&["create", "-b", b.path(), "f"]).ok();
    let pid = env.state("f")["pid"].as_i64().unwrap();
    let out = env.brisk(&["start", "f"]);
    assert_ne!(out.code, 0, "start succeeded with a failing poststart hook");
    if env.brisk(&["state", "f"]).code == 0 {
        env.wait_status("f", "stopped");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !s.rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
    }) {
        assert!(Instant::now() < deadline, "the container process lives on");
        std::thread::sleep(Duration::from_millis(20));
    }
    env.brisk(&["delete", "--force", "f"]).ok();
    env.assert_clean();
    Ok(())
}

fn a_failing_poststop_hook_is_only_a_warning() -> Outcome {
    let env = Env::new("cf-hooks-poststop-fail");
    let (mut b, dir) = hooked_bundle(&env, "b");
    let d = dir.display();
    set_hooks(
        &mut b,
        json!({"poststop": [
            hook(&format!("echo first >> {d}/log; exit 3")),
            hook(&format!("echo second >> {d}/log")),
        ]}),
    );
    env.brisk(&["create", "-b", b.path(), "w"]).ok();
    env.brisk(&["start", "w"]).ok();
    let pid = env.state("w")["pid"].as_i64().unwrap();
    wait_comm(pid, "sleep");
    env.brisk(&["kill", "w", "KILL"]).ok();
    env.wait_status("w", "stopped");
    let out = env.brisk(&["delete", "w"]);
    assert_eq!(
        out.code, 0,
        "delete failed on a poststop hook: {}",
        out.stderr
    );
    let l = log(&dir);
    assert!(
        l.ends_with(&["first".to_string(), "second".to_string()]),
        "{l:?}"
    );
    assert_ne!(env.brisk(&["state", "w"]).code, 0, "the container survived");
    env.assert_clean();
    Ok(())
}

fn a_zero_timeout_is_rejected() -> Outcome {
    let env = Env::new("cf-hooks-timeout");
    for (i, k) in ["prestart", "createRuntime"].iter().enumerate() {
        let mut b = env.bundle(&format!("b{i}"), &["true"]);
        let mut h = hook("true");
        h["timeout"] = json!(0);
        set_hooks(&mut b, json!({ *k: [h] }));
        assert_create_fails(&env, &b, &format!("t{i}"), &format!("{k} timeout 0"));
    }
    Ok(())
}

fn a_relative_hook_path_is_rejected() -> Outcome {
    let env = Env::new("cf-hooks-relative");
    for (i, k) in ["prestart", "createRuntime"].iter().enumerate() {
        let mut b = env.bundle(&format!("b{i}"), &["true"]);
        set_hooks(
            &mut b,
            json!({ *k: [{"path": "bin/sh", "args": ["sh", "-c", "true"]}] }),
        );
        // From /, bin/sh would name /bin/sh: only the rule rejects it.
        let id = format!("r{i}");
        let mut cmd = env.cmd(&["create", "-b", b.path(), &id]);
        cmd.current_dir("/");
        let out = run_to_files(cmd, &env.base);
        if out.code == 0 {
            env.brisk(&["delete", "--force", &id]);
            panic!("relative {k} path: create succeeded");
        }
        env.assert_clean();
    }
    Ok(())
}
