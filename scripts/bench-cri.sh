#!/usr/bin/env bash
# The CRI-level benchmark (issue #19): what a Kubernetes node gains with
# brisk. A private containerd with the CRI plugin and two runtime handlers,
# runc (/usr/sbin/runc) and brisk (the shipped static release binary),
# driven the way kubelet drives it by the CRI test binary
# (crates/brisk/tests/cri.rs, test `bench_cri`), in one run:
#
#   - RunPodSandbox → CreateContainer → StartContainer: the time until a
#     pod's container is started, and the teardown;
#   - ExecSync `true`: the cost of one exec probe (liveness/readiness);
#
# with the two handlers alternating round by round (ratios within each
# round). Most of that time is containerd's and its shim's, not the
# runtime's: a second pass runs the same with each runtime binary behind a
# small static wrapper that logs how long each call the shim makes to it
# (create, start, exec, kill, delete) took, so the report shows what part
# of a pod start and of a probe the runtime is.
#
#   scripts/bench-cri.sh [--rounds N] [--probes N] [--out FILE]
#
# BRISK_RELEASE_BIN: the brisk to measure (default: scripts/build-release.sh
# builds target/release/brisk). Runs as root. The load average before and
# after is printed with the results: on a loaded machine the absolute
# times mean little, the ratios more.
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=10 probes=30 out=
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) rounds=$2; shift 2 ;;
        --probes) probes=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        *) echo "usage: $0 [--rounds N] [--probes N] [--out FILE]" >&2; exit 2 ;;
    esac
done
[ "$(id -u)" = 0 ] || { echo "bench-cri: run as root" >&2; exit 1; }
scripts/deps.sh

brisk=${BRISK_RELEASE_BIN:-}
if [ -z "$brisk" ]; then
    scripts/build-release.sh >&2
    brisk=$PWD/target/release/brisk
fi
runc=/usr/sbin/runc

# The driver: the CRI test binary (a debug build; its own share of each
# call, encoding a few small protobuf messages, is the same for both
# handlers).
bin=$(cargo test --locked -p brisk --test cri --no-run --message-format=json 2>/dev/null |
      jq -r 'select(.reason == "compiler-artifact" and .target.name == "cri" and .executable != null) | .executable' |
      tail -1)
[ -x "$bin" ] || { echo "bench-cri: the cri test binary was not built" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The wrapper: forks and execs the real runtime with the same arguments,
# waits, and appends "<handler> <subcommand> <microseconds>" to the log.
# Static, so that its own start-up is small (it is paid in the second
# pass only, on top of the runtime's).
cat > "$work/wrap.c" <<'C'
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    pid_t pid = fork();
    if (pid == 0) {
        argv[0] = REAL;
        execv(REAL, argv);
        _exit(127);
    }
    int status = 0;
    while (pid > 0 && waitpid(pid, &status, 0) < 0) {}
    clock_gettime(CLOCK_MONOTONIC, &b);
    /* The subcommand: the first argument that is no global option. */
    const char *cmd = "?";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--root") || !strcmp(argv[i], "--log") ||
            !strcmp(argv[i], "--log-format") || !strcmp(argv[i], "--criu") ||
            !strcmp(argv[i], "--rootless")) {
            i++;
            continue;
        }
        if (argv[i][0] == '-') continue;
        cmd = argv[i];
        break;
    }
    long us = (b.tv_sec - a.tv_sec) * 1000000L + (b.tv_nsec - a.tv_nsec) / 1000;
    char line[256];
    int n = snprintf(line, sizeof line, "%s %s %ld\n", NAME, cmd, us);
    int fd = open(LOG, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd >= 0) {
        if (write(fd, line, n) < 0) {}
        close(fd);
    }
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    return 128 + WTERMSIG(status);
}
C
log=$work/runtime.log
for pair in "runc=$runc" "brisk=$brisk"; do
    name=${pair%%=*} real=${pair#*=}
    gcc -O2 -static -DREAL="\"$real\"" -DNAME="\"$name\"" -DLOG="\"$log\"" \
        -o "$work/$name" "$work/wrap.c"
done

report=$work/report.md
{
    echo "## CRI benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "containerd $(containerd --version | awk '{print $3}'), runc $($runc --version | awk 'NR==1 {print $3}'),"
    echo "brisk: \`$brisk\` ($(file -b "$brisk" | grep -o 'statically linked\|dynamically linked'))."
    echo "$rounds pods per handler (alternating), $probes probes per handler. Load before: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores)."
} > "$report"
env -u RUST_BACKTRACE \
    BRISK_CRI_BENCH_BRISK="$brisk" BRISK_CRI_BENCH_RUNC="$runc" \
    BRISK_CRI_BENCH_ROUNDS="$rounds" BRISK_CRI_BENCH_PROBES="$probes" \
    BRISK_CRI_BENCH_WRAPPED_RUNC="$work/runc" BRISK_CRI_BENCH_WRAPPED_BRISK="$work/brisk" \
    BRISK_CRI_BENCH_LOG="$log" \
    "$bin" --ignored --exact bench_cri --nocapture --test-threads 1 > "$work/out" 2>"$work/err" || {
    cat "$work/out" "$work/err" >&2
    exit 1
}
# The test binary's own lines (libtest's, the scenario timings) are not
# part of the report.
grep -E '^(\||#|$|Pod start)' "$work/out" >> "$report"
echo >> "$report"
echo "Load after: $(cut -d' ' -f1-3 /proc/loadavg)." >> "$report"
cat "$report"
[ -z "$out" ] || cp "$report" "$out"
