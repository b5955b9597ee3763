"""Livy's Job API while a session is `starting`, spoken as Livy's own clients speak it (Livy's
Python Job API client is not published on the package registry, so its protocol is sent here
directly, with the headers of Livy's Java client: `Content-Encoding: UTF-8` on every JSON call).

Livy accepts submit-job, run-job, add-* and upload-* before the driver is there and applies them
in order once it is; an upload's reply comes once the driver has added the file (Livy's
`addJar(..).get()`, which `uploadJar(..).get()` of the Java client relies on).

One real pyspark session (spark-submit delayed 6 s by a wrapper, so the requests below are
deterministically sent while it starts); a fake spark-submit that never calls back for the
session that dies with requests held, and for the bounded queue.
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import threading

import pytest

from session_helpers import (
    SPARK_START_TIMEOUT,
    Started,
    base_conf,
    delayed_spark_home,
    session_processes,
    session_view,
    start_server,
    stop_server,
    wait_session_state,
    wait_until,
)

SUBMIT_DELAY = 6
#: What Livy's Java client (LivyConnection.sendJSONRequest) sends with every JSON request.
JAVA_JSON = {
    "Accept": "application/json",
    "Content-Type": "application/json",
    "Content-Encoding": "UTF-8",
    "X-Requested-By": "livy",
}
JOB_STATUS_FIELDS = {"id", "state", "result", "error"}
#: MAX_QUEUED_REQUESTS in src/sessions/commands.rs.
MAX_QUEUED = 256
HELD_FILE_PADDING = 16 * 1024 * 1024
HELD_MODULE = "def triple(x):\n    return 3 * x\n\nVALUE = 'from the held upload'\n"


def rest(livy, method, path, body=None, timeout=60):
    import requests

    data = None if body is None else json.dumps(body)
    r = requests.request(method, livy.url + path, data=data, headers=JAVA_JSON, timeout=timeout)
    return r.status_code, (r.json() if r.content else None)


def submit(livy, sid, fn, endpoint="submit-job"):
    import cloudpickle

    body = {"job": base64.b64encode(cloudpickle.dumps(fn)).decode(), "jobType": "pyspark"}
    return rest(livy, "POST", f"/sessions/{sid}/{endpoint}", body)


def upload_in_background(livy, sid, endpoint, part, path):
    """Posts a multipart upload as Livy's clients do, in a thread (the reply waits for the
    driver); the returned dict gets the status, body and session state at reply time."""
    import requests

    out = {}

    def go():
        with open(path, "rb") as f:
            r = requests.post(f"{livy.url}/sessions/{sid}/{endpoint}", files={part: f},
                              headers={"X-Requested-By": "livy"}, timeout=300)
        out["status"], out["text"] = r.status_code, r.text
        out["state_at_reply"] = session_view(livy, sid)["state"]

    t = threading.Thread(target=go, daemon=True)
    t.start()
    out["thread"] = t
    return out


def wait_held(livy, pattern, count, timeout=30):
    """Waits until the server logged `count` held requests matching `pattern` (the link took
    them, in order), so the next request is queued behind them."""
    wait_until(lambda: len(re.findall(pattern, livy.log_text())) >= count or None, timeout,
               f"{count} log lines matching {pattern!r}")


def make_job_a():
    # Nested, so cloudpickle sends the function itself (a test module's top-level function
    # would go by reference, and the driver cannot import this module).
    def job_a(ctx):
        return ctx.sc.parallelize(range(4), 2).sum()

    return job_a


def make_job_b():
    def job_b(ctx):
        from pyspark import SparkFiles
        import held_mod

        with open(SparkFiles.get("held.txt")) as f:
            first, size = f.readline().strip(), len(f.read())
        return (held_mod.VALUE, first, size,
                ctx.sc.parallelize([1, 2], 2).map(held_mod.triple).collect())

    return job_b


def while_starting(livy, sid, tmp):
    mod = tmp / "held_mod.py"
    mod.write_text(HELD_MODULE)
    data = tmp / "held.txt"
    # Large enough that the driver takes a while to add it: a job let run before the addition
    # is confirmed would find no file, or part of it.
    data.write_text("read by a job queued after its upload\n" + "x" * HELD_FILE_PADDING)
    rec = {"a": submit(livy, sid, make_job_a())}
    rec["pyfile"] = upload_in_background(livy, sid, "upload-pyfile", "file", mod)
    wait_held(livy, rf"addition held\b.*session_id={sid}\b.*PyFile", 1)
    rec["file"] = upload_in_background(livy, sid, "upload-file", "file", data)
    wait_held(livy, rf"addition held\b.*session_id={sid}\b.*File\b", 2)
    rec["b"] = submit(livy, sid, make_job_b(), "run-job")
    rec["polled"] = [rest(livy, "GET", f"/sessions/{sid}/jobs/{rec[k][1]['id']}")
                     for k in ("a", "b") if rec[k][0] == 201]
    rec["uploads_done_while_starting"] = [
        "status" in rec[k] for k in ("pyfile", "file")]
    rec["state"] = session_view(livy, sid)["state"]
    return rec


def start_module(ctx):
    tmp = ctx.tmp_path_factory.mktemp("jobs-starting")
    home = delayed_spark_home(tmp / "spark", ctx.spark_home, SUBMIT_DELAY)
    livy = start_server(base_conf(**{
        "livy.server.spark-home": str(home),
        "livy.file.local-dir-whitelist": str(tmp),
    }), "livy-jobs-starting")
    try:
        # Livy's Python client: POST /sessions/ (trailing slash) with livy.uri in conf.
        status, view = rest(livy, "POST", "/sessions/",
                            {"kind": "pyspark", "conf": {"livy.uri": livy.url}})
        assert status == 201, view
        rec = while_starting(livy, view["id"], tmp)
        wait_session_state(livy, view["id"], {"idle", "busy"}, SPARK_START_TIMEOUT,
                           "(jobs while starting)")
        return Started(livy, view, rec)
    except BaseException:
        stop_server(livy)
        raise


def wait_job(livy, sid, job_id, timeout=180):
    seen = []

    def done():
        status, st = rest(livy, "GET", f"/sessions/{sid}/jobs/{job_id}")
        assert status == 200 and set(st) == JOB_STATUS_FIELDS, (status, st)
        seen.append(st["state"])
        return st if st["state"] in ("SUCCEEDED", "FAILED", "CANCELLED") else None

    st = wait_until(done, timeout, f"job {job_id} to finish")
    # Livy's Python client fails a future on any other state (SENT included).
    assert set(seen) <= {"QUEUED", "STARTED", "SUCCEEDED", "FAILED", "CANCELLED"}, seen
    return st


def decode(st):
    import cloudpickle

    return cloudpickle.loads(base64.b64decode(base64.b64decode(st["result"])))


def test_requests_sent_while_starting_are_accepted_and_held(started):
    rec = started.early
    assert rec["state"] == "starting", (
        f"the requests were not all sent while the session started: {rec['state']}")
    for key in ("a", "b"):
        status, created = rec[key]
        assert status == 201, created
        # Exactly Livy's JobStatus: the Java client's JSON parser fails on any other field.
        assert set(created) == JOB_STATUS_FIELDS, created
        assert created["state"] == "SENT" and created["result"] is None, created
    assert [p[0] for p in rec["polled"]] == [200, 200], rec["polled"]
    assert [p[1]["state"] for p in rec["polled"]] == ["QUEUED", "QUEUED"], rec["polled"]
    assert rec["uploads_done_while_starting"] == [False, False], (
        "an upload answered before the driver was there")


def test_uploads_reply_once_the_driver_has_added_them(started):
    for key in ("pyfile", "file"):
        up = started.early[key]
        up["thread"].join(120)
        assert up.get("status") == 200, up
        assert up["state_at_reply"] in ("idle", "busy"), up


def test_held_jobs_run_in_order_after_the_uploads_before_them(started):
    livy, sid, rec = started.livy, started.sid, started.early
    a = wait_job(livy, sid, rec["a"][1]["id"])
    assert a["state"] == "SUCCEEDED" and decode(a) == 6, a
    b = wait_job(livy, sid, rec["b"][1]["id"])
    assert b["state"] == "SUCCEEDED", b
    assert decode(b) == ("from the held upload", "read by a job queued after its upload",
                         HELD_FILE_PADDING, [3, 6])


def test_the_session_is_usable_after_the_held_requests(started):
    livy, sid = started.livy, started.sid
    status, created = submit(livy, sid, make_job_a())
    assert status == 201, created
    assert decode(wait_job(livy, sid, created["id"])) == 6


# --------------------------------------------------------------- sessions that never get a driver


@pytest.fixture
def never_ready(sleeping_spark_home):
    livy = start_server(base_conf(**{
        "livy.server.spark-home": str(sleeping_spark_home),
        "livy.rsc.server.connect.timeout": "10m",
    }), "livy-jobs-never-ready")
    yield livy
    stop_server(livy)


def create(livy):
    status, view = rest(livy, "POST", "/sessions/", {"kind": "pyspark"})
    assert status == 201, view
    return view["id"]


def test_requests_held_when_the_session_dies_fail_with_the_reason(never_ready, tmp_path):
    livy = never_ready
    sid = create(livy)
    jobs = [submit(livy, sid, make_job_a())[1]["id"] for _ in range(2)]
    mod = tmp_path / "held_mod.py"
    mod.write_text(HELD_MODULE)
    up = upload_in_background(livy, sid, "upload-pyfile", "file", mod)
    wait_held(livy, rf"addition held\b.*session_id={sid}\b", 1)
    procs = wait_until(lambda: session_processes(livy, sid) or None, 30, "spark-submit")
    for p in procs:
        os.kill(p.pid, signal.SIGKILL)
    wait_session_state(livy, sid, {"dead"}, 60, "(spark-submit killed)")
    for job in jobs:
        status, st = rest(livy, "GET", f"/sessions/{sid}/jobs/{job}")
        assert status == 200 and set(st) == JOB_STATUS_FIELDS, st
        assert st["state"] == "FAILED", st
        assert "The session ended" in st["error"] and "signal" in st["error"], st
    up["thread"].join(30)
    assert up.get("status") == 400, up
    msg = json.loads(up["text"])["msg"]
    assert f"Session {sid} ended before its driver could add the file" in msg, msg
    assert "signal" in msg, msg
    # A dead session takes nothing more.
    status, body = submit(livy, sid, make_job_a())
    assert status == 400 and body == {"msg": "Session isn't active."}, body


def test_a_full_queue_is_refused_in_livys_shape_and_frees_up(never_ready, tmp_path):
    livy = never_ready
    sid = create(livy)
    import cloudpickle

    body = {"job": base64.b64encode(cloudpickle.dumps(make_job_a())).decode(), "jobType": "pyspark"}
    ids = []
    for _ in range(MAX_QUEUED):
        status, created = rest(livy, "POST", f"/sessions/{sid}/submit-job", body)
        assert status == 201, created
        ids.append(created["id"])
    status, refused = rest(livy, "POST", f"/sessions/{sid}/submit-job", body)
    assert status == 503, refused
    assert set(refused) == {"msg"} and "try again later" in refused["msg"], refused
    data = tmp_path / "x.txt"
    data.write_text("x")
    up = upload_in_background(livy, sid, "upload-file", "file", data)
    up["thread"].join(30)
    assert up.get("status") == 503 and "try again later" in json.loads(up["text"])["msg"], up
    # A queued job cancelled before the driver came gives its place back.
    status, _ = rest(livy, "POST", f"/sessions/{sid}/jobs/{ids[0]}/cancel")
    assert status == 200
    assert rest(livy, "GET", f"/sessions/{sid}/jobs/{ids[0]}")[1]["state"] == "CANCELLED"
    wait_until(lambda: (rest(livy, "POST", f"/sessions/{sid}/submit-job", body)[0] == 201) or None,
               10, "a place in the queue after the cancel")
    assert session_view(livy, sid)["state"] == "starting"


def test_deleting_a_starting_session_answers_its_held_upload_at_once(never_ready, tmp_path):
    """A client whose upload waits for the driver gets its answer when the session is deleted,
    not when the driver connect timeout (here ten minutes) ends the wait."""
    livy = never_ready
    sid = create(livy)
    data = tmp_path / "held.txt"
    data.write_text("x")
    up = upload_in_background(livy, sid, "upload-file", "file", data)
    wait_held(livy, rf"addition held\b.*session_id={sid}\b", 1)
    status, _ = rest(livy, "DELETE", f"/sessions/{sid}")
    assert status == 200
    up["thread"].join(20)
    assert "status" in up, "the held upload got no answer within 20 s of the delete"
    assert up["status"] in (400, 404), up
    assert set(json.loads(up["text"])) == {"msg"}, up
