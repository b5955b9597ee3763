"""The web UI in a real headless Chromium, against livy-rs with real Spark, LDAP users and access
control, reached through a reverse proxy under `livy.ui.basePath` (see conftest.py)."""

from __future__ import annotations

import requests
from requests.auth import HTTPBasicAuth
import pytest
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.common.by import By

from pyharness.wait import wait_until

from conftest import BASE_PATH, USERS

ALICE = HTTPBasicAuth("alice", USERS["alice"])
XSS_NAME = '<script>alert("name")</script><img src=x onerror=alert(1)>'
XSS_CODE = 'print("<img src=x onerror=alert(2)><b>bold?</b>")'
SPARK_START = 240


def rest(livy, method, path, auth=ALICE, **kw):
    r = requests.request(method, livy.url + path, auth=auth, timeout=90, **kw)
    assert r.status_code < 300, f"{method} {path}: {r.status_code} {r.text}"
    return r.json()


def run(livy, session_id, code, kind=None):
    body = {"code": code}
    if kind:
        body["kind"] = kind
    st = rest(livy, "POST", f"/sessions/{session_id}/statements", json=body)
    done = wait_until(
        lambda: (s := rest(livy, "GET", f"/sessions/{session_id}/statements/{st['id']}?wait=20"))["state"]
        in ("available", "error", "cancelled") and s,
        timeout=180, what=f"statement {code!r}")
    return done


@pytest.fixture(scope="module")
def session(livy):
    """alice's pyspark session (named with an XSS payload) and its statements: text, SQL, a
    matplotlib picture, an error, and code carrying markup."""
    s = rest(livy, "POST", "/sessions", json={"kind": "pyspark", "name": XSS_NAME})
    wait_until(lambda: rest(livy, "GET", f"/sessions/{s['id']}")["state"] == "idle", timeout=SPARK_START,
               what="the session to be idle")
    outputs = {
        "text": run(livy, s["id"], 'print("hello from the ui test")'),
        "sql": run(livy, s["id"], "SELECT 1 AS one, 'x<y>' AS letter", kind="sql"),
        "plot": run(livy, s["id"], "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\n"
                                   "plt.plot([1, 2, 3], [1, 4, 9])"),
        "matplot": run(livy, s["id"], "%matplot plt"),
        "error": run(livy, s["id"], "1/0"),
        "xss": run(livy, s["id"], XSS_CODE),
    }
    assert "image/png" in outputs["matplot"]["output"]["data"], outputs["matplot"]
    return s["id"], outputs


@pytest.fixture(scope="module")
def batch(livy, work_dir):
    """alice's batch that writes a line a second for ~12 seconds."""
    script = work_dir / "ticks.py"
    script.write_text(
        "import time\n"
        "print('markup <i>raw</i>', flush=True)\n"
        "for i in range(12):\n"
        "    print(f'tick {i}', flush=True)\n"
        "    time.sleep(1)\n"
    )
    return rest(livy, "POST", "/batches", json={"file": str(script), "name": "ticking-batch"})["id"]


def open_page(driver, url):
    driver.get(url)
    driver.execute_script("window.__sameDocument = true")


def text_of(driver, css):
    """The text a user sees in the element (innerText: rendered, not markup)."""
    return driver.execute_script("return arguments[0].innerText", driver.find_element(By.CSS_SELECTOR, css))


def wait_text(driver, css, needle, timeout=30):
    return wait_until(lambda: needle in text_of(driver, css), timeout=timeout,
                      what=f"{needle!r} in {css}", ignore=(Exception,))


def no_alert(driver):
    try:
        alert = driver.switch_to.alert
    except NoAlertPresentException:
        return
    text = alert.text
    alert.dismiss()
    raise AssertionError(f"a script from the data ran: alert({text!r})")


def csp_violations(driver):
    return [e["message"] for e in driver.get_log("browser") if "Content Security Policy" in e["message"]]


def test_root_redirects_to_the_ui_under_the_base_path(proxy, livy, browsers, screenshot):
    driver = browsers("alice")
    driver.get(proxy + "/")
    wait_until(lambda: driver.current_url.endswith(BASE_PATH + "/ui/"), timeout=10,
               what=f"redirect to {BASE_PATH}/ui/ (at {driver.current_url})")
    wait_until(lambda: driver.find_elements(By.CSS_SELECTOR, "#sessions-table tbody tr"), timeout=20,
               what="the sessions table")
    screenshot(driver, "lists")
    assert csp_violations(driver) == []


def test_lists_show_sessions_and_batches_live_with_filter_and_sort(proxy, livy, work_dir, session, batch,
                                                                  browsers, screenshot):
    session_id, _ = session
    driver = browsers("alice")
    open_page(driver, proxy + "/ui/")
    row = f'#sessions-table tr[data-id="{session_id}"]'
    wait_text(driver, row, XSS_NAME)
    assert text_of(driver, row + ' td[data-col="owner"]') == "alice"
    assert text_of(driver, row + ' td[data-col="kind"]') == "pyspark"
    assert text_of(driver, row + ' td[data-col="state"]') == "idle"
    assert "ago" in text_of(driver, row + ' td[data-col="createdAt"]')
    link = driver.find_element(By.CSS_SELECTOR, row + ' td[data-col="id"] a').get_attribute("href")
    assert link == f"{proxy}/ui/session/{session_id}"
    logs = driver.find_element(By.CSS_SELECTOR, row + ' td[data-col="logs"] a').get_attribute("href")
    assert logs == f"{proxy}/ui/session/{session_id}/log"
    wait_text(driver, f'#batches-table tr[data-id="{batch}"]', "ticking-batch")

    # A batch submitted while the page is open shows up without a reload.
    new = rest(livy, "POST", "/batches", json={"file": str(work_dir / "ticks.py"), "name": "late-batch"})["id"]
    wait_text(driver, f'#batches-table tr[data-id="{new}"]', "late-batch", timeout=40)
    assert driver.execute_script("return window.__sameDocument === true"), "the page was reloaded"

    # The filter narrows both tables; sorting by id flips the order.
    box = driver.find_element(By.ID, "filter")
    box.send_keys("late-")
    wait_until(lambda: [r.get_attribute("data-id") for r in
                        driver.find_elements(By.CSS_SELECTOR, "#batches-table tbody tr[data-id]")] == [str(new)],
               timeout=10, what="only the late batch listed")
    assert driver.find_elements(By.CSS_SELECTOR, "#sessions-table tbody tr[data-id]") == []
    screenshot(driver, "filtered")
    box.clear()
    box.send_keys(" ")  # an input event with an empty filter
    ids = lambda: [int(r.get_attribute("data-id")) for r in  # noqa: E731
                   driver.find_elements(By.CSS_SELECTOR, "#batches-table tbody tr[data-id]")]
    wait_until(lambda: len(ids()) >= 2, timeout=10, what="both batches listed again")
    assert ids() == sorted(ids(), reverse=True), "newest first by default"
    driver.find_element(By.CSS_SELECTOR, '#batches-table button[data-key="id"]').click()
    assert ids() == sorted(ids()), "ascending after a click"
    no_alert(driver)
    assert csp_violations(driver) == []


def test_session_page_renders_text_sql_table_picture_and_error(proxy, session, browsers, screenshot):
    session_id, outputs = session
    driver = browsers("alice")
    open_page(driver, f"{proxy}/ui/session/{session_id}")
    rows = "#statements > tbody > tr"
    wait_until(lambda: len(driver.find_elements(By.CSS_SELECTOR, rows)) == len(outputs), timeout=30,
               what="all statements listed", ignore=(Exception,))

    def cell(statement, col):
        return driver.find_element(By.CSS_SELECTOR, f'{rows}[data-id="{statement["id"]}"] td[data-col="{col}"]')

    text = outputs["text"]
    assert cell(text, "code").text == 'print("hello from the ui test")'
    assert cell(text, "output").text == "hello from the ui test"
    assert cell(text, "state").text == "available"
    progress = cell(text, "progress").find_element(By.TAG_NAME, "progress")
    assert progress.get_attribute("value") == "1"
    assert cell(text, "duration").text.endswith(("ms", "s")), cell(text, "duration").text

    table = cell(outputs["sql"], "output").find_element(By.CSS_SELECTOR, "table.result")
    assert [th.text for th in table.find_elements(By.TAG_NAME, "th")] == ["one", "letter"]
    assert [td.text for td in table.find_elements(By.CSS_SELECTOR, "tbody td")] == ["1", "x<y>"]

    img = cell(outputs["matplot"], "output").find_element(By.CSS_SELECTOR, "img.out-image")
    assert img.get_attribute("src").startswith("data:image/png;base64,")
    wait_until(lambda: driver.execute_script("return arguments[0].complete && arguments[0].naturalWidth", img) > 100,
               timeout=10, what="the matplotlib picture decoded")

    error = cell(outputs["error"], "output")
    assert "ZeroDivisionError" in error.find_element(By.CSS_SELECTOR, ".ename").text
    assert "division by zero" in error.find_element(By.CSS_SELECTOR, ".evalue").text
    assert "Traceback" in error.find_element(By.CSS_SELECTOR, "pre.out-traceback").text or \
        "1/0" in error.find_element(By.CSS_SELECTOR, "pre.out-traceback").text

    summary = text_of(driver, "#session-summary")
    assert "alice" in summary and XSS_NAME in summary
    screenshot(driver, "session")
    no_alert(driver)
    assert csp_violations(driver) == []


def test_markup_in_names_and_code_is_shown_as_text(proxy, session, browsers):
    session_id, outputs = session
    driver = browsers("alice")
    open_page(driver, f"{proxy}/ui/session/{session_id}")
    xss = outputs["xss"]
    code = f'#statements > tbody > tr[data-id="{xss["id"]}"] td[data-col="code"]'
    wait_text(driver, code, XSS_CODE)
    out = f'#statements > tbody > tr[data-id="{xss["id"]}"] td[data-col="output"]'
    assert text_of(driver, out) == "<img src=x onerror=alert(2)><b>bold?</b>"
    assert XSS_NAME in text_of(driver, "#session-summary")
    # Nothing from the data became an element.
    assert driver.find_elements(By.CSS_SELECTOR, 'main img[src="x"], main b, main script') == []
    no_alert(driver)
    open_page(driver, proxy + "/ui/")
    wait_text(driver, f'#sessions-table tr[data-id="{session_id}"]', XSS_NAME)
    assert driver.find_elements(By.CSS_SELECTOR, 'main img[src="x"], main script') == []
    no_alert(driver)


def test_log_pages_split_streams_and_follow_new_lines(proxy, livy, session, batch, browsers, screenshot):
    driver = browsers("alice")
    open_page(driver, f"{proxy}/ui/batch/{batch}/log")
    wait_text(driver, "#log-stdout", "tick 1", timeout=120)
    # Spark's PythonRunner merges the script's stderr into its stdout; spark-submit's own
    # messages (log4j) are the process's stderr.
    assert "markup <i>raw</i>" in text_of(driver, "#log-stdout")
    wait_text(driver, "#log-stderr", "log4j", timeout=30)
    assert "tick" not in text_of(driver, "#log-stderr")
    assert "log4j" not in text_of(driver, "#log-stdout")
    # New lines arrive in the same document.
    wait_text(driver, "#log-stdout", "tick 11", timeout=120)
    assert driver.execute_script("return window.__sameDocument === true"), "the page was reloaded"
    screenshot(driver, "batch-log")

    session_id, _ = session
    open_page(driver, f"{proxy}/ui/session/{session_id}/log")
    wait_until(lambda: text_of(driver, "#log-stderr") != "", timeout=30, what="the session's stderr",
               ignore=(Exception,))
    crumbs = driver.find_element(By.ID, "crumbs").find_elements(By.TAG_NAME, "a")
    assert crumbs[-1].get_attribute("href") == f"{proxy}/ui/session/{session_id}"
    screenshot(driver, "session-log")
    assert csp_violations(driver) == []


def test_a_user_without_view_rights_sees_nothing_of_anothers_session(proxy, session, batch, browsers,
                                                                    screenshot):
    session_id, outputs = session
    driver = browsers("bob")
    open_page(driver, proxy + "/ui/")
    wait_text(driver, "#sessions-table", "No interactive sessions.")
    wait_text(driver, "#batches-table", "No batches.")
    assert "alice" not in text_of(driver, "main")

    for path in (f"/ui/session/{session_id}", f"/ui/session/{session_id}/log", f"/ui/batch/{batch}/log"):
        open_page(driver, proxy + path)
        wait_text(driver, "#error", "does not have access")
        page = text_of(driver, "main")
        for secret in ("hello from the ui test", XSS_NAME, "tick", "alice"):
            assert secret not in page, f"{path} shows {secret!r}: {page}"
        screenshot(driver, path.strip("/").replace("/", "-"))
