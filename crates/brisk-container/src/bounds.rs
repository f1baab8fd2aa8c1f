//! How long brisk waits for anything it does not control: the container's
//! init, a hook, a state lock held by another brisk, the freezer, a peer
//! socket. Every such wait has one of these bounds (docs/ARCHITECTURE.md,
//! "Locks and bounded waits"); what happens past it is a
//! [`Error::Timeout`](crate::Error::Timeout) naming the step.
//!
//! The defaults suit a daemon's call; an operator (or a test) may change
//! them through the environment, in seconds (fractions allowed), read each
//! time they are asked for (a handful of times per command). libseccomp's
//! bound is `brisk_seccomp::compile::BOUND` (`BRISK_SECCOMP_TIMEOUT`).

use std::time::{Duration, Instant};

/// The longest the parent waits for the init's next message (each step of
/// its set-up: cgroup placement, mounts, the id maps' answer...), beyond
/// the hooks the init runs itself. Also `exec`'s wait for its process to
/// be ready: a process that joined a paused container stays frozen until
/// `resume`.
pub const INIT_STEP: Duration = Duration::from_secs(60);
/// How long a command waits for the state lock another brisk holds.
pub const LOCK_WAIT: Duration = Duration::from_secs(60);
/// A hook without a `timeout` of its own.
pub const HOOK_DEFAULT: Duration = Duration::from_secs(60);
/// A peer socket (console socket, seccomp agent) that does not take what
/// brisk sends.
pub const SOCKET: Duration = Duration::from_secs(10);

fn from_env(name: &str, default: Duration) -> Duration {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0 && *s < 1e9)
        .map(Duration::from_secs_f64)
        .unwrap_or(default)
}

/// [`INIT_STEP`], or `BRISK_INIT_TIMEOUT`.
pub fn init_step() -> Duration {
    from_env("BRISK_INIT_TIMEOUT", INIT_STEP)
}

/// [`LOCK_WAIT`], or `BRISK_LOCK_TIMEOUT`.
pub fn lock_wait() -> Duration {
    from_env("BRISK_LOCK_TIMEOUT", LOCK_WAIT)
}

/// [`HOOK_DEFAULT`], or `BRISK_HOOK_TIMEOUT`.
pub fn hook_default() -> Duration {
    from_env("BRISK_HOOK_TIMEOUT", HOOK_DEFAULT)
}

/// `now + d`, or far in the future when that overflows the clock.
pub fn deadline(d: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(d)
        .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 24 * 3600))
}

/// Milliseconds left until `deadline`, for poll(2) (at least 0).
pub fn poll_ms(deadline: Instant) -> i32 {
    deadline
        .saturating_duration_since(Instant::now())
        .as_millis()
        .min(i32::MAX as u128) as i32
}

/// Waits until poll(2) reports one of `events` on `fd` (POLLERR and
/// POLLHUP are reported whatever is asked), at most `bound`; an EINTR
/// retries. True if it did, false past the bound or on another error.
pub fn poll_fd(fd: std::os::fd::BorrowedFd<'_>, events: i16, bound: Duration) -> bool {
    use std::os::fd::AsRawFd;
    let deadline = deadline(bound);
    loop {
        let mut pfd = libc::pollfd {
            fd: fd.as_raw_fd(),
            events,
            revents: 0,
        };
        // SAFETY: one valid pollfd for the duration of the call.
        let r = unsafe { libc::poll(&mut pfd, 1, poll_ms(deadline)) };
        if r > 0 {
            return true;
        }
        if r == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return false;
        }
    }
}

/// A duration as an operator reads it: "60 s", "0.5 s".
pub fn secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{} s", s as u64)
    } else {
        format!("{s:.1} s")
    }
}

/// Connects to a unix stream socket whose every send (and the connect,
/// which blocks while the listener's backlog is full) gives up after
/// [`SOCKET`]: a console socket or seccomp agent that never accepts or
/// never reads does not hold brisk. A send past it fails with EAGAIN.
pub fn connect_unix(path: &std::path::Path) -> std::io::Result<std::os::unix::net::UnixStream> {
    connect_unix_within(path, SOCKET)
}

fn connect_unix_within(
    path: &std::path::Path,
    bound: Duration,
) -> std::io::Result<std::os::unix::net::UnixStream> {
    use rustix::net::{sockopt, AddressFamily, SocketAddrUnix, SocketFlags, SocketType};
    let fd = rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::CLOEXEC,
        None,
    )?;
    sockopt::set_socket_timeout(&fd, sockopt::Timeout::Send, Some(bound))?;
    let addr = SocketAddrUnix::new(path)?;
    match rustix::net::connect(&fd, &addr) {
        Ok(()) => Ok(fd.into()),
        Err(rustix::io::Errno::AGAIN) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!(
                "not accepted within {} (the listener's backlog is full)",
                secs(bound)
            ),
        )),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_values_are_checked() {
        assert_eq!(from_env("BRISK_BOUNDS_TEST_UNSET", INIT_STEP), INIT_STEP);
        std::env::set_var("BRISK_BOUNDS_TEST_A", "0.5");
        assert_eq!(
            from_env("BRISK_BOUNDS_TEST_A", INIT_STEP),
            Duration::from_millis(500)
        );
        for bad in ["0", "-1", "x", "inf", "1e12"] {
            std::env::set_var("BRISK_BOUNDS_TEST_B", bad);
            assert_eq!(
                from_env("BRISK_BOUNDS_TEST_B", LOCK_WAIT),
                LOCK_WAIT,
                "{bad}"
            );
        }
        assert_eq!(secs(Duration::from_secs(60)), "60 s");
        assert_eq!(secs(Duration::from_millis(1500)), "1.5 s");
        assert!(deadline(Duration::MAX) > Instant::now());
    }

    #[test]
    fn a_peer_that_never_reads_does_not_hold_a_send() {
        use std::io::Write;
        let dir = std::env::temp_dir().join(format!("brisk-bounds-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("s");
        let _ = std::fs::remove_file(&path);
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let bound = Duration::from_millis(300);
        let mut s = connect_unix_within(&path, bound).unwrap();
        let t = Instant::now();
        // Fill the socket: a send then fails within the bound instead of
        // blocking for as long as nobody reads.
        let chunk = vec![0u8; 1 << 16];
        let err = loop {
            if let Err(e) = s.write(&chunk) {
                break e;
            }
        };
        assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock, "{err}");
        assert!(t.elapsed() < bound * 10);
        drop(listener);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
