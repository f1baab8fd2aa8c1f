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
}
