//! `linux.seccomp` for one container: the program (from the compiled-filter
//! cache, or compiled and stored), where the init loads it, and the
//! SCMP_ACT_NOTIFY listener. All of it happens in the parent before the
//! clone; the init only calls seccomp(2) with the bytes in the plan.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use std::sync::OnceLock;

use brisk_seccomp::cache::{self, Cache};
use brisk_seccomp::{Compiler, Profile};
use oci_spec::runtime::Spec;

use crate::error::{Error, Result};

/// An annotation that makes this container compile its filter without
/// reading or writing the cache (value `true` or `1`).
pub const NO_CACHE_ANNOTATION: &str = "run.oci.brisk.seccomp.no_cache";

/// What the init needs to install the filter.
#[derive(Debug)]
pub struct SeccompPlan {
    pub bpf: Vec<u8>,
    /// `SECCOMP_FILTER_FLAG_*`, `NEW_LISTENER` when a rule notifies.
    pub flags: u32,
    /// Without `noNewPrivileges` loading a filter needs CAP_SYS_ADMIN, so
    /// the init loads it before it switches user and drops capabilities;
    /// otherwise after everything else, just before it reports ready.
    pub before_identity: bool,
    pub listener: Option<Listener>,
}

/// The connection to `listenerPath`, opened before the clone (so an
/// unreachable agent fails `create` before anything exists).
#[derive(Debug)]
pub struct Listener {
    pub stream: UnixStream,
    pub metadata: Option<String>,
    /// The container's state (`id`, `bundle`, `annotations`...), set by
    /// `container::create`; the pid is added when the fd arrives.
    pub state: serde_json::Value,
}

static COMPILER: OnceLock<Compiler> = OnceLock::new();

/// Chooses the compiler for this process (`--seccomp-compiler`, set once
/// by the CLI before any container work; the default is native).
pub fn use_compiler(c: Compiler) {
    let _ = COMPILER.set(c);
}

pub fn compiler() -> Compiler {
    COMPILER.get().copied().unwrap_or_default()
}

fn cache_disabled(spec: &Spec) -> bool {
    spec.annotations()
        .as_ref()
        .and_then(|a| a.get(NO_CACHE_ANNOTATION))
        .is_some_and(|v| v == "true" || v == "1")
}

/// The program for `profile` (cache, brisk's compiler or libseccomp),
/// plus a debug line that says which, and a warning when the cache is
/// out of space (the container runs with the compiled program: the cache
/// is only an optimisation).
pub fn plan(
    profile: &Profile,
    spec: &Spec,
    cache_dir: Option<&Path>,
    no_new_privs: bool,
) -> Result<(SeccompPlan, String, Option<String>)> {
    let cache = if cache_disabled(spec) {
        None
    } else {
        Some(Cache::new(cache_dir.map_or_else(
            || PathBuf::from(cache::DEFAULT_DIR),
            Path::to_path_buf,
        )))
    };
    let program = cache::program(profile, cache.as_ref(), compiler())?;
    let mut note = format!(
        "seccomp: {} ({} instructions, key {})",
        program.source,
        program.bpf.len() / 8,
        cache::hex(&program.key)
    );
    let warning = program.no_space.then(|| {
        format!(
            "seccomp cache: the compiled filter was not stored ({}); the container runs without it cached",
            match &program.source {
                cache::Source::Compiled { stored: Err(e), .. } => e.as_str(),
                _ => "no space",
            }
        )
    });
    if !program.skipped.is_empty() {
        note.push_str(&format!(
            "; syscalls unknown to libseccomp {} skipped: {}",
            brisk_seccomp::LIBSECCOMP_VERSION,
            program.skipped.join(" ")
        ));
    }
    let listener = match &profile.listener_path {
        Some(path) if profile.notifies() => {
            let stream = crate::bounds::connect_unix(path)
                .map_err(|e| Error::path("linux.seccomp.listenerPath: connect", path, e))?;
            Some(Listener {
                stream,
                metadata: profile.listener_metadata.clone(),
                state: serde_json::Value::Null,
            })
        }
        _ => None,
    };
    Ok((
        SeccompPlan {
            bpf: program.bpf,
            flags: profile.flags,
            before_identity: !no_new_privs,
            listener,
        },
        note,
        warning,
    ))
}

/// The program of a `linux.seccomp` section left unparsed by
/// `config::load`, by its exact bytes `json`: from the cache's section
/// entry when there is one (no parse, no canonical form: the bytes were
/// checked and compiled when the entry was written), else from `reparse`
/// and `plan`, after which the section entry is written for next time
/// (profiles without a listener only: the entry carries the program and
/// the flags, nothing else). None: the section is `null` after all.
pub fn plan_section(
    json: &[u8],
    reparse: impl FnOnce() -> Result<Option<Profile>>,
    spec: &Spec,
    cache_dir: Option<&Path>,
    no_new_privs: bool,
) -> Result<Option<(SeccompPlan, String, Option<String>)>> {
    let cache = (!cache_disabled(spec)).then(|| {
        Cache::new(cache_dir.map_or_else(|| PathBuf::from(cache::DEFAULT_DIR), Path::to_path_buf))
    });
    let key = cache.as_ref().map(|_| cache::section_key(json, compiler()));
    if let (Some(cache), Some(key)) = (&cache, &key) {
        if let Some((bpf, flags)) = cache.lookup_section(key) {
            let note = format!(
                "seccomp: cache hit: read {} (entry of the section's bytes, {} instructions)",
                cache.path_of(key).display(),
                bpf.len() / 8
            );
            let plan = SeccompPlan {
                bpf,
                flags,
                before_identity: !no_new_privs,
                listener: None,
            };
            return Ok(Some((plan, note, None)));
        }
    }
    let Some(profile) = reparse()? else {
        return Ok(None);
    };
    let (plan, mut note, warning) = plan(&profile, spec, cache_dir, no_new_privs)?;
    if let (Some(cache), Some(key)) = (&cache, &key) {
        if profile.listener_path.is_none()
            && !profile.notifies()
            && profile.flags & !cache::SECTION_FLAGS == 0
            && warning.is_none()
        {
            match cache.store_with_flags(key, &plan.bpf, profile.flags) {
                Ok(p) => note.push_str(&format!("; section entry stored in {}", p.display())),
                Err(e) => note.push_str(&format!("; section entry not stored: {e}")),
            }
        }
    }
    Ok(Some((plan, note, warning)))
}

impl Listener {
    /// Records the container's state for the agent (config-linux.md, "The
    /// Container Process State").
    pub fn set_container(
        &mut self,
        oci_version: &str,
        id: &str,
        bundle: &Path,
        annotations: &BTreeMap<String, String>,
    ) {
        let mut state = serde_json::json!({
            "ociVersion": oci_version,
            "id": id,
            "status": "creating",
            "bundle": bundle,
        });
        if !annotations.is_empty() {
            state["annotations"] = serde_json::json!(annotations);
        }
        self.state = state;
    }

    /// Sends the container process state and the listener fd to the agent
    /// in one message, then shuts the connection down.
    pub fn send(&self, pid: i32, seccomp_fd: BorrowedFd<'_>) -> io::Result<()> {
        let mut state = self.state.clone();
        state["pid"] = serde_json::json!(pid);
        let mut msg = serde_json::json!({
            "ociVersion": state["ociVersion"].clone(),
            "fds": ["seccompFd"],
            "pid": pid,
            "state": state,
        });
        if let Some(m) = &self.metadata {
            msg["metadata"] = serde_json::json!(m);
        }
        let bytes = msg.to_string().into_bytes();
        let sent =
            crate::sys::send_with_fd(self.stream.as_raw_fd(), &bytes, seccomp_fd.as_raw_fd())?;
        // A stream socket may take less in one go; the rest goes without fd.
        (&self.stream).write_all(&bytes[sent..])?;
        self.stream.shutdown(std::net::Shutdown::Both)
    }
}
