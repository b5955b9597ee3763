"""Requests through the load balancer and facts about owners, shared by the HA test modules."""

from __future__ import annotations

from conftest import Service
from pyharness.livy_server import LivyServer


def lb_call(svc: Service, method: str, path: str, body=None, headers=None, timeout=60.0):
    """One request through the load balancer: (status, body, served-by)."""
    probe = LivyServer.__new__(LivyServer)
    probe.host, probe.port, probe.scheme = "127.0.0.1", svc.lb.port, "http"
    status, parsed, hdrs = LivyServer.call(probe, method, path, body, headers, timeout)
    served = {k.lower(): v for k, v in hdrs.items()}.get("x-served-by")
    return status, parsed, served


def new_batch(svc: Service, name: str, seconds: float, via=None):
    body = {"file": str(svc.job), "name": name, "args": [name, str(seconds)]}
    if via is None:
        status, view, served = lb_call(svc, "POST", "/batches", body)
    else:
        status, view, _ = via.call("POST", "/batches", body)
        served = None
    assert status == 201, view
    return view, served


def owner_pid(svc: Service, kind: str, ident: int) -> int:
    """The pid of the server that owns an entry, from its ownership node (`<pid>-<random>`)."""
    out = svc.zk.cli(f"get /livy/ha/owners/{kind}/{ident}")
    for line in out.splitlines():
        head = line.strip().split("-")[0]
        if head.isdigit() and "-" in line and len(line.strip()) < 40:
            return int(head)
    raise AssertionError(f"no owner node for {kind} {ident}: {out[-500:]}")


def server_of(svc: Service, pid: int) -> LivyServer:
    return next(s for s in svc.servers if s.running and s.proc.pid == pid)


def statement(svc: Service, sid: int, stid: int, via=None):
    status, body = (via.call("GET", f"/sessions/{sid}/statements/{stid}")[:2] if via
                    else lb_call(svc, "GET", f"/sessions/{sid}/statements/{stid}")[:2])
    return body if status == 200 else None


#: A statement that is still running when its server goes away (and then prints 42).
BUSY_STATEMENT = "import time\ntime.sleep(8)\nprint(6 * 7)"


def busy_statement(svc: Service, session):
    """Checks a pylivy session answers, posts BUSY_STATEMENT through the balancer and waits until
    it runs; returns (session id, statement, the owning server)."""
    from pyharness.wait import wait_until

    session.wait()
    assert session.run("print(1 + 1)").text.strip() == "2"
    sid = session.session_id
    status, st, _ = lb_call(svc, "POST", f"/sessions/{sid}/statements", {"code": BUSY_STATEMENT})
    assert status == 201, st
    wait_until(lambda: (statement(svc, sid, st["id"]) or {}).get("state") == "running",
               timeout=60, what="the statement running")
    return sid, st, server_of(svc, owner_pid(svc, "interactive", sid))
