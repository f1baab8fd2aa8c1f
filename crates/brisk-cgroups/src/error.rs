//! The errors of the cgroup drivers. A config problem names its field
//! (`linux.resources.cpu.burst`), a kernel problem the file it touched.

use std::io;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad input, found before anything is created.
    #[error("config: {field}: {reason}")]
    InvalidConfig { field: String, reason: String },

    /// Writing a resource value failed (an impossible value, a missing file).
    #[error("{field}: write {value:?} to {path}: {err}")]
    Write {
        field: String,
        path: PathBuf,
        value: String,
        err: io::Error,
    },

    #[error("{context}: {path}: {err}")]
    Path {
        context: &'static str,
        path: PathBuf,
        err: io::Error,
    },

    #[error("{0}")]
    Unsupported(String),

    /// A freezer transition that did not complete within its bound.
    #[error("{0}")]
    Timeout(String),

    /// A cgroup recorded in a container's state that is not (only) that
    /// container's cgroup: nothing was done to it.
    #[error("refusing to act on the recorded cgroup {what}: {reason}")]
    Refused { what: String, reason: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidConfig {
            field: field.into(),
            reason: reason.into(),
        }
    }

    pub fn path(context: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Path {
            context,
            path: path.into(),
            err: source,
        }
    }
}
