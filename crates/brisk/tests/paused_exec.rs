//! `exec` into a paused container, on the host's v1 freezer and on a pure
//! cgroup2 mount (a private mount namespace): without `--ignore-paused` an
//! error, as in runc; with it the new process freezes on joining the
//! cgroup and runs once the container is resumed (runc waits for that
//! forever; brisk up to `BRISK_INIT_TIMEOUT`), and meanwhile `resume`,
//! `kill`, `ps`, `state` and `delete --force` work: the exec holds no lock
//! while its process waits. The issue this guards: an exec that froze
//! while holding the container's lock, so that the resume which would have
//! thawed it waited for that lock forever.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{run_bounded, Bundle, Env};

/// Every step of the scenario, in sh, each command under `timeout -s
/// KILL` so that a wedge shows as exit status 137 instead of a hung test.
/// `$PROCS` is the cgroup.procs file that lists the container's processes
/// in the freezer's hierarchy.
fn scenario(env: &Env, b: &Bundle, procs: &str) -> String {
    format!(
        r#"
        cd {base} || exit 9
        B="{brisk} --root {root}"; PROCS={procs}; T="timeout -s KILL"
        # Until the cgroup lists $1 processes: at most 10 s.
        joined() {{ i=0; while [ "$(wc -l < $PROCS)" -lt "$1" ]; do
            i=$((i+1)); [ $i -gt 200 ] && return 1; sleep 0.05; done; }}
        $T 10 $B run -d -b {bundle} pe </dev/null || exit 10
        $T 10 $B pause pe || exit 11
        echo "status=$($T 10 $B state pe | grep -o '"status": "[a-z]*"')"
        $T 10 $B exec pe true 2>err1; echo "plain=$? $(cat err1)"

        # 1. The exec waits, frozen; resume thaws it and it runs.
        n=$(wc -l < $PROCS)
        $T 60 $B exec --ignore-paused pe echo ran >out2 2>err2 & e=$!
        joined $((n+1)) && echo "joined1=1"
        echo "state1=$($T 10 $B state pe | grep -o '"status": "[a-z]*"')"
        $T 10 $B ps --format json pe >/dev/null; echo "ps1=$?"
        $T 10 $B kill pe CONT; echo "kill1=$?"
        $T 10 $B resume pe; echo "resume1=$?"
        wait $e; echo "exec1=$? $(cat out2) $(cat err2)"

        # 2. Never resumed: the exec returns at its bound, naming the pause.
        $T 10 $B pause pe || exit 12
        BRISK_INIT_TIMEOUT=1 $T 30 $B exec --ignore-paused pe echo ran >out3 2>err3
        echo "exec2=$? $(cat out3)"; cat err3 | tr '\n' ' ' | sed 's/^/err2=/'; echo

        # 3. delete --force while an exec waits: both return, nothing is left.
        n=$(wc -l < $PROCS)
        $T 60 $B exec --ignore-paused pe echo ran >out4 2>err4 & e=$!
        joined $((n+1)) && echo "joined3=1"
        $T 10 $B delete --force pe; echo "delete3=$?"
        wait $e; echo "exec3=$?"
        echo "left=$(ls -d $(dirname $PROCS) 2>/dev/null | wc -l)"
        "#,
        brisk = common::runtime_bin(),
        root = env.root.display(),
        base = env.base.display(),
        bundle = b.path(),
    )
}

fn check(env: &Env, out: common::Out) {
    let o = &out.stdout;
    assert_eq!(out.code, 0, "{o}\n{}", out.stderr);
    assert!(o.contains(r#"status="status": "paused""#), "{o}");
    assert!(
        o.contains("plain=1 ") && o.contains("cannot exec in a paused container"),
        "without --ignore-paused: an error, as in runc\n{o}"
    );
    assert!(
        o.contains("joined1=1\n"),
        "the exec's process joined the frozen cgroup\n{o}"
    );
    assert!(o.contains(r#"state1="status": "paused""#), "{o}");
    assert!(o.contains("ps1=0\n"), "ps while an exec waits\n{o}");
    assert!(o.contains("kill1=0\n"), "kill while an exec waits\n{o}");
    assert!(
        o.contains("resume1=0\n"),
        "resume while an exec waits (137: it wedged)\n{o}"
    );
    assert!(o.contains("exec1=0 ran"), "the exec ran once resumed\n{o}");
    assert!(
        o.contains("exec2=1 \n"),
        "a frozen exec returns at its bound\n{o}"
    );
    assert!(
        o.contains("timed out after 1 s") && o.contains("the container is paused"),
        "the timeout names the pause\n{o}"
    );
    assert!(o.contains("joined3=1\n"), "{o}");
    assert!(
        o.contains("delete3=0\n"),
        "delete --force while an exec waits\n{o}"
    );
    assert!(
        o.contains("exec3=1\n"),
        "the waiting exec fails once deleted\n{o}"
    );
    assert!(o.contains("left=0\n"), "the cgroup is gone\n{o}");
    env.assert_clean();
}

#[test]
fn exec_into_a_paused_container_on_the_v1_freezer() {
    if !Path::new("/sys/fs/cgroup/freezer/cgroup.procs").exists() {
        return common::skip("no v1 freezer hierarchy at /sys/fs/cgroup/freezer");
    }
    let env = Env::new("pexec-v1");
    let b = env.bundle("b", &["sleep", "600"]);
    let path = common_path(&b);
    let procs = format!("/sys/fs/cgroup/freezer{path}/cgroup.procs");
    let mut cmd = Command::new("sh");
    cmd.args(["-c", &scenario(&env, &b, &procs)]);
    cmd.env(common::MARK, env.base.to_string_lossy().as_ref());
    check(&env, run_bounded(cmd, &env.base, Duration::from_secs(180)));
}

#[test]
fn exec_into_a_paused_container_on_cgroup2() {
    // A pure cgroup2 mount in a private mount namespace: the freezer is
    // cgroup.freeze, whatever controllers the hierarchy has.
    if !Path::new("/sys/fs/cgroup/unified/cgroup.procs").exists()
        && !Path::new("/sys/fs/cgroup/cgroup.freeze").exists()
    {
        return common::skip("no cgroup2 hierarchy on this host");
    }
    let env = Env::new("pexec-v2");
    let b = env.bundle("b", &["sleep", "600"]);
    let path = common_path(&b);
    let procs = format!("/sys/fs/cgroup{path}/cgroup.procs");
    let script = format!(
        "mount -t cgroup2 none /sys/fs/cgroup || exit 20; {}",
        scenario(&env, &b, &procs)
    );
    let mut cmd = Command::new("unshare");
    cmd.args(["-m", "--propagation", "private", "sh", "-c", &script]);
    cmd.env(common::MARK, env.base.to_string_lossy().as_ref());
    check(&env, run_bounded(cmd, &env.base, Duration::from_secs(180)));
}

fn common_path(b: &Bundle) -> String {
    b.config["linux"]["cgroupsPath"]
        .as_str()
        .unwrap()
        .to_string()
}
