//! config-linux.md, Devices and Default Devices: linux.devices entries
//! (char, unbuffered char, block, fifo; mode and owner), a clash with an
//! existing file, the default /dev nodes and /dev/ptmx. Observed from
//! inside with busybox `stat`.

use serde_json::json;

use crate::common::{Bundle, Env};
use crate::namespaces::{assert_rejected, run_sh};
use crate::support::Outcome;
use crate::tests;

tests![
    default_devices_are_supplied => [
        "config-linux.default-devices.1", "config-linux.default-devices.2",
        "config-linux.default-devices.3", "config-linux.default-devices.4",
        "config-linux.default-devices.5", "config-linux.default-devices.6",
    ],
    default_devices_work => [
        "config-linux.default-devices.1", "config-linux.default-devices.2",
        "config-linux.default-devices.3",
    ],
    dev_ptmx_is_the_containers_pts_ptmx => ["config-linux.default-devices.8"],
    dev_console_is_the_terminal_when_there_is_one => ["config-linux.default-devices.7"],
    configured_char_devices_are_created => [
        "config-linux.devices.1", "config-linux.devices.2", "config-linux.devices.3",
        "config-linux.devices.5",
    ],
    configured_block_and_fifo_devices_are_created => [
        "config-linux.devices.1", "config-linux.devices.2", "config-linux.devices.5",
    ],
    default_devices_are_supplied_in_addition => [
        "config-linux.devices.1", "config-linux.default-devices.1",
        "config-linux.default-devices.6",
    ],
    device_over_a_different_existing_file_is_an_error => ["config-linux.devices.4"],
    device_without_type_is_an_error => ["config-linux.devices.2", "config.valid-values.1"],
    device_without_path_is_an_error => ["config-linux.devices.3", "config.valid-values.1"],
    char_device_without_major_is_an_error => ["config-linux.devices.5", "config.valid-values.1"],
];

/// `stat` of each path: "<type> <major>:<minor>" (decimal).
fn stat_script(paths: &[&str]) -> String {
    paths
        .iter()
        .map(|p| format!("stat -c '%F %t %T %a %u %g' {p}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Parses `stat -c '%F %t %T %a %u %g'` lines: (type, major:minor, mode,
/// uid, gid); busybox prints the numbers in hex.
fn parse(out: &str) -> Vec<(String, String, String, String, String)> {
    out.lines()
        .map(|l| {
            let f: Vec<&str> = l.rsplitn(6, ' ').collect();
            let hex = |s: &str| u64::from_str_radix(s, 16).unwrap();
            (
                f[5].to_string(),
                format!("{}:{}", hex(f[4]), hex(f[3])),
                f[2].to_string(),
                f[1].to_string(),
                f[0].to_string(),
            )
        })
        .collect()
}

fn default_devices_are_supplied() -> Outcome {
    let env = Env::new("cf-dev-default");
    let mut b = env.bundle("b", &[]);
    let devs = [
        ("/dev/null", "1:3"),
        ("/dev/zero", "1:5"),
        ("/dev/full", "1:7"),
        ("/dev/random", "1:8"),
        ("/dev/urandom", "1:9"),
        ("/dev/tty", "5:0"),
    ];
    let paths: Vec<&str> = devs.iter().map(|d| d.0).collect();
    let out = run_sh(&env, &mut b, "d", &stat_script(&paths)).ok();
    let got = parse(&out);
    assert_eq!(got.len(), devs.len(), "{out}");
    for ((path, nums), g) in devs.iter().zip(&got) {
        assert_eq!(g.0, "character special file", "{path}: {out}");
        assert_eq!(&g.1, nums, "{path}");
    }
    env.assert_clean();
    Ok(())
}

fn default_devices_work() -> Outcome {
    let env = Env::new("cf-dev-work");
    let mut b = env.bundle("b", &[]);
    let script = "echo x > /dev/null && echo null-ok; \
                  head -c 4 /dev/zero | od -An -tx1; \
                  echo x > /dev/full || echo full-enospc";
    let out = run_sh(&env, &mut b, "d", script).ok();
    let lines: Vec<String> = out.lines().map(|l| l.trim().to_string()).collect();
    assert_eq!(lines, ["null-ok", "00 00 00 00", "full-enospc"], "{out}");
    env.assert_clean();
    Ok(())
}

fn dev_ptmx_is_the_containers_pts_ptmx() -> Outcome {
    let env = Env::new("cf-dev-ptmx");
    let mut b = env.bundle("b", &[]);
    let out = run_sh(
        &env,
        &mut b,
        "p",
        "stat -L -c '%d %i' /dev/ptmx /dev/pts/ptmx",
    )
    .ok();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert_eq!(lines[0], lines[1], "/dev/ptmx is not /dev/pts/ptmx");
    env.assert_clean();
    Ok(())
}

fn add_devices(b: &mut Bundle, devices: serde_json::Value) {
    b.set("/linux/devices", devices);
}

fn configured_char_devices_are_created() -> Outcome {
    let env = Env::new("cf-dev-char");
    let mut b = env.bundle("b", &[]);
    add_devices(
        &mut b,
        json!([
            {"path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11,
             "fileMode": 0o640, "uid": 1000, "gid": 1001},
            {"path": "/dev/my-zero", "type": "u", "major": 1, "minor": 5,
             "fileMode": 0o666, "uid": 0, "gid": 0},
        ]),
    );
    let out = run_sh(
        &env,
        &mut b,
        "c",
        &stat_script(&["/dev/kmsg", "/dev/my-zero"]),
    )
    .ok();
    let got = parse(&out);
    assert_eq!(got.len(), 2, "{out}");
    let kmsg = &got[0];
    assert_eq!(kmsg.0, "character special file", "{out}");
    assert_eq!(kmsg.1, "1:11");
    assert_eq!(
        (kmsg.2.as_str(), kmsg.3.as_str(), kmsg.4.as_str()),
        ("640", "1000", "1001")
    );
    assert_eq!(got[1].0, "character special file", "type u: {out}");
    assert_eq!(got[1].1, "1:5");
    env.assert_clean();
    Ok(())
}

fn configured_block_and_fifo_devices_are_created() -> Outcome {
    let env = Env::new("cf-dev-block");
    let mut b = env.bundle("b", &[]);
    add_devices(
        &mut b,
        json!([
            {"path": "/dev/my-loop", "type": "b", "major": 7, "minor": 0,
             "fileMode": 0o600, "uid": 0, "gid": 0},
            {"path": "/dev/my-fifo", "type": "p", "fileMode": 0o600},
        ]),
    );
    let out = run_sh(
        &env,
        &mut b,
        "b",
        "stat -c '%F %t %T' /dev/my-loop; stat -c %F /dev/my-fifo",
    )
    .ok();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines, ["block special file 7 0", "fifo"], "{out}");
    env.assert_clean();
    Ok(())
}

fn default_devices_are_supplied_in_addition() -> Outcome {
    let env = Env::new("cf-dev-addition");
    let mut b = env.bundle("b", &[]);
    add_devices(
        &mut b,
        json!([{"path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11}]),
    );
    let out = run_sh(
        &env,
        &mut b,
        "a",
        &stat_script(&["/dev/kmsg", "/dev/null", "/dev/tty"]),
    )
    .ok();
    let got: Vec<String> = parse(&out).into_iter().map(|g| g.1).collect();
    assert_eq!(got, ["1:11", "1:3", "5:0"], "{out}");
    env.assert_clean();
    Ok(())
}

fn device_over_a_different_existing_file_is_an_error() -> Outcome {
    let env = Env::new("cf-dev-clash");
    let mut b = env.bundle("b", &["true"]);
    // /etc/passwd is a regular file of the image, not a char device.
    add_devices(
        &mut b,
        json!([{"path": "/etc/passwd", "type": "c", "major": 1, "minor": 3}]),
    );
    assert_rejected(&env, &b, "x", "a device over the regular file /etc/passwd");
    Ok(())
}

fn device_without_type_is_an_error() -> Outcome {
    let env = Env::new("cf-dev-notype");
    let mut b = env.bundle("b", &["true"]);
    add_devices(
        &mut b,
        json!([{"path": "/dev/kmsg", "major": 1, "minor": 11}]),
    );
    assert_rejected(&env, &b, "x", "a device without a type");
    Ok(())
}

fn device_without_path_is_an_error() -> Outcome {
    let env = Env::new("cf-dev-nopath");
    let mut b = env.bundle("b", &["true"]);
    add_devices(&mut b, json!([{"type": "c", "major": 1, "minor": 11}]));
    assert_rejected(&env, &b, "x", "a device without a path");
    Ok(())
}

fn char_device_without_major_is_an_error() -> Outcome {
    let env = Env::new("cf-dev-nomajor");
    let mut b = env.bundle("b", &["true"]);
    add_devices(&mut b, json!([{"path": "/dev/kmsg", "type": "c"}]));
    assert_rejected(&env, &b, "x", "a char device without major and minor");
    Ok(())
}

fn dev_console_is_the_terminal_when_there_is_one() -> Outcome {
    // With `terminal`, /dev/console is a bind mount of the process's pty:
    // the same character device as its stdin, and a mount point.
    let env = Env::new("cf-dev-console");
    let mut b = env.bundle(
        "b",
        &[
            "sh",
            "-c",
            "stat -L -c '%t:%T' /proc/self/fd/0; stat -c '%t:%T' /dev/console; \
             grep -c ' /dev/console ' /proc/self/mountinfo",
        ],
    );
    b.set("/process/terminal", json!(true));
    let out = env.brisk(&["run", "-b", b.path(), "t"]);
    env.brisk(&["delete", "--force", "t"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines: Vec<&str> = out.stdout.lines().map(str::trim).collect();
    assert_eq!(lines.len(), 3, "output: {:?}", out.stdout);
    assert!(
        lines[0].starts_with("88:"),
        "stdin is no pty: {:?}",
        out.stdout
    );
    assert_eq!(lines[1], lines[0], "/dev/console is not the pty");
    assert_ne!(lines[2], "0", "/dev/console is not a mount point");
    // Without one there is no console bound from a pty.
    let mut b = env.bundle("b2", &["sh", "-c", "stat -c '%t' /dev/console 2>&1; true"]);
    b.set("/process/terminal", json!(false));
    let out = env.brisk(&["run", "-b", b.path(), "t2"]);
    env.brisk(&["delete", "--force", "t2"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_ne!(out.stdout.trim(), "88", "a pty console without a terminal");
    env.assert_clean();
    Ok(())
}
