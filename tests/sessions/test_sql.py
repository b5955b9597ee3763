"""A `sql` session on ONE real driver (`livy.rsc.sql.num-rows=5`): results as schema + data
JSON, the row cap, SQL errors; then (last) its driver is killed with SIGKILL and the session
must end up `dead`, keep its log, refuse statements and leave no process behind."""

from __future__ import annotations

import os
import signal
import time

import pytest

from session_helpers import (
    SPARK_START_TIMEOUT,
    base_conf,
    config_needle,
    error_output,
    ok_text,
    post_statement,
    run,
    session_processes,
    session_view,
    start_with_session,
    stop_server,
    wait_gone,
    wait_session_state,
    wait_statement,
    wait_until,
)

NUM_ROWS = 5
#: livy.rsc.job-cancel.timeout of the module's server (seconds).
CANCEL_TIMEOUT = 20


def start_module(ctx):
    conf = base_conf(**{"livy.rsc.sql.num-rows": NUM_ROWS,
                        "livy.rsc.job-cancel.timeout": f"{CANCEL_TIMEOUT}s"})
    return start_with_session("livy-sql", conf, {"kind": "sql"}, SPARK_START_TIMEOUT)


@pytest.fixture(scope="module")
def sid(started):
    assert started.view["kind"] == "sql"
    return started.sid


def field(name, type_, nullable=False):
    return {"name": name, "type": type_, "nullable": nullable, "metadata": {}}


def test_query_result_is_schema_and_data(livy, sid):
    st = run(livy, sid, "SELECT 1 AS one, 'a' AS s, CAST(2.5 AS DOUBLE) AS d, true AS b, "
                        "CAST(NULL AS STRING) AS z, array(1, 2) AS arr")
    assert st["id"] == 0 and st["output"]["status"] == "ok", st
    assert st["output"]["execution_count"] == 0
    assert st["output"]["data"] == {"application/json": {
        "schema": {"type": "struct", "fields": [
            field("one", "integer"), field("s", "string"), field("d", "double"),
            field("b", "boolean"), field("z", "string", True),
            field("arr", {"type": "array", "elementType": "integer", "containsNull": False}),
        ]},
        "data": [[1, "a", 2.5, True, None, [1, 2]]],
    }}, st["output"]


def test_rows_are_capped_by_livy_rsc_sql_num_rows(livy, sid):
    st = run(livy, sid, "SELECT id, id % 2 = 0 AS even FROM range(100)")
    data = st["output"]["data"]["application/json"]
    assert data["schema"]["fields"] == [field("id", "long"), field("even", "boolean", True)]
    assert data["data"] == [[i, i % 2 == 0] for i in range(NUM_ROWS)]


def test_views_from_other_kinds(livy, sid):
    assert ok_text(run(livy, sid, "spark.range(3).createOrReplaceTempView('three')",
                       kind="pyspark")) == ""
    st = run(livy, sid, "SELECT count(*) AS n FROM three")
    assert st["output"]["data"]["application/json"]["data"] == [[3]]


def test_sql_error_and_nothing_of_it_leaks_into_the_next_python_output(livy, sid):
    out = error_output(run(livy, sid, "SELECT nope FROM range(1)"))
    assert out["ename"] == "Error"
    assert "nope" in out["evalue"] and "UNRESOLVED_COLUMN" in out["evalue"], out
    assert out["traceback"] and all(isinstance(t, str) for t in out["traceback"])
    st = run(livy, sid, "SELECT 2 AS two")
    assert st["output"]["data"]["application/json"]["data"] == [[2]]
    # Nothing of the failed query leaks into the next Python statement's output.
    assert ok_text(run(livy, sid, "1 + 1", kind="pyspark")) == "2"


def test_cancel_of_a_long_query_mid_stage(livy, sid):
    # ~2000 tasks of 50M rows: minutes on this machine, unless the cancel ends it.
    st = post_statement(livy, sid, "SELECT sum(id % 7) AS s FROM range(0, 100000000000, 1, 2000)")

    def mid_stage():
        view = livy.call("GET", f"/sessions/{sid}/statements/{st['id']}")[1]
        assert view["state"] in ("waiting", "running"), view
        return 0 < view["progress"] < 1

    wait_until(mid_stage, 120, "the query's stage under way", interval=0.2)
    t0 = time.monotonic()
    status, body, _ = livy.call("POST", f"/sessions/{sid}/statements/{st['id']}/cancel")
    assert (status, body) == (200, {"msg": "canceled"}), body
    done = wait_statement(livy, sid, st["id"], CANCEL_TIMEOUT + 5)
    assert done["state"] == "cancelled", done
    # Nothing interrupts a SQL statement's thread but the cancelled Spark job group: the
    # session is idle (its driver free) long before the query would have ended.
    wait_session_state(livy, sid, {"idle"}, CANCEL_TIMEOUT)
    assert time.monotonic() - t0 < CANCEL_TIMEOUT
    tracker = "sc.statusTracker()"
    code = (f"sorted({{{tracker}.getJobInfo(j).status for j in {tracker}.getJobIdsForGroup('{st['id']}')}}), "
            f"{tracker}.getActiveJobsIds()")
    assert ok_text(run(livy, sid, code, kind="pyspark")) == "(['FAILED'], [])"
    st = run(livy, sid, "SELECT 3 AS three")
    assert st["output"]["data"]["application/json"]["data"] == [[3]]


def test_sigkill_of_the_driver_makes_the_session_dead(livy, sid):
    procs = session_processes(livy, sid)
    needle = config_needle(procs)
    drivers = [p for p in procs if "livy_rs_driver.py" in p.cmdline and "python" in
               os.path.basename(p.cmdline.split()[0])]
    assert len(drivers) == 1, procs
    # A statement is running when the driver dies.
    running = post_statement(livy, sid, "SELECT count(*) FROM range(1000000000) a "
                                        "CROSS JOIN range(1000000000) b")
    wait_until(lambda: livy.call("GET", f"/sessions/{sid}/statements/{running['id']}")[1]
               ["state"] == "running", 30, "the long statement to run")

    os.kill(drivers[0].pid, signal.SIGKILL)
    killed_at = time.monotonic()
    view = wait_session_state(livy, sid, {"dead"}, 20, "(after SIGKILL of the driver)")
    assert time.monotonic() - killed_at < 20
    assert view["state"] == "dead"

    # The session stays listed with its log: Spark's last lines and why it died.
    status, log, _ = livy.call("GET", f"/sessions/{sid}/log?size=1000")
    assert status == 200, log
    lines = log["log"]
    assert any("SparkContext" in line for line in lines), lines[-30:]
    assert "livy-rs" in lines[-1] and "driver" in lines[-1], lines[-5:]
    assert session_view(livy, sid)["log"][-1] == lines[-1]

    status, body, _ = livy.call("POST", f"/sessions/{sid}/statements", {"code": "SELECT 1"})
    assert (status, body) == (400, {"msg": "Session isn't active."})
    # The statement that was running does not stay running for ever.
    st = wait_statement(livy, sid, running["id"], 30)
    assert st["state"] in ("available", "cancelled") and st["output"]["status"] == "error", st

    wait_gone(procs, needle, 30, "the driver's JVM and Python processes to exit")
    assert session_view(livy, sid)["state"] == "dead"
    # A dead session can still be deleted.
    status, body, _ = livy.call("DELETE", f"/sessions/{sid}")
    assert (status, body) == (200, {"msg": "deleted"})
    status, body, _ = livy.call("GET", f"/sessions/{sid}")
    assert (status, body) == (404, {"msg": f"Session '{sid}' not found."})
