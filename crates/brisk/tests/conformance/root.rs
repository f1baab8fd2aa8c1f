//! config.md: Root — `root.path` and `root.readonly`, observed from inside
//! the container and in the bundle's directory on the host.

use serde_json::json;

use crate::common::Env;
use crate::config_misc::{assert_create_fails, run_ok, start};
use crate::support::Outcome;
use crate::tests;

tests![
    readonly_root_cannot_be_written => ["config.root.5", "runtime.create.4"],
    root_is_writable_by_default => ["config.root.5"],
    root_path_is_the_containers_root => ["config.root.2", "config.root.3"],
    absolute_root_path_is_used => ["config.root.2"],
    missing_root_directory_is_rejected => ["config.root.4", "runtime.errors.1"],
    root_path_naming_a_file_is_rejected => ["config.root.4", "runtime.errors.1"],
    missing_root_is_rejected => ["config.root.1", "config.valid-values.1"],
];

fn readonly_root_cannot_be_written() -> Outcome {
    let env = Env::new("cf-root-ro");
    let b = env.bundle("b", &["sleep", "30"]);
    // From the host, before the program runs: the root mount is read-only.
    env.brisk(&["create", "-b", b.path(), "r"]).ok();
    let pid = env.state("r")["pid"].as_i64().unwrap();
    let mi = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
    let root = mi
        .lines()
        .find(|l| l.split(' ').nth(4) == Some("/"))
        .unwrap_or_else(|| panic!("no / in the container's mountinfo: {mi}"));
    let opts = root.split(' ').nth(5).unwrap();
    assert!(
        opts.split(',').any(|o| o == "ro"),
        "root mounted {opts}, not ro"
    );
    env.brisk(&["delete", "--force", "r"]).ok();
    let b2 = env.bundle(
        "b2",
        &[
            "sh",
            "-c",
            "if touch /written 2>/dev/null; then echo writable; else echo readonly; fi; \
             awk '$5 == \"/\" { print $6 }' /proc/self/mountinfo",
        ],
    );
    let out = run_ok(&env, &b2, "r2");
    assert!(out.starts_with("readonly\n"), "inside: {out}");
    assert!(
        out.lines().nth(1).unwrap().split(',').any(|o| o == "ro"),
        "inside: {out}"
    );
    assert!(!b2.dir.join("rootfs/written").exists());
    env.assert_clean();
    Ok(())
}

fn root_is_writable_by_default() -> Outcome {
    let env = Env::new("cf-root-rw");
    for (i, readonly) in [None, Some(false)].into_iter().enumerate() {
        let mut b = env.bundle(
            &format!("b{i}"),
            &["sh", "-c", "echo from-container > /written && echo ok"],
        );
        match readonly {
            None => {
                b.remove("/root/readonly");
            }
            Some(v) => {
                b.set("/root/readonly", json!(v));
            }
        }
        assert_eq!(run_ok(&env, &b, &format!("w{i}")).trim(), "ok");
        let host = std::fs::read_to_string(b.dir.join("rootfs/written")).unwrap_or_default();
        assert_eq!(
            host, "from-container\n",
            "the write did not reach the rootfs"
        );
    }
    env.assert_clean();
    Ok(())
}

fn root_path_is_the_containers_root() -> Outcome {
    let env = Env::new("cf-root-path");
    let b = env.bundle("b", &["sleep", "30"]);
    std::fs::write(b.dir.join("rootfs/marker"), "the bundle's rootfs\n").unwrap();
    let pid = start(&env, &b, "p", "sleep");
    // The container's / is the bundle's rootfs directory.
    let ino = |p: &str| {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(p).unwrap();
        (m.dev(), m.ino())
    };
    assert_eq!(
        ino(&format!("/proc/{pid}/root/marker")),
        ino(b.dir.join("rootfs/marker").to_str().unwrap()),
        "the container's root is not root.path"
    );
    env.brisk(&["delete", "--force", "p"]).ok();
    env.assert_clean();
    Ok(())
}

fn absolute_root_path_is_used() -> Outcome {
    let env = Env::new("cf-root-abs");
    let b0 = env.bundle("other", &["true"]);
    std::fs::write(b0.dir.join("rootfs/marker"), "elsewhere\n").unwrap();
    let mut b = env.bundle("b", &["cat", "/marker"]);
    std::fs::remove_dir_all(b.dir.join("rootfs")).unwrap();
    let abs = b0.dir.join("rootfs");
    b.set("/root/path", json!(abs.to_str().unwrap()));
    assert_eq!(run_ok(&env, &b, "a"), "elsewhere\n");
    env.assert_clean();
    Ok(())
}

fn missing_root_directory_is_rejected() -> Outcome {
    let env = Env::new("cf-root-missing-dir");
    let mut b = env.bundle("b", &["true"]);
    b.set("/root/path", json!("no-such-rootfs"));
    assert_create_fails(&env, &b, "m", "root.path does not exist");
    Ok(())
}

fn root_path_naming_a_file_is_rejected() -> Outcome {
    let env = Env::new("cf-root-file");
    let mut b = env.bundle("b", &["true"]);
    std::fs::write(b.dir.join("rootfile"), "not a directory\n").unwrap();
    b.set("/root/path", json!("rootfile"));
    assert_create_fails(&env, &b, "f", "root.path is a regular file");
    Ok(())
}

fn missing_root_is_rejected() -> Outcome {
    let env = Env::new("cf-root-absent");
    let mut b = env.bundle("b", &["true"]);
    b.remove("/root");
    assert_create_fails(&env, &b, "r", "no root");
    Ok(())
}
