"""Active/active with Kerberos on (a real MIT KDC, tests/pyharness/kerberos.py): a request that
reaches a server other than the session's owner is forwarded with the caller's authenticated
identity, so the owner applies its ACLs and impersonation rules to the original user; a client
cannot speak for another user by sending the servers' forwarding header itself."""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from pathlib import Path

import pytest

from conftest import Service, build_service
from ha_helpers import owner_pid
from pyharness import kerberos
from pyharness.wait import wait_until

#: The server-to-server header (src/ha/peer.rs).
PEER_HEADER = "X-Livy-Rs-Peer"
SPARK_START = 300.0


class KerberosService(Service):
    """Three Kerberos-protected servers (impersonation and ACLs on) as one service."""

    def __init__(self, *args, keytab: Path, **kw) -> None:
        self.keytab = keytab
        super().__init__(*args, **kw)

    def conf(self, **extra) -> dict:
        return super().conf(**kerberos.kerberos_conf(self.keytab, **extra))


def url_of(server) -> str:
    """By the host name of the servers' principal (HTTP/localhost)."""
    return f"http://localhost:{server.port}"


@pytest.fixture(scope="module")
def realm():
    saved = dict(os.environ)
    try:
        with kerberos.realm() as kdc:
            yield kdc, kerberos.ccaches_of(kdc)
    finally:
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(scope="module")
def ksvc(realm, tmp_path_factory, livy_bin, real_spark, light_spark_conf):
    kdc, _ = realm
    svc = build_service(tmp_path_factory, "ha-krb", livy_bin, real_spark, light_spark_conf,
                        cls=KerberosService, keytab=kerberos.keytab_of(kdc))
    try:
        yield svc.start()
    finally:
        svc.stop()


def as_user(realm, server, name: str) -> kerberos.SpnegoUser:
    return kerberos.SpnegoUser(url_of(server), realm[1][name], timeout=60)


@pytest.fixture(scope="module")
def alices_session(ksvc, realm):
    """A pyspark session alice created through the first server (its owner); deleted at the end."""
    owner = ksvc.servers[0]
    alice = as_user(realm, owner, "alice")
    r = alice.req("POST", "/sessions", json={"kind": "pyspark"})
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    try:
        wait_until(lambda: alice.req("GET", f"/sessions/{sid}").json()["state"] == "idle",
                   timeout=SPARK_START, what="alice's session idle")
        assert owner_pid(ksvc, "interactive", sid) == owner.pid
        yield sid
    finally:
        alice.req("DELETE", f"/sessions/{sid}")


def statement_result(user: kerberos.SpnegoUser, sid: int, stid: int) -> str:
    done = wait_until(lambda: (r := user.req("GET", f"/sessions/{sid}/statements/{stid}")).ok
                      and r.json()["state"] == "available" and r.json(),
                      timeout=120, what=f"statement {stid}")
    return done["output"]["data"]["text/plain"].strip()


def same_answer(realm, ksvc, name: str, method: str, path: str, **kw):
    """(status, body) of one request through a non-owner, after checking the owner itself gives
    the same status and message."""
    owner, other = ksvc.servers[0], ksvc.servers[1]
    direct = as_user(realm, owner, name).req(method, path, **kw)
    forwarded = as_user(realm, other, name).req(method, path, **kw)
    assert (forwarded.status_code, forwarded.text) == (direct.status_code, direct.text), (
        f"{name} {method} {path}: on the owner {direct.status_code} {direct.text}, "
        f"through another server {forwarded.status_code} {forwarded.text}")
    return forwarded.status_code, forwarded.json()


def test_a_forwarded_statement_runs_for_its_caller_and_acls_hold_on_the_owner(ksvc, realm, alices_session):
    sid = alices_session
    owner, other, third = ksvc.servers
    # alice's statement through a server that does not own her session: forwarded as alice.
    r = as_user(realm, other, "alice").req("POST", f"/sessions/{sid}/statements",
                                           json={"code": "print(20 + 22)"})
    assert r.status_code == 201, r.text
    assert statement_result(as_user(realm, third, "alice"), sid, r.json()["id"]) == "42"
    # The superuser acting as alice (doAs) too.
    r = as_user(realm, other, "admin").req("POST", f"/sessions/{sid}/statements",
                                           params={"doAs": "alice"}, json={"code": "print(6 * 7)"})
    assert r.status_code == 201, r.text
    assert statement_result(as_user(realm, other, "alice"), sid, r.json()["id"]) == "42"
    # The session's record names its owner and proxy user the same on every server.
    views = {s.name: as_user(realm, s, "alice").req("GET", f"/sessions/{sid}").json() for s in ksvc.servers}
    assert {(v["owner"], v["proxyUser"]) for v in views.values()} == {("alice", "alice")}, views

    count = len(as_user(realm, owner, "alice").req("GET", f"/sessions/{sid}/statements").json()["statements"])
    # bob may not touch alice's session, whichever server he asks.
    status, body = same_answer(realm, ksvc, "bob", "POST", f"/sessions/{sid}/statements",
                               json={"code": "print('bob was here')"})
    assert status == 403, body
    # Nor act as alice with doAs (only superusers impersonate).
    status, body = same_answer(realm, ksvc, "bob", "POST", f"/sessions/{sid}/statements",
                               params={"doAs": "alice"}, json={"code": "print('bob as alice')"})
    assert status == 403 and body == {"msg": "User 'bob' not allowed to impersonate 'alice'."}, body
    # The view-user reads but does not run code; mallory is not an allowed user at all.
    status, body = same_answer(realm, ksvc, "auditor", "GET", f"/sessions/{sid}/statements")
    assert status == 200 and len(body["statements"]) == count, body
    status, body = same_answer(realm, ksvc, "auditor", "POST", f"/sessions/{sid}/statements",
                               json={"code": "print('audit')"})
    assert status == 403, body
    status, body = same_answer(realm, ksvc, "mallory", "GET", f"/sessions/{sid}/statements")
    assert status == 403, body
    status, body = same_answer(realm, ksvc, "bob", "DELETE", f"/sessions/{sid}")
    assert status == 403, body
    after = as_user(realm, owner, "alice").req("GET", f"/sessions/{sid}/statements").json()["statements"]
    assert len(after) == count, after[count:]
    assert as_user(realm, third, "alice").req("GET", f"/sessions/{sid}").json()["state"] in ("idle", "busy")


def peer_header(key: bytes, user: str, method: str, path: str, body: bytes) -> str:
    """A forwarding header as src/ha/peer.rs makes it, signed with `key`."""
    ts, nonce, who = int(time.time()), os.urandom(16).hex(), user.encode().hex()
    text = (f"livy-rs-peer|v1|{ts}|{nonce}|{who}|{method}|{path}|"
            f"{hashlib.sha256(body).hexdigest()}")
    return f"v1;{ts};{nonce};{who};" + hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def test_a_client_cannot_speak_for_another_user_with_the_forwarding_header(ksvc, realm, alices_session):
    import requests

    sid = alices_session
    path = f"/sessions/{sid}/statements"
    body = b'{"code": "print(\'forged\')"}'
    secret = ksvc.secret.read_text(encoding="utf-8").strip().encode()
    # The header is checked for real: signed with the servers' secret (which no client has),
    # the same request is taken as alice's, without any Kerberos ticket.
    real = b'{"code": "print(\'signed\')"}'
    genuine = requests.post(url_of(ksvc.servers[0]) + path, data=real, timeout=60,
                            headers={PEER_HEADER: peer_header(secret, "alice", "POST", path, real),
                                     "Content-Type": "application/json"})
    assert genuine.status_code == 201, genuine.text
    count = len(as_user(realm, ksvc.servers[0], "alice").req("GET", path).json()["statements"])

    forged = [
        peer_header(os.urandom(32).hex().encode(), "alice", "POST", path, body),  # another key
        peer_header(secret, "alice", "POST", path, b'{"code": "1"}'),  # signed for another body
        peer_header(secret, "alice", "GET", path, body),  # for another method
        "v1;{};{};{};{}".format(int(time.time()), "0" * 32, b"alice".hex(), "00" * 32),
        "alice",
        "",
    ]
    for server in ksvc.servers:
        for value in forged:
            headers = {PEER_HEADER: value, "Content-Type": "application/json"}
            # Without a ticket, and with bob's ticket: refused either way, never run as alice.
            anonymous = requests.post(url_of(server) + path, data=body, headers=headers, timeout=60)
            assert anonymous.status_code in (401, 403), (server.name, value, anonymous.text)
            as_bob = as_user(realm, server, "bob").req("POST", path, data=body, headers=headers)
            assert as_bob.status_code == 403, (server.name, value, as_bob.text)
            reads = as_user(realm, server, "mallory").req("GET", path, headers=headers)
            assert reads.status_code == 403, (server.name, value, reads.text)
    after = as_user(realm, ksvc.servers[0], "alice").req("GET", path).json()["statements"]
    assert len(after) == count and not any("forged" in s["code"] for s in after), after
