"""pylivy (`livy` 0.8.0 on PyPI) drives interactive sessions on livy-rs, as notebook users do:
LivySession.create / wait / run / download / upload / download_sql / close, for sessions of kind
pyspark, spark (Scala) and sql.

What pylivy sends and expects (livy/session.py, livy/client.py, livy/models.py):
- `POST /sessions {"kind": ..., "name", "heartbeatTimeoutInSecond", "conf", ...}`; the answer and
  `GET /sessions/{id}` must carry `id`, `proxyUser`, a `kind` among its SessionKind values and a
  `state` among Livy's session states.
- `POST /sessions/{id}/statements {"code": ...}` with no `kind`: the session's kind decides the
  interpreter. It then polls `GET .../statements/{sid}` until the state is not waiting/running and
  `output` is set, and reads `output.status`, `data["text/plain"]`, `data["application/json"]`,
  `ename`, `evalue`, `traceback`.
- `download(name)` runs `name.toJSON()...print(row)` (pyspark) or `name.toJSON.collect.foreach
  (println)` (Scala) and parses every non-empty line of the text output as JSON, so anything else
  in that output breaks it. `upload(name, df)` runs `spark.read.json(parallelize([<json>]))`.
  `download_sql(query)` reads `application/json` `{"schema": {"fields": [...]}, "data": [[...]]}`.

One server for the module and one session at a time: each class below owns one session
(class-scoped fixture), closed when the class is done.
"""

from __future__ import annotations

import math
import uuid

import pandas as pd
import pytest
from livy import LivySession, SessionKind, SessionState
from livy.client import LivyClient
from livy.models import Output, OutputStatus, SparkRuntimeError

from pyharness.procs import descendants
from pyharness.wait import wait_until
from session_helpers import (
    SESSION_SPARK_CONF,
    SESSION_START_TIMEOUT,
    STATEMENT_TIMEOUT,
    driver_processes,
    get_session,
    session_log,
    session_server_conf,
    wait_driver_gone,
    with_deadline,
)

#: Spark 4's PySpark warns on every process's first `DataFrame.toJSON()` call ("The return type
#: of DataFrame.toJSON will be changed ..."). The tests of features other than `download` itself
#: silence it first, so that they do not depend on test_download's outcome (see that test).
SILENCE_TOJSON_WARNING = (
    "import warnings\n"
    "warnings.filterwarnings('ignore', message='The return type of DataFrame.toJSON')"
)


@pytest.fixture(scope="module")
def livy_conf(work_dir):
    return session_server_conf(work_dir)


def _delete_quietly(url: str, session_id: int) -> None:
    client = LivyClient(url)
    try:
        client.delete_session(session_id)
    except Exception:  # noqa: BLE001 - best effort: it ends a client wait that hangs
        pass
    finally:
        client.close()


def open_session(livy, kind: SessionKind) -> LivySession:
    """LivySession.create + its wait(), under a deadline; the session must end up idle."""
    session = LivySession.create(
        livy.url,
        kind=kind,
        name=f"pylivy-{kind.value}-{uuid.uuid4().hex[:8]}",
        spark_conf=SESSION_SPARK_CONF,
        heartbeat_timeout=600,
    )
    sid = session.session_id
    with_deadline(
        session.wait,
        SESSION_START_TIMEOUT,
        f"pylivy LivySession.wait() for {kind.value} session {sid}",
        lambda: _delete_quietly(livy.url, sid),
    )
    state = session.state
    assert state == SessionState.IDLE, f"{kind.value} session {sid} is {state}; log:\n{session_log(livy.url, sid)}"
    return session


def run(livy, session: LivySession, code: str) -> Output:
    """session.run(code) (pylivy polls without a deadline) under STATEMENT_TIMEOUT."""
    return with_deadline(
        lambda: session.run(code),
        STATEMENT_TIMEOUT,
        f"pylivy run({code!r})",
        lambda: _delete_quietly(livy.url, session.session_id),
    )


def call(livy, session: LivySession, what: str, fn):
    return with_deadline(fn, STATEMENT_TIMEOUT, f"pylivy {what}", lambda: _delete_quietly(livy.url, session.session_id))


def text_of(output: Output) -> str:
    assert output.status == OutputStatus.OK, output
    assert output.text is not None, output
    return output.text


@pytest.fixture(scope="class")
def session(request, livy):
    """One session of the class's KIND, closed (DELETE) when the class is done."""
    s = open_session(livy, request.cls.KIND)
    yield s
    if get_session(livy.url, s.session_id) is not None:
        s.close()
    wait_driver_gone(livy, s.session_id)


def check_close(livy, session: LivySession) -> None:
    """LivySession.close() deletes the session: gone from the server, its driver stopped."""
    sid = session.session_id
    assert driver_processes(livy, sid), "the session's driver should be running before close()"
    session.close()
    assert get_session(livy.url, sid) is None
    with pytest.raises(ValueError, match="session not found"):
        session.state  # noqa: B018 - the property does the request
    wait_driver_gone(livy, sid)


# --------------------------------------------------------------------------- pyspark


class TestPySparkSession:
    KIND = SessionKind.PYSPARK

    def test_download(self, livy, session):
        """A user's first download in a fresh session. Fails while the driver lets Spark 4's
        one-time `DataFrame.toJSON` UserWarning (written to stderr) into the statement's text
        output: pylivy then tries to parse the warning line as a row."""
        run(livy, session, "df = spark.createDataFrame([(1, 'a', 1.5, True), (2, 'b', None, False)], "
            "'id long, name string, score double, flag boolean')")
        got = call(livy, session, "download('df')", lambda: session.download("df"))
        assert list(got.columns) == ["id", "name", "score", "flag"]
        assert got["id"].tolist() == [1, 2]
        assert got["name"].tolist() == ["a", "b"]
        assert got.loc[0, "score"] == 1.5 and math.isnan(got.loc[1, "score"])
        assert got["flag"].tolist() == [True, False]

    def test_session_is_listed_with_its_kind(self, livy, session):
        client = LivyClient(livy.url)
        try:
            got = client.get_session(session.session_id)
            assert got is not None
            assert (got.kind, got.state, got.proxy_user) == (SessionKind.PYSPARK, SessionState.IDLE, None)
            assert session.session_id in [s.session_id for s in client.list_sessions()]
        finally:
            client.close()
        raw = get_session(livy.url, session.session_id)
        assert raw["heartbeatTimeoutInSecond"] == 600
        assert raw["conf"]["spark.sql.shuffle.partitions"] == "1"

    def test_run_returns_text_output(self, livy, session, capsys):
        out = run(livy, session, "print(40 + 2)")
        assert (out.status, out.text, out.json, out.ename) == (OutputStatus.OK, "42", None, None)
        assert "42" in capsys.readouterr().out, "pylivy echoes the output (echo=True)"
        assert text_of(run(livy, session, "x = 21\nx * 2")) == "42", "the last expression's value"
        assert text_of(run(livy, session, "x + 1")) == "22", "variables persist across statements"
        assert text_of(run(livy, session, "spark.range(100).count()")) == "100"
        assert text_of(run(livy, session, "for i in range(3):\n    print(i)\n")) == "0\n1\n2"
        assert text_of(run(livy, session, "print('zé ∑')")) == "zé ∑"

    def test_failing_statement_raises_pylivys_error(self, livy, session):
        with pytest.raises(SparkRuntimeError) as err:
            run(livy, session, "1 / 0")
        assert err.value.ename == "ZeroDivisionError"
        assert err.value.evalue == "division by zero"
        assert isinstance(err.value.traceback, list) and all(isinstance(t, str) for t in err.value.traceback)
        assert "ZeroDivisionError" in "".join(err.value.traceback)

        with pytest.raises(SparkRuntimeError) as err:
            call(livy, session, "download('no_such_frame')", lambda: session.download("no_such_frame"))
        assert err.value.ename == "NameError"

        unchecked = LivySession(livy.url, session.session_id, kind=SessionKind.PYSPARK, check=False, echo=False)
        out = run(livy, unchecked, "undefined_name")
        assert (out.status, out.ename) == (OutputStatus.ERROR, "NameError")
        assert "undefined_name" in out.evalue

        assert session.state == SessionState.IDLE
        assert text_of(run(livy, session, "1 + 1")) == "2", "the session still works after errors"

    def test_upload_then_use(self, livy, session):
        run(livy, session, SILENCE_TOJSON_WARNING)
        frame = pd.DataFrame({"id": [1, 2, 3], "name": ["x", "y", "zé"], "score": [0.5, 1.5, 2.5]})
        call(livy, session, "upload('up', frame)", lambda: session.upload("up", frame))
        assert text_of(run(livy, session, "up.count()")) == "3"
        assert text_of(run(livy, session, "up.selectExpr('sum(id) AS s').first()['s']")) == "6"
        assert text_of(run(livy, session, "up.where('score > 1').orderBy('id').first()['name']")) == "'y'"

        run(livy, session, "up_sorted = up.orderBy('id')")
        back = call(livy, session, "download('up_sorted')", lambda: session.download("up_sorted"))
        pd.testing.assert_frame_equal(back[list(frame.columns)], frame)

    def test_close(self, livy, session):
        check_close(livy, session)


# --------------------------------------------------------------------------- spark (Scala)


class TestSparkSession:
    KIND = SessionKind.SPARK

    def test_download(self, livy, session):
        """Fails while the Scala 2.13 REPL of the driver reports auto-application deprecations:
        pylivy's own serialisation code `df.toJSON.collect.foreach(println)` then gets the line
        "warning: 1 deprecation (since 2.13.3); for details, enable `:setting -deprecation` ..."
        in front of the rows, and parses it as JSON. (Livy's Scala 2.12 REPL does not warn.)"""
        run(livy, session, 'val df = Seq((1L, "a", 1.5), (2L, "b", 2.5)).toDF("id", "name", "score")')
        got = call(livy, session, "download('df')", lambda: session.download("df"))
        expected = pd.DataFrame({"id": [1, 2], "name": ["a", "b"], "score": [1.5, 2.5]})
        pd.testing.assert_frame_equal(got, expected)

    def test_run_returns_text_output(self, livy, session):
        assert text_of(run(livy, session, '"x" * 3')).strip().endswith('String = xxx')
        assert text_of(run(livy, session, 'println("hello from scala")')).strip() == "hello from scala"
        run(livy, session, "val n = 20")
        assert text_of(run(livy, session, "n * 2 + 2")).strip().endswith("Int = 42")
        assert text_of(run(livy, session, "spark.range(100).count()")).strip().endswith("Long = 100")

    def test_failing_statement_raises_pylivys_error(self, livy, session):
        with pytest.raises(SparkRuntimeError) as err:
            run(livy, session, "1 / 0")
        assert "java.lang.ArithmeticException: / by zero" in err.value.evalue
        with pytest.raises(SparkRuntimeError) as err:
            run(livy, session, 'val bad: Int = "s"')
        assert "type mismatch" in err.value.evalue + "".join(err.value.traceback)
        assert text_of(run(livy, session, "1 + 1")).strip().endswith("Int = 2")

    def test_upload_then_use(self, livy, session):
        frame = pd.DataFrame({"id": [1, 2, 3], "name": ["x", "y", "zé"]})
        call(livy, session, "upload('up', frame)", lambda: session.upload("up", frame))
        assert text_of(run(livy, session, "up.count()")).strip().endswith("Long = 3")
        names = text_of(run(livy, session, 'println(up.orderBy("id").collect().map(_.getAs[String]("name")).mkString(","))'))
        assert names.strip() == "x,y,zé"

    def test_close(self, livy, session):
        check_close(livy, session)


# --------------------------------------------------------------------------- sql


class TestSqlSession:
    KIND = SessionKind.SQL

    def test_download_sql(self, livy, session):
        got = call(
            livy,
            session,
            "download_sql",
            lambda: session.download_sql("SELECT 1 AS a, 'x' AS b, 2.5D AS c, true AS d, CAST(NULL AS INT) AS e"),
        )
        assert list(got.columns) == ["a", "b", "c", "d", "e"]
        assert got.iloc[0][["a", "b", "c", "d"]].tolist() == [1, "x", 2.5, True]
        assert got.iloc[0]["e"] is None or pd.isna(got.iloc[0]["e"])

    def test_run_returns_json_and_views_persist(self, livy, session):
        created = run(livy, session, "CREATE OR REPLACE TEMPORARY VIEW squares AS SELECT id, id * id AS sq FROM range(5)")
        assert created.status == OutputStatus.OK and created.json is not None
        out = run(livy, session, "SELECT max(sq) AS m FROM squares")
        assert out.text is None
        assert out.json["data"] == [[16]]
        assert [f["name"] for f in out.json["schema"]["fields"]] == ["m"]
        got = call(livy, session, "download_sql", lambda: session.download_sql("SELECT * FROM squares ORDER BY id"))
        assert got.to_dict("list") == {"id": [0, 1, 2, 3, 4], "sq": [0, 1, 4, 9, 16]}

    def test_rows_are_capped_like_livy(self, livy, session):
        """livy.rsc.sql.num-rows (default 1000) caps what a SQL statement returns."""
        got = call(livy, session, "download_sql", lambda: session.download_sql("SELECT id FROM range(1500)"))
        assert len(got) == 1000

    def test_failing_statement_raises_pylivys_error(self, livy, session):
        with pytest.raises(SparkRuntimeError) as err:
            call(livy, session, "download_sql", lambda: session.download_sql("SELECT * FROM no_such_table_here"))
        assert "no_such_table_here" in err.value.evalue
        with pytest.raises(SparkRuntimeError):
            run(livy, session, "SELEKT 1")
        assert call(livy, session, "download_sql", lambda: session.download_sql("SELECT 7 AS n")).to_dict("list") == {"n": [7]}

    def test_close(self, livy, session):
        check_close(livy, session)


def test_no_session_left(livy):
    """Every class closed its session; the server has no session and no driver left."""
    wait_until(
        lambda: not any("/session-" in p.cmdline for p in descendants(livy.pid)), 60, "no session process left"
    )
    client = LivyClient(livy.url)
    try:
        assert client.list_sessions() == []
    finally:
        client.close()
