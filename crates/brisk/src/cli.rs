//! The command line: runc's commands and flags, plus crun's extras.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "brisk",
    about = "brisk: a fast OCI container runtime",
    disable_version_flag = true,
    subcommand_required = false
)]
pub struct Cli {
    /// Root directory for the state of containers (should be on a tmpfs).
    #[arg(long, global = true, default_value = "/run/brisk", value_name = "DIR")]
    pub root: PathBuf,
    /// Write log messages to FILE instead of stderr.
    #[arg(long, global = true, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// Format of log messages: text or json.
    #[arg(
        long = "log-format",
        global = true,
        default_value = "text",
        value_name = "FORMAT"
    )]
    pub log_format: String,
    /// Log debug messages too.
    #[arg(long, global = true)]
    pub debug: bool,
    /// Use the systemd cgroup driver (cgroupsPath is slice:prefix:name).
    #[arg(long = "systemd-cgroup", global = true)]
    pub systemd_cgroup: bool,
    /// cgroup manager: cgroupfs, systemd or disabled (crun's flag).
    #[arg(long = "cgroup-manager", global = true, value_name = "MANAGER")]
    pub cgroup_manager: Option<String>,
    /// Directory of the compiled seccomp filter cache
    /// (default /var/cache/brisk/seccomp).
    #[arg(long = "seccomp-cache", global = true, value_name = "DIR")]
    pub seccomp_cache: Option<PathBuf>,
    /// Seccomp compiler: native (brisk's, the default) or libseccomp.
    #[arg(long = "seccomp-compiler", global = true, value_name = "COMPILER")]
    pub seccomp_compiler: Option<brisk_seccomp::Compiler>,
    /// Rootless mode: true, false or auto.
    #[arg(long, value_name = "VALUE")]
    pub rootless: Option<String>,
    /// Print the version and the optional features compiled in.
    #[arg(short = 'v', short_alias = 'V', long)]
    pub version: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Args, Clone)]
pub struct CreateArgs {
    /// Path to the bundle directory.
    #[arg(short = 'b', long, default_value = ".", value_name = "DIR")]
    pub bundle: PathBuf,
    /// Use this config file instead of BUNDLE/config.json (crun's flag).
    #[arg(short = 'f', long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// AF_UNIX socket that receives the pty master when process.terminal is set.
    #[arg(long = "console-socket", value_name = "PATH")]
    pub console_socket: Option<PathBuf>,
    /// Write the container's pid to FILE.
    #[arg(long = "pid-file", value_name = "FILE")]
    pub pid_file: Option<PathBuf>,
    /// Do not use pivot_root (for a rootfs on a ramdisk).
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,
    /// Keep the caller's session keyring.
    #[arg(long = "no-new-keyring")]
    pub no_new_keyring: bool,
    /// Pass N more file descriptors (from 3 on) to the container.
    #[arg(long = "preserve-fds", default_value_t = 0, value_name = "N")]
    pub preserve_fds: u32,
    /// Accepted for compatibility; brisk never starts a subreaper.
    #[arg(long = "no-subreaper")]
    pub no_subreaper: bool,
    /// Container id.
    pub id: String,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a container: its process waits until `start`.
    Create(CreateArgs),
    /// Start the program of a created container.
    Start { id: String },
    /// Create and start a container, wait for it and delete it.
    Run {
        #[command(flatten)]
        create: CreateArgs,
        /// Return once the program runs, leaving the container behind.
        #[arg(short = 'd', long)]
        detach: bool,
        /// Do not delete the container after it exits.
        #[arg(long)]
        keep: bool,
    },
    /// Print the state of a container as JSON.
    State { id: String },
    /// Send a signal (default SIGTERM) to the container's init.
    Kill {
        /// Send the signal to every process of the container.
        #[arg(short = 'a', long)]
        all: bool,
        id: String,
        #[arg(default_value = "SIGTERM")]
        signal: String,
    },
    /// Delete a container and everything it holds.
    Delete {
        /// Kill a running container first (SIGKILL).
        #[arg(short = 'f', long)]
        force: bool,
        id: String,
    },
    /// List containers.
    List {
        /// table or json.
        #[arg(short = 'f', long, default_value = "table")]
        format: String,
        /// Print only the ids.
        #[arg(short = 'q', long)]
        quiet: bool,
    },
    /// Write a default config.json into the bundle.
    Spec {
        #[arg(short = 'b', long, default_value = ".", value_name = "DIR")]
        bundle: PathBuf,
        /// A config for a container run by a non-root user.
        #[arg(long)]
        rootless: bool,
    },
    /// Print the OCI features document of this build.
    Features,
    /// Run a new process in a created or running container.
    Exec(ExecArgs),
    /// Compile, show and cache seccomp profiles (brisk's own tooling).
    Seccomp {
        #[command(subcommand)]
        command: SeccompCommand,
    },
}

#[derive(Debug, Args, Clone)]
pub struct ExecArgs {
    /// AF_UNIX socket that receives the pty master with --tty.
    #[arg(long = "console-socket", value_name = "PATH")]
    pub console_socket: Option<PathBuf>,
    /// Working directory of the process.
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<PathBuf>,
    /// Set an environment variable (KEY=VALUE); repeatable.
    #[arg(short = 'e', long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Allocate a pseudo-terminal.
    #[arg(short = 't', long)]
    pub tty: bool,
    /// uid[:gid] to run as.
    #[arg(short = 'u', long, value_name = "UID[:GID]")]
    pub user: Option<String>,
    /// Additional group; repeatable.
    #[arg(short = 'g', long = "additional-gids", value_name = "GID")]
    pub additional_gids: Vec<u32>,
    /// An OCI process JSON file; the process flags are then ignored.
    #[arg(short = 'p', long, value_name = "FILE")]
    pub process: Option<PathBuf>,
    /// Return once the process runs.
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Write the process's pid to FILE.
    #[arg(long = "pid-file", value_name = "FILE")]
    pub pid_file: Option<PathBuf>,
    /// SELinux label of the process.
    #[arg(long = "process-label", value_name = "LABEL")]
    pub process_label: Option<String>,
    /// AppArmor profile of the process.
    #[arg(long, value_name = "PROFILE")]
    pub apparmor: Option<String>,
    /// Set no_new_privs.
    #[arg(long = "no-new-privs")]
    pub no_new_privs: bool,
    /// Add a capability; repeatable.
    #[arg(short = 'c', long = "cap", value_name = "CAP")]
    pub cap: Vec<String>,
    /// Pass N fds after stdio (3..3+N) to the process.
    #[arg(long = "preserve-fds", default_value_t = 0, value_name = "N")]
    pub preserve_fds: u32,
    /// Join this sub-cgroup of the container (runc's flag; not supported).
    #[arg(long, value_name = "PATH")]
    pub cgroup: Vec<String>,
    /// Exec even when the container is paused.
    #[arg(long = "ignore-paused")]
    pub ignore_paused: bool,
    pub id: String,
    /// The command and its arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum SeccompCommand {
    /// Compile the linux.seccomp of a config.json (or a bare seccomp
    /// section) into the cache, so the first container using it is fast.
    Compile {
        #[arg(value_name = "CONFIG_OR_PROFILE")]
        file: PathBuf,
    },
    /// Print the compiled program, disassembled, with syscall names.
    Show {
        #[arg(value_name = "CONFIG_OR_PROFILE")]
        file: PathBuf,
    },
    /// List or empty the compiled-filter cache.
    Cache {
        #[command(subcommand)]
        command: SeccompCacheCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum SeccompCacheCommand {
    /// One line per entry: key, instructions (or why it is invalid), size.
    List,
    /// Remove every entry.
    Clear,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("brisk").chain(args.iter().copied())).unwrap()
    }

    #[test]
    fn containerd_style_create() {
        let cli = parse(&[
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
        ]);
        assert_eq!(cli.root, PathBuf::from("/run/containerd/runc/k8s.io"));
        assert_eq!(cli.log_format, "json");
        match cli.command {
            Some(Command::Create(c)) => {
                assert_eq!(c.bundle, PathBuf::from("/b"));
                assert_eq!(c.pid_file, Some(PathBuf::from("/b/init.pid")));
                assert_eq!(c.id, "c1");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn global_flags_after_the_command_and_equals_form() {
        let cli = parse(&["run", "-b", "/b", "--root=/r", "--keep", "-d", "x"]);
        assert_eq!(cli.root, PathBuf::from("/r"));
        assert!(matches!(
            cli.command,
            Some(Command::Run {
                keep: true,
                detach: true,
                ..
            })
        ));
    }

    #[test]
    fn kill_defaults_to_sigterm() {
        match parse(&["kill", "c"]).command {
            Some(Command::Kill {
                signal, all: false, ..
            }) => assert_eq!(signal, "SIGTERM"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse(&["kill", "-a", "c", "9"]).command,
            Some(Command::Kill { all: true, .. })
        ));
    }

    #[test]
    fn crun_extras() {
        let cli = parse(&[
            "--cgroup-manager",
            "disabled",
            "create",
            "--config",
            "/c.json",
            "--preserve-fds",
            "2",
            "x",
        ]);
        assert_eq!(cli.cgroup_manager.as_deref(), Some("disabled"));
        match cli.command {
            Some(Command::Create(c)) => {
                assert_eq!(c.config, Some(PathBuf::from("/c.json")));
                assert_eq!(c.preserve_fds, 2);
            }
            other => panic!("{other:?}"),
        }
        assert!(parse(&["-V"]).version);
        assert_eq!(
            parse(&["--rootless", "auto", "list"]).rootless.as_deref(),
            Some("auto")
        );
        assert!(matches!(
            parse(&["spec", "--rootless"]).command,
            Some(Command::Spec { rootless: true, .. })
        ));
    }

    #[test]
    fn missing_id_is_an_error() {
        assert!(Cli::try_parse_from(["brisk", "state"]).is_err());
    }
}
