"""Livy's Job API in the driver: Python jobs (cloudpickled functions given a JobContextImpl),
Java/Scala jobs through livy-rs's Java helper, and their cancel."""

import base64
import os
import pickle
import sys
import threading
import time
import traceback

from .cancel import clear_async_exc, post_async_exc
from .process import log


# --------------------------------------------------------------------------------------------
# Python Job API (Livy's python-api client)
# --------------------------------------------------------------------------------------------

def _cloudpickle():
    try:
        import cloudpickle
        return cloudpickle
    except ImportError:
        # Jobs pickled by the standalone package refer to `cloudpickle.cloudpickle`; pyspark
        # vendors the same code, so alias it.
        import pyspark.cloudpickle as cp
        sys.modules.setdefault("cloudpickle", cp)
        if hasattr(cp, "cloudpickle"):
            sys.modules.setdefault("cloudpickle.cloudpickle", cp.cloudpickle)
        return cp


class JobContextImpl(object):
    """What a job function receives, with the attributes of Livy's fake_shell JobContextImpl."""

    def __init__(self, sc, sql_ctx, spark_session, local_tmp_dir_path):
        self.lock = threading.RLock()
        self.sc = sc
        self.sql_ctx = sql_ctx
        self.hive_ctx = None
        self.streaming_ctx = None
        self.spark_session = spark_session
        self.local_tmp_dir_path = local_tmp_dir_path
        self.shared_variables = {}
        self.max_var_size = 100

    def create_streaming_ctx(self, batch_duration):
        from pyspark.streaming import StreamingContext
        with self.lock:
            if self.streaming_ctx is not None:
                raise ValueError("Streaming context already exists")
            self.streaming_ctx = StreamingContext(self.sc, batch_duration)

    def stop_streaming_ctx(self):
        with self.lock:
            if self.streaming_ctx is None:
                raise ValueError("Cannot stop streaming context. Streaming context is None")
            self.streaming_ctx.stop(stopSparkContext=False)
            self.streaming_ctx = None

    def get_local_tmp_dir_path(self):
        return self.local_tmp_dir_path

    def get_shared_object(self, name):
        with self.lock:
            if name not in self.shared_variables:
                return None
            value = self.shared_variables.pop(name)
            self.shared_variables[name] = value  # most recently used goes last
            return value

    def set_shared_object(self, name, obj):
        with self.lock:
            self.shared_variables.pop(name, None)
            self.shared_variables[name] = obj
            while len(self.shared_variables) > self.max_var_size:
                self.shared_variables.pop(next(iter(self.shared_variables)))

    def remove_shared_object(self, name):
        with self.lock:
            self.shared_variables.pop(name, None)

    def stop(self):
        with self.lock:
            if self.streaming_ctx is not None:
                self.stop_streaming_ctx()
            if self.sc is not None:
                self.sc.stop()


# --------------------------------------------------------------------------------------------
# Java/Scala Job API (Livy's Java client, jobType "spark")
# --------------------------------------------------------------------------------------------

class JavaJobs(object):
    """The driver's side of Java/Scala jobs: they run in the JVM through livy-rs's Java helper
    (src/driver/java, the jar the server names as `jobs_jar`), which provides livy-api's
    interfaces, reads the Kryo-written job and answers the Kryo-written result. Everything
    Java-job specific in this program is here; the Driver only forwards to it."""

    RUNNER = "io.livyrs.jobs.JobRunner"

    def __init__(self, spark, jar, tmp_dir):
        self.runner = None
        self.error = None
        if not jar:
            self.error = ("Java/Scala jobs need livy-rs's Java helper (%s), which the server did "
                          "not find next to its binary or in its jars/ directory" % "livy-rs-jobs.jar")
            return
        try:
            sc = spark.sparkContext
            jvm = sc._jvm
            url = jvm.java.io.File(os.path.abspath(jar)).toURI().toURL()
            # The interfaces must come from the loader every later class (user jars, executors
            # in local mode) delegates to: spark-submit's MutableURLClassLoader.
            loader = jvm.java.lang.Thread.currentThread().getContextClassLoader()
            loader.addURL(url)
            sc._jsc.sc().addJar(os.path.abspath(jar))  # executors deserialize the job's classes
            runner_class = jvm.java.lang.Class.forName(self.RUNNER, True, loader)
            ctor = runner_class.getConstructors()[0]
            args = sc._gateway.new_array(jvm.java.lang.Object, 2)
            args[0] = spark._jsparkSession
            args[1] = tmp_dir
            self.runner = ctor.newInstance(args)
        except Exception as e:
            self.error = "could not load livy-rs's Java helper %s: %s" % (jar, e)
            log(self.error)

    def run(self, msg):
        """The `job_result` reply to a `job` message: Livy's JSON carries the Kryo bytes base64
        once (a Python job's result: twice), a failure the JVM's stack trace."""
        reply = {"type": "job_result", "req": msg.get("req")}
        try:
            if self.runner is None:
                raise RuntimeError(self.error)
            outcome = self.runner.run(msg.get("job") or "", str(msg.get("job_id")))
            error = outcome.getError()
            if error is None:
                reply["result"] = outcome.getResult()
            else:
                reply["error"] = error
        except Exception:
            reply["error"] = traceback.format_exc()
        return reply

    def cancel(self, group):
        if self.runner is not None:
            self.runner.cancel(group)

    def add_jar(self, uri):
        if self.runner is not None:
            self.runner.addJar(uri)

    def stop(self):
        if self.runner is not None:
            try:
                self.runner.stop()
            except Exception as e:
                log("stopping the Java jobs' streaming context failed: %s" % e)


class JobsMixin(object):
    """Job API messages, a part of the Driver (driver.py holds its state)."""

    def handle_job(self, msg):
        req = msg.get("req")
        java = msg.get("job_type") == "spark"
        with self.jobs_lock:
            if req in self.cancelled_jobs:  # cancelled before its thread got here
                self.cancelled_jobs.discard(req)
                self.send_job_reply({"type": "job_result", "req": req,
                                     "error": "Client job error:KeyboardInterrupt: cancelled"})
                return
            # A Java job's thread is the JVM's: it is interrupted there (no Python ident).
            self.jobs[req] = None if java else threading.get_ident()
            if msg.get("job_id") is not None:
                self.job_groups[req] = str(msg["job_id"])
        if java:
            try:
                reply = self.java_jobs.run(msg)
            finally:
                with self.jobs_lock:
                    self.jobs.pop(req, None)
                    self.job_groups.pop(req, None)
                    self.cancelled_jobs.discard(req)
            self.send_job_reply(reply)
            return
        reply = {"type": "job_result", "req": req}
        try:
            try:
                cp = _cloudpickle()
                if msg.get("job_id") is not None:
                    self.sc.setJobGroup(str(msg["job_id"]), "", True)
                job = pickle.loads(base64.b64decode(msg["job"]), encoding="bytes")
                value = job(self.job_context)
                inner = base64.b64encode(cp.dumps(value))
                reply["result"] = base64.b64encode(inner).decode("ascii")
            finally:
                with self.jobs_lock:
                    self.jobs.pop(req, None)
                    self.job_groups.pop(req, None)
                    self.cancelled_jobs.discard(req)
                    clear_async_exc(threading.get_ident())  # a cancel that came too late
        except BaseException:  # noqa: B036 - report everything, including a cancel
            reply.pop("result", None)
            reply["error"] = "Client job error:" + traceback.format_exc()
        self.send_job_reply(reply)

    def send_job_reply(self, reply):
        payload_ok = self.send(reply)
        if not payload_ok and "result" in reply and not self.stop.is_set():
            self.send({"type": "job_result", "req": reply["req"],
                       "error": "Client job error:job result is larger than max_message_bytes"})

    def cancel_job(self, msg):
        """Cancels a Job API job: its Spark job group (Spark jobs end, their tasks are
        interrupted), a Java job's thread (Thread.interrupt), and a Python job's thread by an
        asynchronous KeyboardInterrupt, posted again at every trigger interval until the job ends.

        What that can and cannot interrupt: a job runs on a thread of its own (jobs run beside
        statements, which have the main thread), and CPython runs signal handlers in the main
        thread only, so the SIGINT that ends a statement's sleep (see `trigger_cancel`) cannot
        reach a job. An asynchronous exception is raised only when the thread next runs Python
        bytecode: Python loops, short sleeps and Spark actions (whose job group is cancelled)
        end at once; a job blocked in one long call -- `time.sleep(300)`, a socket read, C code
        -- ends only when that call returns (a blocking call interrupted by a signal is retried,
        PEP 475). The job's end (its `job_result`) is what the server waits for to report it
        CANCELLED; one that does not end in livy.rsc.job-cancel.timeout is reported CANCELLED
        then, while its thread runs on. Until the job ends, every trigger interval repeats the
        interrupt, the group's cancel (a job that caught the interrupt and starts another Spark
        action) and a Java job's Thread.interrupt (one that swallowed the first)."""
        req = msg.get("req")
        if msg.get("job_id") is not None:
            try:
                self.sc.cancelJobGroup(str(msg["job_id"]))
                if self.java_jobs is not None:
                    self.java_jobs.cancel(str(msg["job_id"]))
            except Exception:
                pass
        with self.jobs_lock:
            if len(self.cancelled_jobs) >= 1024:  # cancels of jobs long ended: bounded
                self.cancelled_jobs.intersection_update(self.jobs)
            self.cancelled_jobs.add(req)
        self.interrupt_cancelled_jobs()

    def interrupt_cancelled_jobs(self):
        """Interrupts the cancelled jobs still running (see `cancel_job`): the asynchronous
        exception at every call, the Spark job group and a Java job's thread once per trigger
        interval (they go through py4j)."""
        now = time.time()
        again = now >= self.next_job_cancel_at
        groups = []
        with self.jobs_lock:
            for req in self.cancelled_jobs:
                if req not in self.jobs:
                    continue
                ident = self.jobs[req]
                if ident is not None:
                    post_async_exc(ident, KeyboardInterrupt)
                if again and req in self.job_groups:
                    groups.append((self.job_groups[req], ident is None))
        if not groups:
            return
        self.next_job_cancel_at = now + self.cancel_interval
        for group, java in groups:
            try:
                self.sc.cancelJobGroup(group)
                if java and self.java_jobs is not None:
                    self.java_jobs.cancel(group)
            except Exception as e:
                log("re-cancelling job group %s failed: %s" % (group, e))
