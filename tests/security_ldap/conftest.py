"""Fixtures for the LDAP authentication suite: one real slapd (with a test CA for StartTLS and
ldaps) for the whole module, and a factory for livy-rs servers with `livy.server.auth.type=ldap`.

Environment: LIVY_RS_BIN (default target/release/livy-server), SPARK_HOME (default: the pyspark
of the project's .venv). slapd, ldap-utils and openssl come from scripts/setup-env --security.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable, Dict, List

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pyharness.fixtures import livy_bin, spark_home  # noqa: E402,F401  (fixtures)
from pyharness.livy_server import LivyServer, repo_root  # noqa: E402
from pyharness.slapd import Slapd  # noqa: E402

ROOT = repo_root()

#: The directory's users and their passwords. `carol@corp.test` is stored with that uid, as an
#: Active-Directory-like login for the username-domain tests.
USERS = {"alice": "alice-pw", "bob": "b0b:with:colons", "carol@corp.test": "carol-pw"}


@pytest.fixture(scope="module")
def slapd():
    with Slapd(users=USERS, tls=True, allow_unauthenticated_bind=True) as server:
        yield server


@pytest.fixture(scope="module")
def work_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("ldap-work")
    (d / "noop.py").write_text("print('ok')\n")
    return d


@pytest.fixture
def livy_factory(livy_bin, spark_home, work_dir, tmp_path) -> Callable[..., LivyServer]:
    """`livy_factory(conf)` starts a server with the given livy.conf on top of a local master and
    the whitelisted work dir; all are stopped (and must exit cleanly) after the test."""
    servers: List[LivyServer] = []
    spark_conf = tmp_path / "spark-conf"
    spark_conf.mkdir()
    (spark_conf / "spark-defaults.conf").write_text(
        "spark.driver.extraJavaOptions -XX:TieredStopAtLevel=1 -XX:+UseSerialGC\nspark.ui.enabled false\n"
    )

    def make(conf: Dict[str, object], start: bool = True, env: Dict[str, str] = None) -> LivyServer:
        full = {"livy.spark.master": "local[1]", "livy.file.local-dir-whitelist": str(work_dir)}
        full.update(conf)
        server = LivyServer(full, binary=livy_bin, env={"SPARK_CONF_DIR": str(spark_conf), **(env or {})},
                            name=f"livy-ldap-{len(servers)}")
        servers.append(server)
        return server.start() if start else server

    yield make
    codes = []
    for server in servers:
        try:
            if server.running:
                codes.append(server.stop())
        finally:
            server.cleanup()
    assert all(c == 0 for c in codes), f"a server did not exit cleanly: {codes}"
