"""Fixtures for the web UI suite: one livy-rs with LDAP Basic authentication (a real slapd) and
access control, `livy.ui.basePath=/gateway/livy`, reached only through a small reverse proxy that
serves it under that path and strips it (as Livy expects of a proxy); real Spark (local[1]); and
a headless Chromium (Debian's chromium + chromium-driver, driven by Selenium) per user, which sends
that user's Basic credentials on every request, the page's own fetches included.

Screenshots go to tests/ui/artifacts/ (ignored by git), one per check, named after the test.

Environment: LIVY_RS_BIN, SPARK_HOME as for the other suites; chromium, chromium-driver and
selenium come from scripts/setup-env --ui, slapd from --security.
"""

from __future__ import annotations

import base64
import http.client
import shutil
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pyharness.fixtures import light_spark_conf, livy_bin, spark_home  # noqa: E402,F401  (fixtures)
from pyharness.livy_server import LivyServer, serving  # noqa: E402
from pyharness.slapd import Slapd  # noqa: E402

USERS = {"alice": "alice-pw", "bob": "bob-pw"}
BASE_PATH = "/gateway/livy"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


@pytest.fixture(scope="session")
def slapd():
    with Slapd(users=USERS) as server:
        yield server


@pytest.fixture(scope="session")
def work_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("ui-work")


@pytest.fixture(scope="session")
def livy(livy_bin, spark_home, slapd, work_dir, tmp_path_factory, light_spark_conf):
    spark_conf = light_spark_conf
    conf = {
        "livy.spark.master": "local[1]",
        "livy.server.auth.type": "ldap",
        "livy.server.auth.ldap.url": slapd.url,
        "livy.server.auth.ldap.base-dn": slapd.base_dn,
        "livy.server.access-control.enabled": "true",
        "livy.server.access-control.allowed-users": "alice,bob",
        "livy.ui.basePath": BASE_PATH,
        "livy.file.local-dir-whitelist": str(work_dir),
    }
    yield from serving(LivyServer(conf, binary=livy_bin, env={"SPARK_CONF_DIR": str(spark_conf)}, name="livy-ui"))


class _Proxy(BaseHTTPRequestHandler):
    """Forwards `BASE_PATH/...` to the server with the prefix removed; anything else is 404."""

    upstream: tuple = ("127.0.0.1", 0)

    def do_GET(self):  # noqa: N802 (http.server's naming)
        if not (self.path == BASE_PATH or self.path.startswith(BASE_PATH + "/")):
            self.send_error(404, "not behind the proxy's path")
            return
        conn = http.client.HTTPConnection(*self.upstream, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "keep-alive")}
        conn.request("GET", self.path[len(BASE_PATH):] or "/", headers=headers)
        answer = conn.getresponse()
        body = answer.read()
        self.send_response(answer.status)
        for name, value in answer.getheaders():
            if name.lower() not in ("connection", "transfer-encoding", "content-length", "keep-alive"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        conn.close()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="session")
def proxy(livy):
    host, port = livy.url.split("//")[1].split(":")
    handler = type("Proxy", (_Proxy,), {"upstream": (host, int(port))})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}{BASE_PATH}"
    server.shutdown()
    server.server_close()


def basic(user: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{USERS[user]}".encode()).decode()


@pytest.fixture(scope="session")
def browsers():
    """`browsers(user)`: a headless Chromium sending `user`'s credentials; all quit at the end."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and chromedriver):
        pytest.fail("chromium/chromedriver missing: run scripts/setup-env --ui", pytrace=False)
    made = {}

    def get(user: str):
        if user in made:
            return made[user]
        options = webdriver.ChromeOptions()
        options.binary_location = chromium
        for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                    "--window-size=1400,1000"):
            options.add_argument(arg)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        driver = webdriver.Chrome(service=Service(chromedriver), options=options)
        driver.execute_cdp_cmd("Network.enable", {})
        driver.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {"Authorization": basic(user)}})
        made[user] = driver
        return driver

    yield get
    for driver in made.values():
        driver.quit()


@pytest.fixture
def screenshot(request):
    """`screenshot(driver, label)` saves a PNG under tests/ui/artifacts/."""
    ARTIFACTS.mkdir(exist_ok=True)

    def take(driver, label: str) -> Path:
        path = ARTIFACTS / f"{request.node.name}-{label}.png"
        driver.save_screenshot(str(path))
        return path

    return take
