//! What brisk's tests share (the crates' unit tests and crates/brisk's
//! integration tests, as a dev-dependency): saying loudly that a test
//! cannot run here.

use std::io::Write;

/// Reports the running test as skipped, with the reason it cannot run
/// here: `SKIPPED name:
/// reason` on stderr, and a line in `$BRISK_SKIP_LOG` when set
/// (scripts/test.sh counts those lines: a skip is not a pass). Written to
/// stderr itself, not through `eprintln!`, which libtest would swallow
/// for a test that passes. The name is the test thread's (libtest names
/// it after the test). The test then returns: `return skip("...")`.
pub fn skip(reason: &str) {
    let current = std::thread::current();
    let test = current.name().unwrap_or("?");
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {reason}");
    if let Some(log) = std::env::var_os("BRISK_SKIP_LOG") {
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(log)
        {
            let _ = writeln!(f, "{test}: {reason}");
        }
    }
}

/// Whether the test runs under qemu-user, where it cannot: the aarch64
/// targets' cargo runner (scripts/qemu-aarch64.sh) sets
/// `BRISK_QEMU_USER`. There every system call goes to the build machine's
/// x86_64 kernel through qemu's translation, which lacks some (qemu 7.2:
/// openat2, open_tree, bpf), and namespaces, cgroups, mounts and seccomp
/// filters are the build machine's, not arm64's. When it does, the test is
/// reported skipped with `reason`: `if under_qemu("...") { return; }`.
pub fn under_qemu(reason: &str) -> bool {
    if std::env::var_os("BRISK_QEMU_USER").is_none() {
        return false;
    }
    skip(&format!("skipped under qemu-user: {reason}"));
    true
}

/// The reason of the tests that resolve paths with openat2(2) (brisk's
/// only way to, Linux 5.6 and later), which qemu-user 7.2 lacks.
pub const NO_OPENAT2: &str = "qemu-user 7.2 has no openat2(2)";

/// Whether the test, written for x86_64 (an x86_64 program, the x86_64
/// loader's path, x86_64 system call numbers), cannot run on this
/// machine's architecture. When it cannot, it is reported skipped with
/// `what` it assumes: `if x86_64_only("...") { return; }`. No arm64
/// machine has run the integration suites yet (README, "arm64").
pub fn x86_64_only(what: &str) -> bool {
    if cfg!(target_arch = "x86_64") {
        return false;
    }
    skip(&format!(
        "x86_64 only: {what}; this is {}",
        std::env::consts::ARCH
    ));
    true
}
