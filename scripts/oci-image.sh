#!/usr/bin/env bash
# Builds an OCI image archive (oci-layout, index.json, blobs) of one
# uncompressed layer from a root filesystem directory, for the containerd
# tests (`ctr images import`). No registry, no network.
#
#   oci-image.sh ROOTFS_DIR IMAGE_NAME OUT.tar [ENTRYPOINT_JSON]
#
# ENTRYPOINT_JSON (e.g. '["/catatonit","-P"]') is the image's Entrypoint,
# for an image that runs without a command given (a pod's pause image);
# without it the image runs `sh`.
set -euo pipefail
rootfs=${1:?rootfs directory} name=${2:?image name} out=${3:?output archive}
entrypoint=${4:-}
if [ -n "$entrypoint" ]; then
    process="\"Entrypoint\":$entrypoint"
else
    process='"Cmd":["sh"]'
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/blobs/sha256"

# Stores stdin as a blob; prints "digest size".
blob() {
    local tmp=$work/blob.tmp dig size
    cat > "$tmp"
    dig=$(sha256sum "$tmp" | cut -d' ' -f1)
    size=$(stat -c %s "$tmp")
    mv "$tmp" "$work/blobs/sha256/$dig"
    echo "$dig $size"
}

arch=$(dpkg --print-architecture 2>/dev/null || echo amd64)
read -r ldig lsize <<< "$(tar -C "$rootfs" --numeric-owner -cf - . | blob)"
read -r cdig csize <<< "$(printf '{"architecture":"%s","os":"linux","config":{"Env":["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],%s},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
    "$arch" "$process" "$ldig" | blob)"
read -r mdig msize <<< "$(printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' \
    "$cdig" "$csize" "$ldig" "$lsize" | blob)"
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"latest"}}]}' \
    "$mdig" "$msize" "$name" > "$work/index.json"
echo '{"imageLayoutVersion":"1.0.0"}' > "$work/oci-layout"
tar -C "$work" -cf "$out" oci-layout index.json blobs
