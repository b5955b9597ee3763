"""A large upload on YARN is streamed, not held in memory: a 300 MB file sent to `upload-file` of
a session (fake spark-submit, no Spark: the session stays `starting`, and Livy stages uploads
while a session starts) arrives intact in the session's staging directory through the
emulator's WebHDFS (same SHA-256 read back through WebHDFS OPEN), while the server's peak
resident memory (VmHWM) stays far below the file's size.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import threading
import urllib.parse
import urllib.request
import uuid

import pytest

from conftest import Emulator, LivyServer, stop_emulator, wait_until, yarn_conf, yarn_env
from test_fake_submit import fake_spark_home
from webhdfs_files import hdfs_get

SIZE = 300 * 1024 * 1024
#: The server's peak RSS may not grow by more than this while the file goes through it.
RSS_GROWTH_LIMIT = 64 * 1024 * 1024
STAGING = "/livy/staging"


def make_file(path):
    """A sparse file of SIZE bytes with distinct random blocks spread through it (a checksum
    then tells a shifted, truncated or zero-filled copy apart)."""
    with open(path, "wb") as f:
        f.truncate(SIZE)
        for offset in range(0, SIZE, 7 * 1024 * 1024 + 4093):
            f.seek(offset)
            f.write(os.urandom(64 * 1024))
        f.seek(SIZE - 5)
        f.write(b"<end>")
    return sha256_of(open(path, "rb"))


def sha256_of(stream):
    h = hashlib.sha256()
    n = 0
    while True:
        chunk = stream.read(1024 * 1024)
        if not chunk:
            return h.hexdigest(), n
        h.update(chunk)
        n += len(chunk)


def vm_hwm(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def post_multipart_file(url, path, name):
    """POSTs `path` as the `file` part, streamed from disk (the client holds no copy either)."""
    boundary = uuid.uuid4().hex
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
    conn.putrequest("POST", u.path)
    conn.putheader("X-Requested-By", "livy")
    conn.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
    conn.putheader("Content-Length", str(len(head) + os.path.getsize(path) + len(tail)))
    conn.endheaders()
    conn.send(head)
    with open(path, "rb") as f:
        while chunk := f.read(1024 * 1024):
            conn.send(chunk)
    conn.send(tail)
    resp = conn.getresponse()
    return resp.status, resp.read()


@pytest.fixture()
def env(tmp_path):
    home = fake_spark_home(tmp_path)
    emu = Emulator(state_dir=tmp_path / "emu").start()
    conf = yarn_conf(tmp_path, **{
        "livy.session.staging-dir": STAGING,
        "livy.file.upload.max.size": str(SIZE + 1024 * 1024),
    })
    livy = LivyServer(conf, env=yarn_env(emu, home)).start()
    try:
        yield livy, emu
    finally:
        livy.stop()
        livy.cleanup()
        stop_emulator(emu)


def staged_files(emu):
    listing = hdfs_get(emu, STAGING, op="LISTSTATUS")
    out = {}
    for d in (listing.get("FileStatuses") or {}).get("FileStatus") or []:
        files = hdfs_get(emu, f"{STAGING}/{d['pathSuffix']}", op="LISTSTATUS")["FileStatuses"]["FileStatus"]
        out.update({f"{STAGING}/{d['pathSuffix']}/{f['pathSuffix']}": f["length"] for f in files})
    return out


def test_a_300_mb_upload_arrives_intact_and_the_server_does_not_hold_it(env, tmp_path):
    livy, emu = env
    src = tmp_path / "big.bin"
    digest, _ = make_file(src)
    st, body, _ = livy.call("POST", "/sessions", {"kind": "pyspark"},
                            headers={"X-Requested-By": "livy", "Content-Type": "application/json"})
    assert st == 201, body
    sid = body["id"]
    before = vm_hwm(livy.pid)

    # The upload's answer waits for the driver, which never comes (fake spark-submit): the file
    # is staged first, and that is what this test reads; the answer is not waited for.
    def send():
        try:
            post_multipart_file(f"{livy.url}/sessions/{sid}/upload-file", src, "big.bin")
        except OSError:
            pass  # the server stops with the answer still waiting for the driver

    threading.Thread(target=send, daemon=True).start()
    staged = wait_until(lambda: {p: n for p, n in staged_files(emu).items() if p.endswith("/big.bin")},
                        300, "big.bin staged", interval=0.5)
    (path, length), = staged.items()
    assert length == SIZE, staged
    peak = vm_hwm(livy.pid)

    url = f"{emu.webhdfs_url}/webhdfs/v1{path}?op=OPEN&user.name=hdfs"
    with urllib.request.urlopen(url, timeout=120) as r:
        assert sha256_of(r) == (digest, SIZE)
    print(f"server VmHWM before the upload {before >> 20} MiB, after {peak >> 20} MiB")
    assert peak - before < RSS_GROWTH_LIMIT, (before, peak)
    assert peak < SIZE // 2, peak


def test_deleting_a_starting_session_answers_its_held_upload_at_once(env, tmp_path):
    """On YARN spark-submit is gone once the app is submitted; a delete while the session starts
    still answers the upload that waits for the driver, not the connect timeout (90 s)."""
    livy, emu = env
    src = tmp_path / "small.txt"
    src.write_text("x")
    st, body, _ = livy.call("POST", "/sessions", {"kind": "pyspark"},
                            headers={"X-Requested-By": "livy", "Content-Type": "application/json"})
    assert st == 201, body
    sid = body["id"]
    answer = {}

    def send():
        answer["reply"] = post_multipart_file(f"{livy.url}/sessions/{sid}/upload-file", src, "small.txt")

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    wait_until(lambda: any(p.endswith("/small.txt") for p in staged_files(emu)), 60, "small.txt staged",
               interval=0.5)
    st, body, _ = livy.call("DELETE", f"/sessions/{sid}", headers={"X-Requested-By": "livy"})
    assert st == 200, body
    sender.join(20)
    assert "reply" in answer, "the held upload got no answer within 20 s of the delete"
    status, text = answer["reply"]
    assert status in (400, 404), (status, text)
