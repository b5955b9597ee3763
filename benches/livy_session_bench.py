#!/usr/bin/env python3
"""The session benchmark driver behind scripts/bench-sessions (standard library only).

Real Spark: SPARK_HOME and PYSPARK_PYTHON come from scripts/setup-env (the pyspark wheel in
.venv). One livy-rs server is started through bin/livy-server in the foreground, exactly as the
batch bench does (benches/livy_bench.py's Server: temp conf dir, port 0, LIVY_LOG_DIR with the
access log on), with livy.spark.master = --master, livy.rsc.launcher.address = 127.0.0.1 and
livy.rsc.launcher.port.range = 0~0. Then, in this order:

  1. One pyspark session is created and polled to `idle` (not counted: it warms the page cache
     for every later start, session or bare). Its spark-submit command line is read from the
     server log; the bare runs below use the same command with only the application replaced.
  2. Statement round trips on that session, sequential: POST /sessions/{id}/statements
     {"code": "1+1"}, then GET /sessions/{id}/statements/{sid}?wait=30 (the long-poll
     extension), timed from just before the POST bytes are written to the end of the GET
     response (time.time_ns(), CLOCK_REALTIME). `--warmup` round trips first, not counted.
     Then `--round-trips` counted ones in blocks of 20, alternating "plain" blocks (the driver
     untouched) and "stamped" blocks. For a stamped block a statement sent through the REST API
     wraps a few functions of the driver (it runs as the `__main__` module of the session's
     Python process; see HOOKS) so that it records, in CLOCK_REALTIME ns: the time it reads
     for the epoch ms it reports (`started.at`, `result.completed`), when a raw socket read
     returns and when the `execute` frame is decoded, and when the `result` frame is handed to
     TLS. Another statement removes the wrappers after the block; neither is counted, nor is
     the first round trip after the wrappers go in (see below).
  3. GET /sessions/{id}/statements with the statements the session retains (Livy's
     livy.rsc.retained-statements, 100 by default), `--list-requests` times. Then the session
     is deleted.
  4. Session start vs bare spark-submit, `--pairs` pairs, interleaved (the session first in
     pairs 1, 3, ..., the bare run first in pairs 2, 4, ...): a session is POST /sessions {"kind":
     "pyspark"} -> `idle` seen by polling GET /sessions/{id}/state every `--poll-ms`, then
     DELETE (which waits for the driver to exit); a bare run starts the same spark-submit
     command (same master, conf, SPARK_HOME, SPARK_CONF_DIR, Python, environment) on a script
     that only builds a SparkSession, prints a marker line and stops it; timed from just
     before Popen to the marker line's arrival on the pipe, then until the process exits.
     Nothing overlaps: each run waits for the previous one's processes to exit. Also read at
     the end of each start (idle seen / marker read): the CPU time of its Spark processes
     (spark-submit's JVM, the Python process, and the children they reaped, e.g. the launcher
     JVM of spark-class), and, for sessions, the server log's stamps (spawn, driver connected,
     idle). With --py-profile both kinds of Python process are sampled (benches/py_sampler).

Prints a table (figure, value, target, met?), the per-run figures, the load average with each
figure, and the machine facts.
"""

import argparse
import collections
import datetime
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import livy_bench as lb  # noqa: E402  (Conn, Server, pct, ms, loadavg, machine_cpu, ...)

OVERHEAD_P50_TARGET_MS = 5.0
START_RATIO_TARGET = 1.05
BLOCK = 20
MARKER = b"LIVY-RS-BENCH-SPARK-READY"

BARE_SCRIPT = """\
import time
T_PY = time.time_ns()  # first thing the Python process does
from pyspark.sql import SparkSession
spark = SparkSession.builder.getOrCreate()
print("%s %%d %%d" %% (T_PY, time.time_ns()), flush=True)
spark.stop()
""" % MARKER.decode()

# Sent as a statement: defines on()/off() in the driver module. on() wraps
#   now_ms           -> also keeps the time_ns it was computed from,
#   Channel._recv_raw -> stamps when a read of the raw socket returns (only the reader thread
#                       reads it once the handshake is done),
#   Driver.dispatch  -> files, for an `execute` frame, that last socket read (`recv`) and the
#                       moment the reader thread has decoded it (`decoded`),
#   Channel.send     -> files the last now_ms() under `started` / `completed` for the statement's
#                       id, and for a `result` frame stamps just before it is handed to TLS
#                       (`write`) and once it is written to the socket (`sent`);
# off() puts the originals back. Stamps are CLOCK_REALTIME ns, the client's clock.
HOOKS = r'''
import __main__ as _m
if not hasattr(_m, "Driver") or not hasattr(_m, "now_ms") or not hasattr(_m, "Channel"):
    print("no-driver-module")
elif hasattr(_m, "_livy_rs_bench"):
    print("installed")
else:
    import time as _time
    def _install(m=_m, t=_time.time_ns):
        st = {k: {} for k in ("recv", "decoded", "started", "completed", "write", "sent")}
        last, last_recv = [0], [0]
        orig = (m.now_ms, m.Channel._recv_raw, m.Driver.dispatch, m.Channel.send)
        def now_ms():
            v = t()
            last[0] = v
            return v // 1000000
        def recv_raw(self, o=orig[1]):
            data = o(self)
            last_recv[0] = t()
            return data
        def dispatch(self, msg, o=orig[2]):
            if msg.get("type") == "execute":
                st["decoded"][msg.get("id")] = t()
                st["recv"][msg.get("id")] = last_recv[0]
            return o(self, msg)
        def send(self, msg, payload=None, o=orig[3]):
            kind = msg.get("type")
            if kind == "started":
                st["started"][msg["id"]] = last[0]
            elif kind == "result":
                st["completed"][msg["id"]] = last[0]
                st["write"][msg["id"]] = t()
            r = o(self, msg, payload)
            if kind == "result":
                st["sent"][msg["id"]] = t()
            return r
        def on():
            m.now_ms, m.Channel._recv_raw, m.Driver.dispatch, m.Channel.send = now_ms, recv_raw, dispatch, send
        def off():
            m.now_ms, m.Channel._recv_raw, m.Driver.dispatch, m.Channel.send = orig
        return {"stamps": st, "on": on, "off": off}
    _m._livy_rs_bench = _install()
    print("installed")
'''
HOOKS_ON = "import __main__ as _m; _m._livy_rs_bench['on']()"
HOOKS_OFF = "import __main__ as _m; _m._livy_rs_bench['off']()"
HOOKS_DUMP = "import __main__ as _m, json as _j; print(_j.dumps(_m._livy_rs_bench['stamps']))"

log = lb.log
pct, ms = lb.pct, lb.ms


def median(values):
    s = sorted(values)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


# --------------------------------------------------------------------------------------------
# The server log: RFC 3339 timestamps (µs) of the lines that mark a session's start.

LOG_TS = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?)Z\s+\w+\s+(.*)$")


def log_ns(stamp):
    whole, _, frac = stamp.partition(".")
    t = datetime.datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc)
    return int(t.timestamp()) * 1_000_000_000 + int((frac + "000000000")[:9])


def server_log_events(server, session_id):
    """(spawn, connected, idle) ns of a session from the server log, None where missing, and
    the spark-submit command (argv) the server ran for it."""
    spawn = connected = idle = None
    argv = None
    with open(server.stderr_path, "rb") as f:
        text = lb.ANSI.sub("", f.read().decode("utf-8", "replace"))
    for line in text.splitlines():
        m = LOG_TS.match(line)
        if not m:
            continue
        ts, rest = log_ns(m.group(1)), m.group(2)
        if "running spark-submit" in rest and f"/session-{session_id}-" in rest:
            spawn = ts
            argv = parse_display(rest.split("command=", 1)[1])
        elif "driver connected" in rest and re.search(rf"\bsession_id={session_id}\b", rest):
            connected = ts
        elif ("session state changed" in rest and re.search(rf"\bsession_id={session_id}\b", rest)
              and re.search(r"\bto=idle\b", rest) and idle is None):
            idle = ts
    return spawn, connected, idle, argv


def parse_display(text):
    """SparkSubmit::display(): every argument in single quotes, inner quotes as \\'."""
    return [a.replace("\\'", "'") for a in re.findall(r"'((?:\\'|[^'])*)'", text)]


def children(pid):
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/children") as f:
                    out += [int(c) for c in f.read().split()]
            except OSError:
                pass
    except OSError:
        pass
    return out


def tree_cpu(pid):
    """CPU seconds (user + system) of `pid`, its live descendants, and every child they have
    reaped (cutime/cstime; e.g. spark-class's launcher JVM, whose CPU lands in the process that
    then execs the SparkSubmit JVM)."""
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(x) for x in fields[11:15])
        stack += children(p)
    return total / os.sysconf("SC_CLK_TCK")


def load_profiles(directory):
    """[(start_ns, [(t_ns, [frames...]), ...]), ...] of benches/py_sampler's files."""
    out = []
    for name in sorted(os.listdir(directory)) if os.path.isdir(directory) else []:
        with open(os.path.join(directory, name)) as f:
            lines = f.read().splitlines()
        if not lines or not lines[0].startswith("START "):
            continue
        samples = []
        for line in lines[1:]:
            t, _, stack = line.partition(" ")
            if t.isdigit():
                samples.append((int(t), stack.split(" > ")))
        out.append((int(lines[0].split()[1]), samples))
    return out


def phases(profile, own=("livy_rs_driver.py", "bare_spark_session.py")):
    """Consecutive samples grouped by the deepest frame of the driver or the bare script and
    the frame it called: [(name, first_ns, ms spent)], in order of first appearance."""
    agg = {}
    prev = profile[0]
    for t, stack in profile[1]:
        idx = [i for i, f in enumerate(stack) if f.startswith(own)]
        if idx:
            i = idx[-1]
            name = stack[i].rsplit(":", 1)[0]
            if i + 1 < len(stack):
                name += " -> " + stack[i + 1].rsplit(":", 1)[0]
        else:
            name = "(outside: " + (stack[-1].rsplit(":", 1)[0] if stack else "?") + ")"
        if name not in agg:
            agg[name] = [prev, 0.0]
        agg[name][1] += (t - prev) / 1e6  # the interval up to this sample
        prev = t
    return [(k, v[0], v[1]) for k, v in agg.items()]


# --------------------------------------------------------------------------------------------


class Bench:
    def __init__(self, args, server):
        self.args = args
        self.server = server
        self.conn = lb.Conn(server.host, server.port)
        self.requests = 0

    def req(self, method, path, body=None, ok=(200, 201)):
        status, resp = self.conn.request(method, path, body)
        self.requests += 1
        if status not in ok:
            raise RuntimeError(f"{method} {path}: {status} {resp[:500]!r}")
        return json.loads(resp) if resp else None

    def session_log(self, sid):
        try:
            return "\n".join(self.req("GET", f"/sessions/{sid}/log?size=60")["log"])
        except Exception as e:  # noqa: BLE001
            return f"(no log: {e})"

    # -- sessions ---------------------------------------------------------------------------

    def reconnect(self):
        # The server closes a keep-alive connection that stays idle for 30 s (hyper's
        # header_read_timeout, src/server.rs), as long as a bare run can take: start afresh.
        self.conn.close()
        self.conn = lb.Conn(self.server.host, self.server.port)

    def start_session(self, name):
        """POST /sessions, poll the state until idle. Returns a dict of stamps (ns)."""
        self.reconnect()
        raw = self.conn.prepare("POST", "/sessions", {"kind": "pyspark", "name": name})
        rec = {"load": lb.loadavg()}
        t0 = time.time_ns()
        self.conn.send(raw)
        status, body = self.conn.response()
        self.requests += 1
        t_post = time.time_ns()
        if status != 201:
            raise RuntimeError(f"POST /sessions: {status} {body[:500]!r}")
        sid = json.loads(body)["id"]
        poll = self.conn.prepare("GET", f"/sessions/{sid}/state")
        step = self.args.poll_ms / 1000.0
        polls = 0
        deadline = time.monotonic() + self.args.start_timeout
        while True:
            self.conn.send(poll)
            status, body = self.conn.response()
            t = time.time_ns()
            self.requests += 1
            polls += 1
            state = json.loads(body)["state"]
            if state == "idle":
                cpu = sum(tree_cpu(c) for c in children(self.server.pid))
                break
            if state in ("error", "dead", "killed", "success", "shutting_down"):
                raise RuntimeError(f"session {sid} ended {state} before idle:\n{self.session_log(sid)}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"session {sid} not idle after {self.args.start_timeout} s:\n{self.session_log(sid)}")
            time.sleep(step)
        spawn, connected, idle, argv = server_log_events(self.server, sid)
        rec.update(id=sid, t0=t0, post=t_post, seen=t, cpu=cpu, polls=polls, spawn=spawn,
                   connected=connected, idle_logged=idle, argv=argv)
        return rec

    def delete_session(self, rec):
        t = time.time_ns()
        self.req("DELETE", f"/sessions/{rec['id']}")
        rec["stopped"] = time.time_ns() - t
        rec["load_end"] = lb.loadavg()

    def bare_start(self, argv, env, script):
        """spark-submit `argv` with the application replaced by `script`. Its stdout and stderr are
        pipes drained as they fill, as the server drains a session's (a file would let disk
        write-back stall Spark's logging threads, which a session never sees)."""
        rec = {"load": lb.loadavg()}
        cmd = list(argv[:-2]) + [script]  # the driver program and its config.json
        if "--name" in cmd:
            cmd[cmd.index("--name") + 1] = "bench-bare"
        rec["argv"] = cmd
        tail = collections.deque(maxlen=40)
        t0 = time.time_ns()
        proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, process_group=0)
        drain = threading.Thread(target=lambda: tail.extend(proc.stderr), daemon=True)
        drain.start()
        seen = None
        try:
            for line in proc.stdout:
                if line.startswith(MARKER):
                    seen = time.time_ns()
                    rec["cpu"] = tree_cpu(proc.pid)
                    _, t_py, t_ready = line.split()
                    rec.update(py=int(t_py), ready=int(t_ready))
                    break
            if seen is None:
                proc.wait()
                drain.join(5)
                raise RuntimeError(f"bare spark-submit exited {proc.returncode} without the marker; "
                                   "its stderr ended:\n" + b"".join(tail).decode("utf-8", "replace"))
            proc.stdout.read()
            proc.wait(timeout=120)
            t_exit = time.time_ns()
            drain.join(5)
        except BaseException:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
            raise
        if proc.returncode != 0:
            raise RuntimeError(f"bare spark-submit exited {proc.returncode}; its stderr ended:\n"
                               + b"".join(tail).decode("utf-8", "replace"))
        rec.update(t0=t0, seen=seen, stopped=t_exit - seen, load_end=lb.loadavg())
        return rec

    # -- statements -------------------------------------------------------------------------

    def run(self, sid, code):
        """One statement, waited for with ?wait=; returns the statement JSON."""
        st = self.req("POST", f"/sessions/{sid}/statements", {"code": code})
        out = self.req("GET", f"/sessions/{sid}/statements/{st['id']}?wait=60")
        if out["state"] != "available" or out["output"]["status"] != "ok":
            raise RuntimeError(f"statement {code!r}: {json.dumps(out)[:800]}")
        return out

    def round_trip(self, sid, raw_post):
        t0 = time.time_ns()
        self.conn.send(raw_post)
        status, body = self.conn.response()
        t1 = time.time_ns()
        if status != 201:
            raise RuntimeError(f"POST statement: {status} {body[:300]!r}")
        stid = json.loads(body)["id"]
        self.conn.send(self.conn.prepare("GET", f"/sessions/{sid}/statements/{stid}?wait=30"))
        status, body = self.conn.response()
        t2 = time.time_ns()
        self.requests += 2
        s = json.loads(body)
        if status != 200 or s["state"] != "available" or s["output"].get("data", {}).get("text/plain") != "2":
            raise RuntimeError(f"round trip {stid}: {status} {body[:500]!r}")
        return {"id": stid, "t0": t0, "post": t1, "end": t2, "started": s["started"], "completed": s["completed"]}


def cores(busy0, busy1, wall):
    return (busy1[0] - busy0[0]) / wall


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", required=True)
    ap.add_argument("--server-bin", required=True)
    ap.add_argument("--spark-home", required=True)
    ap.add_argument("--pyspark-python", required=True)
    ap.add_argument("--spark-conf-dir", default="")
    ap.add_argument("--jvm-opts", default="")
    ap.add_argument("--work", required=True)
    ap.add_argument("--command", default="")
    ap.add_argument("--revision", default="")
    ap.add_argument("--master", default="local[*]")
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--round-trips", type=int, default=200)
    ap.add_argument("--list-requests", type=int, default=200)
    ap.add_argument("--pairs", type=int, default=4)
    ap.add_argument("--poll-ms", type=float, default=10.0)
    ap.add_argument("--start-timeout", type=float, default=300.0)
    ap.add_argument("--py-profile", action="store_true",
                    help="sample the Python main thread of every driver and bare run (benches/py_sampler)")
    ap.add_argument("--json", default="")
    args = ap.parse_args()
    args.round_trips = max(2 * BLOCK, args.round_trips // (2 * BLOCK) * (2 * BLOCK))

    started = time.time()
    facts = lb.machine_facts(argparse.Namespace(wrk="true"))
    spark_version = "?"
    try:
        spark_version = subprocess.run(
            [args.pyspark_python, "-c", "import pyspark; print(pyspark.__version__)"],
            capture_output=True, text=True, timeout=60).stdout.strip()
    except Exception:  # noqa: BLE001
        pass
    java = "?"
    try:
        java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr.splitlines()[0]
    except Exception:  # noqa: BLE001
        pass
    conf = (
        "livy.server.host = 127.0.0.1\n"
        "livy.server.port = 0\n"
        f"livy.server.spark-home = {args.spark_home}\n"
        f"livy.spark.master = {args.master}\n"
        "livy.rsc.launcher.address = 127.0.0.1\n"
        "livy.rsc.launcher.port.range = 0~0\n"
    )
    env_extra = {"SPARK_HOME": args.spark_home, "PYSPARK_PYTHON": args.pyspark_python}
    if args.spark_conf_dir:
        env_extra["SPARK_CONF_DIR"] = args.spark_conf_dir
    samples = os.path.join(args.work, "py-samples")
    if args.py_profile:
        os.makedirs(samples, exist_ok=True)
        sampler = os.path.join(os.path.dirname(os.path.abspath(__file__)), "py_sampler")
        env_extra["PYTHONPATH"] = os.pathsep.join(p for p in (sampler, os.environ.get("PYTHONPATH")) if p)
        env_extra["LIVY_BENCH_PY_SAMPLES"] = samples
    script = os.path.join(args.work, "bare_spark_session.py")
    with open(script, "w") as f:
        f.write(BARE_SCRIPT)

    results = {"facts": facts, "command": args.command,
               "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds")}
    load_start = lb.loadavg()
    server = lb.Server(args, args.work, conf=conf, env_extra=env_extra)
    bench = Bench(args, server)
    log(f"server pid {server.pid} on {server.host}:{server.port}; master {args.master}")
    try:
        # 1. The first session: warm-up start, round trips, list.
        log("starting the round-trip session (its start is a warm-up, not counted)")
        first = bench.start_session("bench-round-trips")
        sid = first["id"]
        argv = first["argv"]
        if not argv:
            raise RuntimeError("no 'running spark-submit' line for the session in the server log")
        log(f"session {sid} idle after {ms(first['seen'] - first['t0']) / 1000:.1f} s; "
            f"spark-submit: {shlex.join(argv)}")

        # 2. Round trips.
        raw_post = bench.conn.prepare("POST", f"/sessions/{sid}/statements", {"code": "1+1"})
        log(f"{args.warmup} warm-up round trips, then {args.round_trips} in blocks of {BLOCK} (plain / stamped)")
        for _ in range(args.warmup):
            bench.round_trip(sid, raw_post)
        hooks = bench.run(sid, HOOKS)["output"]["data"]["text/plain"]
        stamped_ok = hooks == "installed"
        if not stamped_ok:
            log(f"cannot stamp inside the driver ({hooks!r}); only plain round trips")
        plain, stamped = [], []
        rt_load0, rt_busy0, rt_wall0 = lb.loadavg(), lb.machine_cpu(), time.monotonic()
        rt_cpu0 = lb.cpu_seconds(server.pid)
        for b in range(args.round_trips // BLOCK):
            is_stamped = stamped_ok and b % 2 == 1
            if is_stamped:
                bench.run(sid, HOOKS_ON)
                # Not counted: the reader thread was already blocked in the original socket read
                # when on() ran, so the first frame after it would carry no `recv` stamp.
                bench.round_trip(sid, raw_post)
            for _ in range(BLOCK):
                (stamped if is_stamped else plain).append(bench.round_trip(sid, raw_post))
            if is_stamped:
                bench.run(sid, HOOKS_OFF)
        rt_wall = time.monotonic() - rt_wall0
        rt_busy = cores(rt_busy0, lb.machine_cpu(), rt_wall)
        rt_server_cpu = lb.cpu_seconds(server.pid) - rt_cpu0
        rt_load1 = lb.loadavg()
        if stamped_ok:
            stamps = json.loads(bench.run(sid, HOOKS_DUMP)["output"]["data"]["text/plain"])
            for r in stamped:
                k = str(r["id"])
                r.update(recv=stamps["recv"][k], decoded=stamps["decoded"][k],
                         started_ns=stamps["started"][k], completed_ns=stamps["completed"][k],
                         write=stamps["write"][k], sent=stamps["sent"][k])

        # 3. Statement list.
        log(f"GET /sessions/{sid}/statements x{args.list_requests}")
        raw_list = bench.conn.prepare("GET", f"/sessions/{sid}/statements")
        list_ns, list_bytes, list_n = [], 0, 0
        list_load = lb.loadavg()
        for _ in range(args.list_requests):
            t0 = time.time_ns()
            bench.conn.send(raw_list)
            status, body = bench.conn.response()
            list_ns.append(time.time_ns() - t0)
            list_bytes = len(body)
        bench.requests += args.list_requests
        list_n = json.loads(body)["total_statements"]
        bench.delete_session(first)

        # 4. Session start vs bare spark-submit, interleaved.
        env = dict(server.env)
        sessions, bares = [], []
        for i in range(args.pairs):
            order = ("session", "bare") if i % 2 == 0 else ("bare", "session")
            for what in order:
                if what == "session":
                    log(f"pair {i + 1}/{args.pairs}: session start")
                    rec = bench.start_session(f"bench-start-{i}")
                    bench.delete_session(rec)
                    sessions.append(rec)
                else:
                    log(f"pair {i + 1}/{args.pairs}: bare spark-submit")
                    bares.append(bench.bare_start(argv, env, script))
                log(f"  {what}: {ms((sessions if what == 'session' else bares)[-1]['seen'] - (sessions if what == 'session' else bares)[-1]['t0']) / 1000:.2f} s")
    finally:
        try:
            bench.conn.close()
        except Exception:  # noqa: BLE001
            pass
        code = server.stop()

    # ----------------------------------------------------------------------------------------
    yes = lambda ok: "yes" if ok else "NO"  # noqa: E731
    rows = []
    tot_p = [r["end"] - r["t0"] for r in plain]
    drv_p = [r["completed"] - r["started"] for r in plain]  # ms
    ovh_p = [ms(t) - d for t, d in zip(tot_p, drv_p)]
    n = len(plain)
    rows += [
        (f"statement round trip `1+1` (POST + GET ?wait), plain driver, p50 / p99 (n={n})",
         f"{ms(pct(tot_p, 50)):.2f} / {ms(pct(tot_p, 99)):.2f} ms", "", ""),
        ("  driver execution, completed - started (epoch ms), mean; samples at 0 / 1 / 2+ ms",
         f"{sum(drv_p) / n:.2f} ms; {sum(1 for d in drv_p if d == 0)} / {sum(1 for d in drv_p if d == 1)} / {sum(1 for d in drv_p if d >= 2)}", "", ""),
        ("  server + channel overhead, total - (completed - started), p50 / p99 (1 ms grain); mean",
         f"{pct(ovh_p, 50):.2f} / {pct(ovh_p, 99):.2f}; {sum(ovh_p) / n:.2f} ms", "", ""),
    ]
    target_val = pct(ovh_p, 50)
    if stamped:
        tot_s = [r["end"] - r["t0"] for r in stamped]
        drv_s = [r["completed_ns"] - r["started_ns"] for r in stamped]
        ovh_s = [t - d for t, d in zip(tot_s, drv_s)]
        seg = {
            "client POST -> driver's socket read returns": [r["recv"] - r["t0"] for r in stamped],
            "driver: socket read -> `execute` decoded (TLS, JSON)": [r["decoded"] - r["recv"] for r in stamped],
            "driver: decoded -> worker reads the clock for `started`": [r["started_ns"] - r["decoded"] for r in stamped],
            "driver: started -> completed (the statement's execution)": drv_s,
            "driver: completed -> `result` handed to TLS (output, JSON)": [r["write"] - r["completed_ns"] for r in stamped],
            "`result` handed to TLS -> client has the GET ?wait response": [r["end"] - r["write"] for r in stamped],
        }
        consistent = sum(1 for r in stamped if r["started_ns"] // 1_000_000 == r["started"]
                         and r["completed_ns"] // 1_000_000 == r["completed"])
        target_val = ms(pct(ovh_s, 50))
        m = len(stamped)
        rows += [
            (f"statement round trip `1+1`, stamped driver, p50 / p99 (n={m})",
             f"{ms(pct(tot_s, 50)):.2f} / {ms(pct(tot_s, 99)):.2f} ms", "", ""),
            ("  driver execution, completed - started in ns, p50 / p99",
             f"{ms(pct(drv_s, 50)):.3f} / {ms(pct(drv_s, 99)):.3f} ms", "", ""),
            ("  **server + channel overhead, total - driver execution, p50**",
             f"{ms(pct(ovh_s, 50)):.2f} ms", f"<= {OVERHEAD_P50_TARGET_MS:g} ms", yes(ms(pct(ovh_s, 50)) <= OVERHEAD_P50_TARGET_MS)),
            ("  server + channel overhead, p99", f"{ms(pct(ovh_s, 99)):.2f} ms", "", ""),
        ]
        for name, vals in seg.items():
            rows.append((f"    {name}, p50 / p99", f"{ms(pct(vals, 50)):.3f} / {ms(pct(vals, 99)):.3f} ms", "", ""))
    else:
        rows.append(("  server + channel overhead p50 vs target (1 ms grain)", f"{target_val:.2f} ms",
                     f"<= {OVERHEAD_P50_TARGET_MS:g} ms", yes(target_val <= OVERHEAD_P50_TARGET_MS)))
    rows.append((f"GET /sessions/{{id}}/statements ({list_n} statements, {list_bytes} B), p50 / p99 (n={len(list_ns)})",
                 f"{ms(pct(list_ns, 50)):.2f} / {ms(pct(list_ns, 99)):.2f} ms", "", ""))

    s_tot = [ms(r["seen"] - r["t0"]) / 1000 for r in sessions]
    b_tot = [ms(r["seen"] - r["t0"]) / 1000 for r in bares]
    ratios = [s / b for s, b in zip(s_tot, b_tot)]
    if sessions and bares:
        # The headline is the median of the per-pair ratios (each pair ran side by side, so the
        # load moves both halves alike), with the spread. A session start contains a bare start,
        # so a ratio below 1 is noise, never a gain; the bench says so instead of reporting it.
        pair_ratio = median(ratios)
        lo, hi = pct(ratios, 25), pct(ratios, 75)
        s_cpu = [r["cpu"] for r in sessions]
        b_cpu = [r["cpu"] for r in bares]
        rows += [
            (f"session start -> idle seen, median of {len(s_tot)}", f"{median(s_tot):.2f} s", "", ""),
            (f"bare spark-submit -> SparkSession built, median of {len(b_tot)}", f"{median(b_tot):.2f} s", "", ""),
            (f"**session start / bare spark-submit, median of {len(ratios)} per-pair ratios**",
             f"{pair_ratio:.3f}", f"<= {START_RATIO_TARGET:g}", yes(pair_ratio <= START_RATIO_TARGET)),
            ("  spread of the per-pair ratios: p25 .. p75; min .. max",
             f"{lo:.3f} .. {hi:.3f}; {min(ratios):.3f} .. {max(ratios):.3f}", "", ""),
            ("  ratio of the medians (for comparison)", f"{median(s_tot) / median(b_tot):.3f}", "", ""),
        ]
        if pair_ratio < 1:
            rows.append(("  (below 1: noise; a session start contains a bare start)", "", "", ""))
        rows += [
            ("CPU time of the Spark processes until ready, session / bare, medians",
             f"{median(s_cpu):.2f} / {median(b_cpu):.2f} s", "", ""),
            ("  ratio of the medians (less sensitive to the load than wall time)",
             f"{median(s_cpu) / median(b_cpu):.3f}", "", ""),
        ]

    w = max(len(r[0]) for r in rows)
    v = max(len(r[1]) for r in rows)
    t = max(max(len(r[2]) for r in rows), len("target"))
    print()
    print(f"{'figure':<{w}}  {'value':>{v}}  {'target':<{t}}  met?")
    print(f"{'-' * w}  {'-' * v}  {'-' * t}  ----")
    for fig, val, tgt, met in rows:
        print(f"{fig:<{w}}  {val:>{v}}  {tgt:<{t}}  {met}".rstrip())
    print()
    print("round trips:")
    print(f"  load average {rt_load0} at the start, {rt_load1} at the end; the whole machine kept "
          f"{rt_busy:.2f} of {facts['nproc']} cores busy (the server {rt_server_cpu / rt_wall:.2f})")
    print(f"  plain blocks p50 by block: " + ", ".join(
        f"{ms(median([r['end'] - r['t0'] for r in plain[i:i + BLOCK]])):.2f}" for i in range(0, len(plain), BLOCK)) + " ms")
    if stamped:
        print(f"  stamped blocks p50 by block: " + ", ".join(
            f"{ms(median([r['end'] - r['t0'] for r in stamped[i:i + BLOCK]])):.2f}" for i in range(0, len(stamped), BLOCK)) + " ms")
        print(f"  the REST started/completed equal the driver's ns stamps // 1e6 in {consistent} of {len(stamped)}")
        post = [r["post"] - r["t0"] for r in plain + stamped]
        print(f"  POST /statements response alone, p50 / p99: {ms(pct(post, 50)):.2f} / {ms(pct(post, 99)):.2f} ms")
    print(f"  statement list: load average {list_load}")
    print()
    print("session starts (s; 1-min load average at the start of each run; CPU s of its Spark processes):")
    print(f"  warm-up session: {ms(first['seen'] - first['t0']) / 1000:.2f} s (load {first['load']}, CPU {first['cpu']:.1f}), not counted")
    for i in range(len(sessions)):
        s, b = sessions[i], bares[i] if i < len(bares) else None
        first_run = "session first" if i % 2 == 0 else "bare first"
        line = (f"  pair {i + 1} ({first_run}): session {s_tot[i]:.2f} (load {s['load'].split()[0]}, CPU {s['cpu']:.1f})")
        if b:
            line += (f", bare {b_tot[i]:.2f} (load {b['load'].split()[0]}, CPU {b['cpu']:.1f}),"
                     f" ratio {ratios[i]:.3f}")
        print(line)
    print("  where the time goes (medians, s):")
    def med(vals):
        vals = [v for v in vals if v is not None]
        return f"{median(vals):.3f}" if vals else "?"
    sc = [r for r in sessions if r["spawn"] and r["connected"] and r["idle_logged"]]
    print(f"    session: POST -> spawn {med([ms(r['spawn'] - r['t0']) / 1000 for r in sc])}, "
          f"spawn -> driver connected {med([ms(r['connected'] - r['spawn']) / 1000 for r in sc])}, "
          f"connected -> idle {med([ms(r['idle_logged'] - r['connected']) / 1000 for r in sc])}, "
          f"idle -> seen by the poll {med([ms(r['seen'] - r['idle_logged']) / 1000 for r in sc])} "
          f"(poll every {args.poll_ms:g} ms)")
    print(f"    bare:    Popen -> Python started {med([ms(r['py'] - r['t0']) / 1000 for r in bares])}, "
          f"Python started -> SparkSession built {med([ms(r['ready'] - r['py']) / 1000 for r in bares])}, "
          f"built -> marker read {med([ms(r['seen'] - r['ready']) / 1000 for r in bares])}")
    print(f"    stop: DELETE /sessions/{{id}} {med([ms(r['stopped']) / 1000 for r in sessions])}, "
          f"bare marker -> exit {med([ms(r['stopped']) / 1000 for r in bares])}")
    print(f"  spark-submit command of the sessions (the bare runs replace the last two arguments): {shlex.join(argv)}")
    print(f"  SPARK_CONF_DIR {args.spark_conf_dir or '(none)'}" + (f" (spark.driver.extraJavaOptions {args.jvm_opts})" if args.jvm_opts else ""))
    if args.py_profile:
        print()
        print(f"Python main thread of each counted start, sampled every 5 ms (--py-profile; {samples}):")
        print("  offset from the run's start, time spent, and where (the deepest frame of the driver or")
        print("  bare script, then the frame it called; each sample stands for the interval before it);")
        print("  phases of 20 ms or more")
        profiles = load_profiles(samples)
        for what, recs in (("session", sessions), ("bare", bares)):
            for i, r in enumerate(recs):
                prof = next((p for p in profiles if r["t0"] <= p[0] <= r["seen"]), None)
                print(f"  {what} {i + 1} ({ms(r['seen'] - r['t0']) / 1000:.2f} s):")
                if prof is None:
                    print("    (no samples)")
                    continue
                for name, begin, spent in phases(prof):
                    if spent >= 20:
                        print(f"    +{ms(begin - r['t0']):7.0f} ms {spent:6.0f} ms  {name}")
    print()
    print(f"load average at start {load_start}, at end {lb.loadavg()}")
    if float(load_start.split()[0]) > facts["nproc"] / 2:
        print(f"WARNING: the machine was busy (1-min load {load_start.split()[0]} on {facts['nproc']} cores)")
    print(f"server exit code after SIGTERM: {code}; {bench.requests} requests sent")
    print()
    print("machine:")
    print(f"  nproc {facts['nproc']}, CPU {facts['cpu']}, memory {facts['memory']}, kernel {facts['kernel']}")
    print(f"  python {facts['python']} (client); pyspark {spark_version}; {java}; master {args.master}")
    if args.revision:
        print(f"  livy-rs revision {args.revision}")
    print(f"  date {results['date']}; bench wall time {time.time() - started:.0f} s")
    print(f"command: {args.command}")
    if args.json:
        results.update(rows=rows, plain=plain, stamped=stamped, list_ms=[ms(x) for x in list_ns],
                       sessions=sessions, bares=bares, warmup_session=first, round_trip_load=[rt_load0, rt_load1],
                       server_exit=code)
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
