"""Scala 2.12: a `spark` session on pyspark 3.5.x (.venv-spark35), one small module. The REPL of
2.12 prints `res0: Long = 100` (no `val`) and `<console>:N: error: ...`."""

from __future__ import annotations

import re

import pytest

from session_helpers import (
    SCALA_START_TIMEOUT,
    base_conf,
    error_output,
    ok_text,
    run,
    session_view,
    spark35_paths,
    start_with_session,
    stop_server,
)


def start_module(ctx):
    home, python = spark35_paths()
    return start_with_session(
        "livy-scala212", base_conf(), {"kind": "spark"}, SCALA_START_TIMEOUT,
        env={"SPARK_HOME": str(home), "PYSPARK_PYTHON": str(python)},
    )


def test_scala_212_output_and_errors(livy, sid):
    st = run(livy, sid, "spark.range(100).count()")
    assert st["id"] == 0 and ok_text(st) == "res0: Long = 100\n"
    text = ok_text(run(livy, sid, "sc.version"))
    assert re.fullmatch(r'res\d+: String = 3\.5\.\d+\n', text), repr(text)
    text = ok_text(run(livy, sid, 'val a = 1\nprintln("hi")'))
    assert text == "a: Int = 1\nhi\n", repr(text)

    out = error_output(run(livy, sid, "undefinedThing + 1"))
    assert out["ename"] == "Error"
    assert re.fullmatch(r"<console>:\d+: error: not found: value undefinedThing", out["evalue"]), out
    assert "       undefinedThing + 1\n" in out["traceback"], out

    assert re.fullmatch(r"res\d+: Int = 3\n", ok_text(run(livy, sid, "1 + 2")))
    assert re.match(r"local-\d+", session_view(livy, sid)["appId"])
