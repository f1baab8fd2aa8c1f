//! Device nodes: the entries of `linux.devices` (planned in the parent,
//! created in the init with mknod, owner and mode), then the default
//! devices of a container's `/dev` (null, zero, full, random, urandom, tty)
//! and its standard symlinks, unless `/dev` is bound from elsewhere. In a
//! user namespace mknod is not allowed, so the host's devices are
//! bind-mounted instead (fifos are still made with mknod).

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

use oci_spec::runtime::{LinuxDevice, LinuxDeviceType};
use rustix::fs::{AtFlags, FileType, Mode, OFlags};

use super::cstring;
use super::mounts::normalize_dest;
use super::resolve::{create_in_root, open_in_root, Leaf};
use crate::error::Failure;
use crate::error::{Error, Result};
use crate::sys::{self, FdPath};

/// One `linux.devices` entry, ready for the init.
#[derive(Debug)]
pub struct DeviceNode {
    /// The absolute path in the container (and of the host's node that is
    /// bound in a user namespace).
    pub path: CString,
    /// Its directory inside the rootfs, without the leading `/`.
    pub dir: CString,
    pub name: CString,
    pub file_type: FileType,
    pub dev: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// Checks and converts `linux.devices`. Missing major/minor numbers are
/// caught by `config::load`, which sees the raw JSON.
pub fn plan(devices: &[LinuxDevice]) -> Result<Vec<DeviceNode>> {
    devices
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let field = |f: &str| format!("linux.devices[{i}].{f}");
            let file_type = match d.typ() {
                LinuxDeviceType::C | LinuxDeviceType::U => FileType::CharacterDevice,
                LinuxDeviceType::B => FileType::BlockDevice,
                LinuxDeviceType::P => FileType::Fifo,
                LinuxDeviceType::A => {
                    return Err(Error::invalid(
                        field("type"),
                        "\"a\" is not a device type (c, b, u or p)",
                    ))
                }
            };
            let path = d.path().to_string_lossy();
            if !path.starts_with('/') {
                return Err(Error::invalid(
                    field("path"),
                    format!("{path:?} is not an absolute path"),
                ));
            }
            let rel = normalize_dest(&path);
            let (dir, name) = match rel.rsplit_once('/') {
                Some((dir, name)) => (dir, name),
                None => ("", rel.as_str()),
            };
            if name.is_empty() || name == ".." {
                return Err(Error::invalid(
                    field("path"),
                    format!("{path:?} does not name a file"),
                ));
            }
            let number = |n: i64, f: &str| {
                u32::try_from(n)
                    .map_err(|_| Error::invalid(field(f), format!("{n} is not a device number")))
            };
            let dev = if file_type == FileType::Fifo {
                0
            } else {
                rustix::fs::makedev(number(d.major(), "major")?, number(d.minor(), "minor")?)
            };
            Ok(DeviceNode {
                path: cstring(&field("path"), format!("/{rel}").as_bytes())?,
                dir: cstring(&field("path"), dir.as_bytes())?,
                name: cstring(&field("path"), name.as_bytes())?,
                file_type,
                dev,
                mode: d.file_mode().unwrap_or(0o666) & 0o7777,
                uid: d.uid().unwrap_or(0),
                gid: d.gid().unwrap_or(0),
            })
        })
        .collect()
}

/// In the init, before the default devices: every `linux.devices` node,
/// its directory created inside the rootfs. An existing file is accepted
/// only if it is the same device (config-linux.md, Devices).
pub fn create_configured<'p>(
    root: BorrowedFd<'_>,
    nodes: &'p [DeviceNode],
    in_userns: bool,
) -> Result<(), Failure<'p>> {
    for node in nodes {
        let dir = create_in_root(root, node.dir.as_bytes(), Leaf::Dir)
            .map_err(|e| Failure::with("create the directory of device", &node.path, e))?;
        let made = if in_userns && node.file_type != FileType::Fifo {
            // An existing file is kept there (EEXIST is not an error).
            bind_host_device(&dir, &node.name, &node.path).map(drop)
        } else {
            make_node(&dir, node)
        };
        match made {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
                return Err(Failure::with(
                    "create device: a different file already exists at",
                    &node.path,
                    e,
                ))
            }
            Err(e) => return Err(Failure::with("create device", &node.path, e)),
        }
    }
    Ok(())
}

/// mknod with the node's mode (the init's umask is 0) and owner. An
/// existing node of the same type and number is left as it is; anything
/// else there is EEXIST.
fn make_node(dir: &impl rustix::fd::AsFd, node: &DeviceNode) -> io::Result<()> {
    let name = node.name.as_c_str();
    match rustix::fs::mknodat(
        dir,
        name,
        node.file_type,
        Mode::from_raw_mode(node.mode),
        node.dev,
    ) {
        Ok(()) => {}
        Err(rustix::io::Errno::EXIST) => {
            let st = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)?;
            let same = FileType::from_raw_mode(st.st_mode) == node.file_type
                && (node.file_type == FileType::Fifo || st.st_rdev == node.dev);
            return if same {
                Ok(())
            } else {
                Err(io::Error::from_raw_os_error(libc::EEXIST))
            };
        }
        Err(e) => return Err(e.into()),
    }
    // The init runs with umask 0 here, so mknod gave the exact mode; the
    // owner is set through an fd of the node, checked to be the one just
    // made (a rename meanwhile must not make chown act on another file).
    let fd = rustix::fs::openat(
        dir,
        name,
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let st = rustix::fs::fstat(&fd)?;
    if FileType::from_raw_mode(st.st_mode) != node.file_type
        || (node.file_type != FileType::Fifo && st.st_rdev != node.dev)
    {
        return Err(io::Error::from_raw_os_error(libc::EEXIST));
    }
    rustix::fs::chownat(
        &fd,
        c"",
        Some(rustix::fs::Uid::from_raw(node.uid)),
        Some(rustix::fs::Gid::from_raw(node.gid)),
        AtFlags::EMPTY_PATH,
    )?;
    Ok(())
}

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

/// The default devices and their symlinks in the container's `/dev`. A
/// name already there (an image's `/dev` without a tmpfs over it) is kept,
/// as runc keeps it; a dangling symlink there is followed inside the root
/// and the device made where it points, as runc does. Whether `/dev/null`
/// is then the null device is checked where it matters: it is the source
/// of the masked paths (`mask_paths`).
pub fn create_defaults(root: BorrowedFd<'_>, in_userns: bool) -> Result<(), Failure<'static>> {
    let dev = open_in_root(root, b"dev").map_err(|e| Failure::new("open /dev", e))?;
    for (name, path, major, minor) in DEVICES {
        let devnum = rustix::fs::makedev(major, minor);
        let made = if in_userns {
            bind_host_device(&dev, name, path)
        } else {
            make_device(&dev, name, devnum)
        };
        match made {
            Ok(true) => {}
            Ok(false) => make_where_a_dangling_symlink_points(root, path, devnum, in_userns)
                .map_err(|e| Failure::with("create device", path, e))?,
            Err(e) => return Err(Failure::with("create device", path, e)),
        }
    }
    for (target, name) in LINKS {
        match rustix::fs::symlinkat(target, &dev, name) {
            Ok(()) | Err(rustix::io::Errno::EXIST) => {}
            Err(e) => return Err(Failure::with("create /dev symlink", name, e.into())),
        }
    }
    Ok(())
}

/// `path` (`/dev/null`, ...) names something already. If that is a
/// symlink whose target does not exist, the device is made at the target,
/// resolved inside the root (the path's own lookup would fail: ENOENT). A
/// magic link (`/proc/self/fd/N`) is refused (ELOOP).
fn make_where_a_dangling_symlink_points(
    root: BorrowedFd<'_>,
    path: &CStr,
    devnum: u64,
    in_userns: bool,
) -> io::Result<()> {
    match open_in_root(root, path.to_bytes()) {
        Ok(_) => return Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
        Err(e) => return Err(e),
    }
    if in_userns {
        let file = create_in_root(root, path.to_bytes(), Leaf::File)?;
        let target = FdPath::new(file.as_raw_fd());
        sys::mount(Some(path), target.as_cstr(), None, libc::MS_BIND, None)
    } else {
        create_in_root(root, path.to_bytes(), Leaf::CharDevice(devnum)).map(drop)
    }
}

/// mknod of a default device (mode 0666: the init's umask is 0). False
/// when something is there already.
fn make_device(dev: &impl rustix::fd::AsFd, name: &CStr, devnum: u64) -> io::Result<bool> {
    match rustix::fs::mknodat(
        dev,
        name,
        FileType::CharacterDevice,
        Mode::from_raw_mode(0o666),
        devnum,
    ) {
        Ok(()) => Ok(true),
        Err(rustix::io::Errno::EXIST) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// The host's device `host` bound onto a new file `name` of `dev`. False
/// when something is there already.
fn bind_host_device(dev: &impl rustix::fd::AsFd, name: &CStr, host: &CStr) -> io::Result<bool> {
    let file = match rustix::fs::openat(
        dev,
        name,
        OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::WRONLY | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o666),
    ) {
        Ok(file) => file,
        Err(rustix::io::Errno::EXIST) => return Ok(false),
        Err(e) => return Err(e.into()),
    };
    // Onto the file just made, through its fd: not a second lookup of its
    // name, which a rename could have pointed elsewhere meanwhile.
    let target = FdPath::new(file.as_raw_fd());
    sys::mount(Some(host), target.as_cstr(), None, libc::MS_BIND, None)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn devices(v: serde_json::Value) -> Vec<LinuxDevice> {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn plans_nodes_with_defaults() {
        let nodes = plan(&devices(serde_json::json!([
            {"path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11, "fileMode": 0o640, "uid": 7},
            {"path": "/dev//sub/./fifo", "type": "p"},
            {"path": "/top", "type": "b", "major": 7, "minor": 1},
        ])))
        .unwrap();
        let kmsg = &nodes[0];
        assert_eq!(kmsg.path.as_bytes(), b"/dev/kmsg");
        assert_eq!(
            (kmsg.dir.as_bytes(), kmsg.name.as_bytes()),
            (&b"dev"[..], &b"kmsg"[..])
        );
        assert_eq!(kmsg.file_type, FileType::CharacterDevice);
        assert_eq!(kmsg.dev, rustix::fs::makedev(1, 11));
        assert_eq!((kmsg.mode, kmsg.uid, kmsg.gid), (0o640, 7, 0));
        let fifo = &nodes[1];
        assert_eq!(fifo.dir.as_bytes(), b"dev/sub");
        assert_eq!(
            (fifo.file_type, fifo.dev, fifo.mode),
            (FileType::Fifo, 0, 0o666)
        );
        assert_eq!(nodes[2].dir.as_bytes(), b"");
        assert_eq!(nodes[2].file_type, FileType::BlockDevice);
    }

    #[test]
    fn rejects_what_the_spec_forbids() {
        for (v, field) in [
            (
                serde_json::json!([{"path": "dev/x", "type": "c", "major": 1, "minor": 3}]),
                "linux.devices[0].path",
            ),
            (
                serde_json::json!([{"path": "/dev/x", "type": "a", "major": 1, "minor": 3}]),
                "linux.devices[0].type",
            ),
            (
                serde_json::json!([{"path": "/", "type": "c", "major": 1, "minor": 3}]),
                "linux.devices[0].path",
            ),
            (
                serde_json::json!([{"path": "/dev/x", "type": "c", "major": -1, "minor": 3}]),
                "linux.devices[0].major",
            ),
        ] {
            let err = plan(&devices(v)).unwrap_err().to_string();
            assert!(err.contains(field), "{err}");
        }
    }
}
