"""A `pyspark` session as a REST client sees it, on ONE real Spark driver for the whole module.

The server's spark-submit is the real one behind a 6-second delay (a wrapper SPARK_HOME), so the
module can act while the session is deterministically `starting` and its driver has not yet
connected: statements posted then, and a forged driver connection with a wrong secret. The
server also caps statement output at 1 KiB (`livy.server.statement.output-max-size=1k`).

Tests run in file order and share the session; the last one deletes it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time

import pytest

from session_helpers import (
    SESSION_INFO_FIELDS,
    SPARK_START_TIMEOUT,
    STATEMENT_FIELDS,
    base_conf,
    channel_client,
    config_needle,
    delayed_spark_home,
    error_output,
    frame,
    ok_text,
    post_statement,
    read_frame,
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

#: Seconds the wrapper spark-submit sleeps before starting the real one.
SUBMIT_DELAY = 6
SESSION_NAME = "rest-pyspark"
#: livy.rsc.job-cancel.timeout of the module's server (seconds).
CANCEL_TIMEOUT = 8


def forge_driver(address: str, session_id: int, secret: bytes):
    """Connects to the driver channel as session `session_id`'s driver with a wrong secret.
    Returns (first reply, reply after auth) — None meaning the server closed the connection."""
    with channel_client(address) as sock:
        sock.sendall(frame({"type": "hello", "session_id": session_id, "protocol": 1}))
        challenge = read_frame(sock)
        if not challenge or challenge.get("type") != "challenge":
            return challenge, None
        mac = hmac.new(
            secret, f"livy-rs-driver|{session_id}|{challenge['nonce']}".encode(), hashlib.sha256
        ).hexdigest()
        sock.sendall(frame({"type": "auth", "mac": mac, "nonce": "ab" * 32}))
        return challenge, read_frame(sock)


def while_starting(livy, view):
    """Everything done while the session is `starting` (within the spark-submit delay): two
    statements queued and forged driver connections. The tests below check the record."""
    sid = view["id"]
    rec = {"created": view, "queued": [], "state_after_post": []}
    for code in ("order = [0]", "order.append(1)\norder"):
        rec["queued"].append(post_statement(livy, sid, code))
        rec["state_after_post"].append(session_view(livy, sid)["state"])

    address = livy.wait_for_log(r"driver channel listening\b.*\baddress=(\S+)", 10).group(1)
    rec["channel"] = address.strip('"')
    rec["unknown_session"] = forge_driver(rec["channel"], 4242, b"whatever")
    rec["wrong_secret"] = forge_driver(rec["channel"], sid, b"not-the-session-secret")
    rec["state_after_forgery"] = session_view(livy, sid)["state"]
    rec["driver_connected_before_end"] = bool(
        re.search(rf"driver connected\b.*session_id={sid}\b", livy.log_text())
    )
    return rec


def start_module(ctx):
    home = delayed_spark_home(ctx.tmp_path_factory.mktemp("spark-delayed"), ctx.spark_home,
                              SUBMIT_DELAY)
    conf = base_conf(**{
        "livy.server.spark-home": str(home),
        "livy.server.statement.output-max-size": "1k",
        "livy.rsc.job-cancel.timeout": f"{CANCEL_TIMEOUT}s",
    })
    return start_with_session("livy-pyspark", conf, {"kind": "pyspark", "name": SESSION_NAME},
                              SPARK_START_TIMEOUT, early=while_starting)


@pytest.fixture(scope="module")
def early(started):
    return started.early


# --------------------------------------------------------------------------- while starting


def test_create_answers_201_with_a_livy_session_info(early):
    view = early["created"]
    assert set(view) == SESSION_INFO_FIELDS, set(view) ^ SESSION_INFO_FIELDS
    assert view["kind"] == "pyspark"
    assert view["name"] == SESSION_NAME
    assert view["state"] in ("not_started", "starting")
    assert view["appId"] is None
    assert set(view["appInfo"]) == {"driverLogUrl", "sparkUiUrl", "executorLogUrls"}
    assert view["conf"] == {} and view["jars"] == [] and view["pyFiles"] == []
    assert view["heartbeatTimeoutInSecond"] == 0 and view["numExecutors"] == 0
    assert isinstance(view["log"], list)


def test_statements_posted_while_starting_wait_then_run_in_order(livy, early, sid):
    first, second = early["queued"]
    for st in (first, second):
        assert set(st) == STATEMENT_FIELDS, st
        assert st["state"] == "waiting" and st["output"] is None, st
        assert st["progress"] == 0.0 and st["started"] == 0 and st["completed"] == 0, st
    assert (first["id"], second["id"]) == (0, 1)
    assert early["state_after_post"] == ["starting", "starting"], (
        "the statements were not posted while the session was starting; the spark-submit "
        f"delay was too short: {early['state_after_post']}"
    )
    done0 = wait_statement(livy, sid, 0)
    done1 = wait_statement(livy, sid, 1)
    assert ok_text(done0) == ""
    assert ok_text(done1) == "[0, 1]"  # ran after statement 0, in the same namespace
    assert done0["completed"] <= done1["started"], (done0, done1)


def test_driver_channel_rejects_a_wrong_secret_and_the_session_is_unaffected(livy, early, sid):
    assert not early["driver_connected_before_end"], (
        "the real driver connected before the forged attempts; the spark-submit delay was too "
        "short for this test"
    )
    # A hello for a session nobody waits for: closed without a challenge.
    assert early["unknown_session"] == (None, None), early["unknown_session"]
    challenge, after_auth = early["wrong_secret"]
    assert challenge is not None and challenge["type"] == "challenge", challenge
    assert re.fullmatch(r"[0-9a-f]{64}", challenge["nonce"]), challenge
    # A wrong MAC: no welcome; the connection is closed (an error frame first is allowed).
    assert after_auth is None or after_auth.get("type") == "error", after_auth
    assert early["state_after_forgery"] == "starting"
    livy.wait_for_log(rf"driver connection rejected\b.*session {sid}: wrong secret", 10)
    livy.wait_for_log(r"driver connection rejected\b.*no session 4242", 10)
    # The real driver still authenticates, and the session works.
    livy.wait_for_log(rf"driver connected\b.*session_id={sid}\b", 10)
    assert ok_text(run(livy, sid, "21 * 2")) == "42"


# --------------------------------------------------------------------------- idle session


def test_idle_session_view(livy, sid):
    view = session_view(livy, sid)
    assert set(view) == SESSION_INFO_FIELDS, set(view) ^ SESSION_INFO_FIELDS
    assert view["state"] == "idle" and view["kind"] == "pyspark" and view["id"] == sid
    assert re.fullmatch(r"local-\d+", view["appId"] or ""), view["appId"]
    assert len(view["log"]) <= 10 and view["log"], view["log"]
    # The session can also be addressed by its name.
    status, by_name, _ = livy.call("GET", f"/sessions/{SESSION_NAME}")
    assert status == 200 and by_name["id"] == sid
    status, state, _ = livy.call("GET", f"/sessions/{sid}/state")
    assert (status, state) == (200, {"id": sid, "state": "idle"})
    status, listing, _ = livy.call("GET", "/sessions")
    assert status == 200 and listing["total"] == 1 and listing["sessions"][0]["id"] == sid
    status, log, _ = livy.call("GET", f"/sessions/{sid}/log?from=0&size=5")
    assert status == 200 and set(log) == {"id", "from", "total", "log"}, log
    assert log["from"] == 0 and len(log["log"]) == 5 and log["total"] >= 5


def test_expression_value_and_printed_output(livy, sid):
    assert ok_text(run(livy, sid, "1 + 1")) == "2"
    st = run(livy, sid, "print('hello from pyspark')\nx = 40\nprint('x is', x)\nx + 2")
    assert ok_text(st) == "hello from pyspark\nx is 40\n42"
    assert st["output"]["data"] == {"text/plain": "hello from pyspark\nx is 40\n42"}
    assert ok_text(run(livy, sid, "spark.range(100).count()")) == "100"
    assert ok_text(run(livy, sid, "x = 5")) == ""


def test_exception_gives_error_output_with_traceback(livy, sid):
    out = error_output(run(livy, sid, "1 / 0"))
    assert out["ename"] == "ZeroDivisionError"
    assert out["evalue"] == "division by zero"
    # Livy's fake_shell drops the frames down to the user's <stdin> module frame.
    assert out["traceback"] == [
        "Traceback (most recent call last):\n",
        "ZeroDivisionError: division by zero\n",
    ]
    out = error_output(run(livy, sid, "def f():\n    raise ValueError('bad value')\n\nf()"))
    assert (out["ename"], out["evalue"]) == ("ValueError", "bad value")
    assert out["traceback"][0] == "Traceback (most recent call last):\n"
    assert out["traceback"][-1] == "ValueError: bad value\n"
    assert any(re.search(r'File "<stdin>", line 2, in f', line) for line in out["traceback"]), out
    assert not any("livy_rs_driver" in line for line in out["traceback"]), out
    out = error_output(run(livy, sid, "def broken(:\n  pass"))
    assert out["ename"] == "SyntaxError", out
    # The session is still fine.
    assert ok_text(run(livy, sid, "'still alive'")) == "'still alive'"


def test_table_json_and_matplot_magics(livy, sid):
    setup = run(livy, sid, "rows = [{'n': 1, 's': 'a', 'f': 1.5}, {'n': 2, 's': 'b', 'f': 2.5}]")
    assert ok_text(setup) == ""

    table = run(livy, sid, "%table rows")
    assert table["output"]["status"] == "ok", table
    assert table["output"]["data"] == {
        "application/vnd.livy.table.v1+json": {
            "headers": [
                {"name": "f", "type": "DOUBLE_TYPE"},
                {"name": "n", "type": "INT_TYPE"},
                {"name": "s", "type": "STRING_TYPE"},
            ],
            "data": [[1.5, 1, "a"], [2.5, 2, "b"]],
        }
    }, table["output"]

    js = run(livy, sid, "%json rows")
    assert js["output"]["status"] == "ok", js
    assert js["output"]["data"] == {"application/json": [
        {"n": 1, "s": "a", "f": 1.5}, {"n": 2, "s": "b", "f": 2.5}]}

    plot = run(
        livy, sid,
        "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\n"
        "plt.figure()\n_ = plt.plot([1, 2, 3], [3, 1, 2])",
        timeout=180,
    )
    assert ok_text(plot) == ""
    img = run(livy, sid, "%matplot plt")
    assert img["output"]["status"] == "ok", json.dumps(img)[:500]
    assert set(img["output"]["data"]) == {"image/png"}, list(img["output"]["data"])
    assert base64.b64decode(img["output"]["data"]["image/png"])[:8] == b"\x89PNG\r\n\x1a\n"

    # Livy's quirk: a magic on a missing variable is status ok with an execute_reply error.
    missing = run(livy, sid, "%json no_such_variable")
    assert missing["output"]["status"] == "ok", missing
    content = missing["output"]["data"]["content"]
    assert missing["output"]["data"]["msg_type"] == "execute_reply"
    assert content["status"] == "error" and content["ename"] == "KeyError", content
    assert content["evalue"] == "'no_such_variable'", content


def test_statement_ids_timestamps_and_progress(livy, sid):
    before = int(time.time() * 1000)
    first = post_statement(livy, sid, "sc.parallelize(range(1000), 4).map(lambda v: v * 2).sum()")
    second = post_statement(livy, sid, "'second'")
    third = post_statement(livy, sid, "'third'")
    assert [second["id"], third["id"]] == [first["id"] + 1, first["id"] + 2]
    done = [wait_statement(livy, sid, s["id"]) for s in (first, second, third)]
    assert ok_text(done[0]) == "999000"
    assert [ok_text(d) for d in done[1:]] == ["'second'", "'third'"]
    after = int(time.time() * 1000)
    for d in done:
        assert set(d) == STATEMENT_FIELDS
        assert d["progress"] == 1.0, d
        assert before - 5000 <= d["started"] <= d["completed"] <= after + 5000, d
    assert done[0]["completed"] <= done[1]["started"] and done[1]["completed"] <= done[2]["started"]


def test_statement_list_paging(livy, sid):
    status, all_, _ = livy.call("GET", f"/sessions/{sid}/statements")
    assert status == 200 and set(all_) == {"total_statements", "statements"}
    total = all_["total_statements"]
    ids = [s["id"] for s in all_["statements"]]
    assert total >= 10 and ids == list(range(total)), ids
    for s in all_["statements"]:
        assert set(s) == STATEMENT_FIELDS

    def page(query):
        status, body, _ = livy.call("GET", f"/sessions/{sid}/statements?{query}")
        assert status == 200, body
        assert body["total_statements"] == total
        return [s["id"] for s in body["statements"]]

    assert page("from=2&size=3") == [2, 3, 4]
    assert page("size=2") == [0, 1]
    assert page("order=desc") == list(reversed(range(total)))
    assert page("order=desc&from=1&size=2") == [total - 2, total - 3]
    assert page(f"from={total}") == []


def test_completion(livy, sid):
    status, body, _ = livy.call(
        "POST", f"/sessions/{sid}/completion", {"code": "sc.paral", "kind": "pyspark", "cursor": 8})
    assert (status, body) == (200, {"candidates": ["sc.parallelize"]})
    # kind defaults to the session's, cursor to the end of the code.
    status, body, _ = livy.call("POST", f"/sessions/{sid}/completion", {"code": "spark.rang"})
    assert (status, body) == (200, {"candidates": ["spark.range"]})


def test_output_is_capped_with_a_visible_marker(livy, sid):
    text = ok_text(run(livy, sid, "print('x' * 10240)"))
    assert text.startswith("x" * 1000), text[:100]
    assert "output truncated by livy-rs" in text, text[-200:]
    assert len(text.encode()) < 2048, len(text)
    out = error_output(run(livy, sid, "raise ValueError('y' * 5000)"))
    assert out["ename"] == "ValueError"
    assert "output truncated by livy-rs" in out["evalue"] + "".join(out["traceback"]), out
    assert len(out["evalue"]) + len("".join(out["traceback"])) < 2048 + 200, out


# --------------------------------------------------------------------------- cancel


def test_cancel_a_running_spark_job(livy, sid):
    st = post_statement(
        livy, sid,
        "import time\n"
        "def slow(v):\n"
        "    time.sleep(0.05)\n"
        "    return v\n"
        "sc.parallelize(range(4000), 4000).map(slow).count()",
    )
    # Progress proves the driver runs it (first tasks done, 4000 to go).
    running = wait_until(
        lambda: (lambda s: s if s["state"] == "running" and s["progress"] > 0 else None)(
            livy.call("GET", f"/sessions/{sid}/statements/{st['id']}")[1]),
        120, "the Spark job to make progress", interval=0.2,
    )
    assert 0 < running["progress"] < 1, running
    assert session_view(livy, sid)["state"] == "busy"

    status, body, _ = livy.call("POST", f"/sessions/{sid}/statements/{st['id']}/cancel")
    assert (status, body) == (200, {"msg": "canceled"})
    status, now, _ = livy.call("GET", f"/sessions/{sid}/statements/{st['id']}")
    # `cancelling` until the driver answers; the SIGINT may already have ended it.
    assert now["state"] in ("cancelling", "cancelled"), now

    done = wait_statement(livy, sid, st["id"], 60)
    assert done["state"] == "cancelled", done
    assert done["output"]["status"] == "error", done  # the output is kept, as Livy does
    assert done["completed"] >= done["started"] > 0
    wait_session_state(livy, sid, {"idle"}, 30)
    # Cancelling a finished statement changes nothing.
    status, body, _ = livy.call("POST", f"/sessions/{sid}/statements/{st['id']}/cancel")
    assert (status, body) == (200, {"msg": "canceled"})
    assert livy.call("GET", f"/sessions/{sid}/statements/{st['id']}")[1]["state"] == "cancelled"
    # The session works afterwards.
    assert ok_text(run(livy, sid, "sc.parallelize(range(10)).count()")) == "10"


def test_cancel_a_python_loop_and_a_waiting_statement(livy, sid, tmp_path):
    marker = tmp_path / "loop-started"
    loop = post_statement(
        livy, sid,
        "import time\n"
        f"open({str(marker)!r}, 'w').close()\n"
        "while True:\n"
        "    time.sleep(0.05)\n",
    )
    waiting = post_statement(livy, sid, "ran_waiting_statement = True")
    assert waiting["id"] == loop["id"] + 1 and waiting["state"] == "waiting"
    wait_until(marker.exists, 60, "the loop statement to start")

    # Cancelling the waiting statement: cancelled at once, never runs.
    status, body, _ = livy.call("POST", f"/sessions/{sid}/statements/{waiting['id']}/cancel")
    assert (status, body) == (200, {"msg": "canceled"})
    w = livy.call("GET", f"/sessions/{sid}/statements/{waiting['id']}")[1]
    assert w["state"] == "cancelled" and w["output"] is None, w
    assert livy.call("GET", f"/sessions/{sid}/statements/{loop['id']}")[1]["state"] == "running"

    status, body, _ = livy.call("POST", f"/sessions/{sid}/statements/{loop['id']}/cancel")
    assert (status, body) == (200, {"msg": "canceled"})
    # `cancelling` until the driver answers, which may already have happened.
    assert livy.call("GET", f"/sessions/{sid}/statements/{loop['id']}")[1]["state"] in (
        "cancelling", "cancelled")
    done = wait_statement(livy, sid, loop["id"], 60)
    assert done["state"] == "cancelled", done
    assert done["output"]["status"] == "error" and done["output"]["ename"] == "KeyboardInterrupt"

    after = run(livy, sid, "'ran_waiting_statement' in globals()")
    assert after["id"] == waiting["id"] + 1
    assert ok_text(after) == "False"
    w = livy.call("GET", f"/sessions/{sid}/statements/{waiting['id']}")[1]
    assert w["state"] == "cancelled" and w["output"] is None, w


def test_cancel_interrupts_a_sleep_and_the_session_is_usable_at_once(livy, sid, tmp_path):
    """A statement blocked in a sleep (C code) is interrupted as Jupyter interrupts a kernel."""
    marker = tmp_path / "sleep-started"
    st = post_statement(
        livy, sid, f"import time\nopen({str(marker)!r}, 'w').close()\ntime.sleep(300)\n")
    wait_until(marker.exists, 60, "the sleeping statement to start")
    t0 = time.monotonic()
    status, body, _ = livy.call("POST", f"/sessions/{sid}/statements/{st['id']}/cancel")
    assert (status, body) == (200, {"msg": "canceled"})
    done = wait_statement(livy, sid, st["id"], 30)
    assert done["state"] == "cancelled", done
    assert time.monotonic() - t0 < 15, "the sleep was not interrupted"
    after = run(livy, sid, "40 + 2")
    assert ok_text(after) == "42"
    assert time.monotonic() - t0 < 25


def test_cancel_interrupts_a_socket_read(livy, sid):
    st = post_statement(
        livy, sid,
        "import socket\n"
        "srv = socket.socket()\nsrv.bind(('127.0.0.1', 0))\nsrv.listen()\n"
        "quiet = socket.create_connection(srv.getsockname())\n"
        "quiet.recv(10)\n",
    )
    wait_until(lambda: livy.call("GET", f"/sessions/{sid}/statements/{st['id']}")[1]["state"]
               == "running", 60, "the socket read to start", interval=0.1)
    t0 = time.monotonic()
    livy.call("POST", f"/sessions/{sid}/statements/{st['id']}/cancel")
    done = wait_statement(livy, sid, st["id"], 30)
    assert done["state"] == "cancelled" and done["output"]["ename"] == "KeyboardInterrupt", done
    assert time.monotonic() - t0 < CANCEL_TIMEOUT, "the read was not interrupted"
    assert ok_text(run(livy, sid, "quiet.close(); srv.close(); 'closed'")) == "'closed'"


def _cancel_and_watch(livy, sid, code, runs_for):
    """Cancels a statement that cannot be interrupted and runs for `runs_for` seconds; returns
    (seconds from the cancel to `cancelled`, session state then, seconds until `idle`)."""
    st = post_statement(livy, sid, code)
    wait_until(lambda: livy.call("GET", f"/sessions/{sid}/statements/{st['id']}")[1]["state"]
               == "running", 60, "the statement to start", interval=0.1)
    t0 = time.monotonic()
    livy.call("POST", f"/sessions/{sid}/statements/{st['id']}/cancel")
    cancelled = wait_until(
        lambda: (lambda s: s if s["state"] == "cancelled" else None)(
            livy.call("GET", f"/sessions/{sid}/statements/{st['id']}")[1]),
        CANCEL_TIMEOUT + 10, "the statement to be cancelled", interval=0.1)
    at = time.monotonic() - t0
    state_then = session_view(livy, sid)["state"]
    assert cancelled["state"] == "cancelled"
    wait_session_state(livy, sid, {"idle"}, runs_for + 60)
    return at, state_then, time.monotonic() - t0


def test_cancel_of_code_holding_the_interpreter_is_cancelled_in_time_and_busy_until_free(livy, sid):
    """A C call that holds Python's GIL (here a libc sleep through ctypes.PyDLL) cannot be
    interrupted at all: the statement is `cancelled` by livy.rsc.job-cancel.timeout, the session
    says `busy` while the call runs and `idle` once it returns, and the next statement runs."""
    at, state_then, idle_at = _cancel_and_watch(
        livy, sid, "import ctypes\nctypes.PyDLL(None).sleep(25)\n", 25)
    assert at < CANCEL_TIMEOUT + 4, at
    assert state_then == "busy", "the interpreter is still in the call"
    assert idle_at > 15, "idle before the call could have returned"
    assert ok_text(run(livy, sid, "6 * 7")) == "42"


def test_cancel_of_code_that_catches_keyboard_interrupt(livy, sid):
    code = ("import time\n"
            "end = time.time() + 25\n"
            "while time.time() < end:\n"
            "    try:\n"
            "        time.sleep(100)\n"
            "    except KeyboardInterrupt:\n"
            "        pass\n")
    at, state_then, idle_at = _cancel_and_watch(livy, sid, code, 25)
    assert at < CANCEL_TIMEOUT + 4, at
    assert state_then == "busy", "the loop still runs"
    assert idle_at > 15
    assert ok_text(run(livy, sid, "'next'")) == "'next'"


# --------------------------------------------------------------------------- errors


def test_unknown_statement_and_bad_statement_requests(livy, sid):
    total = livy.call("GET", f"/sessions/{sid}/statements")[1]["total_statements"]
    for path in (f"/sessions/{sid}/statements/9999", f"/sessions/{sid}/statements/abc"):
        status, body, _ = livy.call("GET", path)
        assert (status, body) == (404, {"msg": "Statement not found"}), path
    for bad in ('{"code": ', '{"code": "1", "bogus": 1}', '{"kind": "pyspark"}', '{"code": null}',
                '[]', '{"code": "1", "kind": "cobol"}'):
        status, body, _ = livy.call("POST", f"/sessions/{sid}/statements", bad)
        assert status == 400, (bad, status, body)
        assert isinstance(body, dict) and set(body) == {"msg"} and body["msg"], (bad, body)
    assert livy.call("GET", f"/sessions/{sid}/statements")[1]["total_statements"] == total


# --------------------------------------------------------------------------- delete (last)


# --------------------------------------------------------------------------- Python Job API
# What Livy's Python client (python-api: livy.client.HttpClient / JobHandle) sends and expects:
# the job is base64(cloudpickle(fn)); the status `result` is decoded twice then unpickled; polled
# states are QUEUED/STARTED until SUCCEEDED/FAILED (the client raises on any other). That client
# is not published on the package registry, so its protocol is spoken here directly.


def _submit_job(livy, sid, fn, endpoint="submit-job"):
    import cloudpickle

    body = {"job": base64.b64encode(cloudpickle.dumps(fn)).decode(), "jobType": "python"}
    status, created, headers = livy.call("POST", f"/sessions/{sid}/{endpoint}", body)
    assert status == 201, created
    assert created["state"] == "SENT" and created["result"] is None, created
    return created["id"]


def _wait_job(livy, sid, job_id):
    seen = []

    def done():
        status, st, _ = livy.call("GET", f"/sessions/{sid}/jobs/{job_id}")
        assert status == 200, st
        seen.append(st["state"])
        return st if st["state"] in ("SUCCEEDED", "FAILED", "CANCELLED") else None

    st = wait_until(done, 120, f"job {job_id} to finish")
    assert set(seen) <= {"QUEUED", "STARTED", "SUCCEEDED", "FAILED", "CANCELLED"}, seen
    return st


def test_job_api_submit_and_run_job(livy, sid):
    import cloudpickle

    def square_sum(ctx):
        return ctx.sc.parallelize(range(10), 2).map(lambda x: x * x).sum()

    for endpoint in ("submit-job", "run-job"):
        st = _wait_job(livy, sid, _submit_job(livy, sid, square_sum, endpoint))
        assert st["state"] == "SUCCEEDED", st
        assert cloudpickle.loads(base64.b64decode(base64.b64decode(st["result"]))) == 285

    def boom(ctx):
        raise ValueError("job went wrong")

    st = _wait_job(livy, sid, _submit_job(livy, sid, boom))
    assert st["state"] == "FAILED" and "job went wrong" in st["error"], st
    status, body, _ = livy.call("POST", f"/sessions/{sid}/submit-job", {"job": "", "jobType": "python"})
    assert status == 400 and "no job provided" in body["msg"], body
    status, body, _ = livy.call("GET", f"/sessions/{sid}/jobs/999")
    assert status == 404, body


def test_job_api_upload_file_and_pyfile(livy, sid, tmp_path):
    import cloudpickle
    import requests

    data = tmp_path / "greeting.txt"
    data.write_text("hello from an upload\n")
    mod = tmp_path / "uploaded_helper.py"
    mod.write_text("def triple(x):\n    return 3 * x\n")
    with open(data, "rb") as f:
        r = requests.post(f"{livy.url}/sessions/{sid}/upload-file", files={"file": f}, timeout=120)
    assert r.status_code == 200, r.text
    with open(mod, "rb") as f:
        r = requests.post(f"{livy.url}/sessions/{sid}/upload-pyfile", files={"file": f}, timeout=120)
    assert r.status_code == 200, r.text
    r = requests.post(f"{livy.url}/sessions/{sid}/upload-file", files={"other": b"x"}, timeout=60)
    assert r.status_code == 400 and r.json()["msg"] == "No file sent!", r.text

    def use_uploads(ctx):
        from pyspark import SparkFiles
        import uploaded_helper

        text = open(SparkFiles.get("greeting.txt")).read().strip()
        return text, ctx.sc.parallelize([1, 2], 2).map(uploaded_helper.triple).collect()

    st = _wait_job(livy, sid, _submit_job(livy, sid, use_uploads))
    assert st["state"] == "SUCCEEDED", st
    value = cloudpickle.loads(base64.b64decode(base64.b64decode(st["result"])))
    assert value == ("hello from an upload", [3, 6]), value
    # add-file refuses local paths outside livy.file.local-dir-whitelist, as Livy does.
    status, body, _ = livy.call("POST", f"/sessions/{sid}/add-file", {"uri": "/etc/hostname"})
    assert status == 400 and "cannot be added to user sessions" in body["msg"], body


def test_delete_stops_the_driver_and_forgets_the_session(livy, sid):
    procs = session_processes(livy, sid)
    assert any("livy_rs_driver.py" in p.cmdline for p in procs), procs
    needle = config_needle(procs)
    status, body, _ = livy.call("DELETE", f"/sessions/{sid}")
    assert (status, body) == (200, {"msg": "deleted"})
    for path in (f"/sessions/{sid}", f"/sessions/{sid}/statements", f"/sessions/{sid}/log"):
        status, body, _ = livy.call("GET", path)
        assert (status, body) == (404, {"msg": f"Session '{sid}' not found."}), path
    status, body, _ = livy.call("POST", f"/sessions/{sid}/statements", {"code": "1"})
    assert (status, body) == (404, {"msg": f"Session '{sid}' not found."})
    status, body, _ = livy.call("DELETE", f"/sessions/{sid}")
    assert (status, body) == (404, {"msg": f"Session '{sid}' not found."})
    assert livy.call("GET", "/sessions")[1]["total"] == 0
    wait_gone(procs, needle, 30, f"the process tree of session {sid} to exit")
