"""The ResourceManager's REST API (ResourceManagerRest.md): cluster info, metrics, scheduler, HA
redirects; applications are in apps.py.
"""
from __future__ import annotations

import json
import re
from xml.sax.saxutils import escape as _xml_escape

from .protocol import FINAL_STATES, HADOOP_VERSION, JSON_CT, PENDING_STATES, Resp, XML_CT, now_ms, respond, rm_bad_request, rm_not_found, to_xml, wants_xml


class RmMixin:
    """Routes /ws/v1/cluster/... and serves everything but the applications."""

    def _rm(self, ctx):
        path = ctx.path.rstrip("/") or "/"
        srv = ctx.server
        if self.ha_enabled and srv.rm_id != self.active_rm and path.startswith("/ws/v1/cluster") and path != "/ws/v1/cluster/info":
            return self._standby_redirect(ctx)
        if path.startswith("/proxy/"):
            return self._proxy(ctx, path)
        if not path.startswith("/ws/v1/cluster"):
            return Resp(404, f"<html><body><h2>HTTP ERROR 404</h2><p>{_xml_escape(path)}</p></body></html>", "text/html;charset=utf-8")
        rest = path[len("/ws/v1/cluster"):]
        m = ctx.method
        if rest in ("", "/info"):
            return self._need(ctx, "GET") or self._cluster_info(ctx)
        if rest == "/metrics":
            return self._need(ctx, "GET") or respond(ctx, 200, {"clusterMetrics": self._metrics()}, "clusterMetrics")
        if rest == "/scheduler":
            return self._need(ctx, "GET") or self._scheduler(ctx)
        if rest == "/nodes":
            return self._need(ctx, "GET") or respond(ctx, 200, {"nodes": {"node": [self._node_info()]}}, "nodes")
        if rest == "/apps":
            if m == "GET":
                return self._apps(ctx)
            if m == "POST":
                return self._submit(ctx)
            return self._method_not_allowed(ctx)
        if rest == "/apps/new-application":
            return self._need(ctx, "POST") or self._new_application(ctx)
        if rest == "/delegation-token":
            if m == "POST":
                return self._dt_create(ctx)
            if m == "DELETE":
                return self._dt_cancel(ctx)
            return self._method_not_allowed(ctx)
        if rest == "/delegation-token/expiration":
            return self._need(ctx, "POST") or self._dt_renew(ctx)
        mm = re.fullmatch(r"/apps/([^/]+)(/[^/]+)?", rest)
        if mm:
            app = self._get_app(mm.group(1))
            sub = mm.group(2) or ""
            if sub == "":
                return self._need(ctx, "GET") or respond(ctx, 200, {"app": self._app_info(app, ctx)}, "app")
            if sub == "/state":
                if m == "GET":
                    return respond(ctx, 200, {"state": app.state}, "appstate", {"state": app.state})
                if m == "PUT":
                    return self._put_state(ctx, app)
                return self._method_not_allowed(ctx)
            if sub == "/appattempts":
                return self._need(ctx, "GET") or self._attempts(ctx, app)
            if sub == "/queue":
                if m == "PUT":
                    body = self._parse_body(ctx)
                    q = body.get("queue")
                    if q not in self._leaf_names():
                        raise rm_bad_request(f"java.lang.Exception: Failed to move app {app.id} to queue {q}")
                    with self.lock:
                        app.queue = q
                        self._save_state()
                elif m != "GET":
                    return self._method_not_allowed(ctx)
                return respond(ctx, 200, {"queue": app.queue}, "appqueue", {"queue": app.queue})
            if sub == "/priority":
                if m == "PUT":
                    body = self._parse_body(ctx)
                    with self.lock:
                        app.priority = int(body.get("priority", app.priority))
                        self._save_state()
                elif m != "GET":
                    return self._method_not_allowed(ctx)
                return respond(ctx, 200, {"priority": app.priority}, "applicationpriority", {"priority": app.priority})
        raise rm_not_found(f"java.lang.Exception: no resource for {ctx.method} {path}")

    def _need(self, ctx, method):
        return None if ctx.method in (method, "HEAD" if method == "GET" else method) else self._method_not_allowed(ctx)

    def _method_not_allowed(self, ctx):
        return Resp(405, "<html><body><h2>HTTP ERROR 405</h2><p>Method Not Allowed</p></body></html>", "text/html;charset=utf-8")

    def _standby_redirect(self, ctx):
        if not self.active_rm:
            return Resp(503, "This is standby RM. There is no active RM right now.", "text/plain;charset=utf-8")
        url = f"http://{self.rm_addr(self.active_rm)}{ctx.raw_path}" + (f"?{ctx.query_string}" if ctx.query_string else "")
        if self.settings["ha_redirect_mode"] == "refresh":
            return Resp(200, f"This is standby RM. Redirecting to the current active RM: {url}\n", "text/plain;charset=utf-8", [("Refresh", f"3; url={url}")])
        return Resp(307, f"This is standby RM. The redirect url is: {url}\n", "text/plain;charset=utf-8", [("Location", url)])

    def _cluster_info(self, ctx):
        srv = ctx.server
        if self.ha_enabled:
            ha_state = "ACTIVE" if srv.rm_id == self.active_rm else "STANDBY"
            zk = "CONNECTED"
        else:
            ha_state, zk = "ACTIVE", "ResourceManager HA is not enabled."
        build = f"{HADOOP_VERSION} from livy-rs-emulator by emulator source checksum 00000000000000000000000000000000"
        info = {
            "id": self.cluster_ts,
            "startedOn": self.started_on,
            "state": "STARTED",
            "haState": ha_state,
            "rmStateStoreName": "org.apache.hadoop.yarn.server.resourcemanager.recovery.FileSystemRMStateStore",
            "resourceManagerVersion": HADOOP_VERSION,
            "resourceManagerBuildVersion": build,
            "resourceManagerVersionBuiltOn": "2023-06-18T08:22Z",
            "hadoopVersion": HADOOP_VERSION,
            "hadoopBuildVersion": build,
            "hadoopVersionBuiltOn": "2023-06-18T08:22Z",
            "haZooKeeperConnectionState": zk,
        }
        return respond(ctx, 200, {"clusterInfo": info}, "clusterInfo")

    def _usage(self):
        """(per-queue {memory,vCores,running,pending,users}, totals) from the live apps."""
        with self.lock:
            per = {q["name"]: {"memory": 0, "vCores": 0, "active": 0, "pending": 0, "containers": 0, "users": {}} for q in self.queues}
            for app in self.apps.values():
                u = per.get(app.queue)
                if u is None or app.state in FINAL_STATES:
                    continue
                user = u["users"].setdefault(app.user, {"memory": 0, "vCores": 0, "active": 0, "pending": 0})
                if app.state == "RUNNING":
                    mb, vc = self._alloc(app)
                    for d in (u, user):
                        d["memory"] += mb
                        d["vCores"] += vc
                        d["active"] += 1
                    u["containers"] += 1
                else:
                    u["pending"] += 1
                    user["pending"] += 1
            for qn, extra in self.queue_extra_usage.items():
                if qn in per:
                    per[qn]["memory"] += int(extra.get("memory", 0))
                    per[qn]["vCores"] += int(extra.get("vCores", 0))
                    per[qn]["containers"] += int(extra.get("containers", 0))
            return per

    def _alloc(self, app):
        if app.state != "RUNNING":
            return 0, 0
        mb = app.allocated_mb if app.allocated_mb is not None else app.am_memory
        vc = app.allocated_vcores if app.allocated_vcores is not None else app.am_vcores
        return int(mb or 0), int(vc or 0)

    def _metrics(self):
        per = self._usage()
        used_mb = sum(u["memory"] for u in per.values())
        used_vc = sum(u["vCores"] for u in per.values())
        with self.lock:
            states = [a.state for a in self.apps.values()]
        return {
            "appsSubmitted": len(states),
            "appsCompleted": states.count("FINISHED"),
            "appsPending": sum(1 for s in states if s in PENDING_STATES),
            "appsRunning": states.count("RUNNING"),
            "appsFailed": states.count("FAILED"),
            "appsKilled": states.count("KILLED"),
            "reservedMB": 0,
            "availableMB": max(0, self.total_mb - used_mb),
            "allocatedMB": used_mb,
            "totalMB": self.total_mb,
            "reservedVirtualCores": 0,
            "availableVirtualCores": max(0, self.total_vcores - used_vc),
            "allocatedVirtualCores": used_vc,
            "totalVirtualCores": self.total_vcores,
            "containersAllocated": sum(u["containers"] for u in per.values()),
            "containersReserved": 0,
            "containersPending": 0,
            "totalNodes": 1,
            "activeNodes": 1,
            "lostNodes": 0,
            "unhealthyNodes": 0,
            "decommissioningNodes": 0,
            "decommissionedNodes": 0,
            "rebootedNodes": 0,
            "shutdownNodes": 0,
        }

    def _leaf_names(self):
        return [q["name"] for q in self.queues]

    def _scheduler(self, ctx):
        per = self._usage()
        total_used_mb = sum(u["memory"] for u in per.values())
        total_used_vc = sum(u["vCores"] for u in per.values())

        def pct(used, cap_abs):
            return round(100.0 * used / (self.total_mb * cap_abs / 100.0), 4) if cap_abs else 0.0

        leaves = []
        for q in self.queues:
            u = per[q["name"]]
            cap, maxcap = float(q["capacity"]), float(q["maxCapacity"])
            abs_used = round(100.0 * u["memory"] / self.total_mb, 4)
            used_cap = pct(u["memory"], cap)
            users = [
                {
                    "username": name,
                    "resourcesUsed": {"memory": d["memory"], "vCores": d["vCores"]},
                    "numActiveApplications": d["active"],
                    "numPendingApplications": d["pending"],
                }
                for name, d in sorted(u["users"].items())
            ]
            max_apps = int(q.get("maxApplications", 10000))
            leaves.append({
                "@xsi:type": "capacitySchedulerLeafQueueInfo",
                "capacity": cap,
                "usedCapacity": used_cap,
                "maxCapacity": maxcap,
                "absoluteCapacity": cap,
                "absoluteMaxCapacity": maxcap,
                "absoluteUsedCapacity": abs_used,
                "numApplications": u["active"] + u["pending"],
                "usedResources": f"<memory:{u['memory']}, vCores:{u['vCores']}>",
                "queueName": q["name"],
                "queuePath": f"root.{q['name']}",
                "state": "RUNNING",
                "resourcesUsed": {"memory": u["memory"], "vCores": u["vCores"]},
                "numActiveApplications": u["active"],
                "numPendingApplications": u["pending"],
                "numContainers": u["containers"],
                "maxApplications": max_apps,
                "maxApplicationsPerUser": max_apps,
                "maxActiveApplications": max(1, int(self.total_mb * maxcap / 100.0 * 0.1 // 256)),
                "maxActiveApplicationsPerUser": max(1, int(self.total_mb * maxcap / 100.0 * 0.1 // 256)),
                "userLimit": 100,
                "users": {"user": users} if users else None,
                "userLimitFactor": float(q.get("userLimitFactor", 1.0)),
                "maximumAllocation": {"memory": self.max_alloc_mb, "vCores": self.max_alloc_vcores},
                "capacities": {"queueCapacitiesByPartition": [{
                    "partitionName": "", "capacity": cap, "usedCapacity": used_cap, "maxCapacity": maxcap,
                    "absoluteCapacity": cap, "absoluteUsedCapacity": abs_used, "absoluteMaxCapacity": maxcap,
                    "maxAMLimitPercentage": 10.0,
                }]},
                "resources": {"resourceUsagesByPartition": [{
                    "partitionName": "",
                    "used": {"memory": u["memory"], "vCores": u["vCores"]},
                    "reserved": {"memory": 0, "vCores": 0},
                    "pending": {"memory": 0, "vCores": 0},
                    "amUsed": {"memory": u["memory"], "vCores": u["vCores"]},
                    "amLimit": {"memory": int(self.total_mb * maxcap / 100.0 * 0.1), "vCores": 1},
                }]},
                "type": "capacitySchedulerLeafQueueInfo",
            })
        info = {
            "@xsi:type": "capacityScheduler",
            "@xmlns:xsi": True,
            "type": "capacityScheduler",
            "capacity": 100.0,
            "usedCapacity": round(100.0 * total_used_mb / self.total_mb, 4),
            "maxCapacity": 100.0,
            "queueName": "root",
            "queues": {"queue": leaves},
        }
        json_info = self._strip_at(info)
        xml_info = self._xml_scheduler(info)
        if wants_xml(ctx.headers):
            return Resp(200, to_xml("scheduler", {"schedulerInfo": xml_info}), XML_CT)
        return Resp(200, json.dumps({"scheduler": {"schedulerInfo": json_info}}), JSON_CT)

    def _strip_at(self, obj):
        if isinstance(obj, dict):
            return {k: self._strip_at(v) for k, v in obj.items() if not k.startswith("@")}
        if isinstance(obj, list):
            return [self._strip_at(v) for v in obj]
        return obj

    def _xml_scheduler(self, obj):
        # In XML the scheduler/queue "type" is the xsi:type attribute, not an element.
        if isinstance(obj, dict):
            return {k: self._xml_scheduler(v) for k, v in obj.items() if not (k == "type" and "@xsi:type" in obj)}
        if isinstance(obj, list):
            return [self._xml_scheduler(v) for v in obj]
        return obj

    def _node_info(self):
        per = self._usage()
        used_mb = sum(u["memory"] for u in per.values())
        used_vc = sum(u["vCores"] for u in per.values())
        return {
            "rack": "/default-rack", "state": "RUNNING", "id": f"{self.host}:45454", "nodeHostName": self.host,
            "nodeHTTPAddress": self.node_addr, "lastHealthUpdate": now_ms(), "version": HADOOP_VERSION,
            "healthReport": "", "numContainers": sum(u["containers"] for u in per.values()),
            "usedMemoryMB": used_mb, "availMemoryMB": self.total_mb - used_mb,
            "usedVirtualCores": used_vc, "availableVirtualCores": self.total_vcores - used_vc,
        }
