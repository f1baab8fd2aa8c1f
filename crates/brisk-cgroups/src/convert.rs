//! cgroup v1 values → cgroup2 files, with the formulas runc uses (so a
//! config means the same on every runtime).

/// `cpu.shares` (2..262144) → `cpu.weight` (1..10000). 0 means unset.
pub fn cpu_shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    let shares = shares.clamp(2, 262_144);
    1 + ((shares - 2) * 9999) / 262_142
}

/// `blkio.weight` (10..1000) → `io.weight` (1..10000). 0 means unset.
pub fn blkio_weight_to_io_weight(weight: u64) -> u64 {
    if weight == 0 {
        return 0;
    }
    let weight = weight.clamp(10, 1000);
    1 + ((weight - 10) * 9999) / 990
}

/// `memory.memsw.limit_in_bytes` (memory + swap) → `memory.swap.max`
/// (swap alone), as runc: -1 is "max"; with no memory limit the swap
/// limit cannot be derived; swap below the memory limit is an error.
pub fn memsw_to_swap_max(swap: i64, limit: Option<i64>) -> Result<String, String> {
    if swap == -1 {
        return Ok("max".into());
    }
    match limit {
        None | Some(0) => Err("a swap limit needs a memory limit on cgroup v2".into()),
        Some(-1) => {
            Err("a swap limit with an unlimited memory limit cannot be set on cgroup v2".into())
        }
        Some(l) if swap < l => Err(format!(
            "swap ({swap}) is memory + swap and must not be below the memory limit ({l})"
        )),
        Some(l) => Ok((swap - l).to_string()),
    }
}

/// A memory value for cgroup2: -1 is "max".
pub fn memory_value(v: i64) -> String {
    if v < 0 {
        "max".into()
    } else {
        v.to_string()
    }
}

/// `cpu.max`: "quota period"; a missing or negative quota is "max".
pub fn cpu_max(quota: Option<i64>, period: Option<u64>) -> String {
    let q = match quota {
        Some(q) if q > 0 => q.to_string(),
        _ => "max".into(),
    };
    match period {
        Some(p) if p > 0 => format!("{q} {p}"),
        _ => q,
    }
}

/// `pids.max`: negative is unlimited; 0 is a limit of no new process.
pub fn pids_max(limit: i64) -> String {
    if limit < 0 {
        "max".into()
    } else {
        limit.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_to_weight() {
        assert_eq!(cpu_shares_to_weight(0), 0);
        assert_eq!(cpu_shares_to_weight(2), 1);
        assert_eq!(cpu_shares_to_weight(1024), 39);
        assert_eq!(cpu_shares_to_weight(262_144), 10_000);
        assert_eq!(cpu_shares_to_weight(1), 1);
    }

    #[test]
    fn blkio_to_io_weight() {
        assert_eq!(blkio_weight_to_io_weight(0), 0);
        assert_eq!(blkio_weight_to_io_weight(10), 1);
        assert_eq!(blkio_weight_to_io_weight(500), 4950);
        assert_eq!(blkio_weight_to_io_weight(1000), 10_000);
    }

    #[test]
    fn swap() {
        assert_eq!(memsw_to_swap_max(-1, None).unwrap(), "max");
        assert_eq!(memsw_to_swap_max(300, Some(100)).unwrap(), "200");
        assert_eq!(memsw_to_swap_max(100, Some(100)).unwrap(), "0");
        assert!(memsw_to_swap_max(50, Some(100)).is_err());
        assert!(memsw_to_swap_max(50, None).is_err());
        assert!(memsw_to_swap_max(50, Some(-1)).is_err());
    }

    #[test]
    fn cpu_max_and_pids() {
        assert_eq!(cpu_max(Some(50_000), Some(100_000)), "50000 100000");
        assert_eq!(cpu_max(None, Some(100_000)), "max 100000");
        assert_eq!(cpu_max(Some(-1), None), "max");
        assert_eq!(pids_max(0), "0");
        assert_eq!(pids_max(-1), "max");
        assert_eq!(memory_value(-1), "max");
        assert_eq!(memory_value(4096), "4096");
    }
}
