//! Loading `config.json` and checking it before anything is created.
//!
//! Parsing goes through `serde_path_to_error` so that a type error names
//! the field (`process.args: invalid type: ...`) instead of only a line and
//! column. Validation here covers what the kernel would otherwise report
//! late and vaguely; everything it rejects leaves nothing behind because no
//! state exists yet.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Spec};

use crate::error::{Error, Result};

/// A parsed and validated config, with the root filesystem resolved to an
/// absolute host path.
#[derive(Debug)]
pub struct Config {
    pub spec: Spec,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    /// What the CLI should log as warnings (e.g. capabilities this build
    /// does not know, which the spec says to skip with a warning).
    pub warnings: Vec<String>,
    /// The config as read, kept with the container's state for `exec`
    /// (later edits of config.json must not affect the container).
    pub raw: Vec<u8>,
    /// `linux.seccomp`, checked and in canonical form; None also while it
    /// is deferred (`seccomp_section`).
    pub seccomp: Option<brisk_seccomp::Profile>,
    /// Where `linux.seccomp` is in `raw` when it was left unparsed (the
    /// config was parsed with it replaced by `null`, see
    /// seccomp_section.rs): `seccomp::plan_section` reads its program from
    /// the cache by its bytes, or has `deferred_seccomp` parse it.
    pub seccomp_section: Option<std::ops::Range<usize>>,
    /// The file `raw` was read from (to name it in errors).
    pub path: PathBuf,
}

/// Reads `config_path` (by default `<bundle>/config.json`).
pub fn load(bundle: &Path, config_path: Option<&Path>) -> Result<Config> {
    let bundle = std::fs::canonicalize(bundle).map_err(|e| Error::path("bundle", bundle, e))?;
    let path = match config_path {
        Some(p) => p.to_path_buf(),
        None => bundle.join("config.json"),
    };
    let data = std::fs::read(&path).map_err(|e| Error::path("config", &path, e))?;
    let mut warnings = Vec::new();
    let (spec, seccomp_section) = parse_deferring_seccomp(&data, &path, &mut warnings)?;
    let rootfs = resolve_rootfs(&spec, &bundle)?;
    let seccomp = check(&spec, &data, &mut warnings)?;
    if mount_label(&spec).is_some() && !crate::rootfs::selinux_enabled() {
        warnings.push(
            "linux.mountLabel: SELinux is not enabled on this host, the label is not applied"
                .into(),
        );
    }
    Ok(Config {
        spec,
        bundle,
        rootfs,
        warnings,
        raw: data,
        seccomp,
        seccomp_section,
        path,
    })
}

/// `linux.cgroupsPath` alone, from a config `create` saved (nothing else is
/// parsed): what the container's recorded cgroup is checked against.
pub fn cgroups_path(raw: &[u8], path: &Path) -> Result<Option<PathBuf>> {
    #[derive(serde::Deserialize)]
    struct Raw {
        linux: Option<RawLinux>,
    }
    #[derive(serde::Deserialize)]
    struct RawLinux {
        #[serde(rename = "cgroupsPath")]
        cgroups_path: Option<PathBuf>,
    }
    let raw: Raw = serde_json::from_slice(raw).map_err(|err| Error::ConfigParse {
        path: path.to_path_buf(),
        err,
    })?;
    Ok(raw.linux.and_then(|l| l.cgroups_path))
}

/// Parses the config with its `linux.seccomp` section left unparsed when
/// the section can be found (seccomp_section.rs) and the rest parses;
/// otherwise parses all of it, as `parse_config`.
fn parse_deferring_seccomp(
    data: &[u8],
    path: &Path,
    warnings: &mut Vec<String>,
) -> Result<(Spec, Option<std::ops::Range<usize>>)> {
    if let Some(r) = crate::seccomp_section::find(data).filter(|r| &data[r.clone()] != b"null") {
        let blanked = crate::seccomp_section::blank(data, &r);
        if let Ok(spec) = parse(&blanked) {
            // The parser saw no other spelling of the key.
            if spec.linux().as_ref().is_some_and(|l| l.seccomp().is_none()) {
                return Ok((spec, Some(r)));
            }
        }
    }
    Ok((parse_config(data, path, warnings)?, None))
}

/// The profile of a deferred `linux.seccomp`: the section alone is
/// parsed; when it does not parse, the whole config is, so that the error
/// reads as it would have without the deferral (naming the field).
pub fn deferred_seccomp(config: &Config) -> Result<Option<brisk_seccomp::Profile>> {
    let section = config
        .seccomp_section
        .as_ref()
        .and_then(|r| config.raw.get(r.clone()));
    if let Some(Ok(s)) = section.map(serde_json::from_slice::<oci_spec::runtime::LinuxSeccomp>) {
        return Ok(Some(brisk_seccomp::Profile::from_oci(&s)?));
    }
    let spec = parse_config(&config.raw, &config.path, &mut Vec::new())?;
    seccomp_profile(&spec)
}

/// The checks of `load` that need no file system (the bundle and the
/// rootfs aside): `validate`, the raw-JSON checks of devices and device
/// rules, and `linux.seccomp` brought to its canonical form. `data` is the
/// JSON `spec` was parsed from. The fuzz target `config` and its replay
/// test drive this.
pub fn check(
    spec: &Spec,
    data: &[u8],
    warnings: &mut Vec<String>,
) -> Result<Option<brisk_seccomp::Profile>> {
    validate(spec)?;
    if spec
        .linux()
        .as_ref()
        .is_some_and(|l| l.devices().as_ref().is_some_and(|d| !d.is_empty()))
    {
        check_device_numbers(data)?;
    }
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        if !m.destination().as_os_str().is_empty() && !m.destination().is_absolute() {
            warnings.push(format!(
                "mounts[{i}].destination: {:?} is not absolute, taken as relative to /",
                m.destination()
            ));
        }
    }
    check_device_rules_have_allow(spec, data)?;
    seccomp_profile(spec)
}

/// Parses config bytes the way `load` does (`path` names them in errors).
pub fn parse_config(data: &[u8], path: &Path, warnings: &mut Vec<String>) -> Result<Spec> {
    match parse(data) {
        Ok(spec) => Ok(spec),
        // Rare path: drop capability names the runtime cannot map, with a
        // warning (config.md, Linux process: "MUST log a warning"), and
        // parse again.
        Err(e) if e.to_string().contains("process.capabilities") => {
            parse_skipping_unknown_caps(data, warnings)
        }
        Err(e) => Err(e),
    }
    .map_err(|err| Error::ConfigParse {
        path: path.to_path_buf(),
        err,
    })
}

/// `allow` is required in a `linux.resources.devices` rule, but the spec
/// type defaults it to false (deny): look at the raw JSON, only when
/// there are rules (a second, skim-only parse: everything but the rules'
/// `allow` keys is skipped without being stored).
fn check_device_rules_have_allow(spec: &Spec, data: &[u8]) -> Result<()> {
    use serde::de::IgnoredAny;
    #[derive(serde::Deserialize)]
    struct Raw {
        linux: Option<RawLinux>,
    }
    #[derive(serde::Deserialize)]
    struct RawLinux {
        resources: Option<RawResources>,
    }
    #[derive(serde::Deserialize)]
    struct RawResources {
        devices: Option<Vec<RawRule>>,
    }
    #[derive(serde::Deserialize)]
    struct RawRule {
        allow: Option<IgnoredAny>,
    }
    let has_rules = spec
        .linux()
        .as_ref()
        .and_then(|l| l.resources().as_ref())
        .and_then(|r| r.devices().as_ref())
        .is_some_and(|d| !d.is_empty());
    if !has_rules {
        return Ok(());
    }
    let raw: Raw = serde_json::from_slice(data)
        .map_err(|e| Error::invalid("linux.resources.devices", e.to_string()))?;
    let rules = raw
        .linux
        .and_then(|l| l.resources)
        .and_then(|r| r.devices)
        .unwrap_or_default();
    for (i, rule) in rules.iter().enumerate() {
        if rule.allow.is_none() {
            return Err(Error::invalid(
                format!("linux.resources.devices[{i}].allow"),
                "missing (a rule must say whether it allows or denies)",
            ));
        }
    }
    Ok(())
}

fn parse_skipping_unknown_caps(
    data: &[u8],
    warnings: &mut Vec<String>,
) -> std::result::Result<Spec, serde_json::Error> {
    let mut v: serde_json::Value = serde_json::from_slice(data)?;
    if let Some(sets) = v
        .pointer_mut("/process/capabilities")
        .and_then(|c| c.as_object_mut())
    {
        for (set, caps) in sets.iter_mut() {
            if let Some(list) = caps.as_array_mut() {
                list.retain(|c| {
                    let known = c
                        .as_str()
                        .is_some_and(|s| crate::process::caps::NAMES.contains(&s));
                    if !known {
                        warnings.push(format!(
                            "process.capabilities.{set}: unknown capability {c}, skipped"
                        ));
                    }
                    known
                });
            }
        }
    }
    parse(v.to_string().as_bytes())
}

/// `linux.mountLabel`, when set and not empty.
pub fn mount_label(spec: &Spec) -> Option<&str> {
    spec.linux()
        .as_ref()
        .and_then(|l| l.mount_label().as_deref())
        .filter(|s| !s.is_empty())
}

/// `major` and `minor` are REQUIRED unless the type is `p`, but the spec
/// types default them to 0: look at the raw JSON (only for configs that
/// list devices).
fn check_device_numbers(data: &[u8]) -> Result<()> {
    #[derive(serde::Deserialize)]
    struct Raw {
        linux: Option<RawLinux>,
    }
    #[derive(serde::Deserialize)]
    struct RawLinux {
        devices: Option<Vec<RawDevice>>,
    }
    #[derive(serde::Deserialize)]
    struct RawDevice {
        #[serde(rename = "type")]
        typ: Option<String>,
        major: Option<serde_json::Value>,
        minor: Option<serde_json::Value>,
    }
    let raw: Raw =
        serde_json::from_slice(data).map_err(|e| Error::invalid("linux.devices", e.to_string()))?;
    let devices = raw.linux.and_then(|l| l.devices).unwrap_or_default();
    for (i, d) in devices.iter().enumerate() {
        if d.typ.as_deref() == Some("p") {
            continue;
        }
        for (name, v) in [("major", &d.major), ("minor", &d.minor)] {
            if v.is_none() {
                return Err(Error::invalid(
                    format!("linux.devices[{i}].{name}"),
                    "required unless the type is \"p\"",
                ));
            }
        }
    }
    Ok(())
}

/// Parses a config, naming the JSON path of the first error.
pub fn parse(data: &[u8]) -> std::result::Result<Spec, serde_json::Error> {
    // The plain parse is the start-up path; the path of a field is only
    // tracked (about a third slower) to explain a failure.
    if let Ok(spec) = serde_json::from_slice(data) {
        return Ok(spec);
    }
    let mut de = serde_json::Deserializer::from_slice(data);
    match serde_path_to_error::deserialize::<_, Spec>(&mut de) {
        Ok(spec) => de.end().map(|()| spec),
        Err(e) => {
            let field = e.path().to_string();
            let inner = e.into_inner();
            if field.is_empty() || field == "." {
                Err(inner)
            } else {
                Err(serde::de::Error::custom(format!("{field}: {inner}")))
            }
        }
    }
}

fn resolve_rootfs(spec: &Spec, bundle: &Path) -> Result<PathBuf> {
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| Error::invalid("root", "missing"))?;
    let path = bundle.join(root.path());
    let meta = std::fs::metadata(&path).map_err(|e| Error::path("root.path", &path, e))?;
    if !meta.is_dir() {
        return Err(Error::invalid(
            "root.path",
            format!("{} is not a directory", path.display()),
        ));
    }
    std::fs::canonicalize(&path).map_err(|e| Error::path("root.path", &path, e))
}

/// Checks the parts of the config this runtime applies.
pub fn validate(spec: &Spec) -> Result<()> {
    crate::hooks::validate(spec.hooks().as_ref())?;
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::invalid("process", "missing"))?;
    match process.args() {
        Some(args) if !args.is_empty() => {
            if args[0].is_empty() {
                return Err(Error::invalid("process.args[0]", "empty"));
            }
        }
        _ => return Err(Error::invalid("process.args", "must not be empty")),
    }
    if !process.cwd().is_absolute() {
        return Err(Error::invalid(
            "process.cwd",
            format!("{:?} is not an absolute path", process.cwd()),
        ));
    }
    for (i, e) in process.env().iter().flatten().enumerate() {
        if !e.contains('=') || e.contains('\0') {
            return Err(Error::invalid(
                format!("process.env[{i}]"),
                format!("{e:?} is not KEY=VALUE"),
            ));
        }
    }
    let mut seen_rlimits = HashSet::new();
    for (i, r) in process.rlimits().iter().flatten().enumerate() {
        if !seen_rlimits.insert(r.typ().to_string()) {
            return Err(Error::invalid(
                format!("process.rlimits[{i}]"),
                format!("{} appears twice", r.typ()),
            ));
        }
        if r.soft() > r.hard() {
            return Err(Error::invalid(
                format!("process.rlimits[{i}]"),
                format!(
                    "{}: soft limit {} exceeds hard limit {}",
                    r.typ(),
                    r.soft(),
                    r.hard()
                ),
            ));
        }
    }
    if let Some(adj) = process.oom_score_adj() {
        if !(-1000..=1000).contains(&adj) {
            return Err(Error::invalid(
                "process.oomScoreAdj",
                format!("{adj} is outside -1000..1000"),
            ));
        }
    }

    // A relative mount destination is relative to "/" (config.md, Mounts).
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        if m.destination().as_os_str().is_empty() {
            return Err(Error::invalid(format!("mounts[{i}].destination"), "empty"));
        }
    }
    if !is_semver(spec.version()) {
        return Err(Error::invalid(
            "ociVersion",
            format!("{:?} is not a SemVer 2.0.0 version", spec.version()),
        ));
    }
    if let Some(a) = spec.annotations() {
        if a.contains_key("") {
            return Err(Error::invalid("annotations", "keys must not be empty"));
        }
    }

    let linux = spec
        .linux()
        .as_ref()
        .ok_or_else(|| Error::invalid("linux", "missing"))?;
    let namespaces = linux.namespaces().as_deref().unwrap_or_default();
    let mut seen = HashSet::new();
    for (i, ns) in namespaces.iter().enumerate() {
        if !seen.insert(ns.typ()) {
            return Err(Error::invalid(
                format!("linux.namespaces[{i}]"),
                format!("namespace {} appears twice", ns.typ()),
            ));
        }
        if let Some(p) = ns.path() {
            if !p.is_absolute() {
                return Err(Error::invalid(
                    format!("linux.namespaces[{i}].path"),
                    format!("{p:?} is not an absolute path"),
                ));
            }
        }
    }
    let has = |t: LinuxNamespaceType| namespaces.iter().any(|n| n.typ() == t);
    let creates = |t: LinuxNamespaceType| {
        namespaces
            .iter()
            .any(|n| n.typ() == t && n.path().is_none())
    };
    if !has(LinuxNamespaceType::Mount) {
        return Err(Error::invalid(
            "linux.namespaces",
            "a mount namespace is required to set up the root filesystem",
        ));
    }
    if spec.hostname().as_deref().is_some_and(|h| !h.is_empty()) && !has(LinuxNamespaceType::Uts) {
        return Err(Error::invalid(
            "hostname",
            "setting the hostname needs a uts namespace",
        ));
    }
    if spec.domainname().as_deref().is_some_and(|h| !h.is_empty()) && !has(LinuxNamespaceType::Uts)
    {
        return Err(Error::invalid(
            "domainname",
            "setting the domainname needs a uts namespace",
        ));
    }
    let has_maps = linux.uid_mappings().as_ref().is_some_and(|m| !m.is_empty())
        || linux.gid_mappings().as_ref().is_some_and(|m| !m.is_empty());
    if creates(LinuxNamespaceType::User) {
        if !linux.uid_mappings().as_ref().is_some_and(|m| !m.is_empty()) {
            return Err(Error::invalid(
                "linux.uidMappings",
                "a new user namespace needs uid mappings",
            ));
        }
        if !linux.gid_mappings().as_ref().is_some_and(|m| !m.is_empty()) {
            return Err(Error::invalid(
                "linux.gidMappings",
                "a new user namespace needs gid mappings",
            ));
        }
    } else if has_maps && !has(LinuxNamespaceType::User) {
        return Err(Error::invalid(
            "linux.uidMappings",
            "id mappings are given but no user namespace is configured",
        ));
    }
    if let Some(offsets) = linux.time_offsets() {
        if !offsets.is_empty() && !creates(LinuxNamespaceType::Time) {
            return Err(Error::invalid(
                "linux.timeOffsets",
                "time offsets need a new time namespace",
            ));
        }
        for clock in offsets.keys() {
            if clock != "monotonic" && clock != "boottime" {
                return Err(Error::invalid(
                    format!("linux.timeOffsets.{clock}"),
                    "only \"monotonic\" and \"boottime\" can be offset",
                ));
            }
        }
    }
    crate::netdev::validate(spec, || joins_host_netns(namespaces))?;
    crate::mempolicy::plan(spec)?;
    crate::intelrdt::validate(spec)?;
    for (key, _) in linux.sysctl().iter().flatten() {
        if key.split(['.', '/']).any(|c| c.is_empty() || c == "..") || key.contains('\0') {
            return Err(Error::invalid(
                format!("linux.sysctl.{key}"),
                "not a valid sysctl name",
            ));
        }
        if let Err(reason) = sysctl_allowed(key, has) {
            return Err(Error::invalid(format!("linux.sysctl.{key}"), reason));
        }
        if key.replace('/', ".").starts_with("net.") && joins_host_netns(namespaces) {
            return Err(Error::invalid(
                format!("linux.sysctl.{key}"),
                "the network namespace joined by path is the host's: it would change the host's",
            ));
        }
    }
    Ok(())
}

/// Whether the network namespace joined by path is brisk's own (the
/// host's, as runc checks before writing net.* sysctls).
fn joins_host_netns(namespaces: &[oci_spec::runtime::LinuxNamespace]) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Some(path) = namespaces
        .iter()
        .find(|n| n.typ() == LinuxNamespaceType::Network)
        .and_then(|n| n.path().as_ref())
    else {
        return false;
    };
    match (
        std::fs::metadata(path),
        std::fs::metadata("/proc/self/ns/net"),
    ) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// runc's rule: only sysctls that a namespace of the container isolates
/// may be set, and only when the container has that namespace (new or
/// joined); anything else would change the host.
fn sysctl_allowed(
    key: &str,
    has: impl Fn(LinuxNamespaceType) -> bool,
) -> std::result::Result<(), String> {
    const IPC: [&str; 8] = [
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    let dotted = key.replace('/', ".");
    let (ns, name) = if IPC.contains(&dotted.as_str()) || dotted.starts_with("fs.mqueue.") {
        (LinuxNamespaceType::Ipc, "IPC")
    } else if dotted.starts_with("net.") {
        (LinuxNamespaceType::Network, "network")
    } else if dotted == "kernel.domainname" || dotted == "kernel.hostname" {
        (LinuxNamespaceType::Uts, "UTS")
    } else {
        return Err(
            "not isolated by any namespace of the container: it would change the host".into(),
        );
    };
    if has(ns) {
        Ok(())
    } else {
        Err(format!(
            "needs a {name} namespace of the container's own: it would change the host's"
        ))
    }
}

/// `linux.seccomp` checked against the spec's rules (each error names its
/// field) and brought to the canonical form the cache key is made of.
pub fn seccomp_profile(spec: &Spec) -> Result<Option<brisk_seccomp::Profile>> {
    match spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) {
        Some(s) => Ok(Some(brisk_seccomp::Profile::from_oci(s)?)),
        None => Ok(None),
    }
}

/// SemVer 2.0.0: MAJOR.MINOR.PATCH, optional -prerelease and +build.
pub fn is_semver(v: &str) -> bool {
    let (core, rest) = match v.find(['-', '+']) {
        Some(i) => (&v[..i], &v[i..]),
        None => (v, ""),
    };
    let nums: Vec<&str> = core.split('.').collect();
    let num_ok = |n: &&str| {
        !n.is_empty()
            && n.bytes().all(|b| b.is_ascii_digit())
            && (n.len() == 1 || !n.starts_with('0'))
    };
    let ident_ok = |s: &str| {
        s.split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
    };
    let (pre, build) = match rest.split_once('+') {
        Some((pre, build)) => (pre, Some(build)),
        None => (rest, None),
    };
    nums.len() == 3
        && nums.iter().all(num_ok)
        && (pre.is_empty() || pre.strip_prefix('-').is_some_and(ident_ok))
        && build.is_none_or(ident_ok)
}

/// Fields brisk reads but does not apply yet, so the CLI can warn instead
/// of ignoring them silently. None at the moment (`linux.intelRdt`, the
/// last one, is applied where resctrl is mounted and an error elsewhere).
pub fn ignored_fields(_spec: &Spec) -> Vec<&'static str> {
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The deferred parse sees the same config as the full one, minus
    /// `linux.seccomp`, and the deferred section gives the same profile.
    #[test]
    fn deferring_the_seccomp_section_changes_nothing_else() {
        let data = std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/data/podman-config.json"),
        )
        .expect("podman's config");
        let path = Path::new("config.json");
        let (spec, section) =
            parse_deferring_seccomp(&data, path, &mut Vec::new()).expect("parses");
        let section = section.expect("the section is deferred");
        assert!(data[section.clone()].starts_with(b"{"));
        let full = parse_config(&data, path, &mut Vec::new()).expect("parses");
        let mut without = full.clone();
        let linux = without.linux_mut().as_mut().expect("linux");
        assert!(
            linux.seccomp().is_some(),
            "podman's config has a seccomp section"
        );
        linux.set_seccomp(None);
        assert_eq!(spec, without);
        let config = Config {
            spec,
            bundle: PathBuf::from("/"),
            rootfs: PathBuf::from("/"),
            warnings: Vec::new(),
            raw: data.clone(),
            seccomp: None,
            seccomp_section: Some(section),
            path: path.to_path_buf(),
        };
        let deferred = deferred_seccomp(&config)
            .expect("checks")
            .expect("a profile");
        let direct = seccomp_profile(&full).expect("checks").expect("a profile");
        assert_eq!(deferred.canonical_bytes(), direct.canonical_bytes());
    }

    /// Whatever the fast path cannot be sure of goes the ordinary way,
    /// with the ordinary errors.
    #[test]
    fn doubtful_configs_are_parsed_whole() {
        let path = Path::new("config.json");
        let base = r#"{"ociVersion": "1.0.2", "root": {"path": "rootfs"}, "linux": LINUX}"#;
        let cases = [
            // Another spelling of the key: a duplicate field for serde.
            (
                r#"{"seccomp": {"defaultAction": "SCMP_ACT_ALLOW"}, "secc\u006fmp": null}"#,
                false,
            ),
            // No section, or a null one.
            (r#"{"seccomp": null}"#, true),
            (r#"{}"#, true),
        ];
        for (linux, ok) in cases {
            let data = base.replace("LINUX", linux);
            let r = parse_deferring_seccomp(data.as_bytes(), path, &mut Vec::new());
            assert_eq!(r.is_ok(), ok, "{data}: {:?}", r.as_ref().map(|x| &x.1));
            if let Ok((_, section)) = r {
                assert!(section.is_none(), "{data}");
            }
        }
        // A section with a bad value outside it: the full parse's error.
        let data = base.replace(
            "LINUX",
            r#"{"seccomp": {"defaultAction": "SCMP_ACT_ALLOW"}}, "process": 5"#,
        );
        let err = parse_deferring_seccomp(data.as_bytes(), path, &mut Vec::new()).unwrap_err();
        assert!(err.to_string().contains("process"), "{err}");
        // A broken section is deferred, and its parse names the field.
        let data = base.replace("LINUX", r#"{"seccomp": {"defaultAction": 7}}"#);
        let (spec, section) =
            parse_deferring_seccomp(data.as_bytes(), path, &mut Vec::new()).expect("deferred");
        let config = Config {
            spec,
            bundle: PathBuf::from("/"),
            rootfs: PathBuf::from("/"),
            warnings: Vec::new(),
            raw: data.into_bytes(),
            seccomp: None,
            seccomp_section: section,
            path: path.to_path_buf(),
        };
        let err = deferred_seccomp(&config).unwrap_err().to_string();
        assert!(err.contains("linux.seccomp.defaultAction"), "{err}");
    }

    #[test]
    fn sysctls_need_the_namespace_that_isolates_them() {
        use LinuxNamespaceType as T;
        let only = |ns: &'static [T]| move |t: T| ns.contains(&t);
        assert!(sysctl_allowed("net.ipv4.ip_forward", only(&[T::Network])).is_ok());
        assert!(sysctl_allowed("net/ipv4/conf/eth0.100/forwarding", only(&[T::Network])).is_ok());
        assert!(sysctl_allowed("net.ipv4.ip_forward", only(&[T::Ipc])).is_err());
        assert!(sysctl_allowed("kernel.shmmax", only(&[T::Ipc])).is_ok());
        assert!(sysctl_allowed("fs.mqueue.queues_max", only(&[T::Ipc])).is_ok());
        assert!(sysctl_allowed("kernel.shmmax", only(&[T::Network])).is_err());
        assert!(sysctl_allowed("kernel.domainname", only(&[T::Uts])).is_ok());
        let err = sysctl_allowed("vm.swappiness", only(&[T::Network, T::Ipc, T::Uts])).unwrap_err();
        assert!(err.contains("host"), "{err}");
        assert!(sysctl_allowed("kernel.pid_max", only(&[T::Pid])).is_err());
    }

    #[test]
    fn semver() {
        for v in [
            "1.0.0",
            "1.2.0",
            "1.0.2-dev",
            "1.3.0-rc.1+build.5",
            "10.20.30",
        ] {
            assert!(is_semver(v), "{v}");
        }
        for v in [
            "",
            "1.0",
            "1",
            "01.0.0",
            "1.0.0-",
            "1.0.0+",
            "v1.0.0",
            "not-a-version",
            "1.0.x",
        ] {
            assert!(!is_semver(v), "{v}");
        }
    }

    fn minimal() -> serde_json::Value {
        serde_json::json!({
            "ociVersion": "1.2.0",
            "root": {"path": "rootfs"},
            "process": {"args": ["sh"], "cwd": "/", "user": {"uid": 0, "gid": 0}},
            "linux": {"namespaces": [{"type": "mount"}, {"type": "pid"}]}
        })
    }

    fn check(v: serde_json::Value) -> Result<()> {
        let spec = parse(v.to_string().as_bytes()).map_err(|err| Error::ConfigParse {
            path: "config.json".into(),
            err,
        })?;
        validate(&spec)?;
        seccomp_profile(&spec).map(|_| ())
    }

    #[test]
    fn minimal_config_is_valid() {
        check(minimal()).unwrap();
    }

    #[test]
    fn type_errors_name_the_field() {
        let mut v = minimal();
        v["process"]["args"] = serde_json::json!("sh");
        let msg = check(v).unwrap_err().to_string();
        assert!(msg.contains("process.args"), "{msg}");
    }

    #[test]
    fn unknown_namespace_type_names_the_field() {
        let mut v = minimal();
        v["linux"]["namespaces"] = serde_json::json!([{"type": "bogus"}]);
        let msg = check(v).unwrap_err().to_string();
        assert!(msg.contains("linux.namespaces"), "{msg}");
    }

    #[test]
    fn semantic_errors_name_the_field() {
        let cases: Vec<(fn(&mut serde_json::Value), &str)> = vec![
            (
                |v| v["process"]["args"] = serde_json::json!([]),
                "process.args",
            ),
            (
                |v| v["process"]["cwd"] = serde_json::json!("rel"),
                "process.cwd",
            ),
            (
                |v| v["process"]["env"] = serde_json::json!(["NOEQUALS"]),
                "process.env[0]",
            ),
            (|v| v["hostname"] = serde_json::json!("h"), "hostname"),
            (
                |v| v["linux"]["namespaces"] = serde_json::json!([{"type": "pid"}]),
                "linux.namespaces",
            ),
            (
                |v| {
                    v["linux"]["namespaces"] =
                        serde_json::json!([{"type": "mount"}, {"type": "mount"}])
                },
                "linux.namespaces[1]",
            ),
            (
                |v| {
                    v["linux"]["namespaces"] =
                        serde_json::json!([{"type": "mount"}, {"type": "user"}])
                },
                "linux.uidMappings",
            ),
            (
                |v| v["linux"]["timeOffsets"] = serde_json::json!({"monotonic": {"secs": 1}}),
                "linux.timeOffsets",
            ),
            (
                |v| {
                    v["process"]["rlimits"] =
                        serde_json::json!([{"type": "RLIMIT_NOFILE", "soft": 10, "hard": 5}])
                },
                "process.rlimits[0]",
            ),
            (
                |v| v["process"]["oomScoreAdj"] = serde_json::json!(5000),
                "process.oomScoreAdj",
            ),
            (
                |v| v["mounts"] = serde_json::json!([{"destination": "", "type": "proc"}]),
                "mounts[0].destination",
            ),
            (|v| v["ociVersion"] = serde_json::json!("1.0"), "ociVersion"),
            (
                |v| v["annotations"] = serde_json::json!({"": "x"}),
                "annotations",
            ),
            (
                |v| {
                    v["linux"]["seccomp"] = serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW",
                        "syscalls": [{"names": ["a"], "action": "SCMP_ACT_EXPLODE"}]})
                },
                "linux.seccomp.syscalls[0].action",
            ),
            (
                |v| {
                    v["linux"]["seccomp"] = serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW",
                        "syscalls": [{"names": ["a"], "action": "SCMP_ACT_ERRNO",
                            "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_NOPE"}]}]})
                },
                "linux.seccomp.syscalls[0].args[0].op",
            ),
            (
                |v| {
                    v["linux"]["seccomp"] = serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW",
                        "architectures": ["SCMP_ARCH_PDP11"]})
                },
                "linux.seccomp.architectures[0]",
            ),
            (
                |v| {
                    v["linux"]["seccomp"] = serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW",
                        "syscalls": [{"names": ["a"], "action": "SCMP_ACT_ALLOW", "errnoRet": 1}]})
                },
                "linux.seccomp.syscalls[0].errnoRet",
            ),
        ];
        for (mutate, field) in cases {
            let mut v = minimal();
            mutate(&mut v);
            let msg = check(v).unwrap_err().to_string();
            assert!(msg.contains(field), "expected {field} in {msg}");
        }
    }
}
