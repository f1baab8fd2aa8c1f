//! `linux.memoryPolicy` (config-linux.md, Memory policy): the NUMA memory
//! policy of the container's processes, `set_mempolicy(2)` with the mode,
//! its flags and the node mask. Planned in the parent (mode and flags to
//! numbers, the node list to a mask, the combinations set_mempolicy(2)
//! refuses named by field); the init (and an `exec` process) calls it
//! once, allocation-free, after the scheduler settings and before the
//! identity change and seccomp (a profile may forbid the call). The
//! policy is the task's and survives `execve`.

use std::ffi::CString;
use std::io;

use oci_spec::runtime::{LinuxMemoryPolicy, MemoryPolicyFlagType, MemoryPolicyModeType, Spec};

use crate::error::{Error, Result};
use crate::process::affinity::parse_list;

// linux/mempolicy.h.
const MPOL_DEFAULT: libc::c_int = 0;
const MPOL_PREFERRED: libc::c_int = 1;
const MPOL_BIND: libc::c_int = 2;
const MPOL_INTERLEAVE: libc::c_int = 3;
const MPOL_LOCAL: libc::c_int = 4;
const MPOL_PREFERRED_MANY: libc::c_int = 5;
const MPOL_WEIGHTED_INTERLEAVE: libc::c_int = 6;
const MPOL_F_NUMA_BALANCING: libc::c_int = 1 << 13;
const MPOL_F_RELATIVE_NODES: libc::c_int = 1 << 14;
const MPOL_F_STATIC_NODES: libc::c_int = 1 << 15;

/// The modes and flags `linux.memoryPolicy` accepts (`brisk features`).
pub const MODES: [&str; 7] = [
    "MPOL_DEFAULT",
    "MPOL_BIND",
    "MPOL_INTERLEAVE",
    "MPOL_WEIGHTED_INTERLEAVE",
    "MPOL_PREFERRED",
    "MPOL_PREFERRED_MANY",
    "MPOL_LOCAL",
];
pub const FLAGS: [&str; 3] = [
    "MPOL_F_NUMA_BALANCING",
    "MPOL_F_RELATIVE_NODES",
    "MPOL_F_STATIC_NODES",
];

/// set_mempolicy(2)'s arguments, ready for the init.
#[derive(Debug)]
pub struct Plan {
    /// The mode with its flags.
    mode: libc::c_int,
    /// Nodes 0..1023; none for `MPOL_DEFAULT`, `MPOL_LOCAL` and an empty
    /// `MPOL_PREFERRED`.
    nodes: Option<[u64; 16]>,
    /// What the policy is, for the init's error (`linux.memoryPolicy
    /// MPOL_BIND nodes 0-1`).
    pub what: CString,
}

/// Checks `linux.memoryPolicy` and turns it into set_mempolicy(2)'s
/// arguments; None when the config has none.
pub fn plan(spec: &Spec) -> Result<Option<Plan>> {
    let Some(p) = spec
        .linux()
        .as_ref()
        .and_then(|l| l.memory_policy().as_ref())
    else {
        return Ok(None);
    };
    plan_of(p).map(Some)
}

fn plan_of(p: &LinuxMemoryPolicy) -> Result<Plan> {
    use MemoryPolicyModeType as M;
    let (mode, needs_nodes, takes_nodes) = match p.mode() {
        M::MpolDefault => (MPOL_DEFAULT, false, false),
        M::MpolLocal => (MPOL_LOCAL, false, false),
        M::MpolPreferred => (MPOL_PREFERRED, false, true),
        M::MpolBind => (MPOL_BIND, true, true),
        M::MpolInterleave => (MPOL_INTERLEAVE, true, true),
        M::MpolWeightedInterleave => (MPOL_WEIGHTED_INTERLEAVE, true, true),
        M::MpolPreferredMany => (MPOL_PREFERRED_MANY, true, true),
    };
    let nodes = p
        .nodes()
        .as_deref()
        .filter(|n| !n.trim().is_empty())
        .map(|n| parse_list(n, "node"))
        .transpose()
        .map_err(|why| Error::invalid("linux.memoryPolicy.nodes", why))?;
    let mode_name = p.mode().to_string();
    match (&nodes, needs_nodes, takes_nodes) {
        (None, true, _) => {
            return Err(Error::invalid(
                "linux.memoryPolicy.nodes",
                format!("{mode_name} needs at least one node"),
            ))
        }
        (Some(_), _, false) => {
            return Err(Error::invalid(
                "linux.memoryPolicy.nodes",
                format!("{mode_name} takes no nodes"),
            ))
        }
        _ => {}
    }
    let mut flags = 0;
    for (i, f) in p.flags().iter().flatten().enumerate() {
        flags |= match f {
            MemoryPolicyFlagType::MpolFNumaBalancing => {
                if !matches!(mode, MPOL_BIND | MPOL_PREFERRED_MANY) {
                    return Err(Error::invalid(
                        format!("linux.memoryPolicy.flags[{i}]"),
                        format!("MPOL_F_NUMA_BALANCING goes with MPOL_BIND or MPOL_PREFERRED_MANY, not {mode_name}"),
                    ));
                }
                MPOL_F_NUMA_BALANCING
            }
            MemoryPolicyFlagType::MpolFRelativeNodes => MPOL_F_RELATIVE_NODES,
            MemoryPolicyFlagType::MpolFStaticNodes => MPOL_F_STATIC_NODES,
        };
    }
    if flags & MPOL_F_RELATIVE_NODES != 0 && flags & MPOL_F_STATIC_NODES != 0 {
        return Err(Error::invalid(
            "linux.memoryPolicy.flags",
            "MPOL_F_RELATIVE_NODES and MPOL_F_STATIC_NODES exclude each other",
        ));
    }
    if flags & (MPOL_F_RELATIVE_NODES | MPOL_F_STATIC_NODES) != 0 && !takes_nodes {
        return Err(Error::invalid(
            "linux.memoryPolicy.flags",
            format!("{mode_name} takes no node flags"),
        ));
    }
    let mut what = format!("linux.memoryPolicy {mode_name}");
    if let Some(n) = p.nodes().as_deref().filter(|n| !n.trim().is_empty()) {
        what.push_str(&format!(" nodes {}", n.trim()));
    }
    for f in p.flags().iter().flatten() {
        what.push_str(&format!(" {f}"));
    }
    Ok(Plan {
        mode: mode | flags,
        nodes,
        what: CString::new(what)
            .map_err(|_| Error::invalid("linux.memoryPolicy", "contains a NUL byte"))?,
    })
}

impl Plan {
    /// set_mempolicy(2) for the calling thread. Allocation-free.
    pub fn apply(&self) -> io::Result<()> {
        let (mask, maxnode) = match &self.nodes {
            // The kernel reads maxnode - 1 bits.
            Some(m) => (m.as_ptr(), 16 * 64 + 1),
            None => (std::ptr::null(), 0),
        };
        // SAFETY: a mask of 1024 bits (or none) and its size in bits + 1,
        // as set_mempolicy(2) reads it.
        let r = unsafe {
            libc::syscall(
                libc::SYS_set_mempolicy,
                self.mode,
                mask,
                maxnode as libc::c_ulong,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(v: serde_json::Value) -> Result<Plan> {
        plan_of(&serde_json::from_value(v).unwrap())
    }

    #[test]
    fn modes_flags_and_nodes() {
        let p = policy(serde_json::json!({"mode": "MPOL_BIND", "nodes": "0-1,3",
            "flags": ["MPOL_F_STATIC_NODES"]}))
        .unwrap();
        assert_eq!(p.mode, MPOL_BIND | MPOL_F_STATIC_NODES);
        assert_eq!(p.nodes.unwrap()[0], 0b1011);
        assert_eq!(
            p.what.to_str().unwrap(),
            "linux.memoryPolicy MPOL_BIND nodes 0-1,3 MPOL_F_STATIC_NODES"
        );
        let p = policy(serde_json::json!({"mode": "MPOL_LOCAL"})).unwrap();
        assert_eq!((p.mode, p.nodes), (MPOL_LOCAL, None));
        let p = policy(serde_json::json!({"mode": "MPOL_PREFERRED"})).unwrap();
        assert_eq!((p.mode, p.nodes), (MPOL_PREFERRED, None));
        let p =
            policy(serde_json::json!({"mode": "MPOL_WEIGHTED_INTERLEAVE", "nodes": "0"})).unwrap();
        assert_eq!(p.mode, MPOL_WEIGHTED_INTERLEAVE);
    }

    #[test]
    fn bad_combinations_name_the_field() {
        for (v, field) in [
            (
                serde_json::json!({"mode": "MPOL_BIND"}),
                "linux.memoryPolicy.nodes",
            ),
            (
                serde_json::json!({"mode": "MPOL_DEFAULT", "nodes": "0"}),
                "linux.memoryPolicy.nodes",
            ),
            (
                serde_json::json!({"mode": "MPOL_BIND", "nodes": "0-x"}),
                "linux.memoryPolicy.nodes",
            ),
            (
                serde_json::json!({"mode": "MPOL_BIND", "nodes": "4096"}),
                "linux.memoryPolicy.nodes",
            ),
            (
                serde_json::json!({"mode": "MPOL_INTERLEAVE", "nodes": "0",
                    "flags": ["MPOL_F_RELATIVE_NODES", "MPOL_F_STATIC_NODES"]}),
                "linux.memoryPolicy.flags",
            ),
            (
                serde_json::json!({"mode": "MPOL_INTERLEAVE", "nodes": "0",
                    "flags": ["MPOL_F_NUMA_BALANCING"]}),
                "linux.memoryPolicy.flags[0]",
            ),
            (
                serde_json::json!({"mode": "MPOL_LOCAL", "flags": ["MPOL_F_STATIC_NODES"]}),
                "linux.memoryPolicy.flags",
            ),
        ] {
            let e = policy(v.clone()).unwrap_err().to_string();
            assert!(e.contains(field), "{v}: {e}");
        }
    }

    #[test]
    fn the_lists_match_the_parser() {
        for m in MODES {
            let v: MemoryPolicyModeType = serde_json::from_value(serde_json::json!(m)).unwrap();
            assert_eq!(v.to_string(), m);
        }
        for f in FLAGS {
            let v: MemoryPolicyFlagType = serde_json::from_value(serde_json::json!(f)).unwrap();
            assert_eq!(v.to_string(), f);
        }
    }
}
