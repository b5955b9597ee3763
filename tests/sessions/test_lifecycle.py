"""Session lifecycle rules, with a fake spark-submit that never calls back (no Spark needed: the
rules apply to a `starting` session exactly as to an idle one, as in Livy's SessionManager):

* `heartbeatTimeoutInSecond`: a session nobody calls is deleted; one that is polled survives;
* `idleTimeout` per session and `livy.server.session.timeout`: sessions without activity
  (statements, not mere GETs) are deleted; a per-session idleTimeout overrides the server's;
* `ttl` with `livy.server.session.ttl-check=true`: deleted even while active; ignored without it;
* `livy.rsc.server.connect.timeout`: a driver that never connects back makes the session `dead`,
  says so in the log, and its process is killed; `state-retain.sec` forgets it later.

The GC rules are watched on two servers at once by a background poller, so all the timed rules
share one ~10 s window instead of waiting one after another.
"""

from __future__ import annotations

import re
import threading
import time
from typing import Dict, List, Set

import pytest

from session_helpers import (
    base_conf,
    config_needle,
    create_session,
    session_log,
    session_processes,
    session_view,
    start_server,
    stop_server,
    wait_gone,
    wait_session_state,
    wait_until,
)

#: How long the watcher observes the GC servers.
WINDOW = 10.0
#: The GC runs every second; allow that plus scheduling slack on a loaded machine.
SLACK = 3.5


class Watcher(threading.Thread):
    """Polls `GET /sessions` (which is no heartbeat) and records when each session disappears;
    heartbeats the sessions in `poll` (GET /sessions/{id}) and gives the ones in `active`
    activity (a statement) every half second."""

    def __init__(self, livy, created: Dict[str, float], ids: Dict[str, int],
                 poll: Set[str], active: Set[str]):
        super().__init__(daemon=True)
        self.livy, self.created, self.ids = livy, created, ids
        self.poll, self.active = poll, active
        self.gone: Dict[str, float] = {}
        self.errors: List[str] = []
        self.stop = threading.Event()

    def run(self):
        last_activity = 0.0
        while not self.stop.is_set():
            try:
                status, listing, _ = self.livy.call("GET", "/sessions?size=1000", timeout=10)
                present = {s["id"] for s in listing["sessions"]}
                now = time.monotonic()
                for name, sid in self.ids.items():
                    if sid not in present and name not in self.gone:
                        self.gone[name] = now - self.created[name]
                for name in self.poll - set(self.gone):
                    self.livy.call("GET", f"/sessions/{self.ids[name]}", timeout=10)
                if now - last_activity >= 0.5:
                    last_activity = now
                    for name in self.active - set(self.gone):
                        self.livy.call("POST", f"/sessions/{self.ids[name]}/statements",
                                       {"code": "1", "kind": "pyspark"}, timeout=10)
            except Exception as e:  # noqa: BLE001 - reported by the tests
                self.errors.append(repr(e))
            self.stop.wait(0.2)


def start_gc_server(home, conf, sessions: Dict[str, dict], poll=(), active=()):
    livy = start_server(base_conf(**{"livy.server.spark-home": str(home), **conf}), "livy-gc")
    ids, created, procs = {}, {}, {}
    for name, body in sessions.items():
        ids[name] = create_session(livy, {"kind": "pyspark", **body})["id"]
        created[name] = time.monotonic()
    for name, sid in ids.items():
        procs[name] = wait_until(lambda: session_processes(livy, sid), 10,
                                 f"spark-submit of session {name}")
    watcher = Watcher(livy, created, ids, set(poll), set(active))
    watcher.start()
    return livy, ids, procs, watcher


@pytest.fixture(scope="module")
def gc(sleeping_spark_home):
    """Two servers with sessions under every rule, watched for WINDOW seconds."""
    a = start_gc_server(
        sleeping_spark_home,
        {"livy.server.session.ttl-check": "true"},
        {
            "heartbeat": {"heartbeatTimeoutInSecond": 3},
            "heartbeat_polled": {"heartbeatTimeoutInSecond": 3},
            "idle": {"idleTimeout": "3s"},
            "ttl_active": {"ttl": "4s", "idleTimeout": "1h"},
            "plain": {},
        },
        poll={"heartbeat_polled", "idle"},
        active={"ttl_active"},
    )
    b = start_gc_server(
        sleeping_spark_home,
        {"livy.server.session.timeout": "3s"},
        {
            "server_timeout": {},
            "active": {},
            "idle_override": {"idleTimeout": "1h"},
            "ttl_unchecked": {"ttl": "2s", "idleTimeout": "1h"},
        },
        poll={"server_timeout"},
        active={"active"},
    )
    deadline = time.monotonic() + WINDOW
    while time.monotonic() < deadline:
        time.sleep(0.2)
    for _, _, _, watcher in (a, b):
        watcher.stop.set()
        watcher.join(10)
    yield {"a": a, "b": b}
    for livy, *_ in (a, b):
        stop_server(livy)


def check_deleted(server, name, after, reason):
    livy, ids, procs, watcher = server
    assert not watcher.errors, watcher.errors[:5]
    assert name in watcher.gone, f"session {name!r} was not deleted within {WINDOW}s; " \
                                 f"deleted: {watcher.gone}"
    took = watcher.gone[name]
    assert after - 0.5 <= took <= after + SLACK, f"{name} deleted after {took:.1f}s, expected ~{after}s"
    sid = ids[name]
    status, body, _ = livy.call("GET", f"/sessions/{sid}")
    assert (status, body) == (404, {"msg": f"Session '{sid}' not found."})
    livy.wait_for_log(rf"deleting session\b.*session_id={sid}\b.*{reason}", 5)
    wait_gone(procs[name], config_needle(procs[name]), 15, f"the spark-submit of {name}")


def check_alive(server, name):
    livy, ids, procs, watcher = server
    assert not watcher.errors, watcher.errors[:5]
    assert name not in watcher.gone, f"{name!r} was deleted after {watcher.gone[name]:.1f}s"
    assert session_view(livy, ids[name])["state"] == "starting"
    assert session_processes(livy, ids[name]), f"the spark-submit of {name} is gone"


def test_heartbeat_timeout_deletes_a_session_nobody_calls(gc):
    check_deleted(gc["a"], "heartbeat", 3, "heartbeat")
    check_alive(gc["a"], "heartbeat_polled")


def test_idle_timeout_per_session(gc):
    # Polled with GET all along: a heartbeat is not activity.
    check_deleted(gc["a"], "idle", 3, "inactive")
    check_alive(gc["a"], "plain")


def test_ttl_deletes_even_an_active_session_when_ttl_check_is_on(gc):
    check_deleted(gc["a"], "ttl_active", 4, "ttl")


def test_server_session_timeout(gc):
    check_deleted(gc["b"], "server_timeout", 3, "inactive")
    check_alive(gc["b"], "active")
    check_alive(gc["b"], "idle_override")


def test_ttl_is_ignored_without_ttl_check(gc):
    check_alive(gc["b"], "ttl_unchecked")


# --------------------------------------------------------------------------- connect timeout


def test_driver_that_never_connects_back_makes_the_session_dead(sleeping_spark_home):
    livy = start_server(base_conf(**{
        "livy.server.spark-home": str(sleeping_spark_home),
        "livy.rsc.server.connect.timeout": "3s",
        "livy.server.session.state-retain.sec": "6s",
    }), "livy-connect-timeout")
    try:
        created = time.monotonic()
        sid = create_session(livy, {"kind": "pyspark"})["id"]
        procs = wait_until(lambda: session_processes(livy, sid), 10, "the fake spark-submit")
        needle = config_needle(procs)
        view = wait_session_state(livy, sid, {"dead"}, 15, "(connect timeout)")
        took = time.monotonic() - created
        assert 2.5 <= took <= 3 + SLACK + 2, f"dead after {took:.1f}s with a 3s connect timeout"
        log = session_log(livy, sid)
        assert any(re.search(r"did not connect back", line) for line in log), log
        assert any("fake spark-submit: not calling back" in line for line in log), log
        assert re.search("did not connect back", view["log"][-1]), view["log"]
        wait_gone(procs, needle, 15, "the fake spark-submit to be killed")

        status, body, _ = livy.call("POST", f"/sessions/{sid}/statements", {"code": "1"})
        assert (status, body) == (400, {"msg": "Session isn't active."})
        # A finished session is kept for livy.server.session.state-retain.sec, then forgotten.
        wait_until(lambda: livy.call("GET", "/sessions")[1]["total"] == 0, 15,
                   "the dead session to be forgotten after state-retain.sec")
    finally:
        stop_server(livy)
