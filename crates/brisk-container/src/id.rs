//! Container ids: they name a directory under the state root, so they must
//! be a single, harmless path component.

use crate::error::{Error, Result};

/// Longest id accepted: it must fit in one path component (NAME_MAX).
pub const MAX_ID_LEN: usize = 255;

/// Accepts what runc accepts (`[A-Za-z0-9_+.-]+`, not `.` or `..`), within
/// one path component's length.
pub fn validate(id: &str) -> Result<()> {
    let bad = |reason| Error::InvalidId {
        id: id.to_string(),
        reason,
    };
    if id.is_empty() {
        return Err(bad("empty"));
    }
    if id.len() > MAX_ID_LEN {
        return Err(bad("longer than 255 bytes"));
    }
    if id == "." || id == ".." {
        return Err(bad("must not be \".\" or \"..\""));
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'+' | b'-' | b'.'))
    {
        return Err(bad(
            "only letters, digits, '_', '+', '-' and '.' are allowed",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_usual_ids() {
        for id in ["a", "bench-crun", "libpod_0123", "x.y+z", &"a".repeat(255)] {
            assert!(validate(id).is_ok(), "{id}");
        }
    }

    #[test]
    fn rejects_bad_ids() {
        for id in [
            "",
            ".",
            "..",
            "a/b",
            "/",
            "../x",
            "a b",
            "a\nb",
            "a\0b",
            "é",
            &"a".repeat(256),
        ] {
            assert!(validate(id).is_err(), "{id:?}");
        }
    }
}
