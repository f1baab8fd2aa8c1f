//! Profile → classic BPF with libseccomp (the cache-miss path only).

use std::ffi::CString;
use std::io::{self, Read, Seek};
use std::os::fd::{FromRawFd, OwnedFd};

use crate::ffi;
use crate::profile::Profile;
use crate::{Error, Result};

/// A filter context, released on drop.
struct Ctx(ffi::ScmpFilterCtx);

impl Drop for Ctx {
    fn drop(&mut self) {
        // SAFETY: the context came from seccomp_init and is released once.
        unsafe { ffi::seccomp_release(self.0) }
    }
}

/// The compiled program and the syscall names libseccomp did not know
/// (skipped, as runc and crun skip them).
#[derive(Debug, Clone)]
pub struct Compiled {
    pub bpf: Vec<u8>,
    pub skipped: Vec<String>,
}

fn fail(what: String, ret: i32) -> Error {
    Error::Compile {
        what,
        source: io::Error::from_raw_os_error(-ret),
    }
}

/// How long libseccomp may compile one profile: a profile can make it
/// compute for minutes (docs/PERFORMANCE.md: overlapping rules on three
/// architectures, 20 s and more inside `seccomp_rule_add_array`), and a
/// create must not stall on it. `BRISK_SECCOMP_TIMEOUT` (seconds) changes
/// it.
pub const BOUND: std::time::Duration = std::time::Duration::from_secs(10);

/// [`BOUND`], or `BRISK_SECCOMP_TIMEOUT`.
pub fn bound() -> std::time::Duration {
    std::env::var("BRISK_SECCOMP_TIMEOUT")
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0 && *s < 1e9)
        .map(std::time::Duration::from_secs_f64)
        .unwrap_or(BOUND)
}

/// [`compile`] in a child process, killed when it has not answered within
/// `bound`: libseccomp cannot be interrupted, a process can. The child
/// sends the program (or the error) through a pipe and exits. brisk is
/// single-threaded when it compiles (before any clone); in a
/// multi-threaded test process glibc's malloc is fork-safe, and the child
/// touches nothing else that another thread could hold.
pub fn compile_within(p: &Profile, bound: std::time::Duration) -> Result<Compiled> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two fds, which we then own.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(Error::Compile {
            what: "pipe for the libseccomp child".into(),
            source: io::Error::last_os_error(),
        });
    }
    // SAFETY: fresh fds from pipe2.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: see the function's comment; the child only compiles, writes
    // and _exits.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(Error::Compile {
            what: "fork for libseccomp".into(),
            source: io::Error::last_os_error(),
        });
    }
    if pid == 0 {
        drop(r);
        let msg = encode(&compile(p));
        let mut done = 0;
        while done < msg.len() {
            // SAFETY: a valid buffer range and our pipe's write end.
            let n = unsafe {
                libc::write(
                    std::os::fd::AsRawFd::as_raw_fd(&w),
                    msg[done..].as_ptr().cast(),
                    msg.len() - done,
                )
            };
            if n <= 0 {
                break;
            }
            done += n as usize;
        }
        // SAFETY: ends the child without running the parent's destructors.
        unsafe { libc::_exit(0) }
    }
    drop(w);
    let deadline = std::time::Instant::now() + bound;
    let mut msg = Vec::new();
    let mut chunk = [0u8; 8192];
    let outcome = loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let mut pfd = libc::pollfd {
            fd: std::os::fd::AsRawFd::as_raw_fd(&r),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut pfd, 1, left.as_millis().min(i32::MAX as u128) as i32) };
        if n == 0 {
            break None;
        }
        if n < 0 {
            if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            break None;
        }
        // SAFETY: a valid buffer of the given length.
        let got = unsafe {
            libc::read(
                std::os::fd::AsRawFd::as_raw_fd(&r),
                chunk.as_mut_ptr().cast(),
                chunk.len(),
            )
        };
        match got {
            0 => break Some(decode(&msg)),
            n if n > 0 => msg.extend_from_slice(&chunk[..n as usize]),
            _ if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted => {}
            _ => break Some(decode(&msg)),
        }
    };
    if outcome.is_none() {
        // SAFETY: our own unreaped child.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    let mut status = 0;
    // SAFETY: our own child; it has exited or been killed.
    while unsafe { libc::waitpid(pid, &mut status, 0) } < 0
        && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted
    {}
    outcome.unwrap_or_else(|| {
        Err(Error::Compile {
            what: "linux.seccomp".into(),
            source: io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "libseccomp did not finish compiling the profile within {:.1} s and was \
                     stopped (rules that overlap with different actions on several \
                     architectures make it compute for minutes; brisk's own compiler declines \
                     such a profile): simplify the overlapping rules, or raise \
                     BRISK_SECCOMP_TIMEOUT (seconds)",
                    bound.as_secs_f64()
                ),
            ),
        })
    })
}

/// The child's answer: `O`, the program's length, the program, the
/// skipped names separated by NULs; or `E`, the errno (0: none) and the
/// text.
fn encode(r: &Result<Compiled>) -> Vec<u8> {
    let mut m = Vec::new();
    match r {
        Ok(c) => {
            m.push(b'O');
            m.extend_from_slice(&(c.bpf.len() as u32).to_le_bytes());
            m.extend_from_slice(&c.bpf);
            m.extend_from_slice(c.skipped.join("\0").as_bytes());
        }
        Err(e) => {
            m.push(b'E');
            let (errno, text) = match e {
                Error::Compile { what, source } => {
                    (source.raw_os_error().unwrap_or(0), what.clone())
                }
                e => (0, e.to_string()),
            };
            m.extend_from_slice(&errno.to_le_bytes());
            m.extend_from_slice(text.as_bytes());
        }
    }
    m
}

fn decode(m: &[u8]) -> Result<Compiled> {
    let bad = || Error::Other("libseccomp child: a truncated answer (it died?)".into());
    match m.split_first() {
        Some((b'O', rest)) if rest.len() >= 4 => {
            let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
            let rest = &rest[4..];
            if rest.len() < len {
                return Err(bad());
            }
            let names = String::from_utf8_lossy(&rest[len..]);
            Ok(Compiled {
                bpf: rest[..len].to_vec(),
                skipped: names
                    .split('\0')
                    .filter(|n| !n.is_empty())
                    .map(str::to_string)
                    .collect(),
            })
        }
        Some((b'E', rest)) if rest.len() >= 4 => {
            let errno = i32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]);
            let text = String::from_utf8_lossy(&rest[4..]).into_owned();
            Err(if errno != 0 {
                Error::Compile {
                    what: text,
                    source: io::Error::from_raw_os_error(errno),
                }
            } else {
                Error::Other(text)
            })
        }
        _ => Err(bad()),
    }
}

/// The version of the libseccomp actually linked (a call into it).
pub fn linked_version() -> String {
    // SAFETY: seccomp_version returns a pointer to a static struct.
    let v = unsafe { &*ffi::seccomp_version() };
    format!("{}.{}.{}", v.major, v.minor, v.micro)
}

/// Sets libseccomp's API level (which actions and flags it believes the
/// kernel has) instead of letting it probe the kernel. For emulators only:
/// under qemu-user seccomp(2) is not the kernel's, libseccomp finds level 1
/// and refuses KILL_PROCESS, LOG and NOTIFY; the arm64 equivalence tests
/// set the level an x86_64 run finds on the same kernel. brisk itself never
/// calls it.
pub fn assume_api_level(level: u32) -> Result<()> {
    // SAFETY: a plain integer argument; libseccomp checks its range.
    let ret = unsafe { ffi::seccomp_api_set(level) };
    if ret < 0 {
        return Err(fail(format!("seccomp_api_set({level})"), ret));
    }
    Ok(())
}

/// libseccomp's API level (probing the kernel on the first call).
pub fn api_level() -> u32 {
    // SAFETY: no arguments; returns a plain integer.
    unsafe { ffi::seccomp_api_get() }
}

/// Compiles `p` to BPF (an array of `struct sock_filter`, 8 bytes each).
pub fn compile(p: &Profile) -> Result<Compiled> {
    // SAFETY: seccomp_init takes a plain action value; null is failure.
    let raw = unsafe { ffi::seccomp_init(p.default_action) };
    if raw.is_null() {
        return Err(Error::Compile {
            what: "linux.seccomp.defaultAction: seccomp_init".into(),
            source: io::Error::from_raw_os_error(libc::EINVAL),
        });
    }
    let ctx = Ctx(raw);
    for (i, a) in p.arches.iter().enumerate() {
        // SAFETY: a valid context and a plain token.
        let r = unsafe { ffi::seccomp_arch_add(ctx.0, *a) };
        if r < 0 && r != -libc::EEXIST {
            return Err(fail(
                format!("linux.seccomp.architectures[{i}] ({a:#x})"),
                r,
            ));
        }
    }
    let mut skipped = Vec::new();
    for rule in &p.rules {
        // libseccomp wants each argument compared once per rule; with an
        // index repeated, each comparison becomes a rule of its own (any
        // one matching triggers the action), as runc does.
        let repeated = rule
            .args
            .iter()
            .enumerate()
            .any(|(i, a)| rule.args[..i].iter().any(|b| b.index == a.index));
        let cmps: Vec<ffi::ScmpArgCmp> = rule
            .args
            .iter()
            .map(|a| ffi::ScmpArgCmp {
                arg: a.index,
                op: a.op,
                datum_a: a.a,
                datum_b: a.b,
            })
            .collect();
        let groups: Vec<&[ffi::ScmpArgCmp]> = if repeated {
            cmps.chunks(1).collect()
        } else {
            vec![&cmps[..]]
        };
        for name in &rule.names {
            let c = CString::new(name.as_str())
                .map_err(|_| Error::invalid("linux.seccomp.syscalls", "NUL in a name"))?;
            // SAFETY: c is a valid C string.
            let nr = unsafe { ffi::seccomp_syscall_resolve_name(c.as_ptr()) };
            if nr == ffi::NR_SCMP_ERROR {
                if !skipped.contains(name) {
                    skipped.push(name.clone());
                }
                continue;
            }
            for g in &groups {
                // SAFETY: a valid context; g points to g.len() comparisons.
                let r = unsafe {
                    ffi::seccomp_rule_add_array(ctx.0, rule.action, nr, g.len() as u32, g.as_ptr())
                };
                if r < 0 {
                    return Err(fail(
                        format!("linux.seccomp.syscalls[{}] ({name})", rule.position),
                        r,
                    ));
                }
            }
        }
    }
    let bpf = export(&ctx)?;
    if bpf.len() / 8 > crate::cache::MAX_INSNS {
        // The kernel would refuse it in the init; say so before the clone.
        return Err(Error::invalid(
            "linux.seccomp",
            format!(
                "compiles to {} BPF instructions, more than the kernel's limit of {}",
                bpf.len() / 8,
                crate::cache::MAX_INSNS
            ),
        ));
    }
    Ok(Compiled { bpf, skipped })
}

fn export(ctx: &Ctx) -> Result<Vec<u8>> {
    let io_err = |what: &str, e: io::Error| Error::Compile {
        what: what.into(),
        source: e,
    };
    // SAFETY: a constant name and flags.
    let fd = unsafe { libc::memfd_create(c"brisk-seccomp-bpf".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(io_err("memfd_create", io::Error::last_os_error()));
    }
    // SAFETY: fd was just created and is owned here.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: a valid context and an open fd.
    let r = unsafe { ffi::seccomp_export_bpf(ctx.0, fd) };
    if r < 0 {
        return Err(fail("seccomp_export_bpf".into(), r));
    }
    let mut f = std::fs::File::from(owned);
    f.rewind()
        .map_err(|e| io_err("rewind the exported program", e))?;
    let mut bpf = Vec::new();
    f.read_to_end(&mut bpf)
        .map_err(|e| io_err("read the exported program", e))?;
    if bpf.is_empty() || bpf.len() % 8 != 0 {
        return Err(Error::Other(format!(
            "libseccomp exported {} bytes, not a whole BPF program",
            bpf.len()
        )));
    }
    Ok(bpf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxSeccomp;
    use serde_json::json;

    fn compile_json(v: serde_json::Value) -> Compiled {
        let s: LinuxSeccomp = serde_json::from_value(v).unwrap();
        compile(&Profile::from_oci(&s).unwrap()).unwrap()
    }

    #[test]
    fn version_matches_the_header() {
        assert_eq!(linked_version(), crate::LIBSECCOMP_VERSION);
    }

    #[test]
    fn compiles_and_skips_unknown_names() {
        let c = compile_json(json!({"defaultAction": "SCMP_ACT_ERRNO",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": [{"names": ["read", "no_such_syscall_xyz", "socketcall"], "action": "SCMP_ACT_ALLOW"}]}));
        assert_eq!(c.skipped, ["no_such_syscall_xyz"]);
        assert_eq!(c.bpf.len() % 8, 0);
        assert!(c.bpf.len() > 8 * 8);
    }

    #[test]
    fn too_large_a_program_is_an_error() {
        // 20 syscalls x 160 argument values, each with its own errno: far
        // more than 4096 instructions.
        let names = [
            "read",
            "write",
            "close",
            "fstat",
            "lseek",
            "mmap",
            "brk",
            "ioctl",
            "pread64",
            "pwrite64",
            "readv",
            "writev",
            "access",
            "pipe",
            "select",
            "dup",
            "dup2",
            "pause",
            "nanosleep",
            "getitimer",
        ];
        let rules: Vec<serde_json::Value> = names
            .iter()
            .enumerate()
            .flat_map(|(i, n)| {
                (1..=160).map(move |v| {
                    json!({"names": [n], "action": "SCMP_ACT_ERRNO", "errnoRet": v,
                           "args": [{"index": 0, "value": i * 1000 + v, "op": "SCMP_CMP_EQ"}]})
                })
            })
            .collect();
        let s: LinuxSeccomp =
            serde_json::from_value(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": rules}))
                .unwrap();
        match compile(&Profile::from_oci(&s).unwrap()) {
            Err(Error::Invalid { field, reason }) => {
                assert_eq!(field, "linux.seccomp");
                assert!(reason.contains("limit of 4096"), "{reason}");
            }
            Ok(c) => panic!("expected an error, got {} instructions", c.bpf.len() / 8),
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn deterministic() {
        let v = json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["kill"], "action": "SCMP_ACT_ERRNO",
             "args": [{"index": 1, "value": 10, "op": "SCMP_CMP_EQ"}, {"index": 1, "value": 12, "op": "SCMP_CMP_EQ"}]}]});
        assert_eq!(compile_json(v.clone()).bpf, compile_json(v).bpf);
    }
}
