"""Recovery on YARN (emulated RM, fake spark-submit that only registers the app): batches are
re-attached by their tag after a server crash, and what YARN did while the server was down
(an operator's kill, a finish) is what the batch shows afterwards."""
from __future__ import annotations

import signal
import stat
import sys

import pytest

from conftest import Emulator, LivyServer, batch_state, http, wait_until, yarn_conf, yarn_env
from test_fake_submit import FAKE_SUBMIT, running_app


@pytest.fixture()
def setup(tmp_path):
    home = tmp_path / "spark_home"
    (home / "bin").mkdir(parents=True)
    sub = home / "bin" / "spark-submit"
    sub.write_text(FAKE_SUBMIT.replace("PYTHON", sys.executable, 1))
    sub.chmod(sub.stat().st_mode | stat.S_IXUSR)
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    (jobs / "job.py").write_text("print('never run')\n")
    emu = Emulator(state_dir=tmp_path / "emu").start()
    livy = LivyServer(yarn_conf(jobs, **{
        "livy.server.recovery.mode": "recovery",
        "livy.server.recovery.state-store": "filesystem",
        "livy.server.recovery.state-store.url": str(tmp_path / "store"),
    }), env=yarn_env(emu, home), root=tmp_path / "server")
    try:
        yield livy.start(), emu, jobs
    finally:
        if livy.running:
            livy.stop()
        livy.cleanup()
        emu.stop()


def final(livy, bid):
    return wait_until(lambda: (lambda b: b if b["state"] in ("killed", "dead", "success") else None)(
        batch_state(livy, bid)), 30, f"batch {bid} final")


def test_batches_on_yarn_are_reattached_and_show_what_happened_while_the_server_was_down(setup):
    livy, emu, jobs = setup
    ids = []
    for _ in range(3):
        st, body, _ = livy.call("POST", "/batches", {"file": str(jobs / "job.py"), "name": f"y{len(ids)}"})
        assert st == 201, body
        ids.append(body["id"])
    apps = [running_app(livy, bid)["appId"] for bid in ids]

    livy.proc.send_signal(signal.SIGKILL)
    livy.proc.wait(timeout=10)
    livy._forget()
    # While the server is down: an operator kills one app, another finishes.
    st, _ = http("PUT", f"{emu.rm_url()}/ws/v1/cluster/apps/{apps[0]}/state",
                 {"state": "KILLED", "diagnostics": "killed while livy was down"})
    assert st in (200, 202)
    st, _ = http("POST", f"{emu.rm_url()}/emulator/apps/{apps[1]}/state",
                 {"state": "FINISHED", "finalStatus": "SUCCEEDED"})
    assert st in (200, 202)
    livy.start()

    views = {b["id"]: b for b in livy.call("GET", "/batches")[1]["sessions"]}
    assert sorted(views) == ids
    assert [views[i]["name"] for i in ids] == ["y0", "y1", "y2"]
    assert final(livy, ids[0])["state"] == "killed"
    log = livy.call("GET", f"/batches/{ids[0]}/log?size=100")[1]["log"]
    assert any("killed while livy was down" in line for line in log), log
    assert final(livy, ids[1])["state"] == "success"
    b2 = batch_state(livy, ids[2])
    assert b2["state"] == "running" and b2["appId"] == apps[2], b2
    # Still tracked: a kill now is seen, and DELETE reaches YARN.
    st, _, _ = livy.call("DELETE", f"/batches/{ids[2]}")
    assert st == 200
    wait_until(lambda: emu.app_record(apps[2])["state"] == "KILLED", 20, "app killed through DELETE")
    st, body, _ = livy.call("POST", "/batches", {"file": str(jobs / "job.py")})
    assert body["id"] == ids[-1] + 1
