"""The session fixtures every suite that starts a server shares; a conftest imports them
(`from pyharness.fixtures import livy_bin, spark_home`) and pytest picks them up from there."""

from __future__ import annotations

from pathlib import Path

import pytest

from . import setup


@pytest.fixture(scope="session")
def livy_bin() -> Path:
    """The livy-server binary ($LIVY_RS_BIN or target/release/livy-server)."""
    try:
        return setup.livy_binary()
    except setup.SetupMissing as e:
        pytest.fail(str(e), pytrace=False)


@pytest.fixture(scope="session")
def spark_home() -> Path:
    """SPARK_HOME with bin/spark-submit; derived from the project's .venv when unset (and then
    exported, with PYSPARK_PYTHON, so the servers started by the tests inherit it)."""
    try:
        return setup.spark_home('eval "$(scripts/setup-env --clients --print-env)"')
    except setup.SetupMissing as e:
        pytest.fail(str(e), pytrace=False)


@pytest.fixture(scope="session")
def real_spark():
    """The real Spark's SPARK_HOME/PYSPARK_PYTHON, for suites that run it behind a shim."""
    env = setup.real_spark_env()
    if env is None:
        pytest.skip("no real Spark (scripts/setup-env --print-env failed)")
    return env


#: A client-mode driver JVM with C1 only and the serial GC, no Spark UI: about half the CPU of
#: the defaults, which matters on a 2-core machine running several suites at once.
LIGHT_SPARK_DEFAULTS = """\
spark.driver.extraJavaOptions -XX:TieredStopAtLevel=1 -XX:+UseSerialGC
spark.ui.enabled false
spark.ui.showConsoleProgress false
"""


@pytest.fixture(scope="session")
def light_spark_conf(tmp_path_factory) -> Path:
    """A SPARK_CONF_DIR holding LIGHT_SPARK_DEFAULTS (pass it in the server's environment)."""
    d = tmp_path_factory.mktemp("spark-conf")
    (d / "spark-defaults.conf").write_text(LIGHT_SPARK_DEFAULTS, encoding="utf-8")
    return d
