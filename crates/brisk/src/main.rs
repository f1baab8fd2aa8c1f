//! brisk: the command line. Parsing and output live here; everything that
//! touches a container is in the `brisk-container` library.

mod cli;
mod commands;
mod logging;
mod seccomp;

use clap::Parser;

use cli::Cli;

fn main() {
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
    let code = match commands::run(cli) {
        Ok(code) => code,
        Err(e) => {
            logging::error(&format!("{e:#}"));
            1
        }
    };
    std::process::exit(code);
}
