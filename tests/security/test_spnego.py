"""SPNEGO against a real MIT KDC with real clients (curl --negotiate, requests-gssapi, python
gssapi): challenge, mutual authentication, owner from auth_to_local rules, wrong service, garbage
and oversized headers, replayed tokens, the signed cookie (reuse, forgery, expiry)."""

from __future__ import annotations

import base64
import os
import re
import time

import gssapi
import pytest
import requests
from requests_gssapi import REQUIRED, HTTPSPNEGOAuth

from conftest import RESPONSES, remember_secret, run_curl, url_of
from pyharness.wait import wait_until

SPNEGO_OID = gssapi.OID.from_int_seq("1.3.6.1.5.5.2")


def creds(ccache) -> gssapi.Credentials:
    return gssapi.Credentials(usage="initiate", store={"ccache": f"FILE:{ccache}"})


def auth_for(ccache, target: str = "HTTP@localhost") -> HTTPSPNEGOAuth:
    return HTTPSPNEGOAuth(
        creds=creds(ccache),
        target_name=gssapi.Name(target, gssapi.NameType.hostbased_service),
        mutual_authentication=REQUIRED,
    )


def initial_token(ccache, target: str = "HTTP@localhost") -> str:
    """A fresh SPNEGO initial token (what a client puts after `Negotiate `)."""
    ctx = gssapi.SecurityContext(
        name=gssapi.Name(target, gssapi.NameType.hostbased_service),
        creds=creds(ccache),
        usage="initiate",
        mech=SPNEGO_OID,
    )
    token = base64.b64encode(ctx.step()).decode()
    remember_secret(token)
    return token


def record(r: requests.Response) -> requests.Response:
    RESPONSES.append(r.text)
    for name in ("WWW-Authenticate", "Set-Cookie"):
        remember_secret(r.headers.get(name, "").replace("Negotiate ", "").split(";")[0].replace("hadoop.auth=", "").strip('"'))
    return r


def get(url: str, **kw) -> requests.Response:
    return record(requests.get(url, timeout=30, **kw))


def cookie_of(r: requests.Response) -> str:
    m = re.search(r'hadoop\.auth="?([^";]+)"?', r.headers.get("Set-Cookie", ""))
    assert m, f"no hadoop.auth cookie in {r.headers}"
    remember_secret(m.group(1))
    sig = m.group(1).rsplit("&s=", 1)[-1]
    remember_secret(sig)
    return m.group(1)


def batch(url: str, job_dir, auth=None, cookies=None, params=None, **body) -> requests.Response:
    payload = {"file": str(job_dir / "job.py"), **body}
    return record(requests.post(f"{url}/batches", json=payload, auth=auth, cookies=cookies, params=params, timeout=30))


# ------------------------------------------------------------------------------------ challenge


def test_no_credentials_gets_a_negotiate_challenge(livy):
    for path in ("/sessions", "/batches", "/version", "/ui", "/", "/no/such/route"):
        r = get(url_of(livy) + path)
        assert r.status_code == 401, (path, r.status_code, r.text)
        assert r.headers["WWW-Authenticate"] == "Negotiate", path
        assert r.json() == {"msg": "Authentication required"}


def test_curl_without_a_ticket_is_refused(livy, kdc):
    out = run_curl(["--negotiate", "-u", ":", "-o", "/dev/null", "-w", "%{http_code}", url_of(livy) + "/sessions"], kdc, None)
    assert out.stdout == "401", out


def test_curl_with_a_ticket_is_accepted_and_owns_its_batch(livy, kdc, ccaches, job_dir):
    out = run_curl(
        [
            "--negotiate", "-u", ":", "-i",
            "-H", "Content-Type: application/json",
            "-d", '{"file": "%s"}' % (job_dir / "job.py"),
            url_of(livy) + "/batches",
        ],
        kdc,
        ccaches["alice"],
    )
    # With -i curl prints the head of every answer: the 401 challenge first, then ours.
    head, _, body = out.stdout.rpartition("\n\n")
    head = head.split("\n\n")[-1]
    assert re.search(r"^HTTP/1.1 201", head, re.M), out.stdout
    # The mutual-authentication token and the cookie come with the answer.
    m = re.search(r"^WWW-Authenticate: Negotiate (\S+)", head, re.M | re.I)
    assert m, head
    remember_secret(m.group(1))
    assert re.search(r"^Set-Cookie: hadoop\.auth=\"u=alice&p=alice@LIVY\.TEST&t=kerberos&e=\d+&s=", head, re.M | re.I), head
    RESPONSES.append(body)
    assert '"owner":"alice"' in body, body


def test_requests_gssapi_with_mutual_auth(livy, ccaches):
    r = get(url_of(livy) + "/sessions", auth=auth_for(ccaches["bob"]))
    assert r.status_code == 200, r.text
    assert r.json()["sessions"] == []
    # requests-gssapi verified the server's token (mutual_authentication=REQUIRED).
    assert r.headers["WWW-Authenticate"].startswith("Negotiate ")


def test_ticket_for_another_service_is_refused(livy, ccaches):
    """HTTP/otherhost is in the server's keytab too, but the server accepts only its own
    principal (HTTP/_HOST = HTTP/localhost)."""
    token = initial_token(ccaches["alice"], target="HTTP@otherhost")
    r = get(url_of(livy) + "/sessions", headers={"Authorization": f"Negotiate {token}"})
    assert r.status_code == 401, r.text
    assert r.headers["WWW-Authenticate"] == "Negotiate"
    assert "hadoop.auth" not in r.headers.get("Set-Cookie", "")


# ------------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    "value",
    [
        "Negotiate",
        "Negotiate !!!not base64!!!",
        "Negotiate " + base64.b64encode(b"\x60\x82garbage" * 50).decode(),
        "Negotiate " + base64.b64encode(os.urandom(60000)).decode(),  # big but under the limit
        "Basic YWxpY2U6cHc=",
        "Negotiate YQ==",
    ],
    ids=["empty", "not-base64", "junk-der", "large-junk", "basic", "one-byte"],
)
def test_garbage_negotiate_headers_get_401_never_500(livy, value):
    r = get(url_of(livy) + "/batches", headers={"Authorization": value})
    assert r.status_code == 401, (r.status_code, r.text)
    assert r.headers["WWW-Authenticate"] == "Negotiate"
    # The server is still serving.
    assert get(url_of(livy) + "/version").status_code == 401


def test_oversized_negotiate_header_gets_431(livy):
    big = "Negotiate " + "A" * 200_000  # over livy.server.request-header.size (131072)
    r = get(url_of(livy) + "/batches", headers={"Authorization": big})
    assert r.status_code == 431, r.status_code
    assert get(url_of(livy) + "/version").status_code == 401


def test_replayed_token_is_rejected(livy, ccaches):
    token = initial_token(ccaches["carol"])
    first = get(url_of(livy) + "/sessions", headers={"Authorization": f"Negotiate {token}"})
    assert first.status_code == 200, first.text
    again = get(url_of(livy) + "/sessions", headers={"Authorization": f"Negotiate {token}"})
    assert again.status_code == 401, again.text
    assert again.headers["WWW-Authenticate"] == "Negotiate"
    # A fresh token from the same ticket cache still works.
    fresh = get(url_of(livy) + "/sessions", headers={"Authorization": f"Negotiate {initial_token(ccaches['carol'])}"})
    assert fresh.status_code == 200


# ------------------------------------------------------------------------------------ name rules


def test_auth_to_local_rules_give_the_owner(livy, ccaches, job_dir):
    # RULE:[2:$1/$2@$0](alice/admin@LIVY\.TEST)s/.*/admin/
    r = batch(url_of(livy), job_dir, auth=auth_for(ccaches["alice/admin"]))
    assert r.status_code == 201, r.text
    assert r.json()["owner"] == "admin"
    # RULE:[1:$1@$0](.*@LIVY\.TEST)s/@.*///L lower-cases CAROL@LIVY.TEST.
    r = batch(url_of(livy), job_dir, auth=auth_for(ccaches["CAROL"]))
    assert r.status_code == 201, r.text
    assert r.json()["owner"] == "carol"


def test_principal_no_rule_maps_is_forbidden(livy, ccaches):
    """eve/ops@LIVY.TEST authenticates, but no rule maps a two-component name other than
    alice/admin: Hadoop's filter answers 403."""
    token = initial_token(ccaches["eve/ops"])
    r = get(url_of(livy) + "/sessions", headers={"Authorization": f"Negotiate {token}"})
    assert r.status_code == 403, r.text
    assert "no auth_to_local rule applies to eve/ops@LIVY.TEST" in r.json()["msg"]


# ------------------------------------------------------------------------------------ cookie


def test_cookie_saves_renegotiating(livy, ccaches, job_dir):
    token = initial_token(ccaches["alice"])
    first = get(url_of(livy) + "/batches", headers={"Authorization": f"Negotiate {token}"})
    assert first.status_code == 200
    value = cookie_of(first)
    assert value.startswith("u=alice&p=alice@LIVY.TEST&t=kerberos&e=")
    # The cookie alone authenticates: no Authorization header, no new negotiation.
    for _ in range(3):
        r = get(url_of(livy) + "/batches", headers={"Cookie": f'hadoop.auth="{value}"'})
        assert r.status_code == 200, r.text
        assert "WWW-Authenticate" not in r.headers
        assert "Set-Cookie" not in r.headers
    created = batch(url_of(livy), job_dir, cookies={"hadoop.auth": value})
    assert created.status_code == 201 and created.json()["owner"] == "alice", created.text


def test_forged_or_tampered_cookie_is_refused(livy, ccaches):
    first = get(url_of(livy) + "/batches", headers={"Authorization": f"Negotiate {initial_token(ccaches['bob'])}"})
    value = cookie_of(first)
    body, sig = value.rsplit("&s=", 1)
    forged = [
        value.replace("u=bob", "u=admin"),  # another user, same signature
        body.replace("e=", "e=9") + "&s=" + sig,  # later expiry
        "u=admin&p=admin@LIVY.TEST&t=kerberos&e=99999999999999&s=" + base64.b64encode(os.urandom(32)).decode(),
        "u=admin&p=admin@LIVY.TEST&t=kerberos&e=99999999999999",  # unsigned
        "garbage",
    ]
    for bad in forged:
        r = get(url_of(livy) + "/batches", headers={"Cookie": f'hadoop.auth="{bad}"'})
        assert r.status_code == 401, (bad, r.status_code, r.text)
        assert r.headers["WWW-Authenticate"] == "Negotiate"
        # The bad cookie is cleared.
        assert re.match(r"hadoop\.auth=;.*Max-Age=0", r.headers["Set-Cookie"]), r.headers


def test_expired_cookie_gets_a_new_challenge(server_factory, ccaches):
    short = server_factory(**{"livy.server.auth.token.validity": "4s"})
    first = get(url_of(short) + "/batches", headers={"Authorization": f"Negotiate {initial_token(ccaches['alice'])}"})
    assert first.status_code == 200
    value = cookie_of(first)
    expiry_ms = int(re.search(r"&e=(\d+)", value).group(1))
    assert 0 < expiry_ms - time.time() * 1000 <= 4500, expiry_ms
    assert get(url_of(short) + "/batches", headers={"Cookie": f'hadoop.auth="{value}"'}).status_code == 200

    def refused():
        r = get(url_of(short) + "/batches", headers={"Cookie": f'hadoop.auth="{value}"'})
        return [r] if r.status_code == 401 else None

    (r,) = wait_until(refused, timeout=20, what="the cookie to expire")
    assert r.headers["WWW-Authenticate"] == "Negotiate"
    assert time.time() * 1000 >= expiry_ms
    # A cookie of one server means nothing to another (random per-server secret).
    assert get(url_of(short) + "/batches", headers={"Authorization": f"Negotiate {initial_token(ccaches['alice'])}"}).status_code == 200


def test_requests_session_keeps_the_cookie(livy, ccaches):
    """A requests.Session (what pylivy and sparkmagic use) negotiates once, then rides on the
    cookie; requests-gssapi in OPTIONAL mutual mode accepts cookie-authenticated answers."""
    from requests_gssapi import OPTIONAL

    s = requests.Session()
    s.auth = HTTPSPNEGOAuth(creds=creds(ccaches["bob"]), target_name="HTTP@localhost", mutual_authentication=OPTIONAL)
    r1 = record(s.get(url_of(livy) + "/sessions", timeout=30))
    assert r1.status_code == 200 and r1.headers["WWW-Authenticate"].startswith("Negotiate ")
    assert "hadoop.auth" in s.cookies.get_dict()
    remember_secret(s.cookies.get_dict()["hadoop.auth"].strip('"'))
    r2 = record(s.get(url_of(livy) + "/sessions", timeout=30))
    assert r2.status_code == 200
    # No 401 round trip: the second answer is the first response (no history).
    assert r2.history == [] and "WWW-Authenticate" not in r2.headers


# ------------------------------------------------------------------------------------ start-up


def test_server_refuses_to_start_without_a_usable_acceptor(server_factory):
    """A principal that is not in the keytab is a start-up error naming both, not a server
    that answers 401 to everyone."""
    from pyharness.livy_server import LivyServerError

    with pytest.raises(LivyServerError) as err:
        server_factory(**{"livy.server.auth.kerberos.principal": "HTTP/nothere@LIVY.TEST"})
    text = str(err.value)
    assert "cannot acquire an acceptor credential from the keytab" in text, text
    assert "HTTP/nothere@LIVY.TEST" in text and "livy-http.keytab" in text, text


def test_unknown_auth_type_is_a_start_up_error(server_factory):
    from pyharness.livy_server import LivyServerError

    with pytest.raises(LivyServerError) as err:
        server_factory(**{"livy.server.auth.type": "kerbros"})
    assert "livy.server.auth.type: Invalid auth type: kerbros" in str(err.value)
