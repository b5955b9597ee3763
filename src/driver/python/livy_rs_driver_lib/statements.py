"""The Driver's statements: they run one at a time in the worker (the main thread), with
progress reports and cancels from the monitor thread, and code completion."""

import signal
import threading
import time
import traceback

from .cancel import clear_async_exc, post_async_exc
from .output import Err, livy_output
from .process import log, now_ms

# livy-rs has no SparkR interpreter (Spark 4 deprecates SparkR; the pyspark wheel does not ship
# it): the server refuses sparkr sessions, and this is what a driver says if asked anyway.
SPARKR_UNSUPPORTED = ("SparkR is not supported by livy-rs: Apache Spark 4 deprecates SparkR and "
                      "pip-installed Spark does not ship it")


def unix_eol(code):
    """Line endings as Livy's ReplDriver passes code on (EOLUtils.convertToSystemEOL)."""
    if "\r\n" in code:
        return code.replace("\r\n", "\n")
    if "\n" not in code and "\r" in code:
        return code.replace("\r", "\n")
    return code


class _Running(object):
    def __init__(self, sid, kind):
        self.id = sid
        self.kind = kind
        self.thread_id = threading.get_ident()
        self.in_user_code = False
        self.cancel_requested = False
        self.next_cancel_at = 0.0
        self.last_progress = None
        self.next_progress_at = 0.0


class StatementsMixin(object):
    """Statements and completion, a part of the Driver (driver.py holds its state)."""

    def worker(self):
        self.ready.wait()
        while not self.stop.is_set():
            msg = self.statements.get()
            if msg is None or self.stop.is_set():
                break
            try:
                self.run_statement(msg)
            except Exception as e:  # a bug of ours: still answer, so the session is not stuck
                log("statement %s failed internally: %s" % (msg.get("id"), traceback.format_exc()))
                with self.result_lock:
                    self.send({"type": "result", "id": msg["id"], "completed": now_ms(),
                               "output": livy_output(msg["id"], Err(
                                   "Internal Error: %s" % type(e).__name__, str(e), []))})

    def run_statement(self, msg):
        sid = msg["id"]
        kind = msg.get("kind") or (self.kind if self.kind != "shared" else None)
        code = unix_eol(msg.get("code", ""))
        state = _Running(sid, kind)
        with self.state_lock:
            self.queued_ids.discard(sid)
            if sid in self.cancelled_before_start:
                # Cancelled while it waited for the worker: its code never runs.
                self.cancelled_before_start.discard(sid)
                cancelled = True
            else:
                cancelled = False
                self.running = state
        self.send({"type": "started", "id": sid, "at": now_ms()})
        if cancelled:
            log("statement %s was cancelled before it started" % sid)
            with self.result_lock:
                self.send_result(sid, livy_output(sid, Err("KeyboardInterrupt", "", [])))
            return
        self.wake_monitor.set()
        res = None
        try:
            try:
                self.sc.setJobGroup(str(sid), "Job group for statement %d" % sid)
                if kind == "pyspark":
                    with self.state_lock:
                        state.in_user_code = True
                    try:
                        res = self.python.execute(code)
                    finally:
                        with self.state_lock:
                            state.in_user_code = False
                            if state.cancel_requested:
                                clear_async_exc(state.thread_id)
                elif kind == "spark":
                    interp, cancelled = self.scala_for(state)
                    if cancelled:
                        log("statement %s was cancelled before its code ran" % sid)
                        res = Err("KeyboardInterrupt", "", [])
                    elif interp is None:
                        res = Err("InterpreterError", "Fail to start interpreter",
                                  [self.scala_error or ""])
                    else:
                        try:
                            res = interp.execute(code)
                        finally:
                            with self.state_lock:
                                state.in_user_code = False
                elif kind == "sql":
                    res = self.sql.execute(code)
                elif kind == "sparkr":
                    res = Err("InterpreterError", "Fail to start interpreter",
                              [SPARKR_UNSUPPORTED])
                elif kind is None:
                    res = Err("Error", "Code type should be specified if session kind is shared", [])
                else:
                    res = Err("Error", "unknown statement kind %r" % kind, [])
            except KeyboardInterrupt:
                # A cancel landed between the user's code and our bookkeeping.
                res = Err("KeyboardInterrupt", "", [])
        except BaseException as e:  # noqa: B036 - the statement must always get a result
            if isinstance(e, KeyboardInterrupt):
                res = Err("KeyboardInterrupt", "", [])
            else:
                res = Err("Internal Error: %s" % type(e).__name__, str(e), [])
        finally:
            with self.result_lock:
                with self.state_lock:
                    self.running = None
                    if state.cancel_requested and kind == "pyspark":
                        clear_async_exc(state.thread_id)
        with self.result_lock:
            self.send_result(sid, livy_output(sid, res))

    def scala_for(self, state):
        """(the Scala interpreter, whether `state` was cancelled first): the first statements
        wait for the interpreter's start (seconds, tens on a busy machine), and a cancel must not
        wait for it -- nor interrupt it (`in_user_code` is not set yet)."""
        while not self.scala_lock.acquire(timeout=0.05):
            if state.cancel_requested:
                return None, True
        self.scala_lock.release()
        interp = self.scala_interpreter()
        with self.state_lock:
            if state.cancel_requested:
                return None, True
            state.in_user_code = interp is not None
        return interp, False

    def cancel(self, sid):
        with self.state_lock:
            state = self.running
            if state is None or state.id != sid:
                # The server sends a cancel once it sent the statement, which may still wait
                # for the worker (a busy machine, the Scala interpreter still starting): it
                # must not be lost, or the statement runs to its end.
                if sid in self.queued_ids:
                    self.cancelled_before_start.add(sid)
                    log("cancelling statement %s before it starts" % sid)
                return
            if state.cancel_requested:
                return
            state.cancel_requested = True
            state.next_cancel_at = 0.0
        log("cancelling statement %s" % sid)
        self.wake_monitor.set()

    def monitor(self):
        """Progress reports and cancel re-triggers of the running statement."""
        self.ready.wait()
        while not self.stop.is_set():
            self.wake_monitor.wait(0.1)
            self.wake_monitor.clear()
            self.interrupt_cancelled_jobs()
            with self.state_lock:
                state = self.running
            if state is None:
                continue
            now = time.time()
            if state.cancel_requested and now >= state.next_cancel_at:
                state.next_cancel_at = now + self.cancel_interval
                self.trigger_cancel(state)
            if now >= state.next_progress_at:
                state.next_progress_at = now + 0.2
                try:
                    p = self.progress_of(str(state.id))
                except Exception:
                    p = None
                # Under result_lock: no progress message ever follows its statement's result.
                with self.result_lock:
                    if p is not None and self.running is state and p != state.last_progress:
                        state.last_progress = p
                        self.send({"type": "progress", "id": state.id, "progress": p})

    def trigger_cancel(self, state):
        try:
            self.sc.cancelJobGroup(str(state.id))
        except Exception as e:
            log("cancelJobGroup failed: %s" % e)
        if state.kind == "pyspark":
            with self.state_lock:
                if self.running is state and state.in_user_code:
                    if state.thread_id == threading.main_thread().ident:
                        # A SIGINT also ends a sleep or a blocking C call (FACTS.md), as
                        # Jupyter's kernel interrupt does; `_on_sigint` turns it into the
                        # KeyboardInterrupt only while the user's code runs.
                        signal.pthread_kill(state.thread_id, signal.SIGINT)
                    else:
                        post_async_exc(state.thread_id, KeyboardInterrupt)
        elif state.kind == "spark":
            # Again at every trigger, while the statement's code runs (not while the Scala
            # interpreter starts): an interrupt sent before the bridge's `execute` took its
            # thread would be lost, and the bridge clears a stale one when it starts. Under the
            # lock, so it never reaches the next statement.
            with self.state_lock:
                if self.running is state and state.in_user_code and self.scala is not None:
                    try:
                        self.scala.cancel()
                    except Exception as e:
                        log("interrupting the Scala statement failed: %s" % e)

    def progress_of(self, group):
        tracker = self.sc.statusTracker()
        total = done = 0
        for job_id in tracker.getJobIdsForGroup(group):
            info = tracker.getJobInfo(job_id)
            if info is None:
                continue
            for stage_id in info.stageIds:
                stage = tracker.getStageInfo(stage_id)
                if stage is not None:
                    total += stage.numTasks
                    done += stage.numCompletedTasks
        return 0.0 if total == 0 else float(done) / total

    def handle_complete(self, msg):
        kind = msg.get("kind") or (self.kind if self.kind != "shared" else "pyspark")
        code = unix_eol(msg.get("code", ""))
        cursor = msg.get("cursor", len(code))
        candidates = []
        try:
            if kind == "pyspark":
                candidates = self.python.complete(code, cursor)
            elif kind == "spark" and self.scala is not None:
                candidates = self.scala.complete(code, cursor)
        except Exception as e:
            log("completion failed: %s" % e)
        self.send({"type": "completion", "req": msg.get("req"), "candidates": candidates})
