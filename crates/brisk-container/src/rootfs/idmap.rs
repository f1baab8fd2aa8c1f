//! Idmapped mounts (`idmap`, `ridmap`, `mounts[].uidMappings` and
//! `gidMappings`), prepared in the parent before the clone.
//!
//! The kernel only lets a process with CAP_SYS_ADMIN over the filesystem's
//! user namespace idmap a mount, which the init of a container with a user
//! namespace no longer has. So the parent clones the source into a detached
//! tree (`open_tree(OPEN_TREE_CLONE)`), sets `MOUNT_ATTR_IDMAP` on it with a
//! user namespace that carries the mapping, and hands the tree's fd to the
//! init, which attaches it with `move_mount` at the destination it resolved
//! inside the rootfs.
//!
//! The mapping is read as the kernel reads a user namespace's `uid_map`: an
//! id `containerID + k` on disk shows as `hostID + k` through the mount.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};

use super::options::{attr, Idmap};
use crate::sys::{self, MountAttr};

/// Where an idmapped mount takes its mapping from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mapping {
    /// The mount's own `uidMappings`/`gidMappings`, as `uid_map` text.
    Own { uid_map: Vec<u8>, gid_map: Vec<u8> },
    /// The container's user namespace.
    Container,
}

/// The container's user namespace, as far as the parent knows it before
/// the clone.
#[derive(Debug, Clone, Copy)]
pub enum ContainerUserns<'a> {
    /// A new one, with these `uid_map`/`gid_map` texts.
    New {
        uid_map: &'a [u8],
        gid_map: &'a [u8],
    },
    /// One joined by path.
    Joined(BorrowedFd<'a>),
}

/// A detached clone of `source` with the mapping of `userns` applied to
/// its top mount (`Idmap::Top`) or to every mount in it.
pub fn idmapped_tree(
    source: &CStr,
    tree_recursive: bool,
    kind: Idmap,
    userns: BorrowedFd<'_>,
) -> io::Result<OwnedFd> {
    let tree = sys::open_tree_clone(source, tree_recursive)?;
    let set = MountAttr {
        attr_set: attr::IDMAP,
        userns_fd: userns.as_raw_fd() as u64,
        ..Default::default()
    };
    sys::mount_setattr(tree.as_raw_fd(), kind == Idmap::Recursive, &set)?;
    Ok(tree)
}

/// A user namespace with the given maps, held by an fd. A short-lived
/// child is cloned into a new user namespace, its maps are written, its
/// namespace is opened, then it exits (it also exits if brisk dies: it
/// waits for EOF on a pipe only brisk holds).
///
/// Must be called while the process is single-threaded (brisk is).
pub fn userns_with_maps(uid_map: &[u8], gid_map: &[u8]) -> io::Result<OwnedFd> {
    let (read_end, write_end) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
    // SAFETY: brisk is single-threaded here; the child only calls
    // async-signal-safe functions (close, read, _exit).
    let (pid, _) = unsafe { sys::fork_with_flags(libc::CLONE_NEWUSER as u64, None)? };
    if pid == 0 {
        wait_for_eof_and_exit(read_end.as_raw_fd(), write_end.as_raw_fd());
    }
    drop(read_end);
    let result = write_maps_and_open(pid, uid_map, gid_map);
    drop(write_end);
    crate::sys::reap(pid);
    result
}

/// In the child: wait until the parent closes its end of the pipe.
fn wait_for_eof_and_exit(read_end: RawFd, write_end: RawFd) -> ! {
    let mut byte = 0u8;
    // SAFETY: both fds are this process's copies; the buffer is one valid
    // byte; _exit ends the process without touching the parent's state.
    unsafe {
        libc::close(write_end);
        while libc::read(read_end, (&mut byte as *mut u8).cast(), 1) < 0
            && *libc::__errno_location() == libc::EINTR
        {}
        libc::_exit(0)
    }
}

fn write_maps_and_open(pid: libc::pid_t, uid_map: &[u8], gid_map: &[u8]) -> io::Result<OwnedFd> {
    std::fs::write(format!("/proc/{pid}/uid_map"), uid_map)?;
    std::fs::write(format!("/proc/{pid}/gid_map"), gid_map)?;
    let ns = std::fs::File::open(format!("/proc/{pid}/ns/user"))?;
    Ok(ns.into())
}
