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
    /// Root directory for the state of containers (should be on a tmpfs;
    /// default /run/brisk, or $XDG_RUNTIME_DIR/brisk when not root).
    #[arg(long, global = true, value_name = "DIR")]
    pub root: Option<PathBuf>,
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
    /// Directory of the compiled seccomp filter cache (default
    /// /var/cache/brisk/seccomp; when not root $XDG_CACHE_HOME/brisk/seccomp
    /// or ~/.cache/brisk/seccomp).
    #[arg(long = "seccomp-cache", global = true, value_name = "DIR")]
    pub seccomp_cache: Option<PathBuf>,
    /// Seccomp compiler: native (brisk's, the default) or libseccomp.
    #[arg(long = "seccomp-compiler", global = true, value_name = "COMPILER")]
    pub seccomp_compiler: Option<brisk_seccomp::Compiler>,
    /// Rootless mode: true, false or auto (the default: on when not root,
    /// or root of a user namespace other than the host's). Rootless, a
    /// cgroup brisk may not make or enter is skipped with a warning when
    /// the config names no cgroupsPath, an error when it names one.
    #[arg(long, value_name = "VALUE")]
    pub rootless: Option<String>,
    /// Print how long each phase took (brisk's and the container init's)
    /// on stderr at the end; BRISK_TIMINGS=1 (or =json) does the same.
    #[arg(long, global = true)]
    pub timings: bool,
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
    /// Freeze every process of a running container.
    Pause { id: String },
    /// Thaw a paused container.
    Resume { id: String },
    /// List the processes of a container (ps ARGS, default -ef).
    Ps {
        /// table or json (the pids only).
        #[arg(short = 'f', long, default_value = "table")]
        format: String,
        id: String,
        /// Options for ps(1).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ps_args: Vec<String>,
    },
    /// Change the resource limits of a running container.
    Update(Box<UpdateArgs>),
    /// Print the container's resource statistics (and a stream of them).
    Events {
        /// Print the statistics once and exit.
        #[arg(long)]
        stats: bool,
        /// Interval between two statistics events (Go duration: 5s, 500ms).
        #[arg(long, default_value = "5s", value_name = "DURATION")]
        interval: String,
        id: String,
    },
}

/// `update`'s flags, runc's names.
#[derive(Debug, Args, Clone, Default)]
pub struct UpdateArgs {
    /// A JSON file with the OCI linux.resources to apply, or - for stdin.
    #[arg(short = 'r', long, value_name = "FILE")]
    pub resources: Option<String>,
    #[arg(long = "blkio-weight")]
    pub blkio_weight: Option<u16>,
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<u64>,
    #[arg(long = "cpu-quota", allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    #[arg(long = "cpu-burst")]
    pub cpu_burst: Option<u64>,
    #[arg(long = "cpu-share")]
    pub cpu_share: Option<u64>,
    #[arg(long = "cpu-rt-period")]
    pub cpu_rt_period: Option<u64>,
    #[arg(long = "cpu-rt-runtime", allow_hyphen_values = true)]
    pub cpu_rt_runtime: Option<i64>,
    #[arg(long = "cpu-idle", allow_hyphen_values = true)]
    pub cpu_idle: Option<i64>,
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    /// Bytes, or a number with k, m, g (runc's units).
    #[arg(long = "memory", allow_hyphen_values = true)]
    pub memory: Option<String>,
    #[arg(long = "memory-reservation", allow_hyphen_values = true)]
    pub memory_reservation: Option<String>,
    /// Memory plus swap; -1 is unlimited.
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    #[arg(long = "kernel-memory", allow_hyphen_values = true)]
    pub kernel_memory: Option<String>,
    #[arg(long = "kernel-memory-tcp", allow_hyphen_values = true)]
    pub kernel_memory_tcp: Option<String>,
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    #[arg(long = "l3-cache-schema")]
    pub l3_cache_schema: Option<String>,
    #[arg(long = "mem-bw-schema")]
    pub mem_bw_schema: Option<String>,
    pub id: String,
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
        assert_eq!(cli.root, Some(PathBuf::from("/run/containerd/runc/k8s.io")));
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
        assert_eq!(cli.root, Some(PathBuf::from("/r")));
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

    #[test]
    fn cgroup_commands() {
        match parse(&["ps", "-f", "json", "c1", "-o", "pid,comm"]).command {
            Some(Command::Ps {
                format,
                id,
                ps_args,
            }) => {
                assert_eq!((format.as_str(), id.as_str()), ("json", "c1"));
                assert_eq!(ps_args, ["-o", "pid,comm"]);
            }
            other => panic!("{other:?}"),
        }
        match parse(&[
            "update",
            "--cpu-quota",
            "-1",
            "--memory",
            "1g",
            "-r",
            "-",
            "c1",
        ])
        .command
        {
            Some(Command::Update(u)) => {
                assert_eq!(u.cpu_quota, Some(-1));
                assert_eq!(u.memory.as_deref(), Some("1g"));
                assert_eq!(u.resources.as_deref(), Some("-"));
                assert_eq!(u.id, "c1");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse(&["events", "--stats", "c1"]).command,
            Some(Command::Events { stats: true, .. })
        ));
        assert!(matches!(
            parse(&["pause", "c1"]).command,
            Some(Command::Pause { .. })
        ));
    }
}
