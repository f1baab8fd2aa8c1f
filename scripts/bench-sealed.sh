#!/usr/bin/env bash
# What brisk's defence of its own binary costs (issue 16, item 1; see
# crates/brisk-container/src/process/sealed_exe.rs): `run` of the
# no-seccomp bundle by the shipped release binary installed as usual (a
# writable file: brisk executes itself once more from a read-only bind of
# itself) and installed on a read-only bind mount (no re-execution), next
# to the floor and crun, in R rounds of N runs whose order rotates, ratios
# taken within each round; then `exec` and `state` on a running container
# (../shared/bench/exec-state.sh) for the same three runtimes.
#
#   scripts/bench-sealed.sh [--rounds R] [--runs N]   (root; hyperfine, jq, crun)
# Prints markdown. Uses target/release/brisk (scripts/build-release.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
bench=$(cd ../shared/bench && pwd)
rounds=6
runs=60
while [ $# -gt 0 ]; do
    case $1 in
    --rounds) rounds=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    *) echo "usage: $0 [--rounds R] [--runs N]" >&2; exit 2 ;;
    esac
done
[ "$(id -u)" = 0 ] || { echo "bench-sealed: run as root" >&2; exit 1; }
# As startup.sh: a private mount namespace with cgroup2 on /sys/fs/cgroup
# (crun refuses this host's hybrid layout); the read-only bind lives there.
if [ -z "${BENCH_SEALED_INNER:-}" ]; then
    exec env -u RUST_BACKTRACE BENCH_SEALED_INNER=1 unshare -m --propagation private "$0" \
        --rounds "$rounds" --runs "$runs"
fi
[ -e /sys/fs/cgroup/cgroup.controllers ] || mount -t cgroup2 none /sys/fs/cgroup
work=$(mktemp -d /tmp/bench-sealed.XXXXXX)
trap 'umount "$work/ro/brisk" 2>/dev/null; rm -rf "$work"' EXIT
mkdir -p "$work/rw" "$work/ro"
cp "$repo/target/release/brisk" "$work/rw/brisk"
cp "$repo/target/release/brisk" "$work/ro/brisk"
mount --bind "$work/ro/brisk" "$work/ro/brisk"
mount -o remount,bind,ro "$work/ro/brisk"
"$bench/make-bundle.sh" "$work/none" --seccomp none --resources none >/dev/null

names=("floor" "brisk" "brisk, read-only install" "crun")
cmds=("$bench/floor run --bundle $work/none f"
      "$work/rw/brisk --root $work/root-rw run -b $work/none b"
      "$work/ro/brisk --root $work/root-ro run -b $work/none b"
      "crun --root $work/root-crun run --bundle $work/none c")
for r in $(seq 0 $((rounds - 1))); do
    args=()
    for k in 0 1 2 3; do
        i=$(((k + r) % 4))
        args+=(-n "${names[$i]}" "${cmds[$i]}")
    done
    hyperfine -N --style none --warmup 10 --runs "$runs" --export-json "$work/r$r.json" "${args[@]}" >/dev/null
done
echo "\`run\` of the no-seccomp bundle; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
jq -rs --arg runs "$runs" '
    [ .[] | .results | map({ (.command): .mean }) | add ] as $rs
    | def avg(f): ([ $rs[] | f ] | add / length);
      def lo(f): ([ $rs[] | f ] | min);
      def hi(f): ([ $rs[] | f ] | max);
      def r2(x): (x * 100 | round / 100);
      def ms(x): (x * 100000 | round / 100);
      def row(name; f): "| \(name) | \(r2(avg(f))) | \(r2(lo(f))) | \(r2(hi(f))) |";
    "| per-round ratio (\($rs | length) rounds of \($runs) runs) | mean | min | max |",
    "|---|---:|---:|---:|",
    row("brisk / floor"; .["brisk"] / .["floor"]),
    row("brisk, read-only install / floor"; .["brisk, read-only install"] / .["floor"]),
    row("brisk / brisk, read-only install (the re-execution)"; .["brisk"] / .["brisk, read-only install"]),
    row("brisk / crun"; .["brisk"] / .["crun"]),
    row("brisk, read-only install / crun"; .["brisk, read-only install"] / .["crun"]),
    "",
    "| mean of the rounds [ms] | floor | brisk | brisk, read-only install | crun |",
    "|---|---:|---:|---:|---:|",
    "| run | \(ms(avg(.["floor"]))) | \(ms(avg(.["brisk"]))) | \(ms(avg(.["brisk, read-only install"]))) | \(ms(avg(.["crun"]))) |"
' "$work"/r*.json
echo
RUNS=$runs "$bench/exec-state.sh" "$work/es" brisk="$work/rw/brisk" \
    brisk_ro="$work/ro/brisk" crun=crun >/dev/null 2>&1 || true
for what in exec state; do
    [ -f "$work/es/$what.json" ] || { echo "($what: exec-state.sh failed)"; continue; }
    jq -r --arg what "$what" '
        (.results | map({ (.command): .mean }) | add) as $m
        | "| `\($what)` mean [ms] | " + ([.results[] | "\(.command) \(.mean * 100000 | round / 100)"] | join(" | ")) + " |",
          "| ratio to crun | " + ([.results[] | "\(.command) \((.mean / $m["crun"]) * 100 | round / 100)"] | join(" | ")) + " |"
    ' "$work/es/$what.json"
done
