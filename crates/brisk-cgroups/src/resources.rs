//! `linux.resources` → the files to write, decided before anything is
//! created: each field goes to its controller's v1 hierarchy when one
//! exists, else to cgroup2 (converted, see `convert.rs`), else it is an
//! error naming the field. Validation of values the kernel would accept
//! silently or reject vaguely happens here too.

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType, LinuxResources};

use crate::convert;
use crate::error::{Error, Result};
use crate::layout::{Host, Layout};

/// Where a write goes: the v1 hierarchy of a controller, or cgroup2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    V1(&'static str),
    V2,
}

/// One value for one file. With several choices, the first whose file
/// exists in the container's cgroup is written (`blkio.weight` or
/// `blkio.bfq.weight`, `io.bfq.weight` or `io.weight`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    pub target: Target,
    pub choices: Vec<(String, String)>,
    /// The config field, for error messages.
    pub field: String,
    /// A kernel that dropped the file (kernel memory limits) is not an
    /// error.
    pub optional: bool,
}

/// Everything to apply to a container's cgroup.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub writes: Vec<Write>,
    /// cgroup2 controllers to enable on the way down to the container.
    pub v2_controllers: Vec<String>,
    /// v1 `devices.allow`/`devices.deny` lines, in order.
    pub v1_devices: Vec<(bool, String)>,
    /// Device rules for the cgroup2 eBPF program.
    pub v2_devices: Option<Vec<crate::devices::Rule>>,
    /// `memory.checkBeforeUpdate`: `update` refuses a memory limit below
    /// the current usage.
    pub memory_limit_check: Option<i64>,
}

const RES: &str = "linux.resources";

struct Ctx<'a> {
    host: &'a Host,
    v2_avail: Option<Vec<String>>,
    plan: Plan,
}

impl Ctx<'_> {
    fn v2_has(&mut self, ctl: &str) -> Result<bool> {
        if self.v2_avail.is_none() {
            self.v2_avail = Some(self.host.v2_controllers()?);
        }
        Ok(self.v2_avail.iter().flatten().any(|c| c == ctl))
    }

    /// Where the v1 controller `v1` (cgroup2 name `v2`) lives.
    fn home(&mut self, v1: &'static str, v2: Option<&str>, field: &str) -> Result<Target> {
        if self.host.v1_hierarchy(v1).is_some() {
            return Ok(Target::V1(v1));
        }
        if let Some(v2) = v2 {
            if self.v2_has(v2)? {
                if !self.plan.v2_controllers.iter().any(|c| c == v2) {
                    self.plan.v2_controllers.push(v2.to_string());
                }
                return Ok(Target::V2);
            }
        }
        Err(Error::invalid(
            field,
            format!("the {v1} controller is not available on this host"),
        ))
    }

    fn push(&mut self, target: &Target, field: String, file: &str, value: String) {
        self.plan.writes.push(Write {
            target: target.clone(),
            choices: vec![(file.to_string(), value)],
            field,
            optional: false,
        });
    }
}

fn f(path: &str) -> String {
    format!("{RES}.{path}")
}

/// Validates `res` and decides every write for this host.
pub fn plan(res: &LinuxResources, host: &Host) -> Result<Plan> {
    let mut cx = Ctx {
        host,
        v2_avail: None,
        plan: Plan::default(),
    };
    memory(&mut cx, res)?;
    cpu(&mut cx, res)?;
    // runc: a pids limit of 0 is not set (nothing written).
    if let Some(p) = res.pids().filter(|p| p.limit() != 0) {
        let t = cx.home("pids", Some("pids"), &f("pids"))?;
        cx.push(
            &t,
            f("pids.limit"),
            "pids.max",
            convert::pids_max(p.limit()),
        );
    }
    block_io(&mut cx, res)?;
    for (i, h) in res.hugepage_limits().iter().flatten().enumerate() {
        let field = f(&format!("hugepageLimits[{i}]"));
        let size = h.page_size();
        let digits = size.trim_end_matches(['K', 'M', 'G', 'B']);
        if digits.is_empty()
            || !digits.bytes().all(|b| b.is_ascii_digit())
            || !(size.ends_with("KB") || size.ends_with("MB") || size.ends_with("GB"))
        {
            return Err(Error::invalid(
                format!("{field}.pageSize"),
                format!("{size:?} is not a page size like \"2MB\""),
            ));
        }
        let t = cx.home("hugetlb", Some("hugetlb"), &field)?;
        let (file, value) = match t {
            Target::V1(_) => (
                format!("hugetlb.{size}.limit_in_bytes"),
                h.limit().to_string(),
            ),
            Target::V2 => (
                format!("hugetlb.{size}.max"),
                convert::memory_value(h.limit()),
            ),
        };
        cx.push(&t, format!("{field}.limit"), &file, value);
    }
    if let Some(n) = res.network() {
        if let Some(id) = n.class_id().filter(|id| *id != 0) {
            let t = cx.home("net_cls", None, &f("network.classID"))?;
            cx.push(&t, f("network.classID"), "net_cls.classid", id.to_string());
        }
        for (i, p) in n.priorities().iter().flatten().enumerate() {
            let field = f(&format!("network.priorities[{i}]"));
            let t = cx.home("net_prio", None, &field)?;
            cx.push(
                &t,
                field,
                "net_prio.ifpriomap",
                format!("{} {}", p.name(), p.priority()),
            );
        }
    }
    if let Some(rdma) = res.rdma() {
        let mut devs: Vec<_> = rdma.iter().collect();
        devs.sort_by(|a, b| a.0.cmp(b.0));
        for (dev, l) in devs {
            let field = f(&format!("rdma.{dev}"));
            if l.hca_handles().is_none() && l.hca_objects().is_none() {
                return Err(Error::invalid(
                    field,
                    "an entry needs hcaHandles or hcaObjects",
                ));
            }
            let t = cx.home("rdma", Some("rdma"), &field)?;
            let mut v = dev.clone();
            if let Some(h) = l.hca_handles() {
                v.push_str(&format!(" hca_handle={h}"));
            }
            if let Some(o) = l.hca_objects() {
                v.push_str(&format!(" hca_object={o}"));
            }
            cx.push(&t, field, "rdma.max", v);
        }
    }
    if let Some(rules) = res.devices() {
        devices(&mut cx, rules)?;
    }
    if let Some(u) = res.unified() {
        unified(&mut cx, u)?;
    }
    Ok(cx.plan)
}

/// runc's reading of the config: a zero limit, swap, reservation or kernel
/// limit is not set (dockerd sends zeros for everything it leaves unset).
fn nonzero(v: Option<i64>) -> Option<i64> {
    v.filter(|v| *v != 0)
}

fn memory(cx: &mut Ctx<'_>, res: &LinuxResources) -> Result<()> {
    let Some(m) = res.memory() else {
        return Ok(());
    };
    let (limit, swap, reservation) = (
        nonzero(m.limit()),
        nonzero(m.swap()),
        nonzero(m.reservation()),
    );
    let (kernel, kernel_tcp) = (nonzero(m.kernel()), nonzero(m.kernel_tcp()));
    if let Some(s) = m.swappiness() {
        if s > 100 {
            return Err(Error::invalid(
                f("memory.swappiness"),
                format!("{s} is not between 0 and 100"),
            ));
        }
    }
    for (name, v) in [
        ("limit", limit),
        ("reservation", reservation),
        ("swap", swap),
    ] {
        if let Some(v) = v {
            if v < -1 {
                return Err(Error::invalid(
                    f(&format!("memory.{name}")),
                    format!("{v} is neither a byte count nor -1 (unlimited)"),
                ));
            }
        }
    }
    if let (Some(l), Some(s)) = (limit, swap) {
        if l > 0 && s > 0 && s < l {
            return Err(Error::invalid(
                f("memory.swap"),
                format!("memory + swap ({s}) must not be below the memory limit ({l})"),
            ));
        }
    }
    let v1_only = kernel.is_some()
        || kernel_tcp.is_some()
        || m.swappiness().is_some()
        || m.disable_oom_killer() == Some(true)
        || m.use_hierarchy().is_some();
    if limit.is_none() && swap.is_none() && reservation.is_none() && !v1_only {
        // Nothing to write: the controller need not even exist.
        return Ok(());
    }
    let t = cx.home("memory", Some("memory"), &f("memory"))?;
    if m.check_before_update() == Some(true) {
        cx.plan.memory_limit_check = limit.filter(|l| *l > 0);
    }
    match t {
        Target::V1(_) => {
            if let Some(l) = limit {
                cx.push(
                    &t,
                    f("memory.limit"),
                    "memory.limit_in_bytes",
                    l.to_string(),
                );
            }
            if let Some(s) = swap {
                cx.push(
                    &t,
                    f("memory.swap"),
                    "memory.memsw.limit_in_bytes",
                    s.to_string(),
                );
            }
            if let Some(r) = reservation {
                cx.push(
                    &t,
                    f("memory.reservation"),
                    "memory.soft_limit_in_bytes",
                    r.to_string(),
                );
            }
            if let Some(k) = kernel {
                cx.push(
                    &t,
                    f("memory.kernel"),
                    "memory.kmem.limit_in_bytes",
                    k.to_string(),
                );
                if let Some(w) = cx.plan.writes.last_mut() {
                    w.optional = true;
                }
            }
            if let Some(k) = kernel_tcp {
                cx.push(
                    &t,
                    f("memory.kernelTCP"),
                    "memory.kmem.tcp.limit_in_bytes",
                    k.to_string(),
                );
            }
            if let Some(s) = m.swappiness() {
                cx.push(
                    &t,
                    f("memory.swappiness"),
                    "memory.swappiness",
                    s.to_string(),
                );
            }
            if m.disable_oom_killer() == Some(true) {
                cx.push(
                    &t,
                    f("memory.disableOOMKiller"),
                    "memory.oom_control",
                    "1".into(),
                );
            }
            if let Some(h) = m.use_hierarchy() {
                cx.push(
                    &t,
                    f("memory.useHierarchy"),
                    "memory.use_hierarchy",
                    (h as u8).to_string(),
                );
            }
        }
        Target::V2 => {
            // kernel, kernelTCP, swappiness, disableOOMKiller and
            // useHierarchy have no cgroup2 file; runc ignores them there.
            if let Some(l) = limit {
                cx.push(
                    &t,
                    f("memory.limit"),
                    "memory.max",
                    convert::memory_value(l),
                );
            }
            if let Some(s) = swap {
                let v = convert::memsw_to_swap_max(s, limit)
                    .map_err(|r| Error::invalid(f("memory.swap"), r))?;
                cx.push(&t, f("memory.swap"), "memory.swap.max", v);
            }
            if let Some(r) = reservation {
                cx.push(
                    &t,
                    f("memory.reservation"),
                    "memory.low",
                    convert::memory_value(r),
                );
            }
        }
    }
    Ok(())
}

fn cpu(cx: &mut Ctx<'_>, res: &LinuxResources) -> Result<()> {
    let Some(c) = res.cpu() else {
        return Ok(());
    };
    // runc: zero shares, quota, period and real-time values are not set.
    let shares = c.shares().filter(|v| *v != 0);
    let quota = c.quota().filter(|v| *v != 0);
    let period = c.period().filter(|v| *v != 0);
    let rt_period = c.realtime_period().filter(|v| *v != 0);
    let rt_runtime = c.realtime_runtime().filter(|v| *v != 0);
    if let (Some(b), Some(q)) = (c.burst(), c.quota()) {
        if q > 0 && b > q as u64 {
            return Err(Error::invalid(
                f("cpu.burst"),
                format!("{b} is larger than the quota ({q})"),
            ));
        }
    }
    if c.burst().is_some_and(|b| b > 0) && c.quota().filter(|q| *q > 0).is_none() {
        return Err(Error::invalid(f("cpu.burst"), "a burst needs a cpu quota"));
    }
    if let Some(p) = period {
        if !(1000..=1_000_000).contains(&p) {
            return Err(Error::invalid(
                f("cpu.period"),
                format!("{p} is not between 1000 and 1000000 microseconds"),
            ));
        }
    }
    let wants_cpu = shares.is_some()
        || quota.is_some()
        || period.is_some()
        || c.burst().is_some()
        || rt_period.is_some()
        || rt_runtime.is_some()
        || c.idle().is_some();
    if wants_cpu {
        let t = cx.home("cpu", Some("cpu"), &f("cpu"))?;
        match t {
            Target::V1(_) => {
                if let Some(p) = period {
                    cx.push(&t, f("cpu.period"), "cpu.cfs_period_us", p.to_string());
                }
                if let Some(q) = quota {
                    cx.push(&t, f("cpu.quota"), "cpu.cfs_quota_us", q.to_string());
                }
                if let Some(b) = c.burst() {
                    cx.push(&t, f("cpu.burst"), "cpu.cfs_burst_us", b.to_string());
                }
                if let Some(s) = shares {
                    cx.push(&t, f("cpu.shares"), "cpu.shares", s.to_string());
                }
                if let Some(p) = rt_period {
                    cx.push(
                        &t,
                        f("cpu.realtimePeriod"),
                        "cpu.rt_period_us",
                        p.to_string(),
                    );
                }
                if let Some(r) = rt_runtime {
                    cx.push(
                        &t,
                        f("cpu.realtimeRuntime"),
                        "cpu.rt_runtime_us",
                        r.to_string(),
                    );
                }
                if let Some(i) = c.idle() {
                    cx.push(&t, f("cpu.idle"), "cpu.idle", i.to_string());
                }
            }
            Target::V2 => {
                if rt_period.is_some() || rt_runtime.is_some() {
                    return Err(Error::invalid(
                        f("cpu.realtimeRuntime"),
                        "real-time scheduling limits do not exist on cgroup v2",
                    ));
                }
                if let Some(s) = shares {
                    let w = convert::cpu_shares_to_weight(s);
                    if w > 0 {
                        cx.push(&t, f("cpu.shares"), "cpu.weight", w.to_string());
                    }
                }
                if quota.is_some() || period.is_some() {
                    cx.push(
                        &t,
                        f("cpu.quota"),
                        "cpu.max",
                        convert::cpu_max(quota, period),
                    );
                }
                if let Some(b) = c.burst() {
                    cx.push(&t, f("cpu.burst"), "cpu.max.burst", b.to_string());
                }
                if let Some(i) = c.idle() {
                    cx.push(&t, f("cpu.idle"), "cpu.idle", i.to_string());
                }
            }
        }
    }
    let cpus = c.cpus().as_deref().filter(|s| !s.is_empty());
    let mems = c.mems().as_deref().filter(|s| !s.is_empty());
    if cpus.is_some() || mems.is_some() {
        let t = cx.home("cpuset", Some("cpuset"), &f("cpu.cpus"))?;
        if let Some(v) = cpus {
            cx.push(&t, f("cpu.cpus"), "cpuset.cpus", v.to_string());
        }
        if let Some(v) = mems {
            cx.push(&t, f("cpu.mems"), "cpuset.mems", v.to_string());
        }
    }
    Ok(())
}

fn block_io(cx: &mut Ctx<'_>, res: &LinuxResources) -> Result<()> {
    let Some(b) = res.block_io() else {
        return Ok(());
    };
    for (i, d) in b.weight_device().iter().flatten().enumerate() {
        if d.weight().is_none() && d.leaf_weight().is_none() {
            return Err(Error::invalid(
                f(&format!("blockIO.weightDevice[{i}]")),
                "an entry needs weight or leafWeight",
            ));
        }
    }
    for (name, w) in [("weight", b.weight()), ("leafWeight", b.leaf_weight())] {
        if let Some(w) = w {
            if w != 0 && !(10..=1000).contains(&w) {
                return Err(Error::invalid(
                    f(&format!("blockIO.{name}")),
                    format!("{w} is not between 10 and 1000"),
                ));
            }
        }
    }
    let throttles = [
        (
            b.throttle_read_bps_device(),
            "throttleReadBpsDevice",
            "read_bps",
            "rbps",
        ),
        (
            b.throttle_write_bps_device(),
            "throttleWriteBpsDevice",
            "write_bps",
            "wbps",
        ),
        (
            b.throttle_read_iops_device(),
            "throttleReadIOPSDevice",
            "read_iops",
            "riops",
        ),
        (
            b.throttle_write_iops_device(),
            "throttleWriteIOPSDevice",
            "write_iops",
            "wiops",
        ),
    ];
    // runc: a zero weight (dockerd's default) is not set, per device too.
    let weight_of = |w: Option<u16>| w.filter(|w| *w != 0);
    let any = weight_of(b.weight()).is_some()
        || weight_of(b.leaf_weight()).is_some()
        || b.weight_device()
            .iter()
            .flatten()
            .any(|d| weight_of(d.weight()).is_some() || weight_of(d.leaf_weight()).is_some())
        || throttles
            .iter()
            .any(|t| t.0.as_ref().is_some_and(|v| !v.is_empty()));
    if !any {
        return Ok(());
    }
    let t = cx.home("blkio", Some("io"), &f("blockIO"))?;
    let weight = |v1: bool, w: u16| -> Vec<(String, String)> {
        if v1 {
            vec![
                ("blkio.weight".into(), w.to_string()),
                ("blkio.bfq.weight".into(), w.to_string()),
            ]
        } else {
            vec![
                ("io.bfq.weight".into(), w.to_string()),
                (
                    "io.weight".into(),
                    convert::blkio_weight_to_io_weight(w.into()).to_string(),
                ),
            ]
        }
    };
    let v1 = matches!(t, Target::V1(_));
    if let Some(w) = weight_of(b.weight()) {
        cx.plan.writes.push(Write {
            target: t.clone(),
            choices: weight(v1, w),
            field: f("blockIO.weight"),
            optional: false,
        });
    }
    if let Some(w) = weight_of(b.leaf_weight()) {
        if v1 {
            cx.push(
                &t,
                f("blockIO.leafWeight"),
                "blkio.leaf_weight",
                w.to_string(),
            );
        }
    }
    for (i, d) in b.weight_device().iter().flatten().enumerate() {
        let field = f(&format!("blockIO.weightDevice[{i}]"));
        let dev = format!("{}:{}", d.major(), d.minor());
        if let Some(w) = weight_of(d.weight()) {
            let choices = weight(v1, w)
                .into_iter()
                .map(|(file, v)| {
                    let file = if file.ends_with("weight") {
                        if v1 {
                            format!("{file}_device")
                        } else {
                            file
                        }
                    } else {
                        file
                    };
                    (file, format!("{dev} {v}"))
                })
                .collect();
            cx.plan.writes.push(Write {
                target: t.clone(),
                choices,
                field: format!("{field}.weight"),
                optional: false,
            });
        }
        if let (Some(w), true) = (weight_of(d.leaf_weight()), v1) {
            cx.push(
                &t,
                format!("{field}.leafWeight"),
                "blkio.leaf_weight_device",
                format!("{dev} {w}"),
            );
        }
    }
    for (list, name, v1_file, v2_key) in throttles {
        for (i, d) in list.iter().flatten().enumerate() {
            let field = f(&format!("blockIO.{name}[{i}]"));
            let dev = format!("{}:{}", d.major(), d.minor());
            if v1 {
                cx.push(
                    &t,
                    field,
                    &format!("blkio.throttle.{v1_file}_device"),
                    format!("{dev} {}", d.rate()),
                );
            } else {
                cx.push(&t, field, "io.max", format!("{dev} {v2_key}={}", d.rate()));
            }
        }
    }
    Ok(())
}

fn devices(cx: &mut Ctx<'_>, rules: &[LinuxDeviceCgroup]) -> Result<()> {
    if rules.is_empty() {
        return Ok(());
    }
    let mut parsed = Vec::with_capacity(rules.len());
    for (i, r) in rules.iter().enumerate() {
        let field = f(&format!("devices[{i}]"));
        parsed.push(crate::devices::Rule::from_spec(r).map_err(|e| Error::invalid(field, e))?);
    }
    parsed.extend(crate::devices::default_allowed());
    if cx.host.v1_hierarchy("devices").is_some() {
        cx.plan.v1_devices = parsed.iter().map(|r| (r.allow, r.v1_line())).collect();
    } else if cx.host.layout != Layout::V1 {
        cx.plan.v2_devices = Some(parsed);
    } else {
        return Err(Error::invalid(
            f("devices"),
            "the devices controller is not available on this host",
        ));
    }
    Ok(())
}

fn unified(cx: &mut Ctx<'_>, u: &std::collections::HashMap<String, String>) -> Result<()> {
    if u.is_empty() {
        return Ok(());
    }
    if cx.host.layout == Layout::V1 {
        return Err(Error::invalid(
            f("unified"),
            "cgroup v2 keys cannot be applied on a cgroup v1 host",
        ));
    }
    let mut keys: Vec<_> = u.iter().collect();
    keys.sort();
    for (key, value) in keys {
        let field = f(&format!("unified.{key}"));
        let Some((ctl, rest)) = key.split_once('.') else {
            return Err(Error::invalid(
                field,
                "not a cgroup v2 file name (controller.file)",
            ));
        };
        if ctl.is_empty() || rest.is_empty() || key.contains('/') || key.contains('\0') {
            return Err(Error::invalid(
                field,
                "not a cgroup v2 file name (controller.file)",
            ));
        }
        if ctl != "cgroup" {
            if !cx.v2_has(ctl)? {
                return Err(Error::invalid(
                    field,
                    format!("the {ctl} controller is not available on cgroup v2 here"),
                ));
            }
            if !cx.plan.v2_controllers.iter().any(|c| c == ctl) {
                cx.plan.v2_controllers.push(ctl.to_string());
            }
        }
        cx.push(&Target::V2, field, key, value.clone());
    }
    Ok(())
}

/// A `LinuxDeviceType` as the letter of a cgroup rule.
pub fn device_letter(t: LinuxDeviceType) -> char {
    match t {
        LinuxDeviceType::A => 'a',
        LinuxDeviceType::B => 'b',
        LinuxDeviceType::C | LinuxDeviceType::U => 'c',
        LinuxDeviceType::P => 'p',
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::Hierarchy;
    use std::path::PathBuf;

    /// A hybrid host like this machine's: v1 controllers, cgroup2 with
    /// only `v2` controllers (a fake root in a temp dir).
    fn host(v1: &[&str], v2: &str, tag: &str) -> Host {
        let dir = std::env::temp_dir().join(format!("brisk-cg-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("cgroup.controllers"), v2).unwrap();
        Host {
            layout: if v1.is_empty() {
                Layout::V2
            } else {
                Layout::Hybrid
            },
            v1: v1
                .iter()
                .map(|c| Hierarchy {
                    mount: PathBuf::from(format!("/sys/fs/cgroup/{c}")),
                    controllers: vec![c.to_string()],
                })
                .collect(),
            unified: Some(dir),
        }
    }

    fn res(json: &str) -> LinuxResources {
        serde_json::from_str(json).unwrap()
    }

    fn files(p: &Plan) -> Vec<(Target, String, String)> {
        p.writes
            .iter()
            .map(|w| {
                (
                    w.target.clone(),
                    w.choices[0].0.clone(),
                    w.choices[0].1.clone(),
                )
            })
            .collect()
    }

    #[test]
    fn v1_memory_and_cpu() {
        let h = host(&["memory", "cpu", "cpuset"], "hugetlb", "v1mem");
        let p = plan(
            &res(r#"{"memory": {"limit": 100, "swap": 200, "swappiness": 10, "disableOOMKiller": true},
                     "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0"}}"#),
            &h,
        )
        .unwrap();
        let f = files(&p);
        let m = Target::V1("memory");
        assert!(f.contains(&(m.clone(), "memory.limit_in_bytes".into(), "100".into())));
        assert!(f.contains(&(
            m.clone(),
            "memory.memsw.limit_in_bytes".into(),
            "200".into()
        )));
        assert!(f.contains(&(m, "memory.oom_control".into(), "1".into())));
        let c = Target::V1("cpu");
        let period = f.iter().position(|w| w.1 == "cpu.cfs_period_us").unwrap();
        let quota = f.iter().position(|w| w.1 == "cpu.cfs_quota_us").unwrap();
        assert!(period < quota, "period is written before quota");
        assert!(f.contains(&(c, "cpu.shares".into(), "512".into())));
        assert!(f.contains(&(Target::V1("cpuset"), "cpuset.cpus".into(), "0".into())));
        assert!(p.v2_controllers.is_empty());
    }

    #[test]
    fn v2_conversions() {
        let h = host(&[], "cpu memory pids io hugetlb", "v2conv");
        let p = plan(
            &res(r#"{"memory": {"limit": 100, "swap": 300, "reservation": 50},
                     "cpu": {"shares": 1024, "quota": 50000, "period": 100000, "burst": 1000},
                     "pids": {"limit": -1},
                     "blockIO": {"weight": 500, "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 42}]},
                     "hugepageLimits": [{"pageSize": "2MB", "limit": -1}]}"#),
            &h,
        )
        .unwrap();
        let f = files(&p);
        let v = |file: &str| f.iter().find(|w| w.1 == file).map(|w| w.2.clone());
        assert_eq!(v("memory.max").as_deref(), Some("100"));
        assert_eq!(v("memory.swap.max").as_deref(), Some("200"));
        assert_eq!(v("memory.low").as_deref(), Some("50"));
        assert_eq!(v("cpu.weight").as_deref(), Some("39"));
        assert_eq!(v("cpu.max").as_deref(), Some("50000 100000"));
        assert_eq!(v("cpu.max.burst").as_deref(), Some("1000"));
        assert_eq!(v("pids.max").as_deref(), Some("max"));
        assert_eq!(v("io.max").as_deref(), Some("8:0 rbps=42"));
        assert_eq!(v("hugetlb.2MB.max").as_deref(), Some("max"));
        // io.bfq.weight takes the v1 value, io.weight the converted one.
        let w = p
            .writes
            .iter()
            .find(|w| w.field.ends_with("blockIO.weight"))
            .unwrap();
        assert_eq!(w.choices[0], ("io.bfq.weight".into(), "500".into()));
        assert_eq!(w.choices[1], ("io.weight".into(), "4950".into()));
        for c in ["memory", "cpu", "pids", "io", "hugetlb"] {
            assert!(p.v2_controllers.iter().any(|x| x == c), "{c} enabled");
        }
    }

    /// dockerd's defaults and the other zero values are "not set" for
    /// runc: nothing is written, and a host without the controller (here:
    /// none but memory) is no error for them. swappiness 0 is a value.
    #[test]
    fn zero_values_are_not_set() {
        let zeros = r#"{"cpu": {"shares": 0, "quota": 0, "period": 0,
                                "realtimePeriod": 0, "realtimeRuntime": 0},
                        "memory": {"limit": 0, "reservation": 0, "swap": 0, "kernel": 0,
                                   "kernelTCP": 0, "disableOOMKiller": false},
                        "pids": {"limit": 0},
                        "network": {"classID": 0},
                        "blockIO": {"weight": 0, "leafWeight": 0,
                                    "weightDevice": [{"major": 8, "minor": 0, "weight": 0}]}}"#;
        for h in [
            host(&["memory", "cpu", "pids", "blkio"], "", "zero-v1"),
            host(&[], "cpu memory pids io", "zero-v2"),
            host(&["memory"], "", "zero-none"),
        ] {
            let p = plan(&res(zeros), &h).unwrap();
            assert_eq!(files(&p), vec![], "{h:?}");
            assert!(p.v2_controllers.is_empty());
        }
        let h = host(&["memory"], "", "zero-swappiness");
        let p = plan(&res(r#"{"memory": {"swappiness": 0}}"#), &h).unwrap();
        assert_eq!(
            files(&p),
            vec![(Target::V1("memory"), "memory.swappiness".into(), "0".into())]
        );
        // A zero swap with a limit is unset swap, not swap below the limit.
        let p = plan(&res(r#"{"memory": {"limit": 100, "swap": 0}}"#), &h).unwrap();
        assert_eq!(
            files(&p),
            vec![(
                Target::V1("memory"),
                "memory.limit_in_bytes".into(),
                "100".into()
            )]
        );
    }

    #[test]
    fn hybrid_hugetlb_goes_to_cgroup2() {
        let h = host(&["memory"], "hugetlb", "hyb");
        let p = plan(
            &res(r#"{"hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}]}"#),
            &h,
        )
        .unwrap();
        assert_eq!(
            files(&p),
            vec![(Target::V2, "hugetlb.2MB.max".into(), "4194304".into())]
        );
        assert_eq!(p.v2_controllers, vec!["hugetlb".to_string()]);
    }

    #[test]
    fn rejected_before_anything_exists() {
        let h = host(&["memory", "cpu", "blkio"], "hugetlb", "bad");
        for (json, field) in [
            (
                r#"{"cpu": {"quota": 20000, "period": 100000, "burst": 50000}}"#,
                "cpu.burst",
            ),
            (
                r#"{"blockIO": {"weightDevice": [{"major": 8, "minor": 0}]}}"#,
                "weightDevice[0]",
            ),
            (r#"{"rdma": {"mlx5_0": {}}}"#, "rdma.mlx5_0"),
            (r#"{"unified": {"rdma.max": "x"}}"#, "unified.rdma.max"),
            (r#"{"unified": {"nodot": "1"}}"#, "unified.nodot"),
            (r#"{"unified": {"hugetlb.../x": "1"}}"#, "unified.hugetlb"),
            (r#"{"memory": {"swappiness": 101}}"#, "memory.swappiness"),
            (r#"{"memory": {"limit": 200, "swap": 100}}"#, "memory.swap"),
            (r#"{"network": {"classID": 1}}"#, "network.classID"),
            (
                r#"{"hugepageLimits": [{"pageSize": "2XB", "limit": 1}]}"#,
                "pageSize",
            ),
            (r#"{"cpu": {"period": 5}}"#, "cpu.period"),
        ] {
            let e = plan(&res(json), &h).expect_err(json).to_string();
            assert!(e.contains(field), "{json}: {e}");
        }
    }

    #[test]
    fn unified_on_v1_is_an_error() {
        let mut h = host(&["memory"], "", "v1uni");
        h.layout = Layout::V1;
        h.unified = None;
        let e = plan(&res(r#"{"unified": {"memory.high": "1"}}"#), &h).unwrap_err();
        assert!(e.to_string().contains("cgroup v1"), "{e}");
    }

    #[test]
    fn v1_devices_in_order_then_defaults() {
        let h = host(&["devices"], "", "dev");
        let p = plan(
            &res(r#"{"devices": [{"allow": false, "access": "rwm"},
                                  {"allow": true, "type": "c", "major": 1, "minor": 11, "access": "rw"}]}"#),
            &h,
        )
        .unwrap();
        assert_eq!(p.v1_devices[0], (false, "a *:* rwm".to_string()));
        assert_eq!(p.v1_devices[1], (true, "c 1:11 rw".to_string()));
        assert!(p.v1_devices.contains(&(true, "c 1:3 rwm".to_string())));
    }
}
