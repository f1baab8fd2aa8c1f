#!/usr/bin/env bash
# Regenerates docs/PERFORMANCE.md's start-up part from one run of the
# measurements (never edit those tables by hand):
#   1. ../shared/bench/startup.sh --case all: crun, runc, brisk and floor
#      side by side (hyperfine, RUNS runs each), then --micro;
#   2. brisk's --timings: the median of each phase over TIMING_RUNS runs;
#   3. peak RSS and user+system CPU per container (GNU time), crun vs brisk;
#   4. 100 containers started 10 at a time, crun vs brisk: failures and
#      throughput;
#   5. scripts/bench-pure.sh --quick: the pure steps (divan);
#   6. scripts/startup-ab.sh: the ratios within the machine's noise (brisk
#      none / floor, brisk cached / none, and the kernel's price for
#      brisk's filter: floor loading brisk's program) in alternating rounds.
# Steps 2-4 run like startup.sh: in a private mount namespace with cgroup2
# mounted over /sys/fs/cgroup (crun refuses this host's hybrid layout).
#
#   scripts/perf-report.sh [--runs N] [--out FILE]
# Needs root, hyperfine, crun, runc, jq, GNU time; builds the static release.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
bench=$(cd ../shared/bench && pwd)
runs=200
timing_runs=100
out=docs/PERFORMANCE.md
while [ $# -gt 0 ]; do
    case $1 in
    --runs) runs=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "usage: $0 [--runs N] [--out FILE]" >&2; exit 2 ;;
    esac
done
# The measurements themselves (inside the private mount namespace).
if [ "${PERF_REPORT_INNER:-}" = 1 ]; then
    brisk=$repo/target/release/brisk
    work=$(mktemp -d /tmp/perf-report.XXXXXX)
    trap 'rm -rf "$work"' EXIT
    mount -t cgroup2 none /sys/fs/cgroup
    "$bench/make-bundle.sh" "$work/none" --seccomp none --resources none >/dev/null
    # --- 2. --timings: median per phase -----------------------------------
    for i in $(seq "$timing_runs"); do
        BRISK_TIMINGS=json "$brisk" --root "$work/root" run -b "$work/none" t 2>&1 >/dev/null | tail -n1
    done | jq -rs '
        # By name, not position: the parent and the init run at once, so
        # their marks interleave differently from run to run.
        [.[].phases] as $runs
        | ($runs[0] | map(.phase)) as $names
        | [ $names[] as $n
            | { phase: $n,
                at: ([$runs[] | .[] | select(.phase == $n) | .at_us] | sort
                     | .[(length / 2 | floor)]) } ]
        | sort_by(.at) | . as $p
        | range(0; length)
        | "| \($p[.].phase) | \($p[.].at) | \(if . == 0 then 0 else $p[.].at - $p[. - 1].at end) |"' \
        >"$work/timings.md"

    # --- 3. peak RSS and CPU per container ---------------------------------
    rss() { # NAME CMD -> "| NAME | max RSS KiB (median) | user+sys ms per container |"
        local name=$1 cmd=$2 f=$work/rss-$1.txt cpu
        for i in $(seq 50); do
            /usr/bin/time -f '%M' $cmd run -b "$work/none" "rss-$name" 2>&1 >/dev/null | tail -n1
        done >"$f"
        # CPU: GNU time has 10 ms resolution, so 200 containers in one loop.
        cpu=$( { /usr/bin/time -f '%U %S' sh -c \
            "for i in \$(seq 200); do $cmd run -b $work/none rss-$name >/dev/null 2>&1; done"; } 2>&1 |
            tail -n1 | awk '{ printf "%.2f", ($1 + $2) * 1000 / 200 }')
        printf '| %s | %s | %s |\n' "$name" \
            "$(sort -n "$f" | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')" "$cpu"
    }
    { rss crun crun; rss brisk "$brisk"; } >"$work/rss.md"

    # --- 4. 100 containers, 10 at a time ----------------------------------
    # One shared rootfs, one config per container (own id, cgroup, hostname).
    mkdir -p "$work/many"
    for i in $(seq 100); do
        d=$work/many/b$i
        mkdir -p "$d"
        jq --arg root "$work/none/rootfs" --arg cg "/brisk-bench-many/c$i" \
            '.root.path = $root | .linux.cgroupsPath = $cg
             | .mounts |= map(if .type == "bind" and (.source | startswith("/") | not)
                              then .source = "'"$work/none/"'" + .source else . end)' \
            "$work/none/config.json" >"$d/config.json"
    done
    many() { # NAME CMD -> "| NAME | failures | seconds | containers/s |"
        local name=$1 cmd=$2 start end fails
        start=$(date +%s.%N)
        fails=$(seq 100 | xargs -P 10 -I{} sh -c \
            "$cmd run -b $work/many/b{} many-$name-{} >/dev/null 2>&1 || echo fail" | grep -c fail || true)
        end=$(date +%s.%N)
        awk -v n="$name" -v f="$fails" -v s="$start" -v e="$end" \
            'BEGIN { printf "| %s | %d | %.2f | %.0f |\n", n, f, e - s, 100 / (e - s) }'
    }
    { many crun crun; many brisk "$brisk"; } >"$work/many.md"
    rmdir /sys/fs/cgroup/brisk-bench-many 2>/dev/null || true
    cat "$work/timings.md" >"$PERF_REPORT_DIR/timings.md"
    cat "$work/rss.md" >"$PERF_REPORT_DIR/rss.md"
    cat "$work/many.md" >"$PERF_REPORT_DIR/many.md"
    exit 0
fi

scripts/build-release.sh >&2
dir=$(mktemp -d /tmp/perf-report.XXXXXX)
# Order: each case runs its commands one after the other, and a runtime's
# namespaces are torn down by the kernel after it exits (network namespaces
# in a workqueue), so a command pays for part of the one before: runc,
# the heaviest, goes last. brisk goes first, after the previous case's runc
# (the conservative place for it), floor next. 20 warm-up runs absorb some
# of that backlog.
env -u RUST_BACKTRACE "$bench/startup.sh" --case all --runs "$runs" --warmup 20 --out "$dir/startup" \
    --no-cache-annotation run.oci.brisk.seccomp.no_cache=true \
    brisk="$repo/target/release/brisk" floor="$bench/floor" crun=crun runc=runc >&2
scripts/startup-ab.sh --rounds 10 --runs 60 >"$dir/ab.md"
env -u RUST_BACKTRACE "$bench/startup.sh" --micro --out "$dir/micro" >&2
env -u RUST_BACKTRACE PERF_REPORT_INNER=1 PERF_REPORT_DIR="$dir" \
    unshare -m --propagation private "$0"
scripts/bench-pure.sh --quick 2>/dev/null | sed 's/\x1b\[[0-9;]*m//g' >"$dir/pure.txt"

startup_md=$(sed -n '/^## /,$p' "$dir/startup/results.md" | sed 's/^## /### /; s/^### /#### /')
head_md=$(sed -n '1,/^## /p' "$dir/startup/results.md" | sed '$d' | sed -n '/^- /p')
micro_md=$(sed -n '/^|/p' "$dir/micro/results.md")
{
    # Everything above the start-up section stays as it is.
    sed '/^## Start-up, latest run/,$d' "$out"
    cat <<EOF
## Start-up, latest run (the whole runtime)

Generated by \`scripts/perf-report.sh\` (do not edit by hand); run it again
to refresh. The exact commands are in each section below.

$head_md

### startup.sh output

Command: \`env -u RUST_BACKTRACE ../shared/bench/startup.sh --case all --runs $runs
--warmup 20 --no-cache-annotation run.oci.brisk.seccomp.no_cache=true
brisk=target/release/brisk floor=../shared/bench/floor crun=crun runc=runc\`
(the Ratio column is relative to brisk; see the script for the order).

$startup_md

### Kernel micro-benchmarks (\`startup.sh --micro\`)

$micro_md

### Where brisk's start-up goes (\`--timings\`)

The median time of each mark over $timing_runs runs of
\`BRISK_TIMINGS=json brisk run\` on the \`none\` bundle (cgroup2 view, same
machine, right after the run above), in order, and the difference to the
previous one. Marks prefixed \`init:\` are the container's init (between
clone and execve), the rest brisk's parent; the two run at once, so a
parent mark after an init mark says when the parent got there.

| mark | median µs from brisk's start | µs after the previous mark |
|---|---:|---:|
$(cat "$dir/timings.md")

### Peak RSS and CPU time per container

Peak RSS: \`/usr/bin/time -f %M RUNTIME run -b none ID\`, median of 50 runs
(the largest of the runtime and its waited children; the container's \`true\`
is the same for both). CPU: user+system of 200 sequential runs in one
\`/usr/bin/time\`, divided by 200 (both include the container's \`true\`).

| runtime | peak RSS [KiB] | user+system per container [ms] |
|---|---:|---:|
$(cat "$dir/rss.md")

### 100 containers, 10 at a time

\`seq 100 | xargs -P 10\` of \`RUNTIME run\`, one config per container (own
id, cgroup and hostname, one shared rootfs).

| runtime | failures | wall [s] | containers/s |
|---|---:|---:|---:|
$(cat "$dir/many.md")

### The close ratios, in alternating rounds (\`scripts/startup-ab.sh\`)

Right after the startup.sh run: floor and brisk without seccomp, brisk
with podman's profile and a warm cache, and floor loading the program
brisk compiled for that profile instead of libseccomp's, in 10 rounds of
60 runs, the order rotating every round; each ratio is taken within a
round. floor does only the kernel work, so \`floor, brisk BPF / floor,
none\` is what the kernel charges for brisk's filter: the floor of
brisk's cached / none here.

$(cat "$dir/ab.md")

### The pure steps (\`scripts/bench-pure.sh --quick\`)

divan, 30 samples of at most 1 s per bench; the config is podman's (with
its seccomp profile, 20 KB).

\`\`\`
$(cat "$dir/pure.txt")
\`\`\`
EOF
} >"$out.new"
mv "$out.new" "$out"
rm -rf "$dir"
echo "perf-report: wrote $out" >&2
