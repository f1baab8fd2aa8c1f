//! A created container's init is `brisk init` in `ps` (as runc's is
//! `runc init`), not a copy of the `brisk create` command line; it leaves
//! when its state directory is removed by someone else before `start`
//! (instead of waiting for ever); and a stale exec FIFO beside a running
//! program (a `start` killed between its write and its unlink) does not
//! make the container look `created`.

mod common;

use std::time::Duration;

use common::Env;

fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        let state = s[s.rfind(')').unwrap() + 2..].chars().next();
        !matches!(state, Some('Z') | Some('X'))
    })
}

#[test]
fn a_waiting_init_is_named_brisk_init_and_leaves_when_its_state_is_removed() {
    let env = Env::new("orphan");
    let b = env.bundle("b", &["sleep", "600"]);
    env.brisk(&["create", "-b", b.path(), "o1"]).ok();
    let pid = env.state("o1")["pid"].as_i64().unwrap() as i32;
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
    assert_eq!(comm.trim_end(), "brisk init");
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    let args: Vec<&[u8]> = cmdline
        .split(|&b| b == 0)
        .filter(|a| !a.is_empty())
        .collect();
    assert_eq!(args, [&b"brisk"[..], &b"init"[..]], "{cmdline:?}");
    let ps = std::process::Command::new("ps")
        .args(["-o", "args=", "-p", &pid.to_string()])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&ps.stdout).trim(), "brisk init");
    // A client that crashed wipes its temporary root.
    std::fs::remove_dir_all(&env.root).unwrap();
    common::wait_until("the orphaned init leaves", Duration::from_secs(10), || {
        !alive(pid)
    });
    env.assert_clean();
}

#[test]
fn a_stale_exec_fifo_beside_a_running_program_is_running() {
    let env = Env::new("stalefifo");
    let b = env.bundle("b", &["sleep", "600"]);
    env.brisk(&["create", "-b", b.path(), "s1"]).ok();
    assert_eq!(env.status("s1"), "created");
    // What `start` does, without its unlink (as if killed right after
    // its write).
    let fifo = env.root.join("s1/exec.fifo");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&fifo)
        .and_then(|mut f| std::io::Write::write_all(&mut f, b"0"))
        .unwrap();
    let pid = env.state("s1")["pid"].as_i64().unwrap() as i32;
    common::wait_until("the program runs", Duration::from_secs(10), || {
        std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "sleep")
    });
    assert!(fifo.exists());
    assert_eq!(env.status("s1"), "running");
    let out = env.brisk(&["start", "s1"]);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("already running"), "{}", out.stderr);
    env.brisk(&["delete", "--force", "s1"]).ok();
    env.assert_clean();
}
