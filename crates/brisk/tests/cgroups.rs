//! cgroups on this machine's hybrid hierarchy (v1 controllers, cgroup2 at
//! /sys/fs/cgroup/unified with hugetlb) and, in a private mount namespace,
//! on a pure cgroup2 mount: resources written and read back while the
//! container runs, OOM kill, pids limit, pause/resume, update, events,
//! ps, teardown leaving nothing, bad input leaving nothing.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{run_to_files, Bundle, Env};
use serde_json::{json, Value};

const ROOT: &str = "/sys/fs/cgroup";

fn cgroups_path(b: &Bundle) -> String {
    b.config["linux"]["cgroupsPath"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The container's directory in the hierarchy `h` (`memory`, `unified`).
fn dir(b: &Bundle, h: &str) -> PathBuf {
    PathBuf::from(format!("{ROOT}/{h}{}", cgroups_path(b)))
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p)
        .unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
        .trim()
        .to_string()
}

fn value(b: &Bundle, h: &str, file: &str) -> String {
    read(&dir(b, h).join(file))
}

fn hybrid() -> bool {
    Path::new("/sys/fs/cgroup/unified/cgroup.controllers").exists()
        && Path::new("/sys/fs/cgroup/memory/cgroup.procs").exists()
}

/// Every hierarchy directory holding `path` (relative to its root).
fn cgroup_dirs_of(path: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for h in std::fs::read_dir(ROOT).unwrap().flatten() {
        let d = h.path().join(path.trim_start_matches('/'));
        if d.exists() {
            found.push(d);
        }
    }
    found
}

fn create(env: &Env, b: &Bundle, id: &str) -> i32 {
    env.brisk(&["create", "-b", b.path(), id]).ok();
    env.state(id)["pid"].as_i64().unwrap() as i32
}

fn state_letter(pid: i32) -> char {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &s[s.rfind(')').unwrap() + 2..];
    after.chars().next().unwrap()
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A real block device of this host (throttles need one).
fn block_device() -> (u64, u64) {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/sys/block").unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if ["loop", "ram", "zram"].iter().any(|p| name.starts_with(p)) {
            continue;
        }
        let dev = read(&e.path().join("dev"));
        let (a, b) = dev.split_once(':').unwrap();
        found.push((a.parse().unwrap(), b.parse().unwrap()));
    }
    found.sort();
    *found.first().expect("a block device")
}

#[test]
fn each_resource_is_written_and_read_back() {
    if !hybrid() {
        return common::skip("not a hybrid cgroup host");
    }
    let (major, minor) = block_device();
    let env = Env::new("cg-rw");
    let mut b = env.bundle("b", &["sleep", "30"]);
    let mib: i64 = 1024 * 1024;
    b.set(
        "/linux/resources",
        json!({
            "memory": {"limit": 64 * mib, "reservation": 32 * mib, "swap": 96 * mib,
                       "swappiness": 20, "disableOOMKiller": false, "kernelTCP": 16 * mib},
            "cpu": {"shares": 256, "quota": 30000, "period": 100000, "cpus": "0", "mems": "0",
                    "idle": 0},
            "pids": {"limit": 64},
            "blockIO": {"throttleReadBpsDevice": [{"major": major, "minor": minor, "rate": 1048576}]},
            "hugepageLimits": [{"pageSize": "2MB", "limit": 4 * 2 * mib}],
            "devices": [{"allow": false, "access": "rwm"},
                        {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}],
        }),
    );
    let pid = create(&env, &b, "rw");
    env.brisk(&["start", "rw"]).ok();
    let path = cgroups_path(&b);
    for (h, file, want) in [
        ("memory", "memory.limit_in_bytes", (64 * mib).to_string()),
        (
            "memory",
            "memory.soft_limit_in_bytes",
            (32 * mib).to_string(),
        ),
        (
            "memory",
            "memory.memsw.limit_in_bytes",
            (96 * mib).to_string(),
        ),
        ("memory", "memory.swappiness", "20".into()),
        (
            "memory",
            "memory.kmem.tcp.limit_in_bytes",
            (16 * mib).to_string(),
        ),
        ("cpu", "cpu.shares", "256".into()),
        ("cpu", "cpu.cfs_quota_us", "30000".into()),
        ("cpu", "cpu.cfs_period_us", "100000".into()),
        ("cpuset", "cpuset.cpus", "0".into()),
        ("cpuset", "cpuset.mems", "0".into()),
        ("pids", "pids.max", "64".into()),
        (
            "blkio",
            "blkio.throttle.read_bps_device",
            format!("{major}:{minor} 1048576"),
        ),
        ("unified", "hugetlb.2MB.max", (8 * mib).to_string()),
    ] {
        assert_eq!(value(&b, h, file), want, "{h}/{file}");
    }
    let devices = value(&b, "devices", "devices.list");
    assert!(devices.lines().any(|l| l == "c 1:3 rwm"), "{devices}");
    assert!(!devices.lines().any(|l| l == "a *:* rwm"), "{devices}");
    // The container's process is in its cgroup in every hierarchy.
    let own = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    for line in own.lines() {
        assert!(line.ends_with(&path), "{line} (want {path})");
    }
    let out = env.brisk(&["delete", "-f", "rw"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(cgroup_dirs_of(&path), Vec::<PathBuf>::new());
    env.assert_clean();
}

#[test]
fn the_container_sees_its_own_cgroup() {
    if !hybrid() {
        return common::skip("not a hybrid cgroup host");
    }
    let env = Env::new("cg-view");
    for (name, cgroupns) in [("own", false), ("ns", true)] {
        let mut b = env.bundle(
            name,
            &[
                "sh",
                "-c",
                "cat /sys/fs/cgroup/pids/pids.max; cat /proc/self/cgroup",
            ],
        );
        if cgroupns {
            b.add_namespace("cgroup", None);
        }
        b.set("/linux/resources", json!({"pids": {"limit": 33}}));
        let out = env.brisk(&["run", "-b", b.path(), name]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        let mut lines = out.stdout.lines();
        assert_eq!(lines.next(), Some("33"), "{name}: {}", out.stdout);
        let pids = lines.find(|l| l.contains(":pids:")).unwrap();
        let want = if cgroupns {
            "/".to_string()
        } else {
            cgroups_path(&b)
        };
        assert!(pids.ends_with(&format!(":{want}")), "{name}: {pids}");
    }
    env.assert_clean();
}

/// A `cgroup2` mount (not `cgroup`) in a new cgroup namespace is a plain
/// cgroup2 mount of the namespace's root even on this hybrid host, as
/// runc mounts it: what systemd in a container needs to run unified
/// (tests/systemd.rs). `cgroup` there keeps the v1 layout.
#[test]
fn an_explicit_cgroup2_mount_in_a_cgroup_namespace_is_cgroup2_on_a_hybrid_host() {
    if !hybrid() {
        return common::skip("not a hybrid cgroup host");
    }
    let env = Env::new("cg-explicit-v2");
    for (name, fstype) in [("v2", "cgroup2"), ("v1", "cgroup")] {
        let mut b = env.bundle(
            name,
            &[
                "sh",
                "-c",
                "stat -f -c %t /sys/fs/cgroup; \
                 if [ -f /sys/fs/cgroup/cgroup.controllers ]; then echo controllers-file; fi; \
                 grep ^0:: /proc/self/cgroup; if [ -d /sys/fs/cgroup/memory ]; then echo v1-dirs; fi",
            ],
        );
        b.add_namespace("cgroup", None);
        let mounts = b.config["mounts"].as_array_mut().unwrap();
        let m = mounts
            .iter_mut()
            .find(|m| m["destination"] == "/sys/fs/cgroup")
            .expect("a /sys/fs/cgroup mount in the bundle");
        m["type"] = fstype.into();
        m["source"] = fstype.into();
        b.write();
        let out = env.brisk(&["run", "-b", b.path(), name]);
        let lines: Vec<&str> = out.stdout.lines().collect();
        if fstype == "cgroup2" {
            assert_eq!(out.code, 0, "{}", out.stderr);
            // CGROUP2_SUPER_MAGIC; the init is at the root of its cgroup
            // namespace, which is its cgroup in the host's
            // /sys/fs/cgroup/unified; no v1 hierarchy directories. What
            // cgroup.controllers lists depends on the parent's
            // subtree_control (empty on a fresh host), so only its
            // presence is checked.
            assert_eq!(
                lines,
                ["63677270", "controllers-file", "0::/"],
                "{name}: {}",
                out.stderr
            );
        } else {
            // A tmpfs (TMPFS_MAGIC) of v1 hierarchies, no cgroup.controllers.
            assert_eq!(lines.first(), Some(&"1021994"), "{name}: {}", out.stdout);
            assert_eq!(lines.last(), Some(&"v1-dirs"), "{name}: {}", out.stdout);
        }
    }
    env.assert_clean();
}

#[test]
fn a_memory_limit_oom_kills() {
    if !hybrid() {
        return common::skip("not a hybrid cgroup host");
    }
    let env = Env::new("cg-oom");
    // dd holds one 64 MiB buffer: more than the 16 MiB the cgroup allows.
    let mut b = env.bundle(
        "b",
        &[
            "sh",
            "-c",
            "dd if=/dev/zero of=/dev/null bs=64M count=1 2>/dev/null; echo dd=$?",
        ],
    );
    let mib: i64 = 1024 * 1024;
    b.set(
        "/linux/resources/memory",
        json!({"limit": 16 * mib, "swap": 16 * mib}),
    );
    let out = env.brisk(&["run", "-b", b.path(), "oom"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout.trim(), "dd=137", "dd was not SIGKILLed");
    // The same program without the limit finishes.
    b.remove("/linux/resources");
    let out = env.brisk(&["run", "-b", b.path(), "nolimit"]);
    assert_eq!(out.stdout.trim(), "dd=0", "{}", out.stderr);
    // events reports it: the OOM kill happens once `start` lets it.
    b.set(
        "/process/args",
        json!([
            "sh",
            "-c",
            "dd if=/dev/zero of=/dev/null bs=64M count=1; sleep 30"
        ]),
    );
    b.set(
        "/linux/resources/memory",
        json!({"limit": 16 * mib, "swap": 16 * mib}),
    );
    create(&env, &b, "ev");
    let mut cmd = env.cmd(&["events", "--interval", "50ms", "ev"]);
    cmd.stdout(std::process::Stdio::piped());
    let mut events = cmd.spawn().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(events.stdout.take().unwrap()));
    // A first stats event before the start, so the OOM comes after it.
    let first: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(first["type"], "stats");
    env.brisk(&["start", "ev"]).ok();
    let oom = lines
        .by_ref()
        .map(|l| serde_json::from_str::<Value>(&l.unwrap()).unwrap())
        .find(|e| e["type"] == "oom")
        .expect("an oom event");
    assert_eq!(oom["id"], "ev");
    env.brisk(&["delete", "-f", "ev"]).ok();
    // The stream ends by itself once the container is gone.
    lines.for_each(drop);
    assert!(events.wait().unwrap().success());
    env.assert_clean();
}

#[test]
fn pids_max_stops_a_fork_bomb() {
    if !hybrid() {
        return common::skip("not a hybrid cgroup host");
    }
    let env = Env::new("cg-pids");
    // The forking shell dies when a fork fails; the init stays.
    let mut b = env.bundle(
        "b",
        &[
            "sh",
            "-c",
            "sh -c 'i=0; while [ $i -lt 40 ]; do sleep 30 & i=$((i+1)); done' 2>/dev/null; exec sleep 30",
        ],
    );
    b.set("/linux/resources/pids", json!({"limit": 8}));
    create(&env, &b, "bomb");
    env.brisk(&["start", "bomb"]).ok();
    let events = dir(&b, "pids").join("pids.events");
    wait_until("a refused fork", || {
        read(&events)
            .strip_prefix("max ")
            .and_then(|n| n.parse::<u64>().ok())
            .is_some_and(|n| n > 0)
    });
    let current: u64 = value(&b, "pids", "pids.current").parse().unwrap();
    assert!(current <= 8, "pids.current {current} above the limit");
    let procs = env.brisk(&["ps", "--format", "json", "bomb"]).ok();
    let procs: Vec<i32> = serde_json::from_str(&procs).unwrap();
    assert!(procs.len() <= 8, "{procs:?}");
    env.brisk(&["delete", "-f", "bomb"]).ok();
    assert_eq!(cgroup_dirs_of(&cgroups_path(&b)), Vec::<PathBuf>::new());
    env.assert_clean();
}

#[test]
fn pause_freezes_and_resume_thaws() {
    if !hybrid() {
        return common::skip("not a hybrid cgroup host");
    }
    let env = Env::new("cg-pause");
    let b = env.bundle("b", &["sh", "-c", "sleep 30 & wait"]);
    let pid = create(&env, &b, "p");
    env.brisk(&["start", "p"]).ok();
    env.wait_status("p", "running");
    wait_until("the child", || value(&b, "pids", "pids.current") == "2");
    env.brisk(&["pause", "p"]).ok();
    assert_eq!(env.status("p"), "paused");
    assert_eq!(value(&b, "freezer", "freezer.state"), "FROZEN");
    let pids: Vec<i32> = serde_json::from_str(&env.brisk(&["ps", "-f", "json", "p"]).ok()).unwrap();
    assert_eq!(pids.len(), 2, "{pids:?}");
    for p in &pids {
        // v1's freezer shows frozen tasks in uninterruptible sleep.
        assert_eq!(state_letter(*p), 'D', "process {p} not frozen");
    }
    let again = env.brisk(&["pause", "p"]);
    assert_ne!(again.code, 0, "pausing a paused container");
    env.brisk(&["resume", "p"]).ok();
    assert_eq!(env.status("p"), "running");
    assert_eq!(value(&b, "freezer", "freezer.state"), "THAWED");
    for p in &pids {
        assert_eq!(state_letter(*p), 'S', "process {p} not thawed");
    }
    assert_eq!(state_letter(pid), 'S');
    let again = env.brisk(&["resume", "p"]);
    assert_ne!(again.code, 0, "resuming a running container");
    // A paused container can be deleted with --force.
    env.brisk(&["pause", "p"]).ok();
    env.brisk(&["delete", "-f", "p"]).ok();
    assert_eq!(cgroup_dirs_of(&cgroups_path(&b)), Vec::<PathBuf>::new());
    env.assert_clean();
}

#[test]
fn update_changes_live_limits() {
    if !hybrid() {
        return common::skip("not a hybrid cgroup host");
    }
    let env = Env::new("cg-update");
    let mut b = env.bundle("b", &["sleep", "30"]);
    b.set(
        "/linux/resources",
        json!({"memory": {"limit": 64 << 20}, "pids": {"limit": 50}}),
    );
    create(&env, &b, "u");
    env.brisk(&[
        "update",
        "--memory",
        "32m",
        "--memory-swap",
        "48m",
        "--pids-limit",
        "20",
        "--cpu-quota",
        "20000",
        "--cpu-period",
        "50000",
        "--cpu-share",
        "300",
        "--cpuset-cpus",
        "0",
        "u",
    ])
    .ok();
    assert_eq!(
        value(&b, "memory", "memory.limit_in_bytes"),
        (32 << 20).to_string()
    );
    assert_eq!(
        value(&b, "memory", "memory.memsw.limit_in_bytes"),
        (48 << 20).to_string()
    );
    assert_eq!(value(&b, "pids", "pids.max"), "20");
    assert_eq!(value(&b, "cpu", "cpu.cfs_quota_us"), "20000");
    assert_eq!(value(&b, "cpu", "cpu.cfs_period_us"), "50000");
    assert_eq!(value(&b, "cpu", "cpu.shares"), "300");
    assert_eq!(value(&b, "cpuset", "cpuset.cpus"), "0");
    // Raising the memory limit above the current swap limit: runc's order.
    let file = env.base.join("res.json");
    std::fs::write(
        &file,
        json!({"memory": {"limit": 128 << 20, "swap": 256 << 20}, "pids": {"limit": 7},
               "hugepageLimits": [{"pageSize": "2MB", "limit": 2 << 20}]})
        .to_string(),
    )
    .unwrap();
    let mut cmd = env.cmd(&["update", "-r", "-", "u"]);
    cmd.stdin(std::fs::File::open(&file).unwrap());
    let out = run_to_files(cmd, &env.base);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        value(&b, "memory", "memory.limit_in_bytes"),
        (128 << 20).to_string()
    );
    assert_eq!(
        value(&b, "memory", "memory.memsw.limit_in_bytes"),
        (256 << 20).to_string()
    );
    assert_eq!(value(&b, "pids", "pids.max"), "7");
    assert_eq!(
        value(&b, "unified", "hugetlb.2MB.max"),
        (2 << 20).to_string()
    );
    // Bad values are errors that name the field, and change nothing.
    let bad = env.brisk(&["update", "--cpuset-cpus", "99", "u"]);
    assert_ne!(bad.code, 0);
    assert!(
        bad.stderr.contains("linux.resources.cpu.cpus"),
        "{}",
        bad.stderr
    );
    assert_eq!(value(&b, "cpuset", "cpuset.cpus"), "0");
    let bad = env.brisk(&["update", "--memory", "lots", "u"]);
    assert_ne!(bad.code, 0);
    // checkBeforeUpdate: no limit below what the container uses now (8 MiB
    // of tmpfs in a second container).
    let mut b2 = env.bundle(
        "b2",
        &[
            "sh",
            "-c",
            "dd if=/dev/zero of=/tmp/f bs=1M count=8 2>/dev/null; echo > /tmp/done; sleep 30",
        ],
    );
    b2.set("/linux/resources", json!({"memory": {"limit": 128 << 20}}));
    let pid2 = create(&env, &b2, "u2");
    env.brisk(&["start", "u2"]).ok();
    wait_until("the tmpfs file", || {
        std::fs::metadata(format!("/proc/{pid2}/root/tmp/done")).is_ok()
    });
    std::fs::write(
        &file,
        json!({"memory": {"limit": 4096, "swap": 256 << 20, "checkBeforeUpdate": true}})
            .to_string(),
    )
    .unwrap();
    let bad = env.brisk(&["update", "-r", file.to_str().unwrap(), "u2"]);
    assert_ne!(bad.code, 0);
    assert!(bad.stderr.contains("checkBeforeUpdate"), "{}", bad.stderr);
    assert_eq!(
        value(&b2, "memory", "memory.limit_in_bytes"),
        (128 << 20).to_string()
    );
    env.brisk(&["delete", "-f", "u2"]).ok();
    env.brisk(&["delete", "-f", "u"]).ok();
    env.assert_clean();
}

#[test]
fn events_stats_match_the_cgroup_files() {
    if !hybrid() {
        return common::skip("not a hybrid cgroup host");
    }
    let env = Env::new("cg-events");
    let mut b = env.bundle("b", &["sh", "-c", "sleep 30 & sleep 30 & wait"]);
    b.set(
        "/linux/resources",
        json!({"memory": {"limit": 48 << 20}, "pids": {"limit": 12}}),
    );
    create(&env, &b, "e");
    env.brisk(&["start", "e"]).ok();
    wait_until("three processes", || {
        value(&b, "pids", "pids.current") == "3"
    });
    let out = env.brisk(&["events", "--stats", "e"]).ok();
    let ev: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(ev["type"], "stats");
    assert_eq!(ev["id"], "e");
    let d = &ev["data"];
    assert_eq!(d["pids"]["current"], 3);
    assert_eq!(d["pids"]["limit"], 12);
    assert_eq!(d["memory"]["usage"]["limit"], 48 << 20);
    let usage = d["memory"]["usage"]["usage"].as_u64().unwrap_or(0);
    let max = value(&b, "memory", "memory.max_usage_in_bytes")
        .parse::<u64>()
        .unwrap();
    assert!(usage > 0 && usage <= max, "usage {usage}, max {max}");
    assert!(d["cpu"]["usage"]["total"].as_u64().unwrap() > 0);
    let cpus = value(&b, "cpuset", "cpuset.cpus");
    let n = d["cpuset"]["cpus"].as_array().map(Vec::len).unwrap_or(0);
    assert!(n > 0, "cpuset.cpus {cpus}: {}", d["cpuset"]);
    // The stream: one event per interval, until the container stops.
    let mut cmd = env.cmd(&["events", "--interval", "100ms", "e"]);
    cmd.stdout(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    for _ in 0..2 {
        let line = lines.next().unwrap().unwrap();
        let ev: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(ev["data"]["pids"]["limit"], 12);
    }
    env.brisk(&["kill", "e", "KILL"]).ok();
    let status = child.wait().unwrap();
    assert!(status.success(), "events did not end with the container");
    env.brisk(&["delete", "e"]).ok();
    env.assert_clean();
}

/// The processes whose parent chain leads to `init` (itself included).
fn descendants(init: i32) -> Vec<i32> {
    let mut parent = std::collections::HashMap::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            let after = &s[s.rfind(')').unwrap() + 2..];
            let ppid: i32 = after.split(' ').nth(1).unwrap().parse().unwrap();
            parent.insert(pid, ppid);
        }
    }
    let mut out: Vec<i32> = parent
        .keys()
        .copied()
        .filter(|p| {
            let mut cur = *p;
            for _ in 0..64 {
                if cur == init {
                    return true;
                }
                match parent.get(&cur) {
                    Some(&pp) if pp > 0 => cur = pp,
                    _ => return false,
                }
            }
            false
        })
        .collect();
    out.sort();
    out
}

#[test]
fn ps_lists_exactly_the_containers_processes() {
    if !hybrid() {
        return common::skip("not a hybrid cgroup host");
    }
    let env = Env::new("cg-ps");
    let b = env.bundle("b", &["sh", "-c", "sleep 31 & sleep 32 & wait"]);
    let init = create(&env, &b, "ps");
    env.brisk(&["start", "ps"]).ok();
    wait_until("two children", || descendants(init).len() == 3);
    let mut pids: Vec<i32> =
        serde_json::from_str(&env.brisk(&["ps", "--format", "json", "ps"]).ok()).unwrap();
    pids.sort();
    assert_eq!(pids, descendants(init));
    let table = env.brisk(&["ps", "ps"]).ok();
    let mut lines = table.lines();
    let header = lines.next().unwrap();
    assert!(header.contains("PID") && header.contains("CMD"), "{header}");
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 3, "{table}");
    assert!(rows.iter().any(|r| r.ends_with("sleep 31")), "{table}");
    // Extra ps arguments, like runc.
    let custom = env.brisk(&["ps", "ps", "-o", "pid,comm"]).ok();
    let mut rows = custom.lines();
    assert_eq!(
        rows.next()
            .map(str::split_whitespace)
            .map(|c| c.collect::<Vec<_>>()),
        Some(vec!["PID", "COMMAND"])
    );
    assert_eq!(rows.count(), 3, "{custom}");
    // kill --all reaches every process through the cgroup.
    env.brisk(&["kill", "--all", "ps", "TERM"]).ok();
    env.wait_status("ps", "stopped");
    env.brisk(&["delete", "ps"]).ok();
    env.assert_clean();
}

/// Takes the pid namespace out of a bundle's config: the container's
/// processes are then in brisk's, and its init's death does not end them.
fn without_pid_namespace(b: &mut Bundle) {
    let ns: Vec<Value> = b.config["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["type"] != "pid")
        .cloned()
        .collect();
    b.set("/linux/namespaces", Value::Array(ns));
}

#[test]
fn kill_all_without_a_pid_namespace_uses_the_cgroup() {
    if !hybrid() {
        return common::skip("not a hybrid cgroup host");
    }
    let env = Env::new("cg-killall");
    let mut b = env.bundle("b", &["sh", "-c", "sleep 33 & wait"]);
    without_pid_namespace(&mut b);
    let init = create(&env, &b, "k");
    env.brisk(&["start", "k"]).ok();
    wait_until("the child", || descendants(init).len() == 2);
    let child = *descendants(init).iter().find(|p| **p != init).unwrap();
    env.brisk(&["kill", "--all", "k", "KILL"]).ok();
    wait_until("every process gone", || {
        !Path::new(&format!("/proc/{child}")).exists() || state_letter(child) == 'Z'
    });
    env.brisk(&["delete", "-f", "k"]).ok();
    env.assert_clean();
}

/// `kill --all` after the init exited: what is left in the cgroup (the
/// init's children, which a container without a pid namespace of its own
/// leaves running) gets the signal, and the command succeeds, also when
/// nothing is left, as runc's does; a plain `kill` of a stopped container
/// is an error. containerd's shim sends `kill --all ID 9` when the init of
/// a container in a pod's shared pid namespace exits; when that failed,
/// what the init left kept the container's output open and the shim's
/// task deletion waited 2 s for it (tests/cri.rs::pod_namespaces).
#[test]
fn kill_all_after_the_init_exited_reaches_what_is_left() {
    if !hybrid() {
        return common::skip("not a hybrid cgroup host");
    }
    let env = Env::new("cg-killall-stopped");
    let mut b = env.bundle("b", &["sh", "-c", "sleep 34 & exit 0"]);
    without_pid_namespace(&mut b);
    create(&env, &b, "k");
    env.brisk(&["start", "k"]).ok();
    env.wait_status("k", "stopped");
    // The child carries the test's mark (the bundle's env), as every
    // process of the container.
    let sleeper = || {
        env.processes().into_iter().find(|p| {
            std::fs::read(format!("/proc/{p}/cmdline")).is_ok_and(|c| c == b"sleep\x0034\x00")
        })
    };
    wait_until("the init's child", || sleeper().is_some());
    let child = sleeper().unwrap();
    assert_eq!(state_letter(child), 'S', "the init's child outlives it");
    let out = env.brisk(&["kill", "k", "KILL"]);
    assert_ne!(out.code, 0, "kill of a stopped container");
    env.brisk(&["kill", "--all", "k", "KILL"]).ok();
    wait_until("the child gone", || {
        !Path::new(&format!("/proc/{child}")).exists() || state_letter(child) == 'Z'
    });
    // Nothing left: still no error.
    env.brisk(&["kill", "--all", "k", "KILL"]).ok();
    env.brisk(&["delete", "k"]).ok();
    env.assert_clean();
}

/// `kill --all` of a stopped container with its own pid namespace
/// signals nothing: its init's death ended its processes, and what is
/// left in its cgroup is another container's that shares the path (as
/// `delete` assumes). containerd sends this on every task deletion.
#[test]
fn kill_all_of_a_stopped_container_spares_a_container_sharing_its_cgroup() {
    if !hybrid() {
        return common::skip("not a hybrid cgroup host");
    }
    let env = Env::new("cg-killall-shared");
    let a = env.bundle("a", &["true"]);
    let mut b = env.bundle("b", &["sleep", "35"]);
    b.set("/linux/cgroupsPath", json!(cgroups_path(&a)));
    create(&env, &a, "a");
    env.brisk(&["start", "a"]).ok();
    env.wait_status("a", "stopped");
    let pid_b = create(&env, &b, "b");
    env.brisk(&["start", "b"]).ok();
    env.brisk(&["kill", "--all", "a", "KILL"]).ok();
    // A SIGKILL sent would end it within moments: watch it for 500 ms.
    let alive = || {
        std::fs::read_to_string(format!("/proc/{pid_b}/stat"))
            .is_ok_and(|s| s.rfind(')').is_some_and(|i| !s[i..].starts_with(") Z")))
    };
    let until = Instant::now() + Duration::from_millis(500);
    while Instant::now() < until {
        assert!(
            alive(),
            "kill --all of a stopped container killed another container"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(env.state("b")["status"], "running");
    env.brisk(&["delete", "a"]).ok();
    env.brisk(&["delete", "--force", "b"]).ok();
    env.assert_clean();
}

#[test]
fn fifty_runs_leave_no_cgroup_behind() {
    if !hybrid() {
        return common::skip("not a hybrid cgroup host");
    }
    let env = Env::new("cg-fifty");
    let mut b = env.bundle("b", &["true"]);
    // A parent of its own that each run creates and removes again.
    let parent = format!("{}/runs", cgroups_path(&b));
    b.set("/linux/resources", json!({"pids": {"limit": 10}}));
    for i in 0..50 {
        let id = format!("r{i}");
        b.set("/linux/cgroupsPath", json!(format!("{parent}/{id}")));
        match i % 5 {
            // create + start + delete
            0 => {
                create(&env, &b, &id);
                env.brisk(&["start", &id]).ok();
                env.wait_status(&id, "stopped");
                env.brisk(&["delete", &id]).ok();
            }
            // a created container deleted with --force
            1 => {
                create(&env, &b, &id);
                env.brisk(&["delete", "-f", &id]).ok();
            }
            _ => {
                let out = env.brisk(&["run", "-b", b.path(), &id]);
                assert_eq!(out.code, 0, "{}", out.stderr);
            }
        }
    }
    let parent_left = cgroup_dirs_of(&parent);
    assert_eq!(parent_left, Vec::<PathBuf>::new(), "cgroups left behind");
    // The default parent: /brisk/<id>, made and removed by brisk; a
    // relative path goes under it too. Two containers share the parent:
    // whichever goes last removes it, whoever made it.
    b.remove("/linux/cgroupsPath");
    let tag = env.base.file_name().unwrap().to_string_lossy().into_owned();
    let first = format!("{tag}-1");
    create(&env, &b, &first);
    b.set("/linux/cgroupsPath", json!(format!("{tag}/nested")));
    create(&env, &b, "second");
    assert!(!cgroup_dirs_of(&format!("/brisk/{tag}/nested")).is_empty());
    env.brisk(&["delete", "-f", &first]).ok();
    assert_eq!(
        cgroup_dirs_of(&format!("/brisk/{first}")),
        Vec::<PathBuf>::new()
    );
    env.brisk(&["delete", "-f", "second"]).ok();
    assert_eq!(
        cgroup_dirs_of(&format!("/brisk/{tag}")),
        Vec::<PathBuf>::new()
    );
    // brisk's default parent goes with its last child. Other tests may
    // have children there meanwhile: then it stays, but never empty.
    common::wait_until(
        "brisk's parent /brisk left empty",
        Duration::from_secs(5),
        || {
            cgroup_dirs_of("/brisk").iter().all(|d| {
                std::fs::read_dir(d)
                    .map(|e| e.flatten().any(|e| e.path().is_dir()))
                    .unwrap_or(true)
            })
        },
    );
    env.assert_clean();
}

#[test]
fn bad_cgroup_input_is_a_clear_error_and_leaves_nothing() {
    if !hybrid() {
        return common::skip("not a hybrid cgroup host");
    }
    let env = Env::new("cg-bad");
    let mut b = env.bundle("b", &["sleep", "30"]);
    let path = cgroups_path(&b);
    for (resources, names) in [
        (
            json!({"unified": {"hugetlb.2MB.bogus": "1"}}),
            "linux.resources.unified.hugetlb.2MB.bogus",
        ),
        (
            json!({"unified": {"memory.high": "1"}}),
            "linux.resources.unified.memory.high",
        ),
        (json!({"cpu": {"cpus": "99"}}), "linux.resources.cpu.cpus"),
        (
            json!({"memory": {"limit": -5}}),
            "linux.resources.memory.limit",
        ),
        (
            json!({"hugepageLimits": [{"pageSize": "3MB", "limit": 1}]}),
            "hugepageLimits[0]",
        ),
    ] {
        b.set("/linux/resources", resources.clone());
        for cmd in ["create", "run"] {
            let out = env.brisk(&[cmd, "-b", b.path(), "bad"]);
            assert_ne!(out.code, 0, "{resources} was accepted");
            assert!(out.stderr.contains(names), "{resources}: {}", out.stderr);
            assert_eq!(cgroup_dirs_of(&path), Vec::<PathBuf>::new(), "{resources}");
            env.assert_clean();
        }
    }
    // A failure in the init, after the cgroup was made and the init placed.
    b.set("/linux/resources", json!({"pids": {"limit": 5}}));
    b.set("/process/args", json!(["/no/such/program"]));
    for cmd in ["create", "run"] {
        let out = env.brisk(&[cmd, "-b", b.path(), "noexec"]);
        assert_ne!(out.code, 0);
        assert!(out.stderr.contains("/no/such/program"), "{}", out.stderr);
        assert_eq!(cgroup_dirs_of(&path), Vec::<PathBuf>::new());
        env.assert_clean();
    }
    let out = env.brisk(&["--systemd-cgroup", "create", "-b", b.path(), "sd"]);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("systemd"), "{}", out.stderr);
    assert_eq!(cgroup_dirs_of(&path), Vec::<PathBuf>::new());
    env.assert_clean();
}

/// Runs `script` in a private mount namespace with cgroup2 mounted over
/// /sys/fs/cgroup (a pure cgroup2 host; here only hugetlb is a
/// controller). `$B` is brisk with this test's root.
fn in_cgroup2_namespace(env: &Env, script: &str) -> common::Out {
    let full = format!(
        "set -e; mount -t cgroup2 none /sys/fs/cgroup; B=\"{} --root {}\"; {script}",
        common::runtime_bin(),
        env.root.display()
    );
    let mut cmd = std::process::Command::new("unshare");
    cmd.args(["-m", "--propagation", "private", "sh", "-c", &full]);
    cmd.env(common::MARK, env.base.to_string_lossy().as_ref());
    cmd.stdin(std::process::Stdio::null());
    run_to_files(cmd, &env.base)
}

#[test]
fn cgroup2_placement_freeze_kill_and_hugetlb() {
    let controllers = std::fs::read_to_string("/sys/fs/cgroup/unified/cgroup.controllers")
        .or_else(|_| std::fs::read_to_string("/sys/fs/cgroup/cgroup.controllers"))
        .unwrap_or_default();
    if !controllers.split_whitespace().any(|c| c == "hugetlb") {
        return common::skip("no hugetlb on cgroup2");
    }
    let env = Env::new("cg-v2");
    let mut b = env.bundle("b", &["sh", "-c", "sleep 30 & wait"]);
    b.add_namespace("cgroup", None);
    b.set(
        "/linux/resources",
        json!({"hugepageLimits": [{"pageSize": "2MB", "limit": 6 << 20}],
               "unified": {"hugetlb.2MB.rsvd.max": (4 << 20).to_string()}}),
    );
    let path = cgroups_path(&b);
    let script = format!(
        r#"
        $B create -b {bundle} v2
        pid=$($B state v2 | sed -n 's/.*"pid": \([0-9]*\).*/\1/p')
        echo "cgroup=$(grep '^0::' /proc/$pid/cgroup)"
        echo "hugetlb=$(cat /sys/fs/cgroup{path}/hugetlb.2MB.max)"
        echo "rsvd=$(cat /sys/fs/cgroup{path}/hugetlb.2MB.rsvd.max)"
        $B start v2
        # The program forks its sleep after start returns: wait for both.
        i=0; while [ "$(wc -l < /sys/fs/cgroup{path}/cgroup.procs)" -lt 2 ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done
        $B pause v2
        echo "paused=$($B state v2 | grep -c '"paused"')"
        echo "frozen=$(grep frozen /sys/fs/cgroup{path}/cgroup.events)"
        echo "procs=$(wc -l < /sys/fs/cgroup{path}/cgroup.procs)"
        $B resume v2
        echo "thawed=$(grep frozen /sys/fs/cgroup{path}/cgroup.events)"
        $B kill --all v2 KILL
        i=0; while [ "$($B state v2 | grep -c '"stopped"')" = 0 ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done
        echo "stopped=$($B state v2 | grep -c '"stopped"')"
        $B delete v2
        echo "left=$(ls -d /sys/fs/cgroup{path} 2>/dev/null | wc -l)"
        "#,
        bundle = b.path(),
    );
    let out = in_cgroup2_namespace(&env, &script);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let o = out.stdout;
    assert!(o.contains(&format!("cgroup=0::{path}\n")), "{o}");
    assert!(o.contains(&format!("hugetlb={}\n", 6 << 20)), "{o}");
    assert!(o.contains(&format!("rsvd={}\n", 4 << 20)), "{o}");
    assert!(o.contains("paused=1\n"), "{o}");
    assert!(o.contains("frozen=frozen 1\n"), "{o}");
    assert!(o.contains("procs=2\n"), "{o}");
    assert!(o.contains("thawed=frozen 0\n"), "{o}");
    assert!(o.contains("stopped=1\n"), "{o}");
    assert!(o.contains("left=0\n"), "{o}");
    // The same cgroup2 hierarchy is the host's /sys/fs/cgroup/unified.
    assert_eq!(cgroup_dirs_of(&path), Vec::<PathBuf>::new());
    env.assert_clean();
}

#[test]
fn cgroup2_device_rules_are_an_ebpf_filter() {
    let env = Env::new("cg-v2dev");
    let script_for = |name: &str, rules: Value| {
        let mut b = env.bundle(
            name,
            &[
                "sh",
                "-c",
                "mknod /dev/l0 b 7 0 && head -c1 /dev/l0 >/dev/null; echo loop=$?; echo x > /dev/null; echo null=$?",
            ],
        );
        let caps = json!(["CAP_MKNOD", "CAP_DAC_OVERRIDE"]);
        for set in ["bounding", "effective", "permitted"] {
            b.set(&format!("/process/capabilities/{set}"), caps.clone());
        }
        b.set("/linux/resources/devices", rules);
        format!("$B run -b {} {name}; ", b.path())
    };
    let deny_all = json!({"allow": false, "access": "rwm"});
    let script = script_for("deny", json!([deny_all]))
        + &script_for(
            "allow",
            json!([deny_all, {"allow": true, "type": "b", "major": 7, "minor": 0, "access": "r"}]),
        );
    let out = in_cgroup2_namespace(&env, &script);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    // The default devices stay usable; loop0 only where a rule allows it.
    assert_eq!(
        out.stdout.lines().collect::<Vec<_>>(),
        ["loop=1", "null=0", "loop=0", "null=0"],
        "{}",
        out.stderr
    );
    env.assert_clean();
}

#[test]
fn cgroup_manager_disabled_leaves_the_container_in_our_cgroups() {
    let env = Env::new("cg-disabled");
    let mut b = env.bundle("b", &["cat", "/proc/self/cgroup"]);
    b.set("/linux/resources", json!({"pids": {"limit": 10}}));
    let out = env.brisk(&["--cgroup-manager", "disabled", "run", "-b", b.path(), "d"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let ours = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    assert_eq!(out.stdout, ours);
    assert_eq!(cgroup_dirs_of(&cgroups_path(&b)), Vec::<PathBuf>::new());
    env.assert_clean();
}

#[test]
fn delete_kills_forking_processes_without_a_pid_namespace() {
    if !hybrid() {
        return common::skip("not a hybrid cgroup host");
    }
    let env = Env::new("cg-forker");
    let mut b = env.bundle(
        "b",
        &[
            "sh",
            "-c",
            "while true; do sleep 30 & sleep 0.01; done 2>/dev/null",
        ],
    );
    without_pid_namespace(&mut b);
    b.set("/linux/resources", json!({"pids": {"limit": 40}}));
    create(&env, &b, "f");
    env.brisk(&["start", "f"]).ok();
    wait_until("a few children", || {
        value(&b, "pids", "pids.current").parse::<u32>().unwrap() > 5
    });
    env.brisk(&["delete", "-f", "f"]).ok();
    assert_eq!(cgroup_dirs_of(&cgroups_path(&b)), Vec::<PathBuf>::new());
    env.assert_clean();
}

#[test]
fn deleting_one_of_two_containers_sharing_a_cgroup_spares_the_other() {
    if !hybrid() {
        return common::skip("not a hybrid cgroup host");
    }
    let env = Env::new("cg-shared");
    let b = env.bundle("b", &["sleep", "30"]);
    create(&env, &b, "one");
    let two = create(&env, &b, "two");
    env.brisk(&["start", "one"]).ok();
    env.brisk(&["start", "two"]).ok();
    env.brisk(&["delete", "-f", "one"]).ok();
    assert_eq!(env.status("two"), "running");
    assert_eq!(state_letter(two), 'S');
    let procs = read(&dir(&b, "pids").join("cgroup.procs"));
    assert_eq!(procs, two.to_string(), "the shared cgroup stays for two");
    env.brisk(&["delete", "-f", "two"]).ok();
    env.assert_clean();
}

/// The bundle's mount of `cgroup` at /sys/fs/cgroup, made `ro` or not.
fn cgroup_mount_rw(b: &mut Bundle, rw: bool) {
    let mounts = b.config["mounts"].as_array_mut().expect("mounts");
    let m = mounts
        .iter_mut()
        .find(|m| m["destination"] == "/sys/fs/cgroup")
        .expect("a /sys/fs/cgroup mount in the bundle");
    let opts = if rw { "rw" } else { "ro" };
    m["options"] = json!(["nosuid", "noexec", "nodev", "relatime", opts]);
    b.write();
}

#[test]
fn cgroup2_is_delegated_to_a_container_with_its_own_user_and_cgroup_namespaces() {
    let controllers =
        std::fs::read_to_string("/sys/fs/cgroup/unified/cgroup.controllers").unwrap_or_default();
    if !controllers.split_whitespace().any(|c| c == "hugetlb") {
        return common::skip("no hugetlb controller on cgroup2");
    }
    // config-linux.md, "Cgroup ownership": with a new user namespace, a new
    // cgroup namespace and a read-write cgroup mount, the container's root
    // (host uid 100000) owns its cgroup directory and the delegatable
    // files, makes a sub-cgroup and moves into it; the limit files stay
    // root's; delete removes the sub-cgroup too. With a read-only mount
    // nothing changes owner.
    let env = Env::new("cg-v2-own");
    let bundle = |name: &str, rw: bool| {
        let mut b = env.bundle(
            name,
            &[
                "sh",
                "-c",
                "mkdir -p /sys/fs/cgroup/sub/a/b && echo $$ > /sys/fs/cgroup/sub/cgroup.procs \
                 && echo +hugetlb > /sys/fs/cgroup/cgroup.subtree_control \
                 && echo yes > /tmp/moved; sleep 30",
            ],
        );
        b.add_namespace("user", None);
        b.add_namespace("cgroup", None);
        let map = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        b.set("/linux/uidMappings", map.clone());
        b.set("/linux/gidMappings", map);
        cgroup_mount_rw(&mut b, rw);
        // hugetlb (the one cgroup2 controller here) enabled for the
        // container, which enables it below itself in turn.
        b.set(
            "/linux/resources",
            json!({"hugepageLimits": [{"pageSize": "2MB", "limit": 6 << 20}]}),
        );
        std::process::Command::new("chown")
            .args(["-R", "100000:100000"])
            .arg(b.dir.join("rootfs"))
            .status()
            .expect("chown the rootfs");
        b
    };
    let (rw, ro) = (bundle("rw", true), bundle("ro", false));
    let (rw_path, ro_path) = (cgroups_path(&rw), cgroups_path(&ro));
    let script = format!(
        r#"
        $B create -b {rw} d; $B start d
        pid=$($B state d | sed -n 's/.*"pid": \([0-9]*\).*/\1/p')
        i=0; while [ ! -e /proc/$pid/root/tmp/moved ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done
        echo "moved=$(cat /proc/$pid/root/tmp/moved 2>/dev/null)"
        d=/sys/fs/cgroup{rw_path}
        echo "owners=$(stat -c '%n:%u:%g' $d $d/cgroup.procs $d/cgroup.threads $d/cgroup.subtree_control $d/cgroup.max.depth | sed "s#$d#D#" | tr '\n' ' ')"
        echo "sub=$(grep -c . $d/sub/cgroup.procs)"
        echo "depth=$(cat $d/cgroup.max.depth)"
        echo "ps-has-init=$($B ps --format json d | grep -c "\b$pid\b")"
        echo "exec=$($B exec d sh -c 'grep ^0:: /proc/self/cgroup' 2>&1)"
        $B delete --force d
        echo "left=$(ls -d $d 2>/dev/null | wc -l)"
        $B create -b {ro} r
        echo "ro=$(stat -c '%u' /sys/fs/cgroup{ro_path} /sys/fs/cgroup{ro_path}/cgroup.procs | tr '\n' ' ')"
        $B delete --force r
        "#,
        rw = rw.path(),
        ro = ro.path(),
    );
    let out = in_cgroup2_namespace(&env, &script);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let o = out.stdout;
    assert!(
        o.contains("moved=yes\n"),
        "the container could not use its cgroup: {o}"
    );
    assert!(
        o.contains(
            "owners=D:100000:0 D/cgroup.procs:100000:0 D/cgroup.threads:100000:0 \
             D/cgroup.subtree_control:100000:0 D/cgroup.max.depth:0:0 \n"
        ),
        "{o}"
    );
    assert!(o.contains("sub=1\n"), "{o}");
    assert!(o.contains("depth=32\n"), "the nesting is not bounded: {o}");
    // ps lists the init in the sub-cgroup; exec, refused in the container's
    // own cgroup once it has controllers below (EBUSY), joins the init's.
    assert!(o.contains("ps-has-init=1\n"), "{o}");
    assert!(o.contains("exec=0::/sub\n"), "{o}");
    assert!(o.contains("left=0\n"), "{o}");
    assert!(o.contains("ro=0 0 \n"), "{o}");
    assert_eq!(cgroup_dirs_of(&rw_path), Vec::<PathBuf>::new());
    env.assert_clean();
}
