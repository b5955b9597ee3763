"""End-to-end tests of the `livy` command-line client: the real binary (target/release/livy, or
$LIVY_CLI_BIN) against a real livy-server with real Spark in local mode.

    cargo build --release
    .venv-clients/bin/python -m pytest -q tests/cli
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pyharness.fixtures import light_spark_conf, livy_bin, spark_home  # noqa: E402,F401  (fixtures)
from pyharness.livy_server import LivyServer, repo_root, serving  # noqa: E402



@pytest.fixture(scope="module")
def work_dir(tmp_path_factory) -> Path:
    """Whitelisted by the server: batch scripts go here."""
    return tmp_path_factory.mktemp("livy-work")


@pytest.fixture(scope="module")
def livy(livy_bin, spark_home, tmp_path_factory, work_dir, light_spark_conf):
    conf_dir = light_spark_conf
    server = LivyServer(
        {"livy.spark.master": "local[1]", "livy.file.local-dir-whitelist": str(work_dir)},
        blacklist=["spark.master"],
        binary=livy_bin,
        env={"SPARK_CONF_DIR": str(conf_dir)},
        name="livy-cli",
    )
    yield from serving(server)


@pytest.fixture(scope="session")
def cli_bin() -> Path:
    path = Path(os.environ.get("LIVY_CLI_BIN", repo_root() / "target/release/livy"))
    if not os.access(path, os.X_OK):
        pytest.fail(f"{path} not built: cargo build --release")
    return path


@pytest.fixture
def cli(cli_bin, livy):
    """Runs `livy ARGS...` against the module's server; returns the CompletedProcess."""

    def run(*args, timeout=240, env=None):
        full_env = dict(os.environ, LIVY_URL=livy.url)
        full_env.update(env or {})
        return subprocess.run(
            [str(cli_bin), *args], capture_output=True, text=True, timeout=timeout, env=full_env
        )

    return run
