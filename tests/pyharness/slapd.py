"""A real OpenLDAP server (Debian's slapd) on loopback with a throwaway directory, for tests.

Everything lives in one temporary directory: a slapd.conf with an mdb database for the suffix
(default dc=livy,dc=test), the database files, and, with `tls=True`, a test CA and a server
certificate for 127.0.0.1/localhost made with the openssl CLI, so both StartTLS on the ldap://
port and an ldaps:// port work. Users are loaded with slapadd before slapd starts, their
userPassword hashed by slappasswd. Nothing touches /etc. Use it as a context manager:

    with Slapd(users={"alice": "alice-pw"}, tls=True) as ldap:
        ldap.url            # ldap://127.0.0.1:PORT
        ldap.ldaps_url      # ldaps://127.0.0.1:PORT2 (tls=True only)
        ldap.base_dn        # ou=people,dc=livy,dc=test: users are uid=NAME under it
        ldap.ca_file        # the test CA (PEM) a client must trust (tls=True only)
        ldap.whoami("alice", "alice-pw")   # checks a bind with OpenLDAP's own client

`allow_unauthenticated_bind=True` makes slapd answer a bind with a DN and an empty password with
success, as some directories do. Extra entries (e.g. an Active-Directory-like `user@domain` uid) can be added with `users`,
whose keys become the uid values.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Dict, Optional

from .setup import free_port as _free_port
from .setup import system_tool
from .wait import wait_until

SCHEMAS = ("core", "cosine", "inetorgperson", "nis")


def _tool(name: str) -> str:
    return system_tool(name, "slapd, ldap-utils")


def _run(*cmd: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(list(cmd), check=True, capture_output=True, text=True, **kw)


class Slapd:
    """A running slapd for `suffix`, users under `ou=people,<suffix>`."""

    def __init__(self, users: Optional[Dict[str, str]] = None, suffix: str = "dc=livy,dc=test",
                 tls: bool = False, allow_unauthenticated_bind: bool = False):
        self.users = dict(users or {})
        self.suffix = suffix
        self.base_dn = f"ou=people,{suffix}"
        self.tls = tls
        # slapd refuses "unauthenticated binds" (a DN with an empty password) by default; some
        # directories answer them with success, which is what a test of ours must survive.
        self.allow_unauthenticated_bind = allow_unauthenticated_bind
        self.dir = Path(tempfile.mkdtemp(prefix="livy-slapd-"))
        self.port = _free_port()
        self.ldaps_port = _free_port() if tls else None
        self.proc: Optional[subprocess.Popen] = None
        self.ca_file: Optional[Path] = None
        self.log = self.dir / "slapd.log"

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    @property
    def ldaps_url(self) -> str:
        if not self.tls:
            raise RuntimeError("this slapd was started without TLS")
        return f"ldaps://127.0.0.1:{self.ldaps_port}"

    # ------------------------------------------------------------------ TLS material
    def _make_certs(self) -> str:
        d = self.dir
        ossl = _tool("openssl")
        _run(ossl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-subj", "/CN=livy-rs test CA", "-keyout", str(d / "ca.key"), "-out", str(d / "ca.pem"),
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        _run(ossl, "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
             "-keyout", str(d / "server.key"), "-out", str(d / "server.csr"))
        (d / "server.ext").write_text(
            "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
            "basicConstraints=CA:FALSE\n"
            "keyUsage=digitalSignature,keyEncipherment\n"
            "extendedKeyUsage=serverAuth\n"
        )
        _run(ossl, "x509", "-req", "-in", str(d / "server.csr"), "-CA", str(d / "ca.pem"),
             "-CAkey", str(d / "ca.key"), "-CAcreateserial", "-days", "2",
             "-extfile", str(d / "server.ext"), "-out", str(d / "server.pem"))
        self.ca_file = d / "ca.pem"
        return (f"TLSCACertificateFile {d}/ca.pem\n"
                f"TLSCertificateFile {d}/server.pem\n"
                f"TLSCertificateKeyFile {d}/server.key\n")

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> "Slapd":
        d = self.dir
        (d / "db").mkdir()
        tls_conf = self._make_certs() if self.tls else ""
        includes = "".join(f"include /etc/ldap/schema/{s}.schema\n" for s in SCHEMAS)
        (d / "slapd.conf").write_text(
            f"""{includes}
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile {d}/slapd.pid
{"allow bind_anon_dn" if self.allow_unauthenticated_bind else ""}
{tls_conf}
database mdb
maxsize 10485760
suffix "{self.suffix}"
rootdn "cn=admin,{self.suffix}"
directory {d}/db
access to attrs=userPassword
    by anonymous auth
    by self read
    by * none
access to *
    by * read
"""
        )
        dc = self.suffix.split(",")[0].split("=", 1)[1]
        ldif = [
            f"dn: {self.suffix}\nobjectClass: top\nobjectClass: dcObject\nobjectClass: organization\n"
            f"o: livy-rs tests\ndc: {dc}\n",
            f"dn: {self.base_dn}\nobjectClass: organizationalUnit\nou: people\n",
        ]
        for uid, password in self.users.items():
            ldif.append(self._user_ldif(uid, password))
        (d / "init.ldif").write_text("\n".join(ldif))
        _run(_tool("slapadd"), "-f", str(d / "slapd.conf"), "-l", str(d / "init.ldif"))

        urls = self.url + "/"
        if self.tls:
            urls += f" {self.ldaps_url}/"
        # -d stats: stay in the foreground (so the harness owns the process) and log every
        # operation (connections, StartTLS, BINDs) to `self.log`, which tests may read.
        self._log_fh = open(self.log, "wb")
        self.proc = subprocess.Popen(
            [_tool("slapd"), "-f", str(d / "slapd.conf"), "-h", urls, "-d", "stats"],
            stdout=subprocess.DEVNULL, stderr=self._log_fh,
        )

        def answering() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"slapd exited with {self.proc.returncode}: {self.log_text()}")
            out = subprocess.run([_tool("ldapwhoami"), "-x", "-H", self.url],
                                 capture_output=True, text=True)
            return out.returncode == 0

        wait_until(answering, timeout=20, what="slapd answering", interval=0.1)
        return self

    def _user_ldif(self, uid: str, password: str) -> str:
        hashed = _run(_tool("slappasswd"), "-s", password).stdout.strip()
        return (f"dn: uid={uid},{self.base_dn}\nobjectClass: inetOrgPerson\nuid: {uid}\n"
                f"cn: {uid}\nsn: {uid}\nuserPassword: {hashed}\n")

    def whoami(self, uid: str, password: str, start_tls: bool = False) -> subprocess.CompletedProcess:
        """Binds as uid=UID under the base DN with OpenLDAP's own client (a check on the fixture)."""
        cmd = [_tool("ldapwhoami"), "-x", "-H", self.url, "-D", f"uid={uid},{self.base_dn}", "-w", password]
        env = None
        if start_tls:
            cmd.insert(2, "-ZZ")
            env = {"LDAPTLS_CACERT": str(self.ca_file), "PATH": "/usr/bin:/bin"}
        return subprocess.run(cmd, capture_output=True, text=True, env=env)

    def log_text(self) -> str:
        """Everything slapd logged (level `stats`: one line per connection and operation)."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "_log_fh", None):
            self._log_fh.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> "Slapd":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
