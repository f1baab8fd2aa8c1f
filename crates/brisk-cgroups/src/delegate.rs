//! Cgroup ownership (config-linux.md, "Cgroup ownership"): on a cgroup2
//! host, a container with its own user and cgroup namespaces and a
//! read-write cgroup mount at `/sys/fs/cgroup` gets its cgroup directory,
//! and the files the kernel lists as delegatable in
//! `/sys/kernel/cgroup/delegate`, owned by the host uid of its process
//! user: it can then make sub-cgroups and move its processes, as systemd
//! inside it expects. Nothing else changes owner (not the controllers'
//! limit files: those belong to the parent), and never on v1 or hybrid.
//!
//! Everything goes through one fd of the container's directory, opened
//! without following symlinks; a listed file that does not exist there is
//! skipped (the spec: not an error). Only a directory brisk made is given
//! away (never one another container shares), and its `cgroup.max.depth`
//! is capped at [`crate::cgroup::MAX_CHILD_DEPTH`] when unlimited.

use std::io;
use std::path::Path;

use rustix::fs::{AtFlags, Mode, OFlags};

use crate::error::{Error, Result};

/// The list the kernel publishes; the spec's fallback when it is absent.
const DELEGATE_LIST: &str = "/sys/kernel/cgroup/delegate";
const FALLBACK: [&str; 3] = ["cgroup.procs", "cgroup.subtree_control", "cgroup.threads"];

/// The file names to hand over: the kernel's list, or the fallback.
pub fn delegatable_files(list: Option<&str>) -> Vec<String> {
    match list {
        Some(text) => text
            .split_whitespace()
            .filter(|n| !n.contains('/') && *n != "." && *n != "..")
            .map(str::to_string)
            .collect(),
        None => FALLBACK.iter().map(|s| s.to_string()).collect(),
    }
}

/// Makes `uid` the owner of the cgroup2 directory `dir` and of its
/// delegatable files (the group stays). Returns the names changed.
pub fn chown_to(dir: &Path, uid: u32) -> Result<Vec<String>> {
    let list = match std::fs::read_to_string(DELEGATE_LIST) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => {
            return Err(Error::path(
                "read the delegatable cgroup files",
                DELEGATE_LIST,
                e,
            ))
        }
    };
    let fd = rustix::fs::open(
        dir,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::path("open the container's cgroup", dir, e.into()))?;
    // The container may nest cgroups below its own: bounded, so that
    // brisk's walks over them (`ps`, removal at delete) stay bounded too.
    // The file is not delegatable: the container cannot raise it.
    let depth = dir.join("cgroup.max.depth");
    if crate::cgroup::read_file(&depth).is_ok_and(|v| v.trim() == "max") {
        crate::cgroup::write_file(&depth, &crate::cgroup::MAX_CHILD_DEPTH.to_string())
            .map_err(|e| Error::path("bound the container's cgroup depth", &depth, e))?;
    }
    let owner = Some(rustix::fs::Uid::from_raw(uid));
    rustix::fs::chownat(&fd, "", owner, None, AtFlags::EMPTY_PATH)
        .map_err(|e| Error::path("give the container its cgroup", dir, e.into()))?;
    let mut changed = vec![".".to_string()];
    for name in delegatable_files(list.as_deref()) {
        match rustix::fs::chownat(&fd, name.as_str(), owner, None, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(()) => changed.push(name),
            Err(rustix::io::Errno::NOENT) => {}
            Err(e) => {
                return Err(Error::path(
                    "give the container a delegatable cgroup file",
                    dir.join(&name),
                    e.into(),
                ))
            }
        }
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernels_list_or_the_fallback() {
        assert_eq!(
            delegatable_files(Some("cgroup.procs\ncgroup.threads\nmemory.reclaim\n")),
            ["cgroup.procs", "cgroup.threads", "memory.reclaim"]
        );
        assert_eq!(
            delegatable_files(None),
            ["cgroup.procs", "cgroup.subtree_control", "cgroup.threads"]
        );
        assert_eq!(delegatable_files(Some("../x a/b .. ok")), ["ok"]);
    }
}
