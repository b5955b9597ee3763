"""The "container" side of the YARN test setup, shared by the spark-submit shim
(tests/yarn/spark_home/bin/spark-submit) and the emulator (tests/yarn/rm_emulator.py): running a
real Spark driver locally as if it were an application's AM container, and reporting its state to
the emulator (ACCEPTED -> RUNNING when the SparkContext is up -> FINISHED/FAILED).

`launch_monitor(rec, spec, cluster)` starts `python yarn_container.py --livy-rs-shim-monitor SPEC`
in its own session (its pid is registered for the emulator's kill hook); `monitor_main` is that
process. A spec is `{"app_id", "rm_addrs", "user", "cluster", "cmd", "env", "cwd", "log_dir",
"files", "accepted_secs", "running_when", "passthrough"}`.

Python 3.11 stdlib only.
"""
import collections
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SHIM_HOME = os.path.join(HERE, "spark_home")
REPO_ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
FINAL = {"FINISHED", "FAILED", "KILLED"}

RUNNING_MARKERS = re.compile(
    r"SparkContext: Submitted application:|Successfully started service 'sparkDriver'|SparkUI: Bound SparkUI|Started SparkUI"
)


UI_URL = re.compile(r"Bound SparkUI to .*?, and started at (https?://\S+)|Successfully started service 'SparkUI' on port (\d+)")


NOISE = re.compile(r"^\d\d/\d\d/\d\d \d\d:\d\d:\d\d (INFO|DEBUG|TRACE) |^\s+at |^\s*\.\.\. \d+ more|^WARNING: Using incubator")


def log(level, cls, msg):
    sys.stderr.write(f"{time.strftime('%y/%m/%d %H:%M:%S')} {level} {cls}: {msg}\n")
    sys.stderr.flush()


def real_spark_home():
    h = os.environ.get("LIVY_RS_REAL_SPARK_HOME")
    if h:
        return h
    cands = sorted(glob.glob(os.path.join(REPO_ROOT, ".venv", "lib", "python3*", "site-packages", "pyspark")))
    for c in cands:
        if os.path.exists(os.path.join(c, "bin", "spark-submit")):
            return c
    die("spark-submit shim: set LIVY_RS_REAL_SPARK_HOME to a real Spark installation (eval \"$(scripts/setup-env --print-env)\" gives one)", 1)


def real_env(real_home):
    env = dict(os.environ)
    env["SPARK_HOME"] = real_home
    if os.path.abspath(env.get("SPARK_CONF_DIR", "/nonexistent")).startswith(SHIM_HOME + os.sep):
        env.pop("SPARK_CONF_DIR")
    return env


class Emu:
    """Talks to the emulator's /emulator/ control API (any RM port serves it)."""

    def __init__(self, addrs):
        self.urls = [(a if a.startswith("http") else "http://" + a).rstrip("/") for a in addrs]

    def call(self, method, path, body=None, retry_secs=60.0):
        deadline = time.time() + retry_secs
        delay = 0.1
        last = None
        while True:
            for base in list(self.urls):
                data = json.dumps(body).encode() if body is not None else None
                req = urllib.request.Request(base + path, data=data, method=method, headers={"Content-Type": "application/json"})
                try:
                    with urllib.request.urlopen(req, timeout=10) as r:
                        return json.loads(r.read() or b"null")
                except urllib.error.HTTPError as e:
                    if e.code in (404, 409, 400):
                        return {"_error": e.code, "_body": e.read().decode("utf-8", "replace")}
                    last = e
                except (urllib.error.URLError, OSError, ValueError) as e:
                    last = e
                if self.urls[0] != base:  # remember what answered last
                    pass
            if time.time() >= deadline:
                raise RuntimeError(f"emulator unreachable at {self.urls}: {last}")
            time.sleep(delay)
            delay = min(delay * 2, 2.0)


def launch_monitor(rec, spec, cluster):
    app_id = spec["app_id"]
    os.makedirs(rec["log_dir"], exist_ok=True)
    spec_path = os.path.join(os.path.dirname(rec["log_dir"]), f"shim-spec-{app_id}.json")
    with open(spec_path, "w") as f:
        json.dump(spec, f)
    monitor_log = open(os.path.join(os.path.dirname(rec["log_dir"]), f"shim-monitor-{app_id}.log"), "ab")
    proc = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), "--livy-rs-shim-monitor", spec_path],
        stdin=subprocess.DEVNULL,
        stdout=None if not cluster else monitor_log,
        stderr=None if not cluster else monitor_log,
        start_new_session=True,
        close_fds=True,
    )
    monitor_log.close()
    return proc


def monitor_main(spec_path):
    with open(spec_path) as f:
        spec = json.load(f)
    emu = Emu(spec["rm_addrs"])
    app_id = spec["app_id"]
    st = {"term": None, "child": None, "running": False}

    def on_term(sig, _frame):
        st["term"] = sig
        c = st["child"]
        if c is not None and c.poll() is None:
            try:
                c.send_signal(sig)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)

    def report(state, **kw):
        body = {"state": state}
        body.update(kw)
        return emu.call("POST", f"/emulator/apps/{app_id}/state", body, retry_secs=120)

    def set_running():
        if not st["running"]:
            st["running"] = True
            report("RUNNING", progress=10.0)

    emu.call("POST", f"/emulator/apps/{app_id}/pid", {"pid": os.getpid()}, retry_secs=15)
    rec = emu.call("GET", f"/emulator/apps/{app_id}", retry_secs=15)
    if rec.get("state") in FINAL:
        return 0
    deadline = time.time() + spec.get("accepted_secs", 0)
    while time.time() < deadline and st["term"] is None:
        time.sleep(0.05)
    if st["term"] is not None:
        report("FAILED", diagnostics=f"Application {app_id} failed 1 times due to AM Container for "
               f"appattempt exited with exitCode: 143\nKilled by signal {st['term']}")
        return 143

    log_dir, cwd = spec["log_dir"], spec["cwd"]
    os.makedirs(log_dir, exist_ok=True)
    os.makedirs(cwd, exist_ok=True)
    if spec["cluster"]:
        # YARN localizes the app's files (primary resource, --files/--py-files/--jars) into the
        # container dir as copies: the driver never reads the submitting host's paths.
        for entry in spec.get("files", []):
            path, _, alias = entry.partition("#")
            if path.startswith("file://"):
                path = path[7:]
            elif path.startswith("file:"):
                path = path[5:]
            copy = os.path.join(cwd, alias or os.path.basename(path))
            if os.path.isfile(path) and not os.path.exists(copy):
                try:
                    shutil.copyfile(path, copy)
                except OSError:
                    pass
    passthrough = spec.get("passthrough")
    out_f = open(os.path.join(log_dir, "stdout"), "ab")
    err_f = open(os.path.join(log_dir, "stderr"), "ab")
    # Last non-INFO lines of the driver's output, for the FAILED diagnostics.  Both streams: a
    # PySpark driver's traceback arrives on stdout (PythonRunner merges the Python stderr into it).
    tail = collections.deque(maxlen=20)
    tail_lock = threading.Lock()

    def keep(raw):
        line = raw.decode("utf-8", "replace").rstrip("\n")
        if line.strip() and not NOISE.match(line):
            with tail_lock:
                tail.append(line)
        return line

    try:
        child = subprocess.Popen(spec["cmd"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, env=spec["env"], cwd=cwd)
    except OSError as e:
        report("FAILED", diagnostics=f"Could not launch the driver: {e}")
        return 127
    st["child"] = child
    if st["term"] is not None:
        child.send_signal(st["term"])
    if spec.get("running_when") == "spawn":
        set_running()

    def pump_stdout():
        for line in iter(child.stdout.readline, b""):
            out_f.write(line)
            out_f.flush()
            keep(line)
            if passthrough:
                sys.stdout.buffer.write(line)
                sys.stdout.flush()

    t = threading.Thread(target=pump_stdout, daemon=True)
    t.start()
    for raw in iter(child.stderr.readline, b""):
        err_f.write(raw)
        err_f.flush()
        if passthrough:
            sys.stderr.buffer.write(raw)
            sys.stderr.flush()
        line = keep(raw)
        if not st["running"] and RUNNING_MARKERS.search(line):
            set_running()
        m = UI_URL.search(line)
        if m and st["running"]:
            report("RUNNING", ui_url=m.group(1) or f"http://127.0.0.1:{m.group(2)}")
    rc = child.wait()
    t.join(5)
    out_f.close()
    err_f.close()
    if st["term"] is not None:
        report("FAILED", diagnostics=f"Application {app_id} failed 1 times due to AM Container exited with exitCode: {rc if rc >= 0 else 128 - rc}\n"
               f"[{time.strftime('%Y-%m-%d %H:%M:%S')}]Container killed on request. Exit code is 143")
        return 143
    if rc == 0:
        set_running()
        report("FINISHED", finalStatus="SUCCEEDED", diagnostics="")
        return 0
    diag = f"User application exited with status {rc}"
    if tail:
        diag += "\n" + "\n".join(tail)
    report("FAILED", finalStatus="FAILED", diagnostics=diag)
    return rc if rc > 0 else 128 - rc


def container_env(real_home, rec, user, am_env=None):
    """The driver's environment: the real Spark's, run as `user`; with `am_env` (cluster mode)
    also what a NodeManager gives an AM container (`CONTAINER_ID`, `LOG_DIRS`, `LOCAL_DIRS`,
    `APPLICATION_WEB_PROXY_BASE`) plus the AM's own variables. `rec` is the emulator's app
    record (`id`, `container_id`, `log_dir`, `work_dir`)."""
    env = real_env(real_home)
    env["HADOOP_USER_NAME"] = user
    env["SPARK_USER"] = user
    if am_env is not None:
        env.update(am_env)
        env["CONTAINER_ID"] = rec["container_id"]
        env["APPLICATION_WEB_PROXY_BASE"] = f"/proxy/{rec['id']}"
        env["LOG_DIRS"] = rec["log_dir"]
        # Spark treats CONTAINER_ID as "inside a YARN container" and then takes its scratch dirs from LOCAL_DIRS.
        env["LOCAL_DIRS"] = os.path.dirname(rec["work_dir"])
        env["USER"] = env["LOGNAME"] = user
    return env


def read_properties(path):
    """A java.util.Properties file (key=value / key: value / key value, # and ! comments,
    backslash escapes and continuation lines)."""
    props = {}
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return props
    text = re.sub(r"\\\n[ \t\f]*", "", text)
    for line in text.splitlines():
        line = line.lstrip()
        if not line or line[0] in "#!":
            continue
        m = re.match(r"((?:\\.|[^\s=:\\])*)\s*[=:\s]?\s*(.*)$", line)
        key, value = m.group(1), m.group(2)

        def unescape(t):
            return re.sub(r"\\(u[0-9a-fA-F]{4}|.)", lambda x: chr(int(x.group(1)[1:], 16)) if x.group(1)[0] == "u" and len(x.group(1)) == 5 else {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}.get(x.group(1), x.group(1)), t)
        props[unescape(key)] = unescape(value)
    return props


def die(msg, code=1):
    sys.stderr.write(msg.rstrip("\n") + "\n")
    sys.stderr.flush()
    sys.exit(code)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--livy-rs-shim-monitor":
        sys.exit(monitor_main(sys.argv[2]))
    die("usage: yarn_container.py --livy-rs-shim-monitor SPEC.json", 2)
