#!/usr/bin/env bash
# Runs the conformance suite against brisk (and runc when installed) and
# regenerates docs/CONFORMANCE.md from the tests' annotations and results.
set -euo pipefail
cd "$(dirname "$0")/.."

[ "$(id -u)" = 0 ] || { echo "conformance: run as root" >&2; exit 1; }
scripts/deps.sh
mkdir -p target/conformance
status=0
cargo test --locked -p brisk --test conformance -- --json "$PWD/target/conformance/brisk.json" || status=$?
inputs=(target/conformance/brisk.json)
if command -v runc >/dev/null; then
    RUNTIME=runc cargo test --locked -p brisk --test conformance -- --json "$PWD/target/conformance/runc.json" || true
    inputs+=(target/conformance/runc.json)
fi
python3 conformance/report.py "${inputs[@]}" > docs/CONFORMANCE.md
echo "wrote docs/CONFORMANCE.md"
exit "$status"
