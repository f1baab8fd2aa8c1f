//! config-linux.md, Rootfs Mount Propagation: `shared` (a new peer group),
//! `slave` (receives the host's mounts), `private` (does not) and
//! `unbindable`. Observed from the host: the container's
//! /proc/<pid>/mountinfo (optional fields of `/`, mounts made on the host
//! under the rootfs). The section has no MUST: no requirement ids.

use std::path::PathBuf;
use std::process::Command;

use serde_json::json;

use crate::common::{Bundle, Env};
use crate::namespaces::create;
use crate::support::Outcome;
use crate::tests;

tests![
    slave_rootfs_receives_host_mounts => [],
    private_rootfs_receives_no_host_mounts => [],
    shared_rootfs_is_a_new_peer_group => [],
    unbindable_rootfs_is_unbindable => [],
];

/// The rootfs made a shared mount on the host, so that propagation from
/// the host can be observed; unmounted (with anything below) on drop.
struct SharedRoot(PathBuf);

impl SharedRoot {
    fn new(b: &Bundle) -> SharedRoot {
        let root = b.dir.join("rootfs");
        std::fs::create_dir_all(root.join("mnt")).unwrap();
        let r = root.to_str().unwrap();
        sh(&["mount", "--bind", r, r]);
        let guard = SharedRoot(root.clone());
        sh(&["mount", "--make-shared", r]);
        guard
    }
}

impl Drop for SharedRoot {
    fn drop(&mut self) {
        // Also whatever a runtime let propagate back onto it.
        let point = self.0.to_string_lossy().into_owned();
        for _ in 0..10 {
            let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
            if !info
                .lines()
                .any(|l| l.split(' ').nth(4) == Some(point.as_str()))
            {
                break;
            }
            let _ = Command::new("umount")
                .arg("-R")
                .arg("-l")
                .arg(&self.0)
                .status();
        }
    }
}

fn sh(args: &[&str]) {
    let st = Command::new(args[0]).args(&args[1..]).status().unwrap();
    assert!(st.success(), "{args:?} failed");
}

/// The optional fields of the container's `/` (e.g. `shared:5 master:3`).
fn root_fields(pid: &str) -> Vec<String> {
    let info = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
    let line = info
        .lines()
        .filter(|l| l.split(' ').nth(4) == Some("/"))
        .last()
        .unwrap_or_else(|| panic!("no / in mountinfo: {info}"));
    let f: Vec<&str> = line.split(' ').collect();
    let end = f.iter().position(|x| *x == "-").unwrap();
    f[6..end].iter().map(|s| s.to_string()).collect()
}

fn has_mount_at(pid: &str, point: &str) -> bool {
    let info = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
    info.lines().any(|l| l.split(' ').nth(4) == Some(point))
}

/// Runs a container with `propagation` over a shared host rootfs mount,
/// mounts a tmpfs at rootfs/mnt on the host and returns (whether the
/// container saw it, the optional fields of its `/`).
fn host_mount_seen(tag: &str, propagation: &str) -> (bool, Vec<String>) {
    let env = Env::new(tag);
    let mut b = env.bundle("b", &["sleep", "30"]);
    b.set("/linux/rootfsPropagation", json!(propagation));
    let shared = SharedRoot::new(&b);
    let pid = create(&env, &b, "p");
    let fields = root_fields(&pid);
    let mnt = shared.0.join("mnt");
    sh(&["mount", "-t", "tmpfs", "probe", mnt.to_str().unwrap()]);
    let seen = has_mount_at(&pid, "/mnt");
    sh(&["umount", mnt.to_str().unwrap()]);
    env.brisk(&["delete", "--force", "p"]).ok();
    drop(shared);
    env.assert_clean();
    (seen, fields)
}

fn slave_rootfs_receives_host_mounts() -> Outcome {
    let (seen, fields) = host_mount_seen("cf-prop-slave", "slave");
    assert!(
        fields.iter().any(|f| f.starts_with("master:")),
        "/ is no slave: {fields:?}"
    );
    assert!(seen, "a mount made on the host did not reach the container");
    Ok(())
}

fn private_rootfs_receives_no_host_mounts() -> Outcome {
    let (seen, fields) = host_mount_seen("cf-prop-private", "private");
    assert!(fields.is_empty(), "/ is not private: {fields:?}");
    assert!(!seen, "a mount made on the host reached the container");
    Ok(())
}

fn shared_rootfs_is_a_new_peer_group() -> Outcome {
    let env = Env::new("cf-prop-shared");
    let mut b = env.bundle("b", &["sleep", "30"]);
    b.set("/linux/rootfsPropagation", json!("shared"));
    let pid = create(&env, &b, "s");
    let fields = root_fields(&pid);
    let group = fields
        .iter()
        .find_map(|f| f.strip_prefix("shared:"))
        .unwrap_or_else(|| panic!("/ is not shared: {fields:?}"))
        .to_string();
    let host = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !host
            .split_whitespace()
            .any(|f| f == format!("shared:{group}")),
        "/ shares peer group {group} with the host"
    );
    env.brisk(&["delete", "--force", "s"]).ok();
    env.assert_clean();
    Ok(())
}

fn unbindable_rootfs_is_unbindable() -> Outcome {
    let env = Env::new("cf-prop-unbindable");
    let mut b = env.bundle("b", &["sleep", "30"]);
    b.set("/linux/rootfsPropagation", json!("unbindable"));
    let pid = create(&env, &b, "u");
    let fields = root_fields(&pid);
    assert!(fields.iter().any(|f| f == "unbindable"), "{fields:?}");
    env.brisk(&["delete", "--force", "u"]).ok();
    env.assert_clean();
    Ok(())
}
