//! The kernel's own filesystems (procfs, sysfs) reached through an fd, not
//! through a path of the container's root.
//!
//! After its mounts the init still acts on `/proc` and `/sys`: masked and
//! read-only paths, sysctls, the LSM label of `execve`. Looked up by name,
//! each of those goes through a directory of the rootfs, and a second
//! container writing on the same rootfs can rename it: a mount point only
//! in the init's mount namespace, which the kernel lets another namespace
//! rename, with a decoy of its own put in its place (runc CVE-2025-31133,
//! CVE-2025-52881). So they start from an fd of the mount brisk made
//! (`MountFd`, kept by `mounts::apply`) or of a procfs checked to be the
//! root of one, and walk beneath it with [`open_beneath`]: never above it,
//! never onto another mount, never through a magic link. Runs in the init:
//! no allocation but for an error.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd};
use std::sync::atomic::{AtomicI32, Ordering};

use rustix::fs::{Mode, OFlags, ResolveFlags};

use crate::sys;

/// `statfs.f_type` of procfs and sysfs.
pub const PROC_SUPER_MAGIC: i64 = 0x9fa0;
pub const SYSFS_MAGIC: i64 = 0x6265_6572;
/// The inode number of the root directory of every procfs.
const PROC_ROOT_INO: u64 = 1;

/// How many times a lookup is retried when the kernel says a rename or a
/// mount raced it (EAGAIN), before failing with EAGAIN.
const RETRIES: usize = 64;

/// The magic number a mount of filesystem type `fstype` must have, for the
/// types whose files the masks and the writes are about.
pub fn magic_of(fstype: &CStr) -> Option<i64> {
    match fstype.to_bytes() {
        b"proc" => Some(PROC_SUPER_MAGIC),
        b"sysfs" => Some(SYSFS_MAGIC),
        _ => None,
    }
}

/// Fails unless `fd` is on a filesystem with the magic number `magic`.
pub fn check_magic(fd: BorrowedFd<'_>, magic: i64) -> io::Result<()> {
    let st = rustix::fs::fstatfs(fd)?;
    if st.f_type as i64 == magic {
        return Ok(());
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidData,
        match magic {
            PROC_SUPER_MAGIC => "not on procfs",
            SYSFS_MAGIC => "not on sysfs",
            _ => "not on the filesystem mounted there",
        },
    ))
}

/// Opens `path` beneath `dir`: `..` and symlinks may not leave it
/// (RESOLVE_BENEATH), no mount is crossed, the last name included
/// (RESOLVE_NO_XDEV: EXDEV), no magic link is followed (`/proc/self/fd/N`,
/// `/proc/self/root`: ELOOP). Plain symlinks are followed: beneath a
/// checked procfs or sysfs they are the kernel's own (`/proc/self`,
/// `/proc/thread-self`, `/proc/net`, `/sys/class/...`), and they cannot
/// lead off the mount either.
pub fn open_beneath(dir: BorrowedFd<'_>, path: &CStr, flags: OFlags) -> io::Result<OwnedFd> {
    for _ in 0..RETRIES {
        match rustix::fs::openat2(
            dir,
            path,
            flags | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::BENEATH | ResolveFlags::NO_XDEV | ResolveFlags::NO_MAGICLINKS,
        ) {
            Err(rustix::io::Errno::AGAIN) => continue,
            r => return r.map_err(io::Error::from),
        }
    }
    Err(io::Error::from_raw_os_error(libc::EAGAIN))
}

/// The root of a procfs, checked (procfs magic, root inode), to write to
/// files of the calling process (`self/...`, `thread-self/...`) and to
/// sysctls. Whichever procfs it is, a file reached beneath its root
/// without crossing a mount is the kernel's: `self` names the caller (or
/// is missing, in a procfs of a pid namespace the caller is not in), and a
/// sysctl belongs to the caller's namespaces.
pub enum ProcRoot<'a> {
    /// A procfs brisk mounted for the container (its mount's fd).
    Mounted(BorrowedFd<'a>),
    /// A procfs opened by path in the current mount namespace.
    Opened(OwnedFd),
}

impl<'a> ProcRoot<'a> {
    /// The procfs mounted for the container, from the fd of its mount.
    pub fn mounted(fd: BorrowedFd<'a>) -> io::Result<Self> {
        check_root(fd)?;
        Ok(ProcRoot::Mounted(fd))
    }

    /// The procfs at `path` in this mount namespace: before the container's
    /// mounts, the host's `/proc` (or that of the mount namespace the
    /// config joins); for `exec`, the container's.
    pub fn open(path: &CStr) -> io::Result<ProcRoot<'static>> {
        let fd = rustix::fs::open(
            path,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        check_root(fd.as_fd())?;
        Ok(ProcRoot::Opened(fd))
    }

    pub fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            ProcRoot::Mounted(fd) => *fd,
            ProcRoot::Opened(fd) => fd.as_fd(),
        }
    }

    /// Writes `data` to `path` (`/proc/...`, as the config and the plan
    /// name it) beneath this procfs.
    pub fn write(&self, path: &CStr, data: &[u8]) -> io::Result<()> {
        let rel = path
            .to_bytes_with_nul()
            .strip_prefix(b"/proc/")
            .and_then(|r| CStr::from_bytes_with_nul(r).ok())
            .ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))?;
        let fd = open_beneath(self.as_fd(), rel, OFlags::WRONLY | OFlags::NOCTTY)?;
        sys::write_all(fd.as_raw_fd(), data)
    }
}

/// Fails unless `fd` is the root directory of a procfs (not a bind of one
/// of its directories, not another filesystem).
fn check_root(fd: BorrowedFd<'_>) -> io::Result<()> {
    check_magic(fd, PROC_SUPER_MAGIC)?;
    if rustix::fs::fstat(fd)?.st_ino as u64 != PROC_ROOT_INO {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "not the root of a procfs",
        ));
    }
    Ok(())
}

/// Room in the plan for the fd of one mount the init makes: filled by the
/// init (its own copy of the plan, through a shared reference, without
/// allocating), read by the steps after `pivot_root`. It holds one fd for
/// good: a second `set` is dropped, so a borrowed fd stays open as long as
/// the slot. Closed on drop; the init never drops its plan (it execs or
/// exits), and the fd is close-on-exec.
pub struct MountFd(AtomicI32);

impl Default for MountFd {
    fn default() -> Self {
        MountFd(AtomicI32::new(-1))
    }
}

impl MountFd {
    /// Keeps `fd`, unless one is kept already (then `fd` is closed).
    pub fn set(&self, fd: OwnedFd) {
        let raw = fd.into_raw_fd();
        if self
            .0
            .compare_exchange(-1, raw, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            // SAFETY: `raw` came from `into_raw_fd` just above and was not
            // stored: this is its only owner.
            drop(unsafe { OwnedFd::from_raw_fd(raw) });
        }
    }

    pub fn get(&self) -> Option<BorrowedFd<'_>> {
        let fd = self.0.load(Ordering::Relaxed);
        // SAFETY: a non-negative value is the fd this slot owns, never
        // replaced and closed only when the slot is dropped, which the
        // borrow of `self` outlives.
        (fd >= 0).then(|| unsafe { BorrowedFd::borrow_raw(fd) })
    }
}

impl Drop for MountFd {
    fn drop(&mut self) {
        let fd = *self.0.get_mut();
        if fd >= 0 {
            // SAFETY: the slot owns this fd; nothing can use it after drop.
            drop(unsafe { OwnedFd::from_raw_fd(fd) });
        }
    }
}

impl std::fmt::Debug for MountFd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MountFd({})", self.0.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use brisk_test_support::{under_qemu, NO_OPENAT2};

    #[test]
    fn the_hosts_proc_is_a_procfs_root_and_writes_stay_beneath_it() {
        if under_qemu(NO_OPENAT2) {
            return;
        }
        let proc = ProcRoot::open(c"/proc").unwrap();
        // A file of the caller, through the kernel's `self` symlink.
        proc.write(
            c"/proc/self/oom_score_adj",
            &std::fs::read("/proc/self/oom_score_adj").unwrap(),
        )
        .unwrap();
        // The LSM files through the kernel's thread-self symlink.
        open_beneath(proc.as_fd(), c"thread-self/attr/current", OFlags::RDONLY).unwrap();
        // Magic links are refused, paths outside /proc too.
        let e = open_beneath(proc.as_fd(), c"self/root/etc", OFlags::PATH).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ELOOP), "{e}");
        let e = proc.write(c"/etc/hostname", b"x").unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EINVAL), "{e}");
        let e = open_beneath(proc.as_fd(), c"../etc", OFlags::PATH).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EXDEV), "{e}");
    }

    #[test]
    fn only_the_root_of_a_procfs_passes() {
        assert!(ProcRoot::open(c"/proc/self").is_err());
        assert!(ProcRoot::open(c"/").is_err());
        let sys = rustix::fs::open(c"/sys", OFlags::PATH | OFlags::CLOEXEC, Mode::empty()).unwrap();
        check_magic(sys.as_fd(), SYSFS_MAGIC).unwrap();
        assert!(check_magic(sys.as_fd(), PROC_SUPER_MAGIC).is_err());
    }

    #[test]
    fn a_mount_fd_slot_keeps_one_fd() {
        let slot = MountFd::default();
        assert!(slot.get().is_none());
        let fd = rustix::fs::open(c"/", OFlags::PATH | OFlags::CLOEXEC, Mode::empty()).unwrap();
        slot.set(fd);
        let kept = slot.get().unwrap().as_raw_fd();
        let other = rustix::fs::open(c"/", OFlags::PATH | OFlags::CLOEXEC, Mode::empty()).unwrap();
        slot.set(other);
        assert_eq!(slot.get().unwrap().as_raw_fd(), kept);
    }
}
