//! `--timings`: a CLOCK_MONOTONIC timestamp at each phase boundary, in brisk
//! and in the container's init, printed at the end of the command. The
//! clock is system-wide, so the init's marks (sent with its ready message)
//! line up with brisk's.
//!
//! Recording costs a vDSO clock read and, in brisk, a push onto a small
//! vector; nothing is recorded unless enabled. The init records into a
//! fixed array of atomics (its own copy of this process's memory, no
//! allocation) and sends the marks with `R`.
//!
//! The same marks are the kill points of fault injection: with
//! `BRISK_FAULT=<phase>` (read once, in `main`) brisk sends itself SIGKILL
//! when it reaches the mark of that name, so a test can check what a crash
//! at each phase leaves behind. Unset, a mark is still one relaxed load.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Mutex, OnceLock};

/// Bit set of what `mark` does: record (`--timings`), and/or check the
/// fault phase. Zero: nothing, after a single load.
static ACTIVE: AtomicU8 = AtomicU8::new(0);
const RECORD: u8 = 1;
const FAULT: u8 = 2;
static ENABLED: AtomicBool = AtomicBool::new(false);
static MARKS: Mutex<Vec<(&'static str, u64)>> = Mutex::new(Vec::new());
static FAULT_PHASE: OnceLock<String> = OnceLock::new();

/// The environment variable naming the phase at which brisk kills itself.
pub const FAULT_ENV: &str = "BRISK_FAULT";

/// The init's phases, in order (the index of each mark in the `R` message).
pub const INIT_PHASES: [&str; 8] = [
    "init: started",
    "init: namespaces entered",
    "init: mounts done",
    "init: pivot_root done",
    "init: masked/read-only paths done",
    "init: user and capabilities set",
    "init: seccomp loaded",
    "init: ready",
];

pub const INIT_STARTED: usize = 0;
pub const INIT_NAMESPACES: usize = 1;
pub const INIT_MOUNTS: usize = 2;
pub const INIT_PIVOT: usize = 3;
pub const INIT_FINISHED: usize = 4;
pub const INIT_IDENTITY: usize = 5;
pub const INIT_SECCOMP: usize = 6;
pub const INIT_READY: usize = 7;

static INIT_MARKS: [AtomicU64; 8] = [const { AtomicU64::new(0) }; 8];

pub fn enable() {
    ENABLED.store(true, Ordering::Relaxed);
    ACTIVE.fetch_or(RECORD, Ordering::Relaxed);
}

/// Fault injection (a debug hook for tests): brisk raises SIGKILL on
/// itself at the first `mark(phase)`. Called once, from `main`, with the
/// value of `BRISK_FAULT`.
pub fn arm_fault(phase: String) {
    if FAULT_PHASE.set(phase).is_ok() {
        ACTIVE.fetch_or(FAULT, Ordering::Relaxed);
    }
}

pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Nanoseconds of CLOCK_MONOTONIC.
pub fn now_ns() -> u64 {
    // SAFETY: timespec is plain data; clock_gettime fills it.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: a valid clock id and timespec pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Records a phase boundary of brisk itself.
pub fn mark(phase: &'static str) {
    let active = ACTIVE.load(Ordering::Relaxed);
    if active == 0 {
        return;
    }
    if active & RECORD != 0 {
        if let Ok(mut m) = MARKS.lock() {
            m.push((phase, now_ns()));
        }
    }
    if active & FAULT != 0 && FAULT_PHASE.get().is_some_and(|f| f == phase) {
        // SAFETY: signals this process; SIGKILL cannot be caught, so this
        // does not return.
        unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
    }
}

/// In the init: records phase `i` (allocation-free).
pub fn mark_init(i: usize) {
    if enabled() {
        if let Some(slot) = INIT_MARKS.get(i) {
            slot.store(now_ns(), Ordering::Relaxed);
        }
    }
}

/// In the init: the marks as bytes, for the ready message.
pub fn init_marks_bytes() -> [u8; 64] {
    let mut out = [0u8; 64];
    for (i, slot) in INIT_MARKS.iter().enumerate() {
        out[i * 8..i * 8 + 8].copy_from_slice(&slot.load(Ordering::Relaxed).to_le_bytes());
    }
    out
}

/// In brisk: takes the init's marks from the ready message's payload.
pub fn record_init_marks(payload: &[u8]) {
    if !enabled() {
        return;
    }
    for (i, name) in INIT_PHASES.iter().enumerate() {
        let Some(b) = payload.get(i * 8..i * 8 + 8) else {
            break;
        };
        let mut v = [0u8; 8];
        v.copy_from_slice(b);
        let t = u64::from_le_bytes(v);
        if t != 0 {
            if let Ok(mut m) = MARKS.lock() {
                m.push((name, t));
            }
        }
    }
}

/// Every mark, sorted by time: (phase, ns since the first mark, ns since
/// the previous one).
pub fn report() -> Vec<(&'static str, u64, u64)> {
    let mut marks = MARKS.lock().map(|m| m.clone()).unwrap_or_default();
    marks.sort_by_key(|&(_, t)| t);
    let Some(&(_, first)) = marks.first() else {
        return Vec::new();
    };
    let mut prev = first;
    marks
        .into_iter()
        .map(|(name, t)| {
            let row = (name, t - first, t - prev);
            prev = t;
            row
        })
        .collect()
}

/// The report as a table (milliseconds).
pub fn table(rows: &[(&'static str, u64, u64)]) -> String {
    let width = rows.iter().map(|r| r.0.len()).max().unwrap_or(5).max(5);
    let mut out = format!("{:<width$}  {:>9}  {:>9}\n", "phase", "at ms", "+ms");
    for (name, at, delta) in rows {
        out.push_str(&format!(
            "{name:<width$}  {:>9.3}  {:>9.3}\n",
            *at as f64 / 1e6,
            *delta as f64 / 1e6
        ));
    }
    out
}

/// The report as one JSON object: {"phases": [{"phase", "at_us", "delta_us"}]}.
pub fn json(rows: &[(&'static str, u64, u64)]) -> String {
    let phases: Vec<serde_json::Value> = rows
        .iter()
        .map(|(name, at, delta)| {
            serde_json::json!({"phase": name, "at_us": at / 1000, "delta_us": delta / 1000})
        })
        .collect();
    serde_json::json!({ "phases": phases }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_sorted_and_relative() {
        let rows = {
            let mut v = vec![("b", 30u64), ("a", 10), ("c", 35)];
            v.sort_by_key(|&(_, t)| t);
            let first = v[0].1;
            let mut prev = first;
            v.into_iter()
                .map(|(n, t)| {
                    let r = (n, t - first, t - prev);
                    prev = t;
                    r
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(rows, vec![("a", 0, 0), ("b", 20, 20), ("c", 25, 5)]);
        let t = table(&rows);
        assert!(t.lines().count() == 4 && t.contains("phase"));
        let j: serde_json::Value = serde_json::from_str(&json(&rows)).unwrap();
        assert_eq!(j["phases"][1]["phase"], "b");
    }

    #[test]
    fn init_marks_round_trip() {
        enable();
        mark_init(INIT_MOUNTS);
        let bytes = init_marks_bytes();
        let t = u64::from_le_bytes(bytes[16..24].try_into().unwrap());
        assert!(t > 0);
        assert_eq!(u64::from_le_bytes(bytes[0..8].try_into().unwrap()), 0);
    }
}
