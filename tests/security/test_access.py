"""Impersonation and access control with Kerberos-authenticated users, as Livy's AccessManager
and session servlets do it: superusers, proxyUser and doAs (doAs wins), `--proxy-user` on the
spark-submit command line, view/modify ACLs, the log hidden from non-viewers, allowed users.

Users (conftest.py): admin is the superuser, auditor a view-user; alice, bob, carol are allowed;
mallory is not. The server's spark-submit is a fake that prints its argv, so a batch's log shows
the exact command line."""

from __future__ import annotations

from typing import List

import requests
from requests_gssapi import OPTIONAL, HTTPSPNEGOAuth

from conftest import RESPONSES, remember_secret, url_of
from pyharness.wait import wait_until

TIMEOUT = 30


class As:
    """A user's requests.Session: negotiates once, then uses the cookie."""

    def __init__(self, base: str, ccache):
        import gssapi

        self.base = base
        self.s = requests.Session()
        creds = gssapi.Credentials(usage="initiate", store={"ccache": f"FILE:{ccache}"})
        self.s.auth = HTTPSPNEGOAuth(creds=creds, target_name="HTTP@localhost", mutual_authentication=OPTIONAL)

    def req(self, method: str, path: str, **kw) -> requests.Response:
        r = self.s.request(method, self.base + path, timeout=TIMEOUT, **kw)
        RESPONSES.append(r.text)
        for value in self.s.cookies.get_dict().values():
            remember_secret(value.strip('"'))
            remember_secret(value.strip('"').rsplit("&s=", 1)[-1])
        return r


def users(livy, ccaches):
    base = url_of(livy)
    return {name: As(base, ccaches[name]) for name in ("alice", "bob", "admin", "auditor", "mallory")}


def argv_of(user: As, batch_id: int) -> List[str]:
    """The spark-submit arguments, from the batch's log, once the fake spark-submit has run."""

    def finished():
        r = user.req("GET", f"/batches/{batch_id}")
        return r.json() if r.json()["state"] in ("success", "dead", "error") else None

    wait_until(finished, timeout=30, what=f"batch {batch_id} to finish")
    log = user.req("GET", f"/batches/{batch_id}/log", params={"size": -1}).json()["log"]
    return [line.split("FAKE-SUBMIT-ARG: ", 1)[1] for line in log if "FAKE-SUBMIT-ARG: " in line]


def proxy_user_arg(argv: List[str]):
    return argv[argv.index("--proxy-user") + 1] if "--proxy-user" in argv else None


def test_non_superuser_cannot_impersonate(livy, ccaches, job_dir):
    u = users(livy, ccaches)
    r = u["bob"].req("POST", "/batches", json={"file": str(job_dir / "job.py"), "proxyUser": "alice"})
    assert r.status_code == 403, r.text
    assert r.json() == {"msg": "User 'bob' not allowed to impersonate 'alice'."}
    # doAs on any endpoint is checked the same way.
    r = u["bob"].req("GET", "/batches", params={"doAs": "alice"})
    assert r.status_code == 403 and r.json() == {"msg": "User 'bob' not allowed to impersonate 'alice'."}
    # Nothing was created.
    assert all(b["owner"] != "bob" for b in u["admin"].req("GET", "/batches").json()["sessions"])


def test_superuser_impersonates_and_spark_submit_gets_proxy_user(livy, ccaches, job_dir):
    u = users(livy, ccaches)
    r = u["admin"].req("POST", "/batches", json={"file": str(job_dir / "job.py"), "proxyUser": "bob"})
    assert r.status_code == 201, r.text
    b = r.json()
    assert (b["owner"], b["proxyUser"]) == ("admin", "bob")
    assert proxy_user_arg(argv_of(u["admin"], b["id"])) == "bob"
    # The impersonated user may see the batch it runs as.
    assert u["bob"].req("GET", f"/batches/{b['id']}/log").status_code == 200


def test_do_as_wins_over_proxy_user(livy, ccaches, job_dir):
    u = users(livy, ccaches)
    r = u["admin"].req(
        "POST", "/batches", params={"doAs": "carol"}, json={"file": str(job_dir / "job.py"), "proxyUser": "bob"}
    )
    assert r.status_code == 201, r.text
    assert (r.json()["owner"], r.json()["proxyUser"]) == ("admin", "carol")
    assert proxy_user_arg(argv_of(u["admin"], r.json()["id"])) == "carol"


def test_own_batch_runs_as_the_caller(livy, ccaches, job_dir):
    u = users(livy, ccaches)
    r = u["alice"].req("POST", "/batches", json={"file": str(job_dir / "job.py")})
    assert (r.json()["owner"], r.json()["proxyUser"]) == ("alice", "alice")
    assert proxy_user_arg(argv_of(u["alice"], r.json()["id"])) == "alice"


def test_view_and_modify_acls_on_batches(livy, ccaches, job_dir):
    u = users(livy, ccaches)
    r = u["alice"].req("POST", "/batches", json={"file": str(job_dir / "job.py")})
    bid = r.json()["id"]
    argv_of(u["alice"], bid)  # finished, log filled
    own = u["alice"].req("GET", f"/batches/{bid}").json()
    assert own["log"], own

    # bob: not the owner, not a view-user.
    assert u["bob"].req("GET", f"/batches/{bid}/log").status_code == 403
    seen = u["bob"].req("GET", f"/batches/{bid}")
    assert seen.status_code == 200 and seen.json()["log"] == [] and seen.json()["owner"] == "alice"
    listed = [b for b in u["bob"].req("GET", "/batches").json()["sessions"] if b["id"] == bid]
    assert listed and listed[0]["log"] == []
    assert u["bob"].req("GET", f"/batches/{bid}/state").status_code == 200
    r = u["bob"].req("DELETE", f"/batches/{bid}")
    assert r.status_code == 403 and "does not have access" in r.json()["msg"]

    # auditor: a view-user sees the log but cannot delete.
    assert u["auditor"].req("GET", f"/batches/{bid}/log").json()["log"]
    assert u["auditor"].req("GET", f"/batches/{bid}").json()["log"]
    assert u["auditor"].req("DELETE", f"/batches/{bid}").status_code == 403

    # A superuser may act as the owner through doAs, and delete.
    assert u["admin"].req("GET", f"/batches/{bid}/log", params={"doAs": "alice"}).status_code == 200
    assert u["admin"].req("DELETE", f"/batches/{bid}").json() == {"msg": "deleted"}


def test_view_and_modify_acls_on_sessions(livy, ccaches):
    """A session whose (fake) spark-submit exits stays listed; its ACLs apply to every route."""
    u = users(livy, ccaches)
    r = u["alice"].req("POST", "/sessions", json={"kind": "pyspark"})
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    assert (r.json()["owner"], r.json()["proxyUser"]) == ("alice", "alice")
    for method, path, body in [
        ("GET", f"/sessions/{sid}/log", None),
        ("GET", f"/sessions/{sid}/statements", None),
        ("POST", f"/sessions/{sid}/statements", {"code": "1 + 1"}),
        ("POST", f"/sessions/{sid}/completion", {"code": "sp", "kind": "pyspark", "cursor": 2}),
        ("DELETE", f"/sessions/{sid}", None),
    ]:
        r = u["bob"].req(method, path, json=body)
        assert r.status_code == 403, (method, path, r.status_code, r.text)
    seen = u["bob"].req("GET", f"/sessions/{sid}").json()
    assert seen["owner"] == "alice" and seen["log"] == []
    assert u["auditor"].req("GET", f"/sessions/{sid}/log").status_code == 200
    assert u["auditor"].req("POST", f"/sessions/{sid}/statements", json={"code": "1"}).status_code == 403
    assert u["alice"].req("DELETE", f"/sessions/{sid}").json() == {"msg": "deleted"}


def test_users_not_allowed_are_refused_everywhere(livy, ccaches):
    u = users(livy, ccaches)
    for path in ("/sessions", "/batches", "/version", "/ui"):
        r = u["mallory"].req("GET", path)
        assert r.status_code == 403, (path, r.status_code)
        assert r.json() == {"msg": "User not authorised to use Livy."}


def test_the_ui_page_lists_only_what_the_caller_may_view(livy, ccaches, job_dir):
    u = users(livy, ccaches)
    r = u["alice"].req("POST", "/batches", json={"file": str(job_dir / "job.py"), "name": "alice-private-ui"})
    assert r.status_code == 201, r.text
    bid = r.json()["id"]
    # The UI's pages read /ui/api (tests/ui drives them in Chromium): only what the caller may view.
    mine = u["alice"].req("GET", "/ui/api/batches")
    assert mine.status_code == 200 and "alice-private-ui" in mine.text
    other = u["bob"].req("GET", "/ui/api/batches")
    assert other.status_code == 200 and "alice-private-ui" not in other.text, other.text
    assert "alice-private-ui" in u["auditor"].req("GET", "/ui/api/batches").text  # a view-user sees all
    u["alice"].req("DELETE", f"/batches/{bid}")


def test_a_forbidden_do_as_is_refused_on_every_route_in_every_spelling(livy, ccaches, job_dir):
    """bob may not act as alice: every route answers Livy's 403 (lists too, even when empty or
    unreadable per item), whatever the spelling of the parameter, and nothing changes."""
    u = users(livy, ccaches)
    r = u["alice"].req("POST", "/sessions", json={"kind": "pyspark"})
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    r = u["alice"].req("POST", "/batches", json={"file": str(job_dir / "job.py")})
    assert r.status_code == 201, r.text
    bid = r.json()["id"]
    sessions_before = u["admin"].req("GET", "/sessions").json()["total"]
    batches_before = u["admin"].req("GET", "/batches").json()["total"]
    routes = [
        ("GET", "/sessions", None),
        ("GET", "/batches", None),
        ("GET", f"/sessions/{sid}", None),
        ("GET", f"/sessions/{sid}/state", None),
        ("GET", f"/sessions/{sid}/log", None),
        ("GET", f"/sessions/{sid}/statements", None),
        ("GET", f"/sessions/{sid}/statements/0", None),
        ("GET", f"/batches/{bid}", None),
        ("GET", f"/batches/{bid}/state", None),
        ("GET", f"/batches/{bid}/log", None),
        ("POST", "/sessions", {"kind": "pyspark"}),
        ("POST", "/batches", {"file": str(job_dir / "job.py")}),
        ("POST", f"/sessions/{sid}/statements", {"code": "1 + 1"}),
        ("POST", f"/sessions/{sid}/statements/0/cancel", None),
        ("POST", f"/sessions/{sid}/jobs/1/cancel", None),
        ("DELETE", f"/sessions/{sid}", None),
        ("DELETE", f"/batches/{bid}", None),
    ]
    forbidden = {"msg": "User 'bob' not allowed to impersonate 'alice'."}
    for query in ("doAs=alice", "doas=alice", "DOAS=alice", "do%41s=%61lice", "doAs=alice&doAs=alice"):
        for method, path, body in routes:
            r = u["bob"].req(method, f"{path}?{query}", json=body)
            assert (r.status_code, r.json()) == (403, forbidden), (query, method, path, r.text)
    # Two different users in one request: refused, whichever a proxy in front checked.
    for query in ("doAs=bob&doAs=alice", "doAs=bob&doas=alice"):
        for method, path, body in routes:
            r = u["bob"].req(method, f"{path}?{query}", json=body)
            assert r.status_code == 400 and "more than once" in r.json()["msg"], (query, method, path, r.text)
    # Nothing was created or deleted.
    assert u["admin"].req("GET", "/sessions").json()["total"] == sessions_before
    assert u["admin"].req("GET", "/batches").json()["total"] == batches_before
    assert u["alice"].req("GET", f"/sessions/{sid}").status_code == 200
    assert u["alice"].req("GET", f"/batches/{bid}").status_code == 200
    # Acting as oneself, and a superuser acting as alice, still work.
    assert u["bob"].req("GET", "/sessions", params={"doAs": "bob"}).status_code == 200
    assert u["admin"].req("GET", f"/sessions/{sid}/log", params={"doas": "alice"}).status_code == 200
    assert u["alice"].req("DELETE", f"/sessions/{sid}").json() == {"msg": "deleted"}
