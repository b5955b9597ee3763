"""A kind=shared session on Spark 4 / Scala 2.13: Scala statements through the in-driver REPL,
sql, and one SparkContext shared by all kinds."""

import pytest

from conftest import start_driver
from fake_server import wait_until


@pytest.fixture(scope="module")
def d(tmp_path_factory):
    driver = start_driver(tmp_path_factory, "shared")
    yield driver
    if driver.server.conn is not None and not driver.server.closed:
        assert driver.shutdown() == 0
    else:
        driver.shutdown()  # after test_connection_drop_stops_the_driver


def ok_text(out):
    assert out["status"] == "ok", out
    return out["data"]["text/plain"]


def test_scala_starts_lazily(d):
    assert "interpreter started" not in d.log_text()


def test_statement_needs_a_kind(d):
    out = d.run("1 + 1")  # no kind in a shared session
    assert out["status"] == "error"
    assert out["evalue"] == "Code type should be specified if session kind is shared"


def test_scala_values_like_spark_shell(d):
    out = d.run("1 + 1", kind="spark", timeout=180)
    assert out == {"status": "ok", "execution_count": out["execution_count"],
                   "data": {"text/plain": "val res0: Int = 2\n"}}
    assert "interpreter started" in d.log_text()
    assert ok_text(d.run("val x = 1\n\nval y = 2\nx + y", kind="spark")) == \
        "val x: Int = 1\nval y: Int = 2\nval res1: Int = 3\n"


def test_scala_println_is_captured(d):
    assert ok_text(d.run('println("Hello World")', kind="spark")) == "Hello World\n"
    assert ok_text(d.run("print(1)\nprint(2)", kind="spark")) == "12"


def test_scala_multiline_definitions(d):
    code = "def twice(i: Int): Int = {\n  i * 2\n}\ntwice(21)"
    assert ok_text(d.run(code, kind="spark")).endswith(": Int = 42\n")


def test_scala_comments_and_incomplete(d):
    assert ok_text(d.run("// just a comment", kind="spark")) == ""
    assert ok_text(d.run("val r = 1\n// comment", kind="spark")) == "val r: Int = 1\n"
    out = d.run("sc.", kind="spark")
    assert out["status"] == "error"
    assert (out["ename"], out["evalue"], out["traceback"]) == ("Error", "incomplete statement", [])


def test_scala_compile_error(d):
    out = d.run("val ok = 1\nnot_defined_here", kind="spark")
    assert out["status"] == "error" and out["ename"] == "Error"
    assert "error: not found: value not_defined_here" in out["evalue"]
    assert all(isinstance(x, str) for x in out["traceback"])


def test_scala_runtime_error(d):
    out = d.run('throw new RuntimeException("boom")', kind="spark")
    assert out["status"] == "error" and out["ename"] == "Error"
    assert out["evalue"] == "java.lang.RuntimeException: boom"
    assert out["traceback"] and "elided" in "".join(out["traceback"])


def test_scala_spark_with_closures_and_case_classes(d):
    code = ("case class Person(name: String, age: Int)\n"
            "val people = sc.parallelize(Seq(Person(\"a\", 30), Person(\"b\", 40))).toDF()\n"
            "people.filter($\"age\" > 35).count()")
    text = ok_text(d.run(code, kind="spark"))
    assert text.startswith("class Person\n")  # what Scala 2.13's REPL prints for a case class
    assert text.endswith(": Long = 1\n")
    assert ok_text(d.run("sc.parallelize(1 to 4).map(_ * 2).collect()", kind="spark")).endswith(
        ": Array[Int] = Array(2, 4, 6, 8)\n")


def test_scala_magics(d):
    out = d.run('val t = List(List(1, "a"), List(3, "b"))\n%table t', kind="spark")
    assert out["data"] == {"application/vnd.livy.table.v1+json": {
        "headers": [{"type": "BIGINT_TYPE", "name": "0"}, {"type": "STRING_TYPE", "name": "1"}],
        "data": [[1, "a"], [3, "b"]]}}
    out = d.run('val m = Map("a" -> 1)\n%json m', kind="spark")
    assert out["data"] == {"application/json": {"a": 1}}
    out = d.run("%foo x", kind="spark")
    assert (out["ename"], out["evalue"]) == ("UnknownMagic", "Unknown magic command foo")


def test_views_shared_across_kinds(d):
    d.run('spark.range(5).toDF("n").createOrReplaceTempView("from_scala")', kind="spark")
    assert ok_text(d.run("spark.table('from_scala').count()", kind="pyspark")) == "5"
    out = d.run("select sum(n) as s from from_scala", kind="sql")
    assert out["data"]["application/json"]["data"] == [[10]]
    d.run("spark.createDataFrame([(7,)], ['v']).createOrReplaceTempView('from_python')", kind="pyspark")
    assert ok_text(d.run('spark.table("from_python").first().getLong(0)', kind="spark")).endswith(
        ": Long = 7\n")
    # the very same SparkContext
    py = ok_text(d.run("sc.applicationId", kind="pyspark"))
    sc_ = ok_text(d.run("sc.applicationId", kind="spark"))
    assert py.strip("'") in sc_


def test_scala_job_group_and_progress(d):
    sid = d.submit("sc.parallelize(1 to 6, 6).map { i => Thread.sleep(300); i }.count()", kind="spark")
    out = d.result(sid)["output"]
    assert ok_text(out).endswith(": Long = 6\n")
    progress = [m["progress"] for m in d.messages_of(sid) if m["type"] == "progress"]
    assert progress and progress == sorted(progress)
    assert ok_text(d.run("sc.statusTracker.getJobIdsForGroup(\"%d\").nonEmpty" % sid, kind="spark")) \
        .endswith(": Boolean = true\n")


def test_scala_cancel(d):
    jobs_before = d.log_text().count("DAGScheduler: Got job")
    sid = d.submit("sc.parallelize(1 to 2, 2).map { i => Thread.sleep(120000); i }.count()", kind="spark")
    # cancel once the Spark job runs (the driver's log says so), to exercise the job-group path
    wait_until(lambda: d.log_text().count("DAGScheduler: Got job") > jobs_before, 60, "the Spark job")
    d.server.send({"type": "cancel", "id": sid})
    out = d.result(sid, timeout=60)["output"]
    assert out["status"] == "error", out
    assert "cancel" in out["evalue"].lower() or "Interrupted" in out["evalue"], out
    assert ok_text(d.run("2 * 21", kind="spark")).endswith(": Int = 42\n")


def test_scala_completion(d):
    reply = d.request({"type": "complete", "kind": "spark", "code": '"a".', "cursor": 4}, "completion")
    assert "charAt" in reply["candidates"], reply


def test_python_cancel_in_shared_session(d):
    sid = d.submit("while True:\n    pass", kind="pyspark")
    d.server.wait_for(lambda m: m["type"] == "started" and m["id"] == sid, 60, "started")
    d.server.send({"type": "cancel", "id": sid})
    out = d.result(sid, timeout=30)["output"]
    assert out["ename"] == "KeyboardInterrupt"
    assert ok_text(d.run("'fine'", kind="pyspark")) == "'fine'"


def test_connection_drop_stops_the_driver(d):
    # Last test of the module: the server goes away, so Spark stops and the driver exits 3.
    d.server.drop()
    assert d.wait_exit(90) == 3
    assert "connection to the server lost" in d.log_text()
