//! The state store under `--root`: one directory per container holding
//! `state.json` (written atomically: temp file + rename) and, between
//! `create` and `start`, the `exec.fifo` the init waits on. A flock on the
//! directory serialises commands on one id; `mkdir` (or a rename that
//! never replaces) makes concurrent creates of one id fail cleanly.
//!
//! The lock rules (docs/ARCHITECTURE.md, "Locks and bounded waits"): a
//! command waits for a lock at most `bounds::lock_wait()`, and holds one
//! only across work whose every wait is bounded; never across a wait for
//! the container's processes to do something of their own accord (`exec`
//! lets go of its lock before its process joins a cgroup that may be
//! frozen).
//!
//! A deleted container's emptied directory is kept as `@spare` (not a
//! valid id, so no command sees it) and the next create renames it to its
//! id instead of making one: on a disk file system a directory costs an
//! inode and a block to make and to free (ext4 here: 146 us for
//! mkdir + a file + rmdir, 48 us with the renames), and `/run` is not
//! always a tmpfs. There is at most one spare.

pub mod status;

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::{FlockOperation, Mode, OFlags};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::id;

pub use status::Status;

const STATE_FILE: &str = "state.json";
const FIFO: &str = "exec.fifo";
const RESULT_FIFO: &str = "start.result";
const CONFIG_FILE: &str = "config.json";
/// A symlink whose target is the container's cgroup path, made before the
/// cgroup is: how `delete --force` finds the cgroup of a create that died
/// before `state.json` was written.
const CGROUP_LINK: &str = "cgroup";
/// With the systemd driver: a symlink whose target is the scope unit.
const UNIT_LINK: &str = "cgroup.unit";
/// NOTIFY_SOCKET's directory and socket (crate::notify).
const NOTIFY_DIR: &str = "notify";
const NOTIFY_SOCKET: &str = "notify/notify.sock";
/// The emptied directory of a deleted container, kept for the next create
/// (`@` is not allowed in ids).
pub const SPARE: &str = "@spare";

/// What brisk records about a container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub oci_version: String,
    pub id: String,
    pub pid: i32,
    /// Start time of the init in clock ticks since boot (/proc/PID/stat
    /// field 22): a recycled pid has another one.
    pub pid_start_time: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// Whether the container has its own pid namespace (then killing its
    /// init ends every process in it).
    pub own_pid_ns: bool,
    /// The hooks `start`, `delete` and `run` still have to run (poststart,
    /// poststop), as they were at create time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hooks: Option<oci_spec::runtime::Hooks>,
    /// The cgroups brisk made for the container (none with
    /// `--cgroup-manager disabled`): `delete` removes exactly these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<brisk_cgroups::Record>,
}

#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

/// A container's directory, locked for as long as this value lives.
#[derive(Debug)]
pub struct ContainerDir {
    pub id: String,
    pub path: PathBuf,
    _lock: OwnedFd,
}

impl Store {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Store { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn ensure_root(&self) -> Result<()> {
        match fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.root)
        {
            Ok(()) => Ok(()),
            Err(e) => Err(Error::path("state root", &self.root, e)),
        }
    }

    /// Makes the directory of a new container; fails if the id is taken.
    pub fn create(&self, id: &str) -> Result<ContainerDir> {
        id::validate(id)?;
        self.ensure_root()?;
        let path = self.root.join(id);
        if !self.adopt_spare(id, &path)? {
            match fs::DirBuilder::new().mode(0o711).create(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    return Err(Error::AlreadyExists(id.to_string()))
                }
                Err(e) => return Err(Error::path("create state directory", &path, e)),
            }
        }
        // The umask may have narrowed the mode.
        let _ = fs::set_permissions(&path, fs::Permissions::from_mode(0o711));
        let lock = lock_new(id, &path)?;
        Ok(ContainerDir {
            id: id.to_string(),
            path,
            _lock: lock,
        })
    }

    /// Renames the spare directory to `path` when there is one (never over
    /// an existing directory). Returns whether `path` is now an empty
    /// directory; anything found in the spare is removed first.
    fn adopt_spare(&self, id: &str, path: &Path) -> Result<bool> {
        let spare = self.root.join(SPARE);
        match rustix::fs::renameat_with(
            rustix::fs::CWD,
            &spare,
            rustix::fs::CWD,
            path,
            rustix::fs::RenameFlags::NOREPLACE,
        ) {
            Ok(()) => {}
            Err(rustix::io::Errno::EXIST) => return Err(Error::AlreadyExists(id.to_string())),
            // No spare (or a file system without RENAME_NOREPLACE).
            Err(_) => return Ok(false),
        }
        // Only a real, empty directory is taken (never through a symlink).
        let dir = rustix::fs::open(
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        );
        let empty = match dir {
            Ok(fd) => dir_is_empty(fd),
            Err(_) => {
                // A file or a symlink: not brisk's.
                let _ = fs::remove_file(path);
                return Ok(false);
            }
        };
        if !empty {
            // Not left by brisk's remove: start from a new directory.
            let _ = fs::remove_dir_all(path);
            return Ok(false);
        }
        Ok(true)
    }

    /// Opens and locks an existing container's directory, waiting for the
    /// lock at most `bounds::lock_wait()`.
    pub fn open(&self, id: &str, exclusive: bool) -> Result<ContainerDir> {
        self.open_or(id, exclusive, &mut || {})
    }

    /// [`Store::open`], calling `busy` once when the lock is held by
    /// another command (before waiting for it): `delete --force` kills the
    /// container's init there, which ends whatever that command waits for.
    pub fn open_or(
        &self,
        id: &str,
        exclusive: bool,
        busy: &mut dyn FnMut(),
    ) -> Result<ContainerDir> {
        id::validate(id)?;
        let path = self.root.join(id);
        let op = if exclusive {
            FlockOperation::LockExclusive
        } else {
            FlockOperation::LockShared
        };
        let lock = match lock_dir(&path, op, busy) {
            Ok(l) => l,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(Error::NotFound(id.to_string()))
            }
            Err(e) => return Err(lock_error(id, &path, e)),
        };
        Ok(ContainerDir {
            id: id.to_string(),
            path,
            _lock: lock,
        })
    }

    /// Opens a container's directory without taking its lock: for readers
    /// (`state`, `list`) and `kill`, which must not wait for a create,
    /// start or delete in progress (whose hooks may themselves call
    /// `brisk state`). state.json is replaced atomically, so a reader sees
    /// a whole record or none.
    pub fn open_unlocked(&self, id: &str) -> Result<ContainerDir> {
        id::validate(id)?;
        let path = self.root.join(id);
        let fd = match rustix::fs::open(
            &path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::NOENT) => return Err(Error::NotFound(id.to_string())),
            Err(e) => return Err(Error::path("open state directory", &path, e)),
        };
        Ok(ContainerDir {
            id: id.to_string(),
            path,
            _lock: fd,
        })
    }

    /// Ids of every container in the store, sorted.
    pub fn ids(&self) -> Result<Vec<String>> {
        let entries = match fs::read_dir(&self.root) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::path("read state root", &self.root, e)),
        };
        let mut ids: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|id| id::validate(id).is_ok())
            .collect();
        ids.sort();
        Ok(ids)
    }
}

/// Opens and locks `path`. The lock may have been waited for: if the
/// directory was deleted meanwhile (and its name taken again, or the
/// directory kept as the spare and given to another container), the fd no
/// longer is `path`, and this is NotFound rather than a handle on some
/// other container's directory.
///
/// The wait is bounded (`bounds::lock_wait()`, then `TimedOut`); `busy`
/// runs once if the lock is not free at once.
fn lock_dir(path: &Path, op: FlockOperation, busy: &mut dyn FnMut()) -> io::Result<OwnedFd> {
    let fd = rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let nonblocking = match op {
        FlockOperation::LockShared => FlockOperation::NonBlockingLockShared,
        _ => FlockOperation::NonBlockingLockExclusive,
    };
    let mut deadline = None;
    let mut pause = std::time::Duration::from_micros(500);
    loop {
        match rustix::fs::flock(&fd, nonblocking) {
            Ok(()) => break,
            Err(rustix::io::Errno::WOULDBLOCK) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
        let deadline = *deadline.get_or_insert_with(|| {
            busy();
            crate::bounds::deadline(crate::bounds::lock_wait())
        });
        if std::time::Instant::now() >= deadline {
            // Gone meanwhile says more than "busy".
            still_at(&fd, path)?;
            return Err(io::Error::from(io::ErrorKind::TimedOut));
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(std::time::Duration::from_millis(20));
    }
    still_at(&fd, path)?;
    Ok(fd)
}

/// Locks the directory a create just made (or adopted) at `path`. Until
/// the lock is held the directory is visible without being anyone's:
/// a `delete --force` may take it for the remains of a create that died
/// and remove it (or keep it as the spare, which another create of the
/// same id may adopt and fill at once). So the directory must still be at
/// `path` and still empty once locked; otherwise it is not this create's,
/// and it is left alone (the caller discards nothing).
fn lock_new(id: &str, path: &Path) -> Result<OwnedFd> {
    let removed = || {
        Error::State(format!(
            "container {id:?} was removed while it was being created (a concurrent \
             delete --force); create it again"
        ))
    };
    let lock = match lock_dir(path, FlockOperation::LockExclusive, &mut || {}) {
        Ok(l) => l,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(removed()),
        Err(e) => return Err(lock_error(id, path, e)),
    };
    if !rustix::io::dup(&lock).is_ok_and(dir_is_empty) {
        return Err(removed());
    }
    Ok(lock)
}

fn lock_error(id: &str, path: &Path, e: io::Error) -> Error {
    if e.kind() == io::ErrorKind::TimedOut {
        return Error::timeout(
            format!("wait for the lock of container {id}"),
            crate::bounds::lock_wait(),
            format!(
                "another brisk command on it holds the lock (a create running its hooks, a \
                 delete waiting for the processes to exit); retry, or `brisk kill {id} KILL` \
                 and `brisk delete --force {id}` (BRISK_LOCK_TIMEOUT sets this bound, in seconds)"
            ),
        );
    }
    Error::path("lock state directory", path, e)
}

/// Whether the directory `fd` holds nothing but `.` and `..` (reading from
/// its start; an error counts as not empty).
fn dir_is_empty(fd: OwnedFd) -> bool {
    let Ok(mut dir) = rustix::fs::Dir::new(fd) else {
        return false;
    };
    dir.rewind();
    std::iter::from_fn(|| dir.read())
        .all(|e| e.is_ok_and(|e| matches!(e.file_name().to_bytes(), b"." | b"..")))
}

/// NotFound unless `path` still names the directory `fd` is.
fn still_at(fd: &OwnedFd, path: &Path) -> io::Result<()> {
    let held = rustix::fs::fstat(fd)?;
    match rustix::fs::lstat(path) {
        Ok(now) if now.st_dev == held.st_dev && now.st_ino == held.st_ino => Ok(()),
        Ok(_) | Err(rustix::io::Errno::NOENT) => Err(io::Error::from(io::ErrorKind::NotFound)),
        Err(e) => Err(e.into()),
    }
}

impl ContainerDir {
    pub fn load(&self) -> Result<Record> {
        let path = self.path.join(STATE_FILE);
        let data = match fs::read(&path) {
            Ok(d) => d,
            // A directory without state: a create that has not finished or
            // that died. It is not a container (yet).
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(Error::NotFound(self.id.clone()))
            }
            Err(e) => return Err(Error::path("read state", &path, e)),
        };
        serde_json::from_slice(&data).map_err(|e| Error::State(format!("{}: {e}", path.display())))
    }

    /// Writes `state.json` atomically.
    pub fn save(&self, record: &Record) -> Result<()> {
        let data = serde_json::to_vec(record).map_err(|e| Error::State(e.to_string()))?;
        write_atomic(&self.path.join(STATE_FILE), &data, 0o600)
    }

    /// Keeps the config as it was at create time, for `exec`. Written
    /// before `state.json`, so a container that has state has its config.
    pub fn save_config(&self, raw: &[u8]) -> Result<()> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let path = self.config_path();
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .and_then(|mut f| f.write_all(raw))
            .map_err(|e| Error::path("save the config", &path, e))
    }

    /// Records the cgroup path before the cgroup is made (one symlink).
    pub fn record_cgroup_path(&self, cgroup_path: &str) -> Result<()> {
        let link = self.path.join(CGROUP_LINK);
        rustix::fs::symlink(cgroup_path, &link)
            .map_err(|e| Error::path("record the cgroup path", &link, e))
    }

    /// With the systemd driver, before its unit is started: the unit's
    /// name, so that every later command (and a `delete --force` after a
    /// create that died) knows systemd manages the cgroup.
    pub fn record_systemd_unit(&self, unit: &str) -> Result<()> {
        let link = self.path.join(UNIT_LINK);
        rustix::fs::symlink(unit, &link)
            .map_err(|e| Error::path("record the systemd unit", &link, e))
    }

    /// The unit `record_systemd_unit` recorded, if any.
    pub fn recorded_systemd_unit(&self) -> Option<String> {
        fs::read_link(self.path.join(UNIT_LINK))
            .ok()
            .and_then(|p| p.into_os_string().into_string().ok())
    }

    /// The path `record_cgroup_path` recorded, if any.
    pub fn recorded_cgroup_path(&self) -> Option<String> {
        fs::read_link(self.path.join(CGROUP_LINK))
            .ok()
            .and_then(|p| p.into_os_string().into_string().ok())
    }

    pub fn load_config(&self) -> Result<Vec<u8>> {
        let path = self.config_path();
        fs::read(&path).map_err(|e| Error::path("read the saved config", &path, e))
    }

    pub fn config_path(&self) -> PathBuf {
        self.path.join(CONFIG_FILE)
    }

    /// The fd holding the lock, for the init to close.
    pub fn lock_fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsRawFd;
        self._lock.as_raw_fd()
    }

    pub fn fifo_path(&self) -> PathBuf {
        self.path.join(FIFO)
    }

    /// Makes the FIFO and opens it read-write for the init: a read on it
    /// then blocks until `start` writes, and opening never blocks.
    pub fn make_start_fifo(&self) -> Result<OwnedFd> {
        let dir = rustix::fs::open(
            &self.path,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| Error::path("open state directory", &self.path, e))?;
        rustix::fs::mkfifoat(&dir, FIFO, Mode::from_raw_mode(0o622))
            .map_err(|e| Error::path("make exec fifo", self.fifo_path(), e))?;
        rustix::fs::openat(
            dir.as_fd(),
            FIFO,
            OFlags::RDWR | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| Error::path("open exec fifo", self.fifo_path(), e))
    }

    /// The FIFO on which the init reports to `start` whether its
    /// startContainer hooks passed (`0`, or `E` and the error), made only
    /// when there are such hooks. Opened read-write for the init, like the
    /// exec FIFO.
    pub fn make_result_fifo(&self) -> Result<OwnedFd> {
        let path = self.result_fifo_path();
        rustix::fs::mkfifoat(rustix::fs::CWD, &path, Mode::from_raw_mode(0o600))
            .map_err(|e| Error::path("make start result fifo", &path, e))?;
        rustix::fs::open(&path, OFlags::RDWR | OFlags::CLOEXEC, Mode::empty())
            .map_err(|e| Error::path("open start result fifo", &path, e))
    }

    pub fn result_fifo_path(&self) -> PathBuf {
        self.path.join(RESULT_FIFO)
    }

    /// Whether the directory holds nothing (one getdents on the held fd).
    fn is_empty(&self) -> bool {
        rustix::io::dup(&self._lock).is_ok_and(dir_is_empty)
    }

    pub fn has_start_fifo(&self) -> bool {
        self.fifo_path().exists()
    }

    /// Removes the directory and everything in it (the emptied directory
    /// becomes the spare when there is none): the end of a container.
    pub fn remove(self) -> Result<()> {
        self.remove_keeping_spare(true)
    }

    /// Removes the directory and everything in it, keeping no spare: a
    /// failed create leaves nothing at all in the root.
    pub fn discard(self) -> Result<()> {
        self.remove_keeping_spare(false)
    }

    fn remove_keeping_spare(self, keep: bool) -> Result<()> {
        // The files brisk writes, then the directory: a few unlinks instead
        // of a directory walk. Anything else in it falls back to the walk.
        for name in [
            STATE_FILE,
            CONFIG_FILE,
            CGROUP_LINK,
            UNIT_LINK,
            FIFO,
            RESULT_FIFO,
            NOTIFY_SOCKET,
        ] {
            let _ = rustix::fs::unlinkat(&self._lock, name, rustix::fs::AtFlags::empty());
        }
        let _ = rustix::fs::unlinkat(&self._lock, NOTIFY_DIR, rustix::fs::AtFlags::REMOVEDIR);
        if keep && self.is_empty() {
            if let Some(root) = self.path.parent() {
                let kept = rustix::fs::renameat_with(
                    rustix::fs::CWD,
                    &self.path,
                    rustix::fs::CWD,
                    &root.join(SPARE),
                    rustix::fs::RenameFlags::NOREPLACE,
                );
                if kept.is_ok() {
                    return Ok(());
                }
            }
        }
        match fs::remove_dir(&self.path) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(_) => {}
        }
        match fs::remove_dir_all(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::path("remove state directory", &self.path, e)),
        }
    }
}

/// Writes `data` to a temporary file beside `path` and renames it over
/// `path`, so readers see the old or the new content, never a mix.
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let write = || -> io::Result<()> {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(data)?;
        fs::rename(&tmp, path)
    };
    use std::os::unix::fs::OpenOptionsExt;
    write().map_err(|e| {
        let _ = fs::remove_file(&tmp);
        Error::path("write", path, e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(tag: &str) -> Store {
        let d = std::env::temp_dir().join(format!("brisk-store-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        Store::new(d)
    }

    fn record(id: &str) -> Record {
        Record {
            oci_version: "1.2.0".into(),
            id: id.into(),
            pid: 1,
            pid_start_time: 2,
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            created: "2026-01-01T00:00:00Z".into(),
            annotations: BTreeMap::new(),
            own_pid_ns: true,
            hooks: None,
            cgroup: None,
        }
    }

    #[test]
    fn create_save_load_remove() {
        let s = store("cycle");
        let dir = s.create("c1").unwrap();
        dir.save(&record("c1")).unwrap();
        assert_eq!(dir.load().unwrap().pid_start_time, 2);
        drop(dir);
        assert_eq!(s.ids().unwrap(), vec!["c1"]);
        let dir = s.open("c1", true).unwrap();
        dir.remove().unwrap();
        assert!(s.ids().unwrap().is_empty());
        assert!(matches!(s.open("c1", false), Err(Error::NotFound(_))));
        fs::remove_dir_all(s.root()).unwrap();
    }

    #[test]
    fn duplicate_create_fails() {
        let s = store("dup");
        let _a = s.create("x").unwrap();
        assert!(matches!(s.create("x"), Err(Error::AlreadyExists(_))));
        fs::remove_dir_all(s.root()).unwrap();
    }

    #[test]
    fn dir_without_state_is_not_a_container() {
        let s = store("nostate");
        let dir = s.create("half").unwrap();
        assert!(matches!(dir.load(), Err(Error::NotFound(_))));
        fs::remove_dir_all(s.root()).unwrap();
    }

    #[test]
    fn cgroup_path_is_recorded_before_the_state() {
        let s = store("cgpath");
        let dir = s.create("c").unwrap();
        assert_eq!(dir.recorded_cgroup_path(), None);
        dir.record_cgroup_path("/brisk/c").unwrap();
        assert_eq!(dir.recorded_cgroup_path().as_deref(), Some("/brisk/c"));
        assert!(matches!(dir.load(), Err(Error::NotFound(_))));
        dir.remove().unwrap();
        fs::remove_dir_all(s.root()).unwrap();
    }

    #[test]
    fn bad_ids_touch_nothing() {
        let s = store("badid");
        assert!(matches!(s.create("../x"), Err(Error::InvalidId { .. })));
        assert!(!s.root().exists());
    }

    #[test]
    fn a_deleted_directory_is_kept_for_the_next_create() {
        let s = store("spare");
        let spare = s.root().join(SPARE);
        let a = s.create("a").unwrap();
        a.save(&record("a")).unwrap();
        a.save_config(b"{}").unwrap();
        let ino = |p: &Path| std::os::unix::fs::MetadataExt::ino(&fs::metadata(p).unwrap());
        let a_ino = ino(&a.path);
        a.remove().unwrap();
        assert_eq!(ino(&spare), a_ino, "kept as the spare");
        assert_eq!(fs::read_dir(&spare).unwrap().count(), 0, "emptied");
        assert!(s.ids().unwrap().is_empty(), "the spare is no container");
        // The next create takes it (a new id, the same directory).
        let b = s.create("b").unwrap();
        assert_eq!(ino(&b.path), a_ino);
        assert!(!spare.exists());
        assert!(matches!(s.open("a", false), Err(Error::NotFound(_))));
        // A taken id is refused, and the spare stays.
        let c = s.create("c").unwrap();
        c.remove().unwrap();
        assert!(matches!(s.create("b"), Err(Error::AlreadyExists(_))));
        assert!(spare.exists());
        // Something put in the spare is not handed on.
        fs::write(spare.join("junk"), b"x").unwrap();
        let d = s.create("d").unwrap();
        assert_eq!(fs::read_dir(&d.path).unwrap().count(), 0);
        // Nor is a spare that is a file, or a symlink to a directory.
        let outside = s.root().join("outside");
        fs::create_dir(&outside).unwrap();
        fs::set_permissions(&outside, fs::Permissions::from_mode(0o700)).unwrap();
        for (id, make) in [
            (
                "g",
                &(|p: &Path| fs::write(p, b"x").unwrap()) as &dyn Fn(&Path),
            ),
            ("h", &|p: &Path| {
                std::os::unix::fs::symlink("outside", p).unwrap()
            }),
        ] {
            make(&spare);
            let c = s.create(id).unwrap();
            assert!(fs::symlink_metadata(&c.path).unwrap().is_dir(), "{id}");
            assert!(
                !spare.exists() && fs::symlink_metadata(&spare).is_err(),
                "{id}"
            );
            c.discard().unwrap();
        }
        assert_eq!(
            fs::metadata(&outside).unwrap().permissions().mode() & 0o777,
            0o700,
            "the symlink's target was not touched"
        );
        fs::remove_dir(&outside).unwrap();
        // With a spare present, a removed directory is really removed.
        let e = s.create("e").unwrap();
        let e_path = e.path.clone();
        e.remove().unwrap();
        d.remove().unwrap();
        assert!(!e_path.exists() && spare.exists());
        // A discarded directory (a failed create) is never kept.
        fs::remove_dir(&spare).unwrap();
        let f = s.create("f").unwrap();
        f.discard().unwrap();
        assert!(!spare.exists());
        b.remove().unwrap();
        fs::remove_dir_all(s.root()).unwrap();
    }

    /// A create whose new directory was removed by a delete --force and
    /// adopted (as the spare) and filled by another create of the same id
    /// before it took the lock must not take it for its own: its error
    /// path would remove the other container's state.
    #[test]
    fn a_new_directory_filled_by_another_create_is_not_taken() {
        let s = store("taken");
        fs::create_dir_all(s.root().join("c")).unwrap();
        fs::write(s.root().join("c/config.json"), b"{}").unwrap();
        let e = lock_new("c", &s.root().join("c")).unwrap_err().to_string();
        assert!(e.contains("was removed while it was being created"), "{e}");
        assert!(s.root().join("c/config.json").exists(), "not touched");
        fs::remove_dir_all(s.root()).unwrap();
    }

    #[test]
    fn a_lock_on_a_directory_that_was_recycled_is_not_found() {
        let s = store("recycled");
        let a = s.create("a").unwrap();
        // A second command opened "a" and waits for the lock...
        let waiting = rustix::fs::open(
            &a.path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .unwrap();
        // ...while "a" is deleted, its directory given to "b", and a new
        // "a" made.
        let a_path = a.path.clone();
        a.remove().unwrap();
        let b = s.create("b").unwrap();
        let held = rustix::fs::fstat(&waiting).unwrap();
        let b_now = rustix::fs::stat(&b.path).unwrap();
        assert_eq!((held.st_dev, held.st_ino), (b_now.st_dev, b_now.st_ino));
        assert_eq!(
            still_at(&waiting, &a_path).unwrap_err().kind(),
            io::ErrorKind::NotFound,
            "gone"
        );
        let a2 = s.create("a").unwrap();
        assert_eq!(
            still_at(&waiting, &a_path).unwrap_err().kind(),
            io::ErrorKind::NotFound,
            "another directory under the same name"
        );
        let fresh =
            rustix::fs::open(&a_path, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty()).unwrap();
        still_at(&fresh, &a_path).unwrap();
        drop((a2, b));
        fs::remove_dir_all(s.root()).unwrap();
    }
}
