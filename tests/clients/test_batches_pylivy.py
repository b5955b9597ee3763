"""pylivy (`livy` 0.8.0 on PyPI) drives batches on livy-rs: LivyBatch.create / wait / state / log /
kill, and LivyClient's batch calls."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

import pytest
import requests
from livy import LivyBatch, SessionState
from livy.client import LivyClient
from livy.models import Version

from batch_helpers import (
    BATCH_SPARK_CONF,
    PYSPARK_SUM,
    SPARK_TIMEOUT,
    SUBMIT_TIMEOUT,
    expected_sum,
    write_script,
)
from pyharness.procs import find_processes
from pyharness.wait import wait_until


def wait_with_deadline(url: str, batch: LivyBatch, timeout: float) -> SessionState:
    """pylivy's own LivyBatch.wait() (which has no deadline), run under one; a batch that does not
    finish in time is killed, which also ends the wait."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(batch.wait)
        try:
            return future.result(timeout=timeout)
        except FutureTimeout:
            log = LivyBatch(url, batch.batch_id).log(size=-1)
            LivyClient(url).delete_batch(batch.batch_id)
            pytest.fail(f"pylivy LivyBatch.wait() did not return within {timeout:.0f}s; log:\n" + "\n".join(log))


def test_pylivy_pyspark_batch_succeeds(livy, work_dir, unique):
    script = write_script(work_dir, f"pylivy_sum_{unique}.py", PYSPARK_SUM)
    n = random.randint(1000, 5000)
    batch = LivyBatch.create(
        livy.url,
        file=str(script),
        args=[str(n)],
        name=f"pylivy-{unique}",
        driver_memory="1g",
        num_executors=1,
        spark_conf=BATCH_SPARK_CONF,
    )
    assert isinstance(batch.batch_id, int)
    assert batch.state in (SessionState.STARTING, SessionState.RUNNING, SessionState.SUCCESS)

    assert wait_with_deadline(livy.url, batch, SPARK_TIMEOUT) == SessionState.SUCCESS
    assert batch.state == SessionState.SUCCESS

    log = batch.log(size=-1)
    want = f"LIVY_RS_SUM={expected_sum(n)}"
    assert want in log, "\n".join(log)
    assert log[0] == "stdout: "
    assert batch.log(from_=0, size=3) == log[:3]
    assert batch.log() == log[-100:]

    client = LivyClient(livy.url)
    try:
        listed = {b.batch_id: b for b in client.list_batches()}
        assert listed[batch.batch_id].state == SessionState.SUCCESS
        fetched = client.get_batch(batch.batch_id)
        assert fetched is not None and fetched.state == SessionState.SUCCESS
        assert fetched.log == log[-10:]
        assert client.get_batch(987654) is None
        assert client.get_batch_log(987654) is None
    finally:
        client.close()


def test_pylivy_kill_running_batch(livy, work_dir, unique):
    script = write_script(
        work_dir,
        f"pylivy_sleeper_{unique}.py",
        "import time\nprint('LIVY_RS_READY', flush=True)\ntime.sleep(600)\n",
    )
    batch = LivyBatch.create(livy.url, file=str(script))
    wait_until(lambda: "LIVY_RS_READY" in batch.log(size=-1), SUBMIT_TIMEOUT, "the sleeper to start")
    assert batch.state == SessionState.RUNNING
    batch.kill()
    with pytest.raises(ValueError, match="batch session not found"):
        batch.state  # noqa: B018 - the property does the request
    wait_until(lambda: not find_processes(str(script)), 30, "the killed batch's processes to be gone")


def test_pylivy_server_version(livy):
    client = LivyClient(livy.url)
    try:
        assert not client.legacy_server()
        assert client.server_version() == Version(requests.get(f"{livy.url}/version", timeout=30).json()["version"])
    finally:
        client.close()
