//! libseccomp is bounded: a profile that makes it compute for minutes
//! (docs/PERFORMANCE.md: generated profile #2161 of seed 2, kept in
//! tests/data/libseccomp-slow.json; brisk's native compiler declines it)
//! fails within the bound with an error that says what to do, instead of
//! stalling create.

mod equiv;

use std::time::{Duration, Instant};

use brisk_seccomp::{compile, Compiler, Profile};
use oci_spec::runtime::LinuxSeccomp;

fn profile(json: &str) -> Profile {
    equiv::emulator_api_level();
    let s: LinuxSeccomp = serde_json::from_str(json).unwrap();
    Profile::from_oci(&s).unwrap()
}

#[test]
fn a_profile_libseccomp_does_not_finish_fails_within_the_bound() {
    let p = profile(include_str!("data/libseccomp-slow.json"));
    assert!(
        brisk_seccomp::native::compile(&p).is_err(),
        "the native compiler declines it, so libseccomp is the one asked"
    );
    let t = Instant::now();
    let e = compile::compile_within(&p, Duration::from_secs(1))
        .unwrap_err()
        .to_string();
    let took = t.elapsed();
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert!(
        e.contains("did not finish") && e.contains("BRISK_SECCOMP_TIMEOUT"),
        "{e}"
    );
}

#[test]
fn a_bounded_compile_gives_what_libseccomp_gives() {
    let p = profile(
        r#"{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [{"names": ["read", "write", "no_such_syscall"], "action": "SCMP_ACT_ALLOW"},
                         {"names": ["openat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
                          "args": [{"index": 2, "value": 1, "op": "SCMP_CMP_MASKED_EQ", "valueTwo": 1}]}]}"#,
    );
    let direct = compile::compile(&p).unwrap();
    let bounded = compile::compile_within(&p, Duration::from_secs(30)).unwrap();
    assert_eq!(direct.bpf, bounded.bpf);
    assert_eq!(direct.skipped, bounded.skipped);
    assert_eq!(bounded.skipped, ["no_such_syscall"]);
    let (c, by) = Compiler::Libseccomp.compile(&p).unwrap();
    assert_eq!(c.bpf, direct.bpf, "{by}");
    // A refusal comes back as libseccomp's error, not as a timeout.
    let bad: LinuxSeccomp = serde_json::from_str(
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}"#,
    )
    .unwrap();
    if let Ok(p) = Profile::from_oci(&bad) {
        let (d, b) = (
            compile::compile(&p),
            compile::compile_within(&p, Duration::from_secs(30)),
        );
        assert_eq!(d.is_ok(), b.is_ok(), "{:?} {:?}", d.err(), b.err());
    }
}
