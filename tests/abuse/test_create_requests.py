"""Create requests a hostile user sends to get past Livy's rules (issue 9 items 1 and 2): conf keys
that spark-submit would split or read differently than the blacklist and whitelist checks did,
values that are not what their field says, file lists with a comma inside, symlinks and `..` out
of the whitelisted directory, `local:` URIs in local mode. Each must be a 400 in Livy's shape
naming what is wrong, with nothing created and spark-submit never run; then the server still
serves. A valid request through the same server is accepted (so the refusals are not a server
that refuses everything)."""

from __future__ import annotations

from typing import Callable, Dict, List, NamedTuple, Optional

import pytest

from abuse_helpers import assert_msg, assert_serves
from conftest import Layout
from pyharness.wait import wait_until


class Case(NamedTuple):
    id: str
    #: Fields of the create request, from the layout's paths.
    fields: Callable[[Layout], Dict[str, object]]
    #: Text the answer must contain (the field, key or path it is about), from the layout.
    names: Callable[[Layout], Optional[str]]
    #: Sessions take no `file`/`className`/`args`; those cases run on /batches only.
    batches_only: bool = False


def conf(key: str, value: str = "x") -> Callable[[Layout], Dict[str, object]]:
    return lambda L: {"conf": {key: value}}


def fixed(text: Optional[str]) -> Callable[[Layout], Optional[str]]:
    return lambda L: text


CASES: List[Case] = [
    # Keys spark-submit splits at the first '=' (`--conf k=v`): the blacklist saw another key.
    Case("key-with-equals-java-options", conf("spark.driver.extraJavaOptions=-Dx=1 -Dy", "z"),
         fixed("spark.driver.extraJavaOptions")),
    Case("key-with-equals-ships-a-keytab",
         lambda L: {"conf": {f"spark.files=file://{L.secret}#k": "x"}}, fixed("spark.files")),
    Case("key-leading-space", conf(" spark.master", "yarn"), fixed("spark.master")),
    Case("key-trailing-space", conf("spark.master ", "yarn"), fixed("spark.master")),
    Case("key-with-tab", conf("spark.master\t", "yarn"), fixed("spark.master")),
    Case("key-with-crlf", conf("spark.app.name\r\nspark.master", "yarn"), fixed("spark.app.name")),
    Case("key-with-nul", conf("spark.master\u0000", "yarn"), fixed("spark.master")),
    Case("key-empty", conf("", "x"), fixed('""')),
    Case("value-with-newline", conf("spark.app.name", "a\nspark.master=yarn"), fixed("spark.app.name")),
    Case("value-with-nul", conf("spark.app.name", "a\u0000b"), fixed("spark.app.name")),
    # Fields that are not what they say: each would only fail inside spark-submit.
    Case("memory-not-a-size", lambda L: {"driverMemory": "abc"}, fixed("driverMemory")),
    Case("memory-negative", lambda L: {"executorMemory": "-1g"}, fixed("executorMemory")),
    Case("memory-overflows", lambda L: {"executorMemory": "99999999999999t"}, fixed("executorMemory")),
    Case("memory-smuggles-an-option", lambda L: {"driverMemory": "1g --conf x=y"}, fixed("driverMemory")),
    Case("conf-memory-not-a-size", conf("spark.executor.memory", "lots"), fixed("spark.executor.memory")),
    Case("executors-negative", lambda L: {"numExecutors": -1}, fixed("numExecutors")),
    Case("driver-cores-negative", lambda L: {"driverCores": -2}, fixed("driverCores")),
    Case("executor-cores-negative", lambda L: {"executorCores": -1}, fixed("executorCores")),
    Case("conf-executor-instances-huge", conf("spark.executor.instances", "99999999999"),
         fixed("spark.executor.instances")),
    Case("class-name-empty", lambda L: {"className": ""}, fixed("className"), batches_only=True),
    Case("queue-empty", lambda L: {"queue": ""}, fixed("queue")),
    Case("name-with-control-char", lambda L: {"name": "job\u0007\u001b[2J"}, fixed("name")),
    # File lists: every element Spark will see is checked, on the real file system.
    Case("jar-list-entry-with-comma", lambda L: {"jars": [f"{L.work}/lib.jar,{L.secret}"]},
         lambda L: L.secret),
    Case("file-symlink-out-of-whitelist", lambda L: {"file": str(L.work / "link.py")},
         fixed("link.py"), batches_only=True),
    Case("pyfile-through-symlinked-dir", lambda L: {"pyFiles": [str(L.work / "outdir" / "secret.txt")]},
         fixed("secret.txt")),
    Case("file-dot-dot", lambda L: {"file": f"{L.work}/../outside/secret.txt"},
         fixed("secret.txt"), batches_only=True),
    Case("file-local-uri", lambda L: {"file": f"local:{L.secret}"}, lambda L: L.secret,
         batches_only=True),
    Case("files-local-uri", lambda L: {"files": [f"local://{L.secret}"]}, lambda L: L.secret),
    Case("conf-spark-jars-comma", lambda L: {"conf": {"spark.jars": f"{L.work}/lib.jar,{L.secret}"}},
         lambda L: L.secret),
    Case("conf-spark-files-uri", lambda L: {"conf": {"spark.files": f"file://{L.secret}#k"}},
         lambda L: L.secret),
    Case("conf-pyfiles-local", lambda L: {"conf": {"spark.submit.pyFiles": f"local:{L.secret}"}},
         lambda L: L.secret),
    Case("conf-archives", lambda L: {"conf": {"spark.archives": f"{L.secret}#x"}}, lambda L: L.secret),
    Case("conf-yarn-dist-files", lambda L: {"conf": {"spark.yarn.dist.files": L.secret}},
         lambda L: L.secret),
    # Sizes the kernel would refuse at exec (E2BIG): once a 201 and a batch dead at launch.
    Case("arg-longer-than-one-argv-string", lambda L: {"args": ["x" * 140_000]}, fixed("args"),
         batches_only=True),
    Case("args-longer-than-a-command-line", lambda L: {"args": ["x" * 100_000] * 12},
         fixed("command line"), batches_only=True),
    Case("conf-value-longer-than-one-argv-string", conf("spark.app.name", "x" * 140_000),
         fixed("spark.app.name")),
    Case("conf-yarn-dist-jars-symlink", lambda L: {"conf": {"spark.yarn.dist.jars": str(L.work / "link.py")}},
         fixed("link.py")),
]

ROUTES = ["/batches", "/sessions"]


def base_request(route: str, layout: Layout) -> Dict[str, object]:
    return {"file": layout.job} if route == "/batches" else {"kind": "pyspark"}


def params() -> list:
    return [pytest.param(route, case, id=f"{route.strip('/')}-{case.id}")
            for route in ROUTES for case in CASES if not (route == "/sessions" and case.batches_only)]


def created(livy, route: str) -> int:
    status, body, _ = livy.call("GET", route)
    assert status == 200, body
    return body["total"]


@pytest.mark.parametrize("route,case", params())
def test_a_bypass_is_refused_with_nothing_created(livy, layout, route, case):
    before, launches = created(livy, route), layout.launches()
    body = base_request(route, layout)
    body.update(case.fields(layout))

    status, answer, _ = livy.call("POST", route, body)

    msg = assert_msg(status, answer, 400)
    expected = case.names(layout)
    if expected is not None:
        assert expected in msg, f"the message should name {expected!r}: {msg!r}"
    assert created(livy, route) == before, "a refused request created something"
    assert layout.launches() == launches, "spark-submit ran for a refused request"
    assert_serves(livy)


@pytest.mark.parametrize("route", ROUTES)
def test_the_same_server_accepts_a_clean_request(livy, layout, route):
    """The control: what the cases above start from is accepted and launched."""
    launches = layout.launches()
    body = base_request(route, layout)
    body.update({"jars": [str(layout.work / "lib.jar")], "driverMemory": "512m", "numExecutors": 1,
                 "conf": {"spark.driver.extraJavaOptions": "-Dx=1"}})
    status, answer, _ = livy.call("POST", route, body)
    assert status == 201, answer
    wait_until(lambda: layout.launches() > launches, timeout=20, what="spark-submit to run")
    status, answer, _ = livy.call("DELETE", f"{route}/{answer['id']}")
    assert status == 200, answer
    assert_serves(livy)
