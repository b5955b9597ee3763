"""The warm pool in the web UI (real Chromium, real Spark): a server with a pool profile shows a
Warm Pool table, per profile, that follows the pool live (ready, then in use once a session takes
the driver, refilling meanwhile); a server without a pool shows no such table."""

from __future__ import annotations

import pytest
import requests
from selenium.webdriver.common.by import By

from pyharness.livy_server import LivyServer, serving
from pyharness.wait import wait_until

from test_ui import open_page, text_of

SPARK_START = 300


@pytest.fixture(scope="module")
def pooled_livy(livy_bin, spark_home, light_spark_conf, tmp_path_factory):
    work_dir = tmp_path_factory.mktemp("ui-pool-work")
    conf = {
        "livy.spark.master": "local[1]",
        "livy.file.local-dir-whitelist": str(work_dir),
        "livy.rsc.launcher.address": "127.0.0.1",
        "livy.rsc.launcher.port.range": "0~0",
        "livy.server.session.pool.profile.notebooks.size": 1,
        "livy.server.session.pool.profile.notebooks.kind": "pyspark",
    }
    yield from serving(LivyServer(conf, binary=livy_bin, env={"SPARK_CONF_DIR": str(light_spark_conf)},
                                  name="livy-ui-pool"))


def cell(driver, col):
    return text_of(driver, f'#pool-table tr[data-id="notebooks"] td[data-col="{col}"]')


def counts(driver):
    try:
        return {c: cell(driver, c) for c in ("profile", "kind", "size", "ready", "inUse", "refilling")}
    except Exception:  # the row is not drawn yet
        return None


def test_the_pool_table_follows_the_pool_live(pooled_livy, browsers, screenshot):
    driver = browsers("alice")
    open_page(driver, pooled_livy.url + "/ui/")
    wait_until(lambda: (c := counts(driver)) and c["ready"] == "1", SPARK_START,
               "the UI to show the pooled driver ready", interval=0.5)
    assert counts(driver) == {"profile": "notebooks", "kind": "pyspark", "size": "1", "ready": "1",
                              "inUse": "0", "refilling": "0"}
    screenshot(driver, "ready")
    r = requests.post(pooled_livy.url + "/sessions", json={"kind": "pyspark"}, timeout=60)
    assert r.status_code == 201, r.text
    # Taken: in use, and the pool refills in the background; the page was not reloaded.
    wait_until(lambda: (c := counts(driver)) and c["inUse"] == "1" and c["ready"] == "0"
               and c["refilling"] == "1", 60, "the UI to show the driver in use and a refill",
               interval=0.2)
    assert driver.execute_script("return window.__sameDocument === true"), "the page was reloaded"
    screenshot(driver, "in-use")
    requests.delete(f"{pooled_livy.url}/sessions/{r.json()['id']}", timeout=60)


def test_without_a_pool_there_is_no_pool_table(proxy, browsers):
    driver = browsers("alice")
    open_page(driver, proxy + "/ui/")
    wait_until(lambda: driver.find_elements(By.CSS_SELECTOR, "#sessions-table tbody tr"), 30, "the sessions table")
    table = driver.find_element(By.ID, "pool-table")
    assert not table.is_displayed()
