//! Messages between the parent and the init over a SOCK_SEQPACKET
//! socketpair (one message per send, so no framing is needed).
//!
//! init → parent: `U` (my user namespace needs its id maps), `H` (mounts
//! done, hooks wanted), `T` + fd (the pty master), `S` + fd (the seccomp
//! listener), `N` + pid (forked into the pid namespace), `R` (set up,
//! ready), `E<text>` (failed). parent → init: `A` (the forked pid is
//! recorded), `M`
//! (maps written), `K<state>` (create hooks passed, the state for the
//! init's hooks), `C` (state recorded: go on), and on v1/hybrid hosts
//! first `P` (placed in its cgroups). The socket is close-on-exec, so a successful
//! execve shows the parent an EOF.

pub use crate::sys::send_with_fd;
use crate::sys::FdCmsgBuf;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

pub const NEED_MAPS: u8 = b'U';
/// parent → init, first message, only on v1/hybrid hosts: the init is in
/// its cgroups now, may set up (accounted to the container) and unshare a
/// cgroup namespace (whose root is fixed when it is made).
pub const PLACED: u8 = b'P';
pub const MAPS_DONE: u8 = b'M';
pub const READY: u8 = b'R';
pub const COMMITTED: u8 = b'C';
pub const ERROR: u8 = b'E';
/// init → parent: mounts done, run the create hooks and send the state.
pub const HOOKS: u8 = b'H';
/// parent → init: `K` + the state with status "creating", a NUL, and the
/// state with status "created" (for createContainer and startContainer).
pub const HOOK_STATE: u8 = b'K';
/// init → parent: `T` with the pty master attached (SCM_RIGHTS).
pub const TERMINAL: u8 = b'T';
/// Largest `K` message the init takes.
pub const MAX_STATE_MSG: usize = 256 * 1024;
/// init → parent, with the seccomp listener fd attached (SCM_RIGHTS).
pub const SECCOMP_FD: u8 = b'S';

/// init → parent: `N` + the pid (native-endian i32) of the process the
/// init forked into its pid namespace (`namespaces::LatePid`), which goes
/// on as the container's init; the sender exits.
pub const NEW_PID: u8 = b'N';
/// parent → the forked init: its pid is recorded, go on.
pub const PID_RECORDED: u8 = b'A';

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

/// Receives one message into `buf`, and the fd attached to it if any
/// (close-on-exec); `Ok((0, None))` is EOF.
pub fn recv_with_fd(sock: RawFd, buf: &mut [u8]) -> io::Result<(usize, Option<OwnedFd>)> {
    let mut cbuf: FdCmsgBuf = [0; 4];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: as in send_with_fd; the kernel fills at most msg_controllen
    // bytes of cbuf, and the fds it passes are ours to own.
    unsafe {
        let mut hdr: libc::msghdr = std::mem::zeroed();
        hdr.msg_iov = &mut iov;
        hdr.msg_iovlen = 1;
        hdr.msg_control = cbuf.as_mut_ptr().cast();
        hdr.msg_controllen = std::mem::size_of::<FdCmsgBuf>() as _;
        let mut reset_seen = false;
        let n = loop {
            let n = libc::recvmsg(sock, &mut hdr, libc::MSG_CMSG_CLOEXEC);
            if n >= 0 {
                break n as usize;
            }
            let e = io::Error::last_os_error();
            // A peer that exits with a message of ours unread (an early
            // `C`, see Plan::early_commit) resets the connection: the
            // kernel reports ECONNRESET once, and what the peer sent before
            // (its `E`) is still queued behind it.
            if e.raw_os_error() == Some(libc::ECONNRESET) && !reset_seen {
                reset_seen = true;
                continue;
            }
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        };
        let mut fd = None;
        let mut c = libc::CMSG_FIRSTHDR(&hdr);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                let count = ((*c).cmsg_len as usize - libc::CMSG_LEN(0) as usize)
                    / std::mem::size_of::<RawFd>();
                for i in 0..count {
                    let raw = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<RawFd>().add(i));
                    // Keep the first; any other is closed when dropped.
                    let owned = OwnedFd::from_raw_fd(raw);
                    if fd.is_none() {
                        fd = Some(owned);
                    }
                }
            }
            c = libc::CMSG_NXTHDR(&hdr, c);
        }
        Ok((n, fd))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::{AsRawFd, FromRawFd};

    fn pair() -> (OwnedFd, OwnedFd) {
        let mut fds = [0; 2];
        // SAFETY: socketpair fills two fds, which we then own.
        let r = unsafe {
            libc::socketpair(
                libc::AF_UNIX,
                libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
                0,
                fds.as_mut_ptr(),
            )
        };
        assert_eq!(r, 0);
        // SAFETY: fresh fds from socketpair.
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
    }

    /// An init that fails and exits with the parent's early `C` unread
    /// resets the connection; its `E` must still reach the parent.
    #[test]
    fn the_error_of_an_init_that_left_c_unread_is_read() {
        let (parent, init) = pair();
        send(parent.as_raw_fd(), &[COMMITTED]).unwrap();
        send(init.as_raw_fd(), b"Esomething failed").unwrap();
        drop(init);
        let mut buf = [0u8; MAX_MSG];
        let (n, fd) = recv_with_fd(parent.as_raw_fd(), &mut buf).unwrap();
        assert!(fd.is_none());
        assert_eq!(&buf[..n], b"Esomething failed");
        // Then EOF.
        assert_eq!(recv_with_fd(parent.as_raw_fd(), &mut buf).unwrap().0, 0);
    }
}
