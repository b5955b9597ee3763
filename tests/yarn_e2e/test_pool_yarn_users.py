"""Pool profiles per proxy user on YARN (the RM emulator, real PySpark drivers through the shim
spark-submit, LDAP users, impersonation on): alice's profile keeps a driver submitted with
--proxy-user alice, which the emulator records as the YARN application's user; alice's session
takes it at once; bob never gets it: his session takes bob's own pooled driver (an application
of bob's), and once his pool is empty, bob starts cold rather than take alice's."""
from __future__ import annotations

import base64
import re
import sys
import time

import pytest

from conftest import REPO, SHIM_HOME, Emulator, LivyServer, stop_emulator, wait_until, yarn_conf, yarn_env

sys.path.insert(0, str(REPO / "tests"))
from pyharness.slapd import Slapd  # noqa: E402

SPARK_TIMEOUT = 400  # two drivers start at once on 2 loaded cores
POOLED_BOUND = 1.0
USERS = {"alice": "alice-pw", "bob": "bob-pw"}
PROFILE = "livy.server.session.pool.profile"


@pytest.fixture(scope="module")
def env(tmp_path_factory, real_spark):
    tmp = tmp_path_factory.mktemp("pool-yarn-users")
    with Slapd(users=USERS) as slapd:
        emu = Emulator(state_dir=tmp / "emu").start()
        conf = yarn_conf(tmp, **{
            "livy.server.auth.type": "ldap",
            "livy.server.auth.ldap.url": slapd.url,
            "livy.server.auth.ldap.base-dn": slapd.base_dn,
            "livy.impersonation.enabled": "true",
            "livy.server.access-control.enabled": "true",
            "livy.server.access-control.allowed-users": "alice,bob",
            f"{PROFILE}.for-alice.size": 1,
            f"{PROFILE}.for-alice.kind": "pyspark",
            f"{PROFILE}.for-alice.proxy-users": "alice",
            f"{PROFILE}.for-bob.size": 1,
            f"{PROFILE}.for-bob.kind": "pyspark",
            f"{PROFILE}.for-bob.proxy-users": "bob",
        })
        livy = LivyServer(conf, env=yarn_env(emu, SHIM_HOME, real_spark), name="livy-pool-yarn-users").start()
        try:
            yield livy, emu
        finally:
            livy.stop()
            livy.cleanup()
            stop_emulator(emu)


def as_user(livy, user, method, path, body=None):
    token = base64.b64encode(f"{user}:{USERS[user]}".encode()).decode()
    return livy.call(method, path, body, headers={"Authorization": f"Basic {token}"})


def ready(livy):
    """Pooled driver id -> the proxy user its profile serves, for drivers ready and not yet taken."""
    text = livy.log_text()
    users = {int(i): u for i, u in re.findall(r'pooled driver ready pooled_id=(\d+)[^\n]*proxy_user="(\w+)"', text)}
    up = {int(m) for m in re.findall(r"pooled driver ready pooled_id=(\d+)", text)}
    gone = {int(m) for m in re.findall(r"(?:stopping a pooled driver pooled_id|pooled driver handed over session_id)=(\d+)",
                                       text)}
    return {i: users.get(i) for i in up - gone}


def post_and_wait_idle(livy, user, name):
    t0 = time.monotonic()
    st, body, _ = as_user(livy, user, "POST", "/sessions", {"kind": "pyspark", "name": name})
    assert st == 201, (st, body)
    sid = body["id"]

    def idle():
        s = as_user(livy, user, "GET", f"/sessions/{sid}")[1]
        assert s["state"] not in ("dead", "error", "killed", "success"), s
        return s if s["state"] == "idle" else None

    return sid, body, idle, t0


def test_alice_and_bob_each_get_only_their_own_pooled_driver_on_yarn(env):
    livy, emu = env
    pooled = wait_until(lambda: (lambda r: r if len(r) >= 2 else None)(ready(livy)), SPARK_TIMEOUT,
                        "alice's and bob's pooled drivers ready on YARN", interval=0.5)
    by_user = {u: i for i, u in pooled.items()}
    assert set(by_user) == {"alice", "bob"}, pooled

    # bob first: his own pooled driver, never alice's.
    bob_sid, _, idle, t0 = post_and_wait_idle(livy, "bob", "yarn-pool-bob")
    s = wait_until(idle, 5, "bob's pooled session idle", interval=0.02)
    assert time.monotonic() - t0 < POOLED_BOUND
    assert bob_sid == by_user["bob"], (bob_sid, pooled)
    assert s["proxyUser"] == "bob", s
    assert emu.app_record(s["appId"])["app"]["user"] == "bob"
    assert by_user["alice"] in ready(livy), "bob's request took alice's pooled driver"

    # bob again, his pool empty: a cold start of his own, alice's driver stays in the pool.
    st, cold, _ = as_user(livy, "bob", "POST", "/sessions", {"kind": "pyspark", "name": "yarn-cold-bob"})
    assert st == 201, cold
    assert cold["state"] == "starting" and cold["id"] not in pooled, cold
    assert by_user["alice"] in ready(livy), "bob's second request took alice's pooled driver"
    as_user(livy, "bob", "DELETE", f"/sessions/{cold['id']}")

    # alice: her pooled driver, an application YARN runs as alice.
    alice_sid, _, idle, t0 = post_and_wait_idle(livy, "alice", "yarn-pool-alice")
    s = wait_until(idle, 5, "alice's pooled session idle", interval=0.02)
    assert time.monotonic() - t0 < POOLED_BOUND
    assert alice_sid == by_user["alice"], (alice_sid, pooled)
    assert (s["owner"], s["proxyUser"]) == ("alice", "alice"), s
    rec = emu.app_record(s["appId"])["app"]
    assert rec["user"] == "alice", rec
    assert rec["applicationTags"].split(",")[0].startswith(f"livy-session-{alice_sid}-"), rec
    # bob may not use alice's session.
    st, body, _ = as_user(livy, "bob", "POST", f"/sessions/{alice_sid}/statements", {"code": "1"})
    assert st == 403, (st, body)
    for user, sid in (("alice", alice_sid), ("bob", bob_sid)):
        as_user(livy, user, "DELETE", f"/sessions/{sid}")
