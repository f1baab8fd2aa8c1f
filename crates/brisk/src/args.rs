//! What the commands make of their flags' values, before anything is
//! touched: sizes, durations, `update`'s resources. Pure, so the fuzz
//! target `cli` and its replay test drive it with clap's parse.

use anyhow::{bail, Context, Result};
use oci_spec::runtime::LinuxResources;
use serde_json::{json, Value};

use crate::cli::UpdateArgs;

/// runc's units: bytes, or a number with b, k, m, g, t (powers of 1024),
/// and -1 for unlimited.
pub fn parse_bytes(flag: &str, s: &str) -> Result<i64> {
    let t = s.trim().to_ascii_lowercase();
    if t == "-1" {
        return Ok(-1);
    }
    let t = t
        .strip_suffix('b')
        .filter(|r| !r.is_empty() && !r.ends_with(|c: char| c.is_ascii_digit()))
        .unwrap_or(&t);
    let t = t.strip_suffix('i').unwrap_or(t);
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1i64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        Some('t') => (&t[..t.len() - 1], 1 << 40),
        Some('b') => (&t[..t.len() - 1], 1),
        _ => (t, 1),
    };
    let n: f64 = num
        .trim()
        .parse()
        .with_context(|| format!("--{flag}: invalid size {s:?}"))?;
    if n < 0.0 {
        bail!("--{flag}: invalid size {s:?}");
    }
    Ok((n * mult as f64) as i64)
}

/// A Go duration: 5s, 500ms, 1m30s, 2h, 1.5s.
pub fn parse_duration(s: &str) -> Result<std::time::Duration> {
    let mut total = 0f64;
    let mut rest = s.trim();
    if rest.is_empty() {
        bail!("invalid duration {s:?}");
    }
    while !rest.is_empty() {
        let end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .with_context(|| format!("invalid duration {s:?}: missing unit"))?;
        let n: f64 = rest[..end]
            .parse()
            .with_context(|| format!("invalid duration {s:?}"))?;
        rest = &rest[end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let secs = match &rest[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            u => bail!("invalid duration {s:?}: unknown unit {u:?}"),
        };
        total += n * secs;
        rest = &rest[unit_end..];
    }
    if total <= 0.0 {
        bail!("duration interval must be greater than 0");
    }
    // from_secs_f64 panics past u64::MAX seconds ("99999999999999999999h").
    std::time::Duration::try_from_secs_f64(total)
        .map_err(|_| anyhow::anyhow!("invalid duration {s:?}: too long"))
}

/// `update`: each flag over `r` (the resources file, or `{}`), then the
/// whole as OCI `linux.resources`.
pub fn update_resources(a: &UpdateArgs, mut r: Value) -> Result<LinuxResources> {
    // `null` is no resources, as for runc's JSON decoding. Indexing an
    // array or a scalar by key (below) would panic.
    if r.is_null() {
        r = json!({});
    }
    if !r.is_object() {
        bail!("linux.resources: expected a JSON object, got {r}");
    }
    let mut set = |section: &str, key: &str, v: Value| {
        if !r[section].is_object() {
            r[section] = json!({});
        }
        r[section][key] = v;
    };
    if let Some(v) = a.blkio_weight {
        set("blockIO", "weight", v.into());
    }
    if let Some(v) = a.cpu_period {
        set("cpu", "period", v.into());
    }
    if let Some(v) = a.cpu_quota {
        set("cpu", "quota", v.into());
    }
    if let Some(v) = a.cpu_burst {
        set("cpu", "burst", v.into());
    }
    if let Some(v) = a.cpu_share {
        set("cpu", "shares", v.into());
    }
    if let Some(v) = a.cpu_rt_period {
        set("cpu", "realtimePeriod", v.into());
    }
    if let Some(v) = a.cpu_rt_runtime {
        set("cpu", "realtimeRuntime", v.into());
    }
    if let Some(v) = a.cpu_idle {
        set("cpu", "idle", v.into());
    }
    if let Some(v) = &a.cpuset_cpus {
        set("cpu", "cpus", v.clone().into());
    }
    if let Some(v) = &a.cpuset_mems {
        set("cpu", "mems", v.clone().into());
    }
    for (flag, key, v) in [
        ("memory", "limit", &a.memory),
        ("memory-reservation", "reservation", &a.memory_reservation),
        ("memory-swap", "swap", &a.memory_swap),
        ("kernel-memory", "kernel", &a.kernel_memory),
        ("kernel-memory-tcp", "kernelTCP", &a.kernel_memory_tcp),
    ] {
        if let Some(v) = v {
            set("memory", key, parse_bytes(flag, v)?.into());
        }
    }
    if let Some(v) = a.pids_limit {
        set("pids", "limit", v.into());
    }
    serde_json::from_value(r).context("linux.resources")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_like_runc() {
        assert_eq!(parse_bytes("memory", "1024").unwrap(), 1024);
        assert_eq!(parse_bytes("memory", "32m").unwrap(), 32 << 20);
        assert_eq!(parse_bytes("memory", "1G").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("memory", "512kb").unwrap(), 512 << 10);
        assert_eq!(parse_bytes("memory", "1.5g").unwrap(), 3 << 29);
        assert_eq!(parse_bytes("memory", "-1").unwrap(), -1);
        assert!(parse_bytes("memory", "lots").is_err());
        assert!(parse_bytes("memory", "-5m").is_err());
    }

    #[test]
    fn go_durations() {
        use std::time::Duration;
        assert_eq!(parse_duration("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("100ms").unwrap(), Duration::from_millis(100));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("3x").is_err());
    }

    #[test]
    fn update_resources_that_are_not_an_object_are_an_error_not_a_panic() {
        // A panic before (fuzz/regressions/cli/update-stdin-not-an-object).
        let a = UpdateArgs {
            cpu_period: Some(5),
            ..UpdateArgs::default()
        };
        for r in [json!([]), json!(1), json!("x"), json!(true)] {
            let err = update_resources(&a, r.clone()).unwrap_err().to_string();
            assert!(err.contains("expected a JSON object"), "{r}: {err}");
        }
        let ok = update_resources(&a, json!({"cpu": {"shares": 2}})).unwrap();
        let cpu = ok.cpu().as_ref().unwrap();
        assert_eq!((cpu.period(), cpu.shares()), (Some(5), Some(2)));
        let from_null = update_resources(&a, json!(null)).unwrap();
        assert_eq!(from_null.cpu().as_ref().unwrap().period(), Some(5));
    }

    #[test]
    fn a_duration_too_long_is_an_error_not_a_panic() {
        // A panic before (fuzz/regressions/cli/events-interval-overflows-duration).
        let err = parse_duration("99999999999999999999h").unwrap_err();
        assert!(err.to_string().contains("too long"), "{err}");
    }
}
