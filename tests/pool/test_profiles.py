"""Named pool profiles on real Spark: a profile for alice (livy.impersonation.enabled, LDAP users)
keeps a driver launched with --proxy-user alice, which alice's session takes at once and bob's
never does; a profile's unknown or invalid keys stop the server with a message; a pooled driver a
crashed server (kill -9) left behind is stopped and its run directory removed at the next start,
with recovery on and with it off (then the dead server's temporary work directory goes, a running
server's stays); pooled drivers count against livy.server.session.max-creation and are replaced
after their ttl.
"""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import pytest
import requests
from requests.auth import HTTPBasicAuth

from pool_helpers import POOL_FILL_TIMEOUT, pool_state, wait_pool_ready
from pyharness.livy_server import LivyServer, LivyServerError, serving
from pyharness.procs import find_processes
from pyharness.slapd import Slapd
from pyharness.wait import wait_until

USERS = {"alice": "alice-pw", "bob": "bob-pw"}
AUTH = {u: HTTPBasicAuth(u, pw) for u, pw in USERS.items()}
PROFILE = "livy.server.session.pool.profile"
#: A session taken from the pool is idle this soon after its POST (a cold start here: > 10 s).
POOLED_BOUND = 3.0


def base(work_dir: Path, **extra) -> dict:
    return {
        "livy.spark.master": "local[1]",
        "livy.file.local-dir-whitelist": str(work_dir),
        "livy.rsc.launcher.address": "127.0.0.1",
        "livy.rsc.launcher.port.range": "0~0",
        **extra,
    }


@pytest.fixture(scope="module")
def slapd():
    with Slapd(users=USERS) as server:
        yield server


@pytest.fixture(scope="module")
def alice_pool(livy_bin, spark_home, slapd, tmp_path_factory, light_spark_conf):
    work_dir = tmp_path_factory.mktemp("profiles-work")
    conf = base(work_dir, **{
        "livy.server.auth.type": "ldap",
        "livy.server.auth.ldap.url": slapd.url,
        "livy.server.auth.ldap.base-dn": slapd.base_dn,
        "livy.impersonation.enabled": "true",
        "livy.server.access-control.enabled": "true",
        "livy.server.access-control.allowed-users": "alice,bob",
        # (to read /metrics)
        "livy.server.access-control.view-users": "alice",
        f"{PROFILE}.for-alice.size": 1,
        f"{PROFILE}.for-alice.kind": "pyspark",
        f"{PROFILE}.for-alice.proxy-users": "alice",
    })
    yield from serving(LivyServer(conf, binary=livy_bin, env={"SPARK_CONF_DIR": str(light_spark_conf)},
                                  name="livy-pool-profiles"))


def call(livy, user, method, path, **kw):
    r = requests.request(method, livy.url + path, auth=AUTH[user], timeout=60, **kw)
    assert r.status_code < 300, f"{user} {method} {path}: {r.status_code} {r.text}"
    return r.json()


def statement(livy, user, sid, code):
    st = call(livy, user, "POST", f"/sessions/{sid}/statements", json={"code": code})
    done = wait_until(
        lambda: (s := call(livy, user, "GET", f"/sessions/{sid}/statements/{st['id']}"))["state"]
        in ("available", "error", "cancelled") and s,
        120, f"statement {code!r}", interval=0.2)
    assert done["output"]["status"] == "ok", done
    return done["output"]["data"]["text/plain"].strip()


def test_a_pooled_driver_for_alice_serves_alice_and_never_bob(alice_pool):
    livy = alice_pool
    (pooled,) = wait_pool_ready(livy, 1)
    assert 'profile="for-alice" proxy_user="alice"' in livy.log_text()
    # bob's session starts cold: alice's driver stays in the pool.
    bob = call(livy, "bob", "POST", "/sessions", json={"kind": "pyspark"})
    assert bob["id"] != pooled and bob["state"] == "starting", bob
    assert bob["proxyUser"] == "bob", bob
    assert pooled in pool_state(livy)[0], "bob's request took alice's pooled driver"
    call(livy, "bob", "DELETE", f"/sessions/{bob['id']}")
    # alice's takes it: idle at once, running as alice.
    t0 = time.monotonic()
    alice = call(livy, "alice", "POST", "/sessions", json={"kind": "pyspark"})
    assert alice["id"] == pooled, alice
    wait_until(lambda: call(livy, "alice", "GET", f"/sessions/{pooled}")["state"] == "idle",
               POOLED_BOUND, "alice's pooled session to be idle", interval=0.05)
    took = time.monotonic() - t0
    view = call(livy, "alice", "GET", f"/sessions/{pooled}")
    assert (view["owner"], view["proxyUser"]) == ("alice", "alice"), view
    assert statement(livy, "alice", pooled, "print(sc.sparkUser())") == "alice"
    assert took < POOLED_BOUND, took
    # bob may not touch it.
    r = requests.post(f"{livy.url}/sessions/{pooled}/statements", json={"code": "1"},
                      auth=AUTH["bob"], timeout=30)
    assert r.status_code == 403, (r.status_code, r.text)
    metrics = call_text(livy, "alice", "/metrics")
    assert 'livy_session_pool_handed_out_total{profile="for-alice"} 1' in metrics, metrics
    call(livy, "alice", "DELETE", f"/sessions/{pooled}")


def call_text(livy, user, path):
    r = requests.get(livy.url + path, auth=AUTH[user], timeout=30)
    assert r.status_code == 200, r.text
    return r.text


@pytest.mark.parametrize("key,value,says", [
    (f"{PROFILE}.etl.sise", "1", "unknown pool key"),
    (f"{PROFILE}.etl.proxy-users", "alice", "livy.impersonation.enabled is false"),
    (f"{PROFILE}.etl.conf.spark.jars", "/etc/passwd", "cannot be added to user sessions"),
])
def test_bad_profile_keys_stop_the_server_with_a_message(livy_bin, spark_home, tmp_path, key, value, says):
    conf = base(tmp_path, **{f"{PROFILE}.etl.size": 1, key: value})
    server = LivyServer(conf, binary=livy_bin, name="livy-pool-badkey")
    try:
        with pytest.raises(LivyServerError) as failed:
            server.start()
        assert f"{PROFILE}.etl" in str(failed.value) and says in str(failed.value), str(failed.value)
    finally:
        server.cleanup()


def test_a_pooled_driver_left_by_a_crash_is_stopped_at_the_next_start(livy_bin, spark_home, tmp_path,
                                                                      light_spark_conf):
    conf = base(tmp_path, **{
        "livy.server.recovery.mode": "recovery",
        "livy.server.recovery.state-store": "filesystem",
        "livy.server.recovery.state-store.url": f"file://{tmp_path / 'store'}",
        # Without the cleanup, a driver keeps dialing a restarted server for this long.
        "livy.rsc.server.idle-timeout": "600s",
        "livy.rsc.server.connect.timeout": "600s",
        "livy.server.session.pool.size": 1,
    })
    server = LivyServer(conf, binary=livy_bin, env={"SPARK_CONF_DIR": str(light_spark_conf)},
                        root=tmp_path / "server", name="livy-pool-crash", start_timeout=60)
    server.start()
    try:
        (pooled,) = wait_pool_ready(server, 1, POOL_FILL_TIMEOUT)
        (run_dir,) = (server.log_dir / "sessions").glob(f"session-{pooled}-*")
        procs = find_processes(str(run_dir))
        assert procs, f"no process names {run_dir}"
        # kill -9 of the server alone: its detached drivers keep running, as after a real crash.
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait(timeout=10)
        server._forget()
        assert any(alive(p.pid) for p in procs), "the pooled driver died with the server"
        server.conf["livy.server.session.pool.size"] = 0
        server.start()
        wait_until(lambda: not any(alive(p.pid) for p in procs), 90,
                   "the pooled driver left by the crash to be stopped", interval=0.5)
        wait_until(lambda: not run_dir.exists(), 30, f"{run_dir} to be removed", interval=0.5)
        assert "stopping a pooled driver left by an earlier server" in server.log_text()
        assert requests.get(f"{server.url}/sessions", timeout=30).json()["total"] == 0
    finally:
        if server.running:
            server.stop()
        for p in find_processes(str(tmp_path)):
            try:
                os.kill(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def driver_tmp(path: Path) -> bool:
    return path.name.startswith(("livy-rs-driver-", "livy-rs-repl-"))


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_without_recovery_a_crash_leaves_no_pooled_driver_and_no_run_directory(livy_bin, spark_home, tmp_path,
                                                                               light_spark_conf):
    """Recovery off: the server's work directory is a temporary directory of its own; after a
    kill -9 the next start (same TMPDIR) stops the pooled driver the dead server left and
    removes that directory, and leaves alone the directory of a server still running."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    conf = base(tmp_path, **{
        # Without the cleanup, a driver keeps dialing its dead server for this long.
        "livy.rsc.server.idle-timeout": "600s",
        "livy.rsc.server.connect.timeout": "600s",
        "livy.server.session.pool.size": 1,
    })
    env = {"SPARK_CONF_DIR": str(light_spark_conf), "TMPDIR": str(tmp)}
    server = LivyServer(conf, binary=livy_bin, env=env, root=tmp_path / "server", name="livy-pool-crash-norec",
                        start_timeout=60)
    # A second server that keeps running: its work directory must survive the cleanup.
    other = LivyServer(base(tmp_path), binary=livy_bin, env=env, root=tmp_path / "other", name="livy-pool-other",
                       start_timeout=60)
    server.start()
    try:
        other.start()
        (pooled,) = wait_pool_ready(server, 1, POOL_FILL_TIMEOUT)
        (run_dir,) = tmp.glob(f"livy-rs-*/session-{pooled}-*")
        work_dir = run_dir.parent
        procs = find_processes(str(run_dir))
        assert procs, f"no process names {run_dir}"
        # The other server's work directory (the driver's own temporary directories are
        # livy-rs-driver-* and livy-rs-repl-*).
        (others,) = {d for d in tmp.glob("livy-rs-*") if not driver_tmp(d)} - {work_dir}
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait(timeout=10)
        server._forget()
        server.conf["livy.server.session.pool.size"] = 0
        server.start()
        wait_until(lambda: not any(alive(p.pid) for p in procs), 90,
                   "the pooled driver left by the crash to be stopped", interval=0.5)
        wait_until(lambda: not work_dir.exists(), 30, f"{work_dir} to be removed", interval=0.5)
        assert others.is_dir(), "the work directory of a running server was removed"
        assert requests.get(f"{server.url}/sessions", timeout=30).json()["total"] == 0
    finally:
        for s in (server, other):
            if s.running:
                s.stop()
        for p in find_processes(str(tmp_path)):
            try:
                os.kill(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_pooled_drivers_wait_for_max_creation_and_are_replaced_after_their_ttl(livy_bin, spark_home, tmp_path,
                                                                               light_spark_conf):
    """livy.server.session.max-creation = 1 with a pool of 2: the second pooled driver starts only
    once the first is up (pooled drivers count against it); a driver unused for the pool's ttl
    is stopped and a fresh one takes its place."""
    conf = base(tmp_path, **{
        "livy.server.session.max-creation": 1,
        "livy.server.session.pool.size": 2,
        "livy.server.session.pool.ttl": "40s",
    })
    server = LivyServer(conf, binary=livy_bin, env={"SPARK_CONF_DIR": str(light_spark_conf)},
                        root=tmp_path / "server", name="livy-pool-ttl", start_timeout=60)
    server.start()
    try:
        def ever(message):
            return [int(m) for m in re.findall(rf"{message} pooled_id=(\d+)\b", server.log_text())]

        a, b = wait_until(lambda: (lambda r: r[:2] if len(r) >= 2 else None)(ever("pooled driver ready")),
                          2 * POOL_FILL_TIMEOUT, "two pooled drivers to be up", interval=0.5)
        lines = server.log_text().splitlines()

        def at(message, pid):
            return next(i for i, line in enumerate(lines) if re.search(rf"{message} pooled_id={pid}\b", line))

        assert at("starting a pooled driver", b) > at("pooled driver ready", a), \
            "the second pooled driver started before the first was up (max-creation = 1)"
        # After the ttl: both stopped, and fresh drivers up in their place.
        wait_until(lambda: {a, b} <= set(ever("stopping a pooled driver"))
                   and set(ever("pooled driver ready")) - {a, b},
                   40 + 2 * POOL_FILL_TIMEOUT, "the pooled drivers to be replaced after their ttl", interval=0.5)
        assert requests.get(f"{server.url}/sessions", timeout=30).json()["total"] == 0
    finally:
        if server.running:
            server.stop()
