"""POST/GET/DELETE /batches with plain `requests` against the real server and real spark-submit.

The two real Spark batches (PySpark and a javac-built JVM app) are submitted together by the
first test and awaited by later ones, so they run while the quick validation tests do.
"""

from __future__ import annotations

import os
import random
import re
import signal
import threading
from pathlib import Path

import pytest
import requests

from batch_helpers import (
    BATCH_SPARK_CONF,
    FINISHED,
    HTTP_TIMEOUT,
    PYSPARK_SUM,
    SUBMIT_TIMEOUT,
    build_spark_jar,
    expected_sum,
    full_log,
    get_log,
    get_state,
    list_batches,
    post_batch,
    stdout_section,
    wait_for_state,
    wait_for_success,
    write_script,
)
from pyharness.procs import find_processes
from pyharness.wait import wait_until

EXTRA_BLACKLIST = ["spark.driver.extraClassPath", "spark.executor.extraJavaOptions"]


@pytest.fixture(scope="module")
def livy_blacklist():
    # Livy's shipped spark-blacklist.conf plus two keys of our own.
    return ["spark.master", "spark.submit.deployMode", "spark.yarn.jar", "spark.yarn.jars", *EXTRA_BLACKLIST]


@pytest.fixture(scope="module")
def outside_dir(tmp_path_factory) -> Path:
    """A directory NOT in the server's whitelist, holding an otherwise valid script and jar."""
    d = tmp_path_factory.mktemp("not-whitelisted")
    write_script(d, "job.py", "print('must never run')\n")
    (d / "lib.jar").write_bytes(b"PK\x05\x06" + b"\0" * 18)
    return d


@pytest.fixture(scope="module")
def quick_script(work_dir) -> Path:
    """A script that runs without a SparkSession and exits 0 (a cheap spark-submit)."""
    return write_script(work_dir, "quick.py", "print('LIVY_RS_QUICK_DONE', flush=True)\n")


@pytest.fixture(scope="module")
def spark_batches(livy, work_dir, spark_home):
    """Submits the PySpark and the JVM batch at once; tests later wait for them."""
    jar = build_spark_jar(spark_home, work_dir / "jvm")
    script = write_script(work_dir, "pyspark_sum.py", PYSPARK_SUM)
    n_py = random.randint(1000, 5000)
    n_jvm = random.randint(1000, 5000)
    tag = f"{random.getrandbits(40):x}"
    py = post_batch(
        livy.url,
        {"file": str(script), "args": [str(n_py)], "name": f"sum-{tag}", "conf": BATCH_SPARK_CONF},
    )
    jvm = post_batch(
        livy.url,
        {
            "file": str(jar),
            "className": "livyrs.JvmSum",
            "args": [n_jvm],  # a number: Livy (Jackson) turns it into a string
            "conf": BATCH_SPARK_CONF,
        },
    )
    return {"py": py, "n_py": n_py, "jvm": jvm, "n_jvm": n_jvm, "name": f"sum-{tag}", "script": script}


def total(url: str) -> int:
    return list_batches(url)["total"]


def spark_submits(livy) -> int:
    """How many spark-submits the server says it ran (its log line per launch)."""
    return sum("running spark-submit" in line for line in livy.log_lines())


def assert_rejected(livy, body, status=400, raw=None, headers=None):
    """POSTs something invalid: answered `status` with a `msg`, and nothing is created."""
    before_total, before_submits = total(livy.url), spark_submits(livy)
    if raw is not None:
        r = requests.post(
            f"{livy.url}/batches",
            data=raw,
            headers={"Content-Type": "application/json", **(headers or {})},
            timeout=HTTP_TIMEOUT,
        )
    else:
        r = requests.post(f"{livy.url}/batches", json=body, headers=headers, timeout=HTTP_TIMEOUT)
    assert r.status_code == status, f"{body if raw is None else raw!r} -> {r.status_code} {r.text}"
    assert r.headers["Content-Type"].startswith("application/json"), r.headers
    msg = r.json()["msg"]
    assert isinstance(msg, str) and msg, r.text
    assert total(livy.url) == before_total, "a rejected request created a batch"
    assert spark_submits(livy) == before_submits, "a rejected request ran spark-submit"
    return msg


# --------------------------------------------------------------------------- create


def test_create_answers_201_with_location_and_view(livy, spark_batches, quick_script):
    py = spark_batches["py"]
    assert set(py) >= {"id", "name", "owner", "proxyUser", "state", "appId", "appInfo", "log"}, py
    assert isinstance(py["id"], int)
    assert py["name"] == spark_batches["name"]
    assert py["state"] in ("starting", "running"), py
    assert isinstance(py["log"], list)

    # No Content-Type header at all (curl without -H): Livy reads the body as JSON regardless.
    r = requests.post(f"{livy.url}/batches", data=f'{{"file": "{quick_script}"}}', timeout=HTTP_TIMEOUT)
    assert "Content-Type" not in r.request.headers
    assert r.status_code == 201, r.text
    assert r.headers["Location"] == f"/batches/{r.json()['id']}"
    assert r.headers["Content-Type"].startswith("application/json")

    view = requests.get(f"{livy.url}/batches/{py['id']}", timeout=HTTP_TIMEOUT)
    assert view.status_code == 200 and view.json()["id"] == py["id"], view.text
    listing = list_batches(livy.url)
    assert listing["from"] == 0
    assert py["id"] in [s["id"] for s in listing["sessions"]]
    assert listing["total"] == len(listing["sessions"])


def test_list_paging(livy, spark_batches):
    everything = list_batches(livy.url)
    assert everything["total"] >= 2
    page = list_batches(livy.url, **{"from": 1, "size": 1})
    assert page["from"] == 1 and page["total"] == everything["total"]
    assert [s["id"] for s in page["sessions"]] == [everything["sessions"][1]["id"]]
    assert list_batches(livy.url, **{"from": 1000})["sessions"] == []


def test_duplicate_name_rejected_and_name_lookup_works(livy, spark_batches, quick_script):
    name = spark_batches["name"]
    msg = assert_rejected(livy, {"file": str(quick_script), "name": name})
    assert "Duplicate session name" in msg and name in msg, msg
    r = requests.get(f"{livy.url}/batches/{name}", timeout=HTTP_TIMEOUT)
    assert r.status_code == 200, r.text
    assert r.json()["id"] == spark_batches["py"]["id"]
    assert r.json()["name"] == name
    # The other per-batch routes take the name too.
    assert get_state(livy.url, name) in FINISHED + ("starting", "running")


def test_all_digit_name_rejected(livy, quick_script):
    msg = assert_rejected(livy, {"file": str(quick_script), "name": "12345"})
    assert msg == "Rejected, Reason: Invalid session name: 12345", msg


def test_empty_name_rejected_like_livy(livy, quick_script):
    """Livy's Session checks `name.forall(_.isDigit)`, which is true for "": an empty name is
    refused with "Invalid session name: ". (Accepting it would register the name "", which no URL
    can address and which makes every later `"name": ""` a "Duplicate session name".)"""
    msg = assert_rejected(livy, {"file": str(quick_script), "name": ""})
    assert msg == "Rejected, Reason: Invalid session name: ", msg


# --------------------------------------------------------------------------- rejections


def test_blacklisted_conf_rejected(livy, quick_script):
    msg = assert_rejected(
        livy,
        {
            "file": str(quick_script),
            "conf": {EXTRA_BLACKLIST[0]: "/x", EXTRA_BLACKLIST[1]: "-Dx=1", "spark.app.name": "fine"},
        },
    )
    prefix = "Rejected, Reason: Blacklisted configuration values in session config: "
    assert msg.startswith(prefix), msg
    assert {k.strip() for k in msg[len(prefix):].split(",")} == set(EXTRA_BLACKLIST), msg

    msg = assert_rejected(livy, {"file": str(quick_script), "conf": {"spark.master": "yarn"}})
    assert msg == prefix + "spark.master", msg


def test_whitelist_rejects_local_paths_outside(livy, work_dir, outside_dir, quick_script):
    outside = outside_dir / "job.py"
    for file in (str(outside), f"file://{outside}", f"{work_dir}/../{outside_dir.name}/job.py"):
        msg = assert_rejected(livy, {"file": file})
        assert "cannot be added to user sessions" in msg, msg
        assert f"{outside_dir.name}/job.py" in msg, msg
    # File lists are checked too.
    jar = outside_dir / "lib.jar"
    msg = assert_rejected(livy, {"file": str(quick_script), "jars": [str(jar)]})
    assert msg == f"Rejected, Reason: requirement failed: Local path {jar} cannot be added to user sessions.", msg
    msg = assert_rejected(livy, {"file": str(quick_script), "pyFiles": [f"file:{outside}"]})
    assert str(outside) in msg, msg
    msg = assert_rejected(livy, {"file": "relative/job.py"})
    assert msg == "Rejected, Reason: requirement failed: Path 'relative/job.py' is not absolute.", msg


@pytest.mark.parametrize(
    "raw",
    ['{"file": ', "not json", "[]", "", '"just a string"'],
    ids=["truncated", "garbage", "array", "empty", "string"],
)
def test_malformed_json_rejected(livy, raw):
    assert_rejected(livy, None, raw=raw)


def test_unknown_field_rejected(livy, quick_script):
    msg = assert_rejected(livy, {"file": str(quick_script), "bogusField": 1})
    assert "bogusField" in msg, msg


def test_bad_number_rejected(livy, quick_script):
    msg = assert_rejected(livy, {"file": str(quick_script), "numExecutors": "abc"})
    assert "abc" in msg, msg
    assert_rejected(livy, {"file": str(quick_script), "driverCores": [1]})
    assert_rejected(livy, {"file": str(quick_script), "args": "not-a-list"})


def test_missing_file_rejected(livy):
    msg = assert_rejected(livy, {"args": ["1"]})
    assert "File is required" in msg, msg


def test_unsupported_api_version_is_406(livy):
    r = requests.get(
        f"{livy.url}/batches", headers={"Accept": "application/vnd.livy.v0.2+json"}, timeout=HTTP_TIMEOUT
    )
    assert r.status_code == 406, r.text
    assert r.json()["msg"], r.text
    r = requests.get(
        f"{livy.url}/batches", headers={"Accept": "application/vnd.livy.v0.1+json"}, timeout=HTTP_TIMEOUT
    )
    assert r.status_code == 200, r.text


def test_unknown_batch_is_404(livy):
    for path in ("/batches/987654", "/batches/987654/state", "/batches/987654/log"):
        r = requests.get(livy.url + path, timeout=HTTP_TIMEOUT)
        assert r.status_code == 404, (path, r.text)
        assert r.json() == {"msg": "Session '987654' not found."}, (path, r.text)
    r = requests.delete(f"{livy.url}/batches/987654", timeout=HTTP_TIMEOUT)
    assert (r.status_code, r.json()) == (404, {"msg": "Session '987654' not found."})
    r = requests.get(f"{livy.url}/batches/no-such-batch", timeout=HTTP_TIMEOUT)
    assert (r.status_code, r.json()) == (404, {"msg": "Session 'no-such-batch' not found."})


# --------------------------------------------------------------------------- short spark-submits


def test_string_numbers_accepted_and_passed_to_spark(livy, work_dir, unique):
    """Airflow sends "numExecutors": "2"; the values must reach spark-submit as Spark settings."""
    script = write_script(
        work_dir,
        f"conf_{unique}.py",
        """
        from pyspark import SparkConf, SparkContext

        # Connect to the driver JVM spark-submit started (no SparkContext, so no Spark start-up)
        # and read the conf spark-submit gave it.
        SparkContext._ensure_initialized()
        conf = SparkConf()
        for key in ("spark.executor.instances", "spark.executor.cores", "spark.driver.cores",
                    "spark.executor.memory", "spark.livyrs.marker"):
            print("CONF %s=%s" % (key, conf.get(key, None)), flush=True)
        """,
    )
    batch = post_batch(
        livy.url,
        {
            "file": str(script),
            "numExecutors": "2",
            "executorCores": "1",
            "driverCores": 1,
            "executorMemory": "512m",
            "conf": {"spark.livyrs.marker": unique},
        },
    )
    out = stdout_section(wait_for_success(livy.url, batch["id"], timeout=SUBMIT_TIMEOUT))
    for line in (
        "CONF spark.executor.instances=2",
        "CONF spark.executor.cores=1",
        "CONF spark.driver.cores=1",
        "CONF spark.executor.memory=512m",
        f"CONF spark.livyrs.marker={unique}",
    ):
        assert line in out, f"{line!r} not in {out}"


def test_nonzero_exit_is_dead(livy, work_dir, unique):
    script = write_script(
        work_dir,
        f"fail_{unique}.py",
        """
        import sys
        print("LIVY_RS_ABOUT_TO_FAIL", flush=True)
        sys.exit(3)
        """,
    )
    batch = post_batch(livy.url, {"file": str(script)})
    assert wait_for_state(livy.url, batch["id"], timeout=SUBMIT_TIMEOUT) == "dead"
    log = full_log(livy.url, batch["id"])
    assert "LIVY_RS_ABOUT_TO_FAIL" in stdout_section(log), log
    view = requests.get(f"{livy.url}/batches/{batch['id']}", timeout=HTTP_TIMEOUT).json()
    assert view["state"] == "dead"
    # A finished batch can be deleted too (Livy answers "deleted" and forgets it).
    r = requests.delete(f"{livy.url}/batches/{batch['id']}", timeout=HTTP_TIMEOUT)
    assert (r.status_code, r.json()) == (200, {"msg": "deleted"}), r.text
    assert get_state(livy.url, batch["id"]) is None


def test_log_keeps_last_cache_log_size_lines(livy, work_dir, unique):
    """`livy.cache-log.size` (default 200): only the last 200 lines of output are kept."""
    script = write_script(
        work_dir,
        f"chatty_{unique}.py",
        """
        for i in range(250):
            print("LINE %03d" % i)
        """,
    )
    batch = post_batch(livy.url, {"file": str(script)})
    assert wait_for_state(livy.url, batch["id"], timeout=SUBMIT_TIMEOUT) == "success"
    out = [line for line in stdout_section(full_log(livy.url, batch["id"])) if line.startswith("LINE ")]
    assert out == ["LINE %03d" % i for i in range(50, 250)], out[:3]


def test_delete_running_batch_kills_its_process_tree(livy, work_dir, unique):
    script = write_script(
        work_dir,
        f"sleeper_{unique}.py",
        """
        import os, subprocess, sys, time
        me = os.path.abspath(__file__)
        # A grandchild that carries the script path in its command line too.
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", me])
        print("LIVY_RS_READY", flush=True)
        time.sleep(600)
        """,
    )
    marker = str(script)
    batch = post_batch(livy.url, {"file": marker})
    bid = batch["id"]
    wait_until(
        lambda: "LIVY_RS_READY" in full_log(livy.url, bid),
        SUBMIT_TIMEOUT,
        f"batch {bid} to print LIVY_RS_READY",
    )
    procs = wait_until(lambda: len(p := find_processes(marker)) >= 3 and p, 30, "driver, python and grandchild")
    assert get_state(livy.url, bid) == "running"

    r = requests.delete(f"{livy.url}/batches/{bid}", timeout=120)
    assert (r.status_code, r.json()) == (200, {"msg": "deleted"}), r.text
    r = requests.get(f"{livy.url}/batches/{bid}", timeout=HTTP_TIMEOUT)
    assert (r.status_code, r.json()) == (404, {"msg": f"Session '{bid}' not found."}), r.text
    assert bid not in [s["id"] for s in list_batches(livy.url)["sessions"]]
    wait_until(
        lambda: not find_processes(marker),
        30,
        f"the process tree of batch {bid} to be gone (was: {[str(p) for p in procs]})",
    )
    r = requests.delete(f"{livy.url}/batches/{bid}", timeout=HTTP_TIMEOUT)
    assert r.status_code == 404, r.text


def test_driver_killed_from_outside_is_dead(livy, work_dir, unique):
    """spark-submit dying of a signal nobody asked for (OOM killer, admin) ends the batch `dead`."""
    script = write_script(
        work_dir,
        f"victim_{unique}.py",
        "import time\nprint('LIVY_RS_READY', flush=True)\ntime.sleep(600)\n",
    )
    batch = post_batch(livy.url, {"file": str(script)})
    bid = batch["id"]
    wait_until(lambda: "LIVY_RS_READY" in full_log(livy.url, bid), SUBMIT_TIMEOUT, "the victim to start")
    jvm = [p for p in find_processes(str(script)) if "org.apache.spark.deploy.SparkSubmit" in p.cmdline]
    assert len(jvm) == 1, [str(p) for p in find_processes(str(script))]
    os.kill(jvm[0].pid, signal.SIGKILL)
    assert wait_for_state(livy.url, bid, timeout=60) == "dead"
    # Whatever the JVM left behind is not the server's to reap here; clean it up ourselves.
    for p in find_processes(str(script)):
        try:
            os.kill(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


# --------------------------------------------------------------------------- the real Spark batches


def test_pyspark_batch_succeeds_and_logs_result(livy, spark_batches):
    bid = spark_batches["py"]["id"]
    log = wait_for_success(livy.url, bid)
    want = f"LIVY_RS_SUM={expected_sum(spark_batches['n_py'])}"
    assert want in stdout_section(log), f"{want} not in stdout of:\n" + "\n".join(log)
    view = requests.get(f"{livy.url}/batches/{bid}", timeout=HTTP_TIMEOUT).json()
    assert view["state"] == "success"
    assert view["log"] == log[-10:], "the view shows the last 10 log lines"


def test_log_paging_follows_livy(livy, spark_batches):
    bid = spark_batches["py"]["id"]
    wait_for_state(livy.url, bid)
    everything = get_log(livy.url, bid, size=-1)
    lines, n = everything["log"], everything["total"]
    assert everything["id"] == bid and everything["from"] == 0
    assert n == len(lines) and n > 10, everything
    assert lines[0] == "stdout: " and "\nstderr: " in lines

    # Defaults: size 100, from = the start of the last 100 lines.
    default = get_log(livy.url, bid)
    assert default["total"] == n
    assert default["from"] == max(0, n - 100)
    assert default["log"] == lines[max(0, n - 100):]

    assert get_log(livy.url, bid, **{"from": 0, "size": 5})["log"] == lines[:5]
    assert get_log(livy.url, bid, size=3)["log"] == lines[-3:]
    assert get_log(livy.url, bid, size=3)["from"] == n - 3
    mid = get_log(livy.url, bid, **{"from": 2, "size": 4})
    assert (mid["from"], mid["log"]) == (2, lines[2:6])
    past = get_log(livy.url, bid, **{"from": n + 5, "size": 10})
    assert (past["from"], past["total"], past["log"]) == (n + 5, n, [])
    neg = get_log(livy.url, bid, **{"from": -1, "size": 4})
    assert (neg["from"], neg["log"]) == (n - 4, lines[-4:])

    # Walking the pages (as Airflow's dump_batch_logs does) yields the whole log once.
    walked, start = [], 0
    while start < n:
        walked += get_log(livy.url, bid, **{"from": start, "size": 7})["log"]
        start += 7
    assert walked == lines


def test_jvm_batch_succeeds_and_logs_result(livy, spark_batches):
    bid = spark_batches["jvm"]["id"]
    log = wait_for_success(livy.url, bid)
    want = f"LIVY_RS_JVM_SUM={expected_sum(spark_batches['n_jvm'])}"
    assert want in stdout_section(log), f"{want} not in stdout of:\n" + "\n".join(log)


# --------------------------------------------------------------------------- other settings


def test_max_creation_rejects_a_second_concurrent_batch(livy_factory, work_dir, quick_script, unique):
    server = livy_factory({"livy.server.session.max-creation": 1})
    script = write_script(
        work_dir,
        f"sleeper_max_{unique}.py",
        "import time\nprint('LIVY_RS_READY', flush=True)\ntime.sleep(600)\n",
    )
    first = post_batch(server.url, {"file": str(script), "name": f"sleeper-{unique}"})
    r = requests.post(f"{server.url}/batches", json={"file": str(quick_script)}, timeout=HTTP_TIMEOUT)
    assert (r.status_code, r.json()) == (400, {"msg": "Rejected, too many sessions are being created!"}), r.text
    assert total(server.url) == 1

    # Deleted by name: every per-batch route takes a name as well as an id.
    r = requests.delete(f"{server.url}/batches/{first['name']}", timeout=120)
    assert r.json() == {"msg": "deleted"}, r.text
    # Its process has ended, so there is room again; and its name is free again.
    again = post_batch(server.url, {"file": str(quick_script), "name": f"sleeper-{unique}"})
    assert wait_for_state(server.url, again["id"], timeout=SUBMIT_TIMEOUT) == "success"
    wait_until(lambda: not find_processes(str(script)), 30, "the deleted sleeper to be gone")


def concurrent_posts(url: str, body: dict, n: int):
    """n POSTs released together (each on its own warmed-up connection); returns the responses."""
    sessions = [requests.Session() for _ in range(n)]
    for sess in sessions:
        sess.get(f"{url}/version", timeout=HTTP_TIMEOUT)
    barrier = threading.Barrier(n)
    results = [None] * n

    def post(i):
        barrier.wait(timeout=30)
        results[i] = sessions[i].post(f"{url}/batches", json=body, timeout=HTTP_TIMEOUT)

    threads = [threading.Thread(target=post, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    for sess in sessions:
        sess.close()
    assert all(r is not None for r in results), "a concurrent POST did not return"
    return results


def test_max_creation_holds_under_concurrent_posts(livy_factory, work_dir, unique):
    """Livy's POST /batches is `synchronized` around the max-creation check and the launch, so a
    burst of simultaneous requests cannot exceed the limit. Each round releases 8 POSTs at once
    against max-creation=1: exactly one may be accepted."""
    server = livy_factory({"livy.server.session.max-creation": 1})
    script = write_script(work_dir, f"sleeper_burst_{unique}.py", "import time\ntime.sleep(600)\n")
    accepted_per_round = []
    try:
        for _ in range(15):
            results = concurrent_posts(server.url, {"file": str(script)}, 8)
            accepted = [r.json()["id"] for r in results if r.status_code == 201]
            refused = [r for r in results if r.status_code != 201]
            assert all(
                r.status_code == 400 and r.json() == {"msg": "Rejected, too many sessions are being created!"}
                for r in refused
            ), [r.text for r in refused]
            accepted_per_round.append(len(accepted))
            for bid in accepted:
                r = requests.delete(f"{server.url}/batches/{bid}", timeout=120)
                assert r.status_code == 200, r.text
    finally:
        wait_until(lambda: not find_processes(str(script)), 60, "the burst's sleepers to be gone")
    assert all(n == 1 for n in accepted_per_round), (
        f"max-creation=1 exceeded: accepted per round of 8 concurrent POSTs = {accepted_per_round}"
    )


def test_concurrent_posts_with_one_name_accept_exactly_one(livy, quick_script, unique):
    name = f"race-{unique}"
    results = concurrent_posts(livy.url, {"file": str(quick_script), "name": name}, 6)
    codes = sorted(r.status_code for r in results)
    assert codes == [201] + [400] * 5, [r.text for r in results]
    winner = next(r.json() for r in results if r.status_code == 201)
    assert requests.get(f"{livy.url}/batches/{name}", timeout=HTTP_TIMEOUT).json()["id"] == winner["id"]
    for r in results:
        if r.status_code == 400:
            assert "Duplicate session name" in r.json()["msg"], r.text


def test_finished_batch_forgotten_after_state_retain(livy_factory, quick_script):
    server = livy_factory({"livy.server.session.state-retain.sec": "3s"})
    batch = post_batch(server.url, {"file": str(quick_script)})
    bid = batch["id"]
    assert wait_for_state(server.url, bid, timeout=SUBMIT_TIMEOUT) == "success"
    wait_until(
        lambda: bid not in [s["id"] for s in list_batches(server.url)["sessions"]],
        30,
        f"finished batch {bid} to leave GET /batches",
    )
    r = requests.get(f"{server.url}/batches/{bid}", timeout=HTTP_TIMEOUT)
    assert (r.status_code, r.json()) == (404, {"msg": f"Session '{bid}' not found."})


def test_sigterm_stops_server_and_running_batches(livy_factory, work_dir, unique):
    server = livy_factory()
    script = write_script(
        work_dir,
        f"sleeper_stop_{unique}.py",
        "import time\nprint('LIVY_RS_READY', flush=True)\ntime.sleep(600)\n",
    )
    batch = post_batch(server.url, {"file": str(script)})
    wait_until(
        lambda: "LIVY_RS_READY" in full_log(server.url, batch["id"]),
        SUBMIT_TIMEOUT,
        "the sleeper to start",
    )
    assert find_processes(str(script))
    assert server.stop(timeout=60) == 0, server.log_text()
    assert re.search(r"livy-rs stopped", server.log_text()), server.log_text()
    wait_until(lambda: not find_processes(str(script)), 30, "the batch's processes to be gone after stop")
