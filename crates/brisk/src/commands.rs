//! One function per command. Each returns the process exit code.

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context, Result};
use brisk_cgroups::Driver as CgroupDriver;
use brisk_container::container::{self, CreateOptions, StateView};
use brisk_container::init::InitOptions;
use brisk_container::state::Store;
use brisk_container::{features, signal};

use crate::args;
use crate::cli::{Cli, Command, CreateArgs, ExecArgs, UpdateArgs};
use crate::logging;

pub fn run(cli: Cli) -> Result<i32> {
    if cli.version {
        print!("{}", version_text());
        return Ok(0);
    }
    let store = Store::new(crate::rootless::state_root(cli.root));
    let seccomp_cache = crate::rootless::seccomp_cache(cli.seccomp_cache);
    let Some(command) = cli.command else {
        use clap::CommandFactory;
        Cli::command().print_help()?;
        return Ok(1);
    };
    if let Some(m) = cli.cgroup_manager.as_deref() {
        if !matches!(m, "cgroupfs" | "systemd" | "disabled") {
            bail!("unknown cgroup manager {m:?}: expected cgroupfs, systemd or disabled");
        }
    }
    let driver = match cli.cgroup_manager.as_deref() {
        Some("disabled") => CgroupDriver::Disabled,
        Some("systemd") => CgroupDriver::Systemd,
        _ if cli.systemd_cgroup => CgroupDriver::Systemd,
        _ => CgroupDriver::Cgroupfs,
    };
    let compiler = cli.seccomp_compiler.unwrap_or_default();
    brisk_container::seccomp::use_compiler(compiler);
    let rootless = || crate::rootless::mode(cli.rootless.as_deref());
    match command {
        Command::Create(args) => {
            let created = container::create(
                &store,
                &create_options(&args, false, seccomp_cache.as_deref(), driver, rootless()?),
                true,
            )?;
            warn_ignored(&created);
            logging::debug(&format!(
                "created container {} with pid {}",
                args.id, created.init.pid
            ));
            Ok(0)
        }
        Command::Run {
            create,
            detach,
            keep,
        } => run_container(
            &store,
            &create_options(
                &create,
                !detach,
                seccomp_cache.as_deref(),
                driver,
                rootless()?,
            ),
            detach,
            keep,
        ),
        Command::Start { id } => {
            container::start(&store, &id, std::env::var_os("NOTIFY_SOCKET").as_deref())?;
            Ok(0)
        }
        Command::State { id } => {
            let view = container::state(&store, &id)?;
            // runc prints indented JSON without a trailing newline.
            print!("{}", serde_json::to_string_pretty(&view)?);
            Ok(0)
        }
        Command::Kill { all, id, signal } => {
            let sig = signal::parse(&signal)?;
            container::kill(&store, &id, sig, all)?;
            Ok(0)
        }
        Command::Delete { force, id } => {
            for w in container::delete(&store, &id, force)? {
                logging::warn(&w);
            }
            Ok(0)
        }
        Command::List { format, quiet } => list(&store, &format, quiet),
        Command::Spec { bundle, rootless } => spec(&bundle, rootless),
        Command::Exec(args) => exec(&store, &args, seccomp_cache.as_deref()),
        Command::Seccomp { command } => {
            crate::seccomp::run(command, seccomp_cache.as_deref(), compiler)
        }
        Command::Features => {
            println!("{}", serde_json::to_string_pretty(&features::document())?);
            Ok(0)
        }
        Command::Pause { id } => {
            container::pause(&store, &id)?;
            Ok(0)
        }
        Command::Resume { id } => {
            container::resume(&store, &id)?;
            Ok(0)
        }
        Command::Ps {
            format,
            id,
            ps_args,
        } => ps(&store, &id, &format, &ps_args),
        Command::Update(args) => update(&store, &args),
        Command::Events {
            stats,
            interval,
            id,
        } => events(&store, &id, stats, &interval),
    }
}

/// runc's `ps`: `ps ARGS` (default `-ef`) filtered to the container's
/// pids by the PID column, or the pids as JSON.
fn ps(store: &Store, id: &str, format: &str, args: &[String]) -> Result<i32> {
    if !matches!(format, "table" | "json") {
        bail!("invalid format option");
    }
    let pids = container::pids(store, id)?;
    let mut out = std::io::stdout().lock();
    if format == "json" {
        writeln!(out, "{}", serde_json::to_string(&pids)?)?;
        return Ok(0);
    }
    let default = ["-ef".to_string()];
    let args = if args.is_empty() { &default[..] } else { args };
    let mut cmd = std::process::Command::new("ps");
    cmd.args(args);
    // Like a hook, `ps` gets no signal brisk (or its caller) ignored.
    // SAFETY: runs in the forked child before exec; rt_sigaction and
    // sigprocmask are async-signal-safe and allocate nothing.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
            signal::reset_for_exec();
            Ok(())
        });
    }
    let output = cmd.output().context("run ps")?;
    if !output.status.success() {
        bail!(
            "ps {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or("");
    let col = header
        .split_whitespace()
        .position(|c| c == "PID")
        .context("couldn't find PID field in ps output")?;
    writeln!(out, "{header}")?;
    for line in lines {
        let pid = line
            .split_whitespace()
            .nth(col)
            .and_then(|p| p.parse::<i32>().ok());
        if pid.is_some_and(|p| pids.contains(&p)) {
            writeln!(out, "{line}")?;
        }
    }
    Ok(0)
}

/// `update`: the resources file (or stdin), then each flag over it.
fn update(store: &Store, a: &UpdateArgs) -> Result<i32> {
    use serde_json::{json, Value};
    if a.l3_cache_schema.is_some() || a.mem_bw_schema.is_some() {
        bail!("Intel RDT (--l3-cache-schema, --mem-bw-schema) is not supported");
    }
    let r: Value = match a.resources.as_deref() {
        Some("-") => serde_json::from_reader(std::io::stdin().lock())
            .context("read the resources from stdin")?,
        Some(path) => {
            serde_json::from_slice(&std::fs::read(path).with_context(|| format!("read {path}"))?)
                .with_context(|| format!("parse {path}"))?
        }
        None => json!({}),
    };
    let resources = args::update_resources(a, r)?;
    container::update(store, &a.id, &resources)?;
    Ok(0)
}

/// runc's `events`: `{"type":"stats","id":ID,"data":{...}}` once with
/// `--stats`, else one every interval until the container stops, and
/// `{"type":"oom","id":ID}` when the OOM killer struck since the last one.
fn events(store: &Store, id: &str, once: bool, interval: &str) -> Result<i32> {
    let every = args::parse_duration(interval)?;
    let mut out = std::io::stdout().lock();
    let mut ooms = None;
    loop {
        let (stats, oom_kills) = match container::stats(store, id) {
            Ok(s) => s,
            // The stream ends when the container stops or is deleted.
            Err(_)
                if !once
                    && match container::state(store, id) {
                        Ok(s) => s.status.to_string() == "stopped",
                        Err(e) => matches!(e, brisk_container::Error::NotFound(_)),
                    } =>
            {
                return Ok(0)
            }
            Err(e) => return Err(e.into()),
        };
        if ooms.is_some_and(|seen| oom_kills > seen) {
            let ev = serde_json::json!({"type": "oom", "id": id});
            writeln!(out, "{}", serde_json::to_string(&ev)?)?;
        }
        ooms = Some(oom_kills);
        let ev = serde_json::json!({"type": "stats", "id": id, "data": stats});
        writeln!(out, "{}", serde_json::to_string(&ev)?)?;
        out.flush()?;
        if once {
            return Ok(0);
        }
        std::thread::sleep(every);
    }
}

fn warn_ignored(created: &container::Created) {
    for w in &created.warnings {
        logging::warn(w);
    }
    for d in &created.debug {
        logging::debug(d);
    }
}

fn create_options(
    a: &CreateArgs,
    foreground: bool,
    seccomp_cache: Option<&Path>,
    cgroup_driver: CgroupDriver,
    rootless: bool,
) -> CreateOptions {
    CreateOptions {
        id: a.id.clone(),
        bundle: a.bundle.clone(),
        config: a.config.clone(),
        pid_file: a.pid_file.clone(),
        init: InitOptions {
            no_pivot: a.no_pivot,
            no_new_keyring: a.no_new_keyring,
            preserve_fds: a.preserve_fds,
            seccomp_cache: seccomp_cache.map(Path::to_path_buf),
            rootless,
        },
        console_socket: a.console_socket.clone(),
        foreground,
        notify_socket: std::env::var_os("NOTIFY_SOCKET")
            .filter(|s| !s.is_empty())
            .map(Into::into),
        listen_fds: listen_fds(),
        cgroup_driver,
    }
}

/// systemd socket activation: `LISTEN_FDS` counts, when `LISTEN_PID` is
/// brisk's own pid (as sd_listen_fds checks).
fn listen_fds() -> u32 {
    let ours = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        == Some(std::process::id());
    match std::env::var("LISTEN_FDS") {
        Ok(n) if ours => n.parse().unwrap_or(0),
        _ => 0,
    }
}

fn run_container(store: &Store, opts: &CreateOptions, detach: bool, keep: bool) -> Result<i32> {
    let mut created = container::create(store, opts, false)?;
    warn_ignored(&created);
    let sized_by_config = created.sized_terminal;
    let notify = created.notify.take();
    let (mut init, record) = created.unlock();
    let exec_result = init.wait_exec();
    brisk_container::timings::mark("program exec'd");
    if let Err(e) = exec_result {
        let _ = container::remove_state(store, &opts.id, Some(&record));
        for w in container::run_poststop(&record) {
            logging::warn(&w);
        }
        return Err(e.into());
    }
    if let Err(e) = container::run_poststart(&record) {
        // The container is killed; reap it and clean up as for any exit.
        let _ = container::wait_forwarding_signals(&init);
        let _ = container::remove_state(store, &opts.id, Some(&record));
        for w in container::run_poststop(&record) {
            logging::warn(&w);
        }
        return Err(e.into());
    }
    if let Some(n) = notify {
        // As runc: the caller hears READY=1 (or the program exits) first.
        let fd = brisk_container::container::pidfd_open_child(init.pid)?;
        n.forward_ready(std::os::fd::AsFd::as_fd(&fd), init.pid)?;
    }
    if detach {
        return Ok(0);
    }
    let code = match init.console.take() {
        Some(master) => container::exit_code(brisk_container::terminal::proxy(
            init.pid,
            master,
            sized_by_config,
        )?),
        None => container::wait_forwarding_signals(&init)?,
    };
    brisk_container::timings::mark("program exited");
    if !keep {
        container::remove_state(store, &opts.id, Some(&record)).context("delete the container")?;
        brisk_container::timings::mark("container deleted");
        for w in container::run_poststop(&record) {
            logging::warn(&w);
        }
    }
    Ok(code)
}

fn exec(store: &Store, a: &ExecArgs, seccomp_cache: Option<&Path>) -> Result<i32> {
    if a.process_label.is_some() || a.apparmor.is_some() {
        bail!("--process-label and --apparmor are not supported yet");
    }
    if !a.cgroup.is_empty() {
        bail!("--cgroup is not supported yet");
    }
    let opts = brisk_container::exec::ExecOptions {
        id: a.id.clone(),
        process: a.process.clone(),
        args: a.command.clone(),
        env: a.env.clone(),
        cwd: a.cwd.clone(),
        user: a.user.clone(),
        additional_gids: a.additional_gids.clone(),
        caps: a.cap.clone(),
        no_new_privs: a.no_new_privs,
        tty: a.tty,
        console_socket: a.console_socket.clone(),
        detach: a.detach,
        pid_file: a.pid_file.clone(),
        preserve_fds: a.preserve_fds,
        seccomp_cache: seccomp_cache.map(Path::to_path_buf),
        ignore_paused: a.ignore_paused,
    };
    let (mut warnings, mut debug) = (Vec::new(), Vec::new());
    let result = brisk_container::exec::exec(store, &opts, &mut warnings, &mut debug);
    for w in &warnings {
        logging::warn(w);
    }
    for d in &debug {
        logging::debug(d);
    }
    let mut init = result?;
    init.wait_exec()?;
    if a.detach {
        return Ok(0);
    }
    Ok(match init.console.take() {
        Some(master) => {
            container::exit_code(brisk_container::terminal::proxy(init.pid, master, false)?)
        }
        None => container::wait_forwarding_signals(&init)?,
    })
}

fn list(store: &Store, format: &str, quiet: bool) -> Result<i32> {
    if !matches!(format, "table" | "json") {
        bail!("invalid format option");
    }
    let views = container::list(store)?;
    let mut out = std::io::stdout().lock();
    if quiet {
        for v in &views {
            writeln!(out, "{}", v.id)?;
        }
        return Ok(0);
    }
    if format == "json" {
        let owned: Vec<StateView> = views
            .into_iter()
            .map(|mut v| {
                v.owner = owner_name(store.root());
                v
            })
            .collect();
        if owned.is_empty() {
            writeln!(out, "null")?;
        } else {
            writeln!(out, "{}", serde_json::to_string(&owned)?)?;
        }
        return Ok(0);
    }
    let owner = owner_name(store.root());
    let mut rows = vec![["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
        .map(String::from)
        .to_vec()];
    for v in views {
        rows.push(vec![
            v.id,
            v.pid.to_string(),
            v.status.to_string(),
            v.bundle.display().to_string(),
            v.created,
            owner.clone(),
        ]);
    }
    write!(out, "{}", table(&rows))?;
    Ok(0)
}

/// Go tabwriter's layout as runc uses it: min width 12, padding 3.
fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .map(|r| r[c].len() + 3)
                .max()
                .unwrap_or(0)
                .max(12)
        })
        .collect();
    let mut s = String::new();
    for r in rows {
        for (c, cell) in r.iter().enumerate() {
            if c + 1 == cols {
                s.push_str(cell);
            } else {
                s.push_str(&format!("{cell:<w$}", w = widths[c]));
            }
        }
        s.push('\n');
    }
    s
}

fn owner_name(root: &Path) -> String {
    use std::os::unix::fs::MetadataExt;
    let uid = std::fs::metadata(root).map(|m| m.uid()).unwrap_or(0);
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .find_map(|l| {
            let mut f = l.split(':');
            let name = f.next()?;
            (f.nth(1)?.parse::<u32>().ok()? == uid).then(|| name.to_string())
        })
        .unwrap_or_else(|| uid.to_string())
}

fn spec(bundle: &Path, rootless: bool) -> Result<i32> {
    let path = bundle.join("config.json");
    if path.exists() {
        bail!("File config.json exists. Remove it first");
    }
    let spec = if rootless {
        // SAFETY: geteuid/getegid cannot fail.
        let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
        crate::rootless::spec(uid, gid)?
    } else {
        oci_spec::runtime::Spec::default()
    };
    let text = serde_json::to_string_pretty(&spec)?;
    std::fs::write(&path, text).with_context(|| format!("write {}", path.display()))?;
    Ok(0)
}

/// Shaped like runc's (`NAME version X`, `commit:`, `spec:`,
/// `libseccomp:`; only the first line says "version", which is what
/// moby's parser keys on) with crun's features line, which lists the
/// present features only, as `+NAME` tokens.
fn version_text() -> String {
    format!(
        "brisk version {}\ncommit: {}\nspec: {}\nlibseccomp: {}\nlibseccomp-link: {}\n+CAP +USERNS +TIMENS +SECCOMP +CGROUP\n",
        env!("CARGO_PKG_VERSION"),
        option_env!("BRISK_COMMIT").unwrap_or("unknown"),
        container::OCI_VERSION,
        brisk_seccomp::LIBSECCOMP_VERSION,
        brisk_seccomp::LIBSECCOMP_LINK,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_pads_like_tabwriter() {
        let rows = vec![
            vec!["ID".to_string(), "PID".to_string()],
            vec!["a-very-long-id".to_string(), "1".to_string()],
        ];
        assert_eq!(table(&rows), "ID               PID\na-very-long-id   1\n");
    }

    #[test]
    fn version_parses_like_runcs() {
        let text = version_text();
        let lines: Vec<&str> = text.lines().collect();
        let first: Vec<&str> = lines[0].split_whitespace().collect();
        assert_eq!(first[..2], ["brisk", "version"]);
        assert_eq!(first.len(), 3);
        assert_eq!(lines.iter().filter(|l| l.contains("version")).count(), 1);
        assert!(lines.iter().any(|l| l.starts_with("spec: 1.")));
        let features = lines.last().unwrap();
        assert!(features
            .split_whitespace()
            .all(|t| t.starts_with('+') && t.len() > 1));
    }
}
