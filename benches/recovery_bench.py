"""Recovery benchmark (docs/BENCHMARKS.md, "Recovery"): not a test, it fails only when something
breaks. Run through scripts/bench-recovery.

1. Start-up with N stored records: a filesystem store is filled with N batch records (90 %
   finished, 10 % "running" under a pid that no longer exists, so the restart must end them) and
   the time from spawning the server to its first answer of GET /batches listing all N is taken,
   median of --starts runs.
2. Statement round trip, recovery on vs off, side by side: two servers (one with a filesystem
   store, one without), one real pyspark session each; pairs of `POST statement` + long-poll
   until available, alternating which server goes first; per-pair difference (on - off) and
   ratio, reported as medians with their spread.
3. Store writes and bytes per statement: the server's own counters ("recovery store use since
   start", logged at its stop) divided by the statements it ran.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
import urllib.request
from typing import Optional
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from pyharness.livy_server import LivyServer  # noqa: E402


def call(server: LivyServer, method: str, path: str, body=None, timeout: float = 120):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(server.url + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"} if data else {})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read() or b"null")


def base_conf(**extra):
    conf = {"livy.spark.master": "local[1]", "livy.rsc.launcher.address": "127.0.0.1",
            "livy.rsc.launcher.port.range": "0~0"}
    conf.update(extra)
    return conf


def recovery_conf(store: Path):
    return {"livy.server.recovery.mode": "recovery",
            "livy.server.recovery.state-store": "filesystem",
            "livy.server.recovery.state-store.url": f"file://{store}"}


def fill_store(store: Path, n: int) -> None:
    d = store / "v1" / "batch"
    d.mkdir(parents=True, exist_ok=True)
    os.chmod(store, 0o700)
    now = int(time.time() * 1000)
    for i in range(n):
        running = i % 10 == 0
        rec = {
            "id": i, "name": None, "owner": "bench", "proxyUser": None,
            "appTag": f"livy-batch-{i}-benchbench", "appId": None, "appInfo": {},
            "state": "running" if running else "success",
            "request": {"file": "/bench/job.py", "args": [str(i)]},
            "process": {"pid": 4_000_000 + i, "startTime": 1, "dir": str(store / "gone")} if running else None,
            "createdMs": now, "finishedMs": None if running else now, "diagnostics": [],
        }
        (d / str(i)).write_text(json.dumps(rec))
    (d / "state").write_text(json.dumps({"nextSessionId": n}))


def bench_start(n: int, starts: int) -> dict:
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "store"
        fill_store(store, n)
        for _ in range(starts):
            server = LivyServer(base_conf(**recovery_conf(store)), root=Path(tmp) / "server",
                                env={"LIVY_LOG": "warn,livy_rs::app=info"}, start_timeout=120)
            t0 = time.monotonic()
            server.start()
            body = call(server, "GET", "/batches?size=1")
            elapsed = time.monotonic() - t0
            assert body["total"] == n, body["total"]
            times.append(elapsed)
            server.stop()
    return {"records": n, "seconds": times, "median": statistics.median(times)}


def new_session(server: LivyServer) -> int:
    sid = call(server, "POST", "/sessions", {"kind": "pyspark"})["id"]
    deadline = time.monotonic() + 300
    while call(server, "GET", f"/sessions/{sid}")["state"] != "idle":
        if time.monotonic() > deadline:
            raise RuntimeError("session did not start")
        time.sleep(0.5)
    return sid


def round_trip(server: LivyServer, sid: int, posts: list) -> float:
    """POST + long-poll until available, in ms; the POST alone is appended to `posts`."""
    t0 = time.monotonic()
    st = call(server, "POST", f"/sessions/{sid}/statements", {"code": "1"})
    posts.append((time.monotonic() - t0) * 1000)
    while st["state"] not in ("available", "cancelled"):
        st = call(server, "GET", f"/sessions/{sid}/statements/{st['id']}?wait=10")
    return (time.monotonic() - t0) * 1000


def bench_round_trips(pairs: int, warmup: int, store_root: Optional[str]) -> dict:
    with tempfile.TemporaryDirectory(dir=store_root) as tmp:
        on = LivyServer(base_conf(**recovery_conf(Path(tmp) / "store")), root=Path(tmp) / "on",
                        env={"LIVY_LOG": "warn,livy_rs::app=info"})
        off = LivyServer(base_conf(), root=Path(tmp) / "off", env={"LIVY_LOG": "warn,livy_rs::app=info"})
        on.start()
        off.start()
        try:
            s_on, s_off = new_session(on), new_session(off)
            post_on, post_off = [], []
            for _ in range(warmup):
                round_trip(on, s_on, [])
                round_trip(off, s_off, [])
            a, b = [], []
            for i in range(pairs):
                if i % 2:
                    x = round_trip(on, s_on, post_on)
                    y = round_trip(off, s_off, post_off)
                else:
                    y = round_trip(off, s_off, post_off)
                    x = round_trip(on, s_on, post_on)
                a.append(x)
                b.append(y)
            statements = warmup + pairs
            call(on, "DELETE", f"/sessions/{s_on}")
            call(off, "DELETE", f"/sessions/{s_off}")
        finally:
            on.stop()
            off.stop()
        m = re.search(r"recovery store use since start writes=(\d+) bytes=(\d+)", on.log_text())
        writes, nbytes = (int(m.group(1)), int(m.group(2))) if m else (None, None)
    diffs = [x - y for x, y in zip(a, b)]
    ratios = [x / y for x, y in zip(a, b)]
    q = lambda v, p: statistics.quantiles(v, n=100)[p - 1]  # noqa: E731
    return {
        "pairs": pairs,
        "p50_on_ms": statistics.median(a), "p50_off_ms": statistics.median(b),
        "diff_median_ms": statistics.median(diffs), "diff_p10_ms": q(diffs, 10), "diff_p90_ms": q(diffs, 90),
        "ratio_median": statistics.median(ratios), "ratio_p10": q(ratios, 10), "ratio_p90": q(ratios, 90),
        "post_p50_on_ms": statistics.median(post_on), "post_p50_off_ms": statistics.median(post_off),
        "statements": statements, "store_writes": writes, "store_bytes": nbytes,
        "writes_per_statement": writes / statements if writes else None,
        "bytes_per_statement": nbytes / statements if nbytes else None,
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=10_000)
    ap.add_argument("--starts", type=int, default=5)
    ap.add_argument("--pairs", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--json")
    ap.add_argument("--store-root", help="where the servers' temp dirs (and the store) go, e.g. "
                    "/dev/shm to take the disk's syncs out of the figure (default: the system temp dir)")
    args = ap.parse_args()
    start = bench_start(args.records, args.starts)
    print(f"start with {start['records']} records: median {start['median']:.3f} s "
          f"(runs: {', '.join(f'{t:.3f}' for t in start['seconds'])}; target <= 2 s)")
    rt = bench_round_trips(args.pairs, args.warmup, args.store_root)
    print(f"statement round trip p50: recovery on {rt['p50_on_ms']:.2f} ms, off {rt['p50_off_ms']:.2f} ms; "
          f"per-pair difference median {rt['diff_median_ms']:+.2f} ms (p10 {rt['diff_p10_ms']:+.2f}, "
          f"p90 {rt['diff_p90_ms']:+.2f}); ratio median {rt['ratio_median']:.3f} "
          f"(p10 {rt['ratio_p10']:.3f}, p90 {rt['ratio_p90']:.3f}); target: within 1 ms")
    print(f"the POST alone p50: recovery on {rt['post_p50_on_ms']:.2f} ms, off {rt['post_p50_off_ms']:.2f} ms "
          f"(on waits for its statement's record; the statement runs meanwhile)")
    print(f"store: {rt['store_writes']} writes, {rt['store_bytes']} bytes for {rt['statements']} statements "
          f"(+ session start/stop): {rt['writes_per_statement']:.2f} writes and "
          f"{rt['bytes_per_statement']:.0f} bytes per statement")
    if args.json:
        Path(args.json).write_text(json.dumps({"start": start, "round_trip": rt}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
