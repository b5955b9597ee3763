"""A fake session driver: speaks the driver protocol (docs/DRIVER_PROTOCOL.md) without Spark, so
server behaviour that depends on exact timing can be tested deterministically and cheaply.

Started as `spark-submit` (see `fake_driver_spark_home` in session_helpers): the last argument is
the config.json the server wrote. `--conf spark.livyrs.fake.mode=startup-error` makes it answer
the handshake with a start-up `error` instead of `ready`; `...=late-ready` makes it answer
`shutdown` with the running statement's `result` and another `ready`, then linger 3 s (a driver
whose messages cross the server's shutdown).

Statement "language" (any kind):
    sleep S     sleeps S seconds (a cancel ends it with a KeyboardInterrupt error), text "slept S"
    report      text "max_concurrent=N": the most statements it ever had received and not answered
    anything    text = the code
Completion answers `["<kind>", "<code>", "<cursor>"]`, so tests see what the server sent.
`add_file`/`add_pyfile`/`add_jar` are acknowledged (nothing is added); a Job API `job` ends with a
job error (this driver runs no jobs).
Right after `ready` it also sends a message of an unknown type (the server must ignore it).
Standard library only.
"""

import hashlib
import hmac
import json
import os
import socket
import ssl
import struct
import sys
import threading
import time


def log(*args):
    print("fake-driver:", *args, file=sys.stderr, flush=True)


def now_ms():
    return int(time.time() * 1000)


class Conn(object):
    def __init__(self, sock):
        self.sock = sock
        self.lock = threading.Lock()

    def send(self, obj):
        data = json.dumps(obj).encode()
        with self.lock:
            self.sock.sendall(struct.pack(">I", len(data)) + data)

    def recv(self):
        head = self._exactly(4)
        if head is None:
            return None
        body = self._exactly(struct.unpack(">I", head)[0])
        return None if body is None else json.loads(body)

    def _exactly(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                return None
            buf += chunk
        return buf


def main(argv):
    config_path = argv[-1]
    mode = "normal"
    for i, arg in enumerate(argv):
        if arg == "--conf" and argv[i + 1].startswith("spark.livyrs.fake.mode="):
            mode = argv[i + 1].split("=", 1)[1]
    with open(config_path) as f:
        config = json.load(f)
    os.unlink(config_path)
    sid = config["session_id"]
    secret = config["secret"].encode()
    host, _, port = config["server"].rpartition(":")
    log("session", sid, "mode", mode, "connecting to", config["server"])

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    sock = ctx.wrap_socket(socket.create_connection((host.strip("[]"), int(port)), timeout=30))
    sock.settimeout(None)
    fingerprint = hashlib.sha256(sock.getpeercert(binary_form=True)).hexdigest()
    if fingerprint != config["fingerprint"].replace(":", "").lower():
        log("certificate fingerprint mismatch")
        return 2
    conn = Conn(sock)
    conn.send({"type": "hello", "session_id": sid, "protocol": 1})
    challenge = conn.recv()
    client_nonce = os.urandom(32).hex()
    mac = hmac.new(secret, ("livy-rs-driver|%d|%s" % (sid, challenge["nonce"])).encode(),
                   hashlib.sha256).hexdigest()
    conn.send({"type": "auth", "mac": mac, "nonce": client_nonce})
    welcome = conn.recv()
    expected = hmac.new(secret, ("livy-rs-server|%d|%s" % (sid, client_nonce)).encode(),
                        hashlib.sha256).hexdigest()
    if not welcome or welcome.get("type") != "welcome" or welcome.get("mac") != expected:
        log("authentication failed:", welcome)
        return 2
    log("authenticated")

    if mode == "startup-error":
        conn.send({"type": "error", "message": "fake start-up failure: no interpreter today"})
        log("sent a start-up error; exiting 1")
        sock.close()
        return 1

    time.sleep(0.5)
    conn.send({"type": "ready", "spark_version": "0.0.0-fake", "scala_version": None,
               "app_id": "fake-app-%d" % sid, "spark_ui_url": "http://fake-ui.invalid:4040"})
    conn.send({"type": "from_the_future", "payload": [1, 2, 3]})

    state = {"active": 0, "max": 0, "running": None, "cancel": threading.Event()}
    lock = threading.Lock()

    def run(msg):
        sid_ = msg["id"]
        conn.send({"type": "started", "id": sid_, "at": now_ms()})
        code = msg["code"].strip()
        output = {"status": "ok", "execution_count": sid_, "data": {"text/plain": code}}
        if code.startswith("sleep "):
            seconds = float(code.split()[1])
            cancel = threading.Event()
            with lock:
                state["running"] = (sid_, cancel)
            if cancel.wait(seconds):
                output = {"status": "error", "execution_count": sid_, "ename": "KeyboardInterrupt",
                          "evalue": "", "traceback": []}
            else:
                output["data"]["text/plain"] = "slept %s" % code.split()[1]
        elif code == "report":
            output["data"]["text/plain"] = "max_concurrent=%d" % state["max"]
        with lock:
            state["running"] = None
            state["active"] -= 1
        conn.send({"type": "result", "id": sid_, "completed": now_ms(), "output": output})

    queue = []
    cond = threading.Condition(lock)

    def worker():
        while True:
            with cond:
                while not queue:
                    cond.wait()
                msg = queue.pop(0)
            if msg is None:
                return
            run(msg)

    threading.Thread(target=worker, daemon=True).start()

    while True:
        msg = conn.recv()
        if msg is None:
            log("connection closed; exiting 3")
            return 3
        kind = msg.get("type")
        if kind == "execute":
            with cond:
                state["active"] += 1
                state["max"] = max(state["max"], state["active"])
                queue.append(msg)
                cond.notify()
        elif kind == "cancel":
            with lock:
                running = state["running"]
            if running and running[0] == msg["id"]:
                running[1].set()
        elif kind == "complete":
            conn.send({"type": "completion", "req": msg["req"],
                       "candidates": [str(msg.get("kind")), msg.get("code"), str(msg.get("cursor"))]})
        elif kind in ("add_file", "add_pyfile", "add_jar"):
            conn.send({"type": "ack", "req": msg["req"]})
        elif kind == "job":
            conn.send({"type": "job_result", "req": msg["req"],
                       "error": "Client job error:the fake driver runs no jobs"})
        elif kind == "shutdown" and mode == "late-ready":
            with lock:
                running = state["running"]
            if running:
                conn.send({"type": "result", "id": running[0], "completed": now_ms(),
                           "output": {"status": "ok", "execution_count": running[0],
                                      "data": {"text/plain": "late"}}})
            conn.send({"type": "ready", "spark_version": "0.0.0-fake", "scala_version": None,
                       "app_id": "fake-app-%d" % sid, "spark_ui_url": None})
            log("answered shutdown with result and ready")
            time.sleep(3)
            log("exiting 0 after lingering")
            sock.close()
            return 0
        elif kind == "shutdown":
            log("shutdown received; exiting 0")
            sock.close()
            return 0
        else:
            log("ignoring", kind)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
