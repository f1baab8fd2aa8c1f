//! `linux.seccomp` on real containers: podman's default profile (blocked
//! syscalls get its errno, allowed ones work, argument filters, the x86
//! part through `int 0x80`), KILL_PROCESS, a notify agent answering a
//! syscall, and the compiled-filter cache (miss then hit seen in the debug
//! log, bad entries recompiled, unusable directories, racing writers,
//! cached bytes identical to a fresh compile).

mod common;

use std::os::fd::AsRawFd;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Bundle, Env, Out};
use serde_json::{json, Value};

fn podman_profile() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/podman-seccomp.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Builds the static syscall helper into the bundle's rootfs.
fn install_sctest(b: &Bundle) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sctest.c");
    let out = b.dir.join("rootfs/bin/sctest");
    let st = Command::new("gcc")
        .args(["-static", "-O1", "-o"])
        .arg(&out)
        .arg(&src)
        .status()
        .expect("gcc (apt-get install gcc libc6-dev)");
    assert!(st.success(), "gcc failed to build {}", src.display());
}

fn lines_of(out: &str) -> std::collections::HashMap<String, String> {
    out.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// brisk with its own cache directory and a debug log.
struct Cached<'a> {
    env: &'a Env,
    cache: PathBuf,
    log: PathBuf,
}

impl<'a> Cached<'a> {
    fn new(env: &'a Env, name: &str) -> Self {
        Cached {
            env,
            cache: env.base.join(name),
            log: env.base.join(format!("{name}.log")),
        }
    }

    fn with_dir(env: &'a Env, dir: PathBuf) -> Self {
        Cached {
            env,
            log: env.base.join("other.log"),
            cache: dir,
        }
    }

    fn brisk(&self, args: &[&str]) -> Out {
        let _ = std::fs::remove_file(&self.log);
        let mut all = vec![
            "--debug",
            "--log",
            self.log.to_str().unwrap(),
            "--seccomp-cache",
            self.cache.to_str().unwrap(),
        ];
        all.extend_from_slice(args);
        self.env.brisk(&all)
    }

    /// The seccomp debug line of the last command.
    fn seccomp_line(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        log.lines()
            .filter(|l| l.contains("seccomp: "))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The profile entry and the section entry a miss wrote, from the
    /// debug line ("stored in P (...); section entry stored in S").
    fn stored(&self) -> (PathBuf, PathBuf) {
        let line = self.seccomp_line();
        let after = |marker: &str| -> PathBuf {
            let rest = &line[line
                .find(marker)
                .unwrap_or_else(|| panic!("{marker}: {line}"))
                + marker.len()..];
            PathBuf::from(rest.split([' ', ';', '"']).next().unwrap())
        };
        (after(", stored in "), after("; section entry stored in "))
    }

    fn entries(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(&self.cache)
            .map(|rd| rd.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default();
        v.sort();
        v
    }
}

#[test]
fn default_profile_filters_x86_64_and_i386() {
    if brisk_test_support::x86_64_only("an x86_64 test program (sctest.c) with i386 int 0x80 calls")
    {
        return;
    }
    let env = Env::new("sc-default");
    let mut b = env.bundle("b", &["/bin/sctest"]);
    install_sctest(&b);
    b.set("/linux/seccomp", podman_profile());
    let c = Cached::new(&env, "cache");
    let out = c.brisk(&["run", "-b", b.path(), "d"]).ok();
    let v = lines_of(&out);
    // Allowed: works (pid 1 in the container's pid namespace), on both ABIs.
    assert_eq!(v["getpid"], "1", "{out}");
    assert_eq!(v["i386_getpid"], "1", "{out}");
    // Not in the profile: its defaultErrnoRet (ENOSYS) instead of the
    // kernel's EFAULT, on both ABIs.
    assert_eq!(v["io_uring_setup"], "-38", "{out}");
    assert_eq!(v["i386_io_uring_setup"], "-38", "{out}");
    // personality: PER_LINUX32 is an allowed value, ADDR_NO_RANDOMIZE not.
    assert_eq!(v["personality_linux32"], "0", "{out}");
    assert_eq!(v["personality_norandom"], "-38", "{out}");

    // Without the profile the same calls reach the kernel.
    b.remove("/linux/seccomp");
    let v = lines_of(&env.brisk(&["run", "-b", b.path(), "n"]).ok());
    assert_eq!(v["io_uring_setup"], "-14");
    assert_eq!(v["i386_io_uring_setup"], "-14");
    env.assert_clean();
}

#[test]
fn default_profile_without_no_new_privileges_as_a_user() {
    // Without noNewPrivileges the filter is loaded before the user switch
    // and the capability drop: the profile must allow what follows, and
    // the filter must still be there.
    let env = Env::new("sc-nnp");
    let mut b = env.bundle(
        "b",
        &[
            "sh",
            "-c",
            "id -u; grep -E '^(Seccomp|NoNewPrivs|CapEff):' /proc/self/status",
        ],
    );
    b.set("/linux/seccomp", podman_profile());
    b.set("/process/noNewPrivileges", json!(false));
    b.set("/process/user", json!({"uid": 1000, "gid": 1000}));
    let out = Cached::new(&env, "cache")
        .brisk(&["run", "-b", b.path(), "u"])
        .ok();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "1000", "{out}");
    assert!(out.contains("NoNewPrivs:\t0"), "{out}");
    assert!(out.contains("Seccomp:\t2"), "{out}");
    assert!(out.contains("CapEff:\t0000000000000000"), "{out}");
    env.assert_clean();
}

#[test]
fn masked_and_ordered_argument_filters() {
    let env = Env::new("sc-args");
    let mut b = env.bundle("b", &[]);
    // kill(_, sig): EPERM when sig & 0xf0 == 0x10 (16..31), EACCES when
    // sig > 40 (realtime, above the range busybox names).
    b.set(
        "/linux/seccomp",
        json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["kill"], "action": "SCMP_ACT_ERRNO",
             "args": [{"index": 1, "value": 240, "valueTwo": 16, "op": "SCMP_CMP_MASKED_EQ"}]},
            {"names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
             "args": [{"index": 1, "value": 40, "op": "SCMP_CMP_GT"}]}]}),
    );
    b.set(
        "/process/args",
        json!([
            "sh",
            "-c",
            "for s in 15 16 31 32 45; do kill -$s 999999 2>&1; done; true"
        ]),
    );
    let out = Cached::new(&env, "cache")
        .brisk(&["run", "-b", b.path(), "a"])
        .ok();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 5, "{out}");
    assert!(lines[0].contains("No such process"), "15: {out}");
    assert!(lines[1].contains("Operation not permitted"), "16: {out}");
    assert!(lines[2].contains("Operation not permitted"), "31: {out}");
    assert!(lines[3].contains("No such process"), "32: {out}");
    assert!(lines[4].contains("Permission denied"), "45: {out}");
    env.assert_clean();
}

#[test]
fn kill_process_kills() {
    let env = Env::new("sc-kill");
    let mut b = env.bundle("b", &["uname"]);
    b.set(
        "/linux/seccomp",
        json!({"defaultAction": "SCMP_ACT_ALLOW",
               "syscalls": [{"names": ["no_such_syscall_xyz", "uname"],
                             "action": "SCMP_ACT_KILL_PROCESS"}]}),
    );
    let c = Cached::new(&env, "cache");
    let out = c.brisk(&["run", "-b", b.path(), "k"]);
    // Killed by SIGSYS: 128 + 31.
    assert_eq!(out.code, 128 + libc::SIGSYS, "{out:?}");
    assert_eq!(out.stdout, "");
    // The unknown name was skipped (as runc and crun skip it), and said so.
    let line = c.seccomp_line();
    assert!(line.contains("skipped: no_such_syscall_xyz"), "{line}");
    env.assert_clean();
}

#[test]
fn log_action_allows_the_call() {
    let env = Env::new("sc-log");
    let mut b = env.bundle("b", &["uname", "-s"]);
    b.set(
        "/linux/seccomp",
        json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_LOG"],
               "syscalls": [{"names": ["uname"], "action": "SCMP_ACT_LOG"}]}),
    );
    let out = Cached::new(&env, "cache")
        .brisk(&["run", "-b", b.path(), "l"])
        .ok();
    assert_eq!(out, "Linux\n");

    // The kernel logs the call (audit type 1326, SECCOMP_RET_LOG) with the
    // container process's host pid.
    let c = Cached::new(&env, "cache");
    c.brisk(&["create", "-b", b.path(), "l2"]).ok();
    let pid = env.state("l2")["pid"].as_i64().unwrap();
    env.brisk(&["start", "l2"]).ok();
    let want = format!(" pid={pid} comm=\"uname\"");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let dmesg = Command::new("dmesg").output().unwrap();
        let text = String::from_utf8_lossy(&dmesg.stdout);
        if text
            .lines()
            .any(|l| l.contains("type=1326") && l.contains(&want) && l.contains("code=0x7ffc0000"))
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no SECCOMP_RET_LOG record for{want} in dmesg"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    env.brisk(&["delete", "--force", "l2"]).ok();
    env.assert_clean();
}

/// The agent side of SCMP_ACT_NOTIFY: answers the first notification with
/// `-errno` and returns the syscall number it saw.
fn answer_one(listener: UnixListener, errno: i32) -> Result<i32, String> {
    let (stream, _) = listener.accept().map_err(|e| e.to_string())?;
    let mut buf = [0u8; 8192];
    let mut cbuf = [0u64; 8];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: a zeroed msghdr is valid; the buffers outlive the call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&cbuf) as _;
    // SAFETY: msg describes valid buffers.
    let n = unsafe { libc::recvmsg(stream.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
    if n <= 0 {
        return Err(format!("recvmsg: {n}"));
    }
    let state: Value = serde_json::from_slice(&buf[..n as usize]).map_err(|e| e.to_string())?;
    if state["fds"] != json!(["seccompFd"]) {
        return Err(format!("state: {state}"));
    }
    // SAFETY: reading the one SCM_RIGHTS fd the kernel placed.
    let fd = unsafe {
        let c = libc::CMSG_FIRSTHDR(&msg);
        if c.is_null() || (*c).cmsg_type != libc::SCM_RIGHTS {
            return Err("no fd".into());
        }
        std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const i32)
    };
    // struct seccomp_notif (80 bytes) and seccomp_notif_resp (24 bytes).
    let mut notif = [0u64; 10];
    const RECV: libc::c_ulong = 0xc050_2100;
    const SEND: libc::c_ulong = 0xc018_2101;
    // SAFETY: notif is a zeroed seccomp_notif-sized buffer.
    if unsafe { libc::ioctl(fd, RECV, notif.as_mut_ptr()) } < 0 {
        return Err(format!("NOTIF_RECV: {}", std::io::Error::last_os_error()));
    }
    let nr = (notif[2] & 0xffff_ffff) as i32;
    let mut resp = [0u64; 3];
    resp[0] = notif[0];
    resp[2] = (-errno) as u32 as u64;
    // SAFETY: resp is a seccomp_notif_resp with the notification's id.
    if unsafe { libc::ioctl(fd, SEND, resp.as_mut_ptr()) } < 0 {
        return Err(format!("NOTIF_SEND: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: our fd, closed once.
    unsafe { libc::close(fd) };
    Ok(nr)
}

#[test]
fn notify_listener_answers_a_syscall() {
    for nnp in [true, false] {
        let env = Env::new(&format!("sc-notify-{nnp}"));
        let mut b = env.bundle("b", &["sh", "-c", "mkdir /tmp/x 2>&1; echo rc=$?"]);
        let socket = env.base.join("agent.sock");
        let listener = UnixListener::bind(&socket).unwrap();
        b.set(
            "/linux/seccomp",
            json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": socket,
                   "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]}),
        );
        b.set("/process/noNewPrivileges", json!(nnp));
        if !nnp {
            // With a listener: TSYNC (+ TSYNC_ESRCH) and WAIT_KILLABLE_RECV.
            b.set(
                "/linux/seccomp/flags",
                json!([
                    "SECCOMP_FILTER_FLAG_TSYNC",
                    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"
                ]),
            );
        }
        let agent = std::thread::spawn(move || answer_one(listener, libc::EXDEV));
        let out = Cached::new(&env, "cache").brisk(&["run", "-b", b.path(), "n"]);
        let nr = agent.join().unwrap();
        let out = out.ok();
        let nr = nr.unwrap_or_else(|e| panic!("agent: {e}"));
        // busybox mkdir calls mkdir(2) or mkdirat(2); arm64 has only the
        // latter.
        #[cfg(target_arch = "x86_64")]
        let mkdir = [libc::SYS_mkdir, libc::SYS_mkdirat];
        #[cfg(not(target_arch = "x86_64"))]
        let mkdir = [libc::SYS_mkdirat];
        assert!(mkdir.contains(&libc::c_long::from(nr)), "{nr}");
        assert!(out.contains("Invalid cross-device link"), "{out}");
        assert!(out.contains("rc=1"), "{out}");
        env.assert_clean();
    }
}

#[test]
fn cache_miss_then_hit() {
    let env = Env::new("sc-cache-hit");
    let mut b = env.bundle("b", &["true"]);
    b.set("/linux/seccomp", podman_profile());
    let c = Cached::new(&env, "cache");
    c.brisk(&["run", "-b", b.path(), "1"]).ok();
    let first = c.seccomp_line();
    assert!(
        first.contains("cache miss: compiled natively, stored in"),
        "{first}"
    );
    // The profile's entry and the one of the section's bytes.
    let (profile_entry, section_entry) = c.stored();
    let entries = c.entries();
    assert_eq!(entries.len(), 2, "{entries:?}");
    assert!(entries.contains(&profile_entry) && entries.contains(&section_entry));
    let meta = std::fs::metadata(&c.cache).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777,
        0o700
    );
    let before: Vec<Vec<u8>> = entries.iter().map(|e| std::fs::read(e).unwrap()).collect();
    assert_eq!(before[0][80..], before[1][80..], "one program");
    c.brisk(&["run", "-b", b.path(), "2"]).ok();
    let second = c.seccomp_line();
    assert!(
        second.contains(&format!("cache hit: read {}", section_entry.display()))
            && second.contains("entry of the section's bytes"),
        "{second}"
    );
    assert!(!second.contains("compiled"), "{second}");
    let after: Vec<Vec<u8>> = entries.iter().map(|e| std::fs::read(e).unwrap()).collect();
    assert_eq!(after, before);

    // The same profile in other bytes (an empty flags list): the section
    // misses, the profile entry hits, and the new bytes get their entry.
    let mut other = podman_profile();
    other["flags"] = json!([]);
    b.set("/linux/seccomp", other);
    c.brisk(&["run", "-b", b.path(), "3"]).ok();
    let third = c.seccomp_line();
    assert!(
        third.contains(&format!("cache hit: read {}", profile_entry.display()))
            && third.contains("; section entry stored in "),
        "{third}"
    );
    assert_eq!(c.entries().len(), 3);
    for e in c.entries() {
        std::fs::remove_file(e).unwrap();
    }

    // The annotation skips the cache: compiled, nothing read or written.
    b.set(
        "/annotations",
        json!({"run.oci.brisk.seccomp.no_cache": "true"}),
    );
    c.brisk(&["run", "-b", b.path(), "4"]).ok();
    let fourth = c.seccomp_line();
    assert!(fourth.contains("cache disabled: compiled"), "{fourth}");
    assert!(c.entries().is_empty());
    env.assert_clean();
}

#[test]
fn bad_entries_are_recompiled() {
    let env = Env::new("sc-cache-bad");
    let mut b = env.bundle("b", &["true"]);
    b.set("/linux/seccomp", podman_profile());
    let c = Cached::new(&env, "cache");
    c.brisk(&["run", "-b", b.path(), "w"]).ok();
    let (profile_entry, section_entry) = c.stored();
    let bad_versions = |good: &[u8]| {
        let mut wrong_key = good.to_vec();
        wrong_key[10] ^= 0xff;
        let mut flipped = good.to_vec();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        let mut long = good.to_vec();
        long.extend_from_slice(&[0; 8]);
        // The seccomp(2) flags word (NEW_LISTENER set): covered by the digest.
        let mut flags = good.to_vec();
        flags[44] ^= 8;
        [
            ("flags word", flags),
            ("truncated", good[..good.len() / 2].to_vec()),
            ("empty", Vec::new()),
            ("wrong key", wrong_key),
            ("corrupt program", flipped),
            ("trailing bytes", long),
            ("not an entry", b"#!/bin/sh\necho hi\n".to_vec()),
        ]
    };
    // A bad profile entry (and no section entry): compiled again.
    let good = std::fs::read(&profile_entry).unwrap();
    for (what, bytes) in bad_versions(&good) {
        std::fs::write(&profile_entry, &bytes).unwrap();
        std::fs::remove_file(&section_entry).unwrap();
        let id = format!("p-{}", what.replace(' ', "-"));
        c.brisk(&["run", "-b", b.path(), &id]).ok();
        let line = c.seccomp_line();
        assert!(
            line.contains("cache miss") && line.contains("existing entry ignored"),
            "{what}: {line}"
        );
        assert_eq!(
            std::fs::read(&profile_entry).unwrap(),
            good,
            "{what}: rewritten"
        );
    }
    // A bad section entry: not used; the profile entry serves, and the
    // section entry is written again.
    let good_section = std::fs::read(&section_entry).unwrap();
    for (what, bytes) in bad_versions(&good_section) {
        std::fs::write(&section_entry, &bytes).unwrap();
        let id = format!("s-{}", what.replace(' ', "-"));
        c.brisk(&["run", "-b", b.path(), &id]).ok();
        let line = c.seccomp_line();
        assert!(
            line.contains(&format!("cache hit: read {}", profile_entry.display()))
                && line.contains("; section entry stored in "),
            "{what}: {line}"
        );
        assert_eq!(
            std::fs::read(&section_entry).unwrap(),
            good_section,
            "{what}: rewritten"
        );
    }
    env.assert_clean();
}

/// A read-only tmpfs, unmounted on drop.
struct ReadOnlyMount(PathBuf);

impl Drop for ReadOnlyMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn unusable_cache_dirs_only_cost_the_cache() {
    let env = Env::new("sc-cache-ro");
    let mut b = env.bundle("b", &["sh", "-c", "grep '^Seccomp:' /proc/self/status"]);
    b.set("/linux/seccomp", podman_profile());

    let ro = env.base.join("ro");
    std::fs::create_dir_all(&ro).unwrap();
    let st = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "ro", "tmpfs"])
        .arg(&ro)
        .status()
        .unwrap();
    assert!(st.success());
    let guard = ReadOnlyMount(ro.clone());
    // Read-only filesystem.
    let c = Cached::with_dir(&env, ro.join("seccomp"));
    let out = c.brisk(&["run", "-b", b.path(), "ro"]).ok();
    assert_eq!(out, "Seccomp:\t2\n");
    assert!(
        c.seccomp_line().contains("not stored"),
        "{}",
        c.seccomp_line()
    );
    drop(guard);

    // A directory others can write is not trusted: not read, not written.
    let open = env.base.join("open");
    std::fs::create_dir_all(&open).unwrap();
    std::fs::set_permissions(&open, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let c = Cached::with_dir(&env, open.clone());
    assert_eq!(
        c.brisk(&["run", "-b", b.path(), "open"]).ok(),
        "Seccomp:\t2\n"
    );
    assert!(
        c.seccomp_line().contains("not stored"),
        "{}",
        c.seccomp_line()
    );
    assert!(c.entries().is_empty());

    // A path through a regular file.
    let file = env.base.join("file");
    std::fs::write(&file, "x").unwrap();
    let c = Cached::with_dir(&env, file.join("seccomp"));
    assert_eq!(
        c.brisk(&["run", "-b", b.path(), "file"]).ok(),
        "Seccomp:\t2\n"
    );
    env.assert_clean();
}

#[test]
fn racing_writers_are_both_fine() {
    let env = Env::new("sc-cache-race");
    let mut b = env.bundle("b", &["true"]);
    b.set("/linux/seccomp", podman_profile());
    // A bundle each (so a cgroup each): the race under test is the cache's.
    let mut b1 = env.bundle("b1", &["true"]);
    b1.set("/linux/seccomp", podman_profile());
    let bundles = [&b, &b1];
    let cache = env.base.join("cache");
    for round in 0..3 {
        let _ = std::fs::remove_dir_all(&cache);
        let mut children = Vec::new();
        for i in 0..2 {
            let mut cmd = env.cmd(&[
                "--seccomp-cache",
                cache.to_str().unwrap(),
                "run",
                "-b",
                bundles[i].path(),
                &format!("r{round}-{i}"),
            ]);
            cmd.stdout(std::process::Stdio::null());
            children.push(cmd.spawn().unwrap());
        }
        for mut c in children {
            assert!(c.wait().unwrap().success(), "round {round}");
        }
        let c = Cached::with_dir(&env, cache.clone());
        let entries = c.entries();
        // The profile's entry and the section's.
        assert_eq!(entries.len(), 2, "temporary files left: {entries:?}");
        // The entry is whole: the next start reads it.
        c.brisk(&["run", "-b", b.path(), &format!("check{round}")])
            .ok();
        assert!(
            c.seccomp_line().contains("cache hit"),
            "{}",
            c.seccomp_line()
        );
    }
    env.assert_clean();
}

/// `--seccomp-compiler=libseccomp` keeps libseccomp: its own cache entry
/// (the key includes the compiler), and the container runs under it as
/// under the native program.
#[test]
fn libseccomp_compiler_escape_hatch() {
    let env = Env::new("sc-compiler");
    let mut b = env.bundle("b", &["sh", "-c", "mkdir /tmp/x; echo rc=$?"]);
    b.set(
        "/linux/seccomp",
        serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 30}]}),
    );
    let c = Cached::new(&env, "cache");
    let native = c.brisk(&["run", "-b", b.path(), "n"]).ok();
    let native_line = c.seccomp_line();
    let lib = c
        .brisk(&["--seccomp-compiler=libseccomp", "run", "-b", b.path(), "l"])
        .ok();
    let lib_line = c.seccomp_line();
    assert!(native_line.contains("compiled natively"), "{native_line}");
    assert!(lib_line.contains("compiled with libseccomp"), "{lib_line}");
    // EROFS from the filter, under both programs.
    assert!(native.contains("rc=1"), "{native}");
    assert_eq!(native, lib);
    // A profile entry and a section entry per compiler.
    assert_eq!(c.entries().len(), 4);
    let bad = c.brisk(&["--seccomp-compiler=gcc", "run", "-b", b.path(), "g"]);
    assert_ne!(bad.code, 0);
    assert!(
        bad.stderr.contains("unknown seccomp compiler"),
        "{}",
        bad.stderr
    );
    env.assert_clean();
}

#[test]
fn cached_program_is_identical_to_a_fresh_compile() {
    let env = Env::new("sc-cache-same");
    let mut b = env.bundle("b", &["true"]);
    b.set("/linux/seccomp", podman_profile());
    let c = Cached::new(&env, "cache");
    c.brisk(&["run", "-b", b.path(), "1"]).ok();
    c.brisk(&["run", "-b", b.path(), "2"]).ok();
    assert!(c.seccomp_line().contains("cache hit"));
    // `seccomp show` reads the program from the cache; with an empty
    // cache directory it compiles it afresh.
    let cached = c.brisk(&["seccomp", "show", &format!("{}/config.json", b.path())]);
    let fresh = Cached::new(&env, "empty").brisk(&[
        "seccomp",
        "show",
        &format!("{}/config.json", b.path()),
    ]);
    let (cached, fresh) = (cached.ok(), fresh.ok());
    assert!(
        cached.lines().nth(1).unwrap().contains(", cache "),
        "{cached}"
    );
    assert!(
        fresh.lines().nth(1).unwrap().contains("compiled natively"),
        "{fresh}"
    );
    let body = |s: &str| s.lines().skip(3).collect::<Vec<_>>().join("\n");
    assert!(body(&cached).lines().count() > 200);
    assert_eq!(body(&cached), body(&fresh));
    env.assert_clean();
}

/// The filter the kernel holds for `pid` (PTRACE_SECCOMP_GET_FILTER), as
/// raw `struct sock_filter` bytes.
fn loaded_filter(pid: i32) -> Vec<u8> {
    const PTRACE_SECCOMP_GET_FILTER: libc::c_uint = 0x420c;
    // SAFETY: ptrace on a process of this test (root may trace it); every
    // pointer passed is valid for the size the kernel writes.
    unsafe {
        assert_eq!(
            libc::ptrace(libc::PTRACE_ATTACH, pid, 0, 0),
            0,
            "attach: {}",
            std::io::Error::last_os_error()
        );
        let mut status = 0;
        assert_eq!(libc::waitpid(pid, &mut status, libc::__WALL), pid);
        let n = libc::ptrace(
            PTRACE_SECCOMP_GET_FILTER,
            pid,
            0,
            std::ptr::null_mut::<u8>(),
        );
        assert!(n > 0, "filter length: {}", std::io::Error::last_os_error());
        let mut buf = vec![0u8; n as usize * 8];
        let m = libc::ptrace(PTRACE_SECCOMP_GET_FILTER, pid, 0, buf.as_mut_ptr());
        assert_eq!(m, n);
        libc::ptrace(libc::PTRACE_DETACH, pid, 0, 0);
        buf
    }
}

#[test]
fn the_kernel_holds_the_cached_program() {
    // A created container has loaded its filter (before reporting ready);
    // the program the kernel holds is the cache entry's, which is the
    // fresh compile of `seccomp compile` into an empty directory.
    let env = Env::new("sc-kernel");
    let mut b = env.bundle("b", &["true"]);
    b.set("/linux/seccomp", podman_profile());
    let c = Cached::new(&env, "cache");
    c.brisk(&["run", "-b", b.path(), "fill"]).ok();
    c.brisk(&["create", "-b", b.path(), "k"]).ok();
    assert!(
        c.seccomp_line().contains("cache hit"),
        "{}",
        c.seccomp_line()
    );
    let pid = env.state("k")["pid"].as_i64().unwrap() as i32;
    let loaded = loaded_filter(pid);
    let entry = std::fs::read(c.entries().pop().unwrap()).unwrap();
    assert_eq!(&entry[80..], &loaded[..], "kernel program vs cache entry");
    let fresh = Cached::new(&env, "fresh");
    fresh
        .brisk(&["seccomp", "compile", &format!("{}/config.json", b.path())])
        .ok();
    let fresh_entry = std::fs::read(fresh.entries().pop().unwrap()).unwrap();
    assert_eq!(
        &fresh_entry[80..],
        &loaded[..],
        "kernel program vs fresh compile"
    );
    env.brisk(&["delete", "--force", "k"]).ok();
    env.assert_clean();
}

#[test]
fn seccomp_commands() {
    let env = Env::new("sc-cli");
    let profile = env.base.join("profile.json");
    std::fs::write(&profile, podman_profile().to_string()).unwrap();
    let c = Cached::new(&env, "cache");
    let out = c
        .brisk(&["seccomp", "compile", profile.to_str().unwrap()])
        .ok();
    assert!(out.contains("cache miss"), "{out}");
    let key = out.split_whitespace().next().unwrap().to_string();
    assert_eq!(key.len(), 64);
    // A config.json with the same section has the same key, and hits.
    let mut b = env.bundle("b", &["true"]);
    b.set("/linux/seccomp", podman_profile());
    let out = c
        .brisk(&["seccomp", "compile", &format!("{}/config.json", b.path())])
        .ok();
    assert!(out.starts_with(&key) && out.contains("cache hit"), "{out}");
    let show = c
        .brisk(&["seccomp", "show", profile.to_str().unwrap()])
        .ok();
    assert!(
        show.contains("; x86_64\n") && show.contains("; x86\n"),
        "{show}"
    );
    // The native program searches ranges: its bounds are named.
    assert!(show.contains("; >= x32 read\n"), "{show}");
    assert!(
        show.matches("; >= ").count() > 20 && show.contains("ret ERRNO(38)"),
        "{show}"
    );
    let list = c.brisk(&["seccomp", "cache", "list"]).ok();
    assert!(
        list.starts_with(&key) && list.contains("instructions"),
        "{list}"
    );
    let clear = c.brisk(&["seccomp", "cache", "clear"]).ok();
    assert!(clear.starts_with("removed 1 "), "{clear}");
    assert_eq!(c.brisk(&["seccomp", "cache", "list"]).ok(), "");
    // Bad input names the field.
    std::fs::write(
        &profile,
        json!({"defaultAction": "SCMP_ACT_ALLOW", "defaultErrnoRet": 3}).to_string(),
    )
    .unwrap();
    let out = c.brisk(&["seccomp", "compile", profile.to_str().unwrap()]);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("linux.seccomp.defaultErrnoRet"),
        "{}",
        out.stderr
    );
    env.assert_clean();
}
