"""POST /sessions -> idle with the warm pool (livy.server.session.pool.*) against cold starts,
side by side on one livy-rs server with real Spark, and where each cold start spends its time.

One server with `livy.server.session.pool.size = --pool-size` (pyspark). Rounds alternate: a
pooled session (wait until the pool holds a ready driver, POST {"kind": "pyspark"}, poll GET every
--poll-ms until idle, delete it) and a cold session (wait until the pool is full and quiet, POST
{"kind": "pyspark", "driverMemory": "1g"} -- Spark's default, so the same driver, but a request
the pool does not serve -- poll until idle, read the driver's "start-up timings" line from the
session log, delete it). With --profile-size N > 0, a named profile `small` (kind `shared`,
driver-memory 512m, spark.sql.shuffle.partitions = 4) keeps N more drivers, and each round also
takes one of them with a `sql` session asking for those settings. Ratios are per round (the
cold start over the pooled one of the same round), so the machine's load, which moves between
rounds, cancels out of them. The load average is recorded at each POST. Run by scripts/bench-pool.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import livy_bench as lb  # noqa: E402  (Server, pct, loadavg, machine_facts)


def log(msg):
    print(f"[bench-pool] {msg}", file=sys.stderr, flush=True)


class Client:
    def __init__(self, server):
        self.base = f"http://{server.host}:{server.port}"

    def req(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        r = urllib.request.Request(self.base + path, data=data, method=method,
                                   headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(r, timeout=60) as resp:
            return json.loads(resp.read() or b"null")


def pool_ready(server):
    """Ids of pooled drivers ready and not yet taken or gone, per the server's log."""
    with open(server.stderr_path, "rb") as f:
        text = lb.ANSI.sub("", f.read().decode("utf-8", "replace"))

    def ids(message, field):
        return {int(m.group(1)) for line in text.splitlines() if message in line
                for m in [re.search(rf"{field}=(\d+)", line)] if m}

    gone = ids("pooled driver handed over", "session_id") | ids("stopping a pooled driver", "pooled_id")
    started = ids("starting a pooled driver", "pooled_id") - gone
    return ids("pooled driver ready", "pooled_id") - gone, started


def wait(fn, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.1)
    raise RuntimeError(f"timed out waiting for {what}")


def start_session(client, body, poll, timeout):
    t0 = time.time()
    s = client.req("POST", "/sessions", body)
    answered = time.time()
    sid = s["id"]
    while True:
        state = client.req("GET", f"/sessions/{sid}/state")["state"]
        if state == "idle":
            return sid, t0, answered, time.time()
        if state in ("dead", "error", "killed"):
            log_text = "\n".join(client.req("GET", f"/sessions/{sid}/log?size=-1")["log"])
            raise RuntimeError(f"session {sid} is {state}:\n{log_text[-3000:]}")
        if time.time() - t0 > timeout:
            raise RuntimeError(f"session {sid} not idle after {timeout}s")
        time.sleep(poll)


def timings(client, sid):
    for line in client.req("GET", f"/sessions/{sid}/log?size=-1")["log"]:
        m = re.search(r"start-up timings: (.*?) \(", line)
        if m:
            return {k: int(v) / 1000.0 for k, v in (p.split("=") for p in m.group(1).split())}
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", required=True)
    ap.add_argument("--server-bin", required=True)
    ap.add_argument("--spark-home", required=True)
    ap.add_argument("--pyspark-python", required=True)
    ap.add_argument("--spark-conf-dir", default="")
    ap.add_argument("--work", required=True)
    ap.add_argument("--command", default="")
    ap.add_argument("--revision", default="")
    ap.add_argument("--master", default="local[1]")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--pool-size", type=int, default=2)
    ap.add_argument("--profile-size", type=int, default=1,
                    help="drivers of the named profile `small` (0: no profile rounds)")
    ap.add_argument("--spark-rounds", type=int, default=2,
                    help="cold spark (Scala) sessions: POST -> idle and -> first Scala result")
    ap.add_argument("--poll-ms", type=float, default=10.0)
    ap.add_argument("--start-timeout", type=float, default=300.0)
    ap.add_argument("--json", default="")
    args = ap.parse_args()
    poll = args.poll_ms / 1000.0

    conf = (
        "livy.server.host = 127.0.0.1\n"
        "livy.server.port = 0\n"
        f"livy.server.spark-home = {args.spark_home}\n"
        f"livy.spark.master = {args.master}\n"
        "livy.rsc.launcher.address = 127.0.0.1\n"
        "livy.rsc.launcher.port.range = 0~0\n"
        f"livy.server.session.pool.size = {args.pool_size}\n"
        "livy.server.session.pool.kind = pyspark\n"
    )
    if args.profile_size:
        conf += "".join(f"livy.server.session.pool.profile.small.{k} = {v}\n" for k, v in (
            ("size", args.profile_size), ("kind", "shared"), ("driver-memory", "512m"),
            ("conf.spark.sql.shuffle.partitions", "4")))
    profile_body = {"kind": "sql", "driverMemory": "512m", "conf": {"spark.sql.shuffle.partitions": "4"}}
    total = args.pool_size + args.profile_size
    env_extra = {"SPARK_HOME": args.spark_home, "PYSPARK_PYTHON": args.pyspark_python}
    if args.spark_conf_dir:
        env_extra["SPARK_CONF_DIR"] = args.spark_conf_dir
    load_start = lb.loadavg()
    server = lb.Server(args, args.work, conf=conf, env_extra=env_extra)
    client = Client(server)
    pooled, cold, spark, profiled = [], [], [], []
    try:
        t_fill = time.time()
        wait(lambda: len(pool_ready(server)[0]) >= total, args.start_timeout, "the pool to fill")
        log(f"pool of {total} filled in {time.time() - t_fill:.1f}s")
        for i in range(args.rounds):
            wait(lambda: (lambda r, s: len(r) >= total and s <= r)(*pool_ready(server)),
                 args.start_timeout, "the pool to refill")
            ready_before = pool_ready(server)[0]
            load = lb.loadavg()
            sid, t0, answered, idle = start_session(client, {"kind": "pyspark"}, poll, args.start_timeout)
            pooled.append({"id": sid, "post_to_answer": answered - t0, "post_to_idle": idle - t0, "load": load})
            client.req("DELETE", f"/sessions/{sid}")
            log(f"round {i + 1}: pooled {idle - t0:.3f}s (load {load})")
            if args.profile_size:
                load = lb.loadavg()
                sid, t0, answered, idle = start_session(client, profile_body, poll, args.start_timeout)
                profiled.append({"id": sid, "post_to_idle": idle - t0, "load": load,
                                 "from_pool": sid in ready_before})
                client.req("DELETE", f"/sessions/{sid}")
                log(f"round {i + 1}: profile `small` {idle - t0:.3f}s (load {load})")
            # Cold: with the pool full and quiet, so refills do not share the CPU with it.
            wait(lambda: (lambda r, s: len(r) >= total and s <= r)(*pool_ready(server)),
                 args.start_timeout, "the pool to refill")
            load = lb.loadavg()
            body = {"kind": "pyspark", "driverMemory": "1g"}
            sid, t0, answered, idle = start_session(client, body, poll, args.start_timeout)
            rec = {"id": sid, "post_to_idle": idle - t0, "load": load, "t0": t0, "idle": idle,
                   "timings": timings(client, sid)}
            cold.append(rec)
            client.req("DELETE", f"/sessions/{sid}")
            log(f"round {i + 1}: cold {idle - t0:.1f}s (load {load})")
        for i in range(args.spark_rounds):
            wait(lambda: (lambda r, s: len(r) >= total and s <= r)(*pool_ready(server)),
                 args.start_timeout, "the pool to refill")
            load = lb.loadavg()
            sid, t0, answered, idle = start_session(client, {"kind": "spark"}, poll, args.start_timeout)
            st = client.req("POST", f"/sessions/{sid}/statements", {"code": "1 + 1"})
            out = client.req("GET", f"/sessions/{sid}/statements/{st['id']}?wait=60")
            while out["state"] not in ("available", "error", "cancelled"):
                out = client.req("GET", f"/sessions/{sid}/statements/{st['id']}?wait=60")
            first = time.time()
            scala = None
            for line in client.req("GET", f"/sessions/{sid}/log?size=-1")["log"]:
                m = re.search(r"Scala \S+ interpreter started in ([0-9.]+) s", line)
                if m:
                    scala = float(m.group(1))
            spark.append({"id": sid, "post_to_idle": idle - t0, "post_to_first_result": first - t0,
                          "scala_start": scala, "load": load,
                          "ok": out["state"] == "available" and out["output"]["status"] == "ok"})
            client.req("DELETE", f"/sessions/{sid}")
            log(f"spark round {i + 1}: idle {idle - t0:.1f}s, first result {first - t0:.1f}s, "
                f"Scala start {scala}s (load {load})")
    finally:
        server.stop()

    def row(name, values):
        return f"| {name} | {lb.pct(values, 50):.3f} | {lb.pct(values, 99):.3f} | {min(values):.3f} | {max(values):.3f} |"

    print(f"\nPOST /sessions -> idle, {args.rounds} pooled and {args.rounds} cold pyspark sessions, "
          f"pool size {args.pool_size}, master {args.master}, poll {args.poll_ms:g} ms")
    print("| start | p50 s | p99 s | min s | max s |\n| --- | --- | --- | --- | --- |")
    print(row("pooled", [p["post_to_idle"] for p in pooled]))
    print(row("cold", [c["post_to_idle"] for c in cold]))
    if profiled:
        print(row("profile `small` (sql)", [p["post_to_idle"] for p in profiled]))
        print(f"profile sessions that took a pooled driver: {sum(p['from_pool'] for p in profiled)} of {len(profiled)}")
    print(f"pooled p50 is {lb.pct([c['post_to_idle'] for c in cold], 50) / lb.pct([p['post_to_idle'] for p in pooled], 50):.0f}x faster than cold p50")
    for name, fast in (("pooled", pooled), ("profile `small`", profiled)):
        if fast:
            ratios = sorted(c["post_to_idle"] / f["post_to_idle"] for c, f in zip(cold, fast))
            print(f"cold / {name} per round: median {lb.pct(ratios, 50):.0f}x, min {ratios[0]:.0f}x, "
                  f"max {ratios[-1]:.0f}x over {len(ratios)} rounds")
    print("load average at each POST: pooled " + "; ".join(p["load"] for p in pooled)
          + " | cold " + "; ".join(c["load"] for c in cold)
          + (" | profile " + "; ".join(p["load"] for p in profiled) if profiled else ""))
    steps = [("POST", "jvm_start"), ("jvm_start", "python_start"), ("python_start", "connected"),
             ("connected", "pyspark_imported"), ("pyspark_imported", "spark_session"),
             ("spark_session", "interpreters"), ("interpreters", "ready"), ("ready", "idle seen")]
    with_t = [c for c in cold if c["timings"]]
    if with_t:
        print("\nCold start breakdown (median over the cold sessions, seconds):")
        print("| step | median | min | max |\n| --- | --- | --- | --- |")
        for a, b in steps:
            vals = []
            for c in with_t:
                t = dict(c["timings"], POST=c["t0"])
                t["idle seen"] = c["idle"]
                if a in t and b in t:
                    vals.append(t[b] - t[a])
            if vals:
                print(f"| {a} -> {b} | {lb.pct(vals, 50):.2f} | {min(vals):.2f} | {max(vals):.2f} |")
    if spark:
        print("\nCold spark (Scala) sessions: the interpreter starts in the background after `ready`")
        print("| session | POST -> idle s | POST -> first Scala result s | Scala interpreter start s | load |")
        print("| --- | --- | --- | --- | --- |")
        for r in spark:
            print(f"| {r['id']} | {r['post_to_idle']:.2f} | {r['post_to_first_result']:.2f} | "
                  f"{r['scala_start']} | {r['load']} |")
    print(f"\nload average at start {load_start}, at end {lb.loadavg()}; revision {args.revision}")
    print(f"command: {args.command}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"pooled": pooled, "cold": cold, "spark": spark, "profile": profiled, "date": datetime.datetime.now().isoformat()}, f, indent=1)


if __name__ == "__main__":
    main()
