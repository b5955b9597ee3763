"""livy-rs session driver: the Spark application of one interactive session.

Started by the livy-rs server as

    $SPARK_HOME/bin/spark-submit [--conf ...] <dir>/livy_rs_driver.py <config.json>

It connects back to the server over TLS (pinning the server certificate), authenticates with an
HMAC challenge/response, builds the SparkSession and then runs the statements the server sends,
one at a time, answering with outputs in exactly the shape Apache Livy 0.9 produces.

The wire protocol is described in docs/DRIVER_PROTOCOL.md; keep the two in step.

Only the standard library, pyspark, py4j and cloudpickle are imported at module level; pandas and
matplotlib are only touched by the magics that need them.
"""

import ast
import base64
import collections
import ctypes
import datetime
import decimal
import hashlib
import hmac
import io
import json
import math
import os
import pickle
import queue
import re
import secrets
import shutil
import socket
import signal
import ssl
import struct
import sys
import tempfile
import threading
import time
import traceback

# When this program started (after the standard library's imports): start-up timings are told
# relative to it and to the JVM's start (see Driver.startup_timings).
_STARTED = time.time()

PROTOCOL_VERSION = 1
# Results kept for re-sending to a restarted server.
RECENT_RESULTS = 64
KINDS = ("pyspark", "spark", "sql", "sparkr")
SESSION_KINDS = KINDS + ("shared",)

# Exit codes (documented in docs/DRIVER_PROTOCOL.md).
EXIT_OK = 0
EXIT_STARTUP_FAILED = 1
EXIT_CONNECT_FAILED = 2
EXIT_CONNECTION_LOST = 3

_REAL_STDOUT = sys.stdout
_REAL_STDERR = sys.stderr


def log(msg):
    """Driver diagnostics go to the process's real stderr (the server's log of the session)."""
    try:
        _REAL_STDERR.write("livy-rs-driver: %s\n" % msg)
        _REAL_STDERR.flush()
    except Exception:
        pass


def now_ms():
    return int(time.time() * 1000)


def unix_eol(code):
    """Line endings as Livy's ReplDriver passes code on (EOLUtils.convertToSystemEOL)."""
    if "\r\n" in code:
        return code.replace("\r\n", "\n")
    if "\n" not in code and "\r" in code:
        return code.replace("\r", "\n")
    return code


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


def _is_hex(s, n):
    return isinstance(s, str) and len(s) == n and re.fullmatch(r"[0-9a-fA-F]+", s) is not None


# --------------------------------------------------------------------------------------------
# Statement output (Livy's shapes)
# --------------------------------------------------------------------------------------------

class Ok(object):
    def __init__(self, data):
        self.data = data


class Err(object):
    def __init__(self, ename, evalue, traceback_lines=()):
        self.ename = ename
        self.evalue = evalue
        self.traceback = list(traceback_lines)


def livy_output(execution_count, res):
    if isinstance(res, Ok):
        return {"status": "ok", "execution_count": execution_count, "data": res.data}
    return {"status": "error", "execution_count": execution_count, "ename": res.ename,
            "evalue": res.evalue, "traceback": res.traceback}


def truncate_text(text, cap):
    """Caps `text` at `cap` UTF-8 bytes, ending it with a visible marker line."""
    if cap is None or cap <= 0 or not isinstance(text, str):
        return text
    raw = text.encode("utf-8", "replace")
    if len(raw) <= cap:
        return text
    kept = raw[:cap].decode("utf-8", "ignore")
    return "%s\n...[output truncated by livy-rs: %d bytes total]" % (kept, len(raw))


def cap_output(output, cap):
    """Applies the output cap to the text parts of a Livy output object."""
    if output.get("status") == "ok":
        data = output.get("data")
        if isinstance(data, dict) and isinstance(data.get("text/plain"), str):
            data["text/plain"] = truncate_text(data["text/plain"], cap)
    else:
        output["evalue"] = truncate_text(output.get("evalue"), cap)
        tb = output.get("traceback") or []
        total, kept = 0, []
        for line in tb:
            n = len(str(line).encode("utf-8", "replace"))
            if cap and total + n > cap:
                full = sum(len(str(x).encode("utf-8", "replace")) for x in tb)
                kept.append("...[output truncated by livy-rs: %d bytes total]" % full)
                break
            total += n
            kept.append(line)
        output["traceback"] = kept
    return output


# --------------------------------------------------------------------------------------------
# Output capture (sys.stdout / sys.stderr while Python code runs)
# --------------------------------------------------------------------------------------------

class _DecodingStringIO(io.StringIO):
    def write(self, s):
        if isinstance(s, (bytes, bytearray)):
            s = bytes(s).decode("utf-8", "replace")
        return super(_DecodingStringIO, self).write(s)

    def isatty(self):
        return False


class OutputCapture(object):
    """Replaces sys.stdout/sys.stderr for good, like Livy's fake_shell: whatever is printed
    between two Python statements (say by a background thread) shows up in the next one."""

    def __init__(self):
        self._lock = threading.Lock()
        sys.stdin = io.StringIO()
        sys.stdout = _DecodingStringIO()
        sys.stderr = _DecodingStringIO()

    def take(self):
        with self._lock:
            out, err = sys.stdout, sys.stderr
            sys.stdout = _DecodingStringIO()
            sys.stderr = _DecodingStringIO()
        return out.getvalue(), err.getvalue()


# --------------------------------------------------------------------------------------------
# pyspark: Livy's fake_shell semantics
# --------------------------------------------------------------------------------------------

class UnknownMagic(Exception):
    pass


class _UserCodeFailed(Exception):
    def __init__(self, exc_info):
        Exception.__init__(self)
        self.exc_info = exc_info


_TOP_FRAME = re.compile(r'\s*File "<stdin>".*in <module>')


def python_error(exc_type, exc_value, tb):
    """Livy's error reply: the traceback without the frames above the user's <stdin> module."""
    lines = traceback.format_exception(exc_type, exc_value, tb, chain=False)
    for i, line in enumerate(lines):
        if _TOP_FRAME.match(line):
            lines = lines[:1] + lines[i + 1:]
            break
    return Err(str(exc_type.__name__), str(exc_value), lines)


def _table_type_error(exc_type, exc_value):
    """fake_shell's magics return an *error reply* as if it were data, so Livy reports status
    "ok" with {"msg_type": "execute_reply", "content": {...error...}} as data. Kept as is."""
    if not isinstance(exc_value, BaseException):
        exc_value = exc_type(exc_value)  # fake_shell passes a bare string here
    err = python_error(exc_type, exc_value, None)
    return {"msg_type": "execute_reply",
            "content": {"ename": err.ename, "evalue": err.evalue, "traceback": err.traceback,
                        "status": "error"}}


class _CodeBlock(object):
    """Normal Python code: all statements but the last run in 'exec' mode, the last one in
    'single' mode so a trailing expression is echoed (repr) like at a Python prompt."""

    def __init__(self, code):
        self.tree = compile(code, "<stdin>", "exec", ast.PyCF_ONLY_AST, 1)

    def run(self, namespace):
        body = self.tree.body
        try:
            for node in body[:-1]:
                exec(compile(ast.Module([node], []), "<stdin>", "exec"), namespace)
            for node in body[-1:]:
                exec(compile(ast.Interactive([node]), "<stdin>", "single"), namespace)
        except BaseException:
            raise _UserCodeFailed(sys.exc_info())
        return None


class _MagicLine(object):
    def __init__(self, line, router):
        parts = line[1:].split(" ", 1)
        self.name = parts[0]
        self.args = tuple(parts[1:])
        self.router = router

    def run(self, namespace):
        if not self.name:
            raise UnknownMagic("magic command not specified")
        handler = self.router.get(self.name)
        if handler is None:
            raise UnknownMagic("unknown magic command '%s'" % self.name)
        return handler(*self.args)


def _to_table_cell(value):
    """(livy type name, json value) of one %table cell, as fake_shell converts it."""
    t = type(value)
    if value is None:
        return "NULL_TYPE", None
    if t is bool:
        return "BOOLEAN_TYPE", value
    if t is int:
        return "INT_TYPE", value
    if t is float:
        return "DOUBLE_TYPE", value
    if t is datetime.date:
        return "DATE_TYPE", str(value)
    if t is datetime.datetime:
        return "TIMESTAMP_TYPE", str(value)
    if t is decimal.Decimal:
        return "DECIMAL_TYPE", str(value)
    if t in (tuple, list):
        item_type, items = None, []
        for item in value:
            it, iv = _to_table_cell(item)
            if item_type is None:
                item_type = it
            elif item_type != it:
                raise ValueError("value has inconsistent types")
            items.append(iv)
        return "ARRAY_TYPE", items
    if t is dict:
        key_type, value_type, out = None, None, {}
        for k, v in value.items():
            kt, kv = _to_table_cell(k)
            vt, vv = _to_table_cell(v)
            if key_type is None:
                key_type, value_type = kt, vt
            elif key_type != kt or value_type != vt:
                raise ValueError("value has inconsistent types")
            out[kv if isinstance(kv, str) else json.dumps(json_safe(kv))] = vv
        return "MAP_TYPE", out
    return "STRING_TYPE", str(value)


class PythonInterpreter(object):
    def __init__(self, namespace, capture):
        self.ns = namespace
        self.capture = capture
        self.magics = {"table": self._magic_table, "json": self._magic_json,
                       "matplot": self._magic_matplot}

    def _parse(self, code):
        try:
            return [_CodeBlock(code)]
        except SyntaxError:
            pass
        # Maybe magic lines: split into runs of normal lines and single '%' lines.
        chunks, normal = [], []
        for line in code.rstrip().split("\n"):
            if line.startswith("%"):
                if normal:
                    chunks.append("\n".join(normal))
                    normal = []
                chunks.append(line)
            else:
                normal.append(line)
        if normal:
            chunks.append("\n".join(normal))
        return [_MagicLine(c, self.magics) if c.startswith("%") else _CodeBlock(c) for c in chunks]

    def execute(self, code):
        try:
            try:
                nodes = self._parse(code)
            except SyntaxError:
                exc_type, exc_value, _ = sys.exc_info()
                return python_error(exc_type, exc_value, None)
            result = None
            try:
                for node in nodes:
                    result = node.run(self.ns)
            except UnknownMagic:
                exc_type, exc_value, _ = sys.exc_info()
                return python_error(exc_type, exc_value, None)
            except _UserCodeFailed as e:
                return python_error(*e.exc_info)
            except Exception:
                # A magic failed in a way fake_shell would not survive; report it instead.
                exc_type, exc_value, tb = sys.exc_info()
                return python_error(exc_type, exc_value, None)
            stdout, stderr = self.capture.take()
            data = dict(result) if result else {}
            text = data.pop("text/plain", "")
            text = (text + stdout + stderr).rstrip()
            if text or not data:
                data["text/plain"] = text
            return Ok(data)
        finally:
            # Unlike fake_shell, a failed statement's prints do not leak into the next output.
            self.capture.take()

    # -- magics -----------------------------------------------------------------------------

    def _lookup(self, name):
        return self.ns[name]

    def _magic_table(self, name):
        try:
            value = self._lookup(name)
        except KeyError:
            exc_type, exc_value, _ = sys.exc_info()
            return _table_type_error(exc_type, exc_value)
        if not isinstance(value, (list, tuple)):
            value = [value]
        headers, data = {}, []
        for row in value:
            cols = []
            data.append(cols)
            if row.__class__.__name__ == "Row":
                row = row.asDict()
            if not isinstance(row, (list, tuple, dict)):
                row = [row]
            items = enumerate(row) if isinstance(row, (list, tuple)) else sorted(row.items())
            for col_name, col in items:
                col_type, col = _to_table_cell(col)
                header = headers.get(col_name)
                if header is None:
                    headers[col_name] = {"name": str(col_name), "type": col_type}
                elif col_type != "NULL_TYPE" and header["type"] != col_type:
                    if header["type"] == "NULL_TYPE":
                        header["type"] = col_type
                    else:
                        return _table_type_error(Exception, "table rows have different types")
                cols.append(col)
        return {"application/vnd.livy.table.v1+json": {
            "headers": [h for _, h in sorted(headers.items())],
            "data": data}}

    def _magic_json(self, name):
        try:
            value = self._lookup(name)
        except KeyError:
            exc_type, exc_value, _ = sys.exc_info()
            return _table_type_error(exc_type, exc_value)
        dumps(value)  # raises TypeError now rather than when the result is sent
        return {"application/json": value}

    def _magic_matplot(self, name):
        try:
            value = self._lookup(name)
            fig = value.gcf()
            buf = io.BytesIO()
            fig.savefig(buf, format="png")
            encoded = base64.b64encode(buf.getvalue()).decode("ascii")
        except Exception:
            exc_type, exc_value, _ = sys.exc_info()
            return _table_type_error(exc_type, exc_value)
        return {"image/png": encoded, "text/plain": ""}

    # -- completion -------------------------------------------------------------------------

    def complete(self, code, cursor):
        import rlcompleter
        cursor = max(0, min(len(code), int(cursor)))
        m = re.search(r"[A-Za-z_][\w.]*$|$", code[:cursor])
        token = m.group(0) if m else ""
        completer = rlcompleter.Completer(self.ns)
        out, state = [], 0
        while state < 1000:
            try:
                c = completer.complete(token, state)
            except Exception:
                break
            if c is None:
                break
            c = c.rstrip("(")
            if c not in out:
                out.append(c)
            state += 1
        return out


# --------------------------------------------------------------------------------------------
# sql: Livy's SQLInterpreter
# --------------------------------------------------------------------------------------------

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def _sql_value(v, dtype):
    """A Row value as json4s would have decomposed the JVM value in Livy's SQLInterpreter."""
    from pyspark.sql import types as T
    if v is None:
        return None
    if isinstance(v, bool) or isinstance(v, int) or isinstance(v, str):
        return v
    if isinstance(v, float):
        return json_safe(v)
    if isinstance(v, decimal.Decimal):
        return json_safe(float(v))  # json4s' DefaultFormats turn BigDecimal into a double
    if isinstance(v, datetime.datetime):
        if isinstance(dtype, getattr(T, "TimestampNTZType", ())):
            return v.isoformat()
        # java.sql.Timestamp -> DefaultFormats' "yyyy-MM-dd'T'HH:mm:ss.SSS'Z'" in UTC
        aware = v if v.tzinfo else v.astimezone()
        u = aware.astimezone(datetime.timezone.utc)
        return u.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (u.microsecond // 1000)
    if isinstance(v, datetime.date):
        return v.isoformat()
    if isinstance(v, (bytes, bytearray)):
        return [b - 256 if b > 127 else b for b in bytes(v)]  # Array[Byte] is signed
    if isinstance(v, (list, tuple)) and hasattr(v, "__fields__") and isinstance(dtype, T.StructType):
        return {f.name: _sql_value(x, f.dataType) for f, x in zip(dtype.fields, v)}
    if isinstance(v, (list, tuple)):
        et = getattr(dtype, "elementType", None)
        return [_sql_value(x, et) for x in v]
    if isinstance(v, dict):
        vt = getattr(dtype, "valueType", None)
        return {str(_sql_value(k, None)): _sql_value(x, vt) for k, x in v.items()}
    return str(v)


def _java_error(exc):
    """(message, stack trace lines) of the JVM exception behind a pyspark error, if any."""
    origin = getattr(exc, "_origin", None) or getattr(exc, "java_exception", None)
    if origin is None:
        cause = getattr(exc, "_cause", None)
        origin = getattr(cause, "java_exception", None) if cause is not None else None
    if origin is not None:
        try:
            msg = origin.getMessage()
            trace = [str(e.toString()) for e in origin.getStackTrace()]
            return msg, trace
        except Exception:
            pass
    return str(exc), []


class SqlInterpreter(object):
    def __init__(self, spark, max_rows):
        self.spark = spark
        self.max_rows = max_rows

    def execute(self, code):
        try:
            df = self.spark.sql(code)
            schema = df.schema
            rows = df.take(self.max_rows)
            data = [[_sql_value(v, f.dataType) for f, v in zip(schema.fields, row)] for row in rows]
            return Ok({"application/json": {"schema": schema.jsonValue(), "data": data}})
        except Exception as e:
            msg, trace = _java_error(e)
            return Err("Error", msg, trace)


# --------------------------------------------------------------------------------------------
# spark (Scala): an IMain inside the driver JVM, bound to the same SparkSession
# --------------------------------------------------------------------------------------------

# Interpreted by the REPL itself at start-up (livy_rs_bridge.scala). It runs Livy's line-by-line
# algorithm in the JVM (AbstractSparkInterpreter.executeLines) so each statement is one py4j call.
def _scala_bridge_source():
    """The bridge's Scala source (livy_rs_bridge.scala), beside this program: the server writes
    it there, and on YARN it is localized into the container's directory with the program."""
    here = os.path.dirname(os.path.abspath(__file__))
    for d in (here, os.getcwd()):
        path = os.path.join(d, "livy_rs_bridge.scala")
        if os.path.exists(path):
            with io.open(path, encoding="utf-8") as f:
                return f.read()
    raise RuntimeError("livy_rs_bridge.scala is missing beside %s" % __file__)

_SCALA_COMPLETE_213 = (
    "new scala.tools.nsc.interpreter.shell.ReplCompletion(intp, "
    "new scala.tools.nsc.interpreter.shell.Accumulator)"
    ".complete(code, cursor).candidates.map(_.name).distinct.toArray")
_SCALA_COMPLETE_212 = (
    "new scala.tools.nsc.interpreter.PresentationCompilerCompleter(intp)"
    ".complete(code, cursor).candidates.distinct.toArray")

_SCALA_PRELUDE = [
    "@transient val spark = java.lang.System.getProperties.get(\"livy-rs.spark\")"
    ".asInstanceOf[org.apache.spark.sql.SparkSession]",
    "@transient val sc = spark.sparkContext",
    "import org.apache.spark.SparkContext._",
    "import spark.implicits._",
    "import spark.sql",
    "import org.apache.spark.sql.functions._",
]


class ScalaInterpreter(object):
    """A Scala REPL (scala.tools.nsc.interpreter.IMain) created through py4j in the driver JVM.

    Its classes go to `outdir`, which must be the SparkContext's spark.repl.class.outputDir so
    executors can load the classes of REPL-defined closures, as with spark-shell.
    """

    def __init__(self, jvm, spark, outdir):
        self.jvm = jvm
        self.spark = spark
        self.outdir = outdir
        self.bridge = None
        self.version = str(jvm.scala.util.Properties.versionNumberString())

    def start(self):
        jvm = self.jvm
        settings = jvm.scala.tools.nsc.Settings()
        outdir = self.outdir if " " not in self.outdir else '"%s"' % self.outdir
        args = "-Yrepl-class-based -Yrepl-outdir %s -usejavacp" % outdir
        if not (self.version.startswith("2.12") or self.version.startswith("2.11")):
            # Scala 2.13.3+ warns about auto-application (`df.toJSON.collect`), which Livy's
            # 2.11/2.12 REPLs never printed; clients such as pylivy parse that output as data.
            args += " -Wconf:cat=deprecation&msg=Auto-application:s"
        settings.processArgumentString(args)
        buf = jvm.java.io.ByteArrayOutputStream()
        writer = jvm.java.io.PrintWriter(buf, True)
        if self.version.startswith("2.12") or self.version.startswith("2.11"):
            intp = jvm.scala.tools.nsc.interpreter.IMain(settings, writer)
            intp.initializeSynchronous()
            complete = _SCALA_COMPLETE_212
        else:
            reporter = jvm.scala.tools.nsc.interpreter.shell.ReplReporterImpl(settings, writer)
            intp = jvm.scala.tools.nsc.interpreter.IMain(settings, reporter)
            intp.initializeCompiler()
        complete = _SCALA_COMPLETE_212 if self.version.startswith("2.12") else _SCALA_COMPLETE_213
        props = jvm.java.lang.System.getProperties()
        keys = ("livy-rs.intp", "livy-rs.out", "livy-rs.writer", "livy-rs.spark", "livy-rs.bridge")
        try:
            props.put("livy-rs.intp", intp)
            props.put("livy-rs.out", buf)
            props.put("livy-rs.writer", writer)
            props.put("livy-rs.spark", self.spark._jsparkSession)
            for line in _SCALA_PRELUDE + [_scala_bridge_source().replace("%COMPLETE%", complete)]:
                res = str(intp.interpret(line))
                if "Success" not in res:
                    writer.flush()
                    raise RuntimeError("Scala interpreter start-up failed on %r: %s"
                                       % (line.strip().splitlines()[0], buf.toString("UTF-8")))
            self.bridge = props.get("livy-rs.bridge")
            if self.bridge is None:
                raise RuntimeError("Scala interpreter start-up failed: bridge not registered")
        finally:
            for k in keys:
                props.remove(k)
            writer.flush()
            buf.reset()
        # --jars given to spark-submit are visible to the REPL's compiler too, as in Livy.
        for jar in (self.spark.sparkContext.getConf().get("spark.jars", "") or "").split(","):
            jar = jar.strip()
            if jar:
                self.add_jar(jar, quiet=True)

    def add_jar(self, uri, quiet=False):
        path = uri[len("file:"):] if uri.startswith("file:") else uri
        if "://" in uri and not uri.startswith("file:"):
            if not quiet:
                log("jar %s is not local; only the executors and SparkContext see it" % uri)
            return
        if os.path.isfile(path):
            self.bridge.addJar("file:" + os.path.abspath(path))

    def execute(self, code):
        res = json.loads(str(self.bridge.execute(code)))
        status = res.get("status")
        if status == "ok":
            return Ok(res["data"])
        if status == "incomplete":
            return Err("Error", "incomplete statement", [])
        return Err(res.get("ename", "Error"), res.get("evalue", ""), res.get("traceback", []))

    def cancel(self):
        self.bridge.cancel()

    def complete(self, code, cursor):
        return [str(c) for c in self.bridge.complete(code, int(cursor))]


# --------------------------------------------------------------------------------------------
# Python Job API (Livy's python-api client)
# --------------------------------------------------------------------------------------------

def _cloudpickle():
    try:
        import cloudpickle
        return cloudpickle
    except ImportError:
        # Jobs pickled by the standalone package refer to `cloudpickle.cloudpickle`; pyspark
        # vendors the same code, so alias it.
        import pyspark.cloudpickle as cp
        sys.modules.setdefault("cloudpickle", cp)
        if hasattr(cp, "cloudpickle"):
            sys.modules.setdefault("cloudpickle.cloudpickle", cp.cloudpickle)
        return cp


class JobContextImpl(object):
    """What a job function receives, with the attributes of Livy's fake_shell JobContextImpl."""

    def __init__(self, sc, sql_ctx, spark_session, local_tmp_dir_path):
        self.lock = threading.RLock()
        self.sc = sc
        self.sql_ctx = sql_ctx
        self.hive_ctx = None
        self.streaming_ctx = None
        self.spark_session = spark_session
        self.local_tmp_dir_path = local_tmp_dir_path
        self.shared_variables = {}
        self.max_var_size = 100

    def create_streaming_ctx(self, batch_duration):
        from pyspark.streaming import StreamingContext
        with self.lock:
            if self.streaming_ctx is not None:
                raise ValueError("Streaming context already exists")
            self.streaming_ctx = StreamingContext(self.sc, batch_duration)

    def stop_streaming_ctx(self):
        with self.lock:
            if self.streaming_ctx is None:
                raise ValueError("Cannot stop streaming context. Streaming context is None")
            self.streaming_ctx.stop(stopSparkContext=False)
            self.streaming_ctx = None

    def get_local_tmp_dir_path(self):
        return self.local_tmp_dir_path

    def get_shared_object(self, name):
        with self.lock:
            if name not in self.shared_variables:
                return None
            value = self.shared_variables.pop(name)
            self.shared_variables[name] = value  # most recently used goes last
            return value

    def set_shared_object(self, name, obj):
        with self.lock:
            self.shared_variables.pop(name, None)
            self.shared_variables[name] = obj
            while len(self.shared_variables) > self.max_var_size:
                self.shared_variables.pop(next(iter(self.shared_variables)))

    def remove_shared_object(self, name):
        with self.lock:
            self.shared_variables.pop(name, None)

    def stop(self):
        with self.lock:
            if self.streaming_ctx is not None:
                self.stop_streaming_ctx()
            if self.sc is not None:
                self.sc.stop()


# --------------------------------------------------------------------------------------------
# Java/Scala Job API (Livy's Java client, jobType "spark")
# --------------------------------------------------------------------------------------------

class JavaJobs(object):
    """The driver's side of Java/Scala jobs: they run in the JVM through livy-rs's Java helper
    (src/driver/java, the jar the server names as `jobs_jar`), which provides livy-api's
    interfaces, reads the Kryo-written job and answers the Kryo-written result. Everything
    Java-job specific in this program is here; the Driver only forwards to it."""

    RUNNER = "io.livyrs.jobs.JobRunner"

    def __init__(self, spark, jar, tmp_dir):
        self.runner = None
        self.error = None
        if not jar:
            self.error = ("Java/Scala jobs need livy-rs's Java helper (%s), which the server did "
                          "not find next to its binary or in its jars/ directory" % "livy-rs-jobs.jar")
            return
        try:
            sc = spark.sparkContext
            jvm = sc._jvm
            url = jvm.java.io.File(os.path.abspath(jar)).toURI().toURL()
            # The interfaces must come from the loader every later class (user jars, executors
            # in local mode) delegates to: spark-submit's MutableURLClassLoader.
            loader = jvm.java.lang.Thread.currentThread().getContextClassLoader()
            loader.addURL(url)
            sc._jsc.sc().addJar(os.path.abspath(jar))  # executors deserialize the job's classes
            runner_class = jvm.java.lang.Class.forName(self.RUNNER, True, loader)
            ctor = runner_class.getConstructors()[0]
            args = sc._gateway.new_array(jvm.java.lang.Object, 2)
            args[0] = spark._jsparkSession
            args[1] = tmp_dir
            self.runner = ctor.newInstance(args)
        except Exception as e:
            self.error = "could not load livy-rs's Java helper %s: %s" % (jar, e)
            log(self.error)

    def run(self, msg):
        """The `job_result` reply to a `job` message: Livy's JSON carries the Kryo bytes base64
        once (a Python job's result: twice), a failure the JVM's stack trace."""
        reply = {"type": "job_result", "req": msg.get("req")}
        try:
            if self.runner is None:
                raise RuntimeError(self.error)
            outcome = self.runner.run(msg.get("job") or "", str(msg.get("job_id")))
            error = outcome.getError()
            if error is None:
                reply["result"] = outcome.getResult()
            else:
                reply["error"] = error
        except Exception:
            reply["error"] = traceback.format_exc()
        return reply

    def cancel(self, group):
        if self.runner is not None:
            self.runner.cancel(group)

    def add_jar(self, uri):
        if self.runner is not None:
            self.runner.addJar(uri)

    def stop(self):
        if self.runner is not None:
            try:
                self.runner.stop()
            except Exception as e:
                log("stopping the Java jobs' streaming context failed: %s" % e)


# --------------------------------------------------------------------------------------------
# Async exceptions (cancel of running Python code)
# --------------------------------------------------------------------------------------------

def _post_async_exc(thread_id, exc_type):
    n = ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id),
                                                   ctypes.py_object(exc_type))
    return n == 1


def _clear_async_exc(thread_id):
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), None)


class _Running(object):
    def __init__(self, sid, kind):
        self.id = sid
        self.kind = kind
        self.thread_id = threading.get_ident()
        self.in_user_code = False
        self.cancel_requested = False
        self.next_cancel_at = 0.0
        self.last_progress = None
        self.next_progress_at = 0.0


# --------------------------------------------------------------------------------------------
# The driver
# --------------------------------------------------------------------------------------------

class Driver(object):
    def __init__(self, config):
        self.session_id = int(config["session_id"])
        self.kind = config.get("kind", "pyspark")
        if self.kind not in SESSION_KINDS:
            raise ValueError("unknown session kind %r" % self.kind)
        self.server = config["server"]
        self.fingerprint = config["fingerprint"]
        self.secret = config["secret"]
        self.max_message_bytes = int(config.get("max_message_bytes") or 64 * 1024 * 1024)
        self.sql_num_rows = int(config.get("sql_num_rows") or 1000)
        self.output_cap_bytes = int(config.get("output_cap_bytes") or 0)
        self.cancel_interval = max(0.05, int(config.get("job_cancel_trigger_interval_ms") or 100) / 1000.0)
        # With recovery on the server: how long to keep dialing back after losing it.
        self.redial_seconds = max(0, int(config.get("redial_seconds") or 0))
        self.redial_lock = threading.Lock()
        self.last_received = None
        # The last results and job results sent, re-sent to a restarted server (which may not
        # have recorded them); bounded so a long session does not hold every output.
        self.recent = collections.OrderedDict()

        self.channel = None
        self.spark = None
        self.sc = None
        self.python = None
        self.sql = None
        self.scala = None
        self.scala_error = None
        self.scala_lock = threading.Lock()
        self.scala_outdir = None
        self.own_outdir = False
        self.job_context = None
        self.tmp_dir = None
        self.jobs_jar = config.get("jobs_jar")
        self.java_jobs = None

        self.ready = threading.Event()
        self.stop = threading.Event()
        self.exit_code = EXIT_OK
        self.statements = queue.Queue()
        self.state_lock = threading.Lock()
        self.result_lock = threading.Lock()
        self.running = None
        self.wake_monitor = threading.Event()
        self.jobs_lock = threading.Lock()
        self.jobs = {}  # req -> thread ident, for cancel_job
        # Start-up milestones (epoch seconds), logged once the driver is ready.
        self.milestones = [("python_start", _STARTED)]
        self.cancelled_jobs = set()  # reqs cancelled and not yet ended (see cancel_job)

    # -- plumbing ---------------------------------------------------------------------------

    def remember(self, msg):
        t = msg.get("type")
        if self.redial_seconds and t in ("result", "job_result"):
            key = (t, msg.get("id") if t == "result" else msg.get("req"))
            with self.redial_lock:
                self.recent.pop(key, None)
                self.recent[key] = msg
                while len(self.recent) > RECENT_RESULTS:
                    self.recent.popitem(last=False)

    def send(self, msg):
        self.remember(msg)
        try:
            self.channel.send(msg)
            return True
        except MessageTooLarge as e:
            log("dropping a %r message of %d bytes (max_message_bytes %d)"
                % (msg.get("type"), e.args[0], self.max_message_bytes))
            return False
        except (ChannelClosed, OSError) as e:
            self.connection_lost(str(e))
            return False

    def connection_lost(self, why):
        if self.redial_seconds and not self.stop.is_set():
            # The reader thread notices too and dials back; results are kept meanwhile.
            self.channel.close()
            return
        if not self.stop.is_set():
            log("connection to the server lost: %s" % why)
            self.exit_code = EXIT_CONNECTION_LOST
            self.stop.set()
            self.statements.put(None)

    def send_result(self, sid, output):
        output = cap_output(output, self.output_cap_bytes)
        msg = {"type": "result", "id": sid, "completed": now_ms(), "output": output}
        try:
            payload = self.channel.encode(msg)
        except MessageTooLarge as e:
            size = e.args[0]
            output = livy_output(output.get("execution_count", sid), Err(
                "OutputTooLarge",
                "statement output is %d bytes, more than the %d bytes a driver message may carry"
                % (size, self.max_message_bytes), []))
            msg["output"] = output
            payload = None
        except (TypeError, ValueError) as e:
            output = livy_output(output.get("execution_count", sid), Err(
                "TypeError", "statement output is not JSON serializable: %s" % e, []))
            msg["output"] = output
            payload = None
        self.remember(msg)
        try:
            self.channel.send(msg, payload)
        except (ChannelClosed, OSError) as e:
            self.connection_lost(str(e))

    # -- start-up ---------------------------------------------------------------------------

    def connect(self):
        host, _, port = self.server.rpartition(":")
        host = host.strip("[]")
        channel = Channel(host, int(port), self.fingerprint, self.max_message_bytes)
        try:
            channel.authenticate(self.session_id, self.secret)
        except Exception:
            channel.close()
            raise
        # Other threads send only on an authenticated channel.
        self.channel = channel
        if not self.redial_seconds:
            self.secret = None  # kept only when it must prove itself again after a restart

    def redial(self, why):
        """The server is gone: keep Spark, dial back with back-off for `redial_seconds`, then
        re-send the recent results and say where this driver stands. False when it gave up."""
        log("connection to the server lost (%s); dialing back for up to %d s" % (why, self.redial_seconds))
        try:
            self.channel.close()
        except Exception:
            pass
        deadline = time.time() + self.redial_seconds
        delay = 0.2
        while not self.stop.is_set() and time.time() < deadline:
            try:
                self.connect()
            except (ProtocolError, OSError, ChannelClosed, ValueError):
                time.sleep(min(delay, max(0.0, deadline - time.time())))
                delay = min(delay * 2, 5.0)
                continue
            with self.redial_lock:
                resend = list(self.recent.values())
            try:
                for msg in resend:
                    self.channel.send(msg)
                with self.state_lock:
                    running = self.running.id if self.running is not None else None
                with self.jobs_lock:
                    jobs = sorted(self.jobs)
                self.channel.send({"type": "resumed", "ready": self.ready.is_set(),
                                   "running": running, "last_received": self.last_received,
                                   "running_jobs": jobs})
            except (ChannelClosed, OSError) as e:
                log("lost the server again while resuming: %s" % e)
                continue
            log("dialed back to %s; resumed" % self.server)
            return True
        return False

    def check_prerequisites(self):
        if self.kind == "sparkr":
            raise RuntimeError(SPARKR_UNSUPPORTED)

    def build_spark(self):
        from pyspark.sql import SparkSession, SQLContext
        os.environ.setdefault("MPLBACKEND", "Agg")
        from pyspark import SparkConf, SparkContext
        self.milestones.append(("pyspark_imported", time.time()))
        builder = SparkSession.builder
        SparkContext._ensure_initialized()
        given = SparkConf().get("spark.repl.class.outputDir", None)
        if given:
            self.scala_outdir = given
            os.makedirs(given, exist_ok=True)
        else:
            # Any session accepts Scala statements, and the REPL's class directory is only served
            # to executors when set before the SparkContext starts. Cheap: an empty directory.
            root = SparkConf().get("spark.repl.classdir", None) or None
            self.scala_outdir = tempfile.mkdtemp(prefix="livy-rs-repl-", dir=root)
            self.own_outdir = True
            builder = builder.config("spark.repl.class.outputDir", self.scala_outdir)
        self.spark = builder.getOrCreate()
        self.sc = self.spark.sparkContext
        self.milestones.append(("spark_session", time.time()))
        try:
            import warnings
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                sql_ctx = SQLContext.getOrCreate(self.sc)
        except Exception:
            sql_ctx = None
        self.tmp_dir = tempfile.mkdtemp(prefix="livy-rs-driver-")
        self.job_context = JobContextImpl(self.sc, sql_ctx, self.spark, self.tmp_dir)
        self.java_jobs = JavaJobs(self.spark, self.jobs_jar, self.tmp_dir)
        namespace = {"sc": self.sc, "sqlContext": sql_ctx, "spark": self.spark}
        for stmt in ("from pyspark.sql import HiveContext",
                     "from pyspark.streaming import StreamingContext",
                     "import pyspark.cloudpickle as cloudpickle"):
            try:
                exec(stmt, namespace)
            except Exception:
                pass
        try:
            from pyspark import SparkFiles
            os.chdir(SparkFiles.getRootDirectory())
        except Exception:
            pass
        self.python = PythonInterpreter(namespace, OutputCapture())
        self.sql = SqlInterpreter(self.spark, self.sql_num_rows)
        self.milestones.append(("interpreters", time.time()))

    def scala_interpreter(self):
        with self.scala_lock:
            if self.scala is None and self.scala_error is None:
                try:
                    t0 = time.time()
                    interp = ScalaInterpreter(self.sc._jvm, self.spark, self.scala_outdir)
                    interp.start()
                    self.scala = interp
                    log("Scala %s interpreter started in %.1f s" % (interp.version, time.time() - t0))
                except Exception as e:
                    self.scala_error = "%s: %s" % (type(e).__name__, e)
                    log("Scala interpreter failed to start: %s" % self.scala_error)
            return self.scala

    def startup_timings(self):
        """One line saying where the start-up went, as epoch milliseconds of each milestone
        (the JVM's start from its RuntimeMXBean: spark-submit's JVM, which started this program)
        and the seconds between them; scripts/bench-pool reads it."""
        marks = list(self.milestones)
        try:
            bean = self.sc._jvm.java.lang.management.ManagementFactory.getRuntimeMXBean()
            marks.insert(0, ("jvm_start", bean.getStartTime() / 1000.0))
        except Exception:
            pass
        marks.append(("ready", time.time()))
        parts = ["%s=%d" % (name, int(t * 1000)) for name, t in marks]
        steps = ["%s->%s %.2fs" % (a[0], b[0], b[1] - a[1]) for a, b in zip(marks, marks[1:])]
        return "start-up timings: %s (%s)" % (" ".join(parts), ", ".join(steps))

    def ready_message(self):
        jvm = self.sc._jvm
        try:
            scala_version = str(jvm.scala.util.Properties.versionNumberString())
        except Exception:
            scala_version = None
        return {"type": "ready", "spark_version": self.spark.version,
                "scala_version": scala_version, "app_id": self.sc.applicationId,
                "spark_ui_url": self.sc.uiWebUrl or None}

    # -- message loop -----------------------------------------------------------------------

    def reader(self):
        while True:
            try:
                self.read_messages()
                return
            except (ChannelClosed, OSError) as e:
                if not self.redial_seconds or self.stop.is_set() or not self.redial(str(e)):
                    self.redial_seconds = 0
                    self.connection_lost(str(e))
                    return
            except ProtocolError as e:
                self.redial_seconds = 0
                self.connection_lost("protocol error: %s" % e)
                return
            except Exception as e:
                self.redial_seconds = 0
                self.connection_lost("reader failed: %s: %s" % (type(e).__name__, e))
                return

    def read_messages(self):
        try:
            while not self.stop.is_set():
                msg = self.channel.recv()
                try:
                    self.dispatch(msg)
                except Exception as e:
                    log("ignoring malformed %r message: %s: %s" % (msg.get("type"), type(e).__name__, e))
        except (ChannelClosed, OSError):
            raise
        except ProtocolError as e:
            self.connection_lost("protocol error: %s" % e)
        except Exception as e:
            self.connection_lost("reader failed: %s: %s" % (type(e).__name__, e))

    def dispatch(self, msg):
        t = msg["type"]
        if t == "execute":
            if isinstance(msg.get("id"), bool) or not isinstance(msg.get("id"), int) \
                    or not isinstance(msg.get("code", ""), str):
                raise ValueError("execute needs an integer id and a string code")
            self.last_received = max(msg["id"], self.last_received or 0)
            self.statements.put(msg)
        elif t == "cancel":
            self.cancel(msg.get("id"))
        elif t == "complete":
            self.spawn(self.handle_complete, msg)
        elif t == "job":
            self.spawn(self.handle_job, msg)
        elif t == "cancel_job":
            self.cancel_job(msg)
        elif t in ("add_file", "add_pyfile", "add_jar"):
            self.spawn(self.handle_add, msg)
        elif t == "shutdown":
            log("shutdown requested by the server")
            self.stop.set()
            self.statements.put(None)
        else:
            log("ignoring unknown message type %r" % t)

    def spawn(self, fn, msg):
        threading.Thread(target=self._guarded, args=(fn, msg), daemon=True,
                         name="livy-rs-%s" % msg["type"]).start()

    def _guarded(self, fn, msg):
        self.ready.wait()
        if self.stop.is_set():
            return
        try:
            fn(msg)
        except Exception as e:
            log("%s handler failed: %s: %s" % (msg.get("type"), type(e).__name__, e))

    # -- statements -------------------------------------------------------------------------

    def worker(self):
        self.ready.wait()
        while not self.stop.is_set():
            msg = self.statements.get()
            if msg is None or self.stop.is_set():
                break
            try:
                self.run_statement(msg)
            except Exception as e:  # a bug of ours: still answer, so the session is not stuck
                log("statement %s failed internally: %s" % (msg.get("id"), traceback.format_exc()))
                with self.result_lock:
                    self.send({"type": "result", "id": msg["id"], "completed": now_ms(),
                               "output": livy_output(msg["id"], Err(
                                   "Internal Error: %s" % type(e).__name__, str(e), []))})

    def run_statement(self, msg):
        sid = msg["id"]
        kind = msg.get("kind") or (self.kind if self.kind != "shared" else None)
        code = unix_eol(msg.get("code", ""))
        state = _Running(sid, kind)
        with self.state_lock:
            self.running = state
        self.wake_monitor.set()
        self.send({"type": "started", "id": sid, "at": now_ms()})
        res = None
        try:
            try:
                self.sc.setJobGroup(str(sid), "Job group for statement %d" % sid)
                if kind == "pyspark":
                    with self.state_lock:
                        state.in_user_code = True
                    try:
                        res = self.python.execute(code)
                    finally:
                        with self.state_lock:
                            state.in_user_code = False
                            if state.cancel_requested:
                                _clear_async_exc(state.thread_id)
                elif kind == "spark":
                    interp = self.scala_interpreter()
                    if interp is None:
                        res = Err("InterpreterError", "Fail to start interpreter",
                                  [self.scala_error or ""])
                    else:
                        with self.state_lock:
                            state.in_user_code = True
                        try:
                            res = interp.execute(code)
                        finally:
                            with self.state_lock:
                                state.in_user_code = False
                elif kind == "sql":
                    res = self.sql.execute(code)
                elif kind == "sparkr":
                    res = Err("InterpreterError", "Fail to start interpreter",
                              [SPARKR_UNSUPPORTED])
                elif kind is None:
                    res = Err("Error", "Code type should be specified if session kind is shared", [])
                else:
                    res = Err("Error", "unknown statement kind %r" % kind, [])
            except KeyboardInterrupt:
                # A cancel landed between the user's code and our bookkeeping.
                res = Err("KeyboardInterrupt", "", [])
        except BaseException as e:  # noqa: B036 - the statement must always get a result
            if isinstance(e, KeyboardInterrupt):
                res = Err("KeyboardInterrupt", "", [])
            else:
                res = Err("Internal Error: %s" % type(e).__name__, str(e), [])
        finally:
            with self.result_lock:
                with self.state_lock:
                    self.running = None
                    if state.cancel_requested and kind == "pyspark":
                        _clear_async_exc(state.thread_id)
        with self.result_lock:
            self.send_result(sid, livy_output(sid, res))

    def cancel(self, sid):
        with self.state_lock:
            state = self.running
            if state is None or state.id != sid or state.cancel_requested:
                return
            state.cancel_requested = True
            state.next_cancel_at = 0.0
        log("cancelling statement %s" % sid)
        self.wake_monitor.set()

    def monitor(self):
        """Progress reports and cancel re-triggers of the running statement."""
        self.ready.wait()
        while not self.stop.is_set():
            self.wake_monitor.wait(0.1)
            self.wake_monitor.clear()
            self.interrupt_cancelled_jobs()
            with self.state_lock:
                state = self.running
            if state is None:
                continue
            now = time.time()
            if state.cancel_requested and now >= state.next_cancel_at:
                state.next_cancel_at = now + self.cancel_interval
                self.trigger_cancel(state)
            if now >= state.next_progress_at:
                state.next_progress_at = now + 0.2
                try:
                    p = self.progress_of(str(state.id))
                except Exception:
                    p = None
                # Under result_lock: no progress message ever follows its statement's result.
                with self.result_lock:
                    if p is not None and self.running is state and p != state.last_progress:
                        state.last_progress = p
                        self.send({"type": "progress", "id": state.id, "progress": p})

    def trigger_cancel(self, state):
        try:
            self.sc.cancelJobGroup(str(state.id))
        except Exception as e:
            log("cancelJobGroup failed: %s" % e)
        if state.kind == "pyspark":
            with self.state_lock:
                if self.running is state and state.in_user_code:
                    if state.thread_id == threading.main_thread().ident:
                        # A SIGINT also ends a sleep or a blocking C call (FACTS.md), as
                        # Jupyter's kernel interrupt does; `_on_sigint` turns it into the
                        # KeyboardInterrupt only while the user's code runs.
                        signal.pthread_kill(state.thread_id, signal.SIGINT)
                    else:
                        _post_async_exc(state.thread_id, KeyboardInterrupt)
        elif state.kind == "spark":
            # Again at every trigger, while the statement's code runs (not while the Scala
            # interpreter starts): an interrupt sent before the bridge's `execute` took its
            # thread would be lost, and the bridge clears a stale one when it starts. Under the
            # lock, so it never reaches the next statement.
            with self.state_lock:
                if self.running is state and state.in_user_code and self.scala is not None:
                    try:
                        self.scala.cancel()
                    except Exception as e:
                        log("interrupting the Scala statement failed: %s" % e)

    def progress_of(self, group):
        tracker = self.sc.statusTracker()
        total = done = 0
        for job_id in tracker.getJobIdsForGroup(group):
            info = tracker.getJobInfo(job_id)
            if info is None:
                continue
            for stage_id in info.stageIds:
                stage = tracker.getStageInfo(stage_id)
                if stage is not None:
                    total += stage.numTasks
                    done += stage.numCompletedTasks
        return 0.0 if total == 0 else float(done) / total

    # -- completion, jobs, files ------------------------------------------------------------

    def handle_complete(self, msg):
        kind = msg.get("kind") or (self.kind if self.kind != "shared" else "pyspark")
        code = unix_eol(msg.get("code", ""))
        cursor = msg.get("cursor", len(code))
        candidates = []
        try:
            if kind == "pyspark":
                candidates = self.python.complete(code, cursor)
            elif kind == "spark" and self.scala is not None:
                candidates = self.scala.complete(code, cursor)
        except Exception as e:
            log("completion failed: %s" % e)
        self.send({"type": "completion", "req": msg.get("req"), "candidates": candidates})

    def handle_job(self, msg):
        if msg.get("job_type") == "spark":
            self.send_job_reply(self.java_jobs.run(msg))
            with self.jobs_lock:
                self.cancelled_jobs.discard(msg.get("req"))
            return
        req = msg.get("req")
        with self.jobs_lock:
            if req in self.cancelled_jobs:  # cancelled before its thread got here
                self.cancelled_jobs.discard(req)
                self.send_job_reply({"type": "job_result", "req": req,
                                     "error": "Client job error:KeyboardInterrupt: cancelled"})
                return
            self.jobs[req] = threading.get_ident()
        reply = {"type": "job_result", "req": req}
        try:
            try:
                cp = _cloudpickle()
                if msg.get("job_id") is not None:
                    self.sc.setJobGroup(str(msg["job_id"]), "", True)
                job = pickle.loads(base64.b64decode(msg["job"]), encoding="bytes")
                value = job(self.job_context)
                inner = base64.b64encode(cp.dumps(value))
                reply["result"] = base64.b64encode(inner).decode("ascii")
            finally:
                with self.jobs_lock:
                    self.jobs.pop(req, None)
                    self.cancelled_jobs.discard(req)
                    _clear_async_exc(threading.get_ident())  # a cancel that came too late
        except BaseException:  # noqa: B036 - report everything, including a cancel
            reply.pop("result", None)
            reply["error"] = "Client job error:" + traceback.format_exc()
        self.send_job_reply(reply)

    def send_job_reply(self, reply):
        payload_ok = self.send(reply)
        if not payload_ok and "result" in reply and not self.stop.is_set():
            self.send({"type": "job_result", "req": reply["req"],
                       "error": "Client job error:job result is larger than max_message_bytes"})

    def cancel_job(self, msg):
        """Cancels a Job API job: its Spark job group (Spark jobs end, their tasks are
        interrupted), a Java job's thread (Thread.interrupt), and a Python job's thread by an
        asynchronous KeyboardInterrupt, posted again at every trigger interval until the job ends.

        What that can and cannot interrupt: a job runs on a thread of its own (jobs run beside
        statements, which have the main thread), and CPython runs signal handlers in the main
        thread only, so the SIGINT that ends a statement's sleep (see `trigger_cancel`) cannot
        reach a job. An asynchronous exception is raised only when the thread next runs Python
        bytecode: Python loops, short sleeps and Spark actions (whose job group is cancelled)
        end at once; a job blocked in one long call -- `time.sleep(300)`, a socket read, C code
        -- ends only when that call returns (a blocking call interrupted by a signal is retried,
        PEP 475). The server reports the job CANCELLED either way; its thread may run on."""
        req = msg.get("req")
        if msg.get("job_id") is not None:
            try:
                self.sc.cancelJobGroup(str(msg["job_id"]))
                if self.java_jobs is not None:
                    self.java_jobs.cancel(str(msg["job_id"]))
            except Exception:
                pass
        with self.jobs_lock:
            if len(self.cancelled_jobs) >= 1024:  # cancels of jobs long ended: bounded
                self.cancelled_jobs.intersection_update(self.jobs)
            self.cancelled_jobs.add(req)
        self.interrupt_cancelled_jobs()

    def interrupt_cancelled_jobs(self):
        with self.jobs_lock:
            for req in self.cancelled_jobs:
                ident = self.jobs.get(req)
                if ident is not None:
                    _post_async_exc(ident, KeyboardInterrupt)

    def handle_add(self, msg):
        t, uri = msg["type"], msg.get("uri", "")
        reply = {"type": "ack", "req": msg.get("req")}
        try:
            # A file on the cluster file system (on YARN every upload is in the session's
            # staging directory there) is copied to the driver first; Spark then serves the
            # copy to the executors, and the class loaders can open it.
            local = self.local_copy(uri)
            if t == "add_file":
                self.sc.addFile(local)
            elif t == "add_pyfile":
                self.sc.addPyFile(local)
            else:
                self.sc._jsc.sc().addJar(local)
                self.add_jar_to_driver(local)
                self.java_jobs.add_jar(local)
                if self.scala is not None:
                    self.scala.add_jar(local)
        except Exception as e:
            reply["error"] = "%s: %s" % (type(e).__name__, e)
        self.send(reply)

    def local_copy(self, uri):
        """`uri` as a file on the driver's disk: local paths as they are; a cluster URI (hdfs:,
        webhdfs:, s3a:, ...) copied into the driver's tmp dir through Hadoop's FileSystem, as
        Livy's driver copies jars for its class loader. The shaded Hadoop client of pip-installed
        Spark cannot parse WebHDFS answers (its jersey runtime is missing), so a webhdfs: URI the
        FileSystem fails on is read with WebHDFS's documented OPEN instead."""
        m = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*):", uri)
        if m is None or m.group(1).lower() in ("file", "local"):
            return uri
        name = os.path.basename(uri.split("#", 1)[0].split("?", 1)[0].rstrip("/"))
        target_dir = os.path.join(self.tmp_dir, "__livy_jars__" if name.endswith(".jar") else "__livy_files__")
        os.makedirs(target_dir, exist_ok=True)
        target = os.path.join(target_dir, name)
        jvm = self.sc._jvm
        try:
            src = jvm.org.apache.hadoop.fs.Path(uri)
            fs = src.getFileSystem(self.sc._jsc.hadoopConfiguration())
            fs.copyToLocalFile(src, jvm.org.apache.hadoop.fs.Path(jvm.java.io.File(target).toURI()))
            return target
        except Exception as e:
            if m.group(1).lower() not in ("webhdfs", "swebhdfs"):
                raise
            log("Hadoop's WebHDFS client failed on %s (%s); reading it over WebHDFS's REST API" % (uri, e))
        _webhdfs_open(uri, self.sc.sparkUser(), target)
        return target

    def add_jar_to_driver(self, uri):
        """Lets driver-side code (py4j's `sc._jvm...`) load the jar's classes too, as Livy's
        addLocalFileToClassLoader does: the py4j threads share spark-submit's MutableURLClassLoader."""
        path = uri[len("file:"):] if uri.startswith("file:") else uri
        if "://" in path or not os.path.isfile(path):
            return
        jvm = self.sc._jvm
        try:
            loader = jvm.java.lang.Thread.currentThread().getContextClassLoader()
            if "MutableURLClassLoader" in str(loader.getClass().getName()):
                loader.addURL(jvm.java.io.File(os.path.abspath(path)).toURI().toURL())
        except Exception as e:
            log("could not add %s to the driver's class loader: %s" % (uri, e))

    # -- main -------------------------------------------------------------------------------

    def run(self):
        try:
            self.connect()
        except (ProtocolError, OSError, ChannelClosed, ValueError) as e:
            log("cannot connect to the livy-rs server at %s: %s" % (self.server, e))
            if self.channel is not None:
                self.channel.close()
            return EXIT_CONNECT_FAILED
        self.milestones.append(("connected", time.time()))
        log("connected to %s as session %d (kind %s)" % (self.server, self.session_id, self.kind))
        threading.Thread(target=self.reader, daemon=True, name="livy-rs-reader").start()

        try:
            self.check_prerequisites()
            t0 = time.time()
            self.build_spark()
            log("SparkSession ready in %.1f s" % (time.time() - t0))
        except Exception as e:
            message = "%s: %s" % (type(e).__name__, e) if not isinstance(e, RuntimeError) else str(e)
            log("start-up failed: %s" % message)
            lost = self.stop.is_set() and self.exit_code != EXIT_OK
            if not self.stop.is_set():
                self.send({"type": "error", "message": message})
            code = self.exit_code if lost else EXIT_STARTUP_FAILED
            self.stop.set()  # from here on a closing connection is expected
            self.shutdown_spark()
            self.channel.close()
            return code

        if not self.stop.is_set():
            self.send(self.ready_message())
        self.ready.set()
        log(self.startup_timings())
        if self.kind == "spark" and not self.stop.is_set():
            # The Scala interpreter takes seconds to start: a spark session is idle without
            # waiting for it, and its first statement waits for it (scala_interpreter's lock)
            # while the user is still typing. A failed start is that statement's error.
            threading.Thread(target=self.scala_interpreter, daemon=True,
                             name="livy-rs-scala-start").start()
        threading.Thread(target=self.monitor, daemon=True, name="livy-rs-monitor").start()
        if threading.current_thread() is threading.main_thread():
            # Statements run in the main thread: only there does a SIGINT interrupt code that
            # sleeps or blocks in C. Another thread ends the process once the server says stop,
            # whatever the statement is doing.
            signal.signal(signal.SIGINT, self._on_sigint)
            threading.Thread(target=self._finish, daemon=True, name="livy-rs-finish").start()
            self.worker()
            threading.Event().wait()  # `_finish` exits the process
        worker = threading.Thread(target=self.worker, daemon=True, name="livy-rs-worker")
        worker.start()
        self.stop.wait()
        self.shutdown_spark()
        self.channel.close()
        return self.exit_code

    def _on_sigint(self, signum, frame):
        """A cancel's SIGINT: a KeyboardInterrupt in the user's code, nothing anywhere else (our
        bookkeeping must not be torn, and a stray SIGINT must not stop the driver)."""
        state = self.running
        if state is not None and state.cancel_requested and state.in_user_code:
            raise KeyboardInterrupt()

    def _finish(self):
        self.stop.wait()
        self.shutdown_spark()
        self.channel.close()
        try:
            _REAL_STDOUT.flush()
            _REAL_STDERR.flush()
        except Exception:
            pass
        os._exit(self.exit_code)

    def shutdown_spark(self):
        if self.spark is None:
            return
        done = threading.Event()

        def stop():
            try:
                with self.state_lock:
                    running = self.running
                if running is not None:
                    self.sc.cancelJobGroup(str(running.id))
                if self.java_jobs is not None:
                    self.java_jobs.stop()
                self.spark.stop()
            except Exception as e:
                log("stopping Spark failed: %s" % e)
            finally:
                done.set()

        threading.Thread(target=stop, daemon=True).start()
        if not done.wait(60):
            log("Spark did not stop within 60 s; exiting anyway")
        for d in (self.tmp_dir, self.scala_outdir if self.own_outdir else None):
            if d:
                shutil.rmtree(d, ignore_errors=True)


# livy-rs has no SparkR interpreter (Spark 4 deprecates SparkR; the pyspark wheel does not ship
# it): the server refuses sparkr sessions, and this is what a driver says if asked anyway.
SPARKR_UNSUPPORTED = ("SparkR is not supported by livy-rs: Apache Spark 4 deprecates SparkR and "
                      "pip-installed Spark does not ship it")


def _webhdfs_open(uri, user, target):
    """Reads `webhdfs://host:port/path` (or swebhdfs) into `target` with WebHDFS's OPEN as
    `user` (simple authentication), following the NameNode's redirect to a DataNode."""
    import urllib.parse
    import urllib.request

    parsed = urllib.parse.urlsplit(uri)
    scheme = "https" if parsed.scheme.lower() == "swebhdfs" else "http"
    query = urllib.parse.urlencode({"op": "OPEN", "user.name": user})
    url = "%s://%s/webhdfs/v1%s?%s" % (scheme, parsed.netloc, urllib.parse.quote(parsed.path), query)
    tmp = target + ".part"
    with urllib.request.urlopen(url, timeout=60) as r, open(tmp, "wb") as out:
        shutil.copyfileobj(r, out)
    os.replace(tmp, target)


def read_config(path):
    with open(path, "r", encoding="utf-8") as f:
        config = json.load(f)
    try:
        os.remove(path)  # it holds the session secret
    except OSError:
        pass
    for key in ("session_id", "server", "fingerprint", "secret"):
        if key not in config:
            raise ValueError("config is missing %r" % key)
    return config


def main(argv):
    # pyspark 4 warns once per session that DataFrame.toJSON will change; the warning lands in
    # the statement's output after the rows, where clients (pylivy download, sparkmagic %%sql)
    # parse the text as JSON. Livy (Spark <= 3.5) never printed it.
    import warnings
    warnings.filterwarnings(
        "ignore", message="The return type of DataFrame.toJSON will be changed", category=UserWarning
    )
    # pyspark 4 logs caught SQL errors through JSON loggers whose handler binds to whatever
    # sys.stderr is when first used; made here, they write to the real stderr instead of the
    # output capture of whichever statement first failed (and then every later one's).
    try:
        from pyspark.logger import PySparkLogger

        for name in ("SQLQueryContextLogger", "DataFrameQueryContextLogger"):
            PySparkLogger.getLogger(name)
    except Exception:
        pass  # pyspark 3.x has no such loggers
    if len(argv) != 2:
        log("usage: livy_rs_driver.py <config.json>")
        return EXIT_CONNECT_FAILED
    try:
        config = read_config(argv[1])
        driver = Driver(config)
    except Exception as e:
        log("bad configuration %s: %s" % (argv[1], e))
        return EXIT_CONNECT_FAILED
    return driver.run()


if __name__ == "__main__":
    code = main(sys.argv)
    try:
        _REAL_STDOUT.flush()
        _REAL_STDERR.flush()
    except Exception:
        pass
    os._exit(code)
