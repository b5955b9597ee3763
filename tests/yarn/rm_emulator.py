#!/usr/bin/env python3
"""YARN ResourceManager REST + WebHDFS emulator for livy-rs tests (stdlib only).

The wire formats follow Hadoop's documentation (ResourceManagerRest.md, WebHDFS.md,
ResourceManagerHA.md); see tests/yarn/EMULATOR.md for what is emulated and what is not.

Run it:

    python tests/yarn/rm_emulator.py --port 0 --state-dir DIR [--ha rm1,rm2] [--require-spnego]

When ready it prints ONE JSON line on stdout (ports, URLs, state dir) and serves until
SIGTERM/SIGINT.  Or embed it:

    emu = Emulator(state_dir=tmp_path).start()
    ... emu.rm_url() / emu.webhdfs_url / emu.register_app(...) ...
    emu.stop()

Test-control endpoints live under /emulator/ on every port the emulator serves
(never a Hadoop path).  GET /emulator/ lists them.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading

# The emulator's parts live in the yarn_emulator package next to this file (one module per
# Hadoop service: rm, apps, webhdfs, node, tokens, auth, control); this file is the command line
# and the import name tests have always used.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from yarn_emulator.core import Emulator  # noqa: E402
from yarn_emulator.auth import SpnegoError, default_spnego_validator, make_gssapi_validator, short_name  # noqa: E402,F401
from yarn_emulator.tokens import decode_token, dt_identifier, encode_token  # noqa: E402,F401
from yarn_emulator.protocol import HADOOP_VERSION, HttpError, now_ms  # noqa: E402,F401
from yarn_emulator.model import App, Fault  # noqa: E402,F401
from yarn_emulator.control import CONTROL_HELP  # noqa: E402,F401

# --------------------------------------------------------------------------- CLI


def main(argv=None):
    ap = argparse.ArgumentParser(description="YARN RM REST + WebHDFS emulator for livy-rs tests")
    ap.add_argument("--port", type=int, default=0, help="RM webapp port (rm1; further HA RMs use port+1..; 0 = ephemeral)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--state-dir", required=True)
    ap.add_argument("--ha", default=None, help="comma-separated RM ids, e.g. rm1,rm2 (first one starts active)")
    ap.add_argument("--ha-redirect-mode", choices=["redirect", "refresh"], default="redirect")
    ap.add_argument("--require-spnego", action="store_true")
    ap.add_argument("--spnego-keytab", default=None, help="use python-gssapi with this keytab instead of the accept-all validator")
    ap.add_argument("--spnego-principal", default=None)
    ap.add_argument("--rm-principal", default=None, help="yarn.resourcemanager.principal written to yarn-site.xml")
    ap.add_argument("--webhdfs-port", type=int, default=0)
    ap.add_argument("--node-port", type=int, default=0)
    ap.add_argument("--total-mb", type=int, default=16384)
    ap.add_argument("--total-vcores", type=int, default=16)
    ap.add_argument("--max-alloc-mb", type=int, default=8192)
    ap.add_argument("--max-alloc-vcores", type=int, default=8)
    ap.add_argument("--kill-delay-ms", type=int, default=200)
    ap.add_argument("--no-recover", action="store_true", help="ignore rm-state.json from a previous run")
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args(argv)
    validator = None
    if a.spnego_keytab or a.spnego_principal:
        validator = make_gssapi_validator(a.spnego_keytab, a.spnego_principal)
    emu = Emulator(
        state_dir=a.state_dir, host=a.host, port=a.port, ha=a.ha.split(",") if a.ha else None,
        require_spnego=a.require_spnego, spnego_validator=validator, webhdfs_port=a.webhdfs_port,
        node_port=a.node_port, total_mb=a.total_mb, total_vcores=a.total_vcores, max_alloc_mb=a.max_alloc_mb,
        max_alloc_vcores=a.max_alloc_vcores, ha_redirect_mode=a.ha_redirect_mode, kill_delay_ms=a.kill_delay_ms,
        recover=not a.no_recover, verbose=a.verbose, rm_principal=a.rm_principal,
    )
    emu.start()
    stop = threading.Event()
    for s in (signal.SIGTERM, signal.SIGINT):
        signal.signal(s, lambda *_: stop.set())
    sys.stdout.write(json.dumps(emu.info()) + "\n")
    sys.stdout.flush()
    while not stop.wait(0.5):
        pass
    emu.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
