//! config-linux.md, Control groups: cgroupsPath and each of
//! linux.resources (memory, cpu, pids, blockIO, hugepageLimits, network,
//! rdma, unified, devices). Observed from the host: /proc/<pid>/cgroup and
//! the cgroup files at /sys/fs/cgroup/<controller>/<cgroupsPath> (v1), or
//! under /sys/fs/cgroup/unified for what only cgroup v2 offers here.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::common::{Bundle, Env};
use crate::namespaces::{assert_rejected, create};
use crate::support::{NotApplicable, Outcome};
use crate::tests;

tests![
    container_is_placed_at_the_cgroups_path => [
        "config-linux.cgroups-path.1", "config-linux.cgroups-path.2",
    ],
    same_cgroups_path_is_the_same_place => ["config-linux.cgroups-path.3"],
    memory_limits_are_applied => ["config-linux.cgroups-path.2"],
    cpu_limits_are_applied => ["config-linux.cgroups-path.2", "config-linux.cpu.1"],
    cpuset_is_applied => ["config-linux.cgroups-path.2"],
    burst_larger_than_quota_is_an_error => [
        "config-linux.cpu.1", "config-linux.cpu.2", "config.valid-values.1",
    ],
    pids_limit_is_applied => ["config-linux.cgroups-path.2"],
    a_cgroups_path_leaving_its_root_is_an_error => [
        "config-linux.cgroups-path.4", "runtime.errors.1",
    ],
    check_before_update_refuses_a_limit_below_usage => ["config-linux.memory.3"],
    pids_limit_zero_is_a_limit => ["config-linux.pids.1"],
    block_io_throttles_are_applied => [
        "config-linux.block-io.3", "config-linux.block-io.4", "config-linux.block-io.5",
        "config-linux.block-io.6",
    ],
    block_io_weights_are_applied => ["config-linux.block-io.1", "config-linux.block-io.2"],
    weight_device_without_a_weight_is_an_error => [
        "config-linux.block-io.2", "config.valid-values.1",
    ],
    hugepage_limits_are_applied => [
        "config-linux.huge-page-limits.1", "config-linux.huge-page-limits.2",
        "config-linux.unified.4",
    ],
    network_class_and_priorities_are_applied => [
        "config-linux.network.1", "config-linux.network.2",
    ],
    rdma_limits_are_applied => ["config-linux.rdma.1"],
    rdma_entry_without_limits_is_an_error => ["config-linux.rdma.1", "config.valid-values.1"],
    unified_values_are_written => ["config-linux.unified.1", "config-linux.unified.2"],
    unified_key_of_an_absent_controller_is_an_error => ["config-linux.unified.3"],
    device_rules_are_applied_in_order => [
        "config-linux.allowed-device-list.1", "config-linux.allowed-device-list.2",
    ],
    device_rule_without_allow_is_an_error => [
        "config-linux.allowed-device-list.2", "config.valid-values.1",
    ],
    v1_cgroup_ownership_is_not_changed => [
        "config-linux.cgroup-ownership.1", "config-linux.cgroup-ownership.2",
    ],
];

const V1: &str = "/sys/fs/cgroup";

fn cgroups_path(b: &Bundle) -> String {
    b.config["linux"]["cgroupsPath"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The container's directory in the v1 hierarchy of `controller`.
fn dir(b: &Bundle, controller: &str) -> PathBuf {
    PathBuf::from(format!("{V1}/{controller}{}", cgroups_path(b)))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
        .trim()
        .to_string()
}

/// The value of `file` in the container's cgroup of `controller`.
fn value(b: &Bundle, controller: &str, file: &str) -> String {
    read(&dir(b, controller).join(file))
}

fn mounted(controller: &str) -> bool {
    Path::new(V1).join(controller).join("cgroup.procs").exists()
}

/// Creates a container with these resources, returns its pid.
fn with_resources(env: &Env, b: &mut Bundle, id: &str, resources: Value) -> String {
    b.set("/linux/resources", resources);
    create(env, b, id)
}

fn done(env: &Env, ids: &[&str]) {
    for id in ids {
        env.brisk(&["delete", "--force", id]).ok();
    }
    env.assert_clean();
}

/// The container's path in each v1 hierarchy, from /proc/<pid>/cgroup.
fn proc_cgroups(pid: &str) -> Vec<(String, String)> {
    std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .unwrap()
        .lines()
        .filter_map(|l| {
            let mut f = l.splitn(3, ':');
            let (_, ctl, path) = (f.next()?, f.next()?, f.next()?);
            Some((ctl.to_string(), path.to_string()))
        })
        .collect()
}

const CONTROLLERS: [&str; 6] = ["memory", "cpu", "pids", "blkio", "devices", "cpuset"];

fn container_is_placed_at_the_cgroups_path() -> Outcome {
    let env = Env::new("cf-cg-path");
    let mut b = env.bundle("b", &["sleep", "30"]);
    let path = cgroups_path(&b);
    let pid = with_resources(&env, &mut b, "p", json!({"pids": {"limit": 100}}));
    let cg = proc_cgroups(&pid);
    for c in CONTROLLERS.iter().filter(|c| mounted(c)) {
        let mine = cg.iter().find(|(ctl, _)| ctl.split(',').any(|x| x == *c));
        assert_eq!(
            mine.map(|m| m.1.as_str()),
            Some(path.as_str()),
            "{c} cgroup of the container: {cg:?}"
        );
        let procs = value(&b, c, "cgroup.procs");
        assert!(
            procs.lines().any(|l| l == pid),
            "{pid} not in {c}{path}/cgroup.procs"
        );
    }
    done(&env, &["p"]);
    Ok(())
}

fn same_cgroups_path_is_the_same_place() -> Outcome {
    let env = Env::new("cf-cg-same");
    let b = env.bundle("b", &["sleep", "30"]);
    let path = cgroups_path(&b);
    let mut seen = Vec::new();
    for id in ["one", "two"] {
        let pid = create(&env, &b, id);
        let memory = proc_cgroups(&pid)
            .into_iter()
            .find(|(ctl, _)| ctl == "memory")
            .map(|c| c.1);
        seen.push(memory);
        env.brisk(&["delete", "--force", id]).ok();
    }
    assert_eq!(seen, [Some(path.clone()), Some(path)]);
    env.assert_clean();
    Ok(())
}

fn memory_limits_are_applied() -> Outcome {
    let env = Env::new("cf-cg-memory");
    let mut b = env.bundle("b", &["sleep", "30"]);
    let mib = 1024 * 1024;
    let mut memory = json!({
        "limit": 64 * mib, "reservation": 32 * mib, "swappiness": 10,
        "disableOOMKiller": true,
    });
    let swap = Path::new(V1).join("memory/memory.memsw.limit_in_bytes");
    if swap.exists() {
        memory["swap"] = json!(128 * mib);
    }
    with_resources(&env, &mut b, "m", json!({ "memory": memory }));
    assert_eq!(
        value(&b, "memory", "memory.limit_in_bytes"),
        (64 * mib).to_string()
    );
    assert_eq!(
        value(&b, "memory", "memory.soft_limit_in_bytes"),
        (32 * mib).to_string()
    );
    if swap.exists() {
        assert_eq!(
            value(&b, "memory", "memory.memsw.limit_in_bytes"),
            (128 * mib).to_string()
        );
    }
    assert_eq!(value(&b, "memory", "memory.swappiness"), "10");
    let oom = value(&b, "memory", "memory.oom_control");
    assert!(oom.lines().any(|l| l == "oom_kill_disable 1"), "{oom}");
    done(&env, &["m"]);
    Ok(())
}

fn cpu_limits_are_applied() -> Outcome {
    let env = Env::new("cf-cg-cpu");
    let mut b = env.bundle("b", &["sleep", "30"]);
    let mut cpu = json!({"shares": 512, "quota": 50000, "period": 100000});
    let has_burst = Path::new(V1).join("cpu/cpu.cfs_burst_us").exists();
    if has_burst {
        cpu["burst"] = json!(20000);
    }
    with_resources(&env, &mut b, "c", json!({ "cpu": cpu }));
    assert_eq!(value(&b, "cpu", "cpu.shares"), "512");
    assert_eq!(value(&b, "cpu", "cpu.cfs_quota_us"), "50000");
    assert_eq!(value(&b, "cpu", "cpu.cfs_period_us"), "100000");
    if has_burst {
        assert_eq!(value(&b, "cpu", "cpu.cfs_burst_us"), "20000");
    }
    done(&env, &["c"]);
    Ok(())
}

fn cpuset_is_applied() -> Outcome {
    let env = Env::new("cf-cg-cpuset");
    let mut b = env.bundle("b", &["sleep", "30"]);
    with_resources(
        &env,
        &mut b,
        "c",
        json!({"cpu": {"cpus": "0", "mems": "0"}}),
    );
    assert_eq!(value(&b, "cpuset", "cpuset.cpus"), "0");
    assert_eq!(value(&b, "cpuset", "cpuset.mems"), "0");
    done(&env, &["c"]);
    Ok(())
}

fn burst_larger_than_quota_is_an_error() -> Outcome {
    let env = Env::new("cf-cg-burst");
    let mut b = env.bundle("b", &["true"]);
    b.set(
        "/linux/resources",
        json!({"cpu": {"quota": 20000, "period": 100000, "burst": 50000}}),
    );
    assert_rejected(&env, &b, "c", "a cpu burst larger than the quota");
    Ok(())
}

fn pids_limit_is_applied() -> Outcome {
    let env = Env::new("cf-cg-pids");
    let mut b = env.bundle("b", &["sleep", "30"]);
    with_resources(&env, &mut b, "p", json!({"pids": {"limit": 42}}));
    assert_eq!(value(&b, "pids", "pids.max"), "42");
    done(&env, &["p"]);
    Ok(())
}

fn a_cgroups_path_leaving_its_root_is_an_error() -> Outcome {
    // brisk holds a cgroupsPath with a `..` component invalid (it could
    // name a cgroup outside the hierarchy's root): an error, nothing made.
    let env = Env::new("cf-cg-path-bad");
    let mut b = env.bundle("b", &["true"]);
    let path = format!("{}/../escape", cgroups_path(&b));
    b.set("/linux/cgroupsPath", json!(path));
    let out = env.brisk(&["create", "-b", b.path(), "c"]);
    if out.code == 0 {
        env.brisk(&["delete", "--force", "c"]);
        panic!("cgroupsPath {path:?} was accepted");
    }
    assert!(out.stderr.contains("cgroupsPath"), "{}", out.stderr);
    env.assert_clean();
    Ok(())
}

fn check_before_update_refuses_a_limit_below_usage() -> Outcome {
    // The container holds 8 MiB of tmpfs; an update to a 4 KiB limit with
    // checkBeforeUpdate is rejected and the limit stays.
    let env = Env::new("cf-cg-check-update");
    let mut b = env.bundle(
        "b",
        &[
            "sh",
            "-c",
            "dd if=/dev/zero of=/tmp/f bs=1M count=8 2>/dev/null; echo > /tmp/done; sleep 60",
        ],
    );
    let pid = with_resources(&env, &mut b, "u", json!({"memory": {"limit": 128 << 20}}));
    env.brisk(&["start", "u"]).ok();
    let done_file = format!("/proc/{pid}/root/tmp/done");
    assert!(
        crate::common::eventually(|| Path::new(&done_file).exists()),
        "the container did not fill its tmpfs"
    );
    let file = env.base.join("update.json");
    let update = json!({"memory": {"limit": 4096, "checkBeforeUpdate": true}});
    std::fs::write(&file, update.to_string()).unwrap();
    let out = env.brisk(&["update", "-r", file.to_str().unwrap(), "u"]);
    assert_ne!(out.code, 0, "a limit below the usage was accepted");
    assert_eq!(
        value(&b, "memory", "memory.limit_in_bytes"),
        (128u64 << 20).to_string(),
        "the limit changed"
    );
    assert!(
        Path::new(&format!("/proc/{pid}")).exists(),
        "the container was killed"
    );
    done(&env, &["u"]);
    Ok(())
}

fn pids_limit_zero_is_a_limit() -> Outcome {
    let env = Env::new("cf-cg-pids0");
    let mut b = env.bundle("b", &["sleep", "30"]);
    with_resources(&env, &mut b, "p", json!({"pids": {"limit": 0}}));
    assert_eq!(
        value(&b, "pids", "pids.max"),
        "0",
        "a limit of 0 is not unlimited"
    );
    done(&env, &["p"]);
    Ok(())
}

fn block_io_throttles_are_applied() -> Outcome {
    let Some((major, minor)) = crate::common::block_device() else {
        return Err(NotApplicable("no block device on this host".into()));
    };
    let env = Env::new("cf-cg-blkio");
    let mut b = env.bundle("b", &["sleep", "30"]);
    let dev = |rate: u64| json!([{"major": major, "minor": minor, "rate": rate}]);
    with_resources(
        &env,
        &mut b,
        "b",
        json!({"blockIO": {
            "throttleReadBpsDevice": dev(1048576), "throttleWriteBpsDevice": dev(2097152),
            "throttleReadIOPSDevice": dev(300), "throttleWriteIOPSDevice": dev(400),
        }}),
    );
    for (file, rate) in [
        ("blkio.throttle.read_bps_device", 1048576),
        ("blkio.throttle.write_bps_device", 2097152),
        ("blkio.throttle.read_iops_device", 300),
        ("blkio.throttle.write_iops_device", 400),
    ] {
        assert_eq!(
            value(&b, "blkio", file),
            format!("{major}:{minor} {rate}"),
            "{file}"
        );
    }
    done(&env, &["b"]);
    Ok(())
}

fn block_io_weights_are_applied() -> Outcome {
    let Some((major, minor)) = crate::common::block_device() else {
        return Err(NotApplicable("no block device on this host".into()));
    };
    // The weight files exist only in non-root cgroups: probe one.
    let probe = PathBuf::from(format!("{V1}/blkio/brisk-probe-{}", std::process::id()));
    std::fs::create_dir(&probe).unwrap();
    let bfq = probe.join("blkio.bfq.weight").exists();
    let plain = probe.join("blkio.weight").exists();
    std::fs::remove_dir(&probe).unwrap();
    let scheduler =
        std::fs::read_to_string(format!("/sys/dev/block/{major}:{minor}/queue/scheduler"))
            .unwrap_or_default();
    if (!bfq && !plain) || !(scheduler.contains("[bfq]") || scheduler.contains("[cfq]")) {
        return Err(NotApplicable("no device uses the BFQ/CFQ scheduler".into()));
    }
    let env = Env::new("cf-cg-blkio-weight");
    let mut b = env.bundle("b", &["sleep", "30"]);
    with_resources(
        &env,
        &mut b,
        "w",
        json!({"blockIO": {
            "weight": 300,
            "weightDevice": [{"major": major, "minor": minor, "weight": 500}],
        }}),
    );
    let prefix = if bfq { "blkio.bfq." } else { "blkio." };
    let weight = value(&b, "blkio", &format!("{prefix}weight"));
    assert!(
        weight == "300" || weight == "default 300",
        "{prefix}weight: {weight}"
    );
    let per_dev = value(&b, "blkio", &format!("{prefix}weight_device"));
    assert!(
        per_dev.lines().any(|l| l == format!("{major}:{minor} 500")),
        "{prefix}weight_device: {per_dev}"
    );
    done(&env, &["w"]);
    Ok(())
}

fn weight_device_without_a_weight_is_an_error() -> Outcome {
    let Some((major, minor)) = crate::common::block_device() else {
        return Err(NotApplicable("no block device on this host".into()));
    };
    let env = Env::new("cf-cg-blkio-noweight");
    let mut b = env.bundle("b", &["true"]);
    b.set(
        "/linux/resources",
        json!({"blockIO": {"weightDevice": [{"major": major, "minor": minor}]}}),
    );
    assert_rejected(
        &env,
        &b,
        "w",
        "a weightDevice entry without weight or leafWeight",
    );
    Ok(())
}

fn hugepage_limits_are_applied() -> Outcome {
    if !Path::new("/sys/kernel/mm/hugepages/hugepages-2048kB").exists() {
        return Err(NotApplicable("no 2MB huge pages".into()));
    }
    let v2 = std::fs::read_to_string(format!("{V1}/unified/cgroup.controllers"))
        .map(|c| c.split_whitespace().any(|x| x == "hugetlb"))
        .unwrap_or(false);
    if !mounted("hugetlb") && !v2 {
        return Err(NotApplicable("no hugetlb controller".into()));
    }
    let env = Env::new("cf-cg-hugetlb");
    let mut b = env.bundle("b", &["sleep", "30"]);
    let limit = 8 * 2 * 1024 * 1024;
    b.set(
        "/linux/resources",
        json!({"hugepageLimits": [{"pageSize": "2MB", "limit": limit}]}),
    );
    let got = if mounted("hugetlb") {
        create(&env, &b, "h");
        value(&b, "hugetlb", "hugetlb.2MB.limit_in_bytes")
    } else {
        // Only cgroup v2 has hugetlb here: the v1 setting is converted, or
        // (if the runtime cannot) the create is an error.
        if env.brisk(&["create", "-b", b.path(), "h"]).code != 0 {
            env.assert_clean();
            return Ok(());
        }
        read(&Path::new(V1).join(format!("unified{}/hugetlb.2MB.max", cgroups_path(&b))))
    };
    assert_eq!(got, limit.to_string());
    done(&env, &["h"]);
    Ok(())
}

fn network_class_and_priorities_are_applied() -> Outcome {
    if !mounted("net_cls") || !mounted("net_prio") {
        return Err(NotApplicable("net_cls/net_prio are not mounted".into()));
    }
    let env = Env::new("cf-cg-net");
    let mut b = env.bundle("b", &["sleep", "30"]);
    with_resources(
        &env,
        &mut b,
        "n",
        json!({"network": {"classID": 1048577, "priorities": [{"name": "lo", "priority": 5}]}}),
    );
    assert_eq!(value(&b, "net_cls", "net_cls.classid"), "1048577");
    let prio = value(&b, "net_prio", "net_prio.ifpriomap");
    assert!(prio.lines().any(|l| l == "lo 5"), "{prio}");
    done(&env, &["n"]);
    Ok(())
}

fn rdma_limits_are_applied() -> Outcome {
    let devices = std::fs::read_dir("/sys/class/infiniband")
        .map(|d| d.count())
        .unwrap_or(0);
    if !mounted("rdma") || devices == 0 {
        return Err(NotApplicable("no rdma controller or device".into()));
    }
    let dev = std::fs::read_dir("/sys/class/infiniband")
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .file_name()
        .to_string_lossy()
        .into_owned();
    let env = Env::new("cf-cg-rdma");
    let mut b = env.bundle("b", &["sleep", "30"]);
    with_resources(
        &env,
        &mut b,
        "r",
        json!({"rdma": {dev.clone(): {"hcaHandles": 3, "hcaObjects": 100}}}),
    );
    let max = value(&b, "rdma", "rdma.max");
    assert!(
        max.lines()
            .any(|l| l.starts_with(&dev) && l.contains("hca_handle=3")),
        "{max}"
    );
    done(&env, &["r"]);
    Ok(())
}

fn rdma_entry_without_limits_is_an_error() -> Outcome {
    let env = Env::new("cf-cg-rdma-empty");
    let mut b = env.bundle("b", &["true"]);
    b.set("/linux/resources", json!({"rdma": {"mlx5_0": {}}}));
    assert_rejected(
        &env,
        &b,
        "r",
        "an rdma entry with neither hcaHandles nor hcaObjects",
    );
    Ok(())
}

fn unified_values_are_written() -> Outcome {
    let controllers = std::fs::read_to_string(format!("{V1}/unified/cgroup.controllers"))
        .or_else(|_| std::fs::read_to_string(format!("{V1}/cgroup.controllers")))
        .unwrap_or_default();
    if !controllers.split_whitespace().any(|c| c == "hugetlb") {
        return Err(NotApplicable("no hugetlb controller on cgroup v2".into()));
    }
    let unified = if Path::new(V1).join("unified").exists() {
        PathBuf::from(format!("{V1}/unified"))
    } else {
        PathBuf::from(V1)
    };
    let env = Env::new("cf-cg-unified");
    let mut b = env.bundle("b", &["sleep", "30"]);
    let limit = (4 * 2 * 1024 * 1024).to_string();
    with_resources(
        &env,
        &mut b,
        "u",
        json!({"unified": {"hugetlb.2MB.max": limit}}),
    );
    // The controller is enabled for the cgroup, and the value written.
    let path = unified.join(cgroups_path(&b).trim_start_matches('/'));
    assert_eq!(read(&path.join("hugetlb.2MB.max")), limit);
    done(&env, &["u"]);
    Ok(())
}

fn unified_key_of_an_absent_controller_is_an_error() -> Outcome {
    let controllers = std::fs::read_to_string(format!("{V1}/unified/cgroup.controllers"))
        .or_else(|_| std::fs::read_to_string(format!("{V1}/cgroup.controllers")))
        .unwrap_or_default();
    if controllers.split_whitespace().any(|c| c == "rdma") {
        return Err(NotApplicable("rdma is available on cgroup v2 here".into()));
    }
    let env = Env::new("cf-cg-unified-absent");
    let mut b = env.bundle("b", &["true"]);
    b.set(
        "/linux/resources",
        json!({"unified": {"rdma.max": "mlx5_0 hca_handle=2"}}),
    );
    assert_rejected(&env, &b, "u", "a unified key of the absent rdma controller");
    Ok(())
}

fn device_rules_are_applied_in_order() -> Outcome {
    let env = Env::new("cf-cg-devices");
    let mut b1 = env.bundle("b1", &["sleep", "30"]);
    let mut b2 = env.bundle("b2", &["sleep", "30"]);
    let deny_all = json!({"allow": false, "access": "rwm"});
    let allow = json!({"allow": true, "type": "c", "major": 1, "minor": 11, "access": "rw"});
    let deny_w = json!({"allow": false, "type": "c", "major": 1, "minor": 11, "access": "w"});
    // Allow then deny write: read only. Deny write then allow: both.
    with_resources(
        &env,
        &mut b1,
        "one",
        json!({"devices": [deny_all.clone(), allow.clone(), deny_w.clone()]}),
    );
    with_resources(
        &env,
        &mut b2,
        "two",
        json!({"devices": [deny_all, deny_w, allow]}),
    );
    let one = value(&b1, "devices", "devices.list");
    let two = value(&b2, "devices", "devices.list");
    assert!(
        !one.lines().any(|l| l == "a *:* rwm"),
        "deny-all not applied: {one}"
    );
    assert!(one.lines().any(|l| l == "c 1:11 r"), "allow, deny w: {one}");
    assert!(
        two.lines().any(|l| l == "c 1:11 rw"),
        "deny w, allow: {two}"
    );
    done(&env, &["one", "two"]);
    Ok(())
}

fn device_rule_without_allow_is_an_error() -> Outcome {
    let env = Env::new("cf-cg-devices-noallow");
    let mut b = env.bundle("b", &["true"]);
    b.set(
        "/linux/resources",
        json!({"devices": [{"type": "c", "major": 1, "minor": 11, "access": "rw"}]}),
    );
    assert_rejected(&env, &b, "d", "a device rule without \"allow\"");
    Ok(())
}

fn v1_cgroup_ownership_is_not_changed() -> Outcome {
    use std::os::unix::fs::MetadataExt;
    let env = Env::new("cf-cg-owner");
    let mut b = env.bundle("b", &["sleep", "30"]);
    b.add_namespace("user", None);
    b.add_namespace("cgroup", None);
    let map = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    b.set("/linux/uidMappings", map.clone());
    b.set("/linux/gidMappings", map);
    // A read-write cgroup mount: the case where a runtime may delegate.
    let mounts = b.config["mounts"].as_array_mut().unwrap();
    for m in mounts
        .iter_mut()
        .filter(|m| m["destination"] == "/sys/fs/cgroup")
    {
        m["options"] = json!(["nosuid", "noexec", "nodev", "relatime"]);
    }
    b.write();
    with_resources(&env, &mut b, "o", json!({"pids": {"limit": 50}}));
    for c in ["memory", "pids"] {
        let d = dir(&b, c);
        let meta = std::fs::metadata(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display()));
        assert_eq!(meta.uid(), 0, "{} was given away on cgroup v1", d.display());
        let procs = std::fs::metadata(d.join("cgroup.procs")).unwrap();
        assert_eq!(
            procs.uid(),
            0,
            "{c}/cgroup.procs was given away on cgroup v1"
        );
    }
    done(&env, &["o"]);
    Ok(())
}
