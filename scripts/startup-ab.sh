#!/usr/bin/env bash
# Ratios of the start-up targets that sit within this machine's noise,
# measured in alternating rounds rather than once.
#
# startup.sh times each command's runs one after the other, case after
# case; on a shared 2-core VM the means drift by ~10 % between commands
# and cases (floor, doing the same work in its default and cached cases,
# differed by 9 % in one run), so a 5 % target is decided by luck. Here
# four commands run in R rounds of N runs each, in an order that rotates
# every round (so a command does not always follow the same one: the
# kernel finishes tearing down a runtime's namespaces after it exits), and
# the ratios are taken within each round, then averaged:
#   floor, none      ../shared/bench/floor on the no-seccomp bundle
#   brisk, none      brisk run on the same bundle
#   brisk, cached    brisk run on podman's default profile, cache warm
#   floor, brisk BPF floor on that bundle, loading brisk's compiled program
#                    (the cache entry's body) instead of libseccomp's
# floor does only the kernel work, so "floor, brisk BPF / floor, none" is
# what the kernel charges for attaching brisk's filter and running under
# it: the floor of brisk's cached / none on this machine.
#
#   scripts/startup-ab.sh [--rounds R] [--runs N]     (root; hyperfine, jq)
# Prints a markdown table. Uses target/release/brisk (scripts/build-release.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
bench=$(cd ../shared/bench && pwd)
rounds=10
runs=60
while [ $# -gt 0 ]; do
    case $1 in
    --rounds) rounds=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    *) echo "usage: $0 [--rounds R] [--runs N]" >&2; exit 2 ;;
    esac
done
[ "$(id -u)" = 0 ] || { echo "startup-ab: run as root" >&2; exit 1; }
# Like startup.sh: a private mount namespace with cgroup2 on /sys/fs/cgroup.
if [ -z "${STARTUP_AB_INNER:-}" ]; then
    exec env -u RUST_BACKTRACE STARTUP_AB_INNER=1 unshare -m --propagation private "$0" \
        --rounds "$rounds" --runs "$runs"
fi
[ -e /sys/fs/cgroup/cgroup.controllers ] || mount -t cgroup2 none /sys/fs/cgroup
brisk=$repo/target/release/brisk
work=$(mktemp -d /tmp/startup-ab.XXXXXX)
trap 'rm -rf "$work"' EXIT
"$bench/make-bundle.sh" "$work/none" --seccomp none --resources none >/dev/null
"$bench/make-bundle.sh" "$work/cached" --resources none >/dev/null 2>&1
entry=$("$brisk" seccomp compile "$work/cached/config.json" |
    sed -n 's/.*stored in \(.*\))$/\1/p; s/.*cache hit: read \(.*\))$/\1/p')
[ -f "$entry" ] || { echo "startup-ab: no cache entry for the profile" >&2; exit 1; }
# Entry: an 80-byte header, then the program.
tail -c +81 "$entry" >"$work/cached/floor.bpf"
"$brisk" run -b "$work/cached" warm >/dev/null # the section's own entry

names=("floor, none" "brisk, none" "brisk, cached" "floor, brisk BPF")
cmds=("$bench/floor run --bundle $work/none f1"
      "$brisk run -b $work/none b1"
      "$brisk run -b $work/cached b2"
      "$bench/floor run --bundle $work/cached f2")
for r in $(seq 0 $((rounds - 1))); do
    args=()
    for k in 0 1 2 3; do
        i=$(((k + r) % 4))
        args+=(-n "${names[$i]}" "${cmds[$i]}")
    done
    hyperfine -N --style none --warmup 5 --runs "$runs" --export-json "$work/r$r.json" "${args[@]}" >/dev/null
done
jq -rs --arg runs "$runs" '
    [ .[] | .results | map({ (.command): .mean }) | add ] as $rs
    | def avg(f): ([ $rs[] | f ] | add / length);
      def lo(f): ([ $rs[] | f ] | min);
      def hi(f): ([ $rs[] | f ] | max);
      def r2(x): (x * 100 | round / 100);
      def row(name; f): "| \(name) | \(r2(avg(f))) | \(r2(lo(f))) | \(r2(hi(f))) |";
    "| per-round ratio (\($rs | length) rounds of \($runs) runs) | mean | min | max |",
    "|---|---:|---:|---:|",
    row("brisk, none / floor, none"; .["brisk, none"] / .["floor, none"]),
    row("brisk, cached / brisk, none"; .["brisk, cached"] / .["brisk, none"]),
    row("floor, brisk BPF / floor, none (the kernel'"'"'s price)"; .["floor, brisk BPF"] / .["floor, none"]),
    row("brisk, cached / floor, none"; .["brisk, cached"] / .["floor, none"]),
    "",
    "| command | mean of the round means [ms] |",
    "|---|---:|",
    ( ["floor, none", "brisk, none", "brisk, cached", "floor, brisk BPF"][] as $c
      | "| \($c) | \(r2(avg(.[$c]) * 1000)) |" )
' "$work"/r*.json
printf '\nbrisk'"'"'s program for the profile: %s instructions\n' "$(($(stat -c %s "$work/cached/floor.bpf") / 8))"
