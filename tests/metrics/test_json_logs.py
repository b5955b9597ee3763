"""livy.server.log.format = json: every server log line is JSON; a request's id (X-Request-Id)
is in its access log line and in the server's lines written while it was handled; a hostile
request id is replaced, never echoed."""

from __future__ import annotations

import json
import re
import socket
from urllib.parse import urlparse

from pyharness.wait import wait_until
from session_helpers import header

GENERATED = re.compile(r"^[0-9a-f]{16}$")


def server_lines(livy):
    lines = [line for line in livy.log_lines() if line.strip()]
    parsed = []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except ValueError:
            raise AssertionError(f"a server log line is not JSON: {line!r}")
    return parsed


def access_lines(livy):
    text = "".join(p.read_text() for p in sorted(livy.log_dir.glob("livy-requests*")))
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_every_line_is_json_and_request_ids_join_access_and_server_logs(spark_livy):
    livy, ids = spark_livy
    # A client's sane id is kept; DELETE logs the session's state change while it is handled.
    status, body, headers = livy.call("POST", "/sessions", {"kind": "pyspark"},
                                      headers={"X-Request-Id": "client-id-42"})
    assert status == 201, body
    assert header(headers, "X-Request-Id") == "client-id-42"
    status, _, headers = livy.call("DELETE", f"/sessions/{body['id']}")
    assert status == 200
    delete_id = header(headers, "X-Request-Id")
    assert GENERATED.match(delete_id), delete_id

    lines = server_lines(livy)
    assert len(lines) > 10
    in_span = [line for line in lines if (line.get("span") or {}).get("request_id") == delete_id]
    assert in_span, "no server log line carries the DELETE's request id"
    assert any("session" in json.dumps(line.get("fields", {})) for line in in_span), in_span
    # The request log is written by a background writer: poll for the lines.
    deletes = wait_until(lambda: [a for a in access_lines(livy) if a["request_id"] == delete_id],
                         10, "the DELETE's access line")
    assert len(deletes) == 1 and deletes[0]["method"] == "DELETE", deletes
    assert any(a["request_id"] == "client-id-42" and a["status"] == 201 for a in access_lines(livy))


def raw_get(livy, header_line: bytes) -> bytes:
    """A GET /version with one raw header line, read to the end of the answer."""
    u = urlparse(livy.url)
    with socket.create_connection((u.hostname, u.port), timeout=30) as s:
        s.sendall(b"GET /version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + header_line + b"\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return data
            data += chunk


def test_hostile_request_ids_are_replaced(spark_livy):
    livy, _ = spark_livy
    hostile = [
        'quote"d id',
        "x" * 10_000,
        "<script>alert(1)</script>",
        "a,b",
    ]
    for bad in hostile:
        status, _, headers = livy.call("GET", "/version", headers={"X-Request-Id": bad})
        assert status == 200
        got = header(headers, "X-Request-Id")
        assert got != bad and GENERATED.match(got), (bad[:40], got)
    # A folded (multi-line) header value: refused by the HTTP parser or replaced, never echoed.
    answer = raw_get(livy, b"X-Request-Id: first\r\n injected-line")
    assert b"injected-line" not in answer
    head = answer.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    ids = re.findall(r"(?im)^x-request-id: (.*)$", head)
    assert all(GENERATED.match(i.strip()) for i in ids), head
    text = "\n".join(livy.log_lines()) + json.dumps(access_lines(livy))
    for bad in hostile + ["injected-line"]:
        assert bad not in text, bad[:40]
