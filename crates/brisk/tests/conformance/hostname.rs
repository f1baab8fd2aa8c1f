//! config.md: Hostname and Domainname, seen inside the container (and from
//! the host, in the container's uts namespace, before start); the host's
//! own names must not change.

use std::process::Command;

use serde_json::json;

use crate::common::Env;
use crate::config_misc::{assert_create_fails, run_ok};
use crate::support::Outcome;
use crate::tests;

tests![
    hostname_is_set => ["runtime.create.4", "runtime.lifecycle.1"],
    domainname_is_set => ["runtime.create.4", "runtime.lifecycle.1"],
    hostname_without_a_uts_namespace_is_rejected => [
        "runtime.create.6", "runtime.errors.1", "config.valid-values.1",
    ],
];

fn host_names() -> (String, String) {
    let r = |p: &str| std::fs::read_to_string(p).unwrap().trim().to_string();
    (
        r("/proc/sys/kernel/hostname"),
        r("/proc/sys/kernel/domainname"),
    )
}

fn hostname_is_set() -> Outcome {
    let env = Env::new("cf-hostname");
    let host = host_names();
    let mut b = env.bundle(
        "b",
        &["sh", "-c", "hostname; cat /proc/sys/kernel/hostname"],
    );
    b.set("/hostname", json!("conformance-host"));
    assert_eq!(
        run_ok(&env, &b, "h"),
        "conformance-host\nconformance-host\n"
    );
    // Applied by create, before start.
    let b = env.bundle("b2", &["sleep", "30"]);
    env.brisk(&["create", "-b", b.path(), "c"]).ok();
    let pid = env.state("c")["pid"].as_i64().unwrap().to_string();
    let out = Command::new("nsenter")
        .args(["-t", &pid, "-u", "cat", "/proc/sys/kernel/hostname"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "brisk");
    env.brisk(&["delete", "--force", "c"]).ok();
    assert_eq!(host_names(), host, "the host's names changed");
    env.assert_clean();
    Ok(())
}

fn domainname_is_set() -> Outcome {
    let env = Env::new("cf-domainname");
    let host = host_names();
    let mut b = env.bundle("b", &["cat", "/proc/sys/kernel/domainname"]);
    b.set("/domainname", json!("conformance.example"));
    assert_eq!(run_ok(&env, &b, "d"), "conformance.example\n");
    assert_eq!(host_names(), host, "the host's names changed");
    env.assert_clean();
    Ok(())
}

fn hostname_without_a_uts_namespace_is_rejected() -> Outcome {
    let env = Env::new("cf-hostname-no-uts");
    let host = host_names();
    let mut b = env.bundle("b", &["true"]);
    b.set("/hostname", json!("must-not-reach-the-host"));
    b.config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .retain(|n| n["type"] != "uts");
    b.write();
    assert_create_fails(&env, &b, "u", "hostname without a uts namespace");
    assert_eq!(host_names(), host, "the host's names changed");
    Ok(())
}
