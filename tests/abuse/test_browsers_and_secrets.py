"""What a page on another site can make a logged-in user's browser send (issue 9 item 3), and
secrets in conf values (item 4): refused or redacted, while clients that are not browsers (no
Origin, no Content-Type at all) keep working."""

from __future__ import annotations

import uuid

import pytest

from abuse_helpers import (ANSWER_DEADLINE, assert_msg, assert_serves, batch_total, raw_request,
                           request_bytes)
from pyharness.wait import wait_until

EVIL = "http://evil.example"


def post_batch(livy, layout, headers, body=None):
    body = body if body is not None else ('{"file": "%s"}' % layout.job).encode()
    return raw_request(livy, request_bytes("POST", "/batches", headers, body), timeout=ANSWER_DEADLINE)


@pytest.mark.parametrize("what,headers,status", [
    ("an Origin of another site", {"Origin": EVIL, "Content-Type": "application/json"}, 403),
    ("Origin null (sandboxed frame)", {"Origin": "null", "Content-Type": "application/json"}, 403),
    ("Sec-Fetch-Site: cross-site", {"Sec-Fetch-Site": "cross-site", "Content-Type": "application/json"}, 403),
    ("a form body", {"Content-Type": "application/x-www-form-urlencoded"}, 415),
    ("a text/plain body", {"Content-Type": "text/plain"}, 415),
    ("a multipart body", {"Content-Type": "multipart/form-data; boundary=x"}, 415),
])
def test_a_cross_site_post_is_refused_with_nothing_created(livy, layout, what, headers, status):
    before, launches = batch_total(livy), layout.launches()
    answer = post_batch(livy, layout, headers)
    assert_msg(answer.status, answer.json(), status)
    assert batch_total(livy) == before, f"{what} created a batch"
    assert layout.launches() == launches
    assert_serves(livy)


def test_a_cross_site_delete_is_refused_and_the_batch_stays(livy, layout):
    answer = post_batch(livy, layout, {"Content-Type": "application/json"})
    assert answer.status == 201, answer
    batch = answer.json()["id"]
    refused = raw_request(livy, request_bytes("DELETE", f"/batches/{batch}", {"Origin": EVIL}))
    assert_msg(refused.status, refused.json(), 403)
    assert livy.call("GET", f"/batches/{batch}")[0] == 200
    assert livy.call("DELETE", f"/batches/{batch}")[0] == 200
    assert_serves(livy)


@pytest.mark.parametrize("what,headers", [
    ("no Origin and no Content-Type (curl --data-binary, scripts)", {}),
    ("the server's own Origin", {"Origin": "{own}", "Content-Type": "application/json"}),
    ("Sec-Fetch-Site: same-origin", {"Sec-Fetch-Site": "same-origin", "Content-Type": "application/json"}),
    ("JSON with a charset", {"Content-Type": "application/json; charset=utf-8"}),
])
def test_clients_that_are_not_cross_site_keep_working(livy, layout, what, headers):
    headers = {k: v.format(own=f"http://{livy.host}:{livy.port}") for k, v in headers.items()}
    answer = raw_request(livy, request_bytes("POST", "/batches", {**headers, "Host": f"{livy.host}:{livy.port}"},
                                             ('{"file": "%s"}' % layout.job).encode()))
    assert answer.status == 201, f"{what}: {answer.status} {answer.body[:300]!r}"
    assert livy.call("DELETE", f"/batches/{answer.json()['id']}")[0] == 200
    assert_serves(livy)


# --------------------------------------------------------------------------- secrets


def test_secret_conf_values_never_come_back(livy, layout):
    """Keys matching Spark's default redaction rule; the fake spark-submit prints its command
    line (as spark-submit --verbose does), so the secrets reach the batch's output."""
    unique = uuid.uuid4().hex[:10]
    secrets = {"spark.my.password": f"pw-{unique}", "spark.hadoop.fs.s3a.access.key": f"ak-{unique}",
               "spark.authenticate.secret": f"sc-{unique}", "spark.some.token": f"tk-{unique}"}
    status, batch, _ = livy.call("POST", "/batches", {"file": layout.job, "conf": secrets})
    assert status == 201, batch
    status, session, _ = livy.call("POST", "/sessions", {"kind": "pyspark", "conf": secrets})
    assert status == 201, session
    wait_until(lambda: layout.submits.read_text(encoding="utf-8").count(f"pw-{unique}") == 2,
               timeout=20, what="both spark-submits to get the secrets (they must reach Spark)")

    def batch_log_has_output():
        log = livy.call("GET", f"/batches/{batch['id']}/log")[1]
        return any("fake spark-submit" in line for line in log.get("log", []))

    wait_until(batch_log_has_output, timeout=20, what="the batch's spark-submit output in /log")
    seen = {}
    for path in (f"/batches/{batch['id']}", f"/batches/{batch['id']}/log", "/batches",
                 f"/sessions/{session['id']}", f"/sessions/{session['id']}/log", "/sessions", "/ui", "/",
                 "/ui/api/sessions", "/ui/api/batches", f"/ui/api/sessions/{session['id']}",
                 f"/ui/api/sessions/{session['id']}/log", f"/ui/api/batches/{batch['id']}/log"):
        status, body, _ = livy.call("GET", path, headers={"Accept": "*/*"})
        assert status == 200, (path, body)
        seen[path] = str(body)
    seen["server log"] = livy.log_text()
    seen.update({str(p): p.read_text(errors="replace") for p in livy.log_dir.rglob("*") if p.is_file()})
    leaks = [(where, v) for where, text in seen.items() for v in secrets.values() if v in text]
    assert not leaks, f"secrets shown: {leaks}"
    assert "redacted" in seen[f"/batches/{batch['id']}/log"], "the output line lost its redaction mark"
    for path in (f"/batches/{batch['id']}", f"/sessions/{session['id']}"):
        livy.call("DELETE", path)
    assert_serves(livy)

