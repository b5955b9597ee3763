"""Sessions, statements and batches survive a server restart (kill -9 and SIGTERM), with the
filesystem store and with ZooKeeper; what cannot be recovered ends with a message saying why."""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import time
from pathlib import Path
from typing import Dict, List

import pytest

from pyharness import zookeeper
from pyharness.livy_server import LivyServer
from pyharness.wait import wait_until
from session_helpers import (
    SPARK_START_TIMEOUT,
    base_conf,
    create_session,
    default_binary,
    make_spark_home,
    ok_text,
    post_statement,
    python_spark_home,
    run,
    wait_session_state,
    wait_statement,
)

BATCH_JOB = """\
import sys, time
print("batch job %s starting" % sys.argv[1], flush=True)
time.sleep(float(sys.argv[2]))
print("batch job %s done" % sys.argv[1], flush=True)
sys.exit(int(sys.argv[3]))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def real_home() -> Path:
    home = os.environ.get("SPARK_HOME")
    if home and (Path(home) / "bin" / "spark-submit").exists():
        return Path(home)
    return python_spark_home(Path(os.environ.get("PYSPARK_PYTHON", "python3")))


def shim_home(root: Path, real: Path) -> Path:
    """spark-submit that runs batch_job.py as a plain process (a batch costs no JVM) and execs
    the real spark-submit for everything else (the sessions' drivers)."""
    q = shlex.quote
    # C1 only and the serial GC: about half the CPU of a Spark start (as tests/clients does), so
    # eight sessions start on two cores next to the other suites.
    conf_dir = root / "spark-conf"
    conf_dir.mkdir(parents=True, exist_ok=True)
    (conf_dir / "spark-defaults.conf").write_text(
        "spark.driver.extraJavaOptions -XX:TieredStopAtLevel=1 -XX:+UseSerialGC\n"
        "spark.ui.enabled false\n", encoding="utf-8")
    return make_spark_home(
        root / "spark",
        "#!/bin/sh\n"
        'for a in "$@"; do case "$a" in *batch_job.py)\n'
        '  shift $(($# - 4)); f=${1#file://}; shift; exec python3 "$f" "$@";; esac; done\n'
        f"export SPARK_HOME={q(str(real))}\n"
        f"export SPARK_CONF_DIR={q(str(conf_dir))}\n"
        f'exec {q(str(real))}/bin/spark-submit "$@"\n',
        real,
    )


class Livy:
    """A server and the REST calls the tests make."""

    def __init__(self, tmp: Path, real: Path, store: Dict[str, object], **extra) -> None:
        self.job = tmp / "batch_job.py"
        self.job.write_text(BATCH_JOB, encoding="utf-8")
        conf = base_conf(**{
            "livy.server.port": free_port(),
            "livy.server.recovery.mode": "recovery",
            "livy.rsc.server.idle-timeout": "120s",
            # Spark starts are slow on a loaded 2-core machine; the default 90 s is for one.
            "livy.rsc.server.connect.timeout": "600s",
            "livy.file.local-dir-whitelist": str(tmp),
            **store,
            **extra,
        })
        self.server = LivyServer(conf, binary=default_binary(), name="livy-recovery",
                                 root=tmp / "server",
                                 env={"SPARK_HOME": str(shim_home(tmp, real))},
                                 start_timeout=60)

    def start(self) -> "Livy":
        self.server.start()
        return self

    def crash(self) -> None:
        """kill -9 of the server alone: what it started keeps running, as after a real crash."""
        self.server.proc.send_signal(signal.SIGKILL)
        self.server.proc.wait(timeout=10)
        self.server._forget()

    def req(self, method: str, path: str, body=None):
        import urllib.request
        data = json.dumps(body).encode() if body is not None else None
        r = urllib.request.Request(self.server.url + path, data=data, method=method,
                                   headers={"Content-Type": "application/json"} if data else {})
        try:
            with urllib.request.urlopen(r, timeout=30) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def batch(self, name: str, seconds: float, code: int) -> dict:
        status, body = self.req("POST", "/batches", {
            "file": str(self.job), "name": name, "args": [name, str(seconds), str(code)]})
        assert status == 201, body
        return body

    def batch_state(self, bid: int) -> str:
        return self.req("GET", f"/batches/{bid}")[1]["state"]

    def wait_batch(self, bid: int, states, timeout: float = 60.0) -> str:
        return wait_until(lambda: (s := self.batch_state(bid)) in states and s,
                          timeout=timeout, what=f"batch {bid} in {states}")

    def cleanup(self) -> None:
        if not self.server.running:
            return
        for kind in ("sessions", "batches"):
            status, body = self.req("GET", f"/{kind}")
            for item in (body or {}).get("sessions", []):
                self.req("DELETE", f"/{kind}/{item['id']}")
        self.server.stop()


def sql_rows(st: dict) -> list:
    assert st["state"] == "available" and st["output"]["status"] == "ok", st
    return st["output"]["data"]["application/json"]["data"]


def fs_store(tmp: Path) -> Dict[str, object]:
    return {"livy.server.recovery.state-store": "filesystem",
            "livy.server.recovery.state-store.url": f"file://{tmp / 'store'}"}


def test_a_crash_loses_nothing_sessions_statements_and_batches_come_back(tmp_path, real_home):
    livy = Livy(tmp_path, real_home, fs_store(tmp_path)).start()
    try:
        crash_and_recover(livy, tmp_path)
    finally:
        livy.cleanup()


def crash_and_recover(livy: Livy, tmp_path: Path) -> None:
    # 8 sessions of every kind and 50 batches, some of each still running at the crash.
    kinds = ["pyspark", "pyspark", "pyspark", "pyspark", "sql", "sql", "spark", "spark"]
    sessions = []
    for wave in (kinds[:4], kinds[4:]):  # two waves: four Spark starts at a time
        started = [create_session(livy.server, {"kind": k, "name": f"nb-{len(sessions) + i}"})
                   for i, k in enumerate(wave)]
        for s in started:
            wait_session_state(livy.server, s["id"], {"idle"}, 600)
        sessions += started
    py, sql, scala = sessions[0], sessions[4], sessions[6]
    for s in sessions:
        code = {"pyspark": "x = 21\nprint(x)", "sql": "SELECT 1 AS one", "spark": "val x = 21"}[s["kind"]]
        st = run(livy.server, s["id"], code)
        assert st["output"]["status"] == "ok", st
    long_st = post_statement(livy.server, py["id"], "import time\ntime.sleep(12)\nprint(x * 2)")
    wait_until(lambda: livy.req("GET", f"/sessions/{py['id']}/statements/{long_st['id']}")[1]["state"] == "running",
               timeout=60, what="the long statement runs")
    quick = [livy.batch(f"quick-{i}", 0, 0) for i in range(40)]
    failing = [livy.batch(f"fails-{i}", 0, 3) for i in range(5)]
    slow_ok = [livy.batch(f"slow-ok-{i}", 15, 0) for i in range(3)]
    slow_bad = [livy.batch(f"slow-bad-{i}", 15, 5) for i in range(2)]
    for b in quick:
        livy.wait_batch(b["id"], {"success"})
    for b in failing:
        livy.wait_batch(b["id"], {"dead"})
    before_sessions = livy.req("GET", "/sessions")[1]["sessions"]
    before_batches = livy.req("GET", "/batches?size=100")[1]["sessions"]
    assert len(before_batches) == 50

    livy.crash()
    livy.start()

    after = {s["id"]: s for s in livy.req("GET", "/sessions")[1]["sessions"]}
    assert sorted(after) == sorted(s["id"] for s in before_sessions)
    for s in before_sessions:
        a = after[s["id"]]
        assert (a["name"], a["kind"], a["owner"]) == (s["name"], s["kind"], s["owner"])
        assert a["state"] in ("recovering", "idle", "busy"), a
    got = {b["id"]: b for b in livy.req("GET", "/batches?size=100")[1]["sessions"]}
    assert sorted(got) == sorted(b["id"] for b in before_batches)
    assert all(got[b["id"]]["state"] == "dead" for b in failing)
    assert all(got[b["id"]]["state"] == "success" for b in quick)
    assert [got[b["id"]]["name"] for b in slow_ok] == [b["name"] for b in slow_ok]

    # The statement that ran across the crash completes and its output arrives.
    done = wait_statement(livy.server, py["id"], long_st["id"], timeout=120)
    assert ok_text(done) == "42", done
    # Every driver kept its state and SparkContext; earlier statements are still listed.
    for s in sessions:
        wait_session_state(livy.server, s["id"], {"idle"}, 120)
    assert ok_text(run(livy.server, py["id"], "print(sc.parallelize(range(10)).sum() + x)")) == "66"
    sts = livy.req("GET", f"/sessions/{py['id']}/statements")[1]["statements"]
    assert [s["id"] for s in sts] == [0, 1, 2] and ok_text(sts[0]) == "21"
    assert sql_rows(run(livy.server, sql["id"], "SELECT 2 AS two")) == [[2]]
    assert "42" in ok_text(run(livy.server, scala["id"], "x * 2"))

    # Batches still running at the crash end as their process did; their log survived.
    for b in slow_ok:
        assert livy.wait_batch(b["id"], {"success", "dead"}) == "success"
    for b in slow_bad:
        assert livy.wait_batch(b["id"], {"success", "dead"}) == "dead"
    log = livy.req("GET", f"/batches/{slow_ok[0]['id']}/log?size=100")[1]["log"]
    assert any("batch job slow-ok-0 done" in line for line in log), log

    # No id is given out twice.
    new = livy.batch("after", 0, 0)
    assert new["id"] == max(b["id"] for b in before_batches) + 1

    # Nothing is left without an owner: deleting everything stops every recorded process.
    pids = recorded_pids(tmp_path / "store")
    assert len(pids) >= len(sessions)
    livy.cleanup()
    wait_until(lambda: not [p for p in pids if Path(f"/proc/{p}").exists()], timeout=90,
               what="every driver and spark-submit gone after DELETE")


def recorded_pids(store: Path) -> List[int]:
    pids = []
    for kind in ("interactive", "batch"):
        for f in (store / "v1" / kind).glob("[0-9]*"):
            proc = json.loads(f.read_text()).get("process")
            if proc:
                pids.append(proc["pid"])
    return pids


def test_sigterm_with_recovery_leaves_the_driver_running_and_it_resumes(tmp_path, real_home):
    livy = Livy(tmp_path, real_home, fs_store(tmp_path)).start()
    try:
        s = create_session(livy.server, {"kind": "pyspark"})
        wait_session_state(livy.server, s["id"], {"idle"}, SPARK_START_TIMEOUT)
        assert ok_text(run(livy.server, s["id"], "y = 5\nprint(y)")) == "5"
        assert livy.server.stop() == 0
        livy.start()
        wait_session_state(livy.server, s["id"], {"idle"}, 120)
        assert ok_text(run(livy.server, s["id"], "print(y + 1)")) == "6"
        assert livy.batch("next", 0, 0)["id"] == 0
        status, again = livy.req("POST", "/sessions", {"kind": "pyspark"})
        assert again["id"] == s["id"] + 1, again
        livy.req("DELETE", f"/sessions/{again['id']}")
    finally:
        livy.cleanup()


def test_statements_answered_just_before_a_crash_are_kept_and_run_once(tmp_path, real_home):
    """A burst of statements, kill -9 the moment the last POST is answered: every id a client
    was given is still there with its code, none is given out again, and each statement ran
    exactly once (the driver may have received some that the store still had as waiting)."""
    livy = Livy(tmp_path, real_home, fs_store(tmp_path)).start()
    try:
        s = create_session(livy.server, {"kind": "pyspark"})
        wait_session_state(livy.server, s["id"], {"idle"}, SPARK_START_TIMEOUT)
        assert ok_text(run(livy.server, s["id"], "counter = 0\nprint(counter)")) == "0"
        burst = [post_statement(livy.server, s["id"], f"counter += 1  # {i}") for i in range(10)]
        livy.crash()
        livy.start()

        listed = livy.req("GET", f"/sessions/{s['id']}/statements")[1]["statements"]
        assert [(st["id"], st["code"]) for st in listed[1:]] == \
            [(st["id"], st["code"]) for st in burst], listed
        wait_session_state(livy.server, s["id"], {"idle"}, 120)
        for st in burst:
            done = wait_statement(livy.server, s["id"], st["id"], timeout=120)
            out = done["output"]
            assert out["status"] == "ok" or out["ename"] == "StatementLost", done
        last = run(livy.server, s["id"], "print(counter)")
        assert last["id"] == burst[-1]["id"] + 1, last
        assert ok_text(last) == "10", "each statement ran exactly once"
    finally:
        livy.cleanup()


def test_a_driver_gone_while_the_server_was_down_ends_dead_with_why(tmp_path, real_home):
    livy = Livy(tmp_path, real_home, fs_store(tmp_path),
                **{"livy.rsc.server.idle-timeout": "3s"}).start()
    try:
        s = create_session(livy.server, {"kind": "pyspark"})
        wait_session_state(livy.server, s["id"], {"idle"}, SPARK_START_TIMEOUT)
        record = json.loads((tmp_path / "store" / "v1" / "interactive" / str(s["id"])).read_text())
        pid = record["process"]["pid"]
        livy.crash()
        # The driver dials back for 3 s, then stops Spark and exits.
        wait_until(lambda: not Path(f"/proc/{pid}").exists(), timeout=90, what="driver gives up")
        livy.start()
        view = wait_session_state(livy.server, s["id"], {"dead"}, 30)
        log = "\n".join(livy.req("GET", f"/sessions/{s['id']}/log?size=200")[1]["log"])
        assert "ended while the server was down" in log, log
        assert "idle-timeout" in log
    finally:
        livy.cleanup()


def test_store_problems_are_clear_errors(tmp_path, real_home):
    # Two servers on one store: the second refuses to start.
    first = Livy(tmp_path, real_home, fs_store(tmp_path)).start()
    try:
        second = LivyServer(dict(first.server.conf, **{"livy.server.port": free_port()}),
                            binary=default_binary(), root=tmp_path / "second",
                            env=first.server.env_changes)
        with pytest.raises(Exception) as e:
            second.start()
        assert "another livy-rs server" in str(e.value)
        # A corrupt record is skipped, the rest recovered.
        b = first.batch("kept", 0, 0)
        first.wait_batch(b["id"], {"success"})
        first.crash()
        (tmp_path / "store" / "v1" / "batch" / "77").write_text("{not json")
        first.start()
        assert [x["id"] for x in first.req("GET", "/batches")[1]["sessions"]] == [b["id"]]
        assert "corrupt" in first.server.log_text()
    finally:
        first.cleanup()
    # A store that cannot be reached at start: a clear error and exit, nothing dropped silently.
    dead_zk = LivyServer(base_conf(**{
        "livy.server.recovery.mode": "recovery",
        "livy.server.recovery.state-store": "zookeeper",
        "livy.server.zookeeper.url": f"127.0.0.1:{free_port()}",
        "livy.server.recovery.zk-state-store.retry-policy": "2,100",
    }), binary=default_binary(), root=tmp_path / "nozk")
    with pytest.raises(Exception) as e:
        dead_zk.start()
    assert "ZooKeeper" in str(e.value)


def test_zookeeper_store_survives_a_crash_and_an_outage(tmp_path, real_home):
    assert zookeeper.available(), "Debian's zookeeper is missing: scripts/setup-env --recovery"
    with zookeeper.ZooKeeper() as zk:
        store = {"livy.server.recovery.state-store": "zookeeper",
                 "livy.server.zookeeper.url": zk.address,
                 "livy.server.recovery.zk-state-store.digest": "livy:s3cret"}
        livy = Livy(tmp_path, real_home, store).start()
        try:
            s = create_session(livy.server, {"kind": "pyspark", "name": "zk-notebook"})
            wait_session_state(livy.server, s["id"], {"idle"}, SPARK_START_TIMEOUT)
            assert ok_text(run(livy.server, s["id"], "z = 7\nprint(z)")) == "7"
            # The session's record holds its driver's secret: only the server's digest identity
            # reads it; another ZooKeeper client, anonymous or with another identity, is refused.
            record = f"/livy/v1/interactive/{s['id']}"
            holder = zk.cli("addauth digest livy:s3cret", f"get {record}")
            assert '"secret":' in holder and "zk-notebook" in holder, holder[-2000:]
            for intruder in ([f"get {record}"], ["addauth digest mallory:guess", f"get {record}"]):
                seen = zk.cli(*intruder)
                assert "Insufficient permission" in seen and '"secret":' not in seen, seen[-2000:]
            first = livy.batch("zk-before", 0, 0)
            livy.wait_batch(first["id"], {"success"})
            # ZooKeeper goes away: the server keeps serving and catches up when it is back.
            zk.stop()
            during = livy.batch("zk-during", 0, 0)
            livy.wait_batch(during["id"], {"success"})
            zk.start()
            wait_until(lambda: "the recovery store has caught up" in livy.server.log_text(),
                       timeout=60, what="the writer catches up")
            livy.crash()
            livy.start()
            ids = sorted(b["id"] for b in livy.req("GET", "/batches")[1]["sessions"])
            assert ids == [first["id"], during["id"]]
            wait_session_state(livy.server, s["id"], {"idle"}, 120)
            assert livy.req("GET", f"/sessions/{s['id']}")[1]["name"] == "zk-notebook"
            assert ok_text(run(livy.server, s["id"], "print(z * 6)")) == "42"
        finally:
            livy.cleanup()


def test_a_pylivy_session_opened_before_a_restart_keeps_working(tmp_path, real_home):
    from livy import LivySession, SessionKind

    livy = Livy(tmp_path, real_home, fs_store(tmp_path)).start()
    try:
        with LivySession.create(livy.server.url, kind=SessionKind.PYSPARK) as session:
            session.run("counter = 40")
            livy.crash()
            livy.start()
            # The same client object, nothing re-created: the session answers as before.
            out = session.run("counter += 2\nprint(counter)")
            assert out.text.strip() == "42", out
            assert session.download("spark.range(5).toDF('n')").shape == (5, 1)
    finally:
        livy.cleanup()


def test_a_sparkmagic_notebook_keeps_its_session_across_a_restart(tmp_path, real_home):
    """sparkmagic's PySpark kernel (run by nbclient, as Jupyter runs it) holds a Livy session; the
    server is killed (-9) and started again between two cells. The next cells run in the same
    session with its variables, sparkmagic notices nothing, and closing the kernel deletes the
    session as it does without a restart."""
    import re
    import sys

    import nbformat
    from nbclient import NotebookClient

    # Appended, not prepended: tests/clients has a session_helpers.py of its own.
    sys.path.append(str(Path(__file__).resolve().parents[1] / "clients"))
    from sparkmagic_kernel import (KERNEL_NAME, KERNELSPEC, cell_text, kernel_env, prepare,
                                   sparkmagic_config)

    statement_timeout = 120
    livy = Livy(tmp_path, real_home, fs_store(tmp_path)).start()
    try:
        jupyter = tmp_path / "jupyter"
        env = prepare(jupyter, sparkmagic_config(
            livy.server.url, session_conf={}, name="notebook-across-restart",
            start_timeout=SPARK_START_TIMEOUT, statement_timeout=statement_timeout,
            heartbeat_timeout=60))
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell(code) for code in (
            "counter = 40\nprint('counter set')",
            "counter += 2\nprint('counter=%d' % counter)",
            "%%sql\nSELECT 6 * 7 AS answer",
        )]
        nb.metadata["kernelspec"] = KERNELSPEC
        with pytest.MonkeyPatch.context() as mp:
            for key, value in env.items():
                mp.setenv(key, value)
            client = NotebookClient(nb, kernel_name=KERNEL_NAME,
                                    timeout=int(SPARK_START_TIMEOUT + statement_timeout),
                                    startup_timeout=90, allow_errors=True,
                                    shutdown_kernel="graceful")
            with client.setup_kernel(env=kernel_env(jupyter)):
                client.execute_cell(nb.cells[0], 0)
                assert "counter set" in cell_text(nb.cells[0]), cell_text(nb.cells[0])
                (before,) = livy.req("GET", "/sessions")[1]["sessions"]
                livy.crash()
                livy.start()
                client.execute_cell(nb.cells[1], 1)
                client.execute_cell(nb.cells[2], 2)
                (after,) = livy.req("GET", "/sessions")[1]["sessions"]
        assert "counter=42" in cell_text(nb.cells[1]), cell_text(nb.cells[1])
        assert re.search(r"answer\s*\n\s*0\s+42\b", cell_text(nb.cells[2])), cell_text(nb.cells[2])
        assert (after["id"], after["name"]) == (before["id"], "notebook-across-restart"), (before, after)
        # Closing the kernel deleted the session (sparkmagic's do_shutdown), as without a restart.
        wait_until(lambda: livy.req("GET", "/sessions")[1]["sessions"] == [], timeout=60,
                   what="the kernel's shutdown to delete the session")
    finally:
        livy.cleanup()
