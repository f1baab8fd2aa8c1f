//! The container's init process: the plan the parent prepares from the
//! config (everything the child needs, already converted to C strings and
//! masks), the clone that creates it, and the steps it runs until execve.
//!
//! See docs/ARCHITECTURE.md for the process model and the sync protocol.

mod child;
mod spawn;
mod sync;
pub mod title;

use std::ffi::CString;
use std::os::fd::{AsFd, OwnedFd};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::namespaces::{self, NamespacePlan};
use crate::process::{self, ProcessPlan};
use crate::rootfs::{self, cstring, RootfsPlan};
use crate::seccomp::{self, SeccompPlan};

pub use spawn::{spawn, Init};

/// Options of `create`/`run` that shape the init.
#[derive(Debug, Default, Clone)]
pub struct InitOptions {
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: u32,
    /// The compiled-filter cache directory (default
    /// `brisk_seccomp::cache::DEFAULT_DIR`).
    pub seccomp_cache: Option<std::path::PathBuf>,
    /// `--rootless` (auto: brisk is not root, or is root of a user
    /// namespace it was started in, as under rootless podman): the
    /// container is in a user namespace even when its config asks for
    /// none (devices are bound, not made); a cgroup brisk may not make or
    /// enter is skipped with a warning when the config names no
    /// `cgroupsPath`, an error naming the field when it names one
    /// (`container::create`). What would widen root's power goes by
    /// `namespaces::host_root`, not this flag: only a brisk that is not
    /// root of the host drops the device rules and lets a refused sysfs
    /// mount fall back to a read-only bind of the host's `/sys`.
    pub rootless: bool,
}

/// Everything the init process does, decided before the clone.
#[derive(Debug)]
pub struct Plan {
    pub ns: NamespacePlan,
    /// None for `exec`: the process joins the container's mount namespace.
    pub rootfs: Option<RootfsPlan>,
    pub process: ProcessPlan,
    pub hostname: Option<CString>,
    pub domainname: Option<CString>,
    /// (`/proc/sys/...` path, value) pairs.
    pub sysctls: Vec<(CString, Vec<u8>)>,
    pub new_keyring: bool,
    pub preserve_fds: u32,
    /// `create`: the init blocks reading this FIFO until `start` writes it.
    /// `run`: none, the init execs as soon as it is ready.
    pub start_fifo: Option<OwnedFd>,
    /// While it waits for `start`, the init checks every second that its
    /// exec FIFO still has a name, and leaves when it has none (its state
    /// directory was removed: nothing can start it any more). Only when
    /// the seccomp filter, loaded by then, allows the two system calls
    /// that takes (`orphan_watch_allowed`); else it waits as before.
    pub watch_start_fifo: bool,
    /// Fds of the parent the init closes first thing (the state directory
    /// lock, which would otherwise stay held until execve).
    pub close_in_init: Vec<std::os::fd::RawFd>,
    /// createContainer and startContainer hooks (run by the init).
    pub hooks: crate::hooks::InitHooks,
    /// `create` with startContainer hooks: where the init tells `start`
    /// whether they passed.
    pub start_result: Option<OwnedFd>,
    /// `process.terminal`: make a pty, with `process.consoleSize` if set.
    pub terminal: Option<Option<crate::terminal::Size>>,
    /// `linux.memoryPolicy`: set_mempolicy(2) in the init (and in `exec`).
    pub memory_policy: Option<crate::mempolicy::Plan>,
    /// `linux.intelRdt`: the resctrl group, joined by the parent right
    /// after the clone (set by `container::create`, which knows the id).
    pub intel_rdt: Option<crate::intelrdt::Plan>,
    /// `linux.netDevices`: moved by the parent right after the clone.
    pub net_devices: Option<crate::netdev::Plan>,
    /// `linux.personality` as the personality(2) value.
    pub personality: Option<libc::c_ulong>,
    /// `linux.seccomp`: the program and where to load it.
    pub seccomp: Option<SeccompPlan>,
    /// Debug lines for the CLI (e.g. whether the seccomp cache was hit).
    pub notes: Vec<String>,
    /// The cgroup2 directory the init is cloned into (CLONE_INTO_CGROUP).
    pub cgroup_fd: Option<std::os::fd::RawFd>,
    /// v1/hybrid: the init waits for `P` (placed in its cgroups) before
    /// anything else...
    pub wait_placed: bool,
    /// ...and then unshares a new cgroup namespace that was taken out of
    /// the clone flags, so that its root is the container's cgroup.
    pub unshare_cgroup_ns: bool,
    /// brisk's own binary on the host: what the init must never exec
    /// (`process::self_exe`).
    pub runtime_exe: process::self_exe::FileId,
    /// The parent sends `C` as soon as the state is recorded instead of
    /// after `R`: set by the caller when nothing of its own has to happen
    /// between the two and the init asks nothing in between (see
    /// `can_commit_early`).
    pub early_commit: bool,
}

impl Plan {
    /// Whether `C` may go before `R`: the init will ask the parent nothing
    /// but `C` (no id maps, no create hooks: their replies would meet `C`
    /// first) and the parent has nothing to do between `R` and `C` (no
    /// terminal to hand over, no seccomp listener to pass on; the caller
    /// adds its own conditions, e.g. no pid file). `C` then waits in the
    /// socket, and the init goes from `R` to its program without a round
    /// trip through brisk: two wake-ups across CPUs fewer on the start-up
    /// path.
    pub fn can_commit_early(&self) -> bool {
        let user_ns =
            (self.ns.clone_flags | self.ns.unshare_flags as u64) & libc::CLONE_NEWUSER as u64 != 0;
        !user_ns
            && self.ns.late_pid.is_none()
            && !self.hooks.sync
            && self.terminal.is_none()
            && self.seccomp.as_ref().is_none_or(|s| s.listener.is_none())
    }
}

/// `process.terminal` with its `consoleSize`: Some(size) when a pty is
/// wanted.
fn terminal_of(p: &oci_spec::runtime::Process) -> Option<Option<crate::terminal::Size>> {
    p.terminal().unwrap_or(false).then(|| {
        p.console_size().as_ref().map(|s| crate::terminal::Size {
            rows: s.height().min(u16::MAX as u64) as u16,
            cols: s.width().min(u16::MAX as u64) as u16,
        })
    })
}

/// The plan of an `exec` process: every namespace of the container's init
/// joined through `/proc/<pid>/ns` (the pid namespace by the parent before
/// the clone), no root filesystem work, the given process.
pub fn plan_exec(
    spec: &oci_spec::runtime::Spec,
    init_pid: libc::pid_t,
    process: &oci_spec::runtime::Process,
    preserve_fds: u32,
    seccomp_cache: Option<&std::path::Path>,
    in_cgroup: bool,
) -> Result<Plan> {
    use oci_spec::runtime::LinuxNamespaceType as T;
    let mut process_plan = process::plan(process)?;
    process_plan.keep_groups = process::keeps_original_groups(spec);
    // The container's seccomp filter (from the cache, normally).
    let mut notes = Vec::new();
    let seccomp = match crate::config::seccomp_profile(spec)? {
        Some(profile) => {
            let (s, note, warning) =
                seccomp::plan(&profile, spec, seccomp_cache, process_plan.no_new_privs)?;
            notes.push(note);
            notes.extend(warning);
            Some(s)
        }
        None => None,
    };
    let mut spec = spec.clone();
    if let Some(linux) = spec.linux_mut() {
        let joined: Vec<_> = linux
            .namespaces()
            .iter()
            .flatten()
            .map(|n| {
                let name = match n.typ() {
                    T::Pid => "pid",
                    T::Network => "net",
                    T::Mount => "mnt",
                    T::Ipc => "ipc",
                    T::Uts => "uts",
                    T::User => "user",
                    T::Cgroup => "cgroup",
                    // The init's own is the old one until it execs.
                    T::Time => "time_for_children",
                };
                let mut n = n.clone();
                n.set_path(Some(format!("/proc/{init_pid}/ns/{name}").into()));
                n
            })
            .collect();
        linux.set_namespaces(Some(joined));
    }
    let ns = namespaces::plan(&spec)?;
    Ok(Plan {
        ns,
        rootfs: None,
        process: process_plan,
        hostname: None,
        domainname: None,
        sysctls: Vec::new(),
        new_keyring: false,
        preserve_fds,
        start_fifo: None,
        watch_start_fifo: false,
        close_in_init: Vec::new(),
        hooks: crate::hooks::InitHooks::default(),
        start_result: None,
        terminal: terminal_of(process),
        memory_policy: crate::mempolicy::plan(&spec)?,
        intel_rdt: None,
        net_devices: None,
        personality: None,
        seccomp,
        notes,
        cgroup_fd: None,
        // The container's cgroups are joined by the parent after the
        // clone (no CLONE_INTO_CGROUP: the fd would be the init's to open).
        wait_placed: in_cgroup,
        unshare_cgroup_ns: false,
        runtime_exe: runtime_exe()?,
        early_commit: false,
    })
}

/// Where brisk puts the container's cgroups, as far as the init cares.
#[derive(Debug, Clone, Copy)]
pub struct CgroupPlacement<'a> {
    /// The path inside each hierarchy (`/brisk/c1`).
    pub path: &'a str,
    /// v1 controllers exist (v1 or hybrid), or systemd places the init:
    /// placement is a `cgroup.procs` write or a unit's start after the
    /// clone, not the clone itself.
    pub v1: bool,
    /// The host's cgroups are cgroup2 only (what a `cgroup` mount in the
    /// container is), whoever places the init.
    pub cgroup2_host: bool,
}

pub fn plan(
    config: &Config,
    opts: &InitOptions,
    cgroup: Option<CgroupPlacement<'_>>,
) -> Result<Plan> {
    let spec = &config.spec;
    let mut ns = namespaces::plan(spec)?;
    let new_cgroup_ns =
        (ns.clone_flags as libc::c_int | ns.unshare_flags) & libc::CLONE_NEWCGROUP != 0;
    // With v1 hierarchies the init is placed by the parent after the
    // clone: it waits for that before any setup, so that everything it
    // does is accounted to the container. A cgroup namespace's root is the
    // creator's cgroup at that moment, so a new one is unshared only then.
    // (On cgroup2 CLONE_INTO_CGROUP does both in the clone.)
    let (wait_placed, unshare_cgroup_ns) = match cgroup {
        Some(c) if c.v1 => {
            let newcg = libc::CLONE_NEWCGROUP as u64;
            let in_clone = ns.clone_flags & newcg != 0;
            ns.clone_flags &= !newcg;
            (true, in_clone)
        }
        _ => (false, false),
    };
    let own_userns = ns.new_user || ns.joins.iter().any(|j| j.nstype == libc::CLONE_NEWUSER);
    // SAFETY: geteuid cannot fail.
    let euid = unsafe { libc::geteuid() };
    if euid != 0 && !own_userns {
        // As runc: without a user namespace the clone of an unprivileged
        // brisk fails with only "Operation not permitted".
        return Err(Error::invalid(
            "linux.namespaces",
            format!(
                "a rootless container requires a user namespace: brisk runs as uid {euid}, \
                 not root; add {{\"type\": \"user\"}} with linux.uidMappings and \
                 linux.gidMappings (`brisk spec --rootless` writes such a config)"
            ),
        ));
    }
    let in_userns = own_userns || opts.rootless;
    let userns = if ns.new_user {
        Some(rootfs::idmap::ContainerUserns::New {
            uid_map: &ns.uid_map,
            gid_map: &ns.gid_map,
        })
    } else {
        ns.joins
            .iter()
            .find(|j| j.nstype == libc::CLONE_NEWUSER)
            .map(|j| rootfs::idmap::ContainerUserns::Joined(j.fd.as_fd()))
    };
    let ctx = rootfs::mounts::Context {
        bundle: &config.bundle,
        in_userns,
        new_cgroup_ns,
        userns,
        mount_label: crate::config::mount_label(spec).filter(|_| rootfs::selinux_enabled()),
        cgroup_path: cgroup.map(|c| c.path),
        cgroup2_host: cgroup.map(|c| c.cgroup2_host),
        sysfs_fallback: opts.rootless && !namespaces::host_root(),
    };
    let rootfs = rootfs::plan(spec, &config.rootfs, opts.no_pivot, ctx)?;
    let mut process = process::plan(
        spec.process()
            .as_ref()
            .ok_or_else(|| Error::invalid("process", "missing"))?,
    )?;
    process.keep_groups = process::keeps_original_groups(spec);
    if ns.map_writer.deny_setgroups && !process.groups.is_empty() && !process.keep_groups {
        return Err(Error::invalid(
            "process.user.additionalGids",
            "cannot be set: an unprivileged caller that maps only its own gid must deny \
             setgroups(2) in the user namespace (map a range from /etc/subgid, written by \
             newgidmap, to allow it)",
        ));
    }
    // Not applicable to the container's init (config.md); checked above.
    process.cpu_initial = None;
    process.cpu_final = None;
    let mut sysctls = Vec::new();
    let mut keys: Vec<_> = spec
        .linux()
        .as_ref()
        .and_then(|l| l.sysctl().as_ref())
        .into_iter()
        .flatten()
        .collect();
    keys.sort();
    for (key, value) in keys {
        // config::validate has checked the name.
        let field = format!("linux.sysctl.{key}");
        // A key with slashes is a path already (its dots are part of
        // names, as in net/ipv4/conf/eth0.100/forwarding).
        let path = if key.contains('/') {
            format!("/proc/sys/{key}")
        } else {
            format!("/proc/sys/{}", key.replace('.', "/"))
        };
        sysctls.push((
            cstring(&field, path.as_bytes())?,
            value.clone().into_bytes(),
        ));
    }
    let opt_cstring = |field: &str, v: &Option<String>| {
        v.as_deref()
            .filter(|s| !s.is_empty())
            .map(|s| cstring(field, s.as_bytes()))
            .transpose()
    };
    let personality = match spec.linux().as_ref().and_then(|l| l.personality().as_ref()) {
        Some(p) => {
            if let Some(f) = p.flags().as_ref().and_then(|f| f.first()) {
                return Err(Error::invalid(
                    "linux.personality.flags[0]",
                    format!("{f:?}: no personality flags are supported"),
                ));
            }
            Some(match p.domain() {
                oci_spec::runtime::LinuxPersonalityDomain::PerLinux => PER_LINUX,
                oci_spec::runtime::LinuxPersonalityDomain::PerLinux32 => PER_LINUX32,
            })
        }
        None => None,
    };
    let mut notes = Vec::new();
    let mut close_in_init = Vec::new();
    let planned = match (&config.seccomp, &config.seccomp_section) {
        (Some(profile), _) => Some(seccomp::plan(
            profile,
            spec,
            opts.seccomp_cache.as_deref(),
            process.no_new_privs,
        )?),
        (None, Some(section)) => seccomp::plan_section(
            &config.raw[section.clone()],
            || crate::config::deferred_seccomp(config),
            spec,
            opts.seccomp_cache.as_deref(),
            process.no_new_privs,
        )?,
        (None, None) => None,
    };
    let seccomp = match planned {
        Some((s, note, warning)) => {
            notes.push(note);
            process.warnings.extend(warning);
            if let Some(l) = &s.listener {
                // The agent must see EOF once brisk is done, not when the
                // init execs.
                close_in_init.push(std::os::fd::AsRawFd::as_raw_fd(&l.stream));
            }
            Some(s)
        }
        None => None,
    };
    let net_devices = crate::netdev::plan(spec, &ns)?;
    Ok(Plan {
        ns,
        rootfs: Some(rootfs),
        process,
        hostname: opt_cstring("hostname", spec.hostname())?,
        domainname: opt_cstring("domainname", spec.domainname())?,
        sysctls,
        new_keyring: !opts.no_new_keyring,
        preserve_fds: opts.preserve_fds,
        watch_start_fifo: orphan_watch_allowed(seccomp.as_ref()),
        start_fifo: None,
        close_in_init,
        hooks: crate::hooks::plan_init(spec.hooks().as_ref())?,
        start_result: None,
        terminal: spec.process().as_ref().and_then(terminal_of),
        memory_policy: crate::mempolicy::plan(spec)?,
        intel_rdt: None,
        net_devices,
        personality,
        seccomp,
        notes,
        cgroup_fd: None,
        wait_placed,
        unshare_cgroup_ns,
        runtime_exe: runtime_exe()?,
        early_commit: false,
    })
}

/// personality(2) domains of `linux.personality`: the same values on every
/// architecture. LINUX32 is the build's 32-bit sibling: `uname -m` says
/// i686 on x86_64 and armv8l on arm64, where the kernel takes it only on
/// a CPU that runs AArch32 code (many recent arm64 cores do not: EINVAL,
/// which runc and crun pass on as it is; `child::personality_step` words
/// it).
pub(crate) const PER_LINUX: libc::c_ulong = 0x0000;
pub(crate) const PER_LINUX32: libc::c_ulong = 0x0008;

/// The system calls of the init's orphan watch (`child::wait_for_start`).
pub(crate) const WATCH_SYSCALLS: [libc::c_long; 2] = [libc::SYS_ppoll, libc::SYS_newfstatat];

/// Whether the init may watch its exec FIFO: no seccomp filter, or one
/// that allows `WATCH_SYSCALLS` as the init makes them (judged by running
/// the program on them with brisk's BPF interpreter): a profile that kills
/// on them must not kill a created container. The filter sees the calls
/// as the kernel shows them to it: the build's own architecture
/// (`AUDIT_ARCH_X86_64` or `AUDIT_ARCH_AARCH64`) and that architecture's
/// numbers, which `WATCH_SYSCALLS` takes from libc.
fn orphan_watch_allowed(seccomp: Option<&SeccompPlan>) -> bool {
    let Some(s) = seccomp else { return true };
    WATCH_SYSCALLS.iter().all(|&nr| {
        let d = brisk_seccomp::interp::SeccompData {
            nr: nr as i32,
            arch: brisk_seccomp::profile::NATIVE_ARCH,
            instruction_pointer: 0,
            // An fd, a pointer, a small count or flag, as the calls pass.
            args: [3, 0x7fff_0000_1000, 1, 0, 8, 0],
        };
        matches!(
            brisk_seccomp::interp::run_bytes(&s.bpf, &d),
            Ok(r) if r & 0xffff_0000 == 0x7fff_0000 || r & 0xffff_0000 == 0x7ffc_0000
        )
    })
}

fn runtime_exe() -> Result<process::self_exe::FileId> {
    process::self_exe::runtime_exe().map_err(|e| Error::path("stat", "/proc/self/exe", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan_of(profile: serde_json::Value) -> SeccompPlan {
        let s: oci_spec::runtime::LinuxSeccomp = serde_json::from_value(profile).unwrap();
        let p = brisk_seccomp::Profile::from_oci(&s).unwrap();
        let (c, _) = brisk_seccomp::Compiler::Native.compile(&p).unwrap();
        SeccompPlan {
            bpf: c.bpf,
            flags: 0,
            before_identity: false,
            listener: None,
        }
    }

    /// A created init watches its exec FIFO only with system calls the
    /// container's filter lets through: one that kills on them must not
    /// kill a created container.
    #[test]
    fn the_orphan_watch_follows_the_seccomp_filter() {
        assert!(orphan_watch_allowed(None));
        let allow = plan_of(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_NATIVE"],
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]
        }));
        assert!(orphan_watch_allowed(Some(&allow)));
        let logged = plan_of(serde_json::json!({
            "defaultAction": "SCMP_ACT_LOG", "architectures": ["SCMP_ARCH_NATIVE"]
        }));
        assert!(orphan_watch_allowed(Some(&logged)));
        let kills_ppoll = plan_of(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_NATIVE"],
            "syscalls": [{"names": ["ppoll"], "action": "SCMP_ACT_KILL_PROCESS"}]
        }));
        assert!(!orphan_watch_allowed(Some(&kills_ppoll)));
        let denies_all = plan_of(serde_json::json!({
            "defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_NATIVE"],
            "syscalls": [{"names": ["read", "write", "ppoll"], "action": "SCMP_ACT_ALLOW"}]
        }));
        assert!(
            !orphan_watch_allowed(Some(&denies_all)),
            "newfstatat is denied"
        );
    }
}
