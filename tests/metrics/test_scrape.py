"""/metrics under load with real Spark: the scrape is valid for promtool, the counters move as
sessions run statements, and hostile paths do not create series."""

from __future__ import annotations

import uuid

from conftest import SESSIONS, in_threads, promtool_check, samples, scrape, value
from session_helpers import post_statement, wait_statement

STATEMENTS_PER_SESSION = 3


def test_scrape_under_load_is_valid_and_counters_move(spark_livy, promtool):
    livy, ids = spark_livy
    before = scrape(livy)
    promtool_check(promtool, before)

    def statements(sid):
        def run():
            done = []
            for i in range(STATEMENTS_PER_SESSION):
                # The last one fails, so both outcomes are counted.
                code = f"sum(range({i + 1} * 1000))" if i < STATEMENTS_PER_SESSION - 1 else "1/0"
                st = post_statement(livy, sid, code)
                done.append(wait_statement(livy, sid, st["id"], timeout=180))
            return done
        return run

    def readers():
        for _ in range(40):
            status, _, _ = livy.call("GET", "/sessions")
            assert status == 200
        return None

    def scrapes():
        texts = []
        for _ in range(5):
            texts.append(scrape(livy))
        return texts

    results = in_threads([statements(sid) for sid in ids] + [readers, readers, scrapes])
    for text in results[-1]:
        promtool_check(promtool, text)
    after = scrape(livy)
    promtool_check(promtool, after)

    n = SESSIONS * STATEMENTS_PER_SESSION
    assert value(after, "livy_statements_started_total") - value(before, "livy_statements_started_total") == n
    finished = lambda text, outcome: value(text, "livy_statements_finished_total", outcome=outcome)  # noqa: E731
    assert finished(after, "ok") - finished(before, "ok") == n - SESSIONS
    assert finished(after, "error") - finished(before, "error") == SESSIONS
    assert (value(after, "livy_statement_duration_seconds_count")
            - value(before, "livy_statement_duration_seconds_count")) == n
    # HTTP requests by route template and status: the POSTs of the statements above.
    posts = lambda text: value(text, "livy_http_requests_total", method="POST",  # noqa: E731
                               route="/sessions/{id}/statements", status="201")
    assert posts(after) - posts(before) == n
    gets = lambda text: value(text, "livy_http_requests_total", method="GET", route="/sessions",  # noqa: E731
                              status="200")
    assert gets(after) - gets(before) >= 80
    # Both sessions started once each (POST -> idle), and are idle with a driver connected.
    assert value(after, "livy_session_start_duration_seconds_count") == SESSIONS
    assert value(after, "livy_session_start_duration_seconds_sum") > 1.0
    assert value(after, "livy_sessions", state="idle") == SESSIONS
    assert value(after, "livy_driver_connections") == SESSIONS
    assert value(after, "livy_driver_handshakes_total", outcome="accepted") == SESSIONS
    assert value(after, "process_resident_memory_bytes") > 1e6
    assert value(after, "process_open_fds") > 3


def test_hostile_paths_do_not_add_series(spark_livy):
    livy, _ = spark_livy
    before = samples(scrape(livy))
    junk = [uuid.uuid4().hex for _ in range(1000)]
    for j in junk:
        status, _, _ = livy.call("GET", f"/sessions/{j}")
        assert status == 404
    for j in junk[:100]:
        status, _, _ = livy.call("GET", f"/no/such/{j}")
        assert status == 404
    text = scrape(livy)
    after = samples(text)
    assert len(after) - len(before) < 40, sorted(set(after) - set(before))
    assert not any(j in text for j in junk)
    assert value(text, "livy_http_requests_total", route="/sessions/{id}", status="404") >= 1000
    assert value(text, "livy_http_requests_total", route="unmatched", status="404") >= 100
