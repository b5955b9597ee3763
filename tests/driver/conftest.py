"""Tests of the livy-rs session driver (src/driver/python/livy_rs_driver.py).

Run them from the repository root with the project venv (scripts/setup-env creates it; add
`--spark35` to also get .venv-spark35 for the Scala 2.12 module):

    .venv/bin/python -m pytest tests/driver

They need Java and openssl. Each module starts ONE real driver (spark-submit, local[2]) behind the
fake server of fake_server.py and shares it between its tests (a module-scoped fixture), so the
whole suite costs a handful of Spark starts. Every wait polls with a deadline. Driver logs are
kept in pytest's temporary directory (printed when a start-up fails).
"""

import os
import shutil

import pytest

from fake_server import Driver

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def pytest_collection_modifyitems(config, items):
    missing = [tool for tool in ("java", "openssl") if shutil.which(tool) is None]
    if missing:
        skip = pytest.mark.skip(reason="driver tests need %s" % ", ".join(missing))
        for item in items:
            item.add_marker(skip)


def start_driver(tmp_path_factory, kind, **kwargs):
    workdir = str(tmp_path_factory.mktemp("driver-%s" % kind))
    driver = Driver(kind, workdir, **kwargs)
    try:
        driver.ready_msg = driver.wait_ready()
    except BaseException:
        driver.shutdown()
        raise
    return driver


@pytest.fixture(scope="session")
def spark35_python():
    python = os.path.join(ROOT, ".venv-spark35", "bin", "python")
    if not os.path.exists(python):
        pytest.skip(".venv-spark35 missing (run scripts/setup-env --spark35)")
    return python
