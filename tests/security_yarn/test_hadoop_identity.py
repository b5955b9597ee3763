"""The server logs in from its launch keytab into a private ccache, talks SPNEGO to the RM as
that principal (doAs the proxy user where it acts for one), hands the ccache to spark-submit,
renews the ticket before it ends, and survives a keytab that does not work."""
from __future__ import annotations

import json
import time
import urllib.request

import pytest

from conftest import (CLOCKSKEW, REALM, SHIM_HOME, LivyServer, assert_no_secrets, fake_spark_home, secure_conf,
                      secure_env, wait_until)

LIVY = f"livy/localhost@{REALM}"


def batch(livy, bid):
    st, body, _ = livy.call("GET", f"/batches/{bid}")
    assert st == 200, (st, body)
    return body


def batch_log(livy, bid):
    st, body, _ = livy.call("GET", f"/batches/{bid}/log?size=-1")
    assert st == 200, (st, body)
    return "\n".join(body["log"])


def test_batch_with_impersonation_on_a_kerberized_cluster(kdc, emu, tmp_path, real_spark):
    keytab = kdc.add_service("livy/localhost")
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    job = jobs / "sleepy.py"
    job.write_text("import time\ntime.sleep(300)\n")
    env = secure_env(kdc, emu, SHIM_HOME, LIVY_RS_REAL_SPARK_HOME=real_spark["SPARK_HOME"],
                     PYSPARK_PYTHON=real_spark.get("PYSPARK_PYTHON"), LIVY_RS_SHIM_RUNNING_WHEN="spawn",
                     LIVY_LOG="debug")
    conf = secure_conf(jobs, LIVY, keytab, **{"livy.impersonation.enabled": "true"})
    with LivyServer(conf, env=env) as livy:
        # Authentication is off in livy.conf, so Livy lets the request name any proxyUser.
        st, body, _ = livy.call("POST", "/batches", {"file": str(job), "proxyUser": "bob"})
        assert st == 201, (st, body)
        bid = body["id"]
        assert body["proxyUser"] == "bob"
        b = wait_until(lambda: (lambda b: b if b["appId"] and b["state"] == "running" else None)(batch(livy, bid)),
                       timeout=180, what="the batch running on YARN")
        app_id = b["appId"]
        assert emu.apps[app_id].user == "bob"

        log = emu.request_log()
        # spark-submit got the server's ticket (KRB5CCNAME) and was asked to act for bob.
        shim = [r for r in log if r.get("agent") == "spark-submit-shim"]
        assert shim, log[-5:]
        assert (shim[-1]["principal"], shim[-1]["doAs"], shim[-1]["status"]) == (LIVY, "bob", 200)
        # The server's own RM calls: SPNEGO as its principal once, then the hadoop.auth cookie on
        # the following monitor ticks (the app may be RUNNING by the first one, so wait for more).
        def own_calls():
            return [r for r in emu.request_log() if r["server"] == "rm1" and r.get("agent") != "spark-submit-shim"
                    and r["path"].startswith("/ws/v1/cluster/apps")]

        own = wait_until(lambda: (lambda o: o if any(r["auth"] == "cookie" for r in o) else None)(own_calls()),
                         timeout=30, what="a monitor request authenticated by the hadoop.auth cookie")
        # One RM client serves the monitor, the admission check and the submitter: its SPNEGO
        # round may be any of theirs (e.g. the admission check's), the cookie then serves all.
        every = [r for r in emu.request_log() if r["server"] == "rm1" and r.get("agent") != "spark-submit-shim"
                 and r["path"].startswith("/ws/v1/cluster")]
        assert any(r["auth"] == "negotiate" and r["principal"] == LIVY and r["status"] == 200 for r in every), every[:3]
        cookie = [r for r in own if r["auth"] == "cookie"]
        assert all(r["principal"] == LIVY and r["status"] == 200 for r in cookie), cookie
        assert not [r for r in own if r["status"] == 401]

        st, body, _ = livy.call("DELETE", f"/batches/{bid}")
        assert st == 200, (st, body)
        wait_until(lambda: emu.apps[app_id].state == "KILLED", timeout=30, what="the app killed")
        kills = [r for r in emu.request_log() if r["method"] == "PUT" and r["path"] == f"/ws/v1/cluster/apps/{app_id}/state"]
        assert kills, "DELETE must kill the YARN application"
        assert all(r["doAs"] == "bob" and r["principal"] == LIVY and r["user"] == "bob" for r in kills), kills
        server_log = livy.log_text()
    assert_no_secrets(server_log, keytab, emu)


def test_an_expired_ticket_is_renewed_without_a_restart(kdc, emu, tmp_path):
    lifetime = 20
    kdc.add_principal("livyshort/localhost", extra=f'-maxlife "{lifetime} seconds"')
    keytab = kdc.keytab("livyshort/localhost")
    principal = f"livyshort/localhost@{REALM}"
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    (jobs / "job.py").write_text("print('never runs: the fake spark-submit submits nothing')\n")
    env = secure_env(kdc, emu, fake_spark_home(tmp_path), FAKE_SUBMIT_LOG=str(tmp_path / "submits.log"))
    conf = secure_conf(jobs, principal, keytab, **{
        "livy.server.launch.kerberos.refresh-interval": "1h",
        # The app never appears: the monitor keeps asking the RM about it meanwhile.
        "livy.server.yarn.app-lookup-timeout": "300s",
    })
    with LivyServer(conf, env=env) as livy:
        started = time.monotonic()
        pid = livy.proc.pid
        # MIT's gss_acquire_cred_from may ask the KDC twice for one login; count from here.
        logins_at_start = kdc.as_requests(principal)
        assert logins_at_start >= 1
        st, body, _ = livy.call("POST", "/batches", {"file": str(jobs / "job.py")})
        assert st == 201, (st, body)
        wait_until((tmp_path / "submits.log").exists, timeout=20, what="spark-submit to run")
        submitted = json.loads((tmp_path / "submits.log").read_text().splitlines()[0])
        assert submitted["KRB5CCNAME"].startswith("FILE:") and "no-ccache" not in submitted["KRB5CCNAME"]

        wait_until(lambda: any(r["principal"] == principal and r["status"] == 200 for r in emu.request_log()),
                   timeout=20, what="the monitor authenticated to the RM")
        # Renewed before the ticket's end (80% of its lifetime), with refresh-interval at 1h.
        wait_until(lambda: kdc.as_requests(principal) > logins_at_start, timeout=lifetime + 5, what="a renewal login")
        assert time.monotonic() - started < lifetime, "renewed before the ticket ended"
        # Past the first ticket's end (and the realm's clock skew), the RM forgets its cookies:
        # the server must negotiate again, which only a renewed ticket can do.
        end = started + lifetime + CLOCKSKEW + 2
        wait_until(lambda: time.monotonic() > end, timeout=lifetime + 10, what="the first ticket expired")
        mark = len(emu.request_log())
        reset = urllib.request.Request(f"http://{emu.rm_addr()}/emulator/auth/reset", data=b"{}", method="POST")
        with urllib.request.urlopen(reset, timeout=10) as r:
            assert r.status == 200
        fresh = wait_until(
            lambda: [r for r in emu.request_log()[mark:] if r["auth"] == "negotiate" and r["status"] == 200],
            timeout=20, what="a fresh SPNEGO negotiation after expiry")
        assert fresh[0]["principal"] == principal
        assert any(r["status"] == 401 for r in emu.request_log()[mark:]), "the stale cookie was refused first"
        assert livy.proc.pid == pid and livy.proc.poll() is None
        server_log = livy.log_text()
    assert_no_secrets(server_log, keytab, emu)


def test_a_wrong_keytab_is_a_clear_error_and_the_server_keeps_serving(kdc, emu, tmp_path):
    principal = f"livybad/localhost@{REALM}"
    keytab = kdc.add_service("livybad/localhost")
    kdc.kadmin(f"cpw -randkey {principal}")  # the keytab's keys are stale from now on
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    (jobs / "job.py").write_text("print('x')\n")
    submits = tmp_path / "submits.log"
    env = secure_env(kdc, emu, fake_spark_home(tmp_path), FAKE_SUBMIT_LOG=str(submits))
    conf = secure_conf(jobs, principal, keytab, **{
        "livy.server.launch.kerberos.kinit-fail-threshold": "2",
        "livy.server.launch.kerberos.refresh-interval": "2s",
    })
    with LivyServer(conf, env=env) as livy:
        wait_until(lambda: "failed kinit-fail-threshold times in a row" in livy.log_text(), timeout=20,
                   what="the threshold error in the log")
        st, _, _ = livy.call("GET", "/version")
        assert st == 200

        st, body, _ = livy.call("POST", "/batches", {"file": str(jobs / "job.py")})
        assert st == 201, (st, body)
        bid = body["id"]
        wait_until(lambda: batch(livy, bid)["state"] == "dead", timeout=20, what="the batch dead")
        text = batch_log(livy, bid)
        assert principal in text and str(keytab) in text and "kinit-fail-threshold" in text, text
        assert not submits.exists(), "spark-submit must not run without credentials"

        # The admin fixes the keytab: the next retry logs in, without a restart.
        keytab.unlink()
        kdc.keytab("livybad/localhost", path=keytab)
        wait_until(lambda: "Kerberos login succeeded again" in livy.log_text(), timeout=20,
                   what="the login to recover")
        st, body, _ = livy.call("POST", "/batches", {"file": str(jobs / "job.py")})
        assert st == 201, (st, body)
        wait_until(submits.exists, timeout=20, what="spark-submit to run")
        assert livy.proc.poll() is None
        server_log = livy.log_text()
    assert_no_secrets(server_log, keytab, emu)
