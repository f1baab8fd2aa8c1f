//! `process.capabilities`: names to kernel numbers, and the calls that set
//! the five sets in the init (bounding drop, capset, ambient raise).

use std::io;

use oci_spec::runtime::{Capabilities, Capability, LinuxCapabilities};

use crate::error::{Error, Result};

/// Capability names in kernel-number order (CAP_CHOWN is 0).
pub const NAMES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// The kernel number of a capability.
pub fn number(cap: Capability) -> Option<u32> {
    use Capability as C;
    // A match, not a lookup of the name: this runs for every capability of
    // every set on each start.
    Some(match cap {
        C::Chown => 0,
        C::DacOverride => 1,
        C::DacReadSearch => 2,
        C::Fowner => 3,
        C::Fsetid => 4,
        C::Kill => 5,
        C::Setgid => 6,
        C::Setuid => 7,
        C::Setpcap => 8,
        C::LinuxImmutable => 9,
        C::NetBindService => 10,
        C::NetBroadcast => 11,
        C::NetAdmin => 12,
        C::NetRaw => 13,
        C::IpcLock => 14,
        C::IpcOwner => 15,
        C::SysModule => 16,
        C::SysRawio => 17,
        C::SysChroot => 18,
        C::SysPtrace => 19,
        C::SysPacct => 20,
        C::SysAdmin => 21,
        C::SysBoot => 22,
        C::SysNice => 23,
        C::SysResource => 24,
        C::SysTime => 25,
        C::SysTtyConfig => 26,
        C::Mknod => 27,
        C::Lease => 28,
        C::AuditWrite => 29,
        C::AuditControl => 30,
        C::Setfcap => 31,
        C::MacOverride => 32,
        C::MacAdmin => 33,
        C::Syslog => 34,
        C::WakeAlarm => 35,
        C::BlockSuspend => 36,
        C::AuditRead => 37,
        C::Perfmon => 38,
        C::Bpf => 39,
        C::CheckpointRestore => 40,
    })
}

/// The five sets as bit masks.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CapSets {
    pub bounding: u64,
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
    pub ambient: u64,
    /// The highest capability the running kernel knows (read once, in the
    /// parent).
    pub last_cap: u32,
}

/// The five masks. A capability brisk knows but the running kernel does
/// not (above `last_cap`) cannot be granted: it is left out with a warning
/// (config.md: log a warning, do not fail), since capset would refuse it.
pub fn plan(caps: &LinuxCapabilities, last_cap: u32) -> Result<(CapSets, Vec<String>)> {
    let mut warnings = Vec::new();
    let mut mask = |field: &str, set: &Option<Capabilities>| -> Result<u64> {
        let mut m = 0u64;
        // A HashSet: sorted, so the warnings come in a stable order.
        let mut sorted: Vec<&Capability> = set.iter().flatten().collect();
        sorted.sort_by_key(|c| number(**c));
        for c in sorted {
            let n = number(*c).ok_or_else(|| {
                Error::invalid(
                    format!("process.capabilities.{field}"),
                    format!("unknown capability CAP_{c}"),
                )
            })?;
            if n > last_cap {
                warnings.push(format!(
                    "process.capabilities.{field}: CAP_{c} is not known to the running kernel (last capability {last_cap}), skipped"
                ));
                continue;
            }
            m |= 1 << n;
        }
        Ok(m)
    };
    let sets = CapSets {
        bounding: mask("bounding", caps.bounding())?,
        effective: mask("effective", caps.effective())?,
        permitted: mask("permitted", caps.permitted())?,
        inheritable: mask("inheritable", caps.inheritable())?,
        ambient: mask("ambient", caps.ambient())?,
        last_cap,
    };
    Ok((sets, warnings))
}

/// Highest capability the running kernel knows.
pub fn last_cap() -> u32 {
    // PR_CAPBSET_READ fails with EINVAL past the last capability, and
    // capabilities are numbered without gaps: a binary search (6 calls
    // instead of ~41 on each start).
    let known = |n: u32| {
        // SAFETY: prctl(PR_CAPBSET_READ) takes an integer and reads nothing.
        unsafe { libc::prctl(libc::PR_CAPBSET_READ, n as libc::c_ulong, 0, 0, 0) >= 0 }
    };
    // Invariant: `lo` is known, `hi + 1` is not (or past 63).
    let (mut lo, mut hi) = (0u32, 63u32);
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if known(mid) {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    lo
}

/// Drops from the bounding set everything not in `sets.bounding`. Must run
/// while the process still has CAP_SETPCAP (before the user switch).
pub fn drop_bounding(sets: &CapSets) -> io::Result<()> {
    for n in 0..=sets.last_cap {
        if sets.bounding & (1 << n) == 0 {
            // SAFETY: prctl(PR_CAPBSET_DROP, n) takes integers only.
            if unsafe { libc::prctl(libc::PR_CAPBSET_DROP, n as libc::c_ulong, 0, 0, 0) } < 0 {
                return Err(io::Error::last_os_error());
            }
        }
    }
    Ok(())
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// Sets effective, permitted and inheritable, then raises the ambient set.
pub fn apply(sets: &CapSets) -> io::Result<()> {
    const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;
    let header = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let split = |m: u64| [m as u32, (m >> 32) as u32];
    let (e, p, i) = (
        split(sets.effective),
        split(sets.permitted),
        split(sets.inheritable),
    );
    let data = [
        CapData {
            effective: e[0],
            permitted: p[0],
            inheritable: i[0],
        },
        CapData {
            effective: e[1],
            permitted: p[1],
            inheritable: i[1],
        },
    ];
    // SAFETY: header and data are valid for the v3 ABI (two data elements).
    let ret =
        unsafe { libc::syscall(libc::SYS_capset, &header as *const CapHeader, data.as_ptr()) };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    for n in 0..64u32 {
        if sets.ambient & (1 << n) != 0 {
            // Raising fails unless the capability is also permitted and
            // inheritable; like runc, such an ambient entry is skipped
            // rather than failing the container.
            // SAFETY: prctl with integer arguments.
            unsafe {
                libc::prctl(
                    libc::PR_CAP_AMBIENT,
                    libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong,
                    n as libc::c_ulong,
                    0,
                    0,
                )
            };
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_cap_matches_the_kernel_file() {
        let text = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap").unwrap();
        assert_eq!(last_cap(), text.trim().parse::<u32>().unwrap());
    }

    #[test]
    fn every_name_maps_to_its_number() {
        for (i, name) in NAMES.iter().enumerate() {
            let cap: Capability = serde_json::from_value(serde_json::json!(name)).unwrap();
            assert_eq!(number(cap), Some(i as u32), "{name}");
        }
    }

    #[test]
    fn numbers_match_the_kernel() {
        assert_eq!(number(Capability::Chown), Some(0));
        assert_eq!(number(Capability::Kill), Some(5));
        assert_eq!(number(Capability::NetBindService), Some(10));
        assert_eq!(number(Capability::SysAdmin), Some(21));
        assert_eq!(number(Capability::AuditWrite), Some(29));
        assert_eq!(number(Capability::CheckpointRestore), Some(40));
    }

    #[test]
    fn sets_become_masks() {
        let caps: LinuxCapabilities = serde_json::from_value(serde_json::json!({
            "bounding": ["CAP_KILL", "CAP_CHOWN"],
            "effective": ["CAP_KILL"],
            "ambient": ["CAP_BPF"]
        }))
        .unwrap();
        let (s, warnings) = plan(&caps, 40).unwrap();
        assert_eq!(s.bounding, 0b100001);
        assert_eq!(s.effective, 0b100000);
        assert_eq!(s.ambient, 1 << 39);
        assert_eq!(s.permitted, 0);
        assert!(warnings.is_empty());
    }

    #[test]
    fn capabilities_the_kernel_lacks_are_skipped_with_a_warning() {
        let caps: LinuxCapabilities = serde_json::from_value(serde_json::json!({
            "bounding": ["CAP_KILL", "CAP_BPF", "CAP_CHECKPOINT_RESTORE"],
            "effective": ["CAP_CHECKPOINT_RESTORE"]
        }))
        .unwrap();
        // A kernel whose last capability is CAP_AUDIT_READ (37).
        let (s, warnings) = plan(&caps, 37).unwrap();
        assert_eq!(s.bounding, 1 << 5);
        assert_eq!(s.effective, 0);
        assert_eq!(warnings.len(), 3, "{warnings:?}");
        assert!(
            warnings[0].starts_with("process.capabilities.bounding: CAP_BPF"),
            "{warnings:?}"
        );
        assert!(warnings[2].starts_with("process.capabilities.effective: CAP_CHECKPOINT_RESTORE"));
    }

    #[test]
    fn last_cap_is_the_kernels() {
        let text = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap").unwrap();
        assert_eq!(last_cap(), text.trim().parse::<u32>().unwrap());
    }
}
