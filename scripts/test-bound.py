#!/usr/bin/env python3
"""cargo's runner for scripts/test.sh: runs one test binary under two bounds,
so that a hung test fails (by name) instead of hanging the run.

  BRISK_TEST_TIMEOUT         seconds one test may run (default 300)
  BRISK_TEST_BINARY_TIMEOUT  seconds the whole binary may run (default 1200)

libtest prints "test NAME has been running for over 60 seconds" once for a
test still running after 60 s; this runner starts that test's clock there.
A test past BRISK_TEST_TIMEOUT, or a binary past BRISK_TEST_BINARY_TIMEOUT
(also the only bound for binaries without libtest's harness), gets the
binary SIGTERM, then SIGKILL 30 s later. The runner then names what ran too
long and prints a libtest-style result line counting the tests that had
finished, plus one failure, which test.sh's closing count picks up (a
killed binary prints none of its own).
"""
import os
import re
import select
import signal
import subprocess
import sys
import time

WARNED = re.compile(r"^test (\S+) has been running for over 60 seconds")
FINISHED = re.compile(r"^test (\S+) \.\.\. (ok|FAILED|ignored)")
RESULT = re.compile(r"^test result: ")
GRACE = 30


def main():
    test_bound = int(os.environ.get("BRISK_TEST_TIMEOUT", "300"))
    binary_bound = int(os.environ.get("BRISK_TEST_BINARY_TIMEOUT", "1200"))
    start = time.monotonic()
    child = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE)
    out = child.stdout.fileno()
    running = {}  # test name -> when libtest said it passed 60 s
    counts = {"ok": 0, "FAILED": 0, "ignored": 0}
    saw_result = False
    pending = b""
    why = None

    def handle(line):
        nonlocal saw_result
        sys.stdout.buffer.write(line)
        sys.stdout.flush()
        text = line.decode("utf-8", "replace")
        m = WARNED.match(text)
        if m:
            running[m.group(1)] = time.monotonic() - 60
        m = FINISHED.match(text)
        if m:
            running.pop(m.group(1), None)
            counts[m.group(2)] += 1
        if RESULT.match(text):
            saw_result = True

    eof = False
    exited = None
    while not eof:
        ready, _, _ = select.select([out], [], [], 1.0)
        if ready:
            chunk = os.read(out, 65536)
            if not chunk:
                eof = True
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                handle(line + b"\n")
        now = time.monotonic()
        # A process the tests started may hold the pipe open after the
        # binary exited: drain briefly, never wait for it.
        if child.poll() is not None:
            exited = exited or now
            if now - exited > 2:
                break
        if eof or why:
            continue
        late = [n for n, t in running.items() if now - t > test_bound]
        if late:
            why = "test %s ran for more than %d s (BRISK_TEST_TIMEOUT)" % (", ".join(late), test_bound)
        elif now - start > binary_bound:
            why = "%s ran for more than %d s (BRISK_TEST_BINARY_TIMEOUT)" % (
                os.path.basename(sys.argv[1]), binary_bound)
        if why:
            child.send_signal(signal.SIGTERM)
            try:
                child.wait(GRACE)
            except subprocess.TimeoutExpired:
                child.kill()
    if pending:
        handle(pending + b"\n")
    rc = child.wait()
    if why:
        print("TIMED OUT: %s; the binary was killed" % why, flush=True)
        if not saw_result:
            print("test result: FAILED. %d passed; %d failed; %d ignored; 0 measured; 0 filtered out"
                  % (counts["ok"], counts["FAILED"] + 1, counts["ignored"]), flush=True)
        return rc if rc > 0 else 124
    return rc if rc >= 0 else 128 - rc


if __name__ == "__main__":
    sys.exit(main())
