"""RM HA without Spark (fake spark-submit from test_fake_submit): after each switch of the active
RM the monitor settles on the new active one and keeps ONE apps request per poll tick there (a
standby is asked at most once or twice: the 307 and the failover), also while rm1 refuses
connections."""
from __future__ import annotations

import sys
import time

from conftest import Emulator, LivyServer, wait_until, yarn_conf, yarn_env
from test_fake_submit import FAKE_SUBMIT, running_app, submit


def apps_gets(emu):
    return {s: sum(v for k, v in emu.counters(server=s, group="route").items() if k == "GET /ws/v1/cluster/apps")
            for s in ("rm1", "rm2")}


def test_monitor_follows_the_active_rm(tmp_path):
    home = tmp_path / "spark_home"
    (home / "bin").mkdir(parents=True)
    sub = home / "bin" / "spark-submit"
    sub.write_text(FAKE_SUBMIT.replace("PYTHON", sys.executable, 1))
    sub.chmod(0o755)
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    (jobs / "job.py").write_text("print('never run')\n")
    emu = Emulator(state_dir=tmp_path / "emu", ha=["rm1", "rm2"]).start()
    rms = emu.rm_addr("rm1") + "," + emu.rm_addr("rm2")
    livy = LivyServer(yarn_conf(jobs), env=yarn_env(emu, home, rm_list=rms)).start()
    try:
        bid = submit(livy, jobs)
        app_id = running_app(livy, bid)["appId"]

        def measure(active, standby, secs=3.0):
            time.sleep(1.0)  # settle after the switch
            a = apps_gets(emu)
            t0 = time.monotonic()
            time.sleep(secs)
            b = apps_gets(emu)
            ticks = (time.monotonic() - t0) / 0.2
            d = {k: b[k] - a[k] for k in a}
            print(f"active {active}: {d} in {ticks:.1f} ticks")
            assert d[standby] <= 2, d
            assert 3 <= d[active] <= ticks * 1.3 + 1, d

        measure("rm1", "rm2")
        emu.set_active("rm2")
        measure("rm2", "rm1")
        emu.set_active("rm1")
        measure("rm1", "rm2")
        emu.set_active("rm2")
        emu.add_fault("rm1", "refuse", seconds=30)
        measure("rm2", "rm1")
        emu.clear_faults()
        st, body, _ = livy.call("GET", f"/batches/{bid}")
        assert body["state"] == "running" and body["appId"] == app_id, body
        emu.set_app_state(app_id, "FINISHED", final_status="SUCCEEDED")
        wait_until(lambda: livy.call("GET", f"/batches/{bid}")[1]["state"] == "success", 20, "batch success")
    finally:
        livy.stop()
        livy.cleanup()
        emu.stop()
