//! config-linux.md, Seccomp: rules (errno, default EPERM, argument
//! matching), the errors the spec requires for invalid profiles, and the
//! container process state sent to `listenerPath` for SCMP_ACT_NOTIFY.
//! Observed from inside (the errors syscalls return) and by the test
//! acting as the seccomp agent.

use std::os::fd::AsRawFd;
use std::os::unix::net::UnixListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::{Bundle, Env};
use crate::namespaces::{assert_rejected, run_sh};
use crate::support::Outcome;
use crate::tests;

tests![
    errno_rules_block_syscalls => [
        "config-linux.seccomp.1", "config-linux.seccomp.9", "config-linux.seccomp.11",
    ],
    argument_rules_match_values => [
        "config-linux.seccomp.13", "config-linux.seccomp.14", "config-linux.seccomp.15",
    ],
    default_errno_ret_with_allow_is_an_error => ["config-linux.seccomp.2"],
    errno_ret_with_allow_is_an_error => ["config-linux.seccomp.12"],
    empty_names_is_an_error => ["config-linux.seccomp.10"],
    missing_default_action_is_an_error => ["config-linux.seccomp.1"],
    missing_action_is_an_error => ["config-linux.seccomp.11"],
    missing_arg_op_is_an_error => ["config-linux.seccomp.15"],
    unknown_action_is_an_error => ["config-linux.seccomp.11", "config.valid-values.1"],
    listener_metadata_without_path_is_an_error => ["config-linux.seccomp.8"],
    unreachable_listener_is_an_error => ["config-linux.seccomp.6"],
    notify_sends_the_container_process_state => [
        "config-linux.seccomp.3", "config-linux.seccomp.4", "config-linux.seccomp.5",
        "config-linux.seccomp.7", "config-linux.the-container-process-state.1",
        "config-linux.the-container-process-state.2",
        "config-linux.the-container-process-state.3",
        "config-linux.the-container-process-state.4",
        "config-linux.the-container-process-state.5",
    ],
];

fn errno_rules_block_syscalls() -> Outcome {
    let env = Env::new("cf-seccomp-errno");
    let mut b = env.bundle("b", &[]);
    b.set(
        "/linux/seccomp",
        json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [
                {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"},
                {"names": ["chmod", "fchmodat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
            ],
        }),
    );
    let script = "grep '^Seccomp:' /proc/self/status; mkdir /tmp/d 2>&1; \
                  chmod 700 /tmp 2>&1; touch /tmp/f && echo touch-ok";
    let out = run_sh(&env, &mut b, "e", script).ok();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert_eq!(
        lines[0].split_whitespace().nth(1),
        Some("2"),
        "no filter: {out}"
    );
    // errnoRet unset: EPERM.
    assert!(lines[1].contains("Operation not permitted"), "mkdir: {out}");
    assert!(
        lines[2].contains("Permission denied"),
        "chmod (EACCES): {out}"
    );
    assert_eq!(lines[3], "touch-ok");
    env.assert_clean();
    Ok(())
}

fn argument_rules_match_values() -> Outcome {
    let env = Env::new("cf-seccomp-args");
    let mut b = env.bundle("b", &[]);
    // kill(_, SIGUSR1) fails with EPERM; other signals reach the kernel.
    b.set(
        "/linux/seccomp",
        json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{
                "names": ["kill"], "action": "SCMP_ACT_ERRNO",
                "args": [{"index": 1, "value": 10, "op": "SCMP_CMP_EQ"}],
            }],
        }),
    );
    let out = run_sh(
        &env,
        &mut b,
        "a",
        "kill -USR1 999999 2>&1; kill -USR2 999999 2>&1; true",
    )
    .ok();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[0].contains("Operation not permitted"),
        "SIGUSR1: {out}"
    );
    assert!(lines[1].contains("No such process"), "SIGUSR2: {out}");
    env.assert_clean();
    Ok(())
}

fn rejected(tag: &str, seccomp: Value, what: &str) -> Outcome {
    let env = Env::new(tag);
    let mut b = env.bundle("b", &["true"]);
    b.set("/linux/seccomp", seccomp);
    assert_rejected(&env, &b, "s", what);
    Ok(())
}

fn default_errno_ret_with_allow_is_an_error() -> Outcome {
    rejected(
        "cf-seccomp-deferrno",
        json!({"defaultAction": "SCMP_ACT_ALLOW", "defaultErrnoRet": 1,
               "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}),
        "defaultErrnoRet with SCMP_ACT_ALLOW",
    )
}

fn errno_ret_with_allow_is_an_error() -> Outcome {
    rejected(
        "cf-seccomp-errnoallow",
        json!({"defaultAction": "SCMP_ACT_ERRNO",
               "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ALLOW", "errnoRet": 1}]}),
        "errnoRet with SCMP_ACT_ALLOW",
    )
}

fn empty_names_is_an_error() -> Outcome {
    rejected(
        "cf-seccomp-nonames",
        json!({"defaultAction": "SCMP_ACT_ALLOW",
               "syscalls": [{"names": [], "action": "SCMP_ACT_ERRNO"}]}),
        "a rule with no syscall names",
    )
}

fn missing_default_action_is_an_error() -> Outcome {
    rejected(
        "cf-seccomp-nodefault",
        json!({"syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}),
        "a profile without defaultAction",
    )
}

fn missing_action_is_an_error() -> Outcome {
    rejected(
        "cf-seccomp-noaction",
        json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"]}]}),
        "a rule without action",
    )
}

fn missing_arg_op_is_an_error() -> Outcome {
    rejected(
        "cf-seccomp-noop",
        json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{
            "names": ["kill"], "action": "SCMP_ACT_ERRNO",
            "args": [{"index": 1, "value": 10}],
        }]}),
        "an argument rule without op",
    )
}

fn unknown_action_is_an_error() -> Outcome {
    rejected(
        "cf-seccomp-badaction",
        json!({"defaultAction": "SCMP_ACT_ALLOW",
               "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_EXPLODE"}]}),
        "action SCMP_ACT_EXPLODE",
    )
}

fn listener_metadata_without_path_is_an_error() -> Outcome {
    rejected(
        "cf-seccomp-metanopath",
        json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerMetadata": "meta",
               "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]}),
        "listenerMetadata without listenerPath",
    )
}

fn notify_profile(b: &mut Bundle, socket: &str) {
    b.set(
        "/linux/seccomp",
        json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": socket, "listenerMetadata": "agent-metadata",
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}],
        }),
    );
}

fn unreachable_listener_is_an_error() -> Outcome {
    let env = Env::new("cf-seccomp-nolistener");
    let mut b = env.bundle("b", &["true"]);
    let socket = env.base.join("nobody-listens.sock");
    notify_profile(&mut b, socket.to_str().unwrap());
    assert_rejected(&env, &b, "s", "a listenerPath nobody listens on");
    Ok(())
}

/// Everything received on one connection until EOF: the payload and the
/// fds of each message (one Vec per recvmsg).
fn receive_all(
    listener: UnixListener,
    give_up: Arc<AtomicBool>,
) -> Result<(Vec<u8>, Vec<Vec<i32>>), String> {
    listener.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let stream = loop {
        match listener.accept() {
            Ok((s, _)) => break s,
            Err(_) if Instant::now() < deadline && !give_up.load(Ordering::Relaxed) => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Err(e) => return Err(format!("no connection: {e}")),
        }
    };
    stream.set_nonblocking(false).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let (mut data, mut fds) = (Vec::new(), Vec::new());
    loop {
        let mut buf = [0u8; 8192];
        let mut cbuf = [0u64; 64];
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        // SAFETY: a zeroed msghdr is valid; the pointers outlive the call.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&cbuf) as _;
        // SAFETY: msg describes valid buffers.
        let n = unsafe { libc::recvmsg(stream.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
        if n < 0 {
            return Err(format!("recvmsg: {}", std::io::Error::last_os_error()));
        }
        if n == 0 {
            break;
        }
        data.extend_from_slice(&buf[..n as usize]);
        let mut got = Vec::new();
        // SAFETY: walking the control messages the kernel filled in.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(&msg);
            while !c.is_null() {
                if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                    let len = (*c).cmsg_len as usize - libc::CMSG_LEN(0) as usize;
                    let p = libc::CMSG_DATA(c) as *const i32;
                    for i in 0..len / 4 {
                        got.push(std::ptr::read_unaligned(p.add(i)));
                    }
                }
                c = libc::CMSG_NXTHDR(&msg, c);
            }
        }
        fds.push(got);
    }
    Ok((data, fds))
}

fn notify_sends_the_container_process_state() -> Outcome {
    let env = Env::new("cf-seccomp-notify");
    let mut b = env.bundle("b", &["sleep", "30"]);
    let socket = env.base.join("agent.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    notify_profile(&mut b, socket.to_str().unwrap());
    let give_up = Arc::new(AtomicBool::new(false));
    let flag = give_up.clone();
    let agent = std::thread::spawn(move || receive_all(listener, flag));
    let out = env.brisk(&["create", "-b", b.path(), "n"]);
    give_up.store(out.code != 0, Ordering::Relaxed);
    let received = agent.join().unwrap();
    if out.code != 0 {
        env.assert_clean();
        panic!("create with a notify profile failed: {}", out.stderr);
    }
    let pid = env.state("n")["pid"].as_i64().unwrap();
    let (data, fds) = received.unwrap_or_else(|e| panic!("{e}"));
    // Only the first message carries fds; exactly one: the seccomp fd.
    let all: Vec<i32> = fds.iter().flatten().copied().collect();
    assert_eq!(all.len(), 1, "fds received: {fds:?}");
    assert!(
        fds[1..].iter().all(Vec::is_empty),
        "fds after the first sendmsg"
    );
    let link = std::fs::read_link(format!("/proc/self/fd/{}", all[0])).unwrap();
    // SAFETY: the fd was received by this test and is closed once.
    unsafe { libc::close(all[0]) };
    assert!(
        link.to_string_lossy().contains("seccomp"),
        "the fd sent is {}",
        link.display()
    );
    // One JSON document, then the connection was closed (EOF above).
    let state: Value = serde_json::from_slice(&data)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&data)));
    assert!(state["ociVersion"].is_string(), "{state}");
    assert_eq!(state["fds"], json!(["seccompFd"]), "{state}");
    assert_eq!(state["pid"], json!(pid), "{state}");
    assert_eq!(state["metadata"], "agent-metadata", "{state}");
    assert_eq!(state["state"]["id"], "n", "{state}");
    assert_eq!(state["state"]["bundle"], b.path(), "{state}");
    assert!(state["state"]["ociVersion"].is_string(), "{state}");
    env.brisk(&["delete", "--force", "n"]).ok();
    env.assert_clean();
    Ok(())
}
