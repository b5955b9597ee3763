"""CSRF protection and security headers on a plain-HTTP server, as Livy's CsrfFilter and
SecurityHeadersFilter behave."""

from __future__ import annotations

import re
from urllib.parse import urljoin

import requests

CSRF_MSG = {"msg": "Missing Required Header for CSRF protection."}
LIVY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "SAMEORIGIN",
    "X-XSS-Protection": "1; mode=block",
    "Content-Security-Policy": "default-src 'self'; script-src 'self' 'unsafe-inline'; img-src 'self'; frame-src 'self';",
}


def batch_body(work_dir) -> dict:
    return {"file": str(work_dir / "count.py"), "conf": {"spark.ui.enabled": "false"}}


def test_csrf_on_refuses_posts_and_deletes_without_the_header(livy_factory, work_dir):
    livy = livy_factory({"livy.server.csrf-protection.enabled": "true"})
    livy.wait_for_log("CSRF protection is enabled")

    resp = requests.post(livy.url + "/batches", json=batch_body(work_dir), timeout=30)
    assert (resp.status_code, resp.json()) == (400, CSRF_MSG)
    assert requests.get(livy.url + "/batches", timeout=30).json()["total"] == 0

    resp = requests.post(livy.url + "/batches", json=batch_body(work_dir),
                         headers={"X-Requested-By": "admin"}, timeout=30)
    assert resp.status_code == 201, resp.text
    batch_id = resp.json()["id"]

    resp = requests.delete(f"{livy.url}/batches/{batch_id}", timeout=30)
    assert (resp.status_code, resp.json()) == (400, CSRF_MSG)
    assert requests.get(f"{livy.url}/batches/{batch_id}", timeout=30).status_code == 200

    resp = requests.delete(f"{livy.url}/batches/{batch_id}", headers={"X-Requested-By": "admin"}, timeout=30)
    assert resp.status_code == 200, resp.text
    assert requests.get(f"{livy.url}/batches/{batch_id}", timeout=30).status_code == 404

    # Reads need no header; the UI and unknown routes are behind the same check.
    assert requests.get(livy.url + "/sessions", timeout=30).status_code == 200
    assert requests.head(livy.url + "/version", timeout=30).status_code == 200
    resp = requests.post(livy.url + "/no/such/route", timeout=30)
    assert (resp.status_code, resp.json()) == (400, CSRF_MSG)


def test_csrf_off_accepts_posts_without_the_header(livy_factory, work_dir):
    livy = livy_factory()
    resp = requests.post(livy.url + "/batches", json=batch_body(work_dir), timeout=30)
    assert resp.status_code == 201, resp.text
    resp = requests.delete(f"{livy.url}/batches/{resp.json()['id']}", timeout=30)
    assert resp.status_code == 200


def test_security_headers_by_default_without_hsts_on_plain_http(livy_factory):
    livy = livy_factory()
    for path in ("/version", "/sessions", "/ui", "/no/such/route", "/batches/99"):
        resp = requests.get(livy.url + path, timeout=30)
        # The web UI sends its own, stricter policy and frame rule (tests/integration/ui.rs); the rest are Livy's.
        ui_own = ("Content-Security-Policy", "X-Frame-Options") if path == "/ui" else ()
        for name, value in LIVY_HEADERS.items():
            if name not in ui_own:
                assert resp.headers.get(name) == value, (path, name, dict(resp.headers))
        assert "Strict-Transport-Security" not in resp.headers, path


def test_security_headers_follow_livy_conf(livy_factory):
    livy = livy_factory({
        "livy.server.http.header.X-Frame-Options": "DENY",
        "livy.server.http.header.Content-Security-Policy": "",
    })
    resp = requests.get(livy.url + "/version", timeout=30)
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert "Content-Security-Policy" not in resp.headers
    assert resp.headers["X-Content-Type-Options"] == "nosniff"

    off = livy_factory({"livy.server.security-headers.enabled": "false"})
    resp = requests.get(off.url + "/version", timeout=30)
    assert resp.status_code == 200
    for name in [*LIVY_HEADERS, "Strict-Transport-Security"]:
        assert name not in resp.headers, name


def test_ui_page_works_under_its_strict_content_security_policy(livy_factory):
    """The UI's policy forbids inline script and style: the page links its files instead."""
    livy = livy_factory()
    page = requests.get(livy.url + "/ui", timeout=30)
    assert page.status_code == 200 and "<style" not in page.text and "<script>" not in page.text
    assert page.headers["Content-Security-Policy"].startswith("default-src 'none'; script-src 'self'; style-src 'self'")
    href = re.search(r'<link rel="stylesheet" href="([^"]+)"', page.text).group(1)
    css = requests.get(urljoin(page.url, href), timeout=30)
    assert css.status_code == 200 and css.headers["Content-Type"].startswith("text/css")
    assert "font-family" in css.text
