"""sparkmagic's PySpark kernel takes a warm-pool driver: the server keeps one pyspark driver of a
profile whose Spark conf is what sparkmagic's session_configs ask for (spark.ui.enabled,
spark.default.parallelism: static settings, so a profile must have them), except
spark.sql.shuffle.partitions, which the pooled driver sets at runtime. The notebook's first Spark
cell creates the session; it gets the pooled driver (the server says so, and the session's id is
the pooled driver's), and the shuffle setting is in force."""

from __future__ import annotations

import os
import re

import nbformat
import pytest
from nbclient import NotebookClient

from session_helpers import SESSION_SPARK_CONF, SESSION_START_TIMEOUT, STATEMENT_TIMEOUT, session_server_conf
from sparkmagic_kernel import KERNEL_NAME, KERNELSPEC, cell_text, kernel_env, prepare, sparkmagic_config
from pyharness.wait import wait_until

PROFILE = "livy.server.session.pool.profile.notebooks"
RUNTIME = "spark.sql.shuffle.partitions"


@pytest.fixture(scope="module")
def livy_conf(work_dir):
    conf = session_server_conf(work_dir)
    conf.update({f"{PROFILE}.size": 1, f"{PROFILE}.kind": "pyspark"})
    for key, value in SESSION_SPARK_CONF.items():
        if key != RUNTIME:
            conf[f"{PROFILE}.conf.{key}"] = value
    return conf


def pooled_ready(livy):
    """The ids of the pooled drivers that became ready (a list: id 0 is a valid one)."""
    return [int(i) for i in re.findall(r"pooled driver ready pooled_id=(\d+)", livy.log_text())]


def test_a_sparkmagic_session_takes_a_pooled_driver(livy, tmp_path):
    (pooled,) = wait_until(lambda: pooled_ready(livy), SESSION_START_TIMEOUT, "the pooled driver to be ready",
                           interval=0.5)
    config = sparkmagic_config(livy.url, session_conf=SESSION_SPARK_CONF, name=f"sparkmagic-pool-{os.getpid()}",
                               start_timeout=SESSION_START_TIMEOUT, statement_timeout=STATEMENT_TIMEOUT,
                               heartbeat_timeout=60)
    env = prepare(tmp_path, config)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(f'print("partitions=" + spark.conf.get("{RUNTIME}"))')]
    nb.metadata["kernelspec"] = KERNELSPEC
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        client = NotebookClient(nb, kernel_name=KERNEL_NAME, timeout=int(SESSION_START_TIMEOUT + STATEMENT_TIMEOUT),
                                startup_timeout=90, shutdown_kernel="graceful")
        client.execute(env=kernel_env(tmp_path))
    text = cell_text(nb.cells[0])
    assert f"partitions={SESSION_SPARK_CONF[RUNTIME]}" in text, text
    log = livy.log_text()
    assert re.search(rf"session took a pooled driver session_id={pooled}\b", log), log[-3000:]
