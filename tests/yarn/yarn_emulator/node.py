"""The worker node: a NodeManager that runs REST-submitted Spark ApplicationMasters, and its web
pages (container logs).
"""
from __future__ import annotations

import os
import re
import shutil
import urllib.parse
from xml.sax.saxutils import escape as _xml_escape

from .model import _am_arguments, _am_command, _entries, zipfile_like
from .protocol import FINAL_STATES, Resp, now_ms


class NodeMixin:
    """Runs Spark AMs as local processes and serves the node web UI."""

    # ------------------------------------------------------------------ a NodeManager for REST-submitted Spark AMs

    def _launch_spark_am(self, app):
        """What a NodeManager does with the AM container of a REST-submitted Spark application,
        reduced to what a test needs: localize every local resource from this emulator's HDFS
        into the container's work dir (checking size and timestamp as YARN does, and unpacking
        ARCHIVEs), then run the driver the AM would run -- with the real Spark in local mode, the
        conf from `__spark_conf__/__spark_conf__.properties`, the class/primary file/arguments of
        the AM command -- through yarn_container (as the spark-submit shim does), which reports
        RUNNING/FINISHED/FAILED back."""
        import yarn_container  # tests/yarn, next to this file

        def fail(diag):
            with self.lock:
                if app.state not in FINAL_STATES:
                    self._transition(app, "FAILED", "FAILED", f"Application {app.id} failed 1 times due to AM Container for {app.attempt_id} exited with exitCode: -1000\nFailing this attempt.Diagnostics: {diag}")
                    self._save_state()

        ctx = app.submission or {}
        spec = ctx.get("am-container-spec") or {}
        work_dir, log_dir = self.container_work_dir(app), self.container_log_dir(app)
        os.makedirs(work_dir, exist_ok=True)
        os.makedirs(log_dir, exist_ok=True)
        for link, res in _entries(spec.get("local-resources")):
            uri = str(res.get("resource", ""))
            hpath = urllib.parse.urlparse(uri).path or "/"
            local = self._local(hpath)
            if not os.path.isfile(local):
                return fail(f"java.io.FileNotFoundException: File does not exist: {uri}")
            st = self._file_status(hpath, "")
            if int(res.get("size", -1)) != st["length"] or int(res.get("timestamp", -1)) != st["modificationTime"]:
                return fail(f"Resource {uri} changed on src filesystem - expected: \"{res.get('timestamp')}\", was: \"{st['modificationTime']}\", current time: \"{now_ms()}\"")
            dest = os.path.join(work_dir, link)
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            if str(res.get("type", "FILE")).upper() == "ARCHIVE":
                os.makedirs(dest, exist_ok=True)
                try:
                    shutil.unpack_archive(local, dest, format="zip" if zipfile_like(local) else None)
                except (ValueError, shutil.ReadError, OSError) as e:
                    if link != "__spark_libs__":  # the test clusters' jar archive is a placeholder
                        return fail(f"cannot unpack {uri}: {e}")
            else:
                shutil.copyfile(local, dest)
        props = yarn_container.read_properties(os.path.join(work_dir, "__spark_conf__", "__spark_conf__.properties"))
        try:
            main_class, primary, args = _am_arguments(_am_command(ctx))
        except ValueError as e:
            return fail(str(e))
        real_home = yarn_container.real_spark_home()
        cmd = [os.path.join(real_home, "bin", "spark-submit"), "--master", os.environ.get("LIVY_RS_SHIM_LOCAL_MASTER", "local[2]"),
               "--deploy-mode", "client", "--name", props.get("spark.app.name", app.name)]
        dropped = ("spark.yarn.", "spark.hadoop.yarn.", "spark.kerberos.")
        for k, v in props.items():
            if k in ("spark.master", "spark.submit.deployMode", "spark.app.name", "spark.submit.pyFiles") or k.startswith(dropped) or "{{" in v:
                continue
            cmd += ["--conf", f"{k}={v}"]
        cmd += ["--conf", f"spark.yarn.app.id={app.id}", "--conf", "spark.yarn.app.attemptId=1"]
        if "spark.ui.port" not in props:
            cmd += ["--conf", "spark.ui.port=0"]
        py_files = []
        for entry in (props.get("spark.yarn.dist.pyFiles") or "").split(","):
            name = os.path.basename(entry.split("#")[0].strip())
            for cand in (os.path.join(work_dir, "__pyfiles__", name), os.path.join(work_dir, name)):
                if name and os.path.isfile(cand):
                    py_files.append(cand)
                    break
        if py_files:
            cmd += ["--py-files", ",".join(py_files)]
        if main_class and not primary:
            cmd += ["--class", main_class, os.path.join(work_dir, "__app__.jar")]
        else:
            cmd.append(os.path.join(work_dir, primary))
        cmd += args
        am_env = {k: v for k, v in _entries(spec.get("environment")) if "{{" not in v and "<CPS>" not in v}
        rec = {"id": app.id, "container_id": app.container_id, "log_dir": log_dir, "work_dir": work_dir}
        run = {
            "app_id": app.id, "rm_addrs": [self.rm_addr(r) for r in self.rm_ids], "user": app.user, "cluster": True,
            "cmd": cmd, "env": yarn_container.container_env(real_home, rec, app.user, am_env), "cwd": work_dir,
            "log_dir": log_dir, "files": [], "accepted_secs": 0, "running_when": "sparkcontext", "passthrough": False,
        }
        yarn_container.launch_monitor(rec, run, True)

    # ------------------------------------------------------------------ the worker node (datanode + nodemanager web)

    def container_log_dir(self, app):
        return os.path.join(self.nm_dir, "logs", app.id, app.container_id)

    def container_work_dir(self, app):
        return os.path.join(self.nm_dir, "usercache", app.user, "appcache", app.id, app.container_id)

    def _find_container(self, cid):
        m = re.fullmatch(r"container_(\d+)_(\d+)_\d+_\d+", cid)
        if not m:
            return None
        app_id = f"application_{m.group(1)}_{m.group(2)}"
        with self.lock:
            return self.apps.get(app_id)

    def _node(self, ctx):
        path = ctx.path
        if path.startswith("/webhdfs/v1"):
            return self._webhdfs(ctx, datanode=True)
        m = re.fullmatch(r"/ws/v1/node/containerlogs/([^/]+)/([^/]+)", path)
        if m:
            app = self._find_container(m.group(1))
            f = os.path.join(self.container_log_dir(app), m.group(2)) if app else None
            if not f or "/" in m.group(2) or not os.path.isfile(f):
                return Resp(404, f"Cannot find this log on the local disk: {m.group(2)}", "text/plain;charset=utf-8")
            with open(f, "rb") as fh:
                return Resp(200, fh.read(), "text/plain;charset=utf-8")
        m = re.fullmatch(r"/node/containerlogs/([^/]+)/([^/]+)(?:/([^/]+))?/?", path)
        if m:
            cid, _user, fname = m.groups()
            app = self._find_container(cid)
            d = self.container_log_dir(app) if app else None
            if not d or not os.path.isdir(d):
                return Resp(404, f"<html><body><h1>Logs not available for {_xml_escape(cid)}. Aggregation may not be complete.</h1></body></html>", "text/html;charset=utf-8")
            names = [fname] if fname else sorted(os.listdir(d))
            start_q = ctx.q("start")
            parts = [f"<html><head><title>Logs for {_xml_escape(cid)}</title></head><body>"]
            for n in names:
                f = os.path.join(d, n)
                if not os.path.isfile(f):
                    return Resp(404, f"<html><body><h1>Cannot find this log on the local disk: {_xml_escape(n)}</h1></body></html>", "text/html;charset=utf-8")
                size = os.path.getsize(f)
                start = int(start_q) if start_q not in (None, "") else -4096
                start = max(0, size + start) if start < 0 else min(start, size)
                with open(f, "rb") as fh:
                    fh.seek(start)
                    data = fh.read().decode("utf-8", "replace")
                parts.append(f"<p>Log Type: {_xml_escape(n)}</p><p>Log Length: {size}</p>")
                if start > 0:
                    parts.append(f"<p>Showing {size - start} bytes of {size} total. Click <a href=\"/node/containerlogs/{cid}/{_user}/{n}/?start=0\">here</a> for the full log.</p>")
                parts.append(f"<pre>{_xml_escape(data)}</pre>")
            parts.append("</body></html>")
            return Resp(200, "".join(parts), "text/html;charset=utf-8")
        return Resp(404, "<html><body><h2>HTTP ERROR 404</h2></body></html>", "text/html;charset=utf-8")
