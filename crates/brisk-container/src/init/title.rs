//! How a container's init shows in `ps` until it executes the program:
//! `brisk init`, as runc's shows `runc init`, so that an operator tells a
//! created container waiting for `start` from a `brisk create` still at
//! work (a clone of brisk would otherwise carry brisk's whole command
//! line and name).
//!
//! - The name (`comm`, `ps -e`, `/proc/PID/stat`): set in the parent just
//!   before the clone and restored right after, so the init is born with it
//!   (no window in which `state` could read the parent's name) and it
//!   costs the init nothing. `state` reads it to tell a waiting init
//!   (`created`) from a program that runs with a stale exec FIFO beside it
//!   (a `start` killed between its write and its unlink).
//! - The command line (`ps -ef`, `/proc/PID/cmdline`): the init writes
//!   `brisk\0init\0` over the argv strings it inherited, zeroing the rest,
//!   first thing after the clone: a copy into memory it already has, no
//!   allocation and no system call (brisk's main keeps the area's bounds,
//!   `remember_argv`; the strings were copied before any parse).

use std::sync::atomic::{AtomicUsize, Ordering};

/// The name of an init, as `comm` holds it.
pub const NAME: &[u8] = b"brisk init";
const ARGS: &[u8] = b"brisk\0init\0";

static ARGV_START: AtomicUsize = AtomicUsize::new(0);
static ARGV_LEN: AtomicUsize = AtomicUsize::new(0);

/// Records where main's argv strings lie (they are contiguous on the
/// stack, each followed by its NUL; the area ends at the first string that
/// does not follow its predecessor).
///
/// # Safety
/// `argv` must be main's own `argv` with `argc` valid pointers to
/// NUL-terminated strings that live as long as the process and that nobody
/// reads through `argv` after a clone has been made.
pub unsafe fn remember_argv(argc: libc::c_int, argv: *const *const libc::c_char) {
    let n = usize::try_from(argc).unwrap_or(0);
    if n == 0 || argv.is_null() {
        return;
    }
    // SAFETY: argc valid pointers, by the caller's contract.
    let start = unsafe { *argv } as usize;
    let mut end = start;
    for i in 0..n {
        // SAFETY: as above.
        let p = unsafe { *argv.add(i) };
        if p as usize != end {
            break;
        }
        // SAFETY: a NUL-terminated string, by the caller's contract.
        let len = unsafe { libc::strlen(p) };
        end = p as usize + len + 1;
    }
    ARGV_START.store(start, Ordering::Relaxed);
    ARGV_LEN.store(end - start, Ordering::Relaxed);
}

/// In the init, first thing: `brisk init` as its command line.
pub fn set_in_init() {
    let start = ARGV_START.load(Ordering::Relaxed);
    let len = ARGV_LEN.load(Ordering::Relaxed);
    if start == 0 || len == 0 {
        return;
    }
    // SAFETY: [start, start + len) is the argv area remember_argv measured,
    // writable stack memory of this process (the init is a copy of brisk,
    // cloned without CLONE_VM, so the parent's strings are untouched) that
    // nothing reads any more (main copied the arguments).
    let area = unsafe { std::slice::from_raw_parts_mut(start as *mut u8, len) };
    let n = ARGS.len().min(len);
    area[..n].copy_from_slice(&ARGS[..n]);
    area[n..].fill(0);
    // The kernel reads a command line whose last byte is not NUL as one
    // rewritten by setproctitle(3), into the environment.
    area[len - 1] = 0;
}

/// Names the calling thread `brisk init` until the returned name is put
/// back with [`restore_name`]: the parent does this around the clone.
pub fn name_for_clone() -> [u8; 16] {
    let mut old = [0u8; 16];
    let mut name = [0u8; 16];
    name[..NAME.len()].copy_from_slice(NAME);
    // SAFETY: PR_GET_NAME writes at most 16 bytes into `old`; PR_SET_NAME
    // reads a NUL-terminated string of at most 16 bytes.
    unsafe {
        libc::prctl(libc::PR_GET_NAME, old.as_mut_ptr());
        libc::prctl(libc::PR_SET_NAME, name.as_ptr());
    }
    old
}

/// Puts back the name [`name_for_clone`] returned.
pub fn restore_name(old: &[u8; 16]) {
    // SAFETY: `old` is the NUL-terminated name PR_GET_NAME gave.
    unsafe { libc::prctl(libc::PR_SET_NAME, old.as_ptr()) };
}
