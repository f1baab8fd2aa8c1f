#!/usr/bin/env bash
# Builds the release brisk as one static executable and puts it at
# target/release/brisk.
#
# Static, because the dynamic loader is paid on every container start:
# measured here (hyperfine, 300 runs of `brisk state x`) 1.5 ms dynamic vs
# 1.1 ms static with glibc.
#
# musl (x86_64-unknown-linux-musl) rather than glibc: a static glibc
# program runs glibc's CPU feature and cache detection before main, ~60
# CPUID instructions, and in a virtual machine each CPUID traps to the
# hypervisor (4 us each on this one): an empty static glibc C program
# costs 0.31 ms of CPU, an empty static musl Rust program 0.10 ms. brisk
# brings its own heap (crates/brisk/src/heap.rs), as musl's allocator
# would map and unmap pages for every size class. When the musl target
# cannot be installed (rustup offline), the glibc crt-static build is
# made instead, with a warning.
#
# Not position-independent (relocation-model=static): a static-pie binary
# relocates itself at every start, writing ~10k relocations over 46 pages
# of .data.rel.ro (callgrind: 134k instructions; /usr/bin/time: 238 -> 187
# page faults for a `run`, 118 -> 88 for `brisk state x`). The price is
# that the binary's own code and data are not randomised (the stack, heap
# and mmaps still are); see docs/SECURITY.md.
#
# libseccomp is linked statically from the distribution's libseccomp.a
# (built against glibc; the one glibc-only symbol it needs is provided in
# brisk-seccomp/src/ffi.rs). Extra arguments go to cargo build.
set -euo pipefail
cd "$(dirname "$0")/.."
arch=$(uname -m)
musl="$arch-unknown-linux-musl"
flags="-C relocation-model=static"
if rustup target list --installed 2>/dev/null | grep -qx "$musl" ||
    rustup target add "$musl" >&2; then
    triple=$musl
else
    triple=$(rustc -vV | sed -n 's/^host: //p')
    flags="$flags -C target-feature=+crt-static"
    echo "build-release: the $musl target is not available: building with glibc (crt-static), slower to start" >&2
fi
RUSTFLAGS="${RUSTFLAGS:-} $flags" cargo build --release --locked --target "$triple" -p brisk "$@"
mkdir -p target/release
cp "target/$triple/release/brisk" target/release/.brisk.static
mv target/release/.brisk.static target/release/brisk
echo "build-release: target/release/brisk ($triple: $(file -b target/release/brisk | cut -d, -f1,2,4))" >&2
