//! Loading a program with seccomp(2). Allocation-free: the container init
//! calls this between clone and execve.

use std::io;
use std::os::fd::RawFd;

/// `struct sock_fprog`.
#[repr(C)]
struct SockFprog {
    len: u16,
    filter: *const u8,
}

const SECCOMP_SET_MODE_FILTER: libc::c_ulong = 1;

/// Loads `bpf` (whole `struct sock_filter`s) with `flags`
/// (`SECCOMP_FILTER_FLAG_*`). With `NEW_LISTENER` in the flags, returns the
/// listener fd (close-on-exec, as the kernel creates it).
pub fn load(bpf: &[u8], flags: u32) -> io::Result<Option<RawFd>> {
    if bpf.is_empty() || !bpf.len().is_multiple_of(8) || bpf.len() / 8 > u16::MAX as usize {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    let prog = SockFprog {
        len: (bpf.len() / 8) as u16,
        filter: bpf.as_ptr(),
    };
    // SAFETY: prog points to bpf, which outlives the call; the kernel
    // copies the program.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            SECCOMP_SET_MODE_FILTER,
            flags as libc::c_ulong,
            &prog as *const SockFprog,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    if flags & crate::profile::flag::NEW_LISTENER != 0 {
        Ok(Some(r as RawFd))
    } else {
        Ok(None)
    }
}

/// Whether the running kernel knows a `SECCOMP_FILTER_FLAG_*`: with a null
/// program, a known flag fails with EFAULT, an unknown one with EINVAL.
/// WAIT_KILLABLE_RECV is only valid with NEW_LISTENER, so it is probed
/// with it.
pub fn flag_supported(flag: u32) -> bool {
    use crate::profile::flag as f;
    let flag = if flag & f::WAIT_KILLABLE_RECV != 0 {
        flag | f::NEW_LISTENER
    } else {
        flag
    };
    // SAFETY: a null program is never dereferenced: the kernel checks the
    // flags first and fails the copy from user memory otherwise.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            SECCOMP_SET_MODE_FILTER,
            flag as libc::c_ulong,
            std::ptr::null::<SockFprog>(),
        )
    };
    r < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EFAULT)
}
