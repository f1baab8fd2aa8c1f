//! A container's cgroup: created in every hierarchy of the host with the
//! resources written, the init placed, then paused, listed, signalled,
//! updated and removed. What brisk created is recorded ([`Record`], kept
//! in the container's state) so teardown removes exactly that.

use std::io::{self, Read, Write as _};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::layout::{Host, Layout};
use crate::resources::{Plan, Target};

/// The container's directory in one hierarchy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dir {
    pub path: PathBuf,
    /// The v1 controllers of the hierarchy; empty for cgroup2.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub controllers: Vec<String>,
}

impl Dir {
    pub fn is_v2(&self) -> bool {
        self.controllers.is_empty()
    }
}

/// What a container's cgroup is, persisted in its state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub layout: Layout,
    /// The path inside each hierarchy (`/brisk/c1`).
    pub path: String,
    pub dirs: Vec<Dir>,
    /// Directories brisk made, parents first; teardown removes only these.
    pub created: Vec<PathBuf>,
    /// The systemd driver's scope unit: systemd made the cgroup (in the
    /// hierarchies it manages) and removes it when the unit stops.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub systemd_unit: Option<String>,
}

/// A newly created cgroup, with the fd `clone3(CLONE_INTO_CGROUP)` takes.
#[derive(Debug)]
pub struct Cgroup {
    pub record: Record,
    clone_fd: Option<OwnedFd>,
}

/// Opens a cgroup file for writing (never creating it).
fn open_write(path: &Path) -> io::Result<std::fs::File> {
    std::fs::OpenOptions::new().write(true).open(path)
}

/// Writes one value in one write(2), as cgroup files require.
pub fn write_file(path: &Path, value: &str) -> io::Result<()> {
    open_write(path)?.write_all(value.as_bytes())
}

pub fn read_file(path: &Path) -> io::Result<String> {
    let mut s = String::new();
    std::fs::File::open(path)?.read_to_string(&mut s)?;
    Ok(s)
}

fn write_err(field: &str, path: &Path, value: &str, e: io::Error) -> Error {
    let source = if e.raw_os_error() == Some(libc::ENOENT) {
        io::Error::new(
            io::ErrorKind::NotFound,
            "no such cgroup file on this host (unknown key or controller not enabled)",
        )
    } else {
        e
    };
    Error::Write {
        field: field.to_string(),
        path: path.to_path_buf(),
        value: value.to_string(),
        err: source,
    }
}

impl Cgroup {
    /// Makes the cgroup in every hierarchy and applies `plan`. On error,
    /// whatever was created is removed again.
    pub fn create(host: &Host, path: &str, plan: &Plan) -> Result<Cgroup> {
        let mut record = Record {
            layout: host.layout,
            path: path.to_string(),
            dirs: Vec::new(),
            created: Vec::new(),
            systemd_unit: None,
        };
        match Self::build(host, plan, &mut record) {
            Ok(clone_fd) => Ok(Cgroup { record, clone_fd }),
            Err(e) => {
                remove_created(&record, Duration::ZERO);
                Err(e)
            }
        }
    }

    fn build(host: &Host, plan: &Plan, record: &mut Record) -> Result<Option<OwnedFd>> {
        for h in &host.v1 {
            let dir = make_dirs(&h.mount, &record.path, &mut record.created, |d, parent| {
                if h.controllers.iter().any(|c| c == "cpuset") {
                    init_cpuset(d, parent)
                } else {
                    Ok(())
                }
            })?;
            record.dirs.push(Dir {
                path: dir,
                controllers: h.controllers.clone(),
            });
        }
        let mut clone_fd = None;
        if let Some(u) = &host.unified {
            let dir = make_dirs(u, &record.path, &mut record.created, |_, _| Ok(()))?;
            if !plan.v2_controllers.is_empty() {
                enable_controllers(u, &record.path, &plan.v2_controllers)?;
            }
            let fd = rustix::fs::open(
                &dir,
                rustix::fs::OFlags::RDONLY
                    | rustix::fs::OFlags::DIRECTORY
                    | rustix::fs::OFlags::CLOEXEC,
                rustix::fs::Mode::empty(),
            )
            .map_err(|e| Error::path("open cgroup", &dir, e.into()))?;
            if let Some(rules) = &plan.v2_devices {
                crate::ebpf::attach(rules, &fd).map_err(|e| {
                    write_err(
                        "linux.resources.devices",
                        &dir,
                        "(BPF_CGROUP_DEVICE program)",
                        e,
                    )
                })?;
            }
            clone_fd = Some(fd);
            record.dirs.push(Dir {
                path: dir,
                controllers: Vec::new(),
            });
        }
        record.apply(plan, false)?;
        Ok(clone_fd)
    }

    /// The cgroup2 directory fd for `clone3(CLONE_INTO_CGROUP)`.
    pub fn clone_fd(&self) -> Option<RawFd> {
        self.clone_fd.as_ref().map(AsRawFd::as_raw_fd)
    }

    /// Moves `pid` into the v1 hierarchies (and into cgroup2 too unless
    /// the clone already put it there).
    pub fn place(&self, pid: i32, cloned_into_v2: bool) -> Result<()> {
        let pid = pid.to_string();
        for d in &self.record.dirs {
            if d.is_v2() && cloned_into_v2 {
                continue;
            }
            let p = d.path.join("cgroup.procs");
            write_file(&p, &pid).map_err(|e| Error::path("place the init in its cgroup", &p, e))?;
        }
        Ok(())
    }
}

/// A pidfd on `pid`, if it still exists.
fn pidfd_open(pid: i32) -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return None;
    }
    // SAFETY: fd is a new pidfd owned by nobody else.
    Some(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd as i32) })
}

/// mkdir of each missing component of `path` under `root`; each made
/// directory is recorded and passed to `init` with its parent.
fn make_dirs(
    root: &Path,
    path: &str,
    created: &mut Vec<PathBuf>,
    init: impl Fn(&Path, &Path) -> Result<()>,
) -> Result<PathBuf> {
    let mut attempts = 0;
    'again: loop {
        let mark = created.len();
        let mut cur = root.to_path_buf();
        for comp in path.split('/').filter(|c| !c.is_empty()) {
            let parent = cur.clone();
            cur.push(comp);
            match std::fs::DirBuilder::new().mode(0o755).create(&cur) {
                Ok(()) => {
                    created.push(cur.clone());
                    match init(&cur, &parent) {
                        Ok(()) => {}
                        // The parent was being removed by whoever made it
                        // (ENODEV from a dying cgroup): undo this attempt
                        // and make the path again.
                        Err(Error::Path { err, .. })
                            if matches!(err.raw_os_error(), Some(libc::ENODEV | libc::ENOENT))
                                && attempts < 3 =>
                        {
                            attempts += 1;
                            for d in created.drain(mark..).rev() {
                                let _ = std::fs::remove_dir(d);
                            }
                            continue 'again;
                        }
                        Err(e) => return Err(e),
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                // A parent another container made and just removed.
                Err(e) if e.kind() == io::ErrorKind::NotFound && attempts < 3 => {
                    attempts += 1;
                    continue 'again;
                }
                Err(e) => return Err(Error::path("create cgroup", &cur, e)),
            }
        }
        return Ok(cur);
    }
}

/// A new v1 cpuset cgroup has no cpus and no mems (nothing can join it):
/// it starts with its parent's.
///
/// The parent may itself be empty still: another brisk made it an instant
/// ago and has not initialised it yet. Then the nearest non-empty ancestor
/// gives the value, and the empty ones on the way are filled too (the same
/// value the other brisk will write).
fn init_cpuset(dir: &Path, parent: &Path) -> Result<()> {
    for file in ["cpuset.cpus", "cpuset.mems"] {
        let mut empty = vec![dir.to_path_buf()];
        let mut from = Some(parent);
        let value = loop {
            let Some(p) = from else { break String::new() };
            let f = p.join(file);
            let v = match read_file(&f) {
                Ok(v) => v,
                // Above the hierarchy's root: nothing more to inherit.
                Err(e) if e.kind() == io::ErrorKind::NotFound && p != parent => {
                    break String::new()
                }
                Err(e) => return Err(Error::path("read", &f, e)),
            };
            if !v.trim().is_empty() {
                break v.trim().to_string();
            }
            empty.push(p.to_path_buf());
            from = p.parent();
        };
        // Outermost first: a cpuset's values must be within its parent's.
        for d in empty.iter().rev() {
            let f = d.join(file);
            let cur = read_file(&f).map_err(|e| Error::path("read", &f, e))?;
            if cur.trim().is_empty() {
                write_file(&f, &value).map_err(|e| Error::path("initialise cpuset", &f, e))?;
            }
        }
    }
    Ok(())
}

/// Enables `controllers` in `cgroup.subtree_control` of every ancestor of
/// the container's cgroup that does not have them yet (the root and the
/// parents brisk made; enabling works with children already there).
fn enable_controllers(root: &Path, path: &str, controllers: &[String]) -> Result<()> {
    let comps: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
    let mut cur = root.to_path_buf();
    for i in 0..comps.len() {
        if i > 0 {
            cur.push(comps[i - 1]);
        }
        let file = cur.join("cgroup.subtree_control");
        let have = read_file(&file).map_err(|e| Error::path("read", &file, e))?;
        let missing: Vec<String> = controllers
            .iter()
            .filter(|c| !have.split_whitespace().any(|h| h == c.as_str()))
            .map(|c| format!("+{c}"))
            .collect();
        if !missing.is_empty() {
            let v = missing.join(" ");
            write_file(&file, &v).map_err(|e| write_err("cgroup controllers", &file, &v, e))?;
        }
    }
    Ok(())
}

/// The cgroup of a container whose `create` died after `path` was
/// recorded but before the container was (brisk was killed): its leaf in
/// every hierarchy, as `Cgroup::create` would have made it. Which parents
/// that create made is unknown; the empty ones below brisk's default
/// parent go, as after every container.
pub fn abandoned(host: &Host, path: &str) -> Record {
    let leaf = |root: &Path| root.join(path.trim_start_matches('/'));
    let mut dirs: Vec<Dir> = host
        .v1
        .iter()
        .map(|h| Dir {
            path: leaf(&h.mount),
            controllers: h.controllers.clone(),
        })
        .collect();
    if let Some(u) = &host.unified {
        dirs.push(Dir {
            path: leaf(u),
            controllers: Vec::new(),
        });
    }
    Record {
        layout: host.layout,
        path: path.to_string(),
        created: dirs.iter().map(|d| d.path.clone()).collect(),
        dirs,
        systemd_unit: None,
    }
}

/// Removes the directories brisk created, deepest first. A busy leaf
/// (processes still exiting) is retried until `patience` runs out; a
/// parent still used by another container stays.
pub fn remove_created(record: &Record, patience: Duration) -> Vec<(PathBuf, io::Error)> {
    let deadline = Instant::now() + patience;
    let mut failed = Vec::new();
    for dir in record.created.iter().rev() {
        // Both lists are built from the same strings: compare bytes, not
        // path components (which showed in the start-up profile).
        let is_leaf = record
            .dirs
            .iter()
            .any(|d| d.path.as_os_str() == dir.as_os_str());
        let mut children_removed = false;
        loop {
            match std::fs::remove_dir(dir) {
                Ok(()) => break,
                Err(e) if e.kind() == io::ErrorKind::NotFound => break,
                // Cgroups the container made below its own (EBUSY, as
                // for processes): removed once, then retried.
                Err(e) if is_leaf && !children_removed && e.raw_os_error() == Some(libc::EBUSY) => {
                    remove_children(dir);
                    children_removed = true;
                }
                Err(e)
                    if is_leaf
                        && e.raw_os_error() == Some(libc::EBUSY)
                        && Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => {
                    if is_leaf {
                        failed.push((dir.clone(), e));
                    }
                    break;
                }
            }
        }
    }
    if failed.is_empty() {
        remove_empty_default_parents(record);
    }
    failed
}

/// How deep below a container's cgroup brisk follows the cgroups the
/// container made (`delegate` caps `cgroup.max.depth` there).
pub const MAX_CHILD_DEPTH: usize = 32;

/// Caps `cgroup.max.depth` of the container's cgroup2 directory at
/// [`MAX_CHILD_DEPTH`] when it is unlimited (no cgroup2 directory: nothing
/// to do; v1 hierarchies have no such bound).
pub fn bound_depth(record: &Record) -> Result<()> {
    let Some(dir) = record.v2_dir() else {
        return Ok(());
    };
    let depth = dir.join("cgroup.max.depth");
    if read_file(&depth).is_ok_and(|v| v.trim() == "max") {
        write_file(&depth, &MAX_CHILD_DEPTH.to_string())
            .map_err(|e| Error::path("bound the container's cgroup depth", &depth, e))?;
    }
    Ok(())
}

fn open_dir_at<P: rustix::path::Arg>(
    at: impl std::os::fd::AsFd,
    path: P,
) -> rustix::io::Result<OwnedFd> {
    rustix::fs::openat(
        at,
        path,
        rustix::fs::OFlags::RDONLY
            | rustix::fs::OFlags::DIRECTORY
            | rustix::fs::OFlags::NOFOLLOW
            | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
}

/// The sub-cgroup names in the directory `fd` (cgroupfs holds no
/// symlinks: a directory entry is a cgroup).
fn child_cgroups(fd: &OwnedFd) -> Vec<std::ffi::CString> {
    let Ok(dup) = rustix::io::fcntl_dupfd_cloexec(fd, 0) else {
        return Vec::new();
    };
    let Ok(dir) = rustix::fs::Dir::new(dup) else {
        return Vec::new();
    };
    dir.flatten()
        .filter(|e| e.file_type() == rustix::fs::FileType::Directory)
        .map(|e| e.file_name().to_owned())
        .filter(|n| n.as_bytes() != b"." && n.as_bytes() != b"..")
        .collect()
}

/// Adds the pids of every cgroup below `fd`, by fd (no path grows).
fn descendant_pids(fd: &OwnedFd, depth: usize, pids: &mut Vec<i32>) {
    if depth >= MAX_CHILD_DEPTH {
        return;
    }
    for name in child_cgroups(fd) {
        let Ok(child) = open_dir_at(fd, name.as_c_str()) else {
            continue;
        };
        if let Ok(procs) = rustix::fs::openat(
            &child,
            "cgroup.procs",
            rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        ) {
            let mut s = String::new();
            if std::fs::File::from(procs).read_to_string(&mut s).is_ok() {
                pids.extend(s.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
            }
        }
        descendant_pids(&child, depth + 1, pids);
    }
}

/// Removes the cgroups the container made below its own (a delegated
/// cgroup2 directory, or root in a container with a writable cgroup
/// mount), deepest first, by fd (`unlinkat(AT_REMOVEDIR)`), so that no
/// path grows past PATH_MAX. However deep the container nested them (a v1
/// hierarchy has no `cgroup.max.depth`): iterative, one fd open at a time
/// (`..` leads back up; a cgroup moves only within its parent, so that is
/// the directory it came from), no recursion. One still in use stays and
/// the leaf's removal reports it.
fn remove_children(dir: &Path) {
    let Ok(mut cur) = open_dir_at(rustix::fs::CWD, dir) else {
        return;
    };
    let rmdir = |at: &OwnedFd, name: &std::ffi::CStr| {
        let _ = rustix::fs::unlinkat(at, name, rustix::fs::AtFlags::REMOVEDIR);
    };
    // The names of the directories from `dir` down to `cur`, and for each
    // level from `dir` on, its children not visited yet.
    let mut path: Vec<std::ffi::CString> = Vec::new();
    let mut todo: Vec<Vec<std::ffi::CString>> = vec![child_cgroups(&cur)];
    while let Some(level) = todo.last_mut() {
        if let Some(name) = level.pop() {
            match open_dir_at(&cur, name.as_c_str()) {
                Ok(child) => {
                    todo.push(child_cgroups(&child));
                    path.push(name);
                    cur = child;
                }
                Err(_) => rmdir(&cur, &name),
            }
            continue;
        }
        todo.pop();
        let Some(name) = path.pop() else { break };
        let Ok(parent) = open_dir_at(&cur, c"..") else {
            break;
        };
        cur = parent;
        rmdir(&cur, &name);
    }
}

/// Below brisk's default parent every directory is brisk's, whichever
/// container made it: the last container to go removes the parents, even
/// when another one made them.
fn remove_empty_default_parents(record: &Record) {
    let parent = crate::path::DEFAULT_PARENT;
    if !record.path.starts_with(&format!("{parent}/")) {
        return;
    }
    for d in &record.dirs {
        let Some(root) = d
            .path
            .to_str()
            .and_then(|p| p.strip_suffix(record.path.as_str()))
        else {
            continue;
        };
        // The leaf's ancestors, deepest first, down to the default parent.
        let mut path = record.path.as_str();
        while let Some((up, _)) = path.rsplit_once('/') {
            if up.len() < parent.len() {
                break;
            }
            match std::fs::remove_dir(format!("{root}{up}")) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                // Still used by another container.
                Err(_) => break,
            }
            path = up;
        }
    }
}

impl Record {
    /// Moves `pid` into the container's cgroup in every hierarchy (an
    /// `exec`'d process joining its container).
    ///
    /// A container that was given its cgroup2 directory (`delegate`) may
    /// have enabled controllers below it: the kernel then refuses a process
    /// there (EBUSY, no internal processes), and the process joins the
    /// cgroup of the container's `init` instead, as runc's exec does, if
    /// that cgroup is inside the container's.
    pub fn join(&self, pid: i32, init: i32) -> Result<()> {
        let pid = pid.to_string();
        for d in &self.dirs {
            let p = d.path.join("cgroup.procs");
            match write_file(&p, &pid) {
                Ok(()) => {}
                Err(e) if d.is_v2() && e.raw_os_error() == Some(libc::EBUSY) => {
                    let Some(beside) = self.init_v2_dir(init) else {
                        return Err(Error::path("join the container's cgroup", &p, e));
                    };
                    let p = beside.join("cgroup.procs");
                    write_file(&p, &pid).map_err(|e| {
                        Error::path("join the cgroup of the container's init", &p, e)
                    })?;
                }
                Err(e) => return Err(Error::path("join the container's cgroup", &p, e)),
            }
        }
        Ok(())
    }

    /// The cgroup2 directory of `init` from `/proc/<init>/cgroup`, when it
    /// lies below the container's own (never outside it, never `..`).
    fn init_v2_dir(&self, init: i32) -> Option<PathBuf> {
        let own = self.v2_dir()?;
        let mount = own.to_str()?.strip_suffix(self.path.as_str())?;
        let text = read_file(Path::new(&format!("/proc/{init}/cgroup"))).ok()?;
        let rel = text.lines().find_map(|l| l.strip_prefix("0::"))?.trim();
        let below = rel.strip_prefix(self.path.as_str())?.strip_prefix('/')?;
        if below
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..")
        {
            return None;
        }
        Some(PathBuf::from(format!("{mount}{rel}")))
    }

    /// The directory of the v1 hierarchy with `controller`.
    pub fn v1_dir(&self, controller: &str) -> Option<&Path> {
        self.dirs
            .iter()
            .find(|d| d.controllers.iter().any(|c| c == controller))
            .map(|d| d.path.as_path())
    }

    /// The cgroup in the hierarchy systemd tracks units with: its named
    /// v1 hierarchy (`name=systemd`) when mounted, else cgroup2.
    fn systemd_dir(&self) -> Option<&Path> {
        self.dirs
            .iter()
            .find(|d| d.controllers.iter().any(|c| c == "name=systemd"))
            .or_else(|| self.dirs.iter().find(|d| d.controllers.is_empty()))
            .map(|d| d.path.as_path())
    }

    pub fn v2_dir(&self) -> Option<&Path> {
        self.dirs
            .iter()
            .find(|d| d.is_v2())
            .map(|d| d.path.as_path())
    }

    /// Where the container's processes are listed.
    pub fn procs_dir(&self) -> Option<&Path> {
        self.v2_dir()
            .or_else(|| self.v1_dir("pids"))
            .or_else(|| self.dirs.first().map(|d| d.path.as_path()))
    }

    fn target_dir(&self, t: &Target) -> Option<&Path> {
        match t {
            Target::V1(c) => self.v1_dir(c),
            Target::V2 => self.v2_dir(),
        }
    }

    /// Writes every value of `plan` (at create, and for `update`). With
    /// `update`, a memory limit the kernel refuses because of the swap
    /// limit is retried after it.
    pub fn apply(&self, plan: &Plan, update: bool) -> Result<()> {
        if update && !plan.v2_controllers.is_empty() {
            // A controller the create did not need may not be enabled yet.
            if let Some(root) = self
                .v2_dir()
                .and_then(|d| d.to_str())
                .and_then(|d| d.strip_suffix(self.path.as_str()))
            {
                enable_controllers(Path::new(root), &self.path, &plan.v2_controllers)?;
            }
        }
        for (allow, line) in &plan.v1_devices {
            let dir = self
                .v1_dir("devices")
                .ok_or_else(|| Error::invalid("linux.resources.devices", "no devices hierarchy"))?;
            let file = dir.join(if *allow {
                "devices.allow"
            } else {
                "devices.deny"
            });
            write_file(&file, line)
                .map_err(|e| write_err("linux.resources.devices", &file, line, e))?;
        }
        if plan.v2_devices.is_some() && update {
            return Err(Error::Unsupported(
                "changing linux.resources.devices of a running container on cgroup v2".into(),
            ));
        }
        if let (true, Some(limit)) = (update, plan.memory_limit_check) {
            let usage = match (self.v1_dir("memory"), self.v2_dir()) {
                (Some(d), _) => Some(d.join("memory.usage_in_bytes")),
                (None, Some(d)) => Some(d.join("memory.current")),
                _ => None,
            };
            if let Some(p) = usage {
                let now: i64 = read_file(&p)
                    .map_err(|e| Error::path("read", &p, e))?
                    .trim()
                    .parse()
                    .unwrap_or(0);
                if now > limit {
                    return Err(Error::invalid(
                        "linux.resources.memory.limit",
                        format!(
                            "{limit} is below the current usage ({now}) and checkBeforeUpdate is set"
                        ),
                    ));
                }
            }
        }
        let mut deferred: Vec<&crate::resources::Write> = Vec::new();
        for w in &plan.writes {
            let dir = self.target_dir(&w.target).ok_or_else(|| {
                Error::invalid(&w.field, "the controller's hierarchy is not there")
            })?;
            let mut last = None;
            for (i, (file, value)) in w.choices.iter().enumerate() {
                let path = dir.join(file);
                match write_file(&path, value) {
                    Ok(()) => {
                        last = None;
                        break;
                    }
                    Err(e) if e.raw_os_error() == Some(libc::ENOENT) && i + 1 < w.choices.len() => {
                        continue
                    }
                    Err(e) => {
                        last = Some((path, value, e));
                        break;
                    }
                }
            }
            if let Some((path, value, e)) = last {
                let unsupported = matches!(e.raw_os_error(), Some(libc::EOPNOTSUPP) | Some(524));
                if w.optional && (unsupported || e.raw_os_error() == Some(libc::ENOENT)) {
                    continue;
                }
                if update
                    && w.choices[0].0 == "memory.limit_in_bytes"
                    && e.raw_os_error() == Some(libc::EINVAL)
                {
                    deferred.push(w);
                    continue;
                }
                return Err(write_err(&w.field, &path, value, e));
            }
        }
        for w in deferred {
            if let (Some(dir), Some((file, value))) =
                (self.target_dir(&w.target), w.choices.first())
            {
                let path = dir.join(file);
                write_file(&path, value).map_err(|e| write_err(&w.field, &path, value, e))?;
            }
        }
        Ok(())
    }

    /// Pids of the container's processes, those in cgroups it made below
    /// its own included (cgroup2: a delegated directory).
    pub fn pids(&self) -> Result<Vec<i32>> {
        let Some(dir) = self.procs_dir() else {
            return Ok(Vec::new());
        };
        let p = dir.join("cgroup.procs");
        let s = read_file(&p).map_err(|e| Error::path("read", &p, e))?;
        let mut pids: Vec<i32> = s.lines().filter_map(|l| l.trim().parse().ok()).collect();
        if self.v2_dir() == Some(dir) {
            if let Ok(fd) = open_dir_at(rustix::fs::CWD, dir) {
                descendant_pids(&fd, 0, &mut pids);
            }
        }
        Ok(pids)
    }

    /// Waits, at most `bound`, until no process is left in the cgroup (or
    /// it cannot be read: gone); whether it emptied.
    pub fn wait_empty(&self, bound: Duration) -> bool {
        let deadline = Instant::now() + bound;
        while self.pids().is_ok_and(|p| !p.is_empty()) {
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        true
    }

    fn freezer(&self) -> Option<(PathBuf, bool)> {
        if let Some(d) = self.v1_dir("freezer") {
            return Some((d.join("freezer.state"), false));
        }
        self.v2_dir().map(|d| (d.join("cgroup.freeze"), true))
    }

    /// How long `freeze` waits for the kernel to report the transition
    /// done (runc's v1 freezer retries for about as long).
    pub const FREEZE_BOUND: Duration = Duration::from_secs(10);

    /// Freezes (`true`) or thaws every process of the container and waits
    /// until the kernel reports it done, at most [`Record::FREEZE_BOUND`].
    /// A freeze that does not complete (v1 stays FREEZING while a process
    /// sleeps uninterruptibly, e.g. on a stuck NFS or FUSE mount) is undone:
    /// the cgroup is thawed again and the error says so, so that no
    /// container is left half-frozen.
    pub fn freeze(&self, frozen: bool) -> Result<()> {
        self.freeze_within(frozen, Self::FREEZE_BOUND)
    }

    /// [`Record::freeze`] with another bound.
    pub fn freeze_within(&self, frozen: bool, bound: Duration) -> Result<()> {
        let (file, v2) = self
            .freezer()
            .ok_or_else(|| Error::Unsupported("pause without a freezer".into()))?;
        let value = match (v2, frozen) {
            (true, true) => "1",
            (true, false) => "0",
            (false, true) => "FROZEN",
            (false, false) => "THAWED",
        };
        let deadline = Instant::now() + bound;
        let mut pause = Duration::from_millis(1);
        loop {
            write_file(&file, value).map_err(|e| write_err("freeze", &file, value, e))?;
            if self.is_frozen(frozen)? == frozen {
                return Ok(());
            }
            if Instant::now() > deadline {
                let dir = file.parent().unwrap_or(&file).display().to_string();
                if frozen {
                    let thaw = if v2 { "0" } else { "THAWED" };
                    let undone = write_file(&file, thaw).is_ok();
                    return Err(Error::Timeout(format!(
                        "freeze {dir}: not frozen after {} ms (a process of the container in an \
                         uninterruptible sleep, e.g. on a stuck mount?); {}",
                        bound.as_millis(),
                        if undone {
                            "thawed again: the container runs on; retry the pause later"
                        } else {
                            "and thawing it again failed: `brisk resume` or `brisk delete --force`"
                        }
                    )));
                }
                return Err(Error::Timeout(format!(
                    "thaw {dir}: not thawed after {} ms; retry `brisk resume`, or \
                     `brisk delete --force`",
                    bound.as_millis()
                )));
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(20));
        }
    }

    fn is_frozen(&self, want: bool) -> Result<bool> {
        if let Some(d) = self.v1_dir("freezer") {
            let p = d.join("freezer.state");
            let s = read_file(&p).map_err(|e| Error::path("read", &p, e))?;
            // FREEZING is neither: keep waiting either way.
            return Ok(match s.trim() {
                "FROZEN" => true,
                "THAWED" => false,
                _ => !want,
            });
        }
        let Some(d) = self.v2_dir() else {
            return Ok(false);
        };
        let p = d.join("cgroup.events");
        let s = read_file(&p).map_err(|e| Error::path("read", &p, e))?;
        Ok(s.lines().any(|l| l == "frozen 1"))
    }

    /// Whether the container is paused (for `state`): a freeze was asked
    /// for, done (v1 FROZEN) or not yet (v1 FREEZING, a `pause` killed
    /// midway or still waiting; cgroup2 `cgroup.freeze` 1 until `frozen 1`
    /// shows in `cgroup.events`), so that `resume` and `delete` thaw it.
    pub fn is_paused(&self) -> bool {
        match self.freezer() {
            Some((file, true)) => read_file(&file).is_ok_and(|s| s.trim() == "1"),
            Some((file, false)) => {
                read_file(&file).is_ok_and(|s| matches!(s.trim(), "FROZEN" | "FREEZING"))
            }
            None => false,
        }
    }

    /// Sends `sig` to every process of the container: `cgroup.kill` for
    /// SIGKILL on cgroup2 (the unified hierarchy of a hybrid host holds
    /// every process too: the init was cloned into it), else one pidfd
    /// signal per listed process that is still listed once its pidfd is
    /// open (a pid that exited and was reused by a process outside meanwhile
    /// is not listed any more; while a pidfd's process lives, its pid is
    /// its own, so a listed pid whose pidfd process has died gets nothing).
    /// The record must have been verified ([`Record::verify`]).
    pub fn signal_all(&self, sig: i32) -> Result<()> {
        if sig == libc::SIGKILL {
            if let Some(d) = self.v2_dir() {
                let k = d.join("cgroup.kill");
                match write_file(&k, "1") {
                    Ok(()) => return Ok(()),
                    Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
                    Err(e) => return Err(Error::path("write", &k, e)),
                }
            }
        }
        let opened: Vec<(i32, OwnedFd)> = self
            .pids()?
            .into_iter()
            .filter_map(|pid| pidfd_open(pid).map(|fd| (pid, fd)))
            .collect();
        if opened.is_empty() {
            return Ok(());
        }
        let still = self.pids()?;
        for (pid, fd) in opened {
            if still.contains(&pid) {
                // SAFETY: fd is a pidfd we own; null siginfo is like kill(2).
                unsafe {
                    libc::syscall(
                        libc::SYS_pidfd_send_signal,
                        fd.as_raw_fd(),
                        sig,
                        std::ptr::null::<libc::siginfo_t>(),
                        0,
                    );
                }
            }
        }
        Ok(())
    }

    /// Removes what brisk created once the container's processes are gone.
    ///
    /// `sweep`: every process left in the cgroup is the container's (it has
    /// no pid namespace of its own, so its init's death did not end them)
    /// and is killed. Without `sweep` the container's processes died with
    /// its pid namespace's init; whatever is left belongs to another
    /// container given the same cgroupsPath, and the cgroup stays for it.
    pub fn destroy(&self, sweep: bool) -> Result<()> {
        if let Some(unit) = &self.systemd_unit {
            return self.destroy_scope(unit, sweep);
        }
        // The usual case, an empty cgroup, costs only the rmdirs.
        if remove_created(self, Duration::ZERO).is_empty() {
            return Ok(());
        }
        if !sweep {
            // Give a process that is exiting right now a moment, then
            // leave the cgroup to the others in it.
            let _ = remove_created(self, Duration::from_millis(100));
            return Ok(());
        }
        // Processes are left: freeze them (none can fork meanwhile), kill
        // them all, thaw (frozen processes die once thawed), and retry
        // until the last one has exited.
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            let _ = self.freeze_within(true, Duration::from_secs(1));
            let _ = self.signal_all(libc::SIGKILL);
            let _ = self.freeze_within(false, Duration::from_secs(1));
            let failed = remove_created(self, Duration::from_millis(200));
            match failed.into_iter().next() {
                None => return Ok(()),
                Some((dir, e)) if Instant::now() > deadline => {
                    return Err(Error::path("remove cgroup", dir, e))
                }
                Some(_) => {}
            }
        }
    }

    /// `destroy` with the systemd driver: a scope is one container's
    /// alone (systemd refuses a second unit of the same name), so what is
    /// left in it is killed (a scope's stop would wait for processes that
    /// ignore SIGTERM up to its stop timeout); then the unit is stopped
    /// (systemd removes its cgroups; a scope that emptied is gone
    /// already) and the directories brisk made in the other hierarchies
    /// are removed.
    ///
    /// Without `sweep` the container's processes died with its pid
    /// namespace's init. A scope that still has processes once those had
    /// a moment to exit is not this container's any more: systemd removed
    /// its scope when it emptied, and a container given the same
    /// cgroupsPath since has a new scope of that name. It stays, unit,
    /// processes and directories.
    fn destroy_scope(&self, unit: &str, sweep: bool) -> Result<()> {
        if !sweep && !self.wait_empty(Duration::from_secs(1)) {
            return Ok(());
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        while self.pids().is_ok_and(|p| !p.is_empty()) {
            if Instant::now() > deadline {
                return Err(Error::Timeout(format!(
                    "processes of the unit {unit} did not exit within 2 s of SIGKILL"
                )));
            }
            let _ = self.freeze_within(true, Duration::from_secs(1));
            let _ = self.signal_all(libc::SIGKILL);
            let _ = self.freeze_within(false, Duration::from_secs(1));
            std::thread::sleep(Duration::from_millis(5));
        }
        // systemd removes a scope's cgroup when the unit stops (a scope
        // stops by itself once empty): with it gone there is nothing to
        // ask systemd. A unit that stayed loaded as failed is reset by the
        // next start of that name.
        if self.systemd_dir().is_none_or(|d| d.exists()) {
            crate::systemd::stop(unit)?;
        }
        match remove_created(self, Duration::from_secs(1))
            .into_iter()
            .next()
        {
            None => Ok(()),
            Some((dir, e)) => Err(Error::path("remove cgroup", dir, e)),
        }
    }
}
