//! Path handling inside the rootfs, with the kernel as the judge: every
//! lookup is `openat2(RESOLVE_IN_ROOT)` from a directory fd of the rootfs,
//! so `..` and absolute symlinks in the image stay inside it. Creation
//! happens one component at a time under a parent resolved the same way.
//! Runs in the container's init: no heap allocation.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::fs::{self, Mode, OFlags, ResolveFlags};

const MAX_PATH: usize = 4096;

/// Opens `rel` (a path inside the rootfs, with or without a leading `/`) as
/// an `O_PATH` fd, resolving symlinks as if `root` were `/`.
pub fn open_in_root(root: BorrowedFd<'_>, rel: &[u8]) -> io::Result<OwnedFd> {
    let mut buf = [0u8; MAX_PATH];
    let path = to_cstr(&mut buf, rel)?;
    openat2_in_root(root, path)
}

fn openat2_in_root(root: BorrowedFd<'_>, path: &std::ffi::CStr) -> io::Result<OwnedFd> {
    loop {
        match fs::openat2(
            root,
            path,
            OFlags::PATH | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
        ) {
            // openat2 asks callers to retry when a rename raced the lookup.
            Err(rustix::io::Errno::AGAIN) => continue,
            r => return r.map_err(io::Error::from),
        }
    }
}

/// Copies `rel` into `buf` as a relative C path ("." for the root itself).
fn to_cstr<'a>(buf: &'a mut [u8; MAX_PATH], rel: &[u8]) -> io::Result<&'a std::ffi::CStr> {
    let rel = trim_slashes(rel);
    let rel: &[u8] = if rel.is_empty() { b"." } else { rel };
    if rel.len() >= MAX_PATH || rel.contains(&0) {
        return Err(io::Error::from_raw_os_error(libc::ENAMETOOLONG));
    }
    buf[..rel.len()].copy_from_slice(rel);
    buf[rel.len()] = 0;
    std::ffi::CStr::from_bytes_with_nul(&buf[..=rel.len()])
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

fn trim_slashes(mut p: &[u8]) -> &[u8] {
    while let [b'/', rest @ ..] = p {
        p = rest;
    }
    while let [rest @ .., b'/'] = p {
        p = rest;
    }
    p
}

/// What to create at the end of the path when it is missing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Leaf {
    Dir,
    File,
    /// A character device node (mode 0666) of this number.
    CharDevice(u64),
}

/// Resolves `rel` inside the rootfs, creating missing directories (and the
/// last component as `leaf`), and returns an `O_PATH` fd of the result.
///
/// A dangling symlink on the way is followed the way the kernel would
/// inside the root: the walk restarts on the path with the link's target
/// spliced in (at most 40 times, then ELOOP). A component that a rename
/// turns into a dangling symlink between its creation and its lookup
/// restarts the walk too (within the same bound).
pub fn create_in_root(root: BorrowedFd<'_>, rel: &[u8], leaf: Leaf) -> io::Result<OwnedFd> {
    match open_in_root(root, rel) {
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
        r => return r,
    }
    let mut path = [0u8; MAX_PATH];
    let mut len = copy_into(&mut path, trim_slashes(rel))?;
    for _ in 0..40 {
        match walk_creating(root, &path[..len], leaf)? {
            Walk::Done(fd) => return Ok(fd),
            Walk::Restart(next, next_len) => {
                path = next;
                len = next_len;
            }
        }
    }
    Err(io::Error::from_raw_os_error(libc::ELOOP))
}

enum Walk {
    Done(OwnedFd),
    Restart([u8; MAX_PATH], usize),
}

fn copy_into(buf: &mut [u8; MAX_PATH], src: &[u8]) -> io::Result<usize> {
    if src.len() >= MAX_PATH {
        return Err(io::Error::from_raw_os_error(libc::ENAMETOOLONG));
    }
    buf[..src.len()].copy_from_slice(src);
    Ok(src.len())
}

fn walk_creating(root: BorrowedFd<'_>, rel: &[u8], leaf: Leaf) -> io::Result<Walk> {
    let mut buf = [0u8; MAX_PATH];
    let mut parent: Option<OwnedFd> = None;
    let mut start = 0;
    while start < rel.len() {
        let end = rel[start..]
            .iter()
            .position(|&b| b == b'/')
            .map_or(rel.len(), |i| start + i);
        let name = &rel[start..end];
        let last = end == rel.len();
        let next = end + 1;
        if name.is_empty() || name == b"." {
            start = next;
            continue;
        }
        let prefix = to_cstr(&mut buf, &rel[..end])?;
        let fd = match openat2_in_root(root, prefix) {
            Ok(fd) => fd,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) && name != b".." => {
                let dir = match &parent {
                    Some(p) => p.as_fd(),
                    None => root,
                };
                let mut nbuf = [0u8; 256];
                if name.len() >= nbuf.len() {
                    return Err(io::Error::from_raw_os_error(libc::ENAMETOOLONG));
                }
                nbuf[..name.len()].copy_from_slice(name);
                let cname = std::ffi::CStr::from_bytes_until_nul(&nbuf)
                    .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
                let created = match leaf {
                    // O_EXCL never follows a symlink planted at the name.
                    Leaf::File if last => fs::openat(
                        dir,
                        cname,
                        OFlags::CREATE
                            | OFlags::EXCL
                            | OFlags::NOFOLLOW
                            | OFlags::CLOEXEC
                            | OFlags::WRONLY,
                        Mode::from_raw_mode(0o644),
                    )
                    .map(drop),
                    // Nor does mknod (EEXIST).
                    Leaf::CharDevice(dev) if last => fs::mknodat(
                        dir,
                        cname,
                        fs::FileType::CharacterDevice,
                        Mode::from_raw_mode(0o666),
                        dev,
                    ),
                    _ => fs::mkdirat(dir, cname, Mode::from_raw_mode(0o755)),
                };
                match created {
                    Ok(()) => {}
                    Err(rustix::io::Errno::EXIST) => {
                        // Something is there that in-root resolution could
                        // not follow: a dangling symlink. Splice its target
                        // into the path and walk again.
                        if let Some(restart) =
                            splice_symlink(dir, cname, &rel[..start], &rel[end..])?
                        {
                            return Ok(restart);
                        }
                    }
                    Err(e) => return Err(e.into()),
                }
                match openat2_in_root(root, prefix) {
                    Ok(fd) => fd,
                    // A rename swapped the name for a dangling symlink
                    // since it was made or found: walk the path again.
                    Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                        let mut again = [0u8; MAX_PATH];
                        let len = copy_into(&mut again, rel)?;
                        return Ok(Walk::Restart(again, len));
                    }
                    Err(e) => return Err(e),
                }
            }
            Err(e) => return Err(e),
        };
        parent = Some(fd);
        start = next;
    }
    match parent {
        Some(fd) => Ok(Walk::Done(fd)),
        None => open_in_root(root, b".").map(Walk::Done),
    }
}

/// If `name` in `dir` is a symlink, the path `before` + target + `after`
/// (an absolute target replaces `before`).
fn splice_symlink(
    dir: BorrowedFd<'_>,
    name: &std::ffi::CStr,
    before: &[u8],
    after: &[u8],
) -> io::Result<Option<Walk>> {
    let mut target = [0u8; MAX_PATH];
    // SAFETY: name is a valid C string and target a writable buffer of the
    // length passed.
    let n = unsafe {
        libc::readlinkat(
            std::os::fd::AsRawFd::as_raw_fd(&dir),
            name.as_ptr(),
            target.as_mut_ptr().cast(),
            target.len(),
        )
    };
    if n < 0 {
        let e = io::Error::last_os_error();
        // Not a symlink: a race created the name; the caller reopens it.
        return if e.raw_os_error() == Some(libc::EINVAL) {
            Ok(None)
        } else {
            Err(e)
        };
    }
    let target = &target[..n as usize];
    let mut out = [0u8; MAX_PATH];
    let mut len = 0;
    let mut push = |part: &[u8]| -> io::Result<()> {
        if len + part.len() + 1 >= MAX_PATH {
            return Err(io::Error::from_raw_os_error(libc::ENAMETOOLONG));
        }
        if len > 0 && !part.is_empty() {
            out[len] = b'/';
            len += 1;
        }
        out[len..len + part.len()].copy_from_slice(part);
        len += part.len();
        Ok(())
    };
    if target.first() != Some(&b'/') {
        push(trim_slashes(before))?;
    }
    push(trim_slashes(target))?;
    push(trim_slashes(after))?;
    Ok(Some(Walk::Restart(out, len)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use brisk_test_support::{under_qemu, NO_OPENAT2};
    use std::os::unix::fs::symlink;

    fn tempdir(tag: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("brisk-resolve-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn open_dir(p: &std::path::Path) -> OwnedFd {
        fs::open(
            p,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .unwrap()
    }

    #[test]
    fn creates_nested_dirs_and_files() {
        if under_qemu(NO_OPENAT2) {
            return;
        }
        let d = tempdir("nested");
        let root = open_dir(&d);
        create_in_root(root.as_fd(), b"/a/b/c", Leaf::Dir).unwrap();
        assert!(d.join("a/b/c").is_dir());
        create_in_root(root.as_fd(), b"/etc/hosts", Leaf::File).unwrap();
        assert!(d.join("etc/hosts").is_file());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn absolute_symlinks_stay_inside() {
        if under_qemu(NO_OPENAT2) {
            return;
        }
        let d = tempdir("abs");
        let outside = tempdir("abs-outside");
        symlink(&outside, d.join("escape")).unwrap();
        let root = open_dir(&d);
        create_in_root(root.as_fd(), b"/escape/x", Leaf::Dir).unwrap();
        assert!(!outside.join("x").exists(), "created outside the root");
        assert!(d
            .join(outside.strip_prefix("/").unwrap())
            .join("x")
            .is_dir());
        std::fs::remove_dir_all(&d).unwrap();
        std::fs::remove_dir_all(&outside).unwrap();
    }

    #[test]
    fn dotdot_symlinks_stay_inside() {
        if under_qemu(NO_OPENAT2) {
            return;
        }
        let d = tempdir("dotdot");
        std::fs::create_dir(d.join("sub")).unwrap();
        symlink("../../../../../../tmp", d.join("sub/up")).unwrap();
        let root = open_dir(&d);
        create_in_root(root.as_fd(), b"sub/up/brisk-probe", Leaf::File).unwrap();
        assert!(d.join("tmp/brisk-probe").is_file());
        assert!(!std::path::Path::new("/tmp/brisk-probe").exists());
        std::fs::remove_dir_all(&d).unwrap();
    }
}

#[cfg(test)]
mod dangling_tests {
    use super::*;
    use brisk_test_support::{under_qemu, NO_OPENAT2};
    use std::os::unix::fs::symlink;

    #[test]
    fn dangling_symlinks_are_followed_inside() {
        if under_qemu(NO_OPENAT2) {
            return;
        }
        let d = std::env::temp_dir().join(format!("brisk-resolve-dangling-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("etc")).unwrap();
        symlink("/nonexistent-host-dir/sub", d.join("etc/abs")).unwrap();
        symlink("../rel-target", d.join("etc/rel")).unwrap();
        symlink("loop", d.join("loop")).unwrap();
        let root = fs::open(
            &d,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .unwrap();
        create_in_root(root.as_fd(), b"/etc/abs/x", Leaf::Dir).unwrap();
        assert!(d.join("nonexistent-host-dir/sub/x").is_dir());
        assert!(!std::path::Path::new("/nonexistent-host-dir").exists());
        create_in_root(root.as_fd(), b"etc/rel/f", Leaf::File).unwrap();
        assert!(d.join("rel-target/f").is_file());
        let e = create_in_root(root.as_fd(), b"loop/x", Leaf::Dir).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ELOOP));
        std::fs::remove_dir_all(&d).unwrap();
    }
}
