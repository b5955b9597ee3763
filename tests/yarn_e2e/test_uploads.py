"""The Job API's uploads on YARN (cluster mode through the shim, real Spark): `upload-jar` right
after create (Java test client, tests/clients/java), `upload-file`, `upload-pyfile` and `add-file`
of a local file land in the session's staging directory in the cluster file system
(`livy.session.staging-dir`, through WebHDFS) and the driver in its container reads them from
there; Java jobs run with livy-rs's helper jar shipped into the container; the staging directory
is gone once the session is deleted. One Spark start in all.
"""
from __future__ import annotations

import base64
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from conftest import REPO, SHIM_HOME, Emulator, LivyServer, stop_emulator, wait_until, yarn_conf, yarn_env
from webhdfs_files import hdfs_get

SPARK_TIMEOUT = 400
STAGING = "/livy/staging"
JAVA_SRC = REPO / "tests" / "clients" / "java"
JSON = {"X-Requested-By": "livy", "Content-Type": "application/json"}
MODULE = "def triple(x):\n    return 3 * x\n\nVALUE = 'from the staged pyfile'\n"


def javac(classpath, out, sources):
    subprocess.run(["javac", "-nowarn", "-encoding", "UTF-8", "-cp", classpath, "-d", str(out),
                    *map(str, sources)], check=True, capture_output=True, text=True)


@pytest.fixture(scope="module")
def java_build(tmp_path_factory, real_spark):
    """livy-rs's helper jar beside the server binary (where the server finds it), the test jobs
    jar the client uploads, and the client's class path."""
    if shutil.which("javac") is None:
        pytest.fail("javac missing: scripts/setup-env installs Debian's JDK", pytrace=False)
    spark_home = real_spark["SPARK_HOME"]
    helper = REPO / "target" / "release" / "livy-rs-jobs.jar"
    subprocess.run([str(REPO / "scripts" / "build-jobs-jar"), str(helper)], check=True,
                   capture_output=True, text=True, env={**os.environ, "SPARK_HOME": spark_home})
    d = tmp_path_factory.mktemp("java-jobs")
    jars = f"{spark_home}/jars/*"
    javac(f"{jars}:{helper}", d / "jobs", sorted((JAVA_SRC / "testjobs").glob("*.java")))
    jobs_jar = d / "testjobs.jar"
    subprocess.run(["jar", "--create", "--file", str(jobs_jar), "-C", str(d / "jobs"), "."], check=True)
    javac(f"{jars}:{helper}:{jobs_jar}", d / "client", [JAVA_SRC / "livyclient" / "JobClient.java"])
    return {"jobs_jar": jobs_jar, "classpath": f"{d / 'client'}:{jobs_jar}:{helper}:{jars}"}


@pytest.fixture(scope="module")
def env(tmp_path_factory, real_spark, java_build):
    tmp = tmp_path_factory.mktemp("uploads")
    local = tmp / "local"
    local.mkdir()
    emu = Emulator(state_dir=tmp / "emu").start()
    conf = yarn_conf(local, **{"livy.session.staging-dir": STAGING})
    livy = LivyServer(conf, env=yarn_env(emu, SHIM_HOME, real_spark)).start()
    try:
        yield livy, emu, local
    finally:
        livy.stop()
        livy.cleanup()
        stop_emulator(emu)


@pytest.fixture(scope="module")
def client(java_build, env):
    livy = env[0]

    def run(*args, timeout=SPARK_TIMEOUT):
        cmd = ["java", "--add-opens=java.base/java.lang.invoke=ALL-UNNAMED", "-cp", java_build["classpath"],
               "livyclient.JobClient", args[0], livy.url, *args[1:]]
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{args} took over {timeout} s; server log:\n{livy.log_text()[-6000:]}")
        assert p.returncode == 0, (p.stderr[-3000:], livy.log_text()[-3000:])
        return p.stdout.rstrip("\n")

    return run


@pytest.fixture(scope="module")
def session(client, java_build, env):
    """A session made by the Java client, its jobs jar uploaded right after (still starting)."""
    livy = env[0]
    sid = client("create")
    state = livy.call("GET", f"/sessions/{sid}")[1]["state"]
    client("upload-jar", sid, str(java_build["jobs_jar"]))

    def idle():
        s = livy.call("GET", f"/sessions/{sid}")[1]
        assert s["state"] not in ("dead", "error", "killed"), (s, livy.log_text()[-3000:])
        return s if s["state"] == "idle" and str(s.get("appId")).startswith("application_") else None

    view = wait_until(idle, SPARK_TIMEOUT, f"session {sid} idle", interval=0.5)
    return {"id": sid, "state_at_upload": state, "app_id": view["appId"]}


def staged(emu):
    """{session dir: {file name: length}} under the staging root, read through WebHDFS."""
    out = {}
    listing = hdfs_get(emu, STAGING, op="LISTSTATUS")
    for d in (listing.get("FileStatuses") or {}).get("FileStatus") or []:
        files = hdfs_get(emu, f"{STAGING}/{d['pathSuffix']}", op="LISTSTATUS")["FileStatuses"]["FileStatus"]
        out[d["pathSuffix"]] = {f["pathSuffix"]: f["length"] for f in files}
    return out


def multipart(livy, sid, endpoint, part, name, data):
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{part}\"; filename=\"{name}\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return livy.call("POST", f"/sessions/{sid}/{endpoint}", body, timeout=120,
                     headers={"X-Requested-By": "livy", "Content-Type": f"multipart/form-data; boundary={boundary}"})


def python_job(livy, sid, fn):
    import cloudpickle

    body = {"job": base64.b64encode(cloudpickle.dumps(fn)).decode(), "jobType": "pyspark"}
    st, job, _ = livy.call("POST", f"/sessions/{sid}/submit-job", body, headers=JSON)
    assert st == 201, job

    def done():
        j = livy.call("GET", f"/sessions/{sid}/jobs/{job['id']}")[1]
        return j if j["state"] in ("SUCCEEDED", "FAILED", "CANCELLED") else None

    j = wait_until(done, 180, f"job {job['id']}", interval=0.3)
    assert j["state"] == "SUCCEEDED", j
    return cloudpickle.loads(base64.b64decode(base64.b64decode(j["result"])))


def make_reader():
    def job(ctx):
        from pyspark import SparkFiles
        import staged_mod

        with open(SparkFiles.get("data.txt")) as f:
            text = f.read()
        with open(SparkFiles.get("added.txt")) as f:
            added = f.read()
        return staged_mod.VALUE, text, added, ctx.sc.parallelize([1, 2], 2).map(staged_mod.triple).collect()

    return job


def test_java_jobs_with_a_jar_uploaded_while_starting(client, session, env, java_build):
    livy, emu, _ = env
    assert session["state_at_upload"] == "starting", session
    state, _, value = client("run", session["id"], "pi", "2000", timeout=180).partition("\t")
    assert state == "SUCCEEDED", value
    assert 2.9 < float(value) < 3.4
    assert client("run", session["id"], "point", "9", timeout=180) == "SUCCEEDED\tPoint(9,3)"

    # The driver read both jars in its container: the helper localized by YARN, the user's jar
    # copied from the staging directory — neither from the server's disk.
    state, _, where = client("run", session["id"], "where", "-", timeout=180).partition("\t")
    assert state == "SUCCEEDED", where
    helper, user_jar = where.split(" ")
    work_dir = emu.app_record(session["app_id"])["work_dir"]
    assert helper.startswith("file:") and helper.endswith(str(Path(work_dir, "livy-rs-jobs.jar"))), (
        helper, work_dir)
    assert "/__livy_jars__/testjobs.jar" in user_jar, user_jar
    dirs = staged(emu)
    assert len(dirs) == 1, dirs
    assert list(dirs.values())[0] == {"testjobs.jar": java_build["jobs_jar"].stat().st_size}, dirs


def test_python_job_reads_uploaded_file_and_pyfile(session, env):
    livy, emu, local = env
    sid = session["id"]
    st, body, _ = multipart(livy, sid, "upload-file", "file", "data.txt", b"staged text\n")
    assert st == 200, body
    st, body, _ = multipart(livy, sid, "upload-pyfile", "file", "staged_mod.py", MODULE.encode())
    assert st == 200, body
    (local / "added.txt").write_text("added from a local URI")
    st, body, _ = livy.call("POST", f"/sessions/{sid}/add-file",
                            {"uri": (local / "added.txt").as_uri()}, headers=JSON)
    assert st == 200, body

    assert python_job(livy, sid, make_reader()) == (
        "from the staged pyfile", "staged text\n", "added from a local URI", [3, 6])
    files = list(staged(emu).values())[0]
    assert {k: files.get(k) for k in ("data.txt", "staged_mod.py", "added.txt")} == {
        "data.txt": 12, "staged_mod.py": len(MODULE), "added.txt": 22}, files


def test_names_that_are_no_plain_file_name_are_refused(session, env):
    livy, emu, _ = env
    before = staged(emu)
    for name in ("a#b.py", "%2E%2E%2Fescape.py", "sp ace.py"):
        st, body, _ = multipart(livy, session["id"], "upload-pyfile", "file", name, b"x = 1\n")
        assert st == 400 and "cannot be staged" in body["msg"], (name, st, body)
    assert staged(emu) == before


def test_staging_directory_is_removed_when_the_session_is_deleted(session, env):
    livy, emu, _ = env
    assert len(staged(emu)) == 1
    st, body, _ = livy.call("DELETE", f"/sessions/{session['id']}", headers={"X-Requested-By": "livy"})
    assert st == 200, body
    wait_until(lambda: staged(emu) == {}, 60, "the staging directory deleted", interval=0.3)
