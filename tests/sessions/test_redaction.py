"""Secrets in `conf` (keys matching Spark's `spark.redaction.regex`) never leave the server: not
in the session view, not in `/log` (even when spark-submit echoes its command line, as
`--verbose` does), not in the server's own log; other values stay visible."""

from __future__ import annotations

import sys

from session_helpers import (
    base_conf,
    create_session,
    make_spark_home,
    session_log,
    session_view,
    start_server,
    stop_server,
    wait_until,
)

SECRET = "hunter2-do-not-show"


def test_secret_conf_values_are_redacted_everywhere(tmp_path):
    home = make_spark_home(
        tmp_path / "spark",
        f"#!{sys.executable}\n"
        "import sys, time\n"
        "print('Parsed arguments:', ' '.join(sys.argv[1:]), flush=True)\n"
        "time.sleep(3600)\n",
    )
    livy = start_server(base_conf(), "livy-redact", env={"SPARK_HOME": str(home)})
    try:
        s = create_session(livy, {"kind": "pyspark", "conf": {
            "spark.ssl.keyPassword": SECRET,
            "spark.hadoop.fs.s3a.access.key": SECRET,
            "spark.executor.memory": "1g",
        }})
        view = session_view(livy, s["id"])
        assert view["conf"]["spark.executor.memory"] == "1g"
        assert view["conf"]["spark.ssl.keyPassword"] == "*********(redacted)"
        assert SECRET not in str(view) and SECRET not in str(s)
        log = wait_until(lambda: (l := session_log(livy, s["id"])) and any("Parsed arguments" in x for x in l) and l,
                         timeout=30, what="spark-submit's echo in /log")
        text = "\n".join(log)
        assert "spark.executor.memory=1g" in text, text
        assert SECRET not in text, text
        # The server's log goes through a writer thread: wait for the line, then look.
        livy.wait_for_log("running spark-submit")
        assert SECRET not in livy.log_text()
    finally:
        stop_server(livy)
