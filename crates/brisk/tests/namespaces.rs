//! Namespaces: each one configured is new (compared with the host's from
//! inside the container), joined by path when a path is given, and the
//! namespace-scoped settings (hostname, domainname, id maps, time offsets)
//! take effect; `linux.netDevices` moved in from the host.

mod common;
#[path = "common/rootless.rs"]
mod rootless;

use common::{eventually, host_has_link, ip, ns_of, Env, Netns, Veth};
use serde_json::json;

/// How long a container that only has to be there sleeps: far longer than
/// any test (on a loaded machine a minute can pass before it is used); it
/// is killed by the test (`kill`, `delete --force`), never waited for.
const HOLD: &str = "1000000";

/// Runs `sh -c script` in the bundle and returns stdout.
fn run_in(env: &Env, b: &mut common::Bundle, id: &str, script: &str) -> String {
    b.set("/process/args", json!(["sh", "-c", script]));
    env.brisk(&["run", "-b", b.path(), id]).ok()
}

#[test]
fn every_configured_namespace_is_new() {
    let env = Env::new("ns-new");
    let mut b = env.bundle("b", &[]);
    b.add_namespace("cgroup", None);
    let kinds = ["pid", "net", "ipc", "uts", "mnt", "cgroup"];
    let script = kinds
        .iter()
        .map(|k| format!("readlink /proc/self/ns/{k}"))
        .collect::<Vec<_>>()
        .join("; ");
    let out = run_in(&env, &mut b, "n", &script);
    let inside: Vec<&str> = out.lines().collect();
    assert_eq!(inside.len(), kinds.len(), "{out}");
    for (k, inner) in kinds.iter().zip(inside) {
        let host = ns_of("self", k);
        assert!(inner.starts_with(&format!("{k}:[")), "{inner}");
        assert_ne!(inner, host, "{k} namespace is the host's");
    }
    env.assert_clean();
}

#[test]
fn namespaces_not_configured_are_shared() {
    let env = Env::new("ns-shared");
    let mut b = env.bundle("b", &[]);
    b.set(
        "/linux/namespaces",
        json!([{"type": "mount"}, {"type": "pid"}]),
    );
    b.remove("/hostname");
    let out = run_in(
        &env,
        &mut b,
        "s",
        "readlink /proc/self/ns/net; readlink /proc/self/ns/uts",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines, vec![ns_of("self", "net"), ns_of("self", "uts")]);
    env.assert_clean();
}

#[test]
fn joins_namespaces_by_path() {
    let env = Env::new("ns-join");
    let holder = env.bundle("holder", &["sleep", HOLD]);
    env.brisk(&["run", "-d", "-b", holder.path(), "holder"])
        .ok();
    let pid = env.state("holder")["pid"].as_i64().unwrap().to_string();
    let mut b = env.bundle("b", &[]);
    for (typ, file) in [
        ("network", "net"),
        ("ipc", "ipc"),
        ("uts", "uts"),
        ("pid", "pid"),
    ] {
        b.add_namespace(typ, Some(&format!("/proc/{pid}/ns/{file}")));
    }
    b.remove("/hostname");
    let out = run_in(
        &env,
        &mut b,
        "joiner",
        "for n in net ipc uts pid; do readlink /proc/self/ns/$n; done; echo $$",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[..4],
        [
            ns_of(&pid, "net"),
            ns_of(&pid, "ipc"),
            ns_of(&pid, "uts"),
            ns_of(&pid, "pid")
        ]
    );
    // In the holder's pid namespace, the joiner is not pid 1.
    assert_ne!(lines[4], "1");
    env.brisk(&["delete", "--force", "holder"]).ok();
    env.assert_clean();
}

#[test]
fn joining_a_missing_namespace_path_fails_cleanly() {
    let env = Env::new("ns-missing");
    let mut b = env.bundle("b", &["true"]);
    b.add_namespace("network", Some("/proc/999999999/ns/net"));
    let out = env.brisk(&["run", "-b", b.path(), "m"]);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("/proc/999999999/ns/net"),
        "{}",
        out.stderr
    );
    env.assert_clean();
}

#[test]
fn hostname_and_domainname() {
    let env = Env::new("uts");
    let mut b = env.bundle("b", &[]);
    b.set("/hostname", json!("box-one"))
        .set("/domainname", json!("example.test"));
    let out = run_in(
        &env,
        &mut b,
        "h",
        "hostname; cat /proc/sys/kernel/domainname",
    );
    assert_eq!(out, "box-one\nexample.test\n");
    env.assert_clean();
}

#[test]
fn hostname_without_uts_namespace_is_rejected() {
    let env = Env::new("uts-missing");
    let mut b = env.bundle("b", &["true"]);
    b.set(
        "/linux/namespaces",
        json!([{"type": "mount"}, {"type": "pid"}]),
    );
    let out = env.brisk(&["run", "-b", b.path(), "h"]);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("hostname"), "{}", out.stderr);
    env.assert_clean();
}

#[test]
fn user_namespace_with_mappings() {
    let env = Env::new("userns");
    let mut b = env.bundle("b", &[]);
    let map = [[0, 100000, 65536]];
    rootless::add_user_namespace(&mut b, &map, &map);
    let out = run_in(
        &env,
        &mut b,
        "u",
        "cat /proc/self/uid_map /proc/self/gid_map; id -u; readlink /proc/self/ns/user",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    let norm = |l: &str| l.split_whitespace().collect::<Vec<_>>().join(" ");
    assert_eq!(norm(lines[0]), "0 100000 65536");
    assert_eq!(norm(lines[1]), "0 100000 65536");
    assert_eq!(lines[2], "0");
    assert_ne!(lines[3], ns_of("self", "user"));
    env.assert_clean();
}

#[test]
fn user_namespace_with_several_ranges() {
    let env = Env::new("userns-ranges");
    let mut b = env.bundle("b", &[]);
    let maps = [[0, 100000, 1000], [1000, 300000, 1000]];
    rootless::add_user_namespace(&mut b, &maps, &maps);
    b.set("/process/user", json!({"uid": 1000, "gid": 1000}));
    let out = run_in(
        &env,
        &mut b,
        "u",
        "cat /proc/self/uid_map /proc/self/gid_map; id -u; id -g",
    );
    let norm: Vec<String> = out
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        norm,
        [
            "0 100000 1000",
            "1000 300000 1000",
            "0 100000 1000",
            "1000 300000 1000",
            "1000",
            "1000"
        ]
    );
    env.assert_clean();
}

/// Root, a user namespace and the host's network: the kernel refuses the
/// sysfs mount, and brisk says so, as runc does; it does not put a
/// recursive copy of the host's `/sys` (with whatever is mounted under
/// it) in its place, which only rootless mode does (tests/rootless.rs).
#[test]
fn sysfs_in_a_user_namespace_without_a_network_namespace_fails_for_root() {
    let env = Env::new("userns-sysfs");
    let mut b = env.bundle("b", &["true"]);
    let ns: Vec<serde_json::Value> = b.config["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["type"] != "network")
        .cloned()
        .collect();
    b.set("/linux/namespaces", ns.into());
    let map = [[0, 100000, 65536]];
    rootless::add_user_namespace(&mut b, &map, &map);
    let out = env.brisk(&["run", "-b", b.path(), "c"]);
    assert_ne!(out.code, 0, "the sysfs mount was replaced: {}", out.stdout);
    let err = out.stderr.to_lowercase();
    assert!(
        err.contains("mount sys") && err.contains("operation not permitted"),
        "{}",
        out.stderr
    );
    env.assert_clean();
}

/// A holder container with a user namespace of its own (and a network
/// namespace owned by it) for others to join; its pid.
fn userns_holder(env: &Env) -> String {
    let mut holder = env.bundle("holder", &["sleep", HOLD]);
    let map = [[0, 100000, 65536]];
    rootless::add_user_namespace(&mut holder, &map, &map);
    env.brisk(&["run", "-d", "-b", holder.path(), "holder"])
        .ok();
    env.state("holder")["pid"].as_i64().unwrap().to_string()
}

#[test]
fn joins_a_user_namespace_by_path_with_a_new_pid_namespace() {
    let env = Env::new("userns-join");
    let pid = userns_holder(&env);
    let mut b = env.bundle("b", &[]);
    // The holder's user and network namespaces; a new pid namespace (with
    // the mount, ipc, uts ones), which must belong to the joined user
    // namespace: the init enters it and forks.
    b.add_namespace("user", Some(&format!("/proc/{pid}/ns/user")));
    b.add_namespace("network", Some(&format!("/proc/{pid}/ns/net")));
    rootless::chown_rootfs(&b, 100000, 100000);
    let out = run_in(
        &env,
        &mut b,
        "joiner",
        "for n in user net pid; do readlink /proc/self/ns/$n; done; echo $$; id -u",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 5, "{out}");
    assert_eq!(lines[0], ns_of(&pid, "user"));
    assert_eq!(lines[1], ns_of(&pid, "net"));
    assert_ne!(lines[2], ns_of(&pid, "pid"));
    assert_ne!(lines[2], ns_of("self", "pid"));
    assert_eq!(lines[3..], ["1", "0"]);
    env.brisk(&["delete", "--force", "holder"]).ok();
    env.assert_clean();
}

#[test]
fn new_pid_and_user_namespaces_while_joining_others_by_path() {
    let env = Env::new("userns-late-pid");
    let holder = env.bundle("holder", &["sleep", HOLD]);
    env.brisk(&["run", "-d", "-b", holder.path(), "holder"])
        .ok();
    let pid = env.state("holder")["pid"].as_i64().unwrap().to_string();
    let mut b = env.bundle("b", &["sleep", HOLD]);
    let map = [[0, 100000, 65536]];
    rootless::add_user_namespace(&mut b, &map, &map);
    b.add_namespace("network", Some(&format!("/proc/{pid}/ns/net")));
    // The joined network namespace is not owned by the container's user
    // namespace, so the kernel refuses it sysfs; root gets no fallback
    // (sysfs_in_a_user_namespace_without_a_network_namespace_fails_for_root):
    // the config binds the host's /sys itself, as `spec --rootless` does.
    let mounts: Vec<serde_json::Value> = b.config["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            if m["destination"] == "/sys" {
                json!({"destination": "/sys", "type": "none", "source": "/sys",
                       "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]})
            } else {
                m.clone()
            }
        })
        .collect();
    b.set("/mounts", mounts.into());
    env.brisk(&["create", "-b", b.path(), "late"]).ok();
    let init = env.state("late")["pid"].as_i64().unwrap().to_string();
    // The recorded pid is the forked init: pid 1 of a pid namespace owned
    // by the container's new user namespace, and brisk's child while
    // `create` ran (now the subreaper's, like any created init).
    let status = std::fs::read_to_string(format!("/proc/{init}/status")).unwrap();
    let nspid = status.lines().find(|l| l.starts_with("NSpid:")).unwrap();
    assert_eq!(nspid.split_whitespace().last(), Some("1"), "{nspid}");
    assert_ne!(ns_of(&init, "pid"), ns_of(&pid, "pid"));
    assert_ne!(ns_of(&init, "user"), ns_of("self", "user"));
    assert_eq!(ns_of(&init, "net"), ns_of(&pid, "net"));
    env.brisk(&["start", "late"]).ok();
    let out = env
        .brisk(&[
            "exec",
            "late",
            "sh",
            "-c",
            "cat /proc/1/comm; cat /proc/self/uid_map",
        ])
        .ok();
    let norm: Vec<String> = out
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(norm, ["sleep", "0 100000 65536"]);
    env.brisk(&["kill", "late", "KILL"]).ok();
    env.wait_status("late", "stopped");
    env.brisk(&["delete", "late"]).ok();
    env.brisk(&["delete", "--force", "holder"]).ok();
    env.assert_clean();
}

#[test]
fn time_namespace_offsets() {
    let env = Env::new("timens");
    let mut b = env.bundle("b", &[]);
    b.add_namespace("time", None);
    b.set(
        "/linux/timeOffsets",
        json!({"boottime": {"secs": 86400000, "nanosecs": 0}}),
    );
    let out = run_in(
        &env,
        &mut b,
        "t",
        "readlink /proc/self/ns/time; cut -d. -f1 /proc/uptime",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_ne!(lines[0], ns_of("self", "time"));
    let uptime: u64 = lines[1].parse().unwrap();
    assert!(
        uptime >= 86_400_000,
        "uptime {uptime} lacks the boottime offset"
    );
    env.assert_clean();
}

/// `linux.netDevices`: one end of a veth pair made here is moved into the
/// container under a new name, up, with its MTU and its permanent global
/// addresses; the host keeps the other end. Nothing is moved back: when
/// the container's namespace goes, the kernel destroys the veth (both
/// ends).
#[test]
fn net_devices_move_into_the_container() {
    let env = Env::new("netdev");
    let veth = Veth::new();
    ip(&["addr", "add", "10.213.0.1/24", "dev", &veth.a]);
    ip(&["addr", "add", "fd42:213::1/64", "dev", &veth.a]);
    ip(&["link", "set", &veth.a, "mtu", "1400"]);
    let mut b = env.bundle("b", &["sleep", "60"]);
    b.set(
        "/linux/netDevices",
        json!({ veth.a.clone(): {"name": "ctr0"} }),
    );
    env.brisk(&["run", "-d", "-b", b.path(), "n"]).ok();
    assert!(!host_has_link(&veth.a), "{} is still on the host", veth.a);
    assert!(host_has_link(&veth.b), "the host lost the peer {}", veth.b);
    let out = env
        .brisk(&[
            "exec",
            "n",
            "sh",
            "-c",
            "ip -o link show ctr0; ip -o addr show dev ctr0",
        ])
        .ok();
    let link = out.lines().next().unwrap_or_default();
    assert!(link.contains(": ctr0"), "{out}");
    let flags = link.split(['<', '>']).nth(1).unwrap_or_default();
    assert!(flags.split(',').any(|f| f == "UP"), "not up: {link}");
    assert!(link.contains("mtu 1400"), "{link}");
    assert!(out.contains("inet 10.213.0.1/24"), "{out}");
    assert!(out.contains("inet6 fd42:213::1/64"), "{out}");
    env.brisk(&["delete", "--force", "n"]).ok();
    assert!(
        eventually(|| !host_has_link(&veth.a) && !host_has_link(&veth.b)),
        "the veth outlived the container's network namespace"
    );
    env.assert_clean();
}

/// A namespace joined by path gets the device (and keeps it after the
/// container); a `%d` name is the kernel's template.
#[test]
fn net_device_into_a_joined_namespace_with_a_template_name() {
    let env = Env::new("netdev-join");
    let veth = Veth::new();
    let netns = Netns::new();
    ip(&["addr", "add", "10.213.1.1/24", "dev", &veth.b]);
    let mut b = env.bundle("b", &["ip", "-o", "addr", "show"]);
    b.add_namespace("network", Some(&netns.path()));
    b.set(
        "/linux/netDevices",
        json!({ veth.b.clone(): {"name": "eth%d"} }),
    );
    let out = env.brisk(&["run", "-b", b.path(), "j"]).ok();
    assert!(
        out.contains(": eth0") && out.contains("10.213.1.1/24"),
        "{out}"
    );
    assert!(!host_has_link(&veth.b));
    assert!(host_has_link(&veth.a));
    let left = ip(&["-n", &netns.name, "-o", "link", "show", "eth0"]);
    assert!(left.contains("eth0"), "{left}");
    env.assert_clean();
}

#[test]
fn net_device_errors_name_the_field() {
    let env = Env::new("netdev-bad");
    let veth = Veth::new();
    let mut b = env.bundle("b", &["true"]);
    let fails = |b: &common::Bundle, want: &[&str]| {
        let out = env.brisk(&["run", "-b", b.path(), "x"]);
        assert_ne!(
            out.code, 0,
            "accepted: {:?}",
            b.config["linux"]["netDevices"]
        );
        for w in want {
            assert!(out.stderr.contains(w), "{w:?} not in {}", out.stderr);
        }
    };
    b.set("/linux/netDevices", json!({"bknosuchdev0": {}}));
    fails(&b, &["linux.netDevices.bknosuchdev0", "no network device"]);
    // The spec's check: the name is taken in the container's namespace.
    b.set(
        "/linux/netDevices",
        json!({ veth.a.clone(): {"name": "lo"} }),
    );
    fails(
        &b,
        &[&format!("linux.netDevices.{}", veth.a), "already exists"],
    );
    assert!(host_has_link(&veth.a), "moved although the create failed");
    b.set(
        "/linux/netDevices",
        json!({ veth.a.clone(): {"name": "a/b"} }),
    );
    fails(&b, &[&format!("linux.netDevices.{}.name", veth.a)]);
    // Without a network namespace of its own the device would stay here.
    let ns: Vec<_> = b.config["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["type"] != "network")
        .cloned()
        .collect();
    b.set("/linux/namespaces", json!(ns));
    b.set("/linux/netDevices", json!({ veth.a.clone(): {} }));
    fails(&b, &["linux.netDevices", "network namespace"]);
    assert!(host_has_link(&veth.a));
    env.assert_clean();
}

fn lo_flags(out: &str) -> Vec<String> {
    out.split(['<', '>'])
        .nth(1)
        .unwrap_or_default()
        .split(',')
        .map(String::from)
        .collect()
}

/// A new network namespace gets its `lo` up (as runc and crun do); a
/// namespace joined by path is left as it is.
#[test]
fn loopback_is_up_in_a_new_network_namespace() {
    let env = Env::new("netns-lo");
    let mut b = env.bundle("b", &["ip", "-o", "link", "show", "lo"]);
    let out = env.brisk(&["run", "-b", b.path(), "new"]).ok();
    assert!(lo_flags(&out).contains(&"UP".to_string()), "{out}");
    let netns = Netns::new();
    b.add_namespace("network", Some(&netns.path()));
    let out = env.brisk(&["run", "-b", b.path(), "joined"]).ok();
    assert!(!lo_flags(&out).contains(&"UP".to_string()), "{out}");
    env.assert_clean();
}
