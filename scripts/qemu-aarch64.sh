#!/bin/sh
# cargo's runner for aarch64 test binaries on an x86_64 machine
# (.cargo/config.toml): Debian's qemu-user-static with the arm64 glibc of
# libc6-dev-arm64-cross. BRISK_QEMU_USER tells a test it runs under
# qemu-user, where namespaces, cgroups and seccomp filters are the build
# machine's, not arm64's: such tests skip, saying so.
set -eu
export BRISK_QEMU_USER=1
exec qemu-aarch64-static -L /usr/aarch64-linux-gnu "$@"
