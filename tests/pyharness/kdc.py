"""A real MIT Kerberos KDC (Debian's krb5-kdc) on loopback with a throwaway realm, for tests.

Everything lives in one temporary directory: the KDC profile and database, a krb5.conf that
points only at this KDC, keytabs and credential caches. Nothing touches /etc. Use it as a
context manager:

    with Kdc() as kdc:
        kdc.add_principal("alice", password="alice-pw")
        kt = kdc.add_service("HTTP/localhost")          # keytab path
        env = kdc.env(ccache=kdc.kinit("alice", "alice-pw"))
        subprocess.run(["curl", "--negotiate", "-u", ":", url], env=env)

`env()` gives the variables a client or the server needs (KRB5_CONFIG, KRB5CCNAME, KRB5_KTNAME
...); the process running the tests is left alone unless `activate()` is called.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Dict, Optional

from .setup import free_port as _free_port
from .setup import system_tool
from .wait import wait_until

TOOLS = ("krb5kdc", "kdb5_util", "kadmin.local", "kinit")


def _sbin(name: str) -> str:
    return system_tool(name, "krb5-kdc, krb5-user")


class Kdc:
    """A running KDC for realm `realm`, listening on 127.0.0.1 (TCP and UDP, one port)."""

    def __init__(self, realm: str = "LIVY.TEST", ticket_lifetime: str = "10h", renew_lifetime: str = "7d",
                 clockskew: Optional[int] = None):
        """`clockskew` (seconds) narrows Kerberos' tolerance for expired tickets (default 300 s)
        for every process of the realm: tests of ticket expiry set it to a few seconds."""
        self.realm = realm
        self.clockskew = clockskew
        self.ticket_lifetime = ticket_lifetime
        self.renew_lifetime = renew_lifetime
        self.dir = Path(tempfile.mkdtemp(prefix="livy-kdc-"))
        self.port = _free_port()
        self.krb5_conf = self.dir / "krb5.conf"
        self.kdc_conf = self.dir / "kdc.conf"
        self.proc: Optional[subprocess.Popen] = None
        self.log = self.dir / "kdc.log"

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> "Kdc":
        d = self.dir
        self.krb5_conf.write_text(
            f"""[libdefaults]
    default_realm = {self.realm}
    dns_lookup_kdc = false
    dns_lookup_realm = false
    rdns = false
    dns_canonicalize_hostname = false
    ticket_lifetime = {self.ticket_lifetime}
    renew_lifetime = {self.renew_lifetime}
    forwardable = true
    udp_preference_limit = 1
{f"    clockskew = {self.clockskew}" if self.clockskew is not None else ""}

[realms]
    {self.realm} = {{
        kdc = 127.0.0.1:{self.port}
        admin_server = 127.0.0.1:{_free_port()}
    }}

[domain_realm]
    localhost = {self.realm}
    127.0.0.1 = {self.realm}
"""
        )
        self.kdc_conf.write_text(
            f"""[kdcdefaults]
    kdc_ports = {self.port}
    kdc_tcp_ports = {self.port}

[realms]
    {self.realm} = {{
        database_name = {d}/principal
        key_stash_file = {d}/stash
        acl_file = {d}/kadm5.acl
        max_life = {self.ticket_lifetime}
        max_renewable_life = {self.renew_lifetime}
        supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal
    }}

[logging]
    kdc = FILE:{self.log}
"""
        )
        (d / "kadm5.acl").write_text("")
        env = self.env()
        subprocess.run(
            [_sbin("kdb5_util"), "create", "-s", "-r", self.realm, "-P", "master-" + os.urandom(8).hex()],
            env=env, check=True, capture_output=True,
        )
        self.proc = subprocess.Popen(
            [_sbin("krb5kdc"), "-n", "-r", self.realm],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )

        def listening() -> bool:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                raise RuntimeError(f"krb5kdc exited with {self.proc.returncode}: {err}")
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", self.port)) == 0

        wait_until(listening, timeout=20, what="the KDC listening", interval=0.05)
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> "Kdc":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ------------------------------------------------------------------ principals
    def principal(self, name: str) -> str:
        return name if "@" in name else f"{name}@{self.realm}"

    def kadmin(self, query: str) -> str:
        out = subprocess.run(
            [_sbin("kadmin.local"), "-r", self.realm, "-q", query],
            env=self.env(), check=True, capture_output=True, text=True,
        )
        return out.stdout

    def add_principal(self, name: str, password: Optional[str] = None, extra: str = "") -> str:
        """Adds a principal with a password, or a random key when `password` is None."""
        principal = self.principal(name)
        if password is None:
            self.kadmin(f"addprinc -randkey {extra} {principal}")
        else:
            self.kadmin(f'addprinc -pw "{password}" {extra} {principal}')
        return principal

    def keytab(self, *names: str, path: Optional[Path] = None) -> Path:
        """Writes the keys of `names` into a keytab (without re-randomising them) and returns it."""
        path = path or self.dir / (names[0].replace("/", "_").replace("@", "_") + ".keytab")
        for name in names:
            self.kadmin(f"ktadd -norandkey -k {path} {self.principal(name)}")
        return path

    def add_service(self, name: str, path: Optional[Path] = None) -> Path:
        """A random-key principal (e.g. HTTP/localhost) and its keytab."""
        self.add_principal(name)
        return self.keytab(name, path=path)

    def as_requests(self, name: str) -> int:
        """How many initial-ticket requests (AS-REQ, i.e. logins) for `name` the KDC answered."""
        principal = self.principal(name)
        try:
            text = self.log.read_text(errors="replace")
        except FileNotFoundError:
            return 0
        return sum(1 for line in text.splitlines() if "AS_REQ" in line and "ISSUE" in line and f" {principal} for krbtgt/" in line)

    def kinit(self, name: str, password: Optional[str] = None, keytab: Optional[Path] = None,
              ccache: Optional[Path] = None, lifetime: Optional[str] = None) -> Path:
        """Gets a TGT into a fresh file ccache (with a password, or from a keytab) and returns it."""
        ccache = ccache or Path(tempfile.mkstemp(prefix="cc-", dir=self.dir)[1])
        cmd = [_sbin("kinit"), "-c", f"FILE:{ccache}"]
        if lifetime:
            cmd += ["-l", lifetime]
        if keytab is not None:
            cmd += ["-k", "-t", str(keytab)]
        cmd.append(self.principal(name))
        subprocess.run(cmd, env=self.env(), input=(password + "\n") if password else None,
                       text=True, check=True, capture_output=True)
        return ccache

    # ------------------------------------------------------------------ environment
    def env(self, ccache: Optional[Path] = None, keytab: Optional[Path] = None,
            base: Optional[Dict[str, str]] = None) -> Dict[str, str]:
        """Environment for a process that should use this realm (a client, or the server)."""
        env = dict(os.environ if base is None else base)
        env["KRB5_CONFIG"] = str(self.krb5_conf)
        env["KRB5_KDC_PROFILE"] = str(self.kdc_conf)
        # No replay cache files in system dirs, and none shared between test servers.
        env["KRB5RCACHEDIR"] = str(self.dir)
        env["KRB5_TRACE"] = env.get("KRB5_TRACE_TESTS", "/dev/null")
        if ccache is not None:
            env["KRB5CCNAME"] = f"FILE:{ccache}"
        else:
            env["KRB5CCNAME"] = f"FILE:{self.dir}/no-ccache"
        if keytab is not None:
            env["KRB5_KTNAME"] = f"FILE:{keytab}"
        return env

    def activate(self, ccache: Optional[Path] = None) -> None:
        """Points this (test) process's own Kerberos library at the realm, e.g. for requests-gssapi."""
        for k, v in self.env(ccache=ccache, base={}).items():
            os.environ[k] = v
