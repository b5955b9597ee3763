"""YARN cluster mode with real PySpark drivers through the shim (tests/yarn/spark_home): a batch
runs to success with appId/appInfo from the RM report; an interactive pyspark session runs a
statement and DELETE ends its YARN app. Two Spark starts in all."""
from __future__ import annotations

import time

import pytest

from conftest import SHIM_HOME, Emulator, LivyServer, batch_state, wait_until, yarn_conf, yarn_env

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
        emu.stop()


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
        return s if s["state"] == "idle" else None

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

    st, body, _ = livy.call("DELETE", f"/sessions/{sid}")
    assert st == 200, (st, body)
    wait_until(lambda: emu.app_record(app_id)["state"] in ("KILLED", "FINISHED"), 60, "session app ended in YARN")
    wait_until(lambda: livy.call("GET", f"/sessions/{sid}")[0] == 404, 30, "session gone")
