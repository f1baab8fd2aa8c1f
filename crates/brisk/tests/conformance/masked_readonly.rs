//! config-linux.md, Masked Paths and Readonly Paths: what is masked cannot
//! be read, what is read-only cannot be written, both for paths of the
//! container namespace; relative paths are errors. Observed from inside
//! and in the container's mountinfo from the host.

use serde_json::json;

use crate::common::{Bundle, Env};
use crate::namespaces::{assert_rejected, create, run_sh};
use crate::support::Outcome;
use crate::tests;

tests![
    masked_files_and_directories_cannot_be_read => ["config-linux.masked-paths.1"],
    readonly_paths_cannot_be_written => ["config-linux.readonly-paths.1"],
    readonly_paths_are_read_only_mounts => ["config-linux.readonly-paths.1"],
    relative_masked_path_is_an_error => ["config-linux.masked-paths.1", "config.valid-values.1"],
    relative_readonly_path_is_an_error => [
        "config-linux.readonly-paths.1", "config.valid-values.1",
    ],
];

/// Adds a read-write tmpfs at `dest`.
fn tmpfs(b: &mut Bundle, dest: &str) {
    b.config["mounts"]
        .as_array_mut()
        .unwrap()
        .push(json!({"destination": dest, "type": "tmpfs", "source": "tmpfs"}));
    b.write();
}

fn masked_files_and_directories_cannot_be_read() -> Outcome {
    let env = Env::new("cf-masked");
    let mut b = env.bundle("b", &[]);
    // A file and a directory of the image (paths in the container), and a
    // file and a directory of /proc and /sys.
    std::fs::create_dir_all(b.dir.join("rootfs/secret")).unwrap();
    std::fs::write(b.dir.join("rootfs/secret/key"), "s3cret").unwrap();
    std::fs::write(b.dir.join("rootfs/etc/token"), "t0ken").unwrap();
    b.set(
        "/linux/maskedPaths",
        json!(["/secret", "/etc/token", "/proc/kcore", "/sys/firmware"]),
    );
    let script = "cat /secret/key 2>/dev/null; ls -A /secret; cat /etc/token; \
                  ls -A /sys/firmware; head -c 16 /proc/kcore 2>/dev/null | wc -c; echo end";
    let out = run_sh(&env, &mut b, "m", script).ok();
    assert_eq!(out.trim(), "0\nend", "masked paths were readable: {out}");
    env.assert_clean();
    Ok(())
}

fn readonly_paths_cannot_be_written() -> Outcome {
    let env = Env::new("cf-readonly");
    let mut b = env.bundle("b", &[]);
    tmpfs(&mut b, "/data");
    tmpfs(&mut b, "/scratch");
    b.set("/linux/readonlyPaths", json!(["/data", "/proc/sys"]));
    let script = "touch /data/x 2>/dev/null && echo data-written; \
                  touch /scratch/x && echo scratch-ok; \
                  echo 1 2>/dev/null > /proc/sys/kernel/shm_rmid_forced && echo sys-written; \
                  cat /proc/sys/kernel/ostype";
    let out = run_sh(&env, &mut b, "r", script).ok();
    assert_eq!(out, "scratch-ok\nLinux\n", "{out}");
    env.assert_clean();
    Ok(())
}

fn readonly_paths_are_read_only_mounts() -> Outcome {
    let env = Env::new("cf-readonly-mnt");
    let mut b = env.bundle("b", &["sleep", "30"]);
    tmpfs(&mut b, "/data");
    b.set("/linux/readonlyPaths", json!(["/data", "/proc/sys"]));
    let pid = create(&env, &b, "r");
    let info = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
    for point in ["/data", "/proc/sys"] {
        let line = info
            .lines()
            .filter(|l| l.split(' ').nth(4) == Some(point))
            .last()
            .unwrap_or_else(|| panic!("{point} is no mount: {info}"));
        let opts = line.split(' ').nth(5).unwrap();
        assert!(opts.split(',').any(|o| o == "ro"), "{point}: {line}");
    }
    env.brisk(&["delete", "--force", "r"]).ok();
    env.assert_clean();
    Ok(())
}

fn relative_masked_path_is_an_error() -> Outcome {
    let env = Env::new("cf-masked-relative");
    let mut b = env.bundle("b", &["true"]);
    b.set("/linux/maskedPaths", json!(["proc/kcore"]));
    assert_rejected(&env, &b, "m", "the relative masked path proc/kcore");
    Ok(())
}

fn relative_readonly_path_is_an_error() -> Outcome {
    let env = Env::new("cf-readonly-relative");
    let mut b = env.bundle("b", &["true"]);
    b.set("/linux/readonlyPaths", json!(["proc/sys"]));
    assert_rejected(&env, &b, "r", "the relative read-only path proc/sys");
    Ok(())
}
