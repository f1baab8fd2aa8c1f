//! Signal names and numbers as `kill` accepts them: `KILL`, `SIGKILL`,
//! `kill`, `9` (names case-insensitive, `SIG` optional), like runc.

use crate::error::{Error, Result};

/// The signals `run` forwards to the container, blocked before the clone so
/// none is lost between the clone and the wait loop (SIGCHLD included).
pub const FORWARDED: [libc::c_int; 11] = [
    libc::SIGHUP,
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGTERM,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGWINCH,
    libc::SIGCONT,
    libc::SIGTSTP,
    libc::SIGPIPE,
    libc::SIGALRM,
];

/// A signal set holding `signals`.
pub fn sigset(signals: &[libc::c_int]) -> libc::sigset_t {
    // SAFETY: sigset_t is plain data; sigemptyset/sigaddset initialise it.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in signals {
            libc::sigaddset(&mut set, *s);
        }
        set
    }
}

/// The forwarded signals and SIGCHLD: what `run` blocks and waits for.
pub fn forwarded_set() -> libc::sigset_t {
    let mut set = sigset(&FORWARDED);
    // SAFETY: set was initialised by sigset.
    unsafe { libc::sigaddset(&mut set, libc::SIGCHLD) };
    set
}

const SIGNALS: [(&str, libc::c_int); 31] = [
    ("HUP", libc::SIGHUP),
    ("INT", libc::SIGINT),
    ("QUIT", libc::SIGQUIT),
    ("ILL", libc::SIGILL),
    ("TRAP", libc::SIGTRAP),
    ("ABRT", libc::SIGABRT),
    ("IOT", libc::SIGIOT),
    ("BUS", libc::SIGBUS),
    ("FPE", libc::SIGFPE),
    ("KILL", libc::SIGKILL),
    ("USR1", libc::SIGUSR1),
    ("SEGV", libc::SIGSEGV),
    ("USR2", libc::SIGUSR2),
    ("PIPE", libc::SIGPIPE),
    ("ALRM", libc::SIGALRM),
    ("TERM", libc::SIGTERM),
    ("STKFLT", libc::SIGSTKFLT),
    ("CHLD", libc::SIGCHLD),
    ("CONT", libc::SIGCONT),
    ("STOP", libc::SIGSTOP),
    ("TSTP", libc::SIGTSTP),
    ("TTIN", libc::SIGTTIN),
    ("TTOU", libc::SIGTTOU),
    ("URG", libc::SIGURG),
    ("XCPU", libc::SIGXCPU),
    ("XFSZ", libc::SIGXFSZ),
    ("VTALRM", libc::SIGVTALRM),
    ("PROF", libc::SIGPROF),
    ("WINCH", libc::SIGWINCH),
    ("IO", libc::SIGIO),
    ("SYS", libc::SIGSYS),
];

/// Parses a signal given by name or number.
pub fn parse(s: &str) -> Result<libc::c_int> {
    if let Ok(n) = s.parse::<libc::c_int>() {
        // SIGRTMAX is 64 on Linux; 0 only checks that the process exists.
        if (0..=64).contains(&n) {
            return Ok(n);
        }
        return Err(Error::UnknownSignal(s.to_string()));
    }
    let upper = s.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Some(&(_, n)) = SIGNALS.iter().find(|(nm, _)| *nm == name) {
        return Ok(n);
    }
    // RTMIN+N and RTMAX-N: N is digits only (no sign of its own, so
    // RTMAX--5 is not RTMAX+5), and the sum stays in RTMIN..=RTMAX
    // (checked: RTMIN+2147483647 must not wrap).
    let offset = |rt: &str, sign: char| -> Option<libc::c_int> {
        if rt.is_empty() {
            return Some(0);
        }
        let digits = rt.strip_prefix(sign)?;
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok()
    };
    let in_range = |n: &libc::c_int| (libc::SIGRTMIN()..=libc::SIGRTMAX()).contains(n);
    if let Some(rt) = name.strip_prefix("RTMIN") {
        if let Some(n) = offset(rt, '+')
            .and_then(|o| libc::SIGRTMIN().checked_add(o))
            .filter(in_range)
        {
            return Ok(n);
        }
    }
    if let Some(rt) = name.strip_prefix("RTMAX") {
        if let Some(n) = offset(rt, '-')
            .and_then(|o| libc::SIGRTMAX().checked_sub(o))
            .filter(in_range)
        {
            return Ok(n);
        }
    }
    Err(Error::UnknownSignal(s.to_string()))
}

/// The kernel's `struct sigaction` (glibc's wrapper refuses signals 32
/// and 33, which it keeps for itself, so the raw call is used). x86_64 and
/// arm64 both have `sa_restorer` (arm64 defines SA_RESTORER for its
/// AArch32 compat tasks) before a 64-bit mask: one layout. The calls here
/// only read `handler` and write zero restorer and mask, so even a
/// layout without `sa_restorer` would not change what they do.
#[repr(C)]
struct KernelSigaction {
    handler: usize,
    flags: u64,
    restorer: usize,
    mask: u64,
}

fn rt_sigaction(
    sig: libc::c_int,
    new: Option<&KernelSigaction>,
    old: Option<&mut KernelSigaction>,
) -> bool {
    // SAFETY: valid (or null) kernel sigaction pointers and the kernel's
    // sigset size.
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigaction,
            sig,
            new.map_or(std::ptr::null(), |n| n as *const KernelSigaction),
            old.map_or(std::ptr::null_mut(), |o| o as *mut KernelSigaction),
            8usize,
        ) == 0
    }
}

/// The signals this process ignores, bit `n - 1` for signal `n`. Ignored
/// signals are the only dispositions `execve` keeps: the parent asks while
/// the init sets the container up, and the init resets just those.
pub fn ignored_set() -> u64 {
    let mut set = 0;
    for sig in 1..=64 {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        let mut old = KernelSigaction {
            handler: 0,
            flags: 0,
            restorer: 0,
            mask: 0,
        };
        if rt_sigaction(sig, None, Some(&mut old)) && old.handler == libc::SIG_IGN {
            set |= 1 << (sig - 1);
        }
    }
    set
}

/// Resets each signal of `set` (as [`ignored_set`] encodes it) to its
/// default action. No allocation: runs in the init before `execve`.
pub fn reset_to_default(set: u64) {
    let dfl = KernelSigaction {
        handler: libc::SIG_DFL,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    for sig in 1..=64 {
        if set & (1 << (sig - 1)) != 0 {
            rt_sigaction(sig, Some(&dfl), None);
        }
    }
}

/// Every signal whose action can be set ([`ignored_set`]'s encoding): all
/// but SIGKILL and SIGSTOP.
pub const SETTABLE: u64 = !((1 << (libc::SIGKILL - 1)) | (1 << (libc::SIGSTOP - 1)));

/// For a child of brisk about to exec a program on the host (a hook, `ps`):
/// nothing blocked and every action the default, as runc's hooks start.
/// `execve` keeps the mask and the ignored signals, and brisk's are not the
/// program's: `create` and `run` block the forwarded signals and SIGCHLD
/// (a hook's `timeout` would never fire and SIGTERM would not end it),
/// brisk ignores SIGPIPE, and its caller may have ignored others.
/// Handlers need nothing (`execve` resets them); setting them to the
/// default here is harmless in a child that only execs.
///
/// No allocation, async-signal-safe: runs between fork and `execve`.
pub fn reset_for_exec() {
    reset_to_default(SETTABLE);
    // SAFETY: an initialised empty set; the child is single-threaded.
    unsafe {
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        for s in ["KILL", "SIGKILL", "kill", "sigkill", "9"] {
            assert_eq!(parse(s).unwrap(), libc::SIGKILL, "{s}");
        }
        assert_eq!(parse("Term").unwrap(), libc::SIGTERM);
        assert_eq!(parse("hup").unwrap(), libc::SIGHUP);
        assert_eq!(parse("0").unwrap(), 0);
        assert_eq!(parse("SIGRTMIN+1").unwrap(), libc::SIGRTMIN() + 1);
        assert_eq!(parse("RTMAX").unwrap(), libc::SIGRTMAX());
    }

    /// `KernelSigaction` as the kernel has it (on arm64 as on x86_64): an
    /// ignored signal is seen as ignored, and reset to the default.
    #[test]
    fn an_ignored_signal_is_seen_and_reset() {
        let bit = 1u64 << (libc::SIGURG - 1);
        // SAFETY: SIG_IGN runs no handler; SIGURG is ignored by default
        // too, so no other test can tell.
        unsafe { libc::signal(libc::SIGURG, libc::SIG_IGN) };
        assert_ne!(ignored_set() & bit, 0, "SIGURG ignored");
        reset_to_default(bit);
        assert_eq!(ignored_set() & bit, 0, "SIGURG reset");
        // SAFETY: sigaction is plain data; the C library fills it.
        let handler = unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            libc::sigaction(libc::SIGURG, std::ptr::null(), &mut old);
            old.sa_sigaction
        };
        assert_eq!(handler, libc::SIG_DFL);
    }

    #[test]
    fn unknown_signals() {
        for s in ["FOO", "SIGFOO", "99", "-9", "", "RTMIN+100"] {
            assert!(parse(s).is_err(), "{s}");
        }
    }

    #[test]
    fn realtime_offsets_are_unsigned_and_do_not_overflow() {
        // Panics (debug) or wrapped to a bogus signal (release) before:
        // fuzz/regressions/cli/kill-rt*.
        for s in [
            "SIGRTMIN+2147483647",
            "RTMAX--2147483648",
            "RTMAX--5",
            "RTMIN+-1",
            "RTMIN++1",
            "RTMIN+",
            "RTMAX-",
            "RTMAX-99",
        ] {
            assert!(parse(s).is_err(), "{s}");
        }
        assert_eq!(parse("RTMIN+0").unwrap(), libc::SIGRTMIN());
        assert_eq!(parse("SIGRTMAX-1").unwrap(), libc::SIGRTMAX() - 1);
        let span = libc::SIGRTMAX() - libc::SIGRTMIN();
        assert_eq!(parse(&format!("RTMAX-{span}")).unwrap(), libc::SIGRTMIN());
    }
}
