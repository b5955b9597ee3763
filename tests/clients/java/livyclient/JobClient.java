package livyclient;

import com.esotericsoftware.kryo.Kryo;
import com.esotericsoftware.kryo.io.Input;
import com.esotericsoftware.kryo.io.Output;
import com.esotericsoftware.kryo.serializers.ClosureSerializer;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.ByteArrayOutputStream;
import java.lang.invoke.SerializedLambda;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.Base64;
import java.util.UUID;
import org.objenesis.strategy.StdInstantiatorStrategy;

/**
 * A Java client of Livy's programmatic Job API, speaking the wire protocol of livy-client-http
 * (HttpClient, LivyConnection, JobHandleImpl, Serializer): the same JSON requests and headers
 * (X-Requested-By, Content-Encoding: UTF-8, Expect: 100-continue), the multipart part "jar",
 * the job as base64 of Kryo 4 writeClassAndObject with the client's Kryo set-up, polling the job
 * from 100 ms doubling to 5 s. Written with the JDK's HTTP client because livy-client-http is
 * not reachable here.
 *
 * <pre>
 *   create URL                     -> the new session's id
 *   upload-jar URL ID JAR
 *   run URL ID JOB ARG             -> "SUCCEEDED\t&lt;result&gt;" | "FAILED\t&lt;error&gt;" | "CANCELLED"
 *   cancel URL ID JOB ARG          -> submits, cancels once STARTED, prints the final state
 * </pre>
 * JOB ARG name a job of testjobs.TestJobs (the jar the test uploads is on this class path too).
 */
public final class JobClient {
  private static final ObjectMapper JSON = new ObjectMapper();
  private final HttpClient http =
      HttpClient.newBuilder()
          .version(HttpClient.Version.HTTP_1_1)
          .connectTimeout(Duration.ofSeconds(10))
          .build();
  private final String sessions;

  private JobClient(String url) {
    this.sessions = url.replaceAll("/+$", "") + "/sessions";
  }

  public static void main(String[] args) throws Exception {
    JobClient c = new JobClient(args[1]);
    switch (args[0]) {
      case "create":
        System.out.println(c.create());
        break;
      case "upload-jar":
        c.uploadJar(args[2], Paths.get(args[3]));
        break;
      case "run":
        System.out.println(c.run(args[2], args[3], args[4], false));
        break;
      case "cancel":
        System.out.println(c.run(args[2], args[3], args[4], true));
        break;
      default:
        throw new IllegalArgumentException("unknown command " + args[0]);
    }
  }

  /** Livy's client Kryo: see the server's JobRunner for why each setting. */
  static Kryo kryo() {
    Kryo kryo = new Kryo();
    kryo.setInstantiatorStrategy(new Kryo.DefaultInstantiatorStrategy(new StdInstantiatorStrategy()));
    kryo.register(SerializedLambda.class);
    kryo.register(ClosureSerializer.Closure.class, new ClosureSerializer());
    kryo.setClassLoader(Thread.currentThread().getContextClassLoader());
    return kryo;
  }

  private HttpRequest.Builder json(String path) {
    return HttpRequest.newBuilder(URI.create(sessions + path))
        .timeout(Duration.ofMinutes(5))
        .header("X-Requested-By", "livy")
        .header("Accept", "application/json")
        .header("Content-Type", "application/json")
        .header("Content-Encoding", "UTF-8");
  }

  private JsonNode send(HttpRequest request) throws Exception {
    HttpResponse<String> r = http.send(request, HttpResponse.BodyHandlers.ofString());
    if (r.statusCode() / 100 != 2) {
      throw new java.io.IOException("HTTP " + r.statusCode() + ": " + r.body());
    }
    return r.body().isEmpty() ? null : JSON.readTree(r.body());
  }

  private JsonNode post(String path, Object body) throws Exception {
    String text = body == null ? "" : JSON.writeValueAsString(body);
    // Apache HttpClient (livy-client-http) sends Expect: 100-continue only with a body.
    return send(json(path).expectContinue(!text.isEmpty()).POST(HttpRequest.BodyPublishers.ofString(text)).build());
  }

  String create() throws Exception {
    ObjectNode body = JSON.createObjectNode();
    body.putObject("conf").put("livy.uri", sessions);
    return post("/", body).get("id").asText();
  }

  void uploadJar(String id, Path jar) throws Exception {
    String boundary = "livyrs" + UUID.randomUUID().toString().replace("-", "");
    ByteArrayOutputStream body = new ByteArrayOutputStream();
    String head =
        "--" + boundary + "\r\n"
            + "Content-Disposition: form-data; name=\"jar\"; filename=\"" + jar.getFileName() + "\"\r\n"
            + "Content-Type: application/octet-stream\r\n\r\n";
    body.write(head.getBytes(StandardCharsets.UTF_8));
    body.write(Files.readAllBytes(jar));
    body.write(("\r\n--" + boundary + "--\r\n").getBytes(StandardCharsets.UTF_8));
    HttpRequest request =
        HttpRequest.newBuilder(URI.create(sessions + "/" + id + "/upload-jar"))
            .timeout(Duration.ofMinutes(5))
            .expectContinue(true)
            .header("X-Requested-By", "livy")
            .header("Content-Type", "multipart/form-data; boundary=" + boundary)
            .POST(HttpRequest.BodyPublishers.ofByteArray(body.toByteArray()))
            .build();
    send(request);
  }

  String run(String id, String name, String arg, boolean cancel) throws Exception {
    Object job = testjobs.TestJobs.make(name, arg);
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    try (Output out = new Output(bytes)) {
      kryo().writeClassAndObject(out, job);
    }
    ObjectNode body = JSON.createObjectNode();
    body.put("job", Base64.getEncoder().encodeToString(bytes.toByteArray()));
    body.put("jobType", "spark");
    JsonNode submitted = post("/" + id + "/submit-job", body);
    String jobId = submitted.get("id").asText();
    long interval = 100;
    boolean cancelled = false;
    while (true) {
      JsonNode status = send(json("/" + id + "/jobs/" + jobId).GET().build());
      String state = status.get("state").asText();
      switch (state) {
        case "SUCCEEDED":
          JsonNode result = status.get("result");
          if (result == null || result.isNull()) {
            return "SUCCEEDED\tnull";
          }
          try (Input in = new Input(Base64.getDecoder().decode(result.asText()))) {
            return "SUCCEEDED\t" + kryo().readClassAndObject(in);
          }
        case "FAILED":
          return "FAILED\t" + status.get("error").asText();
        case "CANCELLED":
          return "CANCELLED";
        case "QUEUED":
        case "STARTED":
          break;
        default:
          throw new IllegalStateException("unexpected job state " + state);
      }
      if (cancel && !cancelled && state.equals("STARTED")) {
        post("/" + id + "/jobs/" + jobId + "/cancel", null);
        cancelled = true;
      }
      Thread.sleep(interval);
      interval = Math.min(interval * 2, 5000);
    }
  }
}
