"""The livy-rs packages as an admin meets them, on this machine, as root:

    cargo build --release && scripts/setup-env --packaging
    .venv/bin/python -m pytest -q tests/packaging

Builds the .deb and .rpm with scripts/package (from target/release/livy-server), checks the RPM
without installing it on the machine (rpm -qlp/--scripts, a scratch root, rpmlint) and the .deb
by really installing it: files, owners, modes, the livy user, the conffiles, the systemd unit
(systemd-analyze verify: PID 1 here is not systemd), the service started as its unit's
ExecStart does it as user livy with a real pyspark statement, an upgrade to a rebuilt package
with a bumped release that keeps an edited livy.conf, and a purge that leaves nothing behind.

The tests run in file order and share one install; the module fixture purges the package
whatever happens, so the machine is as before (other suites run the worktree's binary)."""

from __future__ import annotations

import json
import os
import pwd
import grp
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from pyharness.setup import free_port, python_spark_home  # noqa: E402
from pyharness.wait import wait_until  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
PKG = "livy-rs"
UNIT = "/lib/systemd/system/livy-server.service"
CONFFILES = [
    "/etc/livy/conf/livy.conf",
    "/etc/livy/conf/spark-blacklist.conf",
    "/etc/livy/conf/livy-env.sh",
    "/etc/default/livy-server",
    "/etc/logrotate.d/livy-rs",
]
# What purge must remove: everything the package or its scripts created.
CREATED = ["/usr/lib/livy", "/etc/livy", "/var/lib/livy", "/var/log/livy", "/run/livy",
           "/etc/default/livy-server", "/etc/logrotate.d/livy-rs", UNIT, "/usr/bin/livy-server",
           "/usr/lib/tmpfiles.d/livy-rs.conf", "/usr/share/doc/livy-rs"]
SPARK_START = 300
CLEANUP: list[Path] = []  # removed when the module is done


def run(*cmd: str, check: bool = True, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(list(cmd), capture_output=True, text=True, check=check, timeout=600, **kw)


def installed_version() -> str | None:
    r = run("dpkg-query", "-W", "-f=${Status} ${Version}", PKG, check=False)
    parts = r.stdout.split()
    return parts[-1] if r.returncode == 0 and r.stdout.startswith("install ok installed") else None


def build(out: Path, release: int) -> tuple[Path, Path]:
    run(str(ROOT / "scripts" / "package"), "--no-build", "--release", str(release), "--out", str(out))
    debs, rpms = sorted(out.glob("*.deb")), sorted(out.glob("*.rpm"))
    assert len(debs) == 1 and len(rpms) == 1, f"want one .deb and one .rpm in {out}: {list(out.iterdir())}"
    return debs[0], rpms[0]


def purge() -> None:
    run("dpkg", "--purge", PKG, check=False)


@pytest.fixture(scope="module")
def pkgs(tmp_path_factory):
    if not (ROOT / "target" / "release" / "livy-server").is_file():
        pytest.fail("target/release/livy-server missing: run `cargo build --release` first")
    for tool in ("dpkg-deb", "rpmbuild", "lintian", "rpmlint", "systemd-analyze", "setpriv"):
        if run("sh", "-c", f"command -v {tool}", check=False).returncode != 0:
            pytest.fail(f"{tool} missing: run scripts/setup-env --packaging")
    if installed_version() is not None:
        pytest.fail(f"{PKG} is installed on this machine already; these tests install and purge it")
    base = tmp_path_factory.mktemp("pkgs")
    v1 = build(base / "v1", 1)
    v2 = build(base / "v2", 2)
    yield {"v1": v1, "v2": v2, "base": base}
    purge()
    for p in CLEANUP:
        shutil.rmtree(p, ignore_errors=True)


def test_scripts_package_names(pkgs):
    deb, rpm = pkgs["v1"]
    assert deb.name.startswith("livy-rs_0.1.0-1_") and rpm.name.startswith("livy-rs-0.1.0-1.")
    assert run("dpkg-deb", "-f", str(deb), "Package").stdout.strip() == PKG
    assert run("rpm", "-qp", "--qf", "%{NAME}", str(rpm)).stdout.strip() == PKG


def test_deb_metadata_and_lintian(pkgs):
    deb, _ = pkgs["v1"]
    depends = run("dpkg-deb", "-f", str(deb), "Depends").stdout
    assert "libgssapi-krb5-2" in depends and "libc6" in depends, depends
    assert "openjdk-17-jdk-headless" in run("dpkg-deb", "-f", str(deb), "Recommends").stdout
    assert "spark" not in depends.lower()
    r = run("lintian", "--no-cfg", str(deb), check=False)
    errors = [line for line in r.stdout.splitlines() if line.startswith("E:")]
    assert not errors, r.stdout


def test_rpm_queries_and_rpmlint(pkgs):
    _, rpm = pkgs["v1"]
    files = run("rpm", "-qlp", str(rpm)).stdout.split()
    for path in ["/usr/lib/livy/libexec/livy-rs-server", "/usr/lib/livy/bin/livy-server", "/usr/bin/livy-server",
                 "/usr/bin/livy",
                 UNIT, "/var/lib/livy", "/var/log/livy", "/usr/lib/livy/jars", *CONFFILES]:
        assert path in files, path
    configs = run("rpm", "-qp", "--configfiles", str(rpm)).stdout.split()
    assert sorted(configs) == sorted(CONFFILES)
    scripts = run("rpm", "-qp", "--scripts", str(rpm)).stdout
    assert "useradd -r -g livy" in scripts and "/sbin/nologin" in scripts
    assert "try-restart livy-server.service" in scripts
    modes = run("rpm", "-qp", "--qf", "[%{FILEMODES:perms} %{FILEUSERNAME}:%{FILEGROUPNAME} %{FILENAMES}\n]",
                str(rpm)).stdout
    assert "drwx------ livy:livy /var/lib/livy" in modes, modes
    assert "-rw-r----- root:livy /etc/livy/conf/livy.conf" in modes, modes
    requires = run("rpm", "-qp", "--requires", str(rpm)).stdout
    assert "libgssapi_krb5.so.2()(64bit)" in requires
    r = run("rpmlint", "-r", str(ROOT / "packaging" / "rpm" / "rpmlintrc"), str(rpm), check=False)
    assert " 0 errors" in r.stdout, r.stdout


def test_rpm_installs_into_scratch_root(pkgs, tmp_path):
    _, rpm = pkgs["v1"]
    scratch = tmp_path / "root"
    scratch.mkdir()
    # --noscripts: the scratch root has no shell or useradd for %pre; the scriptlets are
    # checked above. Owners the scratch root cannot name fall back to root.
    r = run("rpm", "-i", "--root", str(scratch), "--nodeps", "--noscripts", str(rpm), check=False)
    assert r.returncode == 0, r.stderr
    server = scratch / "usr/lib/livy/libexec/livy-rs-server"
    assert server.is_file() and os.access(server, os.X_OK)
    assert stat.S_IMODE((scratch / "var/lib/livy").stat().st_mode) == 0o700
    assert (scratch / "etc/livy/conf/livy.conf").is_file()
    assert os.readlink(scratch / "usr/bin/livy-server") == "../lib/livy/bin/livy-server"
    out = run("rpm", "--root", str(scratch), "-q", PKG).stdout
    assert out.startswith("livy-rs-0.1.0-1")
    # Erasing removes every file and directory of the package (it owns its directories).
    r = run("rpm", "-e", "--root", str(scratch), "--noscripts", PKG, check=False)
    assert r.returncode == 0, r.stderr
    left = [p for p in ("usr/lib/livy", "etc/livy", "var/lib/livy", "usr/share/doc/livy-rs")
            if (scratch / p).exists()]
    assert not left, left


def test_deb_installs_files_user_conffiles(pkgs):
    deb, _ = pkgs["v1"]
    r = run("dpkg", "-i", str(deb), check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    assert installed_version().endswith("-1")
    user = pwd.getpwnam("livy")
    assert user.pw_shell in ("/usr/sbin/nologin", "/sbin/nologin", "/bin/false")
    assert user.pw_uid < 1000 and user.pw_dir == "/var/lib/livy"
    assert grp.getgrgid(user.pw_gid).gr_name == "livy"

    def owner_mode(p: str) -> tuple[str, str, int]:
        s = os.stat(p)
        return pwd.getpwuid(s.st_uid).pw_name, grp.getgrgid(s.st_gid).gr_name, stat.S_IMODE(s.st_mode)

    assert owner_mode("/var/lib/livy") == ("livy", "livy", 0o700)
    assert owner_mode("/var/log/livy") == ("livy", "livy", 0o750)
    assert owner_mode("/etc/livy/conf/livy.conf") == ("root", "livy", 0o640)
    assert owner_mode("/usr/lib/livy/libexec/livy-rs-server") == ("root", "root", 0o755)
    assert owner_mode("/run/livy")[:2] == ("livy", "livy")  # systemd-tmpfiles in postinst
    assert owner_mode("/var/log/livy/livy-server.log") == ("livy", "livy", 0o640)
    assert os.path.isdir("/usr/lib/livy/jars")
    assert os.path.realpath("/usr/bin/livy-server") == "/usr/lib/livy/bin/livy-server"
    assert os.path.realpath("/usr/lib/livy/conf") == "/etc/livy/conf"
    conffiles = run("dpkg-query", "-W", "-f=${Conffiles}", PKG).stdout
    assert sorted(line.split()[0] for line in conffiles.strip().splitlines()) == sorted(CONFFILES)
    # The command on PATH finds its home through its symlink; the packaged binary runs.
    assert run("/usr/bin/livy-server", "status", check=False).stdout.strip() == "livy-server is not running"
    assert run("/usr/lib/livy/libexec/livy-rs-server", "--version").stdout.startswith("livy-server ")
    assert owner_mode("/usr/bin/livy") == ("root", "root", 0o755)
    assert run("/usr/bin/livy", "--version").stdout.startswith("livy ")
    r = run("logrotate", "-d", "/etc/logrotate.d/livy-rs", check=False)
    assert r.returncode == 0 and "error" not in r.stderr.lower(), r.stderr


def test_unit_verifies():
    r = run("systemd-analyze", "verify", UNIT, check=False)
    problems = [line for line in (r.stdout + r.stderr).splitlines() if "livy-server.service" in line]
    assert r.returncode == 0 and not problems, r.stdout + r.stderr
    unit = Path(UNIT).read_text()
    for want in ("Type=notify", "User=livy", "Restart=on-failure", "KillMode=process", "NoNewPrivileges=yes",
                 "LimitNOFILE=", "EnvironmentFile=-/etc/default/livy-server", "PrivateTmp=no"):
        assert want in unit, want


def unit_settings() -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in Path(UNIT).read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            k, v = line.split("=", 1)
            settings.setdefault(k.strip(), []).append(v.strip())
    return settings


def service_env(settings: dict[str, list[str]]) -> dict[str, str]:
    """The environment systemd gives the service: its defaults for a User= service, then
    Environment=, then the EnvironmentFile."""
    user = settings["User"][0]
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8",
           "USER": user, "LOGNAME": user, "HOME": pwd.getpwnam(user).pw_dir, "SHELL": pwd.getpwnam(user).pw_shell}
    for assignment in settings.get("Environment", []):
        for item in shlex.split(assignment):
            k, v = item.split("=", 1)
            env[k] = v
    for f in settings.get("EnvironmentFile", []):
        path = Path(f.lstrip("-"))
        if path.exists():
            for line in path.read_text().splitlines():
                line = line.strip()
                if line and not line.startswith("#") and "=" in line:
                    k, v = line.split("=", 1)
                    env[k.strip()] = v.strip().strip('"')
    return env


def spark_home_for_livy(spark_home: Path, tmp_path: Path) -> Path:
    """The project's SPARK_HOME if user livy can use it; else a hard-linked copy it can reach
    (a clone under /root, 0700, is out of livy's reach, as a real Spark install is not)."""
    probe = ["setpriv", "--reuid", "livy", "--regid", "livy", "--init-groups", "--",
             "test", "-x", str(spark_home / "bin" / "spark-submit")]
    if run(*probe, check=False).returncode == 0:
        return spark_home
    copy = Path(tempfile.mkdtemp(prefix="livy-rs-spark-", dir="/var/tmp"))
    os.chmod(copy, 0o755)
    r = run("cp", "-al", f"{spark_home}/.", str(copy), check=False)
    if r.returncode != 0:  # another file system: copy for real
        run("cp", "-a", f"{spark_home}/.", str(copy))
    CLEANUP.append(copy)
    return copy


def http(method: str, url: str, body: dict | None = None, timeout: float = 30) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read() or b"{}")


def test_service_as_livy_runs_pyspark(pkgs, tmp_path):
    spark_home = spark_home_for_livy(python_spark_home(ROOT / ".venv" / "bin" / "python"), tmp_path)
    port = free_port()
    # An admin's set-up: Spark in /etc/default/livy-server, the port in livy.conf (this edit is
    # also the one the upgrade must keep). The system python3 runs the driver (pyspark comes
    # from SPARK_HOME/python/lib; the venv's python is under /root, which livy cannot enter).
    Path("/etc/default/livy-server").write_text(
        Path("/etc/default/livy-server").read_text()
        + f"SPARK_HOME={spark_home}\nPYSPARK_PYTHON=/usr/bin/python3\n")
    with open("/etc/livy/conf/livy.conf", "a") as f:
        f.write(f"\n# edited by the admin\nlivy.server.host = 127.0.0.1\nlivy.server.port = {port}\n")

    settings = unit_settings()
    env = service_env(settings)
    # The unit's readiness protocol: the server must send READY=1 to NOTIFY_SOCKET.
    # (pytest's tmp_path is under a 0700 directory the livy user cannot enter.)
    sock_dir = Path(tempfile.mkdtemp(prefix="livy-rs-notify-"))
    os.chmod(sock_dir, 0o755)
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(sock_dir / "notify.sock"))
    os.chmod(sock_dir / "notify.sock", 0o777)
    notify.settimeout(0.5)
    env["NOTIFY_SOCKET"] = str(sock_dir / "notify.sock")
    out_path = settings["StandardOutput"][0].removeprefix("append:")
    exec_start = settings["ExecStart"][0]
    # As systemd does it: drop to User=/Group=, no new privileges, stdout appended to the log.
    cmd = ["setpriv", "--reuid", settings["User"][0], "--regid", settings["Group"][0], "--init-groups",
           "--no-new-privs", "--", "/bin/sh", "-c", f'exec >>"{out_path}" 2>&1; exec {exec_start}']
    proc = subprocess.Popen(cmd, env=env, cwd="/", start_new_session=True)
    messages: list[str] = []

    def got(msg: str) -> bool:
        try:
            messages.append(notify.recv(4096).decode())
        except socket.timeout:
            pass
        assert proc.poll() is None, f"server exited {proc.returncode}: {Path(out_path).read_text()[-3000:]}"
        return any(msg in m for m in messages)

    try:
        wait_until(lambda: got("READY=1"), 60, "READY=1 from the server")
        base = f"http://127.0.0.1:{port}"
        sid = http("POST", f"{base}/sessions", {"kind": "pyspark"})["id"]

        def idle():
            state = http("GET", f"{base}/sessions/{sid}/state")["state"]
            assert state not in ("dead", "error", "killed"), "\n".join(
                http("GET", f"{base}/sessions/{sid}/log?size=-1")["log"])[-4000:]
            return state == "idle"

        wait_until(idle, SPARK_START, "the pyspark session to be idle", interval=1)
        # The packaged client, as a user on the edge node runs it (exit code and JSON output).
        r = run("/usr/bin/livy", "--url", base, "--output", "json", "run", "--session", str(sid),
                'spark.range(1000).selectExpr("sum(id) AS s").collect()[0][0]', check=False)
        assert r.returncode == 0, r.stdout + r.stderr
        result = json.loads(r.stdout)
        assert result["output"]["status"] == "ok", result
        assert result["output"]["data"]["text/plain"] == "499500"
        http("DELETE", f"{base}/sessions/{sid}")
        # Files the service wrote are the service user's.
        logs = os.listdir("/var/log/livy")
        assert "livy-server.log" in logs and any(n.startswith("livy-requests") for n in logs), logs
        for n in logs:
            assert pwd.getpwuid(os.stat(f"/var/log/livy/{n}").st_uid).pw_name == "livy", n
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
        try:
            rc = proc.wait(timeout=90)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    assert _drain(notify, messages, "STOPPING=1"), messages
    # KillMode=process leaves the children to the server: with recovery off it stops them all.
    # (Seen once: the deleted session's driver, already SIGTERMed by the DELETE, still exiting
    # just after the server did; hence a short deadline rather than an instant check.)
    wait_until(lambda: run("ps", "-o", "pid,etime,args", "-U", "livy", "--no-headers", check=False).stdout == "",
               15, "no process of user livy left after the server exited", interval=0.5)
    assert rc == 0, Path(out_path).read_text()[-3000:]
    notify.close()
    shutil.rmtree(sock_dir, ignore_errors=True)


def _drain(sock: socket.socket, messages: list[str], msg: str) -> bool:
    try:
        while True:
            messages.append(sock.recv(4096).decode())
    except socket.timeout:
        pass
    return any(msg in m for m in messages)


def test_upgrade_keeps_edited_conf(pkgs):
    assert installed_version() is not None, "the install test did not leave the package installed"
    before = Path("/etc/livy/conf/livy.conf").read_text()
    assert "# edited by the admin" in before
    uid = pwd.getpwnam("livy").pw_uid
    deb2, _ = pkgs["v2"]
    r = run("dpkg", "-i", str(deb2), check=False, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    assert r.returncode == 0, r.stdout + r.stderr
    assert installed_version().endswith("-2")
    assert Path("/etc/livy/conf/livy.conf").read_text() == before
    assert "SPARK_HOME=" in Path("/etc/default/livy-server").read_text()
    assert not Path("/etc/livy/conf/livy.conf.dpkg-new").exists()
    s = os.stat("/etc/livy/conf/livy.conf")
    assert (grp.getgrgid(s.st_gid).gr_name, stat.S_IMODE(s.st_mode)) == ("livy", 0o640)
    assert pwd.getpwnam("livy").pw_uid == uid
    postinst = Path("/var/lib/dpkg/info/livy-rs.postinst").read_text()
    assert "systemctl try-restart livy-server.service" in postinst


def test_purge_leaves_nothing(pkgs):
    r = run("dpkg", "--purge", PKG, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    assert installed_version() is None
    assert run("dpkg-query", "-W", PKG, check=False).returncode != 0, "dpkg still knows the package"
    left = [p for p in CREATED if os.path.lexists(p)]
    assert not left, left
    assert run("getent", "passwd", "livy", check=False).returncode != 0
    assert run("getent", "group", "livy", check=False).returncode != 0
    overrides = run("dpkg-statoverride", "--list").stdout
    assert "livy" not in overrides, overrides
