"""A `shared` session (Livy 0.9's default kind, used when the request names none) on ONE real
driver: statements must say their kind, and one SparkSession serves Scala, Python and SQL."""

from __future__ import annotations

import re

import pytest

from session_helpers import (
    SPARK_START_TIMEOUT,
    base_conf,
    ok_text,
    run,
    start_with_session,
    stop_server,
)

NO_KIND = {"msg": "Code type should be specified if session kind is shared"}


def while_starting(livy, view):
    """A statement without kind, posted at once: rejected also while the session starts."""
    return {
        "no_kind": livy.call("POST", f"/sessions/{view['id']}/statements", {"code": "1 + 1"})[:2],
        "state": livy.call("GET", f"/sessions/{view['id']}/state")[1]["state"],
    }


def start_module(ctx):
    return start_with_session("livy-shared", base_conf(), {}, SPARK_START_TIMEOUT,
                              early=while_starting)


def test_default_kind_is_shared(started):
    assert started.view["kind"] == "shared"


def test_statements_without_kind_are_rejected(livy, started, sid):
    assert started.early["state"] in ("not_started", "starting")
    assert started.early["no_kind"] == (400, NO_KIND)
    for body in ({"code": "1 + 1"}, {"code": "1 + 1", "kind": None}):
        status, msg, _ = livy.call("POST", f"/sessions/{sid}/statements", body)
        assert (status, msg) == (400, NO_KIND), body
    status, listing, _ = livy.call("GET", f"/sessions/{sid}/statements")
    assert (status, listing) == (200, {"total_statements": 0, "statements": []})
    # With a kind it runs, and ids start at 0: the rejected ones consumed none.
    st = run(livy, sid, "1 + 1", kind="pyspark")
    assert st["id"] == 0 and ok_text(st) == "2"


def test_a_temp_view_made_in_scala_is_visible_from_pyspark_and_sql(livy, sid):
    st = run(
        livy, sid,
        'spark.range(5).selectExpr("id", "id * id AS sq").createOrReplaceTempView("squares")',
        kind="spark", timeout=300,  # the first Scala statement starts the interpreter
    )
    assert ok_text(st) == "", st
    assert ok_text(run(livy, sid, "spark.table('squares').orderBy('id').collect()[-1].sq",
                       kind="pyspark")) == "16"
    st = run(livy, sid, "SELECT sum(sq) AS total, count(*) AS n FROM squares", kind="sql")
    assert st["output"]["status"] == "ok", st
    assert st["output"]["data"]["application/json"]["data"] == [[30, 5]]
    # ... and the other way round.
    assert ok_text(run(livy, sid, "spark.createDataFrame([(1, 'a'), (2, 'b')], ['k', 'v'])"
                       ".createOrReplaceTempView('from_python')", kind="pyspark")) == ""
    text = ok_text(run(livy, sid, 'spark.table("from_python").count()', kind="spark"))
    assert re.fullmatch(r"val res\d+: Long = 2\n", text), repr(text)
