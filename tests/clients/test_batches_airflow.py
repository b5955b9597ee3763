"""Apache Airflow's Livy provider (LivyHook, LivyOperator) drives batches on livy-rs.

No scheduler and no metadata database: the connection comes from the AIRFLOW_CONN_LIVY_DEFAULT
environment variable (Airflow's env-var secrets backend, which needs no DB), AIRFLOW_HOME is a
temporary directory, and LivyOperator.execute() runs in this process with a minimal context.
Airflow's loggers print to stdout, so what dump_batch_logs logs is read with capfd.
"""

from __future__ import annotations

import json
import random
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

import pytest

from batch_helpers import (
    BATCH_SPARK_CONF,
    PYSPARK_SUM,
    SPARK_TIMEOUT,
    SUBMIT_TIMEOUT,
    expected_sum,
    get_state,
    write_script,
)
from pyharness.procs import find_processes
from pyharness.wait import wait_until


@pytest.fixture(scope="module")
def airflow_livy(livy, tmp_path_factory):
    """Points Airflow at a temp AIRFLOW_HOME and the module's server, then imports the provider."""
    home = tmp_path_factory.mktemp("airflow-home")
    conn = {"conn_type": "livy", "host": livy.host, "port": livy.port, "schema": "http"}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AIRFLOW_HOME", str(home))
        mp.setenv("AIRFLOW_CONN_LIVY_DEFAULT", json.dumps(conn))
        mp.setenv("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
        from airflow.providers.apache.livy.hooks import livy as hook_module
        from airflow.providers.apache.livy.operators import livy as operator_module

        yield hook_module, operator_module


@pytest.fixture(scope="module")
def hook(airflow_livy):
    return airflow_livy[0].LivyHook()


@pytest.fixture(scope="module")
def hook_batch(hook, work_dir):
    """Posted through the hook by the first test, awaited by later ones (it runs meanwhile)."""
    script = write_script(work_dir, "airflow_hook_sum.py", PYSPARK_SUM)
    n = random.randint(1000, 5000)
    bid = hook.post_batch(
        file=str(script),
        args=[n],
        num_executors="2",  # Airflow passes strings through; Livy accepts them
        driver_memory="1g",
        conf=BATCH_SPARK_CONF,
        name=f"airflow-hook-{n}",
    )
    return bid, n


class FakeTaskInstance:
    """The bits of a TaskInstance LivyOperator touches outside a scheduler."""

    def __init__(self):
        self.xcom = {}
        self.stats_tags = {}

    def xcom_push(self, key, value, **_):
        self.xcom[key] = value


def run_operator(operator, timeout: float):
    """operator.execute() with a minimal context, under a deadline: returns (result, ti) or raises
    what execute raised. If it does not return in time its batch is deleted (which ends the
    operator's polling) and the test fails."""
    ti = FakeTaskInstance()
    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(operator.execute, {"ti": ti})
        try:
            return future.result(timeout=timeout), ti
        except FutureTimeout:
            operator.kill()
            pytest.fail(f"LivyOperator.execute did not return within {timeout:.0f}s")


def test_hook_posts_batch(airflow_livy, hook, hook_batch, livy):
    bid, _ = hook_batch
    assert isinstance(bid, int)
    assert hook.base_url == livy.url
    batch = hook.get_batch(bid)
    assert batch["id"] == bid and batch["state"] in ("starting", "running", "success")


def test_operator_runs_pyspark_batch(airflow_livy, work_dir, livy, unique, capfd):
    operator_module = airflow_livy[1]
    script = write_script(work_dir, f"airflow_op_sum_{unique}.py", PYSPARK_SUM)
    n = random.randint(1000, 5000)
    op = operator_module.LivyOperator(
        task_id="livy_rs_sum",
        file=str(script),
        args=[n],
        num_executors="1",
        conf=BATCH_SPARK_CONF,
        name=f"airflow-op-{unique}",
        polling_interval=1,
    )
    result, ti = run_operator(op, SPARK_TIMEOUT)
    assert isinstance(result, int)
    assert get_state(livy.url, result) == "success"
    assert "app_id" in ti.xcom
    out = capfd.readouterr().out
    assert f"LIVY_RS_SUM={expected_sum(n)}" in out, "dump_batch_logs did not log the result:\n" + out[-5000:]


def test_hook_batch_succeeds(airflow_livy, hook, hook_batch, capfd):
    BatchState = airflow_livy[0].BatchState
    bid, n = hook_batch
    state = wait_until(
        lambda: (s := hook.get_batch_state(bid)) in hook.TERMINAL_STATES and s,
        SPARK_TIMEOUT,
        f"Airflow's get_batch_state({bid}) to be terminal",
        interval=1.0,
    )
    assert state == BatchState.SUCCESS

    first = hook.get_batch_logs(bid, 0, 100)
    assert first["id"] == bid and first["from"] == 0
    assert first["log"][0] == "stdout: "
    total = first["total"]
    lines = list(first["log"])
    start = 100
    while start < total:
        lines += hook.get_batch_logs(bid, start, 100)["log"]
        start += 100
    assert len(lines) == total
    want = f"LIVY_RS_SUM={expected_sum(n)}"
    assert want in lines

    capfd.readouterr()
    hook.dump_batch_logs(bid)
    out = capfd.readouterr().out
    assert want in out, out[-5000:]


def test_operator_failing_batch_raises(airflow_livy, work_dir, livy, unique):
    operator_module = airflow_livy[1]
    script = write_script(work_dir, f"airflow_fail_{unique}.py", "import sys\nsys.exit(5)\n")
    op = operator_module.LivyOperator(task_id="livy_rs_fail", file=str(script), polling_interval=1)
    with pytest.raises(Exception, match="did not succeed"):
        run_operator(op, SUBMIT_TIMEOUT)
    assert get_state(livy.url, op._batch_id) == "dead"


def test_hook_deletes_running_batch(airflow_livy, hook, work_dir, unique):
    script = write_script(
        work_dir,
        f"airflow_sleeper_{unique}.py",
        "import time\nprint('LIVY_RS_READY', flush=True)\ntime.sleep(600)\n",
    )
    bid = hook.post_batch(file=str(script))
    BatchState = airflow_livy[0].BatchState
    wait_until(lambda: hook.get_batch_state(bid) == BatchState.RUNNING, SUBMIT_TIMEOUT, "the sleeper to run")
    wait_until(
        lambda: "LIVY_RS_READY" in hook.get_batch_logs(bid, 0, 1000)["log"],
        SUBMIT_TIMEOUT,
        "the sleeper to print LIVY_RS_READY",
    )
    assert hook.delete_batch(bid) == {"msg": "deleted"}
    with pytest.raises(Exception, match="Unable to fetch batch"):
        hook.get_batch_state(bid)
    wait_until(lambda: not find_processes(str(script)), 30, "the deleted batch's processes to be gone")
