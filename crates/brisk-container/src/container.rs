//! The lifecycle operations of the OCI runtime spec on top of the state
//! store: create, start, state, kill, delete, plus the pieces `run` uses.

use std::collections::BTreeMap;
use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::config;
use crate::error::{Error, Result};
use crate::hooks;
use crate::id;
use crate::init::{self, Init, InitOptions};
use crate::state::{self, status, ContainerDir, Record, Status, Store};

/// The OCI version brisk implements.
pub const OCI_VERSION: &str = "1.2.0";

#[derive(Debug, Default, Clone)]
pub struct CreateOptions {
    pub id: String,
    pub bundle: PathBuf,
    /// A config outside the bundle (crun's `--config`).
    pub config: Option<PathBuf>,
    pub pid_file: Option<PathBuf>,
    pub init: InitOptions,
    /// Where the pty master goes with `process.terminal` (`--console-socket`).
    pub console_socket: Option<PathBuf>,
    /// `run` in the foreground: without a console socket brisk proxies the
    /// pty itself.
    pub foreground: bool,
    /// The caller's `NOTIFY_SOCKET`, passed through into the container.
    pub notify_socket: Option<PathBuf>,
    /// systemd socket activation (`LISTEN_FDS` for brisk's own pid): these
    /// fds, from 3 on, go to the container before the `--preserve-fds` ones,
    /// with `LISTEN_FDS` and `LISTEN_PID=1` in its environment.
    pub listen_fds: u32,
    /// cgroupfs (default), systemd (`--systemd-cgroup`) or disabled.
    pub cgroup_driver: brisk_cgroups::Driver,
}

/// A container whose init is ready. The state directory stays locked until
/// this value is dropped.
#[derive(Debug)]
pub struct Created {
    pub init: Init,
    pub record: Record,
    /// Warnings to log: config fields present but not applied by this
    /// version, capabilities skipped.
    pub warnings: Vec<String>,
    /// `process.consoleSize` was given (a terminal proxy keeps it).
    pub sized_terminal: bool,
    /// Debug lines (where the seccomp program came from).
    pub debug: Vec<String>,
    /// `run` with NOTIFY_SOCKET: the container's socket, to forward its
    /// READY=1 once the program runs.
    pub notify: Option<crate::notify::Forwarder>,
    dir: ContainerDir,
}

impl Created {
    /// Releases the lock so other commands can see the container.
    pub fn unlock(self) -> (Init, Record) {
        drop(self.dir);
        (self.init, self.record)
    }
}

/// Rootless: the container's cgroup is used only where the caller may make
/// and enter it (a cgroup2 subtree delegated to it). A `cgroupsPath` the
/// config names (`explicit`) that it may not is an error naming the
/// field, as runc and crun fail; without one the cgroup is skipped and
/// the container stays in brisk's own cgroups, as runc and crun run an
/// unprivileged user's container without a cgroupsPath. Returns the note
/// to log: a warning (`true`) when that leaves `linux.resources`
/// unapplied (crun drops them silently, runc fails), a debug line
/// otherwise.
///
/// The device rules are dropped only when brisk is not root of the host
/// (`host_root`): then the container is in a user namespace (an
/// unprivileged brisk refuses a config without one, `init::plan`) and
/// cannot make device nodes, and brisk could not apply the rules anyway.
/// `--rootless=true` given to root keeps them: a container without a user
/// namespace and with CAP_MKNOD could otherwise make and open any device.
fn rootless_cgroup(
    setup: &mut Option<brisk_cgroups::Setup>,
    explicit: bool,
) -> Result<Option<(bool, String)>> {
    let Some(s) = setup.as_mut() else {
        return Ok(None);
    };
    if !crate::namespaces::host_root() {
        s.drop_device_rules();
    }
    let Err(why) = s.check_writable() else {
        return Ok(None);
    };
    if explicit {
        return Err(Error::invalid(
            "linux.cgroupsPath",
            format!(
                "{}: this user may not make or enter it ({why}); delegate a cgroup2 \
                 subtree to it, or leave cgroupsPath out to run without a cgroup",
                s.path
            ),
        ));
    }
    let limits = !s.plan.writes.is_empty();
    let note = format!(
        "rootless: cgroup {} not used ({why}){}",
        s.path,
        if limits {
            ": linux.resources are not applied"
        } else {
            ""
        }
    );
    *setup = None;
    Ok(Some((limits, note)))
}

/// Creates a container. With `wait_for_start` (the `create` command) the
/// init then blocks until `start`; without (`run`), it execs at once.
/// On any error nothing is left: no state directory, no process.
pub fn create(store: &Store, opts: &CreateOptions, wait_for_start: bool) -> Result<Created> {
    id::validate(&opts.id)?;
    let mut init_opts = opts.init.clone();
    init_opts.preserve_fds += opts.listen_fds;
    check_preserved_fds(init_opts.preserve_fds)?;
    let mut config = config::load(&opts.bundle, opts.config.as_deref())?;
    crate::timings::mark("config parsed");
    if opts.notify_socket.is_some() {
        let dir = store.root().join(&opts.id).join(crate::notify::DIR);
        crate::notify::set_up_spec(&mut config.spec, &dir)?;
    }
    if opts.listen_fds > 0 {
        if let Some(p) = config.spec.process_mut() {
            let mut env: Vec<String> = p
                .env()
                .clone()
                .unwrap_or_default()
                .into_iter()
                .filter(|e| !e.starts_with("LISTEN_FDS=") && !e.starts_with("LISTEN_PID="))
                .collect();
            env.push(format!("LISTEN_FDS={}", opts.listen_fds));
            env.push("LISTEN_PID=1".into());
            p.set_env(Some(env));
        }
    }
    // NOTIFY_SOCKET: the directory the init binds at /run/notify lives in
    // the state directory, so that one is made first (the plan checks
    // every bind source), and discarded if the plan fails.
    let early_dir = match &opts.notify_socket {
        Some(_) => {
            let dir = store.create(&opts.id)?;
            if let Err(e) = crate::notify::make_dir(&dir.path) {
                let _ = dir.discard();
                return Err(e);
            }
            Some(dir)
        }
        None => None,
    };
    let mut cgroup_notes: Vec<(bool, String)> = Vec::new();
    let planned = (|| {
        let linux = config.spec.linux().as_ref();
        if opts.init.rootless && opts.cgroup_driver == brisk_cgroups::Driver::Systemd {
            return Err(Error::Unsupported(
                "the systemd cgroup driver for a rootless container (a scope of the \
                 user's systemd instance) is not supported yet; use --cgroup-manager \
                 cgroupfs or disabled"
                    .into(),
            ));
        }
        let annotations = config.spec.annotations().as_ref();
        let mut setup = brisk_cgroups::prepare(
            linux.and_then(|l| l.resources().as_ref()),
            linux.and_then(|l| l.cgroups_path().as_deref()),
            &opts.id,
            opts.cgroup_driver,
            annotations
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.as_str(), v.as_str())),
        )?;
        if opts.init.rootless {
            // "" is no path, as `brisk_cgroups::path::resolve` reads it.
            let explicit = linux
                .and_then(|l| l.cgroups_path().as_deref())
                .is_some_and(|p| !p.as_os_str().is_empty());
            if let Some(note) = rootless_cgroup(&mut setup, explicit)? {
                cgroup_notes.push(note);
            }
        }
        // The systemd driver places the init after the clone, as v1 does.
        let placement = setup.as_ref().map(|s| init::CgroupPlacement {
            path: &s.path,
            v1: !s.clone_places_fully(),
            cgroup2_host: s.layout() == brisk_cgroups::Layout::V2,
        });
        let mut plan = init::plan(&config, &init_opts, placement)?;
        plan.intel_rdt = crate::intelrdt::plan(&config.spec, &opts.id)?;
        // Between the init's R and C brisk only writes the pid file. `run`
        // only: a `create` whose brisk dies after an early C would leave a
        // created container behind (the init of a `run` checks, see
        // child::wait_for_start).
        plan.early_commit = !wait_for_start && opts.pid_file.is_none() && plan.can_commit_early();
        crate::timings::mark("plan built");
        if plan.terminal.is_some() && opts.console_socket.is_none() && !opts.foreground {
            return Err(Error::invalid(
                "process.terminal",
                "a detached container with a terminal needs --console-socket",
            ));
        }
        if let Some(l) = plan.seccomp.as_mut().and_then(|s| s.listener.as_mut()) {
            let annotations: BTreeMap<String, String> = config
                .spec
                .annotations()
                .clone()
                .unwrap_or_default()
                .into_iter()
                .collect();
            l.set_container(OCI_VERSION, &opts.id, &config.bundle, &annotations);
        }
        Ok((setup, plan))
    })();
    let (setup, mut plan) = match planned {
        Ok(p) => p,
        Err(e) => {
            if let Some(d) = early_dir {
                let _ = d.discard();
            }
            return Err(e);
        }
    };
    let mut debug = std::mem::take(&mut plan.notes);
    let mut plan_warnings = std::mem::take(&mut plan.process.warnings);
    for (warn, note) in cgroup_notes {
        if warn {
            plan_warnings.push(note);
        } else {
            debug.push(note);
        }
    }
    let dir = match early_dir {
        Some(d) => d,
        None => store.create(&opts.id)?,
    };
    crate::timings::mark("state directory created");
    plan.close_in_init.push(dir.lock_fd());
    // The config first: every later command checks the recorded cgroup
    // path against it (`checked_cgroup`), the link of a create killed
    // before its state was written included.
    if let Err(e) = dir.save_config(&config.raw) {
        let _ = dir.discard();
        return Err(e);
    }
    // NOTIFY_SOCKET: `run` listens before the program runs (`start` does
    // for `create`).
    let notify = match &opts.notify_socket {
        Some(caller) => {
            let listening = (!wait_for_start)
                .then(|| crate::notify::listen(&dir.path, caller.as_os_str()))
                .transpose();
            match listening {
                Ok(n) => n,
                Err(e) => {
                    let _ = dir.discard();
                    return Err(e);
                }
            }
        }
        None => None,
    };
    // The cgroup exists, limits written, before the init does. Its path
    // is recorded first: a create killed from here on leaves a cgroup
    // that `delete --force` can find.
    // With the systemd driver the unit is recorded too, and the cgroup is
    // made once the init's pid is known (`place` below).
    let cgroup = std::cell::OnceCell::new();
    let made = setup.as_ref().map(|s| {
        dir.record_cgroup_path(&s.path)
            .and_then(|()| match s.systemd_unit() {
                Some(unit) => dir.record_systemd_unit(unit),
                None => Ok(()),
            })
            .and_then(|()| s.create().map_err(Error::from))
            .and_then(|c| {
                c.map(|c| delegate_cgroup(c, s.layout(), &config.spec))
                    .transpose()
            })
    });
    match made.transpose() {
        Ok(Some(Some(c))) => {
            let _ = cgroup.set(c);
        }
        Ok(_) => {}
        Err(e) => {
            let _ = dir.discard();
            return Err(e);
        }
    }
    plan.cgroup_fd = cgroup.get().and_then(|c| c.clone_fd());
    // The systemd driver's connection, begun in `prepare`: never the
    // container's.
    if let Some(fd) = setup.as_ref().and_then(|s| s.systemd_fd()) {
        plan.close_in_init.push(fd);
    }
    // The clone uses it; the init must not keep a host directory open.
    if let Some(fd) = plan.cgroup_fd {
        plan.close_in_init.push(fd);
    }
    let result = (|| {
        if wait_for_start {
            plan.start_fifo = Some(dir.make_start_fifo()?);
            if !plan.hooks.start_container.is_empty() {
                plan.start_result = Some(dir.make_result_fifo()?);
            }
        }
        let spec_hooks = config.spec.hooks().as_ref();
        let mut on_hooks = |pid: libc::pid_t| -> Result<Vec<u8>> {
            let creating = hook_state(&config, &opts.id, pid, "creating");
            // A hook ends early when the init dies meanwhile (`delete
            // --force` or `kill` from another brisk): the create is over.
            let init = pidfd_open(pid).ok();
            let init = init.as_ref();
            hooks::run_while(spec_hooks, hooks::PRESTART, &creating, init)?;
            hooks::run_while(spec_hooks, hooks::CREATE_RUNTIME, &creating, init)?;
            let mut both = creating;
            both.push(0);
            both.extend_from_slice(&hook_state(&config, &opts.id, pid, "created"));
            Ok(both)
        };
        // The state is recorded right after the clone, while the init sets
        // itself up (on another CPU), instead of between its `R` and `C`:
        // everything in it is known once the init exists.
        let mut record = None;
        let mut init = init::spawn(
            &plan,
            &mut |pid, cloned_into| {
                if let Some(s) = setup.as_ref().filter(|s| s.scope.is_some()) {
                    let c = s.create_with(pid)?;
                    let _ = cgroup.set(c);
                }
                if let Some(c) = cgroup.get() {
                    c.place(pid, cloned_into)?;
                }
                // Before the init is told it is placed, before any hook.
                if let Some(n) = &plan.net_devices {
                    n.apply(pid)?;
                }
                if let Some(r) = &plan.intel_rdt {
                    r.apply(pid)?;
                }
                Ok(())
            },
            &mut |pid| {
                let cg_record = cgroup.get().map(|c| c.record.clone());
                let r = record_for(pid, &config, &opts.id, cg_record)?;
                dir.save(&r)?;
                record = Some(r);
                Ok(())
            },
            &mut on_hooks,
        )?;
        init.hand_over_console(opts.console_socket.as_deref())?;
        // The init holds its own copies of the FIFOs; ours would keep
        // `start` from noticing a dead init.
        plan.start_fifo = None;
        plan.start_result = None;
        let Some(record) = record else {
            init.abort();
            return Err(Error::State(
                "the container's state was not recorded".into(),
            ));
        };
        if let Err(e) =
            write_pid_file(opts.pid_file.as_deref(), init.pid).and_then(|()| init.commit())
        {
            init.abort();
            return Err(e);
        }
        crate::timings::mark("state saved, init released");
        Ok((init, record))
    })();
    match result {
        Ok((init, record)) => Ok(Created {
            init,
            record,
            sized_terminal: matches!(plan.terminal, Some(Some(_))),
            warnings: config
                .warnings
                .iter()
                .cloned()
                .chain(plan_warnings)
                .chain(
                    config::ignored_fields(&config.spec)
                        .into_iter()
                        .map(|f| format!("{f} is not applied by this version of brisk")),
                )
                .collect(),
            debug,
            notify,
            dir,
        }),
        Err(e) => {
            // An init that could not be reaped (frozen in a cgroup that was
            // paused, SIGKILL pending) is still there: the state stays, so
            // that `delete --force` finds it and its cgroup.
            if let Ok(r) = dir.load() {
                if status::is_alive(r.pid, r.pid_start_time) {
                    return Err(Error::State(format!(
                        "{e}; the container's init (pid {}) has not exited yet (a frozen cgroup?): \
                         `brisk delete --force {}` removes the container",
                        r.pid, opts.id
                    )));
                }
            }
            if let Some(c) = cgroup.get() {
                // The init has been killed and reaped before it ran the
                // user's program: nothing left in the cgroup is ours.
                let _ = c.record.destroy(false);
            }
            if plan.intel_rdt.is_some() {
                let _ = crate::intelrdt::cleanup(&config.raw, &opts.id);
            }
            // runtime.md: a failed create destroys the container (the init
            // is already killed and reaped), then the poststop hooks run.
            let _ = dir.discard();
            let _ = hooks::run_poststop(
                config.spec.hooks().as_ref(),
                &hook_state(&config, &opts.id, 0, "stopped"),
            );
            Err(e)
        }
    }
}

/// `--preserve-fds N` hands fds 3..3+N to the container: they must be
/// open now, or brisk's own fds could take those numbers and leak.
pub(crate) fn check_preserved_fds(n: u32) -> Result<()> {
    for fd in 3..3 + n as i32 {
        // SAFETY: F_GETFD only queries the fd table.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
            return Err(Error::invalid(
                "--preserve-fds",
                format!("fd {fd} is not open (asked to pass {n} fds from 3 on)"),
            ));
        }
    }
    Ok(())
}

/// The state given to hooks on stdin (runtime.md, State).
fn hook_state(config: &config::Config, id: &str, pid: libc::pid_t, status: &str) -> Vec<u8> {
    let annotations = config.spec.annotations().clone().unwrap_or_default();
    state_json(
        id,
        pid,
        status,
        &config.bundle,
        &annotations.into_iter().collect(),
    )
}

fn state_json(
    id: &str,
    pid: libc::pid_t,
    status: &str,
    bundle: &std::path::Path,
    annotations: &BTreeMap<String, String>,
) -> Vec<u8> {
    let mut v = serde_json::json!({
        "ociVersion": OCI_VERSION,
        "id": id,
        "status": status,
        "bundle": bundle,
    });
    if pid > 0 {
        v["pid"] = pid.into();
    }
    if !annotations.is_empty() {
        v["annotations"] = serde_json::json!(annotations);
    }
    v.to_string().into_bytes()
}

fn record_state(record: &Record, status: &str) -> Vec<u8> {
    let pid = if status == "stopped" { 0 } else { record.pid };
    state_json(&record.id, pid, status, &record.bundle, &record.annotations)
}

/// poststart hooks, once the program runs. A failure kills the container
/// (runtime.md, lifecycle step 9) and is the error.
pub fn run_poststart(record: &Record) -> Result<()> {
    let hooks = record.hooks.as_ref();
    if hooks::of_kind(hooks, hooks::POSTSTART).is_empty() {
        return Ok(());
    }
    let res = hooks::run(hooks, hooks::POSTSTART, &record_state(record, "running"));
    if res.is_err() {
        if let Ok(Some(fd)) = pidfd_of(record) {
            let _ = pidfd_signal(&fd, libc::SIGKILL);
            wait_exit(&fd, Duration::from_secs(10));
        }
    }
    res
}

/// poststop hooks; their failures are warnings.
pub fn run_poststop(record: &Record) -> Vec<String> {
    hooks::run_poststop(record.hooks.as_ref(), &record_state(record, "stopped"))
}

fn record_for(
    pid: libc::pid_t,
    config: &config::Config,
    id: &str,
    cgroup: Option<brisk_cgroups::Record>,
) -> Result<Record> {
    let (_, start) =
        status::proc_stat(pid).map_err(|e| Error::sys("read the init's start time", e))?;
    let own_pid_ns = config
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| {
            ns.iter().any(|n| {
                n.typ() == oci_spec::runtime::LinuxNamespaceType::Pid && n.path().is_none()
            })
        });
    Ok(Record {
        oci_version: OCI_VERSION.to_string(),
        id: id.to_string(),
        pid,
        pid_start_time: start,
        bundle: config.bundle.clone(),
        rootfs: config.rootfs.clone(),
        created: crate::time::rfc3339(SystemTime::now(), true),
        annotations: config
            .spec
            .annotations()
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect::<BTreeMap<_, _>>(),
        own_pid_ns,
        hooks: config.spec.hooks().clone().filter(|h| {
            !hooks::of_kind(Some(h), hooks::POSTSTART).is_empty()
                || !hooks::of_kind(Some(h), hooks::POSTSTOP).is_empty()
        }),
        cgroup,
    })
}

pub(crate) fn write_pid_file(pid_file: Option<&std::path::Path>, pid: i32) -> Result<()> {
    match pid_file {
        Some(path) => {
            let path = if path.is_relative() {
                std::env::current_dir()
                    .map_err(|e| Error::sys("getcwd", e))?
                    .join(path)
            } else {
                path.to_path_buf()
            };
            state::write_atomic(&path, pid.to_string().as_bytes(), 0o644)
        }
        None => Ok(()),
    }
}

/// The status of a recorded container.
pub fn status_of(record: &Record, dir: &ContainerDir) -> Status {
    if !status::is_alive(record.pid, record.pid_start_time) {
        Status::Stopped
    } else if record.cgroup.as_ref().is_some_and(|c| c.is_paused()) {
        Status::Paused
    } else if dir.has_start_fifo() && status::is_waiting_init(record.pid) {
        Status::Created
    } else {
        Status::Running
    }
}

/// The OCI state, in runc's field order.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StateView {
    pub oci_version: String,
    pub id: String,
    pub pid: i32,
    pub status: Status,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    pub owner: String,
}

fn view(record: Record, status: Status) -> StateView {
    StateView {
        oci_version: record.oci_version,
        id: record.id,
        pid: if status == Status::Stopped {
            0
        } else {
            record.pid
        },
        status,
        bundle: record.bundle,
        rootfs: record.rootfs,
        created: record.created,
        annotations: record.annotations,
        owner: String::new(),
    }
}

pub fn state(store: &Store, id: &str) -> Result<StateView> {
    let dir = store.open_unlocked(id)?;
    let record = dir.load()?;
    let status = status_of(&record, &dir);
    Ok(view(record, status))
}

/// Every container in the store (those whose state can be read).
pub fn list(store: &Store) -> Result<Vec<StateView>> {
    let mut out = Vec::new();
    for id in store.ids()? {
        // A container whose state cannot be read (half-created, or a
        // corrupt file) is left out rather than hiding all the others.
        if let Ok(v) = state(store, &id) {
            out.push(v);
        }
    }
    Ok(out)
}

/// Releases a created container's init so that it execs the user's program.
/// With `notify_socket` (the caller's NOTIFY_SOCKET), returns once the
/// program has sent READY=1 (forwarded to the caller) or has exited, as
/// runc does.
pub fn start(store: &Store, id: &str, notify_socket: Option<&std::ffi::OsStr>) -> Result<()> {
    let dir = store.open(id, true)?;
    let record = dir.load()?;
    match status_of(&record, &dir) {
        Status::Created => {}
        Status::Running => {
            return Err(Error::State(
                "cannot start an already running container".into(),
            ))
        }
        Status::Stopped => {
            return Err(Error::State(
                "cannot start a container that has stopped".into(),
            ))
        }
        Status::Paused => return Err(Error::State("cannot start a paused container".into())),
    }
    let fifo = dir.fifo_path();
    // NOFOLLOW and a FIFO only: a symlink or a link to a file left in the
    // state directory must not get the byte written to it.
    let fd = rustix::fs::open(
        &fifo,
        rustix::fs::OFlags::WRONLY
            | rustix::fs::OFlags::NONBLOCK
            | rustix::fs::OFlags::NOFOLLOW
            | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    );
    let fd = match fd {
        Ok(fd) => only_a_fifo(fd, &fifo)?,
        // No reader: the init is gone.
        Err(rustix::io::Errno::NXIO) => {
            return Err(Error::State(
                "cannot start a container that has stopped".into(),
            ))
        }
        Err(rustix::io::Errno::LOOP) => return Err(not_a_fifo(&fifo)),
        Err(e) => return Err(Error::path("open exec fifo", &fifo, e)),
    };
    // With startContainer hooks the init says whether they passed.
    let result_path = dir.result_fifo_path();
    let result = match rustix::fs::open(
        &result_path,
        rustix::fs::OFlags::RDONLY
            | rustix::fs::OFlags::NONBLOCK
            | rustix::fs::OFlags::NOFOLLOW
            | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    ) {
        Ok(fd) => Some(only_a_fifo(fd, &result_path)?),
        Err(rustix::io::Errno::NOENT) => None,
        Err(rustix::io::Errno::LOOP) => return Err(not_a_fifo(&result_path)),
        Err(e) => return Err(Error::path("open start result fifo", &result_path, e)),
    };
    let init = match &result {
        Some(_) => match pidfd_of(&record)? {
            Some(fd) => Some(fd),
            None => {
                return Err(Error::State(
                    "cannot start a container that has stopped".into(),
                ))
            }
        },
        None => None,
    };
    // Listening before the program runs: its READY=1 may come at once.
    let notify = match notify_socket {
        Some(caller) if dir.path.join(crate::notify::DIR).is_dir() => {
            Some(crate::notify::listen(&dir.path, caller)?)
        }
        _ => None,
    };
    let hooks_bound = match &result {
        Some(_) => crate::bounds::init_step() + start_container_bound(&dir),
        None => Duration::ZERO,
    };
    rustix::io::write(&fd, b"0").map_err(|e| Error::path("write exec fifo", &fifo, e))?;
    std::fs::remove_file(&fifo).map_err(|e| Error::path("remove exec fifo", &fifo, e))?;
    // The container is running: other commands (kill, delete) must not
    // wait for its hooks.
    drop(dir);
    if let Some(result) = result {
        let outcome = read_start_result(&result, init.as_ref(), hooks_bound, id);
        let _ = std::fs::remove_file(&result_path);
        outcome?;
    }
    wait_for_exec(&fd, crate::bounds::init_step());
    drop(fd);
    run_poststart(&record)?;
    if let Some(n) = notify {
        if let Some(fd) = pidfd_of(&record)? {
            n.forward_ready(std::os::fd::AsFd::as_fd(&fd), record.pid)?;
        }
    }
    Ok(())
}

/// Waits until the init has exec'd the program (or died), at most `bound`,
/// so that `start` returns once the program runs, as runc's does (its
/// `start` reads the exec FIFO until the init's end closes, just before
/// its execve): a client's next step (an exec, a probe, a look at
/// /proc/PID) meets the program, not brisk's init, and poststart hooks run
/// after it started, as runtime.md says. The init's end of the FIFO is
/// close-on-exec: the kernel closes it in execve past the point of no
/// return (or at its death), and `fd`, the write end, then reports POLLERR:
/// no reader left. Past the bound (a frozen init), `start` returns all the
/// same: the program was released.
fn wait_for_exec(fd: &OwnedFd, bound: Duration) {
    // Events 0: POLLERR is reported whatever is asked, and POLLOUT, always
    // true with room in the FIFO, is not asked.
    crate::bounds::poll_fd(fd.as_fd(), 0, bound);
}

/// `fd` if it is a FIFO, what `create` made in the state directory (the
/// open used NOFOLLOW: a symlink was ELOOP already).
fn only_a_fifo(fd: OwnedFd, path: &std::path::Path) -> Result<OwnedFd> {
    let st = rustix::fs::fstat(&fd).map_err(|e| Error::path("stat", path, e))?;
    if rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Fifo {
        Ok(fd)
    } else {
        Err(not_a_fifo(path))
    }
}

fn not_a_fifo(path: &std::path::Path) -> Error {
    Error::State(format!(
        "{}: not the FIFO create made (a symlink or another file): refusing to use it",
        path.display()
    ))
}

/// The longest the init's startContainer hooks may take together (their
/// timeouts, or the default), from the config saved at create.
fn start_container_bound(dir: &ContainerDir) -> Duration {
    let hooks = dir
        .load_config()
        .ok()
        .and_then(|raw| serde_json::from_slice::<serde_json::Value>(&raw).ok())
        .and_then(|v| serde_json::from_value::<oci_spec::runtime::Hooks>(v["hooks"].clone()).ok());
    let listed = hooks::of_kind(hooks.as_ref(), hooks::START_CONTAINER);
    listed
        .iter()
        .map(hooks::timeout_of)
        .fold(Duration::ZERO, Duration::saturating_add)
}

/// Waits for the init's word on its startContainer hooks: `0`, or `E` and
/// the error. An init that dies without a word failed too (its pidfd wakes
/// us: a FIFO whose writer died before we opened it never reports HUP).
/// The hooks have their timeouts; past them and the step bound, brisk
/// stops waiting (the init is frozen, or stuck before its hooks).
fn read_start_result(
    fd: &OwnedFd,
    init: Option<&OwnedFd>,
    bound: Duration,
    id: &str,
) -> Result<()> {
    let deadline = crate::bounds::deadline(bound);
    let mut pfds = [
        libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
        libc::pollfd {
            fd: init.map_or(-1, |p| p.as_raw_fd()),
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    loop {
        let left = crate::bounds::poll_ms(deadline);
        // SAFETY: two valid pollfds.
        let r = unsafe { libc::poll(pfds.as_mut_ptr(), 2, left) };
        if r == 0 {
            return Err(Error::timeout(
                "wait for the startContainer hooks",
                bound,
                format!(
                    "the container's init has not reported on them (paused meanwhile? \
                     `brisk state {id}`); `brisk delete --force {id}` removes the container"
                ),
            ));
        }
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(Error::sys("wait for the startContainer hooks", e));
        }
        break;
    }
    let mut buf = [0u8; 4096];
    let n = rustix::io::read(fd, &mut buf).unwrap_or(0);
    match &buf[..n] {
        [b'0', ..] => Ok(()),
        [b'E', msg @ ..] => Err(Error::Child(String::from_utf8_lossy(msg).into_owned())),
        _ => Err(Error::Child(
            "exited before its startContainer hooks were done".into(),
        )),
    }
}

/// A handle on the init that cannot hit a recycled pid: the pidfd is
/// opened, then the start time checked.
pub(crate) fn pidfd_of(record: &Record) -> Result<Option<OwnedFd>> {
    let fd = match pidfd_open(record.pid) {
        Ok(fd) => fd,
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => return Ok(None),
        Err(e) => return Err(Error::sys("pidfd_open", e)),
    };
    if status::is_alive(record.pid, record.pid_start_time) {
        Ok(Some(fd))
    } else {
        Ok(None)
    }
}

/// Whether the process behind a pidfd has exited (the pidfd is readable).
pub(crate) fn has_exited(fd: &OwnedFd) -> bool {
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, no waiting.
    unsafe { libc::poll(&mut pfd, 1, 0) == 1 }
}

/// A pidfd of brisk's own unreaped child `pid` (`run`'s init: it cannot
/// have been reused).
pub fn pidfd_open_child(pid: i32) -> Result<OwnedFd> {
    pidfd_open(pid).map_err(|e| Error::sys("pidfd_open of the container's init", e))
}

fn pidfd_open(pid: i32) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a new pidfd owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

fn pidfd_signal(fd: &OwnedFd, sig: libc::c_int) -> io::Result<()> {
    // SAFETY: fd is a valid pidfd; a null siginfo means "like kill(2)".
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            fd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Signals every process of the container's own pid namespace besides the
/// init. Only for containers that created their pid namespace: a joined or
/// shared one holds processes that are not the container's.
fn signal_pid_namespace(record: &Record, sig: libc::c_int) -> Result<()> {
    if !record.own_pid_ns {
        return Ok(());
    }
    let ns = match std::fs::read_link(format!("/proc/{}/ns/pid", record.pid)) {
        Ok(ns) => ns,
        Err(_) => return Ok(()),
    };
    // `own_pid_ns` is read from state.json: were it wrong, every process
    // of a namespace the container shares (the host's) would be signalled.
    if !is_own_pid_namespace_init(record.pid, &ns) {
        return Err(Error::State(format!(
            "refusing to signal the processes of the pid namespace of pid {}: the state says \
             the container has a pid namespace of its own, but its init is not pid 1 of a \
             namespace other than brisk's",
            record.pid
        )));
    }
    let entries = std::fs::read_dir("/proc").map_err(|e| Error::sys("read /proc", e))?;
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if pid == record.pid {
            continue;
        }
        // Open a pidfd first and check the namespace after, so a pid
        // recycled since the scan is never signalled.
        let Ok(fd) = pidfd_open(pid) else { continue };
        if std::fs::read_link(format!("/proc/{pid}/ns/pid")).is_ok_and(|n| n == ns) {
            let _ = pidfd_signal(&fd, sig);
        }
    }
    Ok(())
}

/// Whether `pid`, in pid namespace `ns`, is pid 1 there (the last NSpid of
/// /proc/PID/status) and `ns` is not brisk's own.
fn is_own_pid_namespace_init(pid: i32, ns: &std::path::Path) -> bool {
    let ours = std::fs::read_link("/proc/self/ns/pid");
    if ours.as_deref().map_or(true, |o| o == ns) {
        return false;
    }
    std::fs::read_to_string(format!("/proc/{pid}/status")).is_ok_and(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("NSpid:"))
            .and_then(|l| l.split_whitespace().last())
            == Some("1")
    })
}

/// Sends `sig` to the init (and with `all` to every process of the
/// container's pid namespace).
pub fn kill(store: &Store, id: &str, sig: libc::c_int, all: bool) -> Result<()> {
    // No lock: the pidfd and start time make the signal safe, and a kill
    // must get through while a start waits on its hooks.
    let dir = store.open_unlocked(id)?;
    let record = dir.load()?;
    let fd = match pidfd_of(&record)? {
        Some(fd) => fd,
        None if all => return kill_leftovers(&dir, &record, sig),
        None => return Err(Error::State("container not running".into())),
    };
    if all {
        // The cgroup holds exactly the container's processes, the init
        // included (cgroup.kill on cgroup2 for SIGKILL). A recorded cgroup
        // that is not the container's is an error: nothing is signalled.
        if let Some(cg) = checked_cgroup(&dir, &record)? {
            return cg.signal_all(sig).map_err(Error::from);
        }
        // SIGKILL to a pid namespace's init ends everything in it anyway.
        if sig != libc::SIGKILL {
            signal_pid_namespace(&record, sig)?;
        }
    }
    pidfd_signal(&fd, sig).map_err(|e| Error::sys("unable to signal init", e))
}

/// `kill --all` of a container whose init has exited: without a pid
/// namespace of its own (a Kubernetes pod's shared one) the processes left
/// in its cgroup get the signal; nothing left is no error, as with runc.
/// Such processes outlive their init; containerd's shim sends exactly this
/// (`kill --all ID 9`) when an init exits. When it failed, what outlived
/// the init kept the container's output open and the shim's delete waited
/// its 2 s for that output on every StopContainer, until `delete`'s sweep
/// (docs/COMPATIBILITY.md).
fn kill_leftovers(dir: &ContainerDir, record: &Record, sig: libc::c_int) -> Result<()> {
    // With a pid namespace of its own, the init's death ended every process
    // of the container: whatever is left in the cgroup belongs to another
    // container given the same cgroupsPath (as `delete` assumes), and is
    // not this kill's to signal.
    if record.own_pid_ns {
        return Ok(());
    }
    let Some(cg) = checked_cgroup(dir, record)? else {
        return Ok(());
    };
    // The cgroup may be gone already (removed with the last process, or by
    // a delete that raced this kill): nothing is left to signal.
    let Some(d) = cg.procs_dir() else {
        return Ok(());
    };
    match cg.signal_all(sig) {
        Ok(()) => Ok(()),
        Err(_) if !d.exists() => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// `exec`'s wait for its process reached its bound: when the container is
/// paused, say so (the process froze on joining its cgroup, as runc's does;
/// runc then waits for the `resume`, brisk up to its bound).
pub(crate) fn paused_exec_hint(e: Error, record: &Record) -> Error {
    match e {
        Error::Timeout { step, after, .. }
            if record.cgroup.as_ref().is_some_and(|c| c.is_paused()) =>
        {
            Error::timeout(
                step,
                after,
                format!(
                    "the container is paused: the new process froze on joining its cgroup and \
                     was killed (it exits once thawed); `brisk resume {}`, then exec again \
                     (BRISK_INIT_TIMEOUT sets this bound, in seconds)",
                    record.id
                ),
            )
        }
        e => e,
    }
}

/// Waits for a pidfd to report its process's exit.
fn wait_exit(fd: &OwnedFd, timeout: Duration) -> bool {
    crate::bounds::poll_fd(fd.as_fd(), libc::POLLIN, timeout)
}

/// Removes a stopped or created container (a created one is killed
/// first). One that is running or paused is an error (runtime.md, Delete:
/// "not stopped"), unless `force` kills it first. Deleting a created
/// container without `force` goes against the letter of the spec, but
/// runc, crun and youki all do it and clients rely on it
/// (docs/COMPATIBILITY.md).
/// Returns the warnings: failed poststop hooks, and a recorded cgroup that
/// was refused (`checked_cgroup`) and left as it is. The container is gone
/// all the same (its state, its init, the cgroup its config gives), as
/// runc's delete removes the state and exits 0 when it cannot remove a
/// cgroup, logging it.
pub fn delete(store: &Store, id: &str, force: bool) -> Result<Vec<String>> {
    // Another command holds the lock: with --force, kill the init first
    // (no lock needed, as for `kill`), which ends what that command waits
    // for (a create waiting for its init or running its hooks), then wait.
    let mut kill_init = || {
        if !force {
            return;
        }
        let record = store.open_unlocked(id).and_then(|d| d.load());
        if let Ok(Some(fd)) = record.as_ref().map(pidfd_of).unwrap_or(Ok(None)) {
            let _ = pidfd_signal(&fd, libc::SIGKILL);
        }
    };
    let dir = match store.open_or(id, true, &mut kill_init) {
        Ok(d) => d,
        Err(Error::NotFound(_)) if force => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let record = match dir.load() {
        Ok(r) => r,
        // A directory without state, left by a create that died: with
        // --force it is removed (with the cgroup that create made),
        // otherwise it does not exist.
        Err(Error::NotFound(_)) if force => {
            let warnings = remove_abandoned_cgroup(&dir).unwrap_or_else(|e| vec![refusal(id, e)]);
            dir.remove()?;
            return Ok(warnings);
        }
        Err(e) => return Err(e),
    };
    let status = status_of(&record, &dir);
    if !matches!(status, Status::Stopped | Status::Created) && !force {
        return Err(Error::State(format!(
            "cannot delete container {id} that is not stopped: {status}"
        )));
    }
    let (cgroup, refused) = cgroup_to_remove(&dir, &record);
    if let Some(cg) = cgroup.as_ref().filter(|c| c.is_paused()) {
        // Frozen processes cannot die: kill, then thaw. Every process of
        // the container gets its SIGKILL while still frozen, so that none
        // runs again after the thaw (an `exec` waiting in the frozen cgroup
        // would otherwise go on until its pid namespace's init is gone):
        // with a pid namespace of its own, each process of that namespace
        // (the cgroup may be shared with another container), else
        // everything in the cgroup.
        match pidfd_of(&record)? {
            Some(fd) if record.own_pid_ns => {
                let _ = signal_pid_namespace(&record, libc::SIGKILL);
                let _ = pidfd_signal(&fd, libc::SIGKILL);
            }
            _ => cg.signal_all(libc::SIGKILL)?,
        }
        cg.freeze(false)?;
    }
    if let Some(fd) = pidfd_of(&record)? {
        // Killing a pid namespace's init kills everything in it; without a
        // namespace of its own only the init is known to be the
        // container's (its other processes are found through its cgroup
        // once cgroups are managed).
        match pidfd_signal(&fd, libc::SIGKILL) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {}
            Err(e) => return Err(Error::sys("kill the container", e)),
        }
        if !wait_exit(&fd, Duration::from_secs(10)) {
            return Err(Error::State(format!(
                "container {id} did not exit after SIGKILL"
            )));
        }
    }
    // Whatever else is in the cgroup goes too; the state stays when the
    // cgroup cannot be removed, so that delete can be retried.
    if let Some(cg) = &cgroup {
        cg.destroy(!record.own_pid_ns)?;
    }
    let rdt = dir
        .load_config()
        .ok()
        .and_then(|raw| crate::intelrdt::cleanup(&raw, id));
    dir.remove()?;
    let mut warnings: Vec<String> = refused.map(|e| refusal(id, e)).into_iter().collect();
    warnings.extend(rdt);
    warnings.extend(run_poststop(&record));
    Ok(warnings)
}

fn refusal(id: &str, e: Error) -> String {
    format!("container {id} deleted, but not its recorded cgroup: {e}")
}

/// The host uid that gets the container's cgroup (config-linux.md, "Cgroup
/// ownership"): only on a cgroup2 host, for a container with a new user
/// namespace whose mappings are in the config, a new cgroup namespace and
/// a mount of `cgroup` at `/sys/fs/cgroup` without `ro`; the owner is the
/// host uid `process.user.uid` maps to. `None`: ownership stays.
pub fn cgroup_owner(spec: &oci_spec::runtime::Spec, layout: brisk_cgroups::Layout) -> Option<u32> {
    use oci_spec::runtime::LinuxNamespaceType as T;
    if layout != brisk_cgroups::Layout::V2 {
        return None;
    }
    let linux = spec.linux().as_ref()?;
    let namespaces = linux.namespaces().as_ref()?;
    let new = |t: T| {
        namespaces
            .iter()
            .any(|n| n.typ() == t && n.path().is_none())
    };
    if !new(T::User) || !new(T::Cgroup) {
        return None;
    }
    let rw_cgroup_mount = spec.mounts().as_ref()?.iter().any(|m| {
        m.source().as_deref() == Some(std::path::Path::new("cgroup"))
            && m.destination() == std::path::Path::new("/sys/fs/cgroup")
            && !m
                .options()
                .as_ref()
                .is_some_and(|o| o.iter().any(|o| o == "ro"))
    });
    if !rw_cgroup_mount {
        return None;
    }
    let uid = spec.process().as_ref().map_or(0, |p| p.user().uid());
    linux.uid_mappings().as_ref()?.iter().find_map(|m| {
        let offset = uid.checked_sub(m.container_id())?;
        (offset < m.size()).then(|| m.host_id().checked_add(offset))?
    })
}

/// Hands the new cgroup to the container when `cgroup_owner` says so; on
/// failure the cgroup is removed again and the create fails.
fn delegate_cgroup(
    cgroup: brisk_cgroups::Cgroup,
    layout: brisk_cgroups::Layout,
    spec: &oci_spec::runtime::Spec,
) -> Result<brisk_cgroups::Cgroup> {
    let (Some(uid), Some(dir)) = (cgroup_owner(spec, layout), cgroup.record.v2_dir()) else {
        return Ok(cgroup);
    };
    // Only a directory this create made: an existing one (a cgroupsPath
    // another container shares, or the host's own) keeps its owner.
    if !cgroup.record.created.iter().any(|c| c == dir) {
        return Ok(cgroup);
    }
    match brisk_cgroups::delegate::chown_to(dir, uid) {
        Ok(_) => Ok(cgroup),
        Err(e) => {
            brisk_cgroups::cgroup::remove_created(&cgroup.record, Duration::ZERO);
            Err(e.into())
        }
    }
}

/// The cgroup `create` gives the container: its saved config's
/// `linux.cgroupsPath` and its id, resolved as `brisk_cgroups::prepare`
/// does, with the driver it was created with (the systemd unit it
/// recorded, if any).
fn configured_cgroup_path(dir: &ContainerDir) -> Result<String> {
    let raw = dir.load_config()?;
    let cgroups_path = config::cgroups_path(&raw, &dir.config_path())?;
    expected_cgroup_path(
        cgroups_path.as_deref(),
        &dir.id,
        dir.recorded_systemd_unit().as_deref(),
    )
}

/// The cgroup path the config gives; with the systemd driver (`unit`),
/// the scope's, which must be the recorded unit.
fn expected_cgroup_path(
    cgroups_path: Option<&std::path::Path>,
    id: &str,
    unit: Option<&str>,
) -> Result<String> {
    let Some(unit) = unit else {
        return Ok(brisk_cgroups::path::resolve(
            cgroups_path,
            id,
            brisk_cgroups::Driver::Cgroupfs,
        )?);
    };
    let raw = cgroups_path.map(|p| p.to_string_lossy().into_owned());
    let scope = brisk_cgroups::systemd::unit::parse(raw.as_deref(), id)?;
    if scope.name != unit {
        return Err(brisk_cgroups::Error::Refused {
            what: format!("systemd unit {unit:?}"),
            reason: format!("the container's config gives the unit {:?}", scope.name),
        }
        .into());
    }
    Ok(scope.cgroup)
}

/// For `exec`, which has parsed the saved config: `checked_cgroup` with
/// its `linux.cgroupsPath`.
pub(crate) fn verify_cgroup(
    cg: &brisk_cgroups::Record,
    id: &str,
    cgroups_path: Option<&std::path::Path>,
) -> Result<()> {
    let expected = expected_cgroup_path(cgroups_path, id, cg.systemd_unit.as_deref())?;
    cg.verify(&brisk_cgroups::Host::detect()?, &expected)?;
    Ok(())
}

/// The container's recorded cgroup, once it is checked to be the
/// container's (`brisk_cgroups::Record::verify`: the path its config
/// gives, in the host's cgroup file systems, nothing else); `None` when it
/// has none. state.json is input: brisk signals, freezes, writes to and
/// removes only what passed this.
fn checked_cgroup<'r>(
    dir: &ContainerDir,
    record: &'r Record,
) -> Result<Option<&'r brisk_cgroups::Record>> {
    let Some(cg) = &record.cgroup else {
        return Ok(None);
    };
    if cg.systemd_unit != dir.recorded_systemd_unit() {
        return Err(brisk_cgroups::Error::Refused {
            what: format!("cgroup {}", cg.path),
            reason: "its systemd unit is not the one the container's create recorded".into(),
        }
        .into());
    }
    let expected = configured_cgroup_path(dir)?;
    cg.verify(&brisk_cgroups::Host::detect()?, &expected)?;
    Ok(Some(cg))
}

/// The cgroup a deletion removes, and why the recorded one was refused:
/// when it is, the cgroup the config gives instead (its leaf in every
/// hierarchy, checked the same way, as for a create that died), so that
/// the container's own cgroup still goes.
fn cgroup_to_remove(
    dir: &ContainerDir,
    record: &Record,
) -> (Option<brisk_cgroups::Record>, Option<Error>) {
    match checked_cgroup(dir, record) {
        Ok(cg) => (cg.cloned(), None),
        Err(e) => (configured_cgroup(dir).ok(), Some(e)),
    }
}

/// The leaf of the config's cgroup path in every hierarchy, checked.
fn configured_cgroup(dir: &ContainerDir) -> Result<brisk_cgroups::Record> {
    let expected = configured_cgroup_path(dir)?;
    let host = brisk_cgroups::Host::detect()?;
    let mut record = brisk_cgroups::cgroup::abandoned(&host, &expected);
    record.verify(&host, &expected)?;
    record.systemd_unit = dir.recorded_systemd_unit();
    Ok(record)
}

/// The cgroup of a create killed before it saved the state (its path was
/// recorded before it was made, and checked now against the config saved
/// before that). The init dies with brisk
/// (`PR_SET_PDEATHSIG`) or, after it changed its credentials, at its next
/// message to the dead parent; the leaf is removed once it has left. A
/// leaf still busy after 5 s is shared with another container and stays
/// (a warning), as in `destroy` without a sweep.
fn remove_abandoned_cgroup(dir: &ContainerDir) -> Result<Vec<String>> {
    let Some(path) = dir.recorded_cgroup_path() else {
        return Ok(Vec::new());
    };
    let host = brisk_cgroups::Host::detect()?;
    let record = brisk_cgroups::cgroup::abandoned(&host, &path);
    record.verify(&host, &configured_cgroup_path(dir)?)?;
    if let Some(unit) = dir.recorded_systemd_unit() {
        // Its init died with the create (or does at its next message to
        // the dead brisk), and a scope that empties goes by itself. One
        // still busy after 5 s is not this create's: a running container
        // given the same cgroupsPath holds the unit, whose start this
        // create's was refused or never sent. It stays.
        if !record.wait_empty(Duration::from_secs(5)) {
            return Ok(vec![format!(
                "systemd unit {unit} left in place: it has processes that are not this \
                 container's"
            )]);
        }
        brisk_cgroups::systemd::stop(&unit)?;
    }
    Ok(
        brisk_cgroups::cgroup::remove_created(&record, Duration::from_secs(5))
            .into_iter()
            .map(|(d, e)| format!("cgroup {} left in place: {e}", d.display()))
            .collect(),
    )
}

/// For `run`: removes the cgroup and the state of a container whose init
/// has been reaped (`record`: its state, when the caller has it, else
/// the one saved, whose cgroup is checked as for `delete`; a refused one is
/// the error, once the rest is done).
pub fn remove_state(store: &Store, id: &str, record: Option<&Record>) -> Result<()> {
    let dir = store.open(id, true)?;
    let mut refused = None;
    match record {
        Some(r) => {
            if let Some(cg) = &r.cgroup {
                cg.destroy(!r.own_pid_ns)?;
            }
        }
        None => {
            if let Ok(r) = dir.load() {
                let (cg, e) = cgroup_to_remove(&dir, &r);
                refused = e;
                if let Some(cg) = cg {
                    cg.destroy(!r.own_pid_ns)?;
                }
            }
        }
    }
    if let Ok(raw) = dir.load_config() {
        let _ = crate::intelrdt::cleanup(&raw, id);
    }
    dir.remove()?;
    refused.map_or(Ok(()), |e| Err(Error::State(refusal(id, e))))
}

/// The record of a container that must be alive, with its cgroup checked
/// (`checked_cgroup`).
fn live_cgroup(dir: &ContainerDir) -> Result<(Record, Status)> {
    let record = dir.load()?;
    let status = status_of(&record, dir);
    if status == Status::Stopped {
        return Err(Error::State("container not running".into()));
    }
    if checked_cgroup(dir, &record)?.is_none() {
        return Err(Error::State(
            "the container has no cgroup (created with --cgroup-manager disabled)".into(),
        ));
    }
    Ok((record, status))
}

/// `pause`: freezes every process of a running container.
pub fn pause(store: &Store, id: &str) -> Result<()> {
    let dir = store.open(id, true)?;
    let (record, status) = live_cgroup(&dir)?;
    if status != Status::Running && status != Status::Created {
        return Err(Error::State(format!(
            "container not running or created: {status}"
        )));
    }
    record.cgroup.iter().try_for_each(|c| c.freeze(true))?;
    Ok(())
}

/// `resume`: thaws a paused container.
pub fn resume(store: &Store, id: &str) -> Result<()> {
    let dir = store.open(id, true)?;
    let (record, status) = live_cgroup(&dir)?;
    if status != Status::Paused {
        return Err(Error::State(format!("container not paused: {status}")));
    }
    record.cgroup.iter().try_for_each(|c| c.freeze(false))?;
    Ok(())
}

/// `ps`: the pids in the container's cgroup.
pub fn pids(store: &Store, id: &str) -> Result<Vec<i32>> {
    let dir = store.open(id, false)?;
    let (record, _) = live_cgroup(&dir)?;
    Ok(record
        .cgroup
        .as_ref()
        .map(|c| c.pids())
        .transpose()?
        .unwrap_or_default())
}

/// `update`: writes new limits into a live container's cgroup.
pub fn update(
    store: &Store,
    id: &str,
    resources: &oci_spec::runtime::LinuxResources,
) -> Result<()> {
    let dir = store.open(id, true)?;
    let (record, _) = live_cgroup(&dir)?;
    let host = brisk_cgroups::Host::detect()?;
    let plan = brisk_cgroups::resources::plan(resources, &host)?;
    // systemd first (runc's order), so that it holds the new limits and a
    // `daemon-reload` does not put the old ones back; then the files.
    if let Some(unit) = record
        .cgroup
        .as_ref()
        .and_then(|c| c.systemd_unit.as_deref())
    {
        brisk_cgroups::systemd::update(unit, resources, host.layout)?;
    }
    record
        .cgroup
        .iter()
        .try_for_each(|c| c.apply(&plan, true))?;
    Ok(())
}

/// `events`: the container's cgroup statistics, and how many of its
/// processes the OOM killer has killed so far.
pub fn stats(store: &Store, id: &str) -> Result<(brisk_cgroups::stats::Stats, u64)> {
    let dir = store.open(id, false)?;
    let (record, _) = live_cgroup(&dir)?;
    let cg = record
        .cgroup
        .as_ref()
        .ok_or_else(|| Error::State("no cgroup".into()))?;
    Ok((
        brisk_cgroups::stats::collect(cg),
        brisk_cgroups::stats::oom_kills(cg),
    ))
}

/// For `run`: waits for our own child, the init, and returns its exit code
/// (128+N when killed by signal N). Forwards the blocked signals meanwhile.
pub fn wait_forwarding_signals(init: &Init) -> Result<i32> {
    let set = crate::signal::forwarded_set();
    loop {
        let mut status = 0;
        // SAFETY: waitpid on our own child with a valid status pointer.
        let r = unsafe { libc::waitpid(init.pid, &mut status, libc::WNOHANG) };
        if r == init.pid {
            return Ok(exit_code(status));
        }
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EINTR) {
                return Err(Error::sys("wait for the container", e));
            }
        }
        // SAFETY: zeroed siginfo_t is a valid out-parameter.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: set and info are valid.
        let sig = unsafe { libc::sigwaitinfo(&set, &mut info) };
        if sig > 0 && sig != libc::SIGCHLD {
            // SAFETY: the init is our unreaped child, so its pid is ours.
            unsafe { libc::kill(init.pid, sig) };
        }
    }
}

pub fn exit_code(status: libc::c_int) -> i32 {
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        1
    }
}
