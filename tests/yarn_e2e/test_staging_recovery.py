"""A session's staging directory on YARN survives a server restart (recovery on): the restarted
server knows the directory from the session's record, later uploads go to it, and it is deleted
when the session ends — nothing is left in the cluster file system. Real PySpark in cluster mode
through the shim, the WebHDFS of the emulator, a filesystem state store, kill -9 of the server.
"""
from __future__ import annotations

import signal

from conftest import SHIM_HOME, Emulator, LivyServer, stop_emulator, wait_until, yarn_conf, yarn_env
from test_uploads import MODULE, SPARK_TIMEOUT, STAGING, multipart, python_job, staged


def idle_on_yarn(livy, sid):
    def idle():
        s = livy.call("GET", f"/sessions/{sid}")[1]
        assert s["state"] not in ("dead", "error", "killed"), (s, livy.log_text()[-3000:])
        return s if s["state"] == "idle" and str(s.get("appId")).startswith("application_") else None

    return wait_until(idle, SPARK_TIMEOUT, f"session {sid} idle", interval=0.5)


def test_the_staging_directory_is_kept_across_a_restart_and_deleted_with_the_session(
        tmp_path, real_spark):
    local = tmp_path / "local"
    local.mkdir()
    emu = Emulator(state_dir=tmp_path / "emu").start()
    conf = yarn_conf(local, **{
        "livy.session.staging-dir": STAGING,
        "livy.server.recovery.mode": "recovery",
        "livy.server.recovery.state-store": "filesystem",
        "livy.server.recovery.state-store.url": f"file://{tmp_path / 'store'}",
        "livy.rsc.server.idle-timeout": "120s",
    })
    livy = LivyServer(conf, env=yarn_env(emu, SHIM_HOME, real_spark), root=tmp_path / "server")
    try:
        livy.start()
        st, view, _ = livy.call("POST", "/sessions", {"kind": "pyspark"},
                                headers={"X-Requested-By": "livy"})
        assert st == 201, view
        sid = view["id"]
        app_id = idle_on_yarn(livy, sid)["appId"]
        st, body, _ = multipart(livy, sid, "upload-file", "file", "data.txt", b"staged text\n")
        assert st == 200, body
        before = staged(emu)
        assert len(before) == 1 and list(before.values())[0] == {"data.txt": 12}, before

        livy.proc.send_signal(signal.SIGKILL)
        livy.proc.wait(timeout=10)
        livy._forget()
        livy.start()
        assert idle_on_yarn(livy, sid)["appId"] == app_id

        # The restarted server stages into the same directory...
        st, body, _ = multipart(livy, sid, "upload-pyfile", "file", "staged_mod.py", MODULE.encode())
        assert st == 200, body
        after = staged(emu)
        assert list(after) == list(before), (before, after)
        assert list(after.values())[0] == {"data.txt": 12, "staged_mod.py": len(MODULE)}, after

        def reads(ctx):
            from pyspark import SparkFiles
            import staged_mod

            with open(SparkFiles.get("data.txt")) as f:
                return staged_mod.VALUE, f.read()

        assert python_job(livy, sid, reads) == ("from the staged pyfile", "staged text\n")

        # ... and deletes it when the session ends.
        st, body, _ = livy.call("DELETE", f"/sessions/{sid}", headers={"X-Requested-By": "livy"})
        assert st == 200, body
        wait_until(lambda: staged(emu) == {}, 60, "the staging directory deleted", interval=0.3)
    finally:
        if livy.running:
            livy.stop()
        livy.cleanup()
        stop_emulator(emu)
