//! brisk: the command line. Parsing and output live here; everything that
//! touches a container is in the `brisk-container` library.
//!
//! `no_main`: brisk skips the Rust runtime's start-up (it reads
//! `/proc/self/maps` for a stack guard, sets up an alternate signal stack
//! and ignores SIGPIPE: ~10 syscalls, one of them expensive, on every
//! container start). What brisk needs of it is done in [`main`]: fds 0-2
//! are made valid and SIGPIPE is ignored.
// Unit tests keep the test harness's main (and so do not reach brisk's).
#![cfg_attr(not(test), no_main)]
#![cfg_attr(test, allow(dead_code))]

mod commands;
mod logging;
mod rootless;
mod seccomp;

use brisk::{args, cli, cli_fast};
use clap::Parser;

use cli::Cli;

/// See heap.rs: a bump arena first, which spares musl's allocator its
/// mmap/munmap per size class on every container start.
#[cfg(not(test))]
#[global_allocator]
static HEAP: brisk::heap::ArenaThenSystem = brisk::heap::ArenaThenSystem::new();

/// The C entry point (see the crate comment). The arguments are taken
/// from `argv` here: std's `args()` is filled without the Rust runtime's
/// start-up on glibc only, not on musl (the release build, see
/// scripts/build-release.sh). The environment works on both.
#[cfg(not(test))]
#[no_mangle]
// The C runtime calls this with its own argc/argv; it is no function for
// Rust callers to pass pointers to (clippy's deny-by-default lint).
#[allow(clippy::not_unsafe_ptr_arg_deref)]
pub extern "C" fn main(argc: libc::c_int, argv: *const *const libc::c_char) -> libc::c_int {
    open_missing_stdio();
    // As Rust's runtime does: a write to a closed pipe (a hook that exits
    // without reading its state on stdin) is an EPIPE error, not death.
    // The init resets it before execve (signal::ignored_set).
    // SAFETY: setting a disposition to SIG_IGN has no handler to run.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    // SAFETY: main's own argv; nobody reads it through argv after the
    // copy below, and clones only ever overwrite their own copy.
    unsafe { brisk_container::init::title::remember_argv(argc, argv) };
    // Never with privilege its caller does not have: a setuid (setgid,
    // file-capability) brisk would give any user the host's mounts and
    // namespaces for a config of its own (docs/SECURITY.md, "When brisk
    // is not root").
    if privileged_beyond_caller() {
        let msg = b"brisk: refusing to run setuid, setgid or with file capabilities\n";
        // SAFETY: write(2) of a static buffer to stderr.
        unsafe { libc::write(2, msg.as_ptr().cast(), msg.len()) };
        return 1;
    }
    // First, before any other work the re-execution would repeat.
    let sealed = if clones_into_container(argc, argv) {
        // SAFETY: argv is main's own; no thread has been started.
        unsafe { brisk_container::process::sealed_exe::ensure(argv) }
    } else {
        Ok(())
    };
    brisk_main(args_from(argc, argv), sealed);
    0
}

/// Whether this process has privilege its caller did not: real, effective
/// and saved ids that differ (an exec of a setuid or setgid file), or,
/// for a caller whose real uid is not root, capabilities in its permitted
/// set (file capabilities; root's own are its caller's). Not AT_SECURE:
/// an LSM sets that too on a domain transition (SELinux without
/// `noatsecure`, an AppArmor `px` profile), which gives brisk nothing.
/// Three system calls, no allocation.
#[cfg(not(test))]
fn privileged_beyond_caller() -> bool {
    let (mut r, mut e, mut s) = (0, 0, 0);
    // SAFETY: getresuid writes three uids through valid pointers.
    let uids = unsafe { libc::getresuid(&mut r, &mut e, &mut s) };
    let ruid = r;
    if uids != 0 || r != e || r != s {
        return true;
    }
    let (mut r, mut e, mut s) = (0, 0, 0);
    // SAFETY: getresgid writes three gids through valid pointers.
    let gids = unsafe { libc::getresgid(&mut r, &mut e, &mut s) };
    if gids != 0 || r != e || r != s {
        return true;
    }
    if ruid == 0 {
        return false;
    }
    // capget(2) with version 3: two {effective, permitted, inheritable}
    // words, capabilities 0-31 and 32-63.
    #[repr(C)]
    struct Header {
        version: u32,
        pid: libc::c_int,
    }
    let mut header = Header {
        version: 0x2008_0522,
        pid: 0,
    };
    let mut data = [[0u32; 3]; 2];
    // SAFETY: capget reads the header and writes two data structs, both
    // valid and of the layout of version 3.
    let r = unsafe { libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) };
    // Unreadable: count it as privileged rather than run with it unseen.
    r != 0 || data[0][1] != 0 || data[1][1] != 0
}

/// Whether the command may be one whose processes enter a container
/// before they execve its program (`create`, `run`, `exec`): those must
/// run from a binary no container can write (see
/// brisk_container::process::sealed_exe). Any argument spelling one of
/// them counts (a container named `run` only costs the re-execution):
/// decided on the raw argv, before the parse, so that a re-execution
/// repeats as little as possible.
#[cfg(not(test))]
fn clones_into_container(argc: libc::c_int, argv: *const *const libc::c_char) -> bool {
    let n = usize::try_from(argc).unwrap_or(0);
    (1..n).any(|i| {
        // SAFETY: the C runtime passes argc valid pointers in argv, each
        // to a NUL-terminated string.
        let arg = unsafe { std::ffi::CStr::from_ptr(*argv.add(i)) }.to_bytes();
        matches!(arg, b"create" | b"run" | b"exec")
    })
}

/// `argv[0..argc]` as owned strings.
#[cfg(not(test))]
fn args_from(argc: libc::c_int, argv: *const *const libc::c_char) -> Vec<std::ffi::OsString> {
    use std::os::unix::ffi::OsStrExt;
    let n = usize::try_from(argc).unwrap_or(0);
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        // SAFETY: the C runtime passes argc valid pointers in argv, each to
        // a NUL-terminated string that lives as long as the process.
        let arg = unsafe { std::ffi::CStr::from_ptr(*argv.add(i)) };
        out.push(std::ffi::OsStr::from_bytes(arg.to_bytes()).to_owned());
    }
    out
}

/// A closed fd 0, 1 or 2 would be taken by the next file brisk opens, and
/// a container could inherit it as stdio: each one closed is opened on
/// /dev/null (one poll when all are there, as Rust's runtime does).
fn open_missing_stdio() {
    let mut fds = [0, 1, 2].map(|fd| libc::pollfd {
        fd,
        events: 0,
        revents: 0,
    });
    // SAFETY: three valid pollfd structures.
    if unsafe { libc::poll(fds.as_mut_ptr(), 3, 0) } < 0 {
        return;
    }
    for p in fds {
        if p.revents & libc::POLLNVAL != 0 {
            // SAFETY: a constant path; the fd it returns is the lowest
            // free one, i.e. the closed stdio fd.
            unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) };
        }
    }
}

fn brisk_main(argv: Vec<std::ffi::OsString>, sealed: std::io::Result<()>) {
    // Enabled before parsing, so that the first mark is the start.
    let timings_env = std::env::var("BRISK_TIMINGS")
        .ok()
        .filter(|v| !v.is_empty() && v != "0");
    if timings_env.is_some() || argv.iter().any(|a| a == "--timings") {
        brisk_container::timings::enable();
    }
    if let Some(phase) = std::env::var_os(brisk_container::timings::FAULT_ENV) {
        brisk_container::timings::arm_fault(phase.to_string_lossy().into_owned());
    }
    brisk_container::timings::mark("brisk started");
    let parsed = match cli_fast::parse(&argv) {
        Some(cli) => Ok(cli),
        None => Cli::try_parse_from(&argv),
    };
    let cli = match parsed {
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
    if let Err(e) = sealed {
        logging::error(&format!("{e}"));
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
    brisk_container::timings::mark("brisk done");
    if brisk_container::timings::enabled() {
        let rows = brisk_container::timings::report();
        if timings_env.as_deref() == Some("json") {
            eprintln!("{}", brisk_container::timings::json(&rows));
        } else {
            eprint!("{}", brisk_container::timings::table(&rows));
            #[cfg(not(test))]
            eprintln!(
                "heap: {} KiB of the {} KiB arena used",
                HEAP.arena_used() / 1024,
                brisk::heap::ARENA_SIZE / 1024
            );
        }
    }
    std::process::exit(code);
}
