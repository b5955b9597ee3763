"""A kind=spark session on Spark 3.5 / Scala 2.12 (.venv-spark35): the Scala interpreter starts
right after `ready`, and outputs are those of Livy's Scala 2.12 SparkInterpreter."""

import time

import pytest

from conftest import start_driver


@pytest.fixture(scope="module")
def d(tmp_path_factory, spark35_python):
    driver = start_driver(tmp_path_factory, "spark", python=spark35_python)
    yield driver
    assert driver.shutdown() == 0


def ok_text(out):
    assert out["status"] == "ok", out
    return out["data"]["text/plain"]


def test_ready_then_the_scala_interpreter_starts_in_the_background(d):
    assert d.ready_msg["spark_version"].startswith("3.5.")
    assert d.ready_msg["scala_version"].startswith("2.12.")
    # `ready` goes out before the interpreter exists (a spark session is idle sooner); the
    # interpreter is built right after, without waiting for a first statement.
    deadline = time.monotonic() + 120
    while "interpreter started" not in d.log_text():
        assert time.monotonic() < deadline, "the Scala interpreter did not start: " + d.log_text()[-2000:]
        time.sleep(0.2)


def test_values_like_livy(d):
    # Livy's ScalaInterpreterSpec: `1 + 2` -> "res0: Int = 3\n"; statements carry kind "spark"
    assert ok_text(d.run("1 + 2")) == "res0: Int = 3\n"
    assert ok_text(d.run("val x = 1")) == "x: Int = 1\n"
    assert ok_text(d.run("val y = 2\nx + y")) == "y: Int = 2\nres1: Int = 3\n"
    assert ok_text(d.run('println("Hello World")')) == "Hello World\n"
    assert ok_text(d.run("println(1)\nprintln(2)")) == "1\n2\n"


def test_spark_commands(d):
    assert ok_text(d.run("sc.parallelize(0 to 1).map { i => i+1 }.collect")).endswith(
        ": Array[Int] = Array(1, 2)\n")
    code = ("case class P(a: Int)\n"
            "spark.createDataset(sc.parallelize(1 to 3).map(P(_))).filter(_.a > 1).count()")
    text = ok_text(d.run(code))
    assert text.startswith("defined class P\n") and text.endswith(": Long = 2\n")


def test_comments(d):
    assert ok_text(d.run("// comment")) == ""
    assert ok_text(d.run("val r = 1\n// comment")) == "r: Int = 1\n"
    out = d.run("sc.")
    assert (out["status"], out["evalue"]) == ("error", "incomplete statement")


def test_errors_like_livy(d):
    out = d.run("x_not_there")
    assert out["status"] == "error" and out["ename"] == "Error"
    assert out["evalue"].startswith("<console>:") and "error: not found: value x_not_there" in out["evalue"]
    out = d.run('throw new IllegalStateException("bad")')
    assert out["evalue"] == "java.lang.IllegalStateException: bad"


def test_magic_table(d):
    out = d.run('val x = List(List(1, "a"), List(3, "b"))\n%table x')
    assert out["data"] == {"application/vnd.livy.table.v1+json": {
        "headers": [{"type": "BIGINT_TYPE", "name": "0"}, {"type": "STRING_TYPE", "name": "1"}],
        "data": [[1, "a"], [3, "b"]]}}
    out = d.run('val x = List(List(1, "a"), List(3, "b"))\n%table x\n1 + 2')
    assert ok_text(out).endswith(": Int = 3\n")


def test_completion(d):
    reply = d.request({"type": "complete", "kind": "spark", "code": '"a".', "cursor": 4}, "completion")
    assert "charAt" in reply["candidates"] and "compareTo" in reply["candidates"]


def test_python_and_sql_in_a_spark_session(d):
    d.run('spark.range(3).createOrReplaceTempView("t212")')
    assert ok_text(d.run("spark.table('t212').count()", kind="pyspark")) == "3"
    out = d.run("select count(*) as c from t212", kind="sql")
    assert out["data"]["application/json"]["data"] == [[3]]
