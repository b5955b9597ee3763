"""The server process as a service manager sees it: readiness line, SIGTERM, exit code. No Spark."""

from __future__ import annotations

import os
import signal
import time

from pyharness.livy_server import LivyServer


def test_sigterm_right_after_the_ready_line_is_a_graceful_stop(livy_bin, spark_conf_dir):
    """Once `livy-rs listening` is logged, a supervisor (systemd, bin/livy-server stop, this
    harness) treats the server as up and may stop it at once. The stop must then be the graceful
    one: exit code 0 and `livy-rs stopped`, not death by the default SIGTERM action (which skips
    stopping the server's spark-submits). Repeated because the window is short."""
    outcomes = []
    for _ in range(20):
        server = LivyServer(binary=livy_bin, env={"SPARK_CONF_DIR": str(spark_conf_dir)})
        try:
            server.start()
            os.kill(server.pid, signal.SIGTERM)
            deadline = time.monotonic() + 30
            while server.returncode is None and time.monotonic() < deadline:
                time.sleep(0.02)
            rc = server.stop(timeout=30)
            outcomes.append((rc, "livy-rs stopped" in server.log_text()))
        finally:
            server.cleanup()
    assert all(o == (0, True) for o in outcomes), (
        "SIGTERM soon after the ready line: (exit code, logged 'livy-rs stopped') per try = "
        f"{outcomes}; -15 means the server died of the signal before its handler was installed"
    )
