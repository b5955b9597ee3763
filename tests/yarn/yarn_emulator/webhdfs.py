"""WebHDFS (WebHDFS.md): a NameNode and a DataNode over a local directory, with delegation tokens.
"""
from __future__ import annotations

import json
import os
import posixpath
import re
import secrets
import shutil
import urllib.parse

from .protocol import HttpError, JSON_CT, Resp, hdfs_already_exists, hdfs_illegal_argument, hdfs_io, hdfs_not_found, now_ms
from .tokens import dt_identifier, encode_token, short_name


class WebHdfsMixin:
    """The NameNode and DataNode REST endpoints over `hdfs_root`."""

    def _init_hdfs(self):
        for p, perm, owner in (("/", "755", "hdfs"), ("/user", "755", "hdfs"), ("/tmp", "1777", "hdfs")):
            os.makedirs(self._local(p), exist_ok=True)
            self.hdfs_meta.setdefault(p, {"owner": owner, "group": "supergroup", "permission": perm})
        self._save_hdfs_meta()

    def _local(self, hpath):
        return os.path.join(self.hdfs_root, hpath.lstrip("/"))

    def _hdfs_path(self, ctx):
        raw = ctx.path[len("/webhdfs/v1"):] or "/"
        if not raw.startswith("/"):
            raw = "/" + raw
        parts = [p for p in raw.split("/") if p not in ("", ".")]
        if ".." in parts:
            raise hdfs_illegal_argument(f"Invalid path name {raw}")
        return "/" + "/".join(parts)

    def _meta(self, hpath, is_dir):
        m = self.hdfs_meta.get(hpath) or {}
        return {
            "owner": m.get("owner", "hdfs"),
            "group": m.get("group", "supergroup"),
            "permission": m.get("permission", "755" if is_dir else "644"),
            "replication": m.get("replication", 0 if is_dir else 1),
            "blockSize": m.get("blockSize", 0 if is_dir else 134217728),
            "accessTime": m.get("accessTime"),
        }

    def _file_status(self, hpath, suffix):
        lp = self._local(hpath)
        st = os.stat(lp)
        is_dir = os.path.isdir(lp)
        m = self._meta(hpath, is_dir)
        mtime = int(st.st_mtime * 1000)
        d = {
            "accessTime": 0 if is_dir else (m["accessTime"] or mtime),
            "blockSize": m["blockSize"],
            "childrenNum": len(os.listdir(lp)) if is_dir else 0,
            "fileId": st.st_ino,
            "group": m["group"],
            "length": 0 if is_dir else st.st_size,
            "modificationTime": mtime,
            "owner": m["owner"],
            "pathSuffix": suffix,
            "permission": m["permission"],
            "replication": m["replication"],
            "storagePolicy": 0,
            "type": "DIRECTORY" if is_dir else "FILE",
        }
        return d

    def _bool_param(self, ctx, name, default):
        v = ctx.q(name)
        if v is None or v == "":
            return default
        if v.lower() in ("true", "false"):
            return v.lower() == "true"
        raise hdfs_illegal_argument(f'Invalid value for webhdfs parameter "{name}": Failed to parse "{v}" to Boolean.')

    def _perm_param(self, ctx, default):
        v = ctx.q("permission")
        if v is None or v == "":
            return default
        if not re.fullmatch(r"[0-1]?[0-7]?[0-7]?[0-7]", v):
            raise hdfs_illegal_argument(
                f'Invalid value for webhdfs parameter "permission": Invalid value: "{v}" does not belong to the domain ^[0-1]?[0-7]?[0-7]?[0-7]$'
            )
        return v.lstrip("0").rjust(3, "0") if len(v.lstrip("0")) <= 3 else v.lstrip("0")

    def _long_param(self, ctx, name, default):
        v = ctx.q(name)
        if v is None or v == "":
            return default
        try:
            n = int(v)
        except ValueError:
            raise hdfs_illegal_argument(f'Invalid value for webhdfs parameter "{name}": Failed to parse "{v}" as a radix-10 long integer.')
        if n < 0:
            raise hdfs_illegal_argument(f'Invalid value for webhdfs parameter "{name}": Invalid value {n} < 0')
        return n

    def _redirect_or_location(self, ctx, target_addr, hpath, extra):
        params = [(k, v) for k, v in ctx.qlist if k not in ("noredirect",)]
        keys = {k for k, _ in params}
        for k, v in extra:
            if k not in keys:
                params.append((k, v))
        url = f"http://{target_addr}/webhdfs/v1{urllib.parse.quote(hpath)}?" + urllib.parse.urlencode(params)
        if self._bool_param(ctx, "noredirect", False):
            return Resp(200, json.dumps({"Location": url}), JSON_CT)
        return Resp(307, b"", "application/octet-stream", [("Location", url)])

    def _dn_extra(self, ctx):
        extra = [("namenoderpcaddress", f"{self.host}:8020")]
        if self.require_spnego and not ctx.q("delegation"):
            tok = self._issue_hdfs_token(ctx, ctx.auth.get("authenticated_user"))
            extra.append(("delegation", tok))
        return extra

    def _issue_hdfs_token(self, ctx, renewer):
        """A NameNode delegation token (kind WEBHDFS delegation, service = the NameNode's RPC
        address), owned by the effective user, with the real user when proxied."""
        doas = ctx.q("doAs", ctx.q("doas"))
        principal = ctx.auth.get("principal") or ctx.auth.get("authenticated_user")
        owner = doas or principal
        t = now_ms()
        with self.lock:
            self.token_seq += 1
            seq = self.token_seq
        ident = dt_identifier(owner, short_name(renewer or ""), principal if doas else "", t,
                              t + 7 * 24 * 3600 * 1000, seq)
        token = encode_token(ident, secrets.token_bytes(20), "WEBHDFS delegation", f"{self.host}:8020")
        with self.lock:
            self.hdfs_tokens[token] = {
                "owner": owner,
                "user": ctx.auth.get("authenticated_user"),
                "doas": doas,
                "renewer": short_name(renewer or ""),
                "expiration": t + 24 * 3600 * 1000,
            }
        return token

    def _webhdfs(self, ctx, datanode):
        if not ctx.path.startswith("/webhdfs/v1"):
            return Resp(404, "<html><body><h2>HTTP ERROR 404</h2></body></html>", "text/html;charset=utf-8")
        hpath = self._hdfs_path(ctx)
        op = (ctx.q("op") or "").upper()
        method = ctx.method if ctx.method != "HEAD" else "GET"
        ops = {
            "GET": {"OPEN", "GETFILESTATUS", "LISTSTATUS", "GETHOMEDIRECTORY", "GETDELEGATIONTOKEN", "GETCONTENTSUMMARY"},
            "PUT": {"CREATE", "MKDIRS", "RENAME", "SETPERMISSION", "SETOWNER", "SETREPLICATION", "RENEWDELEGATIONTOKEN", "CANCELDELEGATIONTOKEN"},
            "POST": {"APPEND"},
            "DELETE": {"DELETE"},
        }
        if op not in ops.get(method, set()):
            kind = {"GET": "Get", "PUT": "Put", "POST": "Post", "DELETE": "Delete"}.get(method, method.title())
            raise hdfs_illegal_argument(
                f'Invalid value for webhdfs parameter "op": No enum constant org.apache.hadoop.hdfs.web.resources.{kind}OpParam.Op.{op or "null"}'
            )
        user = ctx.auth["user"]
        lp = self._local(hpath)
        if datanode:
            if op not in ("CREATE", "APPEND", "OPEN"):
                raise hdfs_illegal_argument(f"Invalid operation {op} on a datanode")
            if not ctx.q("namenoderpcaddress"):
                raise hdfs_illegal_argument("namenoderpcaddress is not specified.")
        direct = not self.settings["webhdfs_redirect"]

        if op == "GETHOMEDIRECTORY":
            return Resp(200, json.dumps({"Path": f"/user/{user}"}), JSON_CT)
        if op == "GETDELEGATIONTOKEN":
            if not self.require_spnego:
                return Resp(200, json.dumps({"Token": None}), JSON_CT)
            tok = self._issue_hdfs_token(ctx, ctx.q("renewer") or ctx.auth.get("authenticated_user"))
            return Resp(200, json.dumps({"Token": {"urlString": tok}}), JSON_CT)
        if op in ("RENEWDELEGATIONTOKEN", "CANCELDELEGATIONTOKEN"):
            tok = ctx.q("token")
            with self.lock:
                info = self.hdfs_tokens.get(tok or "")
                if info is None:
                    raise HttpError(403, "InvalidToken", "token is expired or doesn't exist", "org.apache.hadoop.security.token.SecretManager$InvalidToken")
                if op == "CANCELDELEGATIONTOKEN":
                    del self.hdfs_tokens[tok]
                    return Resp(200, b"", JSON_CT)
                info["expiration"] = now_ms() + 24 * 3600 * 1000
                return Resp(200, json.dumps({"long": info["expiration"]}), JSON_CT)
        if op == "GETFILESTATUS":
            if not os.path.exists(lp):
                raise hdfs_not_found(f"File does not exist: {hpath}")
            return Resp(200, json.dumps({"FileStatus": self._file_status(hpath, "")}), JSON_CT)
        if op == "LISTSTATUS":
            if not os.path.exists(lp):
                raise hdfs_not_found(f"File {hpath} does not exist.")
            if os.path.isdir(lp):
                items = [self._file_status(posixpath.join(hpath, n), n) for n in sorted(os.listdir(lp)) if not n.endswith(".__emu_tmp__")]
            else:
                items = [self._file_status(hpath, "")]
            return Resp(200, json.dumps({"FileStatuses": {"FileStatus": items}}), JSON_CT)
        if op == "GETCONTENTSUMMARY":
            if not os.path.exists(lp):
                raise hdfs_not_found(f"File does not exist: {hpath}")
            dirs = files = length = 0
            if os.path.isdir(lp):
                for root, dns, fns in os.walk(lp):
                    dirs += 1
                    files += len(fns)
                    length += sum(os.path.getsize(os.path.join(root, f)) for f in fns)
            else:
                files, length = 1, os.path.getsize(lp)
            return Resp(200, json.dumps({"ContentSummary": {"directoryCount": dirs, "fileCount": files, "length": length,
                                                            "quota": -1, "spaceConsumed": length, "spaceQuota": -1}}), JSON_CT)
        if op == "MKDIRS":
            perm = self._perm_param(ctx, "755")
            self._check_parents_are_dirs(hpath)
            if os.path.exists(lp) and not os.path.isdir(lp):
                raise hdfs_already_exists(f"Path is not a directory: {hpath}")
            with self.lock:
                cur = hpath
                created = []
                while cur != "/" and not os.path.exists(self._local(cur)):
                    created.append(cur)
                    cur = posixpath.dirname(cur)
                os.makedirs(lp, exist_ok=True)
                for c in created:
                    self.hdfs_meta[c] = {"owner": user, "group": "supergroup", "permission": perm}
                self._save_hdfs_meta()
            return Resp(200, json.dumps({"boolean": True}), JSON_CT)
        if op == "CREATE":
            overwrite = self._bool_param(ctx, "overwrite", False)
            perm = self._perm_param(ctx, "644")
            self._bool_param(ctx, "createparent", True)
            self._check_create(hpath, lp, overwrite, ctx)
            if not datanode and not (direct and (ctx.body or ctx.q("data") == "true")):
                target = self.node_addr if not direct else self.webhdfs_addr
                extra = self._dn_extra(ctx) + [("createflag", ""), ("createparent", "true"), ("overwrite", str(overwrite).lower())]
                if direct:
                    extra.append(("data", "true"))
                    extra = [e for e in extra if e[0] != "namenoderpcaddress"]
                return self._redirect_or_location(ctx, target, hpath, extra)
            self._check_parents_are_dirs(hpath)
            with self.lock:
                parent = posixpath.dirname(hpath)
                cur, created = parent, []
                while cur != "/" and not os.path.exists(self._local(cur)):
                    created.append(cur)
                    cur = posixpath.dirname(cur)
                os.makedirs(self._local(parent), exist_ok=True)
                for c in created:
                    self.hdfs_meta[c] = {"owner": user, "group": "supergroup", "permission": "755"}
                tmp = lp + ".__emu_tmp__"
                with open(tmp, "wb") as f:
                    f.write(ctx.body or b"")
                os.replace(tmp, lp)
                self.hdfs_meta[hpath] = {"owner": user, "group": "supergroup", "permission": perm}
                rep = ctx.q("replication")
                if rep:
                    self.hdfs_meta[hpath]["replication"] = int(rep)
                bs = ctx.q("blocksize")
                if bs:
                    self.hdfs_meta[hpath]["blockSize"] = int(bs)
                self._save_hdfs_meta()
            return Resp(201, b"", None, [("Location", f"webhdfs://{self.webhdfs_addr}{urllib.parse.quote(hpath)}")])
        if op == "APPEND":
            if not os.path.exists(lp):
                raise hdfs_not_found(f"File does not exist: {hpath}")
            if os.path.isdir(lp):
                raise hdfs_io(f"Failed to append to non-existent file {hpath} (it is a directory)", "FileNotFoundException", "java.io.FileNotFoundException")
            if not datanode and not (direct and (ctx.body or ctx.q("data") == "true")):
                extra = self._dn_extra(ctx)
                if direct:
                    extra = [e for e in extra if e[0] != "namenoderpcaddress"] + [("data", "true")]
                return self._redirect_or_location(ctx, self.node_addr if not direct else self.webhdfs_addr, hpath, extra)
            with self.lock:
                with open(lp, "ab") as f:
                    f.write(ctx.body or b"")
            return Resp(200, b"", None)
        if op == "OPEN":
            if not os.path.exists(lp):
                raise hdfs_not_found(f"File does not exist: {hpath}")
            if os.path.isdir(lp):
                raise hdfs_not_found(f"Path is not a file: {hpath}")
            offset = self._long_param(ctx, "offset", 0)
            length = self._long_param(ctx, "length", None)
            if not datanode and not direct:
                return self._redirect_or_location(ctx, self.node_addr, hpath, self._dn_extra(ctx) + [("offset", str(offset))])
            size = os.path.getsize(lp)
            if offset > size or (offset == size and size > 0):
                raise hdfs_io(f"Offset={offset} out of the range [0, {size}); OPEN, path={hpath}")
            with open(lp, "rb") as f:
                f.seek(offset)
                data = f.read() if length is None else f.read(length)
            with self.lock:
                self.hdfs_meta.setdefault(hpath, {})["accessTime"] = now_ms()
            return Resp(200, data, "application/octet-stream")
        if op == "DELETE":
            recursive = self._bool_param(ctx, "recursive", False)
            if hpath == "/":
                return Resp(200, json.dumps({"boolean": False}), JSON_CT)
            if not os.path.exists(lp):
                return Resp(200, json.dumps({"boolean": False}), JSON_CT)
            with self.lock:
                if os.path.isdir(lp):
                    if os.listdir(lp) and not recursive:
                        raise HttpError(403, "PathIsNotEmptyDirectoryException", f"`{hpath} is non empty': Directory is not empty",
                                        "org.apache.hadoop.fs.PathIsNotEmptyDirectoryException")
                    shutil.rmtree(lp)
                else:
                    os.remove(lp)
                for k in [k for k in self.hdfs_meta if k == hpath or k.startswith(hpath + "/")]:
                    del self.hdfs_meta[k]
                self._save_hdfs_meta()
            return Resp(200, json.dumps({"boolean": True}), JSON_CT)
        if op == "RENAME":
            dst = ctx.q("destination")
            if not dst or not dst.startswith("/"):
                raise hdfs_illegal_argument(f'Invalid value for webhdfs parameter "destination": Invalid path "{dst}"')
            dst = "/" + "/".join(p for p in dst.split("/") if p not in ("", "."))
            with self.lock:
                ok = self._rename(hpath, dst)
            return Resp(200, json.dumps({"boolean": ok}), JSON_CT)
        if op in ("SETPERMISSION", "SETOWNER", "SETREPLICATION"):
            if not os.path.exists(lp):
                raise hdfs_not_found(f"File does not exist: {hpath}")
            with self.lock:
                m = self.hdfs_meta.setdefault(hpath, {})
                if op == "SETPERMISSION":
                    m["permission"] = self._perm_param(ctx, "755" if os.path.isdir(lp) else "644")
                elif op == "SETOWNER":
                    if ctx.q("owner"):
                        m["owner"] = ctx.q("owner")
                    if ctx.q("group"):
                        m["group"] = ctx.q("group")
                else:
                    if os.path.isdir(lp):
                        return Resp(200, json.dumps({"boolean": False}), JSON_CT)
                    m["replication"] = int(ctx.q("replication") or 1)
                self._save_hdfs_meta()
            if op == "SETREPLICATION":
                return Resp(200, json.dumps({"boolean": True}), JSON_CT)
            return Resp(200, b"", None)
        raise hdfs_illegal_argument(f"unsupported op {op}")

    def _check_parents_are_dirs(self, hpath):
        cur = posixpath.dirname(hpath)
        while cur != "/":
            lp = self._local(cur)
            if os.path.exists(lp) and not os.path.isdir(lp):
                raise HttpError(403, "ParentNotDirectoryException", f"{cur} (is not a directory)", "org.apache.hadoop.fs.ParentNotDirectoryException")
            cur = posixpath.dirname(cur)

    def _check_create(self, hpath, lp, overwrite, ctx):
        if hpath == "/" or os.path.isdir(lp):
            raise hdfs_already_exists(f"{hpath} already exists as a directory")
        self._check_parents_are_dirs(hpath)
        if os.path.exists(lp) and not overwrite:
            client = ctx.handler.client_address[0]
            raise hdfs_already_exists(f"{hpath} for client {client} already exists")

    def _rename(self, src, dst):
        lsrc, ldst = self._local(src), self._local(dst)
        if src == "/" or not os.path.exists(lsrc):
            return False
        if dst == src:
            return True
        if dst.startswith(src + "/"):
            return False
        if os.path.isdir(ldst):
            dst = posixpath.join(dst, posixpath.basename(src))
            ldst = self._local(dst)
        if os.path.exists(ldst) or not os.path.isdir(self._local(posixpath.dirname(dst))):
            return False
        os.rename(lsrc, ldst)
        moved = {}
        for k in list(self.hdfs_meta):
            if k == src or k.startswith(src + "/"):
                moved[dst + k[len(src):]] = self.hdfs_meta.pop(k)
        self.hdfs_meta.update(moved)
        self._save_hdfs_meta()
        return True
