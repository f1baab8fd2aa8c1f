//! Known container-escape classes, each with the test that would catch it.
//! See docs/SECURITY.md.

mod common;
#[path = "common/leaks.rs"]
mod leaks;

use common::Env;
use serde_json::json;

/// `--rootless true` given to root: a container without a user namespace
/// (CAP_MKNOD of the host's) keeps its device rules, as with runc: a
/// denied block device cannot be read (making the node is allowed, as by
/// runc's default rules). Only a brisk that is not root of the host drops
/// them (its containers are in a user namespace, where device nodes
/// cannot be made).
#[test]
fn root_with_rootless_true_keeps_the_device_rules() {
    let env = Env::new("rootless-root-dev");
    let mut b = env.bundle(
        "b",
        &[
            "sh",
            "-c",
            "mknod /dev/l0 b 7 0 && head -c1 /dev/l0 >/dev/null; echo read=$?",
        ],
    );
    let caps = json!(["CAP_MKNOD", "CAP_DAC_OVERRIDE"]);
    for set in ["bounding", "effective", "permitted"] {
        b.set(&format!("/process/capabilities/{set}"), caps.clone());
    }
    b.set(
        "/linux/resources/devices",
        json!([{"allow": false, "access": "rwm"}]),
    );
    for rootless in ["false", "true"] {
        let out = env.brisk(&["--rootless", rootless, "run", "-b", b.path(), "c"]);
        assert_eq!(out.code, 0, "--rootless {rootless}: {}", out.stderr);
        assert_eq!(
            out.stdout, "read=1\n",
            "--rootless {rootless}: the denied loop0 was read ({})",
            out.stderr
        );
    }
    env.assert_clean();
}

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

/// A host thread racing brisk (standing in for a second container that
/// writes on a shared rootfs): runs `step` in a loop until stopped (or
/// dropped). `step` returns how many changes it made; an error ends the
/// loop early (printed, and seen by the caller as too few changes).
struct Racer {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<u64>>,
}

impl Racer {
    fn start(mut step: impl FnMut() -> Result<u64, String> + Send + 'static) -> Racer {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut changes = 0u64;
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                match step() {
                    Ok(n) => changes += n,
                    Err(e) => {
                        eprintln!("racer stopped: {e}");
                        return changes;
                    }
                }
            }
            changes
        });
        Racer {
            stop,
            thread: Some(thread),
        }
    }

    /// Swaps each pair (a directory and a symlink) with
    /// `renameat2(RENAME_EXCHANGE)`, in a loop.
    fn swapping(pairs: Vec<(std::ffi::CString, std::ffi::CString)>) -> Racer {
        Racer::start(move || {
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
                if r != 0 {
                    return Err(format!("renameat2: {}", std::io::Error::last_os_error()));
                }
            }
            Ok(pairs.len() as u64)
        })
    }

    /// Stops the loop and returns how many changes it made.
    fn stop(mut self) -> u64 {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.take().map_or(0, |t| t.join().unwrap())
    }
}

impl Drop for Racer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
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
    let swapper = Racer::swapping(vec![(c("a"), c("la")), (c("b"), c("lb"))]);

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
    let swaps = swapper.stop();
    eprintln!("{ok} runs mounted inside the root, {failed} refused, {swaps} swaps");
    assert!(swaps > RUNS as u64, "the swapper barely ran: {swaps} swaps");
    host.assert_untouched("at the end");
}

/// The second step of a read-only bind (the remount) must apply to the
/// bind itself, even when the destination is swapped meanwhile for a
/// symlink to another mount of the container (`/dev/shm`): a bind left
/// writable, or `/dev/shm` made read-only, would be the race won.
#[test]
fn read_only_bind_stays_read_only_when_its_destination_is_swapped() {
    const RUNS: usize = 150;
    let env = Env::new("ro-race");
    let src = env.base.join(format!("rosrc-{}", std::process::id()));
    std::fs::create_dir_all(&src).unwrap();
    let mut b = env.bundle(
        "b",
        &[
            "sh",
            "-c",
            "awk '$4 ~ /rosrc-/ {split($6, o, \",\"); print \"bind\", o[1]} \
                  / - tmpfs shm / {split($6, o, \",\"); print \"shm\", o[1]}' \
             /proc/self/mountinfo | sort",
        ],
    );
    let mut mounts = b.config["mounts"].as_array().unwrap().clone();
    mounts.push(json!({"destination": "/race/c", "type": "bind",
                       "source": src.to_str().unwrap(), "options": ["rbind", "ro"]}));
    b.set("/mounts", json!(mounts));
    let race = b.dir.join("rootfs/race");
    std::fs::create_dir_all(race.join("c")).unwrap();
    std::os::unix::fs::symlink("/dev/shm", race.join("lc")).unwrap();
    let c = |name: &str| std::ffi::CString::new(race.join(name).to_str().unwrap()).unwrap();
    let swapper = Racer::swapping(vec![(c("c"), c("lc"))]);
    let (mut ok, mut failed) = (0, 0);
    for i in 0..RUNS {
        let out = env.brisk(&["run", "-b", b.path(), &format!("r{i}")]);
        if out.code == 0 {
            assert_eq!(out.stdout, "bind ro\nshm rw\n", "run {i}");
            ok += 1;
        } else {
            assert!(
                out.stderr.contains("race/c"),
                "run {i} failed without naming the destination: {}",
                out.stderr
            );
            failed += 1;
        }
        env.assert_clean();
    }
    let swaps = swapper.stop();
    eprintln!("{ok} runs with a read-only bind, {failed} refused, {swaps} swaps");
    assert!(swaps > RUNS as u64, "the swapper barely ran: {swaps} swaps");
}

/// A `tmpcopyup` tmpfs whose copy is redirected by a second container
/// writing on a shared rootfs: one racer exchanges the destination `/tcopy`
/// (a directory of 16 setuid, world-writable files of uid 1000) with
/// `/tcopy-swap`, a symlink to `/tdecoy`; another renames, over every
/// regular file that appears in `/tdecoy`, a symlink to a host file (mode
/// 0644, in a host directory of the test). A copy that looks the
/// destination up again lands in `/tdecoy`, and a chmod by name that
/// follows the planted symlink (before `pivot_root` an absolute symlink
/// is the host's) makes the host file 04757. Each run must leave the host
/// file as it was and either copy exactly what the tmpfs covers (the 16
/// files where the tmpfs sits on `/tcopy`, nothing where the first lookup
/// already found `/tdecoy`, which is empty) or fail naming the mount.
#[test]
fn tmpcopyup_redirected_by_a_shared_rootfs_never_touches_a_host_file() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    const RUNS: usize = 100;
    const FILES: usize = 16;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(240);
    let env = Env::new("copyup-race");
    // A host directory outside the bundle (and its rootfs), removed with
    // the test's sandbox even when an assertion fails.
    let host_dir = env.base.join("host");
    std::fs::create_dir_all(&host_dir).unwrap();
    let victim = host_dir.join("victim");
    std::fs::write(&victim, "host file\n").unwrap();
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o644)).unwrap();
    let check_victim = |when: &str| {
        let meta = std::fs::symlink_metadata(&victim).unwrap();
        assert_eq!(
            format!(
                "mode {:o}, owner {}:{}",
                meta.mode() & 0o7777,
                meta.uid(),
                meta.gid()
            ),
            "mode 644, owner 0:0",
            "{when}: the container's copy changed the host file {}",
            victim.display()
        );
        assert_eq!(
            std::fs::read_to_string(&victim).unwrap(),
            "host file\n",
            "{when}"
        );
        let names: Vec<_> = std::fs::read_dir(&host_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["victim"], "{when}: host directory changed");
    };

    // In the container: where the copyup tmpfs sits, then each entry in
    // it (name, type, mode, owner, size, checksum). The racer goes on
    // renaming meanwhile: `cd` by name is tried until it lands in the
    // tmpfs.
    let mut b = env.bundle(
        "b",
        &[
            "sh",
            "-c",
            "for try in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16; do \
               mp=$(awk '{for (i = 7; i <= NF; i++) if ($i == \"-\") { \
                   if ($(i + 2) == \"copyup-tmpfs\") print $5; break }}' /proc/self/mountinfo); \
               cd \"$mp\" 2>/dev/null && [ \"$(stat -f -c %T .)\" = tmpfs ] && break; \
             done; \
             echo \"at $mp\"; [ \"$(stat -f -c %T .)\" = tmpfs ] || exit 1; \
             for f in $(ls -A | sort); do \
               echo \"$(stat -c '%n %F %a %u %s' \"$f\") $(md5sum < \"$f\" | cut -c1-8)\"; \
             done",
        ],
    );
    let mut mounts = b.config["mounts"].as_array().unwrap().clone();
    mounts.push(
        json!({"destination": "/tcopy", "type": "tmpfs", "source": "copyup-tmpfs",
                       "options": ["nodev", "size=4m", "tmpcopyup"]}),
    );
    b.set("/mounts", json!(mounts));
    let rootfs = b.dir.join("rootfs");
    let (tcopy, decoy) = (rootfs.join("tcopy"), rootfs.join("tdecoy"));
    std::fs::create_dir_all(&tcopy).unwrap();
    std::fs::create_dir_all(&decoy).unwrap();
    let mut expected = Vec::new();
    for i in 0..FILES {
        let f = tcopy.join(format!("f{i:02}"));
        // 64 KiB each: a copy long enough for the racer to see the file.
        let data = format!("file {i}\n").repeat(8192);
        std::fs::write(&f, &data).unwrap();
        std::os::unix::fs::chown(&f, Some(1000), Some(1000)).unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o4757)).unwrap();
        let sum = std::process::Command::new("md5sum")
            .arg(&f)
            .output()
            .unwrap();
        let sum = String::from_utf8(sum.stdout).unwrap();
        expected.push(format!(
            "f{i:02} regular file 4757 1000 {} {}",
            data.len(),
            &sum[..8]
        ));
    }
    std::os::unix::fs::symlink("/tdecoy", rootfs.join("tcopy-swap")).unwrap();
    let c = |p: &std::path::Path| std::ffi::CString::new(p.to_str().unwrap()).unwrap();
    let swapper = Racer::swapping(vec![(c(&tcopy), c(&rootfs.join("tcopy-swap")))]);
    let planter = {
        let (decoy, victim) = (decoy.clone(), victim.clone());
        let names: Vec<_> = (0..FILES).map(|i| decoy.join(format!("f{i:02}"))).collect();
        Racer::start(move || {
            let mut planted = 0;
            for f in &names {
                if std::fs::symlink_metadata(f).is_ok_and(|m| m.is_file()) {
                    let tmp = decoy.join(".plant");
                    let _ = std::fs::remove_file(&tmp);
                    std::os::unix::fs::symlink(&victim, &tmp).map_err(|e| e.to_string())?;
                    if std::fs::rename(&tmp, f).is_ok() {
                        planted += 1;
                    }
                }
            }
            Ok(planted)
        })
    };

    let (mut on_dest, mut on_decoy, mut refused, mut runs) = (0, 0, 0, 0);
    let mut wrong = Vec::new();
    for i in 0..RUNS {
        if std::time::Instant::now() > deadline {
            eprintln!("time is up after {i} runs");
            break;
        }
        runs += 1;
        let out = env.brisk(&["run", "-b", b.path(), &format!("r{i}")]);
        check_victim(&format!("run {i}"));
        env.assert_clean();
        if out.code != 0 {
            assert!(
                out.stderr.contains("tcopy"),
                "run {i} failed without naming the mount: {}",
                out.stderr
            );
            refused += 1;
        } else {
            let mut lines = out.stdout.lines();
            let at = lines.next().unwrap_or_default().to_string();
            let got: Vec<String> = lines.map(str::to_string).collect();
            let want: &[String] = match at.as_str() {
                "at /tcopy" | "at /tcopy-swap" => {
                    on_dest += 1;
                    &expected
                }
                "at /tdecoy" => {
                    on_decoy += 1;
                    &[]
                }
                _ => &[],
            };
            if !matches!(at.as_str(), "at /tcopy" | "at /tcopy-swap" | "at /tdecoy") || got != want
            {
                wrong.push(format!("run {i}: {at}: {got:?}"));
            }
        }
        // What a redirected copy left in the decoy goes before the next run.
        for e in std::fs::read_dir(&decoy).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() && !p.is_symlink() {
                std::fs::remove_dir_all(&p).unwrap();
            } else {
                std::fs::remove_file(&p).unwrap();
            }
        }
    }
    let swaps = swapper.stop();
    let planted = planter.stop();
    eprintln!(
        "{runs} runs: {on_dest} copied onto /tcopy, {on_decoy} mounted on /tdecoy (first lookup \
         redirected), {refused} refused, {} copied wrongly; {swaps} swaps, {planted} symlinks planted",
        wrong.len()
    );
    assert!(
        wrong.is_empty(),
        "copies that are not what the tmpfs covers:\n{}",
        wrong.join("\n")
    );
    // The race must have been reached: the swaps interleaved with the
    // init's lookups (some runs saw the symlink, some the directory).
    assert!(
        swaps > runs as u64 && on_dest > 0 && on_decoy + refused > 0,
        "THE RACE WAS NEVER REACHED ({swaps} swaps, {on_dest} on /tcopy, {on_decoy} on /tdecoy, \
         {refused} refused): this run tested nothing"
    );
}

/// podman's default capabilities (no CAP_SYS_ADMIN).
const PODMAN_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_NET_BIND_SERVICE",
    "CAP_SETFCAP",
    "CAP_SETGID",
    "CAP_SETPCAP",
    "CAP_SETUID",
    "CAP_SYS_CHROOT",
];

/// A global sysctl whose value does not matter (a rate limit of kernel
/// messages): the container tries to write its value + 1.
const SYSCTL: &str = "/proc/sys/kernel/printk_ratelimit";

/// Runs, in a container with podman's masked and read-only paths and no
/// seccomp (so the kernel's own checks are what is seen), every way to
/// undo them, each followed by `label=<exit code>`, then what the masked
/// paths read. Returns the container's output (stderr merged).
fn try_to_undo_masks(env: &Env, caps: &[&str], userns: bool) -> String {
    let steps = [
        ("umount-masked-file", "umount /proc/timer_list"),
        ("read-masked-file", "wc -c < /proc/timer_list"),
        ("umount-masked-dir", "umount /sys/firmware"),
        ("remount-rw", "mount -o remount,rw /proc/sys"),
        ("remount-bind-rw", "mount -o remount,bind,rw /proc/sys"),
        ("umount-read-only", "umount /proc/sys"),
        ("mount-over-masked-dir", "mount -t tmpfs none /proc/acpi"),
        (
            "bind-over-masked-file",
            "mount --bind /bin/busybox /proc/timer_list",
        ),
        ("mount-tmpfs", "mount -t tmpfs none /mnt"),
        (
            "sysctl-write",
            "echo $(($(cat /proc/sys/kernel/printk_ratelimit) + 1)) \
             > /proc/sys/kernel/printk_ratelimit",
        ),
    ];
    let mut script = String::from("exec 2>&1; ");
    for (label, cmd) in steps {
        script.push_str(&format!("{cmd}; echo {label}=$?; "));
    }
    script.push_str(
        "echo firmware=$(ls -A /sys/firmware | wc -l); \
         awk '$5 == \"/proc/sys\" {print $5, substr($6, 1, 2)}' /proc/self/mountinfo",
    );
    let name = if userns { "userns" } else { "plain" };
    let mut b = env.bundle(name, &["sh", "-c", &script]);
    std::fs::create_dir_all(b.dir.join("rootfs/mnt")).unwrap();
    b.set(
        "/linux/maskedPaths",
        json!([
            "/proc/acpi",
            "/proc/kcore",
            "/proc/keys",
            "/proc/latency_stats",
            "/proc/timer_list",
            "/proc/timer_stats",
            "/proc/sched_debug",
            "/proc/scsi",
            "/sys/firmware",
            "/sys/fs/selinux",
            "/sys/dev/block"
        ]),
    );
    b.set(
        "/linux/readonlyPaths",
        json!([
            "/proc/asound",
            "/proc/bus",
            "/proc/fs",
            "/proc/irq",
            "/proc/sys",
            "/proc/sysrq-trigger"
        ]),
    );
    for set in ["bounding", "effective", "permitted"] {
        b.set(&format!("/process/capabilities/{set}"), json!(caps));
    }
    b.set("/process/capabilities/ambient", json!([]));
    if userns {
        b.add_namespace("user", None);
        let map = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        b.set("/linux/uidMappings", map.clone());
        b.set("/linux/gidMappings", map);
        let st = std::process::Command::new("chown")
            .args(["-R", "100000:100000"])
            .arg(b.dir.join("rootfs"))
            .status()
            .unwrap();
        assert!(st.success());
    }
    let before = std::fs::read_to_string(SYSCTL).unwrap();
    let out = env.brisk(&["run", "-b", b.path(), name]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        std::fs::read_to_string(SYSCTL).unwrap(),
        before,
        "the container changed the host's {SYSCTL}"
    );
    // The host's own view is untouched too.
    assert!(std::fs::read_dir("/sys/firmware").unwrap().count() > 0);
    env.assert_clean();
    out.stdout
}

/// Without CAP_SYS_ADMIN every attempt to undo a masked or read-only path
/// of /proc and /sys, or to mount anything, is refused by the kernel
/// (EPERM; the sysctl write EROFS), and the masks still hold afterwards.
#[test]
fn masked_and_read_only_paths_cannot_be_undone_without_cap_sys_admin() {
    let env = Env::new("proc-masks");
    let out = try_to_undo_masks(&env, PODMAN_CAPS, false);
    let denied = "mount: permission denied (are you root?)";
    let expected = [
        "umount: can't unmount /proc/timer_list: Operation not permitted",
        "umount-masked-file=1",
        // Masked by /dev/null: readable, empty.
        "0",
        "read-masked-file=0",
        "umount: can't unmount /sys/firmware: Operation not permitted",
        "umount-masked-dir=1",
        denied,
        "remount-rw=1",
        denied,
        "remount-bind-rw=1",
        "umount: can't unmount /proc/sys: Operation not permitted",
        "umount-read-only=1",
        denied,
        "mount-over-masked-dir=1",
        denied,
        "bind-over-masked-file=1",
        denied,
        "mount-tmpfs=1",
        "sh: can't create /proc/sys/kernel/printk_ratelimit: Read-only file system",
        "sysctl-write=1",
        "firmware=0",
        "/proc/sys ro",
    ];
    assert_eq!(out.lines().collect::<Vec<_>>(), expected, "{out}");
}

/// With CAP_SYS_ADMIN in a user namespace the masks are the container's
/// own mounts, made in a mount namespace its user namespace owns: the
/// kernel does not lock them and the container can unmount them (as with
/// runc; see docs/SECURITY.md). What the kernel guarantees
/// still holds: the host root's files (mode 0400 /proc/timer_list) stay
/// unreadable and the sysctls unwritable for the container's root, which
/// is not the host's; the host's value is unchanged.
#[test]
fn cap_sys_admin_in_a_user_namespace_cannot_reach_the_hosts_proc() {
    let env = Env::new("proc-masks-userns");
    let mut caps = PODMAN_CAPS.to_vec();
    caps.push("CAP_SYS_ADMIN");
    let out = try_to_undo_masks(&env, &caps, true);
    let host_firmware = std::fs::read_dir("/sys/firmware").unwrap().count();
    let firmware = format!("firmware={host_firmware}");
    let expected = [
        // Not locked: the unmount works ...
        "umount-masked-file=0",
        // ... and the file under it belongs to the host's root.
        "sh: can't open /proc/timer_list: Permission denied",
        "read-masked-file=1",
        "umount-masked-dir=0",
        "remount-rw=0",
        "remount-bind-rw=0",
        "umount-read-only=0",
        "mount-over-masked-dir=0",
        "bind-over-masked-file=0",
        "mount-tmpfs=0",
        // /proc/sys is the kernel's own again, and says no.
        "sh: can't create /proc/sys/kernel/printk_ratelimit: Permission denied",
        "sysctl-write=1",
        // The unmasked /sys/firmware shows the host's (world-readable)
        // entries: an open weakness, see docs/SECURITY.md.
        &firmware,
    ];
    assert_eq!(out.lines().collect::<Vec<_>>(), expected, "{out}");
}

/// The masked paths of these tests: podman's, with `/sys/dev/block`.
const MASKED: &[&str] = &[
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/fs/selinux",
    "/sys/dev/block",
];

/// A container script printing, for each of `paths`, whether it is a
/// file, a directory or missing (f, d, -), the bytes it reads, the
/// entries it lists and how many mounts sit on it. (stderr goes to /tmp,
/// a tmpfs: the container's /dev/null is what the test is about.)
fn mask_report_script(paths: &[&str]) -> String {
    format!(
        "for p in {}; do \
           if [ -d $p ]; then k=d; elif [ -e $p ]; then k=f; else k=-; fi; \
           echo \"$p $k $(cat $p 2>/tmp/e | wc -c) $(ls -A $p 2>/tmp/e | wc -l) \
                 $(awk -v p=$p '$5 == p' /proc/self/mountinfo | wc -l)\"; \
         done",
        paths.join(" ")
    )
}

/// Checks a `mask_report_script` output: every path the container has is
/// a mount and reads empty; the paths `must_exist` are among them.
fn assert_masked(out: &str, must_exist: &[&str], who: &str) {
    let mut seen = Vec::new();
    for line in out.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(f.len(), 5, "{who}: {line:?}");
        if f[1] == "-" {
            continue;
        }
        seen.push(f[0]);
        assert!(
            f[4] != "0",
            "{who}: {} is not masked (no mount on it): {line}",
            f[0]
        );
        let empty = if f[1] == "f" {
            f[2] == "0"
        } else {
            f[3] == "0"
        };
        assert!(
            empty,
            "{who}: {} shows something through its mask: {line}",
            f[0]
        );
    }
    for p in must_exist {
        assert!(
            seen.contains(p),
            "{who}: {p} missing in the container:\n{out}"
        );
    }
}

/// runc, when it is on PATH, on the same bundle, with its own state root.
fn run_runc(env: &Env, b: &common::Bundle, id: &str) -> Option<common::Out> {
    let found = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("runc").is_file()));
    if !found {
        eprintln!("runc is not on PATH: its behaviour is not compared");
        return None;
    }
    let mut cmd = std::process::Command::new("runc");
    cmd.arg("--root")
        .arg(env.base.join("runc-state"))
        .args(["run", "-b", b.path(), id])
        .env(common::MARK, env.base.to_str().unwrap())
        .stdin(std::process::Stdio::null());
    Some(common::run_to_files(cmd, &env.base))
}

/// Without a `/dev` tmpfs in the config (valid OCI) the image's own `/dev`
/// is used, and `/dev/null` is the source of every masked file. When it
/// is not the null device the masks must still hold, or the container
/// must not start (an error naming /dev/null), never start unmasked (the
/// ENOENT of a dangling symlink was taken for a missing masked path:
/// every mask skipped, `/proc/timer_list`, `/proc/keys` and `/sys/dev/block`
/// readable). As runc 1.1.5: (a) a dangling symlink is followed inside the
/// root and the null device made where it points, the masks hold;
/// (b) a symlink to `/proc/self/fd/N` fails. (c) A regular file: brisk
/// refuses it, where runc binds that file over the masked paths (they show
/// the image's content). Nothing is left behind on failure.
#[test]
fn masks_hold_whatever_the_images_dev_null_is() {
    let env = Env::new("dev-null");
    let must_exist = [
        "/proc/timer_list",
        "/proc/keys",
        "/sys/dev/block",
        "/sys/firmware",
    ];
    let script = mask_report_script(MASKED);
    // (name, how /dev/null is made in the image, whether brisk runs).
    type Make = fn(&std::path::Path);
    let cases: [(&str, Make, bool); 4] = [
        (
            "dangling",
            |d| std::os::unix::fs::symlink("/nonexistent", d).unwrap(),
            true,
        ),
        (
            "fd3",
            |d| std::os::unix::fs::symlink("/proc/self/fd/3", d).unwrap(),
            false,
        ),
        (
            "fd5",
            |d| std::os::unix::fs::symlink("/proc/self/fd/5", d).unwrap(),
            false,
        ),
        (
            "file",
            |d| std::fs::write(d, "the image's null\n").unwrap(),
            false,
        ),
    ];
    for (name, make, runs) in cases {
        let mut b = env.bundle(name, &["sh", "-c", &script]);
        let mut mounts = b.config["mounts"].as_array().unwrap().clone();
        mounts.retain(|m| m["destination"] != "/dev");
        b.set("/mounts", json!(mounts));
        b.set("/linux/maskedPaths", json!(MASKED));
        // A read-only root makes runc fail on a regular /dev/null for
        // another reason (EBUSY remounting /): compare the masks alone.
        b.set("/root/readonly", json!(false));
        let rootfs = b.dir.join("rootfs");
        let reset = || {
            let _ = std::fs::remove_file(rootfs.join("dev/null"));
            let _ = std::fs::remove_file(rootfs.join("nonexistent"));
            make(&rootfs.join("dev/null"));
        };
        reset();
        let out = env.brisk(&["run", "-b", b.path(), name]);
        if runs {
            assert_eq!(out.code, 0, "{name}: {}", out.stderr);
            assert_masked(&out.stdout, &must_exist, &format!("brisk, {name}"));
            // As runc: the device made where the symlink points.
            use std::os::unix::fs::FileTypeExt;
            let made = std::fs::symlink_metadata(rootfs.join("nonexistent")).unwrap();
            assert!(made.file_type().is_char_device(), "{name}: {made:?}");
        } else {
            assert_ne!(out.code, 0, "{name}: the container ran:\n{}", out.stdout);
            assert!(
                out.stderr.contains("/dev/null"),
                "{name}: the error does not name /dev/null: {}",
                out.stderr
            );
        }
        env.assert_clean();
        let cg = leaks::cgroup_dirs(&leaks::cgroups_path(&b.config));
        assert!(cg.is_empty(), "{name}: cgroups left behind: {cg:?}");

        reset();
        let Some(runc) = run_runc(&env, &b, &format!("runc-{name}")) else {
            continue;
        };
        env.assert_clean();
        eprintln!(
            "runc, {name}: exit {}, {}",
            runc.code,
            runc.stderr.lines().last().unwrap_or_default()
        );
        if name == "file" {
            // Not matched on purpose: runc masks with the image's file.
            eprintln!(
                "runc, {name}: stdout {:?}; the image's /dev/null now holds {:?}",
                runc.stdout,
                std::fs::read_to_string(rootfs.join("dev/null")).unwrap_or_default()
            );
            continue;
        }
        assert_eq!(
            runc.code == 0,
            runs,
            "{name}: runc differs: {}",
            runc.stderr
        );
        if runs {
            assert_masked(&runc.stdout, &must_exist, &format!("runc, {name}"));
        }
    }
}

/// Masked paths in a container without `/proc`: the null device is bound
/// from brisk's fd without a `/proc/self/fd` path (which would be missing
/// here, and its ENOENT taken for a missing masked path): the file and
/// the directory are masked, the missing path skipped.
#[test]
fn masks_hold_in_a_container_without_proc() {
    let env = Env::new("mask-noproc");
    let mut b = env.bundle(
        "b",
        &[
            "sh",
            "-c",
            &mask_report_script(&["/etc/secret", "/sys/firmware", "/nothing"]),
        ],
    );
    std::fs::write(b.dir.join("rootfs/etc/secret"), "secret\n").unwrap();
    let mut mounts = b.config["mounts"].as_array().unwrap().clone();
    mounts.retain(|m| m["destination"] != "/proc");
    b.set("/mounts", json!(mounts));
    b.set(
        "/linux/maskedPaths",
        json!(["/etc/secret", "/sys/firmware", "/nothing"]),
    );
    b.set("/linux/readonlyPaths", json!([]));
    let out = env.brisk(&["run", "-b", b.path(), "c"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    // mountinfo is not there to count mounts: what the paths show is.
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "/etc/secret f 0 1 0",
            "/sys/firmware d 0 0 0",
            "/nothing - 0 0 0"
        ],
        "{}",
        out.stdout
    );
    env.assert_clean();
}

/// The masked and read-only paths of the bundles (`runc spec`'s), by name
/// in /proc.
const PROC_MASKED: &[&str] = &[
    "acpi",
    "asound",
    "kcore",
    "keys",
    "latency_stats",
    "timer_list",
    "timer_stats",
    "sched_debug",
    "scsi",
];
const PROC_READ_ONLY: &[&str] = &["bus", "fs", "irq", "sys", "sysrq-trigger"];

/// What one run of `masks_follow_the_procfs_brisk_mounted_when_proc_is_swapped`
/// found wrong, or the run's counts.
#[derive(Default)]
struct ProcSwapRun {
    /// The container saw the image's own `proc` directory: procfs was
    /// mounted on the decoy (the swap came before the mount).
    on_decoy: bool,
    /// The container saw the decoy directory at some point.
    decoy_seen: bool,
    wrong: Vec<String>,
}

/// Checks the output of the container script of that test (see there).
fn check_proc_swap_run(out: &str, sysctl: &str) -> ProcSwapRun {
    let mut run = ProcSwapRun::default();
    let mut info = Vec::new();
    let mut in_info = false;
    for line in out.lines() {
        if in_info {
            info.push(line);
            continue;
        }
        let f: Vec<&str> = line.split(' ').collect();
        match f[0] {
            "ORIG-SEEN" => run.on_decoy = true,
            "DECOY-SEEN" => run.decoy_seen = true,
            // READ path first-bytes: empty (masked, or missing), the
            // decoy's, or the real file's: a leak.
            "READ" => {
                let got = f.get(2).copied().unwrap_or("");
                if !got.is_empty() && !got.starts_with("decoy") {
                    run.wrong.push(format!("{} read unmasked: {got}", f[1]));
                }
            }
            // SYSCTL path value: the configured value on procfs.
            "SYSCTL" => {
                let got = f.get(2).copied().unwrap_or("");
                if !got.is_empty() && got != "decoy" && got != sysctl {
                    run.wrong
                        .push(format!("{} reads {got}, not {sysctl}", f[1]));
                }
            }
            "MOUNTINFO" => in_info = true,
            _ => run.wrong.push(format!("unexpected line {line:?}")),
        }
    }
    if !in_info {
        run.wrong.push("no mountinfo read".into());
        return run;
    }
    // (id, parent, mount point, options, fstype, root) of each mount.
    type Mount<'a> = (&'a str, &'a str, &'a str, &'a str, &'a str, &'a str);
    let mounts: Vec<Mount> = info
        .iter()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            let dash = f.iter().position(|x| *x == "-")?;
            Some((f[0], f[1], f[4], f[5], *f.get(dash + 1)?, f[3]))
        })
        .collect();
    // The whole filesystems (the read-only paths are binds of parts).
    let of_type = |t: &str| -> Vec<(&str, &str)> {
        mounts
            .iter()
            .filter(|m| m.4 == t && m.5 == "/")
            .map(|m| (m.0, m.2))
            .collect()
    };
    let (procs, sysfs) = (of_type("proc"), of_type("sysfs"));
    if procs.len() != 1 || sysfs.len() != 1 {
        run.wrong
            .push(format!("procfs mounts {procs:?}, sysfs mounts {sysfs:?}"));
        return run;
    }
    // Every mask and read-only path that the kernel has is a mount on the
    // procfs (sysfs) itself, wherever that procfs now shows: its parent
    // mount is the procfs. (By the last name only: the racer may rename
    // the directory under the procfs while mountinfo is being read.)
    let on = |(fs_id, _): (&str, &str), name: &str, ro: bool| {
        mounts.iter().any(|m| {
            m.1 == fs_id
                && m.2.rsplit_once('/').map(|(_, last)| last) == Some(name)
                && (!ro || m.3.split(',').any(|o| o == "ro"))
        })
    };
    let exists = |name: &str| std::path::Path::new("/proc").join(name).exists();
    for name in PROC_MASKED.iter().filter(|n| exists(n)) {
        if !on(procs[0], name, false) {
            run.wrong.push(format!("{name} is not masked on procfs"));
        }
    }
    for name in PROC_READ_ONLY.iter().filter(|n| exists(n)) {
        if !on(procs[0], name, true) {
            run.wrong.push(format!("{name} is not read-only on procfs"));
        }
    }
    if !on(sysfs[0], "firmware", false) {
        run.wrong.push("firmware is not masked on sysfs".into());
    }
    run
}

/// runc CVE-2025-31133 / CVE-2025-52881 class: a second container writing
/// on the same rootfs renames the rootfs's `proc` directory (a mount point
/// only in the init's mount namespace, which the kernel lets another
/// namespace rename) and puts a decoy of its own at `proc`, while brisk
/// masks paths, makes them read-only and writes a sysctl by name. The
/// masks then land on the decoy, the real procfs shows unmasked under the
/// other name, and the sysctl goes to a file of the decoy.
///
/// A host thread exchanges `proc` with `fakeproc`: a directory with files
/// named like the masked ones (`timer_list`, `keys`, `acpi`, a
/// `sys/kernel/msgmax`), then (second half of the runs) a symlink to such
/// a directory. The container reads the masked files and the sysctl under
/// every name, and its mountinfo. Each run must either fail, naming a
/// path, or have every masked and read-only path that the kernel has
/// mounted on the procfs (and sysfs) brisk mounted, wherever it shows,
/// never read a real masked file and read the configured sysctl through
/// procfs. A swap before brisk's mount puts procfs on the decoy: the masks
/// must follow it. The race must have been reached: swaps, runs where
/// procfs sat on the decoy, runs where the container saw the decoy.
#[test]
fn masks_follow_the_procfs_brisk_mounted_when_proc_is_swapped() {
    const RUNS: usize = 80;
    const SYSCTL: &str = "12345";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(240);
    let env = Env::new("proc-swap");
    // Where the procfs may show: the image's /proc, the decoy's name, and
    // the symlinked decoy directory. stderr goes away: reads of a missing
    // name are expected.
    let script = "exec 2>/dev/null; \
        for round in 1 2 3; do for d in /proc /fakeproc /decoy; do \
          [ -e $d/orig-marker ] && echo ORIG-SEEN; \
          [ -e $d/decoy-marker ] && echo DECOY-SEEN; \
          for n in timer_list keys; do \
            echo \"READ $d/$n $(head -c 24 $d/$n | tr -c 'a-zA-Z0-9' '_')\"; \
          done; \
          echo \"SYSCTL $d/sys/kernel/msgmax $(cat $d/sys/kernel/msgmax)\"; \
        done; done; \
        for try in $(seq 100); do for d in /proc /fakeproc /decoy; do \
          if cat $d/self/mountinfo > /tmp/mi; then echo MOUNTINFO; cat /tmp/mi; exit 0; fi; \
        done; done";
    let mut b = env.bundle("b", &["sh", "-c", script]);
    b.set("/linux/sysctl", json!({"kernel.msgmax": SYSCTL}));
    let rootfs = b.dir.join("rootfs");
    let (proc_dir, fake) = (rootfs.join("proc"), rootfs.join("fakeproc"));
    std::fs::write(proc_dir.join("orig-marker"), "").unwrap();
    let fill_decoy = |d: &std::path::Path| {
        let _ = std::fs::remove_dir_all(d);
        std::fs::create_dir_all(d.join("acpi/wakeup")).unwrap();
        std::fs::create_dir_all(d.join("sys/kernel")).unwrap();
        for name in [
            "decoy-marker",
            "timer_list",
            "keys",
            "kcore",
            "sysrq-trigger",
        ] {
            std::fs::write(d.join(name), "decoy\n").unwrap();
        }
        std::fs::write(d.join("sys/kernel/msgmax"), "decoy\n").unwrap();
    };
    let c = |p: &std::path::Path| std::ffi::CString::new(p.to_str().unwrap()).unwrap();
    let (mut runs, mut refused, mut on_decoy, mut decoy_seen, mut swaps) = (0, 0, 0, 0, 0);
    let mut wrong = Vec::new();
    for (phase, symlink) in [("directory", false), ("symlink", true)] {
        // The decoy: `fakeproc` itself, or a symlink `fakeproc -> /decoy`.
        let decoy = if symlink {
            rootfs.join("decoy")
        } else {
            fake.clone()
        };
        let _ = std::fs::remove_dir_all(&fake);
        let _ = std::fs::remove_file(&fake);
        fill_decoy(&decoy);
        if symlink {
            std::os::unix::fs::symlink("/decoy", &fake).unwrap();
        }
        let swapper = Racer::swapping(vec![(c(&proc_dir), c(&fake))]);
        for i in 0..RUNS / 2 {
            if std::time::Instant::now() > deadline {
                eprintln!("time is up after {runs} runs");
                break;
            }
            runs += 1;
            let id = format!("{phase}-{i}");
            let out = env.brisk(&["run", "-b", b.path(), &id]);
            env.assert_clean();
            if out.code != 0 {
                assert!(
                    out.stderr.contains("proc"),
                    "{id} failed without naming a path: {}",
                    out.stderr
                );
                if refused < 3 {
                    eprintln!("{id} refused: {}", out.stderr.trim());
                }
                refused += 1;
            } else {
                let run = check_proc_swap_run(&out.stdout, SYSCTL);
                on_decoy += run.on_decoy as usize;
                decoy_seen += run.decoy_seen as usize;
                wrong.extend(run.wrong.into_iter().map(|w| format!("{id}: {w}")));
            }
            // Whatever the init wrote into the decoy goes before the next
            // run. The racer may have the decoy under either name.
            let d = if symlink {
                decoy.clone()
            } else if proc_dir.join("decoy-marker").exists() {
                proc_dir.clone()
            } else {
                fake.clone()
            };
            let _ = std::fs::write(d.join("sys/kernel/msgmax"), "decoy\n");
        }
        swaps += swapper.stop();
        // Back to the image's layout: `proc` the directory with the marker.
        if !proc_dir.join("orig-marker").exists() {
            std::fs::rename(&proc_dir, rootfs.join("swap-tmp")).unwrap();
            std::fs::rename(&fake, &proc_dir).unwrap();
            std::fs::rename(rootfs.join("swap-tmp"), &fake).unwrap();
        }
    }
    eprintln!(
        "{runs} runs: {refused} refused, {} wrong; procfs mounted on the decoy in {on_decoy}, \
         decoy seen in {decoy_seen}; {swaps} swaps",
        wrong.len()
    );
    assert!(
        wrong.is_empty(),
        "masks or the sysctl missed the procfs brisk mounted:\n{}",
        wrong.join("\n")
    );
    assert!(
        swaps > runs as u64 && on_decoy > 0 && decoy_seen > 0 && runs > refused,
        "THE RACE WAS NEVER REACHED ({runs} runs, {refused} refused, {swaps} swaps, procfs on \
         the decoy in {on_decoy}, decoy seen in {decoy_seen}): this run tested nothing"
    );
}

/// The bind of the pty onto `/dev/console` (`process.terminal`) happens
/// after `pivot_root`, where a path through `/proc/self/fd` is looked up in
/// the container's `/proc` (runc CVE-2025-52565 is of this kind). With the
/// rootfs's `proc` swapped, by a second container on the same rootfs, for
/// a decoy whose `self/fd/N` are symlinks to a file of its own, that file
/// would be bound instead (or the pty onto it). Every run must have the
/// pty (a character device on devpts) at `/dev/console`, or fail naming
/// it; the race must be reached: runs that saw the decoy.
#[test]
fn console_is_the_pty_when_proc_is_swapped() {
    const RUNS: usize = 60;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(180);
    let env = Env::new("console-swap");
    let script = "for d in /proc /fakeproc; do \
          [ -e $d/decoy-marker ] && echo DECOY-SEEN; done; \
        for try in $(seq 100); do for d in /proc /fakeproc; do \
          cat $d/self/mountinfo > /tmp/mi 2>/dev/null && break 2; \
        done; done; \
        echo \"console $(stat -c %F /dev/console) \
              $(awk '$5 == \"/dev/console\" {for (i = 7; $i != \"-\"; i++); print $(i + 1)}' \
                /tmp/mi)\"";
    let mut b = env.bundle("b", &["sh", "-c", script]);
    b.set("/process/terminal", json!(true));
    let rootfs = b.dir.join("rootfs");
    let fake = rootfs.join("fakeproc");
    std::fs::create_dir_all(fake.join("self/fd")).unwrap();
    std::fs::write(fake.join("decoy-marker"), "").unwrap();
    std::fs::write(rootfs.join("decoy-console"), "decoy\n").unwrap();
    for n in 0..64 {
        std::os::unix::fs::symlink("/decoy-console", fake.join(format!("self/fd/{n}"))).unwrap();
    }
    let c = |p: &std::path::Path| std::ffi::CString::new(p.to_str().unwrap()).unwrap();
    let swapper = Racer::swapping(vec![(c(&rootfs.join("proc")), c(&fake))]);
    let (mut runs, mut refused, mut decoy_seen) = (0, 0, 0);
    let mut wrong = Vec::new();
    for i in 0..RUNS {
        if std::time::Instant::now() > deadline {
            eprintln!("time is up after {runs} runs");
            break;
        }
        runs += 1;
        let out = env.brisk(&["run", "-b", b.path(), &format!("t{i}")]);
        env.assert_clean();
        if out.code != 0 {
            assert!(
                out.stderr.contains("console") || out.stderr.contains("pty"),
                "run {i} failed without naming the console: {}",
                out.stderr
            );
            refused += 1;
            continue;
        }
        decoy_seen += out.stdout.contains("DECOY-SEEN") as usize;
        let line = out
            .stdout
            .lines()
            .find(|l| l.starts_with("console"))
            .unwrap_or_default();
        if line.split_whitespace().collect::<Vec<_>>()
            != ["console", "character", "special", "file", "devpts"]
        {
            wrong.push(format!("run {i}: {line:?}"));
        }
        assert_eq!(
            std::fs::read_to_string(rootfs.join("decoy-console")).unwrap(),
            "decoy\n"
        );
    }
    let swaps = swapper.stop();
    eprintln!(
        "{runs} runs: {refused} refused, {} wrong, decoy seen in {decoy_seen}; {swaps} swaps",
        wrong.len()
    );
    assert!(
        wrong.is_empty(),
        "/dev/console is not the pty:\n{}",
        wrong.join("\n")
    );
    assert!(
        swaps > runs as u64 && decoy_seen > 0 && runs > refused,
        "THE RACE WAS NEVER REACHED ({runs} runs, {refused} refused, {swaps} swaps, decoy seen \
         in {decoy_seen}): this run tested nothing"
    );
}

/// A child of the test, killed and reaped on drop (a failed assertion
/// must not leave it running).
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Start time (clock ticks since boot, /proc/PID/stat field 22).
fn start_time_of(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 1..];
    after.split_whitespace().nth(19).unwrap().parse().unwrap()
}

/// A recycled pid: the container's init is gone and its recorded pid now
/// belongs to a process of the host (the record is edited to point at a
/// `sleep` of the test, keeping the init's start time, as a reuse would).
/// `state` says stopped, `kill` refuses whatever the signal, `kill --all`
/// signals only what is left in the container's cgroup (nothing: it
/// succeeds, as runc's does), `exec` refuses, `delete --force` removes the
/// container; the sleep gets none of their signals: it dies of the test's
/// own SIGTERM, not of an earlier KILL or USR1.
#[test]
fn a_recycled_pid_is_never_signalled() {
    let env = Env::new("pid-reuse");
    let b = env.bundle("b", &["sleep", "100"]);
    env.brisk(&["create", "-b", b.path(), "c"]).ok();
    env.brisk(&["kill", "c", "KILL"]).ok();
    env.wait_status("c", "stopped");

    let path = env.root.join("c/state.json");
    let mut record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let init_start = record["pid_start_time"].as_u64().unwrap();
    // A start time in the same clock tick as the init's would make the
    // foreign process indistinguishable; take one from a later tick.
    let mut foreign = loop {
        let child = std::process::Command::new("sleep")
            .arg("100")
            .spawn()
            .unwrap();
        if start_time_of(child.id()) != init_start {
            break Reaped(child);
        }
        let mut child = child;
        child.kill().unwrap();
        child.wait().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    record["pid"] = json!(foreign.0.id());
    std::fs::write(&path, serde_json::to_vec(&record).unwrap()).unwrap();

    let s = env.state("c");
    assert_eq!(
        (s["status"].as_str(), s["pid"].as_i64()),
        (Some("stopped"), Some(0))
    );
    for args in [&["kill", "c", "KILL"][..], &["kill", "c", "USR1"]] {
        let out = env.brisk(args);
        assert_ne!(out.code, 0, "{args:?} succeeded");
        assert!(
            out.stderr.contains("not running"),
            "{args:?}: {}",
            out.stderr
        );
    }
    env.brisk(&["kill", "--all", "c", "KILL"]).ok();
    assert!(
        foreign.0.try_wait().unwrap().is_none(),
        "kill --all of the stopped container killed the foreign process"
    );
    // exec would enter the foreign process's namespaces.
    let out = env.brisk(&["exec", "c", "true"]);
    assert_ne!(out.code, 0, "exec succeeded");
    assert!(
        out.stderr.contains("stopped container"),
        "exec: {}",
        out.stderr
    );
    env.brisk(&["delete", "--force", "c"]).ok();
    env.assert_clean();

    assert!(
        foreign.0.try_wait().unwrap().is_none(),
        "the foreign process died"
    );
    // SAFETY: kill(2) on our own child, which has not been reaped.
    assert_eq!(
        unsafe { libc::kill(foreign.0.id() as i32, libc::SIGTERM) },
        0
    );
    let status = foreign.0.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGTERM), "{status:?}");
}

/// The cgroup hierarchies of this host: /sys/fs/cgroup itself on a pure
/// cgroup2 host, else each hierarchy mounted below it (unified included).
fn cgroup_mounts() -> Vec<std::path::PathBuf> {
    let root = std::path::Path::new("/sys/fs/cgroup");
    if root.join("cgroup.procs").exists() {
        return vec![root.to_path_buf()];
    }
    std::fs::read_dir(root)
        .unwrap()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .filter(|p| p.join("cgroup.procs").exists())
        .collect()
}

/// Where a cgroup's processes are listed: cgroup2 (pure or unified),
/// else the v1 pids hierarchy.
fn procs_mount() -> std::path::PathBuf {
    let mounts = cgroup_mounts();
    let v2 = |p: &std::path::Path| p.join("cgroup.controllers").exists();
    mounts
        .iter()
        .find(|p| v2(p))
        .or_else(|| mounts.iter().find(|p| p.ends_with("pids")))
        .expect("a cgroup2 or pids hierarchy")
        .clone()
}

/// A `sleep` of the test, outside every container, optionally in a cgroup
/// of its own (`/<name>` in every hierarchy that takes it, made by the
/// test). Dropping it kills the sleep and removes the cgroup.
struct Outsider {
    child: std::process::Child,
    cgroup: Vec<std::path::PathBuf>,
}

impl Outsider {
    fn spawn(cgroup_name: Option<&str>) -> Outsider {
        let mut cgroup = Vec::new();
        let mut procs = Vec::new();
        if let Some(name) = cgroup_name {
            for m in cgroup_mounts() {
                let d = m.join(name);
                std::fs::create_dir(&d).unwrap();
                procs.push(
                    std::ffi::CString::new(d.join("cgroup.procs").to_str().unwrap()).unwrap(),
                );
                cgroup.push(d);
            }
        }
        let mut cmd = std::process::Command::new("sleep");
        cmd.arg("300");
        // SAFETY: runs in the forked child before exec; open, write and
        // close are async-signal-safe and the paths were built before.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut cmd, move || {
                // The sleep joins its cgroup itself ("0"), before it runs:
                // where a hierarchy refuses it (an unset v1 cpuset), it
                // stays where the test is; procs_mount's is checked below.
                for p in &procs {
                    let fd = libc::open(p.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                    if fd >= 0 {
                        libc::write(fd, b"0".as_ptr().cast(), 1);
                        libc::close(fd);
                    }
                }
                Ok(())
            });
        }
        let child = cmd.spawn().unwrap();
        let o = Outsider { child, cgroup };
        if let Some(name) = cgroup_name {
            let listed = std::fs::read_to_string(procs_mount().join(name).join("cgroup.procs"));
            assert!(
                listed
                    .unwrap()
                    .lines()
                    .any(|l| l == o.child.id().to_string()),
                "the outsider is not in its cgroup"
            );
        }
        o
    }

    fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for Outsider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for d in &self.cgroup {
            // The killed sleep leaves its cgroup once reaped, a moment later.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
            while std::fs::remove_dir(d).is_err() && d.exists() {
                assert!(
                    std::time::Instant::now() < deadline,
                    "{} stays",
                    d.display()
                );
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        }
    }
}

/// Rewrites the `cgroup` of a container's state.json with `edit`.
fn tamper_cgroup(env: &Env, id: &str, edit: impl FnOnce(&mut serde_json::Value)) {
    let path = env.root.join(id).join("state.json");
    let mut record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    edit(&mut record["cgroup"]);
    std::fs::write(&path, serde_json::to_vec(&record).unwrap()).unwrap();
}

/// After a tampered record: `kill --all` (and `exec`, `pause`, `ps`) fails
/// and signals nobody; `delete --force` warns about what it refused (and
/// succeeds, as runc's delete when it cannot remove a cgroup), and still
/// removes the container's state, its processes and its real cgroup.
fn refuses_the_record_but_deletes_the_container(
    env: &Env,
    b: &common::Bundle,
    outsider: &mut Outsider,
    shown: &str,
) {
    // exec would join the cgroup, pause freeze it, ps list it.
    for args in [
        &["kill", "--all", "c", "KILL"][..],
        &["kill", "--all", "c", "TERM"],
        &["exec", "c", "true"],
        &["pause", "c"],
        &["ps", "--format", "json", "c"],
    ] {
        let out = env.brisk(args);
        assert_ne!(out.code, 0, "{args:?} succeeded");
        assert!(
            out.stderr
                .contains("refusing to act on the recorded cgroup")
                && out.stderr.contains(shown),
            "{args:?}: {}",
            out.stderr
        );
    }
    assert!(outsider.alive(), "kill --all signalled the outsider");
    assert_eq!(
        env.status("c"),
        "created",
        "kill --all signalled the container"
    );

    let out = env.brisk(&["delete", "--force", "c"]);
    assert_eq!(out.code, 0, "delete --force: {}", out.stderr);
    assert!(
        out.stderr.contains("warning")
            && out
                .stderr
                .contains("container c deleted, but not its recorded cgroup")
            && out
                .stderr
                .contains("refusing to act on the recorded cgroup")
            && out.stderr.contains(shown),
        "delete --force: {}",
        out.stderr
    );
    assert!(outsider.alive(), "delete --force signalled the outsider");
    env.assert_clean();
    let own = b.config["linux"]["cgroupsPath"].as_str().unwrap();
    for m in cgroup_mounts() {
        let d = m.join(own.trim_start_matches('/'));
        assert!(!d.exists(), "the container's cgroup {} stays", d.display());
    }
}

/// state.json's cgroup pointing at a host directory outside any cgroup
/// file system, one holding a `cgroup.procs` that lists a process of the
/// test: `kill --all` read it and signalled that process, `delete
/// --force` removed the (empty) directories the record said it created.
/// Now the record is refused: it is not under a cgroup hierarchy.
#[test]
fn a_recorded_cgroup_outside_the_cgroup_fs_is_refused() {
    let env = Env::new("cg-tamper-fs");
    let b = env.bundle("b", &["sleep", "100"]);
    env.brisk(&["create", "-b", b.path(), "c"]).ok();
    let mut outsider = Outsider::spawn(None);
    let outside = env.base.join("outside");
    let (sub, empty) = (outside.join("sub"), outside.join("empty"));
    std::fs::create_dir_all(&sub).unwrap();
    std::fs::create_dir_all(&empty).unwrap();
    std::fs::write(
        sub.join("cgroup.procs"),
        format!("{}\n", outsider.child.id()),
    )
    .unwrap();
    tamper_cgroup(&env, "c", |cg| {
        for d in cg["dirs"].as_array_mut().unwrap() {
            d["path"] = json!(sub);
        }
        cg["created"] = json!([empty, sub]);
    });

    refuses_the_record_but_deletes_the_container(&env, &b, &mut outsider, "sub");
    assert!(
        sub.join("cgroup.procs").exists() && empty.exists(),
        "removed"
    );
}

/// state.json's cgroup pointing, consistently, at another real cgroup (one
/// the test made, with a `sleep` of its own in it): `kill --all` wrote
/// its `cgroup.kill`, `delete --force` removed it. Now the record is
/// refused: it is not the cgroup the container's config gives.
#[test]
fn a_recorded_cgroup_that_is_not_the_containers_is_refused() {
    let env = Env::new("cg-tamper-other");
    let b = env.bundle("b", &["sleep", "100"]);
    env.brisk(&["create", "-b", b.path(), "c"]).ok();
    let name = format!("brisk-it-outsider-{}", std::process::id());
    let mut outsider = Outsider::spawn(Some(&name));
    let own = b.config["linux"]["cgroupsPath"]
        .as_str()
        .unwrap()
        .to_string();
    tamper_cgroup(&env, "c", |cg| {
        cg["path"] = json!(format!("/{name}"));
        for d in cg["dirs"].as_array_mut().unwrap() {
            let p = d["path"]
                .as_str()
                .unwrap()
                .replace(&own, &format!("/{name}"));
            d["path"] = json!(p);
        }
        let dirs: Vec<serde_json::Value> = cg["dirs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["path"].clone())
            .collect();
        cg["created"] = json!(dirs);
    });

    refuses_the_record_but_deletes_the_container(&env, &b, &mut outsider, &name);
    for d in &outsider.cgroup {
        assert!(d.exists(), "{} removed", d.display());
    }
}

/// The children of `pid` (of its main thread).
fn children(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect()
}

/// Whether `pid` exists and has not exited (a zombie has).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rfind(')')
            .and_then(|i| s[i + 1..].split_whitespace().next())
            .is_some_and(|state| state != "Z")
    })
}

/// Without cgroups, `kill --all` signals every process of the container's
/// pid namespace when state.json says the container has one of its own
/// (`own_pid_ns`). Recorded wrongly for a container that joined a pid
/// namespace (here one the test made, holding a `sleep` of the test; it
/// could be the host's), every process of that namespace was signalled.
/// Now the init must be pid 1 of a namespace other than brisk's: the
/// tampered record is refused, a real own namespace still works.
#[test]
fn a_recorded_own_pid_namespace_is_checked_before_it_is_signalled() {
    let env = Env::new("pidns-tamper");
    // A real own namespace: the sleep (pid 2) gets the TERM, sh (pid 1,
    // no handler) waits for it and ends.
    let own = env.bundle("own", &["sh", "-c", "sleep 100 & wait"]);
    env.brisk(&[
        "--cgroup-manager",
        "disabled",
        "run",
        "-d",
        "-b",
        own.path(),
        "o",
    ])
    .ok();
    let init = env.state("o")["pid"].as_u64().unwrap() as u32;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while children(init).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "no sleep in the container"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    env.brisk(&["kill", "--all", "o", "TERM"]).ok();
    env.wait_status("o", "stopped");
    env.brisk(&["delete", "o"]).ok();

    // The test's namespace: unshare's child is its pid 1 (a shell), with a
    // sleep as pid 2; --kill-child ends them with unshare.
    let mut ns_holder = Reaped(
        std::process::Command::new("unshare")
            .args([
                "--pid",
                "--fork",
                "--kill-child",
                "sh",
                "-c",
                "sleep 300 & wait",
            ])
            .spawn()
            .unwrap(),
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let (sh, sleep) = loop {
        if let Some(&sh) = children(ns_holder.0.id()).first() {
            if let Some(&sleep) = children(sh).first() {
                break (sh, sleep);
            }
        }
        assert!(std::time::Instant::now() < deadline, "no namespace");
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    let mut b = env.bundle("b", &["sleep", "100"]);
    b.add_namespace("pid", Some(&format!("/proc/{sh}/ns/pid")));
    env.brisk(&[
        "--cgroup-manager",
        "disabled",
        "create",
        "-b",
        b.path(),
        "c",
    ])
    .ok();
    let path = env.root.join("c/state.json");
    let mut record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(record["own_pid_ns"], json!(false));
    record["own_pid_ns"] = json!(true);
    std::fs::write(&path, serde_json::to_vec(&record).unwrap()).unwrap();

    let out = env.brisk(&["kill", "--all", "c", "TERM"]);
    assert_ne!(out.code, 0, "kill --all succeeded");
    assert!(
        out.stderr
            .contains("not pid 1 of a namespace other than brisk's"),
        "{}",
        out.stderr
    );
    for pid in [sh, sleep] {
        assert!(
            alive(pid),
            "pid {pid} of the test's namespace was signalled"
        );
    }
    assert_eq!(env.status("c"), "created");
    env.brisk(&["delete", "--force", "c"]).ok();
    env.assert_clean();
    assert!(
        ns_holder.0.try_wait().unwrap().is_none(),
        "the namespace's holder died"
    );
}

/// `start` writes its byte to `exec.fifo` in the state directory. Replaced
/// by a symlink to a host file, or a hard link to one, the byte went into
/// that file (its first byte overwritten). Now only a FIFO, opened without
/// following a symlink, is written to: `start` fails, the file is intact.
#[test]
fn start_writes_only_to_its_fifo() {
    let env = Env::new("fifo-swap");
    let b = env.bundle("b", &["true"]);
    let target = env.base.join("host-file");
    for kind in ["symlink", "hardlink"] {
        env.brisk(&["create", "-b", b.path(), "c"]).ok();
        std::fs::write(&target, "hello\n").unwrap();
        let fifo = env.root.join("c/exec.fifo");
        std::fs::remove_file(&fifo).unwrap();
        if kind == "symlink" {
            std::os::unix::fs::symlink(&target, &fifo).unwrap();
        } else {
            std::fs::hard_link(&target, &fifo).unwrap();
        }
        let out = env.brisk(&["start", "c"]);
        assert_ne!(out.code, 0, "{kind}: start succeeded");
        assert!(
            out.stderr.contains("not the FIFO create made"),
            "{kind}: {}",
            out.stderr
        );
        assert_eq!(
            std::fs::read_to_string(&target).unwrap(),
            "hello\n",
            "{kind}: start wrote to the file"
        );
        env.brisk(&["delete", "--force", "c"]).ok();
        env.assert_clean();
    }
}
