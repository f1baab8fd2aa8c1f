//! runtime-linux.md: file descriptors (stdio, plus what the caller passes
//! with --preserve-fds) and the /dev symlinks; config-linux.md's default
//! filesystems. Observed from the host (/proc/<pid>/fd, mountinfo) and
//! inside (readlink).

use std::os::unix::process::CommandExt;

use crate::common::{run_to_files, Env};
use crate::namespaces::{create, run_sh};
use crate::support::Outcome;
use crate::tests;

tests![
    dev_symlinks_are_created => [
        "runtime-linux.dev-symbolic-links.1", "runtime-linux.dev-symbolic-links.2",
        "runtime-linux.dev-symbolic-links.3", "runtime-linux.dev-symbolic-links.4",
    ],
    default_filesystems_are_available => [
        "config-linux.default-filesystems.1", "config-linux.default-filesystems.2",
        "config-linux.default-filesystems.3", "config-linux.default-filesystems.4",
    ],
    only_stdio_is_open_by_default => [],
    preserved_fds_are_passed => [],
];

fn dev_symlinks_are_created() -> Outcome {
    let env = Env::new("cf-devlinks");
    let mut b = env.bundle("b", &[]);
    let script = "for l in fd stdin stdout stderr; do readlink /dev/$l; done";
    let out = run_sh(&env, &mut b, "d", script).ok();
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "/proc/self/fd",
            "/proc/self/fd/0",
            "/proc/self/fd/1",
            "/proc/self/fd/2"
        ],
        "{out}"
    );
    env.assert_clean();
    Ok(())
}

fn default_filesystems_are_available() -> Outcome {
    let env = Env::new("cf-default-fs");
    let b = env.bundle("b", &["sleep", "30"]);
    let pid = create(&env, &b, "f");
    let info = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
    for (point, fstype) in [
        ("/proc", "proc"),
        ("/sys", "sysfs"),
        ("/dev/pts", "devpts"),
        ("/dev/shm", "tmpfs"),
    ] {
        let found = info.lines().any(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            let dash = f.iter().position(|x| *x == "-").unwrap();
            f[4] == point && f[dash + 1] == fstype
        });
        assert!(found, "no {fstype} at {point}: {info}");
    }
    env.brisk(&["delete", "--force", "f"]).ok();
    env.assert_clean();
    Ok(())
}

/// The fds of the container process once it runs `sleep`.
fn fds_of_sleep(pid: &str) -> Vec<u32> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default() != "sleep\n" {
        assert!(
            std::time::Instant::now() < deadline,
            "the container never ran sleep"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let mut fds: Vec<u32> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    fds.sort();
    fds
}

fn only_stdio_is_open_by_default() -> Outcome {
    let env = Env::new("cf-fds");
    let b = env.bundle("b", &["sleep", "30"]);
    let pid = create(&env, &b, "f");
    env.brisk(&["start", "f"]).ok();
    assert_eq!(fds_of_sleep(&pid), [0, 1, 2]);
    env.brisk(&["delete", "--force", "f"]).ok();
    env.assert_clean();
    Ok(())
}

fn preserved_fds_are_passed() -> Outcome {
    let env = Env::new("cf-preserve-fds");
    let b = env.bundle("b", &["sleep", "30"]);
    let data = env.base.join("data");
    std::fs::write(&data, "x").unwrap();
    let file = std::fs::File::open(&data).unwrap();
    let raw = std::os::fd::AsRawFd::as_raw_fd(&file);
    let mut cmd = env.cmd(&["create", "--preserve-fds", "2", "-b", b.path(), "p"]);
    // SAFETY: dup2/fcntl in the forked child before exec are async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            for target in [3, 4] {
                if libc::dup2(raw, target) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                libc::fcntl(target, libc::F_SETFD, 0);
            }
            Ok(())
        });
    }
    let out = run_to_files(cmd, &env.base);
    assert_eq!(out.code, 0, "{}", out.stderr);
    drop(file);
    let pid = env.state("p")["pid"].as_i64().unwrap().to_string();
    env.brisk(&["start", "p"]).ok();
    assert_eq!(fds_of_sleep(&pid), [0, 1, 2, 3, 4]);
    let target = std::fs::read_link(format!("/proc/{pid}/fd/3")).unwrap();
    assert_eq!(target, data, "fd 3 is not the file passed");
    env.brisk(&["delete", "--force", "p"]).ok();
    env.assert_clean();
    Ok(())
}
