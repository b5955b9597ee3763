"""Draining a server of the service (`POST /admin/drain`, `livy-server drain`): it takes no new
session or batch, hands what it runs to the others and exits with status 0, while clients going
through HAProxy see no error and keep their sessions, statements and batches."""

from __future__ import annotations

import subprocess
import threading
import time

from conftest import Service
from ha_helpers import busy_statement, lb_call, new_batch, owner_pid, statement
from pyharness.wait import wait_until

#: A drained server's sessions are served again this soon (no ZooKeeper session to expire).
HANDOVER_TARGET = 10.0


class Watcher(threading.Thread):
    """Reads one URL through the balancer again and again; keeps every answer that is not 200."""

    def __init__(self, svc: Service, path: str) -> None:
        super().__init__(daemon=True)
        self.svc, self.path = svc, path
        self.errors: list = []
        self.count = 0
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            try:
                status, body, served = lb_call(self.svc, "GET", self.path, timeout=60)
            except OSError as e:
                status, body, served = None, repr(e), None
            self.count += 1
            if status != 200:
                self.errors.append((status, body, served))
            time.sleep(0.1)

    def stop(self) -> None:
        self.halt.set()
        self.join(timeout=90)


def drained(server, timeout: float = 60.0) -> int:
    """The exit status of a draining server, once it has exited."""
    code = server.proc.wait(timeout=timeout)
    server._forget()
    return code


def test_drain_moves_a_busy_pylivy_session_with_no_error_seen(service):
    from livy import LivySession, SessionKind

    with LivySession.create(service.lb.url, kind=SessionKind.PYSPARK, echo=False) as session:
        sid, st, owner = busy_statement(service, session)
        watcher = Watcher(service, f"/sessions/{sid}/statements/{st['id']}")
        watcher.start()
        status, body, _ = owner.call("POST", "/admin/drain")
        assert status == 202, (status, body)
        started = time.monotonic()
        # A create that still reaches the draining server (the balancer has not noticed yet)
        # is taken by a live peer.
        creates = []
        while owner.running:
            try:
                creates.append(owner.call("POST", "/batches", {
                    "file": str(service.job), "args": ["during-drain", "0"]}, timeout=60)[:2])
            except OSError:
                break  # its port closed
        assert all(status == 201 for status, _ in creates), creates
        assert drained(owner) == 0, owner.log_text()[-3000:]
        survivors = [s for s in service.servers if s is not owner]

        def served():
            status, view, _ = survivors[0].call("GET", f"/sessions/{sid}", timeout=30)
            return status == 200 and view["state"] in ("busy", "idle") and view["state"]

        wait_until(served, timeout=HANDOVER_TARGET + 30, what="the session served again")
        served_after = time.monotonic() - started
        done = wait_until(
            lambda: (s := statement(service, sid, st["id"], via=survivors[1])) and
            s["state"] == "available" and s, timeout=60, what="the statement's result")
        watcher.stop()
        assert not watcher.errors, (f"{len(watcher.errors)} of {watcher.count} reads of the "
                                    f"statement failed during the drain: {watcher.errors[:5]}")
        assert done["output"]["data"]["text/plain"].strip() == "42", done
        new_owner = owner_pid(service, "interactive", sid)
        assert new_owner in {s.pid for s in survivors}, (new_owner, [s.pid for s in survivors])
        assert served_after <= HANDOVER_TARGET, served_after
        assert "left the active-active service" in owner.log_text()
        # The session keeps working through the balancer, on a survivor.
        assert session.run("print(2 + 3)").text.strip() == "5"
    service.replace(owner)


def test_livy_server_drain_hands_a_running_batch_over(service):
    victim = service.servers[2]
    view, _ = new_batch(service, "drained", 12, via=victim)
    bid = view["id"]
    wait_until(lambda: any("drained starting" in line
                           for line in victim.call("GET", f"/batches/{bid}/log")[1]["log"]),
               timeout=60, what="the batch running")
    out = subprocess.run([str(service.binary), "--conf-dir", str(victim.conf_dir), "drain",
                          "--url", victim.url],
                         env=victim._env(), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, (out.stdout, out.stderr)
    assert "stopped" in out.stdout, out.stdout
    assert drained(victim) == 0, victim.log_text()[-3000:]
    status, body, served = lb_call(service, "GET", f"/batches/{bid}")
    assert status == 200 and body["state"] == "running", (
        status, body, served,
        {s.name: s.log_text()[-2500:] for s in service.servers if s is not victim})
    survivor_pids = {s.pid for s in service.servers if s is not victim}
    assert owner_pid(service, "batch", bid) in survivor_pids
    done = wait_until(lambda: (b := lb_call(service, "GET", f"/batches/{bid}")[1]) and
                      b["state"] in ("success", "dead") and b, timeout=60, what="the batch's end")
    assert done["state"] == "success", done
    service.replace(victim)


def test_only_a_server_of_a_service_drains_and_a_client_cannot_sign_for_the_cli(service):
    # The CLI's signed call without the secret: refused, and the server keeps serving.
    s = service.servers[0]
    status, body, _ = s.call("POST", "/admin/drain",
                             headers={"X-Livy-Rs-Peer": "v1;1;" + "0" * 32 + ";-;" + "ab" * 32})
    assert status == 403, (status, body)
    assert s.running and s.call("GET", "/version")[0] == 200
