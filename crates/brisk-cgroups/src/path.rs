//! `linux.cgroupsPath` as runc reads it, with one difference: a relative
//! path (or none) goes under brisk's own parent, never under the caller's
//! cgroup (the caller may sit in a cgroup that is not its to give away).
//!
//! - cgroupfs driver: `/a/b` is `/a/b` in every hierarchy; `a/b` is
//!   `/brisk/a/b`; absent is `/brisk/<id>`.
//! - systemd driver: `slice:prefix:name` is the scope `prefix-name.scope`
//!   in `slice`; its cgroup is the slice's path and the unit
//!   (`/system.slice/prefix-name.scope`), see [`crate::systemd::unit`].

use std::path::Path;

use crate::error::{Error, Result};

/// The parent of containers without an absolute `cgroupsPath`.
pub const DEFAULT_PARENT: &str = "/brisk";

/// Who manages the container's cgroups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Driver {
    /// brisk creates and writes the cgroup directories itself.
    #[default]
    Cgroupfs,
    /// systemd creates a scope for the container (`--systemd-cgroup`).
    Systemd,
    /// No cgroups at all (crun's `--cgroup-manager disabled`): the
    /// container stays in the caller's cgroups.
    Disabled,
}

/// The container's cgroup, relative to each hierarchy's root, with a
/// leading `/` and no trailing one (`/brisk/c1`).
pub fn resolve(cgroups_path: Option<&Path>, id: &str, driver: Driver) -> Result<String> {
    let raw = cgroups_path.map(|p| p.to_string_lossy().into_owned());
    if driver == Driver::Systemd {
        return Ok(crate::systemd::unit::parse(raw.as_deref(), id)?.cgroup);
    }
    let path = match raw.as_deref() {
        None | Some("") => format!("{DEFAULT_PARENT}/{id}"),
        Some(p) if p.starts_with('/') => p.to_string(),
        Some(p) => format!("{DEFAULT_PARENT}/{p}"),
    };
    let mut out = String::with_capacity(path.len());
    for comp in path.split('/').filter(|c| !c.is_empty() && *c != ".") {
        if comp == ".." {
            return Err(Error::invalid(
                "linux.cgroupsPath",
                format!("{path:?}: \"..\" is not allowed"),
            ));
        }
        if comp.contains(':') && raw.as_deref().is_some_and(|r| r.split(':').count() == 3) {
            return Err(Error::invalid(
                "linux.cgroupsPath",
                format!("{path:?} looks like systemd's slice:prefix:name: pass --systemd-cgroup"),
            ));
        }
        out.push('/');
        out.push_str(comp);
    }
    if out.is_empty() {
        return Err(Error::invalid(
            "linux.cgroupsPath",
            "the root cgroup cannot be a container's cgroup",
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(p: Option<&str>) -> Result<String> {
        resolve(p.map(Path::new), "c1", Driver::Cgroupfs)
    }

    #[test]
    fn absolute_relative_and_absent() {
        assert_eq!(r(Some("/a/b")).unwrap(), "/a/b");
        assert_eq!(r(Some("/a//b/./")).unwrap(), "/a/b");
        assert_eq!(r(Some("a/b")).unwrap(), "/brisk/a/b");
        assert_eq!(r(None).unwrap(), "/brisk/c1");
        assert_eq!(r(Some("")).unwrap(), "/brisk/c1");
    }

    #[test]
    fn bad_paths() {
        assert!(r(Some("/a/../b")).is_err());
        assert!(r(Some("/")).is_err());
        assert!(r(Some("system.slice:brisk:c1")).is_err());
    }

    #[test]
    fn systemd_paths() {
        let p = resolve(
            Some(Path::new("system.slice:brisk:c1")),
            "c1",
            Driver::Systemd,
        );
        assert_eq!(p.unwrap(), "/system.slice/brisk-c1.scope");
        let e = resolve(Some(Path::new("/a/b")), "c1", Driver::Systemd).unwrap_err();
        assert!(e.to_string().contains("slice:prefix:name"), "{e}");
    }
}
