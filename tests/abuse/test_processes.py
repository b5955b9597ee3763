"""What spark-submit leaves behind. A spark-submit that exits on its own may leave processes in
its process group (a daemon it forked, a helper that never ended): the server ends them when it
reaps spark-submit, as it does when it kills a batch, so nothing a user's batch started outlives
it on the edge node. One that ignores SIGTERM gets SIGKILL after livy.server.process.kill-timeout.
"""

from __future__ import annotations

import os
from pathlib import Path

import requests

from pyharness.wait import wait_until

#: spark-submit that forks a long-lived process into its own group, records its pid and exits 0.
#: The child's output goes to /dev/null so it does not hold the server's pipes open.
LEAVES_A_DAEMON = """#!/bin/sh
{trap} sleep 600 </dev/null >/dev/null 2>&1 &
echo $! > '{pidfile}'
echo "spark-submit done"
exit 0
"""


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def run_batch(livy_factory, layout, tmp_path: Path, ignore_term: bool) -> int:
    home = tmp_path / "spark"
    (home / "bin").mkdir(parents=True)
    pidfile = tmp_path / "daemon.pid"
    submit = home / "bin" / "spark-submit"
    # A subshell that ignores SIGTERM runs the sleep: only SIGKILL ends it.
    trap = "trap '' TERM;" if ignore_term else ""
    script = LEAVES_A_DAEMON.format(pidfile=pidfile, trap=trap)
    if ignore_term:
        script = script.replace(f"{trap} sleep 600", f"sh -c \"{trap} sleep 600\"")
    submit.write_text(script, encoding="utf-8")
    submit.chmod(0o755)
    livy = livy_factory({"livy.server.spark-home": str(home),
                         "livy.server.process.kill-timeout": "2s"})
    r = requests.post(livy.url + "/batches", json={"file": layout.job}, timeout=30)
    assert r.status_code == 201, r.text
    bid = r.json()["id"]
    wait_until(lambda: requests.get(f"{livy.url}/batches/{bid}", timeout=10).json()["state"] == "success",
               timeout=30, what="the batch to succeed")
    pid = int(wait_until(lambda: pidfile.exists() and pidfile.read_text().strip(), timeout=10,
                         what="the daemon's pid"))
    return pid


def test_a_process_left_in_the_group_ends_when_spark_submit_exits(livy_factory, layout, tmp_path):
    pid = run_batch(livy_factory, layout, tmp_path, ignore_term=False)
    try:
        wait_until(lambda: not alive(pid), timeout=15, what="the forked process to end")
    finally:
        if alive(pid):
            os.kill(pid, 9)


def test_one_that_ignores_sigterm_gets_sigkill(livy_factory, layout, tmp_path):
    pid = run_batch(livy_factory, layout, tmp_path, ignore_term=True)
    try:
        wait_until(lambda: not alive(pid), timeout=20, what="the forked process to be killed")
    finally:
        if alive(pid):
            os.kill(pid, 9)
