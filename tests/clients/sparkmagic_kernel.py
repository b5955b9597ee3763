"""sparkmagic's PySpark kernel, set up the way Jupyter runs it, for the tests that drive it with
nbclient (tests/clients, tests/security, tests/recovery): sparkmagic's config.json, its kernel
spec installed into a temporary prefix, and an environment that keeps Jupyter, IPython and
sparkmagic out of the real home directory. Imports nothing of the suites' own helpers, so that
every suite can use it whatever else is on its path."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Dict, Optional

import sparkmagic
from jupyter_client.kernelspec import KernelSpecManager

KERNEL_NAME = "pysparkkernel"
KERNELSPEC = {"name": KERNEL_NAME, "display_name": "PySpark", "language": "python"}


def sparkmagic_config(url: str, *, session_conf: Dict[str, str], name: str, start_timeout: float,
                      statement_timeout: float, heartbeat_timeout: int, auth: str = "None") -> dict:
    """config.json for sparkmagic: the test server, short heartbeats, deadlines that fit a loaded
    2-core machine, the given Spark settings, no widgets (plain table output)."""
    credentials = {"username": "", "password": "", "url": url, "auth": auth}
    return {
        "kernel_python_credentials": credentials,
        "kernel_scala_credentials": credentials,
        "kernel_r_credentials": credentials,
        "session_configs": {"conf": dict(session_conf), "name": name},
        "livy_session_startup_timeout_seconds": int(start_timeout),
        "wait_for_idle_timeout_seconds": int(statement_timeout),
        "heartbeat_refresh_seconds": 2,
        "heartbeat_retry_seconds": 1,
        "livy_server_heartbeat_timeout_seconds": heartbeat_timeout,
        "retry_policy": "configurable",
        "retry_seconds_to_sleep_list": [0.2, 0.5, 1],
        "configurable_retry_policy_max_retries": 3,
        "use_auto_viz": False,
        "coerce_dataframe": True,
        "cleanup_all_sessions_on_exit": False,
        "shutdown_session_on_spark_statement_errors": False,
        "all_errors_are_fatal": False,
    }


def install_kernel_spec(prefix: Path) -> None:
    """Installs sparkmagic's own pysparkkernel spec under `prefix` (= `jupyter kernelspec install
    <sparkmagic>/kernels/pysparkkernel --prefix <prefix>`). Its argv starts with `python`, which
    jupyter_client runs as sys.executable: this venv's Python."""
    source = Path(sparkmagic.__file__).parent / "kernels" / KERNEL_NAME
    dest = KernelSpecManager().install_kernel_spec(str(source), kernel_name=KERNEL_NAME, prefix=str(prefix))
    spec = json.loads((Path(dest) / "kernel.json").read_text())
    assert spec["argv"][:3] == ["python", "-m", "sparkmagic.kernels.pysparkkernel.pysparkkernel"], spec


def prepare(root: Path, config: dict) -> Dict[str, str]:
    """Writes `config` as sparkmagic's config.json under `root`, installs the kernel spec there,
    and returns the variables through which Jupyter, IPython and sparkmagic find all of it (set
    them in this process, for the kernel spec and connection files, and in the kernel)."""
    conf_dir = root / "sparkmagic"
    conf_dir.mkdir(parents=True, exist_ok=True)
    (conf_dir / "config.json").write_text(json.dumps(config, indent=1))
    prefix = root / "prefix"
    install_kernel_spec(prefix)
    return {
        "SPARKMAGIC_CONF_DIR": str(conf_dir),  # read by sparkmagic at import, in the kernel
        "JUPYTER_PATH": str(prefix / "share" / "jupyter"),  # where the kernel spec is found
        "JUPYTER_DATA_DIR": str(root / "data"),
        "JUPYTER_CONFIG_DIR": str(root / "config"),
        "JUPYTER_RUNTIME_DIR": str(root / "runtime"),  # connection files
        "IPYTHONDIR": str(root / "ipython"),
        "MPLCONFIGDIR": str(root / "mpl"),
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
    }


def kernel_env(root: Path, extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """The kernel process's environment: this one, with a HOME of its own under `root`."""
    home = root / "home"
    home.mkdir(parents=True, exist_ok=True)
    return dict(os.environ, HOME=str(home), **(extra or {}))


def cell_text(cell) -> str:
    """Everything a person would see in a cell's output, as text."""
    parts = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            parts.append(out.get("text", ""))
        elif out.get("output_type") in ("execute_result", "display_data"):
            data = out.get("data", {})
            parts.append(data.get("text/plain", "") + "\n" + data.get("text/html", ""))
        elif out.get("output_type") == "error":
            parts.append(f"{out.get('ename')}: {out.get('evalue')}\n" + "\n".join(out.get("traceback", [])))
    return "\n".join(parts)
