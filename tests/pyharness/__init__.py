"""Black-box test harness for livy-rs, shared by the Python suites (tests/clients, tests/yarn, ...).

Standard library only, so every venv of the project can import it:

- `livy_server.LivyServer`: runs the real `livy-server` binary with a throwaway conf/log/pid dir.
- `wait.wait_until`: polls a condition against a deadline (no sleep-and-hope).
- `procs`: finds processes through /proc (to check that a process tree is really gone).

Suites put the `tests/` directory on sys.path (see tests/clients/conftest.py) and import
`pyharness.livy_server` etc.
"""

from .livy_server import LivyServer, LivyServerError, default_binary, repo_root
from .procs import descendants, find_processes
from .wait import WaitTimeout, wait_until

__all__ = [
    "LivyServer",
    "LivyServerError",
    "WaitTimeout",
    "default_binary",
    "descendants",
    "find_processes",
    "repo_root",
    "wait_until",
]
