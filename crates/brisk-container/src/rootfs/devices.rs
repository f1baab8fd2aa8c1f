//! The default devices of a container's `/dev` (null, zero, full, random,
//! urandom, tty) and its standard symlinks, created when the config mounts
//! a tmpfs on `/dev`. In a user namespace mknod is not allowed, so the
//! host's devices are bind-mounted instead.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

use rustix::fs::{FileType, Mode, OFlags};

use super::resolve::open_in_root;
use crate::init::Failure;
use crate::sys::{self, FdPath};

const DEVICES: [(&CStr, &CStr, u32, u32); 6] = [
    (c"null", c"/dev/null", 1, 3),
    (c"zero", c"/dev/zero", 1, 5),
    (c"full", c"/dev/full", 1, 7),
    (c"random", c"/dev/random", 1, 8),
    (c"urandom", c"/dev/urandom", 1, 9),
    (c"tty", c"/dev/tty", 5, 0),
];

const LINKS: [(&CStr, &CStr); 5] = [
    (c"/proc/self/fd", c"fd"),
    (c"/proc/self/fd/0", c"stdin"),
    (c"/proc/self/fd/1", c"stdout"),
    (c"/proc/self/fd/2", c"stderr"),
    (c"pts/ptmx", c"ptmx"),
];

pub fn create_defaults(root: BorrowedFd<'_>, in_userns: bool) -> Result<(), Failure<'static>> {
    let dev = open_in_root(root, b"dev").map_err(|e| Failure::new("open /dev", e))?;
    for (name, host, major, minor) in DEVICES {
        let res = if in_userns {
            bind_host_device(&dev, name, host)
        } else {
            make_device(&dev, name, major, minor)
        };
        res.map_err(|e| Failure::with("create device", name, e))?;
    }
    for (target, name) in LINKS {
        match rustix::fs::symlinkat(target, &dev, name) {
            Ok(()) | Err(rustix::io::Errno::EXIST) => {}
            Err(e) => return Err(Failure::with("create /dev symlink", name, e.into())),
        }
    }
    Ok(())
}

fn make_device(dev: &impl rustix::fd::AsFd, name: &CStr, major: u32, minor: u32) -> io::Result<()> {
    let devnum = rustix::fs::makedev(major, minor);
    match rustix::fs::mknodat(
        dev,
        name,
        FileType::CharacterDevice,
        Mode::from_raw_mode(0o666),
        devnum,
    ) {
        Ok(()) => {}
        Err(rustix::io::Errno::EXIST) => return Ok(()),
        Err(e) => return Err(e.into()),
    }
    // mknod obeys the umask; the spec wants 0666.
    rustix::fs::chmodat(
        dev,
        name,
        Mode::from_raw_mode(0o666),
        rustix::fs::AtFlags::empty(),
    )?;
    Ok(())
}

fn bind_host_device(dev: &impl rustix::fd::AsFd, name: &CStr, host: &CStr) -> io::Result<()> {
    match rustix::fs::openat(
        dev,
        name,
        OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::WRONLY | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o666),
    ) {
        Ok(_) => {}
        Err(rustix::io::Errno::EXIST) => return Ok(()),
        Err(e) => return Err(e.into()),
    }
    let file = rustix::fs::openat(
        dev,
        name,
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let target = FdPath::new(file.as_raw_fd());
    sys::mount(Some(host), target.as_cstr(), None, libc::MS_BIND, None)
}
