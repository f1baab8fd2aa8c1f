//! Known container-escape classes, each with the test that would catch it.
//! See docs/SECURITY.md.

mod common;

use common::Env;
use serde_json::json;

/// runc CVE-2024-21626: a `process.cwd` of `/proc/self/fd/N`, where N is
/// one of the runtime's fds open on a host directory, put the container's
/// working directory outside its root. Every fd number brisk could hold is
/// tried: each run either fails, naming the cwd, or stays inside.
#[test]
fn cwd_through_a_leaked_fd_cannot_leave_the_root() {
    let env = Env::new("cwd-leak");
    let marker = format!("/etc/brisk-host-marker-{}", std::process::id());
    std::fs::write(&marker, "host file\n").unwrap();
    let name = marker.trim_start_matches('/');
    for n in 3..16 {
        let mut b = env.bundle(
            &format!("b{n}"),
            &[
                "sh",
                "-c",
                &format!("cat ../../../../../../../../{name} 2>/dev/null || echo no-escape"),
            ],
        );
        b.set("/process/cwd", json!(format!("/proc/self/fd/{n}")));
        let out = env.brisk(&["run", "-b", b.path(), &format!("c{n}")]);
        if out.code == 0 {
            assert_eq!(
                out.stdout.trim(),
                "no-escape",
                "fd {n}: the cwd was on the host"
            );
        } else {
            assert!(
                out.stderr.contains("process.cwd") || out.stderr.contains("/proc/self/fd"),
                "fd {n}: {}",
                out.stderr
            );
        }
        env.assert_clean();
    }
    let _ = std::fs::remove_file(&marker);
}

/// Only stdio (and what --preserve-fds asks for) reaches the program, with
/// every feature that opens fds in brisk at once: cgroups, seccomp with the
/// cache, hooks (start.result FIFO), a terminal proxy.
#[test]
fn no_runtime_fd_reaches_the_container() {
    let env = Env::new("fd-leak");
    let mut b = env.bundle("b", &["sh", "-c", "ls /proc/self/fd | tr '\\n' ' '"]);
    b.set(
        "/hooks",
        json!({"startContainer": [{"path": "/bin/true"}], "poststop": [{"path": "/bin/true"}]}),
    );
    b.set(
        "/linux/seccomp",
        json!({"defaultAction": "SCMP_ACT_ALLOW",
               "syscalls": [{"names": ["mkdirat"], "action": "SCMP_ACT_ERRNO"}]}),
    );
    let out = env.brisk(&["run", "-b", b.path(), "f"]).ok();
    // ls's own directory fd is the 3.
    assert_eq!(out.trim(), "0 1 2 3", "fds in the container: {out}");
    env.assert_clean();
}

/// Swaps `a` and `b` (a directory and a symlink) with
/// `renameat2(RENAME_EXCHANGE)` until told to stop; returns how many swaps
/// happened.
fn exchange_loop(
    pairs: Vec<(std::ffi::CString, std::ffi::CString)>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut swaps = 0u64;
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            for (a, b) in &pairs {
                // SAFETY: two valid C strings, relative to the cwd fd.
                let r = unsafe {
                    libc::renameat2(
                        libc::AT_FDCWD,
                        a.as_ptr(),
                        libc::AT_FDCWD,
                        b.as_ptr(),
                        libc::RENAME_EXCHANGE,
                    )
                };
                assert_eq!(r, 0, "renameat2: {}", std::io::Error::last_os_error());
                swaps += 1;
            }
        }
        swaps
    })
}

/// A host directory outside every bundle, on a tmpfs of its own made
/// shared, so that a mount made on it in a container's mount namespace
/// (whose `/` is rshared) would show in the host's mountinfo. Unmounted
/// and removed on drop.
struct HostDir {
    path: std::path::PathBuf,
}

impl HostDir {
    fn new(tag: &str) -> HostDir {
        let path = std::path::PathBuf::from(format!("/tmp/brisk-{tag}-{}", std::process::id()));
        let _ = std::process::Command::new("umount")
            .arg(&path)
            .stderr(std::process::Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        let run = |args: &[&str]| {
            let st = std::process::Command::new("mount")
                .args(args)
                .arg(&path)
                .status()
                .unwrap();
            assert!(st.success(), "mount {args:?}");
        };
        run(&["-t", "tmpfs", "-o", "size=1m", "brisk-host-dir"]);
        run(&["--make-shared"]);
        std::fs::write(path.join("marker"), "host\n").unwrap();
        HostDir { path }
    }

    fn str(&self) -> &str {
        self.path.to_str().unwrap()
    }

    /// Asserts that the directory holds only the marker, and that the
    /// host sees no mount on or under it but its own tmpfs.
    fn assert_untouched(&self, when: &str) {
        let mut names: Vec<String> = std::fs::read_dir(&self.path)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["marker"], "{when}: host directory changed");
        assert_eq!(
            std::fs::read_to_string(self.path.join("marker")).unwrap(),
            "host\n",
            "{when}: host marker changed"
        );
        let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let on: Vec<&str> = info
            .lines()
            .filter(|l| {
                l.split(' ')
                    .nth(4)
                    .is_some_and(|m| m.starts_with(self.str()))
            })
            .collect();
        assert_eq!(on.len(), 1, "{when}: mounts on the host directory: {on:?}");
        assert!(on[0].contains("brisk-host-dir"), "{on:?}");
    }
}

impl Drop for HostDir {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.path)
            .status();
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// runc CVE-2021-30465: a mount destination swapped for a symlink out of
/// the rootfs while the runtime mounts. A thread exchanges, in a loop,
/// `/race/a` (a tmpfs destination) with a symlink to a host directory
/// (absolute target) and `/race/b` (a directory on the way to a bind
/// destination, `/race/b/sub`) with a symlink climbing out with `..`,
/// while containers are run one after another. Each run either mounts
/// both inside the root (the container sees both mounts: one left outside
/// would be under the detached old root, not in its mountinfo) or fails
/// naming the destination; the host directory never gets a mount (it is a
/// shared mount and the container's `/` rshared, so one would propagate)
/// nor a new entry; nothing is left behind.
#[test]
fn mount_destination_swapped_for_a_symlink_stays_inside_the_root() {
    const RUNS: usize = 150;
    let env = Env::new("mount-race");
    let host = HostDir::new("race-host");
    let src = env.base.join(format!("bindsrc-{}", std::process::id()));
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("from-bind"), "bound\n").unwrap();
    let mut b = env.bundle(
        "b",
        &[
            "sh",
            "-c",
            "echo tmpfs=$(grep -c ' - tmpfs race-tmpfs ' /proc/self/mountinfo) \
             bind=$(grep -c '/bindsrc-' /proc/self/mountinfo)",
        ],
    );
    let mut mounts = b.config["mounts"].as_array().unwrap().clone();
    mounts.push(
        json!({"destination": "/race/a", "type": "tmpfs", "source": "race-tmpfs",
                       "options": ["size=64k"]}),
    );
    mounts.push(json!({"destination": "/race/b/sub", "type": "bind",
                       "source": src.to_str().unwrap(), "options": ["rbind"]}));
    b.set("/mounts", json!(mounts));
    b.set("/linux/rootfsPropagation", json!("rshared"));
    let race = b.dir.join("rootfs/race");
    std::fs::create_dir_all(race.join("a")).unwrap();
    std::fs::create_dir_all(race.join("b/sub")).unwrap();
    std::os::unix::fs::symlink(host.str(), race.join("la")).unwrap();
    std::os::unix::fs::symlink(
        format!("../../../../../../../../../../..{}", host.str()),
        race.join("lb"),
    )
    .unwrap();
    let c = |name: &str| std::ffi::CString::new(race.join(name).to_str().unwrap()).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let swapper = exchange_loop(vec![(c("a"), c("la")), (c("b"), c("lb"))], stop.clone());

    let (mut ok, mut failed) = (0, 0);
    for i in 0..RUNS {
        let out = env.brisk(&["run", "-b", b.path(), &format!("r{i}")]);
        if out.code == 0 {
            assert_eq!(
                out.stdout.trim(),
                "tmpfs=1 bind=1",
                "run {i}: {}",
                out.stderr
            );
            ok += 1;
        } else {
            assert!(
                out.stderr.contains("race/a") || out.stderr.contains("race/b/sub"),
                "run {i} failed without naming the destination: {}",
                out.stderr
            );
            failed += 1;
        }
        host.assert_untouched(&format!("run {i}"));
        env.assert_clean();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let swaps = swapper.join().unwrap();
    eprintln!("{ok} runs mounted inside the root, {failed} refused, {swaps} swaps");
    assert!(swaps > RUNS as u64, "the swapper barely ran: {swaps} swaps");
    host.assert_untouched("at the end");
}
