"""The driver process itself: when it started, its real stdout/stderr (the statements' output
capture replaces sys.stdout/sys.stderr), its diagnostics and its exit codes."""

import sys
import time

# When this program started (after the standard library's imports): start-up timings are told
# relative to it and to the JVM's start (see Driver.startup_timings).
STARTED = time.time()

# Exit codes (documented in docs/DRIVER_PROTOCOL.md).
EXIT_OK = 0
EXIT_STARTUP_FAILED = 1
EXIT_CONNECT_FAILED = 2
EXIT_CONNECTION_LOST = 3

REAL_STDOUT = sys.stdout
REAL_STDERR = sys.stderr


def log(msg):
    """Driver diagnostics go to the process's real stderr (the server's log of the session)."""
    try:
        REAL_STDERR.write("livy-rs-driver: %s\n" % msg)
        REAL_STDERR.flush()
    except Exception:
        pass


def now_ms():
    return int(time.time() * 1000)
