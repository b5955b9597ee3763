"""YARN load stays O(1) with three active/active servers: pointed at the RM emulator
(tests/yarn/rm_emulator.py, which counts requests), with batches spread over the servers and
more apps on the cluster, the RM sees at most one application listing per poll tick per server,
and no per-app request. The batches are cheap: the emulator's spark-submit shim registers each
app and runs no driver (LIVY_RS_SHIM_REGISTER_ONLY); the test moves them to RUNNING."""

from __future__ import annotations

import sys
import time

import pytest

from conftest import HERE, Service, build_service
from pyharness.wait import wait_until

sys.path.insert(0, str(HERE.parent / "yarn"))
from rm_emulator import Emulator  # noqa: E402

SHIM_HOME = HERE.parent / "yarn" / "spark_home"
POLL_SECONDS = 0.2
BATCHES_PER_SERVER = 3
LISTING = "GET /ws/v1/cluster/apps"


class YarnService(Service):
    def conf(self, **extra) -> dict:
        return super().conf(**{
            "livy.spark.master": "yarn",
            "livy.spark.deploy-mode": "cluster",
            "livy.server.yarn.poll-interval": f"{int(POLL_SECONDS * 1000)}ms",
            **extra,
        })


@pytest.fixture(scope="module")
def yarn(tmp_path_factory, livy_bin, real_spark, light_spark_conf):
    emu = Emulator(state_dir=tmp_path_factory.mktemp("ha-yarn-rm")).start()
    svc = build_service(tmp_path_factory, "ha-yarn", livy_bin, real_spark, light_spark_conf,
                        cls=YarnService)
    svc.spark_home = SHIM_HOME
    svc.env.update({"HADOOP_CONF_DIR": emu.conf_dir, "LIVY_RS_TEST_RM": emu.rm_addr(),
                    "LIVY_RS_SHIM_REGISTER_ONLY": "1", "YARN_CONF_DIR": None})
    try:
        yield svc.start(), emu
    finally:
        svc.cleanup()
        svc.stop()
        emu.stop()


def listings(emu) -> tuple:
    counts = emu.counters(group="route")
    return (sum(v for k, v in counts.items() if k == LISTING),
            sum(v for k, v in counts.items() if k.startswith(LISTING + "/")))


def test_the_rm_sees_one_listing_per_tick_per_server_whatever_the_number_of_apps(yarn):
    svc, emu = yarn
    for i in range(20):
        emu.register_app(name=f"other-{i}", tags=[f"other-{i}"], state="RUNNING")
    batches = []
    for server in svc.servers:
        for i in range(BATCHES_PER_SERVER):
            status, view, _ = server.call("POST", "/batches", {"file": str(svc.job), "args": [str(i), "0"]})
            assert status == 201, view
            batches.append((server, view["id"]))

    def app_of(server, bid):
        return server.call("GET", f"/batches/{bid}")[1].get("appId")

    apps = [wait_until(lambda s=s, b=b: app_of(s, b), timeout=60, what=f"batch {b}'s YARN app")
            for s, b in batches]
    for app in apps:
        emu.set_app_state(app, "RUNNING")
    for server, bid in batches:
        wait_until(lambda s=server, b=bid: s.call("GET", f"/batches/{b}")[1]["state"] == "running",
                   timeout=30, what=f"batch {bid} running")

    a0, s0 = listings(emu)
    t0 = time.monotonic()
    time.sleep(4.0)  # the measurement window itself, not a wait for something to happen
    a1, s1 = listings(emu)
    ticks = (time.monotonic() - t0) / POLL_SECONDS
    servers = len(svc.servers)
    per_tick_per_server = (a1 - a0) / ticks / servers
    assert a1 - a0 >= servers, f"only {a1 - a0} listings in {ticks:.0f} ticks: the monitors do not poll"
    assert per_tick_per_server <= 1.3, (
        f"{a1 - a0} listings in {ticks:.0f} ticks by {servers} servers with {len(apps)} batches "
        f"and 20 other apps: {per_tick_per_server:.2f} per tick per server")
    assert s1 == s0, f"{s1 - s0} per-app requests while polling"
    for server, bid in batches:
        assert server.call("DELETE", f"/batches/{bid}")[0] == 200
