//! brisk run by an unprivileged user (`common/rootless.rs` makes it, with
//! `/etc/subuid` and `/etc/subgid` ranges): `spec --rootless` + `run`, the
//! lifecycle and `exec`, id maps of its own id and of several ranges
//! (newuidmap/newgidmap), cgroups skipped where the user may not write
//! them and used in a cgroup2 subtree delegated to it; and rootless podman
//! with brisk, crun and runc as its runtime, the same cases for all three.

mod common;
#[path = "common/rootless.rs"]
mod rootless;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{Env, Out};
use rootless::{Home, User};
use serde_json::{json, Value};

const BOUND: Duration = Duration::from_secs(60);

/// A test's user, its home and runtime directory; the test's `Env` root
/// is the user's default state root (`$XDG_RUNTIME_DIR/brisk`), which
/// brisk must pick without `--root`.
struct Rootless {
    env: Env,
    user: User,
    home: Home,
}

fn setup(name: &str) -> Option<Rootless> {
    let mut env = Env::new(name);
    let user = match rootless::user() {
        Ok(u) => u,
        Err(reason) => {
            common::skip(&reason);
            return None;
        }
    };
    let home = Home::new(&env, &user, "user");
    env.root = home.xdg.join("brisk");
    Some(Rootless { env, user, home })
}

impl Rootless {
    /// brisk as the user, without `--root`.
    fn brisk(&self, args: &[&str]) -> Out {
        let mut c = self.home.cmd(&self.env, &self.user, common::brisk_bin());
        c.args(args);
        common::run_bounded(c, &self.env.base, BOUND)
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.brisk(args);
        assert_eq!(o.code, 0, "brisk {args:?}: {}", o.stderr);
        o.stdout
    }

    /// brisk as the user fails, its error naming each of `names`.
    fn refused(&self, args: &[&str], names: &[&str]) {
        let o = self.brisk(args);
        assert_ne!(o.code, 0, "brisk {args:?} succeeded: {}", o.stdout);
        for n in names {
            assert!(o.stderr.contains(n), "no {n:?} in: {}", o.stderr);
        }
    }

    fn bundle(&self, name: &str, args: &[&str], ranges: bool) -> common::Bundle {
        rootless::bundle(&self.env, &self.user, name, args, ranges)
    }
}

fn words(s: &str) -> Vec<Vec<String>> {
    s.lines()
        .map(|l| l.split_whitespace().map(String::from).collect())
        .filter(|l: &Vec<String>| !l.is_empty())
        .collect()
}

#[test]
fn spec_rootless_then_run_as_a_user() {
    let Some(r) = setup("rl-spec") else { return };
    let b = r.bundle("b", &["true"], false);
    std::fs::remove_file(b.dir.join("config.json")).unwrap();
    r.ok(&["spec", "--rootless", "--bundle", b.path()]);
    let config: Value =
        serde_json::from_slice(&std::fs::read(b.dir.join("config.json")).unwrap()).unwrap();
    // What runc writes for the same user, where runc is installed.
    if Path::new("/usr/sbin/runc").exists() {
        let dir = r.env.base.join("runc-spec");
        std::fs::create_dir_all(&dir).unwrap();
        r.user.chown(&dir);
        let mut c = r.home.cmd(&r.env, &r.user, "/usr/sbin/runc");
        c.args(["spec", "--rootless", "--bundle"]).arg(&dir);
        let o = common::run_bounded(c, &r.env.base, BOUND);
        assert_eq!(o.code, 0, "runc spec: {}", o.stderr);
        let runc: Value =
            serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
        let ns_types = |c: &Value| {
            let mut t: Vec<String> = c["linux"]["namespaces"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n["type"].as_str().unwrap().to_string())
                .collect();
            t.sort();
            t
        };
        assert_eq!(ns_types(&config), ns_types(&runc));
        for key in ["uidMappings", "gidMappings", "resources"] {
            assert_eq!(config["linux"][key], runc["linux"][key], "linux.{key}");
        }
        let mount = |c: &Value, dest: &str| {
            let m = c["mounts"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["destination"] == dest)
                .cloned()
                .unwrap_or(Value::Null);
            let mut opts: Vec<String> = m["options"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|o| o.as_str().unwrap().to_string())
                .collect();
            opts.sort();
            (m["type"].clone(), m["source"].clone(), opts)
        };
        for dest in ["/sys", "/dev/pts", "/dev/mqueue"] {
            assert_eq!(mount(&config, dest), mount(&runc, dest), "mount {dest}");
        }
    }
    assert_eq!(
        config["linux"]["uidMappings"],
        json!([{"containerID": 0, "hostID": r.user.uid, "size": 1}])
    );
    // Runnable here: no terminal, the test's mark, a program that reports.
    let mut b = common::Bundle {
        dir: b.dir.clone(),
        config,
    };
    b.set("/process/terminal", json!(false));
    b.set(
        "/process/args",
        json!([
            "sh",
            "-c",
            "id -u; id -g; cat /proc/self/uid_map; cat /proc/self/setgroups"
        ]),
    );
    let mark = format!("{}={}", common::MARK, r.env.base.display());
    b.config["process"]["env"]
        .as_array_mut()
        .unwrap()
        .push(mark.into());
    b.write();
    let out = r.ok(&["run", "--bundle", b.path(), "c1"]);
    assert_eq!(
        words(&out),
        words(&format!("0\n0\n0 {} 1\ndeny\n", r.user.uid))
    );
    // The state went to $XDG_RUNTIME_DIR/brisk, the user's.
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(&r.env.root).expect("state root under XDG_RUNTIME_DIR");
    assert_eq!(meta.uid(), r.user.uid);
    r.env.assert_clean();
}

#[test]
fn lifecycle_and_exec_as_a_user() {
    let Some(r) = setup("rl-life") else { return };
    let mut b = r.bundle("b", &["sleep", "300"], false);
    // podman's default profile, to see the user's own seccomp cache.
    let profile: Value = serde_json::from_slice(
        &std::fs::read(common::repo_root().join("crates/brisk/tests/data/podman-seccomp.json"))
            .unwrap(),
    )
    .unwrap();
    b.set("/linux/seccomp", profile);
    let out = r.brisk(&["--debug", "create", "--bundle", b.path(), "c1"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let cache = r.home.home.join(".cache/brisk/seccomp");
    assert!(
        out.stderr.contains(cache.to_str().unwrap()),
        "seccomp cache not the user's: {}",
        out.stderr
    );
    assert_eq!(r.env.status("c1"), "created");
    let pid = r.env.state("c1")["pid"].as_i64().unwrap();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert_eq!(
        uid_line.split_whitespace().nth(1),
        Some(r.user.uid.to_string().as_str()),
        "the init runs as the user on the host: {uid_line}"
    );
    r.ok(&["start", "c1"]);
    r.env.wait_status("c1", "running");
    let out = r.ok(&[
        "exec",
        "c1",
        "sh",
        "-c",
        "echo in-exec; id -u; cat /proc/1/comm",
    ]);
    assert_eq!(words(&out), words("in-exec\n0\nsleep\n"));
    // A second container hits the user's cache.
    let b2 = r.bundle("b2", &["true"], false);
    let mut b2 = b2;
    b2.set("/linux/seccomp", b.config["linux"]["seccomp"].clone());
    let out = r.brisk(&["--debug", "run", "--bundle", b2.path(), "c2"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("cache hit"), "{}", out.stderr);
    r.ok(&["kill", "c1", "KILL"]);
    r.env.wait_status("c1", "stopped");
    r.ok(&["delete", "c1"]);
    r.env.assert_clean();
}

#[test]
fn several_ranges_through_newuidmap_and_newgidmap() {
    let Some(r) = setup("rl-ranges") else { return };
    if Command::new("newuidmap").arg("--help").output().is_err() {
        return common::skip("newuidmap is not installed (Debian: uidmap)");
    }
    let mut b = r.bundle(
        "b",
        &[
            "sh",
            "-c",
            "id; cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups",
        ],
        true,
    );
    b.set(
        "/process/user",
        json!({"uid": 1000, "gid": 1000, "additionalGids": [1001]}),
    );
    let out = r.ok(&["run", "--bundle", b.path(), "c1"]);
    let (u, s) = (r.user.uid, r.user.subuid);
    let g = (r.user.gid, r.user.subgid);
    assert_eq!(
        words(&out),
        words(&format!(
            "uid=1000 gid=1000 groups=1001\n0 {u} 1\n1 {s} 65536\n0 {} 1\n1 {} 65536\nallow\n",
            g.0, g.1
        ))
    );
    // A range the user was not given: newuidmap's refusal, named.
    let mut bad = r.bundle("bad", &["true"], true);
    bad.set(
        "/linux/uidMappings/1",
        json!({"containerID": 1, "hostID": 1, "size": 10}),
    );
    r.refused(
        &["run", "--bundle", bad.path(), "c2"],
        &["linux.uidMappings", "newuidmap"],
    );
    r.env.assert_clean();
}

#[test]
fn a_map_helper_that_hangs_is_killed_and_named() {
    let Some(r) = setup("rl-helper-hang") else {
        return;
    };
    let b = r.bundle("b", &["true"], true);
    // A newuidmap that never returns, first on the PATH.
    let bin = r.env.base.join("hanging-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let fake = bin.join("newuidmap");
    std::fs::write(&fake, "#!/bin/sh\nexec sleep 1000000\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    r.user.chown(&bin);
    let mut c = r.home.cmd(&r.env, &r.user, common::brisk_bin());
    c.env(
        "PATH",
        format!(
            "{}:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            bin.display()
        ),
    )
    .env("BRISK_INIT_TIMEOUT", "2")
    .args(["run", "--bundle", b.path(), "c1"]);
    // Unbounded, brisk would wait here forever, with the container's lock.
    let o = common::run_bounded(c, &r.env.base, Duration::from_secs(30));
    assert_ne!(o.code, 0, "{}", o.stdout);
    for n in ["linux.uidMappings", "newuidmap", "timed out"] {
        assert!(o.stderr.contains(n), "no {n:?} in: {}", o.stderr);
    }
    // The helper was killed, the init too; nothing is left.
    r.env.assert_clean();
}

#[test]
fn without_a_user_namespace_a_user_is_refused_by_name() {
    let Some(r) = setup("rl-no-userns") else {
        return;
    };
    let mut b = r.bundle("b", &["true"], false);
    let ns: Vec<Value> = b.config["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["type"] != "user")
        .cloned()
        .collect();
    b.set("/linux/namespaces", ns.into());
    b.remove("/linux/uidMappings");
    b.remove("/linux/gidMappings");
    r.refused(
        &["run", "--bundle", b.path(), "c1"],
        &["linux.namespaces", "requires a user namespace"],
    );
    r.env.assert_clean();
}

/// The kernel refuses sysfs in a user namespace without a network
/// namespace of the container's own: rootless, brisk binds the host's
/// `/sys` read-only instead (tests/namespaces.rs: root gets the error).
#[test]
fn sysfs_without_a_network_namespace_is_the_hosts_read_only() {
    let Some(r) = setup("rl-sysfs") else { return };
    let mut b = r.bundle(
        "b",
        &[
            "sh",
            "-c",
            "test -d /sys/kernel && echo sys; touch /sys/kernel/x 2>/dev/null || echo ro",
        ],
        false,
    );
    let mounts: Vec<Value> = b.config["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            if m["destination"] == "/sys" {
                json!({"destination": "/sys", "type": "sysfs", "source": "sysfs",
                       "options": ["nosuid", "noexec", "nodev", "ro"]})
            } else {
                m.clone()
            }
        })
        .collect();
    b.set("/mounts", mounts.into());
    let out = r.ok(&["run", "--bundle", b.path(), "c1"]);
    assert_eq!(words(&out), words("sys\nro\n"));
    r.env.assert_clean();
}

#[test]
fn own_ids_only_refuse_additional_gids_by_name() {
    let Some(r) = setup("rl-groups") else { return };
    let mut b = r.bundle("b", &["true"], false);
    b.set(
        "/process/user",
        json!({"uid": 0, "gid": 0, "additionalGids": [5]}),
    );
    r.refused(
        &["run", "--bundle", b.path(), "c1"],
        &["process.user.additionalGids"],
    );
    r.env.assert_clean();
}

#[test]
fn cgroups_the_user_may_not_write_are_skipped_with_a_warning_or_refused_by_name() {
    let Some(r) = setup("rl-cg") else { return };
    let mut b = r.bundle("b", &["cat", "/proc/self/cgroup"], false);
    b.set("/linux/resources", json!({"pids": {"limit": 10}}));
    let o = r.brisk(&["run", "--bundle", b.path(), "c1"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stderr.contains("linux.resources are not applied"),
        "no warning: {}",
        o.stderr
    );
    // The container stays in the caller's cgroups: every line, the v1
    // hierarchies' and cgroup2's `0::` alike (no cgroup namespace).
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    assert_eq!(o.stdout, own);
    // A cgroupsPath the user may not write is refused by name, as runc
    // and crun refuse it.
    b.set("/linux/cgroupsPath", json!("/brisk-it/rl-refused"));
    r.refused(&["run", "--bundle", b.path(), "c4"], &["linux.cgroupsPath"]);
    // An empty cgroupsPath is none, as everywhere else: skipped, not
    // refused.
    b.set("/linux/cgroupsPath", json!(""));
    let o = r.brisk(&["run", "--bundle", b.path(), "c5"]);
    assert_eq!(o.code, 0, "cgroupsPath \"\": {}", o.stderr);
    assert!(
        o.stderr.contains("linux.resources are not applied"),
        "no warning: {}",
        o.stderr
    );
    b.remove("/linux/cgroupsPath");
    // --rootless=false: the cgroup is required again, and refused.
    r.refused(
        &["--rootless", "false", "run", "--bundle", b.path(), "c2"],
        &["create cgroup", "Permission denied"],
    );
    r.refused(
        &["--rootless", "maybe", "run", "--bundle", b.path(), "c3"],
        &["--rootless"],
    );
    r.env.assert_clean();
}

/// Whether the filesystem of `path` ignores setuid bits and file
/// capabilities (a nosuid mount).
fn nosuid(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: a NUL-terminated path and a zeroed statvfs to fill.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let r = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    assert_eq!(r, 0, "statvfs {}", path.display());
    st.f_flag & libc::ST_NOSUID != 0
}

#[test]
fn a_setuid_brisk_refuses_to_run() {
    let Some(r) = setup("rl-setuid") else { return };
    // The kernel gives a copy on a nosuid mount neither its owner's id
    // nor its capabilities: only then is there nothing to refuse.
    if nosuid(&r.env.base) {
        return common::skip("the test directory's mount is nosuid");
    }
    let copy = r.env.base.join("brisk-setuid");
    std::fs::copy(common::brisk_bin(), &copy).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o4755)).unwrap();
    let refused = |c: Command, what: &str| {
        let o = common::run_bounded(c, &r.env.base, BOUND);
        assert_eq!(o.code, 1, "{what}: {}", o.stderr);
        assert!(
            o.stderr.contains("refusing to run setuid"),
            "{what}: {}",
            o.stderr
        );
    };
    let mut c = r.home.cmd(&r.env, &r.user, &copy);
    c.args(["state", "x"]);
    refused(c, "setuid root");
    // File capabilities, for a user (root's are its caller's own).
    let caps = r.env.base.join("brisk-caps");
    std::fs::copy(common::brisk_bin(), &caps).unwrap();
    let o = Command::new("setcap")
        .arg("cap_sys_admin+p")
        .arg(&caps)
        .output();
    match o {
        Ok(o) if o.status.success() => {
            let mut c = r.home.cmd(&r.env, &r.user, &caps);
            c.args(["state", "x"]);
            refused(c, "file capabilities");
        }
        _ => common::skip("setcap (libcap2-bin) cannot set file capabilities here"),
    }
    // Started with real and effective ids that differ (by a setuid
    // launcher): refused too, though the exec of brisk itself changes no
    // id.
    let mut c = Command::new("setpriv");
    c.args(["--ruid", &r.user.uid.to_string(), "--euid", "0"])
        .arg(common::brisk_bin())
        .args(["--root"])
        .arg(&r.env.root)
        .args(["state", "x"])
        .env(common::MARK, r.env.base.to_str().unwrap())
        .stdin(std::process::Stdio::null());
    refused(c, "real uid not the effective one");
    // The plain binary, run by the user, is not refused.
    let o = r.brisk(&["state", "x"]);
    assert!(o.stderr.contains("does not exist"), "{}", o.stderr);
}

/// cgroup2 directories made by a test (`<mount>/<name>/self` and
/// `<name>`), removed on drop from the host's view of the hierarchy; and
/// the hugetlb controller of the root's `cgroup.subtree_control`, turned
/// off again if the test turned it on.
struct Delegated {
    dir: PathBuf,
    enabled_hugetlb: Option<PathBuf>,
}

impl Drop for Delegated {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(self.dir.join("self"));
        let _ = std::fs::remove_dir(&self.dir);
        if let Some(control) = &self.enabled_hugetlb {
            // EBUSY if a cgroup made meanwhile by another uses it: then
            // it is not ours to take away.
            let _ = std::fs::write(control, "-hugetlb");
        }
    }
}

#[test]
fn limits_apply_in_a_delegated_cgroup2_subtree() {
    let host_v2 = ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"]
        .into_iter()
        .find(|m| Path::new(m).join("cgroup.controllers").exists());
    let Some(host_v2) = host_v2 else {
        return common::skip("no cgroup2 hierarchy");
    };
    let controllers =
        std::fs::read_to_string(Path::new(host_v2).join("cgroup.controllers")).unwrap_or_default();
    if !controllers.split_whitespace().any(|c| c == "hugetlb") {
        return common::skip("no hugetlb controller on cgroup2");
    }
    let Some(r) = setup("rl-deleg") else { return };
    // An absolute path of its own, outside the caller's cgroup.
    let name = format!("brisk-it-rl-{}", std::process::id());
    let mut cleanup = Delegated {
        dir: Path::new(host_v2).join(&name),
        enabled_hugetlb: None,
    };
    // The controller must be on in the root for the subtree to have it.
    let control = Path::new(host_v2).join("cgroup.subtree_control");
    let on = std::fs::read_to_string(&control).unwrap();
    if !on.split_whitespace().any(|c| c == "hugetlb") {
        std::fs::write(&control, "+hugetlb").unwrap();
        cleanup.enabled_hugetlb = Some(control);
    }
    let mut b = r.bundle(
        "b",
        &[
            "sh",
            "-c",
            "grep ^0:: /proc/self/cgroup; cat /sys/fs/cgroup/hugetlb.2MB.max",
        ],
        false,
    );
    b.set("/linux/cgroupsPath", json!(format!("/{name}/c1")));
    b.set(
        "/linux/resources",
        json!({"hugepageLimits": [{"pageSize": "2MB", "limit": 4 << 20}]}),
    );
    // As a delegating manager does: the subtree is the user's, and the
    // user's shell is in a leaf of it; then brisk runs as the user.
    let (uid, gid) = (r.user.uid, r.user.gid);
    let script = format!(
        r#"set -e
        mount -t cgroup2 none /sys/fs/cgroup
        D=/sys/fs/cgroup/{name}
        mkdir $D $D/self
        chown {uid}:{gid} $D $D/cgroup.procs $D/cgroup.subtree_control $D/cgroup.threads $D/self $D/self/cgroup.procs
        echo $$ > $D/self/cgroup.procs
        exec setpriv --reuid {uid} --regid {gid} --clear-groups env -i PATH=/usr/bin:/bin \
            USER={user} HOME={home} XDG_RUNTIME_DIR={xdg} {mark}={base} \
            {brisk} run --bundle {bundle} c1
        "#,
        user = r.user.name,
        home = r.home.home.display(),
        xdg = r.home.xdg.display(),
        mark = common::MARK,
        base = r.env.base.display(),
        brisk = common::brisk_bin(),
        bundle = b.path(),
    );
    let mut c = Command::new("unshare");
    c.args(["-m", "--propagation", "private", "sh", "-c", &script]);
    c.env(common::MARK, r.env.base.to_str().unwrap());
    c.stdin(std::process::Stdio::null());
    let o = common::run_bounded(c, &r.env.base, BOUND);
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    assert!(
        !o.stderr.contains("not used"),
        "cgroup skipped: {}",
        o.stderr
    );
    assert_eq!(
        words(&o.stdout),
        words(&format!("0::/{name}/c1\n{}\n", 4 << 20))
    );
    // brisk removed what it made, as the user.
    assert!(!Path::new(host_v2).join(&name).join("c1").exists());
    r.env.assert_clean();
}

// ------------------------------------------------------- rootless podman

/// Rootless podman for the test user with `runtime`: its own storage
/// (the kernel's unprivileged overlay), run root, locks, containers.conf,
/// home and XDG_RUNTIME_DIR under the test's directory, driven through a
/// wrapper script (`podman.sh ARGS`) that drops to the user. crun refuses
/// a hybrid cgroup host, so its podman runs in a mount namespace without
/// /sys/fs/cgroup/unified (as tests/common/diff.rs runs crun).
struct Podman {
    wrapper: PathBuf,
    xdg: PathBuf,
    /// The test's directory (its `Env::base`, the value of `common::MARK`).
    base: PathBuf,
}

impl Podman {
    /// Err: the image could not be imported (podman's own set-up: the
    /// user namespace, the storage), a host limit that no runtime is
    /// involved in yet.
    fn new(r: &Rootless, runtime: &str, hide_unified: bool) -> Result<Podman, String> {
        let home = Home::new(&r.env, &r.user, "podman");
        let dir = r.env.base.join("podman");
        let conf = dir.join("containers.conf");
        // lock_type "file": the containers' locks in this podman's own tmp
        // dir. The default is one shared-memory segment per user
        // (/dev/shm/libpod_rootless_lock_UID), whatever --root and
        // --runroot say, which every podman with a fresh runroot (each of
        // these tests, and any run of them from another checkout) resets
        // at its first command (libpod's refresh frees every lock), under
        // the containers of the others running meanwhile.
        std::fs::write(
            &conf,
            "[engine]\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\n\
             lock_type = \"file\"\n",
        )
        .unwrap();
        let prefix = if hide_unified {
            "unshare -m --propagation private sh -c \
             'umount /sys/fs/cgroup/unified 2>/dev/null; exec \"$@\"' sh "
        } else {
            ""
        };
        let wrapper = dir.join("podman.sh");
        std::fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\nexec {prefix}setpriv --reuid {uid} --regid {gid} --clear-groups \
                 env -i PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin USER={user} \
                 HOME={home} XDG_RUNTIME_DIR={xdg} CONTAINERS_CONF={conf} {mark}={base} \
                 podman --root {d}/storage --runroot {d}/run --storage-driver overlay \
                 --cgroup-manager cgroupfs --runtime {runtime} \"$@\"\n",
                uid = r.user.uid,
                gid = r.user.gid,
                user = r.user.name,
                home = home.home.display(),
                xdg = home.xdg.display(),
                conf = conf.display(),
                mark = common::MARK,
                base = r.env.base.display(),
                d = dir.display(),
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
        r.user.chown(&dir);
        let p = Podman {
            wrapper,
            xdg: home.xdg,
            base: r.env.base.clone(),
        };
        let image = r.env.bundle("image", &["true"]);
        let o = p.sh(
            r,
            &format!(
                "tar -C {} -c . | {} import - localhost/bbox:latest",
                image.dir.join("rootfs").display(),
                p.wrapper.display()
            ),
        );
        if o.code != 0 {
            let why = format!(
                "rootless podman cannot import an image here: {}",
                o.stderr.trim()
            );
            return Err(why);
        }
        Ok(p)
    }

    fn sh(&self, r: &Rootless, cmd: &str) -> Out {
        let mut c = Command::new("sh");
        c.args(["-c", cmd]);
        c.env(common::MARK, r.env.base.to_str().unwrap());
        c.stdin(std::process::Stdio::null());
        let mut o = common::run_bounded(c, &r.env.base, Duration::from_secs(120));
        // podman 4.3 sometimes loses the exit code of a container that
        // has just exited, whatever the runtime (see tests/clients.rs).
        if o.code != 0 && o.stderr.contains("no such exit code") {
            let mut c = Command::new("sh");
            c.args(["-c", cmd]);
            c.env(common::MARK, r.env.base.to_str().unwrap());
            c.stdin(std::process::Stdio::null());
            o = common::run_bounded(c, &r.env.base, Duration::from_secs(120));
        }
        o
    }

    fn run(&self, r: &Rootless, args: &str) -> Out {
        self.sh(r, &format!("{} {args}", self.wrapper.display()))
    }

    fn ok(&self, r: &Rootless, cmd: &str) -> String {
        let o = self.sh(r, cmd);
        assert_eq!(
            o.code, 0,
            "{cmd}\nstdout: {}\nstderr: {}",
            o.stdout, o.stderr
        );
        o.stdout
    }

    fn podman(&self, r: &Rootless, args: &str) -> String {
        self.ok(r, &format!("{} {args}", self.wrapper.display()))
    }
}

/// Whatever the test's assertions did: removes the containers and ends
/// podman's pause process (the holder of its user namespace, started by
/// this test) by its pid. Never panics (a panic while unwinding aborts):
/// each wait is bounded and gives up quietly.
impl Drop for Podman {
    fn drop(&mut self) {
        let rm = Command::new(&self.wrapper)
            .args(["rm", "-af", "-t", "0"])
            .env(common::MARK, &self.base)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
        if let Ok(mut child) = rm {
            let gone = wait_quietly(BOUND, || !matches!(child.try_wait(), Ok(None)));
            if !gone {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        let pid_file = self.xdg.join("libpod/tmp/pause.pid");
        if let Some(pid) = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|p| p.trim().parse::<i32>().ok())
            .filter(|p| *p > 1)
            .filter(|p| marked(*p, &self.base))
        {
            // SAFETY: kill(2) of the pause process this test's podman made.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            wait_quietly(BOUND, || {
                !Path::new(&format!("/proc/{pid}")).exists()
                    || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                        .is_ok_and(|s| s.contains(") Z "))
            });
        }
    }
}

/// Whether process `pid` carries this test's mark in its environment (not
/// a process that took a stale pid file's pid).
fn marked(pid: i32, base: &Path) -> bool {
    let want = format!("{}={}", common::MARK, base.display());
    std::fs::read(format!("/proc/{pid}/environ"))
        .is_ok_and(|env| env.split(|b| *b == 0).any(|v| v == want.as_bytes()))
}

/// Waits until `f` holds, checking every 20 ms, for at most `bound`;
/// whether it did.
fn wait_quietly(bound: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + bound;
    loop {
        if f() {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn podman_rootless_cases(tag: &str, runtime: &str, hide_unified: bool) {
    let Some(r) = setup(tag) else { return };
    if Command::new("podman").arg("--version").output().is_err() {
        return common::skip("podman is not installed");
    }
    if !Path::new(runtime).exists() {
        return common::skip(&format!("{runtime} is not installed"));
    }
    let p = match Podman::new(&r, runtime, hide_unified) {
        Ok(p) => p,
        Err(why) => return common::skip(&why),
    };
    let net = "--network none";

    // run, exit codes
    assert_eq!(
        p.podman(&r, &format!("run --rm {net} localhost/bbox echo hello"))
            .trim(),
        "hello"
    );
    let o = p.run(&r, &format!("run --rm {net} localhost/bbox sh -c 'exit 3'"));
    assert_eq!(o.code, 3, "{}", o.stderr);

    // -d, exec, stop
    p.podman(
        &r,
        &format!("run -d --name c1 {net} localhost/bbox sleep 300"),
    );
    let out = p.podman(&r, "exec c1 sh -c 'echo in-exec; cat /proc/1/comm'");
    assert_eq!(words(&out), words("in-exec\nsleep\n"));
    p.podman(&r, "stop -t 1 c1");
    let out = p.podman(&r, "inspect c1 --format '{{.State.Status}}'");
    assert_eq!(out.trim(), "exited");
    p.podman(&r, "rm c1");

    // --user: an id from the user's subordinate range
    let out = p.podman(
        &r,
        &format!("run --rm {net} --user 1000:1000 localhost/bbox sh -c 'id -u; id -g'"),
    );
    assert_eq!(words(&out), words("1000\n1000\n"));

    // -it through a real terminal
    let o = p.sh(
        &r,
        &format!(
            "printf 'tty; exit 5\\n' | script -qec \"{} run -it --rm {net} localhost/bbox sh\" /dev/null",
            p.wrapper.display()
        ),
    );
    assert!(o.stdout.contains("/dev/pts/"), "{} {}", o.stdout, o.stderr);
    assert_eq!(o.code, 5, "{} {}", o.stdout, o.stderr);

    // --read-only, --cap-drop, the default seccomp profile
    let out = p.podman(
        &r,
        &format!(
            "run --rm {net} --read-only localhost/bbox \
             sh -c 'touch /x 2>/dev/null || echo ro; touch /tmp/y && echo tmp-rw'"
        ),
    );
    assert_eq!(words(&out), words("ro\ntmp-rw\n"));
    let out = p.podman(
        &r,
        &format!(
            "run --rm {net} --cap-drop all localhost/bbox \
             sh -c 'grep CapEff /proc/self/status; chown 1 /tmp 2>/dev/null || echo no-chown'"
        ),
    );
    assert!(
        out.contains("0000000000000000") && out.contains("no-chown"),
        "{out}"
    );
    let out = p.podman(
        &r,
        &format!("run --rm {net} localhost/bbox grep -E '^Seccomp:' /proc/self/status"),
    );
    assert!(out.contains('2'), "no seccomp filter: {out}");

    // A user namespace of the container's own with several ranges, made
    // by the runtime inside podman's (which `podman unshare` enters).
    let out = p.podman(
        &r,
        &format!(
            "run --rm {net} --uidmap 0:1:1000 --uidmap 1000:0:1 --gidmap 0:1:1000 \
             --gidmap 1000:0:1 localhost/bbox cat /proc/self/uid_map /proc/self/gid_map"
        ),
    );
    assert_eq!(
        words(&out),
        words("0 1 1000\n1000 0 1\n0 1 1000\n1000 0 1\n")
    );
    drop(p);
    r.env.assert_clean();
}

#[test]
fn rootless_podman_with_brisk() {
    podman_rootless_cases("rl-podman-brisk", common::brisk_bin(), false);
}

#[test]
fn rootless_podman_with_crun() {
    podman_rootless_cases("rl-podman-crun", "/usr/bin/crun", true);
}

#[test]
fn rootless_podman_with_runc() {
    podman_rootless_cases("rl-podman-runc", "/usr/sbin/runc", false);
}
