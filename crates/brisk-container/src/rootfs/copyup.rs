//! `tmpcopyup` (a runc/crun extension podman uses for `--read-only` and
//! `--tmpfs`): the files under a tmpfs mount point are copied into the new
//! tmpfs, so that `/run` or `/tmp` of the image keep their content while
//! becoming writable. Works on fds only:
//!
//! - the target is the new tmpfs, still detached while it is filled (made
//!   with the mount API, see `mounts::apply`): nothing else can reach it,
//!   and owners and modes are set on the fds of what was made (fchown,
//!   fchmod), never by a name that could have become a symlink;
//! - the source is the directory the mount covers, opened before mounting,
//!   which another container writing on a shared rootfs can change during
//!   the copy: each entry is opened once, as itself (`O_PATH`, no symlink
//!   followed, no mount crossed), and its type, mode and owner read from
//!   that fd; a file's data is read through a reopening of the same fd.
//!   A rename meanwhile can change which entry of the directory is copied,
//!   never make the copy follow a symlink or open a device or a fifo.
//!
//! Only this option's path allocates in the init.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use rustix::fs::{AtFlags, Dir, FileType, Gid, Mode, OFlags, ResolveFlags, Uid};

use crate::sys::FdPath;

/// Opens the directory `dir` (an O_PATH fd) for reading its entries.
pub fn open_dir(dir: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    Ok(rustix::fs::openat(
        dir,
        c".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// Copies everything in `src` into `dst` (files, directories, symlinks,
/// device nodes and fifos), with modes and owners.
pub fn copy_tree(src: BorrowedFd<'_>, dst: BorrowedFd<'_>, depth: u32) -> io::Result<()> {
    if depth > 64 {
        return Err(io::Error::from_raw_os_error(libc::ELOOP));
    }
    let mut dir = Dir::read_from(src)?;
    while let Some(entry) = dir.read() {
        let entry = entry?;
        let name = entry.file_name();
        if name == c"." || name == c".." {
            continue;
        }
        let s = open_entry(src, name)?;
        let st = rustix::fs::fstat(&s)?;
        let mode = Mode::from_raw_mode(st.st_mode & 0o7777);
        let owner = (Uid::from_raw(st.st_uid), Gid::from_raw(st.st_gid));
        match FileType::from_raw_mode(st.st_mode) {
            FileType::Directory => {
                rustix::fs::mkdirat(dst, name, mode)?;
                let d = rustix::fs::openat(
                    dst,
                    name,
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )?;
                copy_tree(open_dir(s.as_fd())?.as_fd(), d.as_fd(), depth + 1)?;
                set_owner_and_mode(&d, owner, mode)?;
            }
            FileType::RegularFile => {
                // The same file, readable: a reopening of the O_PATH fd
                // through /proc (before pivot_root, the host's), not a
                // lookup of its name.
                let r = rustix::fs::open(
                    FdPath::new(s.as_raw_fd()).as_cstr(),
                    OFlags::RDONLY | OFlags::NOCTTY | OFlags::CLOEXEC,
                    Mode::empty(),
                )?;
                let d = rustix::fs::openat(
                    dst,
                    name,
                    OFlags::WRONLY
                        | OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    mode,
                )?;
                copy_data(&r, &d, st.st_size as u64)?;
                set_owner_and_mode(&d, owner, mode)?;
            }
            FileType::Symlink => {
                // An empty path: the link the O_PATH fd names.
                let target = rustix::fs::readlinkat(&s, c"", Vec::new())?;
                rustix::fs::symlinkat(target.as_c_str(), dst, name)?;
                rustix::fs::chownat(
                    dst,
                    name,
                    Some(owner.0),
                    Some(owner.1),
                    AtFlags::SYMLINK_NOFOLLOW,
                )?;
            }
            other => {
                rustix::fs::mknodat(dst, name, other, mode, st.st_rdev)?;
                let d = rustix::fs::openat(
                    dst,
                    name,
                    OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )?;
                rustix::fs::chownat(&d, c"", Some(owner.0), Some(owner.1), AtFlags::EMPTY_PATH)?;
                // mknod gave the exact mode (the init's umask is 0) but
                // chown cleared setuid/setgid; fchmod refuses an O_PATH fd
                // (and opening a device or a fifo is no way to get one).
                if mode.bits() & 0o6000 != 0 {
                    rustix::fs::chmod(FdPath::new(d.as_raw_fd()).as_cstr(), mode)?;
                }
            }
        }
    }
    Ok(())
}

/// The entry `name` of `dir` itself, as an O_PATH fd: a symlink is not
/// followed, and an entry with a mount on it (a directory of the container
/// renamed into the source) is refused (EXDEV) rather than crossed.
fn open_entry(dir: BorrowedFd<'_>, name: &std::ffi::CStr) -> io::Result<OwnedFd> {
    let mut tries = 0;
    loop {
        match rustix::fs::openat2(
            dir,
            name,
            OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::BENEATH | ResolveFlags::NO_XDEV | ResolveFlags::NO_SYMLINKS,
        ) {
            // openat2 asks callers to retry when a rename raced the lookup.
            Err(rustix::io::Errno::AGAIN) if tries < 16 => tries += 1,
            r => return r.map_err(io::Error::from),
        }
    }
}

/// chown, then the mode: chown clears the setuid and setgid bits.
fn set_owner_and_mode(fd: &OwnedFd, owner: (Uid, Gid), mode: Mode) -> io::Result<()> {
    rustix::fs::fchown(fd, Some(owner.0), Some(owner.1))?;
    rustix::fs::fchmod(fd, mode)?;
    Ok(())
}

fn copy_data(src: &OwnedFd, dst: &OwnedFd, mut left: u64) -> io::Result<()> {
    while left > 0 {
        match rustix::fs::copy_file_range(src, None, dst, None, left.min(1 << 30) as usize) {
            Ok(0) => return Ok(()),
            Ok(n) => left -= n as u64,
            // Across filesystems (the image's and the tmpfs) the kernel may
            // refuse: copy through a buffer.
            Err(rustix::io::Errno::XDEV | rustix::io::Errno::INVAL | rustix::io::Errno::NOSYS) => {
                return copy_by_read(src, dst)
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

fn copy_by_read(src: &OwnedFd, dst: &OwnedFd) -> io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = rustix::io::read(src, &mut buf)?;
        if n == 0 {
            return Ok(());
        }
        crate::sys::write_all(dst.as_raw_fd(), &buf[..n])?;
    }
}
