"""Active/active tests: a real ZooKeeper (Debian's `zookeeper`), three real livy-rs servers on
loopback sharing it, HAProxy (Debian's `haproxy`) in front as a round-robin load balancer, real
Spark (local master) for sessions and a shim spark-submit that runs batches as plain processes.

    cargo build --release --bin livy-server
    eval "$(scripts/setup-env --clients --ha --print-env)"
    .venv-clients/bin/python -m pytest -q tests/ha
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import List, Optional

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "sessions"))

from pyharness import zookeeper  # noqa: E402
from pyharness.fixtures import light_spark_conf, livy_bin, real_spark  # noqa: E402,F401
from pyharness.livy_server import LivyServer  # noqa: E402
from pyharness.wait import wait_until  # noqa: E402
from session_helpers import base_conf, make_spark_home  # noqa: E402

#: The ZooKeeper session timeout of the servers: how long a killed server's sessions wait.
ZK_SESSION_TIMEOUT = "3s"

BATCH_JOB = """\
import sys, time
print("batch job %s starting" % sys.argv[1], flush=True)
time.sleep(float(sys.argv[2]))
print("batch job %s done" % sys.argv[1], flush=True)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def shim_home(root: Path, real: Path, conf_dir: Path) -> Path:
    """spark-submit that runs batch_job.py as a plain process and execs the real one otherwise."""
    q = shlex.quote
    return make_spark_home(
        root / "spark",
        "#!/bin/sh\n"
        'for a in "$@"; do case "$a" in *batch_job.py)\n'
        '  shift $(($# - 3)); f=${1#file://}; shift; exec python3 "$f" "$@";; esac; done\n'
        f"export SPARK_HOME={q(str(real))}\n"
        f"export SPARK_CONF_DIR={q(str(conf_dir))}\n"
        f'exec {q(str(real))}/bin/spark-submit "$@"\n',
        real,
    )


class HAProxy:
    """Round-robin over the servers, one request per connection; answers carry the name of the
    server that served them (`X-Served-By`)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.proc: Optional[subprocess.Popen] = None

    def start(self, servers: List[LivyServer]) -> None:
        backends = "\n".join(
            f"    server s{i} 127.0.0.1:{s.port} check inter 500ms fall 2 rise 1"
            for i, s in enumerate(servers)
        )
        cfg = self.root / "haproxy.cfg"
        cfg.write_text(
            "global\n    maxconn 512\n"
            "defaults\n    mode http\n    timeout connect 2s\n    timeout client 120s\n"
            "    timeout server 120s\n    option http-server-close\n    retries 2\n"
            # A drained (or stopped) server closes its listener: a connection HAProxy had just
            # opened to it gets no answer. Production configurations retry those (as for any
            # rolling restart); without it the first request after the close is a 502.
            "    option redispatch\n    retry-on conn-failure empty-response\n"
            f"frontend livy\n    bind 127.0.0.1:{self.port}\n    default_backend servers\n"
            "backend servers\n    balance roundrobin\n"
            "    http-response set-header X-Served-By %s\n"
            f"{backends}\n",
            encoding="utf-8",
        )
        if self.proc is not None:
            self.stop()
        self.proc = subprocess.Popen(["haproxy", "-f", str(cfg)], stdout=subprocess.DEVNULL,
                                     stderr=open(self.root / "haproxy.log", "ab"),
                                     start_new_session=True)
        wait_until(lambda: self._listening(), timeout=20, what="HAProxy listening")

    def _listening(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except OSError:
            return False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=10)
        self.proc = None


class Service:
    """Three servers, their ZooKeeper and the load balancer in front."""

    def __init__(self, root: Path, binary: Path, spark_home: Path, spark_conf: Path) -> None:
        self.root = root
        self.binary = binary
        self.spark_home = spark_home
        self.spark_conf = spark_conf
        self.zk = zookeeper.ZooKeeper().start()
        self.secret = root / "ha-secret"
        self.secret.write_text(os.urandom(32).hex() + "\n", encoding="utf-8")
        self.secret.chmod(0o600)
        self.job = root / "batch_job.py"
        self.job.write_text(BATCH_JOB, encoding="utf-8")
        self.servers: List[LivyServer] = []
        #: More environment for the servers (a test module's own, e.g. where YARN is).
        self.env: dict = {}
        self.count = 0
        self.lb = HAProxy(root)

    def conf(self, **extra) -> dict:
        return base_conf(**{
            "livy.server.recovery.mode": "recovery",
            "livy.server.recovery.state-store": "zookeeper",
            "livy.server.zookeeper.url": self.zk.address,
            "livy.server.ha.mode": "active-active",
            "livy.server.ha.secret-file": str(self.secret),
            "livy.server.ha.zk-session-timeout": ZK_SESSION_TIMEOUT,
            "livy.rsc.server.idle-timeout": "120s",
            "livy.rsc.server.connect.timeout": "600s",
            "livy.file.local-dir-whitelist": str(self.root),
            **extra,
        })

    def new_server(self) -> LivyServer:
        self.count += 1
        server = LivyServer(self.conf(), binary=self.binary, name=f"livy-ha-{self.count}",
                            root=self.root / f"server-{self.count}",
                            env={"SPARK_HOME": str(self.spark_home),
                                 "SPARK_CONF_DIR": str(self.spark_conf), **self.env},
                            start_timeout=60)
        server.start()
        return server

    def start(self, n: int = 3) -> "Service":
        self.servers = [self.new_server() for _ in range(n)]
        self.lb.start(self.servers)
        return self

    def kill(self, server: LivyServer) -> None:
        """kill -9 of a server alone: what it started keeps running."""
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait(timeout=10)
        server._forget()

    def replace(self, server: LivyServer) -> LivyServer:
        """A new server in the place of one that was killed (behind the load balancer too)."""
        fresh = self.new_server()
        self.servers[self.servers.index(server)] = fresh
        self.lb.start(self.servers)
        return fresh

    def cleanup(self) -> None:
        """Deletes every session and batch (their owners stop what runs them)."""
        live = [s for s in self.servers if s.running]
        if not live:
            return
        for kind in ("sessions", "batches"):
            status, body, _ = live[0].call("GET", f"/{kind}?size=1000")
            for item in (body or {}).get("sessions", []) if status == 200 else []:
                live[0].call("DELETE", f"/{kind}/{item['id']}", timeout=60)

    def stop(self) -> None:
        self.lb.stop()
        for s in self.servers:
            try:
                if s.running:
                    s.proc.send_signal(signal.SIGKILL)
                    s.proc.wait(timeout=10)
                    s._forget()
            finally:
                s.cleanup()
        self.zk.stop()


def build_service(tmp_path_factory, name: str, livy_bin, real_spark, light_spark_conf,
                  cls=Service, **kw) -> Service:
    """A service (not started yet) of class `cls` in a fresh temp dir named after `name`."""
    if not zookeeper.available() or shutil.which("haproxy") is None:
        pytest.fail("needs Debian's zookeeper and haproxy: scripts/setup-env --ha", pytrace=False)
    root = tmp_path_factory.mktemp(name)
    real = Path(real_spark["SPARK_HOME"]) if isinstance(real_spark, dict) else Path(os.environ["SPARK_HOME"])
    return cls(root, livy_bin, shim_home(root, real, light_spark_conf), light_spark_conf, **kw)


@contextlib.contextmanager
def started_service(tmp_path_factory, livy_bin, real_spark, light_spark_conf, n: int = 3):
    """A service of `n` servers for one test module; everything stopped at the end."""
    svc = build_service(tmp_path_factory, "ha", livy_bin, real_spark, light_spark_conf)
    try:
        yield svc.start(n)
    finally:
        svc.cleanup()
        svc.stop()


@pytest.fixture(scope="module")
def service(tmp_path_factory, livy_bin, real_spark, light_spark_conf):
    with started_service(tmp_path_factory, livy_bin, real_spark, light_spark_conf) as svc:
        yield svc
