"""Cancellation that tells the truth, on a real pyspark session: a cancelled Job API job is
`CANCELLED` only once its thread has ended in the driver, or after livy.rsc.job-cancel.timeout
whatever its code does (a job blocked in one long C call cannot be interrupted: jobs run on
threads of their own, and only the main thread gets signals); meanwhile the session serves the
next jobs and statements and says `idle`, which it is.

Every state is read as a REST client polls it (Livy's Job API clients accept only QUEUED,
STARTED, CANCELLED, SUCCEEDED and FAILED), with the job's own footprints in files to tell when
its thread really ended.
"""

from __future__ import annotations

import base64
import time

import pytest

from session_helpers import (
    SPARK_START_TIMEOUT,
    base_conf,
    ok_text,
    run,
    session_view,
    start_with_session,
    stop_server,
    wait_until,
)

#: livy.rsc.job-cancel.timeout of the module's server (seconds).
CANCEL_TIMEOUT = 8
JOB_STATES = {"QUEUED", "STARTED", "SUCCEEDED", "FAILED", "CANCELLED"}


def start_module(ctx):
    conf = base_conf(**{"livy.rsc.job-cancel.timeout": f"{CANCEL_TIMEOUT}s"})
    return start_with_session("livy-cancellation", conf, {"kind": "pyspark"}, SPARK_START_TIMEOUT)


def submit_job(livy, sid, fn):
    import cloudpickle

    body = {"job": base64.b64encode(cloudpickle.dumps(fn)).decode(), "jobType": "pyspark"}
    status, created, _ = livy.call("POST", f"/sessions/{sid}/submit-job", body)
    assert status == 201 and created["state"] == "SENT", created
    return created["id"]


def job_status(livy, sid, job_id):
    status, st, _ = livy.call("GET", f"/sessions/{sid}/jobs/{job_id}")
    assert status == 200, st
    assert st["state"] in JOB_STATES, st
    return st


def watch_until_finished(livy, sid, job_id, timeout):
    """Polls a job every 0.1 s until it is finished: [(seconds since the call, state)]."""
    t0 = time.monotonic()
    seen = []

    def finished():
        st = job_status(livy, sid, job_id)
        seen.append((time.monotonic() - t0, st["state"]))
        return st if st["state"] in ("SUCCEEDED", "FAILED", "CANCELLED") else None

    wait_until(finished, timeout, f"job {job_id} to finish", interval=0.1)
    return seen


def cancel(livy, sid, job_id):
    status, body, _ = livy.call("POST", f"/sessions/{sid}/jobs/{job_id}/cancel")
    assert (status, body) == (200, {"msg": "canceled"})


def wait_for_file(path, what):
    wait_until(path.exists, 120, what, interval=0.1)


def test_spark_is_warm(livy, sid):
    """The first Spark job of a session is slow (seconds on a loaded machine): done here so the
    timings below measure the cancellation only."""
    assert ok_text(run(livy, sid, "sc.parallelize(range(5)).sum()")) == "10"


def test_a_job_in_a_busy_loop_is_cancelled_once_its_thread_has_ended(livy, sid, tmp_path):
    entered, ended = tmp_path / "entered", tmp_path / "ended"

    def spin(ctx):
        n = 0
        try:
            open(str(entered), "w").close()
            while True:
                n += 1
        finally:
            while True:  # the driver repeats the interrupt until the job has ended
                try:
                    open(str(ended), "w").close()
                    break
                except KeyboardInterrupt:
                    pass

    job = submit_job(livy, sid, spin)
    wait_for_file(entered, "the job to run")
    assert job_status(livy, sid, job)["state"] == "STARTED"
    t0 = time.monotonic()
    cancel(livy, sid, job)
    seen = watch_until_finished(livy, sid, job, CANCEL_TIMEOUT + 10)
    took = time.monotonic() - t0
    final = job_status(livy, sid, job)
    assert final["state"] == "CANCELLED", final
    assert ended.exists(), "CANCELLED while its thread still ran"
    assert {state for _, state in seen[:-1]} <= {"STARTED"}, seen
    # The interrupt reached the loop: the timeout did not have to decide.
    assert took < CANCEL_TIMEOUT - 2, seen
    assert session_view(livy, sid)["state"] == "idle"


def test_a_job_blocked_in_a_sleep_is_started_until_the_timeout_and_the_session_goes_on(
        livy, sid, tmp_path):
    entered, ended = tmp_path / "entered", tmp_path / "ended"

    def doze(ctx):
        import time as t

        open(str(entered), "w").close()
        try:
            t.sleep(CANCEL_TIMEOUT + 20)
        finally:
            while True:  # the driver repeats the interrupt until the job has ended
                try:
                    open(str(ended), "w").close()
                    break
                except KeyboardInterrupt:
                    pass

    job = submit_job(livy, sid, doze)
    wait_for_file(entered, "the job to sleep")
    t0 = time.monotonic()
    cancel(livy, sid, job)

    # While the cancel waits for the sleeping thread, the session serves the next job and
    # statement, and says it is idle.
    next_job = submit_job(livy, sid, lambda ctx: ctx.sc.parallelize(range(5)).sum())
    assert job_status(livy, sid, job)["state"] == "STARTED"
    done = wait_until(
        lambda: (lambda st: st if st["state"] in ("SUCCEEDED", "FAILED", "CANCELLED") else None)(
            job_status(livy, sid, next_job)), 60, "the next job", interval=0.1)
    assert done["state"] == "SUCCEEDED", done
    import cloudpickle

    assert cloudpickle.loads(base64.b64decode(base64.b64decode(done["result"]))) == 10
    job_served_at = time.monotonic() - t0
    assert ok_text(run(livy, sid, "6 * 7")) == "42"
    assert session_view(livy, sid)["state"] == "idle"
    served_at = time.monotonic() - t0

    seen = watch_until_finished(livy, sid, job, CANCEL_TIMEOUT + 10)
    took = time.monotonic() - t0
    assert served_at < CANCEL_TIMEOUT, ("the next job and statement waited for the cancel",
                                        job_served_at, served_at)
    assert job_status(livy, sid, job)["state"] == "CANCELLED"
    before = [state for _, state in seen[:-1]]
    assert set(before) <= {"STARTED"} and before, seen
    # The sleep cannot be interrupted: the timeout decides, not earlier...
    assert CANCEL_TIMEOUT - 0.5 <= took < CANCEL_TIMEOUT + 4, (took, seen)
    # ... and the thread still sleeps then (the job is reported as Livy reports it).
    assert not ended.exists()
    wait_for_file(ended, "the sleeping job's thread to end by itself")
    assert job_status(livy, sid, job)["state"] == "CANCELLED"

