//! The validated, canonical form of an OCI `linux.seccomp` section: the
//! spec's rules checked (each error names its JSON path), actions as the
//! kernel's `SECCOMP_RET_*` values, architectures as audit tokens, flags
//! as `SECCOMP_FILTER_FLAG_*` bits. [`Profile::canonical_bytes`] is what
//! the cache key hashes: it holds exactly what changes the compiled
//! program, in one encoding, so two configs that differ only in JSON
//! layout share one cache entry.

use std::path::PathBuf;

use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator,
};

use crate::{Error, Result};

/// `SECCOMP_RET_*` action values (libseccomp's `SCMP_ACT_*` are the same).
pub mod act {
    pub const KILL_PROCESS: u32 = 0x8000_0000;
    pub const KILL_THREAD: u32 = 0x0000_0000;
    pub const TRAP: u32 = 0x0003_0000;
    pub const ERRNO: u32 = 0x0005_0000;
    pub const USER_NOTIF: u32 = 0x7fc0_0000;
    pub const TRACE: u32 = 0x7ff0_0000;
    pub const LOG: u32 = 0x7ffc_0000;
    pub const ALLOW: u32 = 0x7fff_0000;
    /// The action part of a return value (the low 16 bits are data).
    pub const ACTION_FULL: u32 = 0xffff_0000;
}

/// `SECCOMP_FILTER_FLAG_*`.
pub mod flag {
    pub const TSYNC: u32 = 1 << 0;
    pub const LOG: u32 = 1 << 1;
    pub const SPEC_ALLOW: u32 = 1 << 2;
    pub const NEW_LISTENER: u32 = 1 << 3;
    pub const TSYNC_ESRCH: u32 = 1 << 4;
    pub const WAIT_KILLABLE_RECV: u32 = 1 << 5;
}

/// `AUDIT_ARCH_*` of the machine brisk is built for.
#[cfg(target_arch = "x86_64")]
pub const NATIVE_ARCH: u32 = 0xc000_003e;
#[cfg(target_arch = "aarch64")]
pub const NATIVE_ARCH: u32 = 0xc000_00b7;
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
compile_error!("brisk-seccomp: add this architecture's AUDIT_ARCH value");

/// The syscall the init passes the listener fd with: a notify rule on it
/// would block the init forever (runc refuses notify on `write` for the
/// same reason).
const NEEDED_BY_THE_INIT: &[&str] = &["sendmsg"];

/// One argument comparison (`struct scmp_arg_cmp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arg {
    pub index: u32,
    /// `enum scmp_compare` (NE = 1 … MASKED_EQ = 7).
    pub op: u32,
    pub a: u64,
    pub b: u64,
}

/// One `syscalls[]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Its position in `linux.seccomp.syscalls` (for error messages).
    pub position: usize,
    pub names: Vec<String>,
    pub action: u32,
    pub args: Vec<Arg>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub default_action: u32,
    /// Audit tokens, in config order, without duplicates.
    pub arches: Vec<u32>,
    /// `SECCOMP_FILTER_FLAG_*` for seccomp(2), `NEW_LISTENER` included
    /// when a rule notifies. Not part of the program.
    pub flags: u32,
    /// Rules whose action differs from the default (the others change
    /// nothing; libseccomp would refuse them).
    pub rules: Vec<Rule>,
    pub listener_path: Option<PathBuf>,
    pub listener_metadata: Option<String>,
}

const FIELD: &str = "linux.seccomp";

fn action_value(
    action: LinuxSeccompAction,
    errno_ret: Option<u32>,
    errno_field: &dyn Fn() -> String,
) -> Result<u32> {
    let data = |default: u32| -> Result<u32> {
        let v = errno_ret.unwrap_or(default);
        if v > 0xffff {
            return Err(Error::invalid(
                errno_field(),
                format!("{v} does not fit the 16 bits of a seccomp return value"),
            ));
        }
        Ok(v)
    };
    let v = match action {
        LinuxSeccompAction::ScmpActErrno => act::ERRNO | data(libc::EPERM as u32)?,
        LinuxSeccompAction::ScmpActTrace => act::TRACE | data(libc::EPERM as u32)?,
        other => {
            if errno_ret.is_some() {
                return Err(Error::invalid(
                    errno_field(),
                    format!("only SCMP_ACT_ERRNO and SCMP_ACT_TRACE take an errno, not {other}"),
                ));
            }
            match other {
                LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
                    act::KILL_THREAD
                }
                LinuxSeccompAction::ScmpActKillProcess => act::KILL_PROCESS,
                LinuxSeccompAction::ScmpActTrap => act::TRAP,
                LinuxSeccompAction::ScmpActNotify => act::USER_NOTIF,
                LinuxSeccompAction::ScmpActLog => act::LOG,
                _ => act::ALLOW,
            }
        }
    };
    Ok(v)
}

fn arch_token(a: Arch) -> u32 {
    match a {
        Arch::ScmpArchNative => NATIVE_ARCH,
        other => other as u32,
    }
}

fn op_value(op: LinuxSeccompOperator) -> u32 {
    op as u32
}

impl Profile {
    /// Checks `s` against the spec's rules and brings it to canonical form.
    pub fn from_oci(s: &LinuxSeccomp) -> Result<Profile> {
        let default_action = action_value(s.default_action(), s.default_errno_ret(), &|| {
            format!("{FIELD}.defaultErrnoRet")
        })?;
        if default_action == act::USER_NOTIF {
            return Err(Error::invalid(
                format!("{FIELD}.defaultAction"),
                "SCMP_ACT_NOTIFY cannot be the default action (the runtime's own syscalls would wait for the agent)",
            ));
        }
        let mut arches = Vec::new();
        for a in s.architectures().iter().flatten() {
            let t = arch_token(*a);
            if !arches.contains(&t) {
                arches.push(t);
            }
        }
        let mut flags = 0;
        for f in s.flags().iter().flatten() {
            flags |= match f {
                LinuxSeccompFilterFlag::SeccompFilterFlagLog => flag::LOG,
                LinuxSeccompFilterFlag::SeccompFilterFlagTsync => flag::TSYNC,
                LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => flag::SPEC_ALLOW,
                LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => {
                    flag::WAIT_KILLABLE_RECV
                }
            };
        }
        let mut rules = Vec::new();
        let mut notify = false;
        for (i, sc) in s.syscalls().iter().flatten().enumerate() {
            // Field names are formatted only for an error (this loop runs
            // on every start with a profile).
            let field = || format!("{FIELD}.syscalls[{i}]");
            if sc.names().is_empty() {
                return Err(Error::invalid(
                    format!("{}.names", field()),
                    "must name at least one syscall",
                ));
            }
            for (j, n) in sc.names().iter().enumerate() {
                if n.is_empty() || n.contains('\0') {
                    return Err(Error::invalid(
                        format!("{}.names[{j}]", field()),
                        format!("{n:?} is not a syscall name"),
                    ));
                }
            }
            let action = action_value(sc.action(), sc.errno_ret(), &|| {
                format!("{}.errnoRet", field())
            })?;
            let mut args = Vec::new();
            for (j, a) in sc.args().iter().flatten().enumerate() {
                if a.index() > 5 {
                    return Err(Error::invalid(
                        format!("{}.args[{j}].index", field()),
                        format!("{} is not a syscall argument (0..5)", a.index()),
                    ));
                }
                let masked = a.op() == LinuxSeccompOperator::ScmpCmpMaskedEq;
                args.push(Arg {
                    index: a.index() as u32,
                    op: op_value(a.op()),
                    a: a.value(),
                    // Only SCMP_CMP_MASKED_EQ reads a second value.
                    b: if masked {
                        a.value_two().unwrap_or(0)
                    } else {
                        0
                    },
                });
            }
            if action == act::USER_NOTIF {
                notify = true;
                if let Some(n) = sc
                    .names()
                    .iter()
                    .find(|n| NEEDED_BY_THE_INIT.contains(&n.as_str()))
                {
                    return Err(Error::invalid(
                        format!("{}.action", field()),
                        format!("SCMP_ACT_NOTIFY cannot be used for {n}: the runtime needs it to hand over the listener"),
                    ));
                }
            }
            if action == default_action {
                continue;
            }
            rules.push(Rule {
                position: i,
                names: sc.names().clone(),
                action,
                args,
            });
        }
        let listener_path = s.listener_path().clone();
        if s.listener_metadata().is_some() && listener_path.is_none() {
            return Err(Error::invalid(
                format!("{FIELD}.listenerMetadata"),
                "set without listenerPath",
            ));
        }
        if let Some(p) = &listener_path {
            if p.as_os_str().is_empty() {
                return Err(Error::invalid(format!("{FIELD}.listenerPath"), "empty"));
            }
        }
        if notify {
            if listener_path.is_none() {
                return Err(Error::invalid(
                    format!("{FIELD}.listenerPath"),
                    "required when a rule uses SCMP_ACT_NOTIFY",
                ));
            }
            flags |= flag::NEW_LISTENER;
            if flags & flag::TSYNC != 0 {
                // TSYNC and NEW_LISTENER together need TSYNC_ESRCH.
                flags |= flag::TSYNC_ESRCH;
            }
        } else {
            // The kernel accepts WAIT_KILLABLE_RECV only with a listener;
            // without one there is nothing for it to change.
            flags &= !flag::WAIT_KILLABLE_RECV;
        }
        Ok(Profile {
            default_action,
            arches,
            flags,
            rules,
            listener_path,
            listener_metadata: s.listener_metadata().clone(),
        })
    }

    pub fn notifies(&self) -> bool {
        self.flags & flag::NEW_LISTENER != 0
    }

    /// Everything that changes the compiled program, in one fixed
    /// encoding: the default action, the architectures, each rule's
    /// names, action and comparisons, in order. Not the flags or the
    /// listener, which only matter when the program is loaded.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.rules.len() * 48);
        out.extend_from_slice(b"brisk-seccomp-profile-v1\0");
        out.extend_from_slice(&self.default_action.to_le_bytes());
        out.extend_from_slice(&(self.arches.len() as u32).to_le_bytes());
        for a in &self.arches {
            out.extend_from_slice(&a.to_le_bytes());
        }
        out.extend_from_slice(&(self.rules.len() as u32).to_le_bytes());
        for r in &self.rules {
            out.extend_from_slice(&r.action.to_le_bytes());
            out.extend_from_slice(&(r.names.len() as u32).to_le_bytes());
            for n in &r.names {
                out.extend_from_slice(&(n.len() as u32).to_le_bytes());
                out.extend_from_slice(n.as_bytes());
            }
            out.extend_from_slice(&(r.args.len() as u32).to_le_bytes());
            for a in &r.args {
                out.extend_from_slice(&a.index.to_le_bytes());
                out.extend_from_slice(&a.op.to_le_bytes());
                out.extend_from_slice(&a.a.to_le_bytes());
                out.extend_from_slice(&a.b.to_le_bytes());
            }
        }
        out
    }
}

/// Reads a standalone profile file: either a whole `config.json` (its
/// `linux.seccomp`) or just the seccomp section, as `brisk seccomp`
/// accepts both.
pub fn section_from_json(v: &[u8]) -> std::result::Result<LinuxSeccomp, String> {
    #[derive(serde::Deserialize)]
    struct Linux {
        seccomp: Option<LinuxSeccomp>,
    }
    #[derive(serde::Deserialize)]
    struct Config {
        linux: Option<Linux>,
    }
    let probe: std::result::Result<Config, _> = serde_json::from_slice(v);
    if let Ok(Config {
        linux: Some(Linux { seccomp: Some(s) }),
    }) = probe
    {
        return Ok(s);
    }
    serde_json::from_slice::<LinuxSeccomp>(v).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn profile(v: serde_json::Value) -> Result<Profile> {
        let s: LinuxSeccomp = serde_json::from_value(v).expect("parses");
        Profile::from_oci(&s)
    }

    fn err_field(v: serde_json::Value) -> String {
        match profile(v) {
            Err(Error::Invalid { field, .. }) => field,
            other => panic!("expected an Invalid error, got {other:?}"),
        }
    }

    #[test]
    fn actions_become_kernel_values() {
        let p = profile(json!({
            "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
            "syscalls": [
                {"names": ["a"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["b"], "action": "SCMP_ACT_ERRNO"},
                {"names": ["c"], "action": "SCMP_ACT_KILL"},
                {"names": ["d"], "action": "SCMP_ACT_KILL_PROCESS"},
                {"names": ["e"], "action": "SCMP_ACT_TRACE", "errnoRet": 7},
                {"names": ["f"], "action": "SCMP_ACT_LOG"},
                {"names": ["g"], "action": "SCMP_ACT_TRAP"},
                {"names": ["h"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
            ]
        }))
        .unwrap();
        assert_eq!(p.default_action, act::ERRNO | 38);
        let acts: Vec<u32> = p.rules.iter().map(|r| r.action).collect();
        // h has the default action: dropped.
        assert_eq!(
            acts,
            [
                act::ALLOW,
                act::ERRNO | 1,
                act::KILL_THREAD,
                act::KILL_PROCESS,
                act::TRACE | 7,
                act::LOG,
                act::TRAP
            ]
        );
    }

    #[test]
    fn spec_rules_name_the_field() {
        let base =
            |sc: serde_json::Value| json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": sc});
        assert_eq!(
            err_field(json!({"defaultAction": "SCMP_ACT_ALLOW", "defaultErrnoRet": 1})),
            "linux.seccomp.defaultErrnoRet"
        );
        assert_eq!(
            err_field(base(json!([{"names": ["a"], "action": "SCMP_ACT_ERRNO"},
                                  {"names": [], "action": "SCMP_ACT_ERRNO"}]))),
            "linux.seccomp.syscalls[1].names"
        );
        assert_eq!(
            err_field(base(
                json!([{"names": ["a"], "action": "SCMP_ACT_LOG", "errnoRet": 1}])
            )),
            "linux.seccomp.syscalls[0].errnoRet"
        );
        assert_eq!(
            err_field(base(json!([{"names": ["a"], "action": "SCMP_ACT_ERRNO",
                                   "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]))),
            "linux.seccomp.syscalls[0].args[0].index"
        );
        assert_eq!(
            err_field(base(json!([{"names": ["a"], "action": "SCMP_ACT_NOTIFY"}]))),
            "linux.seccomp.listenerPath"
        );
        assert_eq!(
            err_field(json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerMetadata": "m"})),
            "linux.seccomp.listenerMetadata"
        );
        assert_eq!(
            err_field(json!({"defaultAction": "SCMP_ACT_NOTIFY", "listenerPath": "/x"})),
            "linux.seccomp.defaultAction"
        );
        assert_eq!(
            err_field(
                json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/x",
                "syscalls": [{"names": ["sendmsg"], "action": "SCMP_ACT_NOTIFY"}]})
            ),
            "linux.seccomp.syscalls[0].action"
        );
    }

    #[test]
    fn notify_and_flags() {
        let p = profile(json!({
            "defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/a.sock",
            "flags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG"],
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]
        }))
        .unwrap();
        assert!(p.notifies());
        assert_eq!(
            p.flags,
            flag::TSYNC | flag::LOG | flag::NEW_LISTENER | flag::TSYNC_ESRCH
        );
        let killable = |notify: bool| {
            let action = if notify {
                "SCMP_ACT_NOTIFY"
            } else {
                "SCMP_ACT_ERRNO"
            };
            profile(json!({
                "defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/a.sock",
                "flags": ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
                "syscalls": [{"names": ["mkdir"], "action": action}]
            }))
            .unwrap()
            .flags
        };
        assert_eq!(
            killable(true),
            flag::WAIT_KILLABLE_RECV | flag::NEW_LISTENER
        );
        assert_eq!(killable(false), 0);
    }

    #[test]
    fn canonical_form_ignores_layout_but_not_content() {
        let a = profile(json!({"defaultAction": "SCMP_ACT_ERRNO",
            "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"}]}))
        .unwrap();
        // Same content, other layout, plus load-time-only fields.
        let b = profile(
            json!({"syscalls": [{"action": "SCMP_ACT_ALLOW", "names": ["read", "write"]}],
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86_64"],
            "flags": ["SECCOMP_FILTER_FLAG_LOG"], "defaultAction": "SCMP_ACT_ERRNO"}),
        )
        .unwrap();
        assert_eq!(a.canonical_bytes(), b.canonical_bytes());
        let c = profile(json!({"defaultAction": "SCMP_ACT_ERRNO",
            "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [{"names": ["read", "writev"], "action": "SCMP_ACT_ALLOW"}]}))
        .unwrap();
        assert_ne!(a.canonical_bytes(), c.canonical_bytes());
        let d = profile(
            json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
            "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"}]}),
        )
        .unwrap();
        assert_ne!(a.canonical_bytes(), d.canonical_bytes());
    }

    #[test]
    fn masked_eq_keeps_both_values() {
        let p = profile(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["clone"], "action": "SCMP_ACT_ERRNO",
             "args": [{"index": 0, "value": 2114060288u64, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]}]}))
        .unwrap();
        assert_eq!(
            p.rules[0].args,
            [Arg {
                index: 0,
                op: 7,
                a: 2114060288,
                b: 0
            }]
        );
    }

    #[test]
    fn section_or_whole_config() {
        let section = json!({"defaultAction": "SCMP_ACT_ALLOW"});
        let config = json!({"ociVersion": "1.2.0", "linux": {"seccomp": section}});
        for v in [section, config] {
            let s = section_from_json(v.to_string().as_bytes()).unwrap();
            assert_eq!(s.default_action(), LinuxSeccompAction::ScmpActAllow);
        }
        assert!(section_from_json(b"{\"linux\": {}}").is_err());
    }
}
