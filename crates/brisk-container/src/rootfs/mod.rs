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
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
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
    pub masked: Vec<CString>,
    pub readonly_paths: Vec<CString>,
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
    let cpaths = |field: &str, v: Option<&Vec<String>>| -> Result<Vec<CString>> {
        v.into_iter()
            .flatten()
            .enumerate()
            .map(|(i, p)| {
                if !p.starts_with('/') {
                    return Err(Error::invalid(
                        format!("{field}[{i}]"),
                        format!("{p:?} is not absolute"),
                    ));
                }
                CString::new(p.as_str())
                    .map_err(|_| Error::invalid(format!("{field}[{i}]"), "contains NUL"))
            })
            .collect()
    };
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
        masked: cpaths(
            "linux.maskedPaths",
            linux.and_then(|l| l.masked_paths().as_ref()),
        )?,
        readonly_paths: cpaths(
            "linux.readonlyPaths",
            linux.and_then(|l| l.readonly_paths().as_ref()),
        )?,
    })
}

/// Whether SELinux is enabled: its filesystem is mounted where the
/// userspace tools look for it.
pub fn selinux_enabled() -> bool {
    const SELINUX_MAGIC: i64 = 0xf97c_ff8c;
    rustix::fs::statfs("/sys/fs/selinux").is_ok_and(|s| s.f_type as i64 == SELINUX_MAGIC)
}

/// For every idmapped mount: a user namespace with its mapping (one per
/// distinct mapping) and the detached, idmapped clone of its source.
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
        m.idmapped_tree = Some(tree);
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
pub fn finish(plan: &RootfsPlan) -> Result<(), Failure<'_>> {
    if !plan.masked.is_empty() {
        let null = open_null().map_err(|e| Failure::with("mask paths with", c"/dev/null", e))?;
        let mut clone = None;
        for p in &plan.masked {
            mask_path(null.as_fd(), &mut clone, p).map_err(|e| Failure::with("mask path", p, e))?;
        }
    }
    for p in &plan.readonly_paths {
        readonly_path(p).map_err(|e| Failure::with("make path read-only", p, e))?;
    }
    if plan.readonly {
        remount_readonly(c"/", libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY)
            .map_err(|e| Failure::new("remount the root read-only", e))?;
    }
    Ok(())
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

/// Masks one path after `pivot_root`: the null device bound over a file,
/// a read-only tmpfs over a directory, nothing for a path that does not
/// exist; any other failure is an error. The target by path, like runc:
/// the lookup is inside the container's root by now (and the paths are
/// mostly in /proc and /sys, which the image does not control). The
/// source is the null device `null` (checked by `open_null`) itself, not a
/// path: a detached copy of it (`open_tree`) moved onto the target, so an
/// ENOENT can only be the target's. A copy that did not move (a missing
/// path, a directory) serves the next path: one `open_tree` per file
/// masked, one `move_mount` per path.
fn mask_path(null: BorrowedFd<'_>, clone: &mut Option<OwnedFd>, path: &CStr) -> io::Result<()> {
    use rustix::mount::{MoveMountFlags, OpenTreeFlags};
    let tree = match clone.take() {
        Some(tree) => tree,
        None => rustix::mount::open_tree(
            null,
            c"",
            OpenTreeFlags::OPEN_TREE_CLONE
                | OpenTreeFlags::OPEN_TREE_CLOEXEC
                | OpenTreeFlags::AT_EMPTY_PATH,
        )?,
    };
    // As mount(2) looks a target up: symlinks and automounts followed.
    let moved = rustix::mount::move_mount(
        &tree,
        c"",
        rustix::fs::CWD,
        path,
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH
            | MoveMountFlags::MOVE_MOUNT_T_SYMLINKS
            | MoveMountFlags::MOVE_MOUNT_T_AUTOMOUNTS,
    );
    let e = match moved {
        Ok(()) => return Ok(()),
        Err(e) => e,
    };
    *clone = Some(tree);
    match e {
        rustix::io::Errno::NOENT => Ok(()),
        // A file onto a directory: EINVAL (ENOTDIR from a path whose
        // parent is not a directory: the stat tells).
        rustix::io::Errno::INVAL | rustix::io::Errno::NOTDIR if is_dir(path) == Some(true) => {
            sys::mount(Some(c"tmpfs"), path, Some(c"tmpfs"), libc::MS_RDONLY, None)
        }
        e => Err(e.into()),
    }
}

/// Whether `path`, as mount(2) looks it up (symlinks followed), is a
/// directory; None when it does not exist.
fn is_dir(path: &CStr) -> Option<bool> {
    match rustix::fs::statat(rustix::fs::CWD, path, rustix::fs::AtFlags::empty()) {
        Ok(st) => Some(rustix::fs::FileType::from_raw_mode(st.st_mode).is_dir()),
        Err(_) => None,
    }
}

fn readonly_path(path: &CStr) -> io::Result<()> {
    match sys::mount(Some(path), path, None, libc::MS_BIND | libc::MS_REC, None) {
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
        r => r?,
    }
    remount_readonly(
        path,
        libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY | libc::MS_REC,
    )
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

    #[test]
    fn mount_point_of_root_files() {
        assert_eq!(
            mount_point_of(Path::new("/proc/self")).unwrap(),
            std::path::PathBuf::from("/proc")
        );
    }
}
