package org.apache.livy;

import java.io.Serializable;

/**
 * A Job API job as Livy's livy-api declares it: same package, name and signature, so a jar
 * compiled against livy-api runs in a livy-rs driver unchanged (the user's jar does not bundle
 * this interface; the driver provides it).
 */
public interface Job<T> extends Serializable {
  T call(JobContext jc) throws Exception;
}
