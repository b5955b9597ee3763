"""The spark kind: a Scala REPL (IMain) inside the driver JVM, bound to the same SparkSession;
its Scala half is livy_rs_bridge.scala, beside the driver program."""

import io
import json
import os
import sys

from .output import Err, Ok
from .process import log


def program_path():
    """The driver program, livy_rs_driver.py (the script Python runs as __main__); the package
    is not beside its modules' own files when it is imported from its zip."""
    main = sys.modules.get("__main__")
    return os.path.abspath(getattr(main, "__file__", None) or sys.argv[0])


# --------------------------------------------------------------------------------------------
# spark (Scala): an IMain inside the driver JVM, bound to the same SparkSession
# --------------------------------------------------------------------------------------------

# Interpreted by the REPL itself at start-up (livy_rs_bridge.scala). It runs Livy's line-by-line
# algorithm in the JVM (AbstractSparkInterpreter.executeLines) so each statement is one py4j call.
def _scala_bridge_source():
    """The bridge's Scala source (livy_rs_bridge.scala), beside this program: the server writes
    it there, and on YARN it is localized into the container's directory with the program."""
    for d in (os.path.dirname(program_path()), os.getcwd()):
        path = os.path.join(d, "livy_rs_bridge.scala")
        if os.path.exists(path):
            with io.open(path, encoding="utf-8") as f:
                return f.read()
    raise RuntimeError("livy_rs_bridge.scala is missing beside %s" % program_path())

_SCALA_COMPLETE_213 = (
    "new scala.tools.nsc.interpreter.shell.ReplCompletion(intp, "
    "new scala.tools.nsc.interpreter.shell.Accumulator)"
    ".complete(code, cursor).candidates.map(_.name).distinct.toArray")
_SCALA_COMPLETE_212 = (
    "new scala.tools.nsc.interpreter.PresentationCompilerCompleter(intp)"
    ".complete(code, cursor).candidates.distinct.toArray")

_SCALA_PRELUDE = [
    "@transient val spark = java.lang.System.getProperties.get(\"livy-rs.spark\")"
    ".asInstanceOf[org.apache.spark.sql.SparkSession]",
    "@transient val sc = spark.sparkContext",
    "import org.apache.spark.SparkContext._",
    "import spark.implicits._",
    "import spark.sql",
    "import org.apache.spark.sql.functions._",
]


class ScalaInterpreter(object):
    """A Scala REPL (scala.tools.nsc.interpreter.IMain) created through py4j in the driver JVM.

    Its classes go to `outdir`, which must be the SparkContext's spark.repl.class.outputDir so
    executors can load the classes of REPL-defined closures, as with spark-shell.
    """

    def __init__(self, jvm, spark, outdir):
        self.jvm = jvm
        self.spark = spark
        self.outdir = outdir
        self.bridge = None
        self.version = str(jvm.scala.util.Properties.versionNumberString())

    def start(self):
        jvm = self.jvm
        settings = jvm.scala.tools.nsc.Settings()
        outdir = self.outdir if " " not in self.outdir else '"%s"' % self.outdir
        args = "-Yrepl-class-based -Yrepl-outdir %s -usejavacp" % outdir
        if not (self.version.startswith("2.12") or self.version.startswith("2.11")):
            # Scala 2.13.3+ warns about auto-application (`df.toJSON.collect`), which Livy's
            # 2.11/2.12 REPLs never printed; clients such as pylivy parse that output as data.
            args += " -Wconf:cat=deprecation&msg=Auto-application:s"
        settings.processArgumentString(args)
        buf = jvm.java.io.ByteArrayOutputStream()
        writer = jvm.java.io.PrintWriter(buf, True)
        if self.version.startswith("2.12") or self.version.startswith("2.11"):
            intp = jvm.scala.tools.nsc.interpreter.IMain(settings, writer)
            intp.initializeSynchronous()
            complete = _SCALA_COMPLETE_212
        else:
            reporter = jvm.scala.tools.nsc.interpreter.shell.ReplReporterImpl(settings, writer)
            intp = jvm.scala.tools.nsc.interpreter.IMain(settings, reporter)
            intp.initializeCompiler()
        complete = _SCALA_COMPLETE_212 if self.version.startswith("2.12") else _SCALA_COMPLETE_213
        props = jvm.java.lang.System.getProperties()
        keys = ("livy-rs.intp", "livy-rs.out", "livy-rs.writer", "livy-rs.spark", "livy-rs.bridge")
        try:
            props.put("livy-rs.intp", intp)
            props.put("livy-rs.out", buf)
            props.put("livy-rs.writer", writer)
            props.put("livy-rs.spark", self.spark._jsparkSession)
            for line in _SCALA_PRELUDE + [_scala_bridge_source().replace("%COMPLETE%", complete)]:
                res = str(intp.interpret(line))
                if "Success" not in res:
                    writer.flush()
                    raise RuntimeError("Scala interpreter start-up failed on %r: %s"
                                       % (line.strip().splitlines()[0], buf.toString("UTF-8")))
            self.bridge = props.get("livy-rs.bridge")
            if self.bridge is None:
                raise RuntimeError("Scala interpreter start-up failed: bridge not registered")
        finally:
            for k in keys:
                props.remove(k)
            writer.flush()
            buf.reset()
        # --jars given to spark-submit are visible to the REPL's compiler too, as in Livy.
        for jar in (self.spark.sparkContext.getConf().get("spark.jars", "") or "").split(","):
            jar = jar.strip()
            if jar:
                self.add_jar(jar, quiet=True)

    def add_jar(self, uri, quiet=False):
        path = uri[len("file:"):] if uri.startswith("file:") else uri
        if "://" in uri and not uri.startswith("file:"):
            if not quiet:
                log("jar %s is not local; only the executors and SparkContext see it" % uri)
            return
        if os.path.isfile(path):
            self.bridge.addJar("file:" + os.path.abspath(path))

    def execute(self, code):
        res = json.loads(str(self.bridge.execute(code)))
        status = res.get("status")
        if status == "ok":
            return Ok(res["data"])
        if status == "incomplete":
            return Err("Error", "incomplete statement", [])
        return Err(res.get("ename", "Error"), res.get("evalue", ""), res.get("traceback", []))

    def cancel(self):
        self.bridge.cancel()

    def complete(self, code, cursor):
        return [str(c) for c in self.bridge.complete(code, int(cursor))]
