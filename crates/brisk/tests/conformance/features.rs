//! features.md and features-linux.md: the `features` document (required
//! fields, only defined properties, versions) and that what it lists is
//! accepted in config.json: versions, mount options, namespaces,
//! capabilities, hooks, seccomp names, idmapped mounts, memory policies,
//! network devices, Intel RDT.

use serde_json::{json, Value};

use crate::common::Env;
use crate::namespaces::{create, run_sh};
use crate::support::Outcome;
use crate::tests;

tests![
    features_has_the_required_fields => [
        "features.specification-version.1", "features.specification-version.3",
        "features.specification-version.5",
    ],
    features_has_only_defined_properties => ["features.specification-version.6"],
    features_is_the_same_on_every_call => ["features.features-structure.1"],
    oci_version_min_and_max_are_accepted => [
        "features.specification-version.2", "features.specification-version.4",
    ],
    listed_mount_options_are_recognized => ["features.mount-options.1"],
    mount_options_are_not_filesystem_data => ["features.mount-options.2"],
    listed_namespaces_are_recognized => ["features-linux.namespaces.1"],
    listed_capabilities_are_recognized => ["features-linux.capabilities.1"],
    listed_hooks_are_supported => ["features.hooks.1"],
    listed_seccomp_names_are_recognized => [
        "features-linux.seccomp.1", "features-linux.seccomp.2", "features-linux.seccomp.3",
        "features-linux.seccomp.4", "features-linux.seccomp.5",
    ],
    annotations_are_a_string_map => ["features.annotations.1"],
    idmap_enabled_matches_what_the_runtime_does => ["features-linux.mountextensions.1"],
    listed_memory_policy_names_are_recognized => [
        "features-linux.memorypolicy.1", "features-linux.memorypolicy.2",
    ],
    net_devices_enabled_matches_what_the_runtime_does => [],
    intel_rdt_enabled_matches_what_the_runtime_does => [],
];

fn features(env: &Env) -> Value {
    let out = env.brisk(&["features"]).ok();
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("features JSON {e}: {out}"))
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| a.iter().map(|s| s.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

fn semver(v: &str) -> (u64, u64, u64) {
    let core = v.split(['-', '+']).next().unwrap();
    let n: Vec<u64> = core.split('.').map(|x| x.parse().unwrap()).collect();
    assert_eq!(n.len(), 3, "{v} is not SemVer");
    (n[0], n[1], n[2])
}

fn keys(v: &Value) -> Vec<String> {
    v.as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

fn features_has_the_required_fields() -> Outcome {
    let env = Env::new("cf-feat-fields");
    let f = features(&env);
    let min = f["ociVersionMin"].as_str().expect("ociVersionMin");
    let max = f["ociVersionMax"].as_str().expect("ociVersionMax");
    assert!(
        semver(max) >= semver(min),
        "ociVersionMax {max} < ociVersionMin {min}"
    );
    Ok(())
}

fn only(v: &Value, allowed: &[&str], what: &str) {
    for k in keys(v) {
        assert!(
            allowed.contains(&k.as_str()),
            "{what} has undefined property {k}"
        );
    }
}

fn features_has_only_defined_properties() -> Outcome {
    let env = Env::new("cf-feat-props");
    let f = features(&env);
    only(
        &f,
        &[
            "ociVersionMin",
            "ociVersionMax",
            "hooks",
            "mountOptions",
            "linux",
            "annotations",
            "potentiallyUnsafeConfigAnnotations",
        ],
        "features",
    );
    let l = &f["linux"];
    only(
        l,
        &[
            "namespaces",
            "capabilities",
            "cgroup",
            "seccomp",
            "apparmor",
            "selinux",
            "intelRdt",
            "mountExtensions",
            "netDevices",
            "memoryPolicy",
        ],
        "linux",
    );
    only(
        &l["cgroup"],
        &["v1", "v2", "systemd", "systemdUser", "rdma"],
        "linux.cgroup",
    );
    only(
        &l["seccomp"],
        &[
            "enabled",
            "actions",
            "operators",
            "archs",
            "knownFlags",
            "supportedFlags",
        ],
        "linux.seccomp",
    );
    for k in ["apparmor", "selinux", "netDevices"] {
        only(&l[k], &["enabled"], k);
    }
    only(
        &l["intelRdt"],
        &["enabled", "schemata", "monitoring"],
        "linux.intelRdt",
    );
    only(&l["mountExtensions"], &["idmap"], "linux.mountExtensions");
    only(&l["mountExtensions"]["idmap"], &["enabled"], "idmap");
    only(
        &l["memoryPolicy"],
        &["modes", "flags"],
        "linux.memoryPolicy",
    );
    Ok(())
}

fn features_is_the_same_on_every_call() -> Outcome {
    let env = Env::new("cf-feat-stable");
    let a = env.brisk(&["features"]).ok();
    let b = env.brisk(&["features"]).ok();
    assert_eq!(a, b);
    Ok(())
}

fn oci_version_min_and_max_are_accepted() -> Outcome {
    let env = Env::new("cf-feat-version");
    let f = features(&env);
    for key in ["ociVersionMin", "ociVersionMax"] {
        let v = f[key].as_str().unwrap();
        let mut b = env.bundle(key, &[]);
        b.set("/ociVersion", json!(v));
        let out = run_sh(&env, &mut b, key, "echo ok");
        assert_eq!(
            out.code, 0,
            "ociVersion {v} ({key}) refused: {}",
            out.stderr
        );
        assert_eq!(out.stdout, "ok\n");
    }
    env.assert_clean();
    Ok(())
}

fn listed_mount_options_are_recognized() -> Outcome {
    let env = Env::new("cf-feat-mountopts");
    let f = features(&env);
    let src = env.base.join("src");
    std::fs::create_dir_all(&src).unwrap();
    let mut refused = Vec::new();
    for (i, opt) in strings(&f["mountOptions"]).iter().enumerate() {
        // `remount` needs a mount already there: a tmpfs first, then the
        // remount of it. Every other option on a bind mount of a directory.
        let mut b = env.bundle(&format!("b{i}"), &["true"]);
        let mounts = b.config["mounts"].as_array_mut().unwrap();
        let src = src.to_str().unwrap();
        if opt == "remount" {
            mounts.push(json!({"destination": "/mnt", "type": "tmpfs", "source": "tmpfs"}));
            mounts.push(
                json!({"destination": "/mnt", "type": "tmpfs", "source": "tmpfs",
                               "options": ["remount", "ro"]}),
            );
        } else if opt.ends_with("bind") {
            mounts.push(json!({"destination": "/mnt", "source": src, "options": [opt]}));
        } else if opt.ends_with("idmap") {
            // The spec requires mappings (or a user namespace) with these.
            let map = json!([{"containerID": 0, "hostID": 5000, "size": 10}]);
            mounts.push(json!({"destination": "/mnt", "type": "bind", "source": src,
                               "options": ["rbind", opt],
                               "uidMappings": map, "gidMappings": map}));
        } else {
            mounts.push(json!({"destination": "/mnt", "type": "bind", "source": src,
                               "options": ["rbind", opt]}));
        }
        b.write();
        let out = env.brisk(&["run", "-b", b.path(), &format!("m{i}")]);
        if out.code != 0 {
            refused.push(format!("{opt}: {}", out.stderr.trim()));
        }
    }
    assert!(
        refused.is_empty(),
        "listed mount options refused: {refused:#?}"
    );
    env.assert_clean();
    Ok(())
}

fn mount_options_are_not_filesystem_data() -> Outcome {
    let env = Env::new("cf-feat-mountdata");
    let f = features(&env);
    let data: Vec<String> = strings(&f["mountOptions"])
        .into_iter()
        .filter(|o| {
            o.contains('=') || ["size", "mode", "uid", "gid", "nr_inodes"].contains(&o.as_str())
        })
        .collect();
    assert!(
        data.is_empty(),
        "filesystem-specific options listed: {data:?}"
    );
    Ok(())
}

fn ns_file(t: &str) -> &str {
    match t {
        "network" => "net",
        "mount" => "mnt",
        t => t,
    }
}

fn listed_namespaces_are_recognized() -> Outcome {
    let env = Env::new("cf-feat-ns");
    let f = features(&env);
    let mut b = env.bundle("b", &["sleep", "30"]);
    let listed = strings(&f["linux"]["namespaces"]);
    for ns in &listed {
        b.add_namespace(ns, None);
    }
    if listed.iter().any(|n| n == "user") {
        let map = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        b.set("/linux/uidMappings", map.clone());
        b.set("/linux/gidMappings", map);
    }
    let pid = create(&env, &b, "n");
    env.brisk(&["start", "n"]).ok();
    env.wait_status("n", "running");
    // The namespaces exist from the clone on: nothing to wait for.
    for ns in &listed {
        assert_ne!(
            crate::common::ns_of(&pid, ns_file(ns)),
            crate::common::ns_of("self", ns_file(ns)),
            "listed namespace {ns} was not created"
        );
    }
    env.brisk(&["delete", "--force", "n"]).ok();
    env.assert_clean();
    Ok(())
}

/// Capability names by number.
const CAPS: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

fn cap_mask(status: &str, key: &str) -> u64 {
    let line = status.lines().find(|l| l.starts_with(key)).unwrap();
    u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap()
}

fn listed_capabilities_are_recognized() -> Outcome {
    let env = Env::new("cf-feat-caps");
    let f = features(&env);
    // Each listed capability this test itself holds (the runtime cannot
    // grant more than its caller has).
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let held = cap_mask(&status, "CapBnd:");
    let mut want = 0u64;
    let mut caps = Vec::new();
    for c in strings(&f["linux"]["capabilities"]) {
        if let Some(n) = CAPS.iter().position(|k| *k == c) {
            if held & (1 << n) != 0 {
                want |= 1 << n;
                caps.push(c);
            }
        }
    }
    let mut b = env.bundle("b", &[]);
    for set in ["bounding", "effective", "permitted"] {
        b.set(&format!("/process/capabilities/{set}"), json!(caps));
    }
    b.remove("/process/capabilities/ambient");
    let out = run_sh(&env, &mut b, "c", "grep '^CapBnd:' /proc/self/status");
    assert_eq!(
        out.code, 0,
        "the listed capabilities were refused: {}",
        out.stderr
    );
    let mask = cap_mask(&out.stdout, "CapBnd:");
    assert_eq!(mask, want, "bounding set {mask:x} for {caps:?}");
    env.assert_clean();
    Ok(())
}

fn listed_hooks_are_supported() -> Outcome {
    let env = Env::new("cf-feat-hooks");
    let f = features(&env);
    let hooks = strings(&f["hooks"]);
    let mut b = env.bundle("b", &["true"]);
    b.set("/root/readonly", json!(false));
    let marks = env.base.join("marks");
    std::fs::create_dir_all(&marks).unwrap();
    for h in &hooks {
        // startContainer runs in the container: its path and the file it
        // writes are the container's (the rootfs, seen from the host).
        let target = if h == "startContainer" {
            format!("/hook-{h}")
        } else {
            marks.join(h).to_string_lossy().into_owned()
        };
        b.set(
            &format!("/hooks/{h}"),
            json!([{"path": "/bin/sh", "args": ["sh", "-c", format!("echo x > {target}")]}]),
        );
    }
    let out = env.brisk(&["run", "-b", b.path(), "h"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    for h in &hooks {
        let file = if h == "startContainer" {
            b.dir.join(format!("rootfs/hook-{h}"))
        } else {
            marks.join(h)
        };
        assert!(file.exists(), "the listed hook {h} did not run");
    }
    env.assert_clean();
    Ok(())
}

fn listed_seccomp_names_are_recognized() -> Outcome {
    let env = Env::new("cf-feat-seccomp");
    let f = features(&env);
    let s = &f["linux"]["seccomp"];
    let mut profiles = Vec::new();
    for action in strings(&s["actions"]) {
        // A rule for a syscall the container never makes.
        let mut rule = json!({"names": ["acct"], "action": action});
        if action == "SCMP_ACT_ERRNO" || action == "SCMP_ACT_TRACE" {
            rule["errnoRet"] = json!(1);
        }
        let mut p = json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [rule]});
        if action == "SCMP_ACT_NOTIFY" {
            continue;
        }
        p["architectures"] = json!([]);
        profiles.push((format!("action {action}"), p));
    }
    for op in strings(&s["operators"]) {
        let arg = json!({"index": 0, "value": 1, "valueTwo": 1, "op": op});
        profiles.push((
            format!("operator {op}"),
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                {"names": ["acct"], "action": "SCMP_ACT_ERRNO", "args": [arg]}]}),
        ));
    }
    let native = match std::env::consts::ARCH {
        "x86_64" => "SCMP_ARCH_X86_64",
        "aarch64" => "SCMP_ARCH_AARCH64",
        _ => "",
    };
    // One filter holds architectures of one byte order: big-endian ones
    // cannot join a little-endian native one (and are not checked here).
    let big = [
        "MIPS",
        "MIPS64",
        "MIPS64N32",
        "PPC",
        "PPC64",
        "S390",
        "S390X",
        "PARISC",
    ];
    for arch in strings(&s["archs"]) {
        let name = arch.trim_start_matches("SCMP_ARCH_");
        if big.contains(&name) || name == "PARISC64" {
            continue;
        }
        profiles.push((
            format!("arch {arch}"),
            json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": [native, arch],
                   "syscalls": [{"names": ["acct"], "action": "SCMP_ACT_ERRNO"}]}),
        ));
    }
    let supported = strings(&s["supportedFlags"]);
    for flag in strings(&s["knownFlags"]) {
        if !supported.contains(&flag) {
            continue;
        }
        profiles.push((
            format!("flag {flag}"),
            json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": [flag],
                   "syscalls": [{"names": ["acct"], "action": "SCMP_ACT_ERRNO"}]}),
        ));
    }
    let mut refused = Vec::new();
    for (i, (what, profile)) in profiles.iter().enumerate() {
        let mut b = env.bundle(&format!("b{i}"), &["true"]);
        b.set("/linux/seccomp", profile.clone());
        let out = env.brisk(&["run", "-b", b.path(), &format!("s{i}")]);
        if out.code != 0 {
            refused.push(format!("{what}: {}", out.stderr.trim()));
        }
    }
    assert!(
        refused.is_empty(),
        "listed seccomp names refused: {refused:#?}"
    );
    env.assert_clean();
    Ok(())
}

fn annotations_are_a_string_map() -> Outcome {
    let env = Env::new("cf-feat-annotations");
    let f = features(&env);
    let a = &f["annotations"];
    if a.is_null() {
        // OPTIONAL, and absent: nothing was checked.
        return Err(crate::support::NotApplicable(
            "the features document has no annotations".into(),
        ));
    }
    let map = a.as_object().expect("annotations is not an object");
    for (k, v) in map {
        assert!(!k.is_empty(), "empty annotation key");
        assert!(v.is_string(), "annotation {k} is not a string: {v}");
    }
    Ok(())
}

fn idmap_enabled_matches_what_the_runtime_does() -> Outcome {
    let env = Env::new("cf-feat-idmap");
    let f = features(&env);
    let enabled = f["linux"]["mountExtensions"]["idmap"]["enabled"].as_bool();
    let mut b = env.bundle("b", &["sh", "-c", "stat -c %u /mnt/file"]);
    let src = env.base.join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("file"), "x").unwrap();
    let map = json!([{"containerID": 0, "hostID": 5000, "size": 10}]);
    b.config["mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/mnt", "type": "bind", "source": src.to_str().unwrap(),
        "options": ["bind", "idmap"], "uidMappings": map, "gidMappings": map,
    }));
    b.write();
    let out = env.brisk(&["run", "-b", b.path(), "i"]);
    let applied = out.code == 0 && out.stdout.trim() == "5000";
    // A runtime that applies idmapped mounts, even partly, lists them.
    if applied {
        assert_eq!(
            enabled,
            Some(true),
            "idmapped mounts work, yet idmap.enabled is {enabled:?}"
        );
    }
    env.assert_clean();
    Ok(())
}

fn listed_memory_policy_names_are_recognized() -> Outcome {
    let env = Env::new("cf-feat-mempolicy");
    let f = features(&env);
    let mp = &f["linux"]["memoryPolicy"];
    if mp.is_null() {
        return Ok(());
    }
    if std::fs::read_to_string("/sys/devices/system/node/online")
        .map_or(true, |s| s.trim().is_empty())
    {
        return Err(crate::support::NotApplicable(
            "no NUMA node 0 (kernel without CONFIG_NUMA)".into(),
        ));
    }
    // Recognised: parsed and handed to set_mempolicy(2); the kernel may
    // still refuse what it lacks, and says so naming the policy.
    let mut policies: Vec<(String, serde_json::Value)> = Vec::new();
    for mode in strings(&mp["modes"]) {
        let nodes = !matches!(mode.as_str(), "MPOL_DEFAULT" | "MPOL_LOCAL");
        let mut p = json!({"mode": mode});
        if nodes {
            p["nodes"] = json!("0");
        }
        policies.push((format!("mode {mode}"), p));
    }
    for flag in strings(&mp["flags"]) {
        policies.push((
            format!("flag {flag}"),
            json!({"mode": "MPOL_BIND", "nodes": "0", "flags": [flag]}),
        ));
    }
    let mut refused = Vec::new();
    for (i, (what, p)) in policies.iter().enumerate() {
        let mut b = env.bundle(&format!("b{i}"), &["true"]);
        b.set("/linux/memoryPolicy", p.clone());
        let out = env.brisk(&["run", "-b", b.path(), &format!("m{i}")]);
        if out.code != 0 && !out.stderr.contains("set linux.memoryPolicy") {
            refused.push(format!("{what}: {}", out.stderr.trim()));
        }
    }
    assert!(
        refused.is_empty(),
        "listed memory policy names refused: {refused:#?}"
    );
    env.assert_clean();
    Ok(())
}

fn net_devices_enabled_matches_what_the_runtime_does() -> Outcome {
    let env = Env::new("cf-feat-netdev");
    let f = features(&env);
    let enabled = f["linux"]["netDevices"]["enabled"].as_bool();
    let veth = crate::common::Veth::new();
    let mut b = env.bundle("b", &["ls", "/sys/class/net"]);
    b.set(
        "/linux/netDevices",
        json!({ veth.a.clone(): {"name": "ctr0"} }),
    );
    let out = env.brisk(&["run", "-b", b.path(), "n"]);
    let moved = out.code == 0 && out.stdout.split_whitespace().any(|d| d == "ctr0");
    assert_eq!(
        enabled == Some(true),
        moved,
        "netDevices.enabled is {enabled:?}, the device was {}moved: {}",
        if moved { "" } else { "not " },
        out.stderr
    );
    env.assert_clean();
    Ok(())
}

fn intel_rdt_enabled_matches_what_the_runtime_does() -> Outcome {
    let env = Env::new("cf-feat-rdt");
    let f = features(&env);
    let enabled = f["linux"]["intelRdt"]["enabled"].as_bool() == Some(true);
    let mounted = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .contains(" - resctrl ");
    if mounted {
        return Err(crate::support::NotApplicable(
            "resctrl is mounted: joining a group changes the host's RDT setup".into(),
        ));
    }
    // Recognised means not ignored: without resctrl the spec's error.
    let mut b = env.bundle("b", &["true"]);
    b.set("/linux/intelRdt", json!({"closID": "brisk-cf"}));
    let out = env.brisk(&["run", "-b", b.path(), "r"]);
    let recognised = out.code != 0 && out.stderr.contains("intelRdt");
    assert_eq!(
        enabled, recognised,
        "intelRdt.enabled is {enabled}: {}",
        out.stderr
    );
    env.assert_clean();
    Ok(())
}
