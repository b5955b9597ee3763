"""Fixtures for the real-client suites: the livy-rs binary, Spark, a module-scoped server with a
whitelisted work directory, a factory for servers with other settings, and `wait_until`.

Environment (scripts/test exports these): LIVY_RS_BIN (default target/release/livy-server),
SPARK_HOME and PYSPARK_PYTHON (default: the pyspark of the project's .venv, as scripts/setup-env
prints them).
"""

from __future__ import annotations

import sys
import uuid
from pathlib import Path
from typing import Callable, Dict, List

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pyharness.fixtures import livy_bin, spark_home  # noqa: E402,F401  (fixtures)
from pyharness.livy_server import LivyServer, repo_root  # noqa: E402
from pyharness.wait import wait_until  # noqa: E402,F401  (re-exported for the test modules)

ROOT = repo_root()


# --------------------------------------------------------------------------- environment


#: spark-defaults.conf for every server the suites start: a client-mode driver JVM with C1 only and
#: the serial GC needs about half the CPU of the default for these short runs (2-core machines).
SPARK_DEFAULTS = """\
spark.driver.extraJavaOptions -XX:TieredStopAtLevel=1 -XX:+UseSerialGC
spark.ui.enabled false
spark.ui.showConsoleProgress false
"""


@pytest.fixture(scope="module")
def spark_defaults() -> str:
    """spark-defaults.conf text for the module's servers; a module overrides this fixture to change
    it (e.g. to turn the Spark UI back on)."""
    return SPARK_DEFAULTS


@pytest.fixture(scope="module")
def spark_conf_dir(tmp_path_factory, spark_home, spark_defaults) -> Path:
    """SPARK_CONF_DIR for the servers (and so their spark-submits)."""
    d = tmp_path_factory.mktemp("spark-conf")
    (d / "spark-defaults.conf").write_text(spark_defaults, encoding="utf-8")
    return d


# --------------------------------------------------------------------------- servers


@pytest.fixture(scope="module")
def work_dir(tmp_path_factory) -> Path:
    """A directory the module's server whitelists (`livy.file.local-dir-whitelist`): scripts and
    jars for batches go here."""
    return tmp_path_factory.mktemp("livy-work")


@pytest.fixture(scope="module")
def livy_conf(work_dir) -> Dict[str, object]:
    """livy.conf of the module's `livy` server. A module overrides this fixture to change it."""
    return {
        "livy.spark.master": "local[1]",
        "livy.file.local-dir-whitelist": str(work_dir),
    }


@pytest.fixture(scope="module")
def livy_blacklist() -> List[str]:
    """spark-blacklist.conf lines of the module's `livy` server (Livy's shipped defaults)."""
    return ["spark.master", "spark.submit.deployMode", "spark.yarn.jar", "spark.yarn.jars"]


@pytest.fixture(scope="module")
def livy(livy_bin, spark_conf_dir, livy_conf, livy_blacklist):
    """One server per test module."""
    server = LivyServer(
        livy_conf,
        blacklist=livy_blacklist,
        binary=livy_bin,
        env={"SPARK_CONF_DIR": str(spark_conf_dir)},
        name="livy-module",
    )
    server.start()
    yield server
    try:
        server.stop()
    finally:
        server.cleanup()


@pytest.fixture
def livy_factory(livy_bin, spark_conf_dir, work_dir) -> Callable[..., LivyServer]:
    """Starts extra servers for one test (other livy.conf settings); all stopped afterwards.
    `livy_factory({"livy.server.session.max-creation": 1})` whitelists `work_dir` by default."""
    servers: List[LivyServer] = []

    def make(conf=None, blacklist=None, **kw) -> LivyServer:
        full = {"livy.spark.master": "local[1]", "livy.file.local-dir-whitelist": str(work_dir)}
        full.update(conf or {})
        kw.setdefault("env", {"SPARK_CONF_DIR": str(spark_conf_dir)})
        server = LivyServer(full, blacklist=blacklist, binary=livy_bin, name=f"livy-{len(servers)}", **kw)
        servers.append(server)
        return server.start()

    yield make
    errors = []
    for server in servers:
        try:
            server.stop()
        except Exception as e:  # noqa: BLE001 - stop them all, then report
            errors.append(e)
        finally:
            server.cleanup()
    if errors:
        raise errors[0]


@pytest.fixture
def unique() -> str:
    """A short unique token for names and marker strings."""
    return uuid.uuid4().hex[:10]
