"""HTTP plumbing: one threaded server per emulated port (RMs, NameNode, worker node), each request
handed to the Emulator as a Ctx; connections can be cut for the `reset` and `refuse` faults.
"""
from __future__ import annotations

import http.server
import socket
import sys
import time
import threading

from .protocol import Ctx, Resp


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, addr, emu, name, role, rm_id=None):
        self.emu = emu
        self.name = name  # rm1 / rm2 / webhdfs / node
        self.role = role  # rm / nn / node
        self.rm_id = rm_id
        self.conns = set()
        self.conns_lock = threading.Lock()
        super().__init__(addr, _Handler)

    @property
    def addr(self):
        return f"{self.emu.host}:{self.server_address[1]}"

    def close_connections(self, keep=None):
        with self.conns_lock:
            conns = [c for c in self.conns if c is not keep]
            self.conns.difference_update(conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def version_string(self):
        return "Jetty(9.4.51.v20230217)"

    def setup(self):
        super().setup()
        with self.server.conns_lock:
            self.server.conns.add(self.connection)

    def finish(self):
        try:
            super().finish()
        finally:
            with self.server.conns_lock:
                self.server.conns.discard(self.connection)

    def log_message(self, fmt, *args):
        if self.server.emu.verbose:
            sys.stderr.write("[emulator %s] %s\n" % (self.server.name, fmt % args))

    def _read_body(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            chunks = []
            while True:
                line = self.rfile.readline()
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        n = int(self.headers.get("Content-Length") or 0)
        rate = int(self.server.emu.settings.get("body_read_bytes_per_sec") or 0)
        if rate <= 0 or n <= 0:
            return self.rfile.read(n) if n > 0 else b""
        # Throttled: 64 KiB at a time, each after the time the rate gives it (TCP backpressure
        # then slows the sender to the same rate).
        parts, got, start = [], 0, time.monotonic()
        while got < n:
            part = self.rfile.read(min(64 * 1024, n - got))
            if not part:
                break
            parts.append(part)
            got += len(part)
            ahead = got / rate - (time.monotonic() - start)
            if ahead > 0:
                time.sleep(ahead)
        return b"".join(parts)

    def _send(self, resp: Resp):
        try:
            self.send_response(resp.status)
            for k, v in resp.headers:
                self.send_header(k, v)
            if resp.content_type:
                self.send_header("Content-Type", resp.content_type)
            self.send_header("Content-Length", str(len(resp.body)))
            if resp.close:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(resp.body)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _dispatch(self):
        try:
            body = self._read_body()
        except (ValueError, OSError):
            self.close_connection = True
            return
        ctx = Ctx(self, self.command, body)
        resp = self.server.emu._handle(ctx)
        if resp is None:  # "reset" fault: drop the connection without an answer
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        self._send(resp)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _dispatch
