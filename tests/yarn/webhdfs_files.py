"""WebHDFS helpers for tests that pre-stage files in the emulator's HDFS the way a cluster admin
does (`hdfs dfs -put`), e.g. the `spark.yarn.archive` that REST submission needs.

`headers` is a callable returning extra request headers for the NameNode step (a fresh
`Authorization: Negotiate ...` on a Kerberized emulator: a SPNEGO token is good for one request);
the DataNode step is authorised by the `delegation=` token the NameNode puts into its URL."""
from __future__ import annotations

import io
import json
import urllib.error
import urllib.request
import zipfile

#: Where the tests' cluster keeps Spark's jars (spark-defaults.conf `spark.yarn.archive`).
ARCHIVE = "/apps/spark/spark-jars.zip"


def hdfs_put(emu, path, data, user="hdfs", headers=None):
    """WebHDFS CREATE in its two steps (noredirect=true gives the DataNode URL as JSON)."""
    url = f"{emu.webhdfs_url}/webhdfs/v1{path}?op=CREATE&overwrite=true&noredirect=true&user.name={user}"
    req = urllib.request.Request(url, method="PUT", data=b"", headers=headers() if headers else {})
    with urllib.request.urlopen(req, timeout=10) as r:
        target = json.loads(r.read())["Location"]
    with urllib.request.urlopen(urllib.request.Request(target, method="PUT", data=data), timeout=10) as r:
        assert r.status == 201, r.status


def hdfs_get(emu, path, op="GETFILESTATUS", headers=None):
    url = f"{emu.webhdfs_url}/webhdfs/v1{path}?op={op}&user.name=hdfs"
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers() if headers else {}),
                                    timeout=10) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as e:
        return {"status": e.code}


def spark_jars_zip():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("README", "stands for the jars of $SPARK_HOME/jars\n")
    return buf.getvalue()
