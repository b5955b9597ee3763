"""Checks tests/yarn/rm_emulator.py against Hadoop's documented REST shapes, plus the spark-submit shim.

Expected key sets and bodies come from the examples in ResourceManagerRest.md, WebHDFS.md and
ResourceManagerHA.md (see EMULATOR.md for the section each endpoint follows).
"""
import base64
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import urllib.parse
import xml.etree.ElementTree as ET

import pytest
import requests

from conftest import HERE, SHIM, wait_for
from rm_emulator import Emulator

# ---- key sets taken from the documents' examples --------------------------------------------------

CLUSTER_INFO_KEYS = {
    "id", "startedOn", "state", "haState", "rmStateStoreName", "resourceManagerVersion",
    "resourceManagerBuildVersion", "resourceManagerVersionBuiltOn", "hadoopVersion", "hadoopBuildVersion",
    "hadoopVersionBuiltOn", "haZooKeeperConnectionState",
}
METRICS_KEYS = {
    "appsSubmitted", "appsCompleted", "appsPending", "appsRunning", "appsFailed", "appsKilled", "reservedMB",
    "availableMB", "allocatedMB", "reservedVirtualCores", "availableVirtualCores", "allocatedVirtualCores",
    "containersAllocated", "containersReserved", "containersPending", "totalMB", "totalVirtualCores", "totalNodes",
    "lostNodes", "unhealthyNodes", "decommissioningNodes", "decommissionedNodes", "rebootedNodes", "activeNodes",
    "shutdownNodes",
}
APP_KEYS = {
    "id", "user", "name", "queue", "state", "finalStatus", "progress", "trackingUI", "trackingUrl", "diagnostics",
    "clusterId", "applicationType", "applicationTags", "priority", "startedTime", "finishedTime", "elapsedTime",
    "amContainerLogs", "amHostHttpAddress", "allocatedMB", "allocatedVCores", "runningContainers", "memorySeconds",
    "vcoreSeconds", "queueUsagePercentage", "clusterUsagePercentage", "preemptedResourceMB",
    "preemptedResourceVCores", "numNonAMContainerPreempted", "numAMContainerPreempted", "logAggregationStatus",
    "unmanagedApplication", "appNodeLabelExpression", "amNodeLabelExpression",
}
ATTEMPT_KEYS = {"nodeId", "nodeHttpAddress", "startTime", "id", "logsLink", "containerId"}
LEAF_QUEUE_KEYS = {
    "absoluteCapacity", "absoluteMaxCapacity", "absoluteUsedCapacity", "capacity", "maxActiveApplications",
    "maxActiveApplicationsPerUser", "maxApplications", "maxApplicationsPerUser", "maxCapacity",
    "numActiveApplications", "numApplications", "numContainers", "numPendingApplications", "queueName",
    "resourcesUsed", "state", "type", "usedCapacity", "usedResources", "userLimit", "userLimitFactor", "users",
}
FILE_STATUS_KEYS = {
    "accessTime", "blockSize", "childrenNum", "fileId", "group", "length", "modificationTime", "owner",
    "pathSuffix", "permission", "replication", "storagePolicy", "type",
}
REMOTE_EXCEPTION_KEYS = {"exception", "message", "javaClassName"}
XML = {"Accept": "application/xml"}


def remote_exception(r, status, exception, java_class=None):
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"RemoteException"}
    re_ = body["RemoteException"]
    assert set(re_) == REMOTE_EXCEPTION_KEYS
    assert re_["exception"] == exception
    if java_class:
        assert re_["javaClassName"] == java_class
    return re_


def negotiate(principal):
    return {"Authorization": "Negotiate " + base64.b64encode(principal.encode()).decode()}


# =================================================================================== RM: cluster


def test_cluster_info_json_and_xml(emu):
    base = emu.rm_url()
    r = requests.get(f"{base}/ws/v1/cluster/info")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/json")
    info = r.json()["clusterInfo"]
    assert set(info) == CLUSTER_INFO_KEYS
    assert info["state"] == "STARTED" and info["haState"] == "ACTIVE"
    assert info["id"] == emu.cluster_ts
    assert requests.get(f"{base}/ws/v1/cluster").json() == r.json()  # both URIs are documented

    x = requests.get(f"{base}/ws/v1/cluster/info", headers=XML)
    assert x.headers["Content-Type"].startswith("application/xml")
    root = ET.fromstring(x.content)
    assert root.tag == "clusterInfo"
    assert root.findtext("haState") == "ACTIVE"
    assert {c.tag for c in root} == CLUSTER_INFO_KEYS


def test_cluster_metrics(emu):
    m = requests.get(f"{emu.rm_url()}/ws/v1/cluster/metrics").json()["clusterMetrics"]
    assert set(m) == METRICS_KEYS
    assert m["totalMB"] == 16384 and m["availableMB"] == 16384 and m["activeNodes"] == 1
    emu.register_app(name="r", state="RUNNING", memory=2048, vcores=2)
    m = requests.get(f"{emu.rm_url()}/ws/v1/cluster/metrics").json()["clusterMetrics"]
    assert (m["appsRunning"], m["allocatedMB"], m["availableMB"], m["allocatedVirtualCores"]) == (1, 2048, 14336, 2)


# =================================================================================== RM: apps


def test_apps_empty_is_null(emu):
    r = requests.get(f"{emu.rm_url()}/ws/v1/cluster/apps")
    assert r.status_code == 200 and r.json() == {"apps": None}
    x = requests.get(f"{emu.rm_url()}/ws/v1/cluster/apps", headers=XML)
    root = ET.fromstring(x.content)
    assert root.tag == "apps" and list(root) == []


def test_app_object_shape_and_lifecycle_fields(emu):
    app_id = emu.register_app(name="word count", queue="default", user="user1", tags=["Tag1", "LIVY-batch-3-AbC"])
    assert app_id.startswith(f"application_{emu.cluster_ts}_") and app_id.endswith("_0001")
    apps = requests.get(f"{emu.rm_url()}/ws/v1/cluster/apps").json()["apps"]["app"]
    assert len(apps) == 1
    a = apps[0]
    assert APP_KEYS <= set(a)
    assert (a["id"], a["user"], a["name"], a["queue"], a["applicationType"]) == (app_id, "user1", "word count", "default", "SPARK")
    assert (a["state"], a["finalStatus"], a["finishedTime"], a["trackingUI"]) == ("ACCEPTED", "UNDEFINED", 0, "UNASSIGNED")
    assert a["applicationTags"] == "tag1,livy-batch-3-abc"  # YARN stores tags lower-cased
    assert a["clusterId"] == emu.cluster_ts
    assert a["amContainerLogs"].endswith(f"/node/containerlogs/container_{emu.cluster_ts}_0001_01_000001/user1")
    assert a["trackingUrl"] == f"{emu.rm_url()}/proxy/{app_id}/"

    single = requests.get(f"{emu.rm_url()}/ws/v1/cluster/apps/{app_id}").json()
    assert set(single) == {"app"} and single["app"]["id"] == app_id

    emu.set_app_state(app_id, "RUNNING")
    a = requests.get(f"{emu.rm_url()}/ws/v1/cluster/apps/{app_id}").json()["app"]
    assert (a["state"], a["finalStatus"], a["trackingUI"], a["runningContainers"]) == ("RUNNING", "UNDEFINED", "ApplicationMaster", 1)
    time.sleep(0.02)
    emu.set_app_state(app_id, "FINISHED")
    a = requests.get(f"{emu.rm_url()}/ws/v1/cluster/apps/{app_id}").json()["app"]
    assert (a["state"], a["finalStatus"], a["progress"], a["trackingUI"]) == ("FINISHED", "SUCCEEDED", 100.0, "History")
    assert a["finishedTime"] >= a["startedTime"] and a["elapsedTime"] == a["finishedTime"] - a["startedTime"]

    x = ET.fromstring(requests.get(f"{emu.rm_url()}/ws/v1/cluster/apps/{app_id}", headers=XML).content)
    assert x.tag == "app" and x.findtext("id") == app_id and x.findtext("finalStatus") == "SUCCEEDED"
    assert x.findtext("unmanagedApplication") == "false"
    xl = ET.fromstring(requests.get(f"{emu.rm_url()}/ws/v1/cluster/apps", headers=XML).content)
    assert xl.tag == "apps" and [e.findtext("id") for e in xl.findall("app")] == [app_id]


def test_apps_query_filters(emu):
    base = emu.rm_url()
    a1 = emu.register_app(name="a1", user="alice", queue="default", tags=["livy-session-1-Aa"], app_type="SPARK")
    a2 = emu.register_app(name="a2", user="bob", queue="small", tags=["other"], app_type="MAPREDUCE", state="RUNNING")
    a3 = emu.register_app(name="a3", user="alice", queue="small", tags=["livy-session-1-aa", "x"], state="FAILED", diagnostics="boom")

    def ids(**params):
        body = requests.get(f"{base}/ws/v1/cluster/apps", params=params).json()
        return [a["id"] for a in (body["apps"] or {"app": []})["app"]]

    assert ids() == [a1, a2, a3]
    assert ids(states="accepted,RUNNING") == [a1, a2]
    assert ids(state="FAILED") == [a3]  # deprecated single-state parameter
    assert ids(finalStatus="failed") == [a3]
    assert ids(user="alice") == [a1, a3]
    assert ids(queue="small") == [a2, a3]
    assert ids(queue="root.small") == [a2, a3]
    assert ids(limit="2") == [a1, a2]
    assert ids(applicationTypes="spark") == [a1, a3]
    assert ids(applicationTypes="MapReduce,spark") == [a1, a2, a3]
    assert ids(applicationTags="LIVY-SESSION-1-AA") == [a1, a3]  # any tag matches, case-insensitively
    assert ids(applicationTags="x,other") == [a2, a3]
    assert ids(applicationTags="nope") == []
    started = {a["id"]: a["startedTime"] for a in requests.get(f"{base}/ws/v1/cluster/apps").json()["apps"]["app"]}
    assert ids(startedTimeBegin=str(started[a3])) == [a3] or started[a2] == started[a3]
    assert ids(startedTimeEnd=str(started[a1] - 1)) == []
    assert ids(finishedTimeBegin="1") == [a3]  # only finished apps have finishedTime > 0

    r = requests.get(f"{base}/ws/v1/cluster/apps", params={"states": "BOGUS"})
    e = remote_exception(r, 400, "BadRequestException", "org.apache.hadoop.yarn.webapp.BadRequestException")
    assert "Invalid application-state BOGUS" in e["message"]
    remote_exception(requests.get(f"{base}/ws/v1/cluster/apps", params={"startedTimeBegin": "10", "startedTimeEnd": "5"}), 400, "BadRequestException")
    remote_exception(requests.get(f"{base}/ws/v1/cluster/apps", params={"limit": "abc"}), 400, "BadRequestException")


def test_unknown_app_is_404_remote_exception(emu):
    missing = f"application_{emu.cluster_ts}_9999"
    r = requests.get(f"{emu.rm_url()}/ws/v1/cluster/apps/{missing}")
    e = remote_exception(r, 404, "NotFoundException", "org.apache.hadoop.yarn.webapp.NotFoundException")
    assert e["message"] == f"java.lang.Exception: app with id: {missing} not found"
    for sub in ("/state", "/appattempts"):
        remote_exception(requests.get(f"{emu.rm_url()}/ws/v1/cluster/apps/{missing}{sub}"), 404, "NotFoundException")
    x = requests.get(f"{emu.rm_url()}/ws/v1/cluster/apps/{missing}", headers=XML)
    assert x.status_code == 404
    root = ET.fromstring(x.content)
    assert root.tag == "RemoteException" and root.findtext("exception") == "NotFoundException"
    remote_exception(requests.get(f"{emu.rm_url()}/ws/v1/cluster/apps/not_an_app"), 400, "BadRequestException")


def test_app_state_get_and_kill(emu):
    base = emu.rm_url()
    app_id = emu.register_app(name="k", user="alice")
    r = requests.get(f"{base}/ws/v1/cluster/apps/{app_id}/state")
    assert r.json() == {"state": "ACCEPTED"}
    x = ET.fromstring(requests.get(f"{base}/ws/v1/cluster/apps/{app_id}/state", headers=XML).content)
    assert x.tag == "appstate" and x.findtext("state") == "ACCEPTED"

    bad = requests.put(f"{base}/ws/v1/cluster/apps/{app_id}/state", json={"state": "RUNNING"})
    e = remote_exception(bad, 400, "BadRequestException", "org.apache.hadoop.yarn.webapp.BadRequestException")
    assert e["message"] == "java.lang.Exception: Only 'KILLED' is allowed as a target state."

    r = requests.put(f"{base}/ws/v1/cluster/apps/{app_id}/state?user.name=alice", json={"state": "KILLED"})
    assert r.status_code == 202
    assert r.json() == {"state": "ACCEPTED"}
    assert r.headers["Location"] == f"{base}/ws/v1/cluster/apps/{app_id}"
    wait_for(lambda: requests.get(f"{base}/ws/v1/cluster/apps/{app_id}/state").json()["state"] == "KILLED", 10, what="KILLED")
    again = requests.put(f"{base}/ws/v1/cluster/apps/{app_id}/state", json={"state": "KILLED"})
    assert again.status_code == 200 and again.json() == {"state": "KILLED"}
    a = requests.get(f"{base}/ws/v1/cluster/apps/{app_id}").json()["app"]
    assert a["finalStatus"] == "KILLED" and "killed by user alice" in a["diagnostics"]


def test_app_state_put_xml(emu):
    app_id = emu.register_app(name="kx")
    body = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><appstate><state>KILLED</state></appstate>'
    r = requests.put(f"{emu.rm_url()}/ws/v1/cluster/apps/{app_id}/state", data=body,
                     headers={"Content-Type": "application/xml", "Accept": "application/xml"})
    assert r.status_code == 202
    assert ET.fromstring(r.content).findtext("state") == "ACCEPTED"
    bad = requests.put(f"{emu.rm_url()}/ws/v1/cluster/apps/{app_id}/state", data=body.replace("KILLED", "RUNNING"),
                       headers={"Content-Type": "application/xml", "Accept": "application/xml"})
    assert bad.status_code == 400 and ET.fromstring(bad.content).findtext("exception") == "BadRequestException"


def test_kill_hook_sigterms_registered_process_group(emu):
    proc = subprocess.Popen(["sh", "-c", "sleep 300 & sleep 300; wait"], start_new_session=True)
    try:
        app_id = emu.register_app(name="victim", pid=proc.pid, state="RUNNING")
        r = requests.put(f"{emu.rm_url()}/ws/v1/cluster/apps/{app_id}/state", json={"state": "KILLED"})
        assert r.status_code == 202
        wait_for(lambda: proc.poll() is not None, 10, what="the registered process to die")
        assert proc.returncode == -signal.SIGTERM

        def group_gone():
            try:
                os.killpg(proc.pid, 0)
            except ProcessLookupError:
                return True
            return False

        wait_for(group_gone, 10, what="the whole process group to die")
        rec = requests.get(f"{emu.rm_url()}/emulator/apps/{app_id}").json()
        assert rec["kill_events"][0]["signal"] == "SIGTERM" and rec["kill_events"][0]["pgid"] == proc.pid
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def test_kill_hook_never_signals_the_emulators_own_group(tmp_path):
    # Run in a throw-away session so a regression cannot take pytest down with it.
    script = textwrap.dedent(f"""
        import os, signal, subprocess, sys, time, requests
        sys.path.insert(0, {HERE!r})
        from rm_emulator import Emulator
        emu = Emulator(state_dir={str(tmp_path / 'st')!r}, kill_delay_ms=0).start()
        child = subprocess.Popen(["sleep", "60"])  # same process group as the emulator
        app = emu.register_app(pid=child.pid)
        requests.put(emu.rm_url() + "/ws/v1/cluster/apps/" + app + "/state", json={{"state": "KILLED"}})
        child.wait(10)
        print("child", child.returncode, "me alive", flush=True)
        emu.stop()
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, start_new_session=True)
    assert out.stdout.strip() == f"child {-signal.SIGTERM} me alive", out.stderr


def test_app_attempts_and_container_logs(emu):
    app_id = emu.register_app(name="att", user="user1", state="RUNNING")
    r = requests.get(f"{emu.rm_url()}/ws/v1/cluster/apps/{app_id}/appattempts")
    body = r.json()
    assert set(body) == {"appAttempts"} and set(body["appAttempts"]) == {"appAttempt"}
    att = body["appAttempts"]["appAttempt"][0]
    assert ATTEMPT_KEYS <= set(att)
    cid = f"container_{emu.cluster_ts}_0001_01_000001"
    assert att["id"] == 1 and att["containerId"] == cid and att["nodeHttpAddress"] == emu.node_addr
    assert att["logsLink"] == f"http://{emu.node_addr}/node/containerlogs/{cid}/user1"
    x = ET.fromstring(requests.get(f"{emu.rm_url()}/ws/v1/cluster/apps/{app_id}/appattempts", headers=XML).content)
    assert x.tag == "appAttempts" and x.find("appAttempt").findtext("containerId") == cid

    rec = requests.get(f"{emu.rm_url()}/emulator/apps/{app_id}").json()
    os.makedirs(rec["log_dir"], exist_ok=True)
    with open(os.path.join(rec["log_dir"], "stderr"), "w") as f:
        f.write("driver says <hello>\n")
    page = requests.get(att["logsLink"])
    assert page.status_code == 200 and "Log Type: stderr" in page.text and "driver says &lt;hello&gt;" in page.text
    raw = requests.get(f"http://{emu.node_addr}/ws/v1/node/containerlogs/{cid}/stderr")
    assert raw.text == "driver says <hello>\n"
    assert requests.get(f"http://{emu.node_addr}/node/containerlogs/container_1_0001_01_000001/x").status_code == 404

    pending = emu.register_app(name="p", state="NEW")
    assert requests.get(f"{emu.rm_url()}/ws/v1/cluster/apps/{pending}/appattempts").json() == {"appAttempts": None}


def test_new_application_and_submit_json(emu):
    base = emu.rm_url()
    r = requests.post(f"{base}/ws/v1/cluster/apps/new-application")
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"application-id", "maximum-resource-capability"}
    assert body["maximum-resource-capability"] == {"memory": 8192, "vCores": 8}
    app_id = body["application-id"]
    assert requests.get(f"{base}/ws/v1/cluster/apps").json() == {"apps": None}  # not an app until submitted

    ctx = {
        "application-id": app_id, "application-name": "test", "queue": "small",
        "am-container-spec": {"commands": {"command": "{{JAVA_HOME}}/bin/java -Xmx10m Foo"}},
        "unmanaged-AM": False, "max-app-attempts": 2, "resource": {"memory": 1024, "vCores": 1},
        "application-type": "YARN", "keep-containers-across-application-attempts": False,
        "application-tags": {"tag": ["Tag 2", "tag1"]},
    }
    s = requests.post(f"{base}/ws/v1/cluster/apps?user.name=testuser", json=ctx)
    assert s.status_code == 202 and s.content == b""
    assert s.headers["Location"] == f"{base}/ws/v1/cluster/apps/{app_id}"
    a = requests.get(s.headers["Location"]).json()["app"]
    assert (a["name"], a["queue"], a["applicationType"], a["applicationTags"], a["user"]) == ("test", "small", "YARN", "tag 2,tag1", "testuser")

    dup = requests.post(f"{base}/ws/v1/cluster/apps", json=ctx)
    remote_exception(dup, 400, "BadRequestException")

    big = dict(ctx, **{"application-id": requests.post(f"{base}/ws/v1/cluster/apps/new-application").json()["application-id"],
                       "resource": {"memory": 999999, "vCores": 1}})
    remote_exception(requests.post(f"{base}/ws/v1/cluster/apps", json=big), 400, "BadRequestException")

    unknown = dict(ctx, **{"application-id": requests.post(f"{base}/ws/v1/cluster/apps/new-application").json()["application-id"], "queue": "nope"})
    r = requests.post(f"{base}/ws/v1/cluster/apps", json=unknown)
    assert r.status_code == 202
    a = requests.get(r.headers["Location"]).json()["app"]
    assert a["state"] == "FAILED" and "to unknown queue: nope" in a["diagnostics"]


def test_new_application_and_submit_xml(emu):
    base = emu.rm_url()
    r = requests.post(f"{base}/ws/v1/cluster/apps/new-application", headers=XML)
    root = ET.fromstring(r.content)
    assert root.tag == "NewApplication"
    app_id = root.findtext("application-id")
    assert root.find("maximum-resource-capability").findtext("memory") == "8192"
    body = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
    <application-submission-context>
      <application-id>{app_id}</application-id>
      <application-name>xmltest</application-name>
      <queue>default</queue>
      <priority>3</priority>
      <am-container-spec><commands><command>true</command></commands></am-container-spec>
      <unmanaged-AM>false</unmanaged-AM>
      <max-app-attempts>2</max-app-attempts>
      <resource><memory>1024</memory><vCores>1</vCores></resource>
      <application-type>YARN</application-type>
      <application-tags><tag>tag 2</tag><tag>TAG1</tag></application-tags>
    </application-submission-context>"""
    s = requests.post(f"{base}/ws/v1/cluster/apps", data=body, headers={"Content-Type": "application/xml", "Accept": "application/xml"})
    assert s.status_code == 202 and s.headers["Location"].endswith(app_id)
    a = requests.get(f"{base}/ws/v1/cluster/apps/{app_id}").json()["app"]
    assert (a["name"], a["priority"], a["applicationTags"]) == ("xmltest", 3, "tag 2,tag1")


def test_scheduler_capacity_queues(emu):
    base = emu.rm_url()
    s = requests.get(f"{base}/ws/v1/cluster/scheduler").json()
    info = s["scheduler"]["schedulerInfo"]
    assert info["type"] == "capacityScheduler" and info["queueName"] == "root"
    assert (info["capacity"], info["maxCapacity"], info["usedCapacity"]) == (100.0, 100.0, 0.0)
    leaves = {q["queueName"]: q for q in info["queues"]["queue"]}
    assert set(leaves) == {"default", "small"}
    for q in leaves.values():
        assert LEAF_QUEUE_KEYS <= set(q)
        assert q["type"] == "capacitySchedulerLeafQueueInfo" and q["users"] is None
        assert q["resourcesUsed"] == {"memory": 0, "vCores": 0} and q["usedResources"] == "<memory:0, vCores:0>"
    assert (leaves["small"]["capacity"], leaves["small"]["maxCapacity"], leaves["small"]["absoluteMaxCapacity"]) == (10.0, 20.0, 20.0)

    emu.register_app(name="r", queue="small", user="alice", state="RUNNING", memory=1408, vcores=1)
    emu.register_app(name="p", queue="small", user="alice")
    small = {q["queueName"]: q for q in requests.get(f"{base}/ws/v1/cluster/scheduler").json()["scheduler"]["schedulerInfo"]["queues"]["queue"]}["small"]
    assert small["resourcesUsed"] == {"memory": 1408, "vCores": 1}
    assert (small["numApplications"], small["numActiveApplications"], small["numPendingApplications"]) == (2, 1, 1)
    assert small["users"]["user"] == [{"username": "alice", "resourcesUsed": {"memory": 1408, "vCores": 1},
                                       "numActiveApplications": 1, "numPendingApplications": 1}]
    assert small["absoluteUsedCapacity"] == pytest.approx(100.0 * 1408 / 16384, abs=1e-3)
    assert small["capacities"]["queueCapacitiesByPartition"][0]["absoluteMaxCapacity"] == 20.0

    requests.post(f"{base}/emulator/queues/small/usage", json={"memory": 2048, "vCores": 2})
    small = requests.get(f"{base}/ws/v1/cluster/scheduler").json()["scheduler"]["schedulerInfo"]["queues"]["queue"][1]
    assert small["resourcesUsed"] == {"memory": 1408 + 2048, "vCores": 3}

    x = ET.fromstring(requests.get(f"{base}/ws/v1/cluster/scheduler", headers=XML).content)
    xsi = "{http://www.w3.org/2001/XMLSchema-instance}type"
    si = x.find("schedulerInfo")
    assert x.tag == "scheduler" and si.get(xsi) == "capacityScheduler" and si.find("type") is None
    qs = si.find("queues").findall("queue")
    assert [q.get(xsi) for q in qs] == ["capacitySchedulerLeafQueueInfo"] * 2
    assert qs[0].find("users") is not None and list(qs[0].find("users")) == []


def test_queue_and_priority_endpoints(emu):
    app_id = emu.register_app(name="q")
    base = f"{emu.rm_url()}/ws/v1/cluster/apps/{app_id}"
    assert requests.get(f"{base}/queue").json() == {"queue": "default"}
    assert requests.put(f"{base}/queue", json={"queue": "small"}).json() == {"queue": "small"}
    assert requests.get(f"{base}/priority").json() == {"priority": 0}
    assert requests.put(f"{base}/priority", json={"priority": 8}).json() == {"priority": 8}


# =================================================================================== HA


def test_ha_standby_redirects_to_active(ha_emu):
    rm1, rm2 = ha_emu.rm_url("rm1"), ha_emu.rm_url("rm2")
    assert requests.get(f"{rm1}/ws/v1/cluster/info").json()["clusterInfo"]["haState"] == "ACTIVE"
    assert requests.get(f"{rm2}/ws/v1/cluster/info").json()["clusterInfo"]["haState"] == "STANDBY"
    app_id = ha_emu.register_app(name="ha", tags=["t"])

    r = requests.get(f"{rm2}/ws/v1/cluster/apps?applicationTags=t&states=ACCEPTED", allow_redirects=False)
    assert r.status_code == 307
    assert r.headers["Location"] == f"{rm1}/ws/v1/cluster/apps?applicationTags=t&states=ACCEPTED"
    assert requests.get(f"{rm2}/ws/v1/cluster/apps?applicationTags=t").json()["apps"]["app"][0]["id"] == app_id
    assert requests.get(f"{rm2}/ws/v1/cluster", allow_redirects=False).status_code == 307  # only /info is exempt
    p = requests.post(f"{rm2}/ws/v1/cluster/apps/new-application", allow_redirects=False)
    assert p.status_code == 307 and p.headers["Location"] == f"{rm1}/ws/v1/cluster/apps/new-application"
    k = requests.put(f"{rm2}/ws/v1/cluster/apps/{app_id}/state", json={"state": "KILLED"}, allow_redirects=False)
    assert k.status_code == 307
    k = requests.put(f"{rm2}/ws/v1/cluster/apps/{app_id}/state", json={"state": "KILLED"})  # 307 keeps method + body
    assert k.status_code == 202 and k.url.startswith(rm1)

    c = ha_emu.counters(server="rm2")
    assert c["GET /ws/v1/cluster/apps"] == 2 and c["GET /ws/v1/cluster/info"] == 1
    statuses = {r["status"] for r in ha_emu.request_log(server="rm2", path_prefix="/ws/v1/cluster/apps")}
    assert statuses == {307}

    requests.post(f"{rm1}/emulator/active", json={"rm": "rm2"})  # failover
    assert requests.get(f"{rm1}/ws/v1/cluster/info").json()["clusterInfo"]["haState"] == "STANDBY"
    assert requests.get(f"{rm2}/ws/v1/cluster/info").json()["clusterInfo"]["haState"] == "ACTIVE"
    r = requests.get(f"{rm1}/ws/v1/cluster/apps/{app_id}", allow_redirects=False)
    assert r.status_code == 307 and r.headers["Location"] == f"{rm2}/ws/v1/cluster/apps/{app_id}"
    assert requests.get(f"{rm1}/ws/v1/cluster/apps/{app_id}").json()["app"]["id"] == app_id

    requests.post(f"{rm1}/emulator/active", json={"rm": None})
    assert requests.get(f"{rm1}/ws/v1/cluster/apps").status_code == 503


def test_ha_refresh_header_mode(ha_emu):
    rm1, rm2 = ha_emu.rm_url("rm1"), ha_emu.rm_url("rm2")
    assert requests.post(f"{rm1}/emulator/settings", json={"ha_redirect_mode": "refresh"}).status_code == 200
    r = requests.get(f"{rm2}/ws/v1/cluster/apps?limit=1", allow_redirects=False)
    assert r.status_code == 200 and "Location" not in r.headers
    assert r.headers["Refresh"] == f"3; url={rm1}/ws/v1/cluster/apps?limit=1"
    assert "This is standby RM" in r.text


def test_ha_cli_writes_hadoop_conf(ha_emu):
    tree = ET.parse(os.path.join(ha_emu.conf_dir, "yarn-site.xml"))
    props = {p.findtext("name"): p.findtext("value") for p in tree.getroot()}
    assert props["yarn.resourcemanager.ha.rm-ids"] == "rm1,rm2"
    assert props["yarn.resourcemanager.webapp.address.rm2"] == ha_emu.rm_addr("rm2")


# =================================================================================== WebHDFS


def test_webhdfs_home_mkdirs_status(emu):
    nn = f"{emu.webhdfs_url}/webhdfs/v1"
    assert requests.get(f"{nn}/?op=GETHOMEDIRECTORY&user.name=alice").json() == {"Path": "/user/alice"}
    assert requests.get(f"{nn}/?op=GETHOMEDIRECTORY").json() == {"Path": "/user/dr.who"}
    r = requests.put(f"{nn}/user/alice/dir/sub?op=MKDIRS&user.name=alice")
    assert r.status_code == 200 and r.json() == {"boolean": True}
    st = requests.get(f"{nn}/user/alice/dir?op=GETFILESTATUS").json()
    assert set(st) == {"FileStatus"}
    fs = st["FileStatus"]
    assert FILE_STATUS_KEYS <= set(fs)
    assert (fs["type"], fs["owner"], fs["permission"], fs["pathSuffix"], fs["length"], fs["childrenNum"]) == ("DIRECTORY", "alice", "755", "", 0, 1)
    requests.put(f"{nn}/user/alice/private?op=MKDIRS&permission=0700&user.name=alice")
    assert requests.get(f"{nn}/user/alice/private?op=GETFILESTATUS").json()["FileStatus"]["permission"] == "700"
    e = remote_exception(requests.put(f"{nn}/x?op=MKDIRS&permission=999"), 400, "IllegalArgumentException", "java.lang.IllegalArgumentException")
    assert e["message"].startswith('Invalid value for webhdfs parameter "permission"')


def test_webhdfs_two_step_create_and_open(emu):
    nn = f"{emu.webhdfs_url}/webhdfs/v1"
    step1 = requests.put(f"{nn}/user/livy/app.py?op=CREATE&user.name=livy&doas=alice&overwrite=false&permission=640", allow_redirects=False)
    assert step1.status_code == 307 and step1.content == b""
    loc = urllib.parse.urlsplit(step1.headers["Location"])
    q = dict(urllib.parse.parse_qsl(loc.query))
    assert loc.netloc == emu.node_addr and loc.path == "/webhdfs/v1/user/livy/app.py"
    assert (q["op"], q["user.name"], q["doas"], q["overwrite"], q["permission"]) == ("CREATE", "livy", "alice", "false", "640")
    assert "namenoderpcaddress" in q
    step2 = requests.put(step1.headers["Location"], data=b"print('hi')\n")
    assert step2.status_code == 201 and step2.content == b""
    assert step2.headers["Location"] == f"webhdfs://{emu.webhdfs_addr}/user/livy/app.py"

    fs = requests.get(f"{nn}/user/livy/app.py?op=GETFILESTATUS").json()["FileStatus"]
    assert (fs["type"], fs["length"], fs["owner"], fs["permission"], fs["replication"]) == ("FILE", 12, "alice", "640", 1)

    again = requests.put(f"{nn}/user/livy/app.py?op=CREATE&user.name=livy", allow_redirects=False)
    e = remote_exception(again, 403, "FileAlreadyExistsException", "org.apache.hadoop.fs.FileAlreadyExistsException")
    assert "already exists" in e["message"]
    # requests follows the 307 and re-sends the body (method preserved), i.e. both steps in one call
    one_call = requests.put(f"{nn}/user/livy/app.py?op=CREATE&overwrite=true&user.name=livy", data=b"v2")
    assert one_call.status_code == 201

    o = requests.get(f"{nn}/user/livy/app.py?op=OPEN&user.name=livy", allow_redirects=False)
    assert o.status_code == 307 and urllib.parse.urlsplit(o.headers["Location"]).netloc == emu.node_addr
    data = requests.get(o.headers["Location"])
    assert data.status_code == 200 and data.content == b"v2" and data.headers["Content-Type"] == "application/octet-stream"
    assert requests.get(f"{nn}/user/livy/app.py?op=OPEN&offset=1&length=1").content == b"2"
    nr = requests.get(f"{nn}/user/livy/app.py?op=OPEN&noredirect=true")
    assert nr.status_code == 200 and set(nr.json()) == {"Location"}
    nrc = requests.put(f"{nn}/user/livy/other?op=CREATE&noredirect=true")
    assert nrc.status_code == 200 and "op=CREATE" in nrc.json()["Location"]

    dn_direct = requests.put(f"http://{emu.node_addr}/webhdfs/v1/user/livy/z?op=CREATE", data=b"x")
    remote_exception(dn_direct, 400, "IllegalArgumentException")
    ap = requests.post(f"{nn}/user/livy/app.py?op=APPEND", data=b"+more")
    assert ap.status_code == 200
    assert requests.get(f"{nn}/user/livy/app.py?op=OPEN").content == b"v2+more"


def test_webhdfs_direct_mode(emu):
    requests.post(f"{emu.rm_url()}/emulator/settings", json={"webhdfs_redirect": False})
    nn = f"{emu.webhdfs_url}/webhdfs/v1"
    assert requests.put(f"{nn}/tmp/d?op=CREATE&data=true", data=b"abc", headers={"Content-Type": "application/octet-stream"}).status_code == 201
    o = requests.get(f"{nn}/tmp/d?op=OPEN", allow_redirects=False)
    assert o.status_code == 200 and o.content == b"abc"


def test_webhdfs_list_permission_rename_delete(emu):
    nn = f"{emu.webhdfs_url}/webhdfs/v1"
    for name in ("b.txt", "a.txt"):
        requests.put(f"{nn}/data/{name}?op=CREATE&user.name=webuser", data=name.encode())
    requests.put(f"{nn}/data/sub?op=MKDIRS")
    ls = requests.get(f"{nn}/data?op=LISTSTATUS").json()
    assert set(ls) == {"FileStatuses"} and set(ls["FileStatuses"]) == {"FileStatus"}
    entries = ls["FileStatuses"]["FileStatus"]
    assert [e["pathSuffix"] for e in entries] == ["a.txt", "b.txt", "sub"]
    assert all(FILE_STATUS_KEYS <= set(e) for e in entries)
    assert [e["type"] for e in entries] == ["FILE", "FILE", "DIRECTORY"]
    single = requests.get(f"{nn}/data/a.txt?op=LISTSTATUS").json()["FileStatuses"]["FileStatus"]
    assert len(single) == 1 and single[0]["pathSuffix"] == "" and single[0]["length"] == 5

    sp = requests.put(f"{nn}/data/a.txt?op=SETPERMISSION&permission=600")
    assert sp.status_code == 200 and sp.content == b""
    assert requests.get(f"{nn}/data/a.txt?op=GETFILESTATUS").json()["FileStatus"]["permission"] == "600"

    assert requests.put(f"{nn}/data/a.txt?op=RENAME&destination=/data/sub").json() == {"boolean": True}
    assert requests.get(f"{nn}/data/sub/a.txt?op=GETFILESTATUS").json()["FileStatus"]["permission"] == "600"
    assert requests.put(f"{nn}/data/b.txt?op=RENAME&destination=/data/c.txt").json() == {"boolean": True}
    assert requests.put(f"{nn}/data/missing?op=RENAME&destination=/data/x").json() == {"boolean": False}
    remote_exception(requests.put(f"{nn}/data/c.txt?op=RENAME"), 400, "IllegalArgumentException")

    e = remote_exception(requests.delete(f"{nn}/data?op=DELETE"), 403, "PathIsNotEmptyDirectoryException")
    assert "non empty" in e["message"]
    assert requests.delete(f"{nn}/data?op=DELETE&recursive=true").json() == {"boolean": True}
    assert requests.delete(f"{nn}/data?op=DELETE").json() == {"boolean": False}

    nf = requests.get(f"{nn}/data/c.txt?op=GETFILESTATUS")
    e = remote_exception(nf, 404, "FileNotFoundException", "java.io.FileNotFoundException")
    assert e["message"] == "File does not exist: /data/c.txt"
    remote_exception(requests.get(f"{nn}/nope?op=OPEN"), 404, "FileNotFoundException")
    remote_exception(requests.get(f"{nn}/nope?op=LISTSTATUS"), 404, "FileNotFoundException")
    remote_exception(requests.put(f"{nn}/nope?op=SETPERMISSION&permission=755"), 404, "FileNotFoundException")
    bad = remote_exception(requests.get(f"{nn}/?op=FROBNICATE"), 400, "IllegalArgumentException")
    assert "GetOpParam.Op.FROBNICATE" in bad["message"]
    remote_exception(requests.get(f"{nn}/?op=MKDIRS"), 400, "IllegalArgumentException")  # MKDIRS is a PUT op


def test_webhdfs_delegation_token_insecure_is_null(emu):
    r = requests.get(f"{emu.webhdfs_url}/webhdfs/v1/?op=GETDELEGATIONTOKEN&renewer=livy")
    assert r.status_code == 200 and r.json() == {"Token": None}


def test_webhdfs_records_user_name_and_doas(emu):
    requests.put(f"{emu.webhdfs_url}/webhdfs/v1/tmp/u?op=MKDIRS&user.name=livy&doas=carol")
    assert requests.get(f"{emu.webhdfs_url}/webhdfs/v1/tmp/u?op=GETFILESTATUS").json()["FileStatus"]["owner"] == "carol"
    rec = [r for r in emu.request_log(server="webhdfs") if r["query"].get("op") == "MKDIRS"][0]
    assert (rec["user.name"], rec["doAs"], rec["user"], rec["status"]) == ("livy", "carol", "carol", 200)


# =================================================================================== control API


def test_counters_and_reset(emu):
    base = emu.rm_url()
    app_id = emu.register_app(name="c")
    for _ in range(3):
        requests.get(f"{base}/ws/v1/cluster/apps")
    requests.get(f"{base}/ws/v1/cluster/apps/{app_id}")
    requests.get(f"{emu.webhdfs_url}/webhdfs/v1/tmp?op=LISTSTATUS")
    c = requests.get(f"{base}/emulator/counters").json()
    assert c == {
        "GET /ws/v1/cluster/apps": 3,
        f"GET /ws/v1/cluster/apps/{app_id}": 1,
        "GET /webhdfs/v1/tmp?op=LISTSTATUS": 1,
    }
    routes = requests.get(f"{base}/emulator/counters", params={"group": "route", "server": "rm1"}).json()
    assert routes == {"GET /ws/v1/cluster/apps": 3, "GET /ws/v1/cluster/apps/{appid}": 1}
    assert requests.delete(f"{base}/emulator/counters").json() == {}
    assert requests.get(f"{base}/emulator/counters").json() == {}
    requests.get(f"{base}/ws/v1/cluster/info")
    requests.post(f"{base}/emulator/counters/reset")
    assert emu.counters() == {}


def test_control_register_and_move_states(emu):
    base = emu.rm_url()
    r = requests.post(f"{base}/emulator/apps", json={"name": "ctl", "queue": "small", "user": "u", "tags": "A,b", "type": "SPARK"})
    assert r.status_code == 201
    rec = r.json()
    app_id = rec["id"]
    assert rec["app"]["applicationTags"] == "a,b" and rec["state"] == "ACCEPTED"
    r = requests.post(f"{base}/emulator/apps/{app_id}/state", json={"state": "RUNNING"})
    assert r.json()["state"] == "RUNNING"
    r = requests.post(f"{base}/emulator/apps/{app_id}/state", json={"state": "FAILED", "diagnostics": "exit 1"})
    assert (r.json()["final_status"], r.json()["diagnostics"]) == ("FAILED", "exit 1")
    assert requests.post(f"{base}/emulator/apps/{app_id}/state", json={"state": "RUNNING"}).status_code == 409
    assert requests.post(f"{base}/emulator/apps/{app_id}/state", json={"state": "FINISHED", "finalStatus": "KILLED", "force": True}).status_code == 200
    a = requests.get(f"{base}/ws/v1/cluster/apps/{app_id}").json()["app"]
    assert (a["state"], a["finalStatus"]) == ("FINISHED", "KILLED")
    hist = [s for s, _ in requests.get(f"{base}/emulator/apps/{app_id}").json()["history"]]
    assert hist == ["NEW", "NEW_SAVING", "SUBMITTED", "ACCEPTED", "RUNNING", "FAILED", "FINISHED"]
    assert requests.get(f"{base}/emulator/apps/nope").status_code == 404
    assert requests.get(f"{base}/emulator/").json()["endpoints"]


def test_state_survives_restart(tmp_path):
    e1 = Emulator(state_dir=tmp_path / "s").start()
    a = e1.register_app(name="persist", tags=["t1"])
    requests.put(f"{e1.webhdfs_url}/webhdfs/v1/tmp/keep?op=CREATE", data=b"k")
    e1.stop()
    time.sleep(0.01)
    e2 = Emulator(state_dir=tmp_path / "s").start()
    try:
        assert e2.cluster_ts != e1.cluster_ts
        assert requests.get(f"{e2.rm_url()}/ws/v1/cluster/apps/{a}").json()["app"]["name"] == "persist"
        b = e2.register_app(name="new")
        assert b == f"application_{e2.cluster_ts}_0002"
        assert requests.get(f"{e2.webhdfs_url}/webhdfs/v1/tmp/keep?op=OPEN").content == b"k"
    finally:
        e2.stop()


def test_cli_prints_one_json_line(tmp_path):
    proc = subprocess.Popen([sys.executable, os.path.join(HERE, "rm_emulator.py"), "--port", "0", "--state-dir", str(tmp_path / "c"), "--ha", "rm1,rm2"],
                            stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        info = json.loads(line)
        assert set(info["rm"]) == {"rm1", "rm2"} and info["active_rm"] == "rm1"
        assert requests.get(f"http://{info['rm']['rm2']}/ws/v1/cluster/info").json()["clusterInfo"]["haState"] == "STANDBY"
        assert requests.get(f"{info['webhdfs_url']}/webhdfs/v1/?op=GETHOMEDIRECTORY").status_code == 200
        assert os.path.exists(os.path.join(info["hadoop_conf_dir"], "core-site.xml"))
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0


# =================================================================================== faults


def test_fault_latency_garbage_html_status(emu):
    base = emu.rm_url()
    url = f"{base}/ws/v1/cluster/apps"
    requests.post(f"{base}/emulator/faults", json={"target": "rm1", "mode": "latency", "latency_ms": 400, "count": 1})
    t0 = time.monotonic()
    assert requests.get(url).status_code == 200
    assert time.monotonic() - t0 >= 0.4
    t0 = time.monotonic()
    requests.get(url)
    assert time.monotonic() - t0 < 0.4

    requests.post(f"{base}/emulator/faults", json={"target": "rm", "mode": "garbage", "count": 1})
    g = requests.get(url)
    assert g.status_code == 200
    with pytest.raises(ValueError):
        g.json()
    requests.post(f"{base}/emulator/faults", json={"target": "rm", "mode": "html", "count": 1})
    h = requests.get(url)
    assert h.status_code == 200 and h.headers["Content-Type"].startswith("text/html") and "<html" in h.text.lower()
    requests.post(f"{base}/emulator/faults", json={"target": "all", "mode": "status", "status": 503, "count": 2, "path_prefix": "/ws/v1/cluster/apps"})
    assert requests.get(f"{base}/ws/v1/cluster/info").status_code == 200  # path_prefix does not match
    assert [requests.get(url).status_code for _ in range(3)] == [503, 503, 200]
    requests.post(f"{base}/emulator/faults", json={"target": "webhdfs", "mode": "status", "status": 500})
    assert requests.get(f"{emu.webhdfs_url}/webhdfs/v1/?op=GETHOMEDIRECTORY").status_code == 500
    assert requests.get(url).status_code == 200
    assert requests.delete(f"{base}/emulator/faults").json() == {"faults": []}
    assert requests.get(f"{emu.webhdfs_url}/webhdfs/v1/?op=GETHOMEDIRECTORY").status_code == 200


def test_fault_reset_and_refuse(emu):
    base = emu.rm_url()
    requests.post(f"{base}/emulator/faults", json={"target": "rm1", "mode": "reset", "count": 1})
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"{base}/ws/v1/cluster/apps")
    assert requests.get(f"{base}/ws/v1/cluster/apps").status_code == 200

    r = requests.post(f"{base}/emulator/faults", json={"target": "rm1", "mode": "refuse"})
    assert r.status_code == 201
    with pytest.raises(requests.exceptions.ConnectionError) as ei:
        requests.get(f"{base}/ws/v1/cluster/apps", timeout=5)
    assert "refused" in str(ei.value).lower()
    # the control API is reachable on the other ports, e.g. WebHDFS
    requests.delete(f"{emu.webhdfs_url}/emulator/faults")
    wait_for(lambda: requests.get(f"{base}/ws/v1/cluster/apps").status_code == 200, 10, what="rm1 back")

    emu.add_fault("rm1", "refuse", seconds=0.5)
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"{base}/ws/v1/cluster/info", timeout=5)
    wait_for(lambda: requests.get(f"{base}/ws/v1/cluster/info").status_code == 200, 10, what="auto-restore")


# =================================================================================== SPNEGO / tokens


def test_spnego_required(secure_emu):
    base = secure_emu.rm_url()
    r = requests.get(f"{base}/ws/v1/cluster/apps")
    assert r.status_code == 401 and r.headers["WWW-Authenticate"] == "Negotiate"
    w = requests.get(f"{secure_emu.webhdfs_url}/webhdfs/v1/?op=GETHOMEDIRECTORY")
    assert w.status_code == 401 and w.headers["WWW-Authenticate"] == "Negotiate"
    assert requests.get(f"{base}/ws/v1/cluster/apps", headers=negotiate("reject")).status_code == 403

    s = requests.Session()
    ok = s.get(f"{base}/ws/v1/cluster/apps?doAs=bob", headers=negotiate("alice@EXAMPLE.COM"))
    assert ok.status_code == 200 and "hadoop.auth" in ok.headers["Set-Cookie"]
    assert s.get(f"{base}/ws/v1/cluster/apps").status_code == 200  # the hadoop.auth cookie authenticates
    log = secure_emu.request_log(server="rm1")
    assert [(x["status"], x["auth"]) for x in log] == [(401, None), (403, None), (200, "negotiate"), (200, "cookie")]
    assert (log[2]["principal"], log[2]["doAs"], log[2]["user"]) == ("alice@EXAMPLE.COM", "bob", "bob")
    home = requests.get(f"{secure_emu.webhdfs_url}/webhdfs/v1/?op=GETHOMEDIRECTORY&user.name=ignored", headers=negotiate("carol@EXAMPLE.COM"))
    assert home.json() == {"Path": "/user/carol"}


def test_rm_delegation_tokens(secure_emu):
    base = secure_emu.rm_url()
    alice, bob = negotiate("alice@EXAMPLE.COM"), negotiate("bob@EXAMPLE.COM")
    r = requests.post(f"{base}/ws/v1/cluster/delegation-token", json={"renewer": "alice"}, headers=alice)
    assert r.status_code == 200
    tok = r.json()
    assert set(tok) == {"token", "renewer", "owner", "kind", "expiration-time", "max-validity"}
    assert (tok["renewer"], tok["owner"], tok["kind"]) == ("alice", "alice@EXAMPLE.COM", "RM_DELEGATION_TOKEN")
    hdr = {"Hadoop-YARN-RM-Delegation-Token": tok["token"]}

    renew = requests.post(f"{base}/ws/v1/cluster/delegation-token/expiration", headers={**alice, **hdr})
    assert renew.status_code == 200 and set(renew.json()) == {"expiration-time"}
    remote_exception(requests.post(f"{base}/ws/v1/cluster/delegation-token/expiration", headers={**bob, **hdr}), 403, "ForbiddenException")
    remote_exception(requests.post(f"{base}/ws/v1/cluster/delegation-token/expiration", headers=alice), 400, "BadRequestException")

    # the token itself authenticates REST calls (X-Hadoop-Delegation-Token), no SPNEGO needed
    assert requests.get(f"{base}/ws/v1/cluster/apps", headers={"X-Hadoop-Delegation-Token": tok["token"]}).status_code == 200
    xr = requests.post(f"{base}/ws/v1/cluster/delegation-token", json={"renewer": "alice"}, headers={**alice, **XML})
    assert ET.fromstring(xr.content).tag == "delegation-token"

    assert requests.delete(f"{base}/ws/v1/cluster/delegation-token", headers={**alice, **hdr}).status_code == 200
    remote_exception(requests.post(f"{base}/ws/v1/cluster/delegation-token/expiration", headers={**alice, **hdr}), 403, "ForbiddenException")
    assert requests.get(f"{base}/ws/v1/cluster/apps", headers={"X-Hadoop-Delegation-Token": tok["token"]}).status_code == 403


def test_rm_delegation_token_needs_kerberos(emu):
    r = requests.post(f"{emu.rm_url()}/ws/v1/cluster/delegation-token", json={"renewer": "x"})
    e = remote_exception(r, 403, "ForbiddenException")
    assert "Kerberos authenticated" in e["message"]


def test_webhdfs_secure_tokens_and_redirects(secure_emu):
    nn = f"{secure_emu.webhdfs_url}/webhdfs/v1"
    alice = negotiate("alice@EXAMPLE.COM")
    t = requests.get(f"{nn}/?op=GETDELEGATIONTOKEN&renewer=alice", headers=alice).json()
    assert set(t) == {"Token"} and set(t["Token"]) == {"urlString"}
    step1 = requests.put(f"{nn}/user/alice/f?op=CREATE", headers=alice, allow_redirects=False)
    assert step1.status_code == 307 and "delegation=" in step1.headers["Location"]
    assert requests.put(step1.headers["Location"], data=b"secret").status_code == 201  # DN: the token authenticates
    assert requests.get(f"{nn}/user/alice/f?op=GETFILESTATUS&delegation={t['Token']['urlString']}").json()["FileStatus"]["owner"] == "alice"
    assert requests.get(f"{nn}/user/alice/f?op=GETFILESTATUS").status_code == 401


# =================================================================================== spark-submit shim (real Spark)

OK_SCRIPT = """
import sys
from pyspark.sql import SparkSession
spark = SparkSession.builder.getOrCreate()
print("RESULT", spark.range(10).selectExpr("sum(id)").collect()[0][0], sys.argv[1:])
spark.stop()
"""
FAIL_SCRIPT = """
from pyspark.sql import SparkSession
spark = SparkSession.builder.getOrCreate()
raise ValueError("boom from the driver")
"""
SLEEP_SCRIPT = """
import time
from pyspark.sql import SparkSession
spark = SparkSession.builder.getOrCreate()
print("READY", flush=True)
time.sleep(600)
"""
SPARK_DEADLINE = 300


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def app_by_tag(emu, tag):
    body = requests.get(f"{emu.rm_url()}/ws/v1/cluster/apps", params={"applicationTags": tag}).json()
    return body["apps"]["app"][0] if body["apps"] else None


def test_shim_cluster_mode_success(emu, shim_env, tmp_path):
    script = write(tmp_path, "ok.py", OK_SCRIPT)
    cmd = [SHIM, "--master", "yarn", "--deploy-mode", "cluster", "--name", "ok-job", "--queue", "small",
           "--proxy-user", "alice", "--conf", "spark.yarn.tags=livy-batch-1-AbCd,Other",
           "--conf", "spark.hadoop.yarn.resourcemanager.webapp.address=ignored:1", "--driver-memory", "512m",
           script, "arg1", "--flag"]
    proc = subprocess.Popen(cmd, env=shim_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=str(tmp_path))
    seen = set()

    def progressed():
        a = app_by_tag(emu, "LIVY-BATCH-1-abcd")
        if a:
            seen.add(a["state"])
        return proc.poll() is not None

    wait_for(progressed, SPARK_DEADLINE, 0.2, "spark-submit shim to exit")
    out, err = proc.communicate()
    assert proc.returncode == 0, err
    a = app_by_tag(emu, "livy-batch-1-abcd")
    assert (a["state"], a["finalStatus"], a["name"], a["queue"], a["user"], a["applicationType"]) == (
        "FINISHED", "SUCCEEDED", "ok-job", "small", "alice", "SPARK")
    assert a["applicationTags"] == "livy-batch-1-abcd,other"
    assert seen & {"ACCEPTED", "RUNNING"}
    hist = [s for s, _ in requests.get(f"{emu.rm_url()}/emulator/apps/{a['id']}").json()["history"]]
    assert hist[-3:] == ["ACCEPTED", "RUNNING", "FINISHED"]
    assert f"INFO YarnClientImpl: Submitted application {a['id']}" in err
    assert f"Application report for {a['id']} (state: FINISHED)" in err
    assert "RESULT" not in out + err  # cluster mode: driver output goes to the container logs
    logs = requests.get(a["amContainerLogs"] + "/stdout?start=0").text
    assert "RESULT 45 [&#x27;arg1&#x27;, &#x27;--flag&#x27;]" in logs or "RESULT 45 ['arg1', '--flag']" in logs


def test_shim_cluster_mode_failure(emu, shim_env, tmp_path):
    script = write(tmp_path, "fail.py", FAIL_SCRIPT)
    proc = subprocess.run([SHIM, "--master", "yarn", "--deploy-mode", "cluster", "--conf", "spark.yarn.tags=fail-tag", script],
                          env=shim_env, capture_output=True, text=True, timeout=SPARK_DEADLINE)
    assert proc.returncode == 1
    assert "finished with failed status" in proc.stderr
    a = app_by_tag(emu, "fail-tag")
    assert (a["state"], a["finalStatus"], a["name"]) == ("FAILED", "FAILED", "fail.py")
    assert "User application exited with status 1" in a["diagnostics"]
    assert "ValueError: boom from the driver" in a["diagnostics"]


def test_shim_detached_then_killed_through_rest(emu, shim_env, tmp_path):
    script = write(tmp_path, "sleep.py", SLEEP_SCRIPT)
    t0 = time.monotonic()
    proc = subprocess.run([SHIM, "--master", "yarn", "--deploy-mode", "cluster", "--conf", "spark.yarn.submit.waitAppCompletion=false",
                           "--conf", "spark.yarn.tags=detached", script], env=shim_env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert time.monotonic() - t0 < 30  # returned without waiting for the driver
    a = app_by_tag(emu, "detached")
    assert a["state"] in ("ACCEPTED", "RUNNING")
    assert f"Application report for {a['id']} (state: ACCEPTED)" in proc.stderr
    wait_for(lambda: app_by_tag(emu, "detached")["state"] == "RUNNING", SPARK_DEADLINE, 0.2, "RUNNING")
    rec = requests.get(f"{emu.rm_url()}/emulator/apps/{a['id']}").json()
    pgid = rec["pid"]
    wait_for(lambda: "READY" in open(os.path.join(rec["log_dir"], "stdout")).read(), SPARK_DEADLINE, 0.2, "driver READY")

    r = requests.put(f"{emu.rm_url()}/ws/v1/cluster/apps/{a['id']}/state", json={"state": "KILLED"})
    assert r.status_code == 202
    wait_for(lambda: app_by_tag(emu, "detached")["state"] == "KILLED", 30, what="KILLED")

    def group_gone():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        return False

    wait_for(group_gone, 30, 0.2, "driver process group to exit")
    a = app_by_tag(emu, "detached")
    assert a["finalStatus"] == "KILLED"
    assert requests.get(f"{emu.rm_url()}/emulator/apps/{a['id']}").json()["kill_events"][0]["signal"] == "SIGTERM"


def test_shim_client_mode_streams_driver_output(emu, shim_env, tmp_path):
    script = write(tmp_path, "ok.py", OK_SCRIPT)
    proc = subprocess.run([SHIM, "--master", "yarn", "--deploy-mode", "client", "--conf", "spark.yarn.tags=client-tag", script, "x"],
                          env=shim_env, capture_output=True, text=True, timeout=SPARK_DEADLINE)
    assert proc.returncode == 0, proc.stderr
    assert "RESULT 45 ['x']" in proc.stdout
    a = app_by_tag(emu, "client-tag")
    assert (a["state"], a["finalStatus"]) == ("FINISHED", "SUCCEEDED")


def test_shim_rejects_oversized_am_without_submitting(emu, shim_env, tmp_path):
    script = write(tmp_path, "ok.py", OK_SCRIPT)
    proc = subprocess.run([SHIM, "--master", "yarn", "--deploy-mode", "cluster", "--driver-memory", "16g", script],
                          env=shim_env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "Required AM memory (16384+1638 MB) is above the max threshold (8192 MB) of this cluster!" in proc.stderr
    assert requests.get(f"{emu.rm_url()}/ws/v1/cluster/apps").json() == {"apps": None}


def test_shim_unknown_queue_via_hadoop_conf_dir(emu, shim_env, tmp_path):
    env = dict(shim_env)
    del env["LIVY_RS_TEST_RM"]
    env["HADOOP_CONF_DIR"] = emu.conf_dir  # RM address from yarn-site.xml, as real spark-submit finds it
    script = write(tmp_path, "ok.py", OK_SCRIPT)
    proc = subprocess.run([SHIM, "--master", "yarn", "--deploy-mode", "cluster", "--queue", "nope", "--conf", "spark.yarn.tags=q", script],
                          env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    a = app_by_tag(emu, "q")
    assert a["state"] == "FAILED" and "unknown queue: nope" in a["diagnostics"]
    assert "finished with failed status" in proc.stderr


def test_shim_bad_arguments(shim_env):
    bad = subprocess.run([SHIM, "--master", "yarn", "--bogus"], env=shim_env, capture_output=True, text=True, timeout=30)
    assert bad.returncode == 1 and "Unrecognized option: --bogus" in bad.stderr
    noeq = subprocess.run([SHIM, "--master", "yarn", "--conf", "novalue", "x.py"], env=shim_env, capture_output=True, text=True, timeout=30)
    assert noeq.returncode == 1 and "Spark config without '='" in noeq.stderr
