#!/bin/sh
# Regenerates data/syscalls.tsv from the libseccomp installed here (the one
# brisk links as its oracle): builds scripts/syscall-table.c against it and
# runs it. Run after upgrading libseccomp, then commit the table.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cc -O1 -o "$tmp/syscall-table" "$here/scripts/syscall-table.c" -lseccomp
"$tmp/syscall-table" > "$tmp/syscalls.tsv"
mv "$tmp/syscalls.tsv" "$here/data/syscalls.tsv"
wc -l "$here/data/syscalls.tsv"
