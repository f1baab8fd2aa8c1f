//! The OCI features document (`brisk features`): what this build of brisk
//! applies. It lists only what is implemented, so clients do not rely on
//! what is still missing.

use serde_json::{json, Value};

use crate::container::OCI_VERSION;
use crate::process::caps;

/// Mount options `rootfs::options` understands.
pub const MOUNT_OPTIONS: [&str; 39] = [
    "async",
    "atime",
    "bind",
    "defaults",
    "dev",
    "diratime",
    "dirsync",
    "exec",
    "lazytime",
    "loud",
    "mand",
    "iversion",
    "noatime",
    "nodev",
    "nodiratime",
    "noexec",
    "noiversion",
    "nolazytime",
    "nomand",
    "norelatime",
    "nostrictatime",
    "nosuid",
    "private",
    "rbind",
    "relatime",
    "remount",
    "ro",
    "rprivate",
    "rshared",
    "rslave",
    "runbindable",
    "rw",
    "shared",
    "silent",
    "slave",
    "strictatime",
    "suid",
    "sync",
    "unbindable",
];

pub fn document() -> Value {
    let mut opts: Vec<&str> = MOUNT_OPTIONS.iter().copied().collect();
    opts.sort_unstable();
    json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": OCI_VERSION,
        "hooks": [],
        "mountOptions": opts,
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "user", "uts", "time"],
            "capabilities": caps::NAMES.to_vec(),
            "cgroup": {"v1": true, "v2": true, "systemd": false, "systemdUser": false, "rdma": true},
            "seccomp": {"enabled": false},
            "apparmor": {"enabled": false},
            "selinux": {"enabled": false},
            "intelRdt": {"enabled": false},
            "mountExtensions": {"idmap": {"enabled": false}}
        },
        "annotations": {
            "org.brisk.version": env!("CARGO_PKG_VERSION")
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rootfs::options;

    #[test]
    fn advertised_mount_options_are_understood() {
        for o in MOUNT_OPTIONS {
            assert!(
                options::parse(&[o]).data.is_empty(),
                "{o} would be passed as data"
            );
        }
    }

    #[test]
    fn document_shape() {
        let d = document();
        assert_eq!(d["ociVersionMax"], OCI_VERSION);
        assert_eq!(
            d["linux"]["capabilities"].as_array().map(Vec::len),
            Some(caps::NAMES.len())
        );
    }
}
