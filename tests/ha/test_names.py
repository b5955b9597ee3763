"""Session and batch names are unique across the service, as on one Livy server: of concurrent
creates of one name through different servers exactly one gets it (the others Livy's 400
"Duplicate session name"); the name is free again once its entry is deleted, it stays taken
while a survivor runs the entry of a killed server, a name a dead server left half-claimed is
taken over, and odd names (unicode, '/', very long) work and stay in their ZooKeeper node."""

from __future__ import annotations

import hashlib
import threading
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

from conftest import Service
from ha_helpers import lb_call, new_batch, owner_pid, server_of
from pyharness.wait import wait_until

#: More memory than any machine has: the real spark-submit fails at once (the JVM cannot
#: reserve its heap), so a session goes `dead` without starting Spark.
FAILING_SESSION = {"kind": "pyspark", "driverMemory": "100000t"}


def batch_body(svc: Service, name: str, seconds: float = 120) -> dict:
    return {"file": str(svc.job), "name": name, "args": ["named", str(seconds)]}


def at_once(calls):
    """Runs the calls together (released by one barrier) and returns their answers in order."""
    barrier = threading.Barrier(len(calls))

    def run(call):
        barrier.wait(timeout=30)
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def name_nodes(svc: Service, kind: str) -> list:
    out = svc.zk.cli(f"ls /livy/ha/names/{kind}")
    line = next(x for x in out.splitlines() if x.startswith("["))
    return [n.strip() for n in line.strip("[]").split(",") if n.strip()]


def digest(name: str) -> str:
    return hashlib.sha256(name.encode("utf-8")).hexdigest()


def duplicate(status, body, name) -> bool:
    return status == 400 and f"Duplicate session name: {name}" in (body or {}).get("msg", "")


def create_everywhere(svc: Service, path: str, body: dict, copies: int = 2):
    """The same create sent to every server `copies` times at once: [(status, body, server)]."""
    targets = [s for s in svc.servers for _ in range(copies)]
    answers = at_once([lambda s=s: s.call("POST", path, body, timeout=120) for s in targets])
    return [(status, view, s) for (status, view, _), s in zip(answers, targets)]


def test_concurrent_batches_of_one_name_on_three_servers_get_it_once(service):
    for round_ in range(3):
        name = f"nightly-{round_}"
        answers = create_everywhere(service, "/batches", batch_body(service, name))
        won = [(view, s) for status, view, s in answers if status == 201]
        lost = [(status, view) for status, view, _ in answers if status != 201]
        assert len(won) == 1, answers
        assert all(duplicate(status, view, name) for status, view in lost), lost
        view, creator = won[0]
        bid = view["id"]
        # Taken on every server, and every server shows it under that name.
        for s in service.servers:
            assert duplicate(*s.call("POST", "/batches", batch_body(service, name))[:2], name)
            status, seen, _ = s.call("GET", f"/batches/{bid}")
            assert status == 200 and seen["name"] == name, seen
            # By name too (Livy takes a name where the id goes), whichever server runs it.
            status, seen, _ = s.call("GET", f"/batches/{name}")
            assert status == 200 and seen["id"] == bid, seen
        # Deleted through another server than its creator's: the name is free as soon as the
        # client has the answer, on every server.
        other = next(s for s in service.servers if s is not creator)
        assert other.call("DELETE", f"/batches/{bid}", timeout=60)[0] == 200
        again = service.servers[round_ % 3]
        status, view, _ = again.call("POST", "/batches", batch_body(service, name, 0))
        assert status == 201, view
        assert again.call("DELETE", f"/batches/{view['id']}", timeout=60)[0] == 200
    assert name_nodes(service, "batch") == [], "deleted batches left their names claimed"


def test_a_session_whose_spark_submit_fails_holds_its_name_until_deleted(service):
    name = "report"
    body = {**FAILING_SESSION, "name": name}
    answers = create_everywhere(service, "/sessions", body, copies=1)
    won = [view for status, view, _ in answers if status == 201]
    assert len(won) == 1, answers
    assert all(duplicate(status, view, name) for status, view, _ in answers if status != 201)
    sid = won[0]["id"]
    # Dead, and so on every server (spark-submit could not start its JVM).
    for s in service.servers:
        wait_until(lambda s=s: s.call("GET", f"/sessions/{sid}")[1].get("state") == "dead",
                   timeout=90, what=f"session {sid} dead on {s.name}")
    owner = server_of(service, owner_pid(service, "interactive", sid))
    # A dead session keeps its name (as in Livy, until it is deleted).
    status, view, _ = lb_call(service, "POST", "/sessions", body)
    assert duplicate(status, view, name), view
    other = next(s for s in service.servers if s is not owner)
    assert other.call("DELETE", f"/sessions/{sid}", timeout=60)[0] == 200
    for s in service.servers:
        assert s.call("GET", f"/sessions/{sid}")[0] == 404
    out = service.zk.cli(f"stat /livy/ha/owners/interactive/{sid}",
                         "ls /livy/ha/names/interactive")
    assert "Node does not exist" in out, out[-1000:]
    assert name_nodes(service, "interactive") == [], out[-1000:]
    # Free again.
    status, view, _ = lb_call(service, "POST", "/sessions", body)
    assert status == 201, view
    assert lb_call(service, "DELETE", f"/sessions/{view['id']}", timeout=60)[0] == 200


def test_a_name_stays_taken_while_a_survivor_runs_the_killed_owners_batch(service):
    victim = service.servers[0]
    view, _ = new_batch(service, "kept", 120, via=victim)
    bid = view["id"]
    wait_until(lambda: lb_call(service, "GET", f"/batches/{bid}")[1].get("state") == "running",
               timeout=60, what="the batch running")
    victim_pid = victim.pid
    service.kill(victim)
    wait_until(lambda: (o := _owner(service, bid)) is not None and o != victim_pid,
               timeout=60, what="a survivor owning the batch")
    for s in service.servers:
        if s.running:
            assert duplicate(*s.call("POST", "/batches", batch_body(service, "kept"))[:2], "kept")
    assert lb_call(service, "DELETE", f"/batches/{bid}", timeout=60)[0] == 200
    status, fresh, _ = lb_call(service, "POST", "/batches", batch_body(service, "kept", 0))
    assert status == 201, fresh
    assert lb_call(service, "DELETE", f"/batches/{fresh['id']}", timeout=60)[0] == 200
    service.replace(victim)


def _owner(svc: Service, bid: int):
    try:
        return owner_pid(svc, "batch", bid)
    except AssertionError:
        return None


def test_a_name_left_by_a_server_that_died_mid_create_is_taken_over(service):
    # What a server that died between claiming the name and writing the record leaves: a name
    # node whose id has neither an owner nor a record.
    name = "orphaned-name"
    out = service.zk.cli(f"create /livy/ha/names/batch/{digest(name)} 999999")
    assert "Created" in out, out[-1000:]
    status, view, _ = lb_call(service, "POST", "/batches", batch_body(service, name, 0))
    assert status == 201, view
    assert lb_call(service, "DELETE", f"/batches/{view['id']}", timeout=60)[0] == 200
    assert name_nodes(service, "batch") == []


def test_odd_names_work_and_cannot_leave_their_node(service):
    names = ["报告 ✓ über", "../../owners/batch/0", "a/b/../c", "..", "x" * 50_000]
    made = []
    for i, name in enumerate(names):
        via = service.servers[i % 3]
        status, view, _ = via.call("POST", "/batches", batch_body(service, name))
        assert status == 201, (name[:40], view)
        made.append(view["id"])
        assert view["name"] == name
        again = service.servers[(i + 1) % 3]
        assert duplicate(*again.call("POST", "/batches", batch_body(service, name))[:2], name)
        if len(name) < 1000 and name != "..":
            status, seen, _ = again.call("GET", f"/batches/{quote(name, safe='')}")
            assert status == 200 and seen["id"] == view["id"], (name, status, seen)
    assert sorted(name_nodes(service, "batch")) == sorted(digest(n) for n in names)
    # Nothing was made outside the names' directory (a name like "../../owners/batch/0").
    out = service.zk.cli("ls /livy/ha/owners/batch")
    owners = next(x for x in out.splitlines() if x.startswith("["))
    assert all(n.strip().isdigit() for n in owners.strip("[]").split(",") if n.strip()), owners
    for bid in made:
        assert lb_call(service, "DELETE", f"/batches/{bid}", timeout=60)[0] == 200
    assert name_nodes(service, "batch") == []


def test_a_session_that_cannot_start_gives_its_name_and_ownership_back(service):
    # The server cannot write the driver's run directory (a full or read-only disk): the create
    # fails with a 500 before any record exists.
    broken = service.servers[2]
    runs = broken.log_dir / "sessions"
    aside = broken.log_dir / "sessions.aside"
    if runs.exists():
        runs.rename(aside)
    runs.write_text("not a directory", encoding="utf-8")
    try:
        status, view, _ = broken.call("POST", "/sessions", {**FAILING_SESSION, "name": "retry-me"})
        assert status == 500, view
    finally:
        runs.unlink()
        if aside.exists():
            aside.rename(runs)
    # Its name is free (here through another server), and it left no ownership behind.
    status, view, _ = service.servers[0].call("POST", "/sessions",
                                              {**FAILING_SESSION, "name": "retry-me"})
    assert status == 201, view
    sid = view["id"]
    out = service.zk.cli("ls /livy/ha/owners/interactive")
    owned = next(x for x in out.splitlines() if x.startswith("["))
    assert [n.strip() for n in owned.strip("[]").split(",") if n.strip()] == [str(sid)], owned
    assert lb_call(service, "DELETE", f"/sessions/{sid}", timeout=60)[0] == 200
