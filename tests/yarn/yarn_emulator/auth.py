"""SPNEGO (Kerberos over HTTP) and hadoop.auth cookies, as Hadoop's AuthenticationFilter does.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
import threading
from xml.sax.saxutils import escape as _xml_escape

from .protocol import DEFAULT_WEB_USER, HttpError, Resp, now_ms
from .tokens import short_name


# --------------------------------------------------------------------------- SPNEGO


class SpnegoError(Exception):
    pass


def default_spnego_validator(token_b64):
    """Accept-anything stand-in for a Kerberos acceptor.

    Returns (principal, response_token_b64_or_None).  A token whose base64 decodes to a
    printable `user@REALM` acts as that principal; one decoding to `reject`/`invalid` is
    refused (403); anything else is `client@EXAMPLE.COM`.
    """
    try:
        raw = base64.b64decode(token_b64, validate=True)
    except Exception as e:  # noqa: BLE001
        raise SpnegoError(f"malformed Negotiate token: {e}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = ""
    if text in ("reject", "invalid"):
        raise SpnegoError("GSSException: Defective token detected")
    if re.fullmatch(r"[A-Za-z0-9._/-]+@[A-Za-z0-9._-]+", text):
        return text, None
    return "client@EXAMPLE.COM", None


def make_gssapi_validator(keytab=None, principal=None):
    """A real Kerberos/SPNEGO acceptor (python-gssapi against MIT Kerberos).

    `keytab`: the service keytab (read through a GSSAPI credential store, so this process's
    KRB5_KTNAME is left alone); `principal`: the acceptor name, e.g. "HTTP/localhost@REALM"
    (None accepts for any key in the keytab).  Tokens are validated for real: a ticket for
    another service, an expired or replayed one, or garbage is refused (403).  Returns
    (initiator principal, response token or None), like `default_spnego_validator`.
    """
    import gssapi  # noqa: import only when asked for

    name = gssapi.Name(principal, gssapi.NameType.kerberos_principal) if principal else None
    store = {"keytab": str(keytab)} if keytab else None
    creds = gssapi.Credentials(name=name, usage="accept", store=store)
    lock = threading.Lock()  # one MIT replay cache per process: accept one token at a time

    def validate(token_b64):
        try:
            raw = base64.b64decode(token_b64, validate=True)
        except Exception as e:  # noqa: BLE001
            raise SpnegoError(f"malformed Negotiate token: {e}")
        try:
            with lock:
                ctx = gssapi.SecurityContext(creds=creds, usage="accept")
                out = ctx.step(raw)
        except gssapi.exceptions.GSSError as e:
            raise SpnegoError(str(e))
        if not ctx.complete:
            raise SpnegoError("SPNEGO negotiation needs another round trip (unsupported)")
        return str(ctx.initiator_name), (base64.b64encode(out).decode() if out else None)

    return validate


class AuthMixin:
    """Authenticates each request (SPNEGO, cookie, or `user.name` pseudo auth)."""

    # ------------------------------------------------------------------ authentication

    def _cookie_value(self, user, principal, method, expires):
        payload = f"u={user}&p={principal}&t={method}&e={expires}"
        sig = base64.b64encode(hmac.new(self.cookie_secret, payload.encode(), hashlib.sha256).digest()).decode()
        return f"{payload}&s={sig}"

    def _check_cookie(self, headers):
        cookie = headers.get("Cookie") or ""
        m = re.search(r'hadoop\.auth="?([^";]+)"?', cookie)
        if not m:
            return None
        value = m.group(1)
        payload, _, sig = value.rpartition("&s=")
        good = base64.b64encode(hmac.new(self.cookie_secret, payload.encode(), hashlib.sha256).digest()).decode()
        if not hmac.compare_digest(sig, good):
            return None
        fields = dict(kv.split("=", 1) for kv in payload.split("&") if "=" in kv)
        if int(fields.get("e", "0")) < now_ms():
            return None
        return fields

    def _authenticate(self, ctx):
        """Fills ctx.auth; returns a Resp to short-circuit (401/403) or None."""
        role = ctx.server.role
        doas = ctx.q("doAs", ctx.q("doas"))
        authz = ctx.headers.get("Authorization") or ""
        auth = None
        if authz[:10].lower() == "negotiate ":
            try:
                principal, out = self.spnego_validator(authz[10:].strip())
            except SpnegoError as e:
                return Resp(403, f"<html><body><h2>HTTP ERROR 403</h2><p>GSSException: {_xml_escape(str(e))}</p></body></html>", "text/html;charset=iso-8859-1")
            user = short_name(principal)
            expires = now_ms() + 10 * 3600 * 1000
            auth = {
                "method": "negotiate", "principal": principal, "authenticated_user": user, "out_token": out,
                "set_cookie": f'hadoop.auth="{self._cookie_value(user, principal, "kerberos", expires)}"; Path=/; HttpOnly',
            }
        if auth is None:
            c = self._check_cookie(ctx.headers)
            if c:
                auth = {"method": "cookie", "principal": c.get("p"), "authenticated_user": c.get("u")}
        if auth is None and role == "rm":
            tok = ctx.headers.get("X-Hadoop-Delegation-Token")
            if tok:
                with self.lock:
                    info = self.tokens.get(tok)
                if info and info["expiration-time"] > now_ms():
                    auth = {"method": "delegation-token", "principal": info["owner"], "authenticated_user": short_name(info["owner"])}
                elif self.require_spnego:
                    return Resp(403, "<html><body><h2>HTTP ERROR 403</h2><p>Invalid delegation token</p></body></html>", "text/html;charset=iso-8859-1")
        if auth is None and role in ("nn", "node") and ctx.q("delegation"):
            with self.lock:
                info = self.hdfs_tokens.get(ctx.q("delegation"))
            if info:
                auth = {"method": "delegation", "principal": info["owner"], "authenticated_user": info["user"], "doas": info.get("doas")}
                doas = doas or info.get("doas")
            elif self.require_spnego:
                raise HttpError(403, "InvalidToken", "token is expired or doesn't exist", "org.apache.hadoop.security.token.SecretManager$InvalidToken")
        if auth is None:
            if self.require_spnego and not ctx.path.startswith("/node/"):
                ctx.auth = {"method": None, "principal": None, "user": None}
                return Resp(
                    401,
                    "<html><head><title>Error 401 Authentication required</title></head><body><h2>HTTP ERROR 401</h2>"
                    "<p>Problem accessing " + _xml_escape(ctx.path) + ". Reason:<pre>    Authentication required</pre></p></body></html>",
                    "text/html;charset=iso-8859-1",
                    [("WWW-Authenticate", "Negotiate")],
                )
            auth = {"method": "simple" if ctx.q("user.name") else None, "principal": None,
                    "authenticated_user": ctx.q("user.name") or DEFAULT_WEB_USER}
        auth["user"] = doas or auth["authenticated_user"]
        ctx.auth = auth
        return None
