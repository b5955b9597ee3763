package io.livyrs.jobs;

import java.io.File;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.NoSuchElementException;
import org.apache.livy.JobContext;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SQLContext;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.hive.HiveContext;
import org.apache.spark.streaming.Durations;
import org.apache.spark.streaming.api.java.JavaStreamingContext;

/** The session's contexts as Livy's {@code JobContext} hands them to jobs. */
final class JobContextImpl implements JobContext {
  /** Shared objects kept, least recently used dropped first (bounded memory). */
  private static final int MAX_SHARED_OBJECTS = 1024;

  private final JavaSparkContext jsc;
  private final SparkSession spark;
  private final File tmpDir;
  private final Map<String, Object> shared =
      new LinkedHashMap<String, Object>(16, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, Object> eldest) {
          return size() > MAX_SHARED_OBJECTS;
        }
      };
  private HiveContext hive;
  private JavaStreamingContext streaming;

  JobContextImpl(JavaSparkContext jsc, SparkSession spark, File tmpDir) {
    this.jsc = jsc;
    this.spark = spark;
    this.tmpDir = tmpDir;
  }

  @Override
  public JavaSparkContext sc() {
    return jsc;
  }

  @Override
  public SQLContext sqlctx() {
    return spark.sqlContext();
  }

  /** Made on first use: it needs Spark's Hive classes, which not every installation has. */
  @Override
  @SuppressWarnings("deprecation")
  public synchronized HiveContext hivectx() {
    if (hive == null) {
      hive = new HiveContext(jsc.sc());
    }
    return hive;
  }

  @Override
  public synchronized JavaStreamingContext streamingctx() {
    if (streaming == null) {
      throw new IllegalStateException("Streaming context is not yet created: call createStreamingContext first.");
    }
    return streaming;
  }

  @Override
  @SuppressWarnings("unchecked")
  public <E> E getSharedObject(String name) throws NoSuchElementException {
    synchronized (shared) {
      if (!shared.containsKey(name)) {
        throw new NoSuchElementException(name);
      }
      return (E) shared.get(name);
    }
  }

  @Override
  public <E> void setSharedObject(String name, E object) {
    synchronized (shared) {
      shared.put(name, object);
    }
  }

  @Override
  @SuppressWarnings("unchecked")
  public <E> E removeSharedObject(String name) {
    synchronized (shared) {
      return (E) shared.remove(name);
    }
  }

  @Override
  public synchronized void createStreamingContext(long batchDuration) {
    if (streaming != null) {
      throw new IllegalStateException("Streaming context is already created.");
    }
    streaming = new JavaStreamingContext(jsc, Durations.milliseconds(batchDuration));
  }

  @Override
  public synchronized void stopStreamingCtx() {
    if (streaming != null) {
      streaming.stop(false);
      streaming = null;
    }
  }

  @Override
  public File getLocalTmpDir() {
    return tmpDir;
  }

  @Override
  @SuppressWarnings("unchecked")
  public <E> E sparkSession() throws Exception {
    return (E) spark;
  }
}
