//! config-linux.md, User namespace mappings (uidMappings, gidMappings,
//! joining a user namespace), and config.md's idmapped mounts (`idmap`,
//! `ridmap`, mounts[].uidMappings/gidMappings). Observed from the host:
//! /proc/<pid>/{uid_map,gid_map,status}, the rootfs's ownership.

use std::os::unix::fs::MetadataExt;

use serde_json::json;

use crate::common::{ns_of, Bundle, Env};
use crate::namespaces::{assert_rejected, create, run_sh};
use crate::support::Outcome;
use crate::tests;

tests![
    user_namespace_gets_the_configured_maps => [
        "config-linux.user-namespace-mappings.1", "config-linux.user-namespace-mappings.2",
        "config-linux.user-namespace-mappings.3", "config-linux.namespaces.6",
    ],
    several_mapping_entries_are_all_written => [
        "config-linux.user-namespace-mappings.1", "config-linux.user-namespace-mappings.2",
        "config-linux.user-namespace-mappings.3",
    ],
    rootfs_ownership_is_not_changed => ["config-linux.user-namespace-mappings.4"],
    joins_a_user_namespace_by_path => ["config-linux.namespaces.4"],
    idmap_mount_applies_its_mappings => [
        "config.linux-mount-options.59", "config.linux-mount-options.61",
    ],
    ridmap_mount_applies_its_mappings => [
        "config.linux-mount-options.65", "config.linux-mount-options.67",
    ],
    idmap_without_mappings_or_user_namespace_is_an_error => ["config.linux-mount-options.63"],
    ridmap_without_mappings_or_user_namespace_is_an_error => ["config.linux-mount-options.69"],
    mount_uid_mappings_without_gid_mappings_is_an_error => ["config.posix-platform-mounts.3"],
    mount_gid_mappings_without_uid_mappings_is_an_error => ["config.posix-platform-mounts.6"],
];

/// Adds a user namespace mapping container 0.. to host `host`.. (`size`).
fn userns(b: &mut Bundle, host: u32, size: u32) {
    b.add_namespace("user", None);
    let map = json!([{"containerID": 0, "hostID": host, "size": size}]);
    b.set("/linux/uidMappings", map.clone());
    b.set("/linux/gidMappings", map);
}

fn norm(map: &str) -> Vec<String> {
    map.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

fn status_ids(pid: &str, key: &str) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with(key)).unwrap();
    line.split_whitespace().nth(1).unwrap().to_string()
}

fn user_namespace_gets_the_configured_maps() -> Outcome {
    let env = Env::new("cf-userns");
    let mut b = env.bundle("b", &["sleep", "30"]);
    userns(&mut b, 100000, 65536);
    b.set("/process/user", json!({"uid": 1000, "gid": 2000}));
    let pid = create(&env, &b, "u");
    assert_ne!(ns_of(&pid, "user"), ns_of("self", "user"));
    let uid_map = std::fs::read_to_string(format!("/proc/{pid}/uid_map")).unwrap();
    let gid_map = std::fs::read_to_string(format!("/proc/{pid}/gid_map")).unwrap();
    assert_eq!(norm(&uid_map), ["0 100000 65536"]);
    assert_eq!(norm(&gid_map), ["0 100000 65536"]);
    env.brisk(&["start", "u"]).ok();
    env.wait_status("u", "running");
    // Seen from the host, uid 1000 in the container is 101000.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while status_ids(&pid, "Uid:") != "101000" && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(status_ids(&pid, "Uid:"), "101000");
    assert_eq!(status_ids(&pid, "Gid:"), "102000");
    env.brisk(&["delete", "--force", "u"]).ok();
    env.assert_clean();
    Ok(())
}

fn several_mapping_entries_are_all_written() -> Outcome {
    let env = Env::new("cf-userns-multi");
    let mut b = env.bundle("b", &["sleep", "30"]);
    b.add_namespace("user", None);
    let map = json!([
        {"containerID": 0, "hostID": 100000, "size": 1000},
        {"containerID": 1000, "hostID": 300000, "size": 10},
    ]);
    b.set("/linux/uidMappings", map.clone());
    b.set("/linux/gidMappings", map);
    let pid = create(&env, &b, "m");
    for f in ["uid_map", "gid_map"] {
        let text = std::fs::read_to_string(format!("/proc/{pid}/{f}")).unwrap();
        let mut lines = norm(&text);
        lines.sort();
        assert_eq!(lines, ["0 100000 1000", "1000 300000 10"], "{f}");
    }
    env.brisk(&["delete", "--force", "m"]).ok();
    env.assert_clean();
    Ok(())
}

fn rootfs_ownership_is_not_changed() -> Outcome {
    let env = Env::new("cf-userns-chown");
    let mut b = env.bundle("b", &[]);
    userns(&mut b, 100000, 65536);
    let rootfs = b.dir.join("rootfs");
    let before: Vec<(u32, u32)> = ["", "bin", "bin/busybox", "etc/passwd"]
        .iter()
        .map(|p| {
            let m = std::fs::symlink_metadata(rootfs.join(p)).unwrap();
            (m.uid(), m.gid())
        })
        .collect();
    let out = run_sh(&env, &mut b, "c", "id -u").ok();
    assert_eq!(out.trim(), "0");
    let after: Vec<(u32, u32)> = ["", "bin", "bin/busybox", "etc/passwd"]
        .iter()
        .map(|p| {
            let m = std::fs::symlink_metadata(rootfs.join(p)).unwrap();
            (m.uid(), m.gid())
        })
        .collect();
    assert_eq!(before, after, "the runtime changed the rootfs's ownership");
    env.assert_clean();
    Ok(())
}

fn joins_a_user_namespace_by_path() -> Outcome {
    let env = Env::new("cf-userns-join");
    let mut holder = env.bundle("holder", &["sleep", "30"]);
    userns(&mut holder, 100000, 65536);
    let hpid = create(&env, &holder, "holder");
    let mut b = env.bundle("b", &["sleep", "30"]);
    b.add_namespace("user", Some(&format!("/proc/{hpid}/ns/user")));
    // No uidMappings/gidMappings: they describe a new user namespace,
    // and the joined one has its own.
    b.add_namespace("network", Some(&format!("/proc/{hpid}/ns/net")));
    // The pid namespace too: /proc can only be mounted by the user
    // namespace that owns it.
    b.add_namespace("pid", Some(&format!("/proc/{hpid}/ns/pid")));
    let pid = create(&env, &b, "joiner");
    assert_eq!(ns_of(&pid, "user"), ns_of(&hpid, "user"));
    assert_eq!(ns_of(&pid, "net"), ns_of(&hpid, "net"));
    assert_eq!(ns_of(&pid, "pid"), ns_of(&hpid, "pid"));
    let uid_map = std::fs::read_to_string(format!("/proc/{pid}/uid_map")).unwrap();
    assert_eq!(norm(&uid_map), ["0 100000 65536"]);
    env.brisk(&["delete", "--force", "joiner"]).ok();
    env.brisk(&["delete", "--force", "holder"]).ok();
    env.assert_clean();
    Ok(())
}

/// A bundle whose /mnt binds a host directory holding `file`, owned by
/// 0:0 on disk, with `options` and the mount's own mappings.
fn idmapped_bundle(env: &Env, options: &[&str], uid: bool, gid: bool) -> Bundle {
    let mut b = env.bundle("b", &["sh", "-c", "stat -c '%u %g' /mnt/file"]);
    let src = env.base.join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("file"), "x").unwrap();
    std::os::unix::fs::chown(src.join("file"), Some(0), Some(0)).unwrap();
    let mut m = json!({
        "destination": "/mnt", "type": "bind", "source": src.to_str().unwrap(),
        "options": options,
    });
    let map = json!([{"containerID": 0, "hostID": 5000, "size": 10}]);
    if uid {
        m["uidMappings"] = map.clone();
    }
    if gid {
        m["gidMappings"] = map;
    }
    b.config["mounts"].as_array_mut().unwrap().push(m);
    b.write();
    b
}

fn idmapped_owner(options: &[&str], tag: &str) {
    let env = Env::new(tag);
    let b = idmapped_bundle(&env, options, true, true);
    let out = env.brisk(&["run", "-b", b.path(), "i"]).ok();
    // On disk 0:0; through a mount mapping 0 to 5000, without a user
    // namespace of the container's own, the owner shows as 5000.
    assert_eq!(
        out.trim(),
        "5000 5000",
        "the mount's idmapping is not applied"
    );
    env.assert_clean();
}

fn idmap_mount_applies_its_mappings() -> Outcome {
    idmapped_owner(&["bind", "idmap"], "cf-idmap");
    Ok(())
}

fn ridmap_mount_applies_its_mappings() -> Outcome {
    idmapped_owner(&["rbind", "ridmap"], "cf-ridmap");
    Ok(())
}

fn idmap_without_mappings_or_user_namespace_is_an_error() -> Outcome {
    let env = Env::new("cf-idmap-nomap");
    let b = idmapped_bundle(&env, &["bind", "idmap"], false, false);
    assert_rejected(&env, &b, "i", "idmap without mappings or a user namespace");
    Ok(())
}

fn ridmap_without_mappings_or_user_namespace_is_an_error() -> Outcome {
    let env = Env::new("cf-ridmap-nomap");
    let b = idmapped_bundle(&env, &["rbind", "ridmap"], false, false);
    assert_rejected(&env, &b, "i", "ridmap without mappings or a user namespace");
    Ok(())
}

fn mount_uid_mappings_without_gid_mappings_is_an_error() -> Outcome {
    let env = Env::new("cf-idmap-uidonly");
    let b = idmapped_bundle(&env, &["bind", "idmap"], true, false);
    assert_rejected(&env, &b, "i", "a mount with uidMappings only");
    Ok(())
}

fn mount_gid_mappings_without_uid_mappings_is_an_error() -> Outcome {
    let env = Env::new("cf-idmap-gidonly");
    let b = idmapped_bundle(&env, &["bind", "idmap"], false, true);
    assert_rejected(&env, &b, "i", "a mount with gidMappings only");
    Ok(())
}
