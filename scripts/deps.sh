#!/usr/bin/env bash
# Installs the Debian packages brisk's demo and tests need, if missing.
# Runs apt-get update only when something has to be installed.
# The CRI tests (crates/brisk/tests/cri.rs) need containerd's CNI plugins
# (/usr/lib/cni), catatonit (the pods' pause process) and protoc (the
# k8s-cri crate generates its gRPC bindings at build time).
set -euo pipefail

packages=(python3 busybox-static jq util-linux bsdutils procps iproute2 gcc libc6-dev pkg-config file
          libseccomp-dev podman containerd runc docker.io crun uidmap
          containernetworking-plugins catatonit protobuf-compiler)
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
