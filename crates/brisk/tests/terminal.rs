//! `process.terminal`: the pty master reaches `--console-socket` (the way
//! conmon and the containerd shim receive it), the program's stdio and
//! `/dev/console` are the pty, `run` in the foreground proxies it (also
//! from a real terminal, driven through `script`), and a detached
//! container without a console socket is refused cleanly.

mod common;

use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::time::{Duration, Instant};

use common::Env;
use serde_json::json;

/// Receives one fd sent with SCM_RIGHTS, and the message text.
fn recv_fd(sock: &std::os::unix::net::UnixStream) -> (String, OwnedFd) {
    let mut buf = [0u8; 256];
    let mut cmsg = [0u8; 64];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: a zeroed msghdr pointing at valid buffers.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cmsg.as_mut_ptr().cast();
    msg.msg_controllen = cmsg.len();
    // SAFETY: valid socket and msghdr.
    let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, 0) };
    assert!(n >= 0, "recvmsg: {}", std::io::Error::last_os_error());
    // SAFETY: the kernel filled the control buffer.
    let fd = unsafe {
        let c = libc::CMSG_FIRSTHDR(&msg);
        assert!(!c.is_null(), "no fd was sent");
        assert_eq!((*c).cmsg_type, libc::SCM_RIGHTS);
        std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<i32>())
    };
    // SAFETY: the fd was just received and belongs to us.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    (String::from_utf8_lossy(&buf[..n as usize]).into_owned(), fd)
}

/// Reads from a pty master until `needle` shows up or 10 s pass.
fn read_until(master: &OwnedFd, needle: &str) -> String {
    let mut f = std::fs::File::from(master.try_clone().unwrap());
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    while Instant::now() < deadline {
        match f.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
        if String::from_utf8_lossy(&out).contains(needle) {
            break;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn console_socket_receives_the_pty_master() {
    let env = Env::new("tty-socket");
    let mut b = env.bundle(
        "b",
        &[
            "sh",
            "-c",
            "tty; [ /dev/console -ef $(tty) ] && echo console-is-pty; stat -c %t,%T /dev/console; echo done",
        ],
    );
    b.set("/process/terminal", json!(true));
    let sock_path = env.base.join("console.sock");
    let listener = UnixListener::bind(&sock_path).unwrap();
    let out = env.brisk(&[
        "create",
        "-b",
        b.path(),
        "--console-socket",
        sock_path.to_str().unwrap(),
        "t",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let (conn, _) = listener.accept().unwrap();
    let (name, master) = recv_fd(&conn);
    assert!(!name.is_empty());
    env.brisk(&["start", "t"]).ok();
    let text = read_until(&master, "done");
    assert!(text.contains("/dev/pts/"), "{text:?}");
    assert!(text.contains("console-is-pty"), "{text:?}");
    env.wait_status("t", "stopped");
    env.brisk(&["delete", "t"]).ok();
    env.assert_clean();
}

#[test]
fn run_in_the_foreground_proxies_the_pty() {
    let env = Env::new("tty-proxy");
    let mut b = env.bundle("b", &["sh", "-c", "tty; echo out; exit 3"]);
    b.set("/process/terminal", json!(true));
    let out = env.brisk(&["run", "-b", b.path(), "p"]);
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(out.stdout.contains("/dev/pts/"), "{:?}", out.stdout);
    assert!(out.stdout.contains("out"), "{:?}", out.stdout);
    env.assert_clean();
}

#[test]
fn run_from_a_real_terminal_is_interactive() {
    let env = Env::new("tty-script");
    let mut b = env.bundle("b", &["sh"]);
    b.set("/process/terminal", json!(true));
    // `script` gives brisk a real terminal as stdin/stdout; the shell in the
    // container reads the typed commands through brisk's proxy.
    let cmd = format!(
        "{} --root {} run -b {} i",
        common::brisk_bin(),
        env.root.display(),
        b.path()
    );
    let mut child = std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env(common::MARK, env.base.to_str().unwrap())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let stdin = child.stdin.as_mut().unwrap();
        stdin
            .write_all(b"echo hello-$((6*7)); stty size; exit 5\n")
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("hello-42"), "{text:?}");
    assert_eq!(out.status.code(), Some(5), "{text:?}");
    env.assert_clean();
}

#[test]
fn detached_terminal_without_console_socket_is_refused() {
    let env = Env::new("tty-detached");
    let mut b = env.bundle("b", &["true"]);
    b.set("/process/terminal", json!(true));
    for args in [
        vec!["create", "-b", b.path(), "d"],
        vec!["run", "-d", "-b", b.path(), "d"],
    ] {
        let out = env.brisk(&args);
        assert_ne!(out.code, 0);
        assert!(
            out.stderr.contains("process.terminal") && out.stderr.contains("--console-socket"),
            "{}",
            out.stderr
        );
        env.assert_clean();
    }
}

#[test]
fn proxy_keeps_copying_when_the_program_ignores_its_input() {
    let env = Env::new("tty-flood");
    // 3 MB of output while 3 MB wait on stdin unread: neither side may stall.
    let mut b = env.bundle(
        "b",
        &[
            "sh",
            "-c",
            "head -c 3000000 /dev/zero | tr '\\0' a; echo; echo end",
        ],
    );
    b.set("/process/terminal", json!(true));
    let input = env.base.join("input");
    std::fs::write(&input, vec![b'x'; 3_000_000]).unwrap();
    let mut cmd = std::process::Command::new("timeout");
    cmd.arg("60")
        .arg(common::brisk_bin())
        .arg("--root")
        .arg(&env.root)
        .args(["run", "-b", b.path(), "f"])
        .env(common::MARK, env.base.to_str().unwrap())
        .stdin(std::fs::File::open(&input).unwrap());
    let out = common::run_to_files(cmd, &env.base);
    assert_eq!(out.code, 0, "{}", out.stderr);
    // The pty echoes some of the unread input too; the program's output
    // must all be there.
    assert!(out.stdout.contains("end"), "output cut short");
    assert!(out.stdout.bytes().filter(|&c| c == b'a').count() >= 3_000_000);
    env.assert_clean();
}

#[test]
fn the_pty_belongs_to_the_user_and_no_other_fd_leaks_in() {
    let env = Env::new("tty-owner");
    let mut b = env.bundle(
        "b",
        &[
            "sh",
            "-c",
            "stat -c %u:%g $(tty); ls /proc/self/fd | tr '\\n' ' '; echo; stty size",
        ],
    );
    b.set("/process/terminal", json!(true));
    b.set("/process/consoleSize", json!({"height": 40, "width": 120}));
    b.set("/process/user", json!({"uid": 1000, "gid": 1000}));
    // A startContainer hook makes the start.result FIFO, which must not
    // reach the program either.
    b.set("/hooks", json!({"startContainer": [{"path": "/bin/true"}]}));
    let sock_path = env.base.join("console.sock");
    let listener = UnixListener::bind(&sock_path).unwrap();
    let out = env.brisk(&[
        "create",
        "-b",
        b.path(),
        "--console-socket",
        sock_path.to_str().unwrap(),
        "o",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let (conn, _) = listener.accept().unwrap();
    let (_, master) = recv_fd(&conn);
    env.brisk(&["start", "o"]).ok();
    let text = read_until(&master, "120");
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    assert_eq!(lines[0], "1000:1000", "{text:?}");
    // ls's own directory fd is the 3.
    assert_eq!(lines[1], "0 1 2 3", "{text:?}");
    assert_eq!(lines[2], "40 120", "{text:?}");
    env.wait_status("o", "stopped");
    env.brisk(&["delete", "o"]).ok();
    env.assert_clean();
}
