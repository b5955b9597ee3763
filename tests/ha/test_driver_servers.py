"""A driver learns the servers that join the service after its launch (the server it talks to
tells it the live set, on connect and at every change): when every server it was launched with
dies, it dials back to a newcomer, which serves the session again with the output of the
statement that was running."""

from __future__ import annotations

import pytest

from conftest import started_service
from ha_helpers import busy_statement, statement
from pyharness.wait import wait_until


@pytest.fixture(scope="module")
def two_servers(tmp_path_factory, livy_bin, real_spark, light_spark_conf):
    with started_service(tmp_path_factory, livy_bin, real_spark, light_spark_conf, n=2) as svc:
        yield svc


def told_servers(server, sid: int):
    """The server lists the session's driver has logged (its `servers of the service` lines)."""
    status, body = server.call("GET", f"/sessions/{sid}/log?from=0&size=1000")[:2]
    if status != 200:
        return []
    marker = "servers of the service: "
    return [line.split(marker, 1)[1].split(", ") for line in body["log"] if marker in line]


def test_a_driver_dials_back_to_a_server_that_joined_after_its_launch(two_servers):
    from livy import LivySession, SessionKind

    svc = two_servers
    first = list(svc.servers)
    session = LivySession.create(svc.lb.url, kind=SessionKind.PYSPARK, echo=False)
    # The driver is launched knowing the first two servers only; the third joins while it starts.
    late = svc.new_server()
    svc.servers.append(late)
    svc.lb.start(svc.servers)
    with session:
        sid, st, owner = busy_statement(svc, session)
        assert owner in first
        wait_until(lambda: any(len(told) == 3 for told in told_servers(owner, sid)),
                   timeout=30, what="the driver told of the server that joined",
                   ignore=(OSError,))
        for s in first:
            svc.kill(s)
        # Only the newcomer is left: it adopts the session and the driver dials back to it,
        # re-sending the output of the statement that was running.
        done = wait_until(
            lambda: (s := statement(svc, sid, st["id"], via=late)) and
            s["state"] == "available" and s, timeout=60, what="the statement's result on the newcomer")
        assert done["output"]["data"]["text/plain"].strip() == "42", (done, late.log_text()[-3000:])
        # The session keeps working, through the balancer (now only the newcomer is up).
        assert session.run("print(2 + 3)").text.strip() == "5"
