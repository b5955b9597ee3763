"""The Emulator: its state, lifecycle, addresses, persistence, and the request pipeline that
sends each request through faults and authentication to the RM, WebHDFS or the node.
"""
from __future__ import annotations

import json
import os
import secrets
import signal
import threading
import time
from xml.sax.saxutils import escape as _xml_escape

from .apps import AppsMixin
from .auth import AuthMixin, default_spnego_validator
from .control import ControlMixin
from .httpd import _Server
from .model import App, DEFAULT_QUEUES, Fault, GARBAGE_BODY, HTML_BODY
from .node import NodeMixin
from .protocol import Ctx, FINAL_STATES, HttpError, JSON_CT, Resp, error_resp, now_ms
from .rm import RmMixin
from .tokens import TokensMixin
from .webhdfs import WebHdfsMixin


class Emulator(RmMixin, AppsMixin, TokensMixin, WebHdfsMixin, NodeMixin, AuthMixin, ControlMixin):
    def __init__(
        self,
        state_dir,
        host="127.0.0.1",
        port=0,
        ha=None,
        require_spnego=False,
        spnego_validator=None,
        webhdfs_port=0,
        node_port=0,
        total_mb=16384,
        total_vcores=16,
        max_alloc_mb=8192,
        max_alloc_vcores=8,
        queues=None,
        ha_redirect_mode="redirect",
        kill_delay_ms=200,
        sigkill_after_ms=3000,
        recover=True,
        kill_drivers_on_stop=True,
        verbose=False,
        rm_principal=None,
    ):
        self.state_dir = os.path.abspath(str(state_dir))
        self.host = host
        self.port = int(port)
        self.rm_ids = list(ha) if ha else ["rm1"]
        self.ha_enabled = bool(ha)
        self.active_rm = self.rm_ids[0]
        self.require_spnego = require_spnego
        self.spnego_validator = spnego_validator or default_spnego_validator
        self.webhdfs_port = int(webhdfs_port)
        self.node_port = int(node_port)
        self.total_mb = total_mb
        self.total_vcores = total_vcores
        self.max_alloc_mb = max_alloc_mb
        self.max_alloc_vcores = max_alloc_vcores
        self.queues = [dict(q) for q in (queues or DEFAULT_QUEUES)]
        self.queue_extra_usage = {}  # queue -> {"memory":..,"vCores":..} used by "other tenants"
        self.settings = {
            "ha_redirect_mode": ha_redirect_mode,  # redirect (307) | refresh (old Refresh header)
            "kill_delay_ms": kill_delay_ms,
            "sigkill_after_ms": sigkill_after_ms,
            "webhdfs_redirect": True,
            # Read request bodies at most this fast (0: as fast as they come), as a slow
            # DataNode or a slow link would.
            "body_read_bytes_per_sec": 0,
            # Run a REST-submitted Spark ApplicationMaster's driver (see _launch_spark_am).
            "run_spark_am": True,
        }
        self.recover = recover
        self.kill_drivers_on_stop = kill_drivers_on_stop
        self.verbose = verbose
        self.lock = threading.RLock()
        self.cluster_ts = now_ms()
        self.started_on = self.cluster_ts
        self.next_seq = 1
        self.apps: dict[str, App] = {}
        self.reserved_ids = set()
        self.tokens = {}  # RM delegation tokens: token -> dict
        self.hdfs_tokens = {}
        self.token_seq = 0
        self.rm_principal = rm_principal
        self.requests = []
        self.faults: list[Fault] = []
        self.refused = {}  # server name -> restore timer or None
        self.servers: dict[str, _Server] = {}
        self.ports = {}
        self.threads = {}
        self.timers = []
        self.cookie_secret = secrets.token_bytes(32)
        self.running = False
        self.hdfs_root = os.path.join(self.state_dir, "webhdfs", "data")
        self.hdfs_meta_file = os.path.join(self.state_dir, "webhdfs", "meta.json")
        self.hdfs_meta = {}
        self.rm_state_file = os.path.join(self.state_dir, "rm-state.json")
        self.nm_dir = os.path.join(self.state_dir, "nm-local-dir")
        self.conf_dir = os.path.join(self.state_dir, "hadoop-conf")

    # ------------------------------------------------------------------ lifecycle

    def start(self):
        os.makedirs(self.state_dir, exist_ok=True)
        os.makedirs(self.hdfs_root, exist_ok=True)
        os.makedirs(self.nm_dir, exist_ok=True)
        self._load_state()
        base_port = self.port
        for i, rm_id in enumerate(self.rm_ids):
            p = base_port + i if base_port else 0
            self._bind(rm_id, "rm", p, rm_id)
        self._bind("webhdfs", "nn", self.webhdfs_port)
        self._bind("node", "node", self.node_port)
        self._init_hdfs()
        self._write_hadoop_conf()
        self.running = True
        return self

    def _bind(self, name, role, port, rm_id=None):
        srv = _Server((self.host, port), self, name, role, rm_id)
        self.servers[name] = srv
        self.ports[name] = srv.server_address[1]
        t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True, name=f"emu-{name}")
        t.start()
        self.threads[name] = t

    def _unbind(self, name, keep_conn=None):
        srv = self.servers.pop(name, None)
        if srv is None:
            return
        srv.shutdown()
        srv.server_close()
        srv.close_connections(keep_conn)

    def stop(self):
        if not self.running:
            return
        self.running = False
        with self.lock:
            for t in self.timers:
                t.cancel()
            self.timers.clear()
            for t in self.refused.values():
                if t:
                    t.cancel()
            apps = list(self.apps.values())
        for name in list(self.servers):
            self._unbind(name)
        if self.kill_drivers_on_stop:
            for app in apps:
                if app.pid and app.state not in FINAL_STATES:
                    self._signal_process(app, signal.SIGKILL, record=False)
        with self.lock:
            self._save_state()

    def __enter__(self):
        return self.start() if not self.running else self

    def __exit__(self, *exc):
        self.stop()

    # ------------------------------------------------------------------ addresses

    def rm_addr(self, rm_id=None):
        return f"{self.host}:{self.ports[rm_id or self.active_rm]}"

    def rm_url(self, rm_id=None):
        return f"http://{self.rm_addr(rm_id)}"

    @property
    def webhdfs_addr(self):
        return f"{self.host}:{self.ports['webhdfs']}"

    @property
    def webhdfs_url(self):
        return f"http://{self.webhdfs_addr}"

    @property
    def node_addr(self):
        return f"{self.host}:{self.ports['node']}"

    def info(self):
        return {
            "rm": {r: self.rm_addr(r) for r in self.rm_ids},
            "rm_ids": list(self.rm_ids),
            "ha": self.ha_enabled,
            "active_rm": self.active_rm,
            "rm_url": self.rm_url() if self.active_rm else None,
            "webhdfs": self.webhdfs_addr,
            "webhdfs_url": self.webhdfs_url,
            "node": self.node_addr,
            "cluster_timestamp": self.cluster_ts,
            "state_dir": self.state_dir,
            "hadoop_conf_dir": self.conf_dir,
            "require_spnego": self.require_spnego,
            "pid": os.getpid(),
        }

    def _write_hadoop_conf(self):
        os.makedirs(self.conf_dir, exist_ok=True)

        def write(name, props):
            body = "".join(
                f"  <property><name>{_xml_escape(k)}</name><value>{_xml_escape(str(v))}</value></property>\n"
                for k, v in props
            )
            with open(os.path.join(self.conf_dir, name), "w") as f:
                f.write(f'<?xml version="1.0"?>\n<!-- written by tests/yarn/rm_emulator.py -->\n<configuration>\n{body}</configuration>\n')

        yarn = []
        if self.ha_enabled:
            yarn += [
                ("yarn.resourcemanager.ha.enabled", "true"),
                ("yarn.resourcemanager.cluster-id", "emulator"),
                ("yarn.resourcemanager.ha.rm-ids", ",".join(self.rm_ids)),
            ]
            for r in self.rm_ids:
                yarn += [(f"yarn.resourcemanager.hostname.{r}", self.host), (f"yarn.resourcemanager.webapp.address.{r}", self.rm_addr(r))]
        else:
            yarn += [("yarn.resourcemanager.hostname", self.host), ("yarn.resourcemanager.webapp.address", self.rm_addr("rm1"))]
        if self.rm_principal:
            yarn.append(("yarn.resourcemanager.principal", self.rm_principal))
        yarn += [
            ("yarn.scheduler.maximum-allocation-mb", self.max_alloc_mb),
            ("yarn.scheduler.maximum-allocation-vcores", self.max_alloc_vcores),
        ]
        write("yarn-site.xml", yarn)
        write("core-site.xml", [
            ("fs.defaultFS", f"webhdfs://{self.webhdfs_addr}"),
            ("hadoop.security.authentication", "kerberos" if self.require_spnego else "simple"),
        ])
        write("hdfs-site.xml", [("dfs.namenode.http-address", self.webhdfs_addr), ("dfs.webhdfs.enabled", "true")])

    # ------------------------------------------------------------------ persistence

    def _load_state(self):
        if self.recover and os.path.exists(self.rm_state_file):
            with open(self.rm_state_file) as f:
                d = json.load(f)
            self.apps = {a["id"]: App.from_dict(a) for a in d.get("apps", [])}
            self.next_seq = d.get("next_seq", 1)
            for app in self.apps.values():
                app.kill_pending = False
        if os.path.exists(self.hdfs_meta_file):
            with open(self.hdfs_meta_file) as f:
                self.hdfs_meta = json.load(f)

    def _save_state(self):
        tmp = self.rm_state_file + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"next_seq": self.next_seq, "apps": [a.to_dict() for a in self.apps.values()]}, f)
        os.replace(tmp, self.rm_state_file)

    def _save_hdfs_meta(self):
        tmp = self.hdfs_meta_file + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.hdfs_meta, f)
        os.replace(tmp, self.hdfs_meta_file)

    # ------------------------------------------------------------------ request pipeline

    def _handle(self, ctx: Ctx):
        srv = ctx.server
        if ctx.path == "/emulator" or ctx.path.startswith("/emulator/"):
            try:
                return self._control(ctx)
            except HttpError as e:
                return Resp(e.status, json.dumps({"error": e.message}), JSON_CT)
            except (ValueError, KeyError, TypeError) as e:
                return Resp(400, json.dumps({"error": f"{type(e).__name__}: {e}"}), JSON_CT)
        rec = {
            "t": now_ms(), "server": srv.name, "method": ctx.method, "path": ctx.path,
            "query": dict(ctx.query), "user.name": ctx.q("user.name"),
            "doAs": ctx.q("doAs", ctx.q("doas")), "status": None, "auth": None, "principal": None, "user": None,
            "agent": ctx.headers.get("User-Agent"),
        }
        ctx.record = rec
        fault = self._take_fault(srv.name, ctx.path)
        if fault and fault.latency_ms:
            time.sleep(fault.latency_ms / 1000.0)
        resp = None
        if fault and fault.mode == "reset":
            rec["status"] = "reset"
        elif fault and fault.mode == "garbage":
            resp = Resp(200, fault.body.encode() if fault.body else GARBAGE_BODY, JSON_CT)
        elif fault and fault.mode == "html":
            resp = Resp(fault.status, fault.body or HTML_BODY, "text/html;charset=utf-8")
        elif fault and fault.mode == "status":
            resp = Resp(fault.status, fault.body or f"<html><body><h2>HTTP ERROR {fault.status}</h2></body></html>", "text/html;charset=utf-8")
        else:
            try:
                resp = self._authenticate(ctx)
                if resp is None:
                    if srv.role == "rm":
                        resp = self._rm(ctx)
                    elif srv.role == "nn":
                        resp = self._webhdfs(ctx, datanode=False)
                    else:
                        resp = self._node(ctx)
            except HttpError as e:
                resp = error_resp(ctx, e, xml_ok=srv.role == "rm")
            except Exception as e:  # noqa: BLE001 - surface emulator bugs as 500s
                import traceback

                traceback.print_exc()
                resp = error_resp(ctx, HttpError(500, "WebApplicationException", f"emulator bug: {e!r}", "javax.ws.rs.WebApplicationException"))
            if ctx.auth and ctx.auth.get("set_cookie") and resp is not None:
                resp.headers.append(("Set-Cookie", ctx.auth["set_cookie"]))
            if ctx.auth and ctx.auth.get("out_token") and resp is not None:
                resp.headers.append(("WWW-Authenticate", "Negotiate " + ctx.auth["out_token"]))
        if resp is not None:
            rec["status"] = resp.status
        if ctx.auth:
            rec["auth"], rec["principal"], rec["user"] = ctx.auth.get("method"), ctx.auth.get("principal"), ctx.auth.get("user")
        with self.lock:
            self.requests.append(rec)
            if len(self.requests) > 200000:
                del self.requests[:100000]
        return resp

    def _take_fault(self, server_name, path):
        with self.lock:
            t = time.time()
            self.faults = [f for f in self.faults if (f.until is None or f.until > t) and (f.count is None or f.count > 0)]
            for f in self.faults:
                if f.mode == "refuse":
                    continue
                if not self._fault_matches(f, server_name) or not path.startswith(f.path_prefix):
                    continue
                if f.count is not None:
                    f.count -= 1
                return f
        return None

    def _fault_matches(self, f, server_name):
        if f.target in ("all", server_name):
            return True
        return f.target == "rm" and server_name in self.rm_ids
