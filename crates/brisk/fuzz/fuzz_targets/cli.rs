//! A command line (arguments separated by NUL bytes; after two NULs, what
//! `update -r -` reads) through clap's parse and what the commands make of
//! the flags before touching anything. Property: no panic; bad input is an
//! `Err` that renders. `cargo +nightly fuzz run cli fuzz/corpus/cli
//! fuzz/seeds/cli -- -dict=fuzz/cli.dict` from crates/brisk. A crash found
//! goes to fuzz/regressions/cli/, which `tests/fuzz_replay.rs` replays on
//! stable.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../property/cli.rs"]
mod property;

fuzz_target!(|data: &[u8]| {
    property::check(data);
});
