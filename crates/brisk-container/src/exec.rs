//! `exec`: a new process in a created or running container. It is cloned
//! by brisk directly into the container (pid namespace entered by brisk
//! before the clone, every other namespace joined by the child, user
//! namespace first), with the process of `--process` or the container's own
//! process changed by the command line, and the container's config as it
//! was at create time.

use std::path::{Path, PathBuf};

use oci_spec::runtime::{Capability, Process, User};

use crate::config;
use crate::container::{self, status_of};
use crate::error::{Error, Result};
use crate::init::{self, Init};
use crate::process::affinity::CpuSet;
use crate::state::{Status, Store};

/// runc's `exec` flags.
#[derive(Debug, Default, Clone)]
pub struct ExecOptions {
    pub id: String,
    /// `--process FILE`: a whole OCI process; the other process flags are
    /// then ignored, as in runc.
    pub process: Option<PathBuf>,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: Option<PathBuf>,
    /// `uid[:gid]`
    pub user: Option<String>,
    pub additional_gids: Vec<u32>,
    pub caps: Vec<String>,
    pub no_new_privs: bool,
    pub tty: bool,
    pub console_socket: Option<PathBuf>,
    pub detach: bool,
    pub pid_file: Option<PathBuf>,
    pub preserve_fds: u32,
    /// The compiled-filter cache directory (`--seccomp-cache`).
    pub seccomp_cache: Option<PathBuf>,
    pub ignore_paused: bool,
}

/// Starts the process; returns once it has exec'd (or failed). The caller
/// waits for it unless detached. What the CLI should log as warnings
/// (unknown `--cap` names) goes to `warnings`, its debug lines to `debug`.
pub fn exec(
    store: &Store,
    opts: &ExecOptions,
    warnings: &mut Vec<String>,
    debug: &mut Vec<String>,
) -> Result<Init> {
    crate::id::validate(&opts.id)?;
    let dir = store.open(&opts.id, false)?;
    let record = dir.load()?;
    match status_of(&record, &dir) {
        Status::Created | Status::Running => {}
        Status::Paused if opts.ignore_paused => {}
        Status::Paused => {
            return Err(Error::State(
                "cannot exec in a paused container (use --ignore-paused to override)".into(),
            ))
        }
        Status::Stopped => return Err(Error::State("cannot exec in a stopped container".into())),
    }
    let raw = dir.load_config()?;
    let spec = config::parse_config(&raw, &dir.config_path(), &mut Vec::new())?;
    let base = spec
        .process()
        .clone()
        .ok_or_else(|| Error::invalid("process", "missing"))?;
    // The process joins the recorded cgroup: only the container's.
    if let Some(cg) = &record.cgroup {
        let cgroups_path = spec
            .linux()
            .as_ref()
            .and_then(|l| l.cgroups_path().as_deref());
        container::verify_cgroup(cg, &opts.id, cgroups_path)?;
    }
    let process = match &opts.process {
        Some(path) => read_process(path)?,
        None => process_from_flags(base, opts, warnings)?,
    };
    check_process(&process)?;
    if process.terminal().unwrap_or(false) && opts.console_socket.is_none() && opts.detach {
        return Err(Error::invalid(
            "process.terminal",
            "a detached process with a terminal needs --console-socket",
        ));
    }
    container::check_preserved_fds(opts.preserve_fds)?;
    // Held across the opening of /proc/<pid>/ns/*: if the init died and
    // its pid were reused meanwhile, the pidfd says so below.
    let init_fd = container::pidfd_of(&record)?
        .ok_or_else(|| Error::State("cannot exec in a stopped container".into()))?;
    let mut plan = init::plan_exec(
        &spec,
        record.pid,
        &process,
        opts.preserve_fds,
        opts.seccomp_cache.as_deref(),
        record.cgroup.is_some(),
    )?;
    if let Some(l) = plan.seccomp.as_mut().and_then(|s| s.listener.as_mut()) {
        let annotations = spec
            .annotations()
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect();
        l.set_container(
            crate::container::OCI_VERSION,
            &opts.id,
            &record.bundle,
            &annotations,
        );
    }
    if container::has_exited(&init_fd) {
        return Err(Error::State("cannot exec in a stopped container".into()));
    }
    debug.append(&mut plan.notes);
    // The process joins the container's resctrl group, as the init did.
    let rdt = crate::intelrdt::plan(&spec, &opts.id)?;
    // No lock across the wait for the process (docs/ARCHITECTURE.md, "Locks
    // and bounded waits"): it joins the container's cgroup, which may be
    // frozen, and only `resume`, which takes the lock, would thaw it.
    drop(dir);
    // process.execCPUAffinity.initial: brisk runs there from now until the
    // clone, which the child inherits and keeps until it is placed.
    let mut initial = match plan.process.cpu_initial {
        Some(cpus) => Some(OwnAffinity::set(&cpus)?),
        None => None,
    };
    let mut init = init::spawn(
        &plan,
        // Into the container's cgroups before it runs anything.
        &mut |pid, _| {
            if let Some(own) = initial.take() {
                debug.push(format!(
                    "exec: process.execCPUAffinity.initial: CPUs {} until the process joins the container's cgroup",
                    CpuSet::of(pid).map_or_else(|e| e.to_string(), |s| s.to_string())
                ));
                own.restore()?;
            }
            if let Some(r) = &rdt {
                r.join(pid)?;
            }
            match &record.cgroup {
                Some(cg) => {
                    cg.join(pid, record.pid)?;
                    // Paused since the status check: the process froze on
                    // joining, and only --ignore-paused waits for the resume.
                    if !opts.ignore_paused && cg.is_paused() {
                        return Err(Error::State(
                            "cannot exec in a paused container (paused meanwhile; use \
                             --ignore-paused to override)"
                                .into(),
                        ));
                    }
                    Ok(())
                }
                None => Ok(()),
            }
        },
        &mut |_| Ok(()),
        &mut |_| Ok(Vec::new()),
    )
    .map_err(|e| container::paused_exec_hint(e, &record))?;
    drop(initial);
    init.hand_over_console(opts.console_socket.as_deref())?;
    if let Err(e) =
        container::write_pid_file(opts.pid_file.as_deref(), init.pid).and_then(|()| init.commit())
    {
        init.abort();
        return Err(e);
    }
    Ok(init)
}

/// brisk's own CPU affinity changed for a while: put back by `restore`,
/// or when dropped (an error before the clone).
struct OwnAffinity {
    saved: Option<CpuSet>,
}

impl OwnAffinity {
    fn set(cpus: &CpuSet) -> Result<OwnAffinity> {
        let saved = CpuSet::of(0).map_err(|e| Error::sys("read brisk's CPU affinity", e))?;
        cpus.apply(0).map_err(|e| {
            Error::sys(
                format!("process.execCPUAffinity.initial: run on CPUs {cpus}"),
                e,
            )
        })?;
        Ok(OwnAffinity { saved: Some(saved) })
    }

    fn restore(mut self) -> Result<()> {
        match self.saved.take() {
            Some(s) => s
                .apply(0)
                .map_err(|e| Error::sys("restore brisk's CPU affinity", e)),
            None => Ok(()),
        }
    }
}

impl Drop for OwnAffinity {
    fn drop(&mut self) {
        if let Some(s) = self.saved.take() {
            let _ = s.apply(0);
        }
    }
}

fn read_process(path: &Path) -> Result<Process> {
    let data = std::fs::read(path).map_err(|e| Error::path("--process", path, e))?;
    let mut de = serde_json::Deserializer::from_slice(&data);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let field = e.path().to_string();
        Error::invalid(
            format!("--process {}: {field}", path.display()),
            e.into_inner().to_string(),
        )
    })
}

/// The container's process with the command line's changes, as runc makes
/// it: new args, `--env` replacing a variable of the same name or added,
/// cwd, user, extra groups and capabilities (a name this build does not
/// know is a warning and skipped, as in the config and in runc),
/// no_new_privs, terminal.
fn process_from_flags(
    mut p: Process,
    opts: &ExecOptions,
    warnings: &mut Vec<String>,
) -> Result<Process> {
    if opts.args.is_empty() {
        return Err(Error::invalid(
            "exec",
            "no command given (and no --process)",
        ));
    }
    p.set_args(Some(opts.args.clone()));
    let mut env = p.env().clone().unwrap_or_default();
    env.extend(opts.env.iter().cloned());
    p.set_env(Some(crate::process::dedup_env(&env)));
    if let Some(cwd) = &opts.cwd {
        p.set_cwd(cwd.clone());
    }
    if let Some(u) = &opts.user {
        let mut user: User = p.user().clone();
        let (uid, gid) = parse_user(u)?;
        user.set_uid(uid);
        if let Some(gid) = gid {
            user.set_gid(gid);
        }
        p.set_user(user);
    }
    if !opts.additional_gids.is_empty() {
        // Added to the configured ones, as runc does.
        let mut user = p.user().clone();
        let mut gids = user.additional_gids().clone().unwrap_or_default();
        gids.extend(&opts.additional_gids);
        user.set_additional_gids(Some(gids));
        p.set_user(user);
    }
    if !opts.caps.is_empty() {
        let mut caps = p.capabilities().clone().unwrap_or_default();
        for name in &opts.caps {
            // Names as in the config (`CAP_CHOWN`); runc takes them as
            // given too, so `chown` is unknown there.
            let cap = serde_json::from_value::<Capability>(serde_json::Value::String(name.clone()))
                .ok()
                .filter(|c| {
                    serde_json::to_value(c)
                        .ok()
                        .as_ref()
                        .and_then(|v| v.as_str())
                        == Some(name)
                });
            let Some(cap) = cap else {
                warnings.push(format!("--cap: unknown capability {name}, skipped"));
                continue;
            };
            let with = |set: &Option<oci_spec::runtime::Capabilities>| {
                let mut set = set.clone().unwrap_or_default();
                set.insert(cap);
                Some(set)
            };
            let (b, e, pm) = (
                with(caps.bounding()),
                with(caps.effective()),
                with(caps.permitted()),
            );
            caps.set_bounding(b).set_effective(e).set_permitted(pm);
        }
        p.set_capabilities(Some(caps));
    }
    if opts.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    p.set_terminal(Some(opts.tty));
    p.set_console_size(None);
    Ok(p)
}

/// `uid` or `uid:gid`, numbers only (no passwd lookup, as runc).
pub fn parse_user(u: &str) -> Result<(u32, Option<u32>)> {
    let bad = || Error::invalid("--user", format!("{u:?} is not uid[:gid]"));
    let (uid, gid) = match u.split_once(':') {
        Some((a, b)) => (a, Some(b)),
        None => (u, None),
    };
    let uid = uid.parse().map_err(|_| bad())?;
    let gid = gid.map(|g| g.parse().map_err(|_| bad())).transpose()?;
    Ok((uid, gid))
}

fn check_process(p: &Process) -> Result<()> {
    match p.args().as_deref() {
        Some([first, ..]) if !first.is_empty() => {}
        _ => return Err(Error::invalid("process.args", "must not be empty")),
    }
    if !p.cwd().is_absolute() {
        return Err(Error::invalid(
            "process.cwd",
            format!("{:?} is not an absolute path", p.cwd()),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users() {
        assert_eq!(parse_user("1000").unwrap(), (1000, None));
        assert_eq!(parse_user("1000:5").unwrap(), (1000, Some(5)));
        for bad in ["", "x", "1:y", "-1"] {
            assert!(parse_user(bad).is_err(), "{bad}");
        }
    }

    fn base() -> Process {
        serde_json::from_value(serde_json::json!({
            "args": ["sleep", "1"], "cwd": "/", "env": ["PATH=/bin", "A=1"],
            "user": {"uid": 0, "gid": 0},
            "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"]}
        }))
        .unwrap()
    }

    #[test]
    fn flags_change_the_container_process() {
        let opts = ExecOptions {
            args: vec!["sh".into(), "-c".into(), "id".into()],
            env: vec!["B=2".into()],
            cwd: Some("/tmp".into()),
            user: Some("7:8".into()),
            additional_gids: vec![9],
            caps: vec!["CAP_CHOWN".into()],
            no_new_privs: true,
            tty: true,
            ..Default::default()
        };
        let p = process_from_flags(base(), &opts, &mut Vec::new()).unwrap();
        assert_eq!(p.args().as_deref().unwrap(), ["sh", "-c", "id"]);
        assert_eq!(p.env().as_deref().unwrap(), ["PATH=/bin", "A=1", "B=2"]);
        assert_eq!(p.cwd(), Path::new("/tmp"));
        assert_eq!((p.user().uid(), p.user().gid()), (7, 8));
        assert_eq!(p.user().additional_gids().as_deref(), Some(&[9][..]));
        let caps = p.capabilities().as_ref().unwrap();
        for set in [caps.bounding(), caps.effective(), caps.permitted()] {
            let set = set.as_ref().unwrap();
            assert!(set.contains(&Capability::Chown) && set.contains(&Capability::Kill));
        }
        assert_eq!(p.no_new_privileges(), Some(true));
        assert_eq!(p.terminal(), Some(true));
    }

    #[test]
    fn env_flags_replace_variables_of_the_same_name() {
        let opts = ExecOptions {
            args: vec!["true".into()],
            env: vec!["A=2".into(), "C=3".into(), "A=4".into()],
            ..Default::default()
        };
        let p = process_from_flags(base(), &opts, &mut Vec::new()).unwrap();
        assert_eq!(p.env().as_deref().unwrap(), ["PATH=/bin", "A=4", "C=3"]);
    }

    #[test]
    fn unknown_cap_is_a_warning_and_missing_command_an_error() {
        let opts = ExecOptions {
            args: vec!["true".into()],
            caps: vec!["CAP_NOPE".into(), "CAP_CHOWN".into(), "chown".into()],
            ..Default::default()
        };
        let mut warnings = Vec::new();
        let p = process_from_flags(base(), &opts, &mut warnings).unwrap();
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].contains("CAP_NOPE"), "{warnings:?}");
        let caps = p.capabilities().as_ref().unwrap();
        let bounding = caps.bounding().as_ref().unwrap();
        assert!(bounding.contains(&Capability::Chown) && bounding.contains(&Capability::Kill));
        assert_eq!(bounding.len(), 2);
        let e = process_from_flags(base(), &ExecOptions::default(), &mut Vec::new())
            .unwrap_err()
            .to_string();
        assert!(e.contains("no command"), "{e}");
    }
}
