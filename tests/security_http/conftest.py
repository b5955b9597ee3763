"""Fixtures for the REST port's security suite: the livy-rs binary, Spark (for the batches the
tests create), a test PKI made with the `openssl` command line, and a factory for servers.

Environment: LIVY_RS_BIN (default target/release/livy-server), SPARK_HOME and PYSPARK_PYTHON
(default: the pyspark of the project's .venv, as scripts/setup-env prints them).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pyharness.fixtures import livy_bin, spark_home  # noqa: E402,F401  (fixtures)
from pyharness.livy_server import LivyServer, repo_root  # noqa: E402
from pyharness.pki import make_ca, server_cert  # noqa: E402

ROOT = repo_root()

#: A PySpark batch that prints a marker; small enough for a 2-core machine.
PYSPARK_COUNT = """\
from pyspark.sql import SparkSession
spark = SparkSession.builder.getOrCreate()
print("LIVY_RS_COUNT=%d" % spark.range(321).count())
spark.stop()
"""

SPARK_DEFAULTS = """\
spark.driver.extraJavaOptions -XX:TieredStopAtLevel=1 -XX:+UseSerialGC
spark.ui.enabled false
spark.ui.showConsoleProgress false
"""


@pytest.fixture(scope="session")
def work_dir(tmp_path_factory) -> Path:
    """Whitelisted for batches; holds the PySpark script."""
    d = tmp_path_factory.mktemp("livy-work")
    (d / "count.py").write_text(PYSPARK_COUNT, encoding="utf-8")
    return d


@pytest.fixture(scope="session")
def spark_conf_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("spark-conf")
    (d / "spark-defaults.conf").write_text(SPARK_DEFAULTS, encoding="utf-8")
    return d


@dataclass
class Pki:
    """A test CA, a server certificate for localhost/127.0.0.1 signed by it, and an unrelated CA."""

    dir: Path
    ca: Path
    cert: Path
    key: Path
    other_ca: Path


@pytest.fixture(scope="session")
def pki(tmp_path_factory) -> Pki:
    d = tmp_path_factory.mktemp("pki")
    ca = make_ca(d, "test-ca")
    other = make_ca(d, "other-ca")
    server_cert(d, "test-ca")
    return Pki(dir=d, ca=ca, cert=d / "server.pem", key=d / "server.key", other_ca=other)


@pytest.fixture
def livy_factory(livy_bin, spark_home, spark_conf_dir, work_dir) -> Callable[..., LivyServer]:
    """Starts servers with the given livy.conf entries (local Spark, `work_dir` whitelisted); all
    are stopped after the test. `start=False` returns an unstarted server (for start failures)."""
    servers: List[LivyServer] = []

    def make(conf=None, start: bool = True, **kw) -> LivyServer:
        full = {"livy.spark.master": "local[1]", "livy.file.local-dir-whitelist": str(work_dir)}
        full.update(conf or {})
        kw.setdefault("env", {"SPARK_CONF_DIR": str(spark_conf_dir)})
        server = LivyServer(full, binary=livy_bin, name=f"livy-{len(servers)}", **kw)
        servers.append(server)
        return server.start() if start else server

    yield make
    for server in servers:
        try:
            if server.proc is not None:
                server.stop()
        finally:
            server.cleanup()
