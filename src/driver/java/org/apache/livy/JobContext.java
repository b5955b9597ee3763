package org.apache.livy;

import java.io.File;
import java.util.NoSuchElementException;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SQLContext;
import org.apache.spark.sql.hive.HiveContext;
import org.apache.spark.streaming.api.java.JavaStreamingContext;

/**
 * What a job's {@code call} receives: binary-compatible with livy-api's interface of the same
 * name (every method, with the same erasure), implemented by livy-rs's job runner.
 */
public interface JobContext {
  JavaSparkContext sc();

  SQLContext sqlctx();

  HiveContext hivectx();

  JavaStreamingContext streamingctx();

  <E> E getSharedObject(String name) throws NoSuchElementException;

  <E> void setSharedObject(String name, E object);

  <E> E removeSharedObject(String name);

  void createStreamingContext(long batchDuration);

  void stopStreamingCtx();

  File getLocalTmpDir();

  <E> E sparkSession() throws Exception;
}
