//! config.json bytes through everything `create` does to them before its
//! first syscall with side effects: parse, validate, the raw-JSON checks,
//! the seccomp profile's canonical form, and the pure parts of the init's
//! plan. Property: no panic; bad input is an `Err` that renders.
//! `cargo +nightly fuzz run config fuzz/corpus/config fuzz/seeds/config
//! -- -dict=fuzz/config.dict` from crates/brisk-container. A crash found
//! goes to fuzz/regressions/config/, which `tests/fuzz_replay.rs` replays
//! on stable.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../property/config.rs"]
mod property;

fuzz_target!(|data: &[u8]| {
    property::check(data);
});
