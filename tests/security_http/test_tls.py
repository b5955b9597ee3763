"""TLS on the REST port: a server with a PEM certificate from a test CA, driven by requests,
curl and pylivy; clients that do not speak TLS, do not trust the CA, or say nothing."""

from __future__ import annotations

import json
import socket
import subprocess
import time

import pytest
import requests
from livy import LivyBatch, SessionState

from pyharness.livy_server import LivyServer
from pyharness.wait import wait_until

SPARK_TIMEOUT = 240


@pytest.fixture(scope="module")
def tls_livy(livy_bin, spark_home, spark_conf_dir, work_dir, pki):
    server = LivyServer(
        {
            "livy.spark.master": "local[1]",
            "livy.file.local-dir-whitelist": str(work_dir),
            "livy.server.tls.certificate": str(pki.cert),
            "livy.server.tls.key": str(pki.key),
            "livy.server.csrf-protection.enabled": "true",
        },
        binary=livy_bin,
        env={"SPARK_CONF_DIR": str(spark_conf_dir)},
        name="livy-tls",
    )
    server.start()
    yield server
    try:
        server.stop()
    finally:
        server.cleanup()


def test_listening_line_names_https(tls_livy):
    assert tls_livy.url.startswith("https://127.0.0.1:")
    tls_livy.wait_for_log(r"livy-rs listening .*url=https://127\.0\.0\.1:%d" % tls_livy.port)


def test_client_trusting_the_ca_gets_sessions_and_hsts(tls_livy, pki):
    resp = requests.get(tls_livy.url + "/sessions", verify=str(pki.ca), timeout=30)
    assert resp.status_code == 200
    assert resp.json() == {"from": 0, "total": 0, "sessions": []}
    assert resp.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"


def test_client_trusting_another_ca_is_refused(tls_livy, pki):
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(tls_livy.url + "/sessions", verify=str(pki.other_ca), timeout=30)
    assert requests.get(tls_livy.url + "/version", verify=str(pki.ca), timeout=30).status_code == 200


def test_plain_http_to_the_tls_port_fails_and_the_server_keeps_serving(tls_livy, pki):
    plain = f"http://127.0.0.1:{tls_livy.port}/sessions"
    for _ in range(3):
        with pytest.raises(requests.exceptions.ConnectionError):
            requests.get(plain, timeout=30)
    assert tls_livy.running
    resp = requests.get(tls_livy.url + "/sessions", verify=str(pki.ca), timeout=30)
    assert resp.status_code == 200


def test_silent_clients_do_not_block_others_and_are_dropped(tls_livy, pki):
    silent = [socket.create_connection(("127.0.0.1", tls_livy.port), timeout=30) for _ in range(5)]
    try:
        started = time.monotonic()
        for _ in range(3):
            resp = requests.get(tls_livy.url + "/version", verify=str(pki.ca), timeout=5)
            assert resp.status_code == 200
        assert time.monotonic() - started < 5
        # The handshake deadline (10 s) closes connections that never start one.
        for s in silent:
            s.settimeout(30)
            assert s.recv(1) == b""
    finally:
        for s in silent:
            s.close()


def test_curl_with_cacert_speaks_http2_and_http11(tls_livy, pki):
    for flag, want in (("--http2", "2"), ("--http1.1", "1.1")):
        out = subprocess.run(
            ["curl", "-sS", flag, "--cacert", str(pki.ca), "-w", "\n%{http_code} %{http_version}",
             tls_livy.url + "/version"],
            capture_output=True, text=True, timeout=60,
        )
        assert out.returncode == 0, out.stderr
        body, _, status = out.stdout.rpartition("\n")
        assert status == f"200 {want}", out.stdout
        assert "version" in json.loads(body)
    # Without the CA curl refuses the certificate (exit 60), and the server is unaffected.
    out = subprocess.run(["curl", "-sS", tls_livy.url + "/version"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 60, (out.returncode, out.stderr)


def test_pylivy_runs_a_batch_over_tls_with_csrf(tls_livy, pki, work_dir):
    # pylivy sends no X-Requested-By of its own: a CSRF-protected server refuses it...
    with pytest.raises(requests.HTTPError) as refused:
        LivyBatch.create(tls_livy.url, file=str(work_dir / "count.py"), verify=str(pki.ca))
    assert refused.value.response.status_code == 400
    assert refused.value.response.json() == {"msg": "Missing Required Header for CSRF protection."}
    assert requests.get(tls_livy.url + "/batches", verify=str(pki.ca), timeout=30).json()["total"] == 0

    # ...and accepts it through a requests session that carries the header, as users set it up.
    session = requests.Session()
    session.headers["X-Requested-By"] = "pylivy"
    batch = LivyBatch.create(
        tls_livy.url,
        file=str(work_dir / "count.py"),
        name="pylivy-tls",
        verify=str(pki.ca),
        requests_session=session,
        spark_conf={"spark.ui.enabled": "false"},
    )
    wait_until(
        lambda: batch.state in (SessionState.SUCCESS, SessionState.DEAD, SessionState.KILLED),
        timeout=SPARK_TIMEOUT,
        interval=1.0,
        what="the batch to finish",
    )
    log = batch.log(size=-1)
    assert batch.state == SessionState.SUCCESS, "\n".join(log)
    assert any("LIVY_RS_COUNT=321" in line for line in log), "\n".join(log)
