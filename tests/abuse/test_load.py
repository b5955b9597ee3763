"""Load a hostile or careless crowd puts on the server: slow clients holding connections open
(slowloris, over HTTP/1.1 and HTTP/2), 64 pollers while batches come and go, and 2,000 batches
created and deleted. Normal clients must keep getting answers within a deadline, every answer
must be whole and consistent, and memory, descriptors and children must come back down."""

from __future__ import annotations

import http.client
import json
import select
import socket
import threading
import time
from typing import Dict, List, Optional

from abuse_helpers import (ANSWER_DEADLINE, H2_HEADERS, H2_PREFACE, H2_SETTINGS, assert_serves, connect,
                           h2_frame, hpack_literal, memory_kib, open_fds)
from pyharness.procs import descendants
from pyharness.wait import wait_until

#: Livy's batch states.
BATCH_STATES = {"not_started", "starting", "recovering", "idle", "running", "busy", "shutting_down",
                "error", "dead", "killed", "success"}


class Client:
    """A keep-alive HTTP/1.1 client of one server (one per thread)."""

    def __init__(self, livy, timeout: float = ANSWER_DEADLINE):
        self.conn = http.client.HTTPConnection(livy.host, livy.port, timeout=timeout)

    def call(self, method: str, path: str, body: Optional[dict] = None):
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else {}
        try:
            self.conn.request(method, path, body=data, headers=headers)
            resp = self.conn.getresponse()
            raw = resp.read()
        except (http.client.HTTPException, ConnectionError):
            self.conn.close()  # reconnects on the next request
            raise
        return resp.status, json.loads(raw) if raw else None

    def close(self) -> None:
        self.conn.close()


def timed(client: Client, method: str, path: str, body=None, latencies: Optional[List[float]] = None):
    started = time.monotonic()
    status, answer = client.call(method, path, body)
    took = time.monotonic() - started
    if latencies is not None:
        latencies.append(took)
    assert took < ANSWER_DEADLINE, f"{method} {path} took {took:.1f}s"
    return status, answer


# --------------------------------------------------------------------------- slowloris


#: hyper's header-read deadline and the HTTP/2 idle watchdog of src/server.rs are 30 s.
HEADER_DEADLINE = 30.0


def open_slow_connections(livy) -> Dict[socket.socket, Optional[bytes]]:
    """200 connections that never finish a request: socket -> the byte it dribbles (None: silent)."""
    slow: Dict[socket.socket, Optional[bytes]] = {}
    for _ in range(150):  # HTTP/1.1 headers, one byte at a time
        sock = connect(livy)
        sock.sendall(b"GET /batches HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        slow[sock] = b"a"
    for _ in range(20):  # connected, silent: never even picks a protocol
        slow[connect(livy)] = None
    for _ in range(15):  # HTTP/2 preface and settings, then silence
        sock = connect(livy)
        sock.sendall(H2_PREFACE + h2_frame(H2_SETTINGS, 0, 0, b""))
        slow[sock] = None
    for _ in range(15):  # HTTP/2: a header block that never ends (no END_HEADERS), then silence
        sock = connect(livy)
        block = hpack_literal(b":method", b"GET") + hpack_literal(b":path", b"/batches")
        sock.sendall(H2_PREFACE + h2_frame(H2_SETTINGS, 0, 0, b"") + h2_frame(H2_HEADERS, 0x1, 1, block))
        slow[sock] = None
    return slow


def closed_by_server(sock: socket.socket) -> bool:
    """The server closed the connection (what it sent before, e.g. SETTINGS, a 408 or a GOAWAY,
    is read and dropped)."""
    while select.select([sock], [], [], 0)[0]:
        try:
            if sock.recv(65536) == b"":
                return True
        except OSError:
            return True
    return False


def test_slow_clients_do_not_starve_normal_ones_and_are_cut_off(livy_factory, layout):
    livy = livy_factory()
    fds_before = open_fds(livy.pid)
    opened = time.monotonic()
    slow = open_slow_connections(livy)
    assert len(slow) == 200
    client = Client(livy)
    latencies: List[float] = []
    closed_at: Dict[socket.socket, float] = {}
    last_drip = 0.0
    normal = 0
    try:
        while len(closed_at) < len(slow):
            now = time.monotonic()
            assert now - opened < HEADER_DEADLINE + 15, (
                f"{len(slow) - len(closed_at)} of {len(slow)} slow connections still open "
                f"{now - opened:.0f}s after they opened (header deadline {HEADER_DEADLINE:.0f}s)")
            for sock, drip in slow.items():
                if sock in closed_at:
                    continue
                if closed_by_server(sock):
                    closed_at[sock] = now - opened
                elif drip is not None and now - last_drip >= 2.0:
                    try:
                        sock.sendall(drip)
                    except OSError:
                        closed_at[sock] = now - opened
            if now - last_drip >= 2.0:
                last_drip = now
            # A normal client meanwhile: a read, and a batch created and deleted.
            status, body = timed(client, "GET", "/batches", latencies=latencies)
            assert status == 200 and "sessions" in body, body
            status, batch = timed(client, "POST", "/batches", {"file": layout.job}, latencies)
            assert status == 201, batch
            status, body = timed(client, "DELETE", f"/batches/{batch['id']}", latencies=latencies)
            assert status == 200, body
            normal += 3
            time.sleep(0.2)  # pacing of the normal client, not a wait for a condition
    finally:
        client.close()
        for sock in slow:
            sock.close()
    early = min(closed_at.values())
    print(f"\n{normal} normal requests, slowest {max(latencies) * 1000:.0f} ms; slow connections closed "
          f"between {early:.1f}s and {max(closed_at.values()):.1f}s")
    assert early > 5, f"a slow connection was cut after only {early:.1f}s"
    wait_until(lambda: open_fds(livy.pid) <= fds_before + 5, timeout=10,
               what=f"the server's descriptors back near {fds_before}")
    assert_serves(livy)


# --------------------------------------------------------------------------- pollers


def check_listing(body) -> None:
    """One answer of GET /batches is a whole, consistent snapshot."""
    assert isinstance(body, dict) and body["from"] == 0, body
    sessions = body["sessions"]
    ids = [s["id"] for s in sessions]
    assert len(ids) == len(set(ids)), f"an id twice: {ids}"
    assert body["total"] == len(sessions), f"total {body['total']} but {len(sessions)} listed"
    for s in sessions:
        assert isinstance(s["id"], int) and s["state"] in BATCH_STATES, s
        assert isinstance(s["log"], list), s


def test_64_pollers_while_batches_come_and_go(livy_factory, layout):
    livy = livy_factory()
    stop = threading.Event()
    errors: List[str] = []
    polls = [0] * 64
    latencies: List[float] = []

    def poller(i: int) -> None:
        client = Client(livy)
        try:
            while not stop.is_set():
                status, body = timed(client, "GET", "/batches", latencies=latencies)
                assert status == 200, body
                check_listing(body)
                polls[i] += 1
        except Exception as e:  # noqa: BLE001 - collected and reported by the test
            errors.append(f"poller {i}: {e!r}")
        finally:
            client.close()

    threads = [threading.Thread(target=poller, args=(i,), daemon=True) for i in range(64)]
    for t in threads:
        t.start()
    client = Client(livy)
    live: List[int] = []
    created = 0
    try:
        while created < 100 and not errors:
            status, batch = timed(client, "POST", "/batches", {"file": layout.job})
            assert status == 201, batch
            created += 1
            live.append(batch["id"])
            if len(live) > 20:  # keep ~20 alive; some deleted while still running
                status, body = timed(client, "DELETE", f"/batches/{live.pop(0)}")
                assert status == 200, body
        for batch_id in live:
            assert timed(client, "DELETE", f"/batches/{batch_id}")[0] == 200
    finally:
        stop.set()
        client.close()
        for t in threads:
            t.join(timeout=ANSWER_DEADLINE + 5)
    assert not errors, errors[:5]
    assert all(n > 0 for n in polls), f"a poller never got an answer: {polls}"
    latencies.sort()
    print(f"\n{sum(polls)} polls by 64 pollers while {created} batches came and went; "
          f"median {latencies[len(latencies) // 2] * 1000:.0f} ms, slowest {latencies[-1] * 1000:.0f} ms")
    assert livy.call("GET", "/batches")[1]["total"] == 0
    assert_serves(livy)


# --------------------------------------------------------------------------- 2,000 batches


def churn(livy, layout, count: int, workers: int = 4) -> None:
    """Creates and deletes `count` batches on `workers` threads: every other one is deleted
    while spark-submit may still run, the rest after they finish."""
    errors: List[str] = []
    per = count // workers

    def work() -> None:
        client = Client(livy)
        try:
            for n in range(per):
                status, batch = timed(client, "POST", "/batches", {"file": layout.job})
                assert status == 201, batch
                if n % 2:
                    def done(batch_id=batch["id"]):
                        status, body = client.call("GET", f"/batches/{batch_id}/state")
                        assert status == 200, body
                        return body["state"] in ("success", "dead")

                    wait_until(done, timeout=20, what=f"batch {batch['id']} to finish", interval=0.01)
                status, body = timed(client, "DELETE", f"/batches/{batch['id']}")
                assert status == 200, body
        except Exception as e:  # noqa: BLE001 - collected and reported by the test
            errors.append(repr(e))
        finally:
            client.close()

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:5]


def test_memory_stays_bounded_across_2000_batches(livy_factory, layout):
    livy = livy_factory()
    churn(livy, layout, 200)  # warm-up: allocator arenas, runtime threads, caches
    wait_until(lambda: not descendants(livy.pid), timeout=20, what="every spark-submit gone")
    warm, fds = memory_kib(livy.pid), open_fds(livy.pid)
    started = time.monotonic()
    churn(livy, layout, 2000)
    took = time.monotonic() - started
    wait_until(lambda: not descendants(livy.pid), timeout=20,
               what="every spark-submit reaped (no zombies left under the server)")
    after = memory_kib(livy.pid)
    growth = (after["VmRSS"] - warm["VmRSS"]) / 1024
    print(f"\n2000 batches in {took:.1f}s: RSS {warm['VmRSS'] / 1024:.1f} -> {after['VmRSS'] / 1024:.1f} MiB "
          f"(+{growth:.1f}), peak {after['VmHWM'] / 1024:.1f} MiB; fds {fds} -> {open_fds(livy.pid)}")
    assert livy.call("GET", "/batches")[1]["total"] == 0
    # Measured: a few hundred KiB; a leak of 4 KiB per batch (its log ring) would be 8 MiB.
    assert growth < 8, f"RSS grew by {growth:.1f} MiB over 2000 created and deleted batches"
    assert open_fds(livy.pid) <= fds + 5, "descriptors leaked"
    assert_serves(livy)
