//! The property of the fuzz target `config`, shared with the stable
//! replay test (`tests/fuzz_replay.rs`): config.json bytes go through what
//! `create` does with them before anything is created, and nothing panics.
//! Every error is rendered, as the CLI would print it.

use std::path::Path;

use brisk_container::config;
use brisk_container::rootfs::{devices, mounts};
use brisk_container::{hooks, namespaces, process};

/// What a run reached, for the replay test to check that its corpus still
/// exercises the later stages (not only the parser).
#[derive(Debug, PartialEq, Eq)]
pub enum Reached {
    ParseError(String),
    InvalidConfig(String),
    Planned,
}

pub fn check(data: &[u8]) -> Reached {
    let mut warnings = Vec::new();
    let spec = match config::parse_config(data, Path::new("config.json"), &mut warnings) {
        Ok(spec) => spec,
        Err(e) => return Reached::ParseError(e.to_string()),
    };
    if let Err(e) = config::check(&spec, data, &mut warnings) {
        return Reached::InvalidConfig(e.to_string());
    }
    let _ = config::ignored_fields(&spec);
    plan_pure_parts(&spec);
    Reached::Planned
}

/// The parts of `init::plan` that need nothing from the host beyond
/// read-only lookups. Left out: namespace paths (opened), idmapped mounts
/// (a user namespace is forked for them), the seccomp cache (written).
fn plan_pure_parts(spec: &oci_spec::runtime::Spec) {
    let render = |r: brisk_container::Result<()>| {
        if let Err(e) = r {
            let _ = e.to_string();
        }
    };
    if let Some(p) = spec.process() {
        render(process::plan(p).map(drop));
    }
    render(hooks::plan_init(spec.hooks().as_ref()).map(drop));
    let linux = spec.linux().as_ref();
    render(
        devices::plan(
            linux
                .and_then(|l| l.devices().as_deref())
                .unwrap_or_default(),
        )
        .map(drop),
    );
    let ctx = mounts::Context {
        bundle: Path::new("/nonexistent/brisk-fuzz-bundle"),
        in_userns: false,
        new_cgroup_ns: true,
        userns: None,
        mount_label: config::mount_label(spec),
        cgroup_path: Some("/brisk/fuzz"),
        cgroup2_host: Some(false),
        sysfs_fallback: false,
    };
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        render(mounts::plan(i, m, ctx).map(drop));
    }
    let joins = linux
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| ns.iter().any(|n| n.path().is_some()));
    if !joins {
        render(namespaces::plan(spec).map(drop));
    }
}
