"""Start-up checks of TLS: a Livy JKS keystore is refused with the steps that turn it into PEM
(and those steps, followed literally, give a working HTTPS server); unusable certificate or key
files stop the server with a message naming them and never their contents."""

from __future__ import annotations

import re
import shlex
import subprocess

import pytest
import requests

from pyharness.livy_server import LivyServerError

STOREPASS = "jks-Secret-42"


def expect_start_failure(server) -> str:
    with pytest.raises(LivyServerError) as failed:
        server.start()
    assert server.returncode not in (None, 0)
    return str(failed.value)


@pytest.fixture
def jks(tmp_path):
    """A Java keystore as Livy admins have it: keytool's self-signed key pair for localhost."""
    ks = tmp_path / "livy-keystore.jks"
    out = subprocess.run(
        ["keytool", "-genkeypair", "-keystore", str(ks), "-storetype", "JKS", "-storepass", STOREPASS,
         "-keypass", STOREPASS, "-alias", "livy", "-keyalg", "RSA", "-keysize", "2048",
         "-dname", "CN=localhost", "-ext", "SAN=dns:localhost,ip:127.0.0.1", "-validity", "2"],
        capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return ks


def test_jks_keystore_is_refused_with_the_conversion_steps(livy_factory, jks, tmp_path):
    server = livy_factory(
        {"livy.keystore": str(jks), "livy.keystore.password": STOREPASS, "livy.key-password": STOREPASS},
        start=False,
    )
    output = expect_start_failure(server)
    assert "livy-rs does not read Java keystores" in output
    assert STOREPASS not in output

    # `livy-server validate` reports the same problem.
    out = subprocess.run(
        [str(server.binary), "validate"], env=server._env(), capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 1
    assert "livy-rs does not read Java keystores" in out.stderr
    assert STOREPASS not in out.stdout + out.stderr

    # Follow the printed commands (passwords supplied on the command line instead of the prompts).
    # (The message is in the output twice: the log line and the one on stderr.)
    commands = list(dict.fromkeys(
        line.strip() for line in output.splitlines() if re.match(r"\s*(keytool|openssl) ", line)))
    assert [c.split()[0] for c in commands] == ["keytool", "openssl", "openssl"], output
    extra = {
        "keytool": ["-srcstorepass", STOREPASS, "-deststorepass", STOREPASS, "-noprompt"],
        "openssl": ["-passin", f"pass:{STOREPASS}"],
    }
    for command in commands:
        argv = shlex.split(command)
        done = subprocess.run(argv + extra[argv[0]], cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"{command}: {done.stderr}"

    cert_key = re.search(r"(livy\.server\.tls\.certificate) = ", output)
    key_key = re.search(r"(livy\.server\.tls\.key) = ", output)
    assert cert_key and key_key, output
    fixed = livy_factory({
        "livy.server.tls.certificate": str(tmp_path / "livy-cert.pem"),
        "livy.server.tls.key": str(tmp_path / "livy-key.pem"),
    })
    # keytool's certificate is self-signed: trusting it directly is what its users do.
    resp = requests.get(fixed.url + "/version", verify=str(tmp_path / "livy-cert.pem"), timeout=30)
    assert resp.status_code == 200 and "version" in resp.json()


def test_certificate_without_key_is_refused(livy_factory, pki):
    output = expect_start_failure(livy_factory({"livy.server.tls.certificate": str(pki.cert)}, start=False))
    assert "needs both livy.server.tls.certificate" in output


def test_unreadable_and_mismatched_files_are_named_not_shown(livy_factory, pki, tmp_path):
    missing = tmp_path / "no-such-key.pem"
    output = expect_start_failure(livy_factory(
        {"livy.server.tls.certificate": str(pki.cert), "livy.server.tls.key": str(missing)}, start=False))
    assert f"cannot read {missing}" in output

    # The CA's key is not the server certificate's key.
    ca_key = pki.dir / "test-ca.key"
    output = expect_start_failure(livy_factory(
        {"livy.server.tls.certificate": str(pki.cert), "livy.server.tls.key": str(ca_key)}, start=False))
    assert f"the private key in {ca_key} does not belong to the first certificate in {pki.cert}" in output
    for line in ca_key.read_text().splitlines()[1:-1]:
        assert line not in output

    # Certificate and key swapped.
    output = expect_start_failure(livy_factory(
        {"livy.server.tls.certificate": str(pki.key), "livy.server.tls.key": str(pki.cert)}, start=False))
    assert f"{pki.key} holds no PEM certificate" in output
