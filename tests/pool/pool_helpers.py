"""Helpers of the warm-pool suite: the pool's state from the server's log (pooled drivers are not
listed in GET /sessions until taken) and small REST calls with deadlines."""

from __future__ import annotations

import re
import time
from typing import Dict, Set, Tuple

import requests

from pyharness.livy_server import LivyServer
from pyharness.wait import wait_until

POOL_SIZE = 2
#: Filling the pool starts Spark twice at once on a shared 2-core machine.
POOL_FILL_TIMEOUT = 300.0
SESSION_START_TIMEOUT = 240.0
HTTP_TIMEOUT = 30.0
FINISHED = ("error", "dead", "killed", "success")


# --------------------------------------------------------------------------- the pool, from the log


def _ids(text: str, message: str, field: str) -> Set[int]:
    out = set()
    for line in text.splitlines():
        if message in line:
            m = re.search(rf"{field}=(\d+)", line)
            if m:
                out.add(int(m.group(1)))
    return out


def pool_state(livy: LivyServer) -> Tuple[Set[int], Set[int]]:
    """(ready, all started) pooled driver ids not yet taken, failed or recycled, per the log."""
    text = livy.log_text()
    started = _ids(text, "starting a pooled driver", "pooled_id")
    ready = _ids(text, "pooled driver ready", "pooled_id")
    # Every driver leaves the pool handed over or stopped (failed, recycled, did not answer).
    gone = _ids(text, "pooled driver handed over", "session_id") | _ids(
        text, "stopping a pooled driver", "pooled_id"
    )
    return ready - gone, started - gone


def wait_pool_ready(livy: LivyServer, n: int = POOL_SIZE, timeout: float = POOL_FILL_TIMEOUT) -> Set[int]:
    """Waits until `n` pooled drivers are ready; returns their ids."""
    return wait_until(
        lambda: (lambda r: r if len(r) >= n else None)(pool_state(livy)[0]),
        timeout,
        f"{n} pooled drivers to be ready",
        interval=0.5,
    )


# --------------------------------------------------------------------------- sessions


def post_session(url: str, body: Dict) -> Tuple[dict, float]:
    """POST /sessions; returns the answer and when it was sent (time.monotonic())."""
    t0 = time.monotonic()
    r = requests.post(f"{url}/sessions", json=body, timeout=HTTP_TIMEOUT)
    assert r.status_code == 201, f"POST /sessions {body} -> {r.status_code} {r.text}"
    return r.json(), t0


def get_session(url: str, sid: int) -> dict:
    r = requests.get(f"{url}/sessions/{sid}", timeout=HTTP_TIMEOUT)
    assert r.status_code == 200, f"GET /sessions/{sid} -> {r.status_code} {r.text}"
    return r.json()


def seconds_to_idle(url: str, sid: int, since: float, timeout: float = SESSION_START_TIMEOUT) -> float:
    """Polls (every 50 ms) until the session is idle; seconds from `since` to the first idle seen."""

    def idle():
        state = get_session(url, sid)["state"]
        assert state not in FINISHED, f"session {sid} is {state}: {session_log(url, sid)}"
        return time.monotonic() if state == "idle" else None

    return wait_until(idle, timeout, f"session {sid} to be idle", interval=0.05) - since


def session_log(url: str, sid: int) -> str:
    r = requests.get(f"{url}/sessions/{sid}/log", params={"size": -1}, timeout=HTTP_TIMEOUT)
    return "\n".join(r.json().get("log", [])) if r.status_code == 200 else r.text


def run(url: str, sid: int, code: str, timeout: float = 120.0) -> dict:
    """Runs a statement and returns its output."""
    r = requests.post(f"{url}/sessions/{sid}/statements", json={"code": code}, timeout=HTTP_TIMEOUT)
    assert r.status_code == 201, r.text
    st = r.json()["id"]

    def done():
        s = requests.get(f"{url}/sessions/{sid}/statements/{st}", timeout=HTTP_TIMEOUT).json()
        return s["output"] if s["state"] in ("available", "error", "cancelled") else None

    return wait_until(done, timeout, f"statement {st} of session {sid}", interval=0.2)


def text_of(output: dict) -> str:
    assert output["status"] == "ok", output
    return output["data"]["text/plain"]


def delete(url: str, sid: int) -> None:
    r = requests.delete(f"{url}/sessions/{sid}", timeout=60)
    assert r.status_code == 200, r.text
