#!/usr/bin/env python3
"""The YARN benchmark driver behind `scripts/bench --yarn` (standard library only).

One RM emulator (tests/yarn/rm_emulator.py, its own process, HA pair rm1 active + rm2 standby)
and one livy-rs server started through bin/livy-server exactly as the batch bench does
(benches/livy_bench.py's Server), with livy.spark.master = yarn, deploy mode cluster,
HADOOP_CONF_DIR = the emulator's generated conf, SPARK_HOME = tests/yarn/spark_home and
LIVY_RS_SHIM_REGISTER_ONLY=1: the shim spark-submit registers the app (name, queue, user, tags
from spark.yarn.tags) with the emulator, ACCEPTED, and exits, so 1000 batches are cheap.
livy.server.yarn.poll-interval = --poll (1s by default), admission check off (not measured here).

  1. RM requests per tick: batches are created until 1, 100, then 1000 are tracked; once every
     batch shows its appId (the monitor has seen all apps), the emulator's request log is cleared
     and read again after --ticks poll intervals. The server's GET /ws/v1/cluster/apps requests
     (rm1 + rm2) are grouped into ticks (a gap of more than half a poll interval starts a new
     one); the figure is requests / ticks, and the largest tick.
  2. YARN state change -> Livy state (1000 tracked): --samples apps, set RUNNING beforehand, are
     moved to FINISHED/SUCCEEDED (or KILLED, every other one) through the emulator's control
     API at a random phase of the poll interval; the time runs from just before the control
     request to the first GET /batches/{id}/state (polled every 2 ms) showing success/killed.
  3. RM failover (1000 tracked): the active RM's listening socket is closed (the emulator's
     `refuse` fault: a stopped RM), the other RM made active and one app's state changed, all at
     t0; measured until the Livy state shows the change, and until the first GET /apps the new
     RM answers 200 (emulator request log). --failovers times, back and forth.

Prints a table (figure, value, target, met?), the load average and the command.
"""

import argparse
import json
import os
import random
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import livy_bench as lb  # noqa: E402  (Conn, Server, pct, loadavg, machine_facts, log)

REQUESTS_PER_TICK_TARGET = 2.0
STATE_SLACK_MS = 100.0
FAILOVER_TARGET_MS = 2000.0
APPS_PATH = "/ws/v1/cluster/apps"


class Emu:
    """The emulator as a child process, driven through its /emulator/ control API on the worker
    node's port (which no fault touches)."""

    def __init__(self, root, work):
        script = os.path.join(root, "tests", "yarn", "rm_emulator.py")
        self.proc = subprocess.Popen(
            [sys.executable, script, "--port", "0", "--state-dir", os.path.join(work, "emu"),
             "--ha", "rm1,rm2", "--no-recover"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=open(os.path.join(work, "emu.stderr"), "wb"),
        )
        self.info = json.loads(self.proc.stdout.readline())
        self.control_base = "http://" + self.info["node"]

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.control_base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            raw = r.read()
        return json.loads(raw) if raw else None

    def apps_requests(self):
        """The server's GET /ws/v1/cluster/apps requests on both RMs, by time."""
        out = []
        for rm in ("rm1", "rm2"):
            log = self.call("GET", f"/emulator/requests?server={rm}&path_prefix={APPS_PATH}")
            if isinstance(log, dict):
                log = log.get("requests", [])
            out += [r for r in log if r["path"] == APPS_PATH and r["method"] == "GET"]
        return sorted(out, key=lambda r: r["t"])

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def ticks_of(requests, poll_ms):
    """Groups requests into ticks: a gap over half a poll interval starts a new one."""
    ticks = []
    for r in requests:
        if ticks and r["t"] - ticks[-1][-1]["t"] <= poll_ms / 2:
            ticks[-1].append(r)
        else:
            ticks.append([r])
    return ticks


class Bench:
    def __init__(self, args):
        self.args = args
        self.poll_ms = args.poll * 1000.0
        self.emu = Emu(args.root, args.work)
        shim_home = os.path.join(args.root, "tests", "yarn", "spark_home")
        conf = (
            "livy.server.host = 127.0.0.1\n"
            "livy.server.port = 0\n"
            f"livy.server.spark-home = {shim_home}\n"
            "livy.spark.master = yarn\n"
            "livy.spark.deploy-mode = cluster\n"
            f"livy.server.yarn.poll-interval = {round(args.poll * 1000)}ms\n"
            "livy.server.yarn.app-lookup-timeout = 600s\n"
            "livy.server.yarn.admission-check = false\n"
            f"livy.server.session.max-creation = {args.max_creation}\n"
            f"livy.file.local-dir-whitelist = {os.path.join(args.work, 'jobs')}\n"
        )
        env = {
            "SPARK_HOME": shim_home,
            "HADOOP_CONF_DIR": self.emu.info["hadoop_conf_dir"],
            "LIVY_RS_SHIM_REGISTER_ONLY": "1",
        }
        self.server = lb.Server(args, args.work, conf=conf, env_extra=env)
        self.conn = lb.Conn(self.server.host, self.server.port)
        self.batches = []  # (batch id)
        self.rows = []

    def get(self, path):
        status, body = self.conn.request("GET", path)
        if status != 200:
            raise RuntimeError(f"GET {path}: {status} {body[:200]!r}")
        return json.loads(body)

    def grow_to(self, n):
        """Creates batches until n are tracked, then waits until every one shows its appId."""
        body = {"file": self.server.job_file}
        t0 = time.time()
        while len(self.batches) < n:
            self.batches.append(lb.create(self.conn, body)[2])
        deadline = time.time() + 600
        while True:
            listed = self.get(f"/batches?from=0&size={n + 10}")["sessions"]
            missing = [b["id"] for b in listed if not b.get("appId")]
            if len(listed) >= n and not missing:
                break
            if time.time() > deadline:
                raise RuntimeError(f"{len(missing)} batches never got an appId: {missing[:10]}")
            time.sleep(0.5)
        bad = [b for b in listed if b["state"] not in ("starting", "running")]
        if bad:
            logs = self.get(f"/batches/{bad[0]['id']}/log?from=0&size=200")["log"]
            raise RuntimeError(f"{len(bad)} batches not tracked: {bad[:3]}\nlog of {bad[0]['id']}:\n" + "\n".join(logs))
        lb.log(f"{n} batches tracked ({time.time() - t0:.0f} s to create and see them)")
        return {b["id"]: b["appId"] for b in listed}

    def requests_per_tick(self, n):
        self.grow_to(n)
        time.sleep(self.args.poll)  # let a tick that saw the last appIds pass
        self.emu.call("POST", "/emulator/counters/reset")
        load = lb.loadavg()
        time.sleep(self.args.ticks * self.args.poll + self.args.poll / 2)
        reqs = self.emu.apps_requests()
        ticks = ticks_of(reqs, self.poll_ms)
        # A tick cut by the window's edges is not counted.
        full = ticks[1:-1] if len(ticks) > 2 else ticks
        per_tick = sum(len(t) for t in full) / max(1, len(full))
        worst = max((len(t) for t in full), default=0)
        longest_url = max((len(json.dumps(r["query"])) for r in reqs), default=0)
        self.rows.append((f"RM requests per tick, {n} tracked", f"{per_tick:.2f} (max {worst}, {len(full)} ticks)",
                          f"<= {REQUESTS_PER_TICK_TARGET:g}", per_tick <= REQUESTS_PER_TICK_TARGET and worst <= 2, load))
        lb.log(f"{n} tracked: {per_tick:.2f} requests/tick over {len(full)} ticks; longest query ~{longest_url} chars; "
               f"last query: {str(reqs[-1]['query'])[:200] if reqs else None}")

    def wait_state(self, batch_id, wanted, deadline_s):
        end = time.time() + deadline_s
        raw = self.conn.prepare("GET", f"/batches/{batch_id}/state")
        while True:
            self.conn.send(raw)
            status, body = self.conn.response()
            t = time.time_ns()
            if status == 200 and json.loads(body)["state"] == wanted:
                return t
            if time.time() > end:
                raise RuntimeError(f"batch {batch_id} never reached {wanted}: {body[:200]!r}")
            time.sleep(0.002)

    def set_app(self, app_id, state, final=None):
        body = {"state": state}
        if final:
            body["finalStatus"] = final
        self.emu.call("POST", f"/emulator/apps/{app_id}/state", body)

    def state_latency(self, apps, pool):
        samples = pool[: self.args.samples]
        for bid in samples:
            self.set_app(apps[bid], "RUNNING")
        time.sleep(2 * self.args.poll)
        load = lb.loadavg()
        lat = []
        for k, bid in enumerate(samples):
            time.sleep(random.uniform(0, self.args.poll))
            final, livy = (("FINISHED", "SUCCEEDED"), "success") if k % 2 == 0 else (("KILLED", "KILLED"), "killed")
            t0 = time.time_ns()
            self.set_app(apps[bid], *final)
            t1 = self.wait_state(bid, livy, 30)
            lat.append((t1 - t0) / 1e6)
        target = self.poll_ms + STATE_SLACK_MS
        p50, p99 = lb.pct(lat, 50), lb.pct(lat, 99)
        self.rows.append((f"YARN state -> Livy state p50 / p99 / max ({len(lat)} changes, poll {self.args.poll:g} s)",
                          f"{p50:.0f} / {p99:.0f} / {max(lat):.0f} ms", f"<= {target:.0f} ms", p99 <= target, load))

    def failover(self, apps, pool):
        samples = pool[: self.args.failovers]
        for bid in samples:
            self.set_app(apps[bid], "RUNNING")
        active, standby = "rm1", "rm2"
        load = lb.loadavg()
        to_state, to_rm = [], []
        for bid in samples:
            self.emu.call("DELETE", "/emulator/faults")
            time.sleep(2 * self.args.poll + random.uniform(0, self.args.poll))  # settled on `active`
            t0 = time.time_ns()
            self.emu.call("POST", "/emulator/faults", {"target": active, "mode": "refuse"})
            self.emu.call("POST", "/emulator/active", {"rm": standby})
            self.set_app(apps[bid], "FINISHED", "SUCCEEDED")
            t1 = self.wait_state(bid, "success", 60)
            to_state.append((t1 - t0) / 1e6)
            served = [r for r in self.emu.apps_requests()
                      if r["server"] == standby and r["status"] == 200 and r["t"] * 1e6 >= t0 - 1e6]
            to_rm.append(served[0]["t"] - t0 / 1e6 if served else float("nan"))
            active, standby = standby, active
        self.emu.call("DELETE", "/emulator/faults")
        worst = max(to_state)
        self.rows.append((f"failover: RM stopped -> change on the new RM in Livy, median / max ({len(samples)}, poll {self.args.poll:g} s)",
                          f"{lb.pct(to_state, 50):.0f} / {worst:.0f} ms", f"<= {FAILOVER_TARGET_MS:.0f} ms",
                          worst <= FAILOVER_TARGET_MS, load))
        self.rows.append(("failover: RM stopped -> first /apps answered by the new RM, median / max",
                          f"{lb.pct(to_rm, 50):.0f} / {max(to_rm):.0f} ms", f"<= {FAILOVER_TARGET_MS:.0f} ms",
                          max(to_rm) <= FAILOVER_TARGET_MS, load))

    def run(self):
        for n in self.args.tracked:
            self.requests_per_tick(n)
        apps = self.grow_to(max(self.args.tracked))
        pool = sorted(apps)
        random.shuffle(pool)
        half = len(pool) // 2
        self.state_latency(apps, pool[:half])
        self.failover(apps, pool[half:])

    def report(self):
        facts = lb.machine_facts(argparse.Namespace(wrk="true"))
        print()
        print(f"livy-rs YARN benchmark — revision {self.args.revision}")
        print(f"command: {self.args.command}")
        print(f"machine: {facts['nproc']} CPUs ({facts['cpu']}), {facts['memory']}, kernel {facts['kernel']}, "
              f"python {facts['python']}; uptime load at the end: {lb.loadavg()}")
        print()
        w = max(len(r[0]) for r in self.rows)
        print(f"| {'figure'.ljust(w)} | value | target | met? | load (1/5/15 min) |")
        print(f"|{'-' * (w + 2)}|---|---|---|---|")
        for name, value, target, met, load in self.rows:
            print(f"| {name.ljust(w)} | {value} | {target} | {'yes' if met else 'NO'} | {load} |")

    def close(self):
        try:
            self.conn.close()
            self.server.stop()
        finally:
            self.emu.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--server-bin", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--command", default="scripts/bench --yarn")
    ap.add_argument("--revision", default="unknown")
    ap.add_argument("--poll", type=float, default=1.0, help="livy.server.yarn.poll-interval, seconds")
    ap.add_argument("--ticks", type=int, default=10, help="poll intervals counted per tracked-app figure")
    ap.add_argument("--tracked", type=lambda s: [int(x) for x in s.split(",")], default=[1, 100, 1000])
    ap.add_argument("--samples", type=int, default=30, help="state changes timed")
    ap.add_argument("--failovers", type=int, default=6)
    ap.add_argument("--max-creation", type=int, default=32, help="livy.server.session.max-creation")
    args = ap.parse_args()
    os.makedirs(os.path.join(args.work, "jobs"), exist_ok=True)
    bench = Bench(args)
    try:
        bench.run()
    finally:
        bench.close()
    bench.report()


if __name__ == "__main__":
    main()
