#!/usr/bin/env bash
# Benchmarks of brisk's pure start-up steps, no container run (start-up
# issue #8): config.json parse, check and load, the init's plan
# (brisk-container/benches/create_path.rs); the seccomp cache key, a
# cache hit, compiling on a miss, native and libseccomp
# (brisk-seccomp/benches/cache.rs); and the native/libseccomp comparison
# with instruction counts (brisk-seccomp/benches/compile.rs).
#
#   scripts/bench-pure.sh            divan's defaults (100 samples, up to 5 s per bench)
#   scripts/bench-pure.sh --quick    30 samples, at most 1 s per bench
#   scripts/bench-pure.sh -- ARGS    ARGS to every divan bench (e.g. a name filter)
#
# The machine is shared: run it on a quiet one and read the medians.
set -euo pipefail
cd "$(dirname "$0")/.."

divan_args=()
while [ $# -gt 0 ]; do
    case $1 in
        --quick) divan_args+=(--sample-count 30 --max-time 1); shift ;;
        --) shift; divan_args+=("$@"); break ;;
        *) echo "usage: $0 [--quick] [-- DIVAN_ARGS...]" >&2; exit 2 ;;
    esac
done

cargo bench --locked -p brisk-container --bench create_path -- "${divan_args[@]}"
cargo bench --locked -p brisk-seccomp --bench cache -- "${divan_args[@]}"
cargo bench --locked -p brisk-seccomp --bench compile
