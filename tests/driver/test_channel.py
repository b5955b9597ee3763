"""Connection, pinning, authentication and early shutdown: all before any statement runs."""

import os

import pytest

from fake_server import Driver, wait_until


@pytest.fixture
def workdir(tmp_path):
    return str(tmp_path)


def test_wrong_secret_is_refused(workdir):
    d = Driver("pyspark", workdir, driver_secret="ab" * 32)
    try:
        assert d.wait_exit(90) == 2
        assert d.server.auth is False
        hello, auth = d.server.handshake
        assert hello == {"type": "hello", "session_id": 7, "protocol": 1}
        assert set(auth) == {"type", "mac", "nonce"} and len(auth["nonce"]) == 64
        log = d.log_text()
        assert "rejected authentication" in log
        assert d.secret not in log and "ab" * 32 not in log
        assert not os.path.exists(d.config_path), "the config file holds the secret"
    finally:
        d.shutdown()


def test_wrong_fingerprint_is_refused(workdir):
    d = Driver("pyspark", workdir, fingerprint="00" * 32)
    try:
        assert d.wait_exit(90) == 2
        assert d.server.handshake == [], "no hello may be sent to an unpinned server"
        assert "fingerprint mismatch" in d.log_text()
    finally:
        d.shutdown()


def test_server_must_prove_the_secret(workdir):
    d = Driver("pyspark", workdir, welcome_mac_ok=False)
    try:
        assert d.wait_exit(90) == 2
        assert d.server.auth is True  # the driver authenticated, the server did not
        assert "failed to prove" in d.log_text()
    finally:
        d.shutdown()


def test_a_sparkr_driver_is_a_startup_error(workdir):
    # The server never starts one; a driver asked anyway says why and exits 1.
    d = Driver("sparkr", workdir)
    try:
        err = d.server.wait_for(lambda m: m["type"] in ("error", "ready"), 90, "start-up outcome")
        assert err["type"] == "error", err
        assert err["message"].startswith("SparkR is not supported by livy-rs"), err
        assert d.wait_exit(60) == 1
    finally:
        d.shutdown()


def test_shutdown_before_ready(workdir):
    # The driver connects before it builds Spark; a shutdown sent meanwhile ends it cleanly.
    d = Driver("pyspark", workdir)
    try:
        wait_until(lambda: d.server.auth is not None, 90, "authentication")
        assert d.server.auth is True
        d.server.send({"type": "shutdown"})
        assert d.wait_exit(120) == 0
        assert [m for m in d.server.messages if m["type"] in ("ready", "error")] == []
    finally:
        d.shutdown()
