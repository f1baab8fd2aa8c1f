//! The unprivileged user of the rootless tests, and bundles for it: the one
//! place that makes the user (`useradd`, `/etc/subuid` and `/etc/subgid`
//! ranges through `usermod`, which take shadow's locks, idempotently, and
//! under a lock shared by every test binary), gives
//! it directories of its own, runs commands as it, and turns a bundle into
//! one that user can run (a user namespace mapping its ids).

#![allow(dead_code)]

use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};

use crate::common::{Bundle, Env};

pub const USER: &str = "brisk-rootless";
/// The size of the user's subordinate id ranges.
pub const RANGE: u32 = 65536;

#[derive(Debug, Clone)]
pub struct User {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    /// First id of the user's `/etc/subuid` and `/etc/subgid` ranges
    /// (`RANGE` ids each).
    pub subuid: u32,
    pub subgid: u32,
}

/// The test user, made if missing, with subordinate ranges; Err is the
/// reason the host cannot run rootless tests (for `common::skip`).
pub fn user() -> Result<User, String> {
    std::fs::create_dir_all("/tmp/brisk-it").map_err(|e| e.to_string())?;
    let lock = std::fs::File::create("/tmp/brisk-it/.rootless-user.lock")
        .map_err(|e| format!("lock file: {e}"))?;
    // SAFETY: flock on an fd we own; released when `lock` is dropped.
    unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) };
    if id(&["-u", USER]).is_none() {
        let out = Command::new("useradd")
            .args(["--no-create-home", "--home-dir", "/nonexistent"])
            .args(["--shell", "/usr/sbin/nologin", USER])
            .output()
            .map_err(|e| format!("useradd: {e}"))?;
        if !out.status.success() && id(&["-u", USER]).is_none() {
            return Err(format!(
                "useradd {USER}: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    let uid = id(&["-u", USER]).ok_or("no uid for the test user")?;
    let gid = id(&["-g", USER]).ok_or("no gid for the test user")?;
    let subuid = sub_range("/etc/subuid")?;
    let subgid = sub_range("/etc/subgid")?;
    let user = User {
        name: USER.into(),
        uid,
        gid,
        subuid,
        subgid,
    };
    // Unprivileged user namespaces may be off (sysctls, AppArmor).
    let probe = user
        .cmd("unshare")
        .args(["--user", "--map-root-user", "true"])
        .output()
        .map_err(|e| format!("unshare: {e}"))?;
    if !probe.status.success() {
        return Err(format!(
            "this host refuses user namespaces to unprivileged users: {}",
            String::from_utf8_lossy(&probe.stderr).trim()
        ));
    }
    Ok(user)
}

fn id(args: &[&str]) -> Option<u32> {
    let out = Command::new("id").args(args).output().ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

/// The user's range in `/etc/subuid` (or subgid). useradd gives a new
/// user one (login.defs `SUB_UID_COUNT`); a user without one gets one
/// after every range there, through `usermod --add-subuids`
/// (`--add-subgids`), which takes shadow's lock on the file as every
/// other writer of it does.
fn sub_range(file: &str) -> Result<u32, String> {
    if let Some(start) = own_range(file)? {
        return Ok(start);
    }
    let text = std::fs::read_to_string(file).unwrap_or_default();
    let mut end = 100_000u64;
    for (_, start, count) in ranges(&text) {
        end = end.max(start + count);
    }
    let flag = if file.ends_with("subuid") {
        "--add-subuids"
    } else {
        "--add-subgids"
    };
    let out = Command::new("usermod")
        .arg(flag)
        .arg(format!("{end}-{}", end + RANGE as u64 - 1))
        .arg(USER)
        .output()
        .map_err(|e| format!("usermod: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "usermod {flag} {USER}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    own_range(file)?.ok_or_else(|| format!("usermod {flag} left no range for {USER} in {file}"))
}

/// The first id of the test user's range of `RANGE` ids or more.
fn own_range(file: &str) -> Result<Option<u32>, String> {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(format!("read {file}: {e}")),
    };
    let start = ranges(&text)
        .find(|(name, _, count)| *name == USER && *count >= RANGE as u64)
        .and_then(|(_, start, _)| u32::try_from(start).ok());
    Ok(start)
}

/// `name:start:count` lines.
fn ranges(text: &str) -> impl Iterator<Item = (&str, u64, u64)> {
    text.lines().filter_map(|line| {
        let mut f = line.split(':');
        let name = f.next()?;
        let start = f.next()?.parse().ok()?;
        let count = f.next()?.parse().ok()?;
        Some((name, start, count))
    })
}

impl User {
    /// `program` run as this user (uid, gid, no supplementary groups), with
    /// a plain environment: PATH, USER, `common::MARK` if the caller sets
    /// it on the command; HOME and XDG_RUNTIME_DIR come from [`Home`].
    pub fn cmd(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new(program);
        c.env_clear()
            .env("PATH", "/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
            .env("USER", &self.name)
            .uid(self.uid)
            .gid(self.gid);
        c
    }

    /// Gives `path` (recursively) to this user.
    pub fn chown(&self, path: &Path) {
        let status = Command::new("chown")
            .arg("-R")
            .arg(format!("{}:{}", self.uid, self.gid))
            .arg(path)
            .status()
            .expect("run chown");
        assert!(status.success(), "chown {}", path.display());
    }
}

/// A home and an `XDG_RUNTIME_DIR` of the user's own under a test's
/// directory (no logind here to make one).
pub struct Home {
    pub home: PathBuf,
    pub xdg: PathBuf,
}

impl Home {
    pub fn new(env: &Env, user: &User, name: &str) -> Home {
        let base = env.base.join(name);
        let (home, xdg) = (base.join("home"), base.join("xdg"));
        std::fs::create_dir_all(&home).unwrap();
        std::fs::create_dir_all(&xdg).unwrap();
        user.chown(&base);
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&xdg, std::fs::Permissions::from_mode(0o700)).unwrap();
        Home { home, xdg }
    }

    /// [`User::cmd`] with this HOME and XDG_RUNTIME_DIR, marked as the
    /// test's (`common::MARK`).
    pub fn cmd(&self, env: &Env, user: &User, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = user.cmd(program);
        c.env("HOME", &self.home)
            .env("XDG_RUNTIME_DIR", &self.xdg)
            .env(crate::common::MARK, env.base.to_str().unwrap())
            .stdin(std::process::Stdio::null());
        c
    }
}

/// `[container, host, size]` id maps as config JSON.
fn id_maps(m: &[[u32; 3]]) -> Value {
    m.iter()
        .map(|[c, h, s]| json!({"containerID": c, "hostID": h, "size": s}))
        .collect()
}

/// As root: gives the bundle a new user namespace with these maps and
/// its rootfs to the host ids of the container's 0, so its root can use
/// it.
pub fn add_user_namespace(b: &mut Bundle, uid_maps: &[[u32; 3]], gid_maps: &[[u32; 3]]) {
    b.add_namespace("user", None);
    b.config["linux"]["uidMappings"] = id_maps(uid_maps);
    b.config["linux"]["gidMappings"] = id_maps(gid_maps);
    b.write();
    let host_root = |m: &[[u32; 3]]| m.iter().find(|r| r[0] == 0).map_or(0, |r| r[1]);
    chown_rootfs(b, host_root(uid_maps), host_root(gid_maps));
}

/// Gives the bundle's rootfs to host ids `uid:gid` (the container's root
/// in a user namespace, which must be able to use it).
pub fn chown_rootfs(b: &Bundle, uid: u32, gid: u32) {
    let status = Command::new("chown")
        .arg("-R")
        .arg(format!("{uid}:{gid}"))
        .arg(b.dir.join("rootfs"))
        .status()
        .expect("run chown");
    assert!(status.success());
}

/// Makes `config` the config of a rootless container (what runc's `spec
/// --rootless` changes): a user namespace with these maps (`[container,
/// host, size]` each), no network or cgroup namespace, `/sys` bound
/// read-only, no `linux.resources`, no `uid=`/`gid=` mount options, no
/// `cgroupsPath` (runc and crun refuse one the user may not write).
pub fn make_rootless(config: &mut Value, uid_maps: &[[u32; 3]], gid_maps: &[[u32; 3]]) {
    let linux = &mut config["linux"];
    let ns: Vec<Value> = linux["namespaces"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|n| !matches!(n["type"].as_str(), Some("network" | "cgroup" | "user")))
        .chain([json!({"type": "user"})])
        .collect();
    linux["namespaces"] = ns.into();
    linux["uidMappings"] = id_maps(uid_maps);
    linux["gidMappings"] = id_maps(gid_maps);
    if let Some(o) = linux.as_object_mut() {
        o.remove("resources");
        o.remove("cgroupsPath");
    }
    for m in config["mounts"].as_array_mut().into_iter().flatten() {
        if m["destination"] == "/sys" {
            *m = json!({"destination": "/sys", "type": "none", "source": "/sys",
                        "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]});
        }
        if let Some(opts) = m["options"].as_array_mut() {
            opts.retain(|o| {
                !o.as_str()
                    .is_some_and(|o| o.starts_with("uid=") || o.starts_with("gid="))
            });
        }
    }
}

/// A busybox bundle (`Env::bundle`) the user owns and can run: the user's
/// own ids mapped to 0, or with `ranges` also its subordinate ranges from
/// 1 on (written by newuidmap/newgidmap).
pub fn bundle(env: &Env, user: &User, name: &str, args: &[&str], ranges: bool) -> Bundle {
    let mut b = env.bundle(name, args);
    let (mut uids, mut gids) = (vec![[0, user.uid, 1]], vec![[0, user.gid, 1]]);
    if ranges {
        uids.push([1, user.subuid, RANGE]);
        gids.push([1, user.subgid, RANGE]);
    }
    make_rootless(&mut b.config, &uids, &gids);
    b.write();
    user.chown(&b.dir);
    b
}
