//! config.md: Process — args, env, cwd, rlimits, capabilities,
//! noNewPrivileges, oomScoreAdj, consoleSize, apparmorProfile and
//! selinuxLabel, observed from inside (the program's output) and from the
//! host (/proc/PID of the container process).

use std::process::Command;

use serde_json::json;

use crate::common::{run_to_files, Env};
use crate::config_misc::{
    assert_create_fails, assert_create_or_start_fails, proc_status, run, run_ok, start,
};
use crate::support::{NotApplicable, Outcome};
use crate::tests;

tests![
    args_are_passed_verbatim_and_resolved_like_execvp => [
        "config.process.7", "runtime.start.3", "runtime.lifecycle.13",
    ],
    empty_args_are_rejected => ["config.process.7", "config.valid-values.1"],
    env_is_the_programs_environment => ["runtime.start.3", "runtime.lifecycle.13"],
    cwd_is_the_working_directory => ["config.process.5"],
    a_relative_cwd_is_rejected => ["config.process.6", "config.valid-values.1"],
    a_missing_cwd_is_rejected => ["config.process.5", "config.valid-values.1"],
    rlimits_are_applied => [
        "config.posix-process.1", "config.posix-process.3", "config.posix-process.4",
        "config.posix-process.5", "config.posix-process.6", "config.posix-process.7",
    ],
    an_unknown_rlimit_is_rejected => ["config.posix-process.2", "config.valid-values.1"],
    duplicate_rlimits_are_rejected => ["config.posix-process.8"],
    oom_score_adj_is_set => ["config.linux-process.3"],
    oom_score_adj_is_left_alone_when_unset => ["config.linux-process.4"],
    capabilities_are_applied => ["runtime.start.3", "runtime.lifecycle.13"],
    an_unknown_capability_is_a_warning => [
        "config.linux-process.1", "config.linux-process.2", "runtime.warnings.1",
    ],
    no_new_privileges_is_applied => ["runtime.start.3", "runtime.lifecycle.13"],
    console_size_is_ignored_without_a_terminal => ["config.process.2"],
    console_size_sets_the_terminal_size => ["config.process.3", "config.process.4"],
    scheduler_policy_is_applied => ["config.linux-process.5"],
    io_priority_is_applied => ["config.linux-process.6", "config.linux-process.7"],
    an_apparmor_profile_without_apparmor_is_an_error => [
        "runtime.create.6", "config.valid-values.1",
    ],
    an_selinux_label_without_selinux_is_an_error => [
        "runtime.create.6", "config.valid-values.1",
    ],
];

fn args_are_passed_verbatim_and_resolved_like_execvp() -> Outcome {
    let env = Env::new("cf-proc-args");
    // args[0] without a slash: looked up in PATH; the rest verbatim.
    let b = env.bundle(
        "b",
        &[
            "sh",
            "-c",
            "printf '[%s]' \"$0\" \"$@\"; echo",
            "zero",
            "a b",
            "",
            "$HOME*'\"",
        ],
    );
    assert_eq!(run_ok(&env, &b, "a"), "[zero][a b][][$HOME*'\"]\n");
    // args[0] with a slash: used as a path.
    let b = env.bundle("b2", &["/bin/echo", "by path"]);
    assert_eq!(run_ok(&env, &b, "p"), "by path\n");
    // PATH comes from process.env.
    let mut b = env.bundle("b3", &["myprog"]);
    std::fs::create_dir_all(b.dir.join("rootfs/opt/bin")).unwrap();
    std::fs::write(
        b.dir.join("rootfs/opt/bin/myprog"),
        "#!/bin/sh\necho found in PATH\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        b.dir.join("rootfs/opt/bin/myprog"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    b.set("/process/env/0", json!("PATH=/opt/bin:/bin"));
    assert_eq!(run_ok(&env, &b, "e"), "found in PATH\n");
    env.assert_clean();
    Ok(())
}

fn empty_args_are_rejected() -> Outcome {
    let env = Env::new("cf-proc-args-empty");
    let mut b = env.bundle("b", &["true"]);
    b.set("/process/args", json!([]));
    assert_create_or_start_fails(&env, &b, "e", "process.args = []");
    let mut b = env.bundle("b2", &["true"]);
    b.remove("/process/args");
    assert_create_or_start_fails(&env, &b, "n", "no process.args");
    Ok(())
}

fn env_is_the_programs_environment() -> Outcome {
    let env = Env::new("cf-proc-env");
    let mut b = env.bundle("b", &["env"]);
    let mut vars = b.config["process"]["env"].as_array().unwrap().clone();
    vars.push(json!("ONE=1"));
    vars.push(json!("SPACES=a b  c"));
    vars.push(json!("EQUALS=x=y"));
    vars.push(json!("EMPTY="));
    b.set("/process/env", json!(vars));
    let out = run_ok(&env, &b, "e");
    for v in [
        "ONE=1",
        "SPACES=a b  c",
        "EQUALS=x=y",
        "EMPTY=",
        "TERM=xterm",
    ] {
        assert!(out.lines().any(|l| l == v), "{v} missing: {out}");
    }
    env.assert_clean();
    Ok(())
}

fn cwd_is_the_working_directory() -> Outcome {
    let env = Env::new("cf-proc-cwd");
    let mut b = env.bundle("b", &["sh", "-c", "pwd"]);
    b.set("/process/cwd", json!("/tmp"));
    assert_eq!(run_ok(&env, &b, "c").trim(), "/tmp");
    let mut b = env.bundle("b2", &["sleep", "30"]);
    b.set("/process/cwd", json!("/etc"));
    let pid = start(&env, &b, "h", "sleep");
    let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap();
    assert_eq!(cwd.to_str().unwrap(), "/etc");
    env.brisk(&["delete", "--force", "h"]).ok();
    env.assert_clean();
    Ok(())
}

fn a_relative_cwd_is_rejected() -> Outcome {
    let env = Env::new("cf-proc-cwd-rel");
    let mut b = env.bundle("b", &["true"]);
    b.set("/process/cwd", json!("tmp"));
    assert_create_fails(&env, &b, "r", "relative cwd");
    Ok(())
}

fn a_missing_cwd_is_rejected() -> Outcome {
    let env = Env::new("cf-proc-cwd-missing");
    let mut b = env.bundle("b", &["true"]);
    b.remove("/process/cwd");
    assert_create_or_start_fails(&env, &b, "m", "no cwd");
    Ok(())
}

/// The soft and hard values of one row of /proc/PID/limits.
fn limits(pid: i64, name: &str) -> (String, String) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with(name))
        .unwrap_or_else(|| panic!("no {name} in {text}"));
    let f: Vec<&str> = line[name.len()..].split_whitespace().collect();
    (f[0].to_string(), f[1].to_string())
}

fn rlimits_are_applied() -> Outcome {
    let env = Env::new("cf-proc-rlimits");
    let mut b = env.bundle("b", &["sleep", "30"]);
    b.set(
        "/process/rlimits",
        json!([
            {"type": "RLIMIT_NOFILE", "soft": 512, "hard": 1000},
            {"type": "RLIMIT_CORE", "soft": 0, "hard": 4096},
            {"type": "RLIMIT_NPROC", "soft": 300, "hard": 301},
            {"type": "RLIMIT_STACK", "soft": 4194304, "hard": 8388608},
        ]),
    );
    let pid = start(&env, &b, "r", "sleep");
    assert_eq!(limits(pid, "Max open files"), ("512".into(), "1000".into()));
    assert_eq!(
        limits(pid, "Max core file size"),
        ("0".into(), "4096".into())
    );
    assert_eq!(limits(pid, "Max processes"), ("300".into(), "301".into()));
    assert_eq!(
        limits(pid, "Max stack size"),
        ("4194304".into(), "8388608".into())
    );
    env.brisk(&["delete", "--force", "r"]).ok();
    env.assert_clean();
    Ok(())
}

fn an_unknown_rlimit_is_rejected() -> Outcome {
    let env = Env::new("cf-proc-rlimit-unknown");
    let mut b = env.bundle("b", &["true"]);
    b.set(
        "/process/rlimits",
        json!([{"type": "RLIMIT_NO_SUCH_THING", "soft": 1, "hard": 1}]),
    );
    assert_create_fails(&env, &b, "u", "RLIMIT_NO_SUCH_THING");
    Ok(())
}

fn duplicate_rlimits_are_rejected() -> Outcome {
    let env = Env::new("cf-proc-rlimit-dup");
    let mut b = env.bundle("b", &["true"]);
    b.set(
        "/process/rlimits",
        json!([
            {"type": "RLIMIT_NOFILE", "soft": 100, "hard": 100},
            {"type": "RLIMIT_NOFILE", "soft": 200, "hard": 200},
        ]),
    );
    assert_create_fails(&env, &b, "d", "duplicate RLIMIT_NOFILE");
    Ok(())
}

fn oom_score_adj_is_set() -> Outcome {
    let env = Env::new("cf-proc-oom");
    // Lowering the score below the caller's needs CAP_SYS_RESOURCE, which
    // the host may not grant: only raise it.
    let cur = own_oom_score_adj();
    for (i, v) in [(cur + 123).min(999), 1000].into_iter().enumerate() {
        let mut b = env.bundle(&format!("b{i}"), &["sleep", "30"]);
        b.set("/process/oomScoreAdj", json!(v));
        let id = format!("o{i}");
        let pid = start(&env, &b, &id, "sleep");
        let got = std::fs::read_to_string(format!("/proc/{pid}/oom_score_adj")).unwrap();
        assert_eq!(got.trim(), v.to_string());
        env.brisk(&["delete", "--force", &id]).ok();
    }
    env.assert_clean();
    Ok(())
}

fn oom_score_adj_is_left_alone_when_unset() -> Outcome {
    let env = Env::new("cf-proc-oom-unset");
    let mut b = env.bundle("b", &["cat", "/proc/self/oom_score_adj"]);
    b.remove("/process/oomScoreAdj");
    // The runtime runs with oom_score_adj 77; the program must have it too.
    let cur = own_oom_score_adj();
    for value in [(cur + 77).min(999), (cur + 33).min(998)] {
        let inner = env.cmd(&["run", "-b", b.path(), "u"]);
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(format!(
                "echo {value} > /proc/self/oom_score_adj && exec \"$0\" \"$@\""
            ))
            .arg(inner.get_program())
            .args(inner.get_args());
        for (k, v) in inner.get_envs() {
            if let Some(v) = v {
                cmd.env(k, v);
            }
        }
        cmd.stdin(std::process::Stdio::null());
        let out = run_to_files(cmd, &env.base);
        env.brisk(&["delete", "--force", "u"]);
        assert_eq!(out.code, 0, "run: {}", out.stderr);
        assert_eq!(out.stdout.trim(), value.to_string());
    }
    env.assert_clean();
    Ok(())
}

fn own_oom_score_adj() -> i64 {
    std::fs::read_to_string("/proc/self/oom_score_adj")
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

fn cap_mask(names: &[u32]) -> u64 {
    names.iter().fold(0, |m, c| m | 1 << c)
}

const CAP_CHOWN: u32 = 0;
const CAP_KILL: u32 = 5;
const CAP_NET_BIND_SERVICE: u32 = 10;
const CAP_SYS_ADMIN: u32 = 21;

fn capabilities_are_applied() -> Outcome {
    let env = Env::new("cf-proc-caps");
    // A non-root user: after execve, permitted and effective are the
    // ambient set, and bounding, inheritable and ambient are as given.
    let mut b = env.bundle("b", &["sleep", "30"]);
    b.set("/process/user", json!({"uid": 1000, "gid": 1000}));
    b.set(
        "/process/capabilities",
        json!({
            "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SYS_ADMIN"],
            "inheritable": ["CAP_CHOWN", "CAP_KILL"],
            "permitted": ["CAP_CHOWN", "CAP_KILL", "CAP_SYS_ADMIN"],
            "effective": ["CAP_CHOWN", "CAP_KILL"],
            "ambient": ["CAP_KILL"],
        }),
    );
    let pid = start(&env, &b, "c", "sleep");
    let cap = |n: &str| u64::from_str_radix(&proc_status(pid, n), 16).unwrap();
    assert_eq!(
        cap("CapBnd"),
        cap_mask(&[CAP_CHOWN, CAP_KILL, CAP_NET_BIND_SERVICE, CAP_SYS_ADMIN])
    );
    assert_eq!(cap("CapInh"), cap_mask(&[CAP_CHOWN, CAP_KILL]));
    assert_eq!(cap("CapAmb"), cap_mask(&[CAP_KILL]));
    assert_eq!(cap("CapPrm"), cap_mask(&[CAP_KILL]));
    assert_eq!(cap("CapEff"), cap_mask(&[CAP_KILL]));
    env.brisk(&["delete", "--force", "c"]).ok();
    // Root: the bounding set limits what execve gives it.
    let mut b = env.bundle("b2", &["sleep", "30"]);
    b.set(
        "/process/capabilities",
        json!({
            "bounding": ["CAP_KILL", "CAP_CHOWN"],
            "permitted": ["CAP_KILL", "CAP_CHOWN"],
            "effective": ["CAP_KILL", "CAP_CHOWN"],
        }),
    );
    let pid = start(&env, &b, "r", "sleep");
    let cap = |n: &str| u64::from_str_radix(&proc_status(pid, n), 16).unwrap();
    assert_eq!(cap("CapBnd"), cap_mask(&[CAP_CHOWN, CAP_KILL]));
    assert_eq!(cap("CapEff"), cap_mask(&[CAP_CHOWN, CAP_KILL]));
    env.brisk(&["delete", "--force", "r"]).ok();
    env.assert_clean();
    Ok(())
}

fn an_unknown_capability_is_a_warning() -> Outcome {
    let env = Env::new("cf-proc-caps-unknown");
    let mut b = env.bundle("b", &["sh", "-c", "grep CapBnd /proc/self/status"]);
    b.set(
        "/process/capabilities",
        json!({
            "bounding": ["CAP_KILL", "CAP_NO_SUCH_CAPABILITY"],
            "permitted": ["CAP_KILL", "CAP_NO_SUCH_CAPABILITY"],
            "effective": ["CAP_KILL", "CAP_NO_SUCH_CAPABILITY"],
        }),
    );
    let out = run(&env, &b, "w");
    assert_eq!(
        out.code, 0,
        "a capability that cannot be mapped failed the container: {}",
        out.stderr
    );
    assert!(
        out.stderr.contains("CAP_NO_SUCH_CAPABILITY"),
        "no warning names the capability: {}",
        out.stderr
    );
    // The rest of the configuration still applies.
    let bnd = out.stdout.trim().trim_start_matches("CapBnd:").trim();
    assert_eq!(
        u64::from_str_radix(bnd, 16).unwrap(),
        cap_mask(&[CAP_KILL]),
        "{}",
        out.stdout
    );
    env.assert_clean();
    Ok(())
}

fn no_new_privileges_is_applied() -> Outcome {
    let env = Env::new("cf-proc-nnp");
    for (i, nnp) in [true, false].into_iter().enumerate() {
        let mut b = env.bundle(&format!("b{i}"), &["sleep", "30"]);
        b.set("/process/noNewPrivileges", json!(nnp));
        let id = format!("n{i}");
        let pid = start(&env, &b, &id, "sleep");
        assert_eq!(proc_status(pid, "NoNewPrivs"), if nnp { "1" } else { "0" });
        env.brisk(&["delete", "--force", &id]).ok();
    }
    env.assert_clean();
    Ok(())
}

fn console_size_is_ignored_without_a_terminal() -> Outcome {
    let env = Env::new("cf-proc-console-size");
    for (i, terminal) in [Some(false), None].into_iter().enumerate() {
        let mut b = env.bundle(&format!("b{i}"), &["sh", "-c", "echo ran"]);
        b.set("/process/consoleSize", json!({"height": 25, "width": 80}));
        match terminal {
            Some(t) => b.set("/process/terminal", json!(t)),
            None => b.remove("/process/terminal"),
        };
        assert_eq!(run_ok(&env, &b, &format!("c{i}")).trim(), "ran");
    }
    env.assert_clean();
    Ok(())
}

fn an_apparmor_profile_without_apparmor_is_an_error() -> Outcome {
    let enabled = std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|s| s.trim() == "Y");
    if enabled {
        return Err(NotApplicable(
            "AppArmor is enabled on this host: the profile can be applied".into(),
        ));
    }
    let env = Env::new("cf-proc-apparmor");
    let mut b = env.bundle("b", &["true"]);
    b.set(
        "/process/apparmorProfile",
        json!("brisk-conformance-profile"),
    );
    assert_create_or_start_fails(&env, &b, "a", "apparmorProfile without AppArmor");
    Ok(())
}

fn an_selinux_label_without_selinux_is_an_error() -> Outcome {
    if std::path::Path::new("/sys/fs/selinux/enforce").exists() {
        return Err(NotApplicable(
            "SELinux is enabled on this host: the label can be applied".into(),
        ));
    }
    let env = Env::new("cf-proc-selinux");
    let mut b = env.bundle("b", &["true"]);
    b.set(
        "/process/selinuxLabel",
        json!("system_u:system_r:svirt_lxc_net_t:s0:c124,c675"),
    );
    assert_create_or_start_fails(&env, &b, "s", "selinuxLabel without SELinux");
    Ok(())
}

fn console_size_sets_the_terminal_size() -> Outcome {
    // With a terminal and consoleSize {height, width}, the pty has that size.
    let env = Env::new("cf-console-size");
    let mut b = env.bundle("b", &["stty", "size"]);
    b.set("/process/terminal", json!(true));
    b.set("/process/consoleSize", json!({"height": 33, "width": 101}));
    let out = run(&env, &b, "t");
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("33 101"),
        "terminal size: {:?}",
        out.stdout
    );
    env.assert_clean();
    Ok(())
}

/// Field 41 of /proc/PID/stat: the scheduling policy.
fn sched_policy_of(stat: &str) -> String {
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    after.split_whitespace().nth(38).unwrap().to_string()
}

fn scheduler_policy_is_applied() -> Outcome {
    let env = Env::new("cf-scheduler");
    let mut b = env.bundle("b", &["cat", "/proc/self/stat"]);
    b.set(
        "/process/scheduler",
        json!({"policy": "SCHED_BATCH", "nice": 5}),
    );
    let out = run_ok(&env, &b, "s");
    assert_eq!(
        sched_policy_of(&out),
        "3",
        "policy is not SCHED_BATCH (3): {out}"
    );
    let nice = &out[out.rfind(')').unwrap() + 2..];
    assert_eq!(
        nice.split_whitespace().nth(16).unwrap(),
        "5",
        "nice is not 5: {out}"
    );
    env.assert_clean();
    Ok(())
}

fn io_priority_is_applied() -> Outcome {
    let env = Env::new("cf-ioprio");
    let mut b = env.bundle("b", &["ionice"]);
    b.set(
        "/process/ioPriority",
        json!({"class": "IOPRIO_CLASS_IDLE", "priority": 0}),
    );
    let out = run_ok(&env, &b, "i");
    assert!(out.trim() == "idle", "ionice says {out:?}, want idle");
    let mut b = env.bundle("b2", &["ionice"]);
    b.set(
        "/process/ioPriority",
        json!({"class": "IOPRIO_CLASS_BE", "priority": 6}),
    );
    let out = run_ok(&env, &b, "j");
    assert!(
        out.contains("best-effort") && out.contains('6'),
        "ionice says {out:?}"
    );
    env.assert_clean();
    Ok(())
}
