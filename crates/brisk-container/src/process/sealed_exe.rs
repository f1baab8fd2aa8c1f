//! Running brisk from a binary no container can write (runc
//! CVE-2019-5736).
//!
//! brisk never re-executes itself for the init: the init and every `exec`
//! child are clones of the brisk process, so until their `execve` their
//! `/proc/<pid>/exe` is the file brisk was started from. A process in the
//! container can make that `execve` load it (swap the program, a `#!`
//! interpreter or the ELF loader for a symlink to `/proc/self/exe` between
//! brisk's check and the kernel's lookup); the program is then brisk's own
//! file, dumpable again, and an `O_PATH` fd of its `/proc/<pid>/exe`
//! reopened for writing once no brisk runs would replace the host binary.
//! No check of paths can close that race (the kernel resolves the
//! interpreters itself, at `execve` time), so the defence is that the file
//! is never writable through that link: before a command that clones into
//! a container (`create`, `run`, `exec`), brisk makes sure it runs from
//!
//! - a read-only mount (an installation that binds brisk read-only costs
//!   nothing more), or
//! - a memfd sealed against writes,
//!
//! and otherwise executes itself once more, from a detached read-only bind
//! mount of its own binary (`open_tree(OPEN_TREE_CLONE)` +
//! `mount_setattr(MOUNT_ATTR_RDONLY)` + `execveat`; no copy, no mount in
//! any namespace), or, where that is not allowed (no CAP_SYS_ADMIN, a
//! kernel older than 5.12), from a sealed memfd copy. Reopening the file
//! for writing through `/proc/<pid>/exe` then fails with EROFS (a write
//! to the memfd with EPERM), for as long as anything holds it.
//!
//! An unprivileged brisk whose binary it cannot write itself needs none of
//! this: its containers cannot get more than the user who runs it.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use crate::sys;

/// Set for the one re-execution, removed by the new process: a binary that
/// is still writable afterwards is an error, never a loop.
const REEXEC_MARK: &str = "_BRISK_SEALED_REEXEC";
const REEXEC_MARK_ENTRY: &CStr = c"_BRISK_SEALED_REEXEC=1";

/// Where the binary this process runs stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exe {
    /// On a read-only mount.
    ReadOnlyMount,
    /// A memfd sealed against writes, shrinking and growing.
    SealedMemfd,
    /// Not writable by this (unprivileged) process.
    NotWritable,
    /// Writable: a container could be made to reach it.
    Writable,
}

const WRITE_SEALS: libc::c_int = libc::F_SEAL_WRITE | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW;

/// What protects the binary this process runs: one `statvfs` when it is
/// on a read-only mount. A sealed memfd is looked for only when `memfd`
/// (after brisk's own re-execution, which may have made one).
pub fn current(memfd: bool) -> io::Result<Exe> {
    // SAFETY: statvfs is plain data; zero is a valid initial value.
    let mut sf: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: a constant path and a valid buffer.
    if unsafe { libc::statvfs(c"/proc/self/exe".as_ptr(), &mut sf) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if sf.f_flag & libc::ST_RDONLY != 0 {
        return Ok(Exe::ReadOnlyMount);
    }
    if memfd && seals()? & WRITE_SEALS == WRITE_SEALS {
        return Ok(Exe::SealedMemfd);
    }
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        // SAFETY: a constant path; access only reads it.
        let r = unsafe {
            libc::faccessat(
                libc::AT_FDCWD,
                c"/proc/self/exe".as_ptr(),
                libc::W_OK,
                libc::AT_EACCESS,
            )
        };
        if r != 0 {
            return Ok(Exe::NotWritable);
        }
    }
    Ok(Exe::Writable)
}

/// The seals of the binary this process runs (0 when it is no memfd:
/// F_GET_SEALS fails).
fn seals() -> io::Result<libc::c_int> {
    let fd = open(c"/proc/self/exe", libc::O_RDONLY)?;
    // SAFETY: fcntl on an fd we own.
    let s = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) };
    Ok(s.max(0))
}

/// Makes sure this process runs from a binary no container can write:
/// returns at once when it does, else executes itself again (same
/// arguments and environment) from a read-only one and does not return.
/// `argv` is the process's own, as main received it.
///
/// # Safety
/// `argv` must be the NULL-terminated argument vector of this process, and
/// no other thread may run (the environment is changed).
pub unsafe fn ensure(argv: *const *const libc::c_char) -> io::Result<()> {
    let marked = std::env::var_os(REEXEC_MARK).is_some();
    if marked {
        std::env::remove_var(REEXEC_MARK);
    }
    match current(marked)? {
        Exe::Writable => {}
        _ => return Ok(()),
    }
    if marked {
        return Err(io::Error::other(
            "brisk's binary is still writable after re-executing from a read-only copy",
        ));
    }
    let exe = match read_only_bind(c"/proc/self/exe") {
        Ok(fd) => fd,
        Err(bind) => sealed_copy().map_err(|copy| {
            io::Error::new(
                copy.kind(),
                format!(
                    "cannot run from a read-only copy of brisk's binary: \
                     read-only bind mount: {bind}; sealed memfd: {copy}"
                ),
            )
        })?,
    };
    // The environment plus the mark, built here rather than with setenv
    // (which would go through the C library's allocator).
    extern "C" {
        static environ: *const *const libc::c_char;
    }
    let mut envp: Vec<*const libc::c_char> = Vec::with_capacity(64);
    envp.push(REEXEC_MARK_ENTRY.as_ptr());
    // SAFETY: environ is the C library's NULL-terminated environment; no
    // other thread changes it.
    unsafe {
        let mut e = environ;
        while !e.is_null() && !(*e).is_null() {
            envp.push(*e);
            e = e.add(1);
        }
    }
    envp.push(std::ptr::null());
    // SAFETY: exe is an fd we own; argv is the process's argument vector
    // (caller's contract) and envp a NULL-terminated array of strings that
    // outlive the call; on success execveat does not return.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            exe.as_raw_fd(),
            c"".as_ptr(),
            argv,
            envp.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
    let e = io::Error::last_os_error();
    Err(io::Error::new(
        e.kind(),
        format!("re-execute brisk from a read-only copy of its binary: {e}"),
    ))
}

/// A detached bind mount of the file at `path`, read-only.
fn read_only_bind(path: &CStr) -> io::Result<OwnedFd> {
    use crate::rootfs::options::attr;
    let tree = sys::open_tree_clone(path, false)?;
    let attr = sys::MountAttr {
        attr_set: attr::RDONLY | attr::NOSUID | attr::NODEV,
        ..Default::default()
    };
    sys::mount_setattr(tree.as_raw_fd(), false, &attr)?;
    Ok(tree)
}

/// A copy of this process's binary in a memfd, sealed against writes.
fn sealed_copy() -> io::Result<OwnedFd> {
    const MFD_EXEC: libc::c_uint = 0x10;
    let name = c"brisk";
    let flags = libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING;
    // SAFETY: a constant name; a returned fd is new and owned.
    let mut fd = unsafe { libc::memfd_create(name.as_ptr(), flags | MFD_EXEC) };
    if fd < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EINVAL) {
        // Before Linux 6.3 there is no MFD_EXEC (and memfds are executable).
        // SAFETY: as above.
        fd = unsafe { libc::memfd_create(name.as_ptr(), flags) };
    }
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this fd; nothing else owns it.
    let memfd = unsafe { OwnedFd::from_raw_fd(fd) };
    let src = open(c"/proc/self/exe", libc::O_RDONLY)?;
    loop {
        // SAFETY: two fds we own; a null offset uses the file positions.
        let n = unsafe {
            libc::sendfile(
                memfd.as_raw_fd(),
                src.as_raw_fd(),
                std::ptr::null_mut(),
                1 << 30,
            )
        };
        match n {
            0 => break,
            n if n > 0 => continue,
            _ => {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        }
    }
    let all = WRITE_SEALS | libc::F_SEAL_SEAL;
    // SAFETY: fcntl on an fd we own with an integer argument.
    if unsafe { libc::fcntl(memfd.as_raw_fd(), libc::F_ADD_SEALS, all) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(memfd)
}

fn open(path: &CStr, flags: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: path is a valid C string.
    let fd: RawFd = unsafe { libc::open(path.as_ptr(), flags | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this fd; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use brisk_test_support::{skip, under_qemu};

    #[test]
    fn a_sealed_copy_cannot_be_written_or_resized() {
        let fd = sealed_copy().expect("sealed copy");
        // SAFETY: fcntl on an fd we own.
        let seals = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) };
        assert_eq!(seals & WRITE_SEALS, WRITE_SEALS);
        let path = format!("/proc/self/fd/{}\0", fd.as_raw_fd());
        let c = CStr::from_bytes_with_nul(path.as_bytes()).expect("path");
        // Opening for writing works; writing does not.
        let w = open(c, libc::O_WRONLY).expect("reopen");
        // SAFETY: a valid one-byte buffer and an fd we own.
        assert_eq!(
            unsafe { libc::write(w.as_raw_fd(), b"x".as_ptr().cast(), 1) },
            -1
        );
        assert_eq!(io::Error::last_os_error().raw_os_error(), Some(libc::EPERM));
        // SAFETY: ftruncate on an fd we own.
        assert_ne!(unsafe { libc::ftruncate(fd.as_raw_fd(), 0) }, 0);
        // The copy is the whole binary: the file an open of /proc/self/exe
        // gives, which sealed_copy read (qemu-user opens its guest's
        // binary there, while a stat of the path would see qemu's).
        let size = std::fs::File::open("/proc/self/exe")
            .and_then(|f| f.metadata())
            .expect("stat")
            .len();
        // SAFETY: lseek on an fd we own.
        let end = unsafe { libc::lseek(fd.as_raw_fd(), 0, libc::SEEK_END) };
        assert_eq!(end as u64, size);
    }

    #[test]
    fn a_read_only_bind_refuses_writes() {
        if under_qemu("qemu-user 7.2 has no open_tree(2)") {
            return;
        }
        // SAFETY: geteuid cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            return skip("needs root (open_tree)");
        }
        let file = std::env::temp_dir().join(format!("brisk-ro-bind-{}", std::process::id()));
        std::fs::write(&file, b"x").expect("write");
        let c = std::ffi::CString::new(file.to_str().expect("utf-8")).expect("path");
        let fd = read_only_bind(&c);
        let _ = std::fs::remove_file(&file);
        let fd = fd.expect("read-only bind");
        // SAFETY: statvfs is plain data; zero is valid.
        let mut sf: libc::statvfs = unsafe { std::mem::zeroed() };
        // SAFETY: an fd we own and a valid buffer.
        assert_eq!(unsafe { libc::fstatvfs(fd.as_raw_fd(), &mut sf) }, 0);
        assert_ne!(sf.f_flag & libc::ST_RDONLY, 0);
        // Reopened for writing through the fd (as through /proc/<pid>/exe):
        // refused by the mount, although the file itself was removed from
        // a writable directory.
        let path = format!("/proc/self/fd/{}\0", fd.as_raw_fd());
        let p = CStr::from_bytes_with_nul(path.as_bytes()).expect("path");
        let e = open(p, libc::O_WRONLY).expect_err("writable");
        assert_eq!(e.raw_os_error(), Some(libc::EROFS), "{e}");
    }
}
