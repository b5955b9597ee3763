"""A real ZooKeeper server (Debian's `zookeeper` package) on loopback, in a temp dir, for tests.

    with ZooKeeper() as zk:
        zk.address      # "127.0.0.1:PORT"
        zk.stop(); zk.start()   # an outage and its end
        zk.cli("get /x")        # a second client, in ZooKeeper's own shell
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Optional

#: Debian's zookeeper jar; its manifest's Class-Path names the libraries it needs.
ZK_JAR = Path("/usr/share/java/zookeeper.jar")


def available() -> bool:
    return ZK_JAR.exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ZooKeeper:
    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="livy-rs-zk-"))
        self.port = _free_port()
        self.proc: Optional[subprocess.Popen] = None
        (self.root / "data").mkdir()
        (self.root / "zoo.cfg").write_text(
            "tickTime=500\n"
            f"dataDir={self.root / 'data'}\n"
            f"clientPort={self.port}\n"
            "clientPortAddress=127.0.0.1\n"
            "admin.enableServer=false\n"
            "4lw.commands.whitelist=ruok,srvr\n"
            "maxSessionTimeout=60000\n",
            encoding="utf-8",
        )

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _classpath(self) -> str:
        return str(ZK_JAR)

    def start(self, timeout: float = 60.0) -> "ZooKeeper":
        java = shutil.which("java") or "java"
        log = open(self.root / "zk.log", "ab")
        self.proc = subprocess.Popen(
            [java, "-Xmx256m", "-Dzookeeper.log.dir=" + str(self.root),
             "-cp", self._classpath(), "org.apache.zookeeper.server.quorum.QuorumPeerMain",
             str(self.root / "zoo.cfg")],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("ZooKeeper exited: " + (self.root / "zk.log").read_text(errors="replace")[-3000:])
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(b"ruok")
                    if s.recv(4) == b"imok":
                        return self
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("ZooKeeper did not answer ruok in time: "
                           + (self.root / "zk.log").read_text(errors="replace")[-3000:])

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None

    def cli(self, *commands: str) -> str:
        """Runs `commands` in ZooKeeper's own shell (ZooKeeperMain, what zkCli.sh runs) as a
        second, separate client with a session of its own; returns what it printed."""
        java = shutil.which("java") or "java"
        done = subprocess.run(
            [java, "-Xmx128m", "-cp", self._classpath(), "org.apache.zookeeper.ZooKeeperMain",
             "-server", self.address],
            input="\n".join([*commands, "quit"]) + "\n", capture_output=True, text=True,
            timeout=60,
        )
        return done.stdout + done.stderr

    def __enter__(self) -> "ZooKeeper":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
