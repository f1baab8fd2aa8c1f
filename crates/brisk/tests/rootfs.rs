//! The root filesystem against a hostile image and bad input: mount
//! destinations through symlinks that point out of the rootfs, read-only
//! binds, masked and read-only paths, `shared` propagation seen from the
//! host, devices in a user namespace, and mount errors that leave nothing
//! behind. Every check runs a real container and looks from inside and from
//! the host.

mod common;

use std::path::{Path, PathBuf};

use common::{Bundle, Env};
use serde_json::{json, Value};

fn add_mounts(b: &mut Bundle, mounts: Vec<Value>) {
    b.config["mounts"].as_array_mut().unwrap().extend(mounts);
    b.write();
}

fn run(env: &Env, b: &Bundle, id: &str) -> common::Out {
    env.brisk(&["run", "-b", b.path(), id])
}

/// Host mount points (unescaped well enough for our plain paths).
fn host_mount_points() -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
        .collect()
}

#[test]
fn mounts_through_symlinks_pointing_out_of_the_rootfs_stay_inside() {
    let env = Env::new("escape");
    let probe = format!("brisk-probe-{}", std::process::id());
    let mut b = env.bundle(
        "b",
        &[
            "sh",
            "-c",
            &format!(
                "grep -E ' /etc/{probe} | /{probe} | /etc/hostname-bind ' /proc/self/mountinfo | cut -d' ' -f5; cat /hostetc/marker"
            ),
        ],
    );
    let rootfs = b.dir.join("rootfs");
    // The image links to the host's /etc by absolute path, and climbs out
    // with `..` far enough to reach the host's /.
    std::os::unix::fs::symlink("/etc", rootfs.join("hostetc")).unwrap();
    std::os::unix::fs::symlink("../../../../../../..", rootfs.join("up")).unwrap();
    std::fs::write(rootfs.join("etc/marker"), "container's own /etc\n").unwrap();
    let src = env.base.join("hostname-src");
    std::fs::write(&src, "from the bundle\n").unwrap();
    add_mounts(
        &mut b,
        vec![
            json!({"destination": format!("/hostetc/{probe}"), "type": "tmpfs", "source": "tmpfs"}),
            json!({"destination": format!("/up/{probe}"), "type": "tmpfs", "source": "tmpfs"}),
            json!({"destination": "/hostetc/hostname-bind", "type": "bind",
                   "source": src.to_str().unwrap(), "options": ["bind", "ro"]}),
        ],
    );
    let before = host_mount_points();
    let out = env.brisk(&["create", "-b", b.path(), "e"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    // While the container exists: none of its mounts on the host's side.
    // Only this test's destinations count: other tests mount and unmount
    // on the host meanwhile.
    let after = host_mount_points();
    let new: Vec<&String> = after
        .iter()
        .filter(|m| !before.contains(m) && !m.starts_with(env.base.to_str().unwrap()))
        .filter(|m| m.contains(&probe) || m.ends_with("/hostname-bind"))
        .collect();
    assert!(new.is_empty(), "mounts appeared on the host: {new:?}");
    for host in [
        PathBuf::from("/etc").join(&probe),
        PathBuf::from("/").join(&probe),
        PathBuf::from("/etc/hostname-bind"),
    ] {
        assert!(!host.exists(), "{} was created on the host", host.display());
    }
    env.brisk(&["delete", "--force", "e"]).ok();
    // The same through `run`, reading what the container saw.
    let out = run(&env, &b, "e2");
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(
        lines.contains(&format!("/etc/{probe}").as_str()),
        "the tmpfs through /hostetc is not at the container's /etc: {lines:?}"
    );
    assert!(
        lines.contains(&format!("/{probe}").as_str()),
        "the tmpfs through ../.. is not at the container's /: {lines:?}"
    );
    assert!(
        lines.contains(&"/etc/hostname-bind"),
        "the bind through /hostetc is not in the container's /etc: {lines:?}"
    );
    assert_eq!(lines.last(), Some(&"container's own /etc"));
    // The destinations were created in the rootfs, not on the host.
    assert!(rootfs.join("etc").join(&probe).is_dir());
    assert!(rootfs.join(&probe).is_dir());
    assert!(!Path::new("/etc").join(&probe).exists());
    env.assert_clean();
}

#[test]
fn read_only_binds_and_paths_give_erofs() {
    let env = Env::new("erofs");
    let dir = env.base.join("dir");
    std::fs::create_dir_all(&dir).unwrap();
    let file = env.base.join("file");
    std::fs::write(&file, "x").unwrap();
    let mut b = env.bundle(
        "b",
        &[
            "sh",
            "-c",
            "for p in /ro-dir/new /ro-file /rw-dir/new /etc/ro/new; do \
               if err=$( (echo y > $p) 2>&1); then echo \"$p ok\"; else echo \"$p $err\"; fi; \
             done",
        ],
    );
    std::fs::create_dir_all(b.dir.join("rootfs/etc/ro")).unwrap();
    add_mounts(
        &mut b,
        vec![
            json!({"destination": "/ro-dir", "type": "bind", "source": dir.to_str().unwrap(), "options": ["rbind", "ro"]}),
            json!({"destination": "/ro-file", "type": "bind", "source": file.to_str().unwrap(), "options": ["bind", "ro"]}),
            json!({"destination": "/rw-dir", "type": "bind", "source": dir.to_str().unwrap(), "options": ["rbind", "rw"]}),
        ],
    );
    b.set(
        "/linux/readonlyPaths",
        json!(["/etc/ro", "/does/not/exist"]),
    );
    let out = run(&env, &b, "r");
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{}", out.stdout);
    for l in [lines[0], lines[1], lines[3]] {
        assert!(l.contains("Read-only file system"), "{l}");
    }
    assert_eq!(lines[2], "/rw-dir/new ok");
    assert_eq!(std::fs::read_to_string(dir.join("new")).unwrap(), "y\n");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "x");
    env.assert_clean();
}

#[test]
fn masked_files_read_empty_and_masked_dirs_are_empty() {
    let env = Env::new("masked");
    let mut b = env.bundle(
        "b",
        &[
            "sh",
            "-c",
            "echo \"passwd=[$(cat /etc/passwd)]\"; echo \"entries=$(ls -A /etc/masked | wc -l)\"; \
             if touch /etc/masked/x 2>/dev/null; then echo writable; else echo not-writable; fi",
        ],
    );
    let masked = b.dir.join("rootfs/etc/masked");
    std::fs::create_dir_all(&masked).unwrap();
    std::fs::write(masked.join("secret"), "s").unwrap();
    b.set(
        "/linux/maskedPaths",
        json!(["/etc/passwd", "/etc/masked", "/no/such/path"]),
    );
    let out = run(&env, &b, "m").ok();
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["passwd=[]", "entries=0", "not-writable"],
        "{out}"
    );
    env.assert_clean();
}

/// The mounts of a bundle without `/sys` and `/sys/fs/cgroup`, with a bind
/// of the host's `/sys` instead (whose mounts come along: the host's
/// `/sys/fs/cgroup`).
fn with_the_hosts_sys(b: &mut Bundle) {
    let mut mounts = b.config["mounts"].as_array().unwrap().clone();
    mounts.retain(|m| !m["destination"].as_str().unwrap().starts_with("/sys"));
    mounts.push(
        json!({"destination": "/sys", "type": "bind", "source": "/sys",
                       "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]}),
    );
    b.set("/mounts", json!(mounts));
}

/// Masked and read-only paths are reached beneath the mount that holds
/// them (the procfs or sysfs brisk mounted, a bind of the config), which
/// keeps the legitimate shapes working: a masked path that is a bind of
/// the config inside /proc (the mask goes on the bind), one masked and
/// made read-only at once (the last name may be a mount point: the
/// read-only copy goes on top of the mask), one through procfs's own
/// and sysfs's own symlinks (`/proc/self` -> the init's pid, as mount(2) by
/// path would find it; `/sys/class/net/lo` -> `../../devices/...`), one
/// inside a masked directory
/// (nothing there: skipped), a mount point inside a bind of the host's
/// `/sys` (`/sys/fs/cgroup`).
#[test]
fn masks_reach_mount_points_and_kernel_symlinks_inside_proc_and_sys() {
    let env = Env::new("mask-shapes");
    let file = env.base.join("uptime");
    std::fs::write(&file, "bound uptime\n").unwrap();
    let mut b = env.bundle(
        "b",
        &[
            "sh",
            "-c",
            "echo \"uptime=[$(cat /proc/uptime)]\"; \
             echo \"timer_list=[$(cat /proc/timer_list)] \
                   $(awk '$5 == \"/proc/timer_list\" {split($6, o, \",\"); print o[1]}' \
                     /proc/self/mountinfo | tr '\\n' ' ')\"; \
             echo \"environ=$(wc -c < /proc/1/environ) lo=$(ls -A /sys/class/net/lo | wc -l)\"; \
             echo \"acpi=$(ls -A /proc/acpi | wc -l) cgroup=$(ls -A /sys/fs/cgroup | wc -l)\"; \
             echo \"sys=$(awk '$5 == \"/proc/sys\" {split($6, o, \",\"); print o[1]}' \
                     /proc/self/mountinfo)\"",
        ],
    );
    with_the_hosts_sys(&mut b);
    add_mounts(
        &mut b,
        vec![json!({"destination": "/proc/uptime", "type": "bind",
                    "source": file.to_str().unwrap(), "options": ["bind"]})],
    );
    b.set(
        "/linux/maskedPaths",
        json!([
            "/proc/uptime",
            "/proc/timer_list",
            "/proc/self/environ",
            "/sys/class/net/lo",
            "/proc/acpi",
            "/proc/acpi/wakeup",
            "/sys/fs/cgroup"
        ]),
    );
    b.set(
        "/linux/readonlyPaths",
        json!(["/proc/timer_list", "/proc/sys"]),
    );
    let out = run(&env, &b, "m").ok();
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "uptime=[]",
            // The mask (read-write, like /dev), then the read-only copy.
            "timer_list=[] rw ro ",
            "environ=0 lo=0",
            "acpi=0 cgroup=0",
            "sys=ro"
        ],
        "{out}"
    );
    env.assert_clean();
}

/// Beneath the mount that holds it, a masked path may not cross another
/// mount on the way (one the rootfs or a volume could have put there):
/// here a mount of the host's, inside a bind of its `/sys`. The container
/// does not start, and the error names the path.
#[test]
fn a_masked_path_across_another_mount_is_an_error_naming_it() {
    let env = Env::new("mask-xdev");
    let mut b = env.bundle("b", &["true"]);
    with_the_hosts_sys(&mut b);
    // An entry of the host's cgroup mount(s), below the mount point.
    let entry = std::fs::read_dir("/sys/fs/cgroup")
        .unwrap()
        .next()
        .expect("an entry in /sys/fs/cgroup")
        .unwrap()
        .file_name();
    let path = format!("/sys/fs/cgroup/{}", entry.to_str().unwrap());
    b.set("/linux/maskedPaths", json!([path]));
    let out = run(&env, &b, "x");
    assert_ne!(out.code, 0, "the container ran");
    assert!(
        out.stderr.contains(&format!("mask path {path}")),
        "{}",
        out.stderr
    );
    env.assert_clean();
}

/// A host directory that is a shared mount of its own, unmounted (with
/// whatever propagated into it) on drop.
struct SharedHostDir(PathBuf);

impl SharedHostDir {
    fn new(path: PathBuf) -> Self {
        std::fs::create_dir_all(&path).unwrap();
        let p = path.to_str().unwrap();
        for args in [vec!["-t", "tmpfs", "tmpfs", p], vec!["--make-shared", p]] {
            let st = std::process::Command::new("mount")
                .args(&args)
                .status()
                .unwrap();
            assert!(st.success(), "mount {args:?}");
        }
        std::fs::create_dir_all(path.join("sub")).unwrap();
        SharedHostDir(path)
    }
}

impl Drop for SharedHostDir {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-R")
            .arg(&self.0)
            .status();
    }
}

#[test]
fn shared_propagation_is_visible_from_the_host() {
    let env = Env::new("shared");
    let host = SharedHostDir::new(env.base.join("shared"));
    let mut b = env.bundle("b", &["sleep", "30"]);
    b.set("/linux/rootfsPropagation", json!("shared"));
    add_mounts(
        &mut b,
        vec![
            json!({"destination": "/shared", "type": "bind", "source": host.0.to_str().unwrap(),
                   "options": ["rbind", "rshared"]}),
            json!({"destination": "/shared/sub", "type": "tmpfs", "source": "tmpfs",
                   "options": ["size=1m"]}),
        ],
    );
    let out = env.brisk(&["create", "-b", b.path(), "s"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let sub = host.0.join("sub");
    let seen = host_mount_points().contains(&sub.to_string_lossy().into_owned());
    env.brisk(&["delete", "--force", "s"]).ok();
    assert!(
        seen,
        "the container's mount at /shared/sub did not reach the host"
    );
    drop(host);
    env.assert_clean();
}

#[test]
fn devices_in_a_user_namespace_are_bound_from_the_host() {
    let env = Env::new("userns-dev");
    let mut b = env.bundle(
        "b",
        &[
            "sh",
            "-c",
            "stat -c '%F %t %T' /dev/kmsg /dev/fifo; cat /dev/null",
        ],
    );
    b.add_namespace("user", None);
    let map = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    b.set("/linux/uidMappings", map.clone());
    b.set("/linux/gidMappings", map);
    b.set(
        "/linux/devices",
        json!([
            {"path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11},
            {"path": "/dev/fifo", "type": "p"},
        ]),
    );
    let st = std::process::Command::new("chown")
        .args(["-R", "100000:100000"])
        .arg(b.dir.join("rootfs"))
        .status()
        .unwrap();
    assert!(st.success());
    let out = run(&env, &b, "u").ok();
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["character special file 1 b", "fifo 0 0"],
        "{out}"
    );
    env.assert_clean();
}

/// create and run both fail, the message names `needle`, nothing remains
/// (state, mounts under the test's base, processes).
fn rejected(env: &Env, b: &Bundle, needle: &str) {
    // Only the mounts this test could have made (under its base, or of its
    // bundle's mount sources): other tests mount on the host meanwhile.
    let base = env.base.to_string_lossy().into_owned();
    let ours =
        |ms: Vec<String>| -> Vec<String> { ms.into_iter().filter(|m| m.contains(&base)).collect() };
    let before = ours(host_mount_points());
    for cmd in ["create", "run"] {
        let out = env.brisk(&[cmd, "-b", b.path(), "bad"]);
        assert_ne!(out.code, 0, "{cmd} succeeded");
        assert!(
            out.stderr.contains(needle),
            "{cmd}: expected {needle:?} in {:?}",
            out.stderr
        );
        env.assert_clean();
    }
    assert_eq!(ours(host_mount_points()), before, "host mounts changed");
}

#[test]
fn unknown_option_on_a_bind_mount_is_an_error() {
    let env = Env::new("bad-opt");
    let mut b = env.bundle("b", &["true"]);
    let src = env.base.join("src");
    std::fs::create_dir_all(&src).unwrap();
    add_mounts(
        &mut b,
        vec![
            json!({"destination": "/m", "type": "bind", "source": src.to_str().unwrap(),
                    "options": ["rbind", "nosuchoption"]}),
        ],
    );
    rejected(&env, &b, "mounts[");
    let out = env.brisk(&["run", "-b", b.path(), "bad"]);
    assert!(out.stderr.contains("nosuchoption"), "{}", out.stderr);
}

#[test]
fn unknown_option_for_a_filesystem_fails_in_the_init_and_cleans_up() {
    let env = Env::new("bad-data");
    let mut b = env.bundle("b", &["true"]);
    // Earlier mounts succeed, then the kernel refuses this one's data.
    add_mounts(
        &mut b,
        vec![
            json!({"destination": "/ok", "type": "tmpfs", "source": "tmpfs"}),
            json!({"destination": "/bad", "type": "tmpfs", "source": "tmpfs",
                   "options": ["nosuchoption=1"]}),
        ],
    );
    rejected(&env, &b, "mount bad");
}

#[test]
fn missing_bind_source_names_the_field() {
    let env = Env::new("bad-src");
    let mut b = env.bundle("b", &["true"]);
    add_mounts(
        &mut b,
        vec![
            json!({"destination": "/m", "type": "bind", "source": "/no/such/source",
                    "options": ["rbind"]}),
        ],
    );
    let index = b.config["mounts"].as_array().unwrap().len() - 1;
    rejected(&env, &b, &format!("mounts[{index}].source"));
}

#[test]
fn relative_destination_is_taken_from_root_with_a_warning() {
    let env = Env::new("rel-dest");
    let mut b = env.bundle(
        "b",
        &["sh", "-c", "grep -c ' /reldest ' /proc/self/mountinfo"],
    );
    add_mounts(
        &mut b,
        vec![json!({"destination": "reldest", "type": "tmpfs", "source": "tmpfs"})],
    );
    let out = run(&env, &b, "r");
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout.trim(), "1");
    assert!(
        out.stderr.contains("is not absolute"),
        "no warning: {}",
        out.stderr
    );
    env.assert_clean();
}

#[test]
fn tmpcopyup_copies_what_the_tmpfs_covers() {
    let env = Env::new("copyup");
    let mut b = env.bundle(
        "b",
        &[
            "sh",
            "-c",
            "cat /data/file; readlink /data/link; stat -c '%a %u' /data/sub/exe; echo new > /data/new && echo writable",
        ],
    );
    let data = b.dir.join("rootfs/data");
    std::fs::create_dir_all(data.join("sub")).unwrap();
    std::fs::write(data.join("file"), "from the image\n").unwrap();
    std::os::unix::fs::symlink("file", data.join("link")).unwrap();
    std::fs::write(data.join("sub/exe"), "#!/bin/sh\n").unwrap();
    std::os::unix::fs::chown(data.join("sub/exe"), Some(7), Some(7)).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        data.join("sub/exe"),
        std::fs::Permissions::from_mode(0o4755),
    )
    .unwrap();
    add_mounts(
        &mut b,
        vec![
            json!({"destination": "/data", "type": "tmpfs", "source": "tmpfs",
                    "options": ["rw", "rprivate", "nosuid", "nodev", "tmpcopyup"]}),
        ],
    );
    let out = run(&env, &b, "c");
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.stdout.lines().collect::<Vec<_>>(),
        ["from the image", "file", "4755 7", "writable"]
    );
    // The image itself is untouched: the write went to the tmpfs.
    assert!(!data.join("new").exists());
    env.assert_clean();
}
