"""sparkmagic 0.23.0's PySpark kernel on livy-rs, run headless the way Jupyter runs it: the kernel
spec is installed into a temporary Jupyter data dir (what `jupyter kernelspec install --prefix`
does), sparkmagic reads a config.json from $SPARKMAGIC_CONF_DIR that points it at the test
server, and nbclient executes one notebook against the kernel.

What sparkmagic does on the wire (sparkmagic/livyclientlib): the first Spark cell creates the
session (`POST /sessions {"kind": "pyspark", <session_configs>, "heartbeatTimeoutInSecond"}`),
polls `GET /sessions/{id}` until idle, runs a `spark`/`sc` start-up statement, then each cell is
`POST /sessions/{id}/statements {"code": ...}` polled until `available`; `%%sql` runs
`for row in spark.sql(...).toJSON().take(N): print(row)` and parses every output line as JSON.
A heartbeat thread re-reads the session while it lives, and shutting the kernel down deletes the
session (`DELETE /sessions/{id}`).

The notebook runs once (one kernel, one Livy session) in a module fixture; each test checks the
outputs of some of its cells, and afterwards that the kernel's shutdown deleted the session.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Dict, List

import nbformat
import pytest
from nbclient import NotebookClient

from session_helpers import (
    SESSION_SPARK_CONF,
    SESSION_START_TIMEOUT,
    STATEMENT_TIMEOUT,
    driver_processes,
    list_sessions,
    session_server_conf,
    wait_driver_gone,
)
from sparkmagic_kernel import KERNEL_NAME, KERNELSPEC, cell_text, kernel_env, prepare
from sparkmagic_kernel import sparkmagic_config as kernel_config

HEARTBEAT_TIMEOUT = 60
#: The cells, by name; the notebook runs them in this order.
CELLS: Dict[str, str] = {
    "count": "spark.range(100).count()",
    "sql": "%%sql\nSELECT 1 AS a",
    "sql_to_local": "%%sql -o squares -q\nSELECT id, id * id AS sq FROM range(4) ORDER BY id",
    "local_frame": "%%local\nprint('local squares:', squares['sq'].tolist())",
    "state": "total = sc.parallelize(range(10)).sum()\nprint('total=%d' % total)",
    "state_again": "print('total+1=%d' % (total + 1))",
    "error": "1 / 0",
    "after_error": "print('still alive')",
    "server_view": (
        "%%local\n"
        "import json, urllib.request\n"
        "with urllib.request.urlopen('{url}/sessions', timeout=30) as r:\n"
        "    print('server view:', json.dumps(json.load(r)['sessions']))"
    ),
}


@pytest.fixture(scope="module")
def livy_conf(work_dir):
    return session_server_conf(work_dir)


def sparkmagic_config(url: str) -> dict:
    """This suite's sparkmagic config.json (the Kerberos suite starts from it too)."""
    return kernel_config(url, session_conf=SESSION_SPARK_CONF, name=f"sparkmagic-{os.getpid()}",
                         start_timeout=SESSION_START_TIMEOUT, statement_timeout=STATEMENT_TIMEOUT,
                         heartbeat_timeout=HEARTBEAT_TIMEOUT)


class Ran:
    """The executed notebook, its cells by name, and the server's sessions seen meanwhile."""

    def __init__(self, nb, sessions_during: List[dict]):
        self.nb = nb
        self.sessions_during = sessions_during
        self.by_name = {name: nb.cells[i] for i, name in enumerate(CELLS)}

    def outputs(self, name: str) -> list:
        return self.by_name[name].get("outputs", [])

    def text(self, name: str) -> str:
        """Everything a person would see in a cell's output, as text."""
        return cell_text(self.by_name[name])

    def describe(self, name: str) -> str:
        return f"cell {name!r} outputs:\n{json.dumps(self.outputs(name), indent=1)[:4000]}"


@pytest.fixture(scope="module")
def ran(livy, tmp_path_factory) -> Ran:
    root = tmp_path_factory.mktemp("sparkmagic")
    # Jupyter, IPython and sparkmagic find everything through these, in this process (the kernel
    # spec, connection files) and in the kernel, which also gets a HOME of its own: nothing lands
    # in the real home directory.
    env = prepare(root, sparkmagic_config(livy.url))
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(code.replace("{url}", livy.url)) for code in CELLS.values()]
    nb.metadata["kernelspec"] = KERNELSPEC

    sessions_during: List[dict] = []

    def snapshot(cell, cell_index, **_):
        if list(CELLS)[cell_index] == "after_error":
            sessions_during.extend(list_sessions(livy.url))

    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        client = NotebookClient(
            nb,
            kernel_name=KERNEL_NAME,
            timeout=int(SESSION_START_TIMEOUT + STATEMENT_TIMEOUT),  # per cell; the first starts Spark
            startup_timeout=90,  # the kernel process itself
            allow_errors=True,  # the `error` cell fails on purpose; later cells still run
            shutdown_kernel="graceful",  # the kernel's do_shutdown deletes the Livy session
        )
        client.on_cell_executed = snapshot
        client.execute(env=kernel_env(root))
    return Ran(nb, sessions_during)


def test_spark_cell_counts(ran):
    text = ran.text("count")
    assert re.search(r"(^|\n)100\s*($|\n)", text), ran.describe("count")
    assert "SparkSession available as 'spark'" in text, ran.describe("count")


def test_sql_magic_shows_table(ran):
    """`%%sql SELECT 1 AS a` shows a one-row table with column `a`. This is the session's first
    `DataFrame.toJSON()`: it fails while the driver lets Spark 4's one-time toJSON UserWarning
    (stderr) into the statement output, which sparkmagic then cannot parse as JSON rows."""
    outputs = ran.outputs("sql")
    tables = [o for o in outputs if o.get("output_type") in ("execute_result", "display_data")]
    assert tables, ran.describe("sql")
    plain = tables[-1]["data"].get("text/plain", "")
    html = tables[-1]["data"].get("text/html", "")
    assert re.search(r"^\s*a\s*\n\s*0\s+1\s*$", plain), ran.describe("sql")
    assert "<th>a</th>" in html and "<td>1</td>" in html, ran.describe("sql")


def test_sql_magic_output_to_local_pandas(ran):
    assert "local squares: [0, 1, 4, 9]" in ran.text("local_frame"), ran.describe("sql_to_local") + "\n" + ran.describe(
        "local_frame"
    )
    assert not [o for o in ran.outputs("sql_to_local") if o.get("output_type") == "execute_result"], "-q prints nothing"


def test_state_persists_between_cells(ran):
    assert "total=45" in ran.text("state"), ran.describe("state")
    assert "total+1=46" in ran.text("state_again"), ran.describe("state_again")


def test_failing_cell_shows_the_python_error_and_session_survives(ran):
    text = ran.text("error")
    assert "ZeroDivisionError" in text and "division by zero" in text, ran.describe("error")
    assert "still alive" in ran.text("after_error"), ran.describe("after_error")
    assert [s["state"] for s in ran.sessions_during] == ["idle"], ran.sessions_during


def test_session_as_the_server_saw_it(ran):
    m = re.search(r"server view: (\[.*\])", ran.text("server_view"))
    assert m, ran.describe("server_view")
    (session,) = json.loads(m.group(1))
    assert session["kind"] == "pyspark"
    assert session["heartbeatTimeoutInSecond"] == HEARTBEAT_TIMEOUT
    assert session["conf"]["spark.sql.shuffle.partitions"] == "1"
    assert session["name"].startswith("sparkmagic-")


def test_kernel_shutdown_deletes_the_session(livy, ran):
    assert ran.sessions_during, "no session was seen while the notebook ran"
    session_id = ran.sessions_during[0]["id"]
    assert list_sessions(livy.url) == []
    wait_driver_gone(livy, session_id, timeout=60)
    assert not driver_processes(livy, session_id)
