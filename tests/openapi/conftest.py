"""The REST API checked against its OpenAPI document (docs/openapi.json, served at
/openapi.json) by schemathesis, on a real livy-rs whose sessions run the fake driver of
tests/sessions (a driver without Spark, so hundreds of generated requests cost seconds).

    cargo build --release --bin livy-server
    .venv-clients/bin/python -m pytest -q tests/openapi

The server starts with session 0 idle and one statement run, and batch 0, so the documented
examples (`id` 0, `sid` 0) reach real objects, not only 404s.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(TESTS))

from pyharness.fixtures import livy_bin  # noqa: E402,F401
from pyharness.livy_server import LivyServer, serving  # noqa: E402
from pyharness.wait import wait_until  # noqa: E402


def fake_spark_home(root: Path) -> Path:
    """A SPARK_HOME whose spark-submit is tests/sessions/fake_driver.py."""
    driver = TESTS / "sessions" / "fake_driver.py"
    (root / "bin").mkdir(parents=True)
    submit = root / "bin" / "spark-submit"
    submit.write_text(
        f"#!/bin/sh\nexec {shlex.quote(sys.executable)} {shlex.quote(str(driver))} \"$@\"\n")
    submit.chmod(0o755)
    return root


@pytest.fixture(scope="module")
def livy(livy_bin, tmp_path_factory):
    spark = fake_spark_home(tmp_path_factory.mktemp("spark-home-fake-driver"))
    files = tmp_path_factory.mktemp("allowed-files")
    (files / "job.py").write_text("print('hi')\n")
    conf = {
        "livy.server.spark-home": str(spark),
        "livy.spark.master": "local[1]",
        "livy.file.local-dir-whitelist": str(files),
        # Generated create requests start fake drivers; at most a few at a time.
        "livy.server.session.max-creation": 4,
        "livy.server.process.kill-timeout": "5s",
    }
    server = LivyServer(conf, name="livy-openapi")
    server.allowed = files
    yield from serving(server)


@pytest.fixture(scope="module")
def seeded(livy):
    """The server with session 0 idle after one statement, and batch 0."""
    status, view, _ = livy.call("POST", "/sessions", {"kind": "pyspark", "name": "seed"})
    assert status == 201, view
    sid = view["id"]

    def idle():
        s, body, _ = livy.call("GET", f"/sessions/{sid}/state")
        return s == 200 and body["state"] == "idle"

    wait_until(idle, 30, "the seed session to become idle")
    status, st, _ = livy.call("POST", f"/sessions/{sid}/statements", {"code": "1 + 1"})
    assert status == 201, st
    status, st, _ = livy.call("GET", f"/sessions/{sid}/statements/{st['id']}?wait=20")
    assert status == 200 and st["state"] == "available", st
    status, batch, _ = livy.call("POST", "/batches", {"file": str(livy.allowed / "job.py")})
    assert status == 201, batch
    return livy
