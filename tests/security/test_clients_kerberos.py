"""Real Livy clients against a Kerberos-protected livy-rs: pylivy with requests-gssapi (batches,
through the fake spark-submit), and sparkmagic's PySpark kernel configured with
`"auth": "Kerberos"` (requests-kerberos) running a real Spark session headless with nbclient,
reusing tests/clients' sparkmagic set-up."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import gssapi
import pytest
import requests
from requests_gssapi import OPTIONAL, HTTPSPNEGOAuth

from conftest import RESPONSES, SERVER_LOG_DIRS, kerberos_conf, url_of
from pyharness.livy_server import LivyServer, default_binary, repo_root

sys.path.insert(0, str(repo_root() / "tests" / "clients"))

import livy as pylivy  # noqa: E402


#: Light Spark settings for a shared 2-core machine (as tests/clients uses).
SPARK_DEFAULTS = """\
spark.driver.extraJavaOptions -XX:TieredStopAtLevel=1 -XX:+UseSerialGC
spark.ui.enabled false
spark.ui.showConsoleProgress false
"""


def gss_session(ccache) -> requests.Session:
    s = requests.Session()
    creds = gssapi.Credentials(usage="initiate", store={"ccache": f"FILE:{ccache}"})
    s.auth = HTTPSPNEGOAuth(creds=creds, target_name="HTTP@localhost", mutual_authentication=OPTIONAL)
    return s


def test_pylivy_batch_with_kerberos_and_impersonation(livy, ccaches, job_dir):
    batch = pylivy.LivyBatch.create(
        url_of(livy),
        str(job_dir / "job.py"),
        requests_session=gss_session(ccaches["admin"]),
        proxy_user="carol",
        name="pylivy-kerberos",
    )
    batch.wait()
    assert batch.state == pylivy.SessionState.SUCCESS
    log = batch.log()
    RESPONSES.append("\n".join(log))
    assert "FAKE-SUBMIT-ARG: --proxy-user" in log and "FAKE-SUBMIT-ARG: carol" in log, log
    # The server recorded who asked and who it runs as.
    seen = gss_session(ccaches["admin"]).get(f"{url_of(livy)}/batches/{batch.batch_id}", timeout=30).json()
    assert (seen["owner"], seen["proxyUser"], seen["name"]) == ("admin", "carol", "pylivy-kerberos")


def test_pylivy_without_a_ticket_fails_with_401(livy, job_dir):
    with pytest.raises(requests.HTTPError) as err:
        pylivy.LivyBatch.create(url_of(livy), str(job_dir / "job.py"))
    assert err.value.response.status_code == 401


# ------------------------------------------------------------------------------------ sparkmagic


@pytest.fixture(scope="module")
def spark_livy(kdc, keytab, job_dir, tmp_path_factory):
    """A Kerberos server with the real Spark (pyspark of the project's .venv)."""
    home = os.environ.get("SPARK_HOME")
    venv_python = repo_root() / ".venv" / "bin" / "python"
    if not home:
        import subprocess

        home = subprocess.run(
            [str(venv_python), "-c", "import os, pyspark; print(os.path.dirname(pyspark.__file__))"],
            capture_output=True, text=True, timeout=60, check=True,
        ).stdout.strip()
    conf_dir = tmp_path_factory.mktemp("spark-conf")
    (conf_dir / "spark-defaults.conf").write_text(SPARK_DEFAULTS)
    conf = kerberos_conf(keytab, job_dir, Path(home))
    conf.update(
        {
            "livy.rsc.launcher.address": "127.0.0.1",
            "livy.rsc.launcher.port.range": "0~0",
        }
    )
    env = kdc.env(base={})
    env.update({"SPARK_CONF_DIR": str(conf_dir), "PYSPARK_PYTHON": os.environ.get("PYSPARK_PYTHON", str(venv_python))})
    env["KRB5_KTNAME"] = None  # type: ignore[assignment]
    server = LivyServer(conf, binary=default_binary(), env=env, name="livy-sec-spark")
    server.start()
    SERVER_LOG_DIRS.append(server.log_dir)
    yield server
    try:
        server.stop()
    finally:
        server.cleanup()


def test_sparkmagic_kernel_with_kerberos(spark_livy, ccaches, tmp_path_factory):
    import nbformat
    from nbclient import NotebookClient
    from sparkmagic_kernel import KERNEL_NAME, KERNELSPEC, kernel_env, prepare
    from test_sessions_sparkmagic import sparkmagic_config

    url = url_of(spark_livy)
    config = sparkmagic_config(url)
    for key in ("kernel_python_credentials", "kernel_scala_credentials", "kernel_r_credentials"):
        config[key] = {"username": "", "password": "", "url": url, "auth": "Kerberos"}
    root = tmp_path_factory.mktemp("sparkmagic-krb")
    env = prepare(root, config)
    cells = {
        "count": "spark.range(7).count()",
        "info": "%%info",
    }
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells.values()]
    nb.metadata["kernelspec"] = KERNELSPEC
    sessions_seen = []
    admin = gss_session(ccaches["admin"])

    def snapshot(cell, cell_index, **_):
        r = admin.get(f"{url}/sessions", timeout=30)
        sessions_seen.extend(r.json()["sessions"])

    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        client = NotebookClient(
            nb, kernel_name=KERNEL_NAME, timeout=400, startup_timeout=90,
            allow_errors=True, shutdown_kernel="graceful",
        )
        client.on_cell_executed = snapshot
        # The kernel (requests-kerberos) uses alice's ticket cache.
        client.execute(env=kernel_env(root, {"KRB5CCNAME": f"FILE:{ccaches['alice']}"}))

    def text(i):
        out = []
        for o in nb.cells[i].get("outputs", []):
            out.append(o.get("text", "") + json.dumps(o.get("data", {})) + o.get("evalue", ""))
        return "\n".join(out)

    RESPONSES.append(text(0) + text(1))
    assert re.search(r"\b7\b", text(0)), text(0)
    owners = {(s["owner"], s["proxyUser"]) for s in sessions_seen}
    assert owners == {("alice", "alice")}, sessions_seen
    # The kernel negotiated once and then rode on the hadoop.auth cookie: the access log has
    # many requests by alice but at most one 401 per client (the kernel's, and ours).
    lines = "".join(p.read_text() for p in spark_livy.log_dir.glob("livy-requests.*.log")).splitlines()
    print("\n".join(lines))
    by_alice = [line for line in lines if " - alice [" in line]
    challenges = [line for line in lines if '" 401 ' in line]
    assert len(by_alice) >= 5, lines
    assert len(challenges) <= 2, lines
