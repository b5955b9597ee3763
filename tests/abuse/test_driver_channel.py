"""The driver channel seen by someone who is not a driver (issue 9 item 5): whoever reaches its
port before the handshake gets a small frame limit, a deadline and one of a bounded number of
handshake slots, and the channel listens on loopback in local mode. The REST port keeps serving."""

from __future__ import annotations

import select
import socket
import ssl
import struct
import time
from typing import List

from abuse_helpers import assert_serves, memory_kib
from pyharness.wait import wait_until

#: src/driver/channel.rs: HANDSHAKE_TIMEOUT and MAX_PENDING_HANDSHAKES.
HANDSHAKE_DEADLINE = 15.0
HANDSHAKE_SLOTS = 64


def closed(sock: socket.socket, within: float) -> bool:
    """The peer closed `sock` (EOF or reset) within `within` seconds; data is read and dropped."""
    deadline = time.monotonic() + within
    while True:
        left = max(0.0, deadline - time.monotonic())
        pending = sock.pending() if isinstance(sock, ssl.SSLSocket) else 0
        if not pending and not select.select([sock], [], [], left)[0]:
            return False
        sock.settimeout(max(0.05, deadline - time.monotonic()))  # a partial TLS record cannot block
        try:
            if sock.recv(65536) == b"":
                return True
        except (ssl.SSLWantReadError, socket.timeout):
            continue
        except OSError:
            return True


def tls_to(host: str, port: int) -> ssl.SSLSocket:
    """A TLS connection to the channel, as a stranger: it does not know the pinned certificate."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx.wrap_socket(socket.create_connection((host, port), timeout=10), server_hostname=host)


def test_strangers_on_the_driver_channel(livy_factory):
    livy = livy_factory()
    status, session, _ = livy.call("POST", "/sessions", {"kind": "pyspark"})
    assert status == 201, session
    address = livy.wait_for_log(r"driver channel listening.*address=\"?([0-9.\[\]:a-z]+)").group(1)
    host, _, port = address.rpartition(":")
    port = int(port)
    # Local mode: the channel is not reachable from other hosts.
    assert host in ("127.0.0.1", "localhost"), f"the channel listens on {address}"
    before = memory_kib(livy.pid)["VmHWM"]

    # Silent connections: the first take every handshake slot; the rest are closed at once.
    opened = time.monotonic()
    silent: List[socket.socket] = [socket.create_connection((host, port), timeout=10)
                                   for _ in range(HANDSHAKE_SLOTS + 36)]
    over = len(silent) - HANDSHAKE_SLOTS
    wait_until(lambda: sum(closed(s, within=0) for s in silent) >= over, timeout=5, interval=0.05,
               what=f"the {over} connections over the {HANDSHAKE_SLOTS} handshake slots to be closed")
    assert_serves(livy)
    # The slots held by silent peers come back at the handshake deadline.
    held = [s for s in silent if not closed(s, within=0)]
    assert len(held) == HANDSHAKE_SLOTS, f"{len(held)} silent peers hold a handshake slot"
    wait_until(lambda: all(closed(s, within=0) for s in held), timeout=HANDSHAKE_DEADLINE + 10,
               what="silent driver-channel connections to be closed at the handshake deadline")
    took = time.monotonic() - opened
    assert took > HANDSHAKE_DEADLINE - 3, f"silent peers were cut after only {took:.1f}s"
    for s in silent:
        s.close()

    # Before authentication a frame is small: a 40 MiB length prefix ends the connection at once,
    # without the server waiting for (or reserving) the 40 MiB.
    for length in (40 << 20, 0x7FFFFFFF, 64 * 1024):
        with tls_to(host, port) as tls:
            started = time.monotonic()
            tls.sendall(struct.pack(">I", length) + b"{")
            assert closed(tls, within=3), f"a {length}-byte frame before the handshake was awaited"
            assert time.monotonic() - started < 3
    # Garbage instead of a hello: closed too.
    with tls_to(host, port) as tls:
        tls.sendall(struct.pack(">I", 8) + b"not json")
        assert closed(tls, within=3)
    after = memory_kib(livy.pid)["VmHWM"]
    assert (after - before) / 1024 < 16, f"peak RSS grew by {(after - before) / 1024:.0f} MiB"
    assert_serves(livy)
