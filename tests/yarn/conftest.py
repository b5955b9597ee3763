"""Fixtures for the YARN RM / WebHDFS emulator tests (tests/yarn)."""
import os
import subprocess
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)

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


def _real_spark_env():
    """SPARK_HOME/PYSPARK_PYTHON of the real Spark, as scripts/setup-env prints them."""
    env = {}
    home = os.environ.get("SPARK_HOME")
    if home and os.path.exists(os.path.join(home, "bin", "spark-submit")) and not os.path.abspath(home).startswith(SHIM_HOME):
        env["SPARK_HOME"] = home
        if os.environ.get("PYSPARK_PYTHON"):
            env["PYSPARK_PYTHON"] = os.environ["PYSPARK_PYTHON"]
    if "PYSPARK_PYTHON" not in env:
        try:
            out = subprocess.run([os.path.join(REPO, "scripts", "setup-env"), "--print-env"], capture_output=True,
                                 text=True, timeout=1200, check=True).stdout
        except (OSError, subprocess.SubprocessError):
            return None
        for line in out.splitlines():
            if line.startswith("export ") and "=" in line:
                k, v = line[len("export "):].split("=", 1)
                env[k] = v.strip("'\"")
    if not env.get("SPARK_HOME") or not os.path.exists(os.path.join(env["SPARK_HOME"], "bin", "spark-submit")):
        return None
    return env


@pytest.fixture(scope="session")
def real_spark():
    env = _real_spark_env()
    if env is None:
        pytest.skip("no real Spark (scripts/setup-env --print-env failed)")
    return env


@pytest.fixture
def shim_env(real_spark, emu):
    env = dict(os.environ)
    env.update(real_spark)
    env["LIVY_RS_REAL_SPARK_HOME"] = real_spark["SPARK_HOME"]
    env["SPARK_HOME"] = SHIM_HOME
    env["LIVY_RS_TEST_RM"] = emu.rm_addr()
    env.pop("SPARK_CONF_DIR", None)
    return env
