package testjobs;

import java.util.Arrays;
import org.apache.livy.Job;
import org.apache.livy.JobContext;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;

/** The jobs the Java Job API tests submit, by name; all compiled against livy-api's interfaces. */
public final class TestJobs {
  private TestJobs() {}

  public static Job<?> make(String name, String arg) {
    switch (name) {
      case "pi":
        return new PiJob(Integer.parseInt(arg));
      case "fail":
        return new FailingJob(arg);
      case "lambda":
        return lambda(Integer.parseInt(arg));
      case "sql":
        return new SqlJob(Integer.parseInt(arg));
      case "point":
        return new PointJob(Integer.parseInt(arg));
      case "sleep":
        return new SleepJob(Long.parseLong(arg));
      case "where":
        return new WhereJob();
      case "stubborn":
        return new StubbornJob(Long.parseLong(arg));
      case "hive":
        return new HiveJob(Integer.parseInt(arg));
      default:
        throw new IllegalArgumentException("no job " + name);
    }
  }

  /** A lambda job: it travels as a SerializedLambda whose capturing class is this one. */
  static Job<Integer> lambda(int n) {
    return jc -> jc.sc().parallelize(Arrays.asList(1, 2, 3, 4, 5)).map(x -> x * n).reduce(Integer::sum);
  }

  /** Fails in the driver with a message the test looks for in the stack trace. */
  public static final class FailingJob implements Job<String> {
    private final String marker;

    public FailingJob(String marker) {
      this.marker = marker;
    }

    @Override
    public String call(JobContext jc) {
      throw new IllegalStateException("job failed on purpose: " + marker);
    }
  }

  /** Uses sparkSession() and sqlctx(): a view made through one is queried through the other. */
  public static final class SqlJob implements Job<Long> {
    private final int n;

    public SqlJob(int n) {
      this.n = n;
    }

    @Override
    public Long call(JobContext jc) throws Exception {
      SparkSession spark = jc.sparkSession();
      spark.range(n).createOrReplaceTempView("livy_rs_numbers");
      Row row = jc.sqlctx().sql("SELECT sum(id) FROM livy_rs_numbers").first();
      return row.getLong(0);
    }
  }

  /**
   * Where the driver loaded livy-api's {@code Job} (livy-rs's helper jar) and this jar's classes
   * from, space-separated: on YARN both must be copies in the driver's container, not the
   * server's files.
   */
  public static final class WhereJob implements Job<String> {
    @Override
    public String call(JobContext jc) {
      return location(Job.class) + " " + location(WhereJob.class);
    }

    private static String location(Class<?> c) {
      java.security.CodeSource source = c.getProtectionDomain().getCodeSource();
      return source == null ? "?" : String.valueOf(source.getLocation());
    }
  }

  /** Answers an object of a class from the uploaded jar. */
  public static final class PointJob implements Job<Point> {
    private final int x;

    public PointJob(int x) {
      this.x = x;
    }

    @Override
    public Point call(JobContext jc) {
      return new Point(x, (int) jc.sc().parallelize(Arrays.asList(1, 2, 3)).count());
    }
  }

  /** A Spark stage whose one task sleeps: what a cancel must end. */
  public static final class SleepJob implements Job<Long> {
    private final long millis;

    public SleepJob(long millis) {
      this.millis = millis;
    }

    @Override
    public Long call(JobContext jc) {
      long ms = millis;
      return jc.sc().parallelize(Arrays.asList(1), 1).map(x -> {
        Thread.sleep(ms);
        return x;
      }).count();
    }
  }

  /**
   * Sleeps in the driver and swallows the first interrupt, sleeping on: only a cancel that
   * interrupts it again ends it before {@code millis}.
   */
  public static final class StubbornJob implements Job<String> {
    private final long millis;

    public StubbornJob(long millis) {
      this.millis = millis;
    }

    @Override
    public String call(JobContext jc) throws InterruptedException {
      try {
        Thread.sleep(millis);
      } catch (InterruptedException first) {
        Thread.sleep(millis);
      }
      return "slept through the cancel";
    }
  }

  /** Queries through {@code hivectx()} (Spark's Hive classes ship with the pyspark wheel). */
  public static final class HiveJob implements Job<String> {
    private final int n;

    public HiveJob(int n) {
      this.n = n;
    }

    @Override
    public String call(JobContext jc) {
      org.apache.spark.sql.SQLContext hive = jc.hivectx();
      hive.sparkSession().range(n).createOrReplaceTempView("livy_rs_hive_numbers");
      Row row = hive.sql("SELECT count(*), sum(id) FROM livy_rs_hive_numbers").first();
      return hive.getClass().getName() + " " + row.getLong(0) + " " + row.getLong(1);
    }
  }
}
