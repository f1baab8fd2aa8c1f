//! brisk's cgroup drivers behind one interface.
//!
//! - [`path`]: `linux.cgroupsPath` → the container's cgroup path, per
//!   [`Driver`] (cgroupfs; systemd: a scope unit, [`systemd`]).
//! - [`layout`]: v1, cgroup2 or hybrid, found with `statfs`.
//! - [`resources`]: `linux.resources` → validated writes per hierarchy,
//!   with v1 values converted for cgroup2 ([`convert`]), [`devices`].
//! - [`cgroup`]: create, place, apply, freeze, list, signal, remove; the
//!   [`Record`] of what was created goes into the container's state.
//! - [`stats`]: the numbers `events` reports.
//! - [`verify`]: a [`Record`] read back from a container's state is
//!   checked before brisk acts on it.
//!
//! Callers use [`prepare`] (before anything exists: every error here is a
//! config error), then [`Setup::create`], then [`Cgroup::place`]; with the
//! systemd driver [`Setup::create_with`] once the init's pid is known.

pub mod cgroup;
pub mod convert;
pub mod cpulist;
pub mod delegate;
pub mod devices;
pub mod ebpf;
pub mod error;
pub mod layout;
pub mod path;
pub mod resources;
pub mod stats;
pub mod systemd;
pub mod verify;

use std::path::Path;

use oci_spec::runtime::LinuxResources;

pub use cgroup::{Cgroup, Record};
pub use error::{Error, Result};
pub use layout::{Host, Layout};
pub use path::Driver;

/// A container's cgroup, decided but not created yet.
#[derive(Debug)]
pub struct Setup {
    pub host: Host,
    pub path: String,
    pub plan: resources::Plan,
    /// The systemd driver's scope.
    pub scope: Option<systemd::Scope>,
}

/// Resolves the path, detects the layout and plans the resources (and
/// the systemd driver's unit, with the `org.systemd.property.*`
/// `annotations`). `None` with [`Driver::Disabled`].
pub fn prepare<'a>(
    resources: Option<&LinuxResources>,
    cgroups_path: Option<&Path>,
    id: &str,
    driver: Driver,
    annotations: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<Option<Setup>> {
    if driver == Driver::Disabled {
        return Ok(None);
    }
    let unit = match driver {
        Driver::Systemd => {
            let raw = cgroups_path.map(|p| p.to_string_lossy().into_owned());
            Some(systemd::unit::parse(raw.as_deref(), id)?)
        }
        _ => None,
    };
    let path = match &unit {
        Some(u) => u.cgroup.clone(),
        None => path::resolve(cgroups_path, id, driver)?,
    };
    let host = Host::detect()?;
    let plan = match resources {
        Some(r) => resources::plan(r, &host)?,
        None => resources::Plan::default(),
    };
    // Last: planning the scope begins the connection to systemd.
    let scope = unit
        .map(|u| systemd::Scope::plan(u, id, resources, host.layout, annotations))
        .transpose()?;
    Ok(Some(Setup {
        host,
        path,
        plan,
        scope,
    }))
}

impl Setup {
    pub fn layout(&self) -> Layout {
        self.host.layout
    }

    /// Whether the init can be born in its cgroup2 cgroup with
    /// `clone3(CLONE_INTO_CGROUP)` and needs no other placement.
    pub fn clone_places_fully(&self) -> bool {
        self.host.layout == Layout::V2 && self.scope.is_none()
    }

    /// The cgroup, before the init exists (cgroupfs driver; `None` with
    /// the systemd driver, whose scope needs the init's pid:
    /// [`Setup::create_with`]).
    pub fn create(&self) -> Result<Option<Cgroup>> {
        if self.scope.is_some() {
            return Ok(None);
        }
        Cgroup::create(&self.host, &self.path, &self.plan).map(Some)
    }

    /// The systemd driver, once the init is cloned: starts its scope with
    /// `pid` in it, then makes what systemd does not (v1 hierarchies it
    /// does not manage) and writes every limit, as [`Setup::create`]. On
    /// error the unit is stopped again.
    pub fn create_with(&self, pid: i32) -> Result<Cgroup> {
        let Some(scope) = &self.scope else {
            return Cgroup::create(&self.host, &self.path, &self.plan);
        };
        scope.start(pid)?;
        match Cgroup::create(&self.host, &self.path, &self.plan).and_then(|c| {
            // The scope is delegated: the container may nest cgroups below
            // it, bounded as with the cgroupfs driver's delegation (the
            // file is not delegatable), so that brisk's walks see them all.
            cgroup::bound_depth(&c.record)?;
            Ok(c)
        }) {
            Ok(mut c) => {
                c.record.systemd_unit = Some(scope.unit.name.clone());
                // The leaf is this unit's in every hierarchy, whoever made
                // it: one that a container whose scope had the same name
                // left (its delete leaves a scope that is not its own any
                // more alone) goes with this container.
                for d in &c.record.dirs {
                    if !c.record.created.contains(&d.path) {
                        c.record.created.push(d.path.clone());
                    }
                }
                Ok(c)
            }
            Err(e) => {
                systemd::abandon(pid, &scope.unit.name);
                Err(e)
            }
        }
    }

    /// With the systemd driver: the fd of its connection to systemd, open
    /// across the clone; the init must close it first thing.
    pub fn systemd_fd(&self) -> Option<std::os::fd::RawFd> {
        self.scope.as_ref().and_then(|s| s.connection_fd())
    }

    /// The systemd unit, with that driver.
    pub fn systemd_unit(&self) -> Option<&str> {
        self.scope.as_ref().map(|s| s.unit.name.as_str())
    }

    /// For a caller without privilege (rootless): whether it may make this
    /// cgroup and move its init into it in every hierarchy. `Err` names
    /// the first file or directory it may not write (a v1 hierarchy, a
    /// cgroup2 tree not delegated to it). Checked with `faccessat`
    /// (effective ids), nothing is created.
    pub fn check_writable(&self) -> std::result::Result<(), String> {
        let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
        for h in &self.host.v1 {
            writable_dir(&h.mount, &self.path)?;
        }
        if let Some(u) = &self.host.unified {
            writable_dir(u, &self.path)?;
            // cgroup2 moves a process only for a writer of cgroup.procs in
            // the closest common ancestor of its cgroup and the target.
            let mine = own
                .lines()
                .find_map(|l| l.strip_prefix("0::"))
                .unwrap_or("/");
            let common = common_ancestor(mine, &self.path);
            let procs = u.join(common.trim_start_matches('/')).join("cgroup.procs");
            may_write(&procs)?;
        }
        Ok(())
    }

    /// Rootless: no device rules (a user namespace cannot make device
    /// nodes; bound host nodes keep the host's permission checks, and an
    /// unprivileged caller can neither load the cgroup2 program nor write
    /// v1 `devices.*`), as runc does.
    pub fn drop_device_rules(&mut self) {
        self.plan.v1_devices.clear();
        self.plan.v2_devices = None;
    }
}

/// `path` in the hierarchy mounted at `mount` can be made (its deepest
/// existing ancestor is writable) or, if it exists, entered (its
/// `cgroup.procs` is writable).
fn writable_dir(mount: &Path, path: &str) -> std::result::Result<(), String> {
    let target = mount.join(path.trim_start_matches('/'));
    let mut dir = target.as_path();
    while !dir.exists() {
        match dir.parent() {
            Some(p) if p.starts_with(mount) => dir = p,
            _ => return Err(format!("{}: no such cgroup hierarchy", mount.display())),
        }
    }
    if dir == target {
        may_write(&target.join("cgroup.procs"))?;
    } else {
        may_write(dir)?;
    }
    Ok(())
}

fn may_write(path: &Path) -> std::result::Result<(), String> {
    rustix::fs::accessat(
        rustix::fs::CWD,
        path,
        rustix::fs::Access::WRITE_OK,
        rustix::fs::AtFlags::EACCESS,
    )
    .map_err(|e| format!("{}: {}", path.display(), std::io::Error::from(e)))
}

/// The closest common ancestor of two cgroup paths (`/a/b`, `/a/c` →
/// `/a`).
fn common_ancestor(a: &str, b: &str) -> String {
    let common: Vec<&str> = a
        .split('/')
        .filter(|c| !c.is_empty())
        .zip(b.split('/').filter(|c| !c.is_empty()))
        .take_while(|(x, y)| x == y)
        .map(|(x, _)| x)
        .collect();
    format!("/{}", common.join("/"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn common_ancestor_of_cgroup_paths() {
        assert_eq!(super::common_ancestor("/a/b/c", "/a/b/d"), "/a/b");
        assert_eq!(super::common_ancestor("/", "/a"), "/");
        assert_eq!(super::common_ancestor("/a", "/a/x"), "/a");
        assert_eq!(super::common_ancestor("/x", "/y/z"), "/");
    }
}
