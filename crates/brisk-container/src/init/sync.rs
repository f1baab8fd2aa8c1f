//! Messages between the parent and the init over a SOCK_SEQPACKET
//! socketpair (one message per send, so no framing is needed).
//!
//! init → parent: `U` (my user namespace needs its id maps), `H` (mounts
//! done, hooks wanted), `R` (set up, ready), `E<text>` (failed). parent →
//! init: `M` (maps written), `S<state>` (create hooks passed, the state for
//! the init's hooks), `C` (state recorded: go on). The socket is close-on-exec, so a successful
//! execve shows the parent an EOF.

use std::io;
use std::os::fd::RawFd;

pub const NEED_MAPS: u8 = b'U';
pub const MAPS_DONE: u8 = b'M';
pub const READY: u8 = b'R';
pub const COMMITTED: u8 = b'C';
pub const ERROR: u8 = b'E';
/// init → parent: mounts done, run the create hooks and send the state.
pub const HOOKS: u8 = b'H';
/// parent → init: `S` + the state with status "creating", a NUL, and the
/// state with status "created" (for createContainer and startContainer).
pub const HOOK_STATE: u8 = b'S';
/// init → parent: `T` with the pty master attached (SCM_RIGHTS).
pub const TERMINAL: u8 = b'T';
/// Largest `S` message the init takes.
pub const MAX_STATE_MSG: usize = 256 * 1024;

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
