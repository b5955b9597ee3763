"""The emulator's records (applications, faults, queues) and helpers that read YARN request bodies.
"""
from __future__ import annotations

import time


class App:
    FIELDS = [
        "id", "cluster_ts", "seq", "user", "name", "queue", "type", "tags", "state", "final_status",
        "progress", "diagnostics", "started", "launched", "finished", "priority", "am_memory",
        "am_vcores", "allocated_mb", "allocated_vcores", "pid", "unmanaged", "attempt_start",
        "am_rpc_port", "ui_url", "history", "kill_events", "submitted_via", "kill_pending",
        "submission", "node_label",
    ]

    def __init__(self, **kw):
        self.history = []
        self.kill_events = []
        self.tags = []
        self.progress = 0.0
        self.diagnostics = ""
        self.launched = 0
        self.finished = 0
        self.priority = 0
        self.pid = None
        self.unmanaged = False
        self.attempt_start = 0
        self.am_rpc_port = 0
        self.ui_url = None
        self.kill_pending = False
        self.submission = None
        self.allocated_mb = None
        self.allocated_vcores = None
        self.node_label = ""
        for k, v in kw.items():
            setattr(self, k, v)

    def to_dict(self):
        return {k: getattr(self, k, None) for k in self.FIELDS}

    @classmethod
    def from_dict(cls, d):
        return cls(**{k: v for k, v in d.items() if k in cls.FIELDS})

    @property
    def container_id(self):
        return f"container_{self.cluster_ts}_{self.seq:04d}_01_000001"

    @property
    def attempt_id(self):
        return f"appattempt_{self.cluster_ts}_{self.seq:04d}_000001"

    @property
    def has_attempt(self):
        return self.attempt_start > 0


DEFAULT_QUEUES = [
    # name, capacity %, max capacity % (both relative to root), user limit factor
    {"name": "default", "capacity": 90.0, "maxCapacity": 100.0, "userLimitFactor": 1.0, "maxApplications": 9000},
    {"name": "small", "capacity": 10.0, "maxCapacity": 20.0, "userLimitFactor": 1.0, "maxApplications": 1000},
]


class Fault:
    MODES = {"latency", "garbage", "html", "status", "reset", "refuse"}

    def __init__(self, target, mode, latency_ms=0, status=None, count=None, seconds=None, path_prefix="", body=None):
        if mode not in self.MODES:
            raise ValueError(f"unknown fault mode {mode!r}; one of {sorted(self.MODES)}")
        self.target = target
        self.mode = mode
        self.latency_ms = int(latency_ms or 0)
        self.status = int(status) if status else (200 if mode == "html" else 503)
        self.count = None if count is None else int(count)
        self.until = None if seconds is None else time.time() + float(seconds)
        self.path_prefix = path_prefix or ""
        self.body = body

    def to_dict(self):
        return {
            "target": self.target, "mode": self.mode, "latency_ms": self.latency_ms, "status": self.status,
            "count": self.count, "remaining_seconds": None if self.until is None else max(0.0, self.until - time.time()),
            "path_prefix": self.path_prefix,
        }


GARBAGE_BODY = b"\x00\x1f<<not-json>> {\"apps\": [tru"
HTML_BODY = (
    "<!DOCTYPE html><html><head><title>Sign in</title></head><body>"
    "<h1>Gateway login</h1><form method='post' action='/login'><input name='user'/></form>"
    "</body></html>"
)


SPARK_AM_CLASS = "org.apache.spark.deploy.yarn.ApplicationMaster"


def zipfile_like(path):
    with open(path, "rb") as f:
        return f.read(4) == b"PK\x03\x04"


def _entries(obj):
    """`{"entry": [{"key":..,"value":..}, ...]}` (or one entry, or XML's dict form) -> pairs."""
    if not isinstance(obj, dict):
        return []
    entry = obj.get("entry") or []
    if isinstance(entry, dict):
        entry = [entry]
    return [(str(e.get("key")), e.get("value") if isinstance(e.get("value"), dict) else str(e.get("value", ""))) for e in entry if isinstance(e, dict)]


def _am_command(ctx):
    cmds = ((ctx.get("am-container-spec") or {}).get("commands") or {}).get("command") or ""
    return " ".join(cmds) if isinstance(cmds, list) else str(cmds)


def _am_arguments(command):
    """`--class C [--jar J | --primary-py-file P] --arg A ...` of Spark's ApplicationMaster command
    (arguments quoted by YarnSparkHadoopUtil.escapeForShell for `bash -c`)."""
    import shlex
    words = shlex.split(command)
    main_class, primary, args = None, None, []
    for i, w in enumerate(words[:-1]):
        v = words[i + 1].replace("\\$", "$").replace('\\"', '"')
        if w == "--class":
            main_class = v
        elif w == "--primary-py-file":
            primary = v
        elif w == "--arg":
            args.append(v)
    if not main_class:
        raise ValueError(f"no --class in the AM command: {command[:200]}")
    return main_class, primary, args


def _xml_to_dict(el):
    children = list(el)
    if not children:
        return el.text or ""
    out = {}
    for c in children:
        v = _xml_to_dict(c)
        if c.tag in out:
            if not isinstance(out[c.tag], list):
                out[c.tag] = [out[c.tag]]
            out[c.tag].append(v)
        else:
            out[c.tag] = v
    return out


def _tags_from(v):
    if v is None or v == "":
        return []
    if isinstance(v, dict):
        v = v.get("tag", [])
    if isinstance(v, str):
        return [v]
    return list(v)


def _norm_tags(tags):
    if isinstance(tags, str):
        tags = tags.split(",")
    out = []
    for t in tags or ():
        t = str(t).strip().lower()
        if t and t not in out:
            out.append(t)
    return out
