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
