"""Recovery tests: the real livy-rs binary, real Spark (local mode) for sessions, a shim
spark-submit that runs batches as plain processes (cheap, so dozens fit in CI), a filesystem
store in a temp dir and a real ZooKeeper (Debian's `zookeeper`, started on loopback here).

    cargo build --release --bin livy-server
    eval "$(scripts/setup-env --clients --recovery --print-env)"
    .venv-clients/bin/python -m pytest -q tests/recovery
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "sessions"))
