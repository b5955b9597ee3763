"""Who may read /metrics: behind LDAP authentication and, with access control on, only users
who may view every session; an allowed scraper address gets in without credentials (for
/metrics only); unknown livy.server.metrics.* keys stop the server. No credential reaches a log."""

from __future__ import annotations

import base64
import http.client
import json
from urllib.parse import urlparse

import pytest

from conftest import scrape, value
from pyharness.livy_server import LivyServer, LivyServerError, serving
from pyharness.slapd import Slapd
from pyharness.wait import wait_until
from session_helpers import base_conf

USERS = {"alice": "alice-pw-7f3a", "auditor": "auditor-pw-91c2"}
#: The scraper's address: the loopback's 127.0.0.2, so the test client can be it or not.
SCRAPER = "127.0.0.2"


@pytest.fixture(scope="module")
def secured(livy_bin, spark_home):
    with Slapd(users=USERS) as slapd:
        conf = base_conf(**{
            "livy.server.auth.type": "ldap",
            "livy.server.auth.ldap.url": slapd.url,
            "livy.server.auth.ldap.base-dn": slapd.base_dn,
            "livy.server.access-control.enabled": "true",
            "livy.server.access-control.allowed-users": "alice",
            "livy.server.access-control.view-users": "auditor",
            "livy.server.metrics.allowed-addresses": f"{SCRAPER}/32",
            "livy.server.log.format": "json",
        })
        yield from serving(LivyServer(conf, binary=livy_bin, name="livy-metrics-auth"))


def basic(user: str) -> dict:
    token = base64.b64encode(f"{user}:{USERS[user]}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def get_from(livy: LivyServer, source: str, path: str, headers: dict = None):
    u = urlparse(livy.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30, source_address=(source, 0))
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read().decode("utf-8", "replace"), resp
    finally:
        conn.close()


def test_metrics_need_credentials_and_the_right_to_view_all(secured):
    status, body, resp = get_from(secured, "127.0.0.1", "/metrics")
    assert status == 401 and resp.getheader("WWW-Authenticate") == "Basic", body
    status, body, _ = get_from(secured, "127.0.0.1", "/metrics", basic("alice"))
    assert status == 403, body
    assert "view-users" in json.loads(body)["msg"]
    # alice may still use the API itself.
    status, _, _ = get_from(secured, "127.0.0.1", "/sessions", basic("alice"))
    assert status == 200
    text = scrape(secured, basic("auditor"))
    assert value(text, "livy_auth_failures_total", reason="missing_credentials") >= 1
    wrong = {"Authorization": "Basic " + base64.b64encode(b"alice:wrong-pw-55").decode()}
    status, _, _ = get_from(secured, "127.0.0.1", "/metrics", wrong)
    assert status == 401
    assert value(scrape(secured, basic("auditor")), "livy_auth_failures_total", reason="bad_credentials") >= 1


def test_an_allowed_address_scrapes_without_credentials(secured):
    status, body, resp = get_from(secured, SCRAPER, "/metrics")
    assert status == 200, body
    assert resp.getheader("Content-Type").startswith("text/plain; version=0.0.4")
    assert "livy_sessions{" in body
    # Only /metrics: the API still wants credentials from that address.
    status, _, _ = get_from(secured, SCRAPER, "/sessions")
    assert status == 401


def test_no_credential_reaches_a_log(secured):
    for user in USERS:
        get_from(secured, "127.0.0.1", "/sessions", basic(user))
    text = secured.log_text() + "".join(p.read_text() for p in secured.log_dir.glob("livy-requests*"))
    for user, password in USERS.items():
        assert password not in text
        assert basic(user)["Authorization"].split()[1] not in text
    for line in secured.log_lines():
        if line.strip():
            json.loads(line)


def test_unknown_metrics_keys_stop_the_server(livy_bin, spark_home):
    server = LivyServer(base_conf(**{"livy.server.metrics.enabled": "true"}), binary=livy_bin,
                        name="livy-metrics-badkey")
    try:
        with pytest.raises(LivyServerError, match=r"livy\.server\.metrics\.enabled"):
            server.start()
    finally:
        server.cleanup()


def test_refusals_are_counted_and_text_access_lines_carry_the_request_id(livy_bin, spark_home):
    conf = base_conf(**{"livy.server.session.max-creation": "0"})
    for livy in serving(LivyServer(conf, binary=livy_bin, name="livy-metrics-refusals")):
        status, body, headers = livy.call("POST", "/sessions", {"kind": "pyspark"})
        assert status == 400 and "too many sessions" in body["msg"], body
        rid = {k.lower(): v for k, v in headers.items()}["x-request-id"]
        assert value(scrape(livy), "livy_admission_refusals_total", reason="max_creation") == 1

        def posts():  # the request log is written by a background writer: poll for the line
            access = "".join(p.read_text() for p in livy.log_dir.glob("livy-requests*"))
            return [line for line in access.splitlines() if '"POST /sessions HTTP/1.1" 400' in line]

        found = wait_until(posts, 10, "the POST's access log line")
        assert len(found) == 1 and found[0].endswith(f" request_id={rid}"), found
