"""YARN cluster mode with a fake spark-submit that registers the app with the emulator itself (or,
for a file named `noregister.py`, submits nothing). No Spark runs here.

Covers: external kill → batch killed (Livy: YARN KILLED → killed) + `YARN Diagnostics:` in the log; DELETE → RM PUT KILLED;
lookup timeout → dead with Livy's message, then the leaked app is killed; one RM apps request
per poll tick whatever the number of tracked apps."""
from __future__ import annotations

import os
import stat
import sys
import time

import pytest

from conftest import Emulator, LivyServer, batch_state, http, wait_until, yarn_conf, yarn_env

FAKE_SUBMIT = r'''#!PYTHON
import json, os, sys, urllib.request
args = sys.argv[1:]
log = os.environ.get("FAKE_SUBMIT_LOG")
if log:
    with open(log, "a") as f:
        f.write(json.dumps(args) + "\n")
if any(a.endswith("noregister.py") or a == "spark.e2e.noregister=true" for a in args):
    sys.exit(0)
tags = ""
for i, a in enumerate(args):
    if a.startswith("spark.yarn.tags="):
        tags = a.split("=", 1)[1]
rm = os.environ["LIVY_RS_TEST_RM"].split(",")[0]
if not rm.startswith("http"):
    rm = "http://" + rm
body = json.dumps({"name": "fake", "tags": tags, "state": "RUNNING"}).encode()
req = urllib.request.Request(rm + "/emulator/apps", data=body, method="POST",
                             headers={"Content-Type": "application/json"})
with urllib.request.urlopen(req, timeout=10) as r:
    rec = json.loads(r.read())
sys.stderr.write("INFO YarnClientImpl: Submitted application %s\n" % rec["id"])
'''


def fake_spark_home(root):
    """A SPARK_HOME under `root` whose bin/spark-submit is FAKE_SUBMIT."""
    home = root / "spark_home"
    (home / "bin").mkdir(parents=True)
    sub = home / "bin" / "spark-submit"
    sub.write_text(FAKE_SUBMIT.replace("PYTHON", sys.executable, 1))
    sub.chmod(sub.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return home


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fake")
    home = fake_spark_home(tmp)
    jobs = tmp / "jobs"
    jobs.mkdir()
    for name in ("job.py", "noregister.py"):
        (jobs / name).write_text("print('never run')\n")
    emu = Emulator(state_dir=tmp / "emu").start()
    e = yarn_env(emu, home)
    e["FAKE_SUBMIT_LOG"] = str(tmp / "submits.log")
    livy = LivyServer(yarn_conf(jobs, **{
        "livy.server.yarn.app-lookup-timeout": "2s",
        "livy.server.yarn.app-leakage.check-interval": "500ms",
    }), env=e).start()
    try:
        yield livy, emu, jobs, tmp
    finally:
        livy.stop()
        livy.cleanup()
        emu.stop()


def tag_of(emu, app_id):
    return [t for t in emu.app_record(app_id)["app"]["applicationTags"].split(",") if t.startswith("livy-batch-")][0]


def submit(livy, jobs, name="job.py"):
    st, body, _ = livy.call("POST", "/batches", {"file": str(jobs / name)})
    assert st == 201, (st, body)
    return body["id"]


def running_app(livy, bid, timeout=30):
    def ready():
        b = batch_state(livy, bid)
        return b if b["state"] == "running" and b.get("appId") else None
    return wait_until(ready, timeout, f"batch {bid} running with an appId")


def find_app_by_tag_prefix(emu, prefix):
    for a in http("GET", emu.rm_url() + "/emulator/apps")[1]["apps"]:
        tags = a.get("tags") or []
        if isinstance(tags, str):
            tags = tags.split(",")
        if any(t.startswith(prefix) for t in tags):
            return a
    return None


def test_external_kill_marks_batch_killed_with_yarn_diagnostics(env):
    livy, emu, jobs, _ = env
    bid = submit(livy, jobs)
    b = running_app(livy, bid)
    app_id = b["appId"]
    assert app_id.startswith("application_")
    assert tag_of(emu, app_id).startswith(f"livy-batch-{bid}-")
    st, body = http("PUT", f"{emu.rm_url()}/ws/v1/cluster/apps/{app_id}/state",
                    {"state": "KILLED", "diagnostics": "killed by operator e2e"})
    assert st in (200, 202), (st, body)
    b = wait_until(lambda: (lambda x: x if x["state"] in ("killed", "dead", "success") else None)(batch_state(livy, bid)),
                   20, "batch final")
    assert b["state"] == "killed", b
    st, log, _ = livy.call("GET", f"/batches/{bid}/log?from=0&size=1000")
    lines = log["log"]
    assert any("YARN Diagnostics:" in l for l in lines), lines
    assert any("killed by operator e2e" in l for l in lines), lines


def test_delete_running_batch_kills_yarn_app(env):
    livy, emu, jobs, _ = env
    bid = submit(livy, jobs)
    app_id = running_app(livy, bid)["appId"]
    st, body, _ = livy.call("DELETE", f"/batches/{bid}")
    assert st == 200, (st, body)
    wait_until(lambda: emu.app_record(app_id)["state"] == "KILLED", 20, "app KILLED in the emulator")
    reqs = emu.request_log(path_prefix=f"/ws/v1/cluster/apps/{app_id}/state")
    assert any(r["method"] == "PUT" for r in reqs), reqs
    assert livy.call("GET", f"/batches/{bid}")[0] == 404


def test_lookup_timeout_then_leaked_app_is_killed(env):
    livy, emu, jobs, tmp = env
    t0 = time.monotonic()
    bid = submit(livy, jobs, "noregister.py")
    b = wait_until(lambda: (lambda x: x if x["state"] == "dead" else None)(batch_state(livy, bid)), 30, "batch dead")
    took = time.monotonic() - t0
    assert took >= 1.5, took
    assert b.get("appId") in (None, ""), b
    log = livy.call("GET", f"/batches/{bid}/log?from=0&size=1000")[1]["log"]
    assert any("No YARN application is found with tag livy-batch-%d-" % bid in l for l in log), log
    # The tag the server gave spark-submit.
    import json
    tag = None
    for line in (tmp / "submits.log").read_text().splitlines():
        args = json.loads(line)
        if any(a.endswith("noregister.py") for a in args):
            tag = [a.split("=", 1)[1] for a in args if a.startswith("spark.yarn.tags=")][0].split(",")[0]
    assert tag and tag.startswith(f"livy-batch-{bid}-"), tag
    app_id = emu.register_app(name="late", tags=[tag], state="RUNNING")
    wait_until(lambda: emu.app_record(app_id)["state"] == "KILLED", 20, "leaked app killed by the server")


def test_one_rm_apps_request_per_tick(env):
    livy, emu, jobs, _ = env
    for i in range(20):
        emu.register_app(name=f"other-{i}", tags=[f"other-{i}"], state="RUNNING")
    bids = [submit(livy, jobs) for _ in range(3)]
    for bid in bids:
        running_app(livy, bid)

    def count():
        c = emu.counters(group="route")
        return (sum(v for k, v in c.items() if k == "GET /ws/v1/cluster/apps"),
                sum(v for k, v in c.items() if k.startswith("GET /ws/v1/cluster/apps/")))

    a0, s0 = count()
    t0 = time.monotonic()
    time.sleep(4.0)
    a1, s1 = count()
    dt = time.monotonic() - t0
    ticks = dt / 0.2
    per_tick = (a1 - a0) / ticks
    print(f"apps requests {a1 - a0} over {dt:.2f}s ({ticks:.1f} ticks), per-app GETs {s1 - s0}")
    assert a1 - a0 >= 3, "the monitor should poll several times in 4s"
    assert per_tick <= 1.3, f"{a1 - a0} apps requests in {ticks:.1f} ticks with 3 batches"
    assert s1 - s0 == 0, "no per-app GETs while polling"
    for bid in bids:
        livy.call("DELETE", f"/batches/{bid}")


def _tag_from_submits(tmp, pred):
    import json
    tags = []
    for line in (tmp / "submits.log").read_text().splitlines():
        args = json.loads(line)
        if pred(args):
            tags.append([a.split("=", 1)[1] for a in args if a.startswith("spark.yarn.tags=")][0].split(",")[0])
    return tags[-1] if tags else None


def test_session_lookup_timeout_is_dead_with_livy_message(env):
    livy, emu, jobs, tmp = env
    st, body, _ = livy.call("POST", "/sessions", {"kind": "pyspark", "conf": {"spark.e2e.noregister": "true"}})
    assert st == 201, (st, body)
    sid = body["id"]

    def final():
        s = livy.call("GET", f"/sessions/{sid}")[1]
        return s if s["state"] in ("dead", "error", "killed", "success") else None

    s = wait_until(final, 30, "session final after the lookup timeout")
    assert s["state"] == "dead", s
    log = livy.call("GET", f"/sessions/{sid}/log?from=0&size=1000")[1]["log"]
    assert any(f"No YARN application is found with tag livy-session-{sid}-" in l for l in log), log
    livy.call("DELETE", f"/sessions/{sid}")


def test_delete_before_the_app_appears_kills_it_when_it_does(env):
    livy, emu, jobs, tmp = env
    bid = submit(livy, jobs, "noregister.py")
    tag = wait_until(lambda: (lambda t: t if t and t.startswith(f"livy-batch-{bid}-") else None)(
        _tag_from_submits(tmp, lambda a: any(x.endswith("noregister.py") for x in a))), 20, "spark-submit ran")
    st, body, _ = livy.call("DELETE", f"/batches/{bid}")
    assert st == 200, (st, body)
    time.sleep(0.5)
    app_id = emu.register_app(name="late-after-delete", tags=[tag], state="RUNNING")
    wait_until(lambda: emu.app_record(app_id)["state"] == "KILLED", 20, "app of a deleted batch killed when it appears")
