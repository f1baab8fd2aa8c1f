#!/usr/bin/env bash
# Builds brisk and runs a real container from a busybox bundle made here.
set -euo pipefail
cd "$(dirname "$0")/.."

[ "$(id -u)" = 0 ] || { echo "demo: run as root (containers need it)" >&2; exit 1; }
scripts/deps.sh
scripts/build-release.sh
bundle=demo/bundle
rm -rf "$bundle"
scripts/make-bundle.sh "$bundle"
exec target/release/brisk --root /run/brisk run --bundle "$bundle" "demo-$$"
