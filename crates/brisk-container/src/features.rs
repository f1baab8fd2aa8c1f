//! The OCI features document (`brisk features`): what this build of brisk
//! applies. It lists only what is implemented, so clients do not rely on
//! what is still missing.

use serde_json::{json, Value};

use crate::container::OCI_VERSION;
use crate::process::caps;

/// Mount options `rootfs::options` understands.
pub const MOUNT_OPTIONS: &[&str] = &[
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
    "nosymfollow",
    "symfollow",
    "rro",
    "rrw",
    "rnosuid",
    "rsuid",
    "rnodev",
    "rdev",
    "rnoexec",
    "rexec",
    "rnodiratime",
    "rdiratime",
    "rrelatime",
    "rnorelatime",
    "ratime",
    "rnoatime",
    "rstrictatime",
    "rnostrictatime",
    "rnosymfollow",
    "rsymfollow",
    "idmap",
    "ridmap",
];

pub fn document() -> Value {
    let mut opts: Vec<&str> = MOUNT_OPTIONS.to_vec();
    opts.sort_unstable();
    json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": OCI_VERSION,
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": opts,
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "user", "uts", "time"],
            "capabilities": caps::NAMES.to_vec(),
            "cgroup": {"v1": true, "v2": true, "systemd": true, "systemdUser": false, "rdma": true},
            "seccomp": seccomp(),
            "apparmor": {"enabled": false},
            "selinux": {"enabled": false},
            // Applied where resctrl is mounted, an error elsewhere
            // (intelrdt.rs): the field is recognised either way.
            "intelRdt": {"enabled": true, "schemata": true, "monitoring": true},
            "mountExtensions": {"idmap": {"enabled": true}},
            "netDevices": {"enabled": true},
            "memoryPolicy": {
                "modes": crate::mempolicy::MODES.to_vec(),
                "flags": crate::mempolicy::FLAGS.to_vec()
            }
        },
        "annotations": {
            "org.brisk.version": env!("CARGO_PKG_VERSION")
        },
        // Annotations that change what the container may do: the caller's
        // groups stay with the process (podman's keep-groups).
        "potentiallyUnsafeConfigAnnotations": [crate::process::KEEP_GROUPS_ANNOTATION]
    })
}

/// What `linux.seccomp` accepts: every action and operator, the
/// architectures libseccomp 2.5 compiles for, the filter flags the running
/// kernel accepts.
fn seccomp() -> Value {
    use brisk_seccomp::profile::flag;
    let known = [
        ("SECCOMP_FILTER_FLAG_TSYNC", flag::TSYNC),
        ("SECCOMP_FILTER_FLAG_LOG", flag::LOG),
        ("SECCOMP_FILTER_FLAG_SPEC_ALLOW", flag::SPEC_ALLOW),
        (
            "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
            flag::WAIT_KILLABLE_RECV,
        ),
    ];
    let supported: Vec<&str> = known
        .iter()
        .filter(|(_, f)| brisk_seccomp::kernel::flag_supported(*f))
        .map(|(n, _)| *n)
        .collect();
    json!({
        "enabled": true,
        "actions": [
            "SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
            "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY", "SCMP_ACT_TRACE",
            "SCMP_ACT_TRAP"
        ],
        "operators": [
            "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT",
            "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"
        ],
        "archs": [
            "SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM", "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64",
            "SCMP_ARCH_MIPS64N32", "SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64",
            "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PARISC", "SCMP_ARCH_PARISC64", "SCMP_ARCH_PPC",
            "SCMP_ARCH_PPC64", "SCMP_ARCH_PPC64LE", "SCMP_ARCH_RISCV64", "SCMP_ARCH_S390",
            "SCMP_ARCH_S390X", "SCMP_ARCH_X32", "SCMP_ARCH_X86", "SCMP_ARCH_X86_64"
        ],
        "knownFlags": known.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
        "supportedFlags": supported,
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
        assert_eq!(d["linux"]["netDevices"]["enabled"], true);
        assert_eq!(
            d["linux"]["memoryPolicy"]["modes"].as_array().map(Vec::len),
            Some(7)
        );
    }
}
