//! Random profiles from the fuzzer's bytes (the generator of
//! `tests/equivalence.rs`, fed by the input), compiled natively and by
//! libseccomp, both programs run through the interpreter on every syscall
//! number and the boundary arguments: any difference in action or errno,
//! or a profile native accepts and libseccomp refuses, panics.
//! `cargo +nightly fuzz run profiles` from crates/brisk-seccomp.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/equiv/mod.rs"]
mod equiv;

fuzz_target!(|data: &[u8]| {
    let mut rng = equiv::Rng::from_bytes(data);
    let v = equiv::generated(&mut rng);
    let Ok(s) = serde_json::from_value::<oci_spec::runtime::LinuxSeccomp>(v.clone()) else {
        return;
    };
    if brisk_seccomp::Profile::from_oci(&s).is_err() {
        return;
    }
    let mut stats = equiv::Stats::default();
    equiv::compare(&v, &mut rng, "fuzz", &mut stats);
});
