#!/usr/bin/env python3
"""The benchmark driver behind scripts/bench (standard library only).

Starts one livy-rs server through bin/livy-server in the foreground with its own temporary conf
dir (host 127.0.0.1, port 0 so the kernel picks a free one; the address is read from the
`livy-rs listening` line), its own LIVY_LOG_DIR (the access log stays on, as in production) and a
fake SPARK_HOME whose bin/spark-submit is benches/fake_spark_submit.c. Then, in this order:

  1. RSS of the idle server.
  2. `--warmup` creates (not counted), then `--creates` sequential POST /batches. Each is timed
     from just before the request bytes go to the socket (time.time_ns(), CLOCK_REALTIME) to
       - the end of the 201 response (POST response latency), and
       - the CLOCK_REALTIME the fake spark-submit read first thing in main() and wrote to the
         file named by its `--stamp` argument (POST -> spark-submit exec latency).
     The next create starts only once the stamp file exists.
  3. Sequential creates without stamps up to `--batches` registered batches; wait until every
     one of them is `success`; RSS with that many finished batches.
  4. GET /batches latency with that many batches: the default page (100) and ?size=<all>.
  5. One more batch whose spark-submit writes 250 lines to stdout and to stderr (both log rings
     full). wrk: GET /batches/{id} with `--connections` connections for `--wrk-seconds`, after a
     `--wrk-warmup`-second run that is not counted, on batch <batches>/2 (no log lines unless
     --log-lines), then the same (1 s warm-up) on that full-log batch; RSS afterwards.
  6. SIGTERM, wait for a clean exit, then count access-log lines against requests sent.

Prints a table (figure, value, target, met?) and the machine facts.
"""

import argparse
import datetime
import glob
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time

POST_EXEC_P99_TARGET_MS = 20.0
GET_THROUGHPUT_TARGET = 30000.0


# --------------------------------------------------------------------------------------------
# A minimal keep-alive HTTP/1.1 client: requests are prepared as bytes beforehand so the clock
# starts right before sendall(), and parsing the response costs next to nothing.


class Conn:
    def __init__(self, host, port):
        self.host, self.port = host, port
        self.sock = socket.create_connection((host, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def close(self):
        self.sock.close()

    def prepare(self, method, path, body=None):
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nUser-Agent: livy-rs-bench\r\n"
        if body is not None:
            data = json.dumps(body).encode()
            head += f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
        else:
            data = b""
        return (head + "\r\n").encode() + data

    def _fill(self):
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise ConnectionError("server closed the connection")
        self.buf += chunk

    def send(self, raw):
        self.sock.sendall(raw)

    def response(self):
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        if "content-length" in headers:
            n = int(headers["content-length"])
            while len(self.buf) < n:
                self._fill()
            body, self.buf = self.buf[:n], self.buf[n:]
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while True:
                while b"\r\n" not in self.buf:
                    self._fill()
                size_line, self.buf = self.buf.split(b"\r\n", 1)
                size = int(size_line.split(b";")[0], 16)
                while len(self.buf) < size + 2:
                    self._fill()
                body += self.buf[:size]
                self.buf = self.buf[size + 2 :]
                if size == 0:
                    break
        else:
            raise RuntimeError(f"response without length: {lines[0]}")
        return status, body

    def request(self, method, path, body=None):
        self.send(self.prepare(method, path, body))
        return self.response()


# --------------------------------------------------------------------------------------------


def pct(values, p):
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(-(-p * len(s) // 100)) - 1))
    return s[k]


def ms(ns):
    return ns / 1e6


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def cpu_seconds(pid):
    """User + system CPU time of the whole process (all threads)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_cpu():
    """(busy, steal) CPU-seconds of the whole machine so far, from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    hz = os.sysconf("SC_CLK_TCK")
    idle = v[3] + v[4]
    steal = v[7] if len(v) > 7 else 0
    return (sum(v[:8]) - idle - steal) / hz, steal / hz


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def threads(pid):
    return len(os.listdir(f"/proc/{pid}/task"))


def log(msg):
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


ANSI = re.compile(r"\x1b\[[0-9;]*m")


class Server:
    """livy-rs through bin/livy-server in the foreground. `conf` replaces the livy.conf written
    for the batch bench (fake SPARK_HOME); `env_extra` is added to the cleaned environment
    (benches/livy_session_bench.py passes SPARK_HOME, PYSPARK_PYTHON, SPARK_CONF_DIR)."""

    def __init__(self, args, work, conf=None, env_extra=None):
        self.work = work
        self.conf_dir = os.path.join(work, "conf")
        self.log_dir = os.path.join(work, "logs")
        self.jobs = os.path.join(work, "jobs")
        for d in (self.conf_dir, self.log_dir, self.jobs, os.path.join(work, "run")):
            os.makedirs(d, exist_ok=True)
        self.job_file = os.path.join(self.jobs, "pi.py")
        with open(self.job_file, "w") as f:
            f.write("# never run: the fake spark-submit exits at once\n")
        if conf is None:
            conf = (
                "livy.server.host = 127.0.0.1\n"
                "livy.server.port = 0\n"
                f"livy.server.spark-home = {args.spark_home}\n"
                "livy.spark.master = local\n"
                f"livy.file.local-dir-whitelist = {self.jobs}\n"
            )
        with open(os.path.join(self.conf_dir, "livy.conf"), "w") as f:
            f.write(conf)
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("LIVY_", "SPARK_", "HADOOP_", "YARN_", "PYSPARK_"))
        }
        env.update(
            LIVY_HOME=args.root,
            LIVY_CONF_DIR=self.conf_dir,
            LIVY_LOG_DIR=self.log_dir,
            LIVY_PID_DIR=os.path.join(work, "run"),
            LIVY_RS_BIN=args.server_bin,
            NO_COLOR="1",
        )
        env.update(env_extra or {})
        self.env = env
        self.stderr_path = os.path.join(work, "server.stderr")
        self.stderr = open(self.stderr_path, "wb")
        cmd = [os.path.join(args.root, "bin", "livy-server")]
        self.proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=self.stderr, stderr=self.stderr)
        deadline = time.time() + 30
        self.host = self.port = None
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.tail()}")
            with open(self.stderr_path, "rb") as f:
                text = ANSI.sub("", f.read().decode("utf-8", "replace"))
            m = re.search(r"livy-rs listening.*address=(\S+):(\d+)", text)
            if m:
                self.host, self.port = m.group(1), int(m.group(2))
                break
            time.sleep(0.02)
        if self.port is None:
            raise RuntimeError(f"server did not report its address:\n{self.tail()}")
        self.pid = self.proc.pid  # bin/livy-server execs the binary in the foreground

    def tail(self):
        with open(self.stderr_path, "rb") as f:
            return f.read().decode("utf-8", "replace")[-4000:]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.stderr.close()
        return self.proc.returncode

    def access_log_lines(self):
        n = 0
        for path in glob.glob(os.path.join(self.log_dir, "livy-requests*")):
            with open(path, "rb") as f:
                n += sum(1 for _ in f)
        return n


def wait_for_file(path, timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            with open(path) as f:
                return int(f.read())
        except FileNotFoundError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"spark-submit never wrote {path}")
            time.sleep(0.0001)


def create(conn, body, expect_name=None):
    """One POST /batches; retries 'too many sessions' refusals. Returns (t0, t_resp, id)."""
    raw = conn.prepare("POST", "/batches", body)
    for _ in range(1000):
        t0 = time.time_ns()
        conn.send(raw)
        status, resp = conn.response()
        t1 = time.time_ns()
        if status == 201:
            return t0, t1, json.loads(resp)["id"]
        if status == 400 and b"too many sessions" in resp:
            time.sleep(0.01)
            continue
        raise RuntimeError(f"POST /batches: {status} {resp[:300]!r}")
    raise RuntimeError("POST /batches refused 1000 times")


def run_wrk(args, url, seconds, latency):
    cmd = [args.wrk, f"-t{args.wrk_threads}", f"-c{args.connections}", f"-d{seconds}s"]
    if latency:
        cmd.append("--latency")
    cmd.append(url)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    res = {"cmd": " ".join(cmd), "raw": out}
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    res["rps"] = float(m.group(1)) if m else 0.0
    m = re.search(r"(\d+) requests in", out)
    res["requests"] = int(m.group(1)) if m else 0
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    res["non2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors:(.*)", out)
    res["socket_errors"] = m.group(1).strip() if m else "none"
    for p in ("50", "99"):
        m = re.search(rf"^\s+{p}(?:\.000)?%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if m:
            v = float(m.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[m.group(2)]
            res[f"p{p}_ms"] = v
    return res


def machine_facts(args):
    facts = {}
    facts["nproc"] = os.cpu_count()
    try:
        facts["nproc"] = int(subprocess.run(["nproc"], capture_output=True, text=True).stdout)
    except Exception:
        pass
    model = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    facts["cpu"] = model
    with open("/proc/meminfo") as f:
        kib = int(f.readline().split()[1])
    facts["memory"] = f"{kib / 1024 / 1024:.1f} GiB"
    facts["kernel"] = platform.release()
    try:
        facts["wrk"] = subprocess.run([args.wrk, "-v"], capture_output=True, text=True).stdout.split("\n")[0].strip()
    except Exception:
        facts["wrk"] = "?"
    facts["python"] = platform.python_version()
    return facts


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--server-bin", required=True)
    ap.add_argument("--spark-home", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--wrk", required=True)
    ap.add_argument("--command", default="scripts/bench")
    ap.add_argument("--fake-build", default="")
    ap.add_argument("--revision", default="")
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--creates", type=int, default=200)
    ap.add_argument("--batches", type=int, default=1000)
    ap.add_argument("--list-requests", type=int, default=200)
    ap.add_argument("--connections", type=int, default=128)
    ap.add_argument("--wrk-threads", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--wrk-seconds", type=int, default=10)
    ap.add_argument("--wrk-warmup", type=int, default=2)
    ap.add_argument("--log-lines", type=int, default=0,
                    help="lines the fill batches' spark-submit writes to stdout and to stderr each")
    ap.add_argument("--json", default="")
    args = ap.parse_args()

    started = time.time()
    stamps = os.path.join(args.work, "stamps")
    os.makedirs(stamps, exist_ok=True)
    facts = machine_facts(args)
    load_start = loadavg()
    server = Server(args, args.work)
    rows = []  # (figure, value, target, met)
    results = {"facts": facts, "command": args.command, "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds")}
    requests_sent = 0
    try:
        log(f"server pid {server.pid} on {server.host}:{server.port}")
        time.sleep(1.0)
        rss_idle = rss_kib(server.pid)
        threads_idle = threads(server.pid)
        conn = Conn(server.host, server.port)

        # 2. POST -> spark-submit exec.
        log(f"{args.warmup} warm-up + {args.creates} timed creates")
        exec_ns, resp_ns, bare_ns = [], [], []
        fake = os.path.join(args.spark_home, "bin", "spark-submit")
        for i in range(args.warmup + args.creates):
            stamp = os.path.join(stamps, str(i))
            body = {"file": server.job_file, "name": f"bench-{i}", "args": ["--stamp", stamp]}
            t0, t1, _ = create(conn, body)
            requests_sent += 1
            t_exec = wait_for_file(stamp)
            # Baseline, interleaved so both see the same machine: the client itself starts the
            # same program with posix_spawn, no server involved.
            bare = os.path.join(stamps, f"bare-{i}")
            b0 = time.time_ns()
            pid = os.posix_spawn(fake, [fake, "--stamp", bare], {})
            os.waitpid(pid, 0)
            b_exec = wait_for_file(bare)
            if i >= args.warmup:
                exec_ns.append(t_exec - t0)
                resp_ns.append(t1 - t0)
                bare_ns.append(b_exec - b0)
        exec_before_resp = sum(1 for e, r in zip(exec_ns, resp_ns) if e < r)

        # 3. Fill up to --batches, all finished.
        have = args.warmup + args.creates
        log(f"creating {max(0, args.batches - have)} more batches")
        fill_ns = []
        for i in range(have, args.batches):
            body = {"file": server.job_file, "name": f"bench-{i}"}
            if args.log_lines:
                body["args"] = ["--lines", str(args.log_lines)]
            t0, t1, _ = create(conn, body)
            requests_sent += 1
            fill_ns.append(t1 - t0)
        total = max(have, args.batches)
        deadline = time.time() + 60
        while True:
            status, body = conn.request("GET", f"/batches?size={total}")
            requests_sent += 1
            page = json.loads(body)
            states = [s["state"] for s in page["sessions"]]
            if page["total"] == total and all(s in ("success", "dead", "killed") for s in states):
                break
            if time.time() > deadline:
                raise RuntimeError(f"batches did not finish: {sorted(set(states))}")
            time.sleep(0.2)
        not_success = sum(1 for s in states if s != "success")
        if not_success:
            raise RuntimeError(f"{not_success} batches did not end in success (fake spark-submit failed?)")
        time.sleep(1.5)  # one GC tick; let the supervisors' memory be returned
        rss_full = rss_kib(server.pid)
        threads_full = threads(server.pid)

        # 4. GET /batches with `total` batches registered.
        log(f"GET /batches x{args.list_requests} (default page) and ?size={total}")
        list_default, list_all = [], []
        raw_default = conn.prepare("GET", "/batches")
        raw_all = conn.prepare("GET", f"/batches?size={total}")
        size_default = size_all = 0
        for _ in range(args.list_requests):
            t0 = time.time_ns()
            conn.send(raw_default)
            status, body = conn.response()
            list_default.append(time.time_ns() - t0)
            size_default = len(body)
        for _ in range(args.list_requests):
            t0 = time.time_ns()
            conn.send(raw_all)
            status, body = conn.response()
            list_all.append(time.time_ns() - t0)
            size_all = len(body)
        requests_sent += 2 * args.list_requests

        # One more batch whose spark-submit fills both log rings (livy.cache-log.size, 200 lines
        # each by default), as a real spark-submit does within minutes: its view's `log` tail is
        # cut from full rings. It is not part of the RSS and list figures above.
        _, _, chatty = create(conn, {"file": server.job_file, "name": "bench-chatty", "args": ["--lines", "250"]})
        requests_sent += 1
        while True:
            status, body = conn.request("GET", f"/batches/{chatty}/state")
            requests_sent += 1
            if json.loads(body)["state"] == "success":
                break
            time.sleep(0.05)

        def view_facts(batch_id):
            nonlocal requests_sent
            _, view = conn.request("GET", f"/batches/{batch_id}")
            _, logp = conn.request("GET", f"/batches/{batch_id}/log?size=0")
            requests_sent += 2
            return len(view), json.loads(logp)["total"] - 2  # minus the "stdout: "/"stderr: " headers

        quiet = total // 2
        quiet_bytes, quiet_lines = view_facts(quiet)
        chatty_bytes, chatty_lines = view_facts(chatty)
        conn.close()

        # 5. wrk.
        def measured_wrk(batch_id, warmup):
            url = f"http://{server.host}:{server.port}/batches/{batch_id}"
            log(f"wrk warm-up {warmup}s, then {args.wrk_seconds}s on {url}")
            res = {"warmup": run_wrk(args, url, warmup, False)}
            cpu0, wall0, wrk0, (busy0, steal0) = cpu_seconds(server.pid), time.monotonic(), children_cpu(), machine_cpu()
            res.update(run_wrk(args, url, args.wrk_seconds, True))
            res["server_cpu"] = cpu_seconds(server.pid) - cpu0
            res["wall"] = time.monotonic() - wall0
            res["wrk_cpu"] = children_cpu() - wrk0
            busy1, steal1 = machine_cpu()
            res["machine_busy"], res["steal"] = busy1 - busy0, steal1 - steal0
            return res

        wrk = measured_wrk(quiet, args.wrk_warmup)
        wrk_chatty = measured_wrk(chatty, 1)
        time.sleep(0.5)
        rss_after_wrk = rss_kib(server.pid)
        threads_after_wrk = threads(server.pid)
    finally:
        code = server.stop()
    access_lines = server.access_log_lines()

    # ----------------------------------------------------------------------------------------
    e50, e99, emax = ms(pct(exec_ns, 50)), ms(pct(exec_ns, 99)), ms(max(exec_ns))
    r50, r99 = ms(pct(resp_ns, 50)), ms(pct(resp_ns, 99))
    yes = lambda ok: "yes" if ok else "NO"
    n = len(exec_ns)
    rows += [
        (f"POST /batches -> spark-submit exec, p50 (n={n})", f"{e50:.2f} ms", "", ""),
        (f"POST /batches -> spark-submit exec, p99 (n={n})", f"{e99:.2f} ms", f"<= {POST_EXEC_P99_TARGET_MS:g} ms", yes(e99 <= POST_EXEC_P99_TARGET_MS)),
        ("POST /batches -> spark-submit exec, max", f"{emax:.2f} ms", "", ""),
        (f"  baseline: client posix_spawn -> exec of the same program, p50 / p99", f"{ms(pct(bare_ns, 50)):.2f} / {ms(pct(bare_ns, 99)):.2f} ms", "", ""),
        (f"POST /batches response, p50 (n={n})", f"{r50:.2f} ms", "", ""),
        (f"POST /batches response, p99 (n={n})", f"{r99:.2f} ms", "", ""),
    ]
    if fill_ns:
        rows.append((f"POST /batches response, p50/p99 of the {len(fill_ns)} fill creates", f"{ms(pct(fill_ns, 50)):.2f} / {ms(pct(fill_ns, 99)):.2f} ms", "", ""))
    rows += [
    ]
    for res, lines, size in ((wrk, quiet_lines, quiet_bytes), (wrk_chatty, chatty_lines, chatty_bytes)):
        rows += [
            (f"GET /batches/{{id}} throughput, {args.connections} conns, {args.wrk_seconds} s, batch with {lines} output lines",
             f"{res['rps']:,.0f} req/s", f">= {GET_THROUGHPUT_TARGET:,.0f} req/s", yes(res["rps"] >= GET_THROUGHPUT_TARGET)),
            (f"  latency under that load, p50 / p99 ({size} B responses)", f"{res.get('p50_ms', float('nan')):.2f} / {res.get('p99_ms', float('nan')):.2f} ms", "", ""),
            ("  server CPU: cores busy / CPU time per request", f"{res['server_cpu'] / res['wall']:.2f} / {res['server_cpu'] / max(1, res['requests']) * 1e6:.1f} us", "", ""),
        ]
    rows += [
        ("RSS, idle (after start)", f"{rss_idle / 1024:.1f} MiB", "", ""),
        (f"RSS, {total} finished batches registered" + (f" ({args.log_lines}+{args.log_lines} log lines each from #{have})" if args.log_lines else ""), f"{rss_full / 1024:.1f} MiB", "", ""),
        ("  per registered batch", f"{(rss_full - rss_idle) / total:.1f} KiB", "", ""),
        ("RSS, after the wrk run", f"{rss_after_wrk / 1024:.1f} MiB", "", ""),
        (f"GET /batches ({total} registered, default page of 100, {size_default} B), p50 / p99", f"{ms(pct(list_default, 50)):.2f} / {ms(pct(list_default, 99)):.2f} ms", "", ""),
        (f"GET /batches?size={total} ({size_all} B), p50 / p99", f"{ms(pct(list_all, 50)):.2f} / {ms(pct(list_all, 99)):.2f} ms", "", ""),
    ]
    wrk_total = sum(r["warmup"]["requests"] + r["requests"] for r in (wrk, wrk_chatty))
    results.update(
        exec_ms=[ms(x) for x in exec_ns],
        response_ms=[ms(x) for x in resp_ns],
        baseline_spawn_ms=[ms(x) for x in bare_ns],
        load_start=load_start,
        wrk=wrk,
        wrk_full_log=wrk_chatty,
        rss_kib={"idle": rss_idle, "full": rss_full, "after_wrk": rss_after_wrk},
        threads={"idle": threads_idle, "full": threads_full, "after_wrk": threads_after_wrk},
        access_log_lines=access_lines,
        requests_sent=requests_sent + wrk_total,
        server_exit=code,
        rows=rows,
    )

    w = max(len(r[0]) for r in rows)
    v = max(len(r[1]) for r in rows)
    t = max(max(len(r[2]) for r in rows), len("target"))
    print()
    print(f"{'figure':<{w}}  {'value':>{v}}  {'target':<{t}}  met?")
    print(f"{'-' * w}  {'-' * v}  {'-' * t}  ----")
    for fig, val, tgt, met in rows:
        print(f"{fig:<{w}}  {val:>{v}}  {tgt:<{t}}  {met}".rstrip())
    print()
    print("details:")
    print(f"  spark-submit started before the POST response arrived in {exec_before_resp} of {n} creates")
    for res in (wrk, wrk_chatty):
        print(f"  wrk: {res['cmd']}  ({res['requests']} requests, non-2xx {res['non2xx']}, socket errors: {res['socket_errors']})")
        print(f"    CPU during the {res['wall']:.1f} s run, in cores: server {res['server_cpu'] / res['wall']:.2f}, wrk {res['wrk_cpu'] / res['wall']:.2f},"
              f" everything else {max(0.0, res['machine_busy'] - res['server_cpu'] - res['wrk_cpu']) / res['wall']:.2f},"
              f" steal {res['steal'] / res['wall']:.2f} (of {facts['nproc']})")
    print(f"  server threads: idle {threads_idle}, {total} batches {threads_full}, after wrk {threads_after_wrk}")
    print(f"  access log: on ({server.log_dir}/livy-requests.*.log), {access_lines} lines for ~{requests_sent + wrk_total} requests"
          f" (wrk counts only completed requests)")
    print(f"  load average at start {load_start}, at end {loadavg()}")
    if float(load_start.split()[0]) > facts["nproc"] / 2:
        print(f"  WARNING: the machine was busy (1-min load {load_start.split()[0]} on {facts['nproc']} cores);"
              " other processes competed with the server, the client and wrk")
    print(f"  server exit code after SIGTERM: {code}")
    print()
    print("machine:")
    print(f"  nproc {facts['nproc']}, CPU {facts['cpu']}, memory {facts['memory']}, kernel {facts['kernel']}")
    print(f"  {facts['wrk']}; python {facts['python']}; fake spark-submit: {args.fake_build}")
    if args.revision:
        print(f"  livy-rs revision {args.revision}")
    print(f"  date {results['date']}; bench wall time {time.time() - started:.0f} s")
    print(f"command: {args.command}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
