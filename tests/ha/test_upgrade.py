"""Rolling upgrades: servers of two versions share the ZooKeeper records. A field a newer
livy-rs wrote survives a state change this one makes; a record in a format this livy-rs cannot
read is left alone with a clear log line, and no server crashes on it."""

from __future__ import annotations

import json
import time

from conftest import Service
from ha_helpers import lb_call, new_batch, owner_pid
from pyharness.wait import wait_until


def record(svc: Service, kind: str, ident: int) -> dict:
    out = svc.zk.cli(f"get /livy/v1/{kind}/{ident}")
    line = next((x for x in out.splitlines() if x.startswith("{")), None)
    assert line is not None, out[-1000:]
    return json.loads(line)


def put(svc: Service, kind: str, ident: int, value: dict, create: bool = False) -> None:
    text = json.dumps(value, separators=(",", ":"))
    assert "'" not in text and " " not in text, text
    out = svc.zk.cli(f"{'create' if create else 'set'} /livy/v1/{kind}/{ident} '{text}'")
    assert "Exception" not in out, out[-1000:]


def test_a_newer_servers_field_survives_a_state_change_made_by_this_one(service):
    victim = service.servers[0]
    view, _ = new_batch(service, "upgrade", 10, via=victim)
    bid = view["id"]
    wait_until(lambda: victim.call("GET", f"/batches/{bid}")[1]["state"] == "running"
               and record(service, "batch", bid)["state"] == "running",
               timeout=60, what="the batch running, and its record saying so")
    rec = record(service, "batch", bid)
    assert rec["recordVersion"] == 1, rec
    # What a newer livy-rs of the same format would have written: one field more.
    put(service, "batch", bid, {**rec, "placement": {"zone": "b"}})
    victim_pid = victim.pid
    service.kill(victim)
    # A survivor adopts the record and, once the job ends, writes its new state.
    done = wait_until(lambda: (b := lb_call(service, "GET", f"/batches/{bid}")[1]) and
                      b.get("state") in ("success", "dead") and b, timeout=90,
                      what="the adopted batch's end")
    assert done["state"] == "success", done
    assert owner_pid(service, "batch", bid) != victim_pid
    after = wait_until(lambda: (r := record(service, "batch", bid))["state"] == "success" and r,
                       timeout=30, what="the record's new state")
    assert after["placement"] == {"zone": "b"}, after
    assert after["recordVersion"] == 1, after
    service.replace(victim)


def test_a_record_in_a_newer_format_is_left_alone_with_a_clear_log_line(service):
    view, _ = new_batch(service, "template", 0)
    template = record(service, "batch", view["id"])
    ident = 9000
    newer = {**template, "id": ident, "recordVersion": 99, "state": "running", "process": None}
    put(service, "batch", ident, newer, create=True)
    started = time.monotonic()
    status, body, served = lb_call(service, "GET", f"/batches/{ident}")
    assert time.monotonic() - started < 10, "the request waited for an adoption that cannot be"
    assert status == 404, (status, body, served)
    server = next(s for s in service.servers if s.running and
                  "in a newer format than this livy-rs reads" in s.log_text())
    line = next(x for x in server.log_text().splitlines() if "newer format" in x)
    assert "version=99" in line and "readable=1" in line, line
    assert all(s.running for s in service.servers)
    assert record(service, "batch", ident) == newer
    # The rest of the service works on.
    assert lb_call(service, "GET", f"/batches/{view['id']}")[0] == 200


def test_a_statement_records_newer_field_survives_its_adoption(service):
    status, view, _ = lb_call(service, "POST", "/sessions", {"kind": "pyspark"})
    assert status == 201, view
    sid = view["id"]
    wait_until(lambda: lb_call(service, "GET", f"/sessions/{sid}")[1].get("state") == "idle",
               timeout=300, what="the session idle")

    def run(code: str) -> dict:
        status, st, _ = lb_call(service, "POST", f"/sessions/{sid}/statements", {"code": code})
        assert status == 201, st
        return st

    run("import time")
    # No space or quote in its code, so its record goes through ZooKeeper's shell as it is.
    st = run("time.sleep(20);print(6*7)")
    key = f"statement/{sid}"
    wait_until(lambda: record(service, key, st["id"])["state"] == "running",
               timeout=60, what="the statement's record saying running")
    rec = record(service, key, st["id"])
    assert rec["recordVersion"] == 1, rec
    # What a newer livy-rs that ran the session wrote: one field more. Then it dies.
    put(service, key, st["id"], {**rec, "placement": {"zone": "b"}})
    owner = owner_pid(service, "interactive", sid)
    victim = next(s for s in service.servers if s.running and s.pid == owner)
    service.kill(victim)
    done = wait_until(lambda: (b := lb_call(service, "GET", f"/sessions/{sid}/statements/{st['id']}")[1])
                      and b.get("state") == "available" and b, timeout=120,
                      what="the statement's result after the adoption")
    assert done["output"]["data"]["text/plain"].strip() == "42", done
    assert "placement" not in done and "recordVersion" not in done, done
    after = wait_until(lambda: (r := record(service, key, st["id"]))["state"] == "available" and r,
                       timeout=30, what="the record's new state")
    assert after["placement"] == {"zone": "b"}, after
    assert after["recordVersion"] == 1, after
    assert lb_call(service, "DELETE", f"/sessions/{sid}", timeout=60)[0] == 200
    service.replace(victim)
