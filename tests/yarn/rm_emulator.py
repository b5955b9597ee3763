#!/usr/bin/env python3
"""YARN ResourceManager REST + WebHDFS emulator for livy-rs tests (stdlib only).

The wire formats follow Hadoop's documentation (ResourceManagerRest.md, WebHDFS.md,
ResourceManagerHA.md); see tests/yarn/EMULATOR.md for what is emulated and what is not.

Run it:

    python tests/yarn/rm_emulator.py --port 0 --state-dir DIR [--ha rm1,rm2] [--require-spnego]

When ready it prints ONE JSON line on stdout (ports, URLs, state dir) and serves until
SIGTERM/SIGINT.  Or embed it:

    emu = Emulator(state_dir=tmp_path).start()
    ... emu.rm_url() / emu.webhdfs_url / emu.register_app(...) ...
    emu.stop()

Test-control endpoints live under /emulator/ on every port the emulator serves
(never a Hadoop path).  GET /emulator/ lists them.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import http.server
import json
import os
import posixpath
import random
import re
import secrets
import shutil
import signal
import socket
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape as _xml_escape

HADOOP_VERSION = "3.3.6"
APP_STATES = ["NEW", "NEW_SAVING", "SUBMITTED", "ACCEPTED", "RUNNING", "FINISHED", "FAILED", "KILLED"]
FINAL_STATES = {"FINISHED", "FAILED", "KILLED"}
PENDING_STATES = {"NEW", "NEW_SAVING", "SUBMITTED", "ACCEPTED"}
FINAL_STATUSES = ["UNDEFINED", "SUCCEEDED", "FAILED", "KILLED"]
DEFAULT_FINAL_STATUS = {"FINISHED": "SUCCEEDED", "FAILED": "FAILED", "KILLED": "KILLED"}
APP_ID_RE = re.compile(r"^application_(\d+)_(\d+)$")
JSON_CT = "application/json;charset=utf-8"
XML_CT = "application/xml;charset=utf-8"
DEFAULT_WEB_USER = "dr.who"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"


def now_ms() -> int:
    return int(time.time() * 1000)


# --------------------------------------------------------------------------- errors


class HttpError(Exception):
    """An error answered as a Hadoop RemoteException body."""

    def __init__(self, status, exception, message, java_class, headers=None):
        super().__init__(message)
        self.status = status
        self.exception = exception
        self.message = message
        self.java_class = java_class
        self.headers = list(headers or [])

    def payload(self):
        return {"exception": self.exception, "message": self.message, "javaClassName": self.java_class}


def rm_not_found(msg):
    return HttpError(404, "NotFoundException", msg, "org.apache.hadoop.yarn.webapp.NotFoundException")


def rm_bad_request(msg):
    return HttpError(400, "BadRequestException", msg, "org.apache.hadoop.yarn.webapp.BadRequestException")


def rm_forbidden(msg):
    return HttpError(403, "ForbiddenException", msg, "org.apache.hadoop.yarn.webapp.ForbiddenException")


def hdfs_illegal_argument(msg):
    return HttpError(400, "IllegalArgumentException", msg, "java.lang.IllegalArgumentException")


def hdfs_not_found(msg):
    return HttpError(404, "FileNotFoundException", msg, "java.io.FileNotFoundException")


def hdfs_already_exists(msg):
    return HttpError(403, "FileAlreadyExistsException", msg, "org.apache.hadoop.fs.FileAlreadyExistsException")


def hdfs_io(msg, exc="IOException", cls="java.io.IOException"):
    return HttpError(403, exc, msg, cls)


# --------------------------------------------------------------------------- responses


class Resp:
    def __init__(self, status=200, body=b"", content_type=None, headers=None, close=False):
        self.status = status
        self.body = body if isinstance(body, bytes) else body.encode("utf-8")
        self.content_type = content_type
        self.headers = list(headers or [])
        self.close = close


def _fmt_scalar(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v) if v == v else "NaN"
    return _xml_escape(str(v))


def _xml_element(out, name, value, declare_xsi=False):
    if value is None:
        out.append(f"<{name}/>")
        return
    if isinstance(value, dict):
        attrs = ""
        if "@xsi:type" in value:
            if declare_xsi or value.get("@xmlns:xsi"):
                attrs += f' xmlns:xsi="{XSI_NS}"'
            attrs += f' xsi:type="{_xml_escape(value["@xsi:type"])}"'
        out.append(f"<{name}{attrs}>")
        for k, v in value.items():
            if k.startswith("@"):
                continue
            if isinstance(v, list):
                for item in v:
                    _xml_element(out, k, item)
            else:
                _xml_element(out, k, v)
        out.append(f"</{name}>")
        return
    out.append(f"<{name}>{_fmt_scalar(value)}</{name}>")


def to_xml(root, obj, declare_xsi=False):
    out = ['<?xml version="1.0" encoding="UTF-8" standalone="yes"?>']
    _xml_element(out, root, obj, declare_xsi)
    return "".join(out)


def wants_xml(headers):
    """Jersey picks JSON unless the Accept header prefers XML."""
    accept = headers.get("Accept") or ""
    best_json = best_xml = -1.0
    for part in accept.split(","):
        bits = [b.strip() for b in part.split(";")]
        mt = bits[0].lower()
        q = 1.0
        for b in bits[1:]:
            if b.startswith("q="):
                try:
                    q = float(b[2:])
                except ValueError:
                    q = 0.0
        if mt in ("application/json", "application/*", "*/*"):
            best_json = max(best_json, q)
        if mt in ("application/xml", "text/xml"):
            best_xml = max(best_xml, q)
    return best_xml > best_json


def respond(ctx, status, json_obj, xml_root=None, xml_obj=None, headers=None, declare_xsi=False):
    """JSON body `json_obj`, or XML <xml_root> when the client asks for XML."""
    if xml_root is not None and wants_xml(ctx.headers):
        if xml_obj is None:
            xml_obj = json_obj[xml_root] if isinstance(json_obj, dict) and list(json_obj) == [xml_root] else json_obj
        return Resp(status, to_xml(xml_root, xml_obj, declare_xsi), XML_CT, headers)
    return Resp(status, json.dumps(json_obj), JSON_CT, headers)


def error_resp(ctx, err: HttpError, xml_ok=True):
    if xml_ok and wants_xml(ctx.headers):
        return Resp(err.status, to_xml("RemoteException", err.payload()), XML_CT, err.headers)
    return Resp(err.status, json.dumps({"RemoteException": err.payload()}), JSON_CT, err.headers)


class Ctx:
    """One parsed request."""

    def __init__(self, handler, method, body):
        self.handler = handler
        self.method = method
        split = urllib.parse.urlsplit(handler.path)
        self.raw_path = split.path
        self.path = urllib.parse.unquote(split.path)
        self.query_string = split.query
        self.qlist = urllib.parse.parse_qsl(split.query, keep_blank_values=True)
        self.query = {}
        for k, v in self.qlist:
            self.query.setdefault(k, v)
        self.headers = handler.headers
        self.body = body
        self.server = handler.server
        self.auth = None  # filled by Emulator._authenticate
        self.record = None

    def q(self, name, default=None):
        return self.query.get(name, default)

    def json_body(self):
        if not self.body:
            return {}
        return json.loads(self.body.decode("utf-8"))


# --------------------------------------------------------------------------- HTTP plumbing


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
        return self.rfile.read(n) if n > 0 else b""

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


# --------------------------------------------------------------------------- model


class App:
    FIELDS = [
        "id", "cluster_ts", "seq", "user", "name", "queue", "type", "tags", "state", "final_status",
        "progress", "diagnostics", "started", "launched", "finished", "priority", "am_memory",
        "am_vcores", "allocated_mb", "allocated_vcores", "pid", "unmanaged", "attempt_start",
        "am_rpc_port", "ui_url", "history", "kill_events", "submitted_via", "kill_pending",
        "submission", "node_label",
    ]

    def __init__(self, **kw):
        self.history = []
        self.kill_events = []
        self.tags = []
        self.progress = 0.0
        self.diagnostics = ""
        self.launched = 0
        self.finished = 0
        self.priority = 0
        self.pid = None
        self.unmanaged = False
        self.attempt_start = 0
        self.am_rpc_port = 0
        self.ui_url = None
        self.kill_pending = False
        self.submission = None
        self.allocated_mb = None
        self.allocated_vcores = None
        self.node_label = ""
        for k, v in kw.items():
            setattr(self, k, v)

    def to_dict(self):
        return {k: getattr(self, k, None) for k in self.FIELDS}

    @classmethod
    def from_dict(cls, d):
        return cls(**{k: v for k, v in d.items() if k in cls.FIELDS})

    @property
    def container_id(self):
        return f"container_{self.cluster_ts}_{self.seq:04d}_01_000001"

    @property
    def attempt_id(self):
        return f"appattempt_{self.cluster_ts}_{self.seq:04d}_000001"

    @property
    def has_attempt(self):
        return self.attempt_start > 0


DEFAULT_QUEUES = [
    # name, capacity %, max capacity % (both relative to root), user limit factor
    {"name": "default", "capacity": 90.0, "maxCapacity": 100.0, "userLimitFactor": 1.0, "maxApplications": 9000},
    {"name": "small", "capacity": 10.0, "maxCapacity": 20.0, "userLimitFactor": 1.0, "maxApplications": 1000},
]


class Fault:
    MODES = {"latency", "garbage", "html", "status", "reset", "refuse"}

    def __init__(self, target, mode, latency_ms=0, status=None, count=None, seconds=None, path_prefix="", body=None):
        if mode not in self.MODES:
            raise ValueError(f"unknown fault mode {mode!r}; one of {sorted(self.MODES)}")
        self.target = target
        self.mode = mode
        self.latency_ms = int(latency_ms or 0)
        self.status = int(status) if status else (200 if mode == "html" else 503)
        self.count = None if count is None else int(count)
        self.until = None if seconds is None else time.time() + float(seconds)
        self.path_prefix = path_prefix or ""
        self.body = body

    def to_dict(self):
        return {
            "target": self.target, "mode": self.mode, "latency_ms": self.latency_ms, "status": self.status,
            "count": self.count, "remaining_seconds": None if self.until is None else max(0.0, self.until - time.time()),
            "path_prefix": self.path_prefix,
        }


GARBAGE_BODY = b"\x00\x1f<<not-json>> {\"apps\": [tru"
HTML_BODY = (
    "<!DOCTYPE html><html><head><title>Sign in</title></head><body>"
    "<h1>Gateway login</h1><form method='post' action='/login'><input name='user'/></form>"
    "</body></html>"
)


# --------------------------------------------------------------------------- SPNEGO


class SpnegoError(Exception):
    pass


def default_spnego_validator(token_b64):
    """Accept-anything stand-in for a Kerberos acceptor.

    Returns (principal, response_token_b64_or_None).  A token whose base64 decodes to a
    printable `user@REALM` acts as that principal; one decoding to `reject`/`invalid` is
    refused (403); anything else is `client@EXAMPLE.COM`.
    """
    try:
        raw = base64.b64decode(token_b64, validate=True)
    except Exception as e:  # noqa: BLE001
        raise SpnegoError(f"malformed Negotiate token: {e}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = ""
    if text in ("reject", "invalid"):
        raise SpnegoError("GSSException: Defective token detected")
    if re.fullmatch(r"[A-Za-z0-9._/-]+@[A-Za-z0-9._-]+", text):
        return text, None
    return "client@EXAMPLE.COM", None


def make_gssapi_validator(keytab=None, principal=None):
    """A real Kerberos/SPNEGO acceptor (python-gssapi against MIT Kerberos).

    `keytab`: the service keytab (read through a GSSAPI credential store, so this process's
    KRB5_KTNAME is left alone); `principal`: the acceptor name, e.g. "HTTP/localhost@REALM"
    (None accepts for any key in the keytab).  Tokens are validated for real: a ticket for
    another service, an expired or replayed one, or garbage is refused (403).  Returns
    (initiator principal, response token or None), like `default_spnego_validator`.
    """
    import gssapi  # noqa: import only when asked for

    name = gssapi.Name(principal, gssapi.NameType.kerberos_principal) if principal else None
    store = {"keytab": str(keytab)} if keytab else None
    creds = gssapi.Credentials(name=name, usage="accept", store=store)
    lock = threading.Lock()  # one MIT replay cache per process: accept one token at a time

    def validate(token_b64):
        try:
            raw = base64.b64decode(token_b64, validate=True)
        except Exception as e:  # noqa: BLE001
            raise SpnegoError(f"malformed Negotiate token: {e}")
        try:
            with lock:
                ctx = gssapi.SecurityContext(creds=creds, usage="accept")
                out = ctx.step(raw)
        except gssapi.exceptions.GSSError as e:
            raise SpnegoError(str(e))
        if not ctx.complete:
            raise SpnegoError("SPNEGO negotiation needs another round trip (unsupported)")
        return str(ctx.initiator_name), (base64.b64encode(out).decode() if out else None)

    return validate


# --------------------------------------------------------------------------- Hadoop tokens
# Delegation tokens as Hadoop encodes them (Token.encodeToUrlString): WritableUtils vints and
# Text fields, base64url without padding; the identifier is an AbstractDelegationTokenIdentifier
# (version 0, owner, renewer, realUser, issueDate, maxDate, sequenceNumber, masterKeyId).


def _vlong(v):
    if -112 <= v <= 127:
        return bytes([v & 0xFF])
    length = -112
    if v < 0:
        v = ~v
        length = -120
    tmp = v
    while tmp:
        tmp >>= 8
        length -= 1
    n = -(length + 120) if length < -120 else -(length + 112)
    return bytes([length & 0xFF]) + v.to_bytes(n, "big")


def _text(s):
    b = s.encode() if isinstance(s, str) else bytes(s)
    return _vlong(len(b)) + b


def dt_identifier(owner, renewer, real_user, issue, max_date, seq, key_id=1):
    return (b"\x00" + _text(owner) + _text(renewer) + _text(real_user or "") + _vlong(issue) + _vlong(max_date)
            + _vlong(seq) + _vlong(key_id))


def encode_token(identifier, password, kind, service):
    raw = _text(identifier) + _text(password) + _text(kind) + _text(service)
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _read_vlong(buf, i):
    first = buf[i] - 256 if buf[i] > 127 else buf[i]
    if first >= -112:
        return first, i + 1
    size = -119 - first if first < -120 else -111 - first
    v = int.from_bytes(buf[i + 1:i + size], "big")
    return (~v if first < -120 else v), i + size


def decode_token(url_string):
    """{kind, service, owner, renewer, real_user} of a token's URL string (None if not one)."""
    try:
        raw = base64.urlsafe_b64decode(url_string + "=" * (-len(url_string) % 4))
        fields, i = [], 0
        for _ in range(4):
            n, i = _read_vlong(raw, i)
            fields.append(raw[i:i + n])
            i += n
        ident, j = fields[0], 1
        texts = []
        for _ in range(3):
            n, j = _read_vlong(ident, j)
            texts.append(ident[j:j + n].decode())
            j += n
        return {"kind": fields[2].decode(), "service": fields[3].decode(), "owner": texts[0], "renewer": texts[1],
                "real_user": texts[2]}
    except Exception:  # noqa: BLE001
        return None


def short_name(principal):
    return re.split(r"[/@]", principal, maxsplit=1)[0]


# --------------------------------------------------------------------------- emulator


class Emulator:
    def __init__(
        self,
        state_dir,
        host="127.0.0.1",
        port=0,
        ha=None,
        require_spnego=False,
        spnego_validator=None,
        webhdfs_port=0,
        node_port=0,
        total_mb=16384,
        total_vcores=16,
        max_alloc_mb=8192,
        max_alloc_vcores=8,
        queues=None,
        ha_redirect_mode="redirect",
        kill_delay_ms=200,
        sigkill_after_ms=3000,
        recover=True,
        kill_drivers_on_stop=True,
        verbose=False,
        rm_principal=None,
    ):
        self.state_dir = os.path.abspath(str(state_dir))
        self.host = host
        self.port = int(port)
        self.rm_ids = list(ha) if ha else ["rm1"]
        self.ha_enabled = bool(ha)
        self.active_rm = self.rm_ids[0]
        self.require_spnego = require_spnego
        self.spnego_validator = spnego_validator or default_spnego_validator
        self.webhdfs_port = int(webhdfs_port)
        self.node_port = int(node_port)
        self.total_mb = total_mb
        self.total_vcores = total_vcores
        self.max_alloc_mb = max_alloc_mb
        self.max_alloc_vcores = max_alloc_vcores
        self.queues = [dict(q) for q in (queues or DEFAULT_QUEUES)]
        self.queue_extra_usage = {}  # queue -> {"memory":..,"vCores":..} used by "other tenants"
        self.settings = {
            "ha_redirect_mode": ha_redirect_mode,  # redirect (307) | refresh (old Refresh header)
            "kill_delay_ms": kill_delay_ms,
            "sigkill_after_ms": sigkill_after_ms,
            "webhdfs_redirect": True,
            # Run a REST-submitted Spark ApplicationMaster's driver (see _launch_spark_am).
            "run_spark_am": True,
        }
        self.recover = recover
        self.kill_drivers_on_stop = kill_drivers_on_stop
        self.verbose = verbose
        self.lock = threading.RLock()
        self.cluster_ts = now_ms()
        self.started_on = self.cluster_ts
        self.next_seq = 1
        self.apps: dict[str, App] = {}
        self.reserved_ids = set()
        self.tokens = {}  # RM delegation tokens: token -> dict
        self.hdfs_tokens = {}
        self.token_seq = 0
        self.rm_principal = rm_principal
        self.requests = []
        self.faults: list[Fault] = []
        self.refused = {}  # server name -> restore timer or None
        self.servers: dict[str, _Server] = {}
        self.ports = {}
        self.threads = {}
        self.timers = []
        self.cookie_secret = secrets.token_bytes(32)
        self.running = False
        self.hdfs_root = os.path.join(self.state_dir, "webhdfs", "data")
        self.hdfs_meta_file = os.path.join(self.state_dir, "webhdfs", "meta.json")
        self.hdfs_meta = {}
        self.rm_state_file = os.path.join(self.state_dir, "rm-state.json")
        self.nm_dir = os.path.join(self.state_dir, "nm-local-dir")
        self.conf_dir = os.path.join(self.state_dir, "hadoop-conf")

    # ------------------------------------------------------------------ lifecycle

    def start(self):
        os.makedirs(self.state_dir, exist_ok=True)
        os.makedirs(self.hdfs_root, exist_ok=True)
        os.makedirs(self.nm_dir, exist_ok=True)
        self._load_state()
        base_port = self.port
        for i, rm_id in enumerate(self.rm_ids):
            p = base_port + i if base_port else 0
            self._bind(rm_id, "rm", p, rm_id)
        self._bind("webhdfs", "nn", self.webhdfs_port)
        self._bind("node", "node", self.node_port)
        self._init_hdfs()
        self._write_hadoop_conf()
        self.running = True
        return self

    def _bind(self, name, role, port, rm_id=None):
        srv = _Server((self.host, port), self, name, role, rm_id)
        self.servers[name] = srv
        self.ports[name] = srv.server_address[1]
        t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True, name=f"emu-{name}")
        t.start()
        self.threads[name] = t

    def _unbind(self, name, keep_conn=None):
        srv = self.servers.pop(name, None)
        if srv is None:
            return
        srv.shutdown()
        srv.server_close()
        srv.close_connections(keep_conn)

    def stop(self):
        if not self.running:
            return
        self.running = False
        with self.lock:
            for t in self.timers:
                t.cancel()
            self.timers.clear()
            for t in self.refused.values():
                if t:
                    t.cancel()
            apps = list(self.apps.values())
        for name in list(self.servers):
            self._unbind(name)
        if self.kill_drivers_on_stop:
            for app in apps:
                if app.pid and app.state not in FINAL_STATES:
                    self._signal_process(app, signal.SIGKILL, record=False)
        with self.lock:
            self._save_state()

    def __enter__(self):
        return self.start() if not self.running else self

    def __exit__(self, *exc):
        self.stop()

    # ------------------------------------------------------------------ addresses

    def rm_addr(self, rm_id=None):
        return f"{self.host}:{self.ports[rm_id or self.active_rm]}"

    def rm_url(self, rm_id=None):
        return f"http://{self.rm_addr(rm_id)}"

    @property
    def webhdfs_addr(self):
        return f"{self.host}:{self.ports['webhdfs']}"

    @property
    def webhdfs_url(self):
        return f"http://{self.webhdfs_addr}"

    @property
    def node_addr(self):
        return f"{self.host}:{self.ports['node']}"

    def info(self):
        return {
            "rm": {r: self.rm_addr(r) for r in self.rm_ids},
            "rm_ids": list(self.rm_ids),
            "ha": self.ha_enabled,
            "active_rm": self.active_rm,
            "rm_url": self.rm_url() if self.active_rm else None,
            "webhdfs": self.webhdfs_addr,
            "webhdfs_url": self.webhdfs_url,
            "node": self.node_addr,
            "cluster_timestamp": self.cluster_ts,
            "state_dir": self.state_dir,
            "hadoop_conf_dir": self.conf_dir,
            "require_spnego": self.require_spnego,
            "pid": os.getpid(),
        }

    def _write_hadoop_conf(self):
        os.makedirs(self.conf_dir, exist_ok=True)

        def write(name, props):
            body = "".join(
                f"  <property><name>{_xml_escape(k)}</name><value>{_xml_escape(str(v))}</value></property>\n"
                for k, v in props
            )
            with open(os.path.join(self.conf_dir, name), "w") as f:
                f.write(f'<?xml version="1.0"?>\n<!-- written by tests/yarn/rm_emulator.py -->\n<configuration>\n{body}</configuration>\n')

        yarn = []
        if self.ha_enabled:
            yarn += [
                ("yarn.resourcemanager.ha.enabled", "true"),
                ("yarn.resourcemanager.cluster-id", "emulator"),
                ("yarn.resourcemanager.ha.rm-ids", ",".join(self.rm_ids)),
            ]
            for r in self.rm_ids:
                yarn += [(f"yarn.resourcemanager.hostname.{r}", self.host), (f"yarn.resourcemanager.webapp.address.{r}", self.rm_addr(r))]
        else:
            yarn += [("yarn.resourcemanager.hostname", self.host), ("yarn.resourcemanager.webapp.address", self.rm_addr("rm1"))]
        if self.rm_principal:
            yarn.append(("yarn.resourcemanager.principal", self.rm_principal))
        yarn += [
            ("yarn.scheduler.maximum-allocation-mb", self.max_alloc_mb),
            ("yarn.scheduler.maximum-allocation-vcores", self.max_alloc_vcores),
        ]
        write("yarn-site.xml", yarn)
        write("core-site.xml", [
            ("fs.defaultFS", f"webhdfs://{self.webhdfs_addr}"),
            ("hadoop.security.authentication", "kerberos" if self.require_spnego else "simple"),
        ])
        write("hdfs-site.xml", [("dfs.namenode.http-address", self.webhdfs_addr), ("dfs.webhdfs.enabled", "true")])

    # ------------------------------------------------------------------ persistence

    def _load_state(self):
        if self.recover and os.path.exists(self.rm_state_file):
            with open(self.rm_state_file) as f:
                d = json.load(f)
            self.apps = {a["id"]: App.from_dict(a) for a in d.get("apps", [])}
            self.next_seq = d.get("next_seq", 1)
            for app in self.apps.values():
                app.kill_pending = False
        if os.path.exists(self.hdfs_meta_file):
            with open(self.hdfs_meta_file) as f:
                self.hdfs_meta = json.load(f)

    def _save_state(self):
        tmp = self.rm_state_file + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"next_seq": self.next_seq, "apps": [a.to_dict() for a in self.apps.values()]}, f)
        os.replace(tmp, self.rm_state_file)

    def _save_hdfs_meta(self):
        tmp = self.hdfs_meta_file + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.hdfs_meta, f)
        os.replace(tmp, self.hdfs_meta_file)

    # ------------------------------------------------------------------ request pipeline

    def _handle(self, ctx: Ctx):
        srv = ctx.server
        if ctx.path == "/emulator" or ctx.path.startswith("/emulator/"):
            try:
                return self._control(ctx)
            except HttpError as e:
                return Resp(e.status, json.dumps({"error": e.message}), JSON_CT)
            except (ValueError, KeyError, TypeError) as e:
                return Resp(400, json.dumps({"error": f"{type(e).__name__}: {e}"}), JSON_CT)
        rec = {
            "t": now_ms(), "server": srv.name, "method": ctx.method, "path": ctx.path,
            "query": dict(ctx.query), "user.name": ctx.q("user.name"),
            "doAs": ctx.q("doAs", ctx.q("doas")), "status": None, "auth": None, "principal": None, "user": None,
            "agent": ctx.headers.get("User-Agent"),
        }
        ctx.record = rec
        fault = self._take_fault(srv.name, ctx.path)
        if fault and fault.latency_ms:
            time.sleep(fault.latency_ms / 1000.0)
        resp = None
        if fault and fault.mode == "reset":
            rec["status"] = "reset"
        elif fault and fault.mode == "garbage":
            resp = Resp(200, fault.body.encode() if fault.body else GARBAGE_BODY, JSON_CT)
        elif fault and fault.mode == "html":
            resp = Resp(fault.status, fault.body or HTML_BODY, "text/html;charset=utf-8")
        elif fault and fault.mode == "status":
            resp = Resp(fault.status, fault.body or f"<html><body><h2>HTTP ERROR {fault.status}</h2></body></html>", "text/html;charset=utf-8")
        else:
            try:
                resp = self._authenticate(ctx)
                if resp is None:
                    if srv.role == "rm":
                        resp = self._rm(ctx)
                    elif srv.role == "nn":
                        resp = self._webhdfs(ctx, datanode=False)
                    else:
                        resp = self._node(ctx)
            except HttpError as e:
                resp = error_resp(ctx, e, xml_ok=srv.role == "rm")
            except Exception as e:  # noqa: BLE001 - surface emulator bugs as 500s
                import traceback

                traceback.print_exc()
                resp = error_resp(ctx, HttpError(500, "WebApplicationException", f"emulator bug: {e!r}", "javax.ws.rs.WebApplicationException"))
            if ctx.auth and ctx.auth.get("set_cookie") and resp is not None:
                resp.headers.append(("Set-Cookie", ctx.auth["set_cookie"]))
            if ctx.auth and ctx.auth.get("out_token") and resp is not None:
                resp.headers.append(("WWW-Authenticate", "Negotiate " + ctx.auth["out_token"]))
        if resp is not None:
            rec["status"] = resp.status
        if ctx.auth:
            rec["auth"], rec["principal"], rec["user"] = ctx.auth.get("method"), ctx.auth.get("principal"), ctx.auth.get("user")
        with self.lock:
            self.requests.append(rec)
            if len(self.requests) > 200000:
                del self.requests[:100000]
        return resp

    def _take_fault(self, server_name, path):
        with self.lock:
            t = time.time()
            self.faults = [f for f in self.faults if (f.until is None or f.until > t) and (f.count is None or f.count > 0)]
            for f in self.faults:
                if f.mode == "refuse":
                    continue
                if not self._fault_matches(f, server_name) or not path.startswith(f.path_prefix):
                    continue
                if f.count is not None:
                    f.count -= 1
                return f
        return None

    def _fault_matches(self, f, server_name):
        if f.target in ("all", server_name):
            return True
        return f.target == "rm" and server_name in self.rm_ids

    # ------------------------------------------------------------------ authentication

    def _cookie_value(self, user, principal, method, expires):
        payload = f"u={user}&p={principal}&t={method}&e={expires}"
        sig = base64.b64encode(hmac.new(self.cookie_secret, payload.encode(), hashlib.sha256).digest()).decode()
        return f"{payload}&s={sig}"

    def _check_cookie(self, headers):
        cookie = headers.get("Cookie") or ""
        m = re.search(r'hadoop\.auth="?([^";]+)"?', cookie)
        if not m:
            return None
        value = m.group(1)
        payload, _, sig = value.rpartition("&s=")
        good = base64.b64encode(hmac.new(self.cookie_secret, payload.encode(), hashlib.sha256).digest()).decode()
        if not hmac.compare_digest(sig, good):
            return None
        fields = dict(kv.split("=", 1) for kv in payload.split("&") if "=" in kv)
        if int(fields.get("e", "0")) < now_ms():
            return None
        return fields

    def _authenticate(self, ctx):
        """Fills ctx.auth; returns a Resp to short-circuit (401/403) or None."""
        role = ctx.server.role
        doas = ctx.q("doAs", ctx.q("doas"))
        authz = ctx.headers.get("Authorization") or ""
        auth = None
        if authz[:10].lower() == "negotiate ":
            try:
                principal, out = self.spnego_validator(authz[10:].strip())
            except SpnegoError as e:
                return Resp(403, f"<html><body><h2>HTTP ERROR 403</h2><p>GSSException: {_xml_escape(str(e))}</p></body></html>", "text/html;charset=iso-8859-1")
            user = short_name(principal)
            expires = now_ms() + 10 * 3600 * 1000
            auth = {
                "method": "negotiate", "principal": principal, "authenticated_user": user, "out_token": out,
                "set_cookie": f'hadoop.auth="{self._cookie_value(user, principal, "kerberos", expires)}"; Path=/; HttpOnly',
            }
        if auth is None:
            c = self._check_cookie(ctx.headers)
            if c:
                auth = {"method": "cookie", "principal": c.get("p"), "authenticated_user": c.get("u")}
        if auth is None and role == "rm":
            tok = ctx.headers.get("X-Hadoop-Delegation-Token")
            if tok:
                with self.lock:
                    info = self.tokens.get(tok)
                if info and info["expiration-time"] > now_ms():
                    auth = {"method": "delegation-token", "principal": info["owner"], "authenticated_user": short_name(info["owner"])}
                elif self.require_spnego:
                    return Resp(403, "<html><body><h2>HTTP ERROR 403</h2><p>Invalid delegation token</p></body></html>", "text/html;charset=iso-8859-1")
        if auth is None and role in ("nn", "node") and ctx.q("delegation"):
            with self.lock:
                info = self.hdfs_tokens.get(ctx.q("delegation"))
            if info:
                auth = {"method": "delegation", "principal": info["owner"], "authenticated_user": info["user"], "doas": info.get("doas")}
                doas = doas or info.get("doas")
            elif self.require_spnego:
                raise HttpError(403, "InvalidToken", "token is expired or doesn't exist", "org.apache.hadoop.security.token.SecretManager$InvalidToken")
        if auth is None:
            if self.require_spnego and not ctx.path.startswith("/node/"):
                ctx.auth = {"method": None, "principal": None, "user": None}
                return Resp(
                    401,
                    "<html><head><title>Error 401 Authentication required</title></head><body><h2>HTTP ERROR 401</h2>"
                    "<p>Problem accessing " + _xml_escape(ctx.path) + ". Reason:<pre>    Authentication required</pre></p></body></html>",
                    "text/html;charset=iso-8859-1",
                    [("WWW-Authenticate", "Negotiate")],
                )
            auth = {"method": "simple" if ctx.q("user.name") else None, "principal": None,
                    "authenticated_user": ctx.q("user.name") or DEFAULT_WEB_USER}
        auth["user"] = doas or auth["authenticated_user"]
        ctx.auth = auth
        return None

    # ------------------------------------------------------------------ RM REST

    def _rm(self, ctx):
        path = ctx.path.rstrip("/") or "/"
        srv = ctx.server
        if self.ha_enabled and srv.rm_id != self.active_rm and path.startswith("/ws/v1/cluster") and path != "/ws/v1/cluster/info":
            return self._standby_redirect(ctx)
        if path.startswith("/proxy/"):
            return self._proxy(ctx, path)
        if not path.startswith("/ws/v1/cluster"):
            return Resp(404, f"<html><body><h2>HTTP ERROR 404</h2><p>{_xml_escape(path)}</p></body></html>", "text/html;charset=utf-8")
        rest = path[len("/ws/v1/cluster"):]
        m = ctx.method
        if rest in ("", "/info"):
            return self._need(ctx, "GET") or self._cluster_info(ctx)
        if rest == "/metrics":
            return self._need(ctx, "GET") or respond(ctx, 200, {"clusterMetrics": self._metrics()}, "clusterMetrics")
        if rest == "/scheduler":
            return self._need(ctx, "GET") or self._scheduler(ctx)
        if rest == "/nodes":
            return self._need(ctx, "GET") or respond(ctx, 200, {"nodes": {"node": [self._node_info()]}}, "nodes")
        if rest == "/apps":
            if m == "GET":
                return self._apps(ctx)
            if m == "POST":
                return self._submit(ctx)
            return self._method_not_allowed(ctx)
        if rest == "/apps/new-application":
            return self._need(ctx, "POST") or self._new_application(ctx)
        if rest == "/delegation-token":
            if m == "POST":
                return self._dt_create(ctx)
            if m == "DELETE":
                return self._dt_cancel(ctx)
            return self._method_not_allowed(ctx)
        if rest == "/delegation-token/expiration":
            return self._need(ctx, "POST") or self._dt_renew(ctx)
        mm = re.fullmatch(r"/apps/([^/]+)(/[^/]+)?", rest)
        if mm:
            app = self._get_app(mm.group(1))
            sub = mm.group(2) or ""
            if sub == "":
                return self._need(ctx, "GET") or respond(ctx, 200, {"app": self._app_info(app, ctx)}, "app")
            if sub == "/state":
                if m == "GET":
                    return respond(ctx, 200, {"state": app.state}, "appstate", {"state": app.state})
                if m == "PUT":
                    return self._put_state(ctx, app)
                return self._method_not_allowed(ctx)
            if sub == "/appattempts":
                return self._need(ctx, "GET") or self._attempts(ctx, app)
            if sub == "/queue":
                if m == "PUT":
                    body = self._parse_body(ctx)
                    q = body.get("queue")
                    if q not in self._leaf_names():
                        raise rm_bad_request(f"java.lang.Exception: Failed to move app {app.id} to queue {q}")
                    with self.lock:
                        app.queue = q
                        self._save_state()
                elif m != "GET":
                    return self._method_not_allowed(ctx)
                return respond(ctx, 200, {"queue": app.queue}, "appqueue", {"queue": app.queue})
            if sub == "/priority":
                if m == "PUT":
                    body = self._parse_body(ctx)
                    with self.lock:
                        app.priority = int(body.get("priority", app.priority))
                        self._save_state()
                elif m != "GET":
                    return self._method_not_allowed(ctx)
                return respond(ctx, 200, {"priority": app.priority}, "applicationpriority", {"priority": app.priority})
        raise rm_not_found(f"java.lang.Exception: no resource for {ctx.method} {path}")

    def _need(self, ctx, method):
        return None if ctx.method in (method, "HEAD" if method == "GET" else method) else self._method_not_allowed(ctx)

    def _method_not_allowed(self, ctx):
        return Resp(405, "<html><body><h2>HTTP ERROR 405</h2><p>Method Not Allowed</p></body></html>", "text/html;charset=utf-8")

    def _standby_redirect(self, ctx):
        if not self.active_rm:
            return Resp(503, "This is standby RM. There is no active RM right now.", "text/plain;charset=utf-8")
        url = f"http://{self.rm_addr(self.active_rm)}{ctx.raw_path}" + (f"?{ctx.query_string}" if ctx.query_string else "")
        if self.settings["ha_redirect_mode"] == "refresh":
            return Resp(200, f"This is standby RM. Redirecting to the current active RM: {url}\n", "text/plain;charset=utf-8", [("Refresh", f"3; url={url}")])
        return Resp(307, f"This is standby RM. The redirect url is: {url}\n", "text/plain;charset=utf-8", [("Location", url)])

    def _cluster_info(self, ctx):
        srv = ctx.server
        if self.ha_enabled:
            ha_state = "ACTIVE" if srv.rm_id == self.active_rm else "STANDBY"
            zk = "CONNECTED"
        else:
            ha_state, zk = "ACTIVE", "ResourceManager HA is not enabled."
        build = f"{HADOOP_VERSION} from livy-rs-emulator by emulator source checksum 00000000000000000000000000000000"
        info = {
            "id": self.cluster_ts,
            "startedOn": self.started_on,
            "state": "STARTED",
            "haState": ha_state,
            "rmStateStoreName": "org.apache.hadoop.yarn.server.resourcemanager.recovery.FileSystemRMStateStore",
            "resourceManagerVersion": HADOOP_VERSION,
            "resourceManagerBuildVersion": build,
            "resourceManagerVersionBuiltOn": "2023-06-18T08:22Z",
            "hadoopVersion": HADOOP_VERSION,
            "hadoopBuildVersion": build,
            "hadoopVersionBuiltOn": "2023-06-18T08:22Z",
            "haZooKeeperConnectionState": zk,
        }
        return respond(ctx, 200, {"clusterInfo": info}, "clusterInfo")

    def _usage(self):
        """(per-queue {memory,vCores,running,pending,users}, totals) from the live apps."""
        with self.lock:
            per = {q["name"]: {"memory": 0, "vCores": 0, "active": 0, "pending": 0, "containers": 0, "users": {}} for q in self.queues}
            for app in self.apps.values():
                u = per.get(app.queue)
                if u is None or app.state in FINAL_STATES:
                    continue
                user = u["users"].setdefault(app.user, {"memory": 0, "vCores": 0, "active": 0, "pending": 0})
                if app.state == "RUNNING":
                    mb, vc = self._alloc(app)
                    for d in (u, user):
                        d["memory"] += mb
                        d["vCores"] += vc
                        d["active"] += 1
                    u["containers"] += 1
                else:
                    u["pending"] += 1
                    user["pending"] += 1
            for qn, extra in self.queue_extra_usage.items():
                if qn in per:
                    per[qn]["memory"] += int(extra.get("memory", 0))
                    per[qn]["vCores"] += int(extra.get("vCores", 0))
                    per[qn]["containers"] += int(extra.get("containers", 0))
            return per

    def _alloc(self, app):
        if app.state != "RUNNING":
            return 0, 0
        mb = app.allocated_mb if app.allocated_mb is not None else app.am_memory
        vc = app.allocated_vcores if app.allocated_vcores is not None else app.am_vcores
        return int(mb or 0), int(vc or 0)

    def _metrics(self):
        per = self._usage()
        used_mb = sum(u["memory"] for u in per.values())
        used_vc = sum(u["vCores"] for u in per.values())
        with self.lock:
            states = [a.state for a in self.apps.values()]
        return {
            "appsSubmitted": len(states),
            "appsCompleted": states.count("FINISHED"),
            "appsPending": sum(1 for s in states if s in PENDING_STATES),
            "appsRunning": states.count("RUNNING"),
            "appsFailed": states.count("FAILED"),
            "appsKilled": states.count("KILLED"),
            "reservedMB": 0,
            "availableMB": max(0, self.total_mb - used_mb),
            "allocatedMB": used_mb,
            "totalMB": self.total_mb,
            "reservedVirtualCores": 0,
            "availableVirtualCores": max(0, self.total_vcores - used_vc),
            "allocatedVirtualCores": used_vc,
            "totalVirtualCores": self.total_vcores,
            "containersAllocated": sum(u["containers"] for u in per.values()),
            "containersReserved": 0,
            "containersPending": 0,
            "totalNodes": 1,
            "activeNodes": 1,
            "lostNodes": 0,
            "unhealthyNodes": 0,
            "decommissioningNodes": 0,
            "decommissionedNodes": 0,
            "rebootedNodes": 0,
            "shutdownNodes": 0,
        }

    def _leaf_names(self):
        return [q["name"] for q in self.queues]

    def _scheduler(self, ctx):
        per = self._usage()
        total_used_mb = sum(u["memory"] for u in per.values())
        total_used_vc = sum(u["vCores"] for u in per.values())

        def pct(used, cap_abs):
            return round(100.0 * used / (self.total_mb * cap_abs / 100.0), 4) if cap_abs else 0.0

        leaves = []
        for q in self.queues:
            u = per[q["name"]]
            cap, maxcap = float(q["capacity"]), float(q["maxCapacity"])
            abs_used = round(100.0 * u["memory"] / self.total_mb, 4)
            used_cap = pct(u["memory"], cap)
            users = [
                {
                    "username": name,
                    "resourcesUsed": {"memory": d["memory"], "vCores": d["vCores"]},
                    "numActiveApplications": d["active"],
                    "numPendingApplications": d["pending"],
                }
                for name, d in sorted(u["users"].items())
            ]
            max_apps = int(q.get("maxApplications", 10000))
            leaves.append({
                "@xsi:type": "capacitySchedulerLeafQueueInfo",
                "capacity": cap,
                "usedCapacity": used_cap,
                "maxCapacity": maxcap,
                "absoluteCapacity": cap,
                "absoluteMaxCapacity": maxcap,
                "absoluteUsedCapacity": abs_used,
                "numApplications": u["active"] + u["pending"],
                "usedResources": f"<memory:{u['memory']}, vCores:{u['vCores']}>",
                "queueName": q["name"],
                "queuePath": f"root.{q['name']}",
                "state": "RUNNING",
                "resourcesUsed": {"memory": u["memory"], "vCores": u["vCores"]},
                "numActiveApplications": u["active"],
                "numPendingApplications": u["pending"],
                "numContainers": u["containers"],
                "maxApplications": max_apps,
                "maxApplicationsPerUser": max_apps,
                "maxActiveApplications": max(1, int(self.total_mb * maxcap / 100.0 * 0.1 // 256)),
                "maxActiveApplicationsPerUser": max(1, int(self.total_mb * maxcap / 100.0 * 0.1 // 256)),
                "userLimit": 100,
                "users": {"user": users} if users else None,
                "userLimitFactor": float(q.get("userLimitFactor", 1.0)),
                "maximumAllocation": {"memory": self.max_alloc_mb, "vCores": self.max_alloc_vcores},
                "capacities": {"queueCapacitiesByPartition": [{
                    "partitionName": "", "capacity": cap, "usedCapacity": used_cap, "maxCapacity": maxcap,
                    "absoluteCapacity": cap, "absoluteUsedCapacity": abs_used, "absoluteMaxCapacity": maxcap,
                    "maxAMLimitPercentage": 10.0,
                }]},
                "resources": {"resourceUsagesByPartition": [{
                    "partitionName": "",
                    "used": {"memory": u["memory"], "vCores": u["vCores"]},
                    "reserved": {"memory": 0, "vCores": 0},
                    "pending": {"memory": 0, "vCores": 0},
                    "amUsed": {"memory": u["memory"], "vCores": u["vCores"]},
                    "amLimit": {"memory": int(self.total_mb * maxcap / 100.0 * 0.1), "vCores": 1},
                }]},
                "type": "capacitySchedulerLeafQueueInfo",
            })
        info = {
            "@xsi:type": "capacityScheduler",
            "@xmlns:xsi": True,
            "type": "capacityScheduler",
            "capacity": 100.0,
            "usedCapacity": round(100.0 * total_used_mb / self.total_mb, 4),
            "maxCapacity": 100.0,
            "queueName": "root",
            "queues": {"queue": leaves},
        }
        json_info = self._strip_at(info)
        xml_info = self._xml_scheduler(info)
        if wants_xml(ctx.headers):
            return Resp(200, to_xml("scheduler", {"schedulerInfo": xml_info}), XML_CT)
        return Resp(200, json.dumps({"scheduler": {"schedulerInfo": json_info}}), JSON_CT)

    def _strip_at(self, obj):
        if isinstance(obj, dict):
            return {k: self._strip_at(v) for k, v in obj.items() if not k.startswith("@")}
        if isinstance(obj, list):
            return [self._strip_at(v) for v in obj]
        return obj

    def _xml_scheduler(self, obj):
        # In XML the scheduler/queue "type" is the xsi:type attribute, not an element.
        if isinstance(obj, dict):
            return {k: self._xml_scheduler(v) for k, v in obj.items() if not (k == "type" and "@xsi:type" in obj)}
        if isinstance(obj, list):
            return [self._xml_scheduler(v) for v in obj]
        return obj

    def _node_info(self):
        per = self._usage()
        used_mb = sum(u["memory"] for u in per.values())
        used_vc = sum(u["vCores"] for u in per.values())
        return {
            "rack": "/default-rack", "state": "RUNNING", "id": f"{self.host}:45454", "nodeHostName": self.host,
            "nodeHTTPAddress": self.node_addr, "lastHealthUpdate": now_ms(), "version": HADOOP_VERSION,
            "healthReport": "", "numContainers": sum(u["containers"] for u in per.values()),
            "usedMemoryMB": used_mb, "availMemoryMB": self.total_mb - used_mb,
            "usedVirtualCores": used_vc, "availableVirtualCores": self.total_vcores - used_vc,
        }

    # ---------------------------------------------------------------- apps

    def _get_app(self, app_id):
        if not APP_ID_RE.match(app_id):
            raise rm_bad_request(f"java.lang.IllegalArgumentException: Invalid ApplicationId: {app_id}")
        with self.lock:
            app = self.apps.get(app_id)
        if app is None:
            raise rm_not_found(f"java.lang.Exception: app with id: {app_id} not found")
        return app

    def _app_info(self, app, ctx_or_addr):
        rm_addr = ctx_or_addr if isinstance(ctx_or_addr, str) else ctx_or_addr.server.addr
        now = now_ms()
        final = app.state in FINAL_STATES
        running = app.state == "RUNNING"
        end = app.finished if final and app.finished else now
        if app.has_attempt:
            tracking_url = f"http://{rm_addr}/proxy/{app.id}/"
        else:
            tracking_url = f"http://{rm_addr}/cluster/app/{app.id}"
        tracking_ui = "History" if final else ("ApplicationMaster" if running else "UNASSIGNED")
        mb, vc = self._alloc(app)
        run_secs = 0
        if app.launched:
            run_secs = max(0, ((app.finished if final and app.finished else now) - app.launched) // 1000)
        d = {
            "id": app.id,
            "user": app.user,
            "name": app.name,
            "queue": app.queue,
            "state": app.state,
            "finalStatus": app.final_status,
            "progress": 100.0 if final else float(app.progress),
            "trackingUI": tracking_ui,
            "trackingUrl": tracking_url,
            "diagnostics": app.diagnostics,
            "clusterId": self.cluster_ts,
            "applicationType": app.type,
            "applicationTags": ",".join(app.tags),
            "priority": app.priority,
            "startedTime": app.started,
            "launchTime": app.launched,
            "finishedTime": app.finished if final else 0,
            "elapsedTime": max(0, end - app.started),
        }
        if app.has_attempt:
            d["amContainerLogs"] = f"http://{self.node_addr}/node/containerlogs/{app.container_id}/{app.user}"
            d["amHostHttpAddress"] = self.node_addr
        if running:
            d["amRPCAddress"] = f"{self.host}:{app.am_rpc_port}"
        d.update({
            "masterNodeId": f"{self.host}:45454" if app.has_attempt else "",
            "allocatedMB": mb if running else (-1 if final else 0),
            "allocatedVCores": vc if running else (-1 if final else 0),
            "reservedMB": 0,
            "reservedVCores": 0,
            "runningContainers": (1 if running else (-1 if final else 0)),
            "memorySeconds": int(run_secs * (app.allocated_mb or app.am_memory or 0)),
            "vcoreSeconds": int(run_secs * (app.allocated_vcores or app.am_vcores or 0)),
            "queueUsagePercentage": 0.0,
            "clusterUsagePercentage": round(100.0 * mb / self.total_mb, 4) if running else 0.0,
            "preemptedResourceMB": 0,
            "preemptedResourceVCores": 0,
            "numNonAMContainerPreempted": 0,
            "numAMContainerPreempted": 0,
            "logAggregationStatus": "DISABLED",
            "unmanagedApplication": bool(app.unmanaged),
            "appNodeLabelExpression": app.node_label or "",
            "amNodeLabelExpression": app.node_label or "",
        })
        return d

    def _apps(self, ctx):
        q = ctx.query

        def csv(name):
            v = q.get(name)
            if v is None:
                return None
            out = []
            for k, val in ctx.qlist:  # repeated params are allowed too
                if k == name:
                    out += [s.strip() for s in val.split(",") if s.strip()]
            return out

        def num(name, default):
            v = q.get(name)
            if v is None or v == "":
                return default
            try:
                n = int(v)
            except ValueError:
                raise rm_bad_request(f"java.lang.NumberFormatException: For input string: \"{v}\"")
            if n < 0:
                raise rm_bad_request(f"java.lang.Exception: {name} must be greater than 0")
            return n

        states = csv("states") or []
        if q.get("state"):
            states.append(q["state"])
        states_u = set()
        for s in states:
            if s.upper() not in APP_STATES:
                raise rm_bad_request(
                    f"java.lang.IllegalArgumentException: Invalid application-state {s} specified. It should be one of {', '.join(APP_STATES)}"
                )
            states_u.add(s.upper())
        final_status = q.get("finalStatus")
        if final_status and final_status.upper() not in FINAL_STATUSES:
            raise rm_bad_request(f"java.lang.IllegalArgumentException: No enum constant org.apache.hadoop.yarn.api.records.FinalApplicationStatus.{final_status}")
        limit = num("limit", None)
        if limit is not None and limit <= 0:
            raise rm_bad_request("java.lang.Exception: limit value must be greater then 0")
        sb, se = num("startedTimeBegin", 0), num("startedTimeEnd", 2**63 - 1)
        if sb > se:
            raise rm_bad_request("java.lang.Exception: startedTimeEnd must be greater than startTimeBegin")
        fb, fe = num("finishedTimeBegin", 0), num("finishedTimeEnd", 2**63 - 1)
        if fb > fe:
            raise rm_bad_request("java.lang.Exception: finishedTimeEnd must be greater than finishedTimeBegin")
        types = {t.lower() for t in (csv("applicationTypes") or [])}
        tags = {t.lower() for t in (csv("applicationTags") or [])}
        user, queue = q.get("user"), q.get("queue")
        with self.lock:
            apps = sorted(self.apps.values(), key=lambda a: (a.cluster_ts, a.seq))
        out = []
        for a in apps:
            if states_u and a.state not in states_u:
                continue
            if final_status and a.final_status != final_status.upper():
                continue
            if user and a.user != user:
                continue
            if queue and queue not in (a.queue, f"root.{a.queue}"):
                continue
            if types and a.type.lower() not in types:
                continue
            if tags and not (tags & set(a.tags)):
                continue
            if not (sb <= a.started <= se):
                continue
            fin = a.finished if a.state in FINAL_STATES else 0
            if not (fb <= fin <= fe):
                continue
            out.append(self._app_info(a, ctx))
            if limit is not None and len(out) >= limit:
                break
        return respond(ctx, 200, {"apps": {"app": out} if out else None}, "apps")

    def _attempts(self, ctx, app):
        if not app.has_attempt:
            return respond(ctx, 200, {"appAttempts": None}, "appAttempts")
        att = {
            "id": 1,
            "startTime": app.attempt_start,
            "finishedTime": app.finished if app.state in FINAL_STATES else 0,
            "containerId": app.container_id,
            "nodeHttpAddress": self.node_addr,
            "nodeId": f"{self.host}:45454",
            "logsLink": f"http://{self.node_addr}/node/containerlogs/{app.container_id}/{app.user}",
            "blacklistedNodes": "",
            "nodesBlacklistedBySystem": "",
            "appAttemptId": app.attempt_id,
            "appAttemptState": {"NEW": "NEW", "NEW_SAVING": "NEW", "SUBMITTED": "SUBMITTED", "ACCEPTED": "LAUNCHED"}.get(app.state, app.state),
        }
        return respond(ctx, 200, {"appAttempts": {"appAttempt": [att]}}, "appAttempts")

    def _parse_body(self, ctx):
        raw = (ctx.body or b"").strip()
        if not raw:
            return {}
        ct = (ctx.headers.get("Content-Type") or "").lower()
        if raw.startswith(b"<") or "xml" in ct:
            try:
                root = ET.fromstring(raw)
            except ET.ParseError as e:
                raise rm_bad_request(f"javax.xml.bind.UnmarshalException: {e}")
            return _xml_to_dict(root)
        try:
            return json.loads(raw)
        except ValueError as e:
            raise rm_bad_request(f"com.fasterxml.jackson.core.JsonParseException: {e}")

    def _allocate_id(self):
        with self.lock:
            seq = self.next_seq
            self.next_seq += 1
            app_id = f"application_{self.cluster_ts}_{seq:04d}"
            self.reserved_ids.add(app_id)
            self._save_state()
            return app_id

    def _new_application(self, ctx):
        app_id = self._allocate_id()
        body = {"application-id": app_id, "maximum-resource-capability": {"memory": self.max_alloc_mb, "vCores": self.max_alloc_vcores}}
        return respond(ctx, 200, body, "NewApplication", body)

    def _submit(self, ctx):
        body = self._parse_body(ctx)
        if "application-submission-context" in body and isinstance(body["application-submission-context"], dict):
            body = body["application-submission-context"]
        app_id = body.get("application-id")
        if not app_id:
            raise rm_bad_request("java.lang.Exception: application-id is required")
        m = APP_ID_RE.match(app_id)
        if not m:
            raise rm_bad_request(f"java.lang.IllegalArgumentException: Invalid ApplicationId: {app_id}")
        with self.lock:
            if app_id in self.apps:
                raise rm_bad_request(f"org.apache.hadoop.yarn.exceptions.YarnException: Application with id {app_id} is already present! Cannot add a duplicate!")
        res = body.get("resource") or {}
        mem = int(res.get("memory", 1024) or 1024)
        vc = int(res.get("vCores", 1) or 1)
        if mem > self.max_alloc_mb or vc > self.max_alloc_vcores or mem < 0 or vc < 0:
            raise rm_bad_request(
                "org.apache.hadoop.yarn.exceptions.InvalidResourceRequestException: Invalid resource request, "
                f"requested resource type=[memory-mb] < 0 or greater than maximum allowed allocation. Requested resource=<memory:{mem}, vCores:{vc}>, "
                f"maximum allowed allocation=<memory:{self.max_alloc_mb}, vCores:{self.max_alloc_vcores}>"
            )
        tags = _tags_from(body.get("application-tags"))
        self._create_app(
            app_id=app_id, name=body.get("application-name") or "N/A", queue=body.get("queue") or "default",
            user=ctx.auth["user"], app_type=body.get("application-type") or "YARN", tags=tags,
            memory=mem, vcores=vc, priority=int(body.get("priority", 0) or 0),
            unmanaged=str(body.get("unmanaged-AM", "false")).lower() == "true", submitted_via="rest",
            submission=body,
        )
        app = self.apps[app_id]
        if app.state == "ACCEPTED" and self.settings["run_spark_am"] and SPARK_AM_CLASS in _am_command(body):
            threading.Thread(target=self._launch_spark_am, args=(app,), daemon=True).start()
        loc = f"http://{ctx.server.addr}/ws/v1/cluster/apps/{app_id}"
        return Resp(202, b"", XML_CT if wants_xml(ctx.headers) else JSON_CT, [("Location", loc)])

    def _create_app(self, app_id=None, name="app", queue="default", user=DEFAULT_WEB_USER, app_type="SPARK", tags=(),
                    memory=1024, vcores=1, priority=0, unmanaged=False, state="ACCEPTED", final_status=None,
                    diagnostics="", pid=None, submitted_via="emulator", submission=None):
        with self.lock:
            if app_id is None:
                app_id = self._allocate_id()
            m = APP_ID_RE.match(app_id)
            cluster_ts, seq = int(m.group(1)), int(m.group(2))
            self.reserved_ids.discard(app_id)
            if cluster_ts == self.cluster_ts and seq >= self.next_seq:
                self.next_seq = seq + 1
            t = now_ms()
            app = App(
                id=app_id, cluster_ts=cluster_ts, seq=seq, user=user or DEFAULT_WEB_USER, name=name, queue=queue,
                type=app_type, tags=_norm_tags(tags), state="NEW", final_status="UNDEFINED", started=t,
                priority=priority, am_memory=int(memory), am_vcores=int(vcores), unmanaged=unmanaged, pid=pid,
                submitted_via=submitted_via, submission=submission, diagnostics="",
            )
            app.am_rpc_port = random.randint(30000, 60000)
            self.apps[app_id] = app
            for s in ("NEW", "NEW_SAVING", "SUBMITTED"):
                app.history.append([s, t])
            app.state = "SUBMITTED"
            if state.upper() in ("NEW", "NEW_SAVING", "SUBMITTED"):
                app.history = app.history[: ["NEW", "NEW_SAVING", "SUBMITTED"].index(state.upper()) + 1]
                app.state = state.upper()
            elif queue not in self._leaf_names():
                self._transition(app, "FAILED", "FAILED", f"Application {app_id} submitted by user {app.user} to unknown queue: {queue}")
            else:
                self._transition(app, state, final_status, diagnostics)
            self._save_state()
            return app

    def _transition(self, app, state, final_status=None, diagnostics=None, append_diagnostics=False, progress=None):
        """Apply a state change (lock held)."""
        state = state.upper()
        if state not in APP_STATES:
            raise ValueError(f"invalid state {state!r}")
        t = now_ms()
        if state in ("ACCEPTED", "RUNNING") and not app.has_attempt:
            app.attempt_start = t
        if state == "RUNNING" and not app.launched:
            app.launched = t
        if state in FINAL_STATES:
            if app.state not in FINAL_STATES or not app.finished:
                app.finished = t
            app.kill_pending = False
        elif app.state in FINAL_STATES:
            app.finished = 0
        app.final_status = (final_status or DEFAULT_FINAL_STATUS.get(state, "UNDEFINED")).upper()
        if diagnostics is not None:
            app.diagnostics = (app.diagnostics + "\n" + diagnostics).strip("\n") if append_diagnostics and app.diagnostics else diagnostics
        if progress is not None:
            app.progress = float(progress)
        if app.state != state:
            app.history.append([state, t])
        app.state = state

    def _put_state(self, ctx, app):
        body = self._parse_body(ctx)
        target = str(body.get("state", "")).upper()
        if target != "KILLED":
            raise rm_bad_request("java.lang.Exception: Only 'KILLED' is allowed as a target state.")
        user = ctx.auth["user"]
        reason = body.get("diagnostics")
        loc = [("Location", f"http://{ctx.server.addr}/ws/v1/cluster/apps/{app.id}")]
        with self.lock:
            if app.state in FINAL_STATES:
                return respond(ctx, 200, {"state": app.state}, "appstate", {"state": app.state})
            prev = app.state
            delay = float(self.settings["kill_delay_ms"]) / 1000.0
            if delay <= 0:
                self._complete_kill(app.id, user, reason)
                return respond(ctx, 200, {"state": app.state}, "appstate", {"state": app.state})
            if not app.kill_pending:
                app.kill_pending = True
                self._later(delay, self._complete_kill, app.id, user, reason)
        return respond(ctx, 202, {"state": prev}, "appstate", {"state": prev}, headers=loc)

    def _later(self, delay, fn, *args):
        t = threading.Timer(delay, fn, args)
        t.daemon = True
        with self.lock:
            self.timers = [x for x in self.timers if x.is_alive()]
            self.timers.append(t)
        t.start()

    def _complete_kill(self, app_id, user, reason=None):
        with self.lock:
            app = self.apps.get(app_id)
            if app is None or app.state in FINAL_STATES:
                return
            diag = f"Application {app_id} was killed by user {user} at {self.host}"
            if reason:
                diag += f" with diagnostic message: {reason}"
            self._transition(app, "KILLED", "KILLED", diag)
            self._save_state()
        self._signal_process(app, signal.SIGTERM)

    def _signal_process(self, app, sig, record=True):
        pid = app.pid
        if not pid:
            return
        try:
            pgid = os.getpgid(pid)
        except (ProcessLookupError, PermissionError):
            return
        use_group = pgid != os.getpgid(0)  # never signal our own (test runner's) group
        try:
            if use_group:
                os.killpg(pgid, sig)
            else:
                os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        if record:
            with self.lock:
                app.kill_events.append({"t": now_ms(), "signal": signal.Signals(sig).name, "pid": pid, "pgid": pgid if use_group else None})
        if sig == signal.SIGTERM and self.settings["sigkill_after_ms"] is not None and self.running:
            def escalate():
                try:
                    if use_group:
                        os.killpg(pgid, 0)
                        os.killpg(pgid, signal.SIGKILL)
                    else:
                        os.kill(pid, 0)
                        os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    return
                with self.lock:
                    app.kill_events.append({"t": now_ms(), "signal": "SIGKILL", "pid": pid, "pgid": pgid if use_group else None})

            self._later(float(self.settings["sigkill_after_ms"]) / 1000.0, escalate)

    def _proxy(self, ctx, path):
        m = re.match(r"/proxy/(application_\d+_\d+)(/.*)?$", path)
        if not m:
            return Resp(404, "Not found", "text/plain")
        with self.lock:
            app = self.apps.get(m.group(1))
        if app is None:
            return Resp(404, f"<html><body><h2>Application {m.group(1)} could not be found</h2></body></html>", "text/html;charset=utf-8")
        if app.ui_url and app.state == "RUNNING":
            return Resp(302, b"", None, [("Location", app.ui_url.rstrip("/") + (m.group(2) or "/"))])
        return Resp(200, f"<html><body><h2>Application {app.id} ({app.state})</h2><p>No web UI available.</p></body></html>", "text/html;charset=utf-8")

    # ---------------------------------------------------------------- RM delegation tokens

    def _kerberos_only(self, ctx):
        if not ctx.auth or ctx.auth.get("method") not in ("negotiate", "cookie"):
            raise rm_forbidden(
                "java.lang.Exception: Delegation token operations can only be carried out on a Kerberos authenticated "
                "channel. Expected auth type is kerberos, got type simple"
            )

    def _token_from_headers(self, ctx):
        tok = ctx.headers.get("Hadoop-YARN-RM-Delegation-Token") or ctx.headers.get("X-Hadoop-Delegation-Token")
        if not tok:
            raise rm_bad_request("java.lang.Exception: Header 'Hadoop-YARN-RM-Delegation-Token' containing encoded token not found")
        return tok

    def _dt_create(self, ctx):
        self._kerberos_only(ctx)
        body = self._parse_body(ctx)
        renewer = body.get("renewer") or ctx.auth["authenticated_user"]
        t = now_ms()
        proxied = ctx.auth["user"] != ctx.auth["authenticated_user"]
        owner = ctx.auth["user"] if proxied else ctx.auth["principal"]
        real_user = ctx.auth["principal"] if proxied else ""
        with self.lock:
            self.token_seq += 1
            seq = self.token_seq
        ident = dt_identifier(owner, short_name(renewer), real_user, t, t + 7 * 24 * 3600 * 1000, seq)
        token = encode_token(ident, secrets.token_bytes(20), "RM_DELEGATION_TOKEN", "")
        info = {
            "token": token, "renewer": renewer, "owner": owner, "kind": "RM_DELEGATION_TOKEN",
            "expiration-time": t + 24 * 3600 * 1000, "max-validity": t + 7 * 24 * 3600 * 1000,
        }
        with self.lock:
            self.tokens[token] = info
        return respond(ctx, 200, dict(info), "delegation-token", dict(info))

    def _dt_renew(self, ctx):
        self._kerberos_only(ctx)
        tok = self._token_from_headers(ctx)
        with self.lock:
            info = self.tokens.get(tok)
            if info is None:
                raise rm_forbidden("org.apache.hadoop.security.token.SecretManager$InvalidToken: Renewal request for unknown token")
            if short_name(info["renewer"]) != ctx.auth["authenticated_user"]:
                raise rm_forbidden(f"org.apache.hadoop.security.AccessControlException: {ctx.auth['authenticated_user']} tries to renew a token with renewer {info['renewer']}")
            info["expiration-time"] = min(now_ms() + 24 * 3600 * 1000, info["max-validity"])
            exp = info["expiration-time"]
        return respond(ctx, 200, {"expiration-time": exp}, "delegation-token", {"expiration-time": exp})

    def _dt_cancel(self, ctx):
        self._kerberos_only(ctx)
        tok = self._token_from_headers(ctx)
        with self.lock:
            info = self.tokens.get(tok)
            if info is None:
                raise rm_forbidden("org.apache.hadoop.security.token.SecretManager$InvalidToken: Token not found")
            me = ctx.auth["authenticated_user"]
            if me not in (short_name(info["owner"]), short_name(info["renewer"])):
                raise rm_forbidden(f"org.apache.hadoop.security.AccessControlException: {me} is not authorized to cancel the token")
            del self.tokens[tok]
        return Resp(200, b"", XML_CT if wants_xml(ctx.headers) else JSON_CT)

    # ------------------------------------------------------------------ WebHDFS

    def _init_hdfs(self):
        for p, perm, owner in (("/", "755", "hdfs"), ("/user", "755", "hdfs"), ("/tmp", "1777", "hdfs")):
            os.makedirs(self._local(p), exist_ok=True)
            self.hdfs_meta.setdefault(p, {"owner": owner, "group": "supergroup", "permission": perm})
        self._save_hdfs_meta()

    def _local(self, hpath):
        return os.path.join(self.hdfs_root, hpath.lstrip("/"))

    def _hdfs_path(self, ctx):
        raw = ctx.path[len("/webhdfs/v1"):] or "/"
        if not raw.startswith("/"):
            raw = "/" + raw
        parts = [p for p in raw.split("/") if p not in ("", ".")]
        if ".." in parts:
            raise hdfs_illegal_argument(f"Invalid path name {raw}")
        return "/" + "/".join(parts)

    def _meta(self, hpath, is_dir):
        m = self.hdfs_meta.get(hpath) or {}
        return {
            "owner": m.get("owner", "hdfs"),
            "group": m.get("group", "supergroup"),
            "permission": m.get("permission", "755" if is_dir else "644"),
            "replication": m.get("replication", 0 if is_dir else 1),
            "blockSize": m.get("blockSize", 0 if is_dir else 134217728),
            "accessTime": m.get("accessTime"),
        }

    def _file_status(self, hpath, suffix):
        lp = self._local(hpath)
        st = os.stat(lp)
        is_dir = os.path.isdir(lp)
        m = self._meta(hpath, is_dir)
        mtime = int(st.st_mtime * 1000)
        d = {
            "accessTime": 0 if is_dir else (m["accessTime"] or mtime),
            "blockSize": m["blockSize"],
            "childrenNum": len(os.listdir(lp)) if is_dir else 0,
            "fileId": st.st_ino,
            "group": m["group"],
            "length": 0 if is_dir else st.st_size,
            "modificationTime": mtime,
            "owner": m["owner"],
            "pathSuffix": suffix,
            "permission": m["permission"],
            "replication": m["replication"],
            "storagePolicy": 0,
            "type": "DIRECTORY" if is_dir else "FILE",
        }
        return d

    def _bool_param(self, ctx, name, default):
        v = ctx.q(name)
        if v is None or v == "":
            return default
        if v.lower() in ("true", "false"):
            return v.lower() == "true"
        raise hdfs_illegal_argument(f'Invalid value for webhdfs parameter "{name}": Failed to parse "{v}" to Boolean.')

    def _perm_param(self, ctx, default):
        v = ctx.q("permission")
        if v is None or v == "":
            return default
        if not re.fullmatch(r"[0-1]?[0-7]?[0-7]?[0-7]", v):
            raise hdfs_illegal_argument(
                f'Invalid value for webhdfs parameter "permission": Invalid value: "{v}" does not belong to the domain ^[0-1]?[0-7]?[0-7]?[0-7]$'
            )
        return v.lstrip("0").rjust(3, "0") if len(v.lstrip("0")) <= 3 else v.lstrip("0")

    def _long_param(self, ctx, name, default):
        v = ctx.q(name)
        if v is None or v == "":
            return default
        try:
            n = int(v)
        except ValueError:
            raise hdfs_illegal_argument(f'Invalid value for webhdfs parameter "{name}": Failed to parse "{v}" as a radix-10 long integer.')
        if n < 0:
            raise hdfs_illegal_argument(f'Invalid value for webhdfs parameter "{name}": Invalid value {n} < 0')
        return n

    def _redirect_or_location(self, ctx, target_addr, hpath, extra):
        params = [(k, v) for k, v in ctx.qlist if k not in ("noredirect",)]
        keys = {k for k, _ in params}
        for k, v in extra:
            if k not in keys:
                params.append((k, v))
        url = f"http://{target_addr}/webhdfs/v1{urllib.parse.quote(hpath)}?" + urllib.parse.urlencode(params)
        if self._bool_param(ctx, "noredirect", False):
            return Resp(200, json.dumps({"Location": url}), JSON_CT)
        return Resp(307, b"", "application/octet-stream", [("Location", url)])

    def _dn_extra(self, ctx):
        extra = [("namenoderpcaddress", f"{self.host}:8020")]
        if self.require_spnego and not ctx.q("delegation"):
            tok = self._issue_hdfs_token(ctx, ctx.auth.get("authenticated_user"))
            extra.append(("delegation", tok))
        return extra

    def _issue_hdfs_token(self, ctx, renewer):
        """A NameNode delegation token (kind WEBHDFS delegation, service = the NameNode's RPC
        address), owned by the effective user, with the real user when proxied."""
        doas = ctx.q("doAs", ctx.q("doas"))
        principal = ctx.auth.get("principal") or ctx.auth.get("authenticated_user")
        owner = doas or principal
        t = now_ms()
        with self.lock:
            self.token_seq += 1
            seq = self.token_seq
        ident = dt_identifier(owner, short_name(renewer or ""), principal if doas else "", t,
                              t + 7 * 24 * 3600 * 1000, seq)
        token = encode_token(ident, secrets.token_bytes(20), "WEBHDFS delegation", f"{self.host}:8020")
        with self.lock:
            self.hdfs_tokens[token] = {
                "owner": owner,
                "user": ctx.auth.get("authenticated_user"),
                "doas": doas,
                "renewer": short_name(renewer or ""),
                "expiration": t + 24 * 3600 * 1000,
            }
        return token

    def _webhdfs(self, ctx, datanode):
        if not ctx.path.startswith("/webhdfs/v1"):
            return Resp(404, "<html><body><h2>HTTP ERROR 404</h2></body></html>", "text/html;charset=utf-8")
        hpath = self._hdfs_path(ctx)
        op = (ctx.q("op") or "").upper()
        method = ctx.method if ctx.method != "HEAD" else "GET"
        ops = {
            "GET": {"OPEN", "GETFILESTATUS", "LISTSTATUS", "GETHOMEDIRECTORY", "GETDELEGATIONTOKEN", "GETCONTENTSUMMARY"},
            "PUT": {"CREATE", "MKDIRS", "RENAME", "SETPERMISSION", "SETOWNER", "SETREPLICATION", "RENEWDELEGATIONTOKEN", "CANCELDELEGATIONTOKEN"},
            "POST": {"APPEND"},
            "DELETE": {"DELETE"},
        }
        if op not in ops.get(method, set()):
            kind = {"GET": "Get", "PUT": "Put", "POST": "Post", "DELETE": "Delete"}.get(method, method.title())
            raise hdfs_illegal_argument(
                f'Invalid value for webhdfs parameter "op": No enum constant org.apache.hadoop.hdfs.web.resources.{kind}OpParam.Op.{op or "null"}'
            )
        user = ctx.auth["user"]
        lp = self._local(hpath)
        if datanode:
            if op not in ("CREATE", "APPEND", "OPEN"):
                raise hdfs_illegal_argument(f"Invalid operation {op} on a datanode")
            if not ctx.q("namenoderpcaddress"):
                raise hdfs_illegal_argument("namenoderpcaddress is not specified.")
        direct = not self.settings["webhdfs_redirect"]

        if op == "GETHOMEDIRECTORY":
            return Resp(200, json.dumps({"Path": f"/user/{user}"}), JSON_CT)
        if op == "GETDELEGATIONTOKEN":
            if not self.require_spnego:
                return Resp(200, json.dumps({"Token": None}), JSON_CT)
            tok = self._issue_hdfs_token(ctx, ctx.q("renewer") or ctx.auth.get("authenticated_user"))
            return Resp(200, json.dumps({"Token": {"urlString": tok}}), JSON_CT)
        if op in ("RENEWDELEGATIONTOKEN", "CANCELDELEGATIONTOKEN"):
            tok = ctx.q("token")
            with self.lock:
                info = self.hdfs_tokens.get(tok or "")
                if info is None:
                    raise HttpError(403, "InvalidToken", "token is expired or doesn't exist", "org.apache.hadoop.security.token.SecretManager$InvalidToken")
                if op == "CANCELDELEGATIONTOKEN":
                    del self.hdfs_tokens[tok]
                    return Resp(200, b"", JSON_CT)
                info["expiration"] = now_ms() + 24 * 3600 * 1000
                return Resp(200, json.dumps({"long": info["expiration"]}), JSON_CT)
        if op == "GETFILESTATUS":
            if not os.path.exists(lp):
                raise hdfs_not_found(f"File does not exist: {hpath}")
            return Resp(200, json.dumps({"FileStatus": self._file_status(hpath, "")}), JSON_CT)
        if op == "LISTSTATUS":
            if not os.path.exists(lp):
                raise hdfs_not_found(f"File {hpath} does not exist.")
            if os.path.isdir(lp):
                items = [self._file_status(posixpath.join(hpath, n), n) for n in sorted(os.listdir(lp)) if not n.endswith(".__emu_tmp__")]
            else:
                items = [self._file_status(hpath, "")]
            return Resp(200, json.dumps({"FileStatuses": {"FileStatus": items}}), JSON_CT)
        if op == "GETCONTENTSUMMARY":
            if not os.path.exists(lp):
                raise hdfs_not_found(f"File does not exist: {hpath}")
            dirs = files = length = 0
            if os.path.isdir(lp):
                for root, dns, fns in os.walk(lp):
                    dirs += 1
                    files += len(fns)
                    length += sum(os.path.getsize(os.path.join(root, f)) for f in fns)
            else:
                files, length = 1, os.path.getsize(lp)
            return Resp(200, json.dumps({"ContentSummary": {"directoryCount": dirs, "fileCount": files, "length": length,
                                                            "quota": -1, "spaceConsumed": length, "spaceQuota": -1}}), JSON_CT)
        if op == "MKDIRS":
            perm = self._perm_param(ctx, "755")
            self._check_parents_are_dirs(hpath)
            if os.path.exists(lp) and not os.path.isdir(lp):
                raise hdfs_already_exists(f"Path is not a directory: {hpath}")
            with self.lock:
                cur = hpath
                created = []
                while cur != "/" and not os.path.exists(self._local(cur)):
                    created.append(cur)
                    cur = posixpath.dirname(cur)
                os.makedirs(lp, exist_ok=True)
                for c in created:
                    self.hdfs_meta[c] = {"owner": user, "group": "supergroup", "permission": perm}
                self._save_hdfs_meta()
            return Resp(200, json.dumps({"boolean": True}), JSON_CT)
        if op == "CREATE":
            overwrite = self._bool_param(ctx, "overwrite", False)
            perm = self._perm_param(ctx, "644")
            self._bool_param(ctx, "createparent", True)
            self._check_create(hpath, lp, overwrite, ctx)
            if not datanode and not (direct and (ctx.body or ctx.q("data") == "true")):
                target = self.node_addr if not direct else self.webhdfs_addr
                extra = self._dn_extra(ctx) + [("createflag", ""), ("createparent", "true"), ("overwrite", str(overwrite).lower())]
                if direct:
                    extra.append(("data", "true"))
                    extra = [e for e in extra if e[0] != "namenoderpcaddress"]
                return self._redirect_or_location(ctx, target, hpath, extra)
            self._check_parents_are_dirs(hpath)
            with self.lock:
                parent = posixpath.dirname(hpath)
                cur, created = parent, []
                while cur != "/" and not os.path.exists(self._local(cur)):
                    created.append(cur)
                    cur = posixpath.dirname(cur)
                os.makedirs(self._local(parent), exist_ok=True)
                for c in created:
                    self.hdfs_meta[c] = {"owner": user, "group": "supergroup", "permission": "755"}
                tmp = lp + ".__emu_tmp__"
                with open(tmp, "wb") as f:
                    f.write(ctx.body or b"")
                os.replace(tmp, lp)
                self.hdfs_meta[hpath] = {"owner": user, "group": "supergroup", "permission": perm}
                rep = ctx.q("replication")
                if rep:
                    self.hdfs_meta[hpath]["replication"] = int(rep)
                bs = ctx.q("blocksize")
                if bs:
                    self.hdfs_meta[hpath]["blockSize"] = int(bs)
                self._save_hdfs_meta()
            return Resp(201, b"", None, [("Location", f"webhdfs://{self.webhdfs_addr}{urllib.parse.quote(hpath)}")])
        if op == "APPEND":
            if not os.path.exists(lp):
                raise hdfs_not_found(f"File does not exist: {hpath}")
            if os.path.isdir(lp):
                raise hdfs_io(f"Failed to append to non-existent file {hpath} (it is a directory)", "FileNotFoundException", "java.io.FileNotFoundException")
            if not datanode and not (direct and (ctx.body or ctx.q("data") == "true")):
                extra = self._dn_extra(ctx)
                if direct:
                    extra = [e for e in extra if e[0] != "namenoderpcaddress"] + [("data", "true")]
                return self._redirect_or_location(ctx, self.node_addr if not direct else self.webhdfs_addr, hpath, extra)
            with self.lock:
                with open(lp, "ab") as f:
                    f.write(ctx.body or b"")
            return Resp(200, b"", None)
        if op == "OPEN":
            if not os.path.exists(lp):
                raise hdfs_not_found(f"File does not exist: {hpath}")
            if os.path.isdir(lp):
                raise hdfs_not_found(f"Path is not a file: {hpath}")
            offset = self._long_param(ctx, "offset", 0)
            length = self._long_param(ctx, "length", None)
            if not datanode and not direct:
                return self._redirect_or_location(ctx, self.node_addr, hpath, self._dn_extra(ctx) + [("offset", str(offset))])
            size = os.path.getsize(lp)
            if offset > size or (offset == size and size > 0):
                raise hdfs_io(f"Offset={offset} out of the range [0, {size}); OPEN, path={hpath}")
            with open(lp, "rb") as f:
                f.seek(offset)
                data = f.read() if length is None else f.read(length)
            with self.lock:
                self.hdfs_meta.setdefault(hpath, {})["accessTime"] = now_ms()
            return Resp(200, data, "application/octet-stream")
        if op == "DELETE":
            recursive = self._bool_param(ctx, "recursive", False)
            if hpath == "/":
                return Resp(200, json.dumps({"boolean": False}), JSON_CT)
            if not os.path.exists(lp):
                return Resp(200, json.dumps({"boolean": False}), JSON_CT)
            with self.lock:
                if os.path.isdir(lp):
                    if os.listdir(lp) and not recursive:
                        raise HttpError(403, "PathIsNotEmptyDirectoryException", f"`{hpath} is non empty': Directory is not empty",
                                        "org.apache.hadoop.fs.PathIsNotEmptyDirectoryException")
                    shutil.rmtree(lp)
                else:
                    os.remove(lp)
                for k in [k for k in self.hdfs_meta if k == hpath or k.startswith(hpath + "/")]:
                    del self.hdfs_meta[k]
                self._save_hdfs_meta()
            return Resp(200, json.dumps({"boolean": True}), JSON_CT)
        if op == "RENAME":
            dst = ctx.q("destination")
            if not dst or not dst.startswith("/"):
                raise hdfs_illegal_argument(f'Invalid value for webhdfs parameter "destination": Invalid path "{dst}"')
            dst = "/" + "/".join(p for p in dst.split("/") if p not in ("", "."))
            with self.lock:
                ok = self._rename(hpath, dst)
            return Resp(200, json.dumps({"boolean": ok}), JSON_CT)
        if op in ("SETPERMISSION", "SETOWNER", "SETREPLICATION"):
            if not os.path.exists(lp):
                raise hdfs_not_found(f"File does not exist: {hpath}")
            with self.lock:
                m = self.hdfs_meta.setdefault(hpath, {})
                if op == "SETPERMISSION":
                    m["permission"] = self._perm_param(ctx, "755" if os.path.isdir(lp) else "644")
                elif op == "SETOWNER":
                    if ctx.q("owner"):
                        m["owner"] = ctx.q("owner")
                    if ctx.q("group"):
                        m["group"] = ctx.q("group")
                else:
                    if os.path.isdir(lp):
                        return Resp(200, json.dumps({"boolean": False}), JSON_CT)
                    m["replication"] = int(ctx.q("replication") or 1)
                self._save_hdfs_meta()
            if op == "SETREPLICATION":
                return Resp(200, json.dumps({"boolean": True}), JSON_CT)
            return Resp(200, b"", None)
        raise hdfs_illegal_argument(f"unsupported op {op}")

    def _check_parents_are_dirs(self, hpath):
        cur = posixpath.dirname(hpath)
        while cur != "/":
            lp = self._local(cur)
            if os.path.exists(lp) and not os.path.isdir(lp):
                raise HttpError(403, "ParentNotDirectoryException", f"{cur} (is not a directory)", "org.apache.hadoop.fs.ParentNotDirectoryException")
            cur = posixpath.dirname(cur)

    def _check_create(self, hpath, lp, overwrite, ctx):
        if hpath == "/" or os.path.isdir(lp):
            raise hdfs_already_exists(f"{hpath} already exists as a directory")
        self._check_parents_are_dirs(hpath)
        if os.path.exists(lp) and not overwrite:
            client = ctx.handler.client_address[0]
            raise hdfs_already_exists(f"{hpath} for client {client} already exists")

    def _rename(self, src, dst):
        lsrc, ldst = self._local(src), self._local(dst)
        if src == "/" or not os.path.exists(lsrc):
            return False
        if dst == src:
            return True
        if dst.startswith(src + "/"):
            return False
        if os.path.isdir(ldst):
            dst = posixpath.join(dst, posixpath.basename(src))
            ldst = self._local(dst)
        if os.path.exists(ldst) or not os.path.isdir(self._local(posixpath.dirname(dst))):
            return False
        os.rename(lsrc, ldst)
        moved = {}
        for k in list(self.hdfs_meta):
            if k == src or k.startswith(src + "/"):
                moved[dst + k[len(src):]] = self.hdfs_meta.pop(k)
        self.hdfs_meta.update(moved)
        self._save_hdfs_meta()
        return True

    # ------------------------------------------------------------------ a NodeManager for REST-submitted Spark AMs

    def _launch_spark_am(self, app):
        """What a NodeManager does with the AM container of a REST-submitted Spark application,
        reduced to what a test needs: localize every local resource from this emulator's HDFS
        into the container's work dir (checking size and timestamp as YARN does, and unpacking
        ARCHIVEs), then run the driver the AM would run -- with the real Spark in local mode, the
        conf from `__spark_conf__/__spark_conf__.properties`, the class/primary file/arguments of
        the AM command -- through yarn_container (as the spark-submit shim does), which reports
        RUNNING/FINISHED/FAILED back."""
        import yarn_container  # tests/yarn, next to this file

        def fail(diag):
            with self.lock:
                if app.state not in FINAL_STATES:
                    self._transition(app, "FAILED", "FAILED", f"Application {app.id} failed 1 times due to AM Container for {app.attempt_id} exited with exitCode: -1000\nFailing this attempt.Diagnostics: {diag}")
                    self._save_state()

        ctx = app.submission or {}
        spec = ctx.get("am-container-spec") or {}
        work_dir, log_dir = self.container_work_dir(app), self.container_log_dir(app)
        os.makedirs(work_dir, exist_ok=True)
        os.makedirs(log_dir, exist_ok=True)
        for link, res in _entries(spec.get("local-resources")):
            uri = str(res.get("resource", ""))
            hpath = urllib.parse.urlparse(uri).path or "/"
            local = self._local(hpath)
            if not os.path.isfile(local):
                return fail(f"java.io.FileNotFoundException: File does not exist: {uri}")
            st = self._file_status(hpath, "")
            if int(res.get("size", -1)) != st["length"] or int(res.get("timestamp", -1)) != st["modificationTime"]:
                return fail(f"Resource {uri} changed on src filesystem - expected: \"{res.get('timestamp')}\", was: \"{st['modificationTime']}\", current time: \"{now_ms()}\"")
            dest = os.path.join(work_dir, link)
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            if str(res.get("type", "FILE")).upper() == "ARCHIVE":
                os.makedirs(dest, exist_ok=True)
                try:
                    shutil.unpack_archive(local, dest, format="zip" if zipfile_like(local) else None)
                except (ValueError, shutil.ReadError, OSError) as e:
                    if link != "__spark_libs__":  # the test clusters' jar archive is a placeholder
                        return fail(f"cannot unpack {uri}: {e}")
            else:
                shutil.copyfile(local, dest)
        props = yarn_container.read_properties(os.path.join(work_dir, "__spark_conf__", "__spark_conf__.properties"))
        try:
            main_class, primary, args = _am_arguments(_am_command(ctx))
        except ValueError as e:
            return fail(str(e))
        real_home = yarn_container.real_spark_home()
        cmd = [os.path.join(real_home, "bin", "spark-submit"), "--master", os.environ.get("LIVY_RS_SHIM_LOCAL_MASTER", "local[2]"),
               "--deploy-mode", "client", "--name", props.get("spark.app.name", app.name)]
        dropped = ("spark.yarn.", "spark.hadoop.yarn.", "spark.kerberos.")
        for k, v in props.items():
            if k in ("spark.master", "spark.submit.deployMode", "spark.app.name", "spark.submit.pyFiles") or k.startswith(dropped) or "{{" in v:
                continue
            cmd += ["--conf", f"{k}={v}"]
        cmd += ["--conf", f"spark.yarn.app.id={app.id}", "--conf", "spark.yarn.app.attemptId=1"]
        if "spark.ui.port" not in props:
            cmd += ["--conf", "spark.ui.port=0"]
        py_files = []
        for entry in (props.get("spark.yarn.dist.pyFiles") or "").split(","):
            name = os.path.basename(entry.split("#")[0].strip())
            for cand in (os.path.join(work_dir, "__pyfiles__", name), os.path.join(work_dir, name)):
                if name and os.path.isfile(cand):
                    py_files.append(cand)
                    break
        if py_files:
            cmd += ["--py-files", ",".join(py_files)]
        if main_class and not primary:
            cmd += ["--class", main_class, os.path.join(work_dir, "__app__.jar")]
        else:
            cmd.append(os.path.join(work_dir, primary))
        cmd += args
        am_env = {k: v for k, v in _entries(spec.get("environment")) if "{{" not in v and "<CPS>" not in v}
        rec = {"id": app.id, "container_id": app.container_id, "log_dir": log_dir, "work_dir": work_dir}
        run = {
            "app_id": app.id, "rm_addrs": [self.rm_addr(r) for r in self.rm_ids], "user": app.user, "cluster": True,
            "cmd": cmd, "env": yarn_container.container_env(real_home, rec, app.user, am_env), "cwd": work_dir,
            "log_dir": log_dir, "files": [], "accepted_secs": 0, "running_when": "sparkcontext", "passthrough": False,
        }
        yarn_container.launch_monitor(rec, run, True)

    # ------------------------------------------------------------------ the worker node (datanode + nodemanager web)

    def container_log_dir(self, app):
        return os.path.join(self.nm_dir, "logs", app.id, app.container_id)

    def container_work_dir(self, app):
        return os.path.join(self.nm_dir, "usercache", app.user, "appcache", app.id, app.container_id)

    def _find_container(self, cid):
        m = re.fullmatch(r"container_(\d+)_(\d+)_\d+_\d+", cid)
        if not m:
            return None
        app_id = f"application_{m.group(1)}_{m.group(2)}"
        with self.lock:
            return self.apps.get(app_id)

    def _node(self, ctx):
        path = ctx.path
        if path.startswith("/webhdfs/v1"):
            return self._webhdfs(ctx, datanode=True)
        m = re.fullmatch(r"/ws/v1/node/containerlogs/([^/]+)/([^/]+)", path)
        if m:
            app = self._find_container(m.group(1))
            f = os.path.join(self.container_log_dir(app), m.group(2)) if app else None
            if not f or "/" in m.group(2) or not os.path.isfile(f):
                return Resp(404, f"Cannot find this log on the local disk: {m.group(2)}", "text/plain;charset=utf-8")
            with open(f, "rb") as fh:
                return Resp(200, fh.read(), "text/plain;charset=utf-8")
        m = re.fullmatch(r"/node/containerlogs/([^/]+)/([^/]+)(?:/([^/]+))?/?", path)
        if m:
            cid, _user, fname = m.groups()
            app = self._find_container(cid)
            d = self.container_log_dir(app) if app else None
            if not d or not os.path.isdir(d):
                return Resp(404, f"<html><body><h1>Logs not available for {_xml_escape(cid)}. Aggregation may not be complete.</h1></body></html>", "text/html;charset=utf-8")
            names = [fname] if fname else sorted(os.listdir(d))
            start_q = ctx.q("start")
            parts = [f"<html><head><title>Logs for {_xml_escape(cid)}</title></head><body>"]
            for n in names:
                f = os.path.join(d, n)
                if not os.path.isfile(f):
                    return Resp(404, f"<html><body><h1>Cannot find this log on the local disk: {_xml_escape(n)}</h1></body></html>", "text/html;charset=utf-8")
                size = os.path.getsize(f)
                start = int(start_q) if start_q not in (None, "") else -4096
                start = max(0, size + start) if start < 0 else min(start, size)
                with open(f, "rb") as fh:
                    fh.seek(start)
                    data = fh.read().decode("utf-8", "replace")
                parts.append(f"<p>Log Type: {_xml_escape(n)}</p><p>Log Length: {size}</p>")
                if start > 0:
                    parts.append(f"<p>Showing {size - start} bytes of {size} total. Click <a href=\"/node/containerlogs/{cid}/{_user}/{n}/?start=0\">here</a> for the full log.</p>")
                parts.append(f"<pre>{_xml_escape(data)}</pre>")
            parts.append("</body></html>")
            return Resp(200, "".join(parts), "text/html;charset=utf-8")
        return Resp(404, "<html><body><h2>HTTP ERROR 404</h2></body></html>", "text/html;charset=utf-8")

    # ------------------------------------------------------------------ Python API (also used by the control endpoints)

    def reserve_app_id(self):
        return self._allocate_id()

    def register_app(self, name="app", queue="default", user=None, tags=(), app_type="SPARK", state="ACCEPTED",
                     final_status=None, diagnostics="", pid=None, memory=1024, vcores=1, app_id=None, priority=0):
        if app_id is not None and not APP_ID_RE.match(app_id):
            raise ValueError(f"invalid app id {app_id!r}")
        with self.lock:
            if app_id in self.apps:
                raise HttpError(409, "Conflict", f"{app_id} already registered", "")
        app = self._create_app(app_id=app_id, name=name, queue=queue, user=user or DEFAULT_WEB_USER, app_type=app_type,
                               tags=tags, memory=memory, vcores=vcores, priority=priority, state=state,
                               final_status=final_status, diagnostics=diagnostics, pid=pid, submitted_via="emulator")
        return app.id

    def set_app_state(self, app_id, state, final_status=None, diagnostics=None, force=False, append_diagnostics=False,
                      progress=None, signal_process=False, **extra):
        with self.lock:
            app = self.apps.get(app_id)
            if app is None:
                raise HttpError(404, "NotFound", f"no app {app_id}", "")
            if app.state in FINAL_STATES and not force:
                raise HttpError(409, "Conflict", f"{app_id} is already {app.state}; pass force to override", "")
            if final_status and final_status.upper() not in FINAL_STATUSES:
                raise ValueError(f"invalid finalStatus {final_status!r}")
            self._transition(app, state, final_status, diagnostics, append_diagnostics, progress)
            for k in ("ui_url", "allocated_mb", "allocated_vcores", "pid"):
                if extra.get(k) is not None:
                    setattr(app, k, extra[k])
            self._save_state()
        if signal_process and app.state == "KILLED":
            self._signal_process(app, signal.SIGTERM)
        return app

    def app_record(self, app_id):
        with self.lock:
            app = self.apps.get(app_id)
            if app is None:
                return None
            d = app.to_dict()
            d.update(container_id=app.container_id, log_dir=self.container_log_dir(app), work_dir=self.container_work_dir(app),
                     app=self._app_info(app, self.rm_addr(self.active_rm or self.rm_ids[0])))
            return d

    def set_active(self, rm_id):
        if rm_id is not None and rm_id not in self.rm_ids:
            raise ValueError(f"unknown rm id {rm_id!r}")
        with self.lock:
            self.active_rm = rm_id

    def counters(self, server=None, group="path"):
        with self.lock:
            reqs = list(self.requests)
        out = {}
        for r in reqs:
            if server and r["server"] != server:
                continue
            out_key = f"{r['method']} {self._counter_path(r, group)}"
            out[out_key] = out.get(out_key, 0) + 1
        return out

    @staticmethod
    def _counter_path(r, group):
        p = r["path"]
        if group == "route":
            p = re.sub(r"application_\d+_\d+", "{appid}", p)
            p = re.sub(r"container_\d+_\d+_\d+_\d+", "{containerid}", p)
            if p.startswith("/webhdfs/v1"):
                p = "/webhdfs/v1/{path}"
        if p.startswith("/webhdfs/v1") and "op" in r["query"]:
            p += "?op=" + r["query"]["op"].upper()
        return p

    def request_log(self, server=None, path_prefix=None):
        with self.lock:
            return [dict(r) for r in self.requests
                    if (not server or r["server"] == server) and (not path_prefix or r["path"].startswith(path_prefix))]

    def reset_counters(self):
        with self.lock:
            self.requests.clear()

    def add_fault(self, target="rm", mode="latency", _keep_conn=None, **kw):
        if target not in ("all", "rm", "webhdfs", "node") and target not in self.rm_ids:
            raise ValueError(f"unknown fault target {target!r}")
        f = Fault(target, mode, **kw)
        with self.lock:
            self.faults.append(f)
        if mode == "refuse":
            for name in self._fault_servers(target):
                self._refuse(name, f.until, _keep_conn)
        return f

    def _fault_servers(self, target):
        names = list(self.rm_ids) + ["webhdfs", "node"]
        return [n for n in names if target == "all" or target == n or (target == "rm" and n in self.rm_ids)]

    def _refuse(self, name, until, keep_conn=None):
        with self.lock:
            old = self.refused.get(name)
            if old:
                old.cancel()
            self.refused[name] = None
        self._unbind(name, keep_conn)
        if until is not None:
            t = threading.Timer(max(0.0, until - time.time()), self._unrefuse, (name,))
            t.daemon = True
            with self.lock:
                self.refused[name] = t
            t.start()

    def _unrefuse(self, name):
        with self.lock:
            if name not in self.refused:
                return
            t = self.refused.pop(name)
            if t:
                t.cancel()
            self.faults = [f for f in self.faults if not (f.mode == "refuse" and self._fault_matches(f, name))]
        if not self.running:
            return
        role = "rm" if name in self.rm_ids else ("nn" if name == "webhdfs" else "node")
        for _ in range(50):
            try:
                self._bind(name, role, self.ports[name], name if role == "rm" else None)
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"could not re-bind {name} on port {self.ports[name]}")

    def clear_faults(self):
        with self.lock:
            self.faults = []
            refused = list(self.refused)
        for name in refused:
            self._unrefuse(name)

    def reset(self, apps=True, counters=True, faults=True, webhdfs=False):
        if faults:
            self.clear_faults()
        with self.lock:
            if apps:
                self.apps.clear()
                self.reserved_ids.clear()
                self.queue_extra_usage.clear()
                self._save_state()
            if counters:
                self.requests.clear()
            if webhdfs:
                shutil.rmtree(self.hdfs_root, ignore_errors=True)
                os.makedirs(self.hdfs_root, exist_ok=True)
                self.hdfs_meta = {}
                self._init_hdfs()

    # ------------------------------------------------------------------ control endpoints (/emulator/...)

    def _control(self, ctx):
        path = ctx.path.rstrip("/") or "/emulator"
        m = ctx.method
        body = ctx.json_body() if ctx.body and ctx.body.strip() else {}
        ok = lambda obj, status=200: Resp(status, json.dumps(obj), JSON_CT)  # noqa: E731

        if path == "/emulator":
            return ok({"endpoints": CONTROL_HELP, "info": self.info()})
        if path == "/emulator/config":
            return ok({**self.info(), "settings": dict(self.settings), "queues": self.queues,
                       "maximum-resource-capability": {"memory": self.max_alloc_mb, "vCores": self.max_alloc_vcores},
                       "total": {"memory": self.total_mb, "vCores": self.total_vcores}})
        if path == "/emulator/settings" and m in ("POST", "PUT"):
            for k, v in body.items():
                if k not in self.settings:
                    raise ValueError(f"unknown setting {k!r}; known: {sorted(self.settings)}")
                if k == "ha_redirect_mode" and v not in ("redirect", "refresh"):
                    raise ValueError("ha_redirect_mode must be 'redirect' or 'refresh'")
                self.settings[k] = v
            return ok(dict(self.settings))
        if path == "/emulator/reset" and m == "POST":
            self.reset(**{k: bool(body[k]) for k in ("apps", "counters", "faults", "webhdfs") if k in body})
            return ok({"reset": True})
        if path == "/emulator/new-application" and m == "POST":
            app_id = self.reserve_app_id()
            return ok({"id": app_id, "cluster_timestamp": self.cluster_ts})
        if path == "/emulator/apps":
            if m == "GET":
                with self.lock:
                    ids = list(self.apps)
                return ok({"apps": [self.app_record(i) for i in ids]})
            if m == "POST":
                app_id = self.register_app(
                    name=body.get("name", "app"), queue=body.get("queue", "default"), user=body.get("user"),
                    tags=body.get("tags", ()), app_type=body.get("type", body.get("applicationType", "SPARK")),
                    state=body.get("state", "ACCEPTED"), final_status=body.get("finalStatus", body.get("final_status")),
                    diagnostics=body.get("diagnostics", ""), pid=body.get("pid"), memory=body.get("memory", 1024),
                    vcores=body.get("vcores", body.get("vCores", 1)), app_id=body.get("id"), priority=body.get("priority", 0),
                )
                return ok(self.app_record(app_id), 201)
            if m == "DELETE":
                self.reset(apps=True, counters=False, faults=False)
                return ok({"deleted": True})
        mm = re.fullmatch(r"/emulator/apps/([^/]+)(/state|/pid)?", path)
        if mm:
            app_id, sub = mm.group(1), mm.group(2)
            rec = self.app_record(app_id)
            if rec is None:
                raise HttpError(404, "NotFound", f"no app {app_id}", "")
            if sub is None and m == "GET":
                return ok(rec)
            if sub == "/state" and m in ("POST", "PUT"):
                self.set_app_state(
                    app_id, body["state"], final_status=body.get("finalStatus", body.get("final_status")),
                    diagnostics=body.get("diagnostics"), force=bool(body.get("force")),
                    append_diagnostics=bool(body.get("append_diagnostics")), progress=body.get("progress"),
                    signal_process=bool(body.get("signal")), ui_url=body.get("ui_url"),
                    allocated_mb=body.get("allocatedMB"), allocated_vcores=body.get("allocatedVCores"), pid=body.get("pid"),
                )
                return ok(self.app_record(app_id))
            if sub == "/pid" and m in ("POST", "PUT"):
                with self.lock:
                    self.apps[app_id].pid = int(body["pid"])
                    self._save_state()
                return ok(self.app_record(app_id))
        if path == "/emulator/active" and m in ("POST", "PUT"):
            self.set_active(body.get("rm"))
            return ok({"active_rm": self.active_rm})
        if path == "/emulator/active" and m == "GET":
            return ok({"active_rm": self.active_rm})
        if path == "/emulator/counters":
            if m == "GET":
                return ok(self.counters(ctx.q("server"), ctx.q("group", "path")))
            if m in ("DELETE", "POST"):
                self.reset_counters()
                return ok({})
        if path == "/emulator/counters/reset" and m == "POST":
            self.reset_counters()
            return ok({})
        if path == "/emulator/auth/reset" and m == "POST":
            # A new signing secret: every hadoop.auth cookie issued so far is refused (401), as
            # after an RM restart, so clients must negotiate SPNEGO again.
            with self.lock:
                self.cookie_secret = secrets.token_bytes(32)
            return ok({})
        if path == "/emulator/tokens" and m == "GET":
            with self.lock:
                rm = [dict(decode_token(t) or {}, store="rm", **{"expiration-time": i["expiration-time"]}) for t, i in self.tokens.items()]
                nn = [dict(decode_token(t) or {}, store="hdfs", expiration=i["expiration"]) for t, i in self.hdfs_tokens.items()]
            return ok({"tokens": rm + nn})
        if path == "/emulator/requests" and m == "GET":
            return ok({"requests": self.request_log(ctx.q("server"), ctx.q("path_prefix"))})
        if path == "/emulator/faults":
            if m == "GET":
                with self.lock:
                    return ok({"faults": [f.to_dict() for f in self.faults]})
            if m == "POST":
                target = body.pop("target", "rm")
                mode = body.pop("mode")
                f = self.add_fault(target, mode, _keep_conn=ctx.handler.connection, **body)
                r = ok(f.to_dict(), 201)
                r.close = mode == "refuse"  # this connection's listener may be gone
                return r
            if m == "DELETE":
                self.clear_faults()
                return ok({"faults": []})
        mq = re.fullmatch(r"/emulator/queues/([^/]+)/usage", path)
        if mq and m in ("POST", "PUT"):
            if mq.group(1) not in self._leaf_names():
                raise HttpError(404, "NotFound", f"no queue {mq.group(1)}", "")
            with self.lock:
                self.queue_extra_usage[mq.group(1)] = {k: int(body.get(k, 0)) for k in ("memory", "vCores", "containers")}
            return ok({"queue": mq.group(1), "extra_usage": self.queue_extra_usage[mq.group(1)]})
        raise HttpError(404, "NotFound", f"no control endpoint {m} {path}", "")


CONTROL_HELP = {
    "GET /emulator/": "this help + info",
    "GET /emulator/config": "ports, ids, queues, max capability, settings",
    "POST /emulator/settings": "{ha_redirect_mode: redirect|refresh, kill_delay_ms, sigkill_after_ms, webhdfs_redirect}",
    "POST /emulator/reset": "{apps, counters, faults, webhdfs: bool} (default: apps+counters+faults)",
    "POST /emulator/new-application": "reserve an app id (not listed until registered)",
    "GET|POST|DELETE /emulator/apps": "list | register {name, queue, user, tags, type, state, finalStatus, diagnostics, pid, memory, vcores, id} | delete all",
    "GET /emulator/apps/{id}": "internal record incl. history, kill_events, pid, log_dir, work_dir, app (REST view)",
    "POST /emulator/apps/{id}/state": "{state, finalStatus, diagnostics, append_diagnostics, progress, force, signal, ui_url, allocatedMB, allocatedVCores, pid}",
    "POST /emulator/apps/{id}/pid": "{pid} whose process group gets SIGTERM when the app is KILLED through the REST API",
    "GET|POST /emulator/active": "{rm: 'rm2' | null}",
    "GET|DELETE /emulator/counters": "?server=rm1&group=path|route ; DELETE (or POST /emulator/counters/reset) clears",
    "GET /emulator/requests": "?server=&path_prefix= ; request log with user.name/doAs/auth/principal/user/status/agent",
    "POST /emulator/auth/reset": "new hadoop.auth signing secret: cookies issued so far get 401 (clients renegotiate)",
    "GET /emulator/tokens": "delegation tokens issued (RM and WebHDFS), decoded: kind, service, owner, renewer, real_user",
    "GET|POST|DELETE /emulator/faults": "{target: rm|rm1|rm2|webhdfs|node|all, mode: latency|garbage|html|status|reset|refuse, latency_ms, status, count, seconds, path_prefix, body}",
    "POST /emulator/queues/{queue}/usage": "{memory, vCores, containers} used by other tenants",
}


SPARK_AM_CLASS = "org.apache.spark.deploy.yarn.ApplicationMaster"


def zipfile_like(path):
    with open(path, "rb") as f:
        return f.read(4) == b"PK\x03\x04"


def _entries(obj):
    """`{"entry": [{"key":..,"value":..}, ...]}` (or one entry, or XML's dict form) -> pairs."""
    if not isinstance(obj, dict):
        return []
    entry = obj.get("entry") or []
    if isinstance(entry, dict):
        entry = [entry]
    return [(str(e.get("key")), e.get("value") if isinstance(e.get("value"), dict) else str(e.get("value", ""))) for e in entry if isinstance(e, dict)]


def _am_command(ctx):
    cmds = ((ctx.get("am-container-spec") or {}).get("commands") or {}).get("command") or ""
    return " ".join(cmds) if isinstance(cmds, list) else str(cmds)


def _am_arguments(command):
    """`--class C [--jar J | --primary-py-file P] --arg A ...` of Spark's ApplicationMaster command
    (arguments quoted by YarnSparkHadoopUtil.escapeForShell for `bash -c`)."""
    import shlex
    words = shlex.split(command)
    main_class, primary, args = None, None, []
    for i, w in enumerate(words[:-1]):
        v = words[i + 1].replace("\\$", "$").replace('\\"', '"')
        if w == "--class":
            main_class = v
        elif w == "--primary-py-file":
            primary = v
        elif w == "--arg":
            args.append(v)
    if not main_class:
        raise ValueError(f"no --class in the AM command: {command[:200]}")
    return main_class, primary, args


def _xml_to_dict(el):
    children = list(el)
    if not children:
        return el.text or ""
    out = {}
    for c in children:
        v = _xml_to_dict(c)
        if c.tag in out:
            if not isinstance(out[c.tag], list):
                out[c.tag] = [out[c.tag]]
            out[c.tag].append(v)
        else:
            out[c.tag] = v
    return out


def _tags_from(v):
    if v is None or v == "":
        return []
    if isinstance(v, dict):
        v = v.get("tag", [])
    if isinstance(v, str):
        return [v]
    return list(v)


def _norm_tags(tags):
    if isinstance(tags, str):
        tags = tags.split(",")
    out = []
    for t in tags or ():
        t = str(t).strip().lower()
        if t and t not in out:
            out.append(t)
    return out


# --------------------------------------------------------------------------- CLI


def main(argv=None):
    ap = argparse.ArgumentParser(description="YARN RM REST + WebHDFS emulator for livy-rs tests")
    ap.add_argument("--port", type=int, default=0, help="RM webapp port (rm1; further HA RMs use port+1..; 0 = ephemeral)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--state-dir", required=True)
    ap.add_argument("--ha", default=None, help="comma-separated RM ids, e.g. rm1,rm2 (first one starts active)")
    ap.add_argument("--ha-redirect-mode", choices=["redirect", "refresh"], default="redirect")
    ap.add_argument("--require-spnego", action="store_true")
    ap.add_argument("--spnego-keytab", default=None, help="use python-gssapi with this keytab instead of the accept-all validator")
    ap.add_argument("--spnego-principal", default=None)
    ap.add_argument("--rm-principal", default=None, help="yarn.resourcemanager.principal written to yarn-site.xml")
    ap.add_argument("--webhdfs-port", type=int, default=0)
    ap.add_argument("--node-port", type=int, default=0)
    ap.add_argument("--total-mb", type=int, default=16384)
    ap.add_argument("--total-vcores", type=int, default=16)
    ap.add_argument("--max-alloc-mb", type=int, default=8192)
    ap.add_argument("--max-alloc-vcores", type=int, default=8)
    ap.add_argument("--kill-delay-ms", type=int, default=200)
    ap.add_argument("--no-recover", action="store_true", help="ignore rm-state.json from a previous run")
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args(argv)
    validator = None
    if a.spnego_keytab or a.spnego_principal:
        validator = make_gssapi_validator(a.spnego_keytab, a.spnego_principal)
    emu = Emulator(
        state_dir=a.state_dir, host=a.host, port=a.port, ha=a.ha.split(",") if a.ha else None,
        require_spnego=a.require_spnego, spnego_validator=validator, webhdfs_port=a.webhdfs_port,
        node_port=a.node_port, total_mb=a.total_mb, total_vcores=a.total_vcores, max_alloc_mb=a.max_alloc_mb,
        max_alloc_vcores=a.max_alloc_vcores, ha_redirect_mode=a.ha_redirect_mode, kill_delay_ms=a.kill_delay_ms,
        recover=not a.no_recover, verbose=a.verbose, rm_principal=a.rm_principal,
    )
    emu.start()
    stop = threading.Event()
    for s in (signal.SIGTERM, signal.SIGINT):
        signal.signal(s, lambda *_: stop.set())
    sys.stdout.write(json.dumps(emu.info()) + "\n")
    sys.stdout.flush()
    while not stop.wait(0.5):
        pass
    emu.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
