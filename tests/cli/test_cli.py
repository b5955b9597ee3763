"""The `livy` CLI against a real server and Spark: sessions and statements with --output json,
exit codes, a batch submitted with --wait, logs -f, and the REPL in a pseudo-terminal with Ctrl-C
cancelling a long statement."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import time

import pytest

from pyharness.wait import wait_until


def test_usage_errors_and_unreachable_server_have_their_exit_codes(cli_bin):
    r = subprocess.run([str(cli_bin), "sessions", "frobnicate"], capture_output=True, text=True)
    assert r.returncode == 2
    r = subprocess.run(
        [str(cli_bin), "--url", "http://127.0.0.1:9", "sessions", "list"],
        capture_output=True, text=True,
    )
    assert r.returncode == 3, r.stderr
    assert "cannot reach" in r.stderr


def test_not_found_is_exit_4(cli):
    r = cli("batches", "status", "987654")
    assert r.returncode == 4, r.stderr


def test_session_create_run_delete_as_json(cli):
    r = cli("sessions", "create", "--kind", "pyspark", "--name", "cli-e2e", "--output", "json")
    assert r.returncode == 0, r.stderr
    session = json.loads(r.stdout)
    sid = str(session["id"])
    assert session["state"] == "idle" and session["name"] == "cli-e2e"
    try:
        r = cli("run", "--session", sid, "--output", "json", "sum(range(10))")
        assert r.returncode == 0, r.stderr
        st = json.loads(r.stdout)
        assert st["state"] == "available" and st["output"]["data"]["text/plain"] == "45"

        r = cli("run", "--session", sid, "print(6*7)")
        assert (r.returncode, r.stdout) == (0, "42\n")

        r = cli("run", "--session", sid, "--kind", "sql", "SELECT 1 AS one, 'x' AS word")
        assert r.returncode == 0, r.stderr
        assert r.stdout.splitlines()[0].split() == ["one", "word"]
        assert r.stdout.splitlines()[2].split() == ["1", "x"]

        r = cli("run", "--session", sid, "1/0")
        assert r.returncode == 1
        assert r.stdout == ""
        assert r.stderr.startswith("ZeroDivisionError: division by zero\n")
        assert "Traceback" in r.stderr

        listed = json.loads(cli("sessions", "list", "--output", "json").stdout)
        assert [s["id"] for s in listed["sessions"]] == [int(sid)]
    finally:
        r = cli("sessions", "delete", sid)
        assert r.returncode == 0, r.stderr
    assert cli("sessions", "delete", sid).returncode == 4


def _write_job(work_dir, name, body):
    path = work_dir / name
    path.write_text(body, encoding="utf-8")
    return path


def test_batch_submit_wait_prints_its_log_and_exit_status(cli, work_dir):
    ok = _write_job(
        work_dir, "ok.py",
        "import sys\nfrom pyspark.sql import SparkSession\n"
        "s = SparkSession.builder.getOrCreate()\n"
        "print('CLI-SUM', s.range(5).count(), sys.argv[1])\ns.stop()\n",
    )
    r = cli("batches", "submit", str(ok), "arg-one", "--wait")
    assert r.returncode == 0, r.stderr
    assert "CLI-SUM 5 arg-one" in r.stdout.splitlines()
    assert "success" in r.stderr

    bad = _write_job(work_dir, "bad.py", "raise SystemExit(3)\n")
    r = cli("batches", "submit", str(bad), "--wait", "--output", "json")
    assert r.returncode == 1, r.stderr
    assert json.loads(r.stdout)["state"] == "dead"


def test_logs_follow_prints_each_line_once_until_the_batch_ends(cli, work_dir):
    job = _write_job(
        work_dir, "slow.py",
        "import time\nfor i in range(6):\n    print('TICK', i, flush=True)\n    time.sleep(1)\n",
    )
    r = cli("batches", "submit", str(job), "--output", "json")
    assert r.returncode == 0, r.stderr
    bid = str(json.loads(r.stdout)["id"])
    r = cli("batches", "logs", bid, "-f")
    assert r.returncode == 0, r.stderr
    ticks = [l for l in r.stdout.splitlines() if l.startswith("TICK")]
    assert ticks == [f"TICK {i}" for i in range(6)]


class Pty:
    """The CLI on a pseudo-terminal: what a user types and sees."""

    def __init__(self, argv, env):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # child
            os.execve(argv[0], argv, env)
        self.out = b""

    def send(self, data: bytes):
        os.write(self.fd, data)

    def read_until(self, needle: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while needle.encode() not in self.out:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{needle!r} not seen in {self.out[-2000:]!r}")
            r, _, _ = select.select([self.fd], [], [], min(left, 1))
            if r:
                try:
                    self.out += os.read(self.fd, 65536)
                except OSError:
                    break
        return self.out.decode(errors="replace")

    def wait(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                r, _, _ = select.select([self.fd], [], [], 0.2)
                if r:
                    self.out += os.read(self.fd, 65536)
            except OSError:
                pass
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return os.waitstatus_to_exitcode(status)
        os.kill(self.pid, signal.SIGKILL)
        raise AssertionError(f"the REPL did not exit: {self.out[-2000:]!r}")


def test_repl_round_trip_multiline_and_ctrl_c_cancels(cli_bin, livy, tmp_path):
    env = dict(os.environ, LIVY_URL=livy.url, HOME=str(tmp_path), TERM="xterm")
    repl = Pty([str(cli_bin), "repl", "--kind", "pyspark"], env)
    repl.read_until("pyspark> ", 240)
    repl.send(b"6*7\r")
    repl.read_until("42", 120)
    # A block: continues on "... " lines until a blank line.
    repl.send(b"for i in range(2):\r")
    repl.read_until("... ", 30)
    repl.send(b"    print('LINE', i)\r")
    repl.read_until("LINE', i)", 30)
    repl.out = repl.out.replace(b"... ", b"", 1)
    repl.read_until("... ", 30)  # each line is read with its own prompt (input typed ahead is dropped)
    repl.send(b"\r")
    repl.read_until("LINE 1", 120)
    # A long statement, then Ctrl-C: the CLI cancels it and the prompt comes back well before 300 s.
    marker = len(repl.out)
    repl.send(b"import time; time.sleep(300)\r")
    sid = livy.call("GET", "/sessions")[1]["sessions"][-1]["id"]
    statements = f"/sessions/{sid}/statements"
    wait_until(lambda: any(s["state"] == "running" for s in
                           livy.call("GET", statements)[1]["statements"]) or None,
               60, "the sleep statement running")
    started = time.monotonic()
    repl.send(b"\x03")  # Ctrl-C on the terminal: SIGINT to the CLI
    out = repl.read_until("cancelling statement", 30)
    # The prompt that counts is the one after the cancel (an earlier one may follow `marker`).
    repl.out = repl.out[repl.out.rfind(b"cancelling statement", marker):]
    repl.read_until("pyspark> ", 60)
    assert time.monotonic() - started < 60
    states = [s["state"] for s in livy.call("GET", statements)[1]["statements"]]
    assert states[-1] in ("cancelled", "cancelling"), states
    assert "cancelling statement" in out
    # The session still works after the cancel, then Ctrl-D quits and deletes the session.
    repl.send(b"40+2\r")
    repl.read_until("42", 60)
    repl.send(b"\x04")
    assert repl.wait(60) == 0
    assert (tmp_path / ".livy_history").read_text().count("6*7") == 1
    wait_until(lambda: livy.call("GET", "/sessions")[1]["total"] == 0 or None, 60, "session deleted")
