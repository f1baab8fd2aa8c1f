#!/usr/bin/env bash
# The systemd cgroup driver's start-up cost (issue #21), side by side with
# crun (the anchor) and runc, each with --systemd-cgroup, inside a real
# systemd that the test binary boots in a brisk container (this host's PID 1
# is not systemd): tests/systemd.rs, test `bench_systemd`. Prints a table of
# means and ratios to crun, with the cgroupfs driver for reference.
#
#   scripts/bench-systemd.sh [--runs N]
#
# BRISK_RELEASE_BIN: the brisk to measure (default: scripts/build-release.sh
# builds target/release/brisk, the shipped static binary). Runs as root.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=60
while [ $# -gt 0 ]; do
    case "$1" in
        --runs) runs=$2; shift 2 ;;
        *) echo "usage: $0 [--runs N]" >&2; exit 2 ;;
    esac
done
[ "$(id -u)" = 0 ] || { echo "bench-systemd: run as root" >&2; exit 1; }
scripts/deps.sh

brisk=${BRISK_RELEASE_BIN:-}
if [ -z "$brisk" ]; then
    scripts/build-release.sh >&2
    brisk=$PWD/target/release/brisk
fi
unset RUST_BACKTRACE
BRISK_SYSTEMD_BENCH_BRISK=$brisk BRISK_SYSTEMD_BENCH_RUNS=$runs \
    cargo test --locked -p brisk --test systemd -- --ignored --nocapture --exact bench_systemd
