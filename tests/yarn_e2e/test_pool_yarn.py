"""The warm pool on YARN (the RM emulator, real PySpark drivers through the shim spark-submit in
cluster mode): with a pool of 2 pyspark drivers, the first two sessions created one after another
are idle within a second, each on its own YARN application tagged with its session id; the third
starts cold."""
from __future__ import annotations

import re
import time

import pytest

from conftest import SHIM_HOME, Emulator, LivyServer, stop_emulator, wait_until, yarn_conf, yarn_env

SPARK_TIMEOUT = 400  # two drivers start at once on 2 loaded cores
POOLED_BOUND = 1.0


@pytest.fixture(scope="module")
def env(tmp_path_factory, real_spark):
    tmp = tmp_path_factory.mktemp("pool-yarn")
    emu = Emulator(state_dir=tmp / "emu").start()
    conf = yarn_conf(tmp, **{"livy.server.session.pool.size": 2, "livy.server.session.pool.kind": "pyspark"})
    livy = LivyServer(conf, env=yarn_env(emu, SHIM_HOME, real_spark), name="livy-pool-yarn").start()
    try:
        yield livy, emu
    finally:
        livy.stop()
        livy.cleanup()
        stop_emulator(emu)


def ready_ids(livy):
    text = livy.log_text()
    ready = {int(m) for m in re.findall(r"pooled driver ready pooled_id=(\d+)", text)}
    gone = {int(m) for m in re.findall(r"stopping a pooled driver pooled_id=(\d+)", text)}
    return ready - gone


def test_a_pool_of_two_serves_the_first_two_sessions_at_once_then_cold(env):
    livy, emu = env
    pooled = wait_until(lambda: (lambda r: r if len(r) >= 2 else None)(ready_ids(livy)), SPARK_TIMEOUT,
                        "2 pooled drivers ready on YARN", interval=0.5)
    seen = []
    for name in ("yarn-pool-a", "yarn-pool-b", "yarn-cold-c"):
        t0 = time.monotonic()
        st, body, _ = livy.call("POST", "/sessions", {"kind": "pyspark", "name": name})
        assert st == 201, (st, body)
        sid = body["id"]

        def idle():
            s = livy.call("GET", f"/sessions/{sid}")[1]
            assert s["state"] not in ("dead", "error", "killed", "success"), s
            return s if s["state"] == "idle" else None

        if len(seen) < 2:
            s = wait_until(idle, 5, f"pooled session {sid} idle", interval=0.02)
            took = time.monotonic() - t0
            assert took < POOLED_BOUND, f"pooled session {sid} took {took:.2f}s"
            assert sid in pooled, (sid, pooled)
            app_id = s["appId"]
            assert app_id and app_id.startswith("application_"), s
            tags = emu.app_record(app_id)["app"]["applicationTags"]
            assert tags.split(",")[0].startswith(f"livy-session-{sid}-"), tags
            st, stmt, _ = livy.call("POST", f"/sessions/{sid}/statements", {"code": "print(sc.master)"})
            assert st == 201, stmt
        else:
            assert body["state"] == "starting", body
            assert sid not in pooled
        seen.append(sid)
    assert len({livy.call("GET", f"/sessions/{sid}")[1]["appId"] for sid in seen[:2]}) == 2
    for sid in seen:
        livy.call("DELETE", f"/sessions/{sid}")
