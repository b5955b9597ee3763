"""A kind=pyspark session: Python statements (Livy's fake_shell semantics), magics, sql,
progress, cancel, completion, the Job API and files, against one real driver."""

import base64
import os
import shutil
import subprocess
import time

import pytest

from conftest import start_driver
from fake_server import b64_pickled_job, unpickle_job_result, wait_until

OUTPUT_CAP = 4096
MAX_MESSAGE = 256 * 1024


@pytest.fixture(scope="module")
def d(tmp_path_factory):
    driver = start_driver(tmp_path_factory, "pyspark", output_cap_bytes=OUTPUT_CAP,
                          max_message_bytes=MAX_MESSAGE, sql_num_rows=3)
    yield driver
    assert driver.shutdown() == 0


def ok_text(out):
    assert out["status"] == "ok", out
    return out["data"]["text/plain"]


def test_ready_message(d):
    r = d.ready_msg
    assert r["spark_version"].startswith("4.")
    assert r["scala_version"].startswith("2.13")
    assert r["app_id"].startswith("local-")
    assert r["spark_ui_url"] is None  # spark.ui.enabled=false in these tests


def test_expression_value_and_namespace(d):
    out = d.run("1 + 1")
    assert out == {"status": "ok", "execution_count": out["execution_count"], "data": {"text/plain": "2"}}
    assert ok_text(d.run("type(spark).__name__, type(sc).__name__, type(sqlContext).__name__")) == \
        "('SparkSession', 'SparkContext', 'SQLContext')"
    assert ok_text(d.run("sc.parallelize(range(10)).sum()")) == "45"


def test_stdout_stderr_and_rstrip(d):
    code = "import sys\nprint('out')\nsys.stderr.write('err\\n')\nx = 3\nx * 2\n"
    # fake_shell: echoed value and stdout first, then stderr, the whole rstripped
    assert ok_text(d.run(code)) == "out\n6\nerr"
    assert ok_text(d.run("x = 1")) == ""
    assert ok_text(d.run("")) == ""
    assert ok_text(d.run("print('  a  \\n\\n')")) == "  a"
    assert ok_text(d.run("a = 1\r\nb = 2\r\na + b")) == "3"  # Windows line endings


def test_state_persists_and_definitions(d):
    d.run("def f(n):\n    return n + 1\n\nclass K:\n    pass")
    assert ok_text(d.run("f(41)")) == "42"
    assert ok_text(d.run("sc.parallelize([1, 2]).map(f).collect()")) == "[2, 3]"


def test_runtime_error(d):
    out = d.run("x = 1\n1 / 0")
    assert out["status"] == "error"
    assert out["ename"] == "ZeroDivisionError"
    assert out["evalue"] == "division by zero"
    assert out["traceback"] == ["Traceback (most recent call last):\n",
                                "ZeroDivisionError: division by zero\n"]


def test_error_in_function_keeps_user_frames(d):
    out = d.run("def g():\n    raise ValueError('bad')\ng()")
    assert out["ename"] == "ValueError" and out["evalue"] == "bad"
    assert out["traceback"][0] == "Traceback (most recent call last):\n"
    assert out["traceback"][1].startswith('  File "<stdin>", line 2, in g')
    assert "livy_rs_driver" not in "".join(out["traceback"])


def test_syntax_error(d):
    out = d.run("1 +")
    assert out["status"] == "error" and out["ename"] == "SyntaxError"
    assert out["evalue"].startswith("invalid syntax") or "(<stdin>, line 1)" in out["evalue"]
    assert out["traceback"][0].startswith('  File "<stdin>", line 1')
    assert out["traceback"][-1].startswith("SyntaxError: ")


def test_prints_of_a_failed_statement_do_not_leak(d):
    d.run("print('lost')\n1/0")
    assert ok_text(d.run("2 + 2")) == "4"


def test_magic_table(d):
    d.run("from pyspark.sql import Row\nrows = [Row(a=1, b='x'), Row(a=2, b=None)]")
    out = d.run("%table rows")
    assert out["status"] == "ok"
    assert out["data"] == {"application/vnd.livy.table.v1+json": {
        "headers": [{"name": "a", "type": "INT_TYPE"}, {"name": "b", "type": "STRING_TYPE"}],
        "data": [[1, "x"], [2, None]]}}
    out = d.run("import datetime, decimal\n"
                "t = [[True, 1.5, datetime.date(2020, 1, 2), decimal.Decimal('1.10'), [1, 2]]]\n"
                "%table t")
    assert out["data"]["application/vnd.livy.table.v1+json"] == {
        "headers": [{"name": "0", "type": "BOOLEAN_TYPE"}, {"name": "1", "type": "DOUBLE_TYPE"},
                    {"name": "2", "type": "DATE_TYPE"}, {"name": "3", "type": "DECIMAL_TYPE"},
                    {"name": "4", "type": "ARRAY_TYPE"}],
        "data": [[True, 1.5, "2020-01-02", "1.10", [1, 2]]]}


def test_magic_table_with_prints_and_errors(d):
    out = d.run("print('hello')\nv = [{'k': 1}]\n%table v")
    assert out["data"]["text/plain"] == "hello"
    assert out["data"]["application/vnd.livy.table.v1+json"]["headers"] == [{"name": "k", "type": "INT_TYPE"}]
    # fake_shell returns an error *reply* as data for a missing name: status stays "ok"
    out = d.run("%table nothing_here")
    assert out["status"] == "ok"
    assert out["data"] == {"msg_type": "execute_reply", "content": {
        "ename": "KeyError", "evalue": "'nothing_here'", "traceback": ["KeyError: 'nothing_here'\n"],
        "status": "error"}}
    out = d.run("mixed = [[1], ['a']]\n%table mixed")
    assert out["data"]["content"]["ename"] == "Exception"
    assert out["data"]["content"]["evalue"] == "table rows have different types"
    assert out["data"]["content"]["traceback"] == ["Exception: table rows have different types\n"]


def test_magic_json_and_unknown_magic(d):
    out = d.run("j = {'a': [1, 2.5, None], 'b': {'c': 'd'}, 'n': float('nan')}\n%json j")
    assert out["data"] == {"application/json": {"a": [1, 2.5, None], "b": {"c": "d"}, "n": "NaN"}}
    out = d.run("%nope x")
    assert out["status"] == "error" and out["ename"] == "UnknownMagic"
    assert out["evalue"] == "unknown magic command 'nope'"
    assert out["traceback"] == ["UnknownMagic: unknown magic command 'nope'\n"]


def test_magic_matplot(d):
    out = d.run("import matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [1, 4, 9])\n%matplot plt")
    assert out["status"] == "ok", out
    # the echoed value of plt.plot(...) comes along, as in Livy
    assert out["data"]["text/plain"].startswith("[<matplotlib.lines.Line2D object at ")
    out = d.run("_ = plt.plot([1, 2])\n%matplot plt")
    assert set(out["data"]) == {"image/png"}
    assert base64.b64decode(out["data"]["image/png"])[:8] == b"\x89PNG\r\n\x1a\n"


def test_output_cap_truncates_visibly(d):
    text = ok_text(d.run("print('y' * 10000)"))
    assert text.startswith("y" * 100)
    assert text.endswith("\n...[output truncated by livy-rs: 10000 bytes total]")
    assert len(text.encode()) < OUTPUT_CAP + 100


def test_too_large_message_becomes_an_error(d):
    out = d.run("big = {'a': 'z' * (%d)}\n%%json big" % (MAX_MESSAGE + 10))
    assert out["status"] == "error" and out["ename"] == "OutputTooLarge"
    assert "max" in out["evalue"] or "more than" in out["evalue"]
    assert ok_text(d.run("'still' + ' alive'")) == "'still alive'"


def test_started_progress_and_job_group(d):
    code = "import time\nsc.parallelize(range(8), 8).map(lambda x: time.sleep(0.4) or x).count()"
    sid = d.submit(code)
    res = d.result(sid)
    assert ok_text(res["output"]) == "8"
    msgs = d.messages_of(sid)
    started = [m for m in msgs if m["type"] == "started"]
    progress = [m["progress"] for m in msgs if m["type"] == "progress"]
    assert len(started) == 1 and started[0]["at"] <= res["completed"]
    assert msgs.index(started[0]) < msgs.index(res)
    assert progress, "a statement running Spark tasks reports progress"
    assert all(0.0 <= p <= 1.0 for p in progress) and progress == sorted(progress)
    assert len(set(progress)) == len(progress), "progress is sent only when it changes"
    # Livy's job group of a statement is its id
    assert ok_text(d.run("len(sc.statusTracker().getJobIdsForGroup('%d')) > 0" % sid)) == "True"


def _cancel_when_started(d, sid):
    d.server.wait_for(lambda m: m["type"] == "started" and m["id"] == sid, 60, "started")
    d.server.send({"type": "cancel", "id": sid})


def test_cancel_python_loop(d):
    sid = d.submit("import time\nfor i in range(6000):\n    time.sleep(0.01)\n'finished'")
    _cancel_when_started(d, sid)
    t0 = time.monotonic()
    out = d.result(sid, timeout=30)["output"]
    assert out["status"] == "error" and out["ename"] == "KeyboardInterrupt", out
    assert time.monotonic() - t0 < 20
    assert ok_text(d.run("1 + 2")) == "3"


def test_cancel_spark_job(d):
    sid = d.submit("spark.range(0, 10**12, 1, 2).selectExpr('sum(id * id)').collect()")
    _cancel_when_started(d, sid)
    out = d.result(sid, timeout=60)["output"]
    assert out["status"] == "error", out
    assert out["ename"] in ("KeyboardInterrupt", "Py4JJavaError", "SparkException") or \
        "cancel" in out["evalue"].lower(), out
    assert ok_text(d.run("sc.parallelize(range(5)).count()")) == "5"


def test_cancel_of_other_statement_is_ignored(d):
    d.server.send({"type": "cancel", "id": 99999})
    assert ok_text(d.run("'ok'")) == "'ok'"


def test_completion(d):
    d.run("my_variable = 1")
    reply = d.request({"type": "complete", "kind": "pyspark", "code": "x = my_var", "cursor": 10},
                      "completion")
    assert "my_variable" in reply["candidates"]
    reply = d.request({"type": "complete", "kind": "pyspark", "code": "sc.paral", "cursor": 8},
                      "completion")
    assert "sc.parallelize" in reply["candidates"]


def test_sql_schema_data_and_row_cap(d):
    out = d.run("select id, cast(id as string) as s from range(10)", kind="sql")
    assert out["status"] == "ok"
    assert out["data"]["application/json"] == {
        "schema": {"type": "struct", "fields": [
            {"name": "id", "type": "long", "nullable": False, "metadata": {}},
            {"name": "s", "type": "string", "nullable": False, "metadata": {}}]},
        "data": [[0, "0"], [1, "1"], [2, "2"]]}


def test_sql_value_conversions(d):
    out = d.run("select date'2020-01-02' as d, cast(1.5 as decimal(10,2)) as m, array(1, 2) as a, "
                "map('k', 1) as mp, cast(null as int) as n, true as b, "
                "cast('ab' as binary) as bin, double('NaN') as nan", kind="sql")
    row = out["data"]["application/json"]["data"][0]
    assert row == ["2020-01-02", 1.5, [1, 2], {"k": 1}, None, True, [97, 98], "NaN"]


def test_sql_error(d):
    out = d.run("select * from no_such_table", kind="sql")
    assert out["status"] == "error" and out["ename"] == "Error"
    assert "no_such_table" in out["evalue"]
    assert out["traceback"] and all(isinstance(x, str) for x in out["traceback"])


def test_temp_view_from_python_visible_in_sql(d):
    d.run("spark.createDataFrame([(1, 'a')], ['n', 'c']).createOrReplaceTempView('pyview')")
    out = d.run("select c from pyview", kind="sql")
    assert out["data"]["application/json"]["data"] == [["a"]]


def test_job_api_round_trip(d):
    def job(ctx):
        return ctx.sc.parallelize(range(10)).sum(), ctx.spark_session.range(3).count()
    reply = d.request({"type": "job", "job": b64_pickled_job(job)}, "job_result")
    assert "error" not in reply, reply.get("error")
    assert unpickle_job_result(reply["result"]) == (45, 3)


def test_job_api_context_and_errors(d):
    def share(ctx):
        ctx.set_shared_object("k", [1, 2])
        return (ctx.get_shared_object("k"), ctx.hive_ctx, type(ctx.sql_ctx).__name__,
                os.path.isdir(ctx.get_local_tmp_dir_path()))
    reply = d.request({"type": "job", "job": b64_pickled_job(share)}, "job_result")
    assert unpickle_job_result(reply["result"]) == ([1, 2], None, "SQLContext", True)

    def boom(ctx):
        raise ValueError("job failed")
    reply = d.request({"type": "job", "job": b64_pickled_job(boom)}, "job_result")
    assert "result" not in reply
    assert reply["error"].startswith("Client job error:Traceback")
    assert "ValueError: job failed" in reply["error"]


def test_add_file_and_pyfile(d, tmp_path):
    data = tmp_path / "hello.txt"
    data.write_text("file content")
    mod = tmp_path / "livy_rs_extra_mod.py"
    mod.write_text("VALUE = 'from pyfile'\n")
    assert "error" not in d.request({"type": "add_file", "uri": str(data)}, "ack")
    assert "error" not in d.request({"type": "add_pyfile", "uri": str(mod)}, "ack")
    assert ok_text(d.run("from pyspark import SparkFiles\nopen(SparkFiles.get('hello.txt')).read()")) == \
        "'file content'"
    assert ok_text(d.run("import livy_rs_extra_mod\nlivy_rs_extra_mod.VALUE")) == "'from pyfile'"
    assert ok_text(d.run("sc.parallelize([1]).map(lambda _: __import__('livy_rs_extra_mod').VALUE).first()")) == \
        "'from pyfile'"
    reply = d.request({"type": "add_file", "uri": str(tmp_path / "missing.txt")}, "ack")
    assert "error" in reply


def test_scala_statement_in_pyspark_session(d):
    # Every session accepts statements of any kind; the Scala interpreter starts on first use.
    out = d.run("val fromScala = 40 + 2", kind="spark", timeout=180)
    assert ok_text(out) == "val fromScala: Int = 42\n"


def test_sparkr_statement_fails_cleanly(d):
    out = d.run("1 + 1", kind="sparkr")
    assert out["status"] == "error" and out["ename"] == "InterpreterError"
    assert out["evalue"] == "Fail to start interpreter"


def test_job_cancel(d):
    def slow(ctx):
        import time
        for _ in range(6000):
            time.sleep(0.01)
        return "not cancelled"
    req = d.server.request_id()
    d.server.send({"type": "job", "req": req, "job": b64_pickled_job(slow), "job_id": "job-%d" % req})
    # the job thread registers itself right away; cancel until it has stopped
    deadline = time.monotonic() + 30
    reply = None
    while reply is None:
        assert time.monotonic() < deadline, "job was not cancelled"
        d.server.send({"type": "cancel_job", "req": req, "job_id": "job-%d" % req})
        try:
            reply = d.server.wait_for(lambda m: m["type"] == "job_result" and m.get("req") == req,
                                      1, "job_result")
        except AssertionError:
            pass
    assert "result" not in reply and "KeyboardInterrupt" in reply["error"]
    assert ok_text(d.run("'after job cancel'")) == "'after job cancel'"


@pytest.mark.skipif(not (shutil.which("javac") and shutil.which("jar")), reason="needs a JDK")
def test_add_jar_reaches_the_scala_repl(d, tmp_path):
    src = tmp_path / "LivyRsJarProbe.java"
    src.write_text("package livyrs.probe;\n"
                   "public class LivyRsJarProbe { public static String hi() { return \"from jar\"; } }\n")
    subprocess.run(["javac", "-d", str(tmp_path), str(src)], check=True)
    jar = tmp_path / "probe.jar"
    subprocess.run(["jar", "cf", str(jar), "-C", str(tmp_path), "livyrs"], check=True)
    d.run("1", kind="spark", timeout=180)  # the Scala interpreter is running
    assert "error" not in d.request({"type": "add_jar", "uri": "file:" + str(jar)}, "ack")
    assert ok_text(d.run("livyrs.probe.LivyRsJarProbe.hi()", kind="spark")).endswith(': String = from jar\n')
    assert ok_text(d.run("sc._jvm.livyrs.probe.LivyRsJarProbe.hi()")) == "'from jar'"


def test_unicode_and_undecodable_text(d):
    assert ok_text(d.run("print('h\u00e9llo \u2603')")) == "h\u00e9llo \u2603"
    assert ok_text(d.run("print(b'a\\xffb'.decode('utf-8', 'surrogateescape'))")) == "a?b"


def test_a_servers_list_is_taken_and_a_malformed_one_ignored(d):
    # What an active/active server sends on connect and when servers join or leave; a list the
    # driver cannot use is logged and ignored, and the session goes on.
    bad = (None, [], "127.0.0.1:9", ["no-port"], ["h:0"], ["h:70000"], [7], ["h:1"] * 300)
    for servers in bad:
        d.server.send({"type": "servers", "servers": servers})
    d.server.send({"type": "servers", "servers": ["127.0.0.1:9", d.server.address]})
    assert ok_text(d.run("print(5 * 5)")) == "25"
    # The one it talks to stays first (a redial tries it first).
    expected = "servers of the service: %s, 127.0.0.1:9" % d.server.address
    wait_until(lambda: expected in d.log_text(), 10, "the new list logged")
    assert d.log_text().count("ignoring malformed 'servers' message") == len(bad)
