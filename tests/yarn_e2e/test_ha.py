"""RM HA failover while a real PySpark batch runs in yarn-cluster mode (emulator `--ha rm1,rm2`):
the active RM moves to rm2 and rm1 refuses connections for a while, then the active RM moves back
to rm1 (rm2 answers 307 as a standby). Tracking continues and the batch reaches success."""
from __future__ import annotations

import time

from conftest import SHIM_HOME, Emulator, LivyServer, batch_state, stop_emulator, wait_until, yarn_conf, yarn_env

SPARK_TIMEOUT = 300

JOB = """
import time
from pyspark.sql import SparkSession
spark = SparkSession.builder.getOrCreate()
print("E2E_SUM=%d" % spark.sparkContext.parallelize(range(10), 2).sum())
time.sleep(15)
spark.stop()
"""


def apps_gets(emu, server):
    return sum(v for k, v in emu.counters(server=server, group="route").items() if k == "GET /ws/v1/cluster/apps")


def test_batch_survives_rm_failover(tmp_path, real_spark):
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    (jobs / "job.py").write_text(JOB)
    emu = Emulator(state_dir=tmp_path / "emu", ha=["rm1", "rm2"]).start()
    rms = ",".join(emu.rm_addr(r) for r in ("rm1", "rm2"))
    livy = LivyServer(yarn_conf(jobs), env=yarn_env(emu, SHIM_HOME, real_spark, rm_list=rms)).start()
    try:
        st, body, _ = livy.call("POST", "/batches", {"file": "file://" + str(jobs / "job.py")})
        assert st == 201, (st, body)
        bid = body["id"]

        def running():
            b = batch_state(livy, bid)
            assert b["state"] not in ("dead", "killed", "success", "error"), b
            return b if b["state"] == "running" and b.get("appId") else None

        app_id = wait_until(running, SPARK_TIMEOUT, "batch running", interval=0.5)["appId"]
        wait_until(lambda: emu.app_record(app_id)["state"] == "RUNNING", SPARK_TIMEOUT, "app RUNNING", interval=0.3)

        # Failover to rm2; rm1 is unreachable for 3 s.
        before_rm2 = apps_gets(emu, "rm2")
        emu.set_active("rm2")
        emu.add_fault("rm1", "refuse", seconds=3)
        wait_until(lambda: apps_gets(emu, "rm2") >= before_rm2 + 3, 20, "monitor polling rm2 after failover")
        assert batch_state(livy, bid)["state"] == "running"

        # Back to rm1: rm2 is now a standby (307 to rm1).
        wait_until(lambda: not emu.refused.get("rm1"), 10, "rm1 listening again")
        before_rm1 = apps_gets(emu, "rm1")
        emu.set_active("rm1")
        wait_until(lambda: apps_gets(emu, "rm1") >= before_rm1 + 3, 20, "monitor polling rm1 again")

        t0 = time.monotonic()

        def final():
            b = batch_state(livy, bid)
            return b if b["state"] in ("success", "dead", "killed", "error") else None

        b = wait_until(final, SPARK_TIMEOUT, "batch final", interval=0.5)
        print(f"batch final {time.monotonic() - t0:.1f}s after the failovers: {b['state']}")
        assert b["state"] == "success", b
        assert b["appId"] == app_id
        assert emu.app_record(app_id)["state"] == "FINISHED"
    finally:
        livy.stop()
        livy.cleanup()
        stop_emulator(emu)
