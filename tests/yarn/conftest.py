"""Fixtures for the YARN RM / WebHDFS emulator tests (tests/yarn)."""
import os
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

from pyharness.fixtures import real_spark  # noqa: E402,F401  (fixture)
from rm_emulator import Emulator  # noqa: E402

SHIM_HOME = os.path.join(HERE, "spark_home")
SHIM = os.path.join(SHIM_HOME, "bin", "spark-submit")


def wait_for(pred, timeout=30.0, interval=0.05, what="condition"):
    """Poll `pred` until it returns a truthy value or the deadline passes."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = pred()
        except Exception as e:  # noqa: BLE001 - keep polling through transient errors
            last = e
        else:
            if last:
                return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last value: {last!r}")
        time.sleep(interval)


@pytest.fixture
def emu(tmp_path):
    e = Emulator(state_dir=tmp_path / "state").start()
    yield e
    e.stop()


@pytest.fixture
def ha_emu(tmp_path):
    e = Emulator(state_dir=tmp_path / "state", ha=["rm1", "rm2"]).start()
    yield e
    e.stop()


@pytest.fixture
def secure_emu(tmp_path):
    e = Emulator(state_dir=tmp_path / "state", require_spnego=True).start()
    yield e
    e.stop()


@pytest.fixture
def shim_env(real_spark, emu):
    env = dict(os.environ)
    env.update(real_spark)
    env["LIVY_RS_REAL_SPARK_HOME"] = real_spark["SPARK_HOME"]
    env["SPARK_HOME"] = SHIM_HOME
    env["LIVY_RS_TEST_RM"] = emu.rm_addr()
    env.pop("SPARK_CONF_DIR", None)
    return env
