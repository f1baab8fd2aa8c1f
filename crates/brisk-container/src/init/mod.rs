//! The container's init process: the plan the parent prepares from the
//! config (everything the child needs, already converted to C strings and
//! masks), the clone that creates it, and the steps it runs until execve.
//!
//! See docs/ARCHITECTURE.md for the process model and the sync protocol.

mod child;
mod spawn;
mod sync;

use std::ffi::{CStr, CString};
use std::fmt;
use std::io;
use std::os::fd::OwnedFd;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::namespaces::{self, NamespacePlan};
use crate::process::{self, ProcessPlan};
use crate::rootfs::{self, cstring, RootfsPlan};

pub use spawn::{forwarded_set, spawn, Init};

/// A failed step in the init process, sent to the parent as text. It
/// borrows from the plan so that failing needs no allocation until the
/// message is written.
#[derive(Debug)]
pub struct Failure<'a> {
    pub step: &'static str,
    pub subject: Option<&'a CStr>,
    pub err: io::Error,
}

impl<'a> Failure<'a> {
    pub fn new(step: &'static str, err: io::Error) -> Self {
        Failure {
            step,
            subject: None,
            err,
        }
    }
    pub fn with(step: &'static str, subject: &'a CStr, err: io::Error) -> Self {
        Failure {
            step,
            subject: Some(subject),
            err,
        }
    }
}

impl fmt::Display for Failure<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.subject {
            Some(s) => write!(f, "{} {}: {}", self.step, s.to_string_lossy(), self.err),
            None => write!(f, "{}: {}", self.step, self.err),
        }
    }
}

/// Options of `create`/`run` that shape the init.
#[derive(Debug, Default, Clone)]
pub struct InitOptions {
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: u32,
}

/// Everything the init process does, decided before the clone.
#[derive(Debug)]
pub struct Plan {
    pub ns: NamespacePlan,
    pub rootfs: RootfsPlan,
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
    /// Fds of the parent the init closes first thing (the state directory
    /// lock, which would otherwise stay held until execve).
    pub close_in_init: Vec<std::os::fd::RawFd>,
    /// The cgroup2 directory the init is cloned into (CLONE_INTO_CGROUP).
    pub cgroup_fd: Option<std::os::fd::RawFd>,
    /// v1/hybrid: the init waits for `P` (placed in its cgroups) before
    /// anything else...
    pub wait_placed: bool,
    /// ...and then unshares a new cgroup namespace that was taken out of
    /// the clone flags, so that its root is the container's cgroup.
    pub unshare_cgroup_ns: bool,
}

/// Where brisk puts the container's cgroups, as far as the init cares.
#[derive(Debug, Clone, Copy)]
pub struct CgroupPlacement<'a> {
    /// The path inside each hierarchy (`/brisk/c1`).
    pub path: &'a str,
    /// v1 controllers exist (v1 or hybrid): placement is a `cgroup.procs`
    /// write after the clone, not the clone itself.
    pub v1: bool,
}

pub fn plan(
    config: &Config,
    opts: &InitOptions,
    cgroup: Option<CgroupPlacement<'_>>,
) -> Result<Plan> {
    let spec = &config.spec;
    let mut ns = namespaces::plan(spec)?;
    let in_userns = ns.new_user || ns.joins.iter().any(|j| j.nstype == libc::CLONE_NEWUSER);
    let ctx = rootfs::mounts::Context {
        bundle: &config.bundle,
        in_userns,
        new_cgroup_ns: (ns.clone_flags as libc::c_int | ns.unshare_flags) & libc::CLONE_NEWCGROUP
            != 0,
        cgroup_path: cgroup.map(|c| c.path),
        cgroup2_host: cgroup.map(|c| !c.v1),
    };
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
    let rootfs = rootfs::plan(spec, &config.rootfs, opts.no_pivot, ctx)?;
    let process = process::plan(
        spec.process()
            .as_ref()
            .ok_or_else(|| Error::invalid("process", "missing"))?,
    )?;
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
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
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
    Ok(Plan {
        ns,
        rootfs,
        process,
        hostname: opt_cstring("hostname", spec.hostname())?,
        domainname: opt_cstring("domainname", spec.domainname())?,
        sysctls,
        new_keyring: !opts.no_new_keyring,
        preserve_fds: opts.preserve_fds,
        start_fifo: None,
        close_in_init: Vec::new(),
        cgroup_fd: None,
        wait_placed,
        unshare_cgroup_ns,
    })
}
