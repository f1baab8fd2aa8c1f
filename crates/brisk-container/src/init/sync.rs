//! Messages between the parent and the init over a SOCK_SEQPACKET
//! socketpair (one message per send, so no framing is needed).
//!
//! init → parent: `U` (my user namespace needs its id maps), `R` (set up,
//! ready), `E<text>` (failed). parent → init: `M` (maps written), `C`
//! (state recorded: go on), and on v1/hybrid hosts first `P` (placed in
//! its cgroups). The socket is close-on-exec, so a successful
//! execve shows the parent an EOF.

use std::io;
use std::os::fd::RawFd;

pub const NEED_MAPS: u8 = b'U';
/// parent → init, first message, only on v1/hybrid hosts: the init is in
/// its cgroups now, may set up (accounted to the container) and unshare a
/// cgroup namespace (whose root is fixed when it is made).
pub const PLACED: u8 = b'P';
pub const MAPS_DONE: u8 = b'M';
pub const READY: u8 = b'R';
pub const COMMITTED: u8 = b'C';
pub const ERROR: u8 = b'E';

pub const MAX_MSG: usize = 4096;

/// Sends one message; never raises SIGPIPE.
pub fn send(fd: RawFd, msg: &[u8]) -> io::Result<()> {
    loop {
        // SAFETY: msg is a valid buffer for its length.
        let n = unsafe { libc::send(fd, msg.as_ptr().cast(), msg.len(), libc::MSG_NOSIGNAL) };
        if n >= 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Receives one message into `buf`; `Ok(0)` is EOF.
pub fn recv(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        // SAFETY: buf is a valid, writable buffer for its length.
        let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}
