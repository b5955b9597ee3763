"""Helpers shared by the batch suites: request shortcuts, state polling with deadlines, the
programs the batches run (PySpark scripts, a Java SparkSession app built with javac/jar)."""

from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path
from typing import Dict, Iterable, List, Optional

import requests

from pyharness.wait import wait_until

#: Added to every Spark batch's conf: keeps driver start-up light on a 2-core machine.
BATCH_SPARK_CONF: Dict[str, str] = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "1",
    "spark.default.parallelism": "1",
}

FINISHED = ("success", "dead", "killed", "error")
#: Deadline for a real Spark batch (JVM + SparkSession + job) on a loaded 2-core machine.
SPARK_TIMEOUT = 240.0
#: Deadline for a spark-submit that runs a plain script (no SparkSession).
SUBMIT_TIMEOUT = 90.0
HTTP_TIMEOUT = 30.0


# --------------------------------------------------------------------------- REST shortcuts


def post_batch(url: str, body: dict, expect: int = 201) -> dict:
    r = requests.post(f"{url}/batches", json=body, timeout=HTTP_TIMEOUT)
    assert r.status_code == expect, f"POST /batches {body} -> {r.status_code} {r.text}"
    return r.json()


def get_state(url: str, batch_id) -> Optional[str]:
    """The batch's state, or None once the server no longer knows it (404)."""
    r = requests.get(f"{url}/batches/{batch_id}/state", timeout=HTTP_TIMEOUT)
    if r.status_code == 404:
        return None
    assert r.status_code == 200, f"GET /batches/{batch_id}/state -> {r.status_code} {r.text}"
    body = r.json()
    if str(batch_id).isdigit():
        assert body["id"] == int(batch_id), body
    return body["state"]


def get_log(url: str, batch_id, **params) -> dict:
    r = requests.get(f"{url}/batches/{batch_id}/log", params=params, timeout=HTTP_TIMEOUT)
    assert r.status_code == 200, f"GET /batches/{batch_id}/log {params} -> {r.status_code} {r.text}"
    return r.json()


def full_log(url: str, batch_id) -> List[str]:
    return get_log(url, batch_id, size=-1)["log"]


def list_batches(url: str, **params) -> dict:
    r = requests.get(f"{url}/batches", params=params, timeout=HTTP_TIMEOUT)
    assert r.status_code == 200, f"GET /batches -> {r.status_code} {r.text}"
    return r.json()


def wait_for_state(url: str, batch_id, states: Iterable[str] = FINISHED, timeout: float = SPARK_TIMEOUT) -> str:
    """Polls /state until it is one of `states`; the failure message carries the batch's log."""
    wanted = tuple(states)
    try:
        return wait_until(
            lambda: (s := get_state(url, batch_id)) in wanted and s,
            timeout,
            f"batch {batch_id} to reach one of {wanted}",
            interval=0.5,
        )
    except AssertionError as e:
        try:
            log = "\n".join(full_log(url, batch_id))
        except AssertionError:
            log = "(log unavailable)"
        raise AssertionError(f"{e}\nbatch log:\n{log}") from None


def wait_for_success(url: str, batch_id, timeout: float = SPARK_TIMEOUT) -> List[str]:
    """Waits for a finished state, asserts it is `success`, returns the full log."""
    state = wait_for_state(url, batch_id, FINISHED, timeout)
    log = full_log(url, batch_id)
    assert state == "success", f"batch {batch_id} ended {state}; log:\n" + "\n".join(log)
    return log


def stdout_section(log: List[str]) -> List[str]:
    """The lines between Livy's `stdout: ` and `\\nstderr: ` markers."""
    assert log and log[0] == "stdout: ", f"log does not start with 'stdout: ': {log[:3]}"
    end = log.index("\nstderr: ") if "\nstderr: " in log else len(log)
    return log[1:end]


# --------------------------------------------------------------------------- programs


def write_script(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


PYSPARK_SUM = """
    import sys
    from pyspark.sql import SparkSession

    n = int(sys.argv[1])
    spark = SparkSession.builder.appName("livy-rs-pyspark-sum").getOrCreate()
    total = spark.range(n).selectExpr("sum(id) AS s").first()["s"]
    print("LIVY_RS_SUM=%d" % total, flush=True)
    spark.stop()
"""


def expected_sum(n: int) -> int:
    return n * (n - 1) // 2


JAVA_SUM = """
package livyrs;

import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;

public final class JvmSum {
    public static void main(String[] args) {
        long n = Long.parseLong(args[0]);
        SparkSession spark = SparkSession.builder().appName("livy-rs-jvm-sum").getOrCreate();
        Row row = spark.range(n).selectExpr("sum(id) AS s").first();
        System.out.println("LIVY_RS_JVM_SUM=" + row.getLong(0));
        System.out.flush();
        spark.stop();
    }
}
"""


def build_spark_jar(spark_home: Path, out_dir: Path) -> Path:
    """Compiles JvmSum against $SPARK_HOME/jars and packages it with the JDK's `jar`."""
    src = out_dir / "src" / "livyrs" / "JvmSum.java"
    classes = out_dir / "classes"
    src.parent.mkdir(parents=True, exist_ok=True)
    classes.mkdir(parents=True, exist_ok=True)
    src.write_text(JAVA_SUM.lstrip(), encoding="utf-8")
    jar = out_dir / "livy-rs-jvm-sum.jar"
    cp = os.path.join(str(spark_home), "jars", "*")
    for cmd in (
        ["javac", "-nowarn", "--release", "17", "-cp", cp, "-d", str(classes), str(src)],
        ["jar", "--create", "--file", str(jar), "-C", str(classes), "."],
    ):
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}"
    return jar
