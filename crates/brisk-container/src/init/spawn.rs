//! The parent's side of the clone: socketpair, signal mask, clone3 with the
//! namespace flags, id maps for a new user namespace, and waiting for the
//! init to report ready or failed.

use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use rustix::net::{AddressFamily, SocketFlags, SocketType};

use super::{child, sync, Plan};
use crate::bounds;
use crate::error::{Error, Result};
use crate::namespaces;
use crate::sys;

/// A container init that reported ready.
#[derive(Debug)]
pub struct Init {
    pub pid: libc::pid_t,
    sync: OwnedFd,
    /// The pty master, with `process.terminal`.
    pub console: Option<OwnedFd>,
    /// What the init must reset before `execve` (`signal::ignored_set`).
    ignored_signals: u64,
    /// `C` was sent early (`Plan::early_commit`), with this result, which
    /// `commit` reports.
    early_commit: Option<std::io::Result<()>>,
    /// How long the init may take from `C` to its `execve` (the step bound
    /// plus its startContainer hooks' timeouts).
    exec_bound: Duration,
}

impl Init {
    /// Tells the init its state is recorded; it goes on to wait for
    /// `start` (create) or to exec (run).
    pub fn commit(&mut self) -> Result<()> {
        self.early_commit
            .take()
            .unwrap_or_else(|| self.send_commit())
            .map_err(|e| Error::sys("release the init", e))
    }

    fn send_commit(&self) -> std::io::Result<()> {
        let mut msg = [0u8; 9];
        msg[0] = sync::COMMITTED;
        msg[1..].copy_from_slice(&self.ignored_signals.to_ne_bytes());
        sync::send(self.sync.as_raw_fd(), &msg)
    }

    /// For `run`: waits until the init has exec'd (EOF on the sync socket)
    /// or reports that exec failed.
    pub fn wait_exec(&self) -> Result<()> {
        let mut buf = [0u8; sync::MAX_MSG];
        let deadline = bounds::deadline(self.exec_bound);
        match recv_or_interrupt(&self.sync, &mut buf, deadline, || {
            timed_out(
                self.pid,
                "wait for the container process to execute",
                self.exec_bound,
            )
        }) {
            Ok((0, _)) => Ok(()),
            Ok((n, _)) if buf[0] == sync::ERROR => Err(self.fail(&buf[1..n])),
            Ok(_) => Err(Error::Child("unexpected message from the init".into())),
            Err(e) => {
                self.abort();
                Err(e)
            }
        }
    }

    fn fail(&self, msg: &[u8]) -> Error {
        // It exits right after its `E`, unless it froze in between: then
        // the reaping is left to whoever inherits it.
        reap_within(self.pid, REAP_BOUND);
        Error::Child(String::from_utf8_lossy(msg).into_owned())
    }

    /// With `--console-socket`, hands the init's pty master (if it made
    /// one) to the listener and drops brisk's copy; on failure the init is
    /// killed.
    pub fn hand_over_console(&mut self, socket: Option<&std::path::Path>) -> Result<()> {
        if let (Some(path), Some(master)) = (socket, &self.console) {
            if let Err(e) = crate::terminal::send_to_console_socket(path, master) {
                self.abort();
                return Err(e);
            }
            self.console = None;
        }
        Ok(())
    }

    /// Kills and reaps an init that will not be used. Returns whether it
    /// was reaped: a process in a frozen cgroup does not die before it is
    /// thawed, and brisk does not wait for that (it dies at the thaw,
    /// SIGKILL pending, and whoever inherits it reaps it).
    pub fn abort(&self) -> bool {
        // SAFETY: the pid is our own unreaped child, so it cannot be reused.
        unsafe { libc::kill(self.pid, libc::SIGKILL) };
        reap_within(self.pid, REAP_BOUND).is_some()
    }
}

/// How long a SIGKILLed child of ours gets to exit before brisk stops
/// waiting for it (it is frozen, or in an uninterruptible sleep).
const REAP_BOUND: Duration = Duration::from_secs(1);

/// The error of a wait for the init that reached its bound.
fn timed_out(pid: libc::pid_t, step: &str, after: Duration) -> Error {
    Error::timeout(
        format!("{step} (pid {pid})"),
        after,
        "it was killed; a process that joins a paused (frozen) cgroup stays frozen until \
         `resume`, and a mount, a hook or a seccomp agent may block it too \
         (BRISK_INIT_TIMEOUT sets this bound, in seconds)",
    )
}

/// Waits up to `bound` for our own child `pid` to exit, and reaps it; None
/// when it did not exit in time (or is not our child).
pub(crate) fn reap_within(pid: libc::pid_t, bound: Duration) -> Option<libc::c_int> {
    let deadline = bounds::deadline(bound);
    // SAFETY: pidfd_open takes a pid and flags; our unreaped child's pid
    // cannot be reused, so the fd is on that child.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    let pidfd = (fd >= 0).then(|| {
        // SAFETY: a new fd owned by nobody else.
        unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd as i32) }
    });
    loop {
        let mut status = 0;
        // SAFETY: waitpid on our own child with a valid status pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid {
            return Some(status);
        }
        if r < 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return None;
        }
        if Instant::now() >= deadline {
            return None;
        }
        match &pidfd {
            Some(fd) => {
                let mut pfd = libc::pollfd {
                    fd: fd.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                };
                // SAFETY: one valid pollfd.
                unsafe { libc::poll(&mut pfd, 1, bounds::poll_ms(deadline).max(1)) };
            }
            None => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

fn block_signals() -> libc::sigset_t {
    let set = crate::signal::forwarded_set();
    // SAFETY: both sets are valid; the old mask is written into `old`.
    unsafe {
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigprocmask(libc::SIG_BLOCK, &set, &mut old);
        old
    }
}

/// Clones the init with the plan's namespaces (into `plan.cgroup_fd` when
/// given) and waits until it is ready (blocked on the start FIFO for
/// `create`, about to exec for `run`). `place(pid, cloned_into_cgroup)`
/// runs right after the clone, before the init does anything that
/// depends on its cgroup. Signals stay blocked in the parent.
///
/// `record(pid)` runs with the pid of the container's process: right
/// after `place`, or, when the init forks into its pid namespace
/// (`namespaces::LatePid`), once it reports the pid of that child (`N`),
/// which waits for it (`A`).
///
/// When the init stops for hooks (`H`), `on_hooks(pid)` runs the create
/// hooks of the runtime namespace and returns the state text to send (`K`).
pub fn spawn(
    plan: &Plan,
    place: &mut dyn FnMut(libc::pid_t, bool) -> Result<()>,
    record: &mut dyn FnMut(libc::pid_t) -> Result<()>,
    on_hooks: &mut dyn FnMut(libc::pid_t) -> Result<Vec<u8>>,
) -> Result<Init> {
    let (parent_end, child_end) = rustix::net::socketpair(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )
    .map_err(|e| Error::sys("socketpair", e))?;
    // Before the init or an exec child can be seen from the container.
    crate::process::self_exe::make_undumpable()
        .map_err(|e| Error::sys("make brisk non-dumpable", e))?;
    namespaces::enter_pid_namespace(&plan.ns)?;
    let old_sigmask = block_signals();
    // The init is born named `brisk init` (title.rs).
    let old_name = super::title::name_for_clone();
    // SAFETY: brisk is single-threaded here (no threads are ever started
    // before the clone), and the child only runs `child::run`, which ends
    // in execve or _exit.
    let cloned = unsafe { sys::fork_with_flags(plan.ns.clone_flags, plan.cgroup_fd) };
    if !matches!(cloned, Ok((0, _))) {
        super::title::restore_name(&old_name);
    }
    let (pid, cloned_into) = match cloned {
        Ok(r) => r,
        Err(e) => {
            // SAFETY: restores the mask saved just above.
            unsafe { libc::sigprocmask(libc::SIG_SETMASK, &old_sigmask, std::ptr::null_mut()) };
            return Err(Error::sys("clone the container init", e));
        }
    };
    if pid == 0 {
        drop(parent_end);
        child::run(plan, child_end.as_raw_fd());
    }
    drop(child_end);
    crate::timings::mark("init cloned");
    let mut init = Init {
        pid,
        sync: parent_end,
        console: None,
        ignored_signals: 0,
        early_commit: None,
        exec_bound: bounds::init_step() + plan.hooks.start_container_bound(),
    };
    let late_fork = plan.ns.late_pid.is_some();
    // With a late fork the state waits for the pid of the process that
    // will be the container's (`N`).
    let placed =
        place(pid, cloned_into).and_then(|()| if late_fork { Ok(()) } else { record(pid) });
    if let Err(e) = placed {
        init.abort();
        return Err(e);
    }
    if plan.wait_placed {
        if let Err(e) = sync::send(init.sync.as_raw_fd(), &[sync::PLACED]) {
            init.abort();
            return Err(Error::sys("tell the init it is placed", e));
        }
    }
    // While the init works: ~60 syscalls off its path.
    init.ignored_signals = crate::signal::ignored_set();
    // The state is recorded (`place`): with nothing left for the parent
    // between `R` and `C`, `C` goes now and waits for the init.
    // If the init failed already, the send fails and the loop reads why;
    // if it still reports ready, `commit` returns the failure.
    if plan.early_commit {
        init.early_commit = Some(init.send_commit());
    }
    let mut buf = [0u8; sync::MAX_MSG];
    // Each step of the init has the same bound, plus the timeouts of the
    // createContainer hooks it runs after `K`.
    let step = bounds::init_step();
    let mut bound = step;
    loop {
        let this_bound = std::mem::replace(&mut bound, step);
        let deadline = bounds::deadline(this_bound);
        let pid = init.pid;
        let (n, fd) = match recv_or_interrupt(&init.sync, &mut buf, deadline, || {
            timed_out(pid, "wait for the container init to be ready", this_bound)
        }) {
            Ok(r) => r,
            Err(e) => {
                init.abort();
                return Err(e);
            }
        };
        match buf[..n].first() {
            None => {
                let status = crate::sys::reap(pid);
                return Err(Error::Child(format!(
                    "exited before it was ready ({})",
                    describe_status(status)
                )));
            }
            Some(&sync::NEED_MAPS) => {
                if let Err(e) = namespaces::write_id_maps(pid, &plan.ns) {
                    init.abort();
                    return Err(e);
                }
                if let Err(e) = sync::send(init.sync.as_raw_fd(), &[sync::MAPS_DONE]) {
                    init.abort();
                    return Err(Error::sys("tell the init its maps are written", e));
                }
            }
            Some(&sync::NEW_PID) if late_fork && n == 5 => {
                let mut b = [0u8; 4];
                b.copy_from_slice(&buf[1..5]);
                let child = libc::pid_t::from_ne_bytes(b);
                // The forking process exits right after `N`.
                let status = reap_within(init.pid, REAP_BOUND);
                init.pid = child;
                let recorded = match status {
                    Some(s) if libc::WIFEXITED(s) && libc::WEXITSTATUS(s) == 0 => record(child),
                    _ => Err(Error::Child(format!(
                        "the init forking into its pid namespace did not exit ({})",
                        describe_status(status)
                    ))),
                };
                let acked = recorded.and_then(|()| {
                    sync::send(init.sync.as_raw_fd(), &[sync::PID_RECORDED])
                        .map_err(|e| Error::sys("tell the init its pid is recorded", e))
                });
                if let Err(e) = acked {
                    init.abort();
                    return Err(e);
                }
            }
            Some(&sync::HOOKS) => {
                let sent = on_hooks(pid).and_then(|state| {
                    let mut msg = Vec::with_capacity(state.len() + 1);
                    msg.push(sync::HOOK_STATE);
                    msg.extend_from_slice(&state);
                    if msg.len() > sync::MAX_STATE_MSG {
                        return Err(Error::State(
                            "the container state is too large for its hooks".into(),
                        ));
                    }
                    sync::send(init.sync.as_raw_fd(), &msg)
                        .map_err(|e| Error::sys("send the state to the init", e))
                });
                bound = step + plan.hooks.create_container_bound();
                if let Err(e) = sent {
                    init.abort();
                    return Err(e);
                }
            }
            Some(&sync::SECCOMP_FD) => {
                let listener = plan.seccomp.as_ref().and_then(|s| s.listener.as_ref());
                let sent = match (listener, &fd) {
                    (Some(l), Some(fd)) => l.send(pid, std::os::fd::AsFd::as_fd(fd)).map_err(|e| {
                        Error::sys("send the seccomp listener to linux.seccomp.listenerPath", e)
                    }),
                    _ => Err(Error::Child(
                        "unexpected seccomp listener from the init".into(),
                    )),
                };
                if let Err(e) = sent {
                    init.abort();
                    return Err(e);
                }
            }
            Some(&sync::TERMINAL) if fd.is_some() => init.console = fd,
            Some(&sync::READY) => {
                crate::timings::record_init_marks(&buf[1..n]);
                crate::timings::mark("ready received");
                return Ok(init);
            }
            Some(&sync::ERROR) => return Err(init.fail(&buf[1..n])),
            Some(_) => {
                init.abort();
                return Err(Error::Child("unexpected message from the init".into()));
            }
        }
    }
}

/// Waits for the init's next message. The forwarded signals are blocked
/// while the container is set up, so a SIGINT/SIGTERM/SIGHUP/SIGQUIT that
/// arrives meanwhile is noticed here and aborts the start instead of being
/// lost (or killing brisk and orphaning the init).
///
/// Past `deadline` it returns `late()`: every wait for the init is bounded.
fn recv_or_interrupt(
    sock: &OwnedFd,
    buf: &mut [u8],
    deadline: Instant,
    late: impl Fn() -> Error,
) -> Result<(usize, Option<OwnedFd>)> {
    let stop = crate::signal::sigset(&[libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT]);
    loop {
        let mut pfd = libc::pollfd {
            fd: sock.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        if Instant::now() >= deadline {
            return Err(late());
        }
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(&mut pfd, 1, bounds::poll_ms(deadline).clamp(1, 100)) };
        if r > 0 {
            return sync::recv_with_fd(sock.as_raw_fd(), buf)
                .map_err(|e| Error::sys("read from the init", e));
        }
        let zero = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: valid set and timeout; a null siginfo is allowed.
        let sig = unsafe { libc::sigtimedwait(&stop, std::ptr::null_mut(), &zero) };
        if sig > 0 {
            return Err(Error::State(format!(
                "interrupted by signal {sig} before the container started"
            )));
        }
    }
}

fn describe_status(status: Option<libc::c_int>) -> String {
    match status {
        Some(s) if libc::WIFEXITED(s) => format!("exit status {}", libc::WEXITSTATUS(s)),
        Some(s) if libc::WIFSIGNALED(s) => format!("killed by signal {}", libc::WTERMSIG(s)),
        _ => "status unknown".into(),
    }
}
