//! Thin, allocation-free wrappers over the system calls that rustix does not
//! offer in the shape the init process needs (raw mount flags, clone3,
//! capset, keyctl, close_range). Every wrapper takes C strings prepared by
//! the parent, so the child never allocates to call them.

use std::ffi::CStr;
use std::io;
use std::os::fd::RawFd;
use std::ptr;

/// Converts a libc return value into an `io::Result`.
pub fn cvt(ret: libc::c_long) -> io::Result<libc::c_long> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn opt_ptr(s: Option<&CStr>) -> *const libc::c_char {
    s.map_or(ptr::null(), CStr::as_ptr)
}

/// mount(2) with raw flags.
pub fn mount(
    source: Option<&CStr>,
    target: &CStr,
    fstype: Option<&CStr>,
    flags: libc::c_ulong,
    data: Option<&CStr>,
) -> io::Result<()> {
    // SAFETY: every pointer is either null or a valid NUL-terminated string
    // that outlives the call; the kernel copies them.
    let ret = unsafe {
        libc::mount(
            opt_ptr(source),
            target.as_ptr(),
            opt_ptr(fstype),
            flags,
            opt_ptr(data).cast(),
        )
    };
    cvt(ret.into()).map(drop)
}

/// A `/proc/self/fd/N` path built on the stack, to mount onto or reopen a
/// file descriptor that was resolved safely inside the rootfs.
pub struct FdPath {
    buf: [u8; 32],
}

impl FdPath {
    pub fn new(fd: RawFd) -> Self {
        const PREFIX: &[u8] = b"/proc/self/fd/";
        let mut buf = [0u8; 32];
        buf[..PREFIX.len()].copy_from_slice(PREFIX);
        let mut digits = [0u8; 12];
        let mut n = fd.unsigned_abs();
        let mut len = 0;
        loop {
            digits[len] = b'0' + (n % 10) as u8;
            len += 1;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        for i in 0..len {
            buf[PREFIX.len() + i] = digits[len - 1 - i];
        }
        FdPath { buf }
    }

    pub fn as_cstr(&self) -> &CStr {
        // The buffer always holds a NUL after the digits (32 > 14 + 10).
        CStr::from_bytes_until_nul(&self.buf).unwrap_or(c"/proc/self/fd")
    }
}

/// The `clone_args` structure of clone3(2).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// clone3's flag to start the child in the cgroup2 directory `cgroup`.
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// Forks like fork(2) but with namespace flags: returns 0 in the child and
/// the child's pid in the parent, and whether the child was born in the
/// cgroup2 directory `cgroup` (`CLONE_INTO_CGROUP`; a kernel without it
/// gets a plain clone and the caller places the child itself). Uses clone3
/// and falls back to clone on kernels without it.
///
/// # Safety
/// The caller must be single-threaded, and the child must only call
/// async-signal-safe code until it execs or exits (the usual fork rules).
pub unsafe fn fork_with_flags(
    flags: u64,
    cgroup: Option<RawFd>,
) -> io::Result<(libc::pid_t, bool)> {
    if let Some(fd) = cgroup {
        let args = CloneArgs {
            flags: flags | CLONE_INTO_CGROUP,
            exit_signal: libc::SIGCHLD as u64,
            cgroup: fd as u64,
            ..Default::default()
        };
        // SAFETY: as in fork_plain, with a valid cgroup directory fd.
        match unsafe { clone3(&args) } {
            Ok(pid) => return Ok((pid, true)),
            Err(e) if !matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::E2BIG)) => {
                return Err(e)
            }
            Err(_) => {}
        }
    }
    // SAFETY: forwarded under the same contract.
    unsafe { fork_plain(flags) }.map(|pid| (pid, false))
}

/// clone3(2) with `args`.
///
/// # Safety
/// args must be a valid clone_args; with no stack given, clone3 behaves
/// like fork and the child continues on a copy of this stack, so the
/// caller must uphold the fork rules.
unsafe fn clone3(args: &CloneArgs) -> io::Result<libc::pid_t> {
    // SAFETY: a valid clone_args of the size passed; the caller upholds the
    // fork rules.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    cvt(ret).map(|pid| pid as libc::pid_t)
}

/// Marks `fd` non-blocking.
pub fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: F_GETFL/F_SETFL on a valid fd.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags < 0 || libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// clone3 (or clone) without a cgroup.
///
/// # Safety
/// As `fork_with_flags`.
unsafe fn fork_plain(flags: u64) -> io::Result<libc::pid_t> {
    // A CLONE_PARENT child gets its parent's exit signal (SIGCHLD for
    // brisk's children); clone3 refuses one given with it.
    let parent = flags & libc::CLONE_PARENT as u64 != 0;
    let args = CloneArgs {
        flags,
        exit_signal: if parent { 0 } else { libc::SIGCHLD as u64 },
        ..Default::default()
    };
    // SAFETY: the caller upholds the fork rules (see clone3).
    let err = match unsafe { clone3(&args) } {
        Ok(pid) => return Ok(pid),
        Err(e) => e,
    };
    if err.raw_os_error() != Some(libc::ENOSYS) {
        return Err(err);
    }
    // SAFETY: as above; the legacy clone with a null stack is fork-like.
    // Its last three arguments are parent_tid, child_tid, tls on x86_64
    // but parent_tid, tls, child_tid on arm64 (CONFIG_CLONE_BACKWARDS):
    // all zero, and no CLONE_*SETTID/CLONE_SETTLS flag reads them, so the
    // one call is right on both.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (flags | libc::SIGCHLD as u64) as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    cvt(ret).map(|pid| pid as libc::pid_t)
}

/// setns(2).
pub fn setns(fd: RawFd, nstype: libc::c_int) -> io::Result<()> {
    // SAFETY: plain system call on an fd the caller owns.
    cvt(unsafe { libc::setns(fd, nstype) }.into()).map(drop)
}

/// unshare(2) with raw flags.
pub fn unshare(flags: libc::c_int) -> io::Result<()> {
    // SAFETY: plain system call with integer flags.
    cvt(unsafe { libc::unshare(flags) }.into()).map(drop)
}

/// Joins a new anonymous session keyring, so the container does not share
/// the caller's keys.
pub fn join_new_session_keyring() -> io::Result<()> {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
    // SAFETY: keyctl(JOIN_SESSION_KEYRING, NULL) takes no pointers but the
    // null name.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_JOIN_SESSION_KEYRING,
            ptr::null::<libc::c_char>(),
        )
    };
    cvt(ret).map(drop)
}

/// Sets the loopback device `lo` of the calling process's network
/// namespace up (SIOCGIFFLAGS + SIOCSIFFLAGS on an AF_INET socket), as
/// runc and crun do in a new network namespace. Allocation-free.
pub fn loopback_up() -> io::Result<()> {
    use std::os::fd::{AsRawFd, FromRawFd};
    // struct ifreq: the name, then a union whose first member here is
    // ifr_flags; 40 bytes on every Linux ABI.
    #[repr(C)]
    struct IfreqFlags {
        name: [u8; 16],
        flags: libc::c_short,
        _pad: [u8; 22],
    }
    const SIOCGIFFLAGS: libc::c_ulong = 0x8913;
    const SIOCSIFFLAGS: libc::c_ulong = 0x8914;
    // SAFETY: socket(2) with constant arguments.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new fd this function owns.
    let fd = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
    let mut req = IfreqFlags {
        name: [0; 16],
        flags: 0,
        _pad: [0; 22],
    };
    req.name[..2].copy_from_slice(b"lo");
    // SAFETY: req is a valid, writable struct ifreq for both requests.
    unsafe {
        cvt(libc::ioctl(fd.as_raw_fd(), SIOCGIFFLAGS as _, &mut req) as libc::c_long)?;
        req.flags |= libc::IFF_UP as libc::c_short;
        cvt(libc::ioctl(fd.as_raw_fd(), SIOCSIFFLAGS as _, &mut req) as libc::c_long)?;
    }
    Ok(())
}

/// Marks every fd from `first` upwards close-on-exec.
pub fn cloexec_from(first: u32) -> io::Result<()> {
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
    // SAFETY: close_range takes integers only.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first as libc::c_uint,
            libc::c_uint::MAX,
            CLOSE_RANGE_CLOEXEC,
        )
    };
    if ret == 0 {
        return Ok(());
    }
    // Older kernels: mark what is open, one by one.
    for fd in first..1024 {
        // SAFETY: F_SETFD on a number that may not be open is harmless.
        unsafe { libc::fcntl(fd as RawFd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
    Ok(())
}

/// Clears close-on-exec on an inherited fd the container must keep.
pub fn clear_cloexec(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl F_SETFD with integer arguments.
    cvt(unsafe { libc::fcntl(fd, libc::F_SETFD, 0) }.into()).map(drop)
}

/// Writes all of `data` to `fd`.
pub fn write_all(fd: RawFd, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        // SAFETY: data is a valid slice for its length.
        let n = unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        data = &data[n as usize..];
    }
    Ok(())
}

/// `struct mount_attr` of mount_setattr(2).
#[repr(C)]
#[derive(Debug, Default)]
pub struct MountAttr {
    pub attr_set: u64,
    pub attr_clr: u64,
    pub propagation: u64,
    pub userns_fd: u64,
}

/// mount_setattr(2) on `fd` itself (AT_EMPTY_PATH), and on every mount
/// below it with `recursive`.
pub fn mount_setattr(fd: RawFd, recursive: bool, attr: &MountAttr) -> io::Result<()> {
    let flags = libc::AT_EMPTY_PATH | if recursive { libc::AT_RECURSIVE } else { 0 };
    // SAFETY: an empty C string path, a valid mount_attr of the size
    // passed; the kernel only reads it.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd,
            c"".as_ptr(),
            flags as libc::c_uint,
            attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    cvt(ret).map(drop)
}

/// open_tree(2) with OPEN_TREE_CLONE: a detached copy of the mount at
/// `path` (and its submounts with `recursive`), close-on-exec.
pub fn open_tree_clone(path: &CStr, recursive: bool) -> io::Result<std::os::fd::OwnedFd> {
    const OPEN_TREE_CLONE: libc::c_uint = 1;
    let flags = OPEN_TREE_CLONE
        | libc::O_CLOEXEC as libc::c_uint
        | if recursive {
            libc::AT_RECURSIVE as libc::c_uint
        } else {
            0
        };
    // SAFETY: path is a valid C string; a returned fd is new and owned.
    let ret = unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, path.as_ptr(), flags) };
    let fd = cvt(ret)? as RawFd;
    // SAFETY: the kernel just returned this fd to us; nothing else owns it.
    Ok(unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) })
}

/// move_mount(2) of the detached mount `from` onto the file or directory
/// `to` (an fd, usually O_PATH, resolved inside the rootfs).
pub fn move_mount(from: RawFd, to: RawFd) -> io::Result<()> {
    const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;
    const MOVE_MOUNT_T_EMPTY_PATH: libc::c_uint = 0x40;
    // SAFETY: valid C strings; the kernel only reads them.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            from,
            c"".as_ptr(),
            to,
            c"".as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
        )
    };
    cvt(ret).map(drop)
}

/// A new filesystem mounted with the mount API: fsopen(2) of `fstype`,
/// the source and each parameter (a key with a value, or a flag) set with
/// fsconfig(2), the superblock created, then fsmount(2) with `attr`
/// (`MOUNT_ATTR_*`). The mount is detached: nothing can reach it until it
/// is attached with [`move_mount`], and its fd keeps naming that mount
/// afterwards, wherever it sits (a second step needs no lookup by name).
pub fn new_mount<'a>(
    fstype: &CStr,
    source: Option<&CStr>,
    params: impl IntoIterator<Item = (&'a CStr, Option<&'a CStr>)>,
    attr: u64,
) -> io::Result<std::os::fd::OwnedFd> {
    use rustix::mount::{self as m, FsMountFlags, FsOpenFlags, MountAttrFlags};
    let fs = m::fsopen(fstype, FsOpenFlags::FSOPEN_CLOEXEC)?;
    if let Some(source) = source {
        m::fsconfig_set_string(&fs, c"source", source)?;
    }
    for (key, value) in params {
        match value {
            Some(v) => m::fsconfig_set_string(&fs, key, v)?,
            None => m::fsconfig_set_flag(&fs, key)?,
        }
    }
    m::fsconfig_create(&fs)?;
    let attr = MountAttrFlags::from_bits_retain(attr as libc::c_uint);
    Ok(m::fsmount(&fs, FsMountFlags::FSMOUNT_CLOEXEC, attr)?)
}

/// setresuid(2), setresgid(2) and setgroups(2) as the kernel has them: for
/// the calling thread. The libc wrappers apply them to every thread (musl
/// through `__synccall`, which blocks all signals around the call: two
/// more syscalls each); the init and an exec child are single-threaded
/// processes made by a raw clone, where the plain system call is the
/// whole job. (`SYS_setresuid` and friends take 32-bit ids on x86_64 and
/// aarch64; 32-bit x86 and arm would need the `*32` calls.)
pub fn setresuid(id: libc::uid_t) -> io::Result<()> {
    // SAFETY: setresuid with integer ids.
    cvt(unsafe { libc::syscall(libc::SYS_setresuid, id, id, id) }).map(drop)
}

pub fn setresgid(id: libc::gid_t) -> io::Result<()> {
    // SAFETY: setresgid with integer ids.
    cvt(unsafe { libc::syscall(libc::SYS_setresgid, id, id, id) }).map(drop)
}

pub fn setgroups(groups: &[libc::gid_t]) -> io::Result<()> {
    // SAFETY: the pointer and length describe a valid slice of gid_t.
    cvt(unsafe { libc::syscall(libc::SYS_setgroups, groups.len(), groups.as_ptr()) }).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fd_path_formats_numbers() {
        assert_eq!(FdPath::new(0).as_cstr(), c"/proc/self/fd/0");
        assert_eq!(FdPath::new(7).as_cstr(), c"/proc/self/fd/7");
        assert_eq!(FdPath::new(1234567).as_cstr(), c"/proc/self/fd/1234567");
        assert_eq!(
            FdPath::new(i32::MAX).as_cstr().to_bytes(),
            b"/proc/self/fd/2147483647"
        );
    }
}

/// Whether the running kernel's release is at least `major.minor`.
pub fn kernel_at_least(major: u32, minor: u32) -> bool {
    // SAFETY: utsname is plain data; zero is a valid initial value.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: a valid buffer.
    if unsafe { libc::uname(&mut u) } != 0 {
        return false;
    }
    // SAFETY: the kernel NUL-terminates release.
    let release = unsafe { CStr::from_ptr(u.release.as_ptr()) }.to_bytes();
    release_at_least(release, major, minor)
}

fn release_at_least(release: &[u8], major: u32, minor: u32) -> bool {
    let mut parts = release.split(|&c| c == b'.').map(|p| {
        p.iter()
            .take_while(|c| c.is_ascii_digit())
            .fold(0u32, |n, &c| {
                n.saturating_mul(10).saturating_add(u32::from(c - b'0'))
            })
    });
    let (a, b) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (a, b) >= (major, minor)
}

#[cfg(test)]
mod release_tests {
    #[test]
    fn releases_compare_by_major_and_minor() {
        use super::release_at_least as at;
        assert!(at(b"6.18.44-fc-v1272", 6, 14));
        assert!(at(b"6.14.0", 6, 14));
        assert!(!at(b"6.13.12-arch1", 6, 14));
        assert!(!at(b"5.15.0-91-generic", 6, 14));
        assert!(at(b"7.0", 6, 14));
        assert!(!at(b"garbage", 6, 14));
    }
}

/// Waits for our own child `pid` (retrying EINTR); its wait status.
pub fn reap(pid: libc::pid_t) -> Option<libc::c_int> {
    let mut status = 0;
    loop {
        // SAFETY: waitpid on our own child with a valid status pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == pid {
            return Some(status);
        }
        if r < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        return None;
    }
}

/// Room for one fd in a control message (CMSG_SPACE(sizeof(int)) is 24 on
/// 64-bit Linux; 8-byte aligned).
pub type FdCmsgBuf = [u64; 4];

/// Sends `msg` with `fd` attached; returns how many bytes went out (all of
/// them on a SEQPACKET socket). Allocation-free, for the init.
pub fn send_with_fd(sock: RawFd, msg: &[u8], fd: RawFd) -> io::Result<usize> {
    let mut cbuf: FdCmsgBuf = [0; 4];
    let mut iov = libc::iovec {
        iov_base: msg.as_ptr() as *mut libc::c_void,
        iov_len: msg.len(),
    };
    // SAFETY: a zeroed msghdr is valid; every pointer set below points to
    // live stack data of the stated length; CMSG_* walk our own buffer.
    unsafe {
        let mut hdr: libc::msghdr = std::mem::zeroed();
        hdr.msg_iov = &mut iov;
        hdr.msg_iovlen = 1;
        hdr.msg_control = cbuf.as_mut_ptr().cast();
        hdr.msg_controllen = libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) as _;
        let c = libc::CMSG_FIRSTHDR(&hdr);
        (*c).cmsg_level = libc::SOL_SOCKET;
        (*c).cmsg_type = libc::SCM_RIGHTS;
        (*c).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<RawFd>(), fd);
        loop {
            let n = libc::sendmsg(sock, &hdr, libc::MSG_NOSIGNAL);
            if n >= 0 {
                return Ok(n as usize);
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }
}
