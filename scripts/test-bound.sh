#!/usr/bin/env bash
# cargo's runner for scripts/test.sh: runs one test binary under a bound,
# so that a hung test fails its binary instead of hanging the run.
#
#   BRISK_TEST_BINARY_TIMEOUT  seconds (default 1200)
#
# Past it the binary gets SIGTERM, then SIGKILL 30 s later; this script then
# prints why and a libtest-style result line with one failure, which
# test.sh's closing count picks up (a killed binary prints none of its own).
bound=${BRISK_TEST_BINARY_TIMEOUT:-1200}
start=$(date +%s)
timeout -k 30 "$bound" "$@"
rc=$?
if { [ "$rc" = 124 ] || [ "$rc" = 137 ]; } && [ $(( $(date +%s) - start )) -ge "$bound" ]; then
    echo "TIMED OUT: $(basename "$1") ran for more than $bound s (BRISK_TEST_BINARY_TIMEOUT) and was killed"
    echo "test result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in ${bound}s"
fi
exit "$rc"
