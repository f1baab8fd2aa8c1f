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

/// The mapping of crun's option form, `idmap=uids=0-1000-10;gids=0-1000-10`
/// (`ridmap=` likewise): `uids=` and `gids=`, each one or more
/// `FS-HOST-SIZE` triplets joined by `#`, read as `uid_map` lines (an id
/// `FS + k` on disk shows as `HOST + k`). A triplet starting with `@` is
/// relative to the container's user namespace: HOST is a container id,
/// moved to the host by the container's mapping whose range holds FS (as
/// crun looks it up). Both lists are needed.
pub fn from_option(value: &str, container: Option<ContainerUserns<'_>>) -> Result<Mapping, String> {
    let (mut uid_map, mut gid_map) = (None, None);
    for part in value.split(';') {
        let (slot, list, container_map) = if let Some(l) = part.strip_prefix("uids=") {
            (&mut uid_map, l, container_text(container, true))
        } else if let Some(l) = part.strip_prefix("gids=") {
            (&mut gid_map, l, container_text(container, false))
        } else {
            return Err(format!("{part:?}: expected uids=... or gids=..."));
        };
        if slot.is_some() {
            return Err(format!("{part:?}: given twice"));
        }
        let mut text = String::new();
        for triplet in list.split('#') {
            let (relative, t) = match triplet.strip_prefix('@') {
                Some(t) => (true, t),
                None => (false, triplet),
            };
            let n: Vec<u32> = t
                .split('-')
                .map(|x| x.parse::<u32>())
                .collect::<std::result::Result<_, _>>()
                .map_err(|_| format!("{triplet:?} is not FS-HOST-SIZE"))?;
            let [fs, mut host, size] = n[..] else {
                return Err(format!("{triplet:?} is not FS-HOST-SIZE"));
            };
            if relative {
                let maps = container_map.ok_or_else(|| {
                    format!("{triplet:?}: a relative mapping needs the container's linux.uidMappings and gidMappings")
                })?;
                host = relative_host(maps, fs, host).ok_or_else(|| {
                    format!("{triplet:?}: no mapping of the container's user namespace holds {fs}")
                })?;
            }
            text.push_str(&format!("{fs} {host} {size}\n"));
        }
        *slot = Some(text.into_bytes());
    }
    match (uid_map, gid_map) {
        (Some(uid_map), Some(gid_map)) => Ok(Mapping::Own { uid_map, gid_map }),
        _ => Err("both uids= and gids= are needed".into()),
    }
}

/// The container's `uid_map` (or `gid_map`) text, when brisk writes it.
fn container_text(c: Option<ContainerUserns<'_>>, uids: bool) -> Option<&[u8]> {
    match c {
        Some(ContainerUserns::New { uid_map, gid_map }) => {
            Some(if uids { uid_map } else { gid_map })
        }
        _ => None,
    }
}

/// HOST moved to the host: by the offset of the container mapping line
/// (`container host size`) whose container range holds `fs`.
fn relative_host(map: &[u8], fs: u32, host: u32) -> Option<u32> {
    String::from_utf8_lossy(map).lines().find_map(|l| {
        let n: Vec<u64> = l
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        let [c, h, size] = n[..] else { return None };
        let fs = u64::from(fs);
        (fs >= c && fs < c + size)
            .then(|| (u64::from(host) + h).checked_sub(c))
            .flatten()
            .and_then(|v| u32::try_from(v).ok())
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    fn own(m: Mapping) -> (String, String) {
        match m {
            Mapping::Own { uid_map, gid_map } => (
                String::from_utf8(uid_map).unwrap(),
                String::from_utf8(gid_map).unwrap(),
            ),
            Mapping::Container => panic!("not the option's own mapping"),
        }
    }

    #[test]
    fn option_mappings() {
        let m = from_option("uids=0-1000-10#20-3000-5;gids=0-2000-10", None).unwrap();
        assert_eq!(
            own(m),
            ("0 1000 10\n20 3000 5\n".into(), "0 2000 10\n".into())
        );
        let container = ContainerUserns::New {
            uid_map: b"0 100000 65536\n",
            gid_map: b"0 200000 65536\n",
        };
        let m = from_option("uids=@0-0-10;gids=@5-1-2", Some(container)).unwrap();
        assert_eq!(own(m), ("0 100000 10\n".into(), "5 200001 2\n".into()));
        for bad in [
            "uids=0-1000-10",
            "gids=0-1-1",
            "uids=0-1000;gids=0-1-1",
            "uids=0-1000-10-4;gids=0-1-1",
            "uids=a-b-c;gids=0-1-1",
            "uids=0-1-1;gids=0-1-1;foo=1",
            "uids=0-1-1;uids=0-1-1",
        ] {
            assert!(from_option(bad, None).is_err(), "{bad}");
        }
        // Relative without the container's maps, or outside them.
        assert!(from_option("uids=@0-0-1;gids=0-1-1", None).is_err());
        assert!(from_option("uids=@70000-0-1;gids=0-1-1", Some(container)).is_err());
    }
}
