//! Statistics of a container's cgroup for `events`, in runc's JSON shape
//! (`data` of a `{"type": "stats"}` event): cpu, memory, pids, blkio,
//! hugetlb. Files a host lacks leave their numbers out or zero, as runc.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{json, Map, Value};

use crate::cgroup::{read_file, Record};

pub type Stats = Value;

fn read_u64(dir: &Path, file: &str) -> Option<u64> {
    let s = read_file(&dir.join(file)).ok()?;
    let s = s.trim();
    if s == "max" {
        return Some(u64::MAX);
    }
    s.parse().ok()
}

/// `key value` lines (memory.stat, cpu.stat, cpuacct.stat).
fn read_flat(dir: &Path, file: &str) -> BTreeMap<String, u64> {
    read_file(&dir.join(file))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

/// Drops `omitempty` zeros the way runc's JSON does.
fn put(m: &mut Map<String, Value>, k: &str, v: u64) {
    if v != 0 {
        m.insert(k.into(), v.into());
    }
}

fn entry(limit: u64, usage: u64, max: u64, failcnt: u64) -> Value {
    let mut m = Map::new();
    m.insert("limit".into(), limit.into());
    put(&mut m, "usage", usage);
    put(&mut m, "max", max);
    m.insert("failcnt".into(), failcnt.into());
    Value::Object(m)
}

/// The container's statistics now.
pub fn collect(cg: &Record) -> Stats {
    json!({
        "cpu": cpu(cg),
        "cpuset": cpuset(cg),
        "memory": memory(cg),
        "pids": pids(cg),
        "blkio": blkio(cg),
        "hugetlb": hugetlb(cg),
        "intel_rdt": {},
        "network_interfaces": null,
    })
}

fn cpu(cg: &Record) -> Value {
    let mut usage = Map::new();
    let mut thr = Map::new();
    let stat_dir = cg
        .v1_dir("cpu")
        .or(cg.v2_dir().filter(|_| cg.v1_dir("cpu").is_none()));
    if let Some(d) = cg.v1_dir("cpuacct") {
        put(
            &mut usage,
            "total",
            read_u64(d, "cpuacct.usage").unwrap_or(0),
        );
        let percpu: Vec<u64> = read_file(&d.join("cpuacct.usage_percpu"))
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|v| v.parse().ok())
            .collect();
        if !percpu.is_empty() {
            usage.insert("percpu".into(), json!(percpu));
        }
        // USER_HZ ticks → ns.
        let st = read_flat(d, "cpuacct.stat");
        let tick = 10_000_000;
        usage.insert(
            "kernel".into(),
            (st.get("system").copied().unwrap_or(0) * tick).into(),
        );
        usage.insert(
            "user".into(),
            (st.get("user").copied().unwrap_or(0) * tick).into(),
        );
    } else if let Some(d) = cg.v2_dir() {
        let st = read_flat(d, "cpu.stat");
        put(
            &mut usage,
            "total",
            st.get("usage_usec").copied().unwrap_or(0) * 1000,
        );
        usage.insert(
            "kernel".into(),
            (st.get("system_usec").copied().unwrap_or(0) * 1000).into(),
        );
        usage.insert(
            "user".into(),
            (st.get("user_usec").copied().unwrap_or(0) * 1000).into(),
        );
    }
    if let Some(d) = stat_dir {
        let st = read_flat(d, "cpu.stat");
        put(
            &mut thr,
            "periods",
            st.get("nr_periods").copied().unwrap_or(0),
        );
        put(
            &mut thr,
            "throttledPeriods",
            st.get("nr_throttled").copied().unwrap_or(0),
        );
        let t = st
            .get("throttled_time")
            .copied()
            .or_else(|| st.get("throttled_usec").map(|u| u * 1000))
            .unwrap_or(0);
        put(&mut thr, "throttledTime", t);
    }
    json!({"usage": usage, "throttling": thr})
}

/// How many processes the kernel's OOM killer has killed in the cgroup
/// (`oom_kill` of v1 `memory.oom_control` or cgroup2 `memory.events`).
pub fn oom_kills(cg: &Record) -> u64 {
    let found = match cg.v1_dir("memory") {
        Some(d) => read_flat(d, "memory.oom_control"),
        None => cg
            .v2_dir()
            .map(|d| read_flat(d, "memory.events"))
            .unwrap_or_default(),
    };
    found.get("oom_kill").copied().unwrap_or(0)
}

/// `0-2,5` → [0, 1, 2, 5].
fn cpu_list(s: &str) -> Vec<u16> {
    let mut out = Vec::new();
    for part in s.trim().split(',').filter(|p| !p.is_empty()) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        if let (Ok(a), Ok(b)) = (a.parse::<u16>(), b.parse::<u16>()) {
            out.extend(a..=b);
        }
    }
    out
}

fn cpuset(cg: &Record) -> Value {
    let mut m = Map::new();
    let (dir, v1) = match cg.v1_dir("cpuset") {
        Some(d) => (Some(d), true),
        None => (cg.v2_dir(), false),
    };
    let suffix = if v1 { "" } else { ".effective" };
    if let Some(d) = dir {
        for key in ["cpus", "mems"] {
            let list =
                cpu_list(&read_file(&d.join(format!("cpuset.{key}{suffix}"))).unwrap_or_default());
            if !list.is_empty() {
                m.insert(key.into(), json!(list));
            }
        }
    }
    for key in [
        "cpu_exclusive",
        "mem_hardwall",
        "mem_exclusive",
        "memory_migrate",
        "memory_spread_page",
        "memory_spread_slab",
        "memory_pressure",
        "sched_load_balance",
    ] {
        let v = dir
            .filter(|_| v1)
            .and_then(|d| read_u64(d, &format!("cpuset.{key}")))
            .unwrap_or(0);
        m.insert(key.into(), v.into());
    }
    let level: i64 = dir
        .filter(|_| v1)
        .and_then(|d| read_file(&d.join("cpuset.sched_relax_domain_level")).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    m.insert("sched_relax_domain_level".into(), level.into());
    Value::Object(m)
}

fn memory(cg: &Record) -> Value {
    let mut m = Map::new();
    if let Some(d) = cg.v1_dir("memory") {
        let e = |prefix: &str| {
            entry(
                read_u64(d, &format!("{prefix}limit_in_bytes")).unwrap_or(0),
                read_u64(d, &format!("{prefix}usage_in_bytes")).unwrap_or(0),
                read_u64(d, &format!("{prefix}max_usage_in_bytes")).unwrap_or(0),
                read_u64(d, &format!("{prefix}failcnt")).unwrap_or(0),
            )
        };
        let raw = read_flat(d, "memory.stat");
        put(&mut m, "cache", raw.get("cache").copied().unwrap_or(0));
        m.insert("usage".into(), e("memory."));
        m.insert("swap".into(), e("memory.memsw."));
        m.insert("kernel".into(), e("memory.kmem."));
        m.insert("kernelTCP".into(), e("memory.kmem.tcp."));
        m.insert("raw".into(), json!(raw));
    } else if let Some(d) = cg.v2_dir() {
        let raw = read_flat(d, "memory.stat");
        let events = read_flat(d, "memory.events");
        put(&mut m, "cache", raw.get("file").copied().unwrap_or(0));
        m.insert(
            "usage".into(),
            entry(
                read_u64(d, "memory.max").unwrap_or(0),
                read_u64(d, "memory.current").unwrap_or(0),
                read_u64(d, "memory.peak").unwrap_or(0),
                events.get("max").copied().unwrap_or(0),
            ),
        );
        m.insert(
            "swap".into(),
            entry(
                read_u64(d, "memory.swap.max").unwrap_or(0),
                read_u64(d, "memory.swap.current").unwrap_or(0),
                0,
                0,
            ),
        );
        // No kernel memory accounting of its own on cgroup2.
        m.insert("kernel".into(), entry(0, 0, 0, 0));
        m.insert("kernelTCP".into(), entry(0, 0, 0, 0));
        if !raw.is_empty() {
            m.insert("raw".into(), json!(raw));
        }
    }
    Value::Object(m)
}

fn pids(cg: &Record) -> Value {
    let mut m = Map::new();
    let d = cg.v1_dir("pids").or(cg.v2_dir());
    if let Some(d) = d {
        put(&mut m, "current", read_u64(d, "pids.current").unwrap_or(0));
        let limit = read_u64(d, "pids.max").unwrap_or(0);
        // "max" is no limit: runc reports 0.
        put(&mut m, "limit", if limit == u64::MAX { 0 } else { limit });
    }
    Value::Object(m)
}

fn blkio(cg: &Record) -> Value {
    let mut m = Map::new();
    if let Some(d) = cg.v1_dir("blkio") {
        for (file, key) in [
            (
                "blkio.throttle.io_service_bytes_recursive",
                "ioServiceBytesRecursive",
            ),
            (
                "blkio.throttle.io_serviced_recursive",
                "ioServicedRecursive",
            ),
        ] {
            let entries: Vec<Value> = read_file(&d.join(file))
                .unwrap_or_default()
                .lines()
                .filter_map(|l| {
                    let mut f = l.split_whitespace();
                    let (dev, op, v) = (f.next()?, f.next()?, f.next()?);
                    let (maj, min) = dev.split_once(':')?;
                    Some(json!({
                        "major": maj.parse::<u64>().ok()?, "minor": min.parse::<u64>().ok()?,
                        "op": op, "value": v.parse::<u64>().ok()?,
                    }))
                })
                .collect();
            if !entries.is_empty() {
                m.insert(key.into(), Value::Array(entries));
            }
        }
    }
    Value::Object(m)
}

fn hugetlb(cg: &Record) -> Value {
    let mut m = Map::new();
    let (dir, v1) = match cg.v1_dir("hugetlb") {
        Some(d) => (Some(d), true),
        None => (cg.v2_dir(), false),
    };
    let Some(d) = dir else {
        return Value::Object(m);
    };
    let Ok(entries) = std::fs::read_dir(d) else {
        return Value::Object(m);
    };
    let suffix = if v1 { ".limit_in_bytes" } else { ".max" };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(size) = name
            .strip_prefix("hugetlb.")
            .and_then(|n| n.strip_suffix(suffix))
            .filter(|s| !s.contains('.'))
        else {
            continue;
        };
        let mut h = Map::new();
        if v1 {
            put(
                &mut h,
                "usage",
                read_u64(d, &format!("hugetlb.{size}.usage_in_bytes")).unwrap_or(0),
            );
            put(
                &mut h,
                "max",
                read_u64(d, &format!("hugetlb.{size}.max_usage_in_bytes")).unwrap_or(0),
            );
            h.insert(
                "failcnt".into(),
                read_u64(d, &format!("hugetlb.{size}.failcnt"))
                    .unwrap_or(0)
                    .into(),
            );
        } else {
            put(
                &mut h,
                "usage",
                read_u64(d, &format!("hugetlb.{size}.current")).unwrap_or(0),
            );
            let ev = read_flat(d, &format!("hugetlb.{size}.events"));
            h.insert("failcnt".into(), ev.get("max").copied().unwrap_or(0).into());
        }
        m.insert(size.to_string(), Value::Object(h));
    }
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists() {
        assert_eq!(cpu_list("0-2,5\n"), vec![0, 1, 2, 5]);
        assert_eq!(cpu_list("1"), vec![1]);
        assert!(cpu_list("").is_empty());
    }
}
