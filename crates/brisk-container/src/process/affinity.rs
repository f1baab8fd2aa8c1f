//! `process.execCPUAffinity` (config.md, Linux Process): the CPUs an
//! `exec` process runs on while the runtime sets it up (`initial`, until
//! it joins the container's cgroup) and after (`final`). Not applicable to
//! the container's init (the spec says so; runc applies it to `exec`
//! only).
//!
//! `initial` is brisk's own affinity around the clone (brisk runs there
//! from just before the clone, the child inherits it and keeps it until
//! it is placed, then brisk takes its own back); `final` is set by the
//! child once the parent has placed it (`P`), before anything else. Without
//! `final` the affinity is left as the kernel makes it at the cgroup move
//! (a cpuset attach resets it), as the spec says.

use std::fmt;
use std::io;

/// A CPU mask of up to 1024 CPUs (glibc's `CPU_SETSIZE`), the layout the
/// kernel's sched_{get,set}affinity take. Copy, allocation-free.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct CpuSet([u64; 16]);

pub use brisk_cgroups::cpulist::MAX_CPUS;

impl CpuSet {
    /// Parses a list in the spec's format: comma-separated CPU numbers
    /// and ranges (`0-3,7`).
    pub fn parse(list: &str) -> Result<CpuSet, String> {
        parse_list(list, "CPU").map(CpuSet)
    }

    /// The calling thread's (`pid` 0) or a process's affinity.
    pub fn of(pid: libc::pid_t) -> io::Result<CpuSet> {
        let mut set = CpuSet([0; 16]);
        // SAFETY: the kernel writes at most the given size into the mask.
        let r = unsafe {
            libc::syscall(
                libc::SYS_sched_getaffinity,
                pid,
                std::mem::size_of::<[u64; 16]>(),
                set.0.as_mut_ptr(),
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(set)
    }

    /// sched_setaffinity(pid, self): the calling thread with 0. The
    /// kernel keeps the CPUs that are online and allowed by the cpuset;
    /// none of them is EINVAL. Allocation-free (the init calls it).
    pub fn apply(&self, pid: libc::pid_t) -> io::Result<()> {
        // SAFETY: the mask is a valid buffer of the given size.
        let r = unsafe {
            libc::syscall(
                libc::SYS_sched_setaffinity,
                pid,
                std::mem::size_of::<[u64; 16]>(),
                self.0.as_ptr(),
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    fn has(&self, c: usize) -> bool {
        self.0[c / 64] & (1 << (c % 64)) != 0
    }
}

/// The list format's parser lives with the cgroup code, whose
/// `cpu.cpus`/`cpu.mems` the systemd driver turns into masks too.
pub use brisk_cgroups::cpulist::parse_list;

/// The list format again (`0-1,3`).
impl fmt::Display for CpuSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        let mut c = 0;
        while c < MAX_CPUS {
            if !self.has(c) {
                c += 1;
                continue;
            }
            let start = c;
            while c + 1 < MAX_CPUS && self.has(c + 1) {
                c += 1;
            }
            if !first {
                f.write_str(",")?;
            }
            first = false;
            if start == c {
                write!(f, "{c}")?;
            } else {
                write!(f, "{start}-{c}")?;
            }
            c += 1;
        }
        Ok(())
    }
}

impl fmt::Debug for CpuSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CpuSet({self})")
    }
}

/// `process.execCPUAffinity` parsed: (initial, final), each None when
/// absent (the spec: an omitted or empty `final` leaves the affinity to
/// the kernel; oci-spec's parser refuses an empty string already).
pub fn plan(
    a: Option<&oci_spec::runtime::ExecCPUAffinity>,
) -> crate::Result<(Option<CpuSet>, Option<CpuSet>)> {
    let Some(a) = a else {
        return Ok((None, None));
    };
    let one = |field: &str, v: Option<&str>| {
        v.filter(|s| !s.trim().is_empty())
            .map(|s| {
                CpuSet::parse(s).map_err(|why| {
                    crate::Error::invalid(format!("process.execCPUAffinity.{field}"), why)
                })
            })
            .transpose()
    };
    Ok((
        one("initial", a.initial().as_deref())?,
        one("final", a.cpu_affinity_final().as_deref())?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists() {
        let s = CpuSet::parse("0-3,7").unwrap();
        assert_eq!(s.to_string(), "0-3,7");
        assert_eq!(CpuSet::parse(" 1 ").unwrap().to_string(), "1");
        assert_eq!(CpuSet::parse("1,0").unwrap().to_string(), "0-1");
        assert_eq!(CpuSet::parse("1023").unwrap().to_string(), "1023");
        assert_eq!(CpuSet::parse("62-65").unwrap().to_string(), "62-65");
        for bad in ["", "x", "3-1", "1024", "0-", "-1", "1,,2"] {
            assert!(CpuSet::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn errors_name_the_field() {
        let a: oci_spec::runtime::ExecCPUAffinity =
            serde_json::from_value(serde_json::json!({"initial": "0", "final": "9999"})).unwrap();
        let e = plan(Some(&a)).unwrap_err().to_string();
        assert!(e.contains("process.execCPUAffinity.final"), "{e}");
        let a: oci_spec::runtime::ExecCPUAffinity =
            serde_json::from_value(serde_json::json!({"initial": "1"})).unwrap();
        let (i, f) = plan(Some(&a)).unwrap();
        assert_eq!(i.map(|s| s.to_string()).as_deref(), Some("1"));
        assert!(f.is_none());
    }

    #[test]
    fn own_affinity_round_trips() {
        let mine = CpuSet::of(0).unwrap();
        mine.apply(0).unwrap();
        assert_eq!(CpuSet::of(0).unwrap(), mine);
    }
}
