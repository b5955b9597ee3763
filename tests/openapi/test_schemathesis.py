"""schemathesis against the running server: every answer to the generated requests (valid ones
and, in its negative mode, invalid ones) must be a status the document lists for the operation,
in the body shape and content type it gives, and never a 5xx; methods a path does not take must
be 405.

Bounded for CI: a fixed seed, few examples per operation and a time budget (`--max-time`), with
the stateful phase (chains of create/view/delete through the documented links) last.

Two checks are left out, both because the server follows Livy where a schema cannot say so:
- `positive_data_acceptance`: many schema-valid bodies are refused by rules a schema cannot state
  (a memory size Spark would reject, a file outside `livy.file.local-dir-whitelist`, a statement
  without kind on a `shared` session, a session that is not running); those are 400s the
  document lists.
- `negative_data_rejection`: request fields are read as Livy's Jackson reads them (a number where
  a string goes becomes its text, `"2"` where an integer goes is 2), so some bodies outside the
  schema are accepted on purpose; the document describes what clients should send.
Every answer to such requests is still checked (status listed, shape, no 5xx).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

#: The time budget of one run, seconds (each phase stops when it is spent).
MAX_TIME = int(os.environ.get("LIVY_RS_SCHEMATHESIS_SECONDS", "90"))

CHECKS = ",".join([
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "missing_required_header",
    "unsupported_method",
    "use_after_free",
    "ensure_resource_availability",
])


def schemathesis_bin() -> Path:
    path = Path(sys.executable).parent / "schemathesis"
    if not path.exists():
        pytest.fail(f"{path} is missing: run scripts/setup-env --clients", pytrace=False)
    return path


def test_the_committed_document_is_the_one_served(seeded):
    served = seeded.call("GET", "/openapi.json")
    committed = (Path(__file__).resolve().parents[2] / "docs" / "openapi.json").read_text()
    import json
    assert served[0] == 200
    assert served[1] == json.loads(committed)


def test_schemathesis_finds_nothing(seeded, tmp_path):
    cmd = [
        str(schemathesis_bin()), "run", f"{seeded.url}/openapi.json",
        "--checks", CHECKS,
        "--max-examples", "15",
        "--max-time", str(MAX_TIME),
        "--seed", os.environ.get("LIVY_RS_SCHEMATHESIS_SEED", "20261204"),
        "--workers", "1",  # concurrent workers hit a CPython 3.11 AST bug in its generator
        "--request-timeout", "20",
        "--no-color",
        "--report", "junit",
        "--report-dir", str(tmp_path),
    ]
    run = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True,
                         timeout=MAX_TIME * 4 + 120)
    print(run.stdout[-20000:])
    print(run.stderr[-5000:], file=sys.stderr)
    assert run.returncode == 0, (
        "schemathesis found answers that differ from docs/openapi.json (see the output above; "
        "`st replay <id>` reruns one)\n" + run.stdout[-6000:])
    server_log = seeded.log_text()
    assert "panicked" not in server_log, server_log[-4000:]
