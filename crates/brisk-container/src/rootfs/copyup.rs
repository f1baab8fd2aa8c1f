//! `tmpcopyup` (a runc/crun extension podman uses for `--read-only`): the
//! files under a tmpfs mount point are copied into the new tmpfs, so that
//! `/run` or `/tmp` of the image keep their content while becoming
//! writable. Works on fds only: the source is the directory the mount
//! covers (opened before mounting), the target the new tmpfs (a fresh
//! filesystem with nothing hostile in it). Only this option's path
//! allocates in the init.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags};

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
        let st = rustix::fs::statat(src, name, AtFlags::SYMLINK_NOFOLLOW)?;
        let mode = Mode::from_raw_mode(st.st_mode & 0o7777);
        match FileType::from_raw_mode(st.st_mode) {
            FileType::Directory => {
                rustix::fs::mkdirat(dst, name, mode)?;
                let s = rustix::fs::openat(
                    src,
                    name,
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )?;
                let d = rustix::fs::openat(
                    dst,
                    name,
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )?;
                copy_tree(s.as_fd(), d.as_fd(), depth + 1)?;
            }
            FileType::RegularFile => {
                let s = rustix::fs::openat(
                    src,
                    name,
                    OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
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
                copy_data(&s, &d, st.st_size as u64)?;
            }
            FileType::Symlink => {
                let target = rustix::fs::readlinkat(src, name, Vec::new())?;
                rustix::fs::symlinkat(target.as_c_str(), dst, name)?;
            }
            other => rustix::fs::mknodat(dst, name, other, mode, st.st_rdev)?,
        }
        rustix::fs::chownat(
            dst,
            name,
            Some(rustix::fs::Uid::from_raw(st.st_uid)),
            Some(rustix::fs::Gid::from_raw(st.st_gid)),
            AtFlags::SYMLINK_NOFOLLOW,
        )?;
        if FileType::from_raw_mode(st.st_mode) != FileType::Symlink {
            // The umask and chown may have cut setuid/setgid bits.
            rustix::fs::chmodat(dst, name, mode, AtFlags::empty())?;
        }
    }
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
        crate::sys::write_all(std::os::fd::AsRawFd::as_raw_fd(dst), &buf[..n])?;
    }
}
