"""Helpers shared by the interactive-session suites (pylivy, sparkmagic): the livy.conf a session
server needs, light Spark settings, REST look-ups with deadlines, and running a client call that
has no deadline of its own under one."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Callable, Dict, List, Optional, TypeVar

import requests

from pyharness.livy_server import LivyServer
from pyharness.procs import Proc, descendants
from pyharness.wait import wait_until

T = TypeVar("T")

#: Spark settings of every test session: keeps a driver light on a shared 2-core machine.
SESSION_SPARK_CONF: Dict[str, str] = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "1",
    "spark.default.parallelism": "1",
}

#: Deadline for a session to become idle (spark-submit + JVM + SparkSession, plus the Scala REPL
#: for `spark` sessions) on a loaded 2-core machine.
SESSION_START_TIMEOUT = 180.0
#: Deadline for one statement (the first Spark job of a session compiles code and starts tasks).
STATEMENT_TIMEOUT = 120.0
HTTP_TIMEOUT = 30.0
FINISHED = ("error", "dead", "killed", "success")


def session_server_conf(work_dir: Path) -> Dict[str, object]:
    """livy.conf of a server that runs interactive sessions: local Spark, the driver link on
    loopback with an OS-chosen port."""
    return {
        "livy.spark.master": "local[1]",
        "livy.file.local-dir-whitelist": str(work_dir),
        "livy.rsc.launcher.address": "127.0.0.1",
        "livy.rsc.launcher.port.range": "0~0",
    }


# --------------------------------------------------------------------------- REST look-ups


def get_session(url: str, session_id: int) -> Optional[dict]:
    """GET /sessions/{id}, or None once the server no longer knows the session (404)."""
    r = requests.get(f"{url}/sessions/{session_id}", timeout=HTTP_TIMEOUT)
    if r.status_code == 404:
        return None
    assert r.status_code == 200, f"GET /sessions/{session_id} -> {r.status_code} {r.text}"
    return r.json()


def session_log(url: str, session_id: int) -> str:
    """The session's whole log (for failure messages); never raises."""
    try:
        r = requests.get(f"{url}/sessions/{session_id}/log", params={"size": -1}, timeout=HTTP_TIMEOUT)
        if r.status_code != 200:
            return f"(GET /sessions/{session_id}/log -> {r.status_code} {r.text})"
        return "\n".join(r.json().get("log", []))
    except requests.RequestException as e:
        return f"(log unavailable: {e})"


def list_sessions(url: str) -> List[dict]:
    r = requests.get(f"{url}/sessions", timeout=HTTP_TIMEOUT)
    assert r.status_code == 200, f"GET /sessions -> {r.status_code} {r.text}"
    return r.json()["sessions"]


def wait_for_session_state(
    url: str, session_id: int, states=("idle",), timeout: float = SESSION_START_TIMEOUT
) -> str:
    """Polls the session until its state is one of `states` (or a finished one, which fails
    unless wanted); the failure message carries the session's log."""
    wanted = tuple(states)

    def reached():
        s = get_session(url, session_id)
        state = s["state"] if s else "(gone)"
        if state in wanted or state in FINISHED or state == "(gone)":
            return state
        return None

    try:
        state = wait_until(reached, timeout, f"session {session_id} to reach one of {wanted}", interval=0.5)
    except AssertionError as e:
        raise AssertionError(f"{e}\nsession log:\n{session_log(url, session_id)}") from None
    assert state in wanted, f"session {session_id} is {state}, wanted {wanted}; log:\n{session_log(url, session_id)}"
    return state


def driver_processes(server: LivyServer, session_id: int) -> List[Proc]:
    """The server's descendants that belong to one session (spark-submit, the driver JVM, the
    Python driver): their command lines name the session's run dir `.../session-<id>-<hex>/`."""
    assert server.pid is not None
    needle = f"/session-{session_id}-"
    return [p for p in descendants(server.pid) if needle in p.cmdline]


def wait_driver_gone(server: LivyServer, session_id: int, timeout: float = 60.0) -> None:
    wait_until(
        lambda: not driver_processes(server, session_id),
        timeout,
        f"the processes of session {session_id} to exit",
        interval=0.5,
    )


# --------------------------------------------------------------------------- deadlines


def with_deadline(fn: Callable[[], T], timeout: float, what: str, on_timeout: Callable[[], None]) -> T:
    """Runs a client call that waits without a deadline (pylivy's `wait`/`run` poll forever) in
    a worker thread. If it has not returned after `timeout` seconds, `on_timeout` is called (it
    should end the wait, e.g. by deleting the session, which makes the client's next poll fail)
    and the test fails."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="deadline")
    future = pool.submit(fn)
    try:
        return future.result(timeout=timeout)
    except FutureTimeout:
        try:
            on_timeout()
        finally:
            pool.shutdown(wait=False)
        raise AssertionError(f"{what} did not return within {timeout:.0f}s") from None
    finally:
        pool.shutdown(wait=False)
