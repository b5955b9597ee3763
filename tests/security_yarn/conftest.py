"""The server's Kerberos identity towards Hadoop, end to end: a real MIT KDC (tests/pyharness/kdc.py),
the RM/WebHDFS emulator demanding SPNEGO and validating tokens with python-gssapi against an
HTTP/localhost keytab, and the real livy-server logging in from its launch keytab.

    cargo build --release --bin livy-server
    .venv-clients/bin/python -m pytest -q tests/security_yarn

Needs `scripts/setup-env --security` (KDC tools) and python-gssapi (in .venv-clients).
"""
from __future__ import annotations

import base64
import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "tests" / "yarn"))

from pyharness.fixtures import real_spark  # noqa: E402,F401  (fixture)
from pyharness.kdc import Kdc  # noqa: E402
from pyharness.livy_server import LivyServer  # noqa: E402
from pyharness.wait import wait_until  # noqa: E402
from rm_emulator import Emulator, make_gssapi_validator  # noqa: E402

REALM = "LIVY.TEST"
SHIM_HOME = REPO / "tests" / "yarn" / "spark_home"
#: Kerberos' tolerance for expired tickets in this realm (default 300 s would hide expiry).
CLOCKSKEW = 2

__all__ = ["Kdc", "LivyServer", "wait_until", "Emulator", "REALM", "SHIM_HOME", "REPO", "CLOCKSKEW",
           "secure_conf", "secure_env", "fake_spark_home", "assert_no_secrets"]


@pytest.fixture(scope="module")
def kdc():
    try:
        k = Kdc(realm=REALM, clockskew=CLOCKSKEW).start()
    except RuntimeError as e:
        pytest.fail(f"cannot start the test KDC (run scripts/setup-env --security): {e}")
    saved = dict(os.environ)
    # The in-process emulator's acceptor (python-gssapi) uses this realm.
    k.activate()
    k.http_keytab = k.add_service("HTTP/localhost")
    k.add_principal("rm/localhost")
    yield k
    os.environ.clear()
    os.environ.update(saved)
    k.stop()


@pytest.fixture
def emu(kdc, tmp_path):
    e = Emulator(
        state_dir=tmp_path / "emu", host="localhost", require_spnego=True,
        spnego_validator=make_gssapi_validator(kdc.http_keytab, f"HTTP/localhost@{REALM}"),
        rm_principal=f"rm/_HOST@{REALM}",
    ).start()
    yield e
    e.stop()


def secure_conf(jobs, principal, keytab, **extra):
    conf = {
        "livy.spark.master": "yarn",
        "livy.spark.deploy-mode": "cluster",
        "livy.server.yarn.poll-interval": "200ms",
        "livy.file.local-dir-whitelist": str(jobs),
        "livy.server.launch.kerberos.principal": principal,
        "livy.server.launch.kerberos.keytab": str(keytab),
    }
    conf.update(extra)
    return conf


def secure_env(kdc, emu, spark_home, **extra):
    """The server's environment: the realm, but a default ccache that does not exist, so every
    ticket it uses must come from its own keytab login."""
    env = {k: v for k, v in kdc.env().items() if k.startswith("KRB5")}
    env.update({
        "HADOOP_CONF_DIR": emu.conf_dir,
        "YARN_CONF_DIR": None,
        "SPARK_CONF_DIR": None,
        "SPARK_HOME": str(spark_home),
        "LIVY_RS_TEST_RM": emu.rm_addr(),
        # The shim's `python3` must have python-gssapi: this venv's.
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
    })
    env.update(extra)
    return env


FAKE_SUBMIT = r'''#!PYTHON
"""Records its arguments and Kerberos environment, submits nothing (the app never appears)."""
import json, os, sys
with open(os.environ["FAKE_SUBMIT_LOG"], "a") as f:
    f.write(json.dumps({"args": sys.argv[1:], "KRB5CCNAME": os.environ.get("KRB5CCNAME")}) + "\n")
'''


def fake_spark_home(tmp: Path) -> Path:
    home = tmp / "fake_spark_home"
    (home / "bin").mkdir(parents=True)
    sub = home / "bin" / "spark-submit"
    sub.write_text(FAKE_SUBMIT.replace("PYTHON", sys.executable, 1))
    sub.chmod(0o755)
    return home


def assert_no_secrets(log, keytab_path, emu, more_tokens=()):
    """Keytab contents, delegation tokens (those the emulator issued and `more_tokens`), SPNEGO
    tokens and auth cookies never reach the log."""
    raw = keytab_path.read_bytes()
    for form in (base64.b64encode(raw).decode(), raw.hex()):
        assert form[:24] not in log
    # Key material: any 12-byte window of the keytab's tail, as text.
    tail = raw[-12:].decode("latin-1")
    assert tail not in log
    assert "Negotiate " not in log
    assert "hadoop.auth" not in log
    with emu.lock:
        issued = list(emu.tokens) + list(emu.hdfs_tokens)
    for token in issued + list(more_tokens):
        assert token not in log


