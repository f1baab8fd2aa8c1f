#!/usr/bin/env bash
# Builds the release brisk as one static executable (glibc crt-static) and
# puts it at target/release/brisk.
#
# Static, because the dynamic loader is paid on every container start:
# measured here (hyperfine, 300 runs of `brisk state x`) 1.5 ms dynamic vs
# 1.1 ms static. crt-static needs an explicit --target, or cargo would build
# the proc-macro crates static too (which cannot be); the binary is then
# copied to the usual place. Extra arguments go to cargo build.
#
# Not position-independent (relocation-model=static): a static-pie binary
# relocates itself at every start, writing ~10k relocations over 46 pages
# of .data.rel.ro (callgrind: 134k instructions; /usr/bin/time: 238 -> 187
# page faults for a `run`, 118 -> 88 for `brisk state x`). The price is
# that the binary's own code and data are not randomised (the stack, heap
# and mmaps still are); see docs/SECURITY.md.
set -euo pipefail
cd "$(dirname "$0")/.."
triple=$(rustc -vV | sed -n 's/^host: //p')
RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static -C relocation-model=static" \
    cargo build --release --locked --target "$triple" "$@"
mkdir -p target/release
cp "target/$triple/release/brisk" target/release/.brisk.static
mv target/release/.brisk.static target/release/brisk
echo "build-release: target/release/brisk ($(file -b target/release/brisk | cut -d, -f1-2))" >&2
