"""Helpers of the interactive-session tests (tests/sessions): servers, fake Spark homes, REST
calls, waits with deadlines, process lookups and a driver-channel client. Fixtures are in
conftest.py. Standard library only.
"""

from __future__ import annotations

import json
import re
import shlex
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pyharness.livy_server import LivyServer, default_binary, repo_root  # noqa: E402
from pyharness.procs import Proc, all_processes, descendants  # noqa: E402
from pyharness.wait import wait_until  # noqa: E402,F401  (re-exported for the test modules)

ROOT = repo_root()

#: Livy 0.9's SessionInfo (client-common HttpMessages.SessionInfo), field for field.
SESSION_INFO_FIELDS = {
    "id", "name", "appId", "owner", "proxyUser", "state", "kind", "appInfo", "log", "ttl",
    "idleTimeout", "driverMemory", "driverCores", "executorMemory", "executorCores", "conf",
    "archives", "files", "heartbeatTimeoutInSecond", "jars", "numExecutors", "pyFiles", "queue",
}
#: Livy's statement view.
STATEMENT_FIELDS = {"id", "code", "state", "output", "progress", "started", "completed"}

FINISHED = {"dead", "error", "killed", "success"}

#: Set when the test run ends: background session starts stop waiting.
ABORT = threading.Event()

#: How long a real Spark session may take to start on a loaded 2-core machine.
SPARK_START_TIMEOUT = 240.0
#: ... and a `spark` (Scala) session, which also starts the Scala interpreter before `idle`.
SCALA_START_TIMEOUT = 360.0


# --------------------------------------------------------------------------- environment


def python_spark_home(python: Path) -> Path:
    out = subprocess.run(
        [str(python), "-c", "import os, pyspark; print(os.path.dirname(pyspark.__file__))"],
        capture_output=True, text=True, timeout=120,
    )
    if out.returncode != 0:
        raise AssertionError(f"{python} cannot import pyspark: {out.stderr}")
    return Path(out.stdout.strip())


def base_conf(**extra) -> Dict[str, object]:
    """livy.conf of every test server: local Spark, the driver channel on 127.0.0.1 and an
    OS-chosen port (`0~0`), so servers running in parallel never collide."""
    conf: Dict[str, object] = {
        "livy.spark.master": "local[1]",
        "livy.rsc.launcher.address": "127.0.0.1",
        "livy.rsc.launcher.port.range": "0~0",
    }
    conf.update(extra)
    return conf


def start_server(conf, name, **kw) -> LivyServer:
    server = LivyServer(conf, binary=default_binary(), name=name, **kw)
    server.start()
    return server


def stop_server(server: LivyServer) -> None:
    try:
        server.stop()
    finally:
        server.cleanup()


class Started:
    """A server with one session, started (in the background) for one test module."""

    def __init__(self, livy: LivyServer, view: dict, early: object = None):
        self.livy = livy
        self.view = view
        self.sid: int = view["id"]
        self.early = early


def start_with_session(
    name: str,
    conf: Dict[str, object],
    body: dict,
    timeout: float,
    env: Optional[Dict[str, str]] = None,
    early=None,
) -> Started:
    """Starts a server, creates a session, runs `early(livy, view)` at once (while the session
    starts; its result is kept as `Started.early`), then waits until the session is idle. The
    server is stopped if anything fails."""
    livy = start_server(conf, name, env=env)
    try:
        view = create_session(livy, body)
        rec = early(livy, view) if early is not None else None
        wait_session_state(livy, view["id"], {"idle"}, timeout, f"({name}: session start)")
        return Started(livy, view, rec)
    except BaseException:
        stop_server(livy)
        raise


def spark35_paths() -> Tuple[Path, Path]:
    """(SPARK_HOME, python) of pyspark 3.5.x (Scala 2.12) from .venv-spark35."""
    python = ROOT / ".venv-spark35" / "bin" / "python"
    if not python.exists():
        raise AssertionError(".venv-spark35 is missing: run `scripts/setup-env --spark35`")
    return python_spark_home(python), python


# --------------------------------------------------------------------------- fake Spark homes


def make_spark_home(root: Path, script: str, real_home: Optional[Path] = None) -> Path:
    """A SPARK_HOME whose bin/spark-submit is `script` (jars/ links to the real home's, so the
    server still detects the Spark version)."""
    (root / "bin").mkdir(parents=True, exist_ok=True)
    submit = root / "bin" / "spark-submit"
    submit.write_text(script, encoding="utf-8")
    submit.chmod(0o755)
    if real_home is not None and not (root / "jars").exists():
        (root / "jars").symlink_to(real_home / "jars")
    return root


def delayed_spark_home(root: Path, real_home: Path, delay: float) -> Path:
    """A SPARK_HOME whose spark-submit waits `delay` seconds, then runs the real one (same
    process: exec). Gives tests a deterministic window in which the session is `starting` and
    its driver has not connected yet."""
    real = shlex.quote(str(real_home))
    return make_spark_home(
        root,
        "#!/bin/sh\n"
        f"sleep {delay}\n"
        f"export SPARK_HOME={real}\n"
        f"export SPARK_CONF_DIR={shlex.quote(str(real_home / 'conf'))}\n"
        f"exec {real}/bin/spark-submit \"$@\"\n",
        real_home,
    )


# --------------------------------------------------------------------------- REST helpers


class RestError(AssertionError):
    pass


def header(headers: Dict[str, str], name: str) -> Optional[str]:
    for k, v in headers.items():
        if k.lower() == name.lower():
            return v
    return None


def create_session(livy: LivyServer, body: Optional[dict] = None) -> dict:
    status, view, headers = livy.call("POST", "/sessions", body if body is not None else {})
    if status != 201:
        raise RestError(f"POST /sessions {body!r} -> {status} {view!r}")
    assert header(headers, "Location") == f"/sessions/{view['id']}", headers
    return view


def session_view(livy: LivyServer, sid: int) -> dict:
    status, view, _ = livy.call("GET", f"/sessions/{sid}")
    if status != 200:
        raise RestError(f"GET /sessions/{sid} -> {status} {view!r}")
    return view


def session_log(livy: LivyServer, sid: int) -> List[str]:
    status, body, _ = livy.call("GET", f"/sessions/{sid}/log?size=400")
    return body.get("log", []) if status == 200 and isinstance(body, dict) else [f"<{status} {body}>"]


def wait_session_state(
    livy: LivyServer, sid: int, want: Iterable[str], timeout: float, what: str = ""
) -> dict:
    """Polls GET /sessions/{id} until its state is in `want`; fails at once (with the session's
    log) if it ends in another finished state."""
    want = set(want)
    deadline = time.monotonic() + timeout
    while True:
        view = session_view(livy, sid)
        if view["state"] in want:
            return view
        if view["state"] in FINISHED:
            raise AssertionError(
                f"session {sid} is {view['state']}, expected {sorted(want)} {what}; log:\n"
                + "\n".join(session_log(livy, sid)[-60:])
            )
        if ABORT.is_set():
            raise AssertionError(f"session {sid}: the test run ended")
        if time.monotonic() > deadline:
            raise AssertionError(
                f"session {sid} still {view['state']} after {timeout:.0f}s, expected "
                f"{sorted(want)} {what}; log:\n" + "\n".join(session_log(livy, sid)[-60:])
            )
        time.sleep(0.5)


def post_statement(livy: LivyServer, sid: int, code: str, kind: Optional[str] = None) -> dict:
    body = {"code": code}
    if kind is not None:
        body["kind"] = kind
    status, st, headers = livy.call("POST", f"/sessions/{sid}/statements", body)
    if status != 201:
        raise RestError(f"POST statement {body!r} -> {status} {st!r}")
    assert header(headers, "Location") == f"/sessions/{sid}/statements/{st['id']}", headers
    return st


def wait_statement(livy: LivyServer, sid: int, stid: int, timeout: float = 120.0) -> dict:
    """Long-polls the statement until it is available or cancelled."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        wait = max(1, min(30, int(left)))
        status, st, _ = livy.call(
            "GET", f"/sessions/{sid}/statements/{stid}?wait={wait}", timeout=wait + 60
        )
        if status != 200:
            raise RestError(f"GET statement {sid}/{stid} -> {status} {st!r}")
        if st["state"] in ("available", "cancelled"):
            return st
        if time.monotonic() > deadline:
            raise AssertionError(
                f"statement {sid}/{stid} still {st['state']} after {timeout:.0f}s: {st!r}; "
                f"session log:\n" + "\n".join(session_log(livy, sid)[-40:])
            )


def run(livy: LivyServer, sid: int, code: str, kind: Optional[str] = None,
        timeout: float = 120.0) -> dict:
    """Runs a statement and returns its finished view."""
    st = post_statement(livy, sid, code, kind)
    return wait_statement(livy, sid, st["id"], timeout)


def ok_text(st: dict) -> str:
    """The text/plain of a successful statement (fails with the whole output otherwise)."""
    out = st.get("output") or {}
    assert st["state"] == "available" and out.get("status") == "ok", json.dumps(st)[:3000]
    assert out["execution_count"] == st["id"], st
    return out["data"]["text/plain"]


def error_output(st: dict) -> dict:
    out = st.get("output") or {}
    assert st["state"] == "available" and out.get("status") == "error", json.dumps(st)[:3000]
    assert out["execution_count"] == st["id"], st
    assert set(out) == {"status", "execution_count", "ename", "evalue", "traceback"}, out
    assert isinstance(out["traceback"], list), out
    return out


# --------------------------------------------------------------------------- processes


def session_processes(livy: LivyServer, sid: int) -> List[Proc]:
    """The processes the server started for session `sid` (its command lines carry the
    session's run dir `.../session-<id>-<random>/config.json`)."""
    needle = re.compile(rf"/session-{sid}-[0-9a-f]+/config\.json")
    return [p for p in descendants(livy.pid) if needle.search(p.cmdline)]


def config_needle(procs: List[Proc]) -> str:
    """The session's config path, unique on this machine: finds its processes even after they
    were re-parented."""
    for p in procs:
        m = re.search(r"\S*/session-\d+-[0-9a-f]+/config\.json", p.cmdline)
        if m:
            return m.group(0)
    raise AssertionError(f"no config.json path in {procs}")


def alive(procs: List[Proc], needle: str) -> List[Proc]:
    """Those of `procs` still running, plus any live process mentioning `needle`."""
    live = {p.pid: p for p in all_processes() if needle in p.cmdline}
    for p in procs:
        try:
            cmd = Path(f"/proc/{p.pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(
                "utf-8", "replace").strip()
            state = Path(f"/proc/{p.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if state != "Z" and cmd == p.cmdline:
            live[p.pid] = p
    return list(live.values())


def wait_gone(procs: List[Proc], needle: str, timeout: float, what: str) -> None:
    wait_until(lambda: not alive(procs, needle), timeout, what, interval=0.25)


# --------------------------------------------------------------------------- driver channel


def frame(obj: dict) -> bytes:
    data = json.dumps(obj).encode()
    return struct.pack(">I", len(data)) + data


def read_frame(sock) -> Optional[dict]:
    """One frame, or None at EOF (a connection reset or TLS error counts as EOF)."""

    def exactly(n: int) -> Optional[bytes]:
        buf = b""
        while len(buf) < n:
            try:
                chunk = sock.recv(n - len(buf))
            except (ssl.SSLError, ConnectionError, OSError):
                return None
            if not chunk:
                return None
            buf += chunk
        return buf

    head = exactly(4)
    if head is None:
        return None
    body = exactly(struct.unpack(">I", head)[0])
    return None if body is None else json.loads(body)


def channel_client(address: str, timeout: float = 15.0):
    host, _, port = address.rpartition(":")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    raw = socket.create_connection((host.strip("[]"), int(port)), timeout=timeout)
    return ctx.wrap_socket(raw)
