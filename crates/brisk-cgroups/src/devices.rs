//! `linux.resources.devices`: rules in config order, then the devices
//! every container gets (runc's list: mknod of any char/block device,
//! null, zero, full, random, urandom, tty, ptmx, pts, tun). On v1 they are
//! written to `devices.allow`/`devices.deny` in that order; cgroup2 has no
//! device files and needs a BPF_CGROUP_DEVICE program built from them.

use oci_spec::runtime::LinuxDeviceCgroup;

use crate::resources::device_letter;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub allow: bool,
    /// `a`, `b` or `c`.
    pub typ: char,
    pub major: Option<i64>,
    pub minor: Option<i64>,
    /// Some of `r`, `w`, `m`.
    pub access: String,
}

impl Rule {
    pub fn from_spec(r: &LinuxDeviceCgroup) -> Result<Rule, String> {
        let typ = r.typ().map_or('a', device_letter);
        if typ == 'p' {
            return Err("type \"p\" (FIFO) cannot be a cgroup device rule".into());
        }
        let access = r.access().clone().unwrap_or_else(|| "rwm".into());
        let access = if access.is_empty() {
            "rwm".into()
        } else {
            access
        };
        if !access.chars().all(|c| matches!(c, 'r' | 'w' | 'm')) {
            return Err(format!("access {access:?} is not made of r, w and m"));
        }
        for (name, v) in [("major", r.major()), ("minor", r.minor())] {
            if v.is_some_and(|v| v < 0) {
                return Err(format!("{name} {} is negative", v.unwrap_or_default()));
            }
        }
        Ok(Rule {
            allow: r.allow(),
            typ,
            major: r.major(),
            minor: r.minor(),
            access,
        })
    }

    /// The line for `devices.allow`/`devices.deny`: `c 1:3 rwm`, `a *:* rwm`.
    pub fn v1_line(&self) -> String {
        if self.typ == 'a' {
            return format!("a *:* {}", self.access);
        }
        let n = |v: Option<i64>| v.map_or("*".to_string(), |v| v.to_string());
        format!(
            "{} {}:{} {}",
            self.typ,
            n(self.major),
            n(self.minor),
            self.access
        )
    }
}

fn allow(typ: char, major: Option<i64>, minor: Option<i64>, access: &str) -> Rule {
    Rule {
        allow: true,
        typ,
        major,
        minor,
        access: access.into(),
    }
}

/// What every container may use, appended after the config's rules.
pub fn default_allowed() -> Vec<Rule> {
    vec![
        allow('c', None, None, "m"),
        allow('b', None, None, "m"),
        allow('c', Some(1), Some(3), "rwm"),
        allow('c', Some(1), Some(8), "rwm"),
        allow('c', Some(1), Some(7), "rwm"),
        allow('c', Some(5), Some(0), "rwm"),
        allow('c', Some(1), Some(5), "rwm"),
        allow('c', Some(1), Some(9), "rwm"),
        allow('c', Some(136), None, "rwm"),
        allow('c', Some(5), Some(2), "rwm"),
        allow('c', Some(10), Some(200), "rwm"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(json: &str) -> Result<Rule, String> {
        Rule::from_spec(&serde_json::from_str(json).unwrap())
    }

    #[test]
    fn v1_lines() {
        assert_eq!(
            rule(r#"{"allow": false, "access": "rwm"}"#)
                .unwrap()
                .v1_line(),
            "a *:* rwm"
        );
        assert_eq!(
            rule(r#"{"allow": true, "type": "c", "major": 1, "minor": 11, "access": "rw"}"#)
                .unwrap()
                .v1_line(),
            "c 1:11 rw"
        );
        assert_eq!(
            rule(r#"{"allow": true, "type": "b", "major": 8}"#)
                .unwrap()
                .v1_line(),
            "b 8:* rwm"
        );
    }

    #[test]
    fn bad_rules() {
        assert!(rule(r#"{"allow": true, "access": "rwx"}"#).is_err());
        assert!(rule(r#"{"allow": true, "type": "c", "major": -2}"#).is_err());
    }
}
