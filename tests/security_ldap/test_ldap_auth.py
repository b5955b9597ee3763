"""LDAP Basic authentication (`livy.server.auth.type = ldap`) against a real slapd, driven with
requests, pylivy and curl."""

from __future__ import annotations

import base64
import socket
import subprocess
import threading
import time

import pytest
import requests
from requests.auth import HTTPBasicAuth

from pyharness.livy_server import LivyServerError
from pyharness.wait import wait_until
from pyharness.slapd import Slapd

from conftest import USERS

REJECTED = "Error validating LDAP user"


def ldap_conf(slapd, **extra):
    conf = {
        "livy.server.auth.type": "ldap",
        "livy.server.auth.ldap.url": slapd.url,
        "livy.server.auth.ldap.base-dn": slapd.base_dn,
    }
    conf.update(extra)
    return conf


def create_batch(livy, work_dir, auth, **kw):
    return requests.post(livy.url + "/batches", json={"file": str(work_dir / "noop.py")}, auth=auth,
                         timeout=60, **kw)


def delete_batch(livy, batch_id, auth):
    r = requests.delete(f"{livy.url}/batches/{batch_id}", auth=auth, timeout=60)
    assert r.status_code == 200, r.text


def assert_challenge(r, msg_start="Authentication required"):
    assert r.status_code == 401, r.text
    assert r.headers.get("WWW-Authenticate") == "Basic"
    assert r.json()["msg"].startswith(msg_start), r.text


def batch_count(livy, auth=HTTPBasicAuth("alice", USERS["alice"])):
    r = requests.get(livy.url + "/batches", auth=auth, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["total"]


# --------------------------------------------------------------------------- accepted


def test_good_password_creates_a_batch_and_a_session_owned_by_the_user(slapd, livy_factory, work_dir):
    livy = livy_factory(ldap_conf(slapd))
    alice = HTTPBasicAuth("alice", USERS["alice"])
    r = create_batch(livy, work_dir, alice)
    assert r.status_code == 201, r.text
    batch = r.json()
    assert batch["owner"] == "alice"
    got = requests.get(f"{livy.url}/batches/{batch['id']}", auth=alice, timeout=30)
    assert got.status_code == 200 and got.json()["owner"] == "alice"
    delete_batch(livy, batch["id"], alice)

    # A password with ':' in it: only the first ':' of the credentials separates.
    bob = HTTPBasicAuth("bob", USERS["bob"])
    r = requests.post(livy.url + "/sessions", json={"kind": "pyspark"}, auth=bob, timeout=60)
    assert r.status_code == 201, r.text
    session = r.json()
    assert session["owner"] == "bob"
    r = requests.delete(f"{livy.url}/sessions/{session['id']}", auth=bob, timeout=60)
    assert r.status_code == 200, r.text


def test_username_domain_is_appended_unless_the_name_has_one(slapd, livy_factory, work_dir):
    livy = livy_factory(ldap_conf(slapd, **{"livy.server.auth.ldap.username-domain": "corp.test"}))
    # "carol" binds as uid=carol@corp.test,<base-dn>; the user is the name given.
    for name in ("carol", "carol@corp.test"):
        r = requests.get(livy.url + "/batches", auth=HTTPBasicAuth(name, USERS["carol@corp.test"]), timeout=30)
        assert r.status_code == 200, (name, r.text)
    r = create_batch(livy, work_dir, HTTPBasicAuth("carol", USERS["carol@corp.test"]))
    assert r.status_code == 201 and r.json()["owner"] == "carol", r.text
    delete_batch(livy, r.json()["id"], HTTPBasicAuth("carol", USERS["carol@corp.test"]))
    # alice has no alice@corp.test entry: with the domain on, her plain name no longer binds.
    assert_challenge(requests.get(livy.url + "/batches", auth=HTTPBasicAuth("alice", USERS["alice"]),
                                  timeout=30), REJECTED)


# --------------------------------------------------------------------------- refused


def test_wrong_unknown_and_blank_credentials_get_401_and_change_nothing(slapd, livy_factory, work_dir):
    # The fixture's slapd accepts an "unauthenticated bind" (DN, empty password) as success, as
    # some directories do: the server must still refuse an empty password.
    dn = f"uid=alice,{slapd.base_dn}"
    probe = subprocess.run(["ldapwhoami", "-x", "-H", slapd.url, "-D", dn, "-w", ""],
                           capture_output=True, text=True)
    assert probe.returncode == 0, probe.stderr

    livy = livy_factory(ldap_conf(slapd))
    before = batch_count(livy)
    cases = [
        (HTTPBasicAuth("alice", "wrong-pw"), REJECTED),
        (HTTPBasicAuth("mallory", "alice-pw"), REJECTED),
        (HTTPBasicAuth("alice", ""), REJECTED + ": a null or blank password"),
        (HTTPBasicAuth("", "alice-pw"), REJECTED + ": a null or blank username"),
        # A name that would reach another entry's DN if it were not escaped.
        (HTTPBasicAuth("alice,ou=people", USERS["alice"]), REJECTED),
    ]
    for auth, msg in cases:
        assert_challenge(create_batch(livy, work_dir, auth), msg)
    assert batch_count(livy) == before


def test_missing_other_scheme_and_malformed_headers_get_the_challenge(slapd, livy_factory):
    livy = livy_factory(ldap_conf(slapd))
    assert_challenge(requests.get(livy.url + "/batches", timeout=30))
    assert_challenge(requests.get(livy.url + "/version", timeout=30))
    b64 = lambda raw: base64.b64encode(raw).decode()  # noqa: E731
    for value in [
        "Negotiate YIIFAKE=",
        "Bearer abc",
        "Basic",
        "Basic !!!not base64!!!",
        "Basic " + b64(b"no-colon-at-all"),
        "Basic " + b64(b"\xff\xfe:x"),
        "Basicx " + b64(b"alice:alice-pw"),
    ]:
        r = requests.get(livy.url + "/batches", headers={"Authorization": value}, timeout=30)
        assert_challenge(r)
    # The scheme name is case-insensitive (RFC 7235).
    r = requests.get(livy.url + "/batches", headers={"Authorization": "bAsIc " + b64(b"alice:alice-pw")},
                     timeout=30)
    assert r.status_code == 200, r.text
    assert livy.running


# --------------------------------------------------------------------------- TLS


def test_start_tls_and_ldaps_with_the_test_ca(slapd, livy_factory):
    alice = HTTPBasicAuth("alice", USERS["alice"])
    for conf in (
        ldap_conf(slapd, **{"livy.server.auth.ldap.enable-start-tls": "true",
                            "livy.server.auth.ldap.ca-file": str(slapd.ca_file)}),
        ldap_conf(slapd, **{"livy.server.auth.ldap.url": slapd.ldaps_url,
                            "livy.server.auth.ldap.ca-file": str(slapd.ca_file)}),
    ):
        livy = livy_factory(conf)
        assert requests.get(livy.url + "/batches", auth=alice, timeout=30).status_code == 200
        assert_challenge(requests.get(livy.url + "/batches", auth=HTTPBasicAuth("alice", "bad"), timeout=30),
                         REJECTED)
        livy.stop()
    assert "STARTTLS" in slapd.log_text()


def test_untrusted_certificate_fails_closed(slapd, livy_factory):
    # Without the CA file the system roots apply, which do not include the test CA.
    livy = livy_factory(ldap_conf(slapd, **{"livy.server.auth.ldap.enable-start-tls": "true"}))
    r = requests.get(livy.url + "/batches", auth=HTTPBasicAuth("alice", USERS["alice"]), timeout=30)
    assert r.status_code == 503, r.text
    assert "LDAP server is unavailable" in r.json()["msg"]
    # The server's output is read by another thread: the line may land just after the answer.
    wait_until(lambda: "cannot check credentials with LDAP" in livy.log_text(), timeout=10,
               what="the LDAP failure in the server log")


def test_start_tls_refused_never_binds_in_the_clear(livy_factory):
    with Slapd(users=USERS, tls=False) as plain:
        livy = livy_factory(ldap_conf(plain, **{"livy.server.auth.ldap.enable-start-tls": "true",
                                                "livy.server.auth.ldap.ca-file": __file__}), start=False)
        # A CA file without a certificate is a start-up error naming the key.
        with pytest.raises(LivyServerError, match="livy.server.auth.ldap.ca-file"):
            livy.start()

    with Slapd(users=USERS, tls=True) as tls_capable, Slapd(users=USERS, tls=False) as plain:
        livy = livy_factory(ldap_conf(plain, **{"livy.server.auth.ldap.enable-start-tls": "true",
                                                "livy.server.auth.ldap.ca-file": str(tls_capable.ca_file)}))
        r = requests.get(livy.url + "/batches", auth=HTTPBasicAuth("alice", USERS["alice"]), timeout=30)
        assert r.status_code == 503, r.text
        log = plain.log_text()
        assert "EXT oid=1.3.6.1.4.1.1466.20037" in log, log  # the StartTLS request was made ...
        # ... and, refused, no bind followed (the only BIND is the harness's anonymous probe).
        assert 'BIND dn="uid=alice' not in log, log


# --------------------------------------------------------------------------- directory trouble


def test_directory_down_or_hung_gives_503_and_the_server_stays_up(livy_factory):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]
    livy = livy_factory({"livy.server.auth.type": "ldap", "livy.server.auth.ldap.url": f"ldap://127.0.0.1:{dead_port}",
                         "livy.server.auth.ldap.base-dn": "dc=livy,dc=test"})
    for _ in range(2):
        r = requests.get(livy.url + "/batches", auth=HTTPBasicAuth("alice", "pw"), timeout=30)
        assert r.status_code == 503, r.text
        assert r.json()["msg"].startswith("Cannot validate credentials")
    assert livy.running

    # A directory that accepts connections and never answers: the timeout answers instead.
    hung = socket.socket()
    hung.bind(("127.0.0.1", 0))
    hung.listen(16)
    held = []
    stop = threading.Event()

    def accept():
        hung.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(hung.accept()[0])
            except OSError:
                pass

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    try:
        livy = livy_factory({"livy.server.auth.type": "ldap",
                             "livy.server.auth.ldap.url": f"ldap://127.0.0.1:{hung.getsockname()[1]}",
                             "livy.server.auth.ldap.base-dn": "dc=livy,dc=test",
                             "livy.server.auth.ldap.timeout": "1s"})
        started = time.monotonic()
        r = requests.get(livy.url + "/batches", auth=HTTPBasicAuth("alice", "pw"), timeout=30)
        assert r.status_code == 503, r.text
        assert time.monotonic() - started < 10
        # The log line is written as the answer goes out; wait for it rather than race it.
        wait_until(lambda: "did not answer within" in livy.log_text(), timeout=10,
                   what="the LDAP timeout log line")
        assert held, "the server never connected to the hung directory"
    finally:
        stop.set()
        t.join()
        for c in held:
            c.close()
        hung.close()


def test_bad_ldap_configuration_stops_the_server_with_the_key_named(livy_factory):
    cases = [
        ({"livy.server.auth.type": "ldap"}, "livy.server.auth.ldap.url: must be set"),
        ({"livy.server.auth.type": "ldap", "livy.server.auth.ldap.url": "http://x"}, "expected ldap://"),
        ({"livy.server.auth.type": "ldap", "livy.server.auth.ldap.url": "ldaps://127.0.0.1:1",
          "livy.server.auth.ldap.enable-start-tls": "true"}, "Can not use ldaps and StartTLS"),
        ({"livy.server.auth.type": "ldap", "livy.server.auth.ldap.url": "ldap://127.0.0.1:1",
          "livy.server.auth.ldap.security-authentication": "DIGEST-MD5"}, "only simple binds"),
    ]
    for conf, message in cases:
        livy = livy_factory(conf, start=False)
        with pytest.raises(LivyServerError, match=message):
            livy.start()


# --------------------------------------------------------------------------- real clients


def test_pylivy_with_http_basic_auth(slapd, livy_factory, work_dir):
    from livy import LivyBatch, SessionState

    livy = livy_factory(ldap_conf(slapd))
    alice = HTTPBasicAuth("alice", USERS["alice"])
    batch = LivyBatch.create(livy.url, str(work_dir / "noop.py"), auth=alice, name="pylivy-ldap")
    # pylivy polls with the same credentials until Spark has run the job.
    assert batch.wait() == SessionState.SUCCESS
    got = requests.get(f"{livy.url}/batches/{batch.batch_id}", auth=alice, timeout=30).json()
    assert got["owner"] == "alice" and got["name"] == "pylivy-ldap"
    with pytest.raises(requests.HTTPError) as err:
        LivyBatch.create(livy.url, str(work_dir / "noop.py"), auth=HTTPBasicAuth("alice", "wrong"))
    assert err.value.response.status_code == 401


def test_curl_basic(slapd, livy_factory, work_dir):
    livy = livy_factory(ldap_conf(slapd))
    body = f'{{"file": "{work_dir / "noop.py"}"}}'
    out = subprocess.run(["curl", "-s", "-u", f"alice:{USERS['alice']}", "-H", "Content-Type: application/json",
                          "-d", body, "-w", "\n%{http_code}", livy.url + "/batches"],
                         capture_output=True, text=True, timeout=60)
    text, code = out.stdout.rsplit("\n", 1)
    assert code == "201", out.stdout
    assert '"owner":"alice"' in text
    out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-u", "alice:nope",
                          livy.url + "/batches"], capture_output=True, text=True, timeout=60)
    assert out.stdout == "401"


# --------------------------------------------------------------------------- secrets


def test_passwords_and_headers_never_reach_the_logs(slapd, livy_factory, work_dir):
    secret = "S3cret-Never-Logged"
    with Slapd(users={"dora": secret}) as own:
        livy = livy_factory(ldap_conf(own), env={"LIVY_LOG": "trace"})
        good = HTTPBasicAuth("dora", secret)
        assert requests.get(livy.url + "/batches", auth=good, timeout=30).status_code == 200
        for auth in (HTTPBasicAuth("dora", secret + "x"), HTTPBasicAuth("nobody", secret)):
            assert requests.get(livy.url + "/batches", auth=auth, timeout=30).status_code == 401
        header = "Basic " + base64.b64encode(f"dora:{secret}".encode()).decode()
        livy.stop()
        texts = [livy.log_text()] + [p.read_text(errors="replace") for p in livy.log_dir.rglob("*") if p.is_file()]
        assert "LDAP authentication" in texts[0]  # the checks were logged (by user name) ...
        access = "".join(p.read_text() for p in livy.log_dir.glob("livy-requests*"))
        assert ' - dora [' in access and '"GET /batches HTTP/1.1" 200' in access, access
        for text in texts:
            assert secret not in text  # ... but no password,
            assert header.split()[1] not in text  # no header value.


def test_the_next_url_is_tried_when_one_is_down(slapd, livy_factory):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"ldap://127.0.0.1:{s.getsockname()[1]}"
    livy = livy_factory(ldap_conf(slapd, **{"livy.server.auth.ldap.url": f"{dead} {slapd.url}"}))
    r = requests.get(livy.url + "/batches", auth=HTTPBasicAuth("alice", USERS["alice"]), timeout=30)
    assert r.status_code == 200, r.text
    r = requests.get(livy.url + "/batches", auth=HTTPBasicAuth("alice", "wrong"), timeout=30)
    assert r.status_code == 401, r.text


def test_a_user_name_or_doas_cannot_forge_server_log_lines(slapd, livy_factory):
    """Anyone who reaches the port chooses the Basic user name, and any user the doAs value: both
    are logged (a refused bind, a refused doAs). Newlines and other control characters in them are
    escaped, so they cannot start a line that looks like the server's own."""
    livy = livy_factory(ldap_conf(slapd, **{"livy.impersonation.enabled": "true"}))
    # No colon: the Basic user name ends at the first one.
    forged = "2026-01-01T00.00.00.000000Z  INFO livy_rs FORGED"
    r = requests.get(livy.url + "/batches", auth=HTTPBasicAuth(f"eve\n{forged}\r\x1b[2K", "x"), timeout=30)
    assert_challenge(r, REJECTED)
    r = requests.get(livy.url + "/batches", params={"doAs": f"bob\n{forged}"},
                     auth=HTTPBasicAuth("alice", USERS["alice"]), timeout=30)
    assert r.status_code == 403, r.text
    wait_until(lambda: livy.log_text().count("FORGED") >= 2, timeout=10, what="both attempts logged")
    lines = livy.log_text().splitlines()
    own = ("livy_rs::auth::filter: LDAP authentication failed", "livy_rs::api::impersonation: doAs refused")
    assert not [line for line in lines if "FORGED" in line and not any(o in line for o in own)], \
        "\n".join(lines)
    assert "eve\\n" in livy.log_text() and "bob\\n" in livy.log_text()
