"""A fake livy-rs server: the server side of docs/DRIVER_PROTOCOL.md, for the driver's tests.

It listens on loopback with TLS (a throwaway self-signed certificate made with openssl), accepts
one driver connection, runs the handshake and records every message the driver sends.
"""

import base64
import hashlib
import hmac
import json
import os
import secrets
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DRIVER = os.path.join(ROOT, "src", "driver", "python", "livy_rs_driver.py")


def make_cert(directory):
    """A self-signed certificate + key in `directory`; returns (cert path, key path, sha256 hex)."""
    cert = os.path.join(directory, "cert.pem")
    key = os.path.join(directory, "key.pem")
    if not os.path.exists(cert):
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
             "-out", cert, "-days", "2", "-subj", "/CN=livy-rs-test"],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(cert) as f:
        der = ssl.PEM_cert_to_DER_cert(f.read())
    return cert, key, hashlib.sha256(der).hexdigest()


def wait_until(predicate, timeout, what="condition", interval=0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.0f s waiting for %s" % (timeout, what))
        time.sleep(interval)


class FakeServer(object):
    def __init__(self, session_id, secret, cert_dir, welcome_mac_ok=True):
        self.session_id = session_id
        self.secret = secret
        self.welcome_mac_ok = welcome_mac_ok
        self.cert, self.key, self.fingerprint = make_cert(cert_dir)
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(self.cert, self.key)
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(1)
        self.address = "127.0.0.1:%d" % self.listener.getsockname()[1]
        self.conn = None
        self.cond = threading.Condition()
        self.messages = []
        self.handshake = []  # hello and auth messages
        self.auth = None  # True / False once decided
        self.closed = False
        self.error = None
        self._send_lock = threading.Lock()
        self._next_req = 1
        threading.Thread(target=self._serve, daemon=True).start()

    # -- framing --------------------------------------------------------------------------

    def _recv_exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.conn.recv(n - len(buf))
            if not chunk:
                raise EOFError("driver closed the connection")
            buf += chunk
        return buf

    def _recv(self):
        (n,) = struct.unpack(">I", self._recv_exact(4))
        return json.loads(self._recv_exact(n).decode("utf-8"))

    def send(self, msg):
        payload = json.dumps(msg).encode("utf-8")
        with self._send_lock:
            self.conn.sendall(struct.pack(">I", len(payload)) + payload)

    # -- serving --------------------------------------------------------------------------

    def _serve(self):
        try:
            self.listener.settimeout(120)
            raw, _ = self.listener.accept()
            try:
                self.conn = self.ctx.wrap_socket(raw, server_side=True)
            except (ssl.SSLError, OSError) as e:
                # The driver hangs up right after the TLS handshake when the pin does not match.
                with self.cond:
                    self.auth = False
                    self.error = "tls: %s" % e
                    self.closed = True
                    self.cond.notify_all()
                return
            hello = self._recv()
            self.handshake.append(hello)
            nonce = secrets.token_hex(32)
            self.send({"type": "challenge", "nonce": nonce})
            auth = self._recv()
            self.handshake.append(auth)
            key = self.secret.encode("utf-8")
            want = hmac.new(key, ("livy-rs-driver|%d|%s" % (self.session_id, nonce)).encode(),
                            hashlib.sha256).hexdigest()
            if hello.get("type") != "hello" or hello.get("session_id") != self.session_id \
                    or auth.get("type") != "auth" or not hmac.compare_digest(auth.get("mac", ""), want):
                self.send({"type": "error", "message": "authentication failed"})
                with self.cond:
                    self.auth = False
                    self.cond.notify_all()
                self.conn.close()
                return
            mac = hmac.new(key, ("livy-rs-server|%d|%s" % (self.session_id, auth["nonce"])).encode(),
                           hashlib.sha256).hexdigest()
            if not self.welcome_mac_ok:
                mac = "0" * 64
            self.send({"type": "welcome", "mac": mac})
            with self.cond:
                self.auth = True
                self.cond.notify_all()
            while True:
                msg = self._recv()
                with self.cond:
                    self.messages.append(msg)
                    self.cond.notify_all()
        except EOFError:
            pass
        except Exception as e:  # recorded for the tests to see
            self.error = "%s: %s" % (type(e).__name__, e)
        finally:
            with self.cond:
                self.closed = True
                self.cond.notify_all()

    # -- helpers for tests ----------------------------------------------------------------

    def wait_for(self, predicate, timeout, what="a message"):
        """The first recorded message matching `predicate`, waiting up to `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for m in self.messages:
                    if predicate(m):
                        return m
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("timed out after %.0f s waiting for %s; error=%s"
                                         % (timeout, what, self.error))
                if self.closed:
                    raise AssertionError("driver disconnected while waiting for %s" % what)
                self.cond.wait(min(left, 0.5))

    def wait_closed(self, timeout):
        deadline = time.monotonic() + timeout
        with self.cond:
            while not self.closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("connection still open after %.0f s" % timeout)
                self.cond.wait(min(left, 0.5))

    def request_id(self):
        with self.cond:
            r = self._next_req
            self._next_req += 1
            return r

    def drop(self):
        """Hangs up on the driver (shutdown first: a bare close would not wake the reader)."""
        try:
            self.conn.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.conn.close()

    def close(self):
        try:
            if self.conn is not None:
                self.conn.close()
        except OSError:
            pass
        self.listener.close()


class Driver(object):
    """One driver process (spark-submit livy_rs_driver.py) wired to a FakeServer."""

    def __init__(self, kind, workdir, python=None, session_id=7, secret=None, driver_secret=None,
                 fingerprint=None, welcome_mac_ok=True, max_message_bytes=8 * 1024 * 1024,
                 sql_num_rows=1000, output_cap_bytes=1024 * 1024, confs=None, master="local[2]"):
        self.kind = kind
        self.workdir = workdir
        self.python = python or sys.executable
        self.spark_home = spark_home_of(self.python)
        secret = secret or secrets.token_hex(32)
        self.server = FakeServer(session_id, secret, workdir, welcome_mac_ok=welcome_mac_ok)
        self.config_path = os.path.join(workdir, "config-%d.json" % os.getpid())
        with open(self.config_path, "w") as f:
            json.dump({"session_id": session_id, "server": self.server.address,
                       "fingerprint": fingerprint or self.server.fingerprint,
                       "secret": driver_secret or secret, "kind": kind,
                       "max_message_bytes": max_message_bytes, "sql_num_rows": sql_num_rows,
                       "output_cap_bytes": output_cap_bytes,
                       "job_cancel_trigger_interval_ms": 100}, f)
        self.secret = secret
        self.log_path = os.path.join(workdir, "driver-%s.log" % kind)
        confs = dict({"spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "2",
                      "spark.driver.extraJavaOptions": "-Xss4m"}, **(confs or {}))
        cmd = [os.path.join(self.spark_home, "bin", "spark-submit"), "--master", master,
               "--name", "livy-rs-driver-test"]
        for k, v in confs.items():
            cmd += ["--conf", "%s=%s" % (k, v)]
        cmd += [DRIVER, self.config_path]
        env = dict(os.environ, SPARK_HOME=self.spark_home, PYSPARK_PYTHON=self.python,
                   PYSPARK_DRIVER_PYTHON=self.python)
        env.pop("PYTHONPATH", None)
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env=env,
                                     stdin=subprocess.DEVNULL)
        self.next_id = 0

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait_ready(self, timeout=180):
        m = self.server.wait_for(lambda m: m["type"] in ("ready", "error"), timeout, "ready")
        assert m["type"] == "ready", "driver failed to start: %s\n%s" % (m, self.log_text()[-5000:])
        return m

    def submit(self, code, kind=None):
        sid = self.next_id
        self.next_id += 1
        msg = {"type": "execute", "id": sid, "code": code}
        if kind or self.kind != "shared":
            msg["kind"] = kind or self.kind
        self.server.send(msg)
        return sid

    def result(self, sid, timeout=120):
        return self.server.wait_for(lambda m: m["type"] == "result" and m["id"] == sid,
                                    timeout, "result of statement %d" % sid)

    def run(self, code, kind=None, timeout=120):
        """The Livy output object of `code`."""
        return self.result(self.submit(code, kind), timeout)["output"]

    def messages_of(self, sid):
        with self.server.cond:
            return [m for m in self.server.messages if m.get("id") == sid]

    def request(self, msg, reply_type, timeout=120):
        req = self.server.request_id()
        msg = dict(msg, req=req)
        self.server.send(msg)
        return self.server.wait_for(lambda m: m["type"] == reply_type and m.get("req") == req,
                                    timeout, "%s for request %d" % (reply_type, req))

    def wait_exit(self, timeout=60):
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                raise AssertionError("driver still running after %.0f s" % timeout)
            time.sleep(0.1)
        return self.proc.returncode

    def shutdown(self, timeout=90):
        try:
            if self.proc.poll() is None and self.server.conn is not None and not self.server.closed:
                try:
                    self.server.send({"type": "shutdown"})
                except OSError:
                    pass
            return self.wait_exit(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self.server.close()
            self.log.close()


def spark_home_of(python):
    out = subprocess.run([python, "-c", "import os, pyspark; print(os.path.dirname(pyspark.__file__))"],
                         check=True, stdout=subprocess.PIPE).stdout.decode().strip()
    return out


def b64_pickled_job(fn):
    """A job exactly as Livy's python-api client sends it (base64 of cloudpickle)."""
    import cloudpickle
    return base64.b64encode(cloudpickle.dumps(fn)).decode("utf-8")


def unpickle_job_result(result):
    """What Livy's python-api client does with the REST `result` field."""
    import cloudpickle
    return cloudpickle.loads(base64.b64decode(base64.b64decode(result)))
