"""The harness itself (tests/pyharness): start/stop, failure reporting, wait_until. No Spark."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from pyharness.livy_server import LivyServer, LivyServerError
from pyharness.procs import descendants, find_processes
from pyharness.wait import WaitTimeout, wait_until


def test_server_starts_answers_and_stops_cleanly(livy_bin, spark_home):
    server = LivyServer({"livy.spark.master": "local"}, blacklist=["spark.master"], binary=livy_bin)
    with server:
        assert server.running and server.port and server.port > 0
        assert server.url == f"http://127.0.0.1:{server.port}"
        status, body, headers = server.call("GET", "/batches")
        assert (status, body) == (200, {"from": 0, "total": 0, "sessions": []})
        assert (server.conf_dir / "spark-blacklist.conf").read_text() == "spark.master\n"
        assert "livy.server.port=0" in (server.conf_dir / "livy.conf").read_text()
        assert "livy-rs listening" in server.log_text()
        assert "\x1b[" not in server.log_text(), "ANSI colours are stripped"
        server.wait_for_log(r"livy-rs listening", timeout=1)
    assert server.returncode == 0
    assert server.stop() == 0, "stop() is idempotent"
    assert "livy-rs stopped" in server.log_text()
    assert not server.root.exists(), "the temporary root is removed"


def test_server_can_restart_with_same_dirs(livy_bin, spark_home):
    server = LivyServer(binary=livy_bin)
    try:
        server.start()
        first = server.pid
        assert server.call("GET", "/version")[0] == 200
        assert server.stop() == 0
        server.start()
        assert server.pid != first and server.call("GET", "/version")[0] == 200
        assert server.stop() == 0
    finally:
        server.cleanup()


def test_start_failure_reports_output(livy_bin, spark_home):
    server = LivyServer({"livy.server.port": "not-a-port"}, binary=livy_bin)
    with pytest.raises(LivyServerError) as err:
        server.start()
    text = str(err.value)
    assert "exited with code 1 before listening" in text, text
    assert "livy.server.port" in text, text
    assert not server.running
    server.cleanup()


def test_missing_binary_is_reported(tmp_path):
    with pytest.raises(LivyServerError, match="not found or not executable"):
        LivyServer(binary=tmp_path / "nope").start()


def test_wait_until_returns_value_or_explains_timeout():
    calls = []
    assert wait_until(lambda: calls.append(1) or (len(calls) >= 3 and "done"), 5, "three calls", interval=0.01) == "done"
    start = time.monotonic()
    with pytest.raises(WaitTimeout, match=r"waiting for the impossible; last value: 0"):
        wait_until(lambda: 0, 0.3, "the impossible", interval=0.05)
    assert time.monotonic() - start < 2
    with pytest.raises(ZeroDivisionError):
        wait_until(lambda: 1 / 0, 1, "a crash")
    with pytest.raises(WaitTimeout, match="last exception: ZeroDivisionError"):
        wait_until(lambda: 1 / 0, 0.2, "a crash", interval=0.05, ignore=(ZeroDivisionError,))


def test_procs_finds_by_cmdline_and_tree(tmp_path):
    marker = str(tmp_path / "marker-for-procs-test")
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", marker])
    try:
        found = wait_until(lambda: find_processes(marker), 10, "the child to appear")
        assert [p.pid for p in found] == [child.pid]
        assert child.pid in [p.pid for p in descendants(os.getpid())]
    finally:
        child.kill()
        child.wait()
    assert find_processes(marker) == []
