//! runc CVE-2019-5736: the runtime's binary on the host must stay out of
//! the container's reach. brisk never re-executes itself, so the init is a
//! copy of brisk until its `execve`: a program that resolves to
//! `/proc/self/exe` would load the host binary into the container, and a
//! waiting init's `/proc/<pid>/exe` would lead to it. See
//! docs/SECURITY.md and crates/brisk-container/src/process/self_exe.rs.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::{brisk_bin, Env};
use serde_json::json;

const REFUSED: &str = "runtime's own binary";

/// Every way the container's program can name the init's own binary is
/// refused at create, cleanly; brisk's binary is unchanged.
#[test]
fn a_program_resolving_to_the_runtime_binary_is_refused() {
    if brisk_test_support::x86_64_only("patches the x86_64 loader's path in /usr/bin/true") {
        return;
    }
    let before = std::fs::read(brisk_bin()).expect("read brisk");
    let env = Env::new("self-exe");
    let mut b = env.bundle("b", &["true"]);
    let rootfs = b.dir.join("rootfs");
    // A symlink found through $PATH.
    std::os::unix::fs::symlink("/proc/self/exe", rootfs.join("bin/evil")).unwrap();
    // A script whose interpreter is the init's binary, two levels deep.
    write_exec(&rootfs.join("evil.sh"), b"#!/proc/self/exe --version\n");
    write_exec(&rootfs.join("evil2.sh"), b"#!/evil.sh\n");
    // An ELF program whose loader is the init's binary.
    write_exec(
        &rootfs.join("evil-elf"),
        &elf_with_loader(b"/proc/self/exe"),
    );
    let cases: [&[&str]; 5] = [
        &["/proc/self/exe", "--version"],
        &["evil", "--version"],
        &["/evil.sh"],
        &["/evil2.sh"],
        &["/evil-elf"],
    ];
    for (i, args) in cases.iter().enumerate() {
        b.set("/process/args", json!(args));
        let out = env.brisk(&["run", "-b", b.path(), &format!("c{i}")]);
        assert_ne!(out.code, 0, "{args:?} ran: {}", out.stdout);
        assert!(
            out.stderr.contains(REFUSED) && out.stderr.contains(args[0]),
            "{args:?}: {}",
            out.stderr
        );
        env.assert_clean();
    }
    // startContainer hooks run inside the container too.
    b.set("/process/args", json!(["true"]));
    b.set(
        "/hooks",
        json!({"startContainer": [{"path": "/proc/self/exe", "args": ["x", "--version"]}]}),
    );
    let out = env.brisk(&["run", "-b", b.path(), "hook"]);
    assert_ne!(out.code, 0, "the hook ran: {}", out.stdout);
    assert!(out.stderr.contains(REFUSED), "{}", out.stderr);
    env.assert_clean();
    assert!(
        std::fs::read(brisk_bin()).expect("read brisk") == before,
        "brisk's binary changed"
    );
}

/// The check is about the host's file, not about brisk as a program: a
/// copy of brisk in the rootfs is the container's own file and runs.
#[test]
fn a_copy_of_brisk_inside_the_rootfs_runs() {
    if brisk_test_support::x86_64_only("lends the x86_64 library directories to a dynamic brisk") {
        return;
    }
    let env = Env::new("self-exe-copy");
    let mut b = env.bundle("b", &["/brisk-copy", "--version"]);
    std::fs::copy(brisk_bin(), b.dir.join("rootfs/brisk-copy")).unwrap();
    // The test build is dynamically linked: lend it the host's libraries.
    let mut mounts = b.config["mounts"].as_array().unwrap().clone();
    for dir in ["/lib64", "/lib/x86_64-linux-gnu"] {
        mounts.push(json!({"destination": dir, "type": "bind", "source": dir,
                           "options": ["rbind", "ro"]}));
    }
    b.set("/mounts", json!(mounts));
    let out = env.brisk(&["run", "-b", b.path(), "copy"]).ok();
    assert!(out.contains("brisk version"), "{out}");
    env.assert_clean();
}

/// An init waiting for `start` in a pid namespace shared with a running
/// container, after dropping to the same user and capabilities as the
/// container's processes: its `/proc/<pid>/exe` is out of their reach
/// because brisk is non-dumpable until `execve`.
#[test]
fn a_waiting_init_cannot_be_reached_through_proc_exe() {
    let env = Env::new("self-exe-wait");
    let holder = env.bundle("holder", &["sleep", "60"]);
    env.brisk(&["run", "-d", "-b", holder.path(), "holder"])
        .ok();
    let holder_pid = env.state("holder")["pid"].as_i64().unwrap();
    let mut waiting = env.bundle("waiting", &["true"]);
    waiting.add_namespace("pid", Some(&format!("/proc/{holder_pid}/ns/pid")));
    env.brisk(&["create", "-b", waiting.path(), "waiting"]).ok();
    let init = env.state("waiting")["pid"].as_i64().unwrap();
    // The waiting init's pid inside the shared namespace.
    let status = std::fs::read_to_string(format!("/proc/{init}/status")).unwrap();
    let ns_pid = status
        .lines()
        .find_map(|l| l.strip_prefix("NSpid:"))
        .and_then(|l| l.split_whitespace().last())
        .expect("NSpid")
        .to_string();
    let out = env
        .brisk(&[
            "exec",
            "holder",
            "sh",
            "-c",
            "for p in /proc/[0-9]*; do n=${p#/proc/}; \
             if cat $p/exe >/dev/null 2>&1; then echo \"$n $(readlink $p/exe)\"; \
             else echo \"$n denied\"; fi; done",
        ])
        .ok();
    assert!(
        out.lines().any(|l| l == format!("{ns_pid} denied")),
        "the waiting init (pid {ns_pid} inside) was readable:\n{out}"
    );
    assert!(
        !out.contains("brisk"),
        "a runtime binary was reachable:\n{out}"
    );
    // The holder's own process is reachable: the check above is not a
    // blanket denial.
    assert!(out.contains("1 /bin/busybox"), "{out}");
    env.brisk(&["delete", "--force", "waiting"]).ok();
    env.brisk(&["delete", "--force", "holder"]).ok();
    env.assert_clean();
}

fn write_exec(path: &std::path::Path, data: &[u8]) {
    std::fs::write(path, data).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// The host's dynamically linked `true` with its loader path replaced.
fn elf_with_loader(loader: &[u8]) -> Vec<u8> {
    let mut elf = std::fs::read("/usr/bin/true").expect("/usr/bin/true");
    let old = b"/lib64/ld-linux-x86-64.so.2\0";
    let at = elf
        .windows(old.len())
        .position(|w| w == old)
        .expect("/usr/bin/true names the x86-64 loader");
    let mut new = loader.to_vec();
    new.resize(old.len(), 0);
    elf[at..at + old.len()].copy_from_slice(&new);
    elf
}

/// A seccomp profile that predates statx (loaded before the check when
/// `noNewPrivileges` is off): the check falls back to device and inode,
/// a normal program runs and brisk's binary is still refused.
#[test]
fn the_check_works_under_a_profile_without_statx() {
    let env = Env::new("self-exe-seccomp");
    let mut b = env.bundle("b", &["echo", "ran"]);
    b.set("/process/noNewPrivileges", json!(false));
    b.set(
        "/linux/seccomp",
        json!({"defaultAction": "SCMP_ACT_ALLOW",
               "syscalls": [{"names": ["statx"], "action": "SCMP_ACT_ERRNO"}]}),
    );
    let out = env.brisk(&["run", "-b", b.path(), "ok"]).ok();
    assert_eq!(out.trim(), "ran");
    b.set("/process/args", json!(["/proc/self/exe", "--version"]));
    let out = env.brisk(&["run", "-b", b.path(), "refused"]);
    assert_ne!(out.code, 0, "ran: {}", out.stdout);
    assert!(out.stderr.contains(REFUSED), "{}", out.stderr);
    env.assert_clean();
}

/// The binary the race tests attack: a copy (the attack, when it wins,
/// writes over it) of the shipped static release binary when
/// `BRISK_RELEASE_BIN` names it (scripts/test.sh does), else of the debug
/// build, which then needs the host's libraries lent to the container (a
/// dynamic brisk cannot start in a busybox rootfs, and the race would be
/// lost for that reason alone).
struct Victim {
    copy: std::path::PathBuf,
    original: Vec<u8>,
    dynamic: bool,
}

impl Victim {
    fn new(env: &Env) -> Victim {
        let (src, dynamic) = match std::env::var("BRISK_RELEASE_BIN") {
            Ok(p) if !p.is_empty() => (p, false),
            _ => {
                eprintln!(
                    "NOTE: BRISK_RELEASE_BIN is not set: attacking the debug build \
                     (scripts/test.sh attacks the static release binary)"
                );
                (brisk_bin().to_string(), true)
            }
        };
        let copy = env.base.join("brisk-under-attack");
        std::fs::copy(&src, &copy).unwrap_or_else(|e| panic!("copy {src}: {e}"));
        std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
        let original = std::fs::read(&copy).unwrap();
        Victim {
            copy,
            original,
            dynamic,
        }
    }

    /// Runs the copy; once the attack has written over it, it no longer
    /// starts, and that is reported as what it is.
    fn run(&self, env: &Env, args: &[&str]) -> common::Out {
        if !self.intact() {
            self.assert_unchanged();
        }
        common::run_to_files(env.cmd_of(&self.copy, args), &env.base)
    }

    /// Whether the attack's marker is absent (cheap: its first bytes).
    fn intact(&self) -> bool {
        use std::io::Read;
        let mut head = [0u8; 5];
        std::fs::File::open(&self.copy)
            .and_then(|mut f| f.read_exact(&mut head))
            .is_ok_and(|()| &head != b"PWNED")
    }

    fn assert_unchanged(&self) {
        let now = std::fs::read(&self.copy).unwrap();
        assert!(
            now == self.original,
            "the runtime's binary was overwritten from inside the container \
             (it now starts with {:?})",
            String::from_utf8_lossy(&now[..8.min(now.len())])
        );
    }

    /// The bundle's mounts, plus the host's libraries for a dynamic brisk.
    fn lend_libraries(&self, b: &mut common::Bundle) {
        if !self.dynamic {
            return;
        }
        let mut mounts = b.config["mounts"].as_array().unwrap().clone();
        for dir in ["/lib64", "/lib/x86_64-linux-gnu"] {
            mounts.push(json!({"destination": dir, "type": "bind", "source": dir,
                               "options": ["rbind", "ro"]}));
        }
        b.set("/mounts", json!(mounts));
    }
}

/// Lays out the attack's rootfs (see tests/data/exe-attack.c): the
/// attacker at /exe-attack, busybox copies and their symlink twins under
/// /x, a script whose interpreter is swapped. The container is as docker
/// makes one by default: a writable rootfs, root, docker's capabilities.
fn arm(b: &mut common::Bundle) {
    b.set("/root/readonly", json!(false));
    for set in ["bounding", "effective", "permitted"] {
        b.set(
            &format!("/process/capabilities/{set}"),
            json!(common::DOCKER_CAPS),
        );
    }
    let rootfs = b.dir.join("rootfs");
    let x = rootfs.join("x");
    std::fs::create_dir_all(&x).unwrap();
    let st = std::process::Command::new("gcc")
        .args(["-O2", "-static", "-o"])
        .arg(rootfs.join("exe-attack"))
        .arg(common::repo_root().join("crates/brisk/tests/data/exe-attack.c"))
        .status()
        .expect("gcc (apt-get install gcc libc6-dev)");
    assert!(st.success(), "gcc failed to build exe-attack.c");
    for name in ["true", "sh"] {
        std::fs::copy(rootfs.join("bin/busybox"), x.join(name)).unwrap();
        std::os::unix::fs::symlink("/proc/self/exe", x.join(format!("{name}-link"))).unwrap();
    }
    write_exec(&x.join("script"), b"#!/x/sh\ntrue\n");
}

/// The attempts against one attacker: at most `max` and 90 s, and 20
/// more once it holds brisk's binary (so the writes are tried while
/// containers come and go, not only at the end).
struct Race {
    held: std::path::PathBuf,
    left: u32,
    after_held: Option<u32>,
    deadline: std::time::Instant,
}

impl Race {
    fn new(attacker: &common::Bundle, max: u32) -> Race {
        Race {
            held: attacker.dir.join("rootfs/x/held"),
            left: max,
            after_held: None,
            deadline: std::time::Instant::now() + std::time::Duration::from_secs(90),
        }
    }

    fn go_on(&mut self) -> bool {
        if self.after_held.is_none() && self.held.exists() {
            self.after_held = Some(20);
        }
        if let Some(n) = &mut self.after_held {
            if *n == 0 {
                return false;
            }
            *n -= 1;
        }
        if self.left == 0 || std::time::Instant::now() > self.deadline {
            return false;
        }
        self.left -= 1;
        true
    }
}

/// What the attacker wrote at the end: (captured, overwritten, last error).
fn attack_result(b: &common::Bundle) -> (u32, u32, String) {
    let x = b.dir.join("rootfs/x");
    std::fs::write(x.join("stop"), b"").unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let text = loop {
        if let Ok(t) = std::fs::read_to_string(x.join("result")) {
            break t;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the attacker wrote no result"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let field = |k: &str| {
        text.split_whitespace()
            .find_map(|f| f.strip_prefix(k))
            .unwrap_or_else(|| panic!("{k} in {text:?}"))
            .to_string()
    };
    (
        field("captured=").parse().unwrap(),
        field("overwritten=").parse().unwrap(),
        field("lasterr="),
    )
}

/// Issue 16, item 1: repeated `exec` (a health check's pattern) into a
/// container whose PID 1 swaps the program and a `#!` interpreter for
/// symlinks to /proc/self/exe and grabs every foreign /proc/<pid>/exe.
/// The swapped program itself never loads brisk (the init execs the fd it
/// checked), but the interpreter is looked up by the kernel at execve
/// time and does: that race must be won (else the test proves nothing)
/// and still leave the binary unwritable, since brisk runs from a
/// read-only bind of itself. Before the fix the binary was overwritten
/// within 2 to 36 execs (and within the first few here).
#[test]
fn exec_racing_a_swap_to_proc_self_exe_cannot_overwrite_the_runtime() {
    let env = Env::new("self-exe-race");
    let victim = Victim::new(&env);
    let mut b = env.bundle("b", &["/exe-attack", "120"]);
    arm(&mut b);
    victim.lend_libraries(&mut b);
    let out = victim.run(&env, &["run", "-d", "-b", b.path(), "target"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let mut race = Race::new(&b, 600);
    let mut execs = 0;
    while race.go_on() {
        let prog = if execs % 2 == 0 {
            "/x/true"
        } else {
            "/x/script"
        };
        victim.run(&env, &["exec", "target", prog]);
        execs += 1;
    }
    victim.assert_unchanged();
    let (captured, overwritten, lasterr) = attack_result(&b);
    eprintln!("{execs} execs: the attacker held brisk's binary {captured} times, overwrote it {overwritten} times, last error {lasterr}");
    victim.assert_unchanged();
    assert_eq!(overwritten, 0);
    assert!(
        captured > 0,
        "the race was never won in {execs} execs: the test proved nothing"
    );
    assert_eq!(
        lasterr, "EROFS",
        "writing was refused, but not by the read-only mount"
    );
    victim.run(&env, &["delete", "--force", "target"]);
    env.assert_clean();
}

/// Issue 16, item 1, between `create` and `start`: a second container
/// sharing the rootfs and the pid namespace (a pod with a shared volume)
/// swaps the program and the interpreter while containers are created and
/// started one after another.
#[test]
fn create_then_start_racing_a_swap_cannot_overwrite_the_runtime() {
    let env = Env::new("self-exe-start");
    let victim = Victim::new(&env);
    let mut attacker = env.bundle("a", &["/exe-attack", "120"]);
    arm(&mut attacker);
    victim.lend_libraries(&mut attacker);
    let out = victim.run(&env, &["run", "-d", "-b", attacker.path(), "attacker"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let pid = env.state("attacker")["pid"].as_i64().unwrap();
    let mut b = env.bundle("b", &["/x/true"]);
    b.set(
        "/root/path",
        json!(attacker.dir.join("rootfs").to_str().unwrap()),
    );
    b.add_namespace("pid", Some(&format!("/proc/{pid}/ns/pid")));
    victim.lend_libraries(&mut b);
    let mut race = Race::new(&attacker, 600);
    let mut runs = 0;
    while race.go_on() {
        let prog = if runs % 2 == 0 {
            "/x/true"
        } else {
            "/x/script"
        };
        b.set("/process/args", json!([prog]));
        let id = format!("c{runs}");
        if victim.run(&env, &["create", "-b", b.path(), &id]).code == 0 {
            victim.run(&env, &["start", &id]);
        }
        victim.run(&env, &["delete", "--force", &id]);
        runs += 1;
    }
    victim.assert_unchanged();
    let (captured, overwritten, lasterr) = attack_result(&attacker);
    eprintln!("{runs} create+start: the attacker held brisk's binary {captured} times, overwrote it {overwritten} times, last error {lasterr}");
    victim.assert_unchanged();
    assert_eq!(overwritten, 0);
    assert!(
        captured > 0,
        "the race was never won in {runs} runs: the test proved nothing"
    );
    assert_eq!(lasterr, "EROFS");
    victim.run(&env, &["delete", "--force", "attacker"]);
    env.assert_clean();
}

/// The program an init checked at `create` is the file it executes at
/// `start` (`execveat` of the fd it checked): swapping its path for a
/// symlink to /proc/self/exe in between changes nothing. Before, the init
/// executed the path again and ran brisk's binary inside the container.
#[test]
fn a_program_swapped_between_create_and_start_is_not_what_runs() {
    let env = Env::new("self-exe-swap");
    let mut b = env.bundle("b", &["/x/sh", "-c", "echo ran > /out"]);
    b.set("/root/readonly", json!(false));
    let x = b.dir.join("rootfs/x");
    std::fs::create_dir_all(&x).unwrap();
    std::fs::copy(b.dir.join("rootfs/bin/busybox"), x.join("sh")).unwrap();
    env.brisk(&["create", "-b", b.path(), "c"]).ok();
    std::fs::rename(x.join("sh"), x.join("sh.checked")).unwrap();
    std::os::unix::fs::symlink("/proc/self/exe", x.join("sh")).unwrap();
    env.brisk(&["start", "c"]).ok();
    env.wait_status("c", "stopped");
    assert_eq!(
        std::fs::read_to_string(b.dir.join("rootfs/out")).unwrap_or_default(),
        "ran\n",
        "the swapped program ran instead of the checked one"
    );
    env.brisk(&["delete", "c"]).ok();
    env.assert_clean();
}
