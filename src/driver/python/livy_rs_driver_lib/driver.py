"""The Driver: one interactive session's Spark application. It connects to the server, builds
the SparkSession, dispatches the server's messages and stops; statements, Job API jobs and
additions are its parts in statements.py, jobs.py and additions.py."""

import collections
import os
import queue
import shutil
import signal
import tempfile
import threading
import time

from .additions import AdditionsMixin
from .channel import Channel, ChannelClosed, MessageTooLarge, ProtocolError, server_list
from .jobs import JavaJobs, JobContextImpl, JobsMixin
from .output import Err, OutputCapture, cap_output, livy_output
from .process import (EXIT_CONNECT_FAILED, EXIT_CONNECTION_LOST, EXIT_OK, EXIT_STARTUP_FAILED,
                      REAL_STDERR, REAL_STDOUT, STARTED, log, now_ms)
from .python_repl import PythonInterpreter
from .scala_repl import ScalaInterpreter
from .sql_repl import SqlInterpreter
from .statements import SPARKR_UNSUPPORTED, StatementsMixin

# Results kept for re-sending to a restarted server.
RECENT_RESULTS = 64
KINDS = ("pyspark", "spark", "sql", "sparkr")
SESSION_KINDS = KINDS + ("shared",)


# --------------------------------------------------------------------------------------------
# The driver
# --------------------------------------------------------------------------------------------

class Driver(StatementsMixin, JobsMixin, AdditionsMixin):
    def __init__(self, config):
        self.session_id = int(config["session_id"])
        self.kind = config.get("kind", "pyspark")
        if self.kind not in SESSION_KINDS:
            raise ValueError("unknown session kind %r" % self.kind)
        self.server = config["server"]
        # Active/active on the server side: every server's channel (the launching one first);
        # after losing its server the driver dials back to whichever takes the session over.
        # The server it talks to replaces the list as servers join and leave (`set_servers`).
        self.servers = [self.server] + [s for s in (config.get("servers") or []) if s != self.server]
        self.fingerprint = config["fingerprint"]
        self.secret = config["secret"]
        self.max_message_bytes = int(config.get("max_message_bytes") or 64 * 1024 * 1024)
        self.sql_num_rows = int(config.get("sql_num_rows") or 1000)
        self.output_cap_bytes = int(config.get("output_cap_bytes") or 0)
        self.cancel_interval = max(0.05, int(config.get("job_cancel_trigger_interval_ms") or 100) / 1000.0)
        # With recovery on the server: how long to keep dialing back after losing it.
        self.redial_seconds = max(0, int(config.get("redial_seconds") or 0))
        self.redial_lock = threading.Lock()
        self.last_received = None
        # The last results and job results sent, re-sent to a restarted server (which may not
        # have recorded them); bounded so a long session does not hold every output.
        self.recent = collections.OrderedDict()

        self.channel = None
        self.spark = None
        self.sc = None
        self.python = None
        self.sql = None
        self.scala = None
        self.scala_error = None
        self.scala_lock = threading.Lock()
        self.scala_outdir = None
        self.own_outdir = False
        self.job_context = None
        self.tmp_dir = None
        self.jobs_jar = config.get("jobs_jar")
        self.java_jobs = None

        self.ready = threading.Event()
        self.stop = threading.Event()
        self.exit_code = EXIT_OK
        self.statements = queue.Queue()
        self.state_lock = threading.Lock()
        self.result_lock = threading.Lock()
        self.running = None
        # Statements received and not yet started (ids), and those of them already cancelled:
        # a cancel can arrive while its statement waits in `statements` (the server sends it
        # once the statement is sent), and must not be lost then (see `cancel`).
        self.queued_ids = set()
        self.cancelled_before_start = set()
        self.wake_monitor = threading.Event()
        self.jobs_lock = threading.Lock()
        self.jobs = {}  # req -> thread ident, for cancel_job
        # Start-up milestones (epoch seconds), logged once the driver is ready.
        self.milestones = [("python_start", STARTED)]
        self.cancelled_jobs = set()  # reqs cancelled and not yet ended (see cancel_job)
        self.job_groups = {}  # req -> Spark job group of a running job, for its re-cancels
        self.next_job_cancel_at = 0.0

    # -- plumbing ---------------------------------------------------------------------------

    def remember(self, msg):
        t = msg.get("type")
        if self.redial_seconds and t in ("result", "job_result"):
            key = (t, msg.get("id") if t == "result" else msg.get("req"))
            with self.redial_lock:
                self.recent.pop(key, None)
                self.recent[key] = msg
                while len(self.recent) > RECENT_RESULTS:
                    self.recent.popitem(last=False)

    def send(self, msg):
        self.remember(msg)
        try:
            self.channel.send(msg)
            return True
        except MessageTooLarge as e:
            log("dropping a %r message of %d bytes (max_message_bytes %d)"
                % (msg.get("type"), e.args[0], self.max_message_bytes))
            return False
        except (ChannelClosed, OSError) as e:
            self.connection_lost(str(e))
            return False

    def connection_lost(self, why):
        if self.redial_seconds and not self.stop.is_set():
            # The reader thread notices too and dials back; results are kept meanwhile.
            self.channel.close()
            return
        if not self.stop.is_set():
            log("connection to the server lost: %s" % why)
            self.exit_code = EXIT_CONNECTION_LOST
            self.stop.set()
            self.statements.put(None)

    def send_result(self, sid, output):
        output = cap_output(output, self.output_cap_bytes)
        msg = {"type": "result", "id": sid, "completed": now_ms(), "output": output}
        try:
            payload = self.channel.encode(msg)
        except MessageTooLarge as e:
            size = e.args[0]
            output = livy_output(output.get("execution_count", sid), Err(
                "OutputTooLarge",
                "statement output is %d bytes, more than the %d bytes a driver message may carry"
                % (size, self.max_message_bytes), []))
            msg["output"] = output
            payload = None
        except (TypeError, ValueError) as e:
            output = livy_output(output.get("execution_count", sid), Err(
                "TypeError", "statement output is not JSON serializable: %s" % e, []))
            msg["output"] = output
            payload = None
        self.remember(msg)
        try:
            self.channel.send(msg, payload)
        except (ChannelClosed, OSError) as e:
            self.connection_lost(str(e))

    # -- start-up ---------------------------------------------------------------------------

    def connect(self):
        """Connects to the first server that lets this session in (with one server: it)."""
        error = None
        for address in list(self.servers):
            try:
                self.connect_to(address)
                self.server = address
                return
            except (ProtocolError, OSError, ChannelClosed, ValueError) as e:
                error = e
        raise error

    def connect_to(self, address):
        host, _, port = address.rpartition(":")
        host = host.strip("[]")
        channel = Channel(host, int(port), self.fingerprint, self.max_message_bytes)
        try:
            channel.authenticate(self.session_id, self.secret)
        except Exception:
            channel.close()
            raise
        # Other threads send only on an authenticated channel.
        self.channel = channel
        if not self.redial_seconds:
            self.secret = None  # kept only when it must prove itself again after a restart

    def redial(self, why):
        """The server is gone: keep Spark, dial back with back-off for `redial_seconds`, then
        re-send the recent results and say where this driver stands. False when it gave up."""
        log("connection to the server lost (%s); dialing back for up to %d s" % (why, self.redial_seconds))
        try:
            self.channel.close()
        except Exception:
            pass
        deadline = time.time() + self.redial_seconds
        delay = 0.2
        while not self.stop.is_set() and time.time() < deadline:
            try:
                self.connect()
            except (ProtocolError, OSError, ChannelClosed, ValueError):
                time.sleep(min(delay, max(0.0, deadline - time.time())))
                # Several servers: one of them adopts the session within seconds, so keep
                # asking often.
                delay = min(delay * 2, 1.0 if len(self.servers) > 1 else 5.0)
                continue
            with self.redial_lock:
                resend = list(self.recent.values())
            try:
                for msg in resend:
                    self.channel.send(msg)
                with self.state_lock:
                    running = self.running.id if self.running is not None else None
                with self.jobs_lock:
                    jobs = sorted(self.jobs)
                self.channel.send({"type": "resumed", "ready": self.ready.is_set(),
                                   "running": running, "last_received": self.last_received,
                                   "running_jobs": jobs})
            except (ChannelClosed, OSError) as e:
                log("lost the server again while resuming: %s" % e)
                continue
            log("dialed back to %s; resumed" % self.server)
            return True
        return False

    def check_prerequisites(self):
        if self.kind == "sparkr":
            raise RuntimeError(SPARKR_UNSUPPORTED)

    def build_spark(self):
        from pyspark.sql import SparkSession, SQLContext
        os.environ.setdefault("MPLBACKEND", "Agg")
        from pyspark import SparkConf, SparkContext
        self.milestones.append(("pyspark_imported", time.time()))
        builder = SparkSession.builder
        SparkContext._ensure_initialized()
        given = SparkConf().get("spark.repl.class.outputDir", None)
        if given:
            self.scala_outdir = given
            os.makedirs(given, exist_ok=True)
        else:
            # Any session accepts Scala statements, and the REPL's class directory is only served
            # to executors when set before the SparkContext starts. Cheap: an empty directory.
            root = SparkConf().get("spark.repl.classdir", None) or None
            self.scala_outdir = tempfile.mkdtemp(prefix="livy-rs-repl-", dir=root)
            self.own_outdir = True
            builder = builder.config("spark.repl.class.outputDir", self.scala_outdir)
        self.spark = builder.getOrCreate()
        self.sc = self.spark.sparkContext
        self.milestones.append(("spark_session", time.time()))
        try:
            import warnings
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                sql_ctx = SQLContext.getOrCreate(self.sc)
        except Exception:
            sql_ctx = None
        self.tmp_dir = tempfile.mkdtemp(prefix="livy-rs-driver-")
        self.job_context = JobContextImpl(self.sc, sql_ctx, self.spark, self.tmp_dir)
        self.java_jobs = JavaJobs(self.spark, self.jobs_jar, self.tmp_dir)
        namespace = {"sc": self.sc, "sqlContext": sql_ctx, "spark": self.spark}
        for stmt in ("from pyspark.sql import HiveContext",
                     "from pyspark.streaming import StreamingContext",
                     "import pyspark.cloudpickle as cloudpickle"):
            try:
                exec(stmt, namespace)
            except Exception:
                pass
        try:
            from pyspark import SparkFiles
            os.chdir(SparkFiles.getRootDirectory())
        except Exception:
            pass
        self.python = PythonInterpreter(namespace, OutputCapture())
        self.sql = SqlInterpreter(self.spark, self.sql_num_rows)
        self.milestones.append(("interpreters", time.time()))

    def scala_interpreter(self):
        with self.scala_lock:
            if self.scala is None and self.scala_error is None:
                try:
                    t0 = time.time()
                    interp = ScalaInterpreter(self.sc._jvm, self.spark, self.scala_outdir)
                    interp.start()
                    self.scala = interp
                    log("Scala %s interpreter started in %.1f s" % (interp.version, time.time() - t0))
                except Exception as e:
                    self.scala_error = "%s: %s" % (type(e).__name__, e)
                    log("Scala interpreter failed to start: %s" % self.scala_error)
            return self.scala

    def startup_timings(self):
        """One line saying where the start-up went, as epoch milliseconds of each milestone
        (the JVM's start from its RuntimeMXBean: spark-submit's JVM, which started this program)
        and the seconds between them; scripts/bench-pool reads it."""
        marks = list(self.milestones)
        try:
            bean = self.sc._jvm.java.lang.management.ManagementFactory.getRuntimeMXBean()
            marks.insert(0, ("jvm_start", bean.getStartTime() / 1000.0))
        except Exception:
            pass
        marks.append(("ready", time.time()))
        parts = ["%s=%d" % (name, int(t * 1000)) for name, t in marks]
        steps = ["%s->%s %.2fs" % (a[0], b[0], b[1] - a[1]) for a, b in zip(marks, marks[1:])]
        return "start-up timings: %s (%s)" % (" ".join(parts), ", ".join(steps))

    def ready_message(self):
        jvm = self.sc._jvm
        try:
            scala_version = str(jvm.scala.util.Properties.versionNumberString())
        except Exception:
            scala_version = None
        return {"type": "ready", "spark_version": self.spark.version,
                "scala_version": scala_version, "app_id": self.sc.applicationId,
                "spark_ui_url": self.sc.uiWebUrl or None}

    # -- message loop -----------------------------------------------------------------------

    def reader(self):
        while True:
            try:
                self.read_messages()
                return
            except (ChannelClosed, OSError) as e:
                if not self.redial_seconds or self.stop.is_set() or not self.redial(str(e)):
                    self.redial_seconds = 0
                    self.connection_lost(str(e))
                    return
            except ProtocolError as e:
                self.redial_seconds = 0
                self.connection_lost("protocol error: %s" % e)
                return
            except Exception as e:
                self.redial_seconds = 0
                self.connection_lost("reader failed: %s: %s" % (type(e).__name__, e))
                return

    def read_messages(self):
        try:
            while not self.stop.is_set():
                msg = self.channel.recv()
                try:
                    self.dispatch(msg)
                except Exception as e:
                    log("ignoring malformed %r message: %s: %s" % (msg.get("type"), type(e).__name__, e))
        except (ChannelClosed, OSError):
            raise
        except ProtocolError as e:
            self.connection_lost("protocol error: %s" % e)
        except Exception as e:
            self.connection_lost("reader failed: %s: %s" % (type(e).__name__, e))

    def dispatch(self, msg):
        t = msg["type"]
        if t == "execute":
            if isinstance(msg.get("id"), bool) or not isinstance(msg.get("id"), int) \
                    or not isinstance(msg.get("code", ""), str):
                raise ValueError("execute needs an integer id and a string code")
            self.last_received = max(msg["id"], self.last_received or 0)
            with self.state_lock:
                self.queued_ids.add(msg["id"])
            self.statements.put(msg)
        elif t == "cancel":
            self.cancel(msg.get("id"))
        elif t == "complete":
            self.spawn(self.handle_complete, msg)
        elif t == "job":
            self.spawn(self.handle_job, msg)
        elif t == "cancel_job":
            self.cancel_job(msg)
        elif t in ("add_file", "add_pyfile", "add_jar"):
            self.spawn(self.handle_add, msg)
        elif t == "set_conf":
            self.spawn(self.handle_set_conf, msg)
        elif t == "servers":
            self.set_servers(msg.get("servers"))
        elif t == "shutdown":
            log("shutdown requested by the server")
            self.stop.set()
            self.statements.put(None)
        else:
            log("ignoring unknown message type %r" % t)

    def set_servers(self, servers):
        """A `servers` message: the service's live servers now, which a redial tries in turn.
        The one this driver talks to stays first; a malformed list raises and changes nothing.
        Runs on the reader thread, the only one that reads the list after start-up."""
        fresh = [self.server] + [s for s in server_list(servers) if s != self.server]
        if fresh != self.servers:
            self.servers = fresh
            log("servers of the service: %s" % ", ".join(fresh))

    def spawn(self, fn, msg):
        threading.Thread(target=self._guarded, args=(fn, msg), daemon=True,
                         name="livy-rs-%s" % msg["type"]).start()

    def _guarded(self, fn, msg):
        self.ready.wait()
        if self.stop.is_set():
            return
        try:
            fn(msg)
        except Exception as e:
            log("%s handler failed: %s: %s" % (msg.get("type"), type(e).__name__, e))

    # -- main -------------------------------------------------------------------------------

    def run(self):
        try:
            self.connect()
        except (ProtocolError, OSError, ChannelClosed, ValueError) as e:
            log("cannot connect to the livy-rs server at %s: %s" % (self.server, e))
            if self.channel is not None:
                self.channel.close()
            return EXIT_CONNECT_FAILED
        self.milestones.append(("connected", time.time()))
        log("connected to %s as session %d (kind %s)" % (self.server, self.session_id, self.kind))
        threading.Thread(target=self.reader, daemon=True, name="livy-rs-reader").start()

        try:
            self.check_prerequisites()
            t0 = time.time()
            self.build_spark()
            log("SparkSession ready in %.1f s" % (time.time() - t0))
        except Exception as e:
            message = "%s: %s" % (type(e).__name__, e) if not isinstance(e, RuntimeError) else str(e)
            log("start-up failed: %s" % message)
            lost = self.stop.is_set() and self.exit_code != EXIT_OK
            if not self.stop.is_set():
                self.send({"type": "error", "message": message})
            code = self.exit_code if lost else EXIT_STARTUP_FAILED
            self.stop.set()  # from here on a closing connection is expected
            self.shutdown_spark()
            self.channel.close()
            return code

        if not self.stop.is_set():
            self.send(self.ready_message())
        self.ready.set()
        log(self.startup_timings())
        if self.kind == "spark" and not self.stop.is_set():
            # The Scala interpreter takes seconds to start: a spark session is idle without
            # waiting for it, and its first statement waits for it (scala_interpreter's lock)
            # while the user is still typing. A failed start is that statement's error.
            threading.Thread(target=self.scala_interpreter, daemon=True,
                             name="livy-rs-scala-start").start()
        threading.Thread(target=self.monitor, daemon=True, name="livy-rs-monitor").start()
        if threading.current_thread() is threading.main_thread():
            # Statements run in the main thread: only there does a SIGINT interrupt code that
            # sleeps or blocks in C. Another thread ends the process once the server says stop,
            # whatever the statement is doing.
            signal.signal(signal.SIGINT, self._on_sigint)
            threading.Thread(target=self._finish, daemon=True, name="livy-rs-finish").start()
            self.worker()
            threading.Event().wait()  # `_finish` exits the process
        worker = threading.Thread(target=self.worker, daemon=True, name="livy-rs-worker")
        worker.start()
        self.stop.wait()
        self.shutdown_spark()
        self.channel.close()
        return self.exit_code

    def _on_sigint(self, signum, frame):
        """A cancel's SIGINT: a KeyboardInterrupt in the user's code, nothing anywhere else (our
        bookkeeping must not be torn, and a stray SIGINT must not stop the driver)."""
        state = self.running
        if state is not None and state.cancel_requested and state.in_user_code:
            raise KeyboardInterrupt()

    def _finish(self):
        self.stop.wait()
        self.shutdown_spark()
        self.channel.close()
        try:
            REAL_STDOUT.flush()
            REAL_STDERR.flush()
        except Exception:
            pass
        os._exit(self.exit_code)

    def shutdown_spark(self):
        if self.spark is None:
            return
        done = threading.Event()

        def stop():
            try:
                with self.state_lock:
                    running = self.running
                if running is not None:
                    self.sc.cancelJobGroup(str(running.id))
                if self.java_jobs is not None:
                    self.java_jobs.stop()
                self.spark.stop()
            except Exception as e:
                log("stopping Spark failed: %s" % e)
            finally:
                done.set()

        threading.Thread(target=stop, daemon=True).start()
        if not done.wait(60):
            log("Spark did not stop within 60 s; exiting anyway")
        for d in (self.tmp_dir, self.scala_outdir if self.own_outdir else None):
            if d:
                shutil.rmtree(d, ignore_errors=True)
