//! brisk's seccomp: an OCI `linux.seccomp` section becomes a validated,
//! canonical [`Profile`]; libseccomp compiles it to a classic BPF program
//! ([`compile`]); the program is cached under a key hashed from the
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

impl Error {
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }
}
