"""Runs the real livy-rs server binary for black-box tests.

    from pyharness.livy_server import LivyServer

    with LivyServer({"livy.file.local-dir-whitelist": str(tmp)}, blacklist=["spark.master"]) as livy:
        requests.get(livy.url + "/batches")
        ...
        assert "creating batch" in livy.log_text()

Each server gets its own temporary root holding `conf/` (livy.conf, spark-blacklist.conf and any
extra files), `logs/` (LIVY_LOG_DIR) and `pid/` (LIVY_PID_DIR). It listens on 127.0.0.1 and an
ephemeral port (`livy.server.port=0`); the real address is read from the startup line
`... livy-rs listening address=HOST:PORT ...` the server logs on stderr. Start fails (with the
captured output) if the server exits first or the line does not appear before a deadline.

Standard library only: the suites of every venv import this.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional, Tuple, Union

from .procs import descendants

ConfValue = Union[str, int, float, bool, os.PathLike, None]

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# Text lines say `address=HOST:PORT`; with livy.server.log.format=json, `"address":"HOST:PORT"`.
_LISTENING = re.compile(r"livy-rs listening\b.*?\baddress(?:=|\":\")([^\s\",]+)")
#: The scheme in the startup line's `url=https://...` field (https when TLS is on).
_SCHEME = re.compile(r"\burl(?:=\"?|\":\")(https?)://")

#: Servers started by this process and not yet stopped; killed at interpreter exit so an aborted
#: test run leaves no server (and no Spark driver) behind.
_LIVE: "set[LivyServer]" = set()
_LIVE_LOCK = threading.Lock()


def repo_root() -> Path:
    """The livy-rs checkout this harness lives in (tests/pyharness/ -> ../..)."""
    return Path(__file__).resolve().parents[2]


def default_binary() -> Path:
    """$LIVY_RS_BIN, else target/release/livy-server of this checkout."""
    env = os.environ.get("LIVY_RS_BIN")
    return Path(env) if env else repo_root() / "target" / "release" / "livy-server"


class LivyServerError(RuntimeError):
    """The server could not be started or stopped as asked; the message carries its output."""


def _prop_escape(text: str, is_key: bool) -> str:
    """Escapes text for a Java .properties file."""
    out = []
    for i, ch in enumerate(text):
        if ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ch in "=:#!" and is_key:
            out.append("\\" + ch)
        elif ch == " " and (is_key or i == 0):
            out.append("\\ ")
        else:
            out.append(ch)
    return "".join(out)


def _conf_str(value: ConfValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return str(value)


def write_properties(path: Path, props: Mapping[str, ConfValue]) -> None:
    """Writes a Java properties file (keys with a None value are left out)."""
    lines = [
        f"{_prop_escape(k, True)}={_prop_escape(_conf_str(v), False)}"
        for k, v in props.items()
        if v is not None
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


class LivyServer:
    """One livy-rs server process.

    conf:        livy.conf entries, on top of `livy.server.host=127.0.0.1` and
                 `livy.server.port=0` (a value of None removes a key, including those two).
    blacklist:   lines of spark-blacklist.conf (keys users may not set); None writes no file.
    conf_files:  extra files for the conf dir, name -> text (livy-env.sh, core-site.xml, ...).
    env:         environment changes for the server (value None unsets a variable). The server
                 inherits this process's environment otherwise (SPARK_HOME, PYSPARK_PYTHON, ...).
    binary:      the livy-server binary (default: $LIVY_RS_BIN or target/release/livy-server).
    args:        command line after the binary (default ["run"]).
    root:        directory to hold conf/, logs/ and pid/ (default: a new temporary directory,
                 removed on stop unless LIVY_RS_TEST_KEEP=1).
    """

    def __init__(
        self,
        conf: Optional[Mapping[str, ConfValue]] = None,
        blacklist: Optional[Iterable[str]] = None,
        *,
        conf_files: Optional[Mapping[str, str]] = None,
        env: Optional[Mapping[str, Optional[str]]] = None,
        binary: Union[str, os.PathLike, None] = None,
        args: Optional[List[str]] = None,
        root: Union[str, os.PathLike, None] = None,
        start_timeout: float = 30.0,
        name: str = "livy-rs",
    ) -> None:
        self.conf: Dict[str, ConfValue] = {"livy.server.host": "127.0.0.1", "livy.server.port": 0}
        self.conf.update(conf or {})
        self.blacklist = list(blacklist) if blacklist is not None else None
        self.conf_files = dict(conf_files or {})
        self.env_changes = dict(env or {})
        self.binary = Path(binary) if binary is not None else default_binary()
        self.args = list(args) if args is not None else ["run"]
        self.start_timeout = start_timeout
        self.name = name
        self._own_root = root is None
        self.root = Path(root) if root is not None else Path(tempfile.mkdtemp(prefix="livy-rs-test-"))
        self.conf_dir = self.root / "conf"
        self.log_dir = self.root / "logs"
        self.pid_dir = self.root / "pid"

        self.proc: Optional[subprocess.Popen] = None
        self.host: Optional[str] = None
        self.port: Optional[int] = None
        self.scheme = "http"
        self._lines: List[str] = []
        self._cond = threading.Condition()
        self._reader: Optional[threading.Thread] = None
        self._eof = False

    # ---------------------------------------------------------------- lifecycle

    def write_conf(self) -> None:
        """(Re)writes the conf dir from `conf`, `blacklist` and `conf_files`."""
        for d in (self.conf_dir, self.log_dir, self.pid_dir):
            d.mkdir(parents=True, exist_ok=True)
        write_properties(self.conf_dir / "livy.conf", self.conf)
        bl = self.conf_dir / "spark-blacklist.conf"
        if self.blacklist is not None:
            bl.write_text("".join(f"{line}\n" for line in self.blacklist), encoding="utf-8")
        elif bl.exists():
            bl.unlink()
        for fname, text in self.conf_files.items():
            (self.conf_dir / fname).write_text(text, encoding="utf-8")

    def _env(self) -> Dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "LIVY_CONF_DIR": str(self.conf_dir),
                "LIVY_LOG_DIR": str(self.log_dir),
                "LIVY_PID_DIR": str(self.pid_dir),
                "NO_COLOR": "1",
            }
        )
        env.setdefault("LIVY_LOG", "info")
        for k, v in self.env_changes.items():
            if v is None:
                env.pop(k, None)
            else:
                env[k] = v
        return env

    def start(self) -> "LivyServer":
        """Starts the server and waits until it listens. Can be called again after stop()."""
        if self.running:
            raise LivyServerError(f"{self.name} is already running (pid {self.proc.pid})")
        if not (self.binary.is_file() and os.access(self.binary, os.X_OK)):
            raise LivyServerError(
                f"livy-server binary {self.binary} not found or not executable; build it with "
                "`cargo build --release --bin livy-server` or set LIVY_RS_BIN"
            )
        self.write_conf()
        with self._cond:
            self._lines = []
            self._eof = False
        self.host = self.port = None
        self.proc = subprocess.Popen(
            [str(self.binary), *self.args],
            env=self._env(),
            cwd=str(self.root),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C reaches pytest, whose teardown stops the server
        )
        with _LIVE_LOCK:
            _LIVE.add(self)
        self._reader = threading.Thread(
            target=self._read_output, args=(self.proc,), name=f"{self.name}-output", daemon=True
        )
        self._reader.start()

        deadline = time.monotonic() + self.start_timeout
        with self._cond:
            while True:
                m = next((m for m in map(_LISTENING.search, self._lines) if m), None)
                if m:
                    break
                if self._eof:
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(min(left, 0.5))
        if m is None:
            if self._eof:
                rc = self.proc.wait(timeout=10)
                self._forget()
                raise LivyServerError(
                    f"{self.name} exited with code {rc} before listening; output:\n{self.log_text()}"
                )
            self._kill_hard()
            raise LivyServerError(
                f"{self.name} did not log 'livy-rs listening address=...' within "
                f"{self.start_timeout:.0f}s; output:\n{self.log_text()}"
            )
        host, _, port = m.group(1).strip('"').rpartition(":")
        host = host.strip("[]")
        self.host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        self.port = int(port)
        scheme = _SCHEME.search(m.string)
        self.scheme = scheme.group(1) if scheme else "http"
        return self

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM, then waits up to `timeout` for the exit and returns the exit code. If the
        server does not exit in time it is killed (with whatever it started) and
        LivyServerError is raised. Stopping a stopped server returns its exit code again."""
        if self.proc is None:
            raise LivyServerError(f"{self.name} was never started")
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self._kill_hard()
                raise LivyServerError(
                    f"{self.name} did not exit within {timeout:.0f}s of SIGTERM and was killed; "
                    f"output:\n{self.log_text()}"
                )
        self._forget()
        return self.proc.returncode

    def kill(self) -> None:
        """SIGKILL the server and everything it started (for crash tests and emergencies)."""
        if self.proc is not None and self.proc.poll() is None:
            self._kill_hard()
        self._forget()

    def _kill_hard(self) -> None:
        assert self.proc is not None
        tree = [p.pid for p in descendants(self.proc.pid)]
        for pid in [self.proc.pid, *tree]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        self._forget()

    def _forget(self) -> None:
        if self._reader is not None:
            self._reader.join(timeout=5)
        with _LIVE_LOCK:
            _LIVE.discard(self)

    def cleanup(self) -> None:
        """Removes the temporary root (only one this object created)."""
        if self._own_root and not os.environ.get("LIVY_RS_TEST_KEEP"):
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "LivyServer":
        if not self.running:
            self.start()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            self.stop()
        except LivyServerError:
            if exc_type is None:
                raise
        finally:
            self.cleanup()

    # ---------------------------------------------------------------- state

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> Optional[int]:
        return self.proc.pid if self.proc is not None else None

    @property
    def returncode(self) -> Optional[int]:
        return self.proc.poll() if self.proc is not None else None

    @property
    def url(self) -> str:
        if self.port is None:
            raise LivyServerError(f"{self.name} is not listening")
        host = f"[{self.host}]" if self.host and ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    # ---------------------------------------------------------------- output

    def _read_output(self, proc: subprocess.Popen) -> None:
        assert proc.stdout is not None
        out_file = self.log_dir / "server-output.txt"
        with open(out_file, "ab") as copy:
            for raw in iter(proc.stdout.readline, b""):
                copy.write(raw)
                copy.flush()
                line = _ANSI.sub("", raw.decode("utf-8", "replace")).rstrip("\r\n")
                with self._cond:
                    self._lines.append(line)
                    self._cond.notify_all()
        proc.stdout.close()
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    def log_lines(self) -> List[str]:
        """Everything the server printed (stdout and stderr) so far, ANSI colours removed."""
        with self._cond:
            return list(self._lines)

    def log_text(self) -> str:
        return "\n".join(self.log_lines())

    def wait_for_log(self, pattern: str, timeout: float = 30.0) -> "re.Match[str]":
        """Waits until a line of the server's output matches the regex `pattern`."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        seen = 0
        with self._cond:
            while True:
                for line in self._lines[seen:]:
                    m = rx.search(line)
                    if m:
                        return m
                seen = len(self._lines)
                left = deadline - time.monotonic()
                if left <= 0 or self._eof:
                    break
                self._cond.wait(min(left, 0.5))
        raise AssertionError(
            f"{self.name} output has no line matching {pattern!r} after {timeout:.0f}s; output:\n"
            + "\n".join(self.log_lines()[-60:])
        )

    # ---------------------------------------------------------------- HTTP (stdlib)

    def call(
        self,
        method: str,
        path: str,
        body: object = None,
        headers: Optional[Mapping[str, str]] = None,
        timeout: float = 60.0,
    ) -> Tuple[int, object, Dict[str, str]]:
        """One HTTP request with the standard library: returns (status, JSON body or text,
        headers). `body` is sent as JSON unless it is str/bytes (sent as is)."""
        data: Optional[bytes]
        hdrs = {"Accept": "application/json"}
        if body is None:
            data = None
        elif isinstance(body, (bytes, str)):
            data = body.encode() if isinstance(body, str) else body
            hdrs["Content-Type"] = "application/json"
        else:
            data = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        hdrs.update(headers or {})
        req = urllib.request.Request(self.url + path, data=data, headers=hdrs, method=method)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                status, raw, rh = resp.status, resp.read(), dict(resp.headers)
        except urllib.error.HTTPError as e:
            status, raw, rh = e.code, e.read(), dict(e.headers)
        text = raw.decode("utf-8", "replace")
        try:
            parsed: object = json.loads(text) if text else None
        except ValueError:
            parsed = text
        return status, parsed, rh

    def __repr__(self) -> str:
        state = f"pid {self.pid}, {self.url}" if self.running and self.port else "stopped"
        return f"<LivyServer {self.name} ({state}) root={self.root}>"


def serving(server: "LivyServer"):
    """For a pytest fixture: `yield from serving(LivyServer(...))` starts the server, hands it
    to the tests, then stops it and removes its files whatever happened."""
    server.start()
    try:
        yield server
    finally:
        try:
            server.stop()
        finally:
            server.cleanup()


@atexit.register
def _kill_leftovers() -> None:
    with _LIVE_LOCK:
        live = list(_LIVE)
    for server in live:
        try:
            server.stop(timeout=20)
        except Exception:  # noqa: BLE001 - best effort at exit
            try:
                server.kill()
            except Exception:  # noqa: BLE001
                pass
