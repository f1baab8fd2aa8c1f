//! config-linux.md, Namespaces: each configured type is new, a `path`
//! is joined, an unlisted type is inherited from the runtime, and the
//! errors the spec requires (wrong type behind a path, duplicates, a
//! relative path). Observed from the host through /proc/<pid>/ns.

use serde_json::json;

use crate::common::{ns_of, Bundle, Env, Out};
use crate::support::Outcome;
use crate::tests;

tests![
    each_configured_namespace_is_new => ["config-linux.namespaces.2", "config-linux.namespaces.6"],
    unlisted_namespaces_are_inherited => ["config-linux.namespaces.7"],
    joins_namespaces_by_path => ["config-linux.namespaces.4"],
    path_of_another_namespace_type_is_an_error => ["config-linux.namespaces.5"],
    path_that_is_no_namespace_is_an_error => ["config-linux.namespaces.5"],
    relative_namespace_path_is_an_error => [
        "config-linux.namespaces.3", "config.valid-values.1",
    ],
    duplicate_namespace_types_are_an_error => ["config-linux.namespaces.8"],
    namespace_without_type_is_an_error => ["config-linux.namespaces.1", "config.valid-values.1"],
    unknown_namespace_type_is_an_error => ["config-linux.namespaces.1", "config.valid-values.1"],
    net_devices_are_moved_in_with_their_addresses_and_up => [
        "config-linux.network-devices.1", "config-linux.network-devices.5",
        "config-linux.network-devices.6",
    ],
    a_net_device_name_taken_in_the_container_is_an_error => [
        "config-linux.network-devices.2", "config-linux.network-devices.3",
    ],
    a_net_device_template_name_is_allowed => ["config-linux.network-devices.4"],
    a_net_device_is_left_to_the_container_and_its_namespace => [
        "config-linux.namespace-lifecycle-and-container-termination.1",
        "config-linux.namespace-lifecycle-and-container-termination.2",
    ],
];

/// Runs `sh -c script` in the bundle with `run` and returns the output.
pub fn run_sh(env: &Env, b: &mut Bundle, id: &str, script: &str) -> Out {
    b.set("/process/args", json!(["sh", "-c", script]));
    env.brisk(&["run", "-b", b.path(), id])
}

/// `create`s the container and returns its pid (as the runtime sees it).
pub fn create(env: &Env, b: &Bundle, id: &str) -> String {
    env.brisk(&["create", "-b", b.path(), id]).ok();
    let pid = env.state(id)["pid"].as_i64().unwrap();
    assert!(pid > 0, "created container {id} has no pid");
    pid.to_string()
}

/// Asserts that `create` fails, then that nothing was left behind.
pub fn assert_rejected(env: &Env, b: &Bundle, id: &str, what: &str) {
    let out = env.brisk(&["create", "-b", b.path(), id]);
    if out.code == 0 {
        env.brisk(&["delete", "--force", id]);
        panic!("{what} was accepted");
    }
    env.assert_clean();
}

const KINDS: [(&str, &str); 6] = [
    ("pid", "pid"),
    ("network", "net"),
    ("ipc", "ipc"),
    ("uts", "uts"),
    ("mount", "mnt"),
    ("cgroup", "cgroup"),
];

fn each_configured_namespace_is_new() -> Outcome {
    let env = Env::new("cf-ns-new");
    let mut b = env.bundle("b", &["sleep", "30"]);
    b.add_namespace("cgroup", None);
    let pid = create(&env, &b, "n");
    for (typ, file) in KINDS {
        assert_ne!(
            ns_of(&pid, file),
            ns_of("self", file),
            "the {typ} namespace is the runtime's"
        );
    }
    env.brisk(&["delete", "--force", "n"]).ok();
    env.assert_clean();
    Ok(())
}

fn unlisted_namespaces_are_inherited() -> Outcome {
    let env = Env::new("cf-ns-inherit");
    let mut b = env.bundle("b", &["sleep", "30"]);
    b.set("/linux/namespaces", json!([{"type": "mount"}]));
    b.remove("/hostname");
    let pid = create(&env, &b, "i");
    for (typ, file) in KINDS.iter().filter(|k| k.0 != "mount") {
        assert_eq!(
            ns_of(&pid, file),
            ns_of("self", file),
            "the {typ} namespace is not the runtime's"
        );
    }
    for file in ["user", "time"] {
        assert_eq!(ns_of(&pid, file), ns_of("self", file), "{file} namespace");
    }
    env.brisk(&["delete", "--force", "i"]).ok();
    env.assert_clean();
    Ok(())
}

fn joins_namespaces_by_path() -> Outcome {
    let env = Env::new("cf-ns-join");
    let mut holder = env.bundle("holder", &["sleep", "30"]);
    holder.add_namespace("cgroup", None);
    let hpid = create(&env, &holder, "holder");
    let mut b = env.bundle("b", &["sleep", "30"]);
    for (typ, file) in KINDS.iter().filter(|k| k.0 != "mount") {
        b.add_namespace(typ, Some(&format!("/proc/{hpid}/ns/{file}")));
    }
    let pid = create(&env, &b, "joiner");
    for (typ, file) in KINDS.iter().filter(|k| k.0 != "mount") {
        assert_eq!(
            ns_of(&pid, file),
            ns_of(&hpid, file),
            "the {typ} namespace was not joined"
        );
    }
    // The mount namespace, listed without a path, is still a new one.
    assert_ne!(ns_of(&pid, "mnt"), ns_of(&hpid, "mnt"));
    env.brisk(&["delete", "--force", "joiner"]).ok();
    env.brisk(&["delete", "--force", "holder"]).ok();
    env.assert_clean();
    Ok(())
}

fn path_of_another_namespace_type_is_an_error() -> Outcome {
    let env = Env::new("cf-ns-wrongtype");
    let holder = env.bundle("holder", &["sleep", "30"]);
    let hpid = create(&env, &holder, "holder");
    let mut b = env.bundle("b", &["true"]);
    // A uts namespace given as the network namespace.
    b.add_namespace("network", Some(&format!("/proc/{hpid}/ns/uts")));
    let out = env.brisk(&["create", "-b", b.path(), "w"]);
    let created = out.code == 0;
    env.brisk(&["delete", "--force", "w"]);
    env.brisk(&["delete", "--force", "holder"]).ok();
    assert!(!created, "a uts namespace was accepted as the network one");
    env.assert_clean();
    Ok(())
}

fn path_that_is_no_namespace_is_an_error() -> Outcome {
    let env = Env::new("cf-ns-notns");
    let mut b = env.bundle("b", &["true"]);
    let file = env.base.join("not-a-namespace");
    std::fs::write(&file, "").unwrap();
    b.add_namespace("ipc", Some(file.to_str().unwrap()));
    assert_rejected(&env, &b, "x", "a regular file as the ipc namespace");
    Ok(())
}

fn relative_namespace_path_is_an_error() -> Outcome {
    let env = Env::new("cf-ns-relative");
    let mut b = env.bundle("b", &["true"]);
    // Relative to the runtime's cwd or the bundle it would name a real
    // namespace; the spec allows only absolute paths.
    b.add_namespace("ipc", Some("proc/self/ns/ipc"));
    std::fs::create_dir_all(b.dir.join("proc/self/ns")).unwrap();
    std::os::unix::fs::symlink("/proc/self/ns/ipc", b.dir.join("proc/self/ns/ipc")).unwrap();
    assert_rejected(&env, &b, "r", "a relative namespace path");
    Ok(())
}

fn duplicate_namespace_types_are_an_error() -> Outcome {
    let env = Env::new("cf-ns-dup");
    let mut b = env.bundle("b", &["true"]);
    b.config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "ipc"}));
    b.write();
    assert_rejected(&env, &b, "d", "a duplicated ipc namespace");
    Ok(())
}

fn namespace_without_type_is_an_error() -> Outcome {
    let env = Env::new("cf-ns-notype");
    let mut b = env.bundle("b", &["true"]);
    b.config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"path": "/proc/1/ns/cgroup"}));
    b.write();
    assert_rejected(&env, &b, "t", "a namespace without a type");
    Ok(())
}

fn unknown_namespace_type_is_an_error() -> Outcome {
    let env = Env::new("cf-ns-unknown");
    let mut b = env.bundle("b", &["true"]);
    b.add_namespace("mystery", None);
    assert_rejected(&env, &b, "u", "namespace type \"mystery\"");
    Ok(())
}

/// The flags between `<` and `>` of an `ip -o link` line.
fn link_flags(line: &str) -> Vec<&str> {
    line.split(['<', '>'])
        .nth(1)
        .unwrap_or_default()
        .split(',')
        .collect()
}

fn net_devices_are_moved_in_with_their_addresses_and_up() -> Outcome {
    let env = Env::new("cf-netdev");
    let veth = crate::common::Veth::new();
    crate::common::ip(&["addr", "add", "10.214.0.1/24", "dev", &veth.a]);
    crate::common::ip(&["addr", "add", "fd42:214::1/64", "dev", &veth.a]);
    let mut b = env.bundle("b", &[]);
    b.set(
        "/linux/netDevices",
        json!({ veth.a.clone(): {"name": "cf0"} }),
    );
    let out = run_sh(
        &env,
        &mut b,
        "n",
        "ip -o link show cf0; ip -o addr show dev cf0",
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let link = out.stdout.lines().next().unwrap_or_default();
    assert!(link_flags(link).contains(&"UP"), "not up: {link}");
    assert!(out.stdout.contains("inet 10.214.0.1/24"), "{}", out.stdout);
    assert!(
        out.stdout.contains("inet6 fd42:214::1/64"),
        "{}",
        out.stdout
    );
    env.assert_clean();
    Ok(())
}

fn a_net_device_name_taken_in_the_container_is_an_error() -> Outcome {
    let env = Env::new("cf-netdev-taken");
    let veth = crate::common::Veth::new();
    let mut b = env.bundle("b", &["true"]);
    b.set(
        "/linux/netDevices",
        json!({ veth.a.clone(): {"name": "lo"} }),
    );
    assert_rejected(&env, &b, "t", "a device named like the container's lo");
    assert!(crate::common::host_has_link(&veth.a), "moved anyway");
    Ok(())
}

fn a_net_device_is_left_to_the_container_and_its_namespace() -> Outcome {
    // The container reconfigures the device it was given (down, another
    // MTU, another address); the runtime changes none of it back while the
    // container runs. At delete the device dies with the container's
    // network namespace (a veth is destroyed with it, its peer too): it is
    // never moved back to the host first, under either name.
    let env = Env::new("cf-netdev-life");
    let veth = crate::common::Veth::new();
    let mut b = env.bundle("b", &[]);
    b.set(
        "/linux/netDevices",
        json!({ veth.a.clone(): {"name": "cf0"} }),
    );
    for set in ["bounding", "effective", "permitted"] {
        let path = format!("/process/capabilities/{set}");
        let mut caps = b.config.pointer(&path).cloned().unwrap_or(json!([]));
        if let Some(list) = caps.as_array_mut() {
            list.push(json!("CAP_NET_ADMIN"));
        }
        b.set(&path, caps);
    }
    b.set(
        "/process/args",
        json!([
            "sh",
            "-c",
            "ip link set cf0 down && ip link set cf0 mtu 1280 && \
             ip addr add 10.215.0.9/24 dev cf0 && echo > /tmp/ready && sleep 60",
        ]),
    );
    let pid = create(&env, &b, "n");
    env.brisk(&["start", "n"]).ok();
    let ready = format!("/proc/{pid}/root/tmp/ready");
    assert!(
        crate::common::eventually(|| std::path::Path::new(&ready).exists()),
        "the container did not reconfigure its device"
    );
    for cmd in [
        &["state", "n"][..],
        &["ps", "n"],
        &["events", "--stats", "n"],
    ] {
        env.brisk(cmd);
    }
    let out = env.brisk(&[
        "exec",
        "n",
        "sh",
        "-c",
        "ip -o link show cf0; ip -o addr show dev cf0",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let link = out.stdout.lines().next().unwrap_or_default();
    assert!(
        !link_flags(link).contains(&"UP"),
        "brought up again: {link}"
    );
    assert!(link.contains("mtu 1280"), "mtu changed back: {link}");
    assert!(out.stdout.contains("inet 10.215.0.9/24"), "{}", out.stdout);
    assert!(!crate::common::host_has_link(&veth.a), "still on the host");
    env.brisk(&["kill", "n", "KILL"]);
    env.brisk(&["delete", "--force", "n"]).ok();
    // The namespace is freed asynchronously once its last process is gone:
    // the host end goes with it. Meanwhile neither name may show on the host.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while crate::common::host_has_link(&veth.b) {
        assert!(
            !crate::common::host_has_link(&veth.a) && !crate::common::host_has_link("cf0"),
            "the device was moved back to the host"
        );
        assert!(
            std::time::Instant::now() < deadline,
            "the container's network namespace was not freed within 30 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(
        !crate::common::host_has_link(&veth.a),
        "the device came back to the host"
    );
    assert!(
        !crate::common::host_has_link("cf0"),
        "the device came back to the host as cf0"
    );
    env.assert_clean();
    Ok(())
}

fn a_net_device_template_name_is_allowed() -> Outcome {
    let env = Env::new("cf-netdev-tmpl");
    let (v1, v2) = (crate::common::Veth::new(), crate::common::Veth::new());
    let mut b = env.bundle("b", &["ls", "/sys/class/net"]);
    b.set(
        "/linux/netDevices",
        json!({ v1.a.clone(): {"name": "cf%d"}, v2.a.clone(): {"name": "cf%d"} }),
    );
    let out = env.brisk(&["run", "-b", b.path(), "t"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let mut names: Vec<&str> = out
        .stdout
        .split_whitespace()
        .filter(|n| n.starts_with("cf"))
        .collect();
    names.sort();
    assert_eq!(names, ["cf0", "cf1"], "{}", out.stdout);
    env.assert_clean();
    Ok(())
}
