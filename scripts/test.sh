#!/usr/bin/env bash
# Runs every test of brisk: unit tests of the pure parts and integration
# tests that run real containers with the built binary (as root). Each
# test binary is bounded (BRISK_TEST_BINARY_TIMEOUT, scripts/test-bound.py);
# the closing line is `N passed, M failed, K skipped`.
set -euo pipefail
cd "$(dirname "$0")/.."

[ "$(id -u)" = 0 ] || { echo "test: run as root (the integration tests run containers)" >&2; exit 1; }
scripts/deps.sh
cargo build --locked --all-targets
# The binary that ships is the static musl release build (build-release.sh),
# not the debug one most tests run: the attacks on the runtime's own binary
# (tests/runtime_binary.rs) run against a copy of it, and the conformance
# groups that touch libc's and the allocator's work most run again with it.
scripts/build-release.sh
export BRISK_RELEASE_BIN="$PWD/target/release/brisk"
# Every test binary runs under a bound (scripts/test-bound.py as cargo's
# runner for the host target): a hung test fails, the run goes on.
host=$(rustc -vV | sed -n 's/^host: //p')
runner_var="CARGO_TARGET_$(echo "$host" | tr 'a-z-' 'A-Z_')_RUNNER"
export "$runner_var=$PWD/scripts/test-bound.py"
# A test that cannot run here says so (common::skip, and the conformance
# runner's "not applicable"): one line each in this file.
skips=$(mktemp)
export BRISK_SKIP_LOG="$skips"
log=$(mktemp)
status=0
cargo test --locked --workspace --no-fail-fast 2>&1 | tee "$log" || status=$?
CONFORMANCE_GATE=1 RUNTIME="$PWD/target/release/brisk" cargo test --locked -p brisk --test conformance -- \
    lifecycle operations process seccomp masked_readonly user hooks namespaces 2>&1 | tee -a "$log" || status=$?
# arm64 (issue 22), cross-built and emulated on this x86_64 machine: the
# static release binary, and under qemu-user (scripts/qemu-aarch64.sh, in
# the same bound) the unit tests and the seccomp equivalence proof with
# aarch64 as the native architecture. What needs the real kernel
# (containers, namespaces, cgroups, seccomp(2)) is not run for arm64: see
# the README.
if [ "$(uname -m)" != x86_64 ]; then
    echo "test: not an x86_64 machine: the arm64 cross-build and qemu runs are skipped (the suite above ran natively)" >&2
    echo "n/a arm64-cross: this machine is $(uname -m), the suite above ran natively" >>"$skips"
else
    # One test result each: the file is the arm64 executable it should be,
    # and it starts (under qemu) far enough to print its version.
    arm64_binary() { # PATH, file(1) pattern, what it should be
        local what version
        what=$(file -b "$1")
        version=$(timeout 60 scripts/qemu-aarch64.sh "$1" --version 2>&1 | head -n 1) || true
        if echo "$what" | grep -q "$2" && [ "${version%% *}" = brisk ]; then
            echo "test result: ok. 1 passed; 0 failed; $1: $(echo "$what" | cut -d, -f1,2,4); '$version' under qemu" | tee -a "$log"
        else
            echo "test result: FAILED. 0 passed; 1 failed; $1 is not $3 that starts: $what; under qemu: '$version'" | tee -a "$log"
            status=1
        fi
    }
    rm -f target/release/brisk-aarch64
    scripts/build-release.sh --target aarch64
    arm64_binary target/release/brisk-aarch64 'ARM aarch64.*statically linked' "a static arm64 executable"
    # The glibc build, which a distribution would package: it builds and
    # starts (its test binaries hang under this qemu: see .cargo/config.toml).
    rm -f target/aarch64-unknown-linux-gnu/release/brisk
    cargo build --locked --release --target aarch64-unknown-linux-gnu -p brisk 2>&1 | tee -a "$log" || status=$?
    arm64_binary target/aarch64-unknown-linux-gnu/release/brisk 'ARM aarch64.*dynamically linked' "a glibc arm64 executable"
    # Every test and bench of the workspace compiles for arm64 (glibc, as a
    # native arm64 run of this script would build them): one test result.
    # Those that assume x86_64 at run time skip there, saying so
    # (brisk_test_support::x86_64_only).
    if cargo build --locked --target aarch64-unknown-linux-gnu --workspace --tests --benches 2>&1 | tee -a "$log"; then
        echo "test result: ok. 1 passed; 0 failed; every test and bench compiles for aarch64-unknown-linux-gnu" | tee -a "$log"
    else
        echo "test result: FAILED. 0 passed; 1 failed; the tests or benches do not compile for aarch64-unknown-linux-gnu" | tee -a "$log"
        status=1
    fi
    export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_RUNNER="$PWD/scripts/test-bound.py $PWD/scripts/qemu-aarch64.sh"
    BRISK_EQUIV_PROFILES=1000 cargo test --locked --target aarch64-unknown-linux-musl --no-fail-fast \
        -p brisk-seccomp 2>&1 | tee -a "$log" || status=$?
    cargo test --locked --target aarch64-unknown-linux-musl --no-fail-fast \
        -p brisk-cgroups -p brisk-container -p brisk --lib --bins 2>&1 | tee -a "$log" || status=$?
fi
# One line that sums up every test binary of the run, last. libtest counts
# a skipped test as passed; the conformance runner's "n/a" lines are not in
# its passed count.
lib_skips=$(grep -vc '^n/a ' "$skips" || true)
all_skips=$(grep -c . "$skips" || true)
echo "skipped:"
sed 's/^/    /' "$skips"
awk -v ls="$lib_skips" -v as="$all_skips" \
    '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed/) p += $(i-1); if ($i ~ /^failed/) f += $(i-1) } }
     END { printf "%d passed, %d failed, %d skipped\n", p - ls, f, as }' "$log"
rm -f "$log" "$skips"
exit "$status"
