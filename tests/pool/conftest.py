"""Fixtures of the warm-pool suite: one livy-rs server with `livy.server.session.pool.size = 2`
(pyspark) for the whole module, real Spark (local[1]), and helpers that read the pool's state
from the server's log (pooled drivers are not listed in GET /sessions until taken).

    cargo build --release --bin livy-server
    eval "$(scripts/setup-env --clients --print-env)"
    .venv-clients/bin/python -m pytest -q tests/pool
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pyharness.fixtures import light_spark_conf, livy_bin, spark_home  # noqa: E402,F401  (fixtures)
from pyharness.livy_server import LivyServer, serving  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pool_helpers import POOL_SIZE  # noqa: E402



@pytest.fixture(scope="module")
def work_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("pool-work")


@pytest.fixture(scope="module")
def livy(livy_bin, spark_home, tmp_path_factory, work_dir, light_spark_conf):
    conf_dir = light_spark_conf
    conf = {
        "livy.spark.master": "local[1]",
        "livy.file.local-dir-whitelist": str(work_dir),
        "livy.rsc.launcher.address": "127.0.0.1",
        "livy.rsc.launcher.port.range": "0~0",
        "livy.server.session.pool.size": POOL_SIZE,
        "livy.server.session.pool.kind": "pyspark",
    }
    yield from serving(
        LivyServer(conf, binary=livy_bin, env={"SPARK_CONF_DIR": str(conf_dir)}, name="livy-pool")
    )
