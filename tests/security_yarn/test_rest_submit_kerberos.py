"""`livy.server.yarn.submit = rest` on a Kerberized cluster, as a proxy user: the server stages the
files over SPNEGO-authenticated WebHDFS and posts the submission context to the RM as its own
principal with doAs=<proxy user>, and hands the AM HDFS and RM delegation tokens owned by the proxy
user and renewable by the RM (the AM has no Kerberos ticket of its own). The emulator localizes the
staged files and runs the AM's driver with real Spark, so the batch ends `success` only if the
staged application is complete. One Spark start."""
from __future__ import annotations

import base64
import json
import urllib.request

import gssapi
from rm_emulator import decode_token
from webhdfs_files import ARCHIVE, hdfs_put, spark_jars_zip

from conftest import REALM, LivyServer, assert_no_secrets, secure_conf, secure_env, wait_until

LIVY = f"livy/localhost@{REALM}"
SPARK_TIMEOUT = 300
SPNEGO = gssapi.OID.from_int_seq("1.3.6.1.5.5.2")

JOB = """
from pyspark.sql import SparkSession
spark = SparkSession.builder.getOrCreate()
print("EVENS=%d" % spark.sparkContext.parallelize(range(1000), 2).filter(lambda i: i % 2 == 0).count())
spark.stop()
"""


def negotiate_as(kdc, user):
    """Fresh `Authorization: Negotiate` headers for HTTP/localhost as `user` (what `curl --negotiate`
    sends after `kinit user`); one token per request, as the acceptor's replay cache demands."""
    kdc.add_principal(user, password="hdfs-admin-pw")
    ccache = kdc.kinit(user, password="hdfs-admin-pw")
    creds = gssapi.Credentials(usage="initiate", store={"ccache": f"FILE:{ccache}"})
    target = gssapi.Name("HTTP@localhost", gssapi.NameType.hostbased_service)

    def headers():
        ctx = gssapi.SecurityContext(name=target, creds=creds, usage="initiate", mech=SPNEGO)
        return {"Authorization": "Negotiate " + base64.b64encode(ctx.step()).decode()}

    return headers


def test_rest_batch_as_a_proxy_user_on_a_kerberized_cluster(kdc, emu, tmp_path, real_spark):
    keytab = kdc.add_service("livy/localhost")
    # The cluster admin has put Spark's jars into HDFS (as with `hdfs dfs -put` after kinit).
    hdfs_put(emu, ARCHIVE, spark_jars_zip(), headers=negotiate_as(kdc, "hdfs"))
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    job = jobs / "evens.py"
    job.write_text(JOB)
    spark_conf = tmp_path / "spark-conf"
    spark_conf.mkdir()
    (spark_conf / "spark-defaults.conf").write_text(f"spark.yarn.archive hdfs://{ARCHIVE}\n")
    env = secure_env(kdc, emu, real_spark["SPARK_HOME"], SPARK_CONF_DIR=str(spark_conf),
                     PYSPARK_PYTHON=real_spark.get("PYSPARK_PYTHON"), LIVY_LOG="debug")
    conf = secure_conf(jobs, LIVY, keytab, **{"livy.impersonation.enabled": "true",
                                             "livy.server.yarn.submit": "rest"})
    with LivyServer(conf, env=env) as livy:
        mark = len(emu.request_log())
        # Authentication is off in livy.conf, so Livy lets the request name any proxyUser.
        st, body, _ = livy.call("POST", "/batches", {"file": "file://" + str(job), "proxyUser": "bob"})
        assert st == 201, (st, body)
        bid = body["id"]

        def final():
            b = livy.call("GET", f"/batches/{bid}")[1]
            return b if b["state"] in ("success", "dead", "killed", "error") else None

        b = wait_until(final, timeout=SPARK_TIMEOUT, what="the batch final", interval=0.5)
        log = livy.call("GET", f"/batches/{bid}/log?from=0&size=2000")[1]["log"]
        assert b["state"] == "success", (b, log[-40:], livy.log_text()[-3000:])
        app_id = b["appId"]
        rec = emu.app_record(app_id)
        assert rec["submitted_via"] == "rest" and rec["user"] == "bob", (rec["submitted_via"], rec["user"])
        assert any("delegation tokens to the AM's credentials" in line for line in log), log
        with open(f"{rec['log_dir']}/stdout") as f:
            assert "EVENS=500" in f.read()

        requests = emu.request_log()[mark:]
        # The submission: as the server's principal, for bob.
        posts = [r for r in requests if r["method"] == "POST" and r["path"] == "/ws/v1/cluster/apps"]
        assert len(posts) == 1, posts
        assert (posts[0]["principal"], posts[0]["doAs"], posts[0]["user"]) == (LIVY, "bob", "bob"), posts[0]
        assert posts[0]["auth"] in ("negotiate", "cookie") and posts[0]["status"] == 202, posts[0]
        # The staging directory: NameNode calls SPNEGO-authenticated (then the cookie) as the
        # server's principal for bob; DataNode calls carry the NameNode's delegation token.
        staging = f"/webhdfs/v1/user/bob/.sparkStaging/{app_id}"
        nn = [r for r in requests if r["server"] == "webhdfs" and r["path"].startswith(staging)]
        assert nn and all(r["principal"] == LIVY and r["doAs"] == "bob" and r["status"] < 400 for r in nn), nn
        assert {r["auth"] for r in nn} <= {"negotiate", "cookie"}, nn
        own_nn = [r for r in requests if r["server"] == "webhdfs" and r["principal"] == LIVY]
        assert any(r["auth"] == "negotiate" and r["status"] < 400 for r in own_nn), own_nn[:3]
        creates = [r for r in nn if r["query"].get("op") == "CREATE"]
        assert {r["path"].rsplit("/", 1)[1] for r in creates} >= {"evens.py", "__spark_conf__.zip"}, creates
        dn = [r for r in requests if r["server"] not in ("webhdfs", "rm1") and r["path"].startswith(staging)]
        assert dn and all(r["auth"] == "delegation" and r["status"] == 201 for r in dn), dn
        assert not [r for r in requests if r["status"] == 403]

        # What the AM gets instead of a ticket: bob's tokens, renewable by the RM (rm/_HOST -> rm).
        entries = rec["submission"]["am-container-spec"]["credentials"]["tokens"]["entry"]
        tokens = {t["kind"]: t for t in (decode_token(e["value"]) for e in entries) if t}
        # The emulated cluster's fs.defaultFS is webhdfs://, so the AM (and the NodeManager
        # localizing the staged files) reads HDFS over WebHDFS: a WebHDFS token for that address.
        assert set(tokens) == {"WEBHDFS delegation", "RM_DELEGATION_TOKEN"}, entries
        for kind, t in tokens.items():
            assert (t["owner"], t["renewer"], t["real_user"]) == ("bob", "rm", LIVY), (kind, t)
        assert tokens["WEBHDFS delegation"]["service"] == emu.webhdfs_addr, tokens
        assert {e["key"] for e in entries} == {emu.webhdfs_addr, "RM_DELEGATION_TOKEN"}, entries
        # The cluster's own record agrees: it issued exactly these two, to the server for bob.
        with urllib.request.urlopen(f"http://{emu.rm_addr()}/emulator/tokens", timeout=10) as r:
            issued = json.loads(r.read())["tokens"]
        for store in ("rm", "hdfs"):
            for_bob = [t for t in issued if t["store"] == store and t["owner"] == "bob" and t["renewer"] == "rm"]
            assert len(for_bob) == 1 and for_bob[0]["real_user"] == LIVY, (store, issued)
        server_log = livy.log_text()
    assert_no_secrets(server_log, keytab, emu, more_tokens=[e["value"] for e in entries])
