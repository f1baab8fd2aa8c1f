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
    /// A pid namespace the init enters itself, after its user namespace,
    /// and then forks into (see [`LatePid`]).
    pub late_pid: Option<LatePid>,
    pub new_user: bool,
    /// The init switches to uid/gid 0 of the new user namespace once the
    /// parent has written the maps (when 0 is mapped).
    pub become_root: bool,
    pub uid_map: Vec<u8>,
    pub gid_map: Vec<u8>,
    /// How the parent writes the maps of a new user namespace.
    pub map_writer: MapWriter,
    /// A new network namespace (cloned or unshared): the init sets its
    /// `lo` up.
    pub new_net: bool,
    /// A new time namespace is unshared by the init, offsets written, and
    /// entered at execve.
    pub new_time: bool,
    pub time_offsets: Vec<u8>,
}

/// A pid namespace that can be neither made by the clone nor joined by the
/// parent: the init enters it once in its user namespace (setns or
/// unshare only change where its children go) and forks; the child (born
/// brisk's, `CLONE_PARENT`) goes on as the container's init.
#[derive(Debug)]
pub enum LatePid {
    /// A new pid namespace together with a user namespace while other
    /// namespaces are joined by path: the clone cannot make it (it would
    /// belong to brisk's user namespace, not the container's, which the
    /// init only enters after the clone).
    New,
    /// A pid namespace joined by path by an unprivileged brisk (`exec`
    /// into a rootless container): setns(2) of a pid namespace needs
    /// CAP_SYS_ADMIN in the caller's own user namespace, which only the
    /// container's user namespace gives it.
    Join(Join),
}

/// Who writes the id maps of a new user namespace. As root, brisk writes
/// any map itself. An unprivileged caller may write only a map of its own
/// effective id (size 1), and a gid map only once `setgroups` is denied
/// in the new namespace; anything else (several ranges, ids from
/// `/etc/subuid`, `/etc/subgid`) goes through the setuid helpers
/// `newuidmap`/`newgidmap` (shadow's, Debian's `uidmap`), as crun does.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct MapWriter {
    /// brisk is not root: the init must be dumpable while the maps are
    /// written (its /proc files are root's otherwise, for brisk and the
    /// helpers alike).
    pub unprivileged: bool,
    pub uid_helper: bool,
    pub gid_helper: bool,
    /// `deny` goes into `/proc/PID/setgroups` before the gid map: the
    /// container cannot call setgroups(2) (`process.user.additionalGids`
    /// cannot be set).
    pub deny_setgroups: bool,
}

impl MapWriter {
    /// For a caller with effective ids `euid`, `egid`.
    pub fn for_caller(
        euid: u32,
        egid: u32,
        uids: &[LinuxIdMapping],
        gids: &[LinuxIdMapping],
    ) -> MapWriter {
        if euid == 0 {
            return MapWriter::default();
        }
        let own = |maps: &[LinuxIdMapping], id: u32| matches!(maps, [m] if m.host_id() == id && m.size() == 1);
        let gid_helper = !own(gids, egid);
        MapWriter {
            unprivileged: true,
            uid_helper: !own(uids, euid),
            gid_helper,
            deny_setgroups: !gid_helper,
        }
    }
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

/// Whether brisk runs in a user namespace other than the host's (its
/// `uid_map` is not the identity of every id), as under rootless podman.
/// Three system calls (open, one read into the stack, close), no
/// allocation: the host's map is one short line, anything longer is not
/// it. An unreadable map counts as the host's.
pub fn in_user_namespace() -> bool {
    use rustix::fs::{Mode, OFlags};
    let Ok(fd) = rustix::fs::open(
        "/proc/self/uid_map",
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    ) else {
        return false;
    };
    let mut buf = [0u8; 128];
    match rustix::io::read(&fd, &mut buf) {
        Ok(n) if n < buf.len() => !is_initial_uid_map(std::str::from_utf8(&buf[..n]).unwrap_or("")),
        Ok(_) => true,
        Err(_) => false,
    }
}

/// `uid_map` text that maps every id to itself: the initial user
/// namespace's. Allocation-free.
pub fn is_initial_uid_map(map: &str) -> bool {
    let mut fields = map.split_whitespace();
    fields.next() == Some("0")
        && fields.next() == Some("0")
        && fields.next() == Some("4294967295")
        && fields.next().is_none()
}

/// Whether brisk is root of the host: effective uid 0 in the initial user
/// namespace, where a container without a user namespace of its own gets
/// real privilege over devices and the host's `/sys`. Rootless mode keeps
/// the safeguards of root (device rules, no fallback for a refused sysfs)
/// when this holds (docs/SECURITY.md, "When brisk is not root").
pub fn host_root() -> bool {
    // SAFETY: geteuid cannot fail.
    let euid = unsafe { libc::geteuid() };
    euid == 0 && !in_user_namespace()
}

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
    let user = flag(LinuxNamespaceType::User);
    let user_involved =
        new & user != 0 || joined.iter().any(|(t, _)| *t == LinuxNamespaceType::User);
    // SAFETY: geteuid cannot fail.
    let unprivileged = unsafe { libc::geteuid() } != 0;
    if let Some(pos) = joined
        .iter()
        .position(|(t, _)| *t == LinuxNamespaceType::Pid)
    {
        let j = joined.remove(pos).1;
        if unprivileged && user_involved {
            out.late_pid = Some(LatePid::Join(j));
        } else {
            out.pid_join = Some(j);
        }
    }
    for t in JOIN_ORDER {
        if let Some(pos) = joined.iter().position(|(jt, _)| *jt == t) {
            out.joins.push(joined.remove(pos).1);
        }
    }
    let time = flag(LinuxNamespaceType::Time);
    let pid = flag(LinuxNamespaceType::Pid);
    out.new_time = new & time != 0;
    let new = new & !time;
    if out.joins.is_empty() {
        out.clone_flags = new as u32 as u64;
    } else {
        // The user namespace is unshared or joined by the init: a new pid
        // namespace made by the clone would not be the container's.
        if new & pid != 0 && user_involved {
            out.late_pid = Some(LatePid::New);
        } else {
            out.clone_flags = (new & pid) as u32 as u64;
        }
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
        // SAFETY: geteuid/getegid cannot fail.
        let (euid, egid) = unsafe { (libc::geteuid(), libc::getegid()) };
        out.map_writer = MapWriter::for_caller(
            euid,
            egid,
            linux.uid_mappings().as_deref().unwrap_or_default(),
            linux.gid_mappings().as_deref().unwrap_or_default(),
        );
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

/// In the parent: writes the id maps of the init's new user namespace,
/// itself or through `newuidmap`/`newgidmap` (see [`MapWriter`]).
pub fn write_id_maps(pid: libc::pid_t, plan: &NamespacePlan) -> Result<()> {
    let w = plan.map_writer;
    for (file, data, field, helper) in [
        ("uid_map", &plan.uid_map, "linux.uidMappings", w.uid_helper),
        ("gid_map", &plan.gid_map, "linux.gidMappings", w.gid_helper),
    ] {
        if helper {
            let tool = if file == "uid_map" {
                "newuidmap"
            } else {
                "newgidmap"
            };
            run_map_helper(tool, pid, data, field)?;
            continue;
        }
        if file == "gid_map" && w.deny_setgroups {
            let path = format!("/proc/{pid}/setgroups");
            std::fs::write(&path, "deny")
                .map_err(|e| Error::sys(format!("{field}: write {path}"), e))?;
        }
        let path = format!("/proc/{pid}/{file}");
        std::fs::write(&path, data).map_err(|e| Error::sys(format!("{field}: write {path}"), e))?;
    }
    Ok(())
}

/// Runs `newuidmap PID ID HOST SIZE...` (or `newgidmap`) and fails naming
/// the field with the helper's own message: it refuses ranges that
/// `/etc/subuid` (`/etc/subgid`) does not give the caller. The wait is
/// bounded (`bounds::init_step`, as every step of the init's set-up):
/// brisk holds the container's lock meanwhile, so a helper that hangs
/// (an NSS lookup, a stuck filesystem) is killed and named.
fn run_map_helper(tool: &str, pid: libc::pid_t, map: &[u8], field: &str) -> Result<()> {
    use std::io::{Read, Seek};
    let text = String::from_utf8_lossy(map);
    let stderr = crate::hooks::output_file()
        .map_err(|e| Error::sys(format!("{field}: output file for {tool}"), e))?;
    let stderr_w = stderr
        .try_clone()
        .map_err(|e| Error::sys(format!("{field}: output file for {tool}"), e))?;
    let mut cmd = std::process::Command::new(tool);
    cmd.arg(pid.to_string())
        .args(text.split_whitespace())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(stderr_w);
    // As for a hook: stdio only, none of brisk's blocked signals.
    // SAFETY: runs in the forked child before exec; close_range (or the
    // fcntl fallback), rt_sigaction and sigprocmask are async-signal-safe
    // and allocate nothing.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
            crate::signal::reset_for_exec();
            sys::cloexec_from(3)
        });
    }
    let mut child = cmd.spawn().map_err(|e| {
        let hint = if e.kind() == std::io::ErrorKind::NotFound {
            " (not installed: Debian's package uidmap)"
        } else {
            ""
        };
        Error::sys(
            format!(
                "{field}: an unprivileged user needs {tool}{hint} for a map other than its own id"
            ),
            e,
        )
    })?;
    let bound = crate::bounds::init_step();
    let deadline = crate::bounds::deadline(bound);
    let mut pause = std::time::Duration::from_micros(200);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if std::time::Instant::now() < deadline => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(std::time::Duration::from_millis(10));
            }
            Ok(None) => {
                crate::hooks::kill_and_reap(&mut child);
                return Err(Error::timeout(
                    format!("{field}: run {tool} for pid {pid}"),
                    bound,
                    format!("{tool} was killed (BRISK_INIT_TIMEOUT sets this bound, in seconds)"),
                ));
            }
            Err(e) => {
                crate::hooks::kill_and_reap(&mut child);
                return Err(Error::sys(format!("{field}: wait for {tool}"), e));
            }
        }
    };
    if !status.success() {
        let mut out = stderr;
        let mut msg = String::new();
        let _ = out.rewind();
        let _ = out.take(4096).read_to_string(&mut msg);
        return Err(Error::invalid(
            field,
            format!("{tool} failed ({status}): {}", msg.trim()),
        ));
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
    fn unprivileged_maps_of_more_than_the_own_id_go_through_the_helpers() {
        let m = |host: u32, size: u32| -> LinuxIdMapping {
            serde_json::from_value(
                serde_json::json!({"containerID": 0, "hostID": host, "size": size}),
            )
            .unwrap()
        };
        let root = MapWriter::for_caller(0, 0, &[m(1, 1), m(100000, 65536)], &[m(5, 1)]);
        assert_eq!(root, MapWriter::default());
        let own = MapWriter::for_caller(1000, 1001, &[m(1000, 1)], &[m(1001, 1)]);
        assert!(own.unprivileged && !own.uid_helper && !own.gid_helper && own.deny_setgroups);
        let ranges =
            MapWriter::for_caller(1000, 1001, &[m(1000, 1), m(100000, 65536)], &[m(1001, 1)]);
        assert!(ranges.uid_helper && !ranges.gid_helper && ranges.deny_setgroups);
        let other = MapWriter::for_caller(1000, 1001, &[m(1000, 1)], &[m(100000, 1)]);
        assert!(!other.uid_helper && other.gid_helper && !other.deny_setgroups);
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
