//! The property of the fuzz target `cli`, shared with the stable replay
//! test (`tests/fuzz_replay.rs`): an input is a command line, its
//! arguments separated by NUL bytes (any bytes, not only UTF-8), and
//! optionally, after two NULs, the JSON `update -r -` would read. It goes
//! through clap's parse and every pure step the commands take on the
//! flags' values before touching a container; nothing may panic, and every
//! error renders.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use brisk::args;
use brisk::cli::{Cli, Command};
use brisk_container::{exec, id, signal};
use clap::Parser;

/// How far a run got, for the replay test's checks.
#[derive(Debug, PartialEq, Eq)]
pub enum Reached {
    /// clap refused it (or it asked for help); the message as printed.
    Usage(String),
    /// Parsed; a flag's value was refused.
    Invalid(String),
    Accepted,
}

pub fn check(data: &[u8]) -> Reached {
    let (line, stdin) = match data.windows(2).position(|w| w == [0, 0]) {
        Some(i) => (&data[..i], Some(&data[i + 2..])),
        None => (data, None),
    };
    // An empty line is no argument at all, not one empty argument.
    let args = line.split(|b| *b == 0).filter(|_| !line.is_empty());
    let argv: Vec<std::ffi::OsString> = std::iter::once(OsStr::new("brisk"))
        .chain(args.map(OsStr::from_bytes))
        .map(OsStr::to_os_string)
        .collect();
    // The hand parser of the hot lines must agree with clap whenever it
    // takes a line.
    let fast = brisk::cli_fast::parse(&argv);
    let clap = Cli::try_parse_from(&argv);
    if let Some(f) = &fast {
        match &clap {
            Ok(c) => assert_eq!(
                format!("{f:?}"),
                format!("{c:?}"),
                "cli_fast and clap differ"
            ),
            Err(e) => panic!("cli_fast took a line clap refuses: {f:?}: {e}"),
        }
    }
    let cli = match clap {
        Ok(cli) => cli,
        Err(e) => return Reached::Usage(e.render().to_string()),
    };
    match post_process(&cli, stdin) {
        Ok(()) => Reached::Accepted,
        Err(e) => Reached::Invalid(format!("{e:#}")),
    }
}

/// The steps of main.rs and commands.rs between the parse and the first
/// container operation, command by command.
fn post_process(cli: &Cli, stdin: Option<&[u8]>) -> anyhow::Result<()> {
    match &cli.command {
        Some(Command::Create(c)) | Some(Command::Run { create: c, .. }) => id::validate(&c.id)?,
        Some(Command::Kill { id, signal, .. }) => {
            id::validate(id)?;
            signal::parse(signal)?;
        }
        Some(Command::Exec(e)) => {
            id::validate(&e.id)?;
            if let Some(u) = &e.user {
                exec::parse_user(u)?;
            }
        }
        Some(Command::Update(u)) => {
            let base = match (u.resources.as_deref(), stdin) {
                (Some("-"), Some(text)) => serde_json::from_slice(text)?,
                _ => serde_json::json!({}),
            };
            args::update_resources(u, base)?;
        }
        Some(Command::Events { interval, .. }) => {
            args::parse_duration(interval)?;
        }
        _ => {}
    }
    Ok(())
}
