//! The command line surface clients parse: --version, features, spec,
//! logging formats, usage errors.

mod common;

use common::Env;

#[test]
fn version_lists_features() {
    let env = Env::new("version");
    let out = env.brisk(&["--version"]).ok();
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("brisk version "), "{out}");
    assert!(lines.iter().any(|l| l.starts_with("spec: 1.")), "{out}");
    assert!(lines.iter().any(|l| l.contains("+CAP")), "{out}");
}

#[test]
fn features_is_the_oci_document() {
    let env = Env::new("features");
    let out = env.brisk(&["features"]).ok();
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["ociVersionMin"], "1.0.0");
    let ns: Vec<&str> = v["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    for n in [
        "cgroup", "ipc", "mount", "network", "pid", "user", "uts", "time",
    ] {
        assert!(ns.contains(&n), "{n}");
    }
    assert!(v["linux"]["capabilities"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c == "CAP_SYS_ADMIN"));
    assert_eq!(v["linux"]["seccomp"]["enabled"], true);
    assert!(v["mountOptions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|o| o == "rbind"));
}

#[test]
fn spec_writes_a_config_brisk_runs() {
    let env = Env::new("spec");
    let b = env.bundle("b", &["true"]);
    std::fs::remove_file(b.dir.join("config.json")).unwrap();
    env.brisk(&["spec", "--bundle", b.path()]).ok();
    let again = env.brisk(&["spec", "--bundle", b.path()]);
    assert_ne!(again.code, 0);
    assert!(again.stderr.contains("exists"), "{}", again.stderr);
    let mut config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(b.dir.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["root"]["path"], "rootfs");
    // Runnable without a terminal and without the cgroups work.
    config["process"]["terminal"] = false.into();
    config["process"]["args"] = serde_json::json!(["hostname"]);
    config["process"]["env"]
        .as_array_mut()
        .unwrap()
        .push(format!("{}={}", common::MARK, env.base.display()).into());
    std::fs::write(
        b.dir.join("config.json"),
        serde_json::to_vec(&config).unwrap(),
    )
    .unwrap();
    let out = env.brisk(&["run", "-b", b.path(), "s"]).ok();
    assert!(!out.trim().is_empty());
    env.assert_clean();
}

#[test]
fn json_log_file_carries_the_error() {
    let env = Env::new("log-json");
    let log = env.base.join("log.json");
    let out = env.brisk(&[
        "--log",
        log.to_str().unwrap(),
        "--log-format",
        "json",
        "state",
        "nope",
    ]);
    assert_eq!(out.code, 1);
    // runc: the bare message on stderr, the JSON line in the file.
    assert!(
        out.stderr.contains("does not exist") && !out.stderr.contains("level"),
        "{}",
        out.stderr
    );
    let text = std::fs::read_to_string(&log).unwrap();
    let line: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(line["level"], "error");
    assert!(line["msg"].as_str().unwrap().contains("does not exist"));
    assert!(line["time"].as_str().unwrap().ends_with('Z'));
}

#[test]
fn text_log_on_stderr() {
    let env = Env::new("log-text");
    let out = env.brisk(&["state", "nope"]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.starts_with("time=\""), "{}", out.stderr);
    assert!(out.stderr.contains("level=error msg="), "{}", out.stderr);
}

#[test]
fn usage_errors_exit_non_zero() {
    let env = Env::new("usage");
    for args in [
        &["state"][..],
        &["--log-format", "xml", "list"],
        &["kill"],
        &["no-such-command"],
    ] {
        let out = env.brisk(args);
        assert_ne!(out.code, 0, "{args:?}");
    }
    let bad_format = env.brisk(&["--log-format", "xml", "list"]);
    assert!(
        bad_format.stderr.contains("log-format"),
        "{}",
        bad_format.stderr
    );
}

/// The cgroup-manager flags parse everywhere (tests/systemd.rs runs the
/// systemd driver, and its failure on this host without systemd).
#[test]
fn cgroup_manager_flags() {
    let env = Env::new("systemd");
    // Commands that do not create cgroups accept the flag.
    env.brisk(&["--systemd-cgroup", "list"]).ok();
    env.brisk(&["--cgroup-manager", "disabled", "list"]).ok();
    assert_ne!(env.brisk(&["--cgroup-manager", "bogus", "list"]).code, 0);
}

#[test]
fn config_outside_the_bundle() {
    let env = Env::new("config-flag");
    let b = env.bundle("b", &["echo", "from the other config"]);
    let other = env.base.join("other.json");
    std::fs::rename(b.dir.join("config.json"), &other).unwrap();
    let out = env
        .brisk(&[
            "run",
            "-b",
            b.path(),
            "--config",
            other.to_str().unwrap(),
            "c",
        ])
        .ok();
    assert_eq!(out, "from the other config\n");
    env.assert_clean();
}

#[test]
fn timings_report_every_phase_in_order() {
    let env = Env::new("timings");
    let b = env.bundle("b", &["true"]);
    let out = env.brisk(&["--timings", "run", "-b", b.path(), "t"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    // Each row: the phase (words), then two numbers.
    let owned: Vec<String> = out
        .stderr
        .lines()
        .skip_while(|l| !l.starts_with("phase"))
        .skip(1)
        .map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            w[..w.len().saturating_sub(2)].join(" ")
        })
        .collect();
    let phases: Vec<&str> = owned.iter().map(String::as_str).collect();
    for want in [
        "brisk started",
        "config parsed",
        "init cloned",
        "init: mounts done",
        "init: pivot_root done",
        "init: ready",
        "ready received",
        "program exec'd",
        "program exited",
        "container deleted",
        "brisk done",
    ] {
        assert!(phases.contains(&want), "{want} missing: {phases:?}");
    }
    let pos = |p: &str| phases.iter().position(|x| *x == p).unwrap();
    assert!(pos("init cloned") < pos("init: mounts done"));
    assert!(pos("init: ready") < pos("ready received"));
    // The environment variable, as JSON.
    let mut cmd = env.cmd(&["run", "-b", b.path(), "t"]);
    cmd.env("BRISK_TIMINGS", "json");
    let out = common::run_to_files(cmd, &env.base);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let line = out.stderr.lines().last().unwrap();
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    assert!(v["phases"].as_array().unwrap().len() >= 10, "{v}");
    env.assert_clean();
}
