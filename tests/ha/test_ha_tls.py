"""Active/active with TLS on the REST port: servers forward to each other over HTTPS and verify
the peer's certificate against the CAs the system trusts (here `SSL_CERT_FILE`); a peer whose
certificate no trusted CA signed is refused with a clear error, and nothing is sent to it in
plain text instead. Batches only (the shim spark-submit runs them as plain processes)."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from conftest import Service, build_service
from ha_helpers import owner_pid
from pyharness.pki import make_ca, server_cert
from pyharness.wait import wait_until


class TlsService(Service):
    """Servers 1 and 2 with certificates of the trusted CA, server 3 with one of another CA;
    every server trusts only the first CA."""

    def __init__(self, *args, pki: Path, **kw) -> None:
        self.pki = pki
        super().__init__(*args, **kw)

    def conf(self, **extra) -> dict:
        name = "untrusted" if self.count == 3 else "trusted"
        return super().conf(**{
            "livy.server.tls.certificate": str(self.pki / f"{name}.pem"),
            "livy.server.tls.key": str(self.pki / f"{name}.key"),
            **extra,
        })


@pytest.fixture(scope="module")
def tsvc(tmp_path_factory, livy_bin, real_spark, light_spark_conf):
    pki = tmp_path_factory.mktemp("ha-tls-pki")
    make_ca(pki, "site-ca")
    make_ca(pki, "rogue-ca")
    server_cert(pki, "site-ca", "trusted")
    server_cert(pki, "rogue-ca", "untrusted")
    (pki / "both.pem").write_text((pki / "site-ca.pem").read_text() + (pki / "rogue-ca.pem").read_text())
    svc = build_service(tmp_path_factory, "ha-tls", livy_bin, real_spark, light_spark_conf,
                        cls=TlsService, pki=pki)
    # The servers' system trust: the site CA alone.
    svc.env["SSL_CERT_FILE"] = str(pki / "site-ca.pem")
    try:
        yield svc.start()
    finally:
        svc.stop()


def get(tsvc, server, path: str):
    """A client that trusts both CAs (it is the servers' trust between each other under test)."""
    assert server.url.startswith("https://"), server.url
    return requests.get(server.url + path, verify=str(tsvc.pki / "both.pem"), timeout=60)


def batch_on(tsvc, server, name: str) -> int:
    body = {"file": str(tsvc.job), "name": name, "args": [name, "60"]}
    r = requests.post(server.url + "/batches", json=body, verify=str(tsvc.pki / "both.pem"), timeout=60)
    assert r.status_code == 201, r.text
    bid = r.json()["id"]
    assert owner_pid(tsvc, "batch", bid) == server.pid
    return bid


def test_servers_forward_over_https_and_refuse_a_peer_they_do_not_trust(tsvc):
    first, second, rogue = tsvc.servers
    for s in tsvc.servers:
        assert s.wait_for_log(r"joined the active-active service.*https://", timeout=10)
    # Owned by the first server, asked through the second: forwarded over verified HTTPS.
    bid = batch_on(tsvc, first, "tls-trusted")
    wait_until(lambda: get(tsvc, first, f"/batches/{bid}").json()["state"] == "running",
               timeout=60, what="the batch running")
    direct = get(tsvc, first, f"/batches/{bid}/log")
    forwarded = get(tsvc, second, f"/batches/{bid}/log")
    assert forwarded.status_code == 200, forwarded.text
    assert forwarded.json()["log"][:1] == direct.json()["log"][:1], (direct.text, forwarded.text)
    assert requests.delete(second.url + f"/batches/{bid}", verify=str(tsvc.pki / "both.pem"),
                           timeout=60).status_code == 200

    # Owned by the server whose certificate the others do not trust: asking another server for
    # it fails at once with a clear message, and nothing else reached the owner.
    bid = batch_on(tsvc, rogue, "tls-rogue")
    handled = len(rogue.log_lines())
    for via in (first, second):
        r = get(tsvc, via, f"/batches/{bid}")
        assert r.status_code == 503, r.text
        assert "TLS certificate this server does not trust" in r.json()["msg"], r.text
        assert via.wait_for_log(r"TLS certificate is not trusted.*UnknownIssuer", timeout=10)
    assert get(tsvc, rogue, f"/batches/{bid}").json()["name"] == "tls-rogue"
    assert not [line for line in rogue.log_lines()[handled:] if "forward" in line.lower()], \
        rogue.log_lines()[handled:]
    requests.delete(rogue.url + f"/batches/{bid}", verify=str(tsvc.pki / "both.pem"), timeout=60)
