//! A [`Record`] read back from a container's `state.json` is input, not
//! brisk's own memory: a bug, a crashed writer or an edit can leave one
//! that names some other directory, and `kill --all`, `delete`, `pause`,
//! `update` and `exec` would signal, freeze, write to or remove whatever
//! it names. [`Record::verify`] holds the record to the invariant below
//! before any of them acts on it.
//!
//! The invariant: a recorded cgroup is
//! - at the path `create` gives the container (`expected`: the saved
//!   config's `linux.cgroupsPath` and the id through [`crate::path::resolve`]:
//!   absolute, normalised, no `..`, not the root), the same in every
//!   hierarchy;
//! - in each hierarchy, exactly that path under the mount point of one of
//!   the host's hierarchies ([`Host::detect`]), each hierarchy once, with
//!   its controllers; what brisk `created` there is that path or one of its
//!   ancestors, never the hierarchy's root;
//! - on disk, each mount point is a cgroup file system (`fstatfs`:
//!   CGROUP_SUPER_MAGIC for a v1 hierarchy, CGROUP2_SUPER_MAGIC for the
//!   unified one) and the path resolves beneath it with
//!   `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV)`:
//!   no symlink, no other mount on the way. A path already gone is fine
//!   (nothing to act on).
//!
//! What this cannot tell: a config whose `cgroupsPath` names someone
//! else's cgroup (a config author may, as with runc), or a state
//! directory whose config and state were both rewritten to agree.

use std::os::fd::OwnedFd;
use std::path::Path;

use rustix::fs::{Mode, OFlags, ResolveFlags};

use crate::cgroup::Record;
use crate::error::{Error, Result};
use crate::layout::{Host, CGROUP2_SUPER_MAGIC, CGROUP_SUPER_MAGIC};

fn refused(what: impl std::fmt::Display, reason: impl Into<String>) -> Error {
    Error::Refused {
        what: what.to_string(),
        reason: reason.into(),
    }
}

/// `/a/b`: absolute, no empty, `.` or `..` component, not `/` itself.
pub fn is_normal(path: &str) -> bool {
    path.strip_prefix('/').is_some_and(|rel| {
        !rel.is_empty()
            && rel
                .split('/')
                .all(|c| !c.is_empty() && c != "." && c != "..")
    })
}

/// One of the host's hierarchies: mount point, v1 controllers (none for
/// cgroup2), the file system magic it must have.
struct Hierarchy<'h> {
    mount: &'h Path,
    controllers: &'h [String],
    magic: i64,
}

fn hierarchies(host: &Host) -> Vec<Hierarchy<'_>> {
    let mut all: Vec<Hierarchy<'_>> = host
        .v1
        .iter()
        .map(|h| Hierarchy {
            mount: &h.mount,
            controllers: &h.controllers,
            magic: CGROUP_SUPER_MAGIC,
        })
        .collect();
    if let Some(u) = &host.unified {
        all.push(Hierarchy {
            mount: u,
            controllers: &[],
            magic: CGROUP2_SUPER_MAGIC,
        });
    }
    all
}

/// `mount` + `/` + `rel`, as bytes (what `Cgroup::create` records).
fn under(mount: &Path, rel: &str) -> Vec<u8> {
    let mut p = mount.as_os_str().as_encoded_bytes().to_vec();
    p.push(b'/');
    p.extend_from_slice(rel.as_bytes());
    p
}

impl Record {
    /// Checks the record against the invariant of this module; `expected`
    /// is the container's cgroup path as `create` computes it. Only reads
    /// (a few `open`, `fstatfs` and `openat2` per hierarchy).
    pub fn verify(&self, host: &Host, expected: &str) -> Result<()> {
        if !is_normal(&self.path) {
            return Err(refused(&self.path, "not a normalised absolute cgroup path"));
        }
        if self.path != expected {
            return Err(refused(
                &self.path,
                format!("the container's config gives {expected}"),
            ));
        }
        let rel = &self.path[1..];
        let all = hierarchies(host);
        let mut used: Vec<&Hierarchy<'_>> = Vec::new();
        for d in &self.dirs {
            let found = all.iter().find(|h| {
                h.controllers == d.controllers.as_slice()
                    && d.path.as_os_str().as_encoded_bytes() == under(h.mount, rel)
            });
            let Some(h) = found else {
                return Err(refused(
                    d.path.display(),
                    format!("not {expected} under one of the host's cgroup hierarchies"),
                ));
            };
            if used.iter().any(|u| u.mount == h.mount) {
                return Err(refused(d.path.display(), "a hierarchy named twice"));
            }
            used.push(h);
        }
        for c in &self.created {
            let c_bytes = c.as_os_str().as_encoded_bytes();
            let ancestor = used.iter().any(|h| {
                let m = h.mount.as_os_str().as_encoded_bytes();
                c_bytes
                    .strip_prefix(m)
                    .and_then(|r| r.strip_prefix(b"/"))
                    .is_some_and(|r| {
                        !r.is_empty()
                            && (r == rel.as_bytes()
                                || rel
                                    .as_bytes()
                                    .strip_prefix(r)
                                    .is_some_and(|t| t.first() == Some(&b'/')))
                    })
            });
            if !ancestor {
                return Err(refused(
                    c.display(),
                    format!(
                        "not {expected} or one of its ancestors in the container's hierarchies"
                    ),
                ));
            }
        }
        for h in used {
            check_on_disk(h, rel)?;
        }
        Ok(())
    }
}

/// The mount point is a cgroup file system of the right kind, and `rel`
/// resolves beneath it without symlinks or mount crossings (or is gone).
fn check_on_disk(h: &Hierarchy<'_>, rel: &str) -> Result<()> {
    let root = rustix::fs::open(
        h.mount,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| refused(h.mount.display(), format!("cannot open: {e}")))?;
    check_magic(&root, h, h.mount)?;
    let dir = loop {
        match rustix::fs::openat2(
            &root,
            rel,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::BENEATH
                | ResolveFlags::NO_SYMLINKS
                | ResolveFlags::NO_MAGICLINKS
                | ResolveFlags::NO_XDEV,
        ) {
            Ok(fd) => break fd,
            // Removed already: nothing left to act on.
            Err(rustix::io::Errno::NOENT) => return Ok(()),
            // openat2 asks callers to retry when a rename raced the lookup.
            Err(rustix::io::Errno::AGAIN) => continue,
            Err(e) => {
                return Err(refused(
                    h.mount.join(rel).display(),
                    format!(
                        "does not resolve beneath {} on its own: {e}",
                        h.mount.display()
                    ),
                ))
            }
        }
    };
    check_magic(&dir, h, &h.mount.join(rel))
}

fn check_magic(fd: &OwnedFd, h: &Hierarchy<'_>, shown: &Path) -> Result<()> {
    let fs = rustix::fs::fstatfs(fd).map_err(|e| refused(shown.display(), e.to_string()))?;
    #[allow(clippy::unnecessary_cast)] // f_type's type differs between targets
    let magic = fs.f_type as i64;
    if magic != h.magic {
        let kind = if h.magic == CGROUP2_SUPER_MAGIC {
            "cgroup2"
        } else {
            "cgroup (v1)"
        };
        return Err(refused(
            shown.display(),
            format!("not on a {kind} file system (magic {magic:#x})"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroup::Dir;
    use crate::layout::{Hierarchy as HostHierarchy, Layout};
    use std::path::PathBuf;

    #[test]
    fn normal_paths() {
        for p in ["/a", "/a/b", "/brisk/c-1"] {
            assert!(is_normal(p), "{p}");
        }
        for p in [
            "", "/", "a/b", "/a/../b", "/a/./b", "/a//b", "/a/", "/..", "//a",
        ] {
            assert!(!is_normal(p), "{p}");
        }
    }

    /// A host whose "hierarchies" are plain directories: the checks before
    /// the file system magic can be tested anywhere.
    fn host(base: &Path) -> Host {
        Host {
            layout: Layout::Hybrid,
            v1: vec![HostHierarchy {
                mount: base.join("memory"),
                controllers: vec!["memory".into()],
            }],
            unified: Some(base.join("unified")),
        }
    }

    fn record(base: &Path, path: &str) -> Record {
        let rel = path.trim_start_matches('/');
        Record {
            layout: Layout::Hybrid,
            path: path.into(),
            dirs: vec![
                Dir {
                    path: base.join("memory").join(rel),
                    controllers: vec!["memory".into()],
                },
                Dir {
                    path: base.join("unified").join(rel),
                    controllers: vec![],
                },
            ],
            created: vec![
                base.join("memory/p"),
                base.join("memory").join(rel),
                base.join("unified").join(rel),
            ],
            systemd_unit: None,
        }
    }

    fn reason(r: Result<()>) -> String {
        match r {
            Err(Error::Refused { what, reason }) => format!("{what}: {reason}"),
            other => panic!("not refused: {other:?}"),
        }
    }

    #[test]
    fn a_record_must_name_the_expected_path_in_the_hosts_hierarchies() {
        let base = PathBuf::from("/nonexistent-brisk-verify");
        let h = host(&base);
        // Right shape: only the on-disk check fails (no cgroup fs here).
        let ok = record(&base, "/p/c");
        let e = reason(ok.verify(&h, "/p/c"));
        assert!(e.contains("cannot open"), "{e}");

        let e = reason(ok.verify(&h, "/p/other"));
        assert!(e.contains("config gives /p/other"), "{e}");
        let mut bad = record(&base, "/p/../c");
        bad.path = "/p/../c".into();
        assert!(reason(bad.verify(&h, "/p/../c")).contains("normalised"));

        // A directory outside the hierarchies, or the right hierarchy with
        // another path, or the controllers of another hierarchy.
        for (i, p) in [
            PathBuf::from("/tmp/x/p/c"),
            base.join("memory/other"),
            base.join("memory/p/c/../c"),
        ]
        .into_iter()
        .enumerate()
        {
            let mut r = record(&base, "/p/c");
            r.dirs[0].path = p.clone();
            let e = reason(r.verify(&h, "/p/c"));
            assert!(e.contains("under one of the host's"), "{i}: {e}");
        }
        let mut r = record(&base, "/p/c");
        r.dirs[1].controllers = vec!["memory".into()];
        assert!(reason(r.verify(&h, "/p/c")).contains("under one of the host's"));
        let mut r = record(&base, "/p/c");
        r.dirs[1] = r.dirs[0].clone();
        assert!(reason(r.verify(&h, "/p/c")).contains("twice"));

        // The right shape on a file system that is not a cgroup one.
        let tmp = std::env::temp_dir().join(format!("brisk-verify-{}", std::process::id()));
        for d in ["memory/p/c", "unified/p/c"] {
            std::fs::create_dir_all(tmp.join(d)).unwrap();
        }
        let e = reason(record(&tmp, "/p/c").verify(&host(&tmp), "/p/c"));
        assert!(e.contains("not on a cgroup (v1) file system"), "{e}");
        std::fs::remove_dir_all(&tmp).unwrap();

        // created: only the path and its ancestors, never the root, never
        // a sibling sharing a prefix, never outside.
        for p in [
            base.join("memory"),
            base.join("memory/p/c/d"),
            base.join("memory/p/cc"),
            base.join("memory/pp"),
            PathBuf::from("/tmp/p/c"),
        ] {
            let mut r = record(&base, "/p/c");
            r.created.push(p.clone());
            let e = reason(r.verify(&h, "/p/c"));
            assert!(e.contains("ancestors"), "{}: {e}", p.display());
        }
    }
}
