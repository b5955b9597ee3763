"""Applications on the RM: listing, new-application, submission, state changes and kills, the proxy.
"""
from __future__ import annotations

import json
import os
import random
import re
import signal
import threading
from xml.etree import ElementTree as ET

from .model import App, SPARK_AM_CLASS, _am_command, _norm_tags, _tags_from, _xml_to_dict
from .protocol import APP_ID_RE, APP_STATES, DEFAULT_FINAL_STATUS, DEFAULT_WEB_USER, FINAL_STATES, FINAL_STATUSES, JSON_CT, Resp, XML_CT, now_ms, respond, rm_bad_request, rm_not_found, wants_xml


class AppsMixin:
    """The RM's applications: their REST views and their life."""

    def _get_app(self, app_id):
        if not APP_ID_RE.match(app_id):
            raise rm_bad_request(f"java.lang.IllegalArgumentException: Invalid ApplicationId: {app_id}")
        with self.lock:
            app = self.apps.get(app_id)
        if app is None:
            raise rm_not_found(f"java.lang.Exception: app with id: {app_id} not found")
        return app

    def _app_info(self, app, ctx_or_addr):
        rm_addr = ctx_or_addr if isinstance(ctx_or_addr, str) else ctx_or_addr.server.addr
        now = now_ms()
        final = app.state in FINAL_STATES
        running = app.state == "RUNNING"
        end = app.finished if final and app.finished else now
        if app.has_attempt:
            tracking_url = f"http://{rm_addr}/proxy/{app.id}/"
        else:
            tracking_url = f"http://{rm_addr}/cluster/app/{app.id}"
        tracking_ui = "History" if final else ("ApplicationMaster" if running else "UNASSIGNED")
        mb, vc = self._alloc(app)
        run_secs = 0
        if app.launched:
            run_secs = max(0, ((app.finished if final and app.finished else now) - app.launched) // 1000)
        d = {
            "id": app.id,
            "user": app.user,
            "name": app.name,
            "queue": app.queue,
            "state": app.state,
            "finalStatus": app.final_status,
            "progress": 100.0 if final else float(app.progress),
            "trackingUI": tracking_ui,
            "trackingUrl": tracking_url,
            "diagnostics": app.diagnostics,
            "clusterId": self.cluster_ts,
            "applicationType": app.type,
            "applicationTags": ",".join(app.tags),
            "priority": app.priority,
            "startedTime": app.started,
            "launchTime": app.launched,
            "finishedTime": app.finished if final else 0,
            "elapsedTime": max(0, end - app.started),
        }
        if app.has_attempt:
            d["amContainerLogs"] = f"http://{self.node_addr}/node/containerlogs/{app.container_id}/{app.user}"
            d["amHostHttpAddress"] = self.node_addr
        if running:
            d["amRPCAddress"] = f"{self.host}:{app.am_rpc_port}"
        d.update({
            "masterNodeId": f"{self.host}:45454" if app.has_attempt else "",
            "allocatedMB": mb if running else (-1 if final else 0),
            "allocatedVCores": vc if running else (-1 if final else 0),
            "reservedMB": 0,
            "reservedVCores": 0,
            "runningContainers": (1 if running else (-1 if final else 0)),
            "memorySeconds": int(run_secs * (app.allocated_mb or app.am_memory or 0)),
            "vcoreSeconds": int(run_secs * (app.allocated_vcores or app.am_vcores or 0)),
            "queueUsagePercentage": 0.0,
            "clusterUsagePercentage": round(100.0 * mb / self.total_mb, 4) if running else 0.0,
            "preemptedResourceMB": 0,
            "preemptedResourceVCores": 0,
            "numNonAMContainerPreempted": 0,
            "numAMContainerPreempted": 0,
            "logAggregationStatus": "DISABLED",
            "unmanagedApplication": bool(app.unmanaged),
            "appNodeLabelExpression": app.node_label or "",
            "amNodeLabelExpression": app.node_label or "",
        })
        return d

    def _apps(self, ctx):
        q = ctx.query

        def csv(name):
            v = q.get(name)
            if v is None:
                return None
            out = []
            for k, val in ctx.qlist:  # repeated params are allowed too
                if k == name:
                    out += [s.strip() for s in val.split(",") if s.strip()]
            return out

        def num(name, default):
            v = q.get(name)
            if v is None or v == "":
                return default
            try:
                n = int(v)
            except ValueError:
                raise rm_bad_request(f"java.lang.NumberFormatException: For input string: \"{v}\"")
            if n < 0:
                raise rm_bad_request(f"java.lang.Exception: {name} must be greater than 0")
            return n

        states = csv("states") or []
        if q.get("state"):
            states.append(q["state"])
        states_u = set()
        for s in states:
            if s.upper() not in APP_STATES:
                raise rm_bad_request(
                    f"java.lang.IllegalArgumentException: Invalid application-state {s} specified. It should be one of {', '.join(APP_STATES)}"
                )
            states_u.add(s.upper())
        final_status = q.get("finalStatus")
        if final_status and final_status.upper() not in FINAL_STATUSES:
            raise rm_bad_request(f"java.lang.IllegalArgumentException: No enum constant org.apache.hadoop.yarn.api.records.FinalApplicationStatus.{final_status}")
        limit = num("limit", None)
        if limit is not None and limit <= 0:
            raise rm_bad_request("java.lang.Exception: limit value must be greater then 0")
        sb, se = num("startedTimeBegin", 0), num("startedTimeEnd", 2**63 - 1)
        if sb > se:
            raise rm_bad_request("java.lang.Exception: startedTimeEnd must be greater than startTimeBegin")
        fb, fe = num("finishedTimeBegin", 0), num("finishedTimeEnd", 2**63 - 1)
        if fb > fe:
            raise rm_bad_request("java.lang.Exception: finishedTimeEnd must be greater than finishedTimeBegin")
        types = {t.lower() for t in (csv("applicationTypes") or [])}
        tags = {t.lower() for t in (csv("applicationTags") or [])}
        user, queue = q.get("user"), q.get("queue")
        with self.lock:
            apps = sorted(self.apps.values(), key=lambda a: (a.cluster_ts, a.seq))
        out = []
        for a in apps:
            if states_u and a.state not in states_u:
                continue
            if final_status and a.final_status != final_status.upper():
                continue
            if user and a.user != user:
                continue
            if queue and queue not in (a.queue, f"root.{a.queue}"):
                continue
            if types and a.type.lower() not in types:
                continue
            if tags and not (tags & set(a.tags)):
                continue
            if not (sb <= a.started <= se):
                continue
            fin = a.finished if a.state in FINAL_STATES else 0
            if not (fb <= fin <= fe):
                continue
            out.append(self._app_info(a, ctx))
            if limit is not None and len(out) >= limit:
                break
        return respond(ctx, 200, {"apps": {"app": out} if out else None}, "apps")

    def _attempts(self, ctx, app):
        if not app.has_attempt:
            return respond(ctx, 200, {"appAttempts": None}, "appAttempts")
        att = {
            "id": 1,
            "startTime": app.attempt_start,
            "finishedTime": app.finished if app.state in FINAL_STATES else 0,
            "containerId": app.container_id,
            "nodeHttpAddress": self.node_addr,
            "nodeId": f"{self.host}:45454",
            "logsLink": f"http://{self.node_addr}/node/containerlogs/{app.container_id}/{app.user}",
            "blacklistedNodes": "",
            "nodesBlacklistedBySystem": "",
            "appAttemptId": app.attempt_id,
            "appAttemptState": {"NEW": "NEW", "NEW_SAVING": "NEW", "SUBMITTED": "SUBMITTED", "ACCEPTED": "LAUNCHED"}.get(app.state, app.state),
        }
        return respond(ctx, 200, {"appAttempts": {"appAttempt": [att]}}, "appAttempts")

    def _parse_body(self, ctx):
        raw = (ctx.body or b"").strip()
        if not raw:
            return {}
        ct = (ctx.headers.get("Content-Type") or "").lower()
        if raw.startswith(b"<") or "xml" in ct:
            try:
                root = ET.fromstring(raw)
            except ET.ParseError as e:
                raise rm_bad_request(f"javax.xml.bind.UnmarshalException: {e}")
            return _xml_to_dict(root)
        try:
            return json.loads(raw)
        except ValueError as e:
            raise rm_bad_request(f"com.fasterxml.jackson.core.JsonParseException: {e}")

    def _allocate_id(self):
        with self.lock:
            seq = self.next_seq
            self.next_seq += 1
            app_id = f"application_{self.cluster_ts}_{seq:04d}"
            self.reserved_ids.add(app_id)
            self._save_state()
            return app_id

    def _new_application(self, ctx):
        app_id = self._allocate_id()
        body = {"application-id": app_id, "maximum-resource-capability": {"memory": self.max_alloc_mb, "vCores": self.max_alloc_vcores}}
        return respond(ctx, 200, body, "NewApplication", body)

    def _submit(self, ctx):
        body = self._parse_body(ctx)
        if "application-submission-context" in body and isinstance(body["application-submission-context"], dict):
            body = body["application-submission-context"]
        app_id = body.get("application-id")
        if not app_id:
            raise rm_bad_request("java.lang.Exception: application-id is required")
        m = APP_ID_RE.match(app_id)
        if not m:
            raise rm_bad_request(f"java.lang.IllegalArgumentException: Invalid ApplicationId: {app_id}")
        with self.lock:
            if app_id in self.apps:
                raise rm_bad_request(f"org.apache.hadoop.yarn.exceptions.YarnException: Application with id {app_id} is already present! Cannot add a duplicate!")
        res = body.get("resource") or {}
        mem = int(res.get("memory", 1024) or 1024)
        vc = int(res.get("vCores", 1) or 1)
        if mem > self.max_alloc_mb or vc > self.max_alloc_vcores or mem < 0 or vc < 0:
            raise rm_bad_request(
                "org.apache.hadoop.yarn.exceptions.InvalidResourceRequestException: Invalid resource request, "
                f"requested resource type=[memory-mb] < 0 or greater than maximum allowed allocation. Requested resource=<memory:{mem}, vCores:{vc}>, "
                f"maximum allowed allocation=<memory:{self.max_alloc_mb}, vCores:{self.max_alloc_vcores}>"
            )
        tags = _tags_from(body.get("application-tags"))
        self._create_app(
            app_id=app_id, name=body.get("application-name") or "N/A", queue=body.get("queue") or "default",
            user=ctx.auth["user"], app_type=body.get("application-type") or "YARN", tags=tags,
            memory=mem, vcores=vc, priority=int(body.get("priority", 0) or 0),
            unmanaged=str(body.get("unmanaged-AM", "false")).lower() == "true", submitted_via="rest",
            submission=body,
        )
        app = self.apps[app_id]
        if app.state == "ACCEPTED" and self.settings["run_spark_am"] and SPARK_AM_CLASS in _am_command(body):
            threading.Thread(target=self._launch_spark_am, args=(app,), daemon=True).start()
        loc = f"http://{ctx.server.addr}/ws/v1/cluster/apps/{app_id}"
        return Resp(202, b"", XML_CT if wants_xml(ctx.headers) else JSON_CT, [("Location", loc)])

    def _create_app(self, app_id=None, name="app", queue="default", user=DEFAULT_WEB_USER, app_type="SPARK", tags=(),
                    memory=1024, vcores=1, priority=0, unmanaged=False, state="ACCEPTED", final_status=None,
                    diagnostics="", pid=None, submitted_via="emulator", submission=None):
        with self.lock:
            if app_id is None:
                app_id = self._allocate_id()
            m = APP_ID_RE.match(app_id)
            cluster_ts, seq = int(m.group(1)), int(m.group(2))
            self.reserved_ids.discard(app_id)
            if cluster_ts == self.cluster_ts and seq >= self.next_seq:
                self.next_seq = seq + 1
            t = now_ms()
            app = App(
                id=app_id, cluster_ts=cluster_ts, seq=seq, user=user or DEFAULT_WEB_USER, name=name, queue=queue,
                type=app_type, tags=_norm_tags(tags), state="NEW", final_status="UNDEFINED", started=t,
                priority=priority, am_memory=int(memory), am_vcores=int(vcores), unmanaged=unmanaged, pid=pid,
                submitted_via=submitted_via, submission=submission, diagnostics="",
            )
            app.am_rpc_port = random.randint(30000, 60000)
            self.apps[app_id] = app
            for s in ("NEW", "NEW_SAVING", "SUBMITTED"):
                app.history.append([s, t])
            app.state = "SUBMITTED"
            if state.upper() in ("NEW", "NEW_SAVING", "SUBMITTED"):
                app.history = app.history[: ["NEW", "NEW_SAVING", "SUBMITTED"].index(state.upper()) + 1]
                app.state = state.upper()
            elif queue not in self._leaf_names():
                self._transition(app, "FAILED", "FAILED", f"Application {app_id} submitted by user {app.user} to unknown queue: {queue}")
            else:
                self._transition(app, state, final_status, diagnostics)
            self._save_state()
            return app

    def _transition(self, app, state, final_status=None, diagnostics=None, append_diagnostics=False, progress=None):
        """Apply a state change (lock held)."""
        state = state.upper()
        if state not in APP_STATES:
            raise ValueError(f"invalid state {state!r}")
        t = now_ms()
        if state in ("ACCEPTED", "RUNNING") and not app.has_attempt:
            app.attempt_start = t
        if state == "RUNNING" and not app.launched:
            app.launched = t
        if state in FINAL_STATES:
            if app.state not in FINAL_STATES or not app.finished:
                app.finished = t
            app.kill_pending = False
        elif app.state in FINAL_STATES:
            app.finished = 0
        app.final_status = (final_status or DEFAULT_FINAL_STATUS.get(state, "UNDEFINED")).upper()
        if diagnostics is not None:
            app.diagnostics = (app.diagnostics + "\n" + diagnostics).strip("\n") if append_diagnostics and app.diagnostics else diagnostics
        if progress is not None:
            app.progress = float(progress)
        if app.state != state:
            app.history.append([state, t])
        app.state = state

    def _put_state(self, ctx, app):
        body = self._parse_body(ctx)
        target = str(body.get("state", "")).upper()
        if target != "KILLED":
            raise rm_bad_request("java.lang.Exception: Only 'KILLED' is allowed as a target state.")
        user = ctx.auth["user"]
        reason = body.get("diagnostics")
        loc = [("Location", f"http://{ctx.server.addr}/ws/v1/cluster/apps/{app.id}")]
        with self.lock:
            if app.state in FINAL_STATES:
                return respond(ctx, 200, {"state": app.state}, "appstate", {"state": app.state})
            prev = app.state
            delay = float(self.settings["kill_delay_ms"]) / 1000.0
            if delay <= 0:
                self._complete_kill(app.id, user, reason)
                return respond(ctx, 200, {"state": app.state}, "appstate", {"state": app.state})
            if not app.kill_pending:
                app.kill_pending = True
                self._later(delay, self._complete_kill, app.id, user, reason)
        return respond(ctx, 202, {"state": prev}, "appstate", {"state": prev}, headers=loc)

    def _later(self, delay, fn, *args):
        t = threading.Timer(delay, fn, args)
        t.daemon = True
        with self.lock:
            self.timers = [x for x in self.timers if x.is_alive()]
            self.timers.append(t)
        t.start()

    def _complete_kill(self, app_id, user, reason=None):
        with self.lock:
            app = self.apps.get(app_id)
            if app is None or app.state in FINAL_STATES:
                return
            diag = f"Application {app_id} was killed by user {user} at {self.host}"
            if reason:
                diag += f" with diagnostic message: {reason}"
            self._transition(app, "KILLED", "KILLED", diag)
            self._save_state()
        self._signal_process(app, signal.SIGTERM)

    def _signal_process(self, app, sig, record=True):
        pid = app.pid
        if not pid:
            return
        try:
            pgid = os.getpgid(pid)
        except (ProcessLookupError, PermissionError):
            return
        use_group = pgid != os.getpgid(0)  # never signal our own (test runner's) group
        try:
            if use_group:
                os.killpg(pgid, sig)
            else:
                os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        if record:
            with self.lock:
                app.kill_events.append({"t": now_ms(), "signal": signal.Signals(sig).name, "pid": pid, "pgid": pgid if use_group else None})
        if sig == signal.SIGTERM and self.settings["sigkill_after_ms"] is not None and self.running:
            def escalate():
                try:
                    if use_group:
                        os.killpg(pgid, 0)
                        os.killpg(pgid, signal.SIGKILL)
                    else:
                        os.kill(pid, 0)
                        os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    return
                with self.lock:
                    app.kill_events.append({"t": now_ms(), "signal": "SIGKILL", "pid": pid, "pgid": pgid if use_group else None})

            self._later(float(self.settings["sigkill_after_ms"]) / 1000.0, escalate)

    def _proxy(self, ctx, path):
        m = re.match(r"/proxy/(application_\d+_\d+)(/.*)?$", path)
        if not m:
            return Resp(404, "Not found", "text/plain")
        with self.lock:
            app = self.apps.get(m.group(1))
        if app is None:
            return Resp(404, f"<html><body><h2>Application {m.group(1)} could not be found</h2></body></html>", "text/html;charset=utf-8")
        if app.ui_url and app.state == "RUNNING":
            return Resp(302, b"", None, [("Location", app.ui_url.rstrip("/") + (m.group(2) or "/"))])
        return Resp(200, f"<html><body><h2>Application {app.id} ({app.state})</h2><p>No web UI available.</p></body></html>", "text/html;charset=utf-8")
