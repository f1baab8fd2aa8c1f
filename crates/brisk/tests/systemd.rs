//! The systemd cgroup driver (`--systemd-cgroup`) against a real systemd:
//! Debian's systemd booted as PID 1 of a container that the brisk under
//! test starts (tests/common/systemd.rs), since this host's PID 1 is not
//! systemd. Inside it, each case runs its containers with runc
//! (`runc --systemd-cgroup`, the reference) and with the brisk under test
//! (`brisk --systemd-cgroup`), and checks what systemd holds (`systemctl
//! show` of the scope), where the processes are (`/proc/PID/cgroup`) and
//! what the cgroup files say; brisk's observations are then compared with
//! runc's, property by property.
//!
//! One systemd per layout of /sys/fs/cgroup and per runtime under test:
//! `v1_*` (systemd in legacy mode, every v1 controller, so every limit is
//! realised) and `v2_*` (systemd unified; on this host the cgroup2
//! hierarchy has only hugetlb, so limits are not realisable there and the
//! v2 cases check scopes, delegation, placement, freeze, kill, delete,
//! slices and properties; the limits are checked in the v1 layout). The
//! `*_runc` tests run runc alone (they pass with the driver or without);
//! the `*_brisk` tests run runc first as the reference, then brisk, in the
//! same systemd. Cases run one after another in their systemd, each with
//! its own containers and units, and each is followed by a check that it
//! left no container, scope unit or cgroup behind; a failing case is
//! reported by name at the end, the others still run.
//!
//! The list, case by case: 1 `scope_and_resources`, 2 `defaults`,
//! 3 `update`, 4 `pause_resume`, 5 `kill`, 6 `delete`, 7 `slice`, 8
//! `ps_and_events`, 9 `annotations`, 10 `connection` (inside systemd) and
//! `on_the_host_without_systemd_the_driver_fails_clearly`; then the review's:
//! 11 `same_scope`, 12 `hidden_processes`, 13 `cgroup_mount`, 14
//! `reused_scope`, 15 `killed_create_same_scope`.
//!
//! `SYSTEMD_IT_VERBOSE=1` prints every observation.

mod common;
#[path = "common/leaks.rs"]
mod leaks;
#[path = "common/systemd.rs"]
mod systemd;

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use common::{Bundle, Env, Out};
use systemd::{Layout, Systemd};

const RUNC: &str = "/usr/sbin/runc";

/// A runtime run in the systemd container with `--systemd-cgroup`.
struct Runtime {
    name: &'static str,
    bin: String,
    /// Its state root in the container (on its /run tmpfs).
    root: String,
    /// The unit prefix of a container without a `cgroupsPath`: the
    /// runtime's own name (runc: `runc-<id>.scope`).
    default_prefix: &'static str,
}

fn runc() -> Runtime {
    Runtime {
        name: "runc",
        bin: RUNC.into(),
        root: "/run/brisk-it-runc".into(),
        default_prefix: "runc",
    }
}

fn brisk() -> Runtime {
    Runtime {
        name: "brisk",
        bin: common::brisk_bin().into(),
        root: "/run/brisk-it-brisk".into(),
        default_prefix: "brisk",
    }
}

/// What a case saw, normalised (the runtime's unit prefix is `$RT`, pids
/// are not in it), by name: compared between runc and brisk.
type Obs = BTreeMap<String, String>;

/// One case run with one runtime in one systemd.
struct Ctx<'a> {
    sd: &'a Systemd,
    rt: &'a Runtime,
}

impl<'a> Ctx<'a> {
    fn layout(&self) -> Layout {
        self.sd.layout
    }

    /// The unit prefix of this runtime's containers: a token found
    /// nowhere else, so that it normalises to `$RT`.
    fn prefix(&self) -> String {
        format!("it-{}", self.rt.name)
    }

    /// `system.slice:<prefix>:<name>`.
    fn path(&self, name: &str) -> String {
        format!("system.slice:{}:{name}", self.prefix())
    }

    /// `<prefix>-<name>.scope`.
    fn unit(&self, name: &str) -> String {
        format!("{}-{name}.scope", self.prefix())
    }

    fn norm(&self, s: &str) -> String {
        s.replace(&self.prefix(), "$RT")
            .replace(&format!("{}-", self.rt.default_prefix), "$DEFAULT-")
    }

    fn record(&self, obs: &mut Obs, key: &str, value: impl AsRef<str>) {
        obs.insert(key.to_string(), self.norm(value.as_ref().trim()));
    }

    /// The runtime with `args` in the systemd container.
    fn rt(&self, args: &[&str]) -> Out {
        let mut full = vec![
            self.rt.bin.as_str(),
            "--systemd-cgroup",
            "--root",
            self.rt.root.as_str(),
        ];
        full.extend_from_slice(args);
        self.sd.exec(&full)
    }

    /// [`Ctx::rt`] that must succeed: its stdout.
    fn rt_ok(&self, args: &[&str]) -> String {
        let out = self.rt(args);
        assert_eq!(
            out.code,
            0,
            "{} {}: exit {}\nstdout: {}\nstderr: {}",
            self.rt.name,
            args.join(" "),
            out.code,
            out.stdout,
            out.stderr
        );
        out.stdout
    }

    /// A busybox bundle running `args` in `cgroups_path` (None: no
    /// `cgroupsPath` at all).
    fn bundle(&self, name: &str, args: &[&str], cgroups_path: Option<&str>) -> Bundle {
        let mut b = self
            .sd
            .bundles
            .bundle(&format!("{}-{name}", self.rt.name), args);
        match cgroups_path {
            Some(p) => b.set("/linux/cgroupsPath", json!(p)),
            None => b.remove("/linux/cgroupsPath"),
        };
        b
    }

    /// `run -d`, which must succeed; the container is deleted (forced)
    /// when the guard drops.
    fn run(&self, b: &Bundle, id: &str) -> Ctr<'_, 'a> {
        let guard = Ctr {
            ctx: self,
            id: id.to_string(),
            deleted: false,
        };
        self.rt_ok(&["run", "-d", "--bundle", b.path(), id]);
        guard
    }

    fn state(&self, id: &str) -> Value {
        let out = self.rt_ok(&["state", id]);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("state {id}: {e}: {out}"))
    }

    /// The init's pid, in the systemd container's pid namespace.
    fn pid(&self, id: &str) -> i64 {
        self.state(id)["pid"].as_i64().expect("a pid in state")
    }

    fn status(&self, id: &str) -> String {
        self.state(id)["status"].as_str().unwrap_or("").to_string()
    }

    fn wait_status(&self, id: &str, want: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let last = self.status(id);
            if last == want {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} {id}: status {last}, never {want}",
                self.rt.name
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `/proc/PID/cgroup` of a process of the systemd container.
    fn proc_cgroup(&self, pid: i64) -> String {
        self.sd.sh_ok(&format!("cat /proc/{pid}/cgroup"))
    }

    /// The path of the hierarchy systemd tracks processes in, in a
    /// `/proc/PID/cgroup` (name=systemd in v1, the unified one in v2).
    fn systemd_cgroup_of(&self, proc_cgroup: &str) -> String {
        let tag = match self.layout() {
            Layout::V1 => ":name=systemd:",
            Layout::V2 => "0::",
        };
        proc_cgroup
            .lines()
            .find_map(|l| l.split_once(tag).map(|(_, p)| p.to_string()))
            .unwrap_or_else(|| panic!("no {tag} line in {proc_cgroup}"))
    }

    /// The host file `file` of `cgroup` in hierarchy `h`, trimmed.
    fn cg_file(&self, h: &str, cgroup: &str, file: &str) -> String {
        let p = self.sd.cgroup_dir(h, cgroup).join(file);
        std::fs::read_to_string(&p)
            .unwrap_or_else(|e| panic!("{}: read {}: {e}", self.rt.name, p.display()))
            .trim()
            .to_string()
    }

    /// The pids (in the systemd container's namespace) of `cgroup`, read
    /// in the container, sorted.
    /// A running container `name` in its own scope (cgroupsPath from
    /// `name`), without a pid namespace of its own, so that a SIGTERM
    /// from a stop of its unit would end it at once: the container, its
    /// unit, its cgroup in systemd's hierarchy, its init's pid.
    fn holder(&self, name: &str) -> (Ctr<'_, 'a>, String, String, i64) {
        let unit = self.unit(name);
        let cgroup = format!("/system.slice/{unit}");
        let mut b = self.bundle(name, &["sleep", "1000"], Some(&self.path(name)));
        let ns = b.config["linux"]["namespaces"].as_array_mut().unwrap();
        ns.retain(|n| n["type"] != "pid");
        b.write();
        let ctr = self.run(&b, name);
        let pid = self.pid(name);
        (ctr, unit, cgroup, pid)
    }

    /// The container `id` another container's failure or delete must
    /// not touch: still running, its unit active, its init alone in its
    /// cgroup.
    fn assert_spared(&self, id: &str, unit: &str, cgroup: &str, pid: i64, what: &str) {
        assert_eq!(self.status(id), "running", "{what}");
        expect(
            &self.sd.show(unit, &["ActiveState"]),
            what,
            "ActiveState",
            "active",
        );
        assert_eq!(self.procs(cgroup), vec![pid], "{what}: its init");
    }

    fn procs(&self, cgroup: &str) -> Vec<i64> {
        let dir = match self.layout() {
            Layout::V1 => format!("/sys/fs/cgroup/systemd{cgroup}"),
            Layout::V2 => format!("/sys/fs/cgroup{cgroup}"),
        };
        let out = self.sd.sh(&format!("cat {dir}/cgroup.procs"));
        if out.code != 0 {
            return Vec::new();
        }
        let mut v: Vec<i64> = out
            .stdout
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect();
        v.sort();
        v
    }

    /// Whether systemd no longer has `unit` running: unknown, or loaded
    /// and inactive (or failed).
    fn unit_gone_or_inactive(&self, unit: &str) -> bool {
        let p = self.sd.show(unit, &["LoadState", "ActiveState"]);
        let get = |k: &str| p.get(k).and_then(|v| v.last()).cloned().unwrap_or_default();
        get("LoadState") == "not-found"
            || matches!(get("ActiveState").as_str(), "inactive" | "failed")
    }

    /// Asserts that systemd knows nothing of `unit` any more and that its
    /// cgroup is gone in every hierarchy.
    fn assert_unit_removed(&self, unit: &str, cgroup: &str) {
        common::wait_until(
            &format!("{}: systemd forgets {unit}", self.rt.name),
            Duration::from_secs(10),
            || self.sd.units(unit).is_empty(),
        );
        let status = self
            .sd
            .exec(&["systemctl", "status", "--no-pager", "--", unit]);
        assert_ne!(
            status.code, 0,
            "{}: systemctl status {unit} still finds it: {}",
            self.rt.name, status.stdout
        );
        common::wait_until(
            &format!("{}: the cgroup of {unit} is removed", self.rt.name),
            Duration::from_secs(10),
            || self.sd.cgroup_dirs(cgroup).is_empty(),
        );
    }
}

/// A container of a case, deleted with `--force` unless the case did.
struct Ctr<'c, 'a> {
    ctx: &'c Ctx<'a>,
    id: String,
    deleted: bool,
}

impl Ctr<'_, '_> {
    fn delete(mut self, force: bool) {
        self.deleted = true;
        let mut args = vec!["delete"];
        if force {
            args.push("--force");
        }
        args.push(&self.id);
        self.ctx.rt_ok(&args);
    }
}

impl Drop for Ctr<'_, '_> {
    fn drop(&mut self) {
        if !self.deleted {
            let _ = self.ctx.rt(&["delete", "--force", &self.id]);
        }
    }
}

/// The value of a property in a `systemctl show` map (the last, for a
/// repeated one).
fn get(props: &BTreeMap<String, Vec<String>>, k: &str) -> String {
    props
        .get(k)
        .and_then(|v| v.last())
        .cloned()
        .unwrap_or_default()
}

fn expect(props: &BTreeMap<String, Vec<String>>, what: &str, k: &str, want: &str) {
    assert_eq!(get(props, k), want, "{what}: {k}");
}

/// Says on the real stderr (past libtest's capture, so that it shows when
/// the test passes too), once per test, what this host keeps a case from
/// checking, or a difference from runc that is accepted.
fn loud(line: &str) {
    use std::io::Write;
    static SAID: std::sync::Mutex<std::collections::BTreeSet<String>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    let line = format!("{}: {line}", std::thread::current().name().unwrap_or("?"));
    if SAID.lock().unwrap().insert(line.clone()) {
        let _ = writeln!(std::io::stderr(), "{line}");
    }
}

/// The file of a blkio weight, if this host's block layer has one (CFQ or
/// BFQ; `none`/`mq-deadline` have no weights).
fn blkio_weight_file() -> Option<&'static str> {
    ["blkio.weight", "blkio.bfq.weight"]
        .into_iter()
        .find(|f| Path::new("/sys/fs/cgroup/blkio").join(f).exists())
}

/// Properties that are not the driver's choice: names and ids of the unit,
/// its description, times, counters and what systemd measures.
fn volatile(prop: &str) -> bool {
    const EXACT: [&str; 18] = [
        "Id",
        "Names",
        "Description",
        "InvocationID",
        "ControlGroup",
        "ControlGroupId",
        "MainPID",
        "CPUUsageNSec",
        "MemoryCurrent",
        "MemoryAvailable",
        "TasksCurrent",
        "IPIngressBytes",
        "IPIngressPackets",
        "IPEgressBytes",
        "IPEgressPackets",
        "NRestarts",
        "Result",
        "StatusErrno",
    ];
    EXACT.contains(&prop)
        || prop.contains("Timestamp")
        || prop.starts_with("IORead")
        || prop.starts_with("IOWrite")
        || prop.ends_with("Peak")
        || prop.starts_with("Effective")
}

// ---------------------------------------------------------------- cases

/// Case 1: A container in a scope with every resource: what systemd holds,
/// where the init is, what the cgroup files say.
fn scope_and_resources(c: &Ctx) -> Obs {
    let mut obs = Obs::new();
    let name = "res";
    let unit = c.unit(name);
    let cgroup = format!("/system.slice/{unit}");
    let mut b = c.bundle(name, &["sleep", "1000"], Some(&c.path(name)));
    let device = common::block_device();
    let weight = blkio_weight_file();
    let mut resources = json!({"devices": [{"allow": false, "access": "rwm"}]});
    match c.layout() {
        Layout::V1 => {
            resources["memory"] = json!({"limit": 64 << 20, "swap": 128 << 20});
            resources["pids"] = json!({"limit": 50});
            resources["cpu"] =
                json!({"shares": 512, "quota": 50000, "period": 100000, "cpus": "0"});
            let mut blkio = json!({});
            if let Some((major, minor)) = device {
                blkio["throttleReadBpsDevice"] =
                    json!([{"major": major, "minor": minor, "rate": 1 << 20}]);
            }
            if weight.is_some() {
                blkio["weight"] = json!(300);
            } else {
                loud(
                    "NOT CHECKED HERE: blkio weight: this host's block layer has no weights \
                     (no blkio.weight or blkio.bfq.weight: no CFQ/BFQ scheduler); the blkio \
                     throttle is checked instead",
                );
            }
            resources["blockIO"] = blkio;
        }
        Layout::V2 => {
            loud(
                "NOT CHECKED HERE: limits in the v2 layout: this host's cgroup2 hierarchy \
                 has only hugetlb (memory, cpu, pids, blkio are bound to v1 hierarchies), so \
                 no limit can be realised there; every limit is checked in the v1 layout",
            );
        }
    }
    b.set("/linux/resources", resources);
    let ctr = c.run(&b, name);
    let pid = c.pid(name);
    let what = format!("{} {unit}", c.rt.name);
    // The runtime's connection to systemd (brisk opens it before the
    // clone) never reaches the container: neither the program nor the
    // init while it waits for `start` holds a socket whose peer is
    // systemd's private socket (the init closes it first thing;
    // close-on-exec alone would leave it with the init until its execve).
    let to_systemd = |pid: i64| {
        c.sd.sh_ok(&format!(
            "peers=$(ss -xn | awk '$5 == \"/run/systemd/private\" {{ print $8 }}'); \
             for f in /proc/{pid}/fd/*; do readlink $f; done | sed -n 's/^socket:\\[\\(.*\\)\\]$/\\1/p' | \
             while read i; do for p in $peers; do [ \"$i\" = \"$p\" ] && echo $i; done; done; true"
        ))
    };
    assert_eq!(
        to_systemd(pid).trim(),
        "",
        "{what}: the program holds a connection to systemd"
    );
    let waiting = c.bundle("fdc", &["true"], Some(&c.path("fdc")));
    let created = Ctr {
        ctx: c,
        id: "fdc".into(),
        deleted: false,
    };
    c.rt_ok(&["create", "--bundle", waiting.path(), "fdc"]);
    let init = c.pid("fdc");
    let held = to_systemd(init);
    drop(created);
    assert_eq!(
        held.trim(),
        "",
        "{what}: the init waiting for start holds a connection to systemd"
    );
    let props = c.sd.show(&unit, &[]);
    expect(&props, &what, "Slice", "system.slice");
    expect(&props, &what, "Delegate", "yes");
    expect(&props, &what, "DefaultDependencies", "no");
    expect(&props, &what, "ActiveState", "active");
    expect(&props, &what, "DevicePolicy", "strict");
    let allowed = props.get("DeviceAllow").cloned().unwrap_or_default();
    // runc's default devices: null, zero, full, random, urandom, tty,
    // ptmx, /dev/pts/*, and mknod of any device.
    for rule in [
        "/dev/char/1:3 rwm",
        "/dev/char/1:5 rwm",
        "/dev/char/1:7 rwm",
        "/dev/char/1:8 rwm",
        "/dev/char/1:9 rwm",
        "/dev/char/5:0 rwm",
        "/dev/char/5:2 rwm",
        "char-pts rwm",
    ] {
        assert!(
            allowed.iter().any(|a| a == rule),
            "{what}: DeviceAllow has no {rule:?}: {allowed:?}"
        );
    }
    if c.layout() == Layout::V1 {
        expect(&props, &what, "MemoryLimit", &(64u64 << 20).to_string());
        expect(&props, &what, "TasksMax", "50");
        expect(&props, &what, "CPUShares", "512");
        expect(&props, &what, "CPUQuotaPerSecUSec", "500ms");
        expect(&props, &what, "CPUQuotaPeriodUSec", "100ms");
        expect(&props, &what, "AllowedCPUs", "0");
        if weight.is_some() {
            expect(&props, &what, "BlockIOWeight", "300");
        }
    }
    for (k, v) in &props {
        if !volatile(k) {
            // A repeated property (DeviceAllow=) is a set: its order is
            // the order the runtime listed it in.
            let mut v = v.clone();
            v.sort();
            c.record(&mut obs, &format!("show.{k}"), v.join("\n"));
        }
    }
    // The init is in the scope's cgroup in every hierarchy systemd
    // manages (all of them in v1).
    let proc_cgroup = c.proc_cgroup(pid);
    match c.layout() {
        Layout::V1 => {
            for ctrl in [
                "name=systemd",
                "memory",
                "pids",
                "cpu",
                "cpuacct",
                "cpuset",
                "devices",
                "freezer",
                "blkio",
            ] {
                // `cpu,cpuacct` on hosts that mount them together.
                let line = proc_cgroup
                    .lines()
                    .find(|l| {
                        l.split(':')
                            .nth(1)
                            .is_some_and(|cs| cs.split(',').any(|x| x == ctrl))
                    })
                    .unwrap_or_else(|| panic!("{what}: no {ctrl} line in {proc_cgroup}"));
                assert!(
                    line.ends_with(&format!(":{cgroup}")),
                    "{what}: init not in {cgroup} for {ctrl}: {proc_cgroup}"
                );
            }
        }
        Layout::V2 => {
            assert!(
                proc_cgroup.lines().any(|l| l == format!("0::{cgroup}")),
                "{what}: init not in {cgroup}: {proc_cgroup}"
            );
            let procs = c.cg_file("unified", &cgroup, "cgroup.procs");
            assert!(
                !procs.is_empty(),
                "{what}: no process in the scope's cgroup"
            );
        }
    }
    c.record(&mut obs, "proc.cgroup", &proc_cgroup);
    if c.layout() == Layout::V1 {
        let files = [
            ("memory", "memory.limit_in_bytes", (64u64 << 20).to_string()),
            ("pids", "pids.max", "50".into()),
            ("cpu", "cpu.shares", "512".into()),
            ("cpu", "cpu.cfs_quota_us", "50000".into()),
            ("cpu", "cpu.cfs_period_us", "100000".into()),
            ("cpuset", "cpuset.cpus", "0".into()),
        ];
        for (h, f, want) in files {
            let got = c.cg_file(h, &cgroup, f);
            assert_eq!(got, want, "{what}: {h}/{f}");
            c.record(&mut obs, &format!("file.{f}"), got);
        }
        if c.sd
            .cgroup_dir("memory", &cgroup)
            .join("memory.memsw.limit_in_bytes")
            .exists()
        {
            let got = c.cg_file("memory", &cgroup, "memory.memsw.limit_in_bytes");
            assert_eq!(got, (128u64 << 20).to_string(), "{what}: memory+swap");
            c.record(&mut obs, "file.memory.memsw.limit_in_bytes", got);
        } else {
            loud("NOT CHECKED HERE: swap limit: no swap accounting (memory.memsw.*)");
        }
        if let Some((major, minor)) = device {
            let got = c.cg_file("blkio", &cgroup, "blkio.throttle.read_bps_device");
            assert!(
                got.lines()
                    .any(|l| l == format!("{major}:{minor} {}", 1 << 20)),
                "{what}: blkio.throttle.read_bps_device: {got}"
            );
            c.record(&mut obs, "file.blkio.throttle.read_bps_device", got);
        }
        if let Some(f) = weight {
            let got = c.cg_file("blkio", &cgroup, f);
            assert!(got.contains("300"), "{what}: {f}: {got}");
            c.record(&mut obs, &format!("file.{f}"), got);
        }
        let devices = c.cg_file("devices", &cgroup, "devices.list");
        assert!(
            devices.lines().any(|l| l == "c 1:3 rwm"),
            "{what}: /dev/null not allowed: {devices}"
        );
        assert!(
            !devices.lines().any(|l| l == "a *:* rwm"),
            "{what}: every device allowed: {devices}"
        );
        let mut sorted: Vec<&str> = devices.lines().collect();
        sorted.sort();
        c.record(&mut obs, "file.devices.list", sorted.join("\n"));
    }
    ctr.delete(true);
    c.assert_unit_removed(&unit, &cgroup);
    if c.layout() == Layout::V2 {
        // A limit that the cgroup2 hierarchy cannot take fails the run and
        // leaves nothing (runc writes pids.max after the unit started).
        let lim = "lim";
        let mut b = c.bundle(lim, &["sleep", "1000"], Some(&c.path(lim)));
        b.set("/linux/resources", json!({"pids": {"limit": 50}}));
        let out = c.rt(&["run", "-d", "--bundle", b.path(), lim]);
        let _guard = Ctr {
            ctx: c,
            id: lim.into(),
            deleted: out.code != 0,
        };
        assert_ne!(
            out.code, 0,
            "{}: a pids limit on a cgroup2 hierarchy without pids was taken",
            c.rt.name
        );
        obs.insert("v2.unrealisable-limit".into(), "fails".into());
        c.assert_unit_removed(&c.unit(lim), &format!("/system.slice/{}", c.unit(lim)));
    }
    obs
}

/// Case 2: What an empty or partial `cgroupsPath` gives, and a malformed one.
fn defaults(c: &Ctx) -> Obs {
    let mut obs = Obs::new();
    // No cgroupsPath: `<runtime>-<id>.scope` in system.slice.
    let id = "dflt";
    let unit = format!("{}-{id}.scope", c.rt.default_prefix);
    let b = c.bundle(id, &["sleep", "1000"], None);
    let ctr = c.run(&b, id);
    let what = format!("{} without cgroupsPath", c.rt.name);
    let props = c.sd.show(&unit, &["Slice", "ActiveState", "Delegate"]);
    expect(&props, &what, "ActiveState", "active");
    expect(&props, &what, "Slice", "system.slice");
    expect(&props, &what, "Delegate", "yes");
    let cgroup = format!("/system.slice/{unit}");
    let in_cgroup = c.systemd_cgroup_of(&c.proc_cgroup(c.pid(id)));
    assert_eq!(in_cgroup, cgroup, "{what}");
    c.record(&mut obs, "no-path.cgroup", &in_cgroup);
    ctr.delete(true);
    c.assert_unit_removed(&unit, &cgroup);

    // An empty prefix: runc 1.1.5 names the unit `-<name>.scope` (its rule
    // is prefix + "-" + name, whatever the prefix); brisk's driver gives
    // `<name>.scope` (docs/COMPATIBILITY.md). A known difference: each
    // runtime is held to its own rule.
    let id = "np";
    let unit = match c.rt.name {
        "runc" => format!("-{id}.scope"),
        _ => format!("{id}.scope"),
    };
    let b = c.bundle(id, &["sleep", "1000"], Some(&format!("system.slice::{id}")));
    let ctr = c.run(&b, id);
    let what = format!("{} with an empty prefix", c.rt.name);
    let props = c.sd.show(&unit, &["Slice", "ActiveState"]);
    expect(&props, &what, "ActiveState", "active");
    expect(&props, &what, "Slice", "system.slice");
    let cgroup = format!("/system.slice/{unit}");
    assert_eq!(
        c.systemd_cgroup_of(&c.proc_cgroup(c.pid(id))),
        cgroup,
        "{what}"
    );
    ctr.delete(true);
    c.assert_unit_removed(&unit, &cgroup);

    // An empty slice: system.slice. runc 1.1.5 gets this wrong (the init
    // stays in the root cgroup, the scope is made empty and its delete
    // times out on a unit left "deactivating"), so only brisk is held to
    // it.
    if c.rt.name == "runc" {
        loud(
            "NOT CHECKED for runc: an empty slice (\":prefix:name\"): runc 1.1.5 leaves the \
             init in the root cgroup and its delete times out on a unit it leaves behind",
        );
    } else {
        let id = "ns";
        let unit = c.unit(id);
        let b = c.bundle(
            id,
            &["sleep", "1000"],
            Some(&format!(":{}:{id}", c.prefix())),
        );
        let ctr = c.run(&b, id);
        let what = format!("{} with an empty slice", c.rt.name);
        expect(
            &c.sd.show(&unit, &["Slice"]),
            &what,
            "Slice",
            "system.slice",
        );
        let cgroup = format!("/system.slice/{unit}");
        assert_eq!(
            c.systemd_cgroup_of(&c.proc_cgroup(c.pid(id))),
            cgroup,
            "{what}"
        );
        ctr.delete(true);
        c.assert_unit_removed(&unit, &cgroup);
    }

    // Not slice:prefix:name: an error naming the form; nothing made.
    let id = "bad";
    let scopes_before = c.sd.units("*.scope");
    let b = c.bundle(id, &["sleep", "1000"], Some("a:b"));
    let out = c.rt(&["run", "-d", "--bundle", b.path(), id]);
    let _guard = Ctr {
        ctx: c,
        id: id.into(),
        deleted: out.code != 0,
    };
    assert_ne!(out.code, 0, "{}: cgroupsPath \"a:b\" was taken", c.rt.name);
    assert!(
        out.stderr.contains("slice:prefix:name"),
        "{}: the error does not say the form: {}",
        c.rt.name,
        out.stderr
    );
    assert_eq!(
        c.rt_ok(&["list", "-q"]).trim(),
        "",
        "{}: state left",
        c.rt.name
    );
    assert_eq!(
        c.sd.units("*.scope"),
        scopes_before,
        "{}: a unit was made",
        c.rt.name
    );
    obs.insert("malformed".into(), "fails".into());
    obs
}

/// Case 3: `update`: the unit's properties and the files both change.
fn update(c: &Ctx) -> Obs {
    let mut obs = Obs::new();
    if c.layout() == Layout::V2 {
        loud(
            "NOT CHECKED HERE: update in the v2 layout: no limit is realisable in this \
             host's cgroup2 hierarchy (hugetlb only); update is checked in the v1 layout",
        );
        return obs;
    }
    let name = "upd";
    let unit = c.unit(name);
    let cgroup = format!("/system.slice/{unit}");
    let mut b = c.bundle(name, &["sleep", "1000"], Some(&c.path(name)));
    b.set(
        "/linux/resources",
        json!({"memory": {"limit": 64 << 20}, "pids": {"limit": 50},
               "cpu": {"shares": 512, "quota": 50000, "period": 100000}}),
    );
    let ctr = c.run(&b, name);
    c.rt_ok(&[
        "update",
        "--memory",
        "100000000",
        "--pids-limit",
        "60",
        "--cpu-quota",
        "20000",
        name,
    ]);
    let what = format!("{} {unit} after update", c.rt.name);
    let props = c.sd.show(
        &unit,
        &[
            "MemoryLimit",
            "TasksMax",
            "CPUQuotaPerSecUSec",
            "CPUQuotaPeriodUSec",
            "CPUShares",
        ],
    );
    expect(&props, &what, "MemoryLimit", "100000000");
    expect(&props, &what, "TasksMax", "60");
    expect(&props, &what, "CPUQuotaPerSecUSec", "200ms");
    expect(&props, &what, "CPUQuotaPeriodUSec", "100ms");
    expect(&props, &what, "CPUShares", "512");
    for (k, v) in &props {
        c.record(&mut obs, &format!("show.{k}"), v.join("\n"));
    }
    // The kernel rounds the memory limit down to whole pages.
    let page = 4096u64;
    for (h, f, want) in [
        (
            "memory",
            "memory.limit_in_bytes",
            (100000000 / page * page).to_string(),
        ),
        ("pids", "pids.max", "60".into()),
        ("cpu", "cpu.cfs_quota_us", "20000".into()),
        ("cpu", "cpu.cfs_period_us", "100000".into()),
        ("cpu", "cpu.shares", "512".into()),
    ] {
        let got = c.cg_file(h, &cgroup, f);
        assert_eq!(got, want, "{what}: {h}/{f}");
        c.record(&mut obs, &format!("file.{f}"), got);
    }
    ctr.delete(true);
    obs
}

/// Case 4: pause and resume: the freezer, the state, and processes that stop
/// making progress.
fn pause_resume(c: &Ctx) -> Obs {
    let mut obs = Obs::new();
    let name = "frz";
    let unit = c.unit(name);
    let cgroup = format!("/system.slice/{unit}");
    let b = c.bundle(
        name,
        &[
            "sh",
            "-c",
            "i=0; while :; do i=$((i+1)); echo $i > /tmp/n; usleep 20000; done",
        ],
        Some(&c.path(name)),
    );
    let ctr = c.run(&b, name);
    let pid = c.pid(name);
    let counter = || -> u64 {
        let out = c.sd.sh(&format!("cat /proc/{pid}/root/tmp/n"));
        out.stdout.trim().parse().unwrap_or(0)
    };
    common::wait_until("the program counts", Duration::from_secs(10), || {
        counter() > 0
    });
    let what = format!("{} {unit}", c.rt.name);
    c.rt_ok(&["pause", name]);
    assert_eq!(c.status(name), "paused", "{what}");
    let frozen = match c.layout() {
        Layout::V1 => c.cg_file("freezer", &cgroup, "freezer.state"),
        Layout::V2 => format!(
            "cgroup.freeze={} {}",
            c.cg_file("unified", &cgroup, "cgroup.freeze"),
            c.cg_file("unified", &cgroup, "cgroup.events")
                .lines()
                .find(|l| l.starts_with("frozen "))
                .unwrap_or("")
        ),
    };
    let want = match c.layout() {
        Layout::V1 => "FROZEN",
        Layout::V2 => "cgroup.freeze=1 frozen 1",
    };
    assert_eq!(frozen, want, "{what}: paused");
    c.record(&mut obs, "paused.freezer", &frozen);
    // Frozen: the count does not move over a window of 300 ms (the
    // program counts every 20 ms).
    let before = counter();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(counter(), before, "{what}: the program ran while paused");
    expect(
        &c.sd.show(&unit, &["ActiveState"]),
        &what,
        "ActiveState",
        "active",
    );
    c.rt_ok(&["resume", name]);
    assert_eq!(c.status(name), "running", "{what}");
    let thawed = match c.layout() {
        Layout::V1 => c.cg_file("freezer", &cgroup, "freezer.state"),
        Layout::V2 => c.cg_file("unified", &cgroup, "cgroup.freeze"),
    };
    let want = match c.layout() {
        Layout::V1 => "THAWED",
        Layout::V2 => "0",
    };
    assert_eq!(thawed, want, "{what}: resumed");
    c.record(&mut obs, "resumed.freezer", &thawed);
    common::wait_until(
        &format!("{what}: the program counts again"),
        Duration::from_secs(5),
        || counter() > before,
    );
    ctr.delete(true);
    obs
}

/// Case 5: `kill` of the init, and `kill --all` of a container without a pid
/// namespace: every process goes, and so does the unit's activity.
fn kill(c: &Ctx) -> Obs {
    let mut obs = Obs::new();
    for (name, all) in [("kil", false), ("kall", true)] {
        let unit = c.unit(name);
        let cgroup = format!("/system.slice/{unit}");
        let mut b = c.bundle(
            name,
            &["sh", "-c", "sleep 1000 & sleep 1000 & wait"],
            Some(&c.path(name)),
        );
        if all {
            let ns = b.config["linux"]["namespaces"].as_array_mut().unwrap();
            ns.retain(|n| n["type"] != "pid");
            b.write();
        }
        let ctr = c.run(&b, name);
        let what = format!(
            "{} {unit} ({})",
            c.rt.name,
            if all { "kill --all" } else { "kill" }
        );
        common::wait_until(
            &format!("{what}: three processes in the scope"),
            Duration::from_secs(10),
            || c.procs(&cgroup).len() == 3,
        );
        let procs = c.procs(&cgroup);
        if all {
            c.rt_ok(&["kill", "--all", name, "KILL"]);
        } else {
            c.rt_ok(&["kill", name, "KILL"]);
        }
        c.wait_status(name, "stopped");
        common::wait_until(
            &format!("{what}: every process is gone"),
            Duration::from_secs(10),
            || {
                let alive =
                    c.sd.sh(&format!(
                    "for p in {}; do [ -e /proc/$p ] && ! grep -q '^State:.*Z' /proc/$p/status \
                     && echo $p; done; true",
                    procs.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(" ")
                ));
                alive.stdout.trim().is_empty()
            },
        );
        common::wait_until(
            &format!("{what}: the unit is no longer active"),
            Duration::from_secs(10),
            || c.unit_gone_or_inactive(&unit),
        );
        obs.insert(
            format!("{name}.after"),
            "processes gone, unit not active".into(),
        );
        ctr.delete(false);
        c.assert_unit_removed(&unit, &cgroup);
    }
    obs
}

/// Case 6: `delete` of a stopped container and `delete --force` of a running
/// one: no unit, no cgroup.
fn delete(c: &Ctx) -> Obs {
    let mut obs = Obs::new();
    for (name, force) in [("del", false), ("delf", true)] {
        let unit = c.unit(name);
        let cgroup = format!("/system.slice/{unit}");
        let b = c.bundle(name, &["sleep", "1000"], Some(&c.path(name)));
        let ctr = c.run(&b, name);
        assert!(
            !c.sd.cgroup_dirs(&cgroup).is_empty(),
            "{} {unit}: no cgroup while running",
            c.rt.name
        );
        if !force {
            c.rt_ok(&["kill", name, "KILL"]);
            c.wait_status(name, "stopped");
        }
        ctr.delete(force);
        c.assert_unit_removed(&unit, &cgroup);
        assert!(
            c.sd.units(&format!("{}-*", c.prefix())).is_empty(),
            "{}: units left: {:?}",
            c.rt.name,
            c.sd.units(&format!("{}-*", c.prefix()))
        );
        let state = c.rt(&["state", name]);
        assert_ne!(state.code, 0, "{} {name}: still has a state", c.rt.name);
        obs.insert(
            format!("{name}.after"),
            "no unit, no cgroup, no state".into(),
        );
    }
    obs
}

/// Case 7: Two containers in one custom slice: systemd's path expansion, and
/// deleting one spares the other.
fn slice(c: &Ctx) -> Obs {
    let mut obs = Obs::new();
    let slice = "brisktest-a.slice";
    let parent = "/brisktest.slice/brisktest-a.slice";
    let mut ctrs = Vec::new();
    for name in ["c1", "c2"] {
        let b = c.bundle(
            name,
            &["sleep", "1000"],
            Some(&format!("{slice}:{}:{name}", c.prefix())),
        );
        ctrs.push(c.run(&b, name));
    }
    for name in ["c1", "c2"] {
        let unit = c.unit(name);
        let what = format!("{} {unit}", c.rt.name);
        expect(&c.sd.show(&unit, &["Slice"]), &what, "Slice", slice);
        let got = c.systemd_cgroup_of(&c.proc_cgroup(c.pid(name)));
        assert_eq!(got, format!("{parent}/{unit}"), "{what}");
        c.record(&mut obs, &format!("{name}.cgroup"), &got);
    }
    let c2_pid = c.pid("c2");
    let mut ctrs = ctrs.into_iter();
    ctrs.next().unwrap().delete(true);
    let c1 = c.unit("c1");
    c.assert_unit_removed(&c1, &format!("{parent}/{c1}"));
    let c2 = c.unit("c2");
    let what = format!("{} {c2} after deleting c1", c.rt.name);
    assert_eq!(c.status("c2"), "running", "{what}");
    expect(
        &c.sd.show(&c2, &["ActiveState"]),
        &what,
        "ActiveState",
        "active",
    );
    assert_eq!(
        c.procs(&format!("{parent}/{c2}")),
        vec![c2_pid],
        "{what}: its init"
    );
    ctrs.next().unwrap().delete(true);
    c.assert_unit_removed(&c2, &format!("{parent}/{c2}"));
    obs
}

/// Case 8: `ps` and `events --stats` of a systemd-managed container.
fn ps_and_events(c: &Ctx) -> Obs {
    let mut obs = Obs::new();
    let name = "pse";
    let unit = c.unit(name);
    let cgroup = format!("/system.slice/{unit}");
    let mut b = c.bundle(
        name,
        &["sh", "-c", "sleep 1000 & sleep 1000 & wait"],
        Some(&c.path(name)),
    );
    if c.layout() == Layout::V1 {
        b.set(
            "/linux/resources",
            json!({"memory": {"limit": 64 << 20}, "pids": {"limit": 50}}),
        );
    }
    let ctr = c.run(&b, name);
    let what = format!("{} {unit}", c.rt.name);
    common::wait_until(
        &format!("{what}: three processes"),
        Duration::from_secs(10),
        || c.procs(&cgroup).len() == 3,
    );
    let procs = c.procs(&cgroup);
    let json = c.rt_ok(&["ps", "--format", "json", name]);
    let mut listed: Vec<i64> = serde_json::from_str(&json)
        .unwrap_or_else(|e| panic!("{what}: ps --format json: {e}: {json}"));
    listed.sort();
    assert_eq!(listed, procs, "{what}: ps lists the scope's processes");
    let table = c.rt_ok(&["ps", name]);
    let header = table.lines().next().unwrap_or("");
    assert!(header.contains("PID"), "{what}: ps table: {table}");
    for p in &procs {
        assert!(
            table
                .lines()
                .skip(1)
                .any(|l| l.split_whitespace().nth(1) == Some(&p.to_string())),
            "{what}: ps has no line for {p}: {table}"
        );
    }
    obs.insert("ps".into(), format!("{} processes", listed.len()));
    let out = c.rt_ok(&["events", "--stats", name]);
    let ev: Value = serde_json::from_str(out.trim())
        .unwrap_or_else(|e| panic!("{what}: events --stats: {e}: {out}"));
    assert_eq!(ev["type"], "stats", "{what}: {ev}");
    assert_eq!(ev["id"], name, "{what}: {ev}");
    let data = &ev["data"];
    if c.layout() == Layout::V1 {
        assert_eq!(
            data["memory"]["usage"]["limit"].as_u64(),
            Some(64 << 20),
            "{what}: the memory limit in stats: {data}"
        );
        assert_eq!(data["pids"]["current"].as_u64(), Some(3), "{what}: {data}");
        assert_eq!(data["pids"]["limit"].as_u64(), Some(50), "{what}: {data}");
        assert!(
            data["cpu"]["usage"]["total"].as_u64().unwrap_or(0) > 0,
            "{what}: no cpu usage: {data}"
        );
    }
    let mut keys: Vec<String> = data
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    keys.sort();
    obs.insert("events.data".into(), keys.join(","));
    ctr.delete(true);
    obs
}

/// Case 9: `org.systemd.property.*` annotations: GVariant text values become
/// unit properties.
fn annotations(c: &Ctx) -> Obs {
    let mut obs = Obs::new();
    let name = "ann";
    let unit = c.unit(name);
    let mut b = c.bundle(name, &["sleep", "1000"], Some(&c.path(name)));
    b.set(
        "/annotations",
        json!({"org.systemd.property.TimeoutStopUSec": "uint64 123000000",
               "org.systemd.property.CollectMode": "'inactive-or-failed'"}),
    );
    let ctr = c.run(&b, name);
    let what = format!("{} {unit}", c.rt.name);
    let props = c.sd.show(&unit, &["TimeoutStopUSec", "CollectMode"]);
    expect(&props, &what, "TimeoutStopUSec", "2min 3s");
    expect(&props, &what, "CollectMode", "inactive-or-failed");
    for (k, v) in &props {
        c.record(&mut obs, &format!("show.{k}"), v.join("\n"));
    }
    ctr.delete(true);
    obs
}

/// Case 11: A second container given the `cgroupsPath` of a running one
/// (the same scope unit): its create fails, and the running container,
/// its unit and its processes are untouched (runc 1.1.5's second run
/// succeeds: only brisk is held to this). The first container
/// has no pid namespace, so that a SIGTERM from a stop of its unit would
/// end it at once.
fn same_scope(c: &Ctx) -> Obs {
    let mut obs = Obs::new();
    let (first, unit, cgroup, pid) = c.holder("one");
    let b2 = c.bundle("two", &["sleep", "1000"], Some(&c.path("one")));
    let second = c.rt(&["run", "-d", "--bundle", b2.path(), "two"]);
    let what = format!("{} {unit} after a second container asked for it", c.rt.name);
    obs.insert("second".into(), "refused".into());
    obs.insert("first.after".into(), "running, unit active".into());
    if second.code == 0 && c.rt.name == "runc" {
        loud(&format!(
            "NOT CHECKED for runc ({}): a second container given a running one's cgroupsPath: \
             runc 1.1.5's second run succeeds",
            c.layout().name()
        ));
        let _ = c.rt(&["delete", "--force", "two"]);
        drop(first);
        c.assert_unit_removed(&unit, &cgroup);
        return obs;
    }
    assert_ne!(second.code, 0, "{what}: the second run succeeded");
    let _ = c.rt(&["delete", "--force", "two"]);
    // A stop of the unit would have sent SIGTERM by now; give it a moment.
    std::thread::sleep(Duration::from_millis(300));
    c.assert_spared("one", &unit, &cgroup, pid, &what);
    first.delete(true);
    c.assert_unit_removed(&unit, &cgroup);
    obs
}

/// Case 12: A hostile container with its scope delegated (Delegate=yes),
/// no pid namespace of its own, a cgroup namespace and a writable cgroup
/// mount: it hides a process that ignores SIGTERM in a cgroup 30 levels
/// below its scope or more (in every hierarchy it can write). `kill --all KILL`
/// and `delete --force` must still end it, within the command's bound,
/// and leave no unit and no cgroup (runc walks the whole subtree).
fn hidden_processes(c: &Ctx) -> Obs {
    let mut obs = Obs::new();
    // As deep as the container gets (brisk bounds cgroup.max.depth of a
    // cgroup2 scope at 32; v1 hierarchies have no bound), in one line (the
    // bundle script takes one argument per line).
    let deep_rel = "/h".repeat(40);
    let hide = format!(
        "roots=/sys/fs/cgroup; [ -e /sys/fs/cgroup/cgroup.procs ] || \
         roots=$(echo /sys/fs/cgroup/*); for r in $roots; do mkdir -p $r{deep_rel} 2>/dev/null; \
         done; sh -c \"trap '' TERM; for r in $roots; do d=\\$r; while [ -d \\$d/h ]; do \
         d=\\$d/h; done; echo \\$\\$ > \\$d/cgroup.procs 2>/dev/null; done; \
         exec sleep 1001\" & exec sleep 1000"
    );
    for (name, delete) in [("hidk", false), ("hidd", true)] {
        let unit = c.unit(name);
        let cgroup = format!("/system.slice/{unit}");
        let mut b = c.bundle(name, &["sh", "-c", &hide], Some(&c.path(name)));
        let ns = b.config["linux"]["namespaces"].as_array_mut().unwrap();
        ns.retain(|n| n["type"] != "pid");
        b.add_namespace("cgroup", None);
        let mounts = b.config["mounts"].as_array_mut().unwrap();
        mounts.retain(|m| m["destination"] != "/sys/fs/cgroup");
        mounts.push(json!({"destination": "/sys/fs/cgroup", "type": "cgroup",
                           "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "rw"]}));
        b.write();
        let ctr = c.run(&b, name);
        let what = format!(
            "{} {unit} ({})",
            c.rt.name,
            if delete {
                "delete --force"
            } else {
                "kill --all"
            }
        );
        let top = match c.layout() {
            Layout::V1 => format!("/sys/fs/cgroup/systemd{cgroup}"),
            Layout::V2 => format!("/sys/fs/cgroup{cgroup}"),
        };
        // Every pid in the scope's subtree, in systemd's hierarchy.
        let all = || -> Vec<i64> {
            let out = c.sd.sh(&format!(
                "find {top} -name cgroup.procs -exec cat {{}} + 2>/dev/null; true"
            ));
            out.stdout
                .lines()
                .filter_map(|l| l.trim().parse().ok())
                .collect()
        };
        common::wait_until(
            &format!("{what}: a process hidden 30 levels down or more"),
            Duration::from_secs(10),
            || {
                let hidden = c.sd.sh(&format!(
                    "find {top} -mindepth 31 -name cgroup.procs -exec cat {{}} + 2>/dev/null"
                ));
                hidden.stdout.lines().count() == 1 && all().len() == 2
            },
        );
        let procs = all();
        let mut ctr = Some(ctr);
        if delete {
            ctr.take().unwrap().delete(true);
        } else {
            c.rt_ok(&["kill", "--all", name, "KILL"]);
            c.wait_status(name, "stopped");
        }
        common::wait_until(
            &format!("{what}: every process is gone, the hidden one included"),
            Duration::from_secs(10),
            || {
                let alive =
                    c.sd.sh(&format!(
                    "for p in {}; do [ -e /proc/$p ] && ! grep -q '^State:.*Z' /proc/$p/status \
                     && echo $p; done; true",
                    procs.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(" ")
                ));
                alive.stdout.trim().is_empty()
            },
        );
        if let Some(ctr) = ctr {
            ctr.delete(false);
        }
        c.assert_unit_removed(&unit, &cgroup);
        obs.insert(
            format!("{name}.after"),
            "every process gone, no unit, no cgroup".into(),
        );
    }
    obs
}

/// Case 13: The container's `cgroup` mount (the bundle's default, read-only,
/// without a cgroup namespace: its own cgroup bound; and a fresh one in a
/// cgroup namespace) shows the layout systemd runs: cgroup2 in the v2
/// layout, the v1 hierarchies in the v1 one (brisk's with the container's
/// processes in it).
fn cgroup_mount(c: &Ctx) -> Obs {
    let mut obs = Obs::new();
    let procs = match c.layout() {
        Layout::V1 => "/sys/fs/cgroup/pids/cgroup.procs",
        Layout::V2 => "/sys/fs/cgroup/cgroup.procs",
    };
    for (name, cgroupns) in [("mnt", false), ("mntns", true)] {
        let mut b = c.bundle(name, &["sleep", "1000"], Some(&c.path(name)));
        if cgroupns {
            b.add_namespace("cgroup", None);
        }
        let ctr = c.run(&b, name);
        let what = format!("{} {name} (cgroup namespace: {cgroupns})", c.rt.name);
        let out = c.rt(&["exec", name, "cat", procs]);
        assert_eq!(
            out.code, 0,
            "{what}: cat {procs}: {}{}",
            out.stdout, out.stderr
        );
        // runc mounts a fresh cgroup2 without a cgroup namespace too (the
        // whole tree, whose root lists processes outside the container's
        // pid namespace as 0); brisk binds the container's own cgroup.
        let want = if c.rt.name == "brisk" { 2 } else { 1 };
        assert!(
            out.stdout.lines().count() >= want,
            "{what}: {procs} lists {:?}",
            out.stdout
        );
        obs.insert(format!("{name}.procs"), "readable".into());
        ctr.delete(true);
    }
    obs
}

/// Case 14: A stopped container whose scope systemd removed (its init died,
/// the scope emptied) and whose `cgroupsPath` a new container was given
/// since: deleting the old one leaves the new one, its unit and its
/// processes alone (the old one had a pid namespace: nothing of it can be
/// left in the scope).
fn reused_scope(c: &Ctx) -> Obs {
    let mut obs = Obs::new();
    let unit = c.unit("reuse");
    let cgroup = format!("/system.slice/{unit}");
    let b_old = c.bundle("old", &["sleep", "1000"], Some(&c.path("reuse")));
    let old = c.run(&b_old, "old");
    c.rt_ok(&["kill", "old", "KILL"]);
    c.wait_status("old", "stopped");
    common::wait_until(
        &format!("{} {unit}: systemd removes the emptied scope", c.rt.name),
        Duration::from_secs(10),
        || c.sd.units(&unit).is_empty(),
    );
    let b_new = c.bundle("new", &["sleep", "1000"], Some(&c.path("reuse")));
    let new = c.run(&b_new, "new");
    let pid = c.pid("new");
    let what = format!(
        "{} {unit} of the new container after the old one's delete",
        c.rt.name
    );
    obs.insert("new.after".into(), "running, unit active".into());
    let deleted = c.rt(&["delete", "old"]);
    std::mem::forget(old);
    if c.rt.name == "runc"
        && (c.status("new") != "running" || c.sd.prop(&unit, "ActiveState") != "active")
    {
        loud(&format!(
            "NOT CHECKED for runc ({}): the delete of a stopped container whose cgroupsPath a \
             new container was given since: runc 1.1.5 stops the new one's unit",
            c.layout().name()
        ));
        drop(new);
        c.assert_unit_removed(&unit, &cgroup);
        return obs;
    }
    assert_eq!(deleted.code, 0, "{what}: delete old: {}", deleted.stderr);
    c.assert_spared("new", &unit, &cgroup, pid, &what);
    new.delete(true);
    c.assert_unit_removed(&unit, &cgroup);
    obs
}

/// Case 15: A create killed while it waits for systemd (SIGSTOPped here),
/// given the `cgroupsPath` of a running container: `delete --force` of what
/// it left removes its state and leaves the running container, its unit and
/// its processes alone (brisk only; the unit it recorded is not its own).
fn killed_create_same_scope(c: &Ctx) -> Obs {
    let mut obs = Obs::new();
    obs.insert("first.after".into(), "running, unit active".into());
    if c.rt.name == "runc" {
        return obs;
    }
    let (first, unit, cgroup, pid) = c.holder("kone");
    let b2 = c.bundle("ktwo", &["sleep", "1000"], Some(&c.path("kone")));
    let systemd_pid = c.sd.env.state(&c.sd.id)["pid"].as_i64().unwrap() as i32;
    // SAFETY: signals to the systemd container's init, which this test made.
    unsafe { libc::kill(systemd_pid, libc::SIGSTOP) };
    let creating = c.sd.sh(&format!(
        "{} --systemd-cgroup --root {} create --bundle {} ktwo >/dev/null 2>&1 & echo $!",
        c.rt.bin,
        c.rt.root,
        b2.path()
    ));
    std::thread::sleep(Duration::from_millis(700));
    let killed = c.sd.sh(&format!("kill -9 {}", creating.stdout.trim()));
    // SAFETY: as above; it resumes what this test stopped.
    unsafe { libc::kill(systemd_pid, libc::SIGCONT) };
    assert_eq!(killed.code, 0, "kill the create: {}", killed.stderr);
    std::thread::sleep(Duration::from_millis(300));
    let what = format!(
        "{} {unit} after delete --force of a killed create",
        c.rt.name
    );
    let deleted = c.rt(&["delete", "--force", "ktwo"]);
    assert_eq!(deleted.code, 0, "{what}: {}", deleted.stderr);
    std::thread::sleep(Duration::from_millis(300));
    c.assert_spared("kone", &unit, &cgroup, pid, &what);
    first.delete(true);
    c.assert_unit_removed(&unit, &cgroup);
    obs
}

/// Case 10: How the runtime reaches systemd: its private socket with no bus
/// daemon (every case before this one), the system bus when the private
/// socket is hidden, and a clear failure when neither is there.
fn connection(c: &Ctx) -> Obs {
    let mut obs = Obs::new();
    let bus_socket = "/run/dbus/system_bus_socket";
    let have_dbus =
        c.sd.sh("[ -e /lib/systemd/system/dbus.service ] && [ -x /usr/bin/dbus-daemon ]")
            .code
            == 0;
    // No bus daemon: the cases before ran over /run/systemd/private. (A
    // stopped dbus.socket leaves its socket file; nothing listens on it.)
    let bus_down = || {
        c.sd.exec(&["systemctl", "is-active", "--quiet", "dbus.socket"])
            .code
            != 0
            && c.sd
                .exec(&["systemctl", "is-active", "--quiet", "dbus.service"])
                .code
                != 0
    };
    c.sd.exec(&["systemctl", "stop", "dbus.socket", "dbus.service"]);
    common::wait_until("no system bus", Duration::from_secs(10), bus_down);
    // The runtime in a mount namespace where the private socket is
    // /dev/null: it can reach systemd only through the bus.
    let hidden = |id: &str, b: &Bundle| -> Out {
        c.sd.exec(&[
            "unshare",
            "-m",
            "sh",
            "-c",
            "mount --bind /dev/null /run/systemd/private && exec \"$0\" \"$@\"",
            c.rt.bin.as_str(),
            "--systemd-cgroup",
            "--root",
            c.rt.root.as_str(),
            "run",
            "-d",
            "--bundle",
            b.path(),
            id,
        ])
    };
    let name = "nobus";
    let b = c.bundle(name, &["sleep", "1000"], Some(&c.path(name)));
    let out = hidden(name, &b);
    let _guard = Ctr {
        ctx: c,
        id: name.into(),
        deleted: out.code != 0,
    };
    let what = format!("{} with neither the private socket nor a bus", c.rt.name);
    assert_ne!(out.code, 0, "{what}: ran");
    eprintln!("{what}: {}", out.stderr.trim());
    assert_eq!(c.rt_ok(&["list", "-q"]).trim(), "", "{what}: state left");
    assert!(c.sd.units(&c.unit(name)).is_empty(), "{what}: unit left");
    obs.insert("neither".into(), "fails, nothing left".into());
    if c.rt.name == "brisk" {
        // The error names both attempts.
        for needle in ["/run/systemd/private", bus_socket] {
            assert!(
                out.stderr.contains(needle),
                "{what}: no {needle:?} in: {}",
                out.stderr
            );
        }
    }
    if !have_dbus {
        loud(
            "NOT CHECKED HERE: the system bus: no dbus.service or dbus-daemon \
             (scripts/deps.sh installs dbus)",
        );
        return obs;
    }
    c.sd.sh_ok("systemctl start dbus.socket dbus.service");
    common::wait_until("the system bus", Duration::from_secs(10), || {
        c.sd.exec(&["systemctl", "is-active", "--quiet", "dbus.service"])
            .code
            == 0
    });
    for (name, via_bus) in [("bus", true), ("both", false)] {
        let unit = c.unit(name);
        let mut b = c.bundle(name, &["sleep", "1000"], Some(&c.path(name)));
        b.set(
            "/annotations",
            json!({"org.systemd.property.TimeoutStopUSec": "uint64 123000000"}),
        );
        let out = if via_bus {
            hidden(name, &b)
        } else {
            c.rt(&["run", "-d", "--bundle", b.path(), name])
        };
        let ctr = Ctr {
            ctx: c,
            id: name.into(),
            deleted: false,
        };
        let what = format!(
            "{} {}",
            c.rt.name,
            if via_bus {
                "over the system bus"
            } else {
                "with the private socket and the bus"
            }
        );
        assert_eq!(out.code, 0, "{what}: {}", out.stderr);
        let props =
            c.sd.show(&unit, &["ActiveState", "Delegate", "TimeoutStopUSec"]);
        expect(&props, &what, "ActiveState", "active");
        expect(&props, &what, "Delegate", "yes");
        expect(&props, &what, "TimeoutStopUSec", "2min 3s");
        let cgroup = format!("/system.slice/{unit}");
        assert_eq!(
            c.systemd_cgroup_of(&c.proc_cgroup(c.pid(name))),
            cgroup,
            "{what}"
        );
        obs.insert(format!("{name}.run"), "works".into());
        ctr.delete(true);
        c.assert_unit_removed(&unit, &cgroup);
    }
    c.sd.exec(&["systemctl", "stop", "dbus.socket", "dbus.service"]);
    common::wait_until("the bus stopped", Duration::from_secs(10), bus_down);
    obs
}

// ---------------------------------------------------------------- runner

type CaseFn = fn(&Ctx) -> Obs;

const CASES: [(&str, CaseFn); 15] = [
    ("scope_and_resources", scope_and_resources),
    ("defaults", defaults),
    ("update", update),
    ("pause_resume", pause_resume),
    ("kill", kill),
    ("delete", delete),
    ("slice", slice),
    ("ps_and_events", ps_and_events),
    ("annotations", annotations),
    ("same_scope", same_scope),
    ("hidden_processes", hidden_processes),
    ("cgroup_mount", cgroup_mount),
    ("reused_scope", reused_scope),
    ("killed_create_same_scope", killed_create_same_scope),
    // Last: it starts and stops the bus daemon.
    ("connection", connection),
];

/// The message of a caught panic.
fn panic_text(e: Box<dyn std::any::Any + Send>) -> String {
    e.downcast_ref::<String>()
        .cloned()
        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "panic".into())
}

/// What is there of the runtimes' containers: containers in the
/// runtime's state, scope units but systemd's own, scope cgroups.
fn remains(c: &Ctx) -> Vec<String> {
    let mut out = Vec::new();
    let ids = c.rt(&["list", "-q"]);
    out.extend(
        ids.stdout
            .split_whitespace()
            .map(|id| format!("container {id}")),
    );
    out.extend(
        c.sd.units("*.scope")
            .into_iter()
            .filter(|u| u != "init.scope")
            .map(|u| format!("unit {u}")),
    );
    out.extend(c.sd.scope_dirs().into_iter().map(|d| format!("cgroup {d}")));
    out
}

/// Removes what [`remains`] found, as far as it can: the next case should
/// start clean even after a failure.
fn sweep(c: &Ctx, remains: &[String]) {
    for r in remains {
        if let Some(id) = r.strip_prefix("container ") {
            let _ = c.rt(&["delete", "--force", id]);
        } else if let Some(u) = r.strip_prefix("unit ") {
            c.sd.exec(&["systemctl", "stop", "--", u]);
            c.sd.exec(&["systemctl", "reset-failed", "--", u]);
        }
    }
}

/// Runs one case with one runtime, then checks that it left nothing new:
/// no container in the runtime's state, no scope unit but systemd's own,
/// no scope cgroup. What is left is removed as far as possible, so that
/// the next case starts clean (what could not be removed is not counted
/// against the next case again).
fn run_case(sd: &Systemd, rt: &Runtime, case: &str, f: CaseFn) -> Result<Obs, String> {
    let c = Ctx { sd, rt };
    let before = remains(&c);
    let started = Instant::now();
    let result = catch_unwind(AssertUnwindSafe(|| f(&c))).map_err(panic_text);
    let left: Vec<String> = remains(&c)
        .into_iter()
        .filter(|r| !before.contains(r))
        .collect();
    sweep(&c, &left);
    eprintln!(
        "case {case} ({}, {}): {} in {:.1?}",
        rt.name,
        sd.layout.name(),
        match (&result, left.is_empty()) {
            (Ok(_), true) => "ok".to_string(),
            (Ok(_), false) => format!("left {left:?}"),
            (Err(_), _) => "FAILED".to_string(),
        },
        started.elapsed()
    );
    match result {
        Err(e) if left.is_empty() => Err(e),
        Err(e) => Err(format!("{e}\n(and it left {left:?})")),
        Ok(_) if !left.is_empty() => Err(format!("left behind: {left:?}")),
        Ok(obs) => Ok(obs),
    }
}

/// Differences from runc that are accepted, with the reason: printed
/// when seen, not failures.
const KNOWN: [(&str, &str); 2] = [
    (
        "show.DropInPaths",
        "runc 1.1.5 sets the unit's resource properties a second time after the start \
         (SetUnitProperties, runtime drop-ins in /run/systemd/transient/UNIT.d); brisk sets \
         them once, in StartTransientUnit: the unit holds the same values",
    ),
    (
        "show.NeedDaemonReload",
        "follows from runc's drop-ins (systemd then flags the unit as changed on disk)",
    ),
];

/// Where brisk's observations differ from runc's (the known differences
/// are printed, not returned).
fn differences(case: &str, reference: &Obs, subject: &Obs) -> Vec<String> {
    let keys: std::collections::BTreeSet<&String> =
        reference.keys().chain(subject.keys()).collect();
    let mut out = Vec::new();
    for k in keys {
        let (r, s) = (reference.get(k), subject.get(k));
        if r == s {
            continue;
        }
        if let Some((_, why)) = KNOWN.iter().find(|(key, _)| key == k) {
            loud(&format!("KNOWN DIFFERENCE {case} {k}: {why}"));
            continue;
        }
        out.push(format!(
            "  {k}:\n    runc:  {}\n    brisk: {}",
            r.map_or("(absent)".to_string(), |v| v.replace('\n', " | ")),
            s.map_or("(absent)".to_string(), |v| v.replace('\n', " | "))
        ));
    }
    out
}

/// Boots systemd in `layout` and runs every case with runc and, if
/// `with_brisk`, with brisk, compared with runc's.
fn layout_test(layout: Layout, with_brisk: bool) {
    if !Path::new(RUNC).is_file() {
        return common::skip(&format!(
            "{RUNC} is missing (scripts/deps.sh installs runc)"
        ));
    }
    let started = Instant::now();
    let tag = format!(
        "{}-{}",
        layout.name(),
        if with_brisk { "brisk" } else { "runc" }
    );
    let sd = match Systemd::boot(&tag, layout) {
        Ok(sd) => sd,
        Err(why) => return common::skip(&why),
    };
    let verbose = std::env::var_os("SYSTEMD_IT_VERBOSE").is_some();
    let (runc, brisk) = (runc(), brisk());
    let mut failures = Vec::new();
    for (case, f) in CASES {
        let reference = run_case(&sd, &runc, case, f);
        if verbose {
            eprintln!("{case} runc: {reference:#?}");
        }
        if !with_brisk {
            if let Err(e) = reference {
                failures.push(format!("{case} (runc): {e}"));
            }
            continue;
        }
        let subject = run_case(&sd, &brisk, case, f);
        if verbose {
            eprintln!("{case} brisk: {subject:#?}");
        }
        match (reference, subject) {
            (_, Err(e)) => failures.push(format!("{case} (brisk): {e}")),
            (Err(e), Ok(_)) => failures.push(format!(
                "{case}: brisk passed, but runc (the reference) failed, so nothing was \
                 compared: {e}"
            )),
            (Ok(r), Ok(s)) => {
                let d = differences(case, &r, &s);
                if !d.is_empty() {
                    failures.push(format!(
                        "{case}: brisk differs from runc:\n{}",
                        d.join("\n")
                    ));
                }
            }
        }
    }
    sd.finish();
    eprintln!("{tag}: {:.1?}", started.elapsed());
    assert!(
        failures.is_empty(),
        "{} of {} cases failed ({tag}):\n\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n\n")
    );
}

#[test]
fn v1_runc() {
    layout_test(Layout::V1, false);
}

#[test]
fn v1_brisk() {
    layout_test(Layout::V1, true);
}

#[test]
fn v2_runc() {
    layout_test(Layout::V2, false);
}

#[test]
fn v2_brisk() {
    layout_test(Layout::V2, true);
}

/// Case 10, on the host: no systemd here, so `--systemd-cgroup` (and
/// `--cgroup-manager systemd`) fails, naming what it tried, and leaves no
/// state and no cgroup.
#[test]
fn on_the_host_without_systemd_the_driver_fails_clearly() {
    if Path::new("/run/systemd/system").exists() {
        return common::skip("this host runs systemd: the failure without it cannot be seen");
    }
    let env = Env::new("systemd-host");
    let mut b = env.bundle("b", &["true"]);
    b.set("/linux/cgroupsPath", json!("system.slice:brisk-it-host:h1"));
    for flags in [
        &["--systemd-cgroup"][..],
        &["--cgroup-manager", "systemd"][..],
    ] {
        let mut args = flags.to_vec();
        args.extend(["run", "-d", "--bundle", b.path(), "h1"]);
        let out = common::run_bounded(
            env.cmd_of(Path::new(common::brisk_bin()), &args),
            &env.base,
            systemd::CMD_BOUND,
        );
        let what = flags.join(" ");
        assert_ne!(out.code, 0, "{what}: ran without systemd");
        for needle in [
            "systemd",
            "/run/systemd/private",
            "/run/dbus/system_bus_socket",
        ] {
            assert!(
                out.stderr.contains(needle),
                "{what}: the error does not name {needle:?}: {}",
                out.stderr
            );
        }
        assert_eq!(env.state_dirs(), Vec::<String>::new(), "{what}: state left");
        assert_eq!(
            leaks::cgroup_dirs("/system.slice/brisk-it-host-h1.scope"),
            Vec::<std::path::PathBuf>::new(),
            "{what}: a cgroup was made"
        );
    }
    // runc, for reference, fails the same way.
    if Path::new(RUNC).is_file() {
        let out = common::run_bounded(
            env.cmd_of(
                Path::new(RUNC),
                &["--systemd-cgroup", "run", "-d", "--bundle", b.path(), "h1"],
            ),
            &env.base,
            systemd::CMD_BOUND,
        );
        assert_ne!(out.code, 0, "runc ran without systemd");
        assert!(out.stderr.contains("systemd"), "runc: {}", out.stderr);
    }
    env.assert_clean();
}

/// The start-up cost of the systemd driver, side by side with crun (the
/// anchor) and runc: `RUNTIME --systemd-cgroup run` of a busybox `true`
/// without seccomp, 60 runs each in one hyperfine call inside the booted
/// systemd (the cgroupfs driver is compared by ../shared/bench). Not a
/// test (`#[ignore]`): `scripts/bench-systemd.sh` runs it with the static
/// release binary (`BRISK_SYSTEMD_BENCH_BRISK`) and prints the table
/// docs/PERFORMANCE.md quotes. crun refuses this host's hybrid layout, so
/// every runtime runs in a private mount namespace with the cgroup2 mount
/// unmounted (the pure v1 view crun accepts), and crun talks to the
/// system bus only: dbus.service is started first (brisk and runc use
/// systemd's private socket as root either way).
#[test]
#[ignore]
fn bench_systemd() {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let brisk =
        var("BRISK_SYSTEMD_BENCH_BRISK").expect("BRISK_SYSTEMD_BENCH_BRISK: the brisk to measure");
    let runs: usize = var("BRISK_SYSTEMD_BENCH_RUNS").map_or(60, |v| v.parse().expect("runs"));
    for tool in ["hyperfine", "crun", RUNC] {
        let found = std::process::Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(found, "bench_systemd needs {tool}");
    }
    let sd = match Systemd::boot("bench", Layout::V1) {
        Ok(sd) => sd,
        Err(why) => return common::skip(&why),
    };
    // The binary under test, where the container sees it.
    let bin = sd.bundles.base.join("brisk-release");
    std::fs::copy(&brisk, &bin).expect("copy the brisk to measure");
    let bin = bin.to_string_lossy().into_owned();
    let bundle = |name: &str, cgroups_path: &str| -> String {
        let mut b = sd.bundles.bundle(name, &["true"]);
        let linux = b.config["linux"].as_object_mut().expect("linux");
        linux.remove("seccomp");
        linux.remove("resources");
        linux.insert("cgroupsPath".into(), json!(cgroups_path));
        b.write();
        b.path().to_string()
    };
    let systemd_bundle = bundle("sd", "system.slice:bench:c");
    sd.sh_ok("systemctl start dbus.service");
    let out = sd.bundles.base.join("bench.json");
    let case = |name: &str, cmd: String| format!("-n {name} '{cmd}'");
    let cases = [
        case(
            "crun-systemd",
            format!("crun --systemd-cgroup run --bundle {systemd_bundle} c1"),
        ),
        case(
            "brisk-systemd",
            format!("{bin} --systemd-cgroup run --bundle {systemd_bundle} b1"),
        ),
        case(
            "runc-systemd",
            format!("{RUNC} --systemd-cgroup run --bundle {systemd_bundle} r1"),
        ),
    ];
    let script = format!(
        "umount /sys/fs/cgroup/unified && hyperfine -N --style none --warmup 5 --runs {runs} \
         --export-json {} {}",
        out.display(),
        cases.join(" ")
    );
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let run = sd.exec(&["unshare", "-m", "sh", "-c", &script]);
    assert_eq!(run.code, 0, "hyperfine: {}\n{}", run.stderr, run.stdout);
    let results: Value =
        serde_json::from_slice(&std::fs::read(&out).expect("bench.json")).expect("json");
    let results = results["results"].as_array().expect("results");
    let mean = |name: &str| -> (f64, f64) {
        let r = results
            .iter()
            .find(|r| r["command"] == name)
            .unwrap_or_else(|| panic!("no result for {name}"));
        (
            r["mean"].as_f64().expect("mean") * 1e3,
            r["median"].as_f64().expect("median") * 1e3,
        )
    };
    println!("\n### `--systemd-cgroup run` of busybox `true`, no seccomp, {runs} runs each (systemd 252 in a container, pure v1 view)\n");
    println!("load average before: {}", load.trim());
    println!("| runtime | mean [ms] | median [ms] | mean / crun's |");
    println!("|---|---:|---:|---:|");
    let (crun_mean, _) = mean("crun-systemd");
    for rt in ["crun", "brisk", "runc"] {
        let name = format!("{rt}-systemd");
        let (m, med) = mean(&name);
        println!("| {name} | {m:.2} | {med:.2} | {:.2} |", m / crun_mean);
    }
    drop(sd);
}
