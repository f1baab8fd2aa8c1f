//! The container's root filesystem: the plan built from `root`, `mounts`,
//! `linux.rootfsPropagation`, `linux.maskedPaths` and `linux.readonlyPaths`
//! in the parent, and its application in the init process (mount
//! namespace already private to it): propagation, the rootfs bind, every
//! mount in order, default devices, `pivot_root`, then masked and
//! read-only paths.

pub mod copyup;
pub mod devices;
pub mod idmap;
pub mod mounts;
pub mod options;
pub mod procfs;
pub mod resolve;

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

use oci_spec::runtime::Spec;
use rustix::fs::{Mode, OFlags};

use crate::error::Failure;
use crate::error::{Error, Result};
use crate::sys;

pub use mounts::MountPlan;

/// Everything the init process needs to build the container's filesystem.
#[derive(Debug)]
pub struct RootfsPlan {
    pub path: CString,
    pub readonly: bool,
    /// Propagation of `/` before anything else (`rootfsPropagation`, default
    /// rslave like runc).
    pub propagation: libc::c_ulong,
    /// Unless propagation is recursively slave or private: the mount
    /// holding the rootfs, made private (and the propagation applied to
    /// the new root after pivot_root).
    /// so that pivot_root is allowed and no container mount reaches the
    /// host through it.
    pub parent_mount: Option<CString>,
    pub no_pivot: bool,
    pub mounts: Vec<MountPlan>,
    /// `linux.devices`, made before the default devices.
    pub devices: Vec<devices::DeviceNode>,
    /// Create null, zero, full, random, urandom, tty (+ symlinks) in /dev.
    pub default_devices: bool,
    /// In a new user namespace devices are bind mounts of the host's.
    pub in_userns: bool,
    pub masked: Vec<PathTarget>,
    pub readonly_paths: Vec<PathTarget>,
    /// The procfs mount the init writes sysctls and the LSM label through
    /// (the last `proc` mount of `mounts`), when there is one.
    pub proc_mount: Option<usize>,
}

/// A masked or read-only path and where it lives, planned against the
/// mounts: the init applies it through the fd of that mount (see
/// `procfs`), not through a lookup of the whole path that a rename in
/// the rootfs could redirect.
#[derive(Debug)]
pub struct PathTarget {
    /// The path as configured, for errors.
    pub path: CString,
    /// The mount of `mounts` that holds it (the last one whose destination
    /// is the path or one of its parents): None when it lies in the image's
    /// own files.
    pub mount: Option<usize>,
    /// The path below that mount's root (or the container's root), cleaned
    /// of `.` and `..`; `.` for the mount's root itself.
    pub rel: CString,
    /// `rel` without its last name (`.` when it has one name), and that
    /// name (None: the mount's root itself).
    pub parent: CString,
    pub name: Option<CString>,
    /// Inside a path masked or made read-only before it: under an empty
    /// read-only tmpfs or a file there is nothing, and a read-only path is
    /// read-only all the way down. Nothing to do.
    pub covered: bool,
}

impl RootfsPlan {
    /// The fd of the procfs the init mounted (see `proc_mount`), once it
    /// is mounted.
    pub fn proc_fd(&self) -> Option<BorrowedFd<'_>> {
        self.mounts.get(self.proc_mount?)?.kept_fd()
    }
}

pub fn plan(
    spec: &Spec,
    rootfs: &Path,
    no_pivot: bool,
    ctx: mounts::Context<'_>,
) -> Result<RootfsPlan> {
    let in_userns = ctx.in_userns;
    let linux = spec.linux().as_ref();
    let propagation = match linux.and_then(|l| l.rootfs_propagation().as_deref()) {
        None | Some("") => libc::MS_SLAVE | libc::MS_REC,
        Some(p) => match options::parse(&[p]).propagation.as_slice() {
            [flag] => *flag,
            _ => {
                return Err(Error::invalid(
                    "linux.rootfsPropagation",
                    format!("{p:?} is not a propagation mode"),
                ))
            }
        },
    };
    let mut mounts = spec
        .mounts()
        .iter()
        .flatten()
        .enumerate()
        .map(|(i, m)| mounts::plan(i, m, ctx))
        .collect::<Result<Vec<_>>>()?;
    prepare_idmapped_trees(&mut mounts, ctx.userns)?;
    // An unprivileged brisk cannot clone a mount tree (CAP_SYS_ADMIN over
    // its mount namespace); its init binds the sources itself, which can
    // reach what the caller can.
    // SAFETY: geteuid cannot fail.
    if in_userns && unsafe { libc::geteuid() } == 0 {
        open_bind_sources(&mut mounts)?;
    }
    // As runc: the default devices are made unless /dev is bound from
    // elsewhere (then it already has its devices).
    let default_devices = !mounts.iter().any(|m| m.dest.as_bytes() == b"dev" && m.bind);
    // Unless every mount ends up recursively slave or private, the mount
    // holding the rootfs may still be shared: pivot_root refuses that, and
    // our mounts would propagate to the host through it.
    let recursive_non_shared =
        propagation & libc::MS_REC != 0 && propagation & (libc::MS_SLAVE | libc::MS_PRIVATE) != 0;
    let parent_mount = if !recursive_non_shared {
        Some(cstring(
            "root.path",
            mount_point_of(rootfs)?.as_os_str().as_encoded_bytes(),
        )?)
    } else {
        None
    };
    // Masked paths are applied before read-only ones: a path below one
    // planned before it is covered by it.
    let mut done = Vec::new();
    let masked = path_targets(
        "linux.maskedPaths",
        linux.and_then(|l| l.masked_paths().as_ref()),
        &mut mounts,
        &mut done,
    )?;
    let readonly_paths = path_targets(
        "linux.readonlyPaths",
        linux.and_then(|l| l.readonly_paths().as_ref()),
        &mut mounts,
        &mut done,
    )?;
    let proc_mount = mounts
        .iter()
        .rposition(|m| m.fstype.as_deref() == Some(c"proc") && !m.bind && m.can_keep_fd());
    if let Some(i) = proc_mount {
        mounts[i].keep_fd()?;
    }
    Ok(RootfsPlan {
        path: cstring("root.path", rootfs.as_os_str().as_encoded_bytes())?,
        readonly: spec
            .root()
            .as_ref()
            .and_then(|r| r.readonly())
            .unwrap_or(false),
        propagation,
        parent_mount,
        no_pivot,
        mounts,
        devices: devices::plan(
            linux
                .and_then(|l| l.devices().as_deref())
                .unwrap_or_default(),
        )?,
        default_devices,
        in_userns,
        masked,
        readonly_paths,
        proc_mount,
    })
}

/// Plans `paths` (`field`): each checked to be absolute, cleaned, and
/// placed in the last mount whose destination holds it, which is then
/// made to keep its fd. `done` has the paths planned before (cleaned, by
/// name), and gets these.
fn path_targets(
    field: &str,
    paths: Option<&Vec<String>>,
    mounts: &mut [MountPlan],
    done: &mut Vec<Vec<String>>,
) -> Result<Vec<PathTarget>> {
    let mut out = Vec::new();
    for (i, p) in paths.into_iter().flatten().enumerate() {
        let field = || format!("{field}[{i}]");
        if !p.starts_with('/') {
            return Err(Error::invalid(field(), format!("{p:?} is not absolute")));
        }
        let names = clean_path(p);
        let covered = done
            .iter()
            .any(|d| names.len() > d.len() && names.starts_with(d));
        // The last mount whose destination is the path or a parent of it.
        // A destination with `..` lands wherever the rootfs's symlinks
        // take it: it holds nothing by name.
        let mount = mounts.iter().rposition(|m| {
            let dest = m.dest.to_bytes();
            m.can_keep_fd()
                && !dest.split(|&c| c == b'/').any(|c| c == b"..")
                && dest.split(|&c| c == b'/').count() <= names.len()
                && dest
                    .split(|&c| c == b'/')
                    .zip(&names)
                    .all(|(d, n)| d == n.as_bytes())
        });
        let below = match mount {
            Some(m) => {
                if !covered {
                    mounts[m].keep_fd()?;
                }
                &names[mounts[m].dest.to_bytes().split(|&c| c == b'/').count()..]
            }
            None => &names[..],
        };
        let join = |parts: &[String]| {
            let s = if parts.is_empty() {
                ".".to_string()
            } else {
                parts.join("/")
            };
            CString::new(s).map_err(|_| Error::invalid(field(), "contains NUL"))
        };
        let (parent, name) = match below.split_last() {
            Some((last, parent)) => (join(parent)?, Some(join(std::slice::from_ref(last))?)),
            None => (join(&[])?, None),
        };
        out.push(PathTarget {
            path: CString::new(p.as_str()).map_err(|_| Error::invalid(field(), "contains NUL"))?,
            mount,
            rel: join(below)?,
            parent,
            name,
            covered,
        });
        done.push(names);
    }
    Ok(out)
}

/// The names of an absolute path inside the container, without `.`, with
/// `..` taking the name before it away (above `/` it stays at `/`).
fn clean_path(p: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                names.pop();
            }
            c => names.push(c.to_string()),
        }
    }
    names
}

/// Whether SELinux is enabled: its filesystem is mounted where the
/// userspace tools look for it.
pub fn selinux_enabled() -> bool {
    const SELINUX_MAGIC: i64 = 0xf97c_ff8c;
    rustix::fs::statfs("/sys/fs/selinux").is_ok_and(|s| s.f_type as i64 == SELINUX_MAGIC)
}

/// For every idmapped mount: a user namespace with its mapping (one per
/// distinct mapping) and the detached, idmapped clone of its source.
/// A container with a new user namespace: each bind's source is opened
/// here, in the host's context (`open_tree` clone), and attached by the
/// init. The init, root only in its own user namespace, could not reach a
/// source below a directory only the host's root may search.
fn open_bind_sources(mounts: &mut [MountPlan]) -> Result<()> {
    for (i, m) in mounts.iter_mut().enumerate() {
        if !m.bind || m.tree.is_some() || !matches!(m.kind, mounts::Kind::Regular) {
            continue;
        }
        let Some(source) = &m.source else { continue };
        let tree =
            crate::sys::open_tree_clone(source, m.flags & libc::MS_REC != 0).map_err(|e| {
                Error::sys(
                    format!("mounts[{i}].source: open {}", source.to_string_lossy()),
                    e,
                )
            })?;
        m.tree = Some(tree);
    }
    Ok(())
}

fn prepare_idmapped_trees(
    mounts: &mut [MountPlan],
    container: Option<idmap::ContainerUserns<'_>>,
) -> Result<()> {
    let mut made: Vec<(Vec<u8>, Vec<u8>, OwnedFd)> = Vec::new();
    for (i, m) in mounts.iter_mut().enumerate() {
        let Some((kind, mapping)) = &m.idmap else {
            continue;
        };
        let field = format!("mounts[{i}]");
        let mut userns_for = |uid: &[u8], gid: &[u8]| -> Result<usize> {
            if let Some(pos) = made.iter().position(|(u, g, _)| u == uid && g == gid) {
                return Ok(pos);
            }
            let fd = idmap::userns_with_maps(uid, gid)
                .map_err(|e| Error::sys(format!("{field}: user namespace for the idmapping"), e))?;
            made.push((uid.to_vec(), gid.to_vec(), fd));
            Ok(made.len() - 1)
        };
        let made_pos = match (mapping, container) {
            (idmap::Mapping::Own { uid_map, gid_map }, _) => Some(userns_for(uid_map, gid_map)?),
            (idmap::Mapping::Container, Some(idmap::ContainerUserns::New { uid_map, gid_map })) => {
                Some(userns_for(uid_map, gid_map)?)
            }
            (idmap::Mapping::Container, Some(idmap::ContainerUserns::Joined(_))) => None,
            (idmap::Mapping::Container, None) => {
                return Err(Error::invalid(field, "idmap needs a user namespace"))
            }
        };
        let userns = match (made_pos, container) {
            (Some(pos), _) => made[pos].2.as_fd(),
            (None, Some(idmap::ContainerUserns::Joined(fd))) => fd,
            (None, _) => return Err(Error::invalid(field, "idmap needs a user namespace")),
        };
        let source = m
            .source
            .as_deref()
            .ok_or_else(|| Error::invalid(format!("{field}.source"), "missing"))?;
        let tree = idmap::idmapped_tree(source, m.flags & libc::MS_REC != 0, *kind, userns)
            .map_err(|e| {
                Error::sys(
                    format!("{field}: idmapped mount of {}", source.to_string_lossy()),
                    e,
                )
            })?;
        m.tree = Some(tree);
    }
    Ok(())
}

/// The mount point of the mount that holds `path` (the longest mount point
/// in /proc/self/mountinfo that is a prefix of it).
fn mount_point_of(path: &Path) -> Result<std::path::PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| Error::path("read mounts", "/proc/self/mountinfo", e))?;
    let best = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(unescape_mountinfo)
        .filter(|mp| path.starts_with(mp))
        .max_by_key(|mp| mp.as_os_str().len());
    Ok(best.unwrap_or_else(|| "/".into()))
}

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape_mountinfo(s: &str) -> std::path::PathBuf {
    use std::os::unix::ffi::OsStringExt;
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    std::ffi::OsString::from_vec(out).into()
}

pub(crate) fn cstring(field: &str, bytes: &[u8]) -> Result<CString> {
    CString::new(bytes).map_err(|_| Error::invalid(field, "contains a NUL byte"))
}

/// In the init process, before `pivot_root`: makes `/` follow the
/// configured propagation, binds the rootfs onto itself, does every mount
/// and the default devices. Returns an fd of the new root.
pub fn prepare(plan: &RootfsPlan) -> Result<OwnedFd, Failure<'_>> {
    // An unbindable / could not be bound; it is applied after pivot_root.
    let before = if plan.propagation & libc::MS_UNBINDABLE != 0 {
        libc::MS_PRIVATE | (plan.propagation & libc::MS_REC)
    } else {
        plan.propagation
    };
    sys::mount(None, c"/", None, before, None)
        .map_err(|e| Failure::new("set linux.rootfsPropagation on /", e))?;
    if let Some(parent) = &plan.parent_mount {
        // Slave (not private) unless private was asked for: a slave still
        // receives the host's mounts, as rootfsPropagation "slave" means,
        // and is no longer shared, as pivot_root requires.
        let flag = if plan.propagation & (libc::MS_PRIVATE | libc::MS_UNBINDABLE) != 0 {
            libc::MS_PRIVATE
        } else {
            libc::MS_SLAVE
        };
        sys::mount(None, parent, None, flag, None)
            .map_err(|e| Failure::with("make the rootfs's parent mount non-shared", parent, e))?;
    }
    sys::mount(
        Some(&plan.path),
        &plan.path,
        None,
        libc::MS_BIND | libc::MS_REC,
        None,
    )
    .map_err(|e| Failure::with("bind-mount the rootfs", &plan.path, e))?;
    let root = rustix::fs::open(
        plan.path.as_c_str(),
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Failure::with("open the rootfs", &plan.path, e.into()))?;
    for m in &plan.mounts {
        mounts::apply(root.as_fd(), m)?;
    }
    devices::create_configured(root.as_fd(), &plan.devices, plan.in_userns)?;
    if plan.default_devices {
        devices::create_defaults(root.as_fd(), plan.in_userns)?;
    }
    Ok(root)
}

/// Makes `root` the process's `/`: `pivot_root(".", ".")` and a lazy
/// unmount of the old root, or with `--no-pivot` a move of the mount onto
/// `/` and a chroot.
pub fn enter(plan: &RootfsPlan, root: OwnedFd) -> Result<(), Failure<'_>> {
    rustix::process::fchdir(&root).map_err(|e| Failure::new("chdir to the rootfs", e.into()))?;
    drop(root);
    if plan.no_pivot {
        sys::mount(Some(c"."), c"/", None, libc::MS_MOVE, None)
            .map_err(|e| Failure::new("move the rootfs onto /", e))?;
        rustix::process::chroot(c".").map_err(|e| Failure::new("chroot", e.into()))?;
    } else {
        let old_root = rustix::fs::open(
            c"/",
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| Failure::new("open the old root", e.into()))?;
        rustix::process::pivot_root(c".", c".")
            .map_err(|e| Failure::new("pivot_root", e.into()))?;
        // The old root is now stacked on the new one. Work on it from its
        // own directory: "." from the new root's directory would make the
        // container's own mounts slaves (losing `shared` options).
        rustix::process::fchdir(&old_root)
            .map_err(|e| Failure::new("chdir to the old root", e.into()))?;
        drop(old_root);
        // Keep our unmount from propagating to the host, then detach it.
        sys::mount(None, c".", None, libc::MS_SLAVE | libc::MS_REC, None)
            .map_err(|e| Failure::new("make the old root a slave", e))?;
        rustix::mount::unmount(c".", rustix::mount::UnmountFlags::DETACH)
            .map_err(|e| Failure::new("unmount the old root", e.into()))?;
    }
    rustix::process::chdir(c"/").map_err(|e| Failure::new("chdir /", e.into()))?;
    if plan.parent_mount.is_some() {
        sys::mount(None, c"/", None, plan.propagation, None)
            .map_err(|e| Failure::new("set linux.rootfsPropagation on the new root", e))?;
    }
    Ok(())
}

/// After `pivot_root`: masked paths, read-only paths and a read-only root.
///
/// Each path is reached from the fd of the mount that holds it (the procfs
/// or sysfs brisk mounted, checked to be one; any mount of the config),
/// walked beneath it (`procfs::open_beneath`), and masked or made
/// read-only through the fd found: wherever a rename in the rootfs has
/// put that mount meanwhile, and never on a decoy put in its place. A
/// path missing beneath the mount is skipped (nothing to hide); any other
/// failure (a name that crosses another mount, a magic link, a mount that
/// is not the filesystem it should be) is an error naming the path.
pub fn finish(plan: &RootfsPlan) -> Result<(), Failure<'_>> {
    let mut masks = Masks::default();
    // The mount whose filesystem was checked last (once is enough: an
    // fd's filesystem does not change).
    let mut checked = None;
    if !plan.masked.is_empty() {
        masks.null =
            Some(open_null().map_err(|e| Failure::with("mask paths with", c"/dev/null", e))?);
    }
    for t in plan.masked.iter().filter(|t| !t.covered) {
        let fail = |e| Failure::with("mask path", &t.path, e);
        if let Some(target) = resolve_target(plan, t, &mut checked).map_err(fail)? {
            masks.apply(target.as_fd()).map_err(fail)?;
        }
    }
    for t in plan.readonly_paths.iter().filter(|t| !t.covered) {
        let fail = |e| Failure::with("make path read-only", &t.path, e);
        if let Some(target) = resolve_target(plan, t, &mut checked).map_err(fail)? {
            readonly(target.as_fd()).map_err(fail)?;
        }
    }
    if plan.readonly {
        remount_readonly(c"/", libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY)
            .map_err(|e| Failure::new("remount the root read-only", e))?;
    }
    Ok(())
}

/// An `O_PATH` fd of what a masked or read-only path names, or None when
/// it does not exist. In a mount of the config: beneath that mount's fd
/// (a procfs or sysfs checked to be one), the last name allowed to be a
/// mount point itself (a bind of the config, an earlier mask: the mask
/// goes on top, as mount(2) by path would put it). In the image's own
/// files: inside the root, as any path of the image. `checked`: the mount
/// whose filesystem was checked last.
fn resolve_target(
    plan: &RootfsPlan,
    t: &PathTarget,
    checked: &mut Option<usize>,
) -> io::Result<Option<OwnedFd>> {
    use rustix::io::Errno;
    let missing = |e: io::Error| match e.raw_os_error() {
        Some(libc::ENOENT) => Ok(None),
        _ => Err(e),
    };
    let Some(i) = t.mount else {
        // enter() left the working directory at the new root.
        return resolve::open_in_root(rustix::fs::CWD, t.rel.as_bytes())
            .map_or_else(missing, |fd| Ok(Some(fd)));
    };
    let m = &plan.mounts[i];
    let Some(mount) = m.kept_fd() else {
        // apply() keeps the fd of every mount a path was planned in.
        return Err(io::Error::from_raw_os_error(libc::EBADF));
    };
    if let (Some(magic), false) = (
        m.fstype.as_deref().and_then(procfs::magic_of),
        *checked == Some(i),
    ) {
        procfs::check_magic(mount, magic)?;
        *checked = Some(i);
    }
    let Some(name) = &t.name else {
        // The mount itself (a file, for a bind of one).
        return Ok(Some(rustix::io::fcntl_dupfd_cloexec(mount, 0)?));
    };
    match procfs::open_beneath(mount, &t.rel, OFlags::PATH) {
        Ok(fd) => Ok(Some(fd)),
        // A mount crossed on the way: only a mount on the last name is
        // taken, the top one, as mount(2) finds it (no other namespace can
        // mount in the init's); not one reached through a symlink.
        Err(e) if e.raw_os_error() == Some(libc::EXDEV) => {
            let parent = match t.parent.as_bytes() {
                b"." => None,
                _ => match procfs::open_beneath(mount, &t.parent, OFlags::PATH | OFlags::DIRECTORY)
                {
                    Ok(fd) => Some(fd),
                    Err(e) => return missing(e),
                },
            };
            let fd = rustix::fs::openat(
                parent.as_ref().map_or(mount, |p| p.as_fd()),
                name.as_c_str(),
                OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )?;
            let kind = rustix::fs::FileType::from_raw_mode(rustix::fs::fstat(&fd)?.st_mode);
            if kind == rustix::fs::FileType::Symlink {
                return Err(Errno::XDEV.into());
            }
            Ok(Some(fd))
        }
        Err(e) => missing(e),
    }
}

/// The sources of the masks: the checked null device (`open_null`) for
/// files, one read-only tmpfs for directories. Each mask is a detached
/// copy of one of them (`open_tree`) moved onto the target's fd.
#[derive(Default)]
struct Masks {
    null: Option<OwnedFd>,
    /// The tmpfs of the first masked directory (attached there), copied
    /// for the next ones: one superblock for all.
    tmpfs: Option<OwnedFd>,
}

impl Masks {
    fn apply(&mut self, target: BorrowedFd<'_>) -> io::Result<()> {
        let st = rustix::fs::fstat(target)?;
        let is_dir = rustix::fs::FileType::from_raw_mode(st.st_mode).is_dir();
        let source = match (is_dir, &self.tmpfs, &self.null) {
            (true, None, _) => {
                let tmpfs = sys::new_mount(
                    c"tmpfs",
                    Some(c"tmpfs"),
                    options::sb_flag_keys(libc::MS_RDONLY).map(|k| (k, None)),
                    options::mount_attr(libc::MS_RDONLY),
                )?;
                sys::move_mount(tmpfs.as_raw_fd(), target.as_raw_fd())?;
                self.tmpfs = Some(tmpfs);
                return Ok(());
            }
            (true, Some(tmpfs), _) => tmpfs.as_fd(),
            (false, _, Some(null)) => null.as_fd(),
            (false, _, None) => return Err(io::Error::from_raw_os_error(libc::EBADF)),
        };
        let copy = clone_tree(source, false)?;
        sys::move_mount(copy.as_raw_fd(), target.as_raw_fd())
    }
}

/// A detached copy of the mount (or the part of one) that `fd` names, and
/// of the mounts below it with `recursive`.
fn clone_tree(fd: BorrowedFd<'_>, recursive: bool) -> io::Result<OwnedFd> {
    use rustix::mount::OpenTreeFlags;
    let flags = OpenTreeFlags::OPEN_TREE_CLONE
        | OpenTreeFlags::OPEN_TREE_CLOEXEC
        | OpenTreeFlags::AT_EMPTY_PATH;
    let flags = if recursive {
        flags | OpenTreeFlags::AT_RECURSIVE
    } else {
        flags
    };
    Ok(rustix::mount::open_tree(fd, c"", flags)?)
}

/// Makes what `target` names read-only: a recursive copy of it, made
/// read-only all the way down (mount_setattr keeps the flags the kernel
/// locked), moved on top of it.
fn readonly(target: BorrowedFd<'_>) -> io::Result<()> {
    let copy = clone_tree(target, true)?;
    let attr = sys::MountAttr {
        attr_set: options::attr::RDONLY,
        ..Default::default()
    };
    sys::mount_setattr(copy.as_raw_fd(), true, &attr)?;
    sys::move_mount(copy.as_raw_fd(), target.as_raw_fd())
}

/// The source of the masked files: the container's `/dev/null` (after
/// `pivot_root`, resolved inside the root, no magic link followed), opened
/// once and checked to be the null device. An image's `/dev/null` that is
/// anything else (without a `/dev` tmpfs in the config, the image's own is
/// used) would be what the masked files show, or, a dangling symlink or a
/// link into `/proc/self/fd`, fail every bind with ENOENT of the source.
fn open_null() -> io::Result<OwnedFd> {
    // enter() left the working directory at the new root.
    let fd = resolve::open_in_root(rustix::fs::CWD, b"dev/null")?;
    let st = rustix::fs::fstat(&fd)?;
    let kind = rustix::fs::FileType::from_raw_mode(st.st_mode);
    let (major, minor) = (rustix::fs::major(st.st_rdev), rustix::fs::minor(st.st_rdev));
    if kind == rustix::fs::FileType::CharacterDevice && (major, minor) == (1, 3) {
        return Ok(fd);
    }
    let what = match kind {
        rustix::fs::FileType::CharacterDevice => format!("the character device {major}:{minor}"),
        rustix::fs::FileType::BlockDevice => format!("the block device {major}:{minor}"),
        rustix::fs::FileType::RegularFile => "a regular file".into(),
        rustix::fs::FileType::Directory => "a directory".into(),
        rustix::fs::FileType::Fifo => "a fifo".into(),
        rustix::fs::FileType::Socket => "a socket".into(),
        _ => "not a device".into(),
    };
    Err(io::Error::new(
        io::ErrorKind::InvalidData,
        format!("not the null device (char 1:3) but {what}"),
    ))
}

/// A bind remount keeps the flags the kernel locked on the mount (nosuid,
/// nodev, noexec in a user namespace), so add whatever is already set.
pub(crate) fn remount_readonly(path: &CStr, flags: libc::c_ulong) -> io::Result<()> {
    let locked = mounted_flags(path).unwrap_or(0);
    sys::mount(None, path, None, flags | locked, None)
}

/// The MS_* flags a mount currently has that a remount must repeat.
pub(crate) fn mounted_flags(path: &CStr) -> io::Result<libc::c_ulong> {
    let st = rustix::fs::statvfs(path)?;
    let f = st.f_flag;
    let mut out = 0;
    for (st_flag, ms_flag) in [
        (rustix::fs::StatVfsMountFlags::NOSUID, libc::MS_NOSUID),
        (rustix::fs::StatVfsMountFlags::NODEV, libc::MS_NODEV),
        (rustix::fs::StatVfsMountFlags::NOEXEC, libc::MS_NOEXEC),
        (rustix::fs::StatVfsMountFlags::NOATIME, libc::MS_NOATIME),
        (
            rustix::fs::StatVfsMountFlags::NODIRATIME,
            libc::MS_NODIRATIME,
        ),
        (rustix::fs::StatVfsMountFlags::RELATIME, libc::MS_RELATIME),
    ] {
        if f.contains(st_flag) {
            out |= ms_flag;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_escapes() {
        assert_eq!(
            unescape_mountinfo("/a\\040b"),
            std::path::PathBuf::from("/a b")
        );
        assert_eq!(
            unescape_mountinfo("/plain"),
            std::path::PathBuf::from("/plain")
        );
    }

    fn mounts(list: serde_json::Value) -> Vec<MountPlan> {
        let ctx = mounts::Context {
            bundle: Path::new("/"),
            in_userns: false,
            new_cgroup_ns: true,
            userns: None,
            mount_label: None,
            cgroup_path: None,
            cgroup2_host: Some(true),
            sysfs_fallback: false,
        };
        let list: Vec<oci_spec::runtime::Mount> = serde_json::from_value(list).unwrap();
        list.iter()
            .enumerate()
            .map(|(i, m)| mounts::plan(i, m, ctx).unwrap())
            .collect()
    }

    fn paths(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    /// Each path goes to the last mount whose destination holds it (by
    /// whole names), cleaned and split; that mount keeps its fd.
    #[test]
    fn masked_paths_are_planned_in_the_mount_that_holds_them() {
        let mut m = mounts(serde_json::json!([
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs"},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs"},
            {"destination": "/proc/x", "type": "tmpfs", "source": "tmpfs"},
            {"destination": "/proc/x/../y", "type": "tmpfs", "source": "tmpfs"},
        ]));
        let mut done = Vec::new();
        let t = path_targets(
            "linux.maskedPaths",
            Some(&paths(&[
                "/proc/kcore",
                "/proc/x/y",
                "/proc/./sys/../sys//kernel/",
                "/etc/secret",
                "/sys",
                "/procfoo/x",
                "/proc/y/z",
            ])),
            &mut m,
            &mut done,
        )
        .unwrap();
        let got: Vec<_> = t
            .iter()
            .map(|t| {
                (
                    t.mount,
                    t.rel.to_str().unwrap(),
                    t.parent.to_str().unwrap(),
                    t.name.as_deref().map(|n| n.to_str().unwrap()),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (Some(0), "kcore", ".", Some("kcore")),
                (Some(3), "y", ".", Some("y")),
                (Some(0), "sys/kernel", "sys", Some("kernel")),
                (None, "etc/secret", "etc", Some("secret")),
                (Some(2), ".", ".", None),
                (None, "procfoo/x", "procfoo", Some("x")),
                // A destination with `..` holds nothing by name.
                (Some(0), "y/z", "y", Some("z")),
            ]
        );
        let kept: Vec<bool> = m.iter().map(|m| m.fd.is_some()).collect();
        assert_eq!(kept, [true, false, true, true, false]);
        // Made with the mount API, so that they have an fd.
        assert!(m[0].fs_params.is_some() && m[2].fs_params.is_some());
        assert!(path_targets("f", Some(&paths(&["proc/kcore"])), &mut m, &mut done).is_err());
    }

    /// A path below one masked or made read-only before it is covered;
    /// masked paths come first, whatever the order of the lists.
    #[test]
    fn paths_below_earlier_masked_or_read_only_paths_are_covered() {
        let mut m = mounts(serde_json::json!([
            {"destination": "/proc", "type": "proc", "source": "proc"},
        ]));
        let mut done = Vec::new();
        let masked = path_targets(
            "m",
            Some(&paths(&[
                "/proc/acpi",
                "/proc/acpi/x",
                "/proc/acpi",
                "/proc/sys/x",
            ])),
            &mut m,
            &mut done,
        )
        .unwrap();
        let ro = path_targets(
            "r",
            Some(&paths(&[
                "/proc/sys/kernel",
                "/proc/sys",
                "/proc/sys/net",
                "/proc/acpi/y",
            ])),
            &mut m,
            &mut done,
        )
        .unwrap();
        let covered = |t: &[PathTarget]| t.iter().map(|t| t.covered).collect::<Vec<_>>();
        assert_eq!(covered(&masked), [false, true, false, false]);
        assert_eq!(covered(&ro), [false, false, true, true]);
    }

    #[test]
    fn mount_point_of_root_files() {
        assert_eq!(
            mount_point_of(Path::new("/proc/self")).unwrap(),
            std::path::PathBuf::from("/proc")
        );
    }
}
