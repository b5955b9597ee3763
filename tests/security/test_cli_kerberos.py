"""The `livy` command-line client against a Kerberos-protected server with a real KDC: SPNEGO
from the user's ticket cache (--kerberos), the owner the server derives from the ticket,
impersonation with --proxy-user (allowed for a superuser, refused for others), and exit code 3
with a clear message when there is no ticket or no --kerberos."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Optional

import pytest

from conftest import RESPONSES, url_of
from pyharness.livy_server import default_binary


@pytest.fixture(scope="module")
def cli_bin() -> Path:
    path = Path(default_binary()).with_name("livy")
    assert path.is_file(), f"{path} missing: cargo build --release builds it"
    return path


def livy_cli(cli_bin: Path, kdc, ccache: Optional[Path], url: str, *args: str) -> subprocess.CompletedProcess:
    env = kdc.env(ccache=ccache, base={"PATH": "/usr/bin:/bin", "HOME": str(kdc.dir)})
    r = subprocess.run([str(cli_bin), "--url", url, *args], capture_output=True, text=True, timeout=60, env=env)
    RESPONSES.append(r.stdout)
    RESPONSES.append(r.stderr)
    return r


def test_cli_kerberos_submits_as_the_ticket_owner(cli_bin, kdc, ccaches, livy, job_dir):
    r = livy_cli(cli_bin, kdc, ccaches["alice"], url_of(livy), "--kerberos", "--output", "json",
                 "batches", "submit", str(job_dir / "job.py"))
    assert r.returncode == 0, r.stderr
    batch = json.loads(r.stdout)
    assert batch["owner"] == "alice" and batch["proxyUser"] == "alice", batch
    # The same user reads it back; another user sees it listed as Livy lists it (no log) and
    # may not delete it.
    r = livy_cli(cli_bin, kdc, ccaches["alice"], url_of(livy), "--kerberos", "--output", "json",
                 "batches", "status", str(batch["id"]))
    assert r.returncode == 0 and json.loads(r.stdout)["id"] == batch["id"], r.stderr
    r = livy_cli(cli_bin, kdc, ccaches["bob"], url_of(livy), "--kerberos", "--output", "json", "batches", "list")
    assert r.returncode == 0, r.stderr
    listed = [b for b in json.loads(r.stdout)["sessions"] if b["id"] == batch["id"]]
    assert listed and listed[0]["owner"] == "alice" and listed[0]["log"] == [], listed
    r = livy_cli(cli_bin, kdc, ccaches["bob"], url_of(livy), "--kerberos", "batches", "delete", str(batch["id"]))
    assert r.returncode == 3 and "does not have access" in r.stderr, (r.returncode, r.stderr)
    r = livy_cli(cli_bin, kdc, ccaches["alice"], url_of(livy), "--kerberos", "batches", "delete", str(batch["id"]))
    assert r.returncode == 0, r.stderr


def test_cli_proxy_user_for_a_superuser_and_refused_for_others(cli_bin, kdc, ccaches, livy, job_dir):
    r = livy_cli(cli_bin, kdc, ccaches["admin"], url_of(livy), "--kerberos", "--proxy-user", "bob",
                 "--output", "json", "batches", "submit", str(job_dir / "job.py"))
    assert r.returncode == 0, r.stderr
    batch = json.loads(r.stdout)
    assert batch["owner"] == "admin" and batch["proxyUser"] == "bob", batch

    r = livy_cli(cli_bin, kdc, ccaches["alice"], url_of(livy), "--kerberos", "--proxy-user", "bob",
                 "batches", "submit", str(job_dir / "job.py"))
    assert r.returncode == 3, (r.returncode, r.stdout, r.stderr)
    assert "impersonate" in r.stderr, r.stderr


def test_cli_without_a_ticket_or_without_kerberos_exits_3(cli_bin, kdc, ccaches, livy):
    r = livy_cli(cli_bin, kdc, None, url_of(livy), "--kerberos", "sessions", "list")
    assert r.returncode == 3, (r.returncode, r.stdout, r.stderr)
    assert "kerberos" in r.stderr.lower() or "ticket" in r.stderr.lower(), r.stderr
    assert r.stdout == ""
    r = livy_cli(cli_bin, kdc, ccaches["alice"], url_of(livy), "sessions", "list")
    assert r.returncode == 3, (r.returncode, r.stdout, r.stderr)
    assert "401" in r.stderr or "authentic" in r.stderr.lower(), r.stderr
