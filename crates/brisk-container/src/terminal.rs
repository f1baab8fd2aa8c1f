//! `process.terminal`: the pty of the container, made by the init from the
//! container's own `/dev/ptmx` (so it lives in the container's devpts), the
//! slave made the controlling terminal and stdio of the program and bound
//! onto `/dev/console`; the master handed to the parent over the sync
//! socket (SCM_RIGHTS, `init::sync`), then either to `--console-socket` (as runc does:
//! conmon and the containerd shim read it there) or proxied by `run` to
//! brisk's own terminal.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

use crate::error::{Error, Result};
use crate::sys;

/// `process.consoleSize` (rows, columns).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    pub rows: u16,
    pub cols: u16,
}

/// In the init, after `pivot_root`: a new pty from `/dev/ptmx`, unlocked,
/// sized, and its slave opened through the master (TIOCGPTPEER: no path
/// lookup in `/dev/pts`). Returns (master, slave).
pub fn open_pty(size: Option<Size>) -> io::Result<(OwnedFd, OwnedFd)> {
    // SAFETY: a valid C string; the returned fd is owned below.
    let master = unsafe {
        libc::open(
            c"/dev/ptmx".as_ptr(),
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    };
    if master < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: master is a new fd nobody else owns.
    let master = unsafe { OwnedFd::from_raw_fd(master) };
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK takes a pointer to an int.
    sys::cvt(unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &unlock) }.into())?;
    if let Some(s) = size {
        set_size(master.as_raw_fd(), s)?;
    }
    // SAFETY: TIOCGPTPEER takes open flags and returns a new fd.
    let slave = unsafe {
        libc::ioctl(
            master.as_raw_fd(),
            libc::TIOCGPTPEER,
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    };
    if slave < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: slave is a new fd nobody else owns.
    Ok((master, unsafe { OwnedFd::from_raw_fd(slave) }))
}

pub fn set_size(fd: RawFd, s: Size) -> io::Result<()> {
    let ws = libc::winsize {
        ws_row: s.rows,
        ws_col: s.cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a valid winsize.
    sys::cvt(unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &ws) }.into()).map(drop)
}

fn get_size(fd: RawFd) -> Option<Size> {
    // SAFETY: winsize is plain data; TIOCGWINSZ fills it.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: a valid winsize to write into.
    let r = unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) };
    (r == 0 && ws.ws_row > 0).then_some(Size {
        rows: ws.ws_row,
        cols: ws.ws_col,
    })
}

/// In the init: a new session whose controlling terminal is `slave`, which
/// becomes stdin, stdout and stderr.
pub fn make_controlling(slave: &OwnedFd) -> io::Result<()> {
    // SAFETY: plain system calls on fds we own.
    unsafe {
        if libc::setsid() < 0 {
            return Err(io::Error::last_os_error());
        }
        sys::cvt(libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0).into())?;
        for fd in 0..3 {
            sys::cvt(libc::dup2(slave.as_raw_fd(), fd).into())?;
        }
    }
    Ok(())
}

/// Hands the pty master to the `--console-socket` listener, with the name
/// of the pty as the message, as runc does.
pub fn send_to_console_socket(path: &Path, master: &OwnedFd) -> Result<()> {
    let sock = crate::bounds::connect_unix(path)
        .map_err(|e| Error::path("connect to --console-socket", path, e))?;
    crate::sys::send_with_fd(sock.as_raw_fd(), b"/dev/ptmx", master.as_raw_fd())
        .map(drop)
        .map_err(|e| Error::path("send the pty to --console-socket", path, e))
}

/// Puts a terminal in raw mode for as long as the guard lives.
struct RawMode {
    fd: RawFd,
    saved: libc::termios,
}

impl RawMode {
    fn enter(fd: RawFd) -> Option<RawMode> {
        // SAFETY: termios is plain data; tcgetattr fills it.
        let mut saved: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: valid fd and termios pointer.
        if unsafe { libc::tcgetattr(fd, &mut saved) } != 0 {
            return None;
        }
        let mut raw = saved;
        // SAFETY: cfmakeraw edits the struct in place.
        unsafe { libc::cfmakeraw(&mut raw) };
        // SAFETY: valid fd and termios.
        if unsafe { libc::tcsetattr(fd, libc::TCSANOW, &raw) } != 0 {
            return None;
        }
        Some(RawMode { fd, saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // SAFETY: restores the attributes read in `enter`.
        unsafe { libc::tcsetattr(self.fd, libc::TCSANOW, &self.saved) };
    }
}

/// For `run` in the foreground with a terminal and no console socket:
/// copies brisk's stdin to the pty and the pty to brisk's stdout (stdin in
/// raw mode when it is a terminal, its size passed on at start and on
/// SIGWINCH), forwards the other blocked signals to the init, and returns
/// the init's wait status once it has exited and the pty is drained.
///
/// The master is non-blocking and stdin goes through a bounded buffer, so a
/// program that does not read its input never stops its output from being
/// copied (nor brisk from seeing signals); once every slave is closed the
/// master leaves the poll set until the init is reaped.
pub fn proxy(init_pid: libc::pid_t, master: OwnedFd, sized_by_config: bool) -> Result<libc::c_int> {
    const CAP: usize = 64 * 1024;
    // SAFETY: isatty only inspects the fd.
    let stdin_tty = unsafe { libc::isatty(0) } == 1;
    let _raw = if stdin_tty { RawMode::enter(0) } else { None };
    if stdin_tty && !sized_by_config {
        if let Some(s) = get_size(0) {
            let _ = set_size(master.as_raw_fd(), s);
        }
    }
    crate::sys::set_nonblocking(master.as_raw_fd())
        .map_err(|e| Error::sys("make the pty non-blocking", e))?;
    let set = crate::signal::forwarded_set();
    // SAFETY: a valid, initialised signal set; the signals are blocked.
    let sfd = unsafe { libc::signalfd(-1, &set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK) };
    if sfd < 0 {
        return Err(Error::sys("signalfd", io::Error::last_os_error()));
    }
    // SAFETY: sfd is a new fd nobody else owns.
    let sfd = unsafe { OwnedFd::from_raw_fd(sfd) };
    let (mut stdin_open, mut master_open) = (true, true);
    let mut status = None;
    let mut pending: Vec<u8> = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        if status.is_none() {
            status = reap(init_pid)?;
        }
        if let (Some(s), false) = (status, master_open) {
            return Ok(s);
        }
        let mut master_events = libc::POLLIN;
        if !pending.is_empty() {
            master_events |= libc::POLLOUT;
        }
        let mut fds = [
            libc::pollfd {
                fd: if master_open { master.as_raw_fd() } else { -1 },
                events: master_events,
                revents: 0,
            },
            libc::pollfd {
                fd: sfd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: if stdin_open && pending.len() < CAP {
                    0
                } else {
                    -1
                },
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // Once the init is gone, drain what is left without blocking.
        let timeout = if status.is_some() { 0 } else { -1 };
        // SAFETY: three valid pollfds.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), 3, timeout) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(Error::sys("poll the terminal", e));
        }
        if r == 0 {
            if let Some(s) = status {
                return Ok(s);
            }
            continue;
        }
        let m = fds[0].revents;
        if m & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
            match rustix::io::read(&master, &mut buf) {
                Ok(n) if n > 0 => {
                    let _ = sys::write_all(1, &buf[..n]);
                }
                Err(rustix::io::Errno::AGAIN | rustix::io::Errno::INTR) => {}
                // EIO or EOF: every slave is closed.
                _ => master_open = false,
            }
        }
        if master_open && m & libc::POLLOUT != 0 {
            match rustix::io::write(&master, &pending) {
                Ok(n) => {
                    pending.drain(..n);
                }
                Err(rustix::io::Errno::AGAIN | rustix::io::Errno::INTR) => {}
                Err(_) => master_open = false,
            }
        }
        if fds[1].revents & libc::POLLIN != 0 {
            // SAFETY: signalfd_siginfo is plain data.
            let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
            let size = std::mem::size_of::<libc::signalfd_siginfo>();
            // SAFETY: reads one siginfo into a buffer of its size.
            let n = unsafe {
                libc::read(
                    sfd.as_raw_fd(),
                    (&mut info as *mut libc::signalfd_siginfo).cast(),
                    size,
                )
            };
            if n == size as isize {
                let sig = info.ssi_signo as libc::c_int;
                if sig == libc::SIGWINCH && stdin_tty {
                    if let Some(s) = get_size(0) {
                        let _ = set_size(master.as_raw_fd(), s);
                    }
                } else if sig != libc::SIGCHLD {
                    // SAFETY: the init is our unreaped child.
                    unsafe { libc::kill(init_pid, sig) };
                }
            }
        }
        if fds[2].fd == 0 && fds[2].revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
            match rustix::io::read(rustix::stdio::stdin(), &mut buf) {
                Ok(n) if n > 0 => pending.extend_from_slice(&buf[..n]),
                Err(rustix::io::Errno::AGAIN | rustix::io::Errno::INTR) => {}
                _ => stdin_open = false,
            }
        }
    }
}

fn reap(pid: libc::pid_t) -> Result<Option<libc::c_int>> {
    let mut status = 0;
    // SAFETY: waitpid on our own child with a valid status pointer.
    let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
    if r == pid {
        Ok(Some(status))
    } else if r < 0 && io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
        Err(Error::sys(
            "wait for the container",
            io::Error::last_os_error(),
        ))
    } else {
        Ok(None)
    }
}
