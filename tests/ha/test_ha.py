"""Three servers as one service behind HAProxy: any server answers any request the same way,
ids are unique across servers, forwarded requests cannot be forged, and when a server is
killed (-9) the others adopt its sessions and batches."""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import ZK_SESSION_TIMEOUT, Service
from ha_helpers import busy_statement, lb_call, new_batch, owner_pid, statement
from pyharness.livy_server import LivyServer, LivyServerError
from pyharness.wait import wait_until

#: What the issue asks: a session or batch served again this soon after a kill -9 of its owner.
TAKEOVER_TARGET = 10.0
SPARK_START = 300.0


def test_servers_join_one_service_and_a_single_server_is_refused_its_store(service):
    for s in service.servers:
        assert s.wait_for_log("joined the active-active service", timeout=10)
    # A server without active-active on the same store would take the others' sessions.
    single = LivyServer(
        {k: v for k, v in service.conf().items() if not k.startswith("livy.server.ha.")},
        binary=service.binary, name="livy-single", root=service.root / "single", start_timeout=30)
    with pytest.raises(LivyServerError) as refused:
        single.start()
    single.cleanup()
    assert "active-active" in str(refused.value), str(refused.value)[-2000:]


def test_each_request_lands_on_another_server_and_gets_the_same_answer(service):
    view, _ = new_batch(service, "same-answer", 60)
    bid = view["id"]

    def started():
        status, body, _ = lb_call(service, "GET", f"/batches/{bid}/log")
        return status == 200 and any("same-answer starting" in line for line in body["log"])

    wait_until(started, timeout=60, what="the batch's first line")
    answers, servers = [], []
    for _ in range(6):
        status, body, served = lb_call(service, "GET", f"/batches/{bid}")
        assert status == 200, body
        answers.append(json.dumps(body, sort_keys=True))
        servers.append(served)
    assert set(servers) == {"s0", "s1", "s2"}, servers
    assert len(set(answers)) == 1, answers
    # Lists too: every server shows every server's entries, in one order.
    lists = [json.dumps(s.call("GET", "/batches?from=0&size=1000")[1], sort_keys=True)
             for s in service.servers]
    assert len(set(lists)) == 1 and f'"id": {bid}' in lists[0], lists
    status, body, _ = lb_call(service, "DELETE", f"/batches/{bid}")
    assert status == 200, body
    for s in service.servers:
        assert s.call("GET", f"/batches/{bid}")[0] == 404


def service_health(svc: Service) -> str:
    """Which servers still run, and their warnings and errors: what a failed assertion needs."""
    lines = []
    for s in svc.servers:
        bad = [line for line in s.log_text().splitlines() if " WARN " in line or " ERROR " in line]
        lines.append(f"{s.name}: {'running' if s.running else f'exited {s.returncode}'}; "
                     f"{len(bad)} warnings/errors, last: {bad[-5:]}")
    return "\n".join(lines)


def test_concurrent_creates_on_three_servers_get_distinct_ids(service):
    def create(i):
        body = {"file": str(service.job), "name": f"many-{i}", "args": [f"many-{i}", "0"]}
        try:
            return lb_call(service, "POST", "/batches", body, timeout=120)
        except OSError as e:  # the client's own timeout or a refused connection
            return None, repr(e), None

    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(create, range(100)))
    failed = [(status, body, served) for status, body, served in answers if status != 201]
    assert not failed, (f"{len(failed)} of 100 creates failed (status, answer, served by): "
                        f"{failed[:10]}\n{service_health(service)}")
    ids = [view["id"] for _, view, _ in answers]
    repeated = sorted(i for i, n in Counter(ids).items() if n > 1)
    assert not repeated, f"ids handed out twice: {repeated}"
    served = Counter(s for _, _, s in answers)
    assert set(served) == {"s0", "s1", "s2"}, f"the balancer did not use every server: {served}"
    lists = {s.name: s.call("GET", "/batches?size=1000", timeout=120) for s in service.servers}
    for name, (status, body, _) in lists.items():
        assert status == 200, f"GET /batches on {name}: {status} {body}\n{service_health(service)}"
        missing = sorted(set(ids) - {b["id"] for b in body["sessions"]})
        assert not missing and body["total"] == len(body["sessions"]), (
            f"{name} lists {body['total']} batches, missing {len(missing)} of the new ones "
            f"({missing[:20]}): a peer's entries were left out\n{service_health(service)}")
    totals = {name: body["total"] for name, (_, body, _) in lists.items()}
    assert len(set(totals.values())) == 1, f"servers disagree on the total: {totals}"


@pytest.mark.parametrize("header", [
    # Well formed, signed with another key.
    "v1;{ts};{nonce};{user};" + "ab" * 32,
    # Anything else a client might try.
    "v1;{ts};{nonce};-;00",
    "alice",
])
def test_a_client_forged_forwarding_header_is_refused(service, header):
    value = header.format(ts=int(time.time()), nonce=os.urandom(16).hex(),
                          user="root".encode().hex())
    before = lb_call(service, "GET", "/batches?size=1000")[1]["total"]
    for s in service.servers:
        status, body, _ = s.call("POST", "/batches",
                                 {"file": str(service.job), "args": ["forged", "0"]},
                                 headers={"X-Livy-Rs-Peer": value})
        assert status == 403 and "forwarding header" in body["msg"], (status, body)
        status, body, _ = s.call("GET", "/batches", headers={"X-Livy-Rs-Peer": value})
        assert status == 403, (status, body)
    assert lb_call(service, "GET", "/batches?size=1000")[1]["total"] == before


def test_a_killed_servers_batch_is_adopted_and_finishes(service):
    victim = service.servers[0]
    view, _ = new_batch(service, "orphan", 15, via=victim)
    bid = view["id"]
    wait_until(lambda: any("orphan starting" in line
                           for line in victim.call("GET", f"/batches/{bid}/log")[1]["log"]),
               timeout=60, what="the batch running")
    victim_pid = victim.pid
    service.kill(victim)
    killed = time.monotonic()
    survivor = service.servers[1]
    wait_until(lambda: survivor.call("GET", f"/batches/{bid}")[0] == 200
               and owner_pid(service, "batch", bid) != victim_pid,
               timeout=TAKEOVER_TARGET + 20, what="the batch adopted", ignore=(AssertionError,))
    served_after = time.monotonic() - killed
    state = survivor.call("GET", f"/batches/{bid}")[1]["state"]
    assert state == "running", state
    assert served_after <= TAKEOVER_TARGET, served_after
    wait_until(lambda: survivor.call("GET", f"/batches/{bid}")[1]["state"] == "success",
               timeout=60, what="the adopted batch's end")
    service.replace(victim)


def test_a_pylivy_session_through_the_balancer_survives_a_kill_of_its_owner(service):
    from livy import LivySession, SessionKind

    with LivySession.create(service.lb.url, kind=SessionKind.PYSPARK, echo=False) as session:
        sid, st, owner = busy_statement(service, session)
        service.kill(owner)
        killed = time.monotonic()
        survivors = [s for s in service.servers if s is not owner]

        def served():
            status, view, _ = survivors[0].call("GET", f"/sessions/{sid}", timeout=30)
            return status == 200 and view["state"] in ("busy", "idle") and view["state"]

        wait_until(served, timeout=TAKEOVER_TARGET + 30, what="the session served again")
        served_after = time.monotonic() - killed
        done = wait_until(
            lambda: (s := statement(service, sid, st["id"], via=survivors[1])) and
            s["state"] == "available" and s, timeout=60, what="the statement's result")
        assert done["output"]["data"]["text/plain"].strip() == "42", done
        assert served_after <= TAKEOVER_TARGET, served_after
        # And the session keeps working through the balancer.
        assert session.run("print(2 + 3)").text.strip() == "5"
    service.replace(owner)
