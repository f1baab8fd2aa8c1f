//! The one error type of the container library. Each variant says which
//! part of the input or which kernel operation failed, so the CLI can print
//! a message that names the field or the path.

use std::io;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid container id {id:?}: {reason}")]
    InvalidId { id: String, reason: &'static str },

    #[error("container \"{0}\" does not exist")]
    NotFound(String),

    #[error("container \"{0}\" already exists")]
    AlreadyExists(String),

    #[error("{path}: {err}")]
    ConfigParse {
        path: PathBuf,
        err: serde_json::Error,
    },

    #[error("config: {field}: {reason}")]
    InvalidConfig { field: String, reason: String },

    // The io::Error is in the message, not a `source`: the CLI prints the
    // whole chain, which would say it twice.
    #[error("{context}: {path}: {err}")]
    Path {
        context: &'static str,
        path: PathBuf,
        err: io::Error,
    },

    #[error("{context}: {err}")]
    Sys { context: String, err: io::Error },

    /// An error that happened inside the container's init process before
    /// `execve`, reported back over the sync socket.
    #[error("container init: {0}")]
    Child(String),

    #[error("{0}")]
    State(String),

    #[error("unknown signal {0:?}")]
    UnknownSignal(String),

    #[error("{0} is not supported yet")]
    Unsupported(String),

    #[error("error running hook {hook}: {reason}")]
    Hook { hook: String, reason: String },

    #[error(transparent)]
    Seccomp(#[from] brisk_seccomp::Error),

    #[error(transparent)]
    Cgroup(#[from] brisk_cgroups::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidConfig {
            field: field.into(),
            reason: reason.into(),
        }
    }

    pub fn sys(context: impl Into<String>, source: impl Into<io::Error>) -> Self {
        Error::Sys {
            context: context.into(),
            err: source.into(),
        }
    }

    pub fn path(
        context: &'static str,
        path: impl Into<PathBuf>,
        source: impl Into<io::Error>,
    ) -> Self {
        Error::Path {
            context,
            path: path.into(),
            err: source.into(),
        }
    }
}
