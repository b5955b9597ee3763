"""The channel to the livy-rs server: TLS (the server certificate pinned), 4-byte big-endian
length + UTF-8 JSON frames, and the HMAC challenge/response that authenticates both ends."""

import hashlib
import hmac
import json
import math
import re
import secrets
import socket
import ssl
import struct
import threading

PROTOCOL_VERSION = 1


# --------------------------------------------------------------------------------------------
# JSON helpers
# --------------------------------------------------------------------------------------------

def json_safe(value):
    """Makes `value` encodable as strict JSON.

    Non-finite floats become the strings Jackson writes for them ("NaN", "Infinity",
    "-Infinity"), which is what Livy's JVM side would have sent.
    """
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return value
    if isinstance(value, dict):
        return {(k if isinstance(k, str) else _json_key(k)): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def _json_key(k):
    # json.dumps turns these keys into strings itself; do the same so json_safe's dict is valid.
    if k is None:
        return "null"
    if k is True:
        return "true"
    if k is False:
        return "false"
    if isinstance(k, float):
        return json.dumps(json_safe(k)).strip('"')
    return str(k)


def dumps(obj):
    text = json.dumps(json_safe(obj), ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace")  # lone surrogates (undecodable bytes) become '?'



# --------------------------------------------------------------------------------------------
# Channel: TLS + length-prefixed JSON frames
# --------------------------------------------------------------------------------------------

class ChannelClosed(Exception):
    pass


class ProtocolError(Exception):
    pass


class MessageTooLarge(Exception):
    pass


class Channel(object):
    """One TLS connection to the server carrying 4-byte big-endian length + UTF-8 JSON frames.

    TLS runs over memory BIOs so that one thread can block reading the raw socket while other
    threads send: every use of the TLS object happens under `_lock`, the raw socket read does not.
    """

    def __init__(self, host, port, fingerprint, max_message_bytes, timeout=30.0):
        self.max_message_bytes = max_message_bytes
        self._lock = threading.Lock()
        self._buf = bytearray()
        self._closed = False
        self._sock = socket.create_connection((host, port), timeout=timeout)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE  # the certificate is pinned below instead
        self._in = ssl.MemoryBIO()
        self._out = ssl.MemoryBIO()
        self._tls = ctx.wrap_bio(self._in, self._out, server_side=False)
        self._tls_handshake()
        der = self._tls.getpeercert(binary_form=True)
        got = hashlib.sha256(der or b"").hexdigest()
        if not hmac.compare_digest(got.lower(), fingerprint.strip().lower().replace(":", "")):
            self.close()
            raise ProtocolError("server certificate fingerprint mismatch (expected %s, got %s)"
                                % (fingerprint, got))
        self._sock.settimeout(None)

    # -- raw TLS plumbing -------------------------------------------------------------------

    def _flush_out(self):
        data = self._out.read()
        if data:
            self._sock.sendall(data)

    def _recv_raw(self):
        data = self._sock.recv(65536)
        if not data:
            raise ChannelClosed("connection closed by server")
        return data

    def _tls_handshake(self):
        while True:
            with self._lock:
                try:
                    self._tls.do_handshake()
                    self._flush_out()
                    return
                except ssl.SSLWantReadError:
                    self._flush_out()
            data = self._recv_raw()
            with self._lock:
                self._in.write(data)

    def _read_some(self):
        """Appends decrypted bytes to self._buf, blocking until at least one byte arrives."""
        while True:
            with self._lock:
                try:
                    chunk = self._tls.read(65536)
                except ssl.SSLWantReadError:
                    chunk = None
                except ssl.SSLZeroReturnError:
                    chunk = b""
                self._flush_out()
            if chunk:
                self._buf.extend(chunk)
                return
            if chunk == b"":
                raise ChannelClosed("connection closed by server")
            try:
                data = self._recv_raw()
            except OSError as e:
                if isinstance(e, ChannelClosed):
                    raise
                raise ChannelClosed("connection error: %s" % e)
            with self._lock:
                self._in.write(data)

    def _read_exact(self, n):
        while len(self._buf) < n:
            self._read_some()
        data = bytes(self._buf[:n])
        del self._buf[:n]
        return data

    # -- frames -----------------------------------------------------------------------------

    def encode(self, msg):
        payload = dumps(msg)
        if len(payload) > self.max_message_bytes:
            raise MessageTooLarge(len(payload))
        return payload

    def send(self, msg, payload=None):
        if payload is None:
            payload = self.encode(msg)
        frame = struct.pack(">I", len(payload)) + payload
        with self._lock:
            if self._closed:
                raise ChannelClosed("channel closed")
            try:
                self._tls.write(frame)
                self._flush_out()
            except OSError as e:
                raise ChannelClosed("connection error: %s" % e)

    def recv(self):
        (n,) = struct.unpack(">I", self._read_exact(4))
        if n > self.max_message_bytes:
            raise ProtocolError("incoming frame of %d bytes exceeds max_message_bytes %d"
                                % (n, self.max_message_bytes))
        payload = self._read_exact(n)
        try:
            msg = json.loads(payload.decode("utf-8"))
        except ValueError as e:
            raise ProtocolError("malformed frame: %s" % e)
        if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
            raise ProtocolError("frame is not a JSON object with a string 'type'")
        return msg

    def close(self):
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                self._tls.unwrap()
            except Exception:
                pass
            try:
                self._flush_out()
            except Exception:
                pass
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self._sock.close()
        except OSError:
            pass

    # -- authentication ---------------------------------------------------------------------

    def authenticate(self, session_id, secret):
        """hello -> challenge -> auth -> welcome; raises ProtocolError on any mismatch."""
        key = secret.encode("utf-8")
        self.send({"type": "hello", "session_id": session_id, "protocol": PROTOCOL_VERSION})
        msg = self.recv()
        if msg.get("type") == "error":
            raise ProtocolError("server refused the driver: %s" % msg.get("message"))
        nonce = msg.get("nonce")
        if msg.get("type") != "challenge" or not _is_hex(nonce, 64):
            raise ProtocolError("expected a challenge with a 64 hex digit nonce")
        mac = hmac.new(key, ("livy-rs-driver|%d|%s" % (session_id, nonce)).encode("utf-8"),
                       hashlib.sha256).hexdigest()
        client_nonce = secrets.token_hex(32)
        self.send({"type": "auth", "mac": mac, "nonce": client_nonce})
        msg = self.recv()
        if msg.get("type") == "error":
            raise ProtocolError("server rejected authentication: %s" % msg.get("message"))
        expected = hmac.new(key, ("livy-rs-server|%d|%s" % (session_id, client_nonce)).encode("utf-8"),
                            hashlib.sha256).hexdigest()
        if msg.get("type") != "welcome" or not hmac.compare_digest(
                str(msg.get("mac", "")).lower(), expected):
            raise ProtocolError("server failed to prove knowledge of the session secret")


# The servers of a `servers` message: a bound on their number (a service has a handful) and the
# address forms `connect_to` dials (`host:port`, `[v6addr]:port`).
MAX_SERVERS = 256
_ADDRESS = re.compile(r"(\[[0-9A-Fa-f:.]{2,45}\]|[A-Za-z0-9._-]{1,253}):([0-9]{1,5})")


def server_list(value):
    """The addresses of a `servers` message; ValueError unless it is a non-empty list of at most
    MAX_SERVERS `host:port` strings with a port in 1..65535 (duplicates dropped, order kept)."""
    if not isinstance(value, list) or not 0 < len(value) <= MAX_SERVERS:
        raise ValueError("servers must be a list of 1 to %d addresses" % MAX_SERVERS)
    seen = []
    for address in value:
        m = _ADDRESS.fullmatch(address) if isinstance(address, str) else None
        if m is None or not 0 < int(m.group(2)) < 65536:
            raise ValueError("not a host:port address: %r" % (address,))
        if address not in seen:
            seen.append(address)
    return seen


def _is_hex(s, n):
    return isinstance(s, str) and len(s) == n and re.fullmatch(r"[0-9a-fA-F]+", s) is not None
