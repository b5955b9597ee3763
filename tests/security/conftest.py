"""Fixtures for the security suite: one real MIT KDC for the whole run (tests/pyharness/kerberos.py),
users with tickets, a fake SPARK_HOME whose spark-submit prints its argv (so a test reads the
exact command line through the batch log without starting Spark), and Kerberos-protected servers.

Principals and the servers' Kerberos keys: tests/pyharness/kerberos.py (shared with tests/ha).

Every Negotiate token, cookie and signature a test sends or receives is recorded in `SECRETS`;
test_zz_log_scan.py then asserts none of them (nor the keytab's bytes) appear in any server log
or API response.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path
from typing import Callable, Dict, List, Optional

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pyharness.kdc import Kdc  # noqa: E402
from pyharness import kerberos  # noqa: E402
from pyharness.kerberos import NAME_RULES, PASSWORDS, REALM  # noqa: E402,F401
from pyharness.livy_server import LivyServer, default_binary  # noqa: E402

#: Values that must never show up in a log line or an API response.
SECRETS: List[str] = []
#: Every server log file the suite produced (scanned at the end).
SERVER_LOG_DIRS: List[Path] = []
#: Every response body the suite saw.
RESPONSES: List[str] = []

FAKE_SUBMIT = """#!/bin/sh
# Records the command line livy-rs runs: one line per argument, then exits like a finished job.
for a in "$@"; do echo "FAKE-SUBMIT-ARG: $a"; done
exit 0
"""


def remember_secret(value: Optional[str]) -> None:
    if value and len(value) >= 16:
        SECRETS.append(value)


@pytest.fixture(scope="session")
def kdc():
    with kerberos.realm() as k:
        yield k


@pytest.fixture(scope="session")
def keytab(kdc) -> Path:
    path = kerberos.keytab_of(kdc)
    data = path.read_bytes()
    # The keytab's bytes, as text a log line could carry them in.
    remember_secret(base64.b64encode(data).decode())
    remember_secret(data.hex())
    return path


@pytest.fixture(scope="session")
def ccaches(kdc) -> Dict[str, Path]:
    """A credential cache with a TGT for each user."""
    return kerberos.ccaches_of(kdc)


@pytest.fixture(scope="session")
def fake_spark_home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("fake-spark")
    (home / "bin").mkdir()
    submit = home / "bin" / "spark-submit"
    submit.write_text(FAKE_SUBMIT)
    submit.chmod(0o755)
    return home


@pytest.fixture(scope="session")
def job_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("jobs")
    (d / "job.py").write_text("print('hello')\n")
    return d


def kerberos_conf(keytab: Path, job_dir: Path, spark_home: Path, **extra) -> Dict[str, object]:
    return kerberos.kerberos_conf(keytab, **{
        "livy.server.spark-home": str(spark_home),
        "livy.spark.master": "local[1]",
        "livy.file.local-dir-whitelist": str(job_dir),
        **extra,
    })


@pytest.fixture(scope="session")
def server_factory(kdc, keytab, job_dir, fake_spark_home) -> Callable[..., LivyServer]:
    """Starts Kerberos-protected servers (stopped at the end of the session). The server's
    environment has the realm's krb5.conf but no keytab variable: the keytab comes from
    livy.conf alone."""
    servers: List[LivyServer] = []

    def make(**extra) -> LivyServer:
        env = kdc.env(base={})
        env["LIVY_LOG"] = "info,livy_rs=debug"
        env["KRB5_KTNAME"] = None  # type: ignore[assignment]  (unset: must not be needed)
        server = LivyServer(
            kerberos_conf(keytab, job_dir, fake_spark_home, **extra),
            binary=default_binary(),
            env=env,
            name=f"livy-sec-{len(servers)}",
        )
        servers.append(server)
        server.start()
        SERVER_LOG_DIRS.append(server.log_dir)
        return server

    yield make
    for server in servers:
        try:
            server.stop()
        finally:
            # After the whole session: test_zz_log_scan.py has read the logs by then.
            server.cleanup()


@pytest.fixture(scope="session")
def livy(server_factory) -> LivyServer:
    """The suite's main server."""
    return server_factory()


def url_of(server: LivyServer) -> str:
    """The server's URL by the host name its service principal names (HTTP/localhost)."""
    return f"http://localhost:{server.port}"


def run_curl(args: List[str], kdc: Kdc, ccache: Optional[Path]) -> subprocess.CompletedProcess:
    """curl with this realm's krb5.conf and the given ticket cache (None: no ticket)."""
    env = kdc.env(ccache=ccache)
    return subprocess.run(["curl", "-sS", *args], env=env, capture_output=True, text=True, timeout=60)
