//! `linux.namespaces`, `uidMappings`/`gidMappings` and `timeOffsets`:
//! which namespaces the clone creates, which the init joins by path and in
//! what order, and the id maps the parent writes for a new user namespace.
//!
//! The common case (nothing joined by path) creates every namespace in the
//! one clone. Joining by path happens in the init, user namespace first and
//! mount namespace last, and whatever must be new is then unshared so that
//! it is owned by the joined user namespace. A pid namespace joined by path
//! is entered by the parent (setns only changes where its children go).

use std::ffi::CString;
use std::fs::File;
use std::os::fd::OwnedFd;

use oci_spec::runtime::{LinuxIdMapping, LinuxNamespaceType, Spec};

use crate::error::{Error, Result};
use crate::sys;

/// A namespace to enter with setns(2).
#[derive(Debug)]
pub struct Join {
    pub fd: OwnedFd,
    pub nstype: libc::c_int,
    pub path: CString,
}

#[derive(Debug, Default)]
pub struct NamespacePlan {
    /// Namespace flags for clone3.
    pub clone_flags: u64,
    /// Namespaces the init unshares after joining, so that they belong to
    /// the joined user namespace.
    pub unshare_flags: libc::c_int,
    /// Joined by the init, in this order.
    pub joins: Vec<Join>,
    /// Joined by the parent before the clone.
    pub pid_join: Option<Join>,
    pub new_user: bool,
    /// The init switches to uid/gid 0 of the new user namespace once the
    /// parent has written the maps (when 0 is mapped).
    pub become_root: bool,
    pub uid_map: Vec<u8>,
    pub gid_map: Vec<u8>,
    /// A new network namespace (cloned or unshared): the init sets its
    /// `lo` up.
    pub new_net: bool,
    /// A new time namespace is unshared by the init, offsets written, and
    /// entered at execve.
    pub new_time: bool,
    pub time_offsets: Vec<u8>,
}

/// Order in which the init joins namespaces by path.
const JOIN_ORDER: [LinuxNamespaceType; 7] = [
    LinuxNamespaceType::User,
    LinuxNamespaceType::Ipc,
    LinuxNamespaceType::Uts,
    LinuxNamespaceType::Network,
    LinuxNamespaceType::Cgroup,
    LinuxNamespaceType::Time,
    LinuxNamespaceType::Mount,
];

pub fn flag(t: LinuxNamespaceType) -> libc::c_int {
    t as libc::c_int
}

pub fn plan(spec: &Spec) -> Result<NamespacePlan> {
    let linux = spec
        .linux()
        .as_ref()
        .ok_or_else(|| Error::invalid("linux", "missing"))?;
    let namespaces = linux.namespaces().as_deref().unwrap_or_default();
    let mut out = NamespacePlan::default();
    let mut new: libc::c_int = 0;
    let mut joined: Vec<(LinuxNamespaceType, Join)> = Vec::new();
    for (i, ns) in namespaces.iter().enumerate() {
        match ns.path() {
            None => new |= flag(ns.typ()),
            Some(path) => {
                let field = format!("linux.namespaces[{i}].path");
                let file = File::open(path).map_err(|e| Error::path("namespace", path, e))?;
                let cpath = CString::new(path.as_os_str().as_encoded_bytes())
                    .map_err(|_| Error::invalid(field, "contains a NUL byte"))?;
                joined.push((
                    ns.typ(),
                    Join {
                        fd: file.into(),
                        nstype: flag(ns.typ()),
                        path: cpath,
                    },
                ));
            }
        }
    }
    if let Some(pos) = joined
        .iter()
        .position(|(t, _)| *t == LinuxNamespaceType::Pid)
    {
        out.pid_join = Some(joined.remove(pos).1);
    }
    for t in JOIN_ORDER {
        if let Some(pos) = joined.iter().position(|(jt, _)| *jt == t) {
            out.joins.push(joined.remove(pos).1);
        }
    }
    let time = flag(LinuxNamespaceType::Time);
    let pid = flag(LinuxNamespaceType::Pid);
    let user = flag(LinuxNamespaceType::User);
    out.new_time = new & time != 0;
    let new = new & !time;
    if out.joins.is_empty() {
        out.clone_flags = new as u32 as u64;
    } else {
        let user_outside_clone = new & user != 0 || out.joins.iter().any(|j| j.nstype == user);
        if new & pid != 0 && user_outside_clone {
            return Err(Error::Unsupported(
                "a new pid namespace together with a user namespace while joining other namespaces by path".into(),
            ));
        }
        out.clone_flags = (new & pid) as u32 as u64;
        out.unshare_flags = new & !pid;
    }
    out.new_user = new & user != 0;
    out.new_net = new & flag(LinuxNamespaceType::Network) != 0;
    if out.new_user {
        out.uid_map = id_map(linux.uid_mappings().as_deref().unwrap_or_default());
        out.gid_map = id_map(linux.gid_mappings().as_deref().unwrap_or_default());
        let maps_root = |m: Option<&Vec<LinuxIdMapping>>| {
            m.into_iter()
                .flatten()
                .any(|m| m.container_id() == 0 && m.size() > 0)
        };
        out.become_root =
            maps_root(linux.uid_mappings().as_ref()) && maps_root(linux.gid_mappings().as_ref());
    }
    if let Some(offsets) = linux.time_offsets() {
        let mut clocks: Vec<_> = offsets.iter().collect();
        clocks.sort_by(|a, b| a.0.cmp(b.0));
        for (clock, off) in clocks {
            out.time_offsets.extend_from_slice(
                format!(
                    "{clock} {} {}\n",
                    off.secs().unwrap_or(0),
                    off.nanosecs().unwrap_or(0)
                )
                .as_bytes(),
            );
        }
    }
    Ok(out)
}

/// The text of a `uid_map`/`gid_map` file.
pub fn id_map(mappings: &[LinuxIdMapping]) -> Vec<u8> {
    let mut s = String::new();
    for m in mappings {
        s.push_str(&format!(
            "{} {} {}\n",
            m.container_id(),
            m.host_id(),
            m.size()
        ));
    }
    s.into_bytes()
}

/// In the parent: writes the id maps of the init's new user namespace.
pub fn write_id_maps(pid: libc::pid_t, plan: &NamespacePlan) -> Result<()> {
    for (file, data, field) in [
        ("uid_map", &plan.uid_map, "linux.uidMappings"),
        ("gid_map", &plan.gid_map, "linux.gidMappings"),
    ] {
        let path = format!("/proc/{pid}/{file}");
        std::fs::write(&path, data).map_err(|e| Error::sys(format!("{field}: write {path}"), e))?;
    }
    Ok(())
}

/// In the parent: enters the pid namespace the container joins, so that
/// the clone lands in it.
pub fn enter_pid_namespace(plan: &NamespacePlan) -> Result<()> {
    if let Some(j) = &plan.pid_join {
        use std::os::fd::AsRawFd;
        sys::setns(j.fd.as_raw_fd(), j.nstype)
            .map_err(|e| Error::sys(format!("join pid namespace {:?}", j.path), e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(ns: serde_json::Value) -> Spec {
        serde_json::from_value(serde_json::json!({
            "ociVersion": "1.2.0",
            "linux": {
                "namespaces": ns,
                "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
                "gidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
                "timeOffsets": {"monotonic": {"secs": 5, "nanosecs": 7}, "boottime": {"secs": -3}}
            }
        }))
        .unwrap()
    }

    #[test]
    fn all_new_namespaces_go_into_the_clone() {
        let p = plan(&spec(serde_json::json!([
            {"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"},
            {"type": "mount"}, {"type": "cgroup"}, {"type": "user"}, {"type": "time"}
        ])))
        .unwrap();
        let expect = libc::CLONE_NEWPID
            | libc::CLONE_NEWNET
            | libc::CLONE_NEWIPC
            | libc::CLONE_NEWUTS
            | libc::CLONE_NEWNS
            | libc::CLONE_NEWCGROUP
            | libc::CLONE_NEWUSER;
        assert_eq!(p.clone_flags, expect as u32 as u64);
        assert_eq!(p.unshare_flags, 0);
        assert!(p.new_time && p.new_user && p.become_root);
        assert_eq!(p.uid_map, b"0 100000 65536\n");
        assert_eq!(p.time_offsets, b"boottime -3 0\nmonotonic 5 7\n");
    }

    #[test]
    fn joined_namespaces_are_ordered_user_first_mount_last() {
        let p = plan(&spec(serde_json::json!([
            {"type": "mount", "path": "/proc/self/ns/mnt"},
            {"type": "network", "path": "/proc/self/ns/net"},
            {"type": "user", "path": "/proc/self/ns/user"},
            {"type": "pid", "path": "/proc/self/ns/pid"},
            {"type": "ipc"}
        ])))
        .unwrap();
        let order: Vec<_> = p.joins.iter().map(|j| j.nstype).collect();
        assert_eq!(
            order,
            vec![libc::CLONE_NEWUSER, libc::CLONE_NEWNET, libc::CLONE_NEWNS]
        );
        assert!(p.pid_join.is_some());
        assert_eq!(p.clone_flags, 0);
        assert_eq!(p.unshare_flags, libc::CLONE_NEWIPC);
    }

    #[test]
    fn missing_namespace_path_names_the_path() {
        let err = plan(&spec(
            serde_json::json!([{"type": "network", "path": "/nonexistent/ns"}]),
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("/nonexistent/ns"), "{err}");
    }
}
