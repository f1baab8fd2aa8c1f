//! Which cgroup layout this host has, found with one or two `statfs`
//! calls (no /proc/self/mountinfo parse): cgroup2 at /sys/fs/cgroup (v2),
//! a tmpfs of v1 hierarchies with cgroup2 at /sys/fs/cgroup/unified
//! (hybrid), or v1 hierarchies only.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

pub const ROOT: &str = "/sys/fs/cgroup";
const UNIFIED: &str = "/sys/fs/cgroup/unified";
pub(crate) const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;
pub(crate) const CGROUP_SUPER_MAGIC: i64 = 0x0027_e0eb;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    V1,
    Hybrid,
    V2,
}

/// A v1 hierarchy: its mount point and the controllers it carries
/// (`name=systemd` for a named one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    pub mount: PathBuf,
    pub controllers: Vec<String>,
}

/// The host's hierarchies.
#[derive(Debug, Clone)]
pub struct Host {
    pub layout: Layout,
    /// v1 hierarchies (none on a v2 host).
    pub v1: Vec<Hierarchy>,
    /// The cgroup2 mount (v2 and hybrid).
    pub unified: Option<PathBuf>,
}

fn fs_type(path: impl AsRef<std::path::Path>) -> std::io::Result<i64> {
    Ok(rustix::fs::statfs(path.as_ref())?.f_type as i64)
}

impl Host {
    pub fn detect() -> Result<Host> {
        let t = fs_type(ROOT).map_err(|e| Error::path("cgroup layout", ROOT, e))?;
        if t == CGROUP2_SUPER_MAGIC {
            return Ok(Host {
                layout: Layout::V2,
                v1: Vec::new(),
                unified: Some(PathBuf::from(ROOT)),
            });
        }
        if t == CGROUP_SUPER_MAGIC {
            return Err(Error::Unsupported(format!(
                "{ROOT} is itself a cgroup v1 hierarchy: unknown cgroup layout"
            )));
        }
        let hybrid = fs_type(UNIFIED).is_ok_and(|t| t == CGROUP2_SUPER_MAGIC);
        let mut v1 = Vec::new();
        let entries = std::fs::read_dir(ROOT).map_err(|e| Error::path("cgroup layout", ROOT, e))?;
        for e in entries.flatten() {
            // `cpu` → `cpu,cpuacct` links name the same hierarchy twice.
            if !e.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let name = e.file_name().to_string_lossy().into_owned();
            if name == "unified" {
                continue;
            }
            // Only mounted hierarchies: systemd leaves empty directories
            // in the tmpfs for hierarchies it could not mount (in a
            // container: `cpu,cpuacct` where the host has `cpu` apart).
            if !fs_type(e.path()).is_ok_and(|t| t == CGROUP_SUPER_MAGIC) {
                continue;
            }
            let controllers = if KNOWN.contains(&name.split(',').next().unwrap_or("")) {
                name.split(',').map(String::from).collect()
            } else {
                vec![format!("name={name}")]
            };
            v1.push(Hierarchy {
                mount: e.path(),
                controllers,
            });
        }
        // Names in one directory: byte order is path order, and cheaper.
        v1.sort_by(|a, b| a.mount.as_os_str().cmp(b.mount.as_os_str()));
        Ok(Host {
            layout: if hybrid { Layout::Hybrid } else { Layout::V1 },
            v1,
            unified: hybrid.then(|| PathBuf::from(UNIFIED)),
        })
    }

    /// The v1 hierarchy carrying `controller`.
    pub fn v1_hierarchy(&self, controller: &str) -> Option<&Hierarchy> {
        self.v1
            .iter()
            .find(|h| h.controllers.iter().any(|c| c == controller))
    }

    /// Controllers the cgroup2 root offers (read only when needed).
    pub fn v2_controllers(&self) -> Result<Vec<String>> {
        match &self.unified {
            Some(u) => read_words(&u.join("cgroup.controllers")),
            None => Ok(Vec::new()),
        }
    }
}

/// Controller names of cgroup v1.
const KNOWN: [&str; 14] = [
    "cpu",
    "cpuacct",
    "cpuset",
    "memory",
    "devices",
    "freezer",
    "net_cls",
    "net_prio",
    "blkio",
    "perf_event",
    "hugetlb",
    "pids",
    "rdma",
    "misc",
];

pub fn read_words(path: &Path) -> Result<Vec<String>> {
    let s = std::fs::read_to_string(path).map_err(|e| Error::path("read", path, e))?;
    Ok(s.split_whitespace().map(String::from).collect())
}
