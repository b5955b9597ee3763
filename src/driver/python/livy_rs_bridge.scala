// The Scala side of livy-rs's `spark` kind: interpreted by the session's Scala REPL (IMain) at
// start-up, after the prelude that binds `spark` and `sc`. It runs Livy's line-by-line algorithm
// in the JVM (AbstractSparkInterpreter.executeLines), so each statement is one py4j call.
// %COMPLETE% is replaced by the completer of the running Scala version (2.12 or 2.13).
// The driver (livy_rs_driver.py) reads this file from its own directory; the server writes it
// there, and on YARN ships it with spark.files (localized into the container's directory).
class LivyRsBridge {
  import scala.tools.nsc.interpreter.{IMain, Results}
  import org.json4s._
  import org.json4s.jackson.JsonMethods.{compact, render}

  private implicit val formats: Formats = DefaultFormats
  private val props = java.lang.System.getProperties
  private val intp = props.get("livy-rs.intp").asInstanceOf[IMain]
  private val out = props.get("livy-rs.out").asInstanceOf[java.io.ByteArrayOutputStream]
  private val writer = props.get("livy-rs.writer").asInstanceOf[java.io.PrintWriter]
  private val magicRe = "^%(\\w+)\\W*(.*)".r
  private val lock = new java.util.concurrent.locks.ReentrantLock()
  private val guard = new Object
  private var runner: Thread = null // guarded by `guard`

  private sealed trait Res
  private case class Success(data: List[(String, JValue)]) extends Res
  private case class Failure(ename: String, evalue: String, tb: Seq[String]) extends Res
  private case object Incomplete extends Res

  private def readOut(): String = {
    writer.flush()
    val s = out.toString("UTF-8")
    out.reset()
    s
  }

  def execute(code: String): String = {
    lock.lock()
    val saved = Thread.currentThread.getContextClassLoader
    Thread.interrupted() // nothing stale can be left (see `cancel`), but be sure
    guard.synchronized { runner = Thread.currentThread } // from here on a cancel interrupts it
    try {
      val json: JValue = runLines(code.trim.split("\n").toList) match {
        case Success(data) => JObject(JField("status", JString("ok")), JField("data", JObject(data)))
        case Incomplete => JObject(JField("status", JString("incomplete")))
        case Failure(n, v, tb) => JObject(JField("status", JString("error")), JField("ename", JString(n)),
          JField("evalue", JString(v)), JField("traceback", JArray(tb.map(JString(_)).toList)))
      }
      compact(render(json))
    } catch {
      case t: Throwable =>
        readOut()
        compact(render(JObject(JField("status", JString("error")),
          JField("ename", JString("Internal Error: " + t.getClass.getName)),
          JField("evalue", JString(String.valueOf(t.getMessage))), JField("traceback", JArray(Nil)))))
    } finally {
      guard.synchronized { runner = null } // no interrupt can come after this...
      Thread.interrupted() // ...and one that came as the code ended is dropped here
      Thread.currentThread.setContextClassLoader(saved)
      lock.unlock()
    }
  }

  // Under `guard`, as `execute` registers and unregisters its thread: an interrupt never lands
  // after the statement ended (the thread is py4j's and serves the next calls, where a stale
  // interrupt would fail a Spark action of the next pyspark statement).
  def cancel(): Unit = guard.synchronized { if (runner != null) runner.interrupt() }

  def addJar(url: String): Unit = { lock.lock(); try intp.addUrlsToClassPath(new java.net.URL(url)) finally lock.unlock() }

  def complete(code: String, cursor: Int): Array[String] = {
    if (!lock.tryLock()) return Array[String]()
    val saved = Thread.currentThread.getContextClassLoader
    try { %COMPLETE% } catch { case _: Throwable => Array[String]() } finally {
      Thread.currentThread.setContextClassLoader(saved)
      lock.unlock()
    }
  }

  private def textOf(d: List[(String, JValue)]): Option[String] = d.collectFirst {
    case ("text/plain", JString(s)) => s
  }

  private def runLines(all: List[String]): Res = {
    var lines = all
    var acc: Res = Success(List("text/plain" -> JString("")))
    while (lines.nonEmpty) {
      val head = lines.head
      val rest = lines.tail
      val res = runLine(head)
      res match {
        case Incomplete =>
          if (rest.isEmpty) {
            // Maybe just a comment: wrapped in braces a comment compiles, real incomplete code does not.
            return runLine("{\n" + head + "\n}") match {
              case Incomplete | Failure(_, _, _) => res
              case _ => acc
            }
          }
          lines = (head + "\n" + rest.head) :: rest.tail
        case f: Failure => return f
        case Success(cur) =>
          acc = acc match {
            case Success(prev) if textOf(prev).isDefined && textOf(cur).isDefined =>
              val a = textOf(prev).get
              val b = textOf(cur).get
              if (a.nonEmpty && b.nonEmpty) Success(List("text/plain" -> JString(a + b)))
              else if (a.nonEmpty) Success(List("text/plain" -> JString(a)))
              else if (b.nonEmpty) Success(List("text/plain" -> JString(b)))
              else res
            case _ => res
          }
          lines = rest
      }
    }
    acc
  }

  private def runLine(code: String): Res = code match {
    case magicRe(magic, rest) => runMagic(magic, rest)
    case _ =>
      val r = scala.Console.withOut(out) { intp.interpret(code) }
      r match {
        case Results.Success => Success(List("text/plain" -> JString(readOut())))
        case Results.Incomplete => Incomplete
        case _ =>
          val text = readOut()
          // Scala 2.13 answers Error, silently, for blank or comment-only code; 2.12 answered Success.
          if (text.trim.isEmpty) return Success(List("text/plain" -> JString("")))
          val lines = "(?<=\n)".r.split(text).toList
          val first = lines.headOption.map(_.trim).getOrElse("unknown error")
          // Scala 2.13 echoes the code and a caret before "error: ..."; Livy (2.12) takes the first
          // line as evalue, so promote the error line when the first one is only an echo.
          val low = first.toLowerCase
          val errorLine = lines.indexWhere(_.contains("error:"))
          if (!low.contains("error") && !low.contains("exception") && errorLine > 0)
            Failure("Error", lines(errorLine).trim, lines.patch(errorLine, Nil, 1))
          else
            Failure("Error", first, lines.drop(1))
      }
  }

  private def lastValue(name: String): Option[Any] = {
    val v = try {
      Option(intp.lastRequest.lineRep.call("$result"))
    } catch { case _: Throwable => None }
    v.orElse(try intp.valueOfTerm(name) catch { case _: Throwable => None })
  }

  private def runMagic(magic: String, name: String): Res = magic match {
    case "json" =>
      try {
        val value = lastValue(name) match {
          case Some(rdd: org.apache.spark.rdd.RDD[_]) => rdd.take(10)
          case Some(v) => v
          case None => return Failure("NameError", s"Value $name does not exist", Nil)
        }
        Success(List("application/json" -> Extraction.decompose(value)))
      } catch {
        case _: Throwable => Failure("ValueError", "Failed to convert value into a JSON value", Nil)
      }
    case "table" =>
      val value = lastValue(name) match {
        case Some(rdd: org.apache.spark.rdd.RDD[_]) => rdd.take(10)
        case Some(v) => v
        case None => return Failure("NameError", s"Value $name does not exist", Nil)
      }
      table(Extraction.decompose(value))
    case _ => Failure("UnknownMagic", s"Unknown magic command $magic", Nil)
  }

  private class Mismatch extends Exception

  private def typeName(v: JValue): String = v match {
    case JNothing | JNull => "NULL_TYPE"
    case JBool(_) => "BOOLEAN_TYPE"
    case JString(_) => "STRING_TYPE"
    case JInt(_) | JLong(_) => "BIGINT_TYPE"
    case JDouble(_) => "DOUBLE_TYPE"
    case JDecimal(_) => "DECIMAL_TYPE"
    case JArray(a) => if (sameType(a)) "ARRAY_TYPE" else throw new Mismatch
    case JObject(o) => if (sameType(o.map(_._2))) "MAP_TYPE" else throw new Mismatch
    case _ => "STRING_TYPE"
  }

  private def sameType(vs: List[JValue]): Boolean =
    vs.isEmpty || { val t = typeName(vs.head); vs.tail.forall(v => typeName(v) == t) }

  private def table(value: JValue): Res = {
    val rows = value match {
      case JArray(a) => a
      case other => List(other)
    }
    try {
      val headers = scala.collection.mutable.Map[String, String]()
      val data = rows.map { row =>
        val cols: List[(String, JValue)] = row match {
          case JArray(a) => a.zipWithIndex.map { case (v, i) => (i.toString, v) }
          case JObject(o) => o.sortBy(_._1)
          case v => List(("0", v))
        }
        JArray(cols.map { case (k, v) =>
          val t = typeName(v)
          headers.get(k) match {
            case Some(h) => if (h != t) throw new Mismatch
            case None => headers.put(k, t)
          }
          v
        })
      }
      val hs = headers.toList.sortBy(_._1).map { case (k, t) =>
        JObject(JField("type", JString(t)), JField("name", JString(k)))
      }
      Success(List("application/vnd.livy.table.v1+json" ->
        JObject(JField("headers", JArray(hs)), JField("data", JArray(data)))))
    } catch {
      case _: Mismatch => Failure("TypeError", "table rows have different types", Nil)
    }
  }

  props.put("livy-rs.bridge", this)
}
@transient val livyRsBridge = new LivyRsBridge
