//! The one error type of the container library. Each variant says which
//! part of the input or which kernel operation failed, so the CLI can print
//! a message that names the field or the path.

use std::ffi::CStr;
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
    #[error("{context}: {}: {}", path.display(), OsText(err))]
    Path {
        context: &'static str,
        path: PathBuf,
        err: io::Error,
    },

    #[error("{context}: {}", OsText(err))]
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

    /// A wait that reached its bound (`bounds`): what was waited for, for
    /// how long, and what to do about it.
    #[error("{step}: timed out after {}: {hint}", crate::bounds::secs(*after))]
    Timeout {
        step: String,
        after: std::time::Duration,
        hint: String,
    },

    #[error("error running hook {hook}: {reason}")]
    Hook { hook: String, reason: String },

    #[error(transparent)]
    Seccomp(#[from] brisk_seccomp::Error),

    #[error(transparent)]
    Cgroup(#[from] brisk_cgroups::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A failed step in the init process, sent to the parent as text. It
/// borrows from the plan so that failing needs no allocation until the
/// message is written.
#[derive(Debug)]
pub struct Failure<'a> {
    pub step: &'static str,
    pub subject: Option<&'a CStr>,
    pub err: io::Error,
}

impl<'a> Failure<'a> {
    pub fn new(step: &'static str, err: io::Error) -> Self {
        Failure {
            step,
            subject: None,
            err,
        }
    }
    pub fn with(step: &'static str, subject: &'a CStr, err: io::Error) -> Self {
        Failure {
            step,
            subject: Some(subject),
            err,
        }
    }
}

impl std::fmt::Display for Failure<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.subject {
            Some(s) => write!(
                f,
                "{} {}: {}",
                self.step,
                s.to_string_lossy(),
                OsText(&self.err)
            ),
            None => write!(f, "{}: {}", self.step, OsText(&self.err)),
        }
    }
}

/// An `io::Error` worded as runc (Go) words a system error: the C
/// library's text with a lower-case first letter and without Rust's
/// "(os error N)". Clients match these words: dockerd makes a start that
/// fails with "no such file or directory" exit 127 and one with
/// "permission denied" exit 126, as kubelet reports them.
pub struct OsText<'a>(pub &'a io::Error);

impl std::fmt::Display for OsText<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Some(code) = self.0.raw_os_error() else {
            return write!(f, "{}", self.0);
        };
        let mut buf = [0u8; 128];
        // SAFETY: a valid buffer of the given length; the XSI strerror_r
        // (which the libc crate binds) NUL-terminates it on success.
        let r = unsafe { libc::strerror_r(code, buf.as_mut_ptr().cast(), buf.len()) };
        let text = std::ffi::CStr::from_bytes_until_nul(&buf)
            .ok()
            .and_then(|c| c.to_str().ok())
            .filter(|t| r == 0 && !t.is_empty());
        let Some(text) = text else {
            return write!(f, "errno {code}");
        };
        let mut chars = text.chars();
        if let Some(first) = chars.next() {
            write!(f, "{}{}", first.to_lowercase(), chars.as_str())?;
        }
        Ok(())
    }
}

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

    pub fn timeout(
        step: impl Into<String>,
        after: std::time::Duration,
        hint: impl Into<String>,
    ) -> Self {
        Error::Timeout {
            step: step.into(),
            after,
            hint: hint.into(),
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

#[cfg(test)]
mod os_text_tests {
    use super::OsText;

    #[test]
    fn system_errors_read_as_runc_words_them() {
        let e = std::io::Error::from_raw_os_error(libc::ENOENT);
        assert_eq!(OsText(&e).to_string(), "no such file or directory");
        let e = std::io::Error::from_raw_os_error(libc::EACCES);
        assert_eq!(OsText(&e).to_string(), "permission denied");
        let e = std::io::Error::other("as it is");
        assert_eq!(OsText(&e).to_string(), "as it is");
    }
}
