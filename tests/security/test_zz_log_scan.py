"""Runs last (file order): no secret the suite handled — Negotiate tokens sent or received,
hadoop.auth cookie values and their signatures, the keytab's bytes and keys — appears in any
server log line (stdout/stderr, the access log) or in any API response body the suite saw.

It first makes its own requests (a negotiation, cookie reuse, a forged cookie, a garbage and a
replayed token) so it never scans an empty record when run alone."""

from __future__ import annotations

import base64
import re
import subprocess

import requests

from conftest import RESPONSES, SECRETS, SERVER_LOG_DIRS, remember_secret, url_of
from test_spnego import cookie_of, initial_token


def keytab_keys(kdc, keytab) -> list:
    """The keys inside the keytab, as `klist -kK` prints them (hex), and in base64."""
    out = subprocess.run(["klist", "-kK", str(keytab)], env=kdc.env(), capture_output=True, text=True, check=True)
    keys = re.findall(r"\(0x([0-9a-f]+)\)", out.stdout)
    assert keys, out.stdout
    return keys + [base64.b64encode(bytes.fromhex(k)).decode() for k in keys]


def test_no_secret_in_logs_or_responses(livy, kdc, keytab, ccaches):
    base = url_of(livy)
    token = initial_token(ccaches["alice"])
    r = requests.get(base + "/batches", headers={"Authorization": f"Negotiate {token}"}, timeout=30)
    assert r.status_code == 200
    remember_secret(r.headers["WWW-Authenticate"].split(" ", 1)[1])
    value = cookie_of(r)
    assert requests.get(base + "/batches", headers={"Cookie": f'hadoop.auth="{value}"'}, timeout=30).status_code == 200
    forged = value.replace("u=alice", "u=admin")
    assert requests.get(base + "/batches", headers={"Cookie": f'hadoop.auth="{forged}"'}, timeout=30).status_code == 401
    garbage = base64.b64encode(b"\x60\x10not-a-real-spnego-token-at-all").decode()
    remember_secret(garbage)
    assert requests.get(base + "/batches", headers={"Authorization": f"Negotiate {garbage}"}, timeout=30).status_code == 401
    assert requests.get(base + "/batches", headers={"Authorization": f"Negotiate {token}"}, timeout=30).status_code == 401

    for k in keytab_keys(kdc, keytab):
        remember_secret(k)
    secrets = sorted(set(SECRETS), key=len, reverse=True)
    assert len(secrets) >= 8, secrets

    logs = {}
    for d in SERVER_LOG_DIRS:
        for f in d.glob("*"):
            if f.is_file():
                logs[str(f)] = f.read_text(errors="replace")
    text = "\n".join(logs.values())
    # The scan reads the right files: the rejections above were logged (without their values).
    assert "auth cookie ignored" in text and "SPNEGO: token rejected" in text, list(logs)
    assert re.search(r"livy-requests\.", " ".join(logs)), list(logs)

    for name, body in logs.items():
        for s in secrets:
            assert s not in body, f"a secret ({s[:6]}...) is in {name}"
        assert not re.search(r"Negotiate [A-Za-z0-9+/=]{12,}", body), name
        assert "hadoop.auth=" not in body and "&s=" not in body, name
    responses = "\n".join(RESPONSES)
    for s in secrets:
        assert s not in responses, f"a secret ({s[:6]}...) is in an API response"
