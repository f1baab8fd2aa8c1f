//! `process.apparmorProfile` and `process.selinuxLabel`: the label the
//! program gets at execve, written to `/proc/thread-self/attr/...` by the
//! init. When the host does not run that LSM, the config is refused (as
//! runc refuses it): a container that asked for confinement must not run
//! unconfined.

use std::ffi::CString;
use std::path::Path;

use oci_spec::runtime::Process;

use crate::error::{Error, Result};

/// One write the init makes: (path, value).
#[derive(Debug)]
pub struct LsmWrite {
    pub path: CString,
    pub value: Vec<u8>,
}

fn apparmor_enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|s| s.trim() == "Y")
}

fn selinux_enabled() -> bool {
    Path::new("/sys/fs/selinux/enforce").exists()
}

pub fn plan(p: &Process) -> Result<Vec<LsmWrite>> {
    let mut out = Vec::new();
    if let Some(profile) = p.apparmor_profile().as_deref().filter(|s| !s.is_empty()) {
        if !apparmor_enabled() {
            return Err(Error::invalid(
                "process.apparmorProfile",
                format!("{profile:?} is set but AppArmor is not enabled on this host"),
            ));
        }
        // Newer kernels have a per-LSM directory; the generic file works
        // when AppArmor is the only major LSM.
        let path = if Path::new("/proc/self/attr/apparmor/exec").exists() {
            "/proc/thread-self/attr/apparmor/exec"
        } else {
            "/proc/thread-self/attr/exec"
        };
        out.push(LsmWrite {
            path: CString::new(path).map_err(|_| Error::invalid("process", "NUL"))?,
            value: format!("exec {profile}").into_bytes(),
        });
    }
    if let Some(label) = p.selinux_label().as_deref().filter(|s| !s.is_empty()) {
        if !selinux_enabled() {
            return Err(Error::invalid(
                "process.selinuxLabel",
                format!("{label:?} is set but SELinux is not enabled on this host"),
            ));
        }
        out.push(LsmWrite {
            path: CString::new("/proc/thread-self/attr/exec")
                .map_err(|_| Error::invalid("process", "NUL"))?,
            value: label.as_bytes().to_vec(),
        });
    }
    Ok(out)
}
