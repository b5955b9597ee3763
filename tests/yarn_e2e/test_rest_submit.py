"""`livy.server.yarn.submit = rest` end to end: livy-rs stages files over WebHDFS and posts the
submission context to the RM itself (no spark-submit, no JVM on the server side); the emulator
localizes the AM container's resources from its HDFS and runs the real PySpark driver the AM would
run. Also the admission check (queue capacity) and the create-time refusals. Two Spark starts."""
from __future__ import annotations

import time

import pytest

from conftest import Emulator, LivyServer, batch_state, stop_emulator, wait_until, yarn_conf, yarn_env
from webhdfs_files import ARCHIVE, hdfs_get, hdfs_put, spark_jars_zip

SPARK_TIMEOUT = 300

PI = """
import sys
from pyspark.sql import SparkSession
spark = SparkSession.builder.appName("pi").getOrCreate()
n = int(sys.argv[1])
inside = spark.sparkContext.parallelize(range(n), 2).filter(lambda i: (i * 7919 % 1000) ** 2 + (i * 104729 % 1000) ** 2 < 1000 ** 2).count()
print("PI_ESTIMATE=%f" % (4.0 * inside / n))
spark.stop()
"""


@pytest.fixture(scope="module")
def env(tmp_path_factory, real_spark):
    tmp = tmp_path_factory.mktemp("rest")
    jobs = tmp / "jobs"
    jobs.mkdir()
    (jobs / "pi.py").write_text(PI)
    (jobs / "lookup.csv").write_text("k,v\n1,one\n")
    spark_conf = tmp / "spark-conf"
    spark_conf.mkdir()
    (spark_conf / "spark-defaults.conf").write_text(f"spark.yarn.archive hdfs://{ARCHIVE}\n")
    emu = Emulator(state_dir=tmp / "emu").start()
    hdfs_put(emu, ARCHIVE, spark_jars_zip())
    env = yarn_env(emu, real_spark["SPARK_HOME"], real_spark)
    env["SPARK_CONF_DIR"] = str(spark_conf)
    livy = LivyServer(yarn_conf(jobs, **{"livy.server.yarn.submit": "rest"}), env=env).start()
    try:
        yield livy, emu, jobs, env
    finally:
        livy.stop()
        livy.cleanup()
        stop_emulator(emu)


def final_batch(livy, bid, timeout=SPARK_TIMEOUT):
    def done():
        b = batch_state(livy, bid)
        return b if b["state"] in ("success", "dead", "killed", "error") else None

    return wait_until(done, timeout, f"batch {bid} final", interval=0.5)


def test_batch_runs_from_staged_files(env):
    livy, emu, jobs, _ = env
    st, body, _ = livy.call("POST", "/batches", {
        "file": "file://" + str(jobs / "pi.py"), "args": ["2000"], "name": "rest-pi",
        "files": ["file://" + str(jobs / "lookup.csv")], "queue": "default",
    })
    assert st == 201, (st, body)
    bid = body["id"]
    t0 = time.monotonic()
    b = final_batch(livy, bid)
    log = livy.call("GET", f"/batches/{bid}/log?from=0&size=2000")[1]["log"]
    print(f"REST batch {bid} final in {time.monotonic() - t0:.1f}s")
    assert b["state"] == "success", (b, log[-40:], livy.log_text()[-3000:])
    app_id = b["appId"]
    assert app_id and app_id.startswith("application_"), b
    assert any(f"Submitted application {app_id}" in line for line in log), log
    assert not any("spark-submit" in line for line in log), log

    rec = emu.app_record(app_id)
    assert rec["submitted_via"] == "rest", rec["submitted_via"]
    assert rec["state"] == "FINISHED" and rec["app"]["finalStatus"] == "SUCCEEDED", rec["app"]
    assert rec["app"]["applicationTags"].split(",")[0].startswith(f"livy-batch-{bid}-")
    ctx = rec["submission"]
    assert ctx["queue"] == "default" and ctx["application-type"] == "SPARK"
    assert ctx["resource"] == {"memory": 1024 + 384, "vCores": 1}, ctx["resource"]
    # The driver's output went to the container log, from the staged pi.py.
    with open(f"{rec['log_dir']}/stdout") as f:
        assert "PI_ESTIMATE=" in f.read()

    # The staged files are in the user's staging directory, with the local files' sizes.
    staging = f"/user/{rec['user']}/.sparkStaging/{app_id}"
    listed = hdfs_get(emu, staging, "LISTSTATUS")["FileStatuses"]["FileStatus"]
    sizes = {s["pathSuffix"]: s["length"] for s in listed}
    assert sizes["pi.py"] == (jobs / "pi.py").stat().st_size, sizes
    assert sizes["lookup.csv"] == (jobs / "lookup.csv").stat().st_size, sizes
    assert "__spark_conf__.zip" in sizes and "pyspark.zip" in sizes, sizes
    resources = {e["key"]: e["value"] for e in ctx["am-container-spec"]["local-resources"]["entry"]}
    assert resources["pi.py"]["size"] == sizes["pi.py"]
    assert resources["__spark_libs__"]["resource"].endswith(ARCHIVE)
    assert resources["__spark_libs__"]["visibility"] == "PUBLIC"


def test_pyspark_session_statement_and_delete(env):
    livy, emu, _, _ = env
    st, body, _ = livy.call("POST", "/sessions", {"kind": "pyspark", "name": "rest-session"})
    assert st == 201, (st, body)
    sid = body["id"]

    def idle():
        s = livy.call("GET", f"/sessions/{sid}")[1]
        assert s["state"] not in ("dead", "error", "killed", "success"), (s, livy.log_text()[-3000:])
        return s if s["state"] == "idle" and str(s.get("appId")).startswith("application_") else None

    s = wait_until(idle, SPARK_TIMEOUT, f"session {sid} idle", interval=0.5)
    app_id = s["appId"]
    rec = emu.app_record(app_id)
    assert rec["submitted_via"] == "rest"
    assert rec["submission"]["max-app-attempts"] == 1
    st, stmt, _ = livy.call("POST", f"/sessions/{sid}/statements", {"code": "1+1"})
    assert st == 201, (st, stmt)

    def available():
        r = livy.call("GET", f"/sessions/{sid}/statements/{stmt['id']}")[1]
        return r if r["state"] in ("available", "error", "cancelled") else None

    r = wait_until(available, 120, "statement available", interval=0.3)
    assert r["output"]["status"] == "ok" and r["output"]["data"]["text/plain"] == "2", r

    st, body, _ = livy.call("DELETE", f"/sessions/{sid}")
    assert st == 200, (st, body)
    wait_until(lambda: emu.app_record(app_id)["state"] == "KILLED", 60, "session app KILLED")
    wait_until(lambda: livy.call("GET", f"/sessions/{sid}")[0] == 404, 30, "session gone")


def total_batches(livy):
    return livy.call("GET", "/batches")[1]["total"]


def test_admission_refuses_what_the_queue_cannot_hold(env):
    livy, emu, jobs, _ = env
    before = total_batches(livy)
    big = {"file": "file://" + str(jobs / "pi.py"), "conf": {"spark.executor.instances": "20"}}
    st, body, _ = livy.call("POST", "/batches", big)
    assert st == 400, (st, body)
    msg = body["msg"]
    # 1408 MB AM + 20 x 1408 MB executors > the whole 16384 MB of queue default.
    assert "queue 'default'" in msg and "29568 MB" in msg and "16384 MB" in msg, msg
    assert total_batches(livy) == before
    st, body, _ = livy.call("POST", "/batches", dict(big, queue="no-such-queue",
                                                     conf={"spark.executor.instances": "1"}))
    assert st == 400 and "no-such-queue" in body["msg"], (st, body)
    st, body, _ = livy.call("POST", "/batches", {"file": "file://" + str(jobs / "pi.py"), "queue": "small"})
    assert st == 400 and "queue 'small'" in body["msg"], (st, body)  # 3 x 1408 MB > 20 % of 16384
    assert total_batches(livy) == before
    assert not any(a.submitted_via == "rest" and a.state == "ACCEPTED" for a in emu.apps.values())


def test_without_admission_check_and_prestaged_archive(env, tmp_path):
    """A second server without spark-defaults.conf and with the admission check off."""
    livy0, emu, jobs, env0 = env
    env1 = dict(env0)
    env1["SPARK_CONF_DIR"] = str(tmp_path)  # no spark-defaults.conf: no spark.yarn.archive
    conf = yarn_conf(jobs, **{"livy.server.yarn.submit": "rest", "livy.server.yarn.admission-check": "false"})
    emu.settings["run_spark_am"] = False
    livy = LivyServer(conf, env=env1).start()
    try:
        pi = "file://" + str(jobs / "pi.py")
        st, body, _ = livy.call("POST", "/batches", {"file": pi})
        assert st == 400 and "spark.yarn.archive" in body["msg"], (st, body)
        st, body, _ = livy.call("POST", "/batches", {"file": pi, "conf": {
            "spark.yarn.archive": "hdfs:///apps/spark/missing.zip"}})
        assert st == 400 and "missing.zip does not exist" in body["msg"], (st, body)
        assert total_batches(livy) == 0
        st, body, _ = livy.call("POST", "/batches", {"file": pi, "conf": {
            "spark.executor.instances": "20", "spark.yarn.archive": f"hdfs://{ARCHIVE}"}})
        assert st == 201, (st, body)
        bid = body["id"]

        def submitted():
            return batch_state(livy, bid).get("appId")

        app_id = wait_until(submitted, 60, "batch submitted", interval=0.3)
        assert emu.app_record(app_id)["state"] == "ACCEPTED"
        st, _, _ = livy.call("DELETE", f"/batches/{bid}")
        assert st == 200
        wait_until(lambda: emu.app_record(app_id)["state"] == "KILLED", 30, "app KILLED")
    finally:
        emu.settings["run_spark_am"] = True
        livy.stop()
        livy.cleanup()


def test_html_from_the_rm_during_submit_ends_the_batch_dead(env):
    livy, emu, jobs, _ = env
    emu.add_fault(target="rm", mode="html", path_prefix="/ws/v1/cluster/apps/new-application", count=1)
    st, body, _ = livy.call("POST", "/batches", {"file": "file://" + str(jobs / "pi.py")})
    assert st == 201, (st, body)
    b = final_batch(livy, body["id"], timeout=60)
    log = livy.call("GET", f"/batches/{body['id']}/log?from=0&size=200")[1]["log"]
    assert b["state"] == "dead", b
    assert any("cannot get a new application from the ResourceManager" in line and "unexpected answer" in line
               for line in log), log
    assert any("YARN REST submission failed" in line for line in log), log
    assert livy.call("GET", "/version")[0] == 200
    assert livy.running
