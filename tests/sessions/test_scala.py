"""A `spark` (Scala 2.13, pyspark 4.3.0) session on ONE real driver: the REPL's own output text,
compile and runtime errors, magics, completion, and the other kinds inside a Scala session."""

from __future__ import annotations

import re

import pytest

from session_helpers import (
    SCALA_START_TIMEOUT,
    base_conf,
    error_output,
    ok_text,
    post_statement,
    run,
    start_with_session,
    stop_server,
    wait_session_state,
    wait_statement,
)


def start_module(ctx):
    # A spark session is idle once its SparkSession is; the Scala interpreter starts in the
    # background and the first statement waits for it.
    return start_with_session("livy-scala", base_conf(), {"kind": "spark"}, SCALA_START_TIMEOUT)


@pytest.fixture(scope="module")
def sid(started):
    assert started.view["kind"] == "spark"
    return started.sid


def test_expression_prints_like_the_scala_213_repl(livy, sid):
    st = run(livy, sid, "spark.range(100).count()")
    assert st["id"] == 0
    assert ok_text(st) == "val res0: Long = 100\n"


def test_definitions_println_and_result_are_concatenated(livy, sid):
    text = ok_text(run(livy, sid, 'val a = 1\nprintln("hi")\na + 1'))
    assert re.fullmatch(r"val a: Int = 1\nhi\nval res\d+: Int = 2\n", text), repr(text)
    text = ok_text(run(livy, sid, "sc.parallelize(1 to 10).map(_ * 2).sum()"))
    assert re.fullmatch(r"val res\d+: Double = 110\.0\n", text), repr(text)
    assert ok_text(run(livy, sid, "// only a comment")) == ""


def test_compile_error_is_an_error_output(livy, sid):
    out = error_output(run(livy, sid, "undefinedThing + 1"))
    assert out["ename"] == "Error"
    assert re.match(r"(<console>:\d+: )?error: not found: value undefinedThing", out["evalue"]), out
    assert all(isinstance(line, str) for line in out["traceback"]), out


def test_runtime_exception_is_an_error_output(livy, sid):
    out = error_output(run(livy, sid, 'throw new RuntimeException("boom")'))
    assert out["ename"] == "Error"
    assert out["evalue"] == "java.lang.RuntimeException: boom", out
    assert out["traceback"] and re.search(r"\.\.\. \d+ elided", out["traceback"][-1]), out
    # The interpreter survives both kinds of error.
    assert re.fullmatch(r"val res\d+: Int = 3\n", ok_text(run(livy, sid, "1 + 2")))


def test_table_magic(livy, sid):
    st = run(livy, sid, 'case class P(n: Int, s: String)\nval ps = Seq(P(1, "a"), P(2, "b"))\n%table ps')
    assert st["output"]["status"] == "ok", st
    table = st["output"]["data"]["application/vnd.livy.table.v1+json"]
    assert sorted((h["name"], h["type"]) for h in table["headers"]) == [
        ("n", "BIGINT_TYPE"), ("s", "STRING_TYPE")]
    assert table["data"] == [[1, "a"], [2, "b"]]


def test_completion(livy, sid):
    status, body, _ = livy.call("POST", f"/sessions/{sid}/completion",
                                {"code": "spark.ran", "kind": "spark", "cursor": 9})
    assert (status, body) == (200, {"candidates": ["range"]})
    # Default kind (the session's) and cursor (end of the code).
    status, body, _ = livy.call("POST", f"/sessions/{sid}/completion", {"code": '"abc".'})
    assert status == 200 and {"charAt", "length", "toUpperCase"} <= set(body["candidates"]), body


def test_other_kinds_run_in_a_spark_session(livy, sid):
    assert ok_text(run(livy, sid, "1 + 1", kind="pyspark")) == "2"
    st = run(livy, sid, "SELECT 1 AS one", kind="sql")
    assert st["output"]["data"] == {"application/json": {
        "schema": {"type": "struct", "fields": [
            {"name": "one", "type": "integer", "nullable": False, "metadata": {}}]},
        "data": [[1]],
    }}, st


def test_cancel_of_thread_sleep_right_after_submitting(livy, sid):
    """The cancel may reach the driver before the statement's code took its thread: the
    interrupt must not be lost (the statement would sleep on, `cancelled` only by the timeout
    and the session busy for five minutes)."""
    import time as _time
    for _ in range(3):
        st = post_statement(livy, sid, "Thread.sleep(300000)")
        t0 = _time.monotonic()
        livy.call("POST", f"/sessions/{sid}/statements/{st['id']}/cancel")
        wait_session_state(livy, sid, {"idle"}, 25)
        done = wait_statement(livy, sid, st["id"], 5)
        assert done["state"] == "cancelled", done
        assert _time.monotonic() - t0 < 25
    assert ok_text(run(livy, sid, "1 + 1", kind="spark")).strip().endswith("2")
