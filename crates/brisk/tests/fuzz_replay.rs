//! Replays the checked-in inputs of the fuzz target `cli` (its seeds and
//! every crash it found, fixed since) through the same property, on
//! stable, so CI catches a command-line panic coming back. The fuzzing
//! itself: `cargo +nightly fuzz run cli ...` (docs/SECURITY.md).

#[path = "../fuzz/property/cli.rs"]
mod property;

use property::Reached;

fn inputs(dir: &str) -> Vec<(String, Vec<u8>)> {
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

#[test]
fn cli_seeds_parse_as_their_names_say() {
    let seeds = inputs("fuzz/seeds/cli");
    assert!(seeds.len() >= 10, "seed corpus went missing: {seeds:?}");
    for (name, data) in &seeds {
        let reached = property::check(data);
        eprintln!("{name}: {reached:?}");
        let base = name.rsplit('/').next().unwrap_or_default();
        match &reached {
            Reached::Accepted => assert!(base.starts_with("ok-"), "{name}: {reached:?}"),
            Reached::Invalid(_) => assert!(base.starts_with("invalid-"), "{name}: {reached:?}"),
            Reached::Usage(_) => assert!(base.starts_with("usage-"), "{name}: {reached:?}"),
        }
    }
}

#[test]
fn cli_crash_regressions_do_not_panic() {
    for (name, data) in inputs("fuzz/regressions/cli") {
        eprintln!("{name}: {:?}", property::check(&data));
    }
}
