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
