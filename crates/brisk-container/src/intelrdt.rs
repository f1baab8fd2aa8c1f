//! `linux.intelRdt` (config-linux.md, IntelRdt): the container's processes
//! in a resctrl group (Intel RDT, AMD QoS). All in the parent:
//!
//! - `validate` (pure): `closID` a plain directory name or `/`, no newline
//!   in any schema, `memBwSchema` starting with `MB:`.
//! - `plan` (before anything exists): resctrl must be mounted at
//!   `/sys/fs/resctrl` (the spec: otherwise an error), the group is
//!   `closID` or the container's id; with `closID` and no schema the group
//!   must exist already; with `closID`, schemas and an existing group, the
//!   group's schemata must match them.
//! - `Plan::apply` (right after the clone, as the netDevices move): the
//!   group made when missing, the schemata written (`l3CacheSchema`, then
//!   `memBwSchema`, then each `schemata` line), the pid written to `tasks`;
//!   with `enableMonitoring` a `mon_groups/<id>` group too. `exec` adds its
//!   process with `join`.
//! - `cleanup` at delete: the group when brisk named it after the
//!   container (no `closID`), and the monitoring group. A group named by
//!   `closID` is never removed.
//!
//! This host's kernel has no resctrl: the tests check the error; the file
//! work is unit-tested on a plain directory (`apply_in`).

use std::io;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxIntelRdt, Spec};

use crate::error::{Error, Result};

/// Where runc, crun and the kernel's documentation mount resctrl.
pub const ROOT: &str = "/sys/fs/resctrl";
/// RDTGROUP_SUPER_MAGIC (linux/magic.h).
const RDTGROUP_SUPER_MAGIC: i64 = 0x0765_5821;

/// The group, what to write into it, and who owns it.
#[derive(Debug, PartialEq, Eq)]
pub struct Plan {
    /// The CTRL_MON group (`ROOT` itself for `closID` "/").
    group: PathBuf,
    /// Lines for its `schemata` file, in the order the spec gives.
    schemata: Vec<String>,
    /// `mon_groups/<id>` under the group, with `enableMonitoring`.
    mon_group: Option<PathBuf>,
}

fn rdt(spec: &Spec) -> Option<&LinuxIntelRdt> {
    spec.linux().as_ref().and_then(|l| l.intel_rdt().as_ref())
}

/// The checks that need no system.
pub fn validate(spec: &Spec) -> Result<()> {
    let Some(r) = rdt(spec) else {
        return Ok(());
    };
    if let Some(c) = r.clos_id().as_deref() {
        if c != "/" && (c.is_empty() || c == "." || c == ".." || c.contains(['/', '\n', '\0'])) {
            return Err(Error::invalid(
                "linux.intelRdt.closID",
                format!("{c:?} is not a resctrl group name (or \"/\")"),
            ));
        }
    }
    let no_newline = |field: &str, v: &str| {
        if v.contains(['\n', '\0']) {
            return Err(Error::invalid(field, "must not contain a newline"));
        }
        Ok(())
    };
    if let Some(l3) = r.l3_cache_schema().as_deref() {
        no_newline("linux.intelRdt.l3CacheSchema", l3)?;
    }
    if let Some(mb) = r.mem_bw_schema().as_deref() {
        no_newline("linux.intelRdt.memBwSchema", mb)?;
        if !mb.starts_with("MB:") {
            return Err(Error::invalid(
                "linux.intelRdt.memBwSchema",
                format!("{mb:?} does not start with \"MB:\""),
            ));
        }
    }
    for (i, line) in r.schemata().iter().flatten().enumerate() {
        no_newline(&format!("linux.intelRdt.schemata[{i}]"), line)?;
    }
    Ok(())
}

/// Whether resctrl is mounted at `ROOT`.
pub fn mounted() -> bool {
    rustix::fs::statfs(ROOT).is_ok_and(|s| s.f_type as i64 == RDTGROUP_SUPER_MAGIC)
}

/// None without `linux.intelRdt`; an error when resctrl is not mounted or
/// a `closID` group the config relies on is missing or different.
pub fn plan(spec: &Spec, id: &str) -> Result<Option<Plan>> {
    let Some(r) = rdt(spec) else {
        return Ok(None);
    };
    if !mounted() {
        return Err(Error::invalid(
            "linux.intelRdt",
            format!("no resctrl filesystem is mounted at {ROOT}: Intel RDT is not supported or not enabled on this host"),
        ));
    }
    plan_in(Path::new(ROOT), r, id).map(Some)
}

/// `plan` under another resctrl root (the unit tests use a directory).
fn plan_in(root: &Path, r: &LinuxIntelRdt, id: &str) -> Result<Plan> {
    let clos = r.clos_id().as_deref();
    let group = match clos {
        Some("/") => root.to_path_buf(),
        Some(c) => root.join(c),
        None => root.join(id),
    };
    let mut schemata: Vec<String> = Vec::new();
    schemata.extend(r.l3_cache_schema().clone().filter(|s| !s.is_empty()));
    schemata.extend(r.mem_bw_schema().clone().filter(|s| !s.is_empty()));
    schemata.extend(r.schemata().iter().flatten().cloned());
    if let Some(c) = clos {
        if !group.is_dir() {
            if schemata.is_empty() {
                return Err(Error::invalid(
                    "linux.intelRdt.closID",
                    format!("there is no resctrl group {c:?} in {}", root.display()),
                ));
            }
        } else if !schemata.is_empty() {
            let now = std::fs::read_to_string(group.join("schemata"))
                .map_err(|e| Error::path("linux.intelRdt.closID", group.join("schemata"), e))?;
            if let Some(line) = schemata.iter().find(|l| !schema_holds(&now, l)) {
                return Err(Error::invalid(
                    "linux.intelRdt.closID",
                    format!("the existing resctrl group {c:?} has other schemata than {line:?}"),
                ));
            }
        }
    }
    let mon_group =
        (*r.enable_monitoring() == Some(true)).then(|| group.join("mon_groups").join(id));
    Ok(Plan {
        group,
        schemata,
        mon_group,
    })
}

/// Whether the schemata file `now` has what `line` (`L3:0=7f0;1=1f`)
/// asks for: the resource, and each domain's value (hexadecimal masks,
/// decimal for `MB`), whatever the kernel's padding.
fn schema_holds(now: &str, line: &str) -> bool {
    let Some((res, doms)) = line.trim().split_once(':') else {
        return false;
    };
    let radix = if res.trim().starts_with("MB") { 10 } else { 16 };
    let values = |doms: &str| -> Vec<(String, Option<u64>)> {
        doms.split(';')
            .filter_map(|d| d.split_once('='))
            .map(|(k, v)| {
                (
                    k.trim().to_string(),
                    u64::from_str_radix(v.trim(), radix).ok(),
                )
            })
            .collect()
    };
    let want = values(doms);
    now.lines().any(|l| match l.trim().split_once(':') {
        Some((r, d)) if r.trim() == res.trim() => {
            let have = values(d);
            want.iter().all(|w| have.contains(w))
        }
        _ => false,
    })
}

impl Plan {
    /// Makes the group if needed, writes the schemata and `pid`.
    pub fn apply(&self, pid: libc::pid_t) -> Result<()> {
        if !self.group.is_dir() {
            std::fs::create_dir(&self.group).map_err(|e| {
                Error::path("linux.intelRdt: make the resctrl group", &self.group, e)
            })?;
        }
        let schemata = self.group.join("schemata");
        for line in &self.schemata {
            write(&schemata, line)
                .map_err(|e| Error::path("linux.intelRdt: write the schemata", &schemata, e))?;
        }
        self.join(pid)
    }

    /// Adds `pid` to the group (and the monitoring group).
    pub fn join(&self, pid: libc::pid_t) -> Result<()> {
        let tasks = self.group.join("tasks");
        write(&tasks, &pid.to_string())
            .map_err(|e| Error::path("linux.intelRdt: join the resctrl group", &tasks, e))?;
        if let Some(mon) = &self.mon_group {
            if !mon.is_dir() {
                std::fs::create_dir(mon).map_err(|e| {
                    Error::path(
                        "linux.intelRdt.enableMonitoring: make the monitoring group",
                        mon,
                        e,
                    )
                })?;
            }
            let tasks = mon.join("tasks");
            write(&tasks, &pid.to_string()).map_err(|e| {
                Error::path(
                    "linux.intelRdt.enableMonitoring: join the monitoring group",
                    &tasks,
                    e,
                )
            })?;
        }
        Ok(())
    }
}

/// One write of `text` (resctrl takes a line per write; O_TRUNC, as a
/// shell redirection, is harmless there).
fn write(path: &Path, text: &str) -> io::Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)?;
    f.write_all(format!("{text}\n").as_bytes())
}

/// At delete, from the saved config: removes the monitoring group and the
/// group brisk named after the container (no `closID`). A warning when
/// something could not be removed. Free for configs without intelRdt.
pub fn cleanup(raw_config: &[u8], id: &str) -> Option<String> {
    if !raw_config.windows(10).any(|w| w == b"\"intelRdt\"") {
        return None;
    }
    #[derive(serde::Deserialize)]
    struct Raw {
        linux: Option<RawLinux>,
    }
    #[derive(serde::Deserialize)]
    struct RawLinux {
        #[serde(rename = "intelRdt")]
        intel_rdt: Option<LinuxIntelRdt>,
    }
    let r = serde_json::from_slice::<Raw>(raw_config)
        .ok()?
        .linux?
        .intel_rdt?;
    cleanup_in(Path::new(ROOT), &r, id)
}

fn cleanup_in(root: &Path, r: &LinuxIntelRdt, id: &str) -> Option<String> {
    let group = match r.clos_id().as_deref() {
        Some("/") => root.to_path_buf(),
        Some(c) => root.join(c),
        None => root.join(id),
    };
    let mut left = Vec::new();
    let mut rmdir = |d: PathBuf| match std::fs::remove_dir(&d) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => left.push(format!("{}: {e}", d.display())),
    };
    if *r.enable_monitoring() == Some(true) {
        rmdir(group.join("mon_groups").join(id));
    }
    if r.clos_id().is_none() {
        rmdir(group);
    }
    (!left.is_empty()).then(|| format!("linux.intelRdt: not removed: {}", left.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rdt(v: serde_json::Value) -> LinuxIntelRdt {
        serde_json::from_value(v).unwrap()
    }

    fn spec(v: serde_json::Value) -> Spec {
        serde_json::from_value(serde_json::json!({
            "ociVersion": "1.2.0", "root": {"path": "r"}, "linux": {"intelRdt": v}
        }))
        .unwrap()
    }

    #[test]
    fn validation_names_the_field() {
        for (v, field) in [
            (
                serde_json::json!({"closID": "a/b"}),
                "linux.intelRdt.closID",
            ),
            (serde_json::json!({"closID": ".."}), "linux.intelRdt.closID"),
            (
                serde_json::json!({"memBwSchema": "L3:0=1"}),
                "linux.intelRdt.memBwSchema",
            ),
            (
                serde_json::json!({"l3CacheSchema": "L3:0=1\nMB:0=2"}),
                "linux.intelRdt.l3CacheSchema",
            ),
            (
                serde_json::json!({"schemata": ["L3:0=1", "a\nb"]}),
                "linux.intelRdt.schemata[1]",
            ),
        ] {
            let e = validate(&spec(v.clone())).unwrap_err().to_string();
            assert!(e.contains(field), "{v}: {e}");
        }
        assert!(validate(&spec(serde_json::json!({"closID": "/"}))).is_ok());
    }

    #[test]
    fn groups_schemata_and_tasks() {
        let root = std::env::temp_dir().join(format!("brisk-rdt-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        // No closID: a group named after the container, the schemata in
        // the spec's order, the pid in tasks; removed at delete.
        let r = rdt(
            serde_json::json!({"l3CacheSchema": "L3:0=f", "memBwSchema": "MB:0=50",
            "schemata": ["L2:0=3"], "enableMonitoring": true}),
        );
        let p = plan_in(&root, &r, "c1").unwrap();
        assert_eq!(p.schemata, ["L3:0=f", "MB:0=50", "L2:0=3"]);
        // A plain directory: the files the kernel would have.
        std::fs::create_dir_all(root.join("c1/mon_groups")).unwrap();
        for f in ["schemata", "tasks"] {
            std::fs::write(root.join("c1").join(f), "").unwrap();
        }
        std::fs::create_dir_all(root.join("c1/mon_groups/c1")).unwrap();
        std::fs::write(root.join("c1/mon_groups/c1/tasks"), "").unwrap();
        p.apply(42).unwrap();
        // A plain file keeps the last line only; resctrl applies each.
        assert_eq!(
            std::fs::read_to_string(root.join("c1/schemata")).unwrap(),
            "L2:0=3\n"
        );
        assert_eq!(
            std::fs::read_to_string(root.join("c1/tasks")).unwrap(),
            "42\n"
        );
        assert_eq!(
            std::fs::read_to_string(root.join("c1/mon_groups/c1/tasks")).unwrap(),
            "42\n"
        );
        // closID without schemata: the group must exist.
        let e = plan_in(&root, &rdt(serde_json::json!({"closID": "gold"})), "c2")
            .unwrap_err()
            .to_string();
        assert!(e.contains("linux.intelRdt.closID"), "{e}");
        // closID with schemata and an existing group: they must match.
        std::fs::create_dir_all(root.join("gold")).unwrap();
        std::fs::write(
            root.join("gold/schemata"),
            "    L3:0=00f;1=ff\n    MB:0=100;1=100\n",
        )
        .unwrap();
        assert!(plan_in(
            &root,
            &rdt(serde_json::json!({"closID": "gold", "l3CacheSchema": "L3:0=f"})),
            "c3"
        )
        .is_ok());
        let e = plan_in(
            &root,
            &rdt(serde_json::json!({"closID": "gold", "memBwSchema": "MB:0=50"})),
            "c3",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("other schemata"), "{e}");
        // Delete: a closID group stays; the container's own goes.
        std::fs::remove_dir_all(root.join("c1/mon_groups/c1")).unwrap();
        for f in ["schemata", "tasks"] {
            std::fs::remove_file(root.join("c1").join(f)).unwrap();
        }
        std::fs::remove_dir(root.join("c1/mon_groups")).unwrap();
        assert_eq!(cleanup_in(&root, &r, "c1"), None);
        assert!(!root.join("c1").exists());
        assert_eq!(
            cleanup_in(&root, &rdt(serde_json::json!({"closID": "gold"})), "c3"),
            None
        );
        assert!(root.join("gold").exists());
        std::fs::remove_dir_all(&root).unwrap();
    }
}
