//! Replays the checked-in inputs of the fuzz target `config` (its seeds
//! and every crash it found, fixed since) through the same property, on
//! stable, so CI catches a parser panic coming back. The fuzzing itself:
//! `cargo +nightly fuzz run config ...` (docs/SECURITY.md).

#[path = "../fuzz/property/config.rs"]
mod property;

#[path = "support/corpus.rs"]
mod corpus;

use corpus::inputs;
use property::Reached;

#[test]
fn config_seeds_reach_the_plan_or_a_named_error() {
    let seeds = inputs("fuzz/seeds/config");
    assert!(seeds.len() >= 5, "seed corpus went missing: {seeds:?}");
    let mut planned = 0;
    for (name, data) in &seeds {
        let reached = property::check(data);
        eprintln!("{name}: {reached:?}");
        let field = if name.ends_with("device-without-numbers.json") {
            Some("linux.devices[0].major")
        } else if name.ends_with("device-rule-without-allow.json") {
            Some("linux.resources.devices[0].allow")
        } else {
            None
        };
        match (&reached, field) {
            (Reached::Planned, None) => planned += 1,
            (Reached::InvalidConfig(msg), Some(field)) => {
                assert!(msg.contains(field), "{name}: {msg}")
            }
            (other, _) => panic!("{name}: unexpected {other:?}"),
        }
    }
    // The valid seeds must get past validation, or the fuzzer (and this
    // replay) would only ever exercise the parser.
    assert!(planned >= 4, "only {planned} seeds were planned");
}

/// How many crash inputs `fuzz/regressions/config` holds: none has been
/// found yet. The replay says how many it ran, so that an empty corpus is
/// a known zero, not a pass over nothing (add one: raise this).
const CONFIG_REGRESSIONS: usize = 0;

#[test]
fn config_crash_regressions_do_not_panic() {
    let all = inputs("fuzz/regressions/config");
    for (name, data) in &all {
        eprintln!("{name}: {:?}", property::check(data));
    }
    assert_eq!(
        all.len(),
        CONFIG_REGRESSIONS,
        "inputs replayed from fuzz/regressions/config"
    );
}
