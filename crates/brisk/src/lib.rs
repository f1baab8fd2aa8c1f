//! The pure part of brisk's command line, as a library: clap's definitions,
//! the hand parser of the hot command lines (`cli_fast`) and what the
//! commands make of the flags. The binary (main.rs) uses it;
//! so do the fuzz target `cli` and its replay test (tests/fuzz_replay.rs).
//! Also the binary's heap (`heap`), kept here so its tests run.

pub mod args;
pub mod cli;
pub mod cli_fast;
pub mod heap;
