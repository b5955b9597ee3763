"""What every suite's conftest needs before it can start a server: the livy-server binary, a
SPARK_HOME, free loopback ports and the system tools the security suites run (KDC, slapd).
Plain functions (not fixtures) so each conftest wraps them in the fixture scope it needs and
fails with its own hint."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

from .livy_server import default_binary, repo_root


class SetupMissing(RuntimeError):
    """Something the tests need is not installed; the message says how to get it."""


def livy_binary() -> Path:
    """The server binary ($LIVY_RS_BIN or target/release/livy-server), which must exist."""
    path = default_binary()
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise SetupMissing(
            f"livy-server binary {path} is missing: run `cargo build --release --bin livy-server` "
            "or set LIVY_RS_BIN"
        )
    return path


def python_spark_home(python: Path) -> Path:
    """The pyspark package directory of `python` (which is a SPARK_HOME)."""
    out = subprocess.run(
        [str(python), "-c", "import os, pyspark; print(os.path.dirname(pyspark.__file__))"],
        capture_output=True, text=True, timeout=60, check=True,
    )
    return Path(out.stdout.strip())


def spark_home(hint: str = 'eval "$(scripts/setup-env --clients --print-env)"') -> Path:
    """$SPARK_HOME, else the project's .venv pyspark; exported together with PYSPARK_PYTHON so
    the servers the tests start inherit both."""
    home = os.environ.get("SPARK_HOME")
    venv_python = repo_root() / ".venv" / "bin" / "python"
    if not home and venv_python.exists():
        try:
            home = str(python_spark_home(venv_python))
            os.environ["SPARK_HOME"] = home
        except (subprocess.SubprocessError, OSError):
            home = None
    if not home or not (Path(home) / "bin" / "spark-submit").is_file():
        raise SetupMissing(f"SPARK_HOME ({home!r}) has no bin/spark-submit; run `{hint}` first")
    if not os.environ.get("PYSPARK_PYTHON") and venv_python.exists():
        os.environ["PYSPARK_PYTHON"] = str(venv_python)
    return Path(home)


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def system_tool(name: str, packages: str) -> str:
    """The path of a system program (sbin included), or SetupMissing naming its packages."""
    for d in ("/usr/sbin", "/usr/bin", "/sbin"):
        p = Path(d) / name
        if p.exists():
            return str(p)
    found = shutil.which(name)
    if not found:
        raise SetupMissing(f"{name} not found: run scripts/setup-env --security (Debian {packages})")
    return found


def real_spark_env():
    """SPARK_HOME/PYSPARK_PYTHON of the real Spark as `scripts/setup-env --print-env` gives them
    (installing it if needed), or None when that fails. For suites whose SPARK_HOME is a shim."""
    try:
        out = subprocess.run([str(repo_root() / "scripts" / "setup-env"), "--print-env"], capture_output=True,
                             text=True, timeout=1200, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    env = {}
    for line in out.splitlines():
        if line.startswith("export ") and "=" in line:
            k, v = line[len("export "):].split("=", 1)
            env[k] = v.strip("'\"")
    if not env.get("SPARK_HOME") or not Path(env["SPARK_HOME"], "bin", "spark-submit").exists():
        return None
    return env
