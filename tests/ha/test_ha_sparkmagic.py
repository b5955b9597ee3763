"""sparkmagic (the real package, its PySpark kernel run headless by nbclient as in tests/clients)
through HAProxy in front of three servers: the kernel's first cell creates the session through
the balancer, its cells run on that one session although their requests land on every server
(non-owners forward them to the owner), and the kernel's shutdown deletes it."""

from __future__ import annotations

import os
import re
import sys

import nbformat
import pytest
from nbclient import NotebookClient

from conftest import HERE
from ha_helpers import lb_call, owner_pid
from pyharness.wait import wait_until

sys.path.insert(0, str(HERE.parent / "clients"))
from sparkmagic_kernel import KERNEL_NAME, KERNELSPEC, cell_text, kernel_env, prepare, sparkmagic_config  # noqa: E402

START_TIMEOUT = 300.0
STATEMENT_TIMEOUT = 120.0
CELLS = [
    "spark.range(100).count()",
    "x = sc.parallelize(range(10)).sum()",
    "print('x+1=%d' % (x + 1))",
    "print('x+2=%d' % (x + 2))",
]


def statement_requests(server) -> int:
    """The statement requests a server answered (its /metrics), forwarded ones included."""
    status, text, _ = server.call("GET", "/metrics", headers={"Accept": "text/plain"})
    assert status == 200, text
    return sum(int(float(line.rsplit(" ", 1)[1])) for line in text.splitlines()
               if line.startswith("livy_http_requests_total{")
               and 'route="/sessions/{id}/statements' in line)


def test_a_sparkmagic_notebook_through_the_balancer(service, tmp_path):
    name = f"ha-sparkmagic-{os.getpid()}"
    env = prepare(tmp_path, sparkmagic_config(
        service.lb.url, session_conf={}, name=name, start_timeout=START_TIMEOUT,
        statement_timeout=STATEMENT_TIMEOUT, heartbeat_timeout=60))
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(code) for code in CELLS]
    nb.metadata["kernelspec"] = KERNELSPEC
    seen = {}

    def after_first_cell(cell, cell_index, **_):
        if cell_index == 0:
            status, body, _ = lb_call(service, "GET", "/sessions?size=1000")
            mine = [s for s in body["sessions"] if s["name"] == name]
            assert status == 200 and len(mine) == 1, body
            seen["id"] = mine[0]["id"]
            seen["owner"] = owner_pid(service, "interactive", seen["id"])

    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        client = NotebookClient(nb, kernel_name=KERNEL_NAME, timeout=int(START_TIMEOUT + STATEMENT_TIMEOUT),
                                startup_timeout=90, shutdown_kernel="graceful")
        client.on_cell_executed = after_first_cell
        client.execute(env=kernel_env(tmp_path))

    texts = [cell_text(c) for c in nb.cells]
    assert re.search(r"(^|\n)100\s*($|\n)", texts[0]), texts[0]
    assert "x+1=46" in texts[2] and "x+2=47" in texts[3], texts
    sid = seen["id"]
    # Each server answered statement requests of the session; only one of them runs it.
    counts = {s.name: statement_requests(s) for s in service.servers}
    others = [s for s in service.servers if s.pid != seen["owner"]]
    assert len(others) == 2 and all(counts[s.name] > 0 for s in others), counts
    # The kernel's shutdown deleted the session, on every server.
    wait_until(lambda: all(s.call("GET", f"/sessions/{sid}")[0] == 404 for s in service.servers),
               timeout=60, what=f"session {sid} deleted")
