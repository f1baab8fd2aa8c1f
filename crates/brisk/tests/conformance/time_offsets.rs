//! config-linux.md, Offset for Time Namespace: a new time namespace whose
//! clocks carry the configured offsets. Observed from the host
//! (/proc/<pid>/timens_offsets, /proc/<pid>/ns/time) and inside
//! (/proc/uptime). The offsets themselves have no MUST: the ids are those
//! of the time namespace.

use serde_json::json;

use crate::common::{ns_of, Env};
use crate::namespaces::{assert_rejected, create, run_sh};
use crate::support::Outcome;
use crate::tests;

tests![
    time_namespace_is_new => ["config-linux.namespaces.2", "config-linux.namespaces.6"],
    offsets_are_written => [],
    boottime_offset_is_seen_inside => [],
    offsets_for_an_unknown_clock_are_an_error => ["config.valid-values.1"],
];

/// Creates and starts the container; returns its pid once it runs
/// `sleep` (the time namespace is entered at exec).
fn started(env: &Env, b: &crate::common::Bundle, id: &str) -> String {
    let pid = create(env, b, id);
    env.brisk(&["start", id]).ok();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default() != "sleep\n" {
        assert!(std::time::Instant::now() < deadline, "{id} never ran sleep");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    pid
}

fn time_namespace_is_new() -> Outcome {
    let env = Env::new("cf-time-new");
    let mut b = env.bundle("b", &["sleep", "30"]);
    b.add_namespace("time", None);
    let pid = started(&env, &b, "t");
    assert_ne!(ns_of(&pid, "time"), ns_of("self", "time"));
    env.brisk(&["delete", "--force", "t"]).ok();
    env.assert_clean();
    Ok(())
}

fn offsets_are_written() -> Outcome {
    let env = Env::new("cf-time-offsets");
    let mut b = env.bundle("b", &["sleep", "30"]);
    b.add_namespace("time", None);
    b.set(
        "/linux/timeOffsets",
        json!({
            "monotonic": {"secs": 3600, "nanosecs": 500},
            "boottime": {"secs": 86400, "nanosecs": 0},
        }),
    );
    let pid = started(&env, &b, "t");
    let text = std::fs::read_to_string(format!("/proc/{pid}/timens_offsets")).unwrap();
    let mut lines: Vec<String> = text
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    lines.sort();
    assert_eq!(lines, ["boottime 86400 0", "monotonic 3600 500"], "{text}");
    env.brisk(&["delete", "--force", "t"]).ok();
    env.assert_clean();
    Ok(())
}

fn boottime_offset_is_seen_inside() -> Outcome {
    let env = Env::new("cf-time-uptime");
    let mut b = env.bundle("b", &[]);
    b.add_namespace("time", None);
    let offset = 10 * 365 * 86400u64;
    b.set(
        "/linux/timeOffsets",
        json!({"boottime": {"secs": offset, "nanosecs": 0}}),
    );
    let out = run_sh(&env, &mut b, "t", "cut -d. -f1 /proc/uptime").ok();
    let uptime: u64 = out.trim().parse().unwrap();
    let host: f64 = std::fs::read_to_string("/proc/uptime")
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        uptime >= offset && uptime <= offset + host as u64 + 5,
        "uptime {uptime} lacks the boottime offset {offset}"
    );
    env.assert_clean();
    Ok(())
}

fn offsets_for_an_unknown_clock_are_an_error() -> Outcome {
    let env = Env::new("cf-time-badclock");
    let mut b = env.bundle("b", &["true"]);
    b.add_namespace("time", None);
    // CLOCK_REALTIME cannot be offset by a time namespace.
    b.set("/linux/timeOffsets", json!({"realtime": {"secs": 10}}));
    assert_rejected(&env, &b, "t", "an offset for the realtime clock");
    Ok(())
}
