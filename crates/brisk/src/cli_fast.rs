//! The command lines callers send on every container start (`create`,
//! `start`, `run`, `state`, `kill`, `delete` with the usual flags), parsed
//! by hand into the same [`Cli`] clap would build.
//!
//! Building clap's command tree costs about a third of brisk's own CPU
//! time on a `run` (callgrind: ~600k of 1.8M instructions). Anything this
//! parser does not recognise exactly (help, a repeated or unknown flag, a
//! value that starts with `-`, a non-UTF-8 argument, another command)
//! returns `None`, and clap parses the line as before, with its errors.
//! The tests check that every line accepted here gives clap's result.

use std::ffi::OsString;
use std::path::PathBuf;

use crate::cli::{Cli, Command, CreateArgs};

/// Global flags (valid before or after the command) that take a value.
const GLOBAL_VALUES: [&str; 4] = ["root", "log", "log-format", "cgroup-manager"];
/// Global flags without a value.
const GLOBAL_SWITCHES: [&str; 3] = ["debug", "systemd-cgroup", "timings"];

/// The parsed line, or None when clap must parse it.
pub fn parse(args: &[OsString]) -> Option<Cli> {
    let args: Vec<&str> = args
        .iter()
        .skip(1)
        .map(|a| a.to_str())
        .collect::<Option<_>>()?;
    let mut p = Parsed::default();
    let mut it = args.iter().copied();
    // Global flags before the command.
    let command = loop {
        let a = it.next()?;
        if !a.starts_with('-') {
            break a;
        }
        if a == "--rootless" {
            set(&mut p.rootless, value(&mut it)?)?;
            continue;
        }
        p.global(a, &mut it)?;
    };
    let mut positional = Vec::new();
    let mut flags: Vec<(&str, Option<&str>)> = Vec::new();
    while let Some(a) = it.next() {
        if !a.starts_with('-') {
            positional.push(a);
            continue;
        }
        if p.global(a, &mut it).is_some() {
            continue;
        }
        // A command flag: its value, if it takes one, is decided per
        // command below.
        let (name, inline) = split_flag(a)?;
        let takes_value = matches!(
            name,
            "bundle" | "config" | "console-socket" | "pid-file" | "preserve-fds"
        );
        let v = match (takes_value, inline) {
            (true, Some(v)) => Some(v),
            (true, None) => Some(value(&mut it)?),
            (false, Some(_)) => return None,
            (false, None) => None,
        };
        if flags.iter().any(|(n, _)| *n == name) {
            return None;
        }
        flags.push((name, v));
    }
    let cmd = match command {
        "create" | "run" => {
            let mut c = CreateArgs {
                bundle: PathBuf::from("."),
                config: None,
                console_socket: None,
                pid_file: None,
                no_pivot: false,
                no_new_keyring: false,
                preserve_fds: 0,
                no_subreaper: false,
                id: one(&positional)?.to_string(),
            };
            let (mut detach, mut keep) = (false, false);
            for (name, v) in flags {
                match (name, v) {
                    ("bundle", Some(v)) => c.bundle = PathBuf::from(v),
                    ("config", Some(v)) => c.config = Some(PathBuf::from(v)),
                    ("console-socket", Some(v)) => c.console_socket = Some(PathBuf::from(v)),
                    ("pid-file", Some(v)) => c.pid_file = Some(PathBuf::from(v)),
                    ("preserve-fds", Some(v)) => c.preserve_fds = number(v)?,
                    ("no-pivot", None) => c.no_pivot = true,
                    ("no-new-keyring", None) => c.no_new_keyring = true,
                    ("no-subreaper", None) => c.no_subreaper = true,
                    ("detach", None) if command == "run" => detach = true,
                    ("keep", None) if command == "run" => keep = true,
                    _ => return None,
                }
            }
            if command == "create" {
                Command::Create(c)
            } else {
                Command::Run {
                    create: c,
                    detach,
                    keep,
                }
            }
        }
        "start" | "state" if flags.is_empty() => {
            let id = one(&positional)?.to_string();
            if command == "start" {
                Command::Start { id }
            } else {
                Command::State { id }
            }
        }
        "delete" => {
            let force = match flags.as_slice() {
                [] => false,
                [("force", None)] => true,
                _ => return None,
            };
            Command::Delete {
                force,
                id: one(&positional)?.to_string(),
            }
        }
        "kill" => {
            let all = match flags.as_slice() {
                [] => false,
                [("all", None)] => true,
                _ => return None,
            };
            let (id, signal) = match positional.as_slice() {
                [id] => (id, "SIGTERM"),
                [id, sig] => (id, *sig),
                _ => return None,
            };
            Command::Kill {
                all,
                id: id.to_string(),
                signal: signal.to_string(),
            }
        }
        _ => return None,
    };
    Some(Cli {
        root: p.root.map(PathBuf::from),
        log: p.log.map(PathBuf::from),
        log_format: p.log_format.unwrap_or("text").to_string(),
        debug: p.debug,
        systemd_cgroup: p.systemd_cgroup,
        cgroup_manager: p.cgroup_manager.map(str::to_string),
        seccomp_cache: None,
        seccomp_compiler: None,
        rootless: p.rootless.map(str::to_string),
        timings: p.timings,
        version: false,
        command: Some(cmd),
    })
}

#[derive(Default)]
struct Parsed<'a> {
    root: Option<&'a str>,
    log: Option<&'a str>,
    log_format: Option<&'a str>,
    cgroup_manager: Option<&'a str>,
    rootless: Option<&'a str>,
    debug: bool,
    systemd_cgroup: bool,
    timings: bool,
}

impl<'a> Parsed<'a> {
    /// Takes a global flag (and its value); None if `a` is not one, or is
    /// one given twice or without its value.
    fn global(&mut self, a: &'a str, it: &mut impl Iterator<Item = &'a str>) -> Option<()> {
        let (name, inline) = split_flag(a)?;
        if GLOBAL_VALUES.contains(&name) {
            let v = match inline {
                Some(v) => v,
                None => value(it)?,
            };
            let slot = match name {
                "root" => &mut self.root,
                "log" => &mut self.log,
                "log-format" => &mut self.log_format,
                _ => &mut self.cgroup_manager,
            };
            return set(slot, v);
        }
        if GLOBAL_SWITCHES.contains(&name) && inline.is_none() {
            let slot = match name {
                "debug" => &mut self.debug,
                "systemd-cgroup" => &mut self.systemd_cgroup,
                _ => &mut self.timings,
            };
            if *slot {
                return None;
            }
            *slot = true;
            return Some(());
        }
        None
    }
}

/// `--name` / `--name=value` / the short flags the hot commands have, as
/// (long name, inline value).
fn split_flag(a: &str) -> Option<(&str, Option<&str>)> {
    if let Some(long) = a.strip_prefix("--") {
        return Some(match long.split_once('=') {
            Some((n, v)) if !n.is_empty() && !v.is_empty() => (n, Some(v)),
            Some(_) => return None,
            None if long.is_empty() => return None,
            None => (long, None),
        });
    }
    let long = match a {
        "-b" => "bundle",
        // `-f` is --force for delete; --config (with a value) for create
        // and run, where `force` is unknown: the line goes to clap.
        "-f" => "force",
        "-d" => "detach",
        "-a" => "all",
        _ => return None,
    };
    Some((long, None))
}

/// The next argument as a flag's value (clap refuses one that looks like
/// a flag).
fn value<'a>(it: &mut impl Iterator<Item = &'a str>) -> Option<&'a str> {
    it.next().filter(|v| !v.is_empty() && !v.starts_with('-'))
}

fn set<'a>(slot: &mut Option<&'a str>, v: &'a str) -> Option<()> {
    if slot.is_some() {
        return None;
    }
    *slot = Some(v);
    Some(())
}

fn one<'a>(positional: &[&'a str]) -> Option<&'a str> {
    match positional {
        [id] => Some(id),
        _ => None,
    }
}

fn number(v: &str) -> Option<u32> {
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse().ok()
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn os(args: &[&str]) -> Vec<OsString> {
        std::iter::once("brisk")
            .chain(args.iter().copied())
            .map(OsString::from)
            .collect()
    }

    /// Whenever the fast parser accepts a line, clap accepts it too and
    /// builds the same value.
    fn agrees(args: &[&str]) -> bool {
        let fast = parse(&os(args));
        let clap = Cli::try_parse_from(os(args));
        match (&fast, &clap) {
            (Some(f), Ok(c)) => {
                assert_eq!(format!("{f:?}"), format!("{c:?}"), "{args:?}");
                true
            }
            (Some(f), Err(e)) => panic!("{args:?}: fast parsed {f:?}, clap refused: {e}"),
            (None, _) => false,
        }
    }

    #[test]
    fn the_callers_lines_take_the_fast_path_and_match_clap() {
        let lines: &[&[&str]] = &[
            &["run", "--bundle", "/b", "c1"],
            &["run", "-b", "/b", "c1"],
            &["--root", "/r", "run", "-b", "/b", "-d", "--keep", "c1"],
            &["run", "-b", "/b", "--root=/r", "--keep", "-d", "x"],
            // containerd's runc shim
            &[
                "--root",
                "/run/containerd/runc/k8s.io",
                "--log",
                "/x/log.json",
                "--log-format",
                "json",
                "create",
                "--bundle",
                "/b",
                "--pid-file",
                "/b/init.pid",
                "--console-socket",
                "/s",
                "c1",
            ],
            // conmon
            &[
                "--systemd-cgroup",
                "--root",
                "/run/x",
                "create",
                "--bundle",
                "/b",
                "--pid-file",
                "/p",
                "--no-new-keyring",
                "--preserve-fds",
                "2",
                "c",
            ],
            &[
                "--cgroup-manager",
                "disabled",
                "create",
                "--config=/c.json",
                "x",
            ],
            &["create", "--no-pivot", "--no-subreaper", "x"],
            &["start", "c"],
            &["--root", "/r", "state", "c"],
            &["state", "c", "--debug"],
            &["--timings", "run", "-b", "/b", "c"],
            &["kill", "c"],
            &["kill", "c", "KILL"],
            &["kill", "--all", "c", "9"],
            &["kill", "-a", "c", "SIGKILL"],
            &["delete", "c"],
            &["delete", "--force", "c"],
            &["--log-format=json", "delete", "-f", "c"],
            &["--rootless", "false", "state", "c"],
        ];
        for l in lines {
            assert!(agrees(l), "not on the fast path: {l:?}");
        }
    }

    #[test]
    fn everything_else_goes_to_clap() {
        let lines: &[&[&str]] = &[
            &[],
            &["--help"],
            &["run", "--help"],
            &["run", "-h", "c"],
            &["-v"],
            &["list"],
            &["exec", "c", "ls"],
            &["state"],
            &["state", "a", "b"],
            &["run", "-b"],
            &["run", "-b", "-d", "c"],
            &["run", "--root", "/a", "--root", "/b", "c"],
            &["run", "--debug", "--debug", "c"],
            &["run", "--unknown", "c"],
            &["run", "--bundle=", "c"],
            &["--root", "", "state", "c"],
            &["run", "--preserve-fds", "x", "c"],
            &["run", "--preserve-fds", "+1", "c"],
            &["create", "-d", "c"],
            &["create", "--keep", "c"],
            &["start", "--force", "c"],
            &["kill", "c", "KILL", "x"],
            &["kill", "--force", "c"],
            &["delete", "--all", "c"],
            &["run", "--", "c"],
            &["run", "-bx", "c"],
            &["--seccomp-compiler", "native", "run", "c"],
            &["--seccomp-cache", "/x", "run", "c"],
            &["run", "-f", "/x.json", "c"],
            // Not an abbreviation clap accepts: only `-f` is.
            &["delete", "--f", "c"],
            &["--rootless", "x", "--rootless", "y", "state", "c"],
            &["state", "--rootless", "x", "c"],
            &["--debug=true", "state", "c"],
        ];
        for l in lines {
            assert!(!agrees(l), "fast path took {l:?}");
        }
    }

    #[test]
    fn non_utf8_goes_to_clap() {
        use std::os::unix::ffi::OsStringExt;
        let mut args = os(&["state"]);
        args.push(OsString::from_vec(vec![0xff, 0xfe]));
        assert!(parse(&args).is_none());
    }
}
