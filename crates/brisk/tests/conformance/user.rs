//! config.md: User — uid, gid, additionalGids and umask of the container
//! process, seen from the host in /proc/PID/status and from inside.

use serde_json::json;

use crate::common::Env;
use crate::config_misc::{proc_status, run_ok, start};
use crate::support::Outcome;
use crate::tests;

tests![
    uid_gid_and_groups_are_set => ["config.user.1", "config.user.2", "runtime.start.3"],
    uid_and_gid_are_seen_inside => ["config.user.1", "config.user.2"],
    umask_is_set => ["runtime.start.3"],
];

fn uid_gid_and_groups_are_set() -> Outcome {
    let env = Env::new("cf-user-ids");
    let mut b = env.bundle("b", &["sleep", "30"]);
    b.set(
        "/process/user",
        json!({"uid": 1000, "gid": 1001, "additionalGids": [5, 2000]}),
    );
    let pid = start(&env, &b, "u", "sleep");
    let fields = |n: &str| {
        proc_status(pid, n)
            .split_whitespace()
            .map(String::from)
            .collect::<Vec<_>>()
    };
    assert_eq!(fields("Uid"), ["1000"; 4], "real, effective, saved, fs uid");
    assert_eq!(fields("Gid"), ["1001"; 4], "real, effective, saved, fs gid");
    let mut groups = fields("Groups");
    groups.sort();
    groups.retain(|g| g != "1001");
    assert_eq!(groups, ["2000", "5"], "supplementary groups");
    env.brisk(&["delete", "--force", "u"]).ok();
    env.assert_clean();
    Ok(())
}

fn uid_and_gid_are_seen_inside() -> Outcome {
    let env = Env::new("cf-user-inside");
    let mut b = env.bundle("b", &["sh", "-c", "id -u; id -g"]);
    b.set("/process/user", json!({"uid": 65534, "gid": 65534}));
    assert_eq!(run_ok(&env, &b, "n"), "65534\n65534\n");
    let mut b = env.bundle("b2", &["sh", "-c", "id -u; id -g"]);
    b.set("/process/user", json!({"uid": 0, "gid": 0}));
    assert_eq!(run_ok(&env, &b, "r"), "0\n0\n");
    env.assert_clean();
    Ok(())
}

fn umask_is_set() -> Outcome {
    let env = Env::new("cf-user-umask");
    let mut b = env.bundle("b", &["sleep", "30"]);
    b.set("/process/user/umask", json!(0o027));
    let pid = start(&env, &b, "m", "sleep");
    assert_eq!(proc_status(pid, "Umask"), "0027");
    env.brisk(&["delete", "--force", "m"]).ok();
    let mut b = env.bundle(
        "b2",
        &["sh", "-c", "umask; touch /tmp/f; stat -c %a /tmp/f"],
    );
    b.set("/process/user/umask", json!(0o077));
    assert_eq!(run_ok(&env, &b, "i"), "0077\n600\n");
    env.assert_clean();
    Ok(())
}
