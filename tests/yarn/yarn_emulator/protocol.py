"""Hadoop's wire formats as the emulator speaks them: constants, the RemoteException errors of the
RM and WebHDFS, and JSON/XML responses.
"""
from __future__ import annotations

import json
import re
import time
import urllib.parse
from xml.sax.saxutils import escape as _xml_escape


HADOOP_VERSION = "3.3.6"
APP_STATES = ["NEW", "NEW_SAVING", "SUBMITTED", "ACCEPTED", "RUNNING", "FINISHED", "FAILED", "KILLED"]
FINAL_STATES = {"FINISHED", "FAILED", "KILLED"}
PENDING_STATES = {"NEW", "NEW_SAVING", "SUBMITTED", "ACCEPTED"}
FINAL_STATUSES = ["UNDEFINED", "SUCCEEDED", "FAILED", "KILLED"]
DEFAULT_FINAL_STATUS = {"FINISHED": "SUCCEEDED", "FAILED": "FAILED", "KILLED": "KILLED"}
APP_ID_RE = re.compile(r"^application_(\d+)_(\d+)$")
JSON_CT = "application/json;charset=utf-8"
XML_CT = "application/xml;charset=utf-8"
DEFAULT_WEB_USER = "dr.who"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"


def now_ms() -> int:
    return int(time.time() * 1000)


# --------------------------------------------------------------------------- errors


class HttpError(Exception):
    """An error answered as a Hadoop RemoteException body."""

    def __init__(self, status, exception, message, java_class, headers=None):
        super().__init__(message)
        self.status = status
        self.exception = exception
        self.message = message
        self.java_class = java_class
        self.headers = list(headers or [])

    def payload(self):
        return {"exception": self.exception, "message": self.message, "javaClassName": self.java_class}


def rm_not_found(msg):
    return HttpError(404, "NotFoundException", msg, "org.apache.hadoop.yarn.webapp.NotFoundException")


def rm_bad_request(msg):
    return HttpError(400, "BadRequestException", msg, "org.apache.hadoop.yarn.webapp.BadRequestException")


def rm_forbidden(msg):
    return HttpError(403, "ForbiddenException", msg, "org.apache.hadoop.yarn.webapp.ForbiddenException")


def hdfs_illegal_argument(msg):
    return HttpError(400, "IllegalArgumentException", msg, "java.lang.IllegalArgumentException")


def hdfs_not_found(msg):
    return HttpError(404, "FileNotFoundException", msg, "java.io.FileNotFoundException")


def hdfs_already_exists(msg):
    return HttpError(403, "FileAlreadyExistsException", msg, "org.apache.hadoop.fs.FileAlreadyExistsException")


def hdfs_io(msg, exc="IOException", cls="java.io.IOException"):
    return HttpError(403, exc, msg, cls)


# --------------------------------------------------------------------------- responses


class Resp:
    def __init__(self, status=200, body=b"", content_type=None, headers=None, close=False):
        self.status = status
        self.body = body if isinstance(body, bytes) else body.encode("utf-8")
        self.content_type = content_type
        self.headers = list(headers or [])
        self.close = close


def _fmt_scalar(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v) if v == v else "NaN"
    return _xml_escape(str(v))


def _xml_element(out, name, value, declare_xsi=False):
    if value is None:
        out.append(f"<{name}/>")
        return
    if isinstance(value, dict):
        attrs = ""
        if "@xsi:type" in value:
            if declare_xsi or value.get("@xmlns:xsi"):
                attrs += f' xmlns:xsi="{XSI_NS}"'
            attrs += f' xsi:type="{_xml_escape(value["@xsi:type"])}"'
        out.append(f"<{name}{attrs}>")
        for k, v in value.items():
            if k.startswith("@"):
                continue
            if isinstance(v, list):
                for item in v:
                    _xml_element(out, k, item)
            else:
                _xml_element(out, k, v)
        out.append(f"</{name}>")
        return
    out.append(f"<{name}>{_fmt_scalar(value)}</{name}>")


def to_xml(root, obj, declare_xsi=False):
    out = ['<?xml version="1.0" encoding="UTF-8" standalone="yes"?>']
    _xml_element(out, root, obj, declare_xsi)
    return "".join(out)


def wants_xml(headers):
    """Jersey picks JSON unless the Accept header prefers XML."""
    accept = headers.get("Accept") or ""
    best_json = best_xml = -1.0
    for part in accept.split(","):
        bits = [b.strip() for b in part.split(";")]
        mt = bits[0].lower()
        q = 1.0
        for b in bits[1:]:
            if b.startswith("q="):
                try:
                    q = float(b[2:])
                except ValueError:
                    q = 0.0
        if mt in ("application/json", "application/*", "*/*"):
            best_json = max(best_json, q)
        if mt in ("application/xml", "text/xml"):
            best_xml = max(best_xml, q)
    return best_xml > best_json


def respond(ctx, status, json_obj, xml_root=None, xml_obj=None, headers=None, declare_xsi=False):
    """JSON body `json_obj`, or XML <xml_root> when the client asks for XML."""
    if xml_root is not None and wants_xml(ctx.headers):
        if xml_obj is None:
            xml_obj = json_obj[xml_root] if isinstance(json_obj, dict) and list(json_obj) == [xml_root] else json_obj
        return Resp(status, to_xml(xml_root, xml_obj, declare_xsi), XML_CT, headers)
    return Resp(status, json.dumps(json_obj), JSON_CT, headers)


def error_resp(ctx, err: HttpError, xml_ok=True):
    if xml_ok and wants_xml(ctx.headers):
        return Resp(err.status, to_xml("RemoteException", err.payload()), XML_CT, err.headers)
    return Resp(err.status, json.dumps({"RemoteException": err.payload()}), JSON_CT, err.headers)


class Ctx:
    """One parsed request."""

    def __init__(self, handler, method, body):
        self.handler = handler
        self.method = method
        split = urllib.parse.urlsplit(handler.path)
        self.raw_path = split.path
        self.path = urllib.parse.unquote(split.path)
        self.query_string = split.query
        self.qlist = urllib.parse.parse_qsl(split.query, keep_blank_values=True)
        self.query = {}
        for k, v in self.qlist:
            self.query.setdefault(k, v)
        self.headers = handler.headers
        self.body = body
        self.server = handler.server
        self.auth = None  # filled by Emulator._authenticate
        self.record = None

    def q(self, name, default=None):
        return self.query.get(name, default)

    def json_body(self):
        if not self.body:
            return {}
        return json.loads(self.body.decode("utf-8"))
