#!/usr/bin/env bash
# Runs every test of brisk: unit tests of the pure parts and integration
# tests that run real containers with the built binary (as root).
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
log=$(mktemp)
status=0
cargo test --locked --workspace --no-fail-fast 2>&1 | tee "$log" || status=$?
# One line that sums up every test binary of the run.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed/) p += $(i-1); if ($i ~ /^failed/) f += $(i-1) } }
     END { printf "%d passed, %d failed\n", p, f }' "$log"
rm -f "$log"
CONFORMANCE_GATE=1 RUNTIME="$PWD/target/release/brisk" cargo test --locked -p brisk --test conformance -- \
    lifecycle operations process seccomp masked_readonly user hooks namespaces || status=$?
exit "$status"
