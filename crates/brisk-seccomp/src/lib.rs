//! brisk's seccomp: an OCI `linux.seccomp` section becomes a validated,
//! canonical [`Profile`]; brisk's own compiler ([`native`], checked
//! against libseccomp through [`interp`]) or libseccomp ([`compile`])
//! turns it into a classic BPF program; the program is cached under a key hashed from the
//! canonical form ([`cache`]), so that starting a container with a known
//! profile never calls into libseccomp; [`disasm`] prints a program with
//! syscall names; [`kernel`] loads it with seccomp(2) (allocation-free, for
//! the container init).

pub mod cache;
pub mod compile;
pub mod disasm;
mod ffi;
pub mod interp;
pub mod kernel;
pub mod native;
pub mod profile;

pub use cache::{Cache, Lookup};
pub use profile::{Profile, Rule};

use std::io;
use std::path::PathBuf;

/// The libseccomp this build is linked with (from its header at build time).
pub const LIBSECCOMP_VERSION: &str = env!("BRISK_LIBSECCOMP_VERSION");
/// "static" or "dynamic".
pub const LIBSECCOMP_LINK: &str = env!("BRISK_LIBSECCOMP_LINK");

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The profile breaks a rule of the spec; `field` is its JSON path.
    #[error("config: {field}: {reason}")]
    Invalid { field: String, reason: String },

    /// libseccomp refused something (`what` says which call and subject).
    #[error("libseccomp: {what}: {source}")]
    Compile { what: String, source: io::Error },

    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },

    #[error("{0}")]
    Other(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Which compiler turns a profile into BPF (`--seccomp-compiler`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compiler {
    /// brisk's own ([`native`]); a profile it declines goes to libseccomp.
    #[default]
    Native,
    /// libseccomp for every profile (the escape hatch).
    Libseccomp,
}

impl Compiler {
    pub fn name(self) -> &'static str {
        match self {
            Compiler::Native => "native",
            Compiler::Libseccomp => "libseccomp",
        }
    }

    /// Compiles `p`; the string says who did it (and why not natively).
    pub fn compile(self, p: &Profile) -> Result<(compile::Compiled, String)> {
        if self == Compiler::Native {
            match native::compile(p) {
                Ok(c) => return Ok((c, "compiled natively".into())),
                Err(d) => {
                    let c = compile::compile_within(p, compile::bound())?;
                    return Ok((
                        c,
                        format!("compiled with libseccomp (native declined: {d})"),
                    ));
                }
            }
        }
        Ok((
            compile::compile_within(p, compile::bound())?,
            "compiled with libseccomp".into(),
        ))
    }
}

impl std::str::FromStr for Compiler {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "native" => Ok(Compiler::Native),
            "libseccomp" => Ok(Compiler::Libseccomp),
            o => Err(format!(
                "unknown seccomp compiler {o:?}: expected native or libseccomp"
            )),
        }
    }
}

impl Error {
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }
}
