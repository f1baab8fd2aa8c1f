//! `process`: args, env, cwd, user, umask, capabilities, rlimits,
//! noNewPrivileges, oomScoreAdj, and fds: what the container's program
//! sees, checked from inside.

mod common;

use common::Env;
use serde_json::json;

fn run_in(env: &Env, b: &mut common::Bundle, id: &str, script: &str) -> common::Out {
    b.set("/process/args", json!(["sh", "-c", script]));
    env.brisk(&["run", "-b", b.path(), id])
}

#[test]
fn env_and_cwd() {
    let env = Env::new("env-cwd");
    let mut b = env.bundle("b", &[]);
    b.config["process"]["env"]
        .as_array_mut()
        .unwrap()
        .push(json!("GREETING=hello world"));
    b.set("/process/cwd", json!("/tmp/work/dir"));
    let out = run_in(&env, &mut b, "e", "echo \"$GREETING\"; pwd").ok();
    assert_eq!(out, "hello world\n/tmp/work/dir\n");
    env.assert_clean();
}

#[test]
fn user_groups_and_umask() {
    let env = Env::new("user");
    let mut b = env.bundle("b", &[]);
    b.set(
        "/process/user",
        json!({"uid": 1000, "gid": 1001, "additionalGids": [2000, 2001], "umask": 63}),
    );
    b.set("/root/readonly", json!(false));
    let out = run_in(&env, &mut b, "u", "id -u; id -g; id -G; umask").ok();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "1000");
    assert_eq!(lines[1], "1001");
    let groups: Vec<&str> = lines[2].split_whitespace().collect();
    assert!(
        groups.contains(&"2000") && groups.contains(&"2001"),
        "{}",
        lines[2]
    );
    assert_eq!(lines[3], "0077");
    env.assert_clean();
}

fn cap_line(status: &str, key: &str) -> u64 {
    let line = status.lines().find(|l| l.starts_with(key)).unwrap();
    u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap()
}

#[test]
fn capabilities_are_the_configured_sets() {
    let env = Env::new("caps");
    let mut b = env.bundle("b", &[]);
    let out = run_in(&env, &mut b, "c", "cat /proc/self/status").ok();
    // CAP_KILL (5), CAP_NET_BIND_SERVICE (10), CAP_AUDIT_WRITE (29).
    let want = (1 << 5) | (1 << 10) | (1 << 29);
    assert_eq!(cap_line(&out, "CapBnd:"), want);
    assert_eq!(cap_line(&out, "CapEff:"), want);
    assert_eq!(cap_line(&out, "CapPrm:"), want);
    assert_eq!(cap_line(&out, "NoNewPrivs:"), 1);
    env.assert_clean();
}

#[test]
fn unknown_capability_is_skipped_with_a_warning() {
    // config.md: a capability the runtime cannot map MUST be logged as a
    // warning and SHOULD NOT fail the container.
    let env = Env::new("caps-unknown");
    let mut b = env.bundle("b", &["grep", "CapBnd", "/proc/self/status"]);
    b.set(
        "/process/capabilities/bounding",
        json!(["CAP_KILL", "CAP_NOT_A_THING"]),
    );
    let out = env.brisk(&["run", "-b", b.path(), "c"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("CAP_NOT_A_THING"),
        "no warning: {}",
        out.stderr
    );
    assert!(out.stderr.contains("level=warning"), "{}", out.stderr);
    let mask = u64::from_str_radix(out.stdout.split_whitespace().nth(1).unwrap(), 16).unwrap();
    assert_eq!(mask, 1 << 5, "only CAP_KILL stays in the bounding set");
    env.assert_clean();
}

#[test]
fn rlimits_and_oom_score() {
    let env = Env::new("rlimits");
    let mut b = env.bundle("b", &[]);
    b.set(
        "/process/rlimits",
        json!([{"type": "RLIMIT_NOFILE", "soft": 100, "hard": 200}]),
    );
    b.set("/process/oomScoreAdj", json!(500));
    let out = run_in(
        &env,
        &mut b,
        "r",
        "ulimit -n; ulimit -H -n; cat /proc/self/oom_score_adj",
    )
    .ok();
    assert_eq!(out, "100\n200\n500\n");
    env.assert_clean();
}

#[test]
fn raising_a_hard_rlimit_fails_clearly() {
    // This machine lacks CAP_SYS_RESOURCE: a hard limit above the current
    // one cannot be set. Elsewhere the test has nothing to prove.
    let mut cur = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit fills a valid struct.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut cur) };
    let env = Env::new("rlimit-raise");
    let mut b = env.bundle("b", &["true"]);
    let hard = cur.rlim_max.saturating_mul(4).min(1 << 30);
    b.set(
        "/process/rlimits",
        json!([{"type": "RLIMIT_NOFILE", "soft": hard, "hard": hard}]),
    );
    let out = env.brisk(&["run", "-b", b.path(), "r"]);
    if out.code == 0 {
        eprintln!("this host may raise RLIMIT_NOFILE to {hard}: nothing to check");
    } else {
        assert!(out.stderr.contains("RLIMIT_NOFILE"), "{}", out.stderr);
        assert!(out.stderr.contains("CAP_SYS_RESOURCE"), "{}", out.stderr);
    }
    env.assert_clean();
}

#[test]
fn only_stdio_reaches_the_container() {
    let env = Env::new("fds");
    let mut b = env.bundle("b", &[]);
    // pid 1 is the shell itself: its fds are what brisk handed over. No
    // pipeline while ls looks: the shell would hold its pipe fds then.
    let out = run_in(
        &env,
        &mut b,
        "f",
        "(ls /proc/1/fd > /tmp/fds); sort -n /tmp/fds | tr '\\n' ' '",
    )
    .ok();
    assert_eq!(out.trim(), "0 1 2");
    env.assert_clean();
}

#[test]
fn preserve_fds_passes_extra_fds() {
    use std::os::unix::process::CommandExt;
    let env = Env::new("preserve");
    let mut b = env.bundle("b", &[]);
    b.set("/process/args", json!(["sh", "-c", "cat <&3"]));
    let data = env.base.join("data");
    std::fs::write(&data, "through fd 3\n").unwrap();
    let file = std::fs::File::open(&data).unwrap();
    let raw = std::os::fd::AsRawFd::as_raw_fd(&file);
    let mut cmd = env.cmd(&["run", "--preserve-fds", "1", "-b", b.path(), "p"]);
    // SAFETY: dup2 in the forked child before exec is async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            if raw == 3 {
                // Already fd 3: only drop close-on-exec.
                if libc::fcntl(3, libc::F_SETFD, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            } else if libc::dup2(raw, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = common::run_to_files(cmd, &env.base);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, "through fd 3\n");
    // Asking for fds that are not open is an error naming the flag.
    let bad = env.brisk(&["run", "--preserve-fds", "40", "-b", b.path(), "p2"]);
    assert_ne!(bad.code, 0);
    assert!(bad.stderr.contains("--preserve-fds"), "{}", bad.stderr);
    env.assert_clean();
}

#[test]
fn missing_executable_fails_at_create() {
    let env = Env::new("noexec");
    let b = env.bundle("b", &["/no/such/program"]);
    let out = env.brisk(&["create", "-b", b.path(), "x"]);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("/no/such/program"), "{}", out.stderr);
    let b2 = env.bundle("b2", &["no-such-program"]);
    let out = env.brisk(&["run", "-b", b2.path(), "y"]);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("not found in $PATH"), "{}", out.stderr);
    env.assert_clean();
}

#[test]
fn signals_start_at_their_defaults() {
    let env = Env::new("sigdfl");
    // cat runs as the container's init itself: what it shows is what brisk
    // handed over (a shell would ignore some signals on its own).
    let b = env.bundle("b", &["cat", "/proc/self/status"]);
    // brisk itself starts with signals ignored (as under nohup, or a
    // caller that ignores SIGPIPE), which execve would pass on.
    let mut cmd = env.cmd(&["run", "-b", b.path(), "s"]);
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
            for sig in [libc::SIGHUP, libc::SIGUSR1, libc::SIGPIPE, 40] {
                libc::signal(sig, libc::SIG_IGN);
            }
            Ok(())
        });
    }
    let out = common::run_to_files(cmd, &env.base).ok();
    for line in out
        .lines()
        .filter(|l| l.starts_with("SigBlk") || l.starts_with("SigIgn"))
    {
        let v = u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap();
        assert_eq!(v, 0, "{line}");
    }
    env.assert_clean();
}

#[test]
fn root_filesystem_basics() {
    let env = Env::new("rootfs");
    let mut b = env.bundle("b", &[]);
    let out = run_in(
        &env,
        &mut b,
        "r",
        "touch /x 2>/dev/null && echo rw || echo ro; ls /dev | sort | tr '\\n' ' '; echo; \
         touch /tmp/ok && echo tmp-rw; awk '$5 == \"/\"' /proc/self/mountinfo | wc -l; \
         echo probe > /proc/sys/kernel/hostname 2>/dev/null || echo proc-sys-ro; \
         cat /proc/kcore 2>&1 | head -c 0; test -s /proc/kcore || echo kcore-masked",
    )
    .ok();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "ro", "root.readonly was not applied");
    for dev in [
        "full", "null", "ptmx", "pts", "random", "shm", "tty", "urandom", "zero", "fd", "stdin",
        "mqueue",
    ] {
        assert!(
            lines[1].split_whitespace().any(|d| d == dev),
            "/dev lacks {dev}: {}",
            lines[1]
        );
    }
    assert_eq!(lines[2], "tmp-rw");
    assert_eq!(lines[3], "1", "exactly one root mount");
    assert!(out.contains("proc-sys-ro"), "{out}");
    assert!(out.contains("kcore-masked"), "{out}");
    env.assert_clean();
}

#[test]
fn no_pivot_runs_too() {
    let env = Env::new("nopivot");
    let mut b = env.bundle("b", &[]);
    b.set("/process/args", json!(["sh", "-c", "echo in; ls /"]));
    let out = env.brisk(&["run", "--no-pivot", "-b", b.path(), "np"]).ok();
    assert!(out.starts_with("in\n") && out.contains("bin"), "{out}");
    env.assert_clean();
}

#[test]
fn sysctl_is_written() {
    let env = Env::new("sysctl");
    let mut b = env.bundle("b", &[]);
    b.set("/linux/sysctl", json!({"net.ipv4.ping_group_range": "0 0"}));
    let out = run_in(&env, &mut b, "s", "cat /proc/sys/net/ipv4/ping_group_range").ok();
    assert_eq!(out.split_whitespace().collect::<Vec<_>>(), vec!["0", "0"]);
    env.assert_clean();
}

/// A static sd_notify sender in the rootfs at /sdnotify (busybox has no
/// unix datagram client).
fn install_sdnotify(env: &Env, b: &common::Bundle) {
    let src = env.base.join("sdnotify.c");
    std::fs::write(
        &src,
        r#"#include <string.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
int main(int argc, char **argv) {
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    strncpy(a.sun_path, getenv("NOTIFY_SOCKET"), sizeof a.sun_path - 1);
    int s = socket(AF_UNIX, SOCK_DGRAM, 0);
    return sendto(s, argv[1], strlen(argv[1]), 0, (struct sockaddr *)&a, sizeof a) < 0;
}
"#,
    )
    .unwrap();
    let st = std::process::Command::new("gcc")
        .args(["-static", "-O1", "-o"])
        .arg(b.dir.join("rootfs/sdnotify"))
        .arg(&src)
        .status()
        .unwrap();
    assert!(st.success(), "gcc");
}

/// What the caller's notify socket received, as lines, until `want`
/// datagrams came or 10 s passed.
fn notifications(sock: &std::os::unix::net::UnixDatagram, want: usize) -> Vec<String> {
    sock.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    while got.len() < want {
        let Ok(n) = sock.recv(&mut buf) else { break };
        got.push(String::from_utf8_lossy(&buf[..n]).trim_end().to_string());
    }
    got
}

/// NOTIFY_SOCKET as runc and crun do it: the container gets the runtime's
/// own socket at /run/notify/notify.sock (so a non-root user, or one in a
/// user namespace, can send), and the caller hears READY=1 and MAINPID
/// (the init's pid) once the program is ready; `start` returns
/// only then. runc is run the same way when it is on PATH, and must say
/// the same.
#[test]
fn notify_socket_is_the_runtimes_own_and_ready_is_forwarded() {
    let env = Env::new("notify");
    let mut b = env.bundle("b", &["sh", "-c", "echo $NOTIFY_SOCKET; /sdnotify READY=1"]);
    b.set("/process/user", json!({"uid": 1000, "gid": 1000}));
    install_sdnotify(&env, &b);
    let mut runtimes = vec![common::runtime_bin()];
    match which("runc") {
        Some(runc) => runtimes.push(runc),
        None => eprintln!("NOTE: runc is not on PATH: brisk alone"),
    }
    for (i, rt) in runtimes.iter().enumerate() {
        let sock_path = env.base.join(format!("notify-{i}.sock"));
        let sock = std::os::unix::net::UnixDatagram::bind(&sock_path).unwrap();
        let root = env.base.join(format!("root-{i}"));
        let mut cmd = std::process::Command::new(rt);
        cmd.arg("--root")
            .arg(&root)
            .args(["run", "-b", b.path(), "n"]);
        cmd.env("NOTIFY_SOCKET", &sock_path);
        let out = common::run_to_files(cmd, &env.base);
        assert_eq!(out.code, 0, "{rt}: {}", out.stderr);
        assert_eq!(out.stdout.trim(), "/run/notify/notify.sock", "{rt}");
        let got = notifications(&sock, 2);
        assert_eq!(got.len(), 2, "{rt}: {got:?}");
        assert_eq!(got[0], "READY=1", "{rt}: {got:?}");
        assert!(got[1].starts_with("MAINPID="), "{rt}: {got:?}");
    }
    // create + start: start returns once the program is ready, with the
    // container still running.
    b.set(
        "/process/args",
        json!(["sh", "-c", "/sdnotify READY=1; exec sleep 60"]),
    );
    let sock_path = env.base.join("notify-start.sock");
    let sock = std::os::unix::net::UnixDatagram::bind(&sock_path).unwrap();
    let mut cmd = env.cmd(&["create", "-b", b.path(), "s"]);
    cmd.env("NOTIFY_SOCKET", &sock_path);
    let out = common::run_to_files(cmd, &env.base);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let mut cmd = env.cmd(&["start", "s"]);
    cmd.env("NOTIFY_SOCKET", &sock_path);
    let out = common::run_to_files(cmd, &env.base);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let pid = env.state("s")["pid"].as_i64().unwrap();
    let got = notifications(&sock, 2);
    assert_eq!(got, ["READY=1".to_string(), format!("MAINPID={pid}")]);
    assert_eq!(env.status("s"), "running");
    env.brisk(&["delete", "--force", "s"]).ok();
    // A program that exits without READY=1: start returns all the same.
    b.set("/process/args", json!(["true"]));
    env.brisk(&["create", "-b", b.path(), "t"]).ok();
    let mut cmd = env.cmd(&["start", "t"]);
    cmd.env("NOTIFY_SOCKET", &sock_path);
    let out = common::run_to_files(cmd, &env.base);
    assert_eq!(out.code, 0, "{}", out.stderr);
    env.wait_status("t", "stopped");
    env.brisk(&["delete", "t"]).ok();
    env.assert_clean();
}

fn which(name: &str) -> Option<String> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| format!("{d}/{name}"))
        .find(|p| std::path::Path::new(p).is_file())
}

#[test]
fn socket_activation_fds_reach_the_container() {
    let env = Env::new("listen-fds");
    let b = env.bundle(
        "b",
        &["sh", "-c", "echo $LISTEN_FDS $LISTEN_PID; cat <&3; cat <&4"],
    );
    let (a, c) = (env.base.join("listen"), env.base.join("preserved"));
    std::fs::write(&a, "listen-fd\n").unwrap();
    std::fs::write(&c, "preserved-fd\n").unwrap();
    // LISTEN_PID must be brisk's own pid: the shell execs brisk.
    let script = format!(
        "LISTEN_PID=$$ LISTEN_FDS=1 exec {} --root {} run --preserve-fds 1 -b {} l 3<{} 4<{}",
        common::runtime_bin(),
        env.root.display(),
        b.path(),
        a.display(),
        c.display()
    );
    let mut cmd = std::process::Command::new("sh");
    cmd.args(["-c", &script])
        .env(common::MARK, env.base.to_str().unwrap());
    let out = common::run_to_files(cmd, &env.base);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.stdout.lines().collect::<Vec<_>>(),
        ["1 1", "listen-fd", "preserved-fd"]
    );
    env.assert_clean();
}

/// The `Cpus_allowed_list` line of a /proc status text.
fn cpus_allowed(status: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .map(|v| v.trim().to_string())
        .unwrap_or_default()
}

/// Whether CPUs 0 and 1 are both online (and usable by this test).
fn cpus_0_and_1() -> bool {
    let mine = cpus_allowed(&std::fs::read_to_string("/proc/self/status").unwrap());
    mine == "0-1" || mine.starts_with("0-") || mine.starts_with("0,1")
}

/// `process.execCPUAffinity`: an `exec` process runs on `initial` until it
/// joins the container's cgroup (brisk's debug log reads the child's
/// affinity at that point) and on `final` after; from `--process` or from
/// the config's process. The container's init is not affected (config.md:
/// not applicable to the init).
#[test]
fn exec_cpu_affinity() {
    if !cpus_0_and_1() {
        return common::skip("needs CPUs 0 and 1 online and allowed");
    }
    let env = Env::new("exec-cpus");
    let mut b = env.bundle("b", &["sleep", "60"]);
    b.set(
        "/process/execCPUAffinity",
        json!({"initial": "0", "final": "1"}),
    );
    let before = cpus_allowed(&std::fs::read_to_string("/proc/self/status").unwrap());
    env.brisk(&["run", "-d", "-b", b.path(), "c"]).ok();
    let pid = env.state("c")["pid"].as_i64().unwrap();
    let init = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert_eq!(cpus_allowed(&init), before, "the init was pinned");
    // The config's process, with other args.
    let out = env.brisk(&[
        "--debug",
        "exec",
        "c",
        "grep",
        "Cpus_allowed_list",
        "/proc/self/status",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(cpus_allowed(&out.stdout), "1", "{}", out.stdout);
    assert!(
        out.stderr.contains("execCPUAffinity.initial: CPUs 0 until"),
        "{}",
        out.stderr
    );
    // A --process of its own.
    let proc_file = env.base.join("process.json");
    let write = |aff: serde_json::Value| {
        let p = json!({
            "args": ["grep", "Cpus_allowed_list", "/proc/self/status"],
            "cwd": "/", "user": {"uid": 0, "gid": 0},
            "execCPUAffinity": aff
        });
        std::fs::write(&proc_file, p.to_string()).unwrap();
    };
    write(json!({"initial": "1", "final": "0"}));
    let pf = proc_file.to_str().unwrap();
    let out = env.brisk(&["--debug", "exec", "--process", pf, "c"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(cpus_allowed(&out.stdout), "0", "{}", out.stdout);
    assert!(
        out.stderr.contains("execCPUAffinity.initial: CPUs 1 until"),
        "{}",
        out.stderr
    );
    // CPUs that do not exist: an error naming the field.
    write(json!({"initial": "1000"}));
    let out = env.brisk(&["exec", "--process", pf, "c"]);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("process.execCPUAffinity.initial"),
        "{}",
        out.stderr
    );
    write(json!({"final": "0-2000"}));
    let out = env.brisk(&["exec", "--process", pf, "c"]);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("process.execCPUAffinity.final"),
        "{}",
        out.stderr
    );
    env.brisk(&["delete", "--force", "c"]).ok();
    env.assert_clean();
}

/// Builds the static get_mempolicy(2) helper into the bundle's rootfs.
fn install_mempolicy_helper(b: &common::Bundle) {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/mempolicy.c");
    let st = std::process::Command::new("gcc")
        .args(["-static", "-O1", "-o"])
        .arg(b.dir.join("rootfs/bin/mempolicy"))
        .arg(&src)
        .status()
        .expect("gcc (apt-get install gcc libc6-dev)");
    assert!(st.success(), "gcc failed to build {}", src.display());
}

/// `linux.memoryPolicy`: the container's process (and an `exec` process)
/// has the configured set_mempolicy(2) mode, flags and nodes, as
/// get_mempolicy(2) reports them; a bad policy is an error naming the
/// field, from the config check or from the kernel. This host has node 0.
#[test]
fn memory_policy() {
    let online = std::fs::read_to_string("/sys/devices/system/node/online").unwrap_or_default();
    if online.trim().is_empty() {
        return common::skip("no NUMA nodes (kernel without CONFIG_NUMA)");
    }
    let env = Env::new("mempolicy");
    let mut b = env.bundle("b", &["/bin/mempolicy"]);
    install_mempolicy_helper(&b);
    let cases = [
        (
            json!({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES"]}),
            "mode=2 flags=0x8000 nodes=0x1",
        ),
        (
            json!({"mode": "MPOL_INTERLEAVE", "nodes": "0"}),
            "mode=3 flags=0x0 nodes=0x1",
        ),
        (
            json!({"mode": "MPOL_PREFERRED", "nodes": "0"}),
            "mode=1 flags=0x0 nodes=0x1",
        ),
        (json!({"mode": "MPOL_LOCAL"}), "mode=4 flags=0x0 nodes=0x0"),
        (
            json!({"mode": "MPOL_DEFAULT"}),
            "mode=0 flags=0x0 nodes=0x0",
        ),
    ];
    for (i, (policy, want)) in cases.iter().enumerate() {
        b.set("/linux/memoryPolicy", policy.clone());
        let out = env.brisk(&["run", "-b", b.path(), &format!("m{i}")]).ok();
        assert_eq!(out.trim(), *want, "{policy}");
    }
    // An exec process gets it too.
    b.set(
        "/linux/memoryPolicy",
        json!({"mode": "MPOL_BIND", "nodes": "0"}),
    );
    b.set("/process/args", json!(["sleep", "60"]));
    env.brisk(&["run", "-d", "-b", b.path(), "e"]).ok();
    let out = env.brisk(&["exec", "e", "/bin/mempolicy"]).ok();
    assert_eq!(out.trim(), "mode=2 flags=0x0 nodes=0x1");
    env.brisk(&["delete", "--force", "e"]).ok();
    b.set("/process/args", json!(["/bin/mempolicy"]));
    // Refused before anything runs, or by the kernel (no node 7 here).
    for (policy, want) in [
        (json!({"mode": "MPOL_BIND"}), "linux.memoryPolicy.nodes"),
        (
            json!({"mode": "MPOL_LOCAL", "nodes": "0"}),
            "linux.memoryPolicy.nodes",
        ),
        (
            json!({"mode": "MPOL_BIND", "nodes": "7"}),
            "linux.memoryPolicy MPOL_BIND nodes 7",
        ),
        (
            json!({"mode": "MPOL_SOMETIMES", "nodes": "0"}),
            "linux.memoryPolicy.mode",
        ),
    ] {
        b.set("/linux/memoryPolicy", policy.clone());
        let out = env.brisk(&["run", "-b", b.path(), "bad"]);
        assert_ne!(out.code, 0, "{policy} accepted: {}", out.stdout);
        assert!(out.stderr.contains(want), "{policy}: {}", out.stderr);
    }
    env.assert_clean();
}

/// The `Groups:` line of a /proc status text, as numbers.
fn groups_line(status: &str) -> Vec<u32> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("Groups:"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|g| g.parse().ok())
        .collect()
}

/// brisk with `args`, run with these supplementary groups.
fn brisk_in_groups(env: &Env, groups: &'static [libc::gid_t], args: &[&str]) -> common::Out {
    use std::os::unix::process::CommandExt;
    let mut cmd = env.cmd(args);
    // SAFETY: one raw system call between fork and exec (the calling
    // process only), async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            if libc::syscall(libc::SYS_setgroups, groups.len(), groups.as_ptr()) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    common::run_to_files(cmd, &env.base)
}

/// podman's `run.oci.keep_original_groups` (`--group-add keep-groups`):
/// the container's process (and an `exec` one) keeps the supplementary
/// groups of brisk's caller instead of getting `additionalGids`; "0"
/// means no, as crun reads it.
#[test]
fn keep_original_groups_annotation() {
    let env = Env::new("keep-groups");
    let mut b = env.bundle("b", &["grep", "Groups", "/proc/self/status"]);
    b.set(
        "/process/user",
        json!({"uid": 1000, "gid": 1000, "additionalGids": [7]}),
    );
    let caller: &'static [libc::gid_t] = &[11, 12];
    let out = brisk_in_groups(&env, caller, &["run", "-b", b.path(), "plain"]).ok();
    assert_eq!(groups_line(&out), [7], "{out}");
    b.set("/annotations", json!({"run.oci.keep_original_groups": "1"}));
    let out = brisk_in_groups(&env, caller, &["run", "-b", b.path(), "keep"]).ok();
    assert_eq!(groups_line(&out), [11, 12], "{out}");
    b.set("/process/args", json!(["sleep", "60"]));
    brisk_in_groups(&env, caller, &["run", "-d", "-b", b.path(), "e"]).ok();
    let out = brisk_in_groups(
        &env,
        &[13],
        &["exec", "e", "grep", "Groups", "/proc/self/status"],
    )
    .ok();
    assert_eq!(groups_line(&out), [13], "exec keeps its caller's: {out}");
    env.brisk(&["delete", "--force", "e"]).ok();
    b.set(
        "/process/args",
        json!(["grep", "Groups", "/proc/self/status"]),
    );
    b.set("/annotations", json!({"run.oci.keep_original_groups": "0"}));
    let out = brisk_in_groups(&env, caller, &["run", "-b", b.path(), "zero"]).ok();
    assert_eq!(groups_line(&out), [7], "{out}");
    env.assert_clean();
}
