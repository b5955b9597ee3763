"""What the abuse cases share: requests written byte by byte on a socket (to send what no HTTP
library would: a lying Content-Length, a 300 KB header, an HTTP/2 header block), the server's
memory from /proc, and the check every case ends with: the server still answers."""

from __future__ import annotations

import json
import os
import socket
import struct
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from pyharness.livy_server import LivyServer

#: How long a normal request may take while the server is being abused.
ANSWER_DEADLINE = 5.0


# --------------------------------------------------------------------------- checks


def assert_msg(status: int, body: object, expected: int) -> str:
    """`status` is `expected` and the body is Livy's error shape, `{"msg": "..."}`."""
    assert status == expected, f"expected {expected}, got {status}: {body!r}"
    assert isinstance(body, dict) and set(body) == {"msg"} and isinstance(body["msg"], str) \
        and body["msg"], f"not Livy's error shape: {body!r}"
    return body["msg"]


def assert_serves(livy: LivyServer) -> None:
    """The server is alive and answers a normal request, quickly, with the usual JSON."""
    assert livy.running, f"the server exited with {livy.returncode}:\n{livy.log_text()[-4000:]}"
    started = time.monotonic()
    status, body, _ = livy.call("GET", "/batches", timeout=ANSWER_DEADLINE)
    took = time.monotonic() - started
    assert status == 200, body
    assert isinstance(body, dict) and {"from", "total", "sessions"} <= set(body), body
    assert took < ANSWER_DEADLINE, f"GET /batches took {took:.1f}s"


def batch_total(livy: LivyServer) -> int:
    status, body, _ = livy.call("GET", "/batches", timeout=ANSWER_DEADLINE)
    assert status == 200, body
    return body["total"]


def memory_kib(pid: int) -> Dict[str, int]:
    """VmRSS (now) and VmHWM (peak since start) of a process, in KiB."""
    out = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(rest.split()[0])
    return out


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


# --------------------------------------------------------------------------- raw HTTP/1.1


@dataclass
class RawResponse:
    status: int
    headers: Dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    #: Seconds from the first byte sent to the whole answer read.
    elapsed: float = 0.0

    def json(self) -> object:
        return json.loads(self.body.decode("utf-8"))


def connect(livy: LivyServer, timeout: float = 30.0) -> socket.socket:
    return socket.create_connection((livy.host, livy.port), timeout=timeout)


def read_response(sock: socket.socket, started: float) -> RawResponse:
    """Reads one HTTP/1.1 answer (Content-Length framed, or up to the close)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"connection closed before an answer; got {data[:200]!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    length = headers.get("content-length")
    if length is not None:
        while len(body) < int(length):
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
    return RawResponse(status, headers, body, time.monotonic() - started)


def raw_request(livy: LivyServer, data: bytes, timeout: float = 30.0) -> RawResponse:
    """Sends `data` as is on a new connection and reads the answer."""
    with connect(livy, timeout) as sock:
        started = time.monotonic()
        try:
            sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer and close before taking everything; read what it said
        return read_response(sock, started)


def request_bytes(method: str, path: str, headers: Optional[Dict[str, str]] = None,
                  body: bytes = b"") -> bytes:
    hdrs = {"Host": "127.0.0.1", "Connection": "close"}
    if body:
        hdrs["Content-Length"] = str(len(body))
    hdrs.update(headers or {})
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items())
    return head.encode("latin-1") + b"\r\n" + body


# --------------------------------------------------------------------------- raw HTTP/2

H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
H2_DATA, H2_HEADERS, H2_RST_STREAM, H2_SETTINGS, H2_GOAWAY, H2_CONTINUATION = 0, 1, 3, 4, 7, 9


def h2_frame(kind: int, flags: int, stream: int, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def _hpack_int(n: int, prefix_bits: int) -> bytes:
    top = (1 << prefix_bits) - 1
    if n < top:
        return bytes([n])
    out = [top]
    n -= top
    while n >= 128:
        out.append((n & 127) | 128)
        n >>= 7
    out.append(n)
    return bytes(out)


def hpack_literal(name: bytes, value: bytes) -> bytes:
    """A header as an HPACK literal without indexing and without Huffman coding (RFC 7541 6.2.2)."""
    return b"\x00" + _hpack_int(len(name), 7) + name + _hpack_int(len(value), 7) + value


def h2_get(path: str, extra: bytes = b"") -> bytes:
    """Preface, empty SETTINGS and one GET on stream 1, split into CONTINUATION frames of the
    default 16 KiB maximum frame size."""
    block = (hpack_literal(b":method", b"GET") + hpack_literal(b":scheme", b"http")
             + hpack_literal(b":path", path.encode()) + hpack_literal(b":authority", b"127.0.0.1") + extra)
    pieces = [block[i:i + 16384] for i in range(0, len(block), 16384)]
    end_stream, end_headers = 0x1, 0x4
    out = H2_PREFACE + h2_frame(H2_SETTINGS, 0, 0, b"")
    out += h2_frame(H2_HEADERS, end_stream | (end_headers if len(pieces) == 1 else 0), 1, pieces[0])
    for i, piece in enumerate(pieces[1:], start=2):
        out += h2_frame(H2_CONTINUATION, end_headers if i == len(pieces) else 0, 1, piece)
    return out


def h2_exchange(livy: LivyServer, data: bytes, timeout: float = 10.0) -> List[Tuple[int, int, int, bytes]]:
    """Sends `data`, then reads frames (kind, flags, stream, payload) until stream 1 ends, a
    GOAWAY or RST_STREAM arrives, the connection closes or `timeout` passes."""
    frames: List[Tuple[int, int, int, bytes]] = []
    buf = b""
    deadline = time.monotonic() + timeout
    with connect(livy, timeout) as sock:
        try:
            sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        while time.monotonic() < deadline:
            sock.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                break
            if not chunk:
                break
            buf += chunk
            while len(buf) >= 9 and len(buf) >= 9 + int.from_bytes(buf[:3], "big"):
                length = int.from_bytes(buf[:3], "big")
                kind, flags = buf[3], buf[4]
                stream = int.from_bytes(buf[5:9], "big") & 0x7FFFFFFF
                frames.append((kind, flags, stream, buf[9:9 + length]))
                buf = buf[9 + length:]
            if any(k in (H2_GOAWAY, H2_RST_STREAM) or (s == 1 and f & 0x1) for k, f, s, _ in frames):
                break
    return frames


def h2_status_200(frames: List[Tuple[int, int, int, bytes]]) -> bool:
    """Stream 1's answer starts with `:status: 200` (HPACK static index 8, byte 0x88: how every
    encoder sends a 200; anything else is not a plain success)."""
    return any(k == H2_HEADERS and s == 1 and p[:1] == b"\x88" for k, _, s, p in frames)
