#!/usr/bin/env bash
# Installs the Debian packages brisk's demo and tests need, if missing.
# Runs apt-get update only when something has to be installed.
# The CRI tests (crates/brisk/tests/cri.rs) need containerd's CNI plugins
# (/usr/lib/cni), catatonit (the pods' pause process) and protoc (the
# k8s-cri crate generates its gRPC bindings at build time). The systemd
# cgroup driver tests (crates/brisk/tests/systemd.rs) boot Debian's systemd
# in a container and start its dbus.service (dbus, with dbus-daemon); the
# benchmarks that run through test binaries (bench-systemd.sh) use hyperfine.
# arm64 (issue 22): Debian's cross gcc, arm64 libc and libseccomp
# (multiarch) to cross-build, qemu-user-static to run the arm64 tests, and
# rustup's aarch64 musl and gnu targets.
set -euo pipefail

cross=()
if [ "$(dpkg --print-architecture)" = amd64 ]; then
    dpkg --print-foreign-architectures | grep -qx arm64 || dpkg --add-architecture arm64
    cross=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross libseccomp-dev:arm64 qemu-user-static)
fi

packages=(python3 busybox-static jq util-linux bsdutils procps iproute2 gcc libc6-dev pkg-config file
          libseccomp-dev podman containerd runc docker.io crun uidmap
          containernetworking-plugins catatonit protobuf-compiler systemd dbus hyperfine "${cross[@]}")
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "deps: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
fi
command -v cargo >/dev/null || { echo "deps: cargo (Rust toolchain) is required" >&2; exit 1; }
if [ ${#cross[@]} -gt 0 ]; then
    for t in aarch64-unknown-linux-musl aarch64-unknown-linux-gnu; do
        rustup target list --installed 2>/dev/null | grep -qx "$t" || rustup target add "$t" >&2
    done
fi
