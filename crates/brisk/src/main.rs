//! brisk: the command line. Parsing and output live here; everything that
//! touches a container is in the `brisk-container` library.

mod commands;
mod logging;
mod seccomp;

use brisk::{args, cli};
use clap::Parser;

use cli::Cli;

fn main() {
    // Enabled before parsing, so that the first mark is the start.
    let timings_env = std::env::var("BRISK_TIMINGS")
        .ok()
        .filter(|v| !v.is_empty() && v != "0");
    if timings_env.is_some() || std::env::args_os().any(|a| a == "--timings") {
        brisk_container::timings::enable();
    }
    brisk_container::timings::mark("brisk started");
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            let code = match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => 0,
                ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => 1,
                _ => 1,
            };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    let format = match logging::parse_format(&cli.log_format) {
        Ok(f) => f,
        Err(msg) => {
            eprintln!("{msg}");
            std::process::exit(1);
        }
    };
    if let Err(e) = logging::init(cli.log.as_deref(), format, cli.debug) {
        eprintln!(
            "open log file {:?}: {e}",
            cli.log
                .as_deref()
                .unwrap_or_else(|| std::path::Path::new(""))
        );
        std::process::exit(1);
    }
    brisk_container::timings::mark("command line parsed");
    let code = match commands::run(cli) {
        Ok(code) => code,
        Err(e) => {
            logging::error(&format!("{e:#}"));
            1
        }
    };
    if brisk_container::timings::enabled() {
        brisk_container::timings::mark("brisk done");
        let rows = brisk_container::timings::report();
        if timings_env.as_deref() == Some("json") {
            eprintln!("{}", brisk_container::timings::json(&rows));
        } else {
            eprint!("{}", brisk_container::timings::table(&rows));
        }
    }
    std::process::exit(code);
}
