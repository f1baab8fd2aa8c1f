//! The checked-in inputs of a fuzz target, for its replay test (shared by
//! brisk-container's and brisk's `tests/fuzz_replay.rs`).

/// Every file of `dir` (relative to the crate running the test) but its
/// README, with its path, sorted.
pub fn inputs(dir: &str) -> Vec<(String, Vec<u8>)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut out: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let path = e.expect("directory entry").path();
            let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (path.display().to_string(), data)
        })
        .filter(|(name, _)| !name.ends_with("README.md"))
        .collect();
    out.sort();
    out
}
