//! `NOTIFY_SOCKET` passthrough: when brisk is started with NOTIFY_SOCKET
//! set (podman's `--sdnotify=container`, systemd units), the caller's
//! socket is bound into the container at `/run/notify/notify.sock` and the
//! container's process gets `NOTIFY_SOCKET` pointing there, so sd_notify
//! from the container reaches the caller directly (no proxy in brisk).

use std::path::Path;

use oci_spec::runtime::{MountBuilder, Spec};

use crate::error::{Error, Result};

/// Where the socket appears inside the container.
pub const CONTAINER_PATH: &str = "/run/notify/notify.sock";

/// Adds the bind mount and the environment variable to the spec.
pub fn pass_through(spec: &mut Spec, host_socket: &Path) -> Result<()> {
    if !host_socket.is_absolute() {
        // An abstract socket ("@name") cannot be bound into the container.
        return Err(Error::invalid(
            "NOTIFY_SOCKET",
            format!("{} is not an absolute path", host_socket.display()),
        ));
    }
    let mount = MountBuilder::default()
        .destination(CONTAINER_PATH)
        .typ("bind")
        .source(host_socket)
        .options(vec![
            "bind".to_string(),
            "nosuid".into(),
            "nodev".into(),
            "noexec".into(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_the_mount_and_replaces_the_variable() {
        let mut spec: Spec = serde_json::from_value(serde_json::json!({
            "ociVersion": "1.2.0",
            "process": {"args": ["true"], "cwd": "/", "user": {"uid": 0, "gid": 0}, "env": ["A=1", "NOTIFY_SOCKET=/old"]},
            "mounts": []
        }))
        .unwrap();
        pass_through(&mut spec, Path::new("/run/caller/notify.sock")).unwrap();
        let m = &spec.mounts().as_ref().unwrap()[0];
        assert_eq!(m.destination(), Path::new(CONTAINER_PATH));
        assert_eq!(
            m.source().as_deref(),
            Some(Path::new("/run/caller/notify.sock"))
        );
        assert_eq!(
            spec.process().as_ref().unwrap().env().as_deref().unwrap(),
            ["A=1", "NOTIFY_SOCKET=/run/notify/notify.sock"]
        );
        assert!(pass_through(&mut spec, Path::new("@abstract")).is_err());
    }
}
