"""Server behaviour that needs a driver but not Spark, against fake_driver.py (a stdlib program
speaking the driver protocol): what `ready` fills in, unknown driver messages, one statement at
a time, what completion sends, a start-up error, and when a session counts as active."""

from __future__ import annotations

import threading
import time

import pytest

from session_helpers import (
    base_conf,
    config_needle,
    create_session,
    ok_text,
    post_statement,
    run,
    session_log,
    session_processes,
    session_view,
    start_server,
    stop_server,
    wait_gone,
    wait_session_state,
    wait_statement,
    wait_until,
)


@pytest.fixture(scope="module")
def livy(fake_driver_spark_home):
    server = start_server(
        base_conf(**{"livy.server.spark-home": str(fake_driver_spark_home)}), "livy-fake-driver")
    yield server
    stop_server(server)


@pytest.fixture(scope="module")
def sid(livy):
    view = create_session(livy, {"kind": "pyspark"})
    wait_session_state(livy, view["id"], {"idle"}, 30, "(fake driver)")
    return view["id"]


def test_ready_fills_in_app_id_and_ui_url_and_unknown_messages_are_ignored(livy, sid):
    view = session_view(livy, sid)
    assert view["appId"] == f"fake-app-{sid}"
    assert view["appInfo"]["sparkUiUrl"] == "http://fake-ui.invalid:4040"
    # The driver sent a message of an unknown type right after ready: ignored.
    assert ok_text(run(livy, sid, "hello")) == "hello"
    assert session_view(livy, sid)["state"] == "idle"
    # The driver's output is stored verbatim.
    assert ok_text(run(livy, sid, "héllo ☃ \u0000 \"quoted\"")) == "héllo ☃ \u0000 \"quoted\""


def test_long_poll_waits_for_the_result_and_no_longer(livy, sid):
    st = post_statement(livy, sid, "sleep 2")
    started = time.monotonic()
    status, view, _ = livy.call("GET", f"/sessions/{sid}/statements/{st['id']}?wait=1")
    took = time.monotonic() - started
    assert status == 200 and view["state"] == "running", view
    assert 0.8 <= took < 2.0, f"wait=1 answered after {took:.2f}s"
    status, view, _ = livy.call("GET", f"/sessions/{sid}/statements/{st['id']}?wait=30")
    took = time.monotonic() - started
    assert status == 200 and view["state"] == "available", view
    assert ok_text(view) == "slept 2" and took < 10, took
    # A finished statement answers at once.
    started = time.monotonic()
    status, view, _ = livy.call("GET", f"/sessions/{sid}/statements/{st['id']}?wait=30")
    assert status == 200 and time.monotonic() - started < 1.0


def test_statements_are_sent_one_at_a_time(livy, sid):
    sts = [post_statement(livy, sid, code) for code in ("sleep 0.4", "sleep 0.4", "sleep 0.4")]
    report = post_statement(livy, sid, "report")
    done = [wait_statement(livy, sid, s["id"], 30) for s in sts + [report]]
    assert [ok_text(d) for d in done] == ["slept 0.4"] * 3 + ["max_concurrent=1"]
    for a, b in zip(done, done[1:]):
        assert a["completed"] <= b["started"], (a, b)


def test_completion_forwards_kind_code_and_cursor(livy, sid):
    status, body, _ = livy.call("POST", f"/sessions/{sid}/completion",
                                {"code": "héllo wörld", "kind": "sql", "cursor": 3})
    assert (status, body) == (200, {"candidates": ["sql", "héllo wörld", "3"]})
    # Defaults: the session's kind, and the cursor at the end (in characters, as Livy).
    status, body, _ = livy.call("POST", f"/sessions/{sid}/completion", {"code": "héllo"})
    assert (status, body) == (200, {"candidates": ["pyspark", "héllo", "5"]})


def test_startup_error_from_the_driver_makes_the_session_error(livy):
    sid = create_session(livy, {"kind": "pyspark",
                                "conf": {"spark.livyrs.fake.mode": "startup-error"}})["id"]
    procs = wait_until(lambda: session_processes(livy, sid), 10, "the fake driver")
    needle = config_needle(procs)
    view = wait_session_state(livy, sid, {"error"}, 30, "(driver start-up error)")
    assert view["appId"] is None
    log = session_log(livy, sid)
    assert any("fake start-up failure: no interpreter today" in line for line in log), log
    status, body, _ = livy.call("POST", f"/sessions/{sid}/statements", {"code": "1"})
    assert (status, body) == (400, {"msg": "Session isn't active."})
    wait_gone(procs, needle, 20, "the failed driver to exit")


def test_a_driver_answering_during_shutdown_never_makes_the_session_idle(livy):
    """The driver's `result` and `ready` cross the server's `shutdown`: the session stays
    `shutting_down` until it is gone, never `idle` in between."""
    sid = create_session(livy, {"kind": "pyspark",
                                "conf": {"spark.livyrs.fake.mode": "late-ready"}})["id"]
    wait_session_state(livy, sid, {"idle"}, 30, "(fake driver)")
    post_statement(livy, sid, "sleep 60")
    wait_session_state(livy, sid, {"busy"}, 10, "(statement running)")
    deleted = {}
    deleting = threading.Thread(
        target=lambda: deleted.update(answer=livy.call("DELETE", f"/sessions/{sid}")[:2]))
    deleting.start()
    seen = []
    # Watch the state over the whole shutdown: the driver answers at once, lingers 3 s, exits.
    while deleting.is_alive():
        status, view, _ = livy.call("GET", f"/sessions/{sid}")
        if status == 200:
            seen.append(view["state"])
        time.sleep(0.05)
    deleting.join()
    assert deleted["answer"] == (200, {"msg": "deleted"}), deleted
    assert "shutting_down" in seen and set(seen) <= {"busy", "shutting_down", "killed"}, seen
    status, _, _ = livy.call("GET", f"/sessions/{sid}")
    assert status == 404


def test_retained_statements(fake_driver_spark_home):
    livy = start_server(base_conf(**{
        "livy.server.spark-home": str(fake_driver_spark_home),
        "livy.rsc.retained-statements": 3,
    }), "livy-retained")
    try:
        sid = create_session(livy, {"kind": "pyspark"})["id"]
        wait_session_state(livy, sid, {"idle"}, 30, "(fake driver)")
        for i in range(5):
            assert run(livy, sid, f"s{i}")["id"] == i
        status, listing, _ = livy.call("GET", f"/sessions/{sid}/statements")
        assert listing["total_statements"] == 3
        assert [s["id"] for s in listing["statements"]] == [2, 3, 4]
        status, body, _ = livy.call("GET", f"/sessions/{sid}/statements/0")
        assert (status, body) == (404, {"msg": "Statement not found"})
        assert run(livy, sid, "s5")["id"] == 5  # ids are never reused
    finally:
        stop_server(livy)


def test_the_end_of_a_statement_counts_as_activity(fake_driver_spark_home):
    """Livy counts a REPL going busy -> idle as activity (RSCClient.replLastActivity), so the
    idle timeout runs from the end of the last statement, not from when it was submitted; with
    `timeout-check.skip-busy` a statement longer than the timeout must not get its session
    deleted the moment it finishes."""
    livy = start_server(base_conf(**{
        "livy.server.spark-home": str(fake_driver_spark_home),
        "livy.server.session.timeout": "6s",
        "livy.server.session.timeout-check.skip-busy": "true",
    }), "livy-activity")
    try:
        short = create_session(livy, {"kind": "pyspark"})["id"]
        long_ = create_session(livy, {"kind": "pyspark"})["id"]
        for s in (short, long_):
            wait_session_state(livy, s, {"idle"}, 5, "(fake driver, before the idle timeout)")
        t0 = time.monotonic()
        post_statement(livy, short, "sleep 3")  # ends at t0+3: expires at t0+9 or later
        post_statement(livy, long_, "sleep 7")  # busy until t0+7: expires at t0+13 or later
        gone = {}
        while time.monotonic() - t0 < 18 and len(gone) < 2:
            listed = {s["id"] for s in livy.call("GET", "/sessions")[1]["sessions"]}
            for name, s in (("short", short), ("long", long_)):
                if s not in listed and name not in gone:
                    gone[name] = round(time.monotonic() - t0, 1)
            time.sleep(0.2)
        assert set(gone) == {"short", "long"}, f"the idle timeout deleted only {gone} in 18s"
        problems = []
        if gone["short"] < 8.5:
            problems.append(
                f"a session was deleted {gone['short']}s after its 3s statement was submitted, "
                "i.e. less than the 6s timeout after the statement finished")
        if gone["long"] < 12.5:
            problems.append(
                f"a session was deleted {gone['long']}s after its 7s statement was submitted "
                "(skip-busy), i.e. right after it finished instead of 6s later")
        assert not problems, "; ".join(problems)
    finally:
        stop_server(livy)


def test_stop_ends_the_statements_it_interrupts(livy):
    """`POST /sessions/{id}/stop` keeps the session listed (killed). Its running and waiting
    statements can never finish then; like after a driver crash they must end (not stay
    running/waiting for ever, which leaves pollers waiting until the session is forgotten)."""
    sid = create_session(livy, {"kind": "pyspark"})["id"]
    wait_session_state(livy, sid, {"idle"}, 30, "(fake driver)")
    running = post_statement(livy, sid, "sleep 30")
    waiting = post_statement(livy, sid, "never runs")
    wait_until(lambda: livy.call("GET", f"/sessions/{sid}/statements/{running['id']}")[1]
               ["state"] == "running", 10, "the statement to run")
    status, body, _ = livy.call("POST", f"/sessions/{sid}/stop")
    assert status == 204, body
    assert session_view(livy, sid)["state"] == "killed"
    states = {}
    for st in (running, waiting):
        status, view, _ = livy.call("GET", f"/sessions/{sid}/statements/{st['id']}?wait=3")
        states[st["code"]] = view["state"]
    assert set(states.values()) <= {"available", "cancelled"}, (
        f"statements of a stopped session stay unfinished: {states}")
