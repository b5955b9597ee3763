"""Black-box tests of interactive sessions at the REST level: the real livy-rs binary, real
spark-submit, the real driver (src/driver/python/livy_rs_driver.py).

    cargo build --release --bin livy-server
    eval "$(scripts/setup-env --clients --spark35 --print-env)"
    .venv-clients/bin/python -m pytest -q tests/sessions

Each module that needs Spark has ONE server with ONE session and runs all its statements on it.
Such a module defines `start_module(ctx) -> Started` (session_helpers.start_with_session); the
`prestart` fixture runs those of the selected modules in the background, at most
`PRESTART_WORKERS` at a time and in test order, so a module's Spark start overlaps the tests of
the modules before it; the module's tests then get its server and session through the
module-scoped fixtures `started`, `livy` and `sid` below (the server stops after the module):

    def start_module(ctx):
        return start_with_session("livy-x", base_conf(), {"kind": "sql"}, SPARK_START_TIMEOUT)

The lifecycle and request modules use a fake `spark-submit` that never calls back and cost no
Spark at all. Every wait polls with a deadline; statement results are awaited with the long-poll extension `GET /sessions/{id}/statements/{sid}?wait=N`.
"""

from __future__ import annotations

import os
import shlex
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from typing import Dict

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from session_helpers import (  # noqa: E402
    ABORT,
    ROOT,
    Started,
    default_binary,
    make_spark_home,
    python_spark_home,
    stop_server,
)

#: Spark sessions starting at the same time (the machine has 2 cores, shared with others).
PRESTART_WORKERS = 2


@pytest.fixture(scope="session")
def livy_bin() -> Path:
    path = default_binary()
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(
            f"livy-server binary {path} is missing: run `cargo build --release --bin livy-server` "
            "or set LIVY_RS_BIN",
            pytrace=False,
        )
    return path


@pytest.fixture(scope="session")
def spark_home(livy_bin) -> Path:
    """SPARK_HOME of pyspark 4.3.0 (Scala 2.13): $SPARK_HOME, else the project's .venv. Exported
    with PYSPARK_PYTHON so the servers started by the tests inherit both."""
    home = os.environ.get("SPARK_HOME")
    venv_python = ROOT / ".venv" / "bin" / "python"
    if not home and venv_python.exists():
        home = str(python_spark_home(venv_python))
        os.environ["SPARK_HOME"] = home
    if not home or not (Path(home) / "bin" / "spark-submit").is_file():
        pytest.fail(
            f"SPARK_HOME ({home!r}) has no bin/spark-submit; run "
            '`eval "$(scripts/setup-env --clients --spark35 --print-env)"` first',
            pytrace=False,
        )
    if not os.environ.get("PYSPARK_PYTHON") and venv_python.exists():
        os.environ["PYSPARK_PYTHON"] = str(venv_python)
    return Path(home)


@pytest.fixture(scope="session")
def sleeping_spark_home(tmp_path_factory, livy_bin) -> Path:
    """A SPARK_HOME whose spark-submit starts, never calls back, and sleeps until killed: one
    Python process whose command line holds spark-submit's arguments (so tests can find it)."""
    root = tmp_path_factory.mktemp("spark-home-sleeping")
    return make_spark_home(
        root,
        f"#!{sys.executable}\n"
        "# fake spark-submit: never connects back to livy-rs\n"
        "import sys, time\n"
        "print('fake spark-submit started', flush=True)\n"
        "print('fake spark-submit: not calling back', file=sys.stderr, flush=True)\n"
        "time.sleep(3600)\n",
    )


@pytest.fixture(scope="session")
def fake_driver_spark_home(tmp_path_factory, livy_bin) -> Path:
    """A SPARK_HOME whose spark-submit is fake_driver.py: a driver without Spark."""
    root = tmp_path_factory.mktemp("spark-home-fake-driver")
    driver = Path(__file__).resolve().parent / "fake_driver.py"
    script = f"#!/bin/sh\nexec {shlex.quote(sys.executable)} {shlex.quote(str(driver))} \"$@\"\n"
    return make_spark_home(root, script)


class Prestarter:
    """Runs the `start_module` of each selected Spark module in a small thread pool."""

    def __init__(self, ctx, modules):
        self.pool = ThreadPoolExecutor(PRESTART_WORKERS, thread_name_prefix="prestart")
        self.futures: Dict[str, Future] = {}
        for module in modules:
            self.futures[module.__name__] = self.pool.submit(module.start_module, ctx)

    def take(self, module_name: str) -> Started:
        future = self.futures.get(module_name)
        if future is None:
            raise AssertionError(f"{module_name} was not prestarted")
        return future.result()

    def close(self) -> None:
        ABORT.set()  # a start still waiting for its session gives up
        self.pool.shutdown(wait=True, cancel_futures=True)
        for future in self.futures.values():
            if future.done() and not future.cancelled() and future.exception() is None:
                stop_server(future.result().livy)  # no-op for servers already stopped


@pytest.fixture(scope="session", autouse=True)
def prestart(request, spark_home, tmp_path_factory):
    modules = []
    for item in request.session.items:
        module = getattr(item, "module", None)
        if module is not None and hasattr(module, "start_module") and module not in modules:
            modules.append(module)
    # The pool's threads call mktemp at once: make the base temp dir here first, since its
    # creation (and pytest's pruning of old ones) is not safe to race.
    tmp_path_factory.getbasetemp()
    ctx = SimpleNamespace(spark_home=spark_home, tmp_path_factory=tmp_path_factory)
    starter = Prestarter(ctx, modules)
    yield starter
    starter.close()


@pytest.fixture(scope="module")
def started(request, prestart):
    """The server and session the module's `start_module` started; stopped after the module."""
    s = prestart.take(request.module.__name__)
    yield s
    stop_server(s.livy)


@pytest.fixture(scope="module")
def livy(started):
    return started.livy


@pytest.fixture(scope="module")
def sid(started):
    return started.sid
