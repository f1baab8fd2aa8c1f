//! The init process between clone and execve. It walks the plan the parent
//! prepared and allocates nothing on the success path; a failure is
//! formatted once and sent to the parent, then the process exits.
//!
//! Order: user namespace (maps from the parent), namespaces joined by path,
//! unshared namespaces, time offsets, keyring, oom score, the root
//! filesystem and pivot_root, hostname, sysctls, masked and read-only
//! paths, the LSM label of execve, rlimits, user and capabilities, cwd,
//! umask, no_new_privs; then wait for `start` and exec. Writes into /proc
//! go beneath a checked procfs (`rootfs::procfs`), never by a path of the
//! rootfs.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsFd, AsRawFd, RawFd};

use super::sync;
use super::Plan;
use crate::error::Failure;
use crate::hooks;
use crate::process::{self, self_exe};
use crate::rootfs::procfs::ProcRoot;
use crate::rootfs::{self, resolve};
use crate::sys;
use crate::terminal;
use crate::timings;

/// Runs the init's steps and execs; never returns.
pub fn run(plan: &Plan, sync_fd: RawFd) -> ! {
    super::title::set_in_init();
    timings::mark_init(timings::INIT_STARTED);
    die_with_parent(sync_fd);
    for fd in &plan.close_in_init {
        // SAFETY: these fds belong to the parent's copy of the process;
        // nothing in the init uses them.
        unsafe { libc::close(*fd) };
    }
    unblock_signals();
    // "creating" state NUL "created" state, for the init's hooks.
    let mut hook_state = Vec::new();
    // The environment with HOME from the container's /etc/passwd, when
    // process.env has none (read in setup, before the user changes).
    let mut home_env = None;
    let err = match setup(plan, sync_fd, &mut hook_state, &mut home_env)
        .and_then(|()| find_executable(plan))
        .and_then(|exe| {
            if plan.seccomp.as_ref().is_some_and(|s| !s.before_identity) {
                load_seccomp(plan, sync_fd)?;
            }
            Ok(exe)
        }) {
        Ok(exe) => {
            let envp = home_env.as_ref().unwrap_or(&plan.process.envp);
            match wait_for_start(plan, sync_fd, &hook_state, envp) {
                Ok(()) => exec(plan, exe, envp),
                Err(e) => e,
            }
        }
        Err(e) => e,
    };
    report(plan, sync_fd, &err);
    // SAFETY: _exit skips atexit handlers and destructors, which belong to
    // the parent's copy of this process.
    unsafe { libc::_exit(1) }
}

/// Until it reports ready the init dies with brisk (as runc's init does),
/// so a killed create leaves no half-made container running; from `R` on
/// it exits when it reads EOF instead of `C`. A credential change (a
/// non-root `process.user`) clears the signal; the EOF still ends the init
/// then. A brisk that died before the prctl has closed its end of the
/// sync socket (`getppid` cannot tell: it is 0 in a new pid namespace).
fn die_with_parent(sync_fd: RawFd) {
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
    exit_if_parent_gone(sync_fd);
}

/// Exits when brisk has closed its end of the sync socket (it died or gave
/// up), without waiting.
fn exit_if_parent_gone(sync_fd: RawFd) {
    let mut pfd = libc::pollfd {
        fd: sync_fd,
        events: libc::POLLRDHUP,
        revents: 0,
    };
    // SAFETY: poll of one valid pollfd without waiting; _exit ends this
    // copy of the process.
    unsafe {
        if libc::poll(&mut pfd, 1, 0) > 0 && pfd.revents & (libc::POLLHUP | libc::POLLRDHUP) != 0 {
            libc::_exit(1);
        }
    }
}

/// Nothing blocked, whatever brisk inherited (the parent blocked the
/// forwarded signals for `run`). Ignored signals are reset just before
/// `execve` (`signal::reset_to_default`), once the parent has said which
/// they are; handlers need nothing, `execve` resets them.
fn unblock_signals() {
    // SAFETY: sigprocmask with an empty, initialised set.
    unsafe {
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
    }
}

fn report(plan: &Plan, sync_fd: RawFd, err: &Failure<'_>) {
    let msg = format!("E{err}");
    if let Some(fd) = &plan.start_result {
        let _ = sys::write_all(fd.as_raw_fd(), msg.as_bytes());
    }
    let bytes = &msg.as_bytes()[..msg.len().min(sync::MAX_MSG)];
    if sync::send(sync_fd, bytes).is_err() {
        // Nobody listens any more (create has returned): say it on stderr.
        let _ = sys::write_all(2, format!("brisk: container init: {err}\n").as_bytes());
    }
}

fn request_id_maps(
    sync_fd: RawFd,
    writer: &crate::namespaces::MapWriter,
) -> Result<(), Failure<'static>> {
    // brisk made itself (and so this copy) non-dumpable before the clone:
    // /proc/PID/uid_map and the rest are then root's, which only root may
    // open. An unprivileged brisk (and newuidmap, which checks that the
    // process is the caller's) needs them to be ours while it writes, as
    // runc's init does. Nothing else runs in the container yet.
    let set_dumpable = |on: libc::c_ulong| {
        // SAFETY: prctl with integer arguments.
        if unsafe { libc::prctl(libc::PR_SET_DUMPABLE, on, 0, 0, 0) } < 0 {
            return Err(Failure::new(
                "set the init dumpable for its id maps",
                io::Error::last_os_error(),
            ));
        }
        Ok(())
    };
    if writer.unprivileged {
        set_dumpable(1)?;
    }
    sync::send(sync_fd, &[sync::NEED_MAPS]).map_err(|e| Failure::new("ask for id maps", e))?;
    let mut buf = [0u8; 1];
    let got = match sync::recv(sync_fd, &mut buf) {
        Ok(1) if buf[0] == sync::MAPS_DONE => Ok(()),
        Ok(_) => Err(Failure::new(
            "wait for id maps",
            io::Error::from_raw_os_error(libc::EPIPE),
        )),
        Err(e) => Err(Failure::new("wait for id maps", e)),
    };
    if writer.unprivileged {
        set_dumpable(0)?;
    }
    got
}

/// Asks the parent to run the create hooks of the runtime namespace and
/// receives the state for the init's own hooks.
fn receive_hook_state(sync_fd: RawFd, state: &mut Vec<u8>) -> Result<(), Failure<'static>> {
    sync::send(sync_fd, &[sync::HOOKS]).map_err(|e| Failure::new("ask for hooks", e))?;
    state.resize(sync::MAX_STATE_MSG, 0);
    match sync::recv(sync_fd, state) {
        Ok(n) if n > 0 && state[0] == sync::HOOK_STATE => {
            state.truncate(n);
            state.remove(0);
            Ok(())
        }
        // The parent's hooks failed: it kills us; nothing to report.
        Ok(_) => Err(Failure::new(
            "wait for the create hooks",
            io::Error::from_raw_os_error(libc::EPIPE),
        )),
        Err(e) => Err(Failure::new("wait for the create hooks", e)),
    }
}

/// The "creating" (`created == false`) or "created" part of the state.
fn hook_state_part(state: &[u8], created: bool) -> &[u8] {
    match state.iter().position(|&b| b == 0) {
        Some(i) if created => &state[i + 1..],
        Some(i) => &state[..i],
        None => state,
    }
}

/// Joins the namespaces given by path, in `joins` order (user first,
/// mount last). With a user namespace among them, as runc does: first
/// every other one that brisk's credentials may join (one owned by an
/// ancestor of the container's user namespace may not be joined from
/// inside it), then the user namespace, then those that needed it (an
/// unprivileged brisk gets CAP_SYS_ADMIN over the container's namespaces
/// only there).
fn join_namespaces(joins: &[crate::namespaces::Join]) -> Result<(), Failure<'_>> {
    fn join(j: &crate::namespaces::Join) -> io::Result<()> {
        sys::setns(j.fd.as_raw_fd(), j.nstype)
    }
    fn fail(j: &crate::namespaces::Join, e: io::Error) -> Failure<'_> {
        Failure::with("join namespace", &j.path, e)
    }
    if !joins.iter().any(|j| j.nstype == libc::CLONE_NEWUSER) {
        for j in joins {
            join(j).map_err(|e| fail(j, e))?;
        }
        return Ok(());
    }
    let mut later = [false; 8];
    for (i, j) in joins.iter().enumerate() {
        if j.nstype == libc::CLONE_NEWUSER {
            continue;
        }
        match join(j) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EPERM) && i < later.len() => later[i] = true,
            Err(e) => return Err(fail(j, e)),
        }
    }
    for (i, j) in joins.iter().enumerate() {
        if j.nstype == libc::CLONE_NEWUSER || later.get(i).copied().unwrap_or(false) {
            join(j).map_err(|e| fail(j, e))?;
        }
    }
    Ok(())
}

/// After a late setns/unshare of the pid namespace (`LatePid`): forks,
/// with `CLONE_PARENT`, the process that is in it. That child goes on as
/// the container's init once brisk has recorded its pid (`A`); this one
/// tells brisk the pid (`N`) and exits, reaped by brisk.
fn fork_into_pid_namespace(sync_fd: RawFd) -> Result<(), Failure<'static>> {
    // SAFETY: the init is single-threaded; the child only goes on with the
    // init's steps (allocation-free, ending in execve or _exit), this
    // process only sends one message and _exits.
    let (pid, _) = unsafe { sys::fork_with_flags(libc::CLONE_PARENT as u64, None) }
        .map_err(|e| Failure::new("fork into the pid namespace", e))?;
    if pid == 0 {
        // A new parent (brisk itself): the death signal is cleared by fork.
        die_with_parent(sync_fd);
        let mut buf = [0u8; 1];
        return match sync::recv(sync_fd, &mut buf) {
            Ok(1) if buf[0] == sync::PID_RECORDED => Ok(()),
            Ok(_) => Err(Failure::new(
                "wait for the pid to be recorded",
                io::Error::from_raw_os_error(libc::EPIPE),
            )),
            Err(e) => Err(Failure::new("wait for the pid to be recorded", e)),
        };
    }
    let mut msg = [0u8; 5];
    msg[0] = sync::NEW_PID;
    msg[1..].copy_from_slice(&pid.to_ne_bytes());
    let code = match sync::send(sync_fd, &msg) {
        Ok(()) => 0,
        Err(_) => {
            // SAFETY: kill(2) of the process just forked (brisk's child by
            // CLONE_PARENT), which brisk will never hear of.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            1
        }
    };
    // SAFETY: _exit skips atexit handlers and destructors, which belong to
    // the parent's copy of this process.
    unsafe { libc::_exit(code) }
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

fn setup<'p>(
    plan: &'p Plan,
    sync_fd: RawFd,
    hook_state: &mut Vec<u8>,
    home_env: &mut Option<process::CStringArray>,
) -> Result<(), Failure<'p>> {
    let ns = &plan.ns;
    if plan.wait_placed {
        wait_placed(sync_fd)?;
        if plan.unshare_cgroup_ns {
            sys::unshare(libc::CLONE_NEWCGROUP)
                .map_err(|e| Failure::new("unshare cgroup namespace", e))?;
        }
    }
    // `exec` only: in the container's cgroup now (the kernel reset the
    // affinity there if the cpuset says so), on to the final CPUs.
    if let Some(cpus) = &plan.process.cpu_final {
        cpus.apply(0)
            .map_err(|e| Failure::new("set process.execCPUAffinity.final", e))?;
    }
    if ns.clone_flags & libc::CLONE_NEWUSER as u64 != 0 {
        request_id_maps(sync_fd, &ns.map_writer)?;
    }
    join_namespaces(&ns.joins)?;
    if ns.unshare_flags != 0 {
        sys::unshare(ns.unshare_flags).map_err(|e| Failure::new("unshare namespaces", e))?;
        if ns.unshare_flags & libc::CLONE_NEWUSER != 0 {
            request_id_maps(sync_fd, &ns.map_writer)?;
        }
    }
    if ns.joins.iter().any(|j| j.nstype == libc::CLONE_NEWUSER) {
        // In a joined user namespace our host ids are likely unmapped (and
        // every file we create would fail with EOVERFLOW): become its root
        // when it maps 0, as runc does; otherwise stay as we are.
        if crate::sys::setresgid(0).is_ok() {
            let _ = crate::sys::setresuid(0);
        }
    }
    if ns.become_root {
        if let Err(e) = crate::sys::setresgid(0).and_then(|()| crate::sys::setresuid(0)) {
            return Err(Failure::new("become root in the user namespace", e));
        }
    }
    if let Some(late) = &ns.late_pid {
        match late {
            crate::namespaces::LatePid::New => sys::unshare(libc::CLONE_NEWPID)
                .map_err(|e| Failure::new("unshare pid namespace", e))?,
            crate::namespaces::LatePid::Join(j) => sys::setns(j.fd.as_raw_fd(), j.nstype)
                .map_err(|e| Failure::with("join namespace", &j.path, e))?,
        }
        fork_into_pid_namespace(sync_fd)?;
    }
    if ns.new_time {
        sys::unshare(libc::CLONE_NEWTIME).map_err(|e| Failure::new("unshare time namespace", e))?;
        if !ns.time_offsets.is_empty() {
            write_in_proc(c"/proc/self/timens_offsets", &ns.time_offsets)
                .map_err(|e| Failure::new("write linux.timeOffsets", e))?;
        }
    }
    // A new network namespace starts with `lo` down; runc and crun set it
    // up, and programs expect 127.0.0.1 to work.
    if ns.new_net {
        sys::loopback_up().map_err(|e| Failure::new("set the loopback device up", e))?;
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
        write_in_proc(c"/proc/self/oom_score_adj", adj)
            .map_err(|e| Failure::new("write process.oomScoreAdj", e))?;
    }
    // Devices and directories get exactly the modes we ask for.
    // SAFETY: umask cannot fail.
    unsafe { libc::umask(0) };

    timings::mark_init(timings::INIT_NAMESPACES);
    // `exec` has no root filesystem to build: joining the mount namespace
    // put it in the container's root.
    if let Some(rootfs_plan) = &plan.rootfs {
        let root = rootfs::prepare(rootfs_plan)?;
        timings::mark_init(timings::INIT_MOUNTS);
        resolve::create_in_root(
            std::os::fd::AsFd::as_fd(&root),
            plan.process.cwd.as_bytes(),
            resolve::Leaf::Dir,
        )
        .map_err(|e| Failure::with("create process.cwd", &plan.process.cwd, e))?;
        if plan.hooks.sync {
            // Mounts are done and the root not yet pivoted: prestart and
            // createRuntime (in the parent), then createContainer (here).
            receive_hook_state(sync_fd, hook_state)?;
            hooks::run_in_init(
                &plan.runtime_exe,
                &plan.hooks.create_container,
                hook_state_part(hook_state, false),
                &plan.hooks.empty_env,
            )?;
        }
        rootfs::enter(rootfs_plan, root)?;
        timings::mark_init(timings::INIT_PIVOT);
    }
    // Sysctls go before the read-only paths make /proc/sys read-only.
    if let Some(h) = &plan.hostname {
        rustix::system::sethostname(h.as_bytes())
            .map_err(|e| Failure::with("set hostname", h, e.into()))?;
    }
    if let Some(d) = &plan.domainname {
        rustix::system::setdomainname(d.as_bytes())
            .map_err(|e| Failure::with("set domainname", d, e.into()))?;
    }
    if !plan.sysctls.is_empty() {
        let proc =
            container_proc(plan).map_err(|e| Failure::with("write sysctls in", c"/proc", e))?;
        for (path, value) in &plan.sysctls {
            proc.write(path, value)
                .map_err(|e| Failure::with("write sysctl", path, e))?;
        }
    }
    if let Some(size) = plan.terminal {
        setup_terminal(size, plan.rootfs.is_some(), &plan.process, sync_fd)?;
    }
    if let Some(rootfs_plan) = &plan.rootfs {
        rootfs::finish(rootfs_plan)?;
        timings::mark_init(timings::INIT_FINISHED);
    }
    // The label the program gets at execve (kept across the user switch).
    // Written before any seccomp filter is loaded: a profile that refuses
    // openat2 must not refuse the label.
    if !plan.process.lsm.is_empty() {
        let proc = container_proc(plan)
            .map_err(|e| Failure::with("set the LSM label of execve in", c"/proc", e))?;
        for w in &plan.process.lsm {
            proc.write(&w.path, &w.value)
                .map_err(|e| Failure::with("set the LSM label of execve", &w.path, e))?;
        }
    }
    if let Some(persona) = plan.personality {
        // SAFETY: personality takes a plain value.
        if unsafe { libc::personality(persona) } < 0 {
            return Err(Failure::new(
                personality_step(persona),
                io::Error::last_os_error(),
            ));
        }
    }

    // runc reads it here too: in the container's root, as root, before
    // the rlimits and the user switch.
    if plan.process.home_from_passwd {
        *home_env = Some(
            process::env_with_home(&plan.process)
                .map_err(|e| Failure::new("set HOME from /etc/passwd", e))?,
        );
    }
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
    // Before the user switch and seccomp: a profile may not allow it.
    if let Some(m) = &plan.memory_policy {
        m.apply().map_err(|e| Failure::with("set", &m.what, e))?;
    }
    set_identity(plan, sync_fd)?;
    timings::mark_init(timings::INIT_IDENTITY);
    rustix::process::chdir(plan.process.cwd.as_c_str())
        .map_err(|e| Failure::with("chdir to process.cwd", &plan.process.cwd, e.into()))?;
    check_cwd_inside_root(&plan.process.cwd)?;
    // SAFETY: umask cannot fail.
    unsafe { libc::umask(plan.process.umask.unwrap_or(0o022)) };
    if plan.process.no_new_privs {
        rustix::thread::set_no_new_privs(true)
            .map_err(|e| Failure::new("set no_new_privs", e.into()))?;
    }
    Ok(())
}

/// Before the container's mounts: writes `data` to `path` (`/proc/self/...`)
/// beneath the `/proc` of the init's mount namespace (the host's, or that
/// of the mount namespace the config joins), checked to be the root of a
/// procfs (see `rootfs::procfs`).
fn write_in_proc(path: &CStr, data: &[u8]) -> io::Result<()> {
    ProcRoot::open(c"/proc")?.write(path, data)
}

/// The procfs the init writes to after `pivot_root`: the one it mounted
/// for the container, through the fd of that mount, so that a rename of
/// the rootfs's `/proc` cannot send the writes to a decoy; without such a
/// mount (and for `exec`) the container's `/proc`, which must then be the
/// root of a procfs (writes to the caller's own files and sysctls reach
/// the kernel's files beneath any procfs root, or fail).
fn container_proc(plan: &Plan) -> io::Result<ProcRoot<'_>> {
    match plan.rootfs.as_ref().and_then(|r| r.proc_fd()) {
        Some(fd) => ProcRoot::mounted(fd),
        None => ProcRoot::open(c"/proc"),
    }
}

/// After `pivot_root`, before the read-only paths: a pty from the
/// container's `/dev/ptmx`, its slave bound onto `/dev/console` and made
/// the controlling terminal and stdio; the master goes to the parent.
fn setup_terminal(
    size: Option<terminal::Size>,
    console: bool,
    p: &process::ProcessPlan,
    sync_fd: RawFd,
) -> Result<(), Failure<'static>> {
    let (master, slave) =
        terminal::open_pty(size).map_err(|e| Failure::new("open a pty from /dev/ptmx", e))?;
    // The program owns its terminal (as runc): screen, mesg, and anything
    // reopening ttyname() need that.
    rustix::fs::fchown(
        &slave,
        Some(rustix::fs::Uid::from_raw(p.uid)),
        Some(rustix::fs::Gid::from_raw(p.gid)),
    )
    .map_err(|e| Failure::new("give the pty to process.user", e.into()))?;
    if console {
        bind_console(&slave)?;
    }
    sync::send_with_fd(sync_fd, &[sync::TERMINAL], master.as_raw_fd())
        .map_err(|e| Failure::new("send the pty to brisk", e))?;
    drop(master);
    terminal::make_controlling(&slave)
        .map_err(|e| Failure::new("make the pty the controlling terminal", e))
}

/// The container's `/dev/console` is the pty (config-linux.md, Default
/// Devices), a bind mount of the slave: a detached copy of the slave's
/// mount (`open_tree` of its fd) moved onto the fd of `/dev/console`, not
/// a mount(2) of `/proc/self/fd` paths, which after `pivot_root` would be
/// looked up in the container's `/proc` (a decoy, when a writer on a
/// shared rootfs has swapped it).
fn bind_console(slave: &std::os::fd::OwnedFd) -> Result<(), Failure<'static>> {
    let root = rustix::fs::open(
        c"/",
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| Failure::new("open /", e.into()))?;
    let console = resolve::create_in_root(
        std::os::fd::AsFd::as_fd(&root),
        b"dev/console",
        resolve::Leaf::File,
    )
    .map_err(|e| Failure::new("create /dev/console", e))?;
    use rustix::mount::OpenTreeFlags;
    let fail = |e| Failure::new("bind the pty onto /dev/console", e);
    let tree = rustix::mount::open_tree(
        slave,
        c"",
        OpenTreeFlags::OPEN_TREE_CLONE
            | OpenTreeFlags::OPEN_TREE_CLOEXEC
            | OpenTreeFlags::AT_EMPTY_PATH,
    )
    .map_err(|e| fail(e.into()))?;
    sys::move_mount(tree.as_raw_fd(), console.as_raw_fd()).map_err(fail)
}

/// Installs `linux.seccomp`. With `noNewPrivileges` this is the last step
/// before reporting ready (as late as possible while a failure still
/// reaches `create`); without, it comes before the user switch and the
/// capability drop, since loading needs CAP_SYS_ADMIN then. A listener fd
/// (SCMP_ACT_NOTIFY) goes to the parent at once, which hands it to the
/// agent, so that the syscalls the init still makes can be answered.
fn load_seccomp(plan: &Plan, sync_fd: RawFd) -> Result<(), Failure<'_>> {
    let Some(s) = &plan.seccomp else {
        return Ok(());
    };
    let listener = brisk_seccomp::kernel::load(&s.bpf, s.flags)
        .map_err(|e| Failure::new("load the seccomp filter (linux.seccomp)", e))?;
    if let Some(fd) = listener {
        let sent = sync::send_with_fd(sync_fd, &[sync::SECCOMP_FD], fd);
        // SAFETY: fd is the listener the kernel just gave us; the parent
        // holds its own copy now.
        unsafe { libc::close(fd) };
        sent.map_err(|e| Failure::new("send the seccomp listener", e))?;
    }
    timings::mark_init(timings::INIT_SECCOMP);
    Ok(())
}

fn set_identity(plan: &Plan, sync_fd: RawFd) -> Result<(), Failure<'_>> {
    if plan.seccomp.as_ref().is_some_and(|s| s.before_identity) {
        load_seccomp(plan, sync_fd)?;
    }
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

/// A cwd reached through a magic link (`/proc/self/fd/N` naming an fd of
/// brisk's, runc's CVE-2024-21626) can lie outside the container's root;
/// the kernel then reports it as unreachable: getcwd fails with ENOENT or
/// returns a path that does not start with `/`.
fn check_cwd_inside_root(cwd: &std::ffi::CStr) -> Result<(), Failure<'_>> {
    let mut buf = [0u8; 4096];
    // SAFETY: buf is a valid, writable buffer of the given length.
    let r = unsafe { libc::getcwd(buf.as_mut_ptr().cast(), buf.len()) };
    if r.is_null() {
        let e = io::Error::last_os_error();
        // ERANGE: a path longer than 4 KiB is still a path in the root.
        if e.raw_os_error() != Some(libc::ERANGE) {
            return Err(Failure::with(
                "process.cwd is outside the container's root",
                cwd,
                e,
            ));
        }
    } else if buf[0] != b'/' {
        return Err(Failure::with(
            "process.cwd is outside the container's root",
            cwd,
            io::Error::from_raw_os_error(libc::EPERM),
        ));
    }
    Ok(())
}

/// The program the init executes: its path, and the fd it was checked
/// through when `execveat` of that fd is what runs it.
struct Executable<'p> {
    path: &'p std::ffi::CStr,
    fd: Option<std::os::fd::OwnedFd>,
}

/// Finds the program to exec now, so that `create` fails when it is
/// missing instead of `start` failing silently later. Inside the container,
/// as its final user. The file is opened once: its identity and header are
/// checked through that fd, and an ELF program named by its own path (not
/// a symlink, whose name the kernel would not give the process) is
/// executed through it (`execveat`), so no swap of the path between the
/// check and `start` can change what runs (see process::sealed_exe for
/// why that is not the only defence).
fn find_executable(plan: &Plan) -> Result<Executable<'_>, Failure<'_>> {
    let p = &plan.process;
    let mut err = io::Error::from_raw_os_error(libc::ENOENT);
    for candidate in &p.exec_candidates {
        // SAFETY: candidate is a valid C string.
        if unsafe { libc::access(candidate.as_ptr(), libc::X_OK) } == 0 {
            let (fd, link) = match self_exe::open_program(candidate) {
                Ok(opened) => opened,
                Err(e) => {
                    err = e;
                    continue;
                }
            };
            // One lookup serves the directory test and the runtime-binary
            // check.
            match self_exe::file_id_of(fd.as_fd()) {
                Ok(id) if !id.is_dir() => {
                    if id == plan.runtime_exe {
                        return Err(Failure::with("exec", &p.arg0, self_exe::refused()));
                    }
                    let kind = self_exe::check_program(fd.as_fd(), &plan.runtime_exe)
                        .map_err(|e| Failure::with("exec", &p.arg0, e))?;
                    let by_fd = kind == self_exe::Program::Elf && p.exec_by_fd && !link;
                    return Ok(Executable {
                        path: candidate,
                        fd: by_fd.then_some(fd),
                    });
                }
                _ => {}
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
fn wait_for_start<'p>(
    plan: &'p Plan,
    sync_fd: RawFd,
    hook_state: &[u8],
    envp: &process::CStringArray,
) -> Result<(), Failure<'p>> {
    timings::mark_init(timings::INIT_READY);
    // R, followed by the init's phase marks with --timings.
    let mut ready = [0u8; 65];
    ready[0] = sync::READY;
    let len = if timings::enabled() {
        ready[1..].copy_from_slice(&timings::init_marks_bytes());
        65
    } else {
        1
    };
    // Past this point the init outlives brisk (`create`): it must not die
    // with it. Cleared before `R`, so brisk cannot exit in between.
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, 0) };
    sync::send(sync_fd, &ready[..len]).map_err(|e| Failure::new("report ready", e))?;
    // C, followed by the signals brisk ignores (which execve would keep).
    let mut ack = [0u8; 9];
    match sync::recv(sync_fd, &mut ack) {
        Ok(9) if ack[0] == sync::COMMITTED => {
            let mut mask = [0u8; 8];
            mask.copy_from_slice(&ack[1..]);
            crate::signal::reset_to_default(u64::from_ne_bytes(mask));
        }
        // The parent is gone or gave up: leave quietly.
        // SAFETY: _exit ends this process without touching shared state.
        _ => unsafe { libc::_exit(1) },
    }
    // An early C (`run`) was sent before brisk read R: if brisk died in
    // between, nobody waits for this container; leave, as an init that
    // reads EOF instead of C does. (A `run` brisk stays until the exec.)
    if plan.early_commit {
        exit_if_parent_gone(sync_fd);
    }
    if let Some(fifo) = &plan.start_fifo {
        if plan.watch_start_fifo {
            wait_while_named(fifo.as_raw_fd())?;
        }
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
    hooks::run_in_init(
        &plan.runtime_exe,
        &plan.hooks.start_container,
        hook_state_part(hook_state, true),
        envp,
    )?;
    if let Some(fd) = &plan.start_result {
        let _ = sys::write_all(fd.as_raw_fd(), b"0");
    }
    Ok(())
}

/// The step a failed personality(2) names. arm64 refuses LINUX32 (EINVAL)
/// on a CPU without AArch32 at EL0, or a kernel without CONFIG_COMPAT:
/// said, since "invalid argument" alone points at the config.
fn personality_step(persona: libc::c_ulong) -> &'static str {
    if cfg!(target_arch = "aarch64") && persona == super::PER_LINUX32 {
        "set linux.personality (LINUX32 on arm64 needs a CPU and kernel that run 32-bit AArch32 programs)"
    } else {
        "set linux.personality"
    }
}

/// Waits until the exec FIFO is readable (`start` wrote its byte), checking
/// every second that it still has a name. A FIFO without one was removed
/// with the state directory by someone else (a client that crashed and
/// wiped its temporary root): nobody can start this init any more, and it
/// leaves instead of waiting for ever. `start` writes before it unlinks,
/// so a FIFO without a name and without a byte was not `start`'s doing.
/// Raw system calls, the ones `WATCH_SYSCALLS` names (the seccomp filter
/// has been checked to allow them).
fn wait_while_named(fifo: RawFd) -> Result<(), Failure<'static>> {
    let readable = |ms: i64| -> bool {
        let mut pfd = libc::pollfd {
            fd: fifo,
            events: libc::POLLIN,
            revents: 0,
        };
        let ts = libc::timespec {
            tv_sec: ms / 1000,
            tv_nsec: (ms % 1000) * 1_000_000,
        };
        // SAFETY: one valid pollfd, a valid timespec, no signal mask.
        let r = unsafe {
            libc::syscall(
                libc::SYS_ppoll,
                &mut pfd as *mut libc::pollfd,
                1 as libc::c_ulong,
                &ts as *const libc::timespec,
                std::ptr::null::<libc::sigset_t>(),
                0usize,
            )
        };
        r > 0
    };
    loop {
        if readable(1000) {
            return Ok(());
        }
        // SAFETY: stat is plain data; newfstatat with AT_EMPTY_PATH on an
        // fd we own fills it.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: a valid fd, an empty NUL-terminated path, a valid buffer.
        let r = unsafe {
            libc::syscall(
                libc::SYS_newfstatat,
                fifo,
                c"".as_ptr(),
                &mut st as *mut libc::stat,
                libc::AT_EMPTY_PATH,
            )
        };
        if r == 0 && st.st_nlink == 0 && !readable(0) {
            return Err(Failure::new(
                "wait for start",
                io::Error::other(
                    "the exec FIFO was removed (the state directory was deleted before `start`): \
                     nothing can start this container, its init leaves",
                ),
            ));
        }
    }
}

fn exec<'p>(plan: &'p Plan, exe: Executable<'p>, envp: &process::CStringArray) -> Failure<'p> {
    let p = &plan.process;
    for fd in 3..3 + plan.preserve_fds as RawFd {
        if let Err(e) = sys::clear_cloexec(fd) {
            return Failure::new("keep --preserve-fds", e);
        }
    }
    if let Err(e) = sys::cloexec_from(3 + plan.preserve_fds) {
        return Failure::new("close inherited fds", e);
    }
    if let Some(fd) = &exe.fd {
        // SAFETY: an fd we own, an empty path, argv and envp NUL-terminated
        // arrays that outlive the call; on success it does not return.
        unsafe {
            libc::syscall(
                libc::SYS_execveat,
                fd.as_raw_fd(),
                c"".as_ptr(),
                p.argv.as_ptr(),
                envp.as_ptr(),
                libc::AT_EMPTY_PATH,
            )
        };
        // A seccomp profile may allow execve but not execveat: the path
        // then, with the read-only binary as the defence.
    }
    // SAFETY: exe, argv and envp are NUL-terminated and outlive the call;
    // on success execve does not return.
    unsafe { libc::execve(exe.path.as_ptr(), p.argv.as_ptr(), envp.as_ptr()) };
    Failure::with("exec", &p.arg0, io::Error::last_os_error())
}
