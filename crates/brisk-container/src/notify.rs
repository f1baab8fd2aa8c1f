//! `NOTIFY_SOCKET`, as runc and crun handle it: when the caller sets it
//! (systemd units, podman's `--sdnotify=container`), the container does
//! not get the caller's socket but one of the runtime's own.
//!
//! - `create`/`run`: the container's state directory gets a `notify/`
//!   directory, bound read-only into the container at `/run/notify`, and
//!   the process gets `NOTIFY_SOCKET=/run/notify/notify.sock`.
//! - `start`/`run`: brisk binds a datagram socket `notify/notify.sock`
//!   (mode 0777, so any container user can send) before the program
//!   runs, and waits until the program sends `READY=1` or the container's
//!   init exits; it then sends the caller `READY=1` and `MAINPID=<the
//!   init's pid>`, and returns (runc 1.1 and crun send no `BARRIER=1`;
//!   a caller that kept its fd would stall `start`). Later messages go
//!   nowhere, as with runc.
//!
//! So it works whatever the container's user and user namespace (the
//! caller's socket need not be reachable by them), and with an abstract
//! caller socket (`@name`).

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::path::{Path, PathBuf};

use oci_spec::runtime::{MountBuilder, Spec};

use crate::error::{Error, Result};

/// Where the socket appears inside the container.
pub const CONTAINER_PATH: &str = "/run/notify/notify.sock";
const CONTAINER_DIR: &str = "/run/notify";
/// The directory under the container's state directory bound there.
pub const DIR: &str = "notify";
/// The socket in it.
pub const SOCKET: &str = "notify.sock";

/// `create`/`run`: binds `notify_dir` (the state directory's `notify/`)
/// into the container and points the process's `NOTIFY_SOCKET` at the
/// socket brisk will bind there.
pub fn set_up_spec(spec: &mut Spec, notify_dir: &Path) -> Result<()> {
    let mount = MountBuilder::default()
        .destination(CONTAINER_DIR)
        .typ("bind")
        .source(notify_dir)
        .options(vec![
            "bind".to_string(),
            "nosuid".into(),
            "noexec".into(),
            "nodev".into(),
            "ro".into(),
        ])
        .build()
        .map_err(|e| Error::invalid("NOTIFY_SOCKET", e.to_string()))?;
    let mut mounts = spec.mounts().clone().unwrap_or_default();
    mounts.push(mount);
    spec.set_mounts(Some(mounts));
    if let Some(process) = spec.process_mut() {
        let mut env: Vec<String> = process
            .env()
            .clone()
            .unwrap_or_default()
            .into_iter()
            .filter(|e| !e.starts_with("NOTIFY_SOCKET="))
            .collect();
        env.push(format!("NOTIFY_SOCKET={CONTAINER_PATH}"));
        process.set_env(Some(env));
    }
    Ok(())
}

/// `create`/`run`: makes the `notify/` directory in the new state
/// directory, before the init binds it.
pub fn make_dir(state_dir: &Path) -> Result<()> {
    let dir = state_dir.join(DIR);
    match std::fs::create_dir(&dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(Error::path("make the notify directory", &dir, e)),
    }
}

/// brisk's end of the container's notify socket, and where to forward to.
#[derive(Debug)]
pub struct Forwarder {
    socket: UnixDatagram,
    caller: OsString,
}

/// Binds the container's socket in `state_dir/notify/` (a stale one from
/// an earlier start is replaced), to forward to the caller's `caller`.
pub fn listen(state_dir: &Path, caller: &OsStr) -> Result<Forwarder> {
    let path = state_dir.join(DIR).join(SOCKET);
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::path("remove the old notify socket", &path, e)),
    }
    let socket =
        UnixDatagram::bind(&path).map_err(|e| Error::path("bind the notify socket", &path, e))?;
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o777))
        .map_err(|e| Error::path("make the notify socket writable", &path, e))?;
    Ok(Forwarder {
        socket,
        caller: caller.to_owned(),
    })
}

impl Forwarder {
    /// Waits until the program sends `READY=…` or the process behind
    /// `init` (a pidfd) exits; on `READY`, tells the caller. Bounded by
    /// the container's life, as runc's wait is.
    pub fn forward_ready(self, init: BorrowedFd<'_>, pid: libc::pid_t) -> Result<()> {
        let Some(ready) = self.wait_ready(init)? else {
            return Ok(());
        };
        let caller = caller_address(&self.caller)?;
        let out = UnixDatagram::unbound().map_err(|e| Error::sys("make a datagram socket", e))?;
        out.connect_addr(&caller)
            .map_err(|e| Error::sys(format!("connect to NOTIFY_SOCKET {:?}", self.caller), e))?;
        let send = |msg: &[u8]| {
            out.send(msg)
                .map(drop)
                .map_err(|e| Error::sys(format!("write to NOTIFY_SOCKET {:?}", self.caller), e))
        };
        let mut ready = ready;
        ready.push(b'\n');
        send(&ready)?;
        send(format!("MAINPID={pid}\n").as_bytes())
    }

    /// The first `READY=` line the program sends; None when the init
    /// exits first.
    fn wait_ready(&self, init: BorrowedFd<'_>) -> Result<Option<Vec<u8>>> {
        let mut buf = vec![0u8; 4096];
        loop {
            let mut fds = [
                libc::pollfd {
                    fd: self.socket.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
                libc::pollfd {
                    fd: init.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
            ];
            // SAFETY: two valid pollfd structures.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(Error::sys("wait for the container's READY=1", e));
            }
            if fds[0].revents & libc::POLLIN != 0 {
                let n = self
                    .socket
                    .recv(&mut buf)
                    .map_err(|e| Error::sys("read the notify socket", e))?;
                if let Some(line) = buf[..n]
                    .split(|&c| c == b'\n')
                    .find(|l| l.starts_with(b"READY="))
                {
                    return Ok(Some(line.to_vec()));
                }
                continue;
            }
            if fds[1].revents != 0 {
                return Ok(None);
            }
        }
    }
}

/// The caller's socket: a path, or an abstract name written `@name`.
fn caller_address(caller: &OsStr) -> Result<SocketAddr> {
    let bytes = caller.as_bytes();
    let addr = match bytes.strip_prefix(b"@") {
        Some(name) => <SocketAddr as std::os::linux::net::SocketAddrExt>::from_abstract_name(name),
        None => SocketAddr::from_pathname(PathBuf::from(caller)),
    };
    addr.map_err(|e| Error::invalid("NOTIFY_SOCKET", format!("{caller:?}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_the_directory_and_replaces_the_variable() {
        let mut spec: Spec = serde_json::from_value(serde_json::json!({
            "ociVersion": "1.2.0",
            "process": {"args": ["true"], "cwd": "/", "user": {"uid": 0, "gid": 0}, "env": ["A=1", "NOTIFY_SOCKET=/old"]},
            "mounts": []
        }))
        .unwrap();
        set_up_spec(&mut spec, Path::new("/run/brisk/c/notify")).unwrap();
        let m = &spec.mounts().as_ref().unwrap()[0];
        assert_eq!(m.destination(), Path::new("/run/notify"));
        assert_eq!(
            m.source().as_deref(),
            Some(Path::new("/run/brisk/c/notify"))
        );
        assert!(m.options().as_ref().unwrap().contains(&"ro".to_string()));
        assert_eq!(
            spec.process().as_ref().unwrap().env().as_deref().unwrap(),
            ["A=1", "NOTIFY_SOCKET=/run/notify/notify.sock"]
        );
    }

    #[test]
    fn caller_sockets_are_paths_or_abstract_names() {
        assert!(caller_address(OsStr::new("/run/x.sock"))
            .unwrap()
            .as_pathname()
            .is_some());
        let a = caller_address(OsStr::new("@name")).unwrap();
        assert_eq!(
            std::os::linux::net::SocketAddrExt::as_abstract_name(&a),
            Some(&b"name"[..])
        );
    }
}
