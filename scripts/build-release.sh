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
# brisk-seccomp/src/ffi.rs).
#
#   scripts/build-release.sh [--target ARCH] [cargo build arguments...]
#
# --target aarch64 (on an x86_64 machine) cross-builds the static musl
# binary for arm64 nodes into target/release/brisk-aarch64, with Debian's
# cross linker (gcc-aarch64-linux-gnu) and arm64 libseccomp
# (libseccomp-dev:arm64, multiarch), installed here when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
host_arch=$(uname -m)
arch=$host_arch
if [ "${1:-}" = "--target" ]; then
    arch=${2:?build-release: --target needs an architecture (aarch64)}
    shift 2
fi
musl="$arch-unknown-linux-musl"
flags="-C relocation-model=static"
out=target/release/brisk
if [ "$arch" != "$host_arch" ]; then
    # A cross build: musl only (a glibc crt-static fallback would need the
    # target's glibc), the target's gcc as linker, its libseccomp.a.
    out=target/release/brisk-$arch
    if ! command -v "$arch-linux-gnu-gcc" >/dev/null || [ ! -f "/usr/lib/$arch-linux-gnu/libseccomp.a" ]; then
        debarch=$(case "$arch" in aarch64) echo arm64 ;; *) echo "$arch" ;; esac)
        echo "build-release: installing the $arch cross linker and libseccomp-dev:$debarch" >&2
        dpkg --add-architecture "$debarch"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq "gcc-$arch-linux-gnu" "libc6-dev-$debarch-cross" "libseccomp-dev:$debarch" >/dev/null
    fi
    rustup target list --installed 2>/dev/null | grep -qx "$musl" || rustup target add "$musl" >&2
    triple=$musl
    linker_var="CARGO_TARGET_$(echo "$triple" | tr 'a-z-' 'A-Z_')_LINKER"
    export "$linker_var=$arch-linux-gnu-gcc"
elif rustup target list --installed 2>/dev/null | grep -qx "$musl" ||
    rustup target add "$musl" >&2; then
    triple=$musl
else
    triple=$(rustc -vV | sed -n 's/^host: //p')
    flags="$flags -C target-feature=+crt-static"
    echo "build-release: the $musl target is not available: building with glibc (crt-static), slower to start" >&2
fi
RUSTFLAGS="${RUSTFLAGS:-} $flags" cargo build --release --locked --target "$triple" -p brisk "$@"
mkdir -p target/release
cp "target/$triple/release/brisk" "$out.static-tmp"
mv "$out.static-tmp" "$out"
echo "build-release: $out ($triple: $(file -b "$out" | cut -d, -f1,2,4))" >&2
