"""Java/Scala jobs of Livy's programmatic Job API (`jobType: "spark"`), driven by a Java client of
ours that speaks livy-client-http's wire protocol (tests/clients/java/livyclient): the user's jar
is uploaded, `org.apache.livy.Job` objects written by Kryo run in the real Spark driver (local
mode) and their Kryo-written results come back. The jobs are compiled against livy-rs's
livy-api-compatible interfaces (src/driver/java), built here by scripts/build-jobs-jar as the
project's scripts build them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from conftest import ROOT, wait_until

JAVA_SRC = Path(__file__).resolve().parent / "java"


def _javac(classpath: str, out: Path, sources) -> None:
    subprocess.run(["javac", "-nowarn", "-encoding", "UTF-8", "-cp", classpath, "-d", str(out),
                    *map(str, sources)], check=True, capture_output=True, text=True)


@pytest.fixture(scope="module")
def java_build(tmp_path_factory, livy_bin, spark_home):
    """The server's Java helper (next to the binary, where the server looks), the uploaded test
    jobs jar, and the client's class path."""
    if shutil.which("javac") is None:
        pytest.fail("javac missing: scripts/setup-env installs Debian's JDK", pytrace=False)
    helper = Path(livy_bin).resolve().parent / "livy-rs-jobs.jar"
    subprocess.run([str(ROOT / "scripts" / "build-jobs-jar"), str(helper)], check=True,
                   capture_output=True, text=True, env={**os.environ, "SPARK_HOME": str(spark_home)})
    d = tmp_path_factory.mktemp("java-jobs")
    spark_jars = f"{spark_home}/jars/*"
    jobs_classes = d / "testjobs-classes"
    _javac(f"{spark_jars}:{helper}", jobs_classes, sorted((JAVA_SRC / "testjobs").glob("*.java")))
    jobs_jar = d / "testjobs.jar"
    subprocess.run(["jar", "--create", "--file", str(jobs_jar), "-C", str(jobs_classes), "."], check=True)
    client_classes = d / "client-classes"
    _javac(f"{spark_jars}:{helper}:{jobs_jar}", client_classes, [JAVA_SRC / "livyclient" / "JobClient.java"])
    return {"jobs_jar": jobs_jar, "classpath": f"{client_classes}:{jobs_jar}:{helper}:{spark_jars}"}


@pytest.fixture(scope="module")
def client(java_build, livy):
    """Runs one JobClient command; returns its output without the trailing newline."""

    def run(*args: str, timeout: float = 240) -> str:
        # Java 17: writing a lambda job needs java.lang.invoke open (as Livy's client needs).
        cmd = ["java", "--add-opens=java.base/java.lang.invoke=ALL-UNNAMED", "-cp",
               java_build["classpath"], "livyclient.JobClient", args[0], livy.url, *args[1:]]
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{args} took over {timeout} s; server log:\n{livy.log_text()[-6000:]}")
        assert p.returncode == 0, p.stderr[-3000:]
        return p.stdout.rstrip("\n")

    return run


@pytest.fixture(scope="module")
def made(client, java_build, livy):
    """A session made by the Java client (no `kind`, as livy-client-http sends it), with the jobs
    jar uploaded right after, while it is still `starting`, as the README's PiApp does (the
    upload's reply comes once the driver has added the jar)."""
    sid = client("create")
    state_at_upload = livy.call("GET", f"/sessions/{sid}")[1]["state"]
    client("upload-jar", sid, str(java_build["jobs_jar"]))
    wait_until(lambda: livy.call("GET", f"/sessions/{sid}")[1]["state"] == "idle", 180,
               "the session to become idle")
    yield {"id": sid, "state_at_upload": state_at_upload}
    livy.call("DELETE", f"/sessions/{sid}", headers={"X-Requested-By": "livy"})


@pytest.fixture(scope="module")
def session(made):
    return made["id"]


def test_pi_job_from_a_jar_uploaded_while_starting_returns_its_double(client, made, session):
    assert made["state_at_upload"] == "starting", made
    state, _, value = client("run", session, "pi", "2000", timeout=90).partition("\t")
    assert state == "SUCCEEDED", value
    assert 2.9 < float(value) < 3.4


def test_a_lambda_job_runs(client, session):
    # (1+2+3+4+5) * 7: the lambda and its Spark function captured n = 7.
    assert client("run", session, "lambda", "7") == "SUCCEEDED\t105"


def test_a_job_using_spark_session_and_sql_context(client, session):
    assert client("run", session, "sql", "10") == "SUCCEEDED\t45"


def test_a_result_of_a_class_from_the_uploaded_jar(client, session):
    assert client("run", session, "point", "9") == "SUCCEEDED\tPoint(9,3)"


def test_a_failing_job_is_failed_with_its_stack_trace(client, session):
    state, _, error = client("run", session, "fail", "marker-41").partition("\t")
    assert state == "FAILED"
    assert "java.lang.IllegalStateException: job failed on purpose: marker-41" in error
    assert "at testjobs.TestJobs$FailingJob.call" in error


def test_cancel_ends_a_long_job(client, session):
    # local[1]: the sleeping task holds the only core, so the next job runs only once the
    # cancel has really ended the first one.
    assert client("cancel", session, "sleep", "600000") == "CANCELLED"
    started = time.monotonic()
    state, _, value = client("run", session, "pi", "100", timeout=120).partition("\t")
    assert state == "SUCCEEDED", value
    assert time.monotonic() - started < 90


def test_cancel_interrupts_a_job_again_until_it_ends(client, session):
    # The job swallows the first InterruptedException and sleeps again: only the driver's
    # repeated interrupt (every livy.rsc.job-cancel.trigger-interval) ends it, long before
    # livy.rsc.job-cancel.timeout (30 s) would report it CANCELLED anyway.
    started = time.monotonic()
    assert client("cancel", session, "stubborn", "600000") == "CANCELLED"
    assert time.monotonic() - started < 20
    # The job's thread has ended: the next job runs at once.
    assert client("run", session, "lambda", "2", timeout=60) == "SUCCEEDED\t30"


def test_hivectx_queries_through_a_hive_context(client, session):
    state, _, value = client("run", session, "hive", "10", timeout=120).partition("\t")
    assert state == "SUCCEEDED", value
    assert value == "org.apache.spark.sql.hive.HiveContext 10 45", value
