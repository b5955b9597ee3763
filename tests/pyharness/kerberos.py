"""The Kerberos realm the security suites share: one real MIT KDC (pyharness.kdc) with the users
and service principals below, the livy.conf keys of a Kerberos-protected server with impersonation
and access control, and a user's SPNEGO HTTP client.

Principals (realm LIVY.TEST): HTTP/localhost and HTTP/otherhost (both in `livy-http.keytab`;
servers are configured for HTTP/_HOST with livy.server.host=localhost), users alice, bob, carol,
admin (a superuser), auditor (a view-user), mallory (not an allowed user), alice/admin and CAROL
(mapped by auth_to_local rules), and eve/ops, which no rule maps.
"""

from __future__ import annotations

import contextlib
import textwrap
from pathlib import Path
from typing import Dict, Iterator

from .kdc import Kdc

REALM = "LIVY.TEST"
PASSWORDS = {
    "alice": "alice-pw",
    "bob": "bob-pw",
    "carol": "carol-pw",
    "admin": "admin-pw",
    "auditor": "auditor-pw",
    "mallory": "mallory-pw",
    "alice/admin": "alice-admin-pw",
    "CAROL": "CAROL-pw",
    "eve/ops": "eve-ops-pw",
}

#: Hadoop auth_to_local rules, multi-line as in core-site.xml: alice/admin is the superuser
#: "admin"; one-component names are lower-cased; eve/ops matches no rule (only DEFAULT would,
#: and DEFAULT is left out so that unmapped principals can be tested).
NAME_RULES = textwrap.dedent(
    r"""
    RULE:[2:$1/$2@$0](alice/admin@LIVY\.TEST)s/.*/admin/
    RULE:[1:$1@$0](.*@LIVY\.TEST)s/@.*///L
    """
).strip()


@contextlib.contextmanager
def realm() -> Iterator[Kdc]:
    """A running KDC with every principal above and the servers' keytab (`keytab_of(kdc)`);
    this process's Kerberos library is pointed at it (for requests-gssapi, pylivy)."""
    with Kdc(realm=REALM) as k:
        for name, pw in PASSWORDS.items():
            k.add_principal(name, password=pw)
        k.add_principal("HTTP/localhost")
        k.add_principal("HTTP/otherhost")
        k.keytab("HTTP/localhost", "HTTP/otherhost", path=keytab_of(k))
        k.activate()
        yield k


def keytab_of(kdc: Kdc) -> Path:
    return kdc.dir / "livy-http.keytab"


def ccaches_of(kdc: Kdc) -> Dict[str, Path]:
    """A credential cache with a TGT for each user."""
    return {name: kdc.kinit(name, pw) for name, pw in PASSWORDS.items()}


def kerberos_conf(keytab: Path, **extra) -> Dict[str, object]:
    """SPNEGO on HTTP/_HOST (host localhost), impersonation with admin as superuser, access
    control with alice, bob, carol, admin and auditor allowed and auditor a view-user."""
    conf: Dict[str, object] = {
        "livy.server.host": "localhost",
        "livy.server.auth.type": "kerberos",
        "livy.server.auth.kerberos.principal": f"HTTP/_HOST@{REALM}",
        "livy.server.auth.kerberos.keytab": str(keytab),
        "livy.server.auth.kerberos.name-rules": NAME_RULES,
        "livy.impersonation.enabled": "true",
        "livy.superusers": "admin",
        "livy.server.access-control.enabled": "true",
        "livy.server.access-control.allowed-users": "alice,bob,carol,admin,auditor",
        "livy.server.access-control.view-users": "auditor",
    }
    conf.update(extra)
    return conf


class SpnegoUser:
    """A user's requests.Session that authenticates with SPNEGO from its ccache (then with the
    cookie). `requests`, `gssapi` and `requests_gssapi` come from the suite's venv."""

    def __init__(self, base: str, ccache: Path, timeout: float = 30.0):
        import gssapi
        import requests
        from requests_gssapi import OPTIONAL, HTTPSPNEGOAuth

        self.base = base
        self.timeout = timeout
        self.s = requests.Session()
        creds = gssapi.Credentials(usage="initiate", store={"ccache": f"FILE:{ccache}"})
        self.s.auth = HTTPSPNEGOAuth(creds=creds, target_name="HTTP@localhost",
                                     mutual_authentication=OPTIONAL)

    def req(self, method: str, path: str, **kw):
        kw.setdefault("timeout", self.timeout)
        return self.s.request(method, self.base + path, **kw)
