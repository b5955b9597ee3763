"""Fixtures for the abuse suite: the real livy-server binary behind a fake spark-submit (a shell
script that records its command line and exits at once, so a batch costs a fork, not a JVM), a
whitelisted work directory with a symlink pointing out of it, a module-scoped server for the
input cases and a factory of fresh servers for the memory measurements.

Environment: LIVY_RS_BIN (default target/release/livy-server). No Spark is needed.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pyharness.fixtures import livy_bin  # noqa: E402,F401  (fixture)
from pyharness.livy_server import LivyServer  # noqa: E402

#: spark-submit as far as the server can tell: it records the command line (one line per launch,
#: appended atomically: O_APPEND and far below PIPE_BUF) and prints it the way `spark-submit
#: --verbose` prints its properties, so secrets in it reach the batch's /log unless redacted.
FAKE_SUBMIT = """#!/bin/sh
# fake spark-submit of tests/abuse: records its arguments, prints them, exits 0 at once
printf '%s\\n' "$*" >> '{log}'
echo "fake spark-submit: $*"
exit 0
"""


@dataclass
class Layout:
    """What the servers see on disk."""

    spark_home: Path
    #: One line per spark-submit run (its arguments).
    submits: Path
    #: livy.file.local-dir-whitelist: holds job.py, lib.jar and the symlinks below.
    work: Path
    #: Not whitelisted: holds secret.txt, which no request may reach.
    outside: Path

    @property
    def job(self) -> str:
        return str(self.work / "job.py")

    @property
    def secret(self) -> str:
        return str(self.outside / "secret.txt")

    def launches(self) -> int:
        """How many times spark-submit ran so far."""
        try:
            return len(self.submits.read_text(encoding="utf-8").splitlines())
        except FileNotFoundError:
            return 0


@pytest.fixture(scope="session")
def layout(tmp_path_factory) -> Layout:
    root = tmp_path_factory.mktemp("abuse")
    home = root / "spark"
    (home / "bin").mkdir(parents=True)
    submits = root / "submits.log"
    submit = home / "bin" / "spark-submit"
    submit.write_text(FAKE_SUBMIT.format(log=submits), encoding="utf-8")
    submit.chmod(0o755)
    work = root / "work"
    outside = root / "outside"
    work.mkdir()
    outside.mkdir()
    (work / "job.py").write_text("print('hello')\n", encoding="utf-8")
    (work / "lib.jar").write_bytes(b"PK\x05\x06" + b"\0" * 18)
    (outside / "secret.txt").write_text("not for users\n", encoding="utf-8")
    # Inside the whitelist by name, outside it on the file system.
    (work / "link.py").symlink_to(outside / "secret.txt")
    (work / "outdir").symlink_to(outside, target_is_directory=True)
    return Layout(spark_home=home, submits=submits, work=work, outside=outside)


#: Livy's shipped spark-blacklist.conf: what the conf-key cases try to get around.
BLACKLIST = ["spark.master", "spark.submit.deployMode", "spark.yarn.jar", "spark.yarn.jars"]


def base_conf(layout: Layout) -> Dict[str, object]:
    return {
        "livy.server.spark-home": str(layout.spark_home),
        "livy.spark.master": "local[1]",
        "livy.file.local-dir-whitelist": str(layout.work),
    }


@pytest.fixture
def livy_factory(livy_bin, layout) -> Callable[..., LivyServer]:
    """Fresh servers for one test (memory is measured from each server's own start); all are
    stopped afterwards. Extra livy.conf entries go in `conf`."""
    servers: List[LivyServer] = []

    def make(conf=None) -> LivyServer:
        full = base_conf(layout)
        full.update(conf or {})
        server = LivyServer(full, blacklist=BLACKLIST, binary=livy_bin, name=f"livy-abuse-{len(servers)}",
                            env={"SPARK_HOME": str(layout.spark_home)})
        servers.append(server)
        return server.start()

    yield make
    errors = []
    for server in servers:
        try:
            server.stop()
        except Exception as e:  # noqa: BLE001 - stop them all, then report
            errors.append(e)
        finally:
            server.cleanup()
    if errors:
        raise errors[0]


@pytest.fixture(scope="module")
def livy(livy_bin, layout):
    """One server per module for the cases that only look at answers."""
    server = LivyServer(base_conf(layout), blacklist=BLACKLIST, binary=livy_bin, name="livy-abuse",
                        env={"SPARK_HOME": str(layout.spark_home)})
    server.start()
    yield server
    try:
        server.stop()
    finally:
        server.cleanup()
