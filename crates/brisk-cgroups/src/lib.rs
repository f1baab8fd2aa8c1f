//! brisk's cgroup drivers behind one interface.
//!
//! - [`path`]: `linux.cgroupsPath` → the container's cgroup path, per
//!   [`Driver`] (cgroupfs; systemd, which fails clearly without systemd).
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
//! config error), then [`Setup::create`], then [`Cgroup::place`].

pub mod cgroup;
pub mod convert;
pub mod delegate;
pub mod devices;
pub mod ebpf;
pub mod error;
pub mod layout;
pub mod path;
pub mod resources;
pub mod stats;
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
}

/// Resolves the path, detects the layout and plans the resources. `None`
/// with [`Driver::Disabled`].
pub fn prepare(
    resources: Option<&LinuxResources>,
    cgroups_path: Option<&Path>,
    id: &str,
    driver: Driver,
) -> Result<Option<Setup>> {
    if driver == Driver::Disabled {
        return Ok(None);
    }
    let path = path::resolve(cgroups_path, id, driver)?;
    let host = Host::detect()?;
    let plan = match resources {
        Some(r) => resources::plan(r, &host)?,
        None => resources::Plan::default(),
    };
    Ok(Some(Setup { host, path, plan }))
}

impl Setup {
    pub fn layout(&self) -> Layout {
        self.host.layout
    }

    /// Whether the init can be born in its cgroup2 cgroup with
    /// `clone3(CLONE_INTO_CGROUP)` and needs no other placement.
    pub fn clone_places_fully(&self) -> bool {
        self.host.layout == Layout::V2
    }

    pub fn create(&self) -> Result<Cgroup> {
        Cgroup::create(&self.host, &self.path, &self.plan)
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
