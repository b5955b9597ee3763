"""Hadoop delegation tokens: the identifier's Writable encoding, the URL-safe token string, and the
RM's /ws/v1/cluster/delegation-token endpoints.
"""
from __future__ import annotations

import base64
import re
import secrets

from .protocol import JSON_CT, Resp, XML_CT, now_ms, respond, rm_bad_request, rm_forbidden, wants_xml


# --------------------------------------------------------------------------- Hadoop tokens
# Delegation tokens as Hadoop encodes them (Token.encodeToUrlString): WritableUtils vints and
# Text fields, base64url without padding; the identifier is an AbstractDelegationTokenIdentifier
# (version 0, owner, renewer, realUser, issueDate, maxDate, sequenceNumber, masterKeyId).


def _vlong(v):
    if -112 <= v <= 127:
        return bytes([v & 0xFF])
    length = -112
    if v < 0:
        v = ~v
        length = -120
    tmp = v
    while tmp:
        tmp >>= 8
        length -= 1
    n = -(length + 120) if length < -120 else -(length + 112)
    return bytes([length & 0xFF]) + v.to_bytes(n, "big")


def _text(s):
    b = s.encode() if isinstance(s, str) else bytes(s)
    return _vlong(len(b)) + b


def dt_identifier(owner, renewer, real_user, issue, max_date, seq, key_id=1):
    return (b"\x00" + _text(owner) + _text(renewer) + _text(real_user or "") + _vlong(issue) + _vlong(max_date)
            + _vlong(seq) + _vlong(key_id))


def encode_token(identifier, password, kind, service):
    raw = _text(identifier) + _text(password) + _text(kind) + _text(service)
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _read_vlong(buf, i):
    first = buf[i] - 256 if buf[i] > 127 else buf[i]
    if first >= -112:
        return first, i + 1
    size = -119 - first if first < -120 else -111 - first
    v = int.from_bytes(buf[i + 1:i + size], "big")
    return (~v if first < -120 else v), i + size


def decode_token(url_string):
    """{kind, service, owner, renewer, real_user} of a token's URL string (None if not one)."""
    try:
        raw = base64.urlsafe_b64decode(url_string + "=" * (-len(url_string) % 4))
        fields, i = [], 0
        for _ in range(4):
            n, i = _read_vlong(raw, i)
            fields.append(raw[i:i + n])
            i += n
        ident, j = fields[0], 1
        texts = []
        for _ in range(3):
            n, j = _read_vlong(ident, j)
            texts.append(ident[j:j + n].decode())
            j += n
        return {"kind": fields[2].decode(), "service": fields[3].decode(), "owner": texts[0], "renewer": texts[1],
                "real_user": texts[2]}
    except Exception:  # noqa: BLE001
        return None


def short_name(principal):
    return re.split(r"[/@]", principal, maxsplit=1)[0]


class TokensMixin:
    """The RM's delegation-token REST endpoints (create, renew, cancel)."""

    # ---------------------------------------------------------------- RM delegation tokens

    def _kerberos_only(self, ctx):
        if not ctx.auth or ctx.auth.get("method") not in ("negotiate", "cookie"):
            raise rm_forbidden(
                "java.lang.Exception: Delegation token operations can only be carried out on a Kerberos authenticated "
                "channel. Expected auth type is kerberos, got type simple"
            )

    def _token_from_headers(self, ctx):
        tok = ctx.headers.get("Hadoop-YARN-RM-Delegation-Token") or ctx.headers.get("X-Hadoop-Delegation-Token")
        if not tok:
            raise rm_bad_request("java.lang.Exception: Header 'Hadoop-YARN-RM-Delegation-Token' containing encoded token not found")
        return tok

    def _dt_create(self, ctx):
        self._kerberos_only(ctx)
        body = self._parse_body(ctx)
        renewer = body.get("renewer") or ctx.auth["authenticated_user"]
        t = now_ms()
        proxied = ctx.auth["user"] != ctx.auth["authenticated_user"]
        owner = ctx.auth["user"] if proxied else ctx.auth["principal"]
        real_user = ctx.auth["principal"] if proxied else ""
        with self.lock:
            self.token_seq += 1
            seq = self.token_seq
        ident = dt_identifier(owner, short_name(renewer), real_user, t, t + 7 * 24 * 3600 * 1000, seq)
        token = encode_token(ident, secrets.token_bytes(20), "RM_DELEGATION_TOKEN", "")
        info = {
            "token": token, "renewer": renewer, "owner": owner, "kind": "RM_DELEGATION_TOKEN",
            "expiration-time": t + 24 * 3600 * 1000, "max-validity": t + 7 * 24 * 3600 * 1000,
        }
        with self.lock:
            self.tokens[token] = info
        return respond(ctx, 200, dict(info), "delegation-token", dict(info))

    def _dt_renew(self, ctx):
        self._kerberos_only(ctx)
        tok = self._token_from_headers(ctx)
        with self.lock:
            info = self.tokens.get(tok)
            if info is None:
                raise rm_forbidden("org.apache.hadoop.security.token.SecretManager$InvalidToken: Renewal request for unknown token")
            if short_name(info["renewer"]) != ctx.auth["authenticated_user"]:
                raise rm_forbidden(f"org.apache.hadoop.security.AccessControlException: {ctx.auth['authenticated_user']} tries to renew a token with renewer {info['renewer']}")
            info["expiration-time"] = min(now_ms() + 24 * 3600 * 1000, info["max-validity"])
            exp = info["expiration-time"]
        return respond(ctx, 200, {"expiration-time": exp}, "delegation-token", {"expiration-time": exp})

    def _dt_cancel(self, ctx):
        self._kerberos_only(ctx)
        tok = self._token_from_headers(ctx)
        with self.lock:
            info = self.tokens.get(tok)
            if info is None:
                raise rm_forbidden("org.apache.hadoop.security.token.SecretManager$InvalidToken: Token not found")
            me = ctx.auth["authenticated_user"]
            if me not in (short_name(info["owner"]), short_name(info["renewer"])):
                raise rm_forbidden(f"org.apache.hadoop.security.AccessControlException: {me} is not authorized to cancel the token")
            del self.tokens[tok]
        return Resp(200, b"", XML_CT if wants_xml(ctx.headers) else JSON_CT)
