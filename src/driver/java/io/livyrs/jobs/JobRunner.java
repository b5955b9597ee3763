package io.livyrs.jobs;

import com.esotericsoftware.kryo.Kryo;
import com.esotericsoftware.kryo.io.Input;
import com.esotericsoftware.kryo.io.Output;
import com.esotericsoftware.kryo.serializers.ClosureSerializer;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.lang.invoke.SerializedLambda;
import java.net.URI;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.util.Base64;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.hadoop.fs.FileSystem;
import org.apache.livy.Job;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;
import org.objenesis.strategy.StdInstantiatorStrategy;

/**
 * Runs Livy Job API jobs of {@code jobType "spark"} (Java/Scala {@code Job} objects) in the
 * driver JVM; the Python driver calls it through py4j (py4j cannot implement a JVM interface,
 * so the {@code JobContext} the jobs receive has to be Java).
 *
 * <p>The bytes are what Livy's Java client writes: Kryo 4 {@code writeClassAndObject} of the
 * user's job, with the client's Kryo set-up (see {@link #kryo}); the result travels back the
 * same way. Classes resolve through a class loader that {@code add-jar}/{@code upload-jar}
 * extend, as the jars' classes must be found when a later job is read.
 */
public final class JobRunner {
  private final JavaSparkContext jsc;
  private final JobContextImpl context;
  private final File jarDir;
  private final JarLoader loader;
  private final Map<String, Thread> running = new ConcurrentHashMap<>();

  /** The class loader of user jars; {@code addURL} made public. */
  static final class JarLoader extends URLClassLoader {
    JarLoader(ClassLoader parent) {
      super(new URL[0], parent);
    }

    @Override
    public void addURL(URL url) {
      super.addURL(url);
    }
  }

  public JobRunner(SparkSession spark, String localTmpDir) {
    this.jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
    this.context = new JobContextImpl(jsc, spark, new File(localTmpDir));
    this.jarDir = new File(localTmpDir, "__livy__");
    ClassLoader parent = Thread.currentThread().getContextClassLoader();
    this.loader = new JarLoader(parent != null ? parent : JobRunner.class.getClassLoader());
  }

  /**
   * Livy's client's Kryo: Kryo 4 defaults (unregistered classes by name, references on), the
   * no-arg constructor else Objenesis, then SerializedLambda and the closure marker registered
   * in this order, so the ids of both ends agree.
   */
  private Kryo kryo() {
    Kryo kryo = new Kryo();
    kryo.setInstantiatorStrategy(new Kryo.DefaultInstantiatorStrategy(new StdInstantiatorStrategy()));
    kryo.register(SerializedLambda.class);
    kryo.register(ClosureSerializer.Closure.class, new ClosureSerializer());
    kryo.setClassLoader(loader);
    return kryo;
  }

  /**
   * Makes a jar's classes visible to the jobs read after it. A URI the driver cannot open as a
   * local file (hdfs:, s3a:, ...) is first copied to the local tmp dir, as Livy does.
   */
  public void addJar(String uri) throws Exception {
    URI parsed = new URI(uri);
    File local;
    if (parsed.getScheme() == null) {
      local = new File(uri);
    } else if ("file".equals(parsed.getScheme()) || "local".equals(parsed.getScheme())) {
      local = new File(parsed.getPath());
    } else {
      String name = new File(parsed.getPath()).getName();
      local = new File(jarDir, name);
      if (!local.exists()) {
        Files.createDirectories(jarDir.toPath());
        FileSystem fs = FileSystem.get(parsed, jsc.hadoopConfiguration());
        fs.copyToLocalFile(new org.apache.hadoop.fs.Path(parsed), new org.apache.hadoop.fs.Path(local.toURI()));
      }
    }
    loader.addURL(local.getAbsoluteFile().toURI().toURL());
  }

  /**
   * Reads and runs one job under Spark job group {@code group} (so cancelling the group stops
   * its Spark jobs) and answers its Kryo-written result in base64 (null for a null result), or
   * the failure's stack trace.
   */
  public Outcome run(String jobBase64, String group) {
    Thread self = Thread.currentThread();
    ClassLoader before = self.getContextClassLoader();
    synchronized (running) {
      running.put(group, self);
    }
    try {
      self.setContextClassLoader(loader);
      jsc.setJobGroup(group, "", true);
      Kryo kryo = kryo();
      Object job;
      try (Input in = new Input(Base64.getDecoder().decode(jobBase64))) {
        job = kryo.readClassAndObject(in);
      }
      if (!(job instanceof Job)) {
        String what = job == null ? "null" : job.getClass().getName();
        return Outcome.failure("The job is not an org.apache.livy.Job: " + what);
      }
      Object value = ((Job<?>) job).call(context);
      if (value == null) {
        return Outcome.success(null);
      }
      ByteArrayOutputStream bytes = new ByteArrayOutputStream();
      try (Output out = new Output(bytes)) {
        kryo.writeClassAndObject(out, value);
      }
      return Outcome.success(Base64.getEncoder().encodeToString(bytes.toByteArray()));
    } catch (Throwable t) {
      StringWriter trace = new StringWriter();
      t.printStackTrace(new PrintWriter(trace));
      return Outcome.failure(trace.toString());
    } finally {
      synchronized (running) {
        running.remove(group, self); // no interrupt can come after this (see cancel)...
      }
      jsc.clearJobGroup();
      Thread.interrupted(); // ...and one that came as the job ended must not hit the next call
      self.setContextClassLoader(before);
    }
  }

  /**
   * Cancels a running job: its Spark job group, and an interrupt for code that waits. The
   * interrupt is sent under the same lock as {@link #run} unregisters the job's thread, so it
   * never lands after the job ended: the thread is py4j's and serves later calls.
   */
  public void cancel(String group) {
    jsc.cancelJobGroup(group);
    synchronized (running) {
      Thread t = running.get(group);
      if (t != null) {
        t.interrupt();
      }
    }
  }

  /** Stops the streaming context a job may have created (session shutdown). */
  public void stop() {
    context.stopStreamingCtx();
  }

  /** What {@link #run} answers: exactly one of result (may be null) and error. */
  public static final class Outcome {
    private final String result;
    private final String error;

    private Outcome(String result, String error) {
      this.result = result;
      this.error = error;
    }

    static Outcome success(String result) {
      return new Outcome(result, null);
    }

    static Outcome failure(String error) {
      return new Outcome(null, error);
    }

    public String getResult() {
      return result;
    }

    public String getError() {
      return error;
    }
  }
}
