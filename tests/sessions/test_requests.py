"""Request handling of /sessions that needs no Spark (a fake spark-submit that never calls back):
the echoed session view, rejected creations (bad JSON, unknown fields, invalid ttl, sparkr) that create nothing, bad statement bodies, unknown sessions and statements."""

from __future__ import annotations


import pytest

from session_helpers import (
    SESSION_INFO_FIELDS,
    base_conf,
    create_session,
    descendants,
    post_statement,
    session_processes,
    session_view,
    start_server,
    stop_server,
    wait_until,
)


@pytest.fixture(scope="module")
def livy(sleeping_spark_home):
    server = start_server(
        base_conf(**{"livy.server.spark-home": str(sleeping_spark_home)}), "livy-requests")
    yield server
    stop_server(server)


def count(livy) -> int:
    status, body, _ = livy.call("GET", "/sessions")
    assert status == 200, body
    return body["total"]


def launched(livy) -> set:
    return {p.pid for p in descendants(livy.pid)}


def assert_nothing_created(livy, before: int, launched_before: set):
    assert count(livy) == before
    new = [p for p in descendants(livy.pid) if p.pid not in launched_before]
    assert not new, f"processes started for a rejected request: {new}"


def test_view_echoes_the_request_as_livy_session_info(livy):
    body = {
        "kind": "pyspark", "name": "full-request", "driverMemory": "512m", "driverCores": 1,
        "executorMemory": "768m", "executorCores": 2, "numExecutors": 3, "queue": "etl",
        "conf": {"spark.livy.test.flag": "on"}, "heartbeatTimeoutInSecond": 600,
        "ttl": "2h", "idleTimeout": "30m",
    }
    view = create_session(livy, body)
    assert set(view) == SESSION_INFO_FIELDS, set(view) ^ SESSION_INFO_FIELDS
    expected = {
        "name": "full-request", "appId": None, "owner": None, "proxyUser": None,
        "kind": "pyspark", "ttl": "2h", "idleTimeout": "30m", "driverMemory": "512m",
        "driverCores": 1, "executorMemory": "768m", "executorCores": 2, "numExecutors": 3,
        "queue": "etl", "conf": {"spark.livy.test.flag": "on"}, "archives": [], "files": [],
        "jars": [], "pyFiles": [], "heartbeatTimeoutInSecond": 600,
        "appInfo": {"driverLogUrl": None, "sparkUiUrl": None, "executorLogUrls": None},
    }
    assert {k: view[k] for k in expected} == expected
    assert view["state"] in ("not_started", "starting")
    again = session_view(livy, view["id"])
    assert {k: again[k] for k in expected} == expected
    # The request reached spark-submit.
    procs = wait_until(lambda: session_processes(livy, view["id"]), 10, "the fake spark-submit")
    cmd = procs[0].cmdline
    for part in ("spark.driver.memory=512m", "spark.executor.memory=768m",
                 "spark.executor.cores=2", "spark.executor.instances=3",
                 "spark.livy.test.flag=on", "--queue etl", "--name full-request"):
        assert part in cmd, (part, cmd)
    status, body, _ = livy.call("DELETE", f"/sessions/{view['id']}")
    assert (status, body) == (200, {"msg": "deleted"})


@pytest.mark.parametrize("body", [
    '{"kind": ',
    '{"kind": "pyspark", "bogus": 1}',
    '{"kind": "cobol"}',
    '{"numExecutors": "many"}',
    '[]',
    '"pyspark"',
])
def test_bad_create_requests_are_400_and_create_nothing(livy, body):
    before, launched_before = count(livy), launched(livy)
    status, resp, _ = livy.call("POST", "/sessions", body)
    assert status == 400, (body, status, resp)
    assert isinstance(resp, dict) and set(resp) == {"msg"} and resp["msg"], resp
    assert_nothing_created(livy, before, launched_before)


@pytest.mark.parametrize("field,value", [("ttl", "abc"), ("idleTimeout", "soon")])
def test_invalid_time_strings_are_rejected(livy, field, value):
    before, launched_before = count(livy), launched(livy)
    status, resp, _ = livy.call("POST", "/sessions", {"kind": "pyspark", field: value})
    assert (status, resp) == (400, {"msg": f"Rejected, Reason: Invalid time string: {value}"})
    assert_nothing_created(livy, before, launched_before)


def test_sparkr_sessions_are_refused_saying_why_and_what_to_use(livy):
    before, launched_before = count(livy), launched(livy)
    status, resp, _ = livy.call("POST", "/sessions", {"kind": "sparkr", "name": "r-session"})
    assert status == 400, resp
    msg = resp["msg"]
    assert msg.startswith("Rejected, Reason: SparkR sessions are not supported by livy-rs"), msg
    assert "use kind pyspark, spark or sql" in msg, msg
    assert_nothing_created(livy, before, launched_before)


def test_bad_statement_requests_are_400_and_create_nothing(livy):
    sid = create_session(livy, {"kind": "pyspark"})["id"]
    try:
        first = post_statement(livy, sid, "1 + 1")
        assert (first["id"], first["state"]) == (0, "waiting")
        for bad in ('{"code": ', '{"code": "1", "bogus": 1}', '{"kind": "pyspark"}',
                    '{"code": null}', '[]', '{"code": 1 + 2}', '{"code": "1", "kind": "cobol"}'):
            status, resp, _ = livy.call("POST", f"/sessions/{sid}/statements", bad)
            assert status == 400, (bad, status, resp)
            assert isinstance(resp, dict) and set(resp) == {"msg"} and resp["msg"], (bad, resp)
        status, listing, _ = livy.call("GET", f"/sessions/{sid}/statements")
        assert status == 200 and listing["total_statements"] == 1, listing
        assert post_statement(livy, sid, "2")["id"] == 1
        # Unknown statements.
        for path in ("statements/2", "statements/99999999999", "statements/-1", "statements/x"):
            status, resp, _ = livy.call("GET", f"/sessions/{sid}/{path}")
            assert (status, resp) == (404, {"msg": "Statement not found"}), path
        status, resp, _ = livy.call("GET", f"/sessions/{sid}/statements?from=x")
        assert status == 400 and set(resp) == {"msg"}, resp
        status, resp, _ = livy.call("POST", f"/sessions/{sid}/completion", '{"cursor": 1}')
        assert status == 400 and set(resp) == {"msg"}, resp
    finally:
        livy.call("DELETE", f"/sessions/{sid}")


@pytest.mark.parametrize("method,path,body", [
    ("GET", "/sessions/{x}", None),
    ("GET", "/sessions/{x}/state", None),
    ("GET", "/sessions/{x}/log", None),
    ("GET", "/sessions/{x}/statements", None),
    ("GET", "/sessions/{x}/statements/0", None),
    ("POST", "/sessions/{x}/statements", {"code": "1"}),
    ("POST", "/sessions/{x}/statements/0/cancel", None),
    ("POST", "/sessions/{x}/completion", {"code": "sc."}),
    ("DELETE", "/sessions/{x}", None),
])
@pytest.mark.parametrize("x", ["4711", "no-such-name"])
def test_unknown_session_is_404(livy, method, path, body, x):
    status, resp, _ = livy.call(method, path.format(x=x), body)
    assert (status, resp) == (404, {"msg": f"Session '{x}' not found."})
