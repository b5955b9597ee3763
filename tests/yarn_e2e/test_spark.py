"""YARN cluster mode with real PySpark drivers through the shim (tests/yarn/spark_home): a batch
runs to success with appId/appInfo from the RM report; an interactive pyspark session runs a
statement and DELETE ends its YARN app. Two Spark starts in all."""
from __future__ import annotations

import time

import pytest

from conftest import SHIM_HOME, Emulator, LivyServer, batch_state, http, stop_emulator, wait_until, yarn_conf, yarn_env

SPARK_TIMEOUT = 300  # 2 loaded cores: a Spark start can take a minute or more

JOB = """
import sys
from pyspark.sql import SparkSession
spark = SparkSession.builder.getOrCreate()
total = spark.sparkContext.parallelize(range(10), 2).sum()
print("E2E_SUM=%d" % total)
spark.stop()
"""


@pytest.fixture(scope="module")
def env(tmp_path_factory, real_spark):
    tmp = tmp_path_factory.mktemp("spark")
    jobs = tmp / "jobs"
    jobs.mkdir()
    (jobs / "job.py").write_text(JOB)
    emu = Emulator(state_dir=tmp / "emu").start()
    livy = LivyServer(yarn_conf(jobs), env=yarn_env(emu, SHIM_HOME, real_spark)).start()
    try:
        yield livy, emu, jobs
    finally:
        livy.stop()
        livy.cleanup()
        stop_emulator(emu)


def test_pyspark_batch_succeeds_with_yarn_app_info(env):
    livy, emu, jobs = env
    st, body, _ = livy.call("POST", "/batches", {"file": "file://" + str(jobs / "job.py"), "name": "e2e-batch"})
    assert st == 201, (st, body)
    bid = body["id"]
    seen = {}

    def done():
        b = batch_state(livy, bid)
        if b.get("appId"):
            seen["appId"] = b["appId"]
        if (b.get("appInfo") or {}).get("sparkUiUrl"):
            seen["sparkUiUrl"] = b["appInfo"]["sparkUiUrl"]
        if (b.get("appInfo") or {}).get("driverLogUrl"):
            seen["driverLogUrl"] = b["appInfo"]["driverLogUrl"]
        return b if b["state"] in ("success", "dead", "killed", "error") else None

    t0 = time.monotonic()
    b = wait_until(done, SPARK_TIMEOUT, f"batch {bid} final", interval=0.5)
    print(f"batch {bid} final in {time.monotonic() - t0:.1f}s: {b}")
    log = livy.call("GET", f"/batches/{bid}/log?from=0&size=2000")[1]["log"]
    assert b["state"] == "success", (b, log[-40:])
    app_id = b["appId"]
    assert app_id and app_id.startswith("application_"), b
    rec = emu.app_record(app_id)
    assert rec is not None, app_id
    tags = rec["app"]["applicationTags"].split(",")
    assert tags[0].startswith(f"livy-batch-{bid}-"), tags
    # The server tag (livy.server.yarn.server-tag default) the monitor lists many apps by.
    assert any(t.startswith("livy-server-") for t in tags[1:]), tags
    assert rec["state"] == "FINISHED" and rec["app"]["finalStatus"] == "SUCCEEDED", rec["state"]
    # appInfo comes from the RM report (amContainerLogs / trackingUrl).
    assert seen.get("driverLogUrl"), seen
    assert rec["container_id"] in seen["driverLogUrl"], (seen, rec["container_id"])
    assert seen.get("sparkUiUrl"), seen
    assert app_id in seen["sparkUiUrl"] or emu.rm_addr() in seen["sparkUiUrl"], seen


def test_pyspark_session_statement_and_delete_kills_app(env):
    livy, emu, _ = env
    st, body, _ = livy.call("POST", "/sessions", {"kind": "pyspark", "name": "e2e-session"})
    assert st == 201, (st, body)
    sid = body["id"]

    def idle():
        s = livy.call("GET", f"/sessions/{sid}")[1]
        assert s["state"] not in ("dead", "error", "killed", "success"), (s, livy.log_text()[-3000:])
        # appId: the driver's Ready message briefly replaces the YARN id with Spark's own
        # (`local-...` under the shim) until the next monitor tick (reported bug), so wait for
        # the YARN one.
        return s if s["state"] == "idle" and str(s.get("appId")).startswith("application_") else None

    t0 = time.monotonic()
    s = wait_until(idle, SPARK_TIMEOUT, f"session {sid} idle", interval=0.5)
    print(f"session {sid} idle in {time.monotonic() - t0:.1f}s")
    app_id = s.get("appId")
    assert app_id and app_id.startswith("application_"), s
    rec = emu.app_record(app_id)
    assert rec["app"]["applicationTags"].split(",")[0].startswith(f"livy-session-{sid}-"), rec["app"]["applicationTags"]

    st, stmt, _ = livy.call("POST", f"/sessions/{sid}/statements", {"code": "1 + 1"})
    assert st == 201, (st, stmt)

    def available():
        r = livy.call("GET", f"/sessions/{sid}/statements/{stmt['id']}")[1]
        return r if r["state"] in ("available", "error", "cancelled") else None

    r = wait_until(available, 120, "statement available", interval=0.3)
    assert r["state"] == "available" and r["output"]["status"] == "ok", r
    assert r["output"]["data"]["text/plain"] == "2", r

    # Scala in the same session: the driver's Scala bridge (livy_rs_bridge.scala) came with
    # the app into the container, as spark.files are localized.
    st, stmt, _ = livy.call("POST", f"/sessions/{sid}/statements", {"code": "21 * 2", "kind": "spark"})
    assert st == 201, (st, stmt)
    r = wait_until(available, 300, "Scala statement available", interval=0.5)
    assert r["state"] == "available" and r["output"]["status"] == "ok", r
    assert "Int = 42" in r["output"]["data"]["text/plain"], r

    st, body, _ = livy.call("DELETE", f"/sessions/{sid}")
    assert st == 200, (st, body)
    wait_until(lambda: emu.app_record(app_id)["state"] in ("KILLED", "FINISHED"), 60, "session app ended in YARN")
    wait_until(lambda: livy.call("GET", f"/sessions/{sid}")[0] == 404, 30, "session gone")


SLEEPER = """
import time
from pyspark.sql import SparkSession
spark = SparkSession.builder.getOrCreate()
print("E2E_SLEEPING", flush=True)
time.sleep(600)
"""


def _running_batch(livy, emu, jobs):
    (jobs / "sleeper.py").write_text(SLEEPER)
    st, body, _ = livy.call("POST", "/batches", {"file": "file://" + str(jobs / "sleeper.py")})
    assert st == 201, (st, body)
    bid = body["id"]

    def running():
        b = batch_state(livy, bid)
        assert b["state"] not in ("dead", "killed", "success", "error"), b
        if b["state"] == "running" and b.get("appId"):
            rec = emu.app_record(b["appId"])
            return b if rec and rec["state"] == "RUNNING" else None
        return None

    b = wait_until(running, SPARK_TIMEOUT, f"batch {bid} running with a RUNNING YARN app", interval=0.5)
    return bid, b["appId"]


def _pid_gone(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_delete_running_pyspark_batch_kills_yarn_app_and_driver(env):
    livy, emu, jobs = env
    bid, app_id = _running_batch(livy, emu, jobs)
    pid = emu.app_record(app_id)["pid"]
    assert pid
    st, body, _ = livy.call("DELETE", f"/batches/{bid}")
    assert st == 200, (st, body)
    wait_until(lambda: emu.app_record(app_id)["state"] == "KILLED", 30, "app KILLED in the emulator")
    rec = emu.app_record(app_id)
    assert rec["kill_events"], rec
    assert any(r["method"] == "PUT" for r in emu.request_log(path_prefix=f"/ws/v1/cluster/apps/{app_id}/state"))
    wait_until(lambda: _pid_gone(pid), 30, "driver monitor process gone")
    wait_until(lambda: livy.call("GET", f"/batches/{bid}")[0] == 404, 30, "batch gone")


def test_pyspark_batch_killed_in_yarn_is_killed_with_diagnostics(env):
    livy, emu, jobs = env
    bid, app_id = _running_batch(livy, emu, jobs)
    st, body = http("PUT", f"{emu.rm_url()}/ws/v1/cluster/apps/{app_id}/state",
                    {"state": "KILLED", "diagnostics": "e2e operator kill"})
    assert st in (200, 202), (st, body)

    def final():
        b = batch_state(livy, bid)
        return b if b["state"] in ("success", "dead", "killed", "error") else None

    b = wait_until(final, 60, "batch final after the YARN kill", interval=0.3)
    print(f"externally killed real batch -> {b['state']}")
    assert b["state"] == "killed", b  # Livy BatchSession: YARN KILLED -> killed
    log = livy.call("GET", f"/batches/{bid}/log?from=0&size=5000")[1]["log"]
    i = next(i for i, l in enumerate(log) if "YARN Diagnostics:" in l)
    assert any("e2e operator kill" in l for l in log[i:]), log[i:]


def test_pyspark_session_killed_in_yarn_ends(env):
    livy, emu, _ = env
    st, body, _ = livy.call("POST", "/sessions", {"kind": "pyspark"})
    assert st == 201, (st, body)
    sid = body["id"]

    def idle():
        s = livy.call("GET", f"/sessions/{sid}")[1]
        assert s["state"] not in ("dead", "error", "killed", "success"), s
        return s if s["state"] == "idle" and str(s.get("appId")).startswith("application_") else None

    app_id = wait_until(idle, SPARK_TIMEOUT, f"session {sid} idle", interval=0.5)["appId"]
    st, body = http("PUT", f"{emu.rm_url()}/ws/v1/cluster/apps/{app_id}/state",
                    {"state": "KILLED", "diagnostics": "e2e session kill"})
    assert st in (200, 202), (st, body)

    def final():
        s = livy.call("GET", f"/sessions/{sid}")[1]
        return s if s["state"] in ("dead", "error", "killed", "success") else None

    s = wait_until(final, 60, "session final after the YARN kill", interval=0.3)
    assert emu.app_record(app_id)["state"] == "KILLED"
    # As Livy: `killed`, with a `YARN Diagnostics:` section, even when the driver's connection
    # drops first (the session may be `dead` for up to one poll tick before YARN's report).

    def killed_with_diagnostics():
        s = livy.call("GET", f"/sessions/{sid}")[1]
        log = livy.call("GET", f"/sessions/{sid}/log?size=-1")[1]["log"]
        return (s, log) if s["state"] == "killed" and "\nYARN Diagnostics: " in log else None

    s, log = wait_until(killed_with_diagnostics, 10, "killed with YARN diagnostics", interval=0.2)
    assert any("e2e session kill" in line for line in log), log
    livy.call("DELETE", f"/sessions/{sid}")
    wait_until(lambda: livy.call("GET", f"/sessions/{sid}")[0] == 404, 30, "session gone")
