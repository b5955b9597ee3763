"""End-to-end tests of livy-rs's YARN cluster mode against tests/yarn/rm_emulator.py.

    cargo build --release --bin livy-server
    .venv/bin/python -m pytest -q tests/yarn_e2e

test_fake_submit.py uses a fake `spark-submit` (no Spark at all); test_spark.py and test_ha.py run
real PySpark drivers through the shim tests/yarn/spark_home/bin/spark-submit.
"""
from __future__ import annotations

import json
import os
import sys
import time
import urllib.request
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "tests" / "yarn"))

from pyharness.fixtures import real_spark  # noqa: E402,F401  (fixture)
from pyharness.livy_server import LivyServer  # noqa: E402
from pyharness.setup import real_spark_env  # noqa: E402,F401  (re-exported)
from pyharness.wait import wait_until  # noqa: E402
from rm_emulator import Emulator  # noqa: E402

SHIM_HOME = REPO / "tests" / "yarn" / "spark_home"
POLL = "200ms"

__all__ = ["LivyServer", "wait_until", "Emulator", "SHIM_HOME", "REPO", "POLL", "real_spark_env",
           "yarn_conf", "yarn_env", "http", "batch_state"]


def yarn_conf(whitelist, **extra):
    conf = {
        "livy.spark.master": "yarn",
        "livy.spark.deploy-mode": "cluster",
        "livy.server.yarn.poll-interval": POLL,
        "livy.rsc.launcher.address": "127.0.0.1",
        "livy.rsc.launcher.port.range": "0~0",
        "livy.file.local-dir-whitelist": str(whitelist),
    }
    conf.update(extra)
    return conf


def yarn_env(emu, spark_home, real=None, rm_list=None):
    env = {
        "HADOOP_CONF_DIR": emu.conf_dir,
        "SPARK_HOME": str(spark_home),
        "LIVY_RS_TEST_RM": rm_list or emu.rm_addr(),
        "SPARK_CONF_DIR": None,
        "YARN_CONF_DIR": None,
    }
    if real:
        env["LIVY_RS_REAL_SPARK_HOME"] = real["SPARK_HOME"]
        env["PYSPARK_PYTHON"] = real.get("PYSPARK_PYTHON", sys.executable)
    return env


def http(method, url, body=None, timeout=10):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json", "Accept": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw = r.read()
            return r.status, (json.loads(raw) if raw else None)
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw)
        except ValueError:
            return e.code, raw.decode("utf-8", "replace")


def batch_state(livy, bid):
    st, body, _ = livy.call("GET", f"/batches/{bid}")
    assert st == 200, (st, body)
    return body


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def stop_emulator(emu, timeout=20.0):
    """Stops the emulator after the shim's per-app monitor processes (registered pids) have made
    their last report and exited; the emulator only kills those of apps that are not final."""
    deadline = time.monotonic() + timeout
    pids = [a.pid for a in list(emu.apps.values()) if getattr(a, "pid", None)]
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.2)
    emu.stop()
