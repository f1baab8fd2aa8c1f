//! config-linux.md, Sysctl: kernel parameters set for the container, in
//! its own namespaces (the host's values are untouched), and parameters
//! that cannot be set are errors. The section has no MUST of its own: the
//! errors are config.md's "invalid or unsupported values".

use serde_json::json;

use crate::common::Env;
use crate::namespaces::{assert_rejected, run_sh};
use crate::support::Outcome;
use crate::tests;

tests![
    sysctls_are_set_in_the_container => [],
    unknown_sysctl_is_an_error => ["config.valid-values.1"],
    invalid_sysctl_value_is_an_error => ["config.valid-values.1"],
];

fn host(key: &str) -> String {
    std::fs::read_to_string(format!("/proc/sys/{}", key.replace('.', "/")))
        .unwrap()
        .trim()
        .to_string()
}

fn sysctls_are_set_in_the_container() -> Outcome {
    let env = Env::new("cf-sysctl");
    let mut b = env.bundle("b", &[]);
    // Values other than the host's: network and ipc namespaced keys.
    let keys = ["net.ipv4.ip_forward", "kernel.shm_rmid_forced"];
    let before: Vec<String> = keys.iter().map(|k| host(k)).collect();
    let want: Vec<&str> = before
        .iter()
        .map(|v| if v == "1" { "0" } else { "1" })
        .collect();
    b.set("/linux/sysctl", json!({keys[0]: want[0], keys[1]: want[1]}));
    let script = "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shm_rmid_forced";
    let out = run_sh(&env, &mut b, "s", script).ok();
    assert_eq!(out.lines().collect::<Vec<_>>(), want, "{out}");
    let after: Vec<String> = keys.iter().map(|k| host(k)).collect();
    assert_eq!(before, after, "the host's values changed");
    env.assert_clean();
    Ok(())
}

fn unknown_sysctl_is_an_error() -> Outcome {
    let env = Env::new("cf-sysctl-unknown");
    let mut b = env.bundle("b", &["true"]);
    b.set(
        "/linux/sysctl",
        json!({"kernel.no_such_parameter_here": "1"}),
    );
    assert_rejected(&env, &b, "s", "an unknown sysctl");
    Ok(())
}

fn invalid_sysctl_value_is_an_error() -> Outcome {
    let env = Env::new("cf-sysctl-value");
    let mut b = env.bundle("b", &["true"]);
    b.set("/linux/sysctl", json!({"net.ipv4.ip_forward": "banana"}));
    assert_rejected(&env, &b, "s", "net.ipv4.ip_forward = banana");
    Ok(())
}
