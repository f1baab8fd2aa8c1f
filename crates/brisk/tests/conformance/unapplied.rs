//! config-linux.md and features-linux.md MUSTs of the fields brisk applied
//! last (linux.netDevices, linux.intelRdt, linux.memoryPolicy): written
//! while they were expected failures (a field accepted but not applied is
//! listed in conformance/unimplemented.tsv and expected-failures-linux.tsv
//! with its issue, never "not covered"), passing since they are applied.

use std::path::Path;
use std::process::Command;

use serde_json::json;

use crate::common::Env;
use crate::namespaces::run_sh;
use crate::support::{NotApplicable, Outcome};
use crate::tests;

tests![
    net_devices_are_moved_into_the_container => ["config-linux.network-devices.1"],
    intel_rdt_without_resctrl_is_an_error => ["config-linux.intelrdt.2"],
    a_memory_policy_mode_is_applied => ["features-linux.memorypolicy.1"],
];

/// A veth pair on the host, removed when dropped (deleting the end left on
/// the host deletes both; a container's namespace going deletes its end and
/// so the pair too).
struct Veth(String, String);

impl Drop for Veth {
    fn drop(&mut self) {
        for n in [&self.0, &self.1] {
            let _ = Command::new("ip")
                .args(["link", "del", n])
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
}

fn net_devices_are_moved_into_the_container() -> Outcome {
    let name = format!("bnd{}", std::process::id() % 100000);
    let peer = format!("{name}p");
    let made = Command::new("ip")
        .args(["link", "add", &name, "type", "veth", "peer", "name", &peer])
        .status()
        .is_ok_and(|s| s.success());
    if !made {
        return Err(NotApplicable(
            "cannot make a veth pair (ip link add)".into(),
        ));
    }
    let _veth = Veth(name.clone(), peer);
    let env = Env::new("cf-netdev");
    let mut b = env.bundle("b", &["true"]);
    b.set(
        "/linux/netDevices",
        json!({ name.clone(): {"name": "nd0"} }),
    );
    let out = run_sh(
        &env,
        &mut b,
        "nd",
        "ip link show nd0 >/dev/null && echo present",
    );
    env.brisk(&["delete", "--force", "nd"]);
    assert!(
        out.code == 0 && out.stdout.contains("present"),
        "linux.netDevices {name} -> nd0 is not in the container ({}): {}",
        out.code,
        out.stderr
    );
    env.assert_clean();
    Ok(())
}

fn intel_rdt_without_resctrl_is_an_error() -> Outcome {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    if mounts.lines().any(|l| l.contains(" - resctrl ")) {
        return Err(NotApplicable(
            "a resctrl file system is mounted on this host".into(),
        ));
    }
    let env = Env::new("cf-rdt");
    let mut b = env.bundle("b", &["true"]);
    b.set(
        "/linux/intelRdt",
        json!({"closID": "brisk-cf", "l3CacheSchema": "L3:0=f"}),
    );
    let out = env.brisk(&["create", "-b", b.path(), "rdt"]);
    if out.code == 0 {
        env.brisk(&["delete", "--force", "rdt"]);
        panic!(
            "linux.intelRdt without a mounted resctrl was accepted: {}",
            out.stderr.trim()
        );
    }
    env.assert_clean();
    Ok(())
}

fn a_memory_policy_mode_is_applied() -> Outcome {
    if !Path::new("/proc/self/numa_maps").exists() {
        return Err(NotApplicable(
            "no NUMA support (no /proc/self/numa_maps)".into(),
        ));
    }
    let env = Env::new("cf-mempolicy");
    let mut b = env.bundle("b", &["true"]);
    b.set(
        "/linux/memoryPolicy",
        json!({"mode": "MPOL_BIND", "nodes": "0"}),
    );
    // The policy is the process's: numa_maps shows it on its mappings.
    let out = run_sh(&env, &mut b, "mp", "grep -c 'bind:0' /proc/self/numa_maps");
    env.brisk(&["delete", "--force", "mp"]);
    let bound: u32 = out.stdout.trim().parse().unwrap_or(0);
    assert!(
        bound > 0,
        "linux.memoryPolicy MPOL_BIND of node 0 is not the process's policy ({}): {}",
        out.stdout.trim(),
        out.stderr.trim()
    );
    env.assert_clean();
    Ok(())
}
