"""The test-control side: the Python API tests call, and the same under /emulator/ over HTTP.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import threading
import time

from .model import Fault
from .protocol import APP_ID_RE, DEFAULT_WEB_USER, FINAL_STATES, FINAL_STATUSES, HttpError, JSON_CT, Resp
from .tokens import decode_token


class ControlMixin:
    """Test control: apps, states, faults, counters, settings (Python API and /emulator/ endpoints)."""

    # ------------------------------------------------------------------ Python API (also used by the control endpoints)

    def reserve_app_id(self):
        return self._allocate_id()

    def register_app(self, name="app", queue="default", user=None, tags=(), app_type="SPARK", state="ACCEPTED",
                     final_status=None, diagnostics="", pid=None, memory=1024, vcores=1, app_id=None, priority=0):
        if app_id is not None and not APP_ID_RE.match(app_id):
            raise ValueError(f"invalid app id {app_id!r}")
        with self.lock:
            if app_id in self.apps:
                raise HttpError(409, "Conflict", f"{app_id} already registered", "")
        app = self._create_app(app_id=app_id, name=name, queue=queue, user=user or DEFAULT_WEB_USER, app_type=app_type,
                               tags=tags, memory=memory, vcores=vcores, priority=priority, state=state,
                               final_status=final_status, diagnostics=diagnostics, pid=pid, submitted_via="emulator")
        return app.id

    def set_app_state(self, app_id, state, final_status=None, diagnostics=None, force=False, append_diagnostics=False,
                      progress=None, signal_process=False, **extra):
        with self.lock:
            app = self.apps.get(app_id)
            if app is None:
                raise HttpError(404, "NotFound", f"no app {app_id}", "")
            if app.state in FINAL_STATES and not force:
                raise HttpError(409, "Conflict", f"{app_id} is already {app.state}; pass force to override", "")
            if final_status and final_status.upper() not in FINAL_STATUSES:
                raise ValueError(f"invalid finalStatus {final_status!r}")
            self._transition(app, state, final_status, diagnostics, append_diagnostics, progress)
            for k in ("ui_url", "allocated_mb", "allocated_vcores", "pid"):
                if extra.get(k) is not None:
                    setattr(app, k, extra[k])
            self._save_state()
        if signal_process and app.state == "KILLED":
            self._signal_process(app, signal.SIGTERM)
        return app

    def app_record(self, app_id):
        with self.lock:
            app = self.apps.get(app_id)
            if app is None:
                return None
            d = app.to_dict()
            d.update(container_id=app.container_id, log_dir=self.container_log_dir(app), work_dir=self.container_work_dir(app),
                     app=self._app_info(app, self.rm_addr(self.active_rm or self.rm_ids[0])))
            return d

    def set_active(self, rm_id):
        if rm_id is not None and rm_id not in self.rm_ids:
            raise ValueError(f"unknown rm id {rm_id!r}")
        with self.lock:
            self.active_rm = rm_id

    def counters(self, server=None, group="path"):
        with self.lock:
            reqs = list(self.requests)
        out = {}
        for r in reqs:
            if server and r["server"] != server:
                continue
            out_key = f"{r['method']} {self._counter_path(r, group)}"
            out[out_key] = out.get(out_key, 0) + 1
        return out

    @staticmethod
    def _counter_path(r, group):
        p = r["path"]
        if group == "route":
            p = re.sub(r"application_\d+_\d+", "{appid}", p)
            p = re.sub(r"container_\d+_\d+_\d+_\d+", "{containerid}", p)
            if p.startswith("/webhdfs/v1"):
                p = "/webhdfs/v1/{path}"
        if p.startswith("/webhdfs/v1") and "op" in r["query"]:
            p += "?op=" + r["query"]["op"].upper()
        return p

    def request_log(self, server=None, path_prefix=None):
        with self.lock:
            return [dict(r) for r in self.requests
                    if (not server or r["server"] == server) and (not path_prefix or r["path"].startswith(path_prefix))]

    def reset_counters(self):
        with self.lock:
            self.requests.clear()

    def add_fault(self, target="rm", mode="latency", _keep_conn=None, **kw):
        if target not in ("all", "rm", "webhdfs", "node") and target not in self.rm_ids:
            raise ValueError(f"unknown fault target {target!r}")
        f = Fault(target, mode, **kw)
        with self.lock:
            self.faults.append(f)
        if mode == "refuse":
            for name in self._fault_servers(target):
                self._refuse(name, f.until, _keep_conn)
        return f

    def _fault_servers(self, target):
        names = list(self.rm_ids) + ["webhdfs", "node"]
        return [n for n in names if target == "all" or target == n or (target == "rm" and n in self.rm_ids)]

    def _refuse(self, name, until, keep_conn=None):
        with self.lock:
            old = self.refused.get(name)
            if old:
                old.cancel()
            self.refused[name] = None
        self._unbind(name, keep_conn)
        if until is not None:
            t = threading.Timer(max(0.0, until - time.time()), self._unrefuse, (name,))
            t.daemon = True
            with self.lock:
                self.refused[name] = t
            t.start()

    def _unrefuse(self, name):
        with self.lock:
            if name not in self.refused:
                return
            t = self.refused.pop(name)
            if t:
                t.cancel()
            self.faults = [f for f in self.faults if not (f.mode == "refuse" and self._fault_matches(f, name))]
        if not self.running:
            return
        role = "rm" if name in self.rm_ids else ("nn" if name == "webhdfs" else "node")
        for _ in range(50):
            try:
                self._bind(name, role, self.ports[name], name if role == "rm" else None)
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"could not re-bind {name} on port {self.ports[name]}")

    def clear_faults(self):
        with self.lock:
            self.faults = []
            refused = list(self.refused)
        for name in refused:
            self._unrefuse(name)

    def reset(self, apps=True, counters=True, faults=True, webhdfs=False):
        if faults:
            self.clear_faults()
        with self.lock:
            if apps:
                self.apps.clear()
                self.reserved_ids.clear()
                self.queue_extra_usage.clear()
                self._save_state()
            if counters:
                self.requests.clear()
            if webhdfs:
                shutil.rmtree(self.hdfs_root, ignore_errors=True)
                os.makedirs(self.hdfs_root, exist_ok=True)
                self.hdfs_meta = {}
                self._init_hdfs()

    # ------------------------------------------------------------------ control endpoints (/emulator/...)

    def _control(self, ctx):
        path = ctx.path.rstrip("/") or "/emulator"
        m = ctx.method
        body = ctx.json_body() if ctx.body and ctx.body.strip() else {}
        ok = lambda obj, status=200: Resp(status, json.dumps(obj), JSON_CT)  # noqa: E731

        if path == "/emulator":
            return ok({"endpoints": CONTROL_HELP, "info": self.info()})
        if path == "/emulator/config":
            return ok({**self.info(), "settings": dict(self.settings), "queues": self.queues,
                       "maximum-resource-capability": {"memory": self.max_alloc_mb, "vCores": self.max_alloc_vcores},
                       "total": {"memory": self.total_mb, "vCores": self.total_vcores}})
        if path == "/emulator/settings" and m in ("POST", "PUT"):
            for k, v in body.items():
                if k not in self.settings:
                    raise ValueError(f"unknown setting {k!r}; known: {sorted(self.settings)}")
                if k == "ha_redirect_mode" and v not in ("redirect", "refresh"):
                    raise ValueError("ha_redirect_mode must be 'redirect' or 'refresh'")
                self.settings[k] = v
            return ok(dict(self.settings))
        if path == "/emulator/reset" and m == "POST":
            self.reset(**{k: bool(body[k]) for k in ("apps", "counters", "faults", "webhdfs") if k in body})
            return ok({"reset": True})
        if path == "/emulator/new-application" and m == "POST":
            app_id = self.reserve_app_id()
            return ok({"id": app_id, "cluster_timestamp": self.cluster_ts})
        if path == "/emulator/apps":
            if m == "GET":
                with self.lock:
                    ids = list(self.apps)
                return ok({"apps": [self.app_record(i) for i in ids]})
            if m == "POST":
                app_id = self.register_app(
                    name=body.get("name", "app"), queue=body.get("queue", "default"), user=body.get("user"),
                    tags=body.get("tags", ()), app_type=body.get("type", body.get("applicationType", "SPARK")),
                    state=body.get("state", "ACCEPTED"), final_status=body.get("finalStatus", body.get("final_status")),
                    diagnostics=body.get("diagnostics", ""), pid=body.get("pid"), memory=body.get("memory", 1024),
                    vcores=body.get("vcores", body.get("vCores", 1)), app_id=body.get("id"), priority=body.get("priority", 0),
                )
                return ok(self.app_record(app_id), 201)
            if m == "DELETE":
                self.reset(apps=True, counters=False, faults=False)
                return ok({"deleted": True})
        mm = re.fullmatch(r"/emulator/apps/([^/]+)(/state|/pid)?", path)
        if mm:
            app_id, sub = mm.group(1), mm.group(2)
            rec = self.app_record(app_id)
            if rec is None:
                raise HttpError(404, "NotFound", f"no app {app_id}", "")
            if sub is None and m == "GET":
                return ok(rec)
            if sub == "/state" and m in ("POST", "PUT"):
                self.set_app_state(
                    app_id, body["state"], final_status=body.get("finalStatus", body.get("final_status")),
                    diagnostics=body.get("diagnostics"), force=bool(body.get("force")),
                    append_diagnostics=bool(body.get("append_diagnostics")), progress=body.get("progress"),
                    signal_process=bool(body.get("signal")), ui_url=body.get("ui_url"),
                    allocated_mb=body.get("allocatedMB"), allocated_vcores=body.get("allocatedVCores"), pid=body.get("pid"),
                )
                return ok(self.app_record(app_id))
            if sub == "/pid" and m in ("POST", "PUT"):
                with self.lock:
                    self.apps[app_id].pid = int(body["pid"])
                    self._save_state()
                return ok(self.app_record(app_id))
        if path == "/emulator/active" and m in ("POST", "PUT"):
            self.set_active(body.get("rm"))
            return ok({"active_rm": self.active_rm})
        if path == "/emulator/active" and m == "GET":
            return ok({"active_rm": self.active_rm})
        if path == "/emulator/counters":
            if m == "GET":
                return ok(self.counters(ctx.q("server"), ctx.q("group", "path")))
            if m in ("DELETE", "POST"):
                self.reset_counters()
                return ok({})
        if path == "/emulator/counters/reset" and m == "POST":
            self.reset_counters()
            return ok({})
        if path == "/emulator/auth/reset" and m == "POST":
            # A new signing secret: every hadoop.auth cookie issued so far is refused (401), as
            # after an RM restart, so clients must negotiate SPNEGO again.
            with self.lock:
                self.cookie_secret = secrets.token_bytes(32)
            return ok({})
        if path == "/emulator/tokens" and m == "GET":
            with self.lock:
                rm = [dict(decode_token(t) or {}, store="rm", **{"expiration-time": i["expiration-time"]}) for t, i in self.tokens.items()]
                nn = [dict(decode_token(t) or {}, store="hdfs", expiration=i["expiration"]) for t, i in self.hdfs_tokens.items()]
            return ok({"tokens": rm + nn})
        if path == "/emulator/requests" and m == "GET":
            return ok({"requests": self.request_log(ctx.q("server"), ctx.q("path_prefix"))})
        if path == "/emulator/faults":
            if m == "GET":
                with self.lock:
                    return ok({"faults": [f.to_dict() for f in self.faults]})
            if m == "POST":
                target = body.pop("target", "rm")
                mode = body.pop("mode")
                f = self.add_fault(target, mode, _keep_conn=ctx.handler.connection, **body)
                r = ok(f.to_dict(), 201)
                r.close = mode == "refuse"  # this connection's listener may be gone
                return r
            if m == "DELETE":
                self.clear_faults()
                return ok({"faults": []})
        mq = re.fullmatch(r"/emulator/queues/([^/]+)/usage", path)
        if mq and m in ("POST", "PUT"):
            if mq.group(1) not in self._leaf_names():
                raise HttpError(404, "NotFound", f"no queue {mq.group(1)}", "")
            with self.lock:
                self.queue_extra_usage[mq.group(1)] = {k: int(body.get(k, 0)) for k in ("memory", "vCores", "containers")}
            return ok({"queue": mq.group(1), "extra_usage": self.queue_extra_usage[mq.group(1)]})
        raise HttpError(404, "NotFound", f"no control endpoint {m} {path}", "")


CONTROL_HELP = {
    "GET /emulator/": "this help + info",
    "GET /emulator/config": "ports, ids, queues, max capability, settings",
    "POST /emulator/settings": "{ha_redirect_mode: redirect|refresh, kill_delay_ms, sigkill_after_ms, webhdfs_redirect, body_read_bytes_per_sec}",
    "POST /emulator/reset": "{apps, counters, faults, webhdfs: bool} (default: apps+counters+faults)",
    "POST /emulator/new-application": "reserve an app id (not listed until registered)",
    "GET|POST|DELETE /emulator/apps": "list | register {name, queue, user, tags, type, state, finalStatus, diagnostics, pid, memory, vcores, id} | delete all",
    "GET /emulator/apps/{id}": "internal record incl. history, kill_events, pid, log_dir, work_dir, app (REST view)",
    "POST /emulator/apps/{id}/state": "{state, finalStatus, diagnostics, append_diagnostics, progress, force, signal, ui_url, allocatedMB, allocatedVCores, pid}",
    "POST /emulator/apps/{id}/pid": "{pid} whose process group gets SIGTERM when the app is KILLED through the REST API",
    "GET|POST /emulator/active": "{rm: 'rm2' | null}",
    "GET|DELETE /emulator/counters": "?server=rm1&group=path|route ; DELETE (or POST /emulator/counters/reset) clears",
    "GET /emulator/requests": "?server=&path_prefix= ; request log with user.name/doAs/auth/principal/user/status/agent",
    "POST /emulator/auth/reset": "new hadoop.auth signing secret: cookies issued so far get 401 (clients renegotiate)",
    "GET /emulator/tokens": "delegation tokens issued (RM and WebHDFS), decoded: kind, service, owner, renewer, real_user",
    "GET|POST|DELETE /emulator/faults": "{target: rm|rm1|rm2|webhdfs|node|all, mode: latency|garbage|html|status|reset|refuse, latency_ms, status, count, seconds, path_prefix, body}",
    "POST /emulator/queues/{queue}/usage": "{memory, vCores, containers} used by other tenants",
}
