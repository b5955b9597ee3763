"""Fixtures for the security suite: one real MIT KDC for the whole run (tests/pyharness/kdc.py),
users with tickets, a fake SPARK_HOME whose spark-submit prints its argv (so a test reads the
exact command line through the batch log without starting Spark), and Kerberos-protected servers.

Principals (realm LIVY.TEST): HTTP/localhost and HTTP/otherhost (both in the server's keytab;
the server is configured for HTTP/_HOST with livy.server.host=localhost), users alice, bob,
carol, admin (a superuser), auditor (a view-user), mallory (not an allowed user), alice/admin
and CAROL (mapped by auth_to_local rules), and dave@OTHER.REALM-like names no rule maps.

Every Negotiate token, cookie and signature a test sends or receives is recorded in `SECRETS`;
test_zz_log_scan.py then asserts none of them (nor the keytab's bytes) appear in any server log
or API response.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Callable, Dict, List, Optional

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pyharness.kdc import Kdc  # noqa: E402
from pyharness.livy_server import LivyServer, default_binary  # noqa: E402

REALM = "LIVY.TEST"
PASSWORDS = {
    "alice": "alice-pw",
    "bob": "bob-pw",
    "carol": "carol-pw",
    "admin": "admin-pw",
    "auditor": "auditor-pw",
    "mallory": "mallory-pw",
    "alice/admin": "alice-admin-pw",
    "CAROL": "CAROL-pw",
    "eve/ops": "eve-ops-pw",
}

#: Hadoop auth_to_local rules, multi-line as in core-site.xml: alice/admin is the superuser
#: "admin"; one-component names are lower-cased; eve/ops matches no rule (only DEFAULT would,
#: and DEFAULT is left out so that unmapped principals can be tested).
NAME_RULES = textwrap.dedent(
    r"""
    RULE:[2:$1/$2@$0](alice/admin@LIVY\.TEST)s/.*/admin/
    RULE:[1:$1@$0](.*@LIVY\.TEST)s/@.*///L
    """
).strip()

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
    with Kdc(realm=REALM) as k:
        for name, pw in PASSWORDS.items():
            k.add_principal(name, password=pw)
        k.add_principal("HTTP/localhost")
        k.add_principal("HTTP/otherhost")
        k.keytab("HTTP/localhost", "HTTP/otherhost", path=k.dir / "livy-http.keytab")
        # Clients in this process (requests-gssapi, pylivy) use this realm's krb5.conf.
        k.activate()
        yield k


@pytest.fixture(scope="session")
def keytab(kdc) -> Path:
    path = kdc.dir / "livy-http.keytab"
    data = path.read_bytes()
    # The keytab's bytes, as text a log line could carry them in.
    remember_secret(base64.b64encode(data).decode())
    remember_secret(data.hex())
    return path


@pytest.fixture(scope="session")
def ccaches(kdc) -> Dict[str, Path]:
    """A credential cache with a TGT for each user."""
    return {name: kdc.kinit(name, pw) for name, pw in PASSWORDS.items()}


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
    conf: Dict[str, object] = {
        "livy.server.host": "localhost",
        "livy.server.auth.type": "kerberos",
        "livy.server.auth.kerberos.principal": f"HTTP/_HOST@{REALM}",
        "livy.server.auth.kerberos.keytab": str(keytab),
        "livy.server.auth.kerberos.name-rules": NAME_RULES,
        "livy.server.spark-home": str(spark_home),
        "livy.spark.master": "local[1]",
        "livy.file.local-dir-whitelist": str(job_dir),
        "livy.impersonation.enabled": "true",
        "livy.superusers": "admin",
        "livy.server.access-control.enabled": "true",
        "livy.server.access-control.allowed-users": "alice,bob,carol,admin,auditor",
        "livy.server.access-control.view-users": "auditor",
    }
    conf.update(extra)
    return conf


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
