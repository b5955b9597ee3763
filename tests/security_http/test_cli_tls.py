"""The `livy` command-line client over TLS: it trusts the CA given with --ca-file, refuses a
server whose certificate it cannot verify (exit code 3, a message naming TLS), and submits a
batch that runs with real Spark."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from test_tls import tls_livy  # noqa: F401  (fixture: the TLS server of this suite)


@pytest.fixture(scope="module")
def cli_bin(livy_bin) -> Path:
    path = Path(livy_bin).with_name("livy")
    assert path.is_file(), f"{path} missing: cargo build --release builds it"
    return path


def livy_cli(cli_bin: Path, url: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    # No LIVY_URL or proxy from the caller's environment: only what the test passes.
    env = {"PATH": "/usr/bin:/bin", "HOME": str(Path(cli_bin).parent)}
    return subprocess.run([str(cli_bin), "--url", url, *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def test_cli_with_the_ca_file_lists_over_https(cli_bin, tls_livy, pki):  # noqa: F811
    r = livy_cli(cli_bin, tls_livy.url, "--ca-file", str(pki.ca), "--output", "json", "sessions", "list")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["sessions"] == []


def test_cli_refuses_a_server_it_cannot_verify(cli_bin, tls_livy, pki):  # noqa: F811
    for extra in ([], ["--ca-file", str(pki.other_ca)]):
        r = livy_cli(cli_bin, tls_livy.url, *extra, "sessions", "list")
        assert r.returncode == 3, (extra, r.returncode, r.stdout, r.stderr)
        assert "certificate" in r.stderr.lower() or "tls" in r.stderr.lower(), r.stderr
        assert r.stdout == ""


def test_cli_bad_ca_file_is_a_clear_error(cli_bin, tls_livy, tmp_path):  # noqa: F811
    bogus = tmp_path / "bogus.pem"
    bogus.write_text("not a certificate\n")
    for path in (bogus, tmp_path / "missing.pem"):
        r = livy_cli(cli_bin, tls_livy.url, "--ca-file", str(path), "sessions", "list")
        assert r.returncode in (2, 3), (path, r.returncode, r.stderr)
        assert str(path.name) in r.stderr, r.stderr


def test_cli_submits_a_batch_over_tls_and_waits_for_it(cli_bin, tls_livy, pki, work_dir):  # noqa: F811
    r = livy_cli(cli_bin, tls_livy.url, "--ca-file", str(pki.ca),
                 "batches", "submit", str(work_dir / "count.py"), "--wait", timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    # The batch's own output, followed over https while it ran.
    assert "LIVY_RS_COUNT=321" in r.stdout.splitlines(), r.stdout
