"""Files, Python files and jars added to a running session (Livy's addFile/addPyFile/addJar),
copied from the cluster file system to the driver when they live there."""

import os
import re
import shutil

from .process import log


class AdditionsMixin(object):
    """add_file/add_pyfile/add_jar, a part of the Driver (driver.py holds its state)."""

    def handle_add(self, msg):
        t, uri = msg["type"], msg.get("uri", "")
        reply = {"type": "ack", "req": msg.get("req")}
        try:
            # A file on the cluster file system (on YARN every upload is in the session's
            # staging directory there) is copied to the driver first; Spark then serves the
            # copy to the executors, and the class loaders can open it.
            local = self.local_copy(uri)
            if t == "add_file":
                self.sc.addFile(local)
            elif t == "add_pyfile":
                self.sc.addPyFile(local)
            else:
                self.sc._jsc.sc().addJar(local)
                self.add_jar_to_driver(local)
                self.java_jobs.add_jar(local)
                if self.scala is not None:
                    self.scala.add_jar(local)
        except Exception as e:
            reply["error"] = "%s: %s" % (type(e).__name__, e)
        self.send(reply)

    def local_copy(self, uri):
        """`uri` as a file on the driver's disk: local paths as they are; a cluster URI (hdfs:,
        webhdfs:, s3a:, ...) copied into the driver's tmp dir through Hadoop's FileSystem, as
        Livy's driver copies jars for its class loader. The shaded Hadoop client of pip-installed
        Spark cannot parse WebHDFS answers (its jersey runtime is missing), so a webhdfs: URI the
        FileSystem fails on is read with WebHDFS's documented OPEN instead."""
        m = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*):", uri)
        if m is None or m.group(1).lower() in ("file", "local"):
            return uri
        name = os.path.basename(uri.split("#", 1)[0].split("?", 1)[0].rstrip("/"))
        target_dir = os.path.join(self.tmp_dir, "__livy_jars__" if name.endswith(".jar") else "__livy_files__")
        os.makedirs(target_dir, exist_ok=True)
        target = os.path.join(target_dir, name)
        jvm = self.sc._jvm
        try:
            src = jvm.org.apache.hadoop.fs.Path(uri)
            fs = src.getFileSystem(self.sc._jsc.hadoopConfiguration())
            fs.copyToLocalFile(src, jvm.org.apache.hadoop.fs.Path(jvm.java.io.File(target).toURI()))
            return target
        except Exception as e:
            if m.group(1).lower() not in ("webhdfs", "swebhdfs"):
                raise
            log("Hadoop's WebHDFS client failed on %s (%s); reading it over WebHDFS's REST API" % (uri, e))
        _webhdfs_open(uri, self.sc.sparkUser(), target)
        return target

    def add_jar_to_driver(self, uri):
        """Lets driver-side code (py4j's `sc._jvm...`) load the jar's classes too, as Livy's
        addLocalFileToClassLoader does: the py4j threads share spark-submit's MutableURLClassLoader."""
        path = uri[len("file:"):] if uri.startswith("file:") else uri
        if "://" in path or not os.path.isfile(path):
            return
        jvm = self.sc._jvm
        try:
            loader = jvm.java.lang.Thread.currentThread().getContextClassLoader()
            if "MutableURLClassLoader" in str(loader.getClass().getName()):
                loader.addURL(jvm.java.io.File(os.path.abspath(path)).toURI().toURL())
        except Exception as e:
            log("could not add %s to the driver's class loader: %s" % (uri, e))


def _webhdfs_open(uri, user, target):
    """Reads `webhdfs://host:port/path` (or swebhdfs) into `target` with WebHDFS's OPEN as
    `user` (simple authentication), following the NameNode's redirect to a DataNode."""
    import urllib.parse
    import urllib.request

    parsed = urllib.parse.urlsplit(uri)
    scheme = "https" if parsed.scheme.lower() == "swebhdfs" else "http"
    query = urllib.parse.urlencode({"op": "OPEN", "user.name": user})
    url = "%s://%s/webhdfs/v1%s?%s" % (scheme, parsed.netloc, urllib.parse.quote(parsed.path), query)
    tmp = target + ".part"
    with urllib.request.urlopen(url, timeout=60) as r, open(tmp, "wb") as out:
        shutil.copyfileobj(r, out)
    os.replace(tmp, target)
