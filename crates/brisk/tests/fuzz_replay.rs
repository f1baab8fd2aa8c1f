//! Replays the checked-in inputs of the fuzz target `cli` (its seeds and
//! every crash it found, fixed since) through the same property, on
//! stable, so CI catches a command-line panic coming back. The fuzzing
//! itself: `cargo +nightly fuzz run cli ...` (docs/SECURITY.md).

#[path = "../fuzz/property/cli.rs"]
mod property;

#[path = "../../brisk-container/tests/support/corpus.rs"]
mod corpus;

use corpus::inputs;
use property::Reached;

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

/// How many crash inputs `fuzz/regressions/cli` holds (each a bug fixed
/// since): the replay says how many it ran, so that a lost corpus fails
/// instead of passing over nothing (add one: raise this).
const CLI_REGRESSIONS: usize = 4;

#[test]
fn cli_crash_regressions_do_not_panic() {
    let all = inputs("fuzz/regressions/cli");
    for (name, data) in &all {
        eprintln!("{name}: {:?}", property::check(data));
    }
    assert_eq!(
        all.len(),
        CLI_REGRESSIONS,
        "inputs replayed from fuzz/regressions/cli"
    );
}
