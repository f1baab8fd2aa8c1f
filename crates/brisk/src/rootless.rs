//! What changes when brisk is not root: `--rootless`, the default state
//! root and seccomp cache of an unprivileged user, and the config
//! `spec --rootless` writes. As runc and crun behave.

use std::path::PathBuf;

use anyhow::{bail, Result};
use oci_spec::runtime::{LinuxIdMappingBuilder, LinuxNamespaceType, MountBuilder, Spec};

fn euid() -> u32 {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() }
}

/// `--rootless VALUE`: `true`/`false` (Go's boolean spellings, as runc
/// parses them) or `auto` (also when absent): on when brisk is not root,
/// or is root of a user namespace other than the host's (its uid map is
/// not the identity of every id).
pub fn mode(flag: Option<&str>) -> Result<bool> {
    match flag {
        None | Some("") | Some("auto") => Ok(euid() != 0 || in_user_namespace()),
        Some("1" | "t" | "T" | "true" | "TRUE" | "True") => Ok(true),
        Some("0" | "f" | "F" | "false" | "FALSE" | "False") => Ok(false),
        Some(v) => bail!("invalid --rootless value {v:?}: expected true, false or auto"),
    }
}

/// On every `create` and `run` by root, and every command by root with
/// `XDG_RUNTIME_DIR` set for a `$USER` other than root (`state_root`):
/// three system calls, no allocation.
fn in_user_namespace() -> bool {
    brisk_container::namespaces::in_user_namespace()
}

/// The state root: `--root`, else `$XDG_RUNTIME_DIR/brisk` when that is
/// set and brisk is not root, or is root of a user namespace (rootless
/// podman runs its runtime so) for a `$USER` other than root: runc's rule.
/// Else `/run/brisk`.
pub fn state_root(flag: Option<PathBuf>) -> PathBuf {
    if let Some(root) = flag {
        return root;
    }
    if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        let user_root = std::env::var_os("USER").is_some_and(|u| u == "root");
        if euid() != 0 || (!user_root && in_user_namespace()) {
            return PathBuf::from(dir).join("brisk");
        }
    }
    PathBuf::from("/run/brisk")
}

/// The seccomp cache: `--seccomp-cache`, else for a user other than root
/// one of its own (`$XDG_CACHE_HOME/brisk/seccomp`, or
/// `~/.cache/brisk/seccomp`): the shared cache is root's, and the cache
/// never reads an entry another user wrote. None: the library default.
pub fn seccomp_cache(flag: Option<PathBuf>) -> Option<PathBuf> {
    if flag.is_some() || euid() == 0 {
        return flag;
    }
    let var = |name| std::env::var_os(name).filter(|v| !v.is_empty());
    let base = var("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| var("HOME").map(|h| PathBuf::from(h).join(".cache")));
    // Without either, the shared default: it is not the user's, so the
    // cache is neither read nor written and every start compiles.
    base.map(|b| b.join("brisk/seccomp"))
}

/// The config of `spec --rootless`: brisk's default config changed as
/// runc's `spec --rootless` changes its own: a user namespace mapping the
/// caller's euid and egid to 0, no network or cgroup namespace (a user
/// namespace cannot give the container a network, and the cgroup is the
/// caller's), `/sys` bound from the host read-only (sysfs cannot be
/// mounted without a network namespace of the container's own), no
/// `linux.resources` (an unprivileged user's cgroups are usually not
/// writable).
pub fn spec(uid: u32, gid: u32) -> Result<Spec> {
    let mut spec = Spec::default();
    let Some(mut linux) = spec.linux().clone() else {
        bail!("the default config has no linux section");
    };
    let mut namespaces: Vec<_> = linux
        .namespaces()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter(|n| {
            !matches!(
                n.typ(),
                LinuxNamespaceType::Network | LinuxNamespaceType::Cgroup | LinuxNamespaceType::User
            )
        })
        .collect();
    namespaces.push(
        oci_spec::runtime::LinuxNamespaceBuilder::default()
            .typ(LinuxNamespaceType::User)
            .build()?,
    );
    linux.set_namespaces(Some(namespaces));
    let map = |id: u32| {
        LinuxIdMappingBuilder::default()
            .container_id(0u32)
            .host_id(id)
            .size(1u32)
            .build()
    };
    linux.set_uid_mappings(Some(vec![map(uid)?]));
    linux.set_gid_mappings(Some(vec![map(gid)?]));
    linux.set_resources(None);
    spec.set_linux(Some(linux));
    let mut mounts = spec.mounts().clone().unwrap_or_default();
    for m in mounts.iter_mut() {
        // `gid=5` of devpts: ids other than the caller's are not mapped.
        if let Some(options) = m.options().clone() {
            m.set_options(Some(
                options
                    .into_iter()
                    .filter(|o| !o.starts_with("uid=") && !o.starts_with("gid="))
                    .collect(),
            ));
        }
        if m.destination() == &PathBuf::from("/sys") {
            *m = MountBuilder::default()
                .destination("/sys")
                .typ("none")
                .source("/sys")
                .options(
                    ["rbind", "nosuid", "noexec", "nodev", "ro"]
                        .map(String::from)
                        .to_vec(),
                )
                .build()?;
        }
    }
    spec.set_mounts(Some(mounts));
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rootless_values_parse_as_runc_parses_them() {
        assert!(mode(Some("true")).unwrap());
        assert!(mode(Some("1")).unwrap());
        assert!(!mode(Some("false")).unwrap());
        assert!(!mode(Some("F")).unwrap());
        let err = mode(Some("yes")).unwrap_err().to_string();
        assert!(err.contains("--rootless"), "{err}");
    }

    #[test]
    fn the_hosts_uid_map_is_the_identity_of_every_id() {
        use brisk_container::namespaces::is_initial_uid_map;
        assert!(is_initial_uid_map("         0          0 4294967295\n"));
        assert!(!is_initial_uid_map("         0       1000          1\n"));
        assert!(!is_initial_uid_map("0 0 4294967295\n".repeat(2).as_str()));
    }

    #[test]
    fn rootless_spec_is_runcs_change_of_the_default() {
        let spec = spec(1000, 1001).unwrap();
        let linux = spec.linux().as_ref().unwrap();
        let types: Vec<_> = linux
            .namespaces()
            .as_ref()
            .unwrap()
            .iter()
            .map(|n| n.typ())
            .collect();
        assert!(types.contains(&LinuxNamespaceType::User));
        assert!(!types.contains(&LinuxNamespaceType::Network));
        assert!(!types.contains(&LinuxNamespaceType::Cgroup));
        let uid = &linux.uid_mappings().as_ref().unwrap()[0];
        assert_eq!(
            (uid.container_id(), uid.host_id(), uid.size()),
            (0, 1000, 1)
        );
        let gid = &linux.gid_mappings().as_ref().unwrap()[0];
        assert_eq!(
            (gid.container_id(), gid.host_id(), gid.size()),
            (0, 1001, 1)
        );
        assert!(linux.resources().is_none());
        let options = spec
            .mounts()
            .iter()
            .flatten()
            .flat_map(|m| m.options().iter().flatten());
        assert!(options.clone().all(|o| !o.starts_with("gid=")));
        let sys = spec
            .mounts()
            .as_ref()
            .unwrap()
            .iter()
            .find(|m| m.destination() == &PathBuf::from("/sys"))
            .unwrap();
        assert_eq!(sys.source().as_deref(), Some(std::path::Path::new("/sys")));
        assert_eq!(
            sys.options().as_deref().unwrap(),
            ["rbind", "nosuid", "noexec", "nodev", "ro"]
        );
    }
}
