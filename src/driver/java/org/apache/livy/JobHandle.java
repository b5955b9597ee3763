package org.apache.livy;

import java.util.concurrent.Future;

/**
 * livy-api's handle to a submitted job, present so code compiled against livy-api that names
 * its states (e.g. {@code JobHandle.State.SUCCEEDED}) links in a livy-rs driver.
 */
public interface JobHandle<T> extends Future<T> {
  long getJobId();

  State getState();

  void addListener(Listener<T> l);

  /** Livy's job states, the names the REST API reports. */
  static enum State {
    SENT,
    QUEUED,
    STARTED,
    CANCELLED,
    FAILED,
    SUCCEEDED;
  }

  /** Callbacks on state changes. */
  static interface Listener<T> {
    void onJobQueued(JobHandle<T> job);

    void onJobStarted(JobHandle<T> job);

    void onJobCancelled(JobHandle<T> job);

    void onJobFailed(JobHandle<T> job, Throwable cause);

    void onJobSucceeded(JobHandle<T> job, T result);
  }
}
