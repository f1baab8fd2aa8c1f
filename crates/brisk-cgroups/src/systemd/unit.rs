//! `linux.cgroupsPath` in the systemd driver's form, `slice:prefix:name`,
//! read as runc reads it: the container gets the transient scope unit
//! `prefix-name.scope` (`name.scope` with an empty prefix) in `slice`
//! (`system.slice` when empty); with no cgroupsPath at all,
//! `brisk-<id>.scope` in `system.slice` (runc: `runc-<id>.scope`). Its
//! cgroup is the slice's path as systemd expands it
//! (`a-b.slice` → `/a.slice/a-b.slice`) followed by the unit's name.

use crate::error::{Error, Result};

const FIELD: &str = "linux.cgroupsPath";

/// The scope a container runs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    /// `prefix-name.scope`.
    pub name: String,
    /// The slice it goes into (`system.slice`).
    pub slice: String,
    /// Its cgroup below each hierarchy's root
    /// (`/system.slice/prefix-name.scope`).
    pub cgroup: String,
}

/// Reads `cgroups_path` (`None` or `""`: the defaults).
pub fn parse(cgroups_path: Option<&str>, id: &str) -> Result<Unit> {
    let default_slice = "system.slice";
    let (slice, prefix, name) = match cgroups_path.filter(|p| !p.is_empty()) {
        None => (default_slice, "brisk", id),
        Some(p) => {
            let parts: Vec<&str> = p.split(':').collect();
            let [slice, prefix, name] = parts[..] else {
                return Err(Error::invalid(
                    FIELD,
                    format!("{p:?}: the systemd driver expects \"slice:prefix:name\""),
                ));
            };
            (
                if slice.is_empty() {
                    default_slice
                } else {
                    slice
                },
                prefix,
                name,
            )
        }
    };
    if name.is_empty() {
        return Err(Error::invalid(
            FIELD,
            format!("{cgroups_path:?}: the name part of \"slice:prefix:name\" is empty"),
        ));
    }
    if name.ends_with(".slice") {
        return Err(Error::Unsupported(format!(
            "{FIELD}: {cgroups_path:?}: a container in a slice unit of its own is not \
             supported; name a scope (\"slice:prefix:name\" without .slice)"
        )));
    }
    let unit = if prefix.is_empty() {
        format!("{name}.scope")
    } else {
        format!("{prefix}-{name}.scope")
    };
    check_unit_name(&unit)?;
    let parent = expand_slice(slice)?;
    Ok(Unit {
        cgroup: format!("{}/{unit}", parent.trim_end_matches('/')),
        name: unit,
        slice: slice.to_string(),
    })
}

/// systemd's unit name rules (unit-name.c): at most 255 bytes of ASCII
/// letters, digits and `:-_.\`, and not starting with `-`... a name that
/// breaks them would be refused by systemd anyway; here it is refused
/// before anything exists, naming the field.
fn check_unit_name(unit: &str) -> Result<()> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, ':' | '-' | '_' | '.' | '\\');
    if unit.len() > 255 || !unit.chars().all(ok_char) || unit.starts_with('.') {
        return Err(Error::invalid(
            FIELD,
            format!(
                "the unit name {unit:?} is not a valid systemd unit name (ASCII letters, \
                 digits and \":-_.\\\", at most 255 bytes)"
            ),
        ));
    }
    Ok(())
}

/// `a-b-c.slice` → `/a.slice/a-b.slice/a-b-c.slice`; `-.slice` (the root
/// slice) → `/`.
pub fn expand_slice(slice: &str) -> Result<String> {
    let bad = |why: &str| Error::invalid(FIELD, format!("slice {slice:?}: {why}"));
    let Some(stem) = slice.strip_suffix(".slice") else {
        return Err(bad("a slice's name ends in \".slice\""));
    };
    if slice.contains('/') {
        return Err(bad("a slice's name has no \"/\""));
    }
    check_unit_name(slice)?;
    if stem == "-" {
        return Ok("/".into());
    }
    if stem.is_empty() || stem.starts_with('-') || stem.ends_with('-') || stem.contains("--") {
        return Err(bad(
            "empty, or a \"-\" at either end or twice in a row (systemd's slice names are \
             dash-separated paths)",
        ));
    }
    let mut out = String::new();
    let mut prefix = String::new();
    for part in stem.split('-') {
        if !prefix.is_empty() {
            prefix.push('-');
        }
        prefix.push_str(part);
        out.push('/');
        out.push_str(&prefix);
        out.push_str(".slice");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runc_form_and_defaults() {
        let u = parse(Some("system.slice:docker:abc"), "c1").unwrap();
        assert_eq!(u.name, "docker-abc.scope");
        assert_eq!(u.slice, "system.slice");
        assert_eq!(u.cgroup, "/system.slice/docker-abc.scope");
        let u = parse(Some("kubepods-besteffort-pod1.slice:cri-containerd:x"), "c").unwrap();
        assert_eq!(
            u.cgroup,
            "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice/cri-containerd-x.scope"
        );
        let u = parse(None, "c1").unwrap();
        assert_eq!(u.cgroup, "/system.slice/brisk-c1.scope");
        let u = parse(Some(""), "c1").unwrap();
        assert_eq!(u.cgroup, "/system.slice/brisk-c1.scope");
        let u = parse(Some("::n"), "c1").unwrap();
        assert_eq!(u.cgroup, "/system.slice/n.scope");
        let u = parse(Some("-.slice:p:n"), "c1").unwrap();
        assert_eq!(u.cgroup, "/p-n.scope");
    }

    #[test]
    fn bad_paths_name_the_field() {
        for p in [
            "/a/b",
            "a:b",
            "a:b:c:d",
            "system:p:n",
            "a--b.slice:p:n",
            "-a.slice:p:n",
            "system.slice:p:",
            "system.slice:p:a/b",
            "system.slice:p:a b",
        ] {
            let e = parse(Some(p), "c1").unwrap_err();
            assert!(e.to_string().contains("cgroupsPath"), "{p}: {e}");
        }
        assert!(parse(Some("system.slice:p:x.slice"), "c1").is_err());
    }
}
