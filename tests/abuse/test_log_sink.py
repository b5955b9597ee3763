"""The server's own log (stderr) is a sink it does not control: a harness or supervisor may close
the reading end of the pipe, or stop reading it. Neither may stop the server from answering
requests or from obeying SIGTERM: a log line that cannot be written is dropped, never a panic in
the task that wrote it and never a blocked runtime thread.

Each refused cross-site POST writes one `request refused` line to the log, so a client can make
the server log as much as it likes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

import requests

from conftest import BLACKLIST, base_conf
from pyharness.livy_server import _LISTENING, LivyServer

#: One log line per request (see the module doc).
CROSS_SITE = {"Origin": "http://evil.example", "Content-Type": "application/json"}
#: Far more log than a pipe holds (64 KiB on Linux, ~200 bytes a line).
REQUESTS = 1500


def start_on_a_pipe(livy_bin, layout) -> "tuple[subprocess.Popen, str]":
    """The server with stdout and stderr on one pipe; returns it and its URL once it listens."""
    server = LivyServer(base_conf(layout), blacklist=BLACKLIST, binary=livy_bin,
                        env={"SPARK_HOME": str(layout.spark_home)})
    server.write_conf()
    proc = subprocess.Popen([str(livy_bin), "run"], env=server._env(), cwd=str(server.root),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline().decode("utf-8", "replace")
        if not line:
            break
        m = _LISTENING.search(line)
        if m:
            return proc, f"http://{m.group(1)}"
    proc.kill()
    proc.wait()
    raise AssertionError("the server did not log its listening line")


def make_it_log_and_stop(proc: subprocess.Popen, url: str) -> None:
    """Many log lines, each request answered; then SIGTERM ends the server promptly and cleanly."""
    try:
        # A connection each: the server closes one whose refused body it did not read, and a
        # reused connection would race that close.
        with requests.Session() as http:
            for i in range(REQUESTS):
                try:
                    r = requests.post(url + "/batches", data=b"{}", headers=CROSS_SITE, timeout=10)
                except requests.ConnectionError as e:
                    raise AssertionError(f"request {i}: {e}; server exit code {proc.poll()}") from None
                assert r.status_code == 403, r.text
            assert http.get(url + "/version", timeout=10).status_code == 200
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            raise AssertionError("the server did not exit within 30 s of SIGTERM") from None
        assert code == 0, f"exit code {code}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_closed_log_pipe_does_not_stop_the_server_obeying_sigterm(livy_bin, layout):
    proc, url = start_on_a_pipe(livy_bin, layout)
    proc.stdout.close()
    make_it_log_and_stop(proc, url)


def test_a_log_pipe_nobody_reads_does_not_block_the_server(livy_bin, layout):
    proc, url = start_on_a_pipe(livy_bin, layout)
    try:
        make_it_log_and_stop(proc, url)
    finally:
        proc.stdout.close()


def test_a_refused_livy_conf_on_a_closed_stderr_is_a_clean_exit(livy_bin, layout):
    """The reason a server cannot start goes to stderr; when stderr is a pipe nobody reads any
    more, the server still exits with its own code (1), not a panic's (101)."""
    conf = base_conf(layout)
    conf["livy.server.port"] = "not-a-port"
    server = LivyServer(conf, blacklist=BLACKLIST, binary=livy_bin,
                        env={"SPARK_HOME": str(layout.spark_home)})
    server.write_conf()
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = subprocess.run([str(livy_bin), "run"], env=server._env(), cwd=str(server.root),
                              stdin=subprocess.DEVNULL, stdout=write_end, stderr=write_end,
                              timeout=30)
    finally:
        os.close(write_end)
    assert proc.returncode == 1, f"exit code {proc.returncode}"
