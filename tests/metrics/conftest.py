"""Fixtures for the /metrics and JSON-log suite: the real livy-server with real Spark sessions
(test_scrape.py, test_json_logs.py share one server), and one with LDAP authentication and
access control for who may scrape (test_access.py).

    cargo build --release --bin livy-server
    eval "$(scripts/setup-env --clients --security --metrics --print-env)"
    .venv-clients/bin/python -m pytest -q tests/metrics

promtool comes from Debian's prometheus (scripts/setup-env --metrics), slapd from --security.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "sessions"))

from pyharness.fixtures import light_spark_conf, livy_bin, spark_home  # noqa: E402,F401  (fixtures)
from pyharness.livy_server import LivyServer, serving  # noqa: E402
from session_helpers import (  # noqa: E402
    base_conf,
    create_session,
    wait_session_state,
)

#: Sessions the Spark server runs (each a local[1] pyspark driver).
SESSIONS = 2
SPARK_START_TIMEOUT = 240.0


@pytest.fixture(scope="session")
def promtool() -> str:
    path = shutil.which("promtool")
    if not path:
        pytest.fail("promtool is missing: run scripts/setup-env --metrics", pytrace=False)
    return path


@pytest.fixture(scope="session")
def spark_livy(livy_bin, spark_home, tmp_path_factory, light_spark_conf):
    """One server with JSON logs and SESSIONS idle pyspark sessions; yields (server, ids)."""
    spark_conf = light_spark_conf
    server = LivyServer(
        base_conf(**{"livy.server.log.format": "json"}),
        binary=livy_bin,
        env={"SPARK_CONF_DIR": str(spark_conf)},
        name="livy-metrics",
    )
    running = serving(server)
    live = next(running)
    try:
        ids = [create_session(live, {"kind": "pyspark"})["id"] for _ in range(SESSIONS)]
        for sid in ids:
            wait_session_state(live, sid, {"idle"}, SPARK_START_TIMEOUT, "(metrics suite)")
        yield live, ids
    finally:
        running.close()  # stops the server and removes its files


def scrape(livy: LivyServer, headers: Dict[str, str] = None) -> str:
    status, body, hdrs = livy.call("GET", "/metrics", headers={"Accept": "text/plain", **(headers or {})})
    assert status == 200, (status, body)
    ctype = {k.lower(): v for k, v in hdrs.items()}["content-type"]
    assert ctype.startswith("text/plain; version=0.0.4"), ctype
    assert isinstance(body, str), body
    return body


_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[^"}]|"(?:[^"\\]|\\.)*")*\})? (\S+)$')


def samples(text: str) -> Dict[Tuple[str, str], float]:
    """{(name, labels): value} of every sample line."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        assert m, f"not a sample line: {line!r}"
        out[(m.group(1), m.group(2) or "")] = float(m.group(3))
    return out


def value(text: str, name: str, **labels: str) -> float:
    """The sum of `name`'s samples whose labels include `labels` (0 when there is none)."""
    total = 0.0
    for (n, lbl), v in samples(text).items():
        if n == name and all(f'{k}="{val}"' in lbl for k, val in labels.items()):
            total += v
    return total


def promtool_check(promtool: str, text: str) -> None:
    out = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, f"promtool: {out.stdout}{out.stderr}\n--- scrape:\n{text[:4000]}"


def in_threads(jobs: List) -> List:
    """Runs the callables at once; returns their results, raising the first failure."""
    results: List = [None] * len(jobs)
    errors: List[BaseException] = []

    def run(i, job):
        try:
            results[i] = job()
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i, j)) for i, j in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    if errors:
        raise errors[0]
    return results
