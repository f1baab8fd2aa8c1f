//! `hooks`: the six kinds of the OCI lifecycle, each run in order with the
//! container's state on stdin, `args`, `env` and `timeout`.
//!
//! Where each kind runs (config.md, POSIX-platform hooks):
//! - `prestart`, `createRuntime`: by brisk (runtime namespace) during
//!   create, once the init has done its mounts and waits before
//!   `pivot_root` (sync message `H`);
//! - `createContainer`: by the init, in the container's namespaces, at the
//!   same point (its path still resolves in the runtime's mount tree);
//! - `startContainer`: by the init after `start`, after `pivot_root`, just
//!   before execve (the path resolves in the container);
//! - `poststart`: by `start`/`run` once the program runs;
//! - `poststop`: by `delete` (and `run`) after the container is gone.
//!
//! A failing hook fails the step, except `poststop`, whose failures are
//! warnings.

use std::ffi::CString;
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oci_spec::runtime::{Hook, Hooks};

use crate::error::Failure;
use crate::error::{Error, Result};
use crate::process::CStringArray;

/// The hook kinds, named as in config.json.
pub const PRESTART: &str = "prestart";
pub const CREATE_RUNTIME: &str = "createRuntime";
pub const CREATE_CONTAINER: &str = "createContainer";
pub const START_CONTAINER: &str = "startContainer";
pub const POSTSTART: &str = "poststart";
pub const POSTSTOP: &str = "poststop";

/// The hooks of one kind, as listed.
pub fn of_kind<'a>(hooks: Option<&'a Hooks>, kind: &str) -> &'a [Hook] {
    let Some(h) = hooks else { return &[] };
    let list = match kind {
        PRESTART => h.prestart(),
        CREATE_RUNTIME => h.create_runtime(),
        CREATE_CONTAINER => h.create_container(),
        START_CONTAINER => h.start_container(),
        POSTSTART => h.poststart(),
        POSTSTOP => h.poststop(),
        _ => &None,
    };
    list.as_deref().unwrap_or_default()
}

/// config.md: `path` MUST be absolute, `timeout` MUST be greater than zero.
pub fn validate(hooks: Option<&Hooks>) -> Result<()> {
    for kind in [
        PRESTART,
        CREATE_RUNTIME,
        CREATE_CONTAINER,
        START_CONTAINER,
        POSTSTART,
        POSTSTOP,
    ] {
        for (i, h) in of_kind(hooks, kind).iter().enumerate() {
            if !h.path().is_absolute() {
                return Err(Error::invalid(
                    format!("hooks.{kind}[{i}].path"),
                    format!("{:?} is not an absolute path", h.path()),
                ));
            }
            if h.timeout().is_some_and(|t| t <= 0) {
                return Err(Error::invalid(
                    format!("hooks.{kind}[{i}].timeout"),
                    "must be greater than zero",
                ));
            }
        }
    }
    Ok(())
}

/// When a hook with `timeout` started now must be done. A timeout too
/// large for the clock (`"timeout": 9223372036854775807`) is no deadline:
/// `Instant + Duration` would panic.
fn deadline_after(timeout: Option<Duration>) -> Option<Instant> {
    timeout.and_then(|t| Instant::now().checked_add(t))
}

/// A hook's bound: its `timeout`, else `bounds::hook_default()` (runc
/// waits for a hook without one forever; brisk always returns).
pub fn timeout_of(h: &Hook) -> Duration {
    match h.timeout() {
        Some(t) => Duration::from_secs(t.max(1) as u64),
        None => crate::bounds::hook_default(),
    }
}

/// Runs the hooks of `kind` in brisk's own namespaces, in order; the first
/// failure is the error.
pub fn run(hooks: Option<&Hooks>, kind: &str, state: &[u8]) -> Result<()> {
    run_while(hooks, kind, state, None)
}

/// [`run`], ending a hook early (killed, an error) when the process of the
/// pidfd `alive` exits meanwhile: the create hooks stop when the
/// container's init is killed by another brisk (`delete --force`).
pub fn run_while(
    hooks: Option<&Hooks>,
    kind: &str,
    state: &[u8],
    alive: Option<&std::os::fd::OwnedFd>,
) -> Result<()> {
    for (i, h) in of_kind(hooks, kind).iter().enumerate() {
        run_one(h, state, alive).map_err(|reason| Error::Hook {
            hook: format!("hooks.{kind}[{i}] ({})", h.path().display()),
            reason,
        })?;
    }
    Ok(())
}

/// Runs every `poststop` hook; failures are returned as warnings.
pub fn run_poststop(hooks: Option<&Hooks>, state: &[u8]) -> Vec<String> {
    of_kind(hooks, POSTSTOP)
        .iter()
        .enumerate()
        .filter_map(|(i, h)| {
            run_one(h, state, None)
                .err()
                .map(|e| format!("hooks.poststop[{i}] ({}): {e}", h.path().display()))
        })
        .collect()
}

fn run_one(
    h: &Hook,
    state: &[u8],
    alive: Option<&std::os::fd::OwnedFd>,
) -> std::result::Result<(), String> {
    let mut cmd = Command::new(h.path());
    if let Some(args) = h.args().as_deref() {
        if let Some((arg0, rest)) = args.split_first() {
            std::os::unix::process::CommandExt::arg0(&mut cmd, arg0);
            cmd.args(rest);
        }
    }
    // Without `env` a hook inherits brisk's environment, as in runc and
    // crun; with `env` (even empty) it gets exactly that.
    if let Some(env) = h.env() {
        cmd.env_clear();
        for kv in env {
            if let Some((k, v)) = kv.split_once('=') {
                cmd.env(k, v);
            }
        }
    }
    // The hook's output is kept for the error message.
    let out = output_file().map_err(|e| format!("output file: {e}"))?;
    let out_clone = out.try_clone().map_err(|e| e.to_string())?;
    let err_clone = out.try_clone().map_err(|e| e.to_string())?;
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::from(out_clone))
        .stderr(Stdio::from(err_clone));
    // A hook gets stdio only, as in runc: not brisk's other fds (LISTEN_FDS,
    // --preserve-fds, whatever the caller leaked); and none of brisk's
    // blocked or ignored signals (`run` blocks SIGTERM, SIGCHLD...).
    // SAFETY: runs in the forked child before exec; close_range (or the
    // fcntl fallback), rt_sigaction and sigprocmask are async-signal-safe
    // and allocate nothing.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
            crate::signal::reset_for_exec();
            crate::sys::cloexec_from(3)
        });
    }
    let mut child = cmd.spawn().map_err(|e| e.to_string())?;
    // The state goes in while the timeout runs: a hook that does not read
    // a large state must not block brisk.
    let mut stdin = child.stdin.take();
    if let Some(s) = &stdin {
        let _ = crate::sys::set_nonblocking(s.as_raw_fd());
    }
    let mut written = 0;
    let bound = timeout_of(h);
    let deadline = deadline_after(Some(bound));
    let mut pause = Duration::from_micros(200);
    let status = loop {
        if let Some(s) = &mut stdin {
            match s.write(&state[written..]) {
                Ok(n) => written += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                // A hook that does not read its stdin is fine (EPIPE).
                Err(_) => written = state.len(),
            }
            if written >= state.len() {
                stdin = None;
            }
        }
        match child.try_wait().map_err(|e| e.to_string())? {
            Some(status) => break status,
            None if deadline.is_some_and(|d| Instant::now() >= d) => {
                kill_and_reap(&mut child);
                return Err(format!(
                    "timed out after {} and was killed ({})",
                    crate::bounds::secs(bound),
                    if h.timeout().is_some() {
                        "its timeout"
                    } else {
                        "it has no timeout: BRISK_HOOK_TIMEOUT sets the default, in seconds"
                    }
                ));
            }
            None if alive.is_some_and(crate::container::has_exited) => {
                kill_and_reap(&mut child);
                return Err("the container's init exited meanwhile (killed by another \
                            brisk command?): the hook was killed"
                    .into());
            }
            None => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(10));
            }
        }
    };
    if status.success() {
        return Ok(());
    }
    let mut text = String::new();
    let mut out = out;
    let _ = out.rewind();
    let _ = out.take(4096).read_to_string(&mut text);
    let text = text.trim();
    Err(if text.is_empty() {
        format!("{status}")
    } else {
        format!("{status}: {text}")
    })
}

/// SIGKILLs a hook (or another helper brisk runs) and reaps it, waiting at
/// most a second for it to die (one in an uninterruptible sleep is left
/// behind rather than waited for).
pub(crate) fn kill_and_reap(child: &mut std::process::Child) {
    let _ = child.kill();
    let reap_by = Instant::now() + Duration::from_secs(1);
    while matches!(child.try_wait(), Ok(None)) && Instant::now() < reap_by {
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// An anonymous file (memfd) for a helper's output: unlike a pipe, it
/// never blocks a writer that brisk does not read.
pub(crate) fn output_file() -> std::io::Result<std::fs::File> {
    let fd = rustix::fs::memfd_create("brisk-hook-output", rustix::fs::MemfdFlags::CLOEXEC)?;
    Ok(fd.into())
}

/// A hook the init runs (createContainer, startContainer), as C strings.
#[derive(Debug)]
pub struct InitHook {
    pub name: CString,
    pub path: CString,
    pub argv: CStringArray,
    /// `env`; None when the hook has none: it gets the environment the
    /// init passes to `run_in_init`.
    pub envp: Option<CStringArray>,
    /// Its `timeout`, or the default (`timeout_of`).
    pub timeout: Option<Duration>,
}

/// The hooks of the init, prepared in the parent.
#[derive(Debug, Default)]
pub struct InitHooks {
    /// The init stops after its mounts and asks the parent to run its
    /// hooks and send the state (any create or start hook is configured).
    pub sync: bool,
    pub create_container: Vec<InitHook>,
    pub start_container: Vec<InitHook>,
    /// The environment of createContainer hooks without `env`.
    pub empty_env: CStringArray,
}

impl InitHooks {
    /// The longest the createContainer hooks may take together.
    pub fn create_container_bound(&self) -> Duration {
        sum_of(&self.create_container)
    }

    /// The longest the startContainer hooks may take together.
    pub fn start_container_bound(&self) -> Duration {
        sum_of(&self.start_container)
    }
}

fn sum_of(hooks: &[InitHook]) -> Duration {
    hooks
        .iter()
        .map(|h| h.timeout.unwrap_or(Duration::ZERO))
        .fold(Duration::ZERO, Duration::saturating_add)
}

pub fn plan_init(hooks: Option<&Hooks>) -> Result<InitHooks> {
    let convert = |kind: &str| -> Result<Vec<InitHook>> {
        of_kind(hooks, kind)
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let field = format!("hooks.{kind}[{i}]");
                let path = CString::new(h.path().as_os_str().as_encoded_bytes())
                    .map_err(|_| Error::invalid(format!("{field}.path"), "contains a NUL byte"))?;
                let args = match h.args().as_deref() {
                    Some(a) if !a.is_empty() => a.to_vec(),
                    _ => vec![h.path().to_string_lossy().into_owned()],
                };
                Ok(InitHook {
                    name: CString::new(field.clone()).unwrap_or_default(),
                    path,
                    argv: CStringArray::new(&format!("{field}.args"), &args)?,
                    envp: h
                        .env()
                        .as_deref()
                        .map(|env| CStringArray::new(&format!("{field}.env"), env))
                        .transpose()?,
                    timeout: Some(timeout_of(h)),
                })
            })
            .collect()
    };
    let create_container = convert(CREATE_CONTAINER)?;
    let start_container = convert(START_CONTAINER)?;
    Ok(InitHooks {
        sync: !of_kind(hooks, PRESTART).is_empty()
            || !of_kind(hooks, CREATE_RUNTIME).is_empty()
            || !create_container.is_empty()
            || !start_container.is_empty(),
        create_container,
        start_container,
        empty_env: CStringArray::default(),
    })
}

/// In the init: runs `hooks` in order, each a child of the init (so in the
/// container's namespaces) with `state` on its stdin. A hook without `env`
/// gets `default_env`: runc and crun run createContainer hooks with an
/// empty environment and startContainer hooks with the process's.
pub fn run_in_init<'p>(
    runtime_exe: &crate::process::self_exe::FileId,
    hooks: &'p [InitHook],
    state: &[u8],
    default_env: &CStringArray,
) -> Result<(), Failure<'p>> {
    for h in hooks {
        let envp = h.envp.as_ref().unwrap_or(default_env);
        crate::process::self_exe::check_loaded_files(&h.path, runtime_exe)
            .and_then(|()| run_in_init_one(h, envp, state))
            .map_err(|e| Failure::with("run hook", &h.name, e))?;
    }
    Ok(())
}

fn run_in_init_one(h: &InitHook, envp: &CStringArray, state: &[u8]) -> std::io::Result<()> {
    let (read_end, write_end) =
        rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).map_err(std::io::Error::from)?;
    // SAFETY: the init is single-threaded; the child only resets its
    // signals and calls dup2, execve and _exit.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(std::io::Error::last_os_error());
    }
    if pid == 0 {
        // The init has not reset the ignored signals it inherited yet (it
        // does just before its own execve).
        crate::signal::reset_for_exec();
        // SAFETY: valid fds and NUL-terminated arrays that outlive execve.
        unsafe {
            libc::dup2(read_end.as_raw_fd(), 0);
            // Stdio only: none of the init's other fds.
            let _ = crate::sys::cloexec_from(3);
            libc::execve(h.path.as_ptr(), h.argv.as_ptr(), envp.as_ptr());
            libc::_exit(127);
        }
    }
    drop(read_end);
    let _ = crate::sys::set_nonblocking(write_end.as_raw_fd());
    let status = wait_with_timeout(pid, h.timeout, Some((write_end, state)))?;
    if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 {
        Ok(())
    } else if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 127 {
        Err(std::io::Error::other(
            "could not be executed (exit status 127)",
        ))
    } else if libc::WIFEXITED(status) {
        Err(std::io::Error::other("failed (non-zero exit status)"))
    } else {
        Err(std::io::Error::other("killed by a signal"))
    }
}

/// Waits for the hook, killing it past `timeout`, and meanwhile feeds it
/// `input` through the non-blocking pipe (closed once all is written).
fn wait_with_timeout(
    pid: libc::pid_t,
    timeout: Option<Duration>,
    mut input: Option<(std::os::fd::OwnedFd, &[u8])>,
) -> std::io::Result<libc::c_int> {
    let deadline = deadline_after(timeout);
    let mut pause = Duration::from_micros(200);
    loop {
        if let Some((fd, rest)) = &mut input {
            match rustix::io::write(&*fd, rest) {
                Ok(n) => *rest = &rest[n..],
                Err(rustix::io::Errno::AGAIN | rustix::io::Errno::INTR) => {}
                Err(_) => *rest = &[],
            }
            if rest.is_empty() {
                input = None;
            }
        }
        let mut status = 0;
        // SAFETY: our own child, a valid status pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid {
            return Ok(status);
        }
        if r < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            // SAFETY: our own unreaped child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            // Reaped once it has died: a hook in an uninterruptible sleep
            // is not waited for past a second (its zombie goes to whoever
            // inherits it).
            let reap_by = Instant::now() + Duration::from_secs(1);
            // SAFETY: our own child, a valid status pointer.
            while unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } == 0
                && Instant::now() < reap_by
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            return Err(std::io::Error::from_raw_os_error(libc::ETIMEDOUT));
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timeout_past_the_clock_is_no_deadline() {
        let max = Duration::from_secs(i64::MAX as u64);
        assert_eq!(deadline_after(Some(max)), None);
        assert_eq!(deadline_after(None), None);
        let soon = deadline_after(Some(Duration::from_secs(5))).unwrap();
        assert!(soon > Instant::now());
    }

    fn hooks(v: serde_json::Value) -> Hooks {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn validation_names_the_hook() {
        let h = hooks(serde_json::json!({"poststart": [{"path": "/bin/true"}, {"path": "rel"}]}));
        let e = validate(Some(&h)).unwrap_err().to_string();
        assert!(e.contains("hooks.poststart[1].path"), "{e}");
        let h = hooks(serde_json::json!({"prestart": [{"path": "/bin/true", "timeout": 0}]}));
        let e = validate(Some(&h)).unwrap_err().to_string();
        assert!(e.contains("hooks.prestart[0].timeout"), "{e}");
        assert!(validate(None).is_ok());
    }

    #[test]
    fn init_hooks_need_a_sync_only_when_configured() {
        assert!(!plan_init(None).unwrap().sync);
        let h = hooks(serde_json::json!({"poststop": [{"path": "/bin/true"}]}));
        assert!(!plan_init(Some(&h)).unwrap().sync);
        let h = hooks(serde_json::json!({"createRuntime": [{"path": "/bin/true"}]}));
        assert!(plan_init(Some(&h)).unwrap().sync);
        let h = hooks(
            serde_json::json!({"startContainer": [{"path": "/bin/true", "args": ["t", "x"], "env": ["A=1"], "timeout": 3}]}),
        );
        let p = plan_init(Some(&h)).unwrap();
        assert!(p.sync && p.create_container.is_empty());
        assert_eq!(p.start_container[0].timeout, Some(Duration::from_secs(3)));
        assert_eq!(
            p.start_container[0].name.as_bytes(),
            b"hooks.startContainer[0]"
        );
    }

    #[test]
    fn a_hook_gets_args_env_and_state_and_its_failure_is_reported() {
        let h = hooks(serde_json::json!({"prestart": [
            {"path": "/bin/sh", "args": ["sh", "-c", "read s; [ \"$s\" = state ] && [ \"$X\" = 1 ]"], "env": ["X=1"]}
        ]}));
        run(Some(&h), PRESTART, b"state\n").unwrap();
        let h = hooks(serde_json::json!({"prestart": [
            {"path": "/bin/sh", "args": ["sh", "-c", "echo oops >&2; exit 3"]}
        ]}));
        let e = run(Some(&h), PRESTART, b"").unwrap_err().to_string();
        assert!(e.contains("hooks.prestart[0]") && e.contains("oops"), "{e}");
    }

    #[test]
    fn a_hook_past_its_timeout_is_killed() {
        let h = hooks(serde_json::json!({"poststart": [
            {"path": "/bin/sleep", "args": ["sleep", "30"], "timeout": 1}
        ]}));
        let t = Instant::now();
        let e = run(Some(&h), POSTSTART, b"").unwrap_err().to_string();
        assert!(e.contains("timed out"), "{e}");
        assert!(t.elapsed() < Duration::from_secs(10));
    }
}
