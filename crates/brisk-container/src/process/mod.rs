//! `process`: what the container runs and as whom. Planned in the parent
//! (argv/env as C arrays, the PATH candidates for `args[0]`, rlimits,
//! capability masks) and applied in the init just before `execve`.

pub mod affinity;
pub mod caps;
pub mod lsm;
pub mod sealed_exe;
pub mod self_exe;

use std::ffi::{CStr, CString};
use std::io;
use std::path::Path;

use oci_spec::runtime::{PosixRlimitType, Process};

use crate::error::{Error, Result};

/// A NUL-terminated array of C strings, ready for execve.
#[derive(Debug)]
pub struct CStringArray {
    _strings: Vec<CString>,
    ptrs: Vec<*const libc::c_char>,
}

impl CStringArray {
    pub fn new(field: &str, items: &[String]) -> Result<Self> {
        let strings = items
            .iter()
            .enumerate()
            .map(|(i, s)| {
                CString::new(s.as_bytes())
                    .map_err(|_| Error::invalid(format!("{field}[{i}]"), "contains a NUL byte"))
            })
            .collect::<Result<Vec<_>>>()?;
        let mut ptrs: Vec<_> = strings.iter().map(|s| s.as_ptr()).collect();
        ptrs.push(std::ptr::null());
        Ok(CStringArray {
            _strings: strings,
            ptrs,
        })
    }

    pub fn empty() -> Self {
        CStringArray {
            _strings: Vec::new(),
            ptrs: vec![std::ptr::null()],
        }
    }

    pub fn as_ptr(&self) -> *const *const libc::c_char {
        self.ptrs.as_ptr()
    }
}

impl Default for CStringArray {
    fn default() -> Self {
        Self::empty()
    }
}

#[derive(Debug)]
pub struct Rlimit {
    pub resource: libc::c_int,
    pub name: &'static CStr,
    pub soft: u64,
    pub hard: u64,
}

#[derive(Debug)]
pub struct ProcessPlan {
    pub argv: CStringArray,
    /// `process.env` with each name once ([`dedup_env`]).
    pub envp: CStringArray,
    /// The same, as strings: the init adds HOME to it when
    /// `home_from_passwd`.
    pub env: Vec<String>,
    /// `process.env` has no HOME (or an empty one): the init sets it from
    /// the container's /etc/passwd entry for `uid`, or `/` (as runc and
    /// crun do).
    pub home_from_passwd: bool,
    /// `args[0]` itself when it has a `/`, else each `$PATH` entry joined
    /// with it, tried in order inside the container.
    pub exec_candidates: Vec<CString>,
    pub arg0: CString,
    pub cwd: CString,
    pub uid: libc::uid_t,
    pub gid: libc::gid_t,
    pub groups: Vec<libc::gid_t>,
    /// podman's `run.oci.keep_original_groups` annotation (crun's
    /// extension): no setgroups, the process keeps the caller's
    /// supplementary groups instead of `additionalGids`.
    pub keep_groups: bool,
    pub umask: Option<libc::mode_t>,
    pub rlimits: Vec<Rlimit>,
    pub no_new_privs: bool,
    pub caps: Option<caps::CapSets>,
    pub oom_score_adj: Option<Vec<u8>>,
    /// `process.scheduler`: (policy, static priority, nice).
    pub scheduler: Option<(libc::c_int, libc::c_int, Option<libc::c_int>)>,
    /// `process.ioPriority` as the ioprio_set value (class << 13 | level).
    pub io_priority: Option<libc::c_int>,
    /// `process.apparmorProfile` / `selinuxLabel` writes before execve.
    pub lsm: Vec<lsm::LsmWrite>,
    /// For the CLI's log (capabilities the kernel lacks).
    pub warnings: Vec<String>,
    /// `process.execCPUAffinity` (`exec` only: `init::plan` clears both
    /// for the container's init): brisk's affinity around the clone, and
    /// the one the child sets once placed in the cgroup.
    pub cpu_initial: Option<affinity::CpuSet>,
    pub cpu_final: Option<affinity::CpuSet>,
    /// An ELF program is executed through the fd it was checked on
    /// (`execveat`): where the kernel names the process after the file
    /// then (Linux 6.14), not after the fd number.
    pub exec_by_fd: bool,
}

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

pub fn plan(p: &Process) -> Result<ProcessPlan> {
    let args = p.args().as_deref().unwrap_or_default();
    let env = dedup_env(p.env().as_deref().unwrap_or_default());
    let home_from_passwd = !env
        .iter()
        .any(|e| e.strip_prefix("HOME=").is_some_and(|v| !v.is_empty()));
    let arg0 = args
        .first()
        .ok_or_else(|| Error::invalid("process.args", "must not be empty"))?;
    let path = env
        .iter()
        .rev()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH);
    let exec_candidates = exec_candidates(arg0, path)
        .into_iter()
        .map(|c| {
            CString::new(c).map_err(|_| Error::invalid("process.args[0]", "contains a NUL byte"))
        })
        .collect::<Result<Vec<_>>>()?;
    let user = p.user();
    let rlimits = p
        .rlimits()
        .iter()
        .flatten()
        .map(|r| {
            let (resource, name) = rlimit_resource(r.typ());
            Rlimit {
                resource,
                name,
                soft: r.soft(),
                hard: r.hard(),
            }
        })
        .collect();
    let (cpu_initial, cpu_final) = affinity::plan(p.exec_cpu_affinity().as_ref())?;
    let (caps, warnings) = match p.capabilities() {
        Some(c) => {
            let (sets, w) = caps::plan(c, caps::last_cap())?;
            (Some(sets), w)
        }
        None => (None, Vec::new()),
    };
    Ok(ProcessPlan {
        argv: CStringArray::new("process.args", args)?,
        envp: CStringArray::new("process.env", &env)?,
        env,
        home_from_passwd,
        exec_candidates,
        arg0: CString::new(arg0.as_bytes())
            .map_err(|_| Error::invalid("process.args[0]", "contains a NUL byte"))?,
        cwd: CString::new(p.cwd().as_os_str().as_encoded_bytes())
            .map_err(|_| Error::invalid("process.cwd", "contains a NUL byte"))?,
        uid: user.uid(),
        gid: user.gid(),
        groups: user.additional_gids().clone().unwrap_or_default(),
        keep_groups: false,
        umask: user.umask(),
        rlimits,
        no_new_privs: p.no_new_privileges().unwrap_or(false),
        caps,
        oom_score_adj: p.oom_score_adj().map(|v| v.to_string().into_bytes()),
        scheduler: p.scheduler().as_ref().map(scheduler).transpose()?,
        io_priority: p.io_priority().as_ref().map(io_priority).transpose()?,
        lsm: lsm::plan(p)?,
        warnings,
        cpu_initial,
        cpu_final,
        exec_by_fd: crate::sys::kernel_at_least(6, 14),
    })
}

fn scheduler(
    s: &oci_spec::runtime::Scheduler,
) -> Result<(libc::c_int, libc::c_int, Option<libc::c_int>)> {
    use oci_spec::runtime::LinuxSchedulerPolicy::*;
    let policy = match s.policy() {
        SchedOther => libc::SCHED_OTHER,
        SchedFifo => libc::SCHED_FIFO,
        SchedRr => libc::SCHED_RR,
        SchedBatch => libc::SCHED_BATCH,
        SchedIdle => libc::SCHED_IDLE,
        other => {
            return Err(Error::Unsupported(format!(
                "process.scheduler.policy {other:?}"
            )))
        }
    };
    Ok((policy, s.priority().unwrap_or(0), *s.nice()))
}

fn io_priority(p: &oci_spec::runtime::LinuxIOPriority) -> Result<libc::c_int> {
    use oci_spec::runtime::IOPriorityClass::*;
    let class = match p.class() {
        IoprioClassRt => 1,
        IoprioClassBe => 2,
        IoprioClassIdle => 3,
    };
    let level = p.priority();
    if !(0..=7).contains(&level) {
        return Err(Error::invalid(
            "process.ioPriority.priority",
            format!("{level} is outside 0..7"),
        ));
    }
    Ok((class << 13) | level as libc::c_int)
}

/// `process.scheduler` and `process.ioPriority`, in the init.
pub fn apply_scheduling(plan: &ProcessPlan) -> Result<(), (&'static str, io::Error)> {
    if let Some((policy, priority, nice)) = plan.scheduler {
        if let Some(n) = nice {
            // SAFETY: setpriority with integer arguments.
            if unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, n) } < 0 {
                return Err(("set process.scheduler.nice", io::Error::last_os_error()));
            }
        }
        // The kernel's struct sched_param (libc's may carry more fields,
        // and musl's sched_setscheduler() is a stub that fails with
        // ENOSYS, so the syscall is made directly).
        #[repr(C)]
        struct SchedParam {
            sched_priority: libc::c_int,
        }
        let param = SchedParam {
            sched_priority: priority,
        };
        // SAFETY: sched_setscheduler(pid 0, policy, &param): param is a
        // valid struct sched_param that outlives the call.
        if unsafe { libc::syscall(libc::SYS_sched_setscheduler, 0, policy, &param) } < 0 {
            return Err(("set process.scheduler", io::Error::last_os_error()));
        }
    }
    if let Some(value) = plan.io_priority {
        const IOPRIO_WHO_PROCESS: libc::c_long = 1;
        // SAFETY: ioprio_set takes integers only.
        let r = unsafe { libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, value) };
        if r < 0 {
            return Err(("set process.ioPriority", io::Error::last_os_error()));
        }
    }
    Ok(())
}

/// The environment as runc and crun pass it: each name once, at the
/// position of its first occurrence, with the value of its last one.
pub fn dedup_env(env: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(env.len());
    let mut at: std::collections::HashMap<&str, usize> =
        std::collections::HashMap::with_capacity(env.len());
    for kv in env {
        let name = kv.split_once('=').map_or(kv.as_str(), |(k, _)| k);
        match at.get(name) {
            Some(&i) => out[i].clone_from(kv),
            None => {
                at.insert(name, out.len());
                out.push(kv.clone());
            }
        }
    }
    out
}

/// The home directory of `uid` in a passwd file: the first entry with that
/// uid (`name:password:uid:gid:gecos:home:shell`).
pub fn home_of(passwd: &[u8], uid: u32) -> Option<&[u8]> {
    passwd.split(|&b| b == b'\n').find_map(|line| {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let mut f = line.split(|&b| b == b':');
        let _name = f.next()?;
        let _password = f.next()?;
        let id = std::str::from_utf8(f.next()?)
            .ok()?
            .trim()
            .parse::<u32>()
            .ok()?;
        if id != uid {
            return None;
        }
        f.nth(2).filter(|h| !h.is_empty())
    })
}

/// In the init, inside the container's root and before it changes its
/// user: the environment with HOME from the container's /etc/passwd entry
/// for the process's uid, or `/` when there is none (no file, no entry,
/// not a regular file: as runc's default user). The file is the
/// container's; it is opened without blocking and read up to 16 MiB.
pub fn env_with_home(plan: &ProcessPlan) -> std::result::Result<CStringArray, io::Error> {
    let passwd = read_passwd().unwrap_or_default();
    let home = home_of(&passwd, plan.uid).unwrap_or(b"/");
    let home = String::from_utf8_lossy(home);
    let entry = format!("HOME={home}");
    let mut env = plan.env.clone();
    match env.iter_mut().find(|e| e.as_str() == "HOME=") {
        Some(e) => *e = entry,
        None => env.push(entry),
    }
    CStringArray::new("process.env", &env)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "a NUL byte in /etc/passwd"))
}

fn read_passwd() -> io::Result<Vec<u8>> {
    use rustix::fs::{Mode, OFlags};
    use std::io::Read;
    let fd = rustix::fs::open(
        c"/etc/passwd",
        OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NONBLOCK | OFlags::NOCTTY,
        Mode::empty(),
    )?;
    let file = std::fs::File::from(fd);
    if !file.metadata()?.is_file() {
        return Ok(Vec::new());
    }
    let mut buf = Vec::new();
    file.take(16 << 20).read_to_end(&mut buf)?;
    Ok(buf)
}

/// The paths execve tries for `arg0`, in order.
pub fn exec_candidates(arg0: &str, path: &str) -> Vec<String> {
    if arg0.contains('/') {
        return vec![arg0.to_string()];
    }
    path.split(':')
        .map(|dir| if dir.is_empty() { "." } else { dir })
        .map(|dir| Path::new(dir).join(arg0).to_string_lossy().into_owned())
        .collect()
}

pub fn rlimit_resource(t: PosixRlimitType) -> (libc::c_int, &'static CStr) {
    use PosixRlimitType::*;
    let (r, n) = match t {
        RlimitCpu => (libc::RLIMIT_CPU, c"RLIMIT_CPU"),
        RlimitFsize => (libc::RLIMIT_FSIZE, c"RLIMIT_FSIZE"),
        RlimitData => (libc::RLIMIT_DATA, c"RLIMIT_DATA"),
        RlimitStack => (libc::RLIMIT_STACK, c"RLIMIT_STACK"),
        RlimitCore => (libc::RLIMIT_CORE, c"RLIMIT_CORE"),
        RlimitRss => (libc::RLIMIT_RSS, c"RLIMIT_RSS"),
        RlimitNproc => (libc::RLIMIT_NPROC, c"RLIMIT_NPROC"),
        RlimitNofile => (libc::RLIMIT_NOFILE, c"RLIMIT_NOFILE"),
        RlimitMemlock => (libc::RLIMIT_MEMLOCK, c"RLIMIT_MEMLOCK"),
        RlimitAs => (libc::RLIMIT_AS, c"RLIMIT_AS"),
        RlimitLocks => (libc::RLIMIT_LOCKS, c"RLIMIT_LOCKS"),
        RlimitSigpending => (libc::RLIMIT_SIGPENDING, c"RLIMIT_SIGPENDING"),
        RlimitMsgqueue => (libc::RLIMIT_MSGQUEUE, c"RLIMIT_MSGQUEUE"),
        RlimitNice => (libc::RLIMIT_NICE, c"RLIMIT_NICE"),
        RlimitRtprio => (libc::RLIMIT_RTPRIO, c"RLIMIT_RTPRIO"),
        RlimitRttime => (libc::RLIMIT_RTTIME, c"RLIMIT_RTTIME"),
    };
    (r as libc::c_int, n)
}

/// setrlimit for each configured limit.
pub fn apply_rlimits(plan: &ProcessPlan) -> Result<(), (&Rlimit, io::Error)> {
    for r in &plan.rlimits {
        let lim = libc::rlimit {
            rlim_cur: r.soft,
            rlim_max: r.hard,
        };
        // SAFETY: lim is a valid rlimit; resource comes from the libc table.
        if unsafe { libc::setrlimit(r.resource as _, &lim) } < 0 {
            return Err((r, io::Error::last_os_error()));
        }
    }
    Ok(())
}

/// The annotation podman sets for `--group-add keep-groups`.
pub const KEEP_GROUPS_ANNOTATION: &str = "run.oci.keep_original_groups";

/// Whether the config asks to keep the caller's supplementary groups: the
/// annotation with any value but "0", as crun reads it.
pub fn keeps_original_groups(spec: &oci_spec::runtime::Spec) -> bool {
    spec.annotations()
        .as_ref()
        .and_then(|a| a.get(KEEP_GROUPS_ANNOTATION))
        .is_some_and(|v| v != "0")
}

/// Supplementary groups, gid and uid (in that order: dropping the uid last
/// keeps the right to change the others). Capabilities survive through
/// PR_SET_KEEPCAPS when the config sets them. With `keep_groups` the
/// supplementary groups are left as brisk's caller had them.
pub fn switch_user(plan: &ProcessPlan) -> io::Result<()> {
    if plan.keep_groups {
        crate::sys::setresgid(plan.gid)?;
        return crate::sys::setresuid(plan.uid);
    }
    if let Err(e) = crate::sys::setgroups(&plan.groups) {
        // In a user namespace whose setgroups is denied, only an empty
        // list is acceptable, and that is what we asked for then.
        if !(plan.groups.is_empty() && e.raw_os_error() == Some(libc::EPERM)) {
            return Err(e);
        }
    }
    crate::sys::setresgid(plan.gid)?;
    crate::sys::setresuid(plan.uid)
}

pub fn set_keepcaps(on: bool) -> io::Result<()> {
    // SAFETY: prctl with integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, on as libc::c_ulong, 0, 0, 0) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_lookup_candidates() {
        assert_eq!(exec_candidates("/bin/sh", "/usr/bin"), vec!["/bin/sh"]);
        assert_eq!(exec_candidates("./run", "/usr/bin"), vec!["./run"]);
        assert_eq!(
            exec_candidates("sh", "/usr/bin:/bin::"),
            vec!["/usr/bin/sh", "/bin/sh", "./sh", "./sh"]
        );
    }

    #[test]
    fn env_names_are_kept_once_with_their_last_value() {
        let env: Vec<String> = ["A=1", "PATH=/bin", "B=2", "A=3", "C=", "C==x"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(dedup_env(&env), ["A=3", "PATH=/bin", "B=2", "C==x"]);
    }

    #[test]
    fn home_from_a_passwd_file() {
        let passwd = b"root:x:0:0:root:/root:/bin/sh\n\nbad line\nu:x:1000:1000::/home/u:/bin/sh\r\nv:x:1000:1::/home/v:/bin/sh\nw:x:7:7::";
        assert_eq!(home_of(passwd, 0), Some(&b"/root"[..]));
        assert_eq!(home_of(passwd, 1000), Some(&b"/home/u"[..]));
        assert_eq!(home_of(passwd, 7), None);
        assert_eq!(home_of(passwd, 42), None);
    }

    #[test]
    fn home_is_looked_up_unless_set() {
        let with = |env: serde_json::Value| -> bool {
            let p: Process = serde_json::from_value(serde_json::json!({
                "args": ["true"], "cwd": "/", "env": env, "user": {"uid": 0, "gid": 0}
            }))
            .unwrap();
            plan(&p).unwrap().home_from_passwd
        };
        assert!(with(serde_json::json!(["PATH=/bin"])));
        assert!(with(serde_json::json!(["HOME="])));
        assert!(!with(serde_json::json!(["HOME=/x"])));
        assert!(!with(serde_json::json!(["HOME=", "HOME=/x"])));
    }

    #[test]
    fn rlimit_names() {
        assert_eq!(
            rlimit_resource(PosixRlimitType::RlimitNofile),
            (libc::RLIMIT_NOFILE as libc::c_int, c"RLIMIT_NOFILE")
        );
        assert_eq!(
            rlimit_resource(PosixRlimitType::RlimitNproc).0,
            libc::RLIMIT_NPROC as libc::c_int
        );
    }

    #[test]
    fn plan_builds_c_arrays() {
        let p: Process = serde_json::from_value(serde_json::json!({
            "args": ["echo", "hi"], "cwd": "/tmp", "env": ["PATH=/bin", "A=b"],
            "user": {"uid": 5, "gid": 6, "additionalGids": [7, 8], "umask": 18},
            "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 10, "hard": 20}],
            "oomScoreAdj": -5, "noNewPrivileges": true
        }))
        .unwrap();
        let plan = plan(&p).unwrap();
        assert_eq!(
            plan.exec_candidates,
            vec![CString::new("/bin/echo").unwrap()]
        );
        assert_eq!(
            (plan.uid, plan.gid, plan.groups.clone()),
            (5, 6, vec![7, 8])
        );
        assert_eq!(plan.umask, Some(18));
        assert_eq!(plan.oom_score_adj.as_deref(), Some(&b"-5"[..]));
        assert!(plan.no_new_privs);
        assert_eq!(plan.rlimits[0].soft, 10);
        // argv is NUL-terminated with both strings before the NULL.
        // SAFETY: the array holds 3 valid pointers, the last null.
        unsafe {
            let p = plan.argv.as_ptr();
            assert_eq!(CStr::from_ptr(*p), c"echo");
            assert_eq!(CStr::from_ptr(*p.add(1)), c"hi");
            assert!((*p.add(2)).is_null());
        }
    }
}
