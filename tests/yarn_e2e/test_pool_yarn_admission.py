"""Pooled drivers pass YARN admission like any session (issue 15): with
`livy.server.yarn.admission-check` on, a profile whose drivers cannot fit in its queue starts
none — spark-submit is never run, no application reaches the RM — and says so in `/metrics` and
the log, while a session that fits is still served."""
from __future__ import annotations

import json
import re

import pytest

from conftest import Emulator, LivyServer, stop_emulator, wait_until, yarn_conf, yarn_env
from test_fake_submit import fake_spark_home

PROFILE = "livy.server.session.pool.profile.etl"


@pytest.fixture()
def env(tmp_path):
    home = fake_spark_home(tmp_path)
    emu = Emulator(state_dir=tmp_path / "emu").start()
    e = yarn_env(emu, home)
    submits = tmp_path / "submits.log"
    e["FAKE_SUBMIT_LOG"] = str(submits)
    # The emulator's `small` queue holds at most 3276 MB: less than a default pyspark
    # application (driver, two executors and their overheads).
    livy = LivyServer(yarn_conf(tmp_path, **{
        "livy.server.yarn.admission-check": "true",
        f"{PROFILE}.size": 1,
        f"{PROFILE}.kind": "pyspark",
        f"{PROFILE}.queue": "small",
    }), env=e).start()
    try:
        yield livy, emu, submits
    finally:
        livy.stop()
        livy.cleanup()
        stop_emulator(emu)


def failures(livy) -> int:
    status, text, _ = livy.call("GET", "/metrics", headers={"Accept": "text/plain"})
    assert status == 200, text
    m = re.search(r'^livy_session_pool_failures_total\{profile="etl"\} (\d+)', text, re.M)
    return int(m.group(1)) if m else 0


def submitted(submits) -> list:
    return [json.loads(line) for line in submits.read_text().splitlines()] if submits.exists() else []


def test_a_profile_too_big_for_its_queue_starts_no_pooled_driver(env):
    livy, emu, submits = env
    try:
        wait_until(lambda: failures(livy) >= 1 or None, 60, "a refused pooled driver in /metrics",
                   interval=0.5)
    except Exception as e:
        raise AssertionError(f"{e}; server log:\n{livy.log_text()[-4000:]}") from None
    log = livy.log_text()
    assert re.search(r"cannot start a pooled driver profile=\"etl\".*queue 'small' can hold at most", log), log
    assert submitted(submits) == [], "spark-submit ran for a pooled driver its queue cannot hold"
    with emu.lock:
        assert emu.apps == {}, "an application reached the RM"
    # The same request from a user is refused the same way; one that fits starts (cold).
    st, body, _ = livy.call("POST", "/sessions", {"kind": "pyspark", "queue": "small"})
    assert st == 400 and "queue 'small' can hold at most" in body["msg"], (st, body)
    st, body, _ = livy.call("POST", "/sessions", {"kind": "pyspark"})
    assert st == 201, (st, body)
    wait_until(lambda: submitted(submits) or None, 60, "the cold session's spark-submit", interval=0.5)
    runs = submitted(submits)
    assert len(runs) == 1 and "small" not in runs[0], runs
