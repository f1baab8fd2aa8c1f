//! The init process between clone and execve. It walks the plan the parent
//! prepared and allocates nothing on the success path; a failure is
//! formatted once and sent to the parent, then the process exits.
//!
//! Order: user namespace (maps from the parent), namespaces joined by path,
//! unshared namespaces, time offsets, keyring, oom score, the root
//! filesystem and pivot_root, hostname, sysctls, rlimits, user and
//! capabilities, cwd, umask, no_new_privs; then wait for `start` and exec.

use std::io;
use std::os::fd::{AsRawFd, RawFd};

use super::sync;
use super::{Failure, Plan};
use crate::process;
use crate::rootfs::{self, resolve};
use crate::sys;

/// Runs the init's steps and execs; never returns.
pub fn run(plan: &Plan, sync_fd: RawFd) -> ! {
    for fd in &plan.close_in_init {
        // SAFETY: these fds belong to the parent's copy of the process;
        // nothing in the init uses them.
        unsafe { libc::close(*fd) };
    }
    reset_signals();
    let err = match setup(plan, sync_fd).and_then(|()| find_executable(plan)) {
        Ok(exe) => match wait_for_start(plan, sync_fd) {
            Ok(()) => exec(plan, exe),
            Err(e) => e,
        },
        Err(e) => e,
    };
    report(sync_fd, &err);
    // SAFETY: _exit skips atexit handlers and destructors, which belong to
    // the parent's copy of this process.
    unsafe { libc::_exit(1) }
}

/// The container starts with every signal at its default action and none
/// blocked, whatever brisk inherited (the Rust runtime ignores SIGPIPE; the
/// parent blocked the forwarded signals for `run`).
fn reset_signals() {
    /// The kernel's `struct sigaction` (glibc's wrapper refuses signals 32
    /// and 33, which it keeps for itself, so the raw call is used).
    #[repr(C)]
    struct KernelSigaction {
        handler: usize,
        flags: u64,
        restorer: usize,
        mask: u64,
    }
    let dfl = KernelSigaction {
        handler: libc::SIG_DFL,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    for sig in 1..=64 {
        if sig != libc::SIGKILL && sig != libc::SIGSTOP {
            // SAFETY: a valid kernel sigaction with SIG_DFL, no old action
            // requested, and the kernel's sigset size.
            unsafe {
                libc::syscall(
                    libc::SYS_rt_sigaction,
                    sig,
                    &dfl as *const KernelSigaction,
                    std::ptr::null_mut::<KernelSigaction>(),
                    8usize,
                )
            };
        }
    }
    // SAFETY: sigprocmask with an empty, initialised set.
    unsafe {
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
    }
}

fn report(sync_fd: RawFd, err: &Failure<'_>) {
    let msg = format!("E{err}");
    let bytes = &msg.as_bytes()[..msg.len().min(sync::MAX_MSG)];
    if sync::send(sync_fd, bytes).is_err() {
        // Nobody listens any more (create has returned): say it on stderr.
        let _ = sys::write_all(2, format!("brisk: container init: {err}\n").as_bytes());
    }
}

fn request_id_maps(sync_fd: RawFd) -> Result<(), Failure<'static>> {
    sync::send(sync_fd, &[sync::NEED_MAPS]).map_err(|e| Failure::new("ask for id maps", e))?;
    let mut buf = [0u8; 1];
    match sync::recv(sync_fd, &mut buf) {
        Ok(1) if buf[0] == sync::MAPS_DONE => Ok(()),
        Ok(_) => Err(Failure::new(
            "wait for id maps",
            io::Error::from_raw_os_error(libc::EPIPE),
        )),
        Err(e) => Err(Failure::new("wait for id maps", e)),
    }
}

fn wait_placed(sync_fd: RawFd) -> Result<(), Failure<'static>> {
    let mut buf = [0u8; 1];
    match sync::recv(sync_fd, &mut buf) {
        Ok(1) if buf[0] == sync::PLACED => Ok(()),
        Ok(_) => Err(Failure::new(
            "wait for cgroup placement",
            io::Error::from_raw_os_error(libc::EPIPE),
        )),
        Err(e) => Err(Failure::new("wait for cgroup placement", e)),
    }
}

fn setup(plan: &Plan, sync_fd: RawFd) -> Result<(), Failure<'_>> {
    let ns = &plan.ns;
    if plan.wait_placed {
        wait_placed(sync_fd)?;
        if plan.unshare_cgroup_ns {
            sys::unshare(libc::CLONE_NEWCGROUP)
                .map_err(|e| Failure::new("unshare cgroup namespace", e))?;
        }
    }
    if ns.clone_flags & libc::CLONE_NEWUSER as u64 != 0 {
        request_id_maps(sync_fd)?;
    }
    for j in &ns.joins {
        sys::setns(j.fd.as_raw_fd(), j.nstype)
            .map_err(|e| Failure::with("join namespace", &j.path, e))?;
    }
    if ns.unshare_flags != 0 {
        sys::unshare(ns.unshare_flags).map_err(|e| Failure::new("unshare namespaces", e))?;
        if ns.unshare_flags & libc::CLONE_NEWUSER != 0 {
            request_id_maps(sync_fd)?;
        }
    }
    if ns.joins.iter().any(|j| j.nstype == libc::CLONE_NEWUSER) {
        // In a joined user namespace our host ids are likely unmapped (and
        // every file we create would fail with EOVERFLOW): become its root
        // when it maps 0, as runc does; otherwise stay as we are.
        // SAFETY: plain system calls with integer ids; failure is handled.
        unsafe {
            if libc::setresgid(0, 0, 0) == 0 {
                libc::setresuid(0, 0, 0);
            }
        }
    }
    if ns.become_root {
        // SAFETY: plain system calls with integer ids.
        if unsafe { libc::setresgid(0, 0, 0) } < 0 || unsafe { libc::setresuid(0, 0, 0) } < 0 {
            return Err(Failure::new(
                "become root in the user namespace",
                io::Error::last_os_error(),
            ));
        }
    }
    if ns.new_time {
        sys::unshare(libc::CLONE_NEWTIME).map_err(|e| Failure::new("unshare time namespace", e))?;
        if !ns.time_offsets.is_empty() {
            sys::write_file(c"/proc/self/timens_offsets", &ns.time_offsets)
                .map_err(|e| Failure::new("write linux.timeOffsets", e))?;
        }
    }
    if plan.new_keyring {
        match sys::join_new_session_keyring() {
            Err(e) if e.raw_os_error() != Some(libc::ENOSYS) => {
                return Err(Failure::new("join a new session keyring", e))
            }
            _ => {}
        }
    }
    if let Some(adj) = &plan.process.oom_score_adj {
        sys::write_file(c"/proc/self/oom_score_adj", adj)
            .map_err(|e| Failure::new("write process.oomScoreAdj", e))?;
    }
    // Devices and directories get exactly the modes we ask for.
    // SAFETY: umask cannot fail.
    unsafe { libc::umask(0) };

    let root = rootfs::prepare(&plan.rootfs)?;
    resolve::create_in_root(
        std::os::fd::AsFd::as_fd(&root),
        plan.process.cwd.as_bytes(),
        resolve::Leaf::Dir,
    )
    .map_err(|e| Failure::with("create process.cwd", &plan.process.cwd, e))?;
    rootfs::enter(&plan.rootfs, root)?;
    // Sysctls go before the read-only paths make /proc/sys read-only.
    if let Some(h) = &plan.hostname {
        rustix::system::sethostname(h.as_bytes())
            .map_err(|e| Failure::with("set hostname", h, e.into()))?;
    }
    if let Some(d) = &plan.domainname {
        rustix::system::setdomainname(d.as_bytes())
            .map_err(|e| Failure::with("set domainname", d, e.into()))?;
    }
    for (path, value) in &plan.sysctls {
        sys::write_file(path, value).map_err(|e| Failure::with("write sysctl", path, e))?;
    }
    rootfs::finish(&plan.rootfs)?;

    process::apply_rlimits(&plan.process).map_err(|(r, e)| {
        let e = if e.raw_os_error() == Some(libc::EPERM) {
            io::Error::new(
                io::ErrorKind::PermissionDenied,
                "raising a hard limit above the current one needs CAP_SYS_RESOURCE (Operation not permitted)",
            )
        } else {
            e
        };
        Failure::with("set process.rlimits", r.name, e)
    })?;
    process::apply_scheduling(&plan.process).map_err(|(step, e)| Failure::new(step, e))?;
    set_identity(plan)?;
    rustix::process::chdir(plan.process.cwd.as_c_str())
        .map_err(|e| Failure::with("chdir to process.cwd", &plan.process.cwd, e.into()))?;
    // SAFETY: umask cannot fail.
    unsafe { libc::umask(plan.process.umask.unwrap_or(0o022)) };
    if plan.process.no_new_privs {
        rustix::thread::set_no_new_privs(true)
            .map_err(|e| Failure::new("set no_new_privs", e.into()))?;
    }
    Ok(())
}

fn set_identity(plan: &Plan) -> Result<(), Failure<'_>> {
    let p = &plan.process;
    if let Some(caps) = &p.caps {
        process::set_keepcaps(true).map_err(|e| Failure::new("keep capabilities", e))?;
        process::caps::drop_bounding(caps)
            .map_err(|e| Failure::new("drop bounding capabilities", e))?;
    }
    process::switch_user(p).map_err(|e| Failure::new("set process.user", e))?;
    if let Some(caps) = &p.caps {
        process::set_keepcaps(false).map_err(|e| Failure::new("keep capabilities", e))?;
        process::caps::apply(caps).map_err(|e| Failure::new("set process.capabilities", e))?;
    }
    Ok(())
}

/// Finds the program to exec now, so that `create` fails when it is
/// missing instead of `start` failing silently later. Inside the container,
/// as its final user.
fn find_executable(plan: &Plan) -> Result<&std::ffi::CStr, Failure<'_>> {
    let p = &plan.process;
    let mut err = io::Error::from_raw_os_error(libc::ENOENT);
    for candidate in &p.exec_candidates {
        // SAFETY: candidate is a valid C string.
        if unsafe { libc::access(candidate.as_ptr(), libc::X_OK) } == 0 {
            let mut st: libc::stat = unsafe { std::mem::zeroed() };
            // SAFETY: candidate is a valid C string, st a valid buffer.
            if unsafe { libc::stat(candidate.as_ptr(), &mut st) } == 0
                && st.st_mode & libc::S_IFMT != libc::S_IFDIR
            {
                return Ok(candidate);
            }
            err = io::Error::from_raw_os_error(libc::EACCES);
            continue;
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EACCES) {
            err = e;
        }
    }
    if p.exec_candidates.len() > 1 && err.raw_os_error() == Some(libc::ENOENT) {
        err = io::Error::new(
            io::ErrorKind::NotFound,
            "executable file not found in $PATH",
        );
    }
    Err(Failure::with("exec", &p.arg0, err))
}

/// Tells the parent the container is created and waits until the parent
/// has recorded it (no state, no init: an init whose parent died before
/// recording it exits). Then, for `create`, blocks until `start` writes a
/// byte into the FIFO.
fn wait_for_start(plan: &Plan, sync_fd: RawFd) -> Result<(), Failure<'_>> {
    sync::send(sync_fd, &[sync::READY]).map_err(|e| Failure::new("report ready", e))?;
    let mut ack = [0u8; 1];
    match sync::recv(sync_fd, &mut ack) {
        Ok(1) if ack[0] == sync::COMMITTED => {}
        // The parent is gone or gave up: leave quietly.
        // SAFETY: _exit ends this process without touching shared state.
        _ => unsafe { libc::_exit(1) },
    }
    if let Some(fifo) = &plan.start_fifo {
        let mut b = [0u8; 1];
        loop {
            // SAFETY: b is a valid one-byte buffer.
            let n = unsafe { libc::read(fifo.as_raw_fd(), b.as_mut_ptr().cast(), 1) };
            if n == 1 {
                break;
            }
            let e = io::Error::last_os_error();
            if n < 0 && e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(Failure::new("wait for start", e));
        }
    }
    Ok(())
}

fn exec<'p>(plan: &'p Plan, exe: &std::ffi::CStr) -> Failure<'p> {
    let p = &plan.process;
    for fd in 3..3 + plan.preserve_fds as RawFd {
        if let Err(e) = sys::clear_cloexec(fd) {
            return Failure::new("keep --preserve-fds", e);
        }
    }
    if let Err(e) = sys::cloexec_from(3 + plan.preserve_fds) {
        return Failure::new("close inherited fds", e);
    }
    // SAFETY: exe, argv and envp are NUL-terminated and outlive the call;
    // on success execve does not return.
    unsafe { libc::execve(exe.as_ptr(), p.argv.as_ptr(), p.envp.as_ptr()) };
    Failure::with("exec", &p.arg0, io::Error::last_os_error())
}
