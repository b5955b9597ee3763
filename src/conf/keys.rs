//! Every livy.conf key livy-rs knows, with Livy 0.9's default and the form its value must take.
//!
//! The table is the single source of truth: the loader validates every key found in livy.conf
//! against it, warns once about keys it does not contain and about keys livy-rs does not use
//! ([`Support`]), and `LivyConf::from_map` reads typed values through it, so a default is
//! written down exactly once.

/// The form a key's value must take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Str,
    Bool,
    Int,
    Duration,
    Size,
    /// Comma-separated list.
    List,
}

/// What livy-rs does with a key: every key Livy knows either works, or is named in a warning at
/// start when livy.conf sets it, so no setting is silently accepted and ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    /// livy-rs reads it and behaves as Livy does (or as the comment on the key says).
    Works,
    /// Accepted so Livy configs load, but it has no effect in livy-rs: setting it logs a warning
    /// naming the key and saying why (never the value: some are passwords).
    NoEffect(&'static str),
}

/// One known key.
#[derive(Debug)]
pub struct Key {
    pub name: &'static str,
    pub default: Option<&'static str>,
    pub kind: Kind,
    pub support: Support,
}

/// A key livy-rs reads.
const fn k(name: &'static str, default: Option<&'static str>, kind: Kind) -> Key {
    Key {
        name,
        default,
        kind,
        support: Support::Works,
    }
}

/// A key livy-rs accepts but does not use, and why.
const fn n(
    name: &'static str,
    default: Option<&'static str>,
    kind: Kind,
    why: &'static str,
) -> Key {
    Key {
        name,
        default,
        kind,
        support: Support::NoEffect(why),
    }
}

// Why keys have no effect, shared by whole families.
const THRIFT: &str = "livy-rs has no Thrift (JDBC) server";
const KUBERNETES: &str = "livy-rs launches on local and YARN masters only, not Kubernetes";
const MANAGE_POOL: &str =
    "livy-rs runs session management on its async runtime; there is no thread pool to size";
const JVM_DRIVER: &str =
    "the session driver is livy-rs's own Python program, not Livy's RSC/REPL jars";
const SET_PER_SESSION: &str = "livy-rs sets this for each session itself";
const CHANNEL: &str =
    "the driver channel is TLS with a pinned certificate and HMAC authentication, not Netty SASL";
const KEYSTORE_KEYS: &str = "livy-rs serves TLS from PEM files (livy.server.tls.certificate and livy.server.tls.key), not a Java keystore";
const SPARKR: &str = "SparkR sessions are not supported";
const HIVE: &str = "sessions use the catalog Spark is configured with; for Hive set \
                    spark.sql.catalogImplementation=hive in spark-defaults.conf";
const HDFS_STORE: &str =
    "the filesystem recovery store is a local directory (hdfs:// is refused), so there is no HDFS safe mode to wait for";
const ZK_SASL: &str = "livy-rs does not use SASL towards ZooKeeper; protect the records with \
                       livy.server.recovery.zk-state-store.digest (user:password) instead";
const RESPONSE_HEADERS: &str = "livy-rs's response headers are small and bounded by livy.conf";

use Kind::*;

// Names of keys read by the typed config; kept as constants so code and table cannot drift.
pub const SPARK_HOME: &str = "livy.server.spark-home";
pub const SPARK_MASTER: &str = "livy.spark.master";
pub const SPARK_DEPLOY_MODE: &str = "livy.spark.deploy-mode";
pub const SERVER_HOST: &str = "livy.server.host";
pub const SERVER_PORT: &str = "livy.server.port";
pub const UI_ENABLED: &str = "livy.ui.enabled";
pub const UI_BASE_PATH: &str = "livy.ui.basePath";
pub const REQUEST_HEADER_SIZE: &str = "livy.server.request-header.size";
pub const SEND_SERVER_VERSION: &str = "livy.server.send-server-version";
pub const IMPERSONATION_ENABLED: &str = "livy.impersonation.enabled";
pub const SUPERUSERS: &str = "livy.superusers";
pub const ACCESS_CONTROL_ENABLED: &str = "livy.server.access-control.enabled";
pub const ACCESS_CONTROL_ALLOWED_USERS: &str = "livy.server.access-control.allowed-users";
pub const ACCESS_CONTROL_MODIFY_USERS: &str = "livy.server.access-control.modify-users";
pub const ACCESS_CONTROL_VIEW_USERS: &str = "livy.server.access-control.view-users";
pub const LOCAL_FS_WHITELIST: &str = "livy.file.local-dir-whitelist";
pub const SPARK_FILE_LISTS: &str = "livy.spark.file-list-configs";
pub const CACHE_LOG_SIZE: &str = "livy.cache-log.size";
pub const SESSION_TIMEOUT_CHECK: &str = "livy.server.session.timeout-check";
pub const SESSION_TIMEOUT_CHECK_SKIP_BUSY: &str = "livy.server.session.timeout-check.skip-busy";
pub const SESSION_TIMEOUT: &str = "livy.server.session.timeout";
pub const SESSION_STATE_RETAIN: &str = "livy.server.session.state-retain.sec";
pub const SESSION_MAX_CREATION: &str = "livy.server.session.max-creation";
pub const SESSION_TTL_CHECK: &str = "livy.server.session.ttl-check";
pub const SESSION_TTL: &str = "livy.server.session.ttl";
pub const SESSION_ALLOW_CUSTOM_CLASSPATH: &str = "livy.server.session.allow-custom-classpath";
pub const REQUEST_LOG_RETAIN_DAYS: &str = "livy.server.request-log-retain.days";
/// livy-rs's own: `text` or `json` lines in the server log (conf::monitoring).
pub const LOG_FORMAT: &str = "livy.server.log.format";
/// livy-rs's own: peers that may scrape `/metrics` without credentials (conf::monitoring).
pub const METRICS_ALLOWED_ADDRESSES: &str = "livy.server.metrics.allowed-addresses";
pub const RECOVERY_MODE: &str = "livy.server.recovery.mode";
pub const YARN_POLL_INTERVAL: &str = "livy.server.yarn.poll-interval";
pub const YARN_APP_LOOKUP_TIMEOUT: &str = "livy.server.yarn.app-lookup-timeout";
pub const PROCESS_KILL_TIMEOUT: &str = "livy.server.process.kill-timeout";
pub const LAUNCH_PYSPARK_PYTHON: &str = "livy.server.launch.pyspark-python";
pub const YARN_SUBMIT: &str = "livy.server.yarn.submit";
pub const PYSPARK_ARCHIVES: &str = "livy.pyspark.archives";
pub const SESSION_STAGING_DIR: &str = "livy.session.staging-dir";
pub const YARN_ADMISSION_CHECK: &str = "livy.server.yarn.admission-check";
pub const AUTH_TYPE: &str = "livy.server.auth.type";
pub const AUTH_LDAP_URL: &str = "livy.server.auth.ldap.url";
pub const AUTH_LDAP_BASE_DN: &str = "livy.server.auth.ldap.base-dn";
pub const AUTH_LDAP_USERNAME_DOMAIN: &str = "livy.server.auth.ldap.username-domain";
pub const AUTH_LDAP_START_TLS: &str = "livy.server.auth.ldap.enable-start-tls";
pub const AUTH_LDAP_SECURITY_AUTH: &str = "livy.server.auth.ldap.security-authentication";
pub const AUTH_LDAP_CA_FILE: &str = "livy.server.auth.ldap.ca-file";
pub const AUTH_LDAP_TIMEOUT: &str = "livy.server.auth.ldap.timeout";
pub const YARN_SERVER_TAG: &str = "livy.server.yarn.server-tag";
pub const STATEMENT_OUTPUT_MAX: &str = "livy.server.statement.output-max-size";
pub const LAUNCHER_ADDRESS: &str = "livy.rsc.launcher.address";
pub const LAUNCHER_PORT_RANGE: &str = "livy.rsc.launcher.port.range";
pub const RPC_SERVER_ADDRESS: &str = "livy.rsc.rpc.server.address";
pub const RPC_MAX_SIZE: &str = "livy.rsc.rpc.max.size";
pub const CONNECT_TIMEOUT: &str = "livy.rsc.server.connect.timeout";
pub const RETAINED_STATEMENTS: &str = "livy.rsc.retained-statements";
pub const SQL_NUM_ROWS: &str = "livy.rsc.sql.num-rows";
pub const JOB_CANCEL_TRIGGER: &str = "livy.rsc.job-cancel.trigger-interval";
pub const JOB_CANCEL_TIMEOUT: &str = "livy.rsc.job-cancel.timeout";
pub const HEARTBEAT_INTERVAL: &str = "livy.server.heartbeat-watchdog.interval";
pub const CSRF_PROTECTION: &str = "livy.server.csrf-protection.enabled";
pub const SECURITY_HEADERS_ENABLED: &str = "livy.server.security-headers.enabled";
pub const HEADER_XSS_PROTECTION: &str = "livy.server.http.header.X-XSS-Protection";
pub const HEADER_FRAME_OPTIONS: &str = "livy.server.http.header.X-Frame-Options";
pub const HEADER_CONTENT_TYPE_OPTIONS: &str = "livy.server.http.header.X-Content-Type-Options";
pub const HEADER_STRICT_TRANSPORT_SECURITY: &str =
    "livy.server.http.header.Strict-Transport-Security";
pub const HEADER_CONTENT_SECURITY_POLICY: &str = "livy.server.http.header.Content-Security-Policy";
pub const KEYSTORE: &str = "livy.keystore";
pub const KEYSTORE_PASSWORD: &str = "livy.keystore.password";
pub const KEY_PASSWORD: &str = "livy.key-password";
pub const KEYSTORE_TYPE: &str = "livy.keystore.type";
pub const TLS_CERTIFICATE: &str = "livy.server.tls.certificate";
pub const TLS_KEY: &str = "livy.server.tls.key";
pub const AUTH_KERBEROS_PRINCIPAL: &str = "livy.server.auth.kerberos.principal";
pub const AUTH_KERBEROS_KEYTAB: &str = "livy.server.auth.kerberos.keytab";
pub const AUTH_KERBEROS_NAME_RULES: &str = "livy.server.auth.kerberos.name-rules";
/// livy-rs's own: origins besides the server's own whose pages may send state-changing requests.
pub const ALLOWED_ORIGINS: &str = "livy.server.allowed-origins";
/// livy-rs's own: how long the signed auth cookie is valid (Hadoop's `token.validity`).
pub const AUTH_TOKEN_VALIDITY: &str = "livy.server.auth.token.validity";

/// Livy 0.9's keys (LivyConf, RSCConf under `livy.rsc.`, the repl keys) followed by livy-rs's own.
pub const KEYS: &[Key] = &[
    // Server and Spark.
    k(SPARK_HOME, None, Str),
    k(SPARK_MASTER, Some("local"), Str),
    k(SPARK_DEPLOY_MODE, None, Str),
    n("livy.spark.scala-version", None, Str, JVM_DRIVER),
    k("livy.spark.version", None, Str),
    k(SESSION_STAGING_DIR, None, Str),
    k("livy.file.upload.max.size", Some("104857600"), Size),
    k(LOCAL_FS_WHITELIST, None, List),
    n("livy.repl.enable-hive-context", Some("false"), Bool, HIVE),
    n("livy.environment", Some("production"), Str, "livy-rs has no development mode"),
    k(SERVER_HOST, Some("0.0.0.0"), Str),
    k(SERVER_PORT, Some("8998"), Int),
    k(UI_BASE_PATH, Some(""), Str),
    k(UI_ENABLED, Some("true"), Bool),
    k(REQUEST_HEADER_SIZE, Some("131072"), Int),
    n("livy.server.response-header.size", Some("131072"), Int, RESPONSE_HEADERS),
    k(SEND_SERVER_VERSION, Some("false"), Bool),
    k(CSRF_PROTECTION, Some("false"), Bool),
    k(SECURITY_HEADERS_ENABLED, Some("true"), Bool),
    k(HEADER_XSS_PROTECTION, Some("1; mode=block"), Str),
    k(HEADER_FRAME_OPTIONS, Some("SAMEORIGIN"), Str),
    k(HEADER_CONTENT_TYPE_OPTIONS, Some("nosniff"), Str),
    k(
        HEADER_STRICT_TRANSPORT_SECURITY,
        Some("max-age=31536000; includeSubDomains"),
        Str,
    ),
    k(
        HEADER_CONTENT_SECURITY_POLICY,
        Some("default-src 'self'; script-src 'self' 'unsafe-inline'; img-src 'self'; frame-src 'self';"),
        Str,
    ),
    k(IMPERSONATION_ENABLED, Some("false"), Bool),
    k(SUPERUSERS, None, List),
    k(ACCESS_CONTROL_ENABLED, Some("false"), Bool),
    k(ACCESS_CONTROL_ALLOWED_USERS, Some("*"), List),
    k(ACCESS_CONTROL_MODIFY_USERS, None, List),
    k(ACCESS_CONTROL_VIEW_USERS, None, List),
    k(KEYSTORE, None, Str),
    n(KEYSTORE_PASSWORD, None, Str, KEYSTORE_KEYS),
    n(KEY_PASSWORD, None, Str, KEYSTORE_KEYS),
    n(KEYSTORE_TYPE, Some("JKS"), Str, KEYSTORE_KEYS),
    n("livy.hadoop.security.credential.provider.path", None, Str, KEYSTORE_KEYS),
    k(AUTH_TYPE, None, Str),
    k(AUTH_LDAP_URL, None, Str),
    k(AUTH_LDAP_BASE_DN, None, Str),
    k(AUTH_LDAP_USERNAME_DOMAIN, None, Str),
    k(AUTH_LDAP_START_TLS, Some("false"), Bool),
    k(AUTH_LDAP_SECURITY_AUTH, Some("simple"), Str),
    k(AUTH_KERBEROS_PRINCIPAL, None, Str),
    k(AUTH_KERBEROS_KEYTAB, None, Str),
    k(AUTH_KERBEROS_NAME_RULES, Some("DEFAULT"), Str),
    n(HEARTBEAT_INTERVAL, Some("1m"), Duration, "session heartbeats are checked every second"),
    k("livy.server.launch.kerberos.principal", None, Str),
    k("livy.server.launch.kerberos.keytab", None, Str),
    k("livy.server.launch.kerberos.refresh-interval", Some("1h"), Duration),
    k("livy.server.launch.kerberos.kinit-fail-threshold", Some("5"), Int),
    n("livy.server.session.manage.threads", Some("200"), Int, MANAGE_POOL),
    n("livy.server.session.manage.shutdown.timeout", Some("10s"), Duration, MANAGE_POOL),
    n("livy.server.session.manage.wait.queue.size", Some("100"), Int, MANAGE_POOL),
    n("livy.server.session.manage.keepalive.time", Some("10s"), Duration, MANAGE_POOL),
    // Recovery and ZooKeeper.
    k(RECOVERY_MODE, Some("off"), Str),
    k("livy.server.zookeeper.url", None, Str),
    k("livy.server.recovery.state-store", None, Str),
    k("livy.server.recovery.state-store.url", None, Str),
    k("livy.server.recovery.zk-state-store.retry-policy", Some("5,100"), Str),
    k("livy.server.zk.retry-policy", None, Str),
    k("livy.server.zk.sasl.enabled", Some("false"), Bool),
    n("livy.server.zk.sasl.login-context", Some("Client"), Str, ZK_SASL),
    k("livy.server.recovery.zk-state-store.key-prefix", Some("livy"), Str),
    // livy-rs: digest credentials that protect the ZooKeeper records (they hold driver secrets).
    k("livy.server.recovery.zk-state-store.digest", None, Str),
    // livy-rs: several servers as one (src/conf/ha.rs).
    k(super::ha::MODE, Some("off"), Str),
    k(super::ha::SECRET_FILE, None, Str),
    k(super::ha::ADVERTISED_URL, None, Str),
    k(super::ha::SESSION_TIMEOUT, Some(super::ha::DEFAULT_SESSION_TIMEOUT), Duration),
    // Logs, YARN, HDFS.
    k(CACHE_LOG_SIZE, Some("200"), Int),
    k(YARN_APP_LOOKUP_TIMEOUT, Some("120s"), Duration),
    k(YARN_POLL_INTERVAL, Some("5s"), Duration),
    k(REQUEST_LOG_RETAIN_DAYS, Some("5"), Int),
    k(LOG_FORMAT, Some("text"), Str),
    k(METRICS_ALLOWED_ADDRESSES, None, List),
    n("livy.repl.jars", None, List, JVM_DRIVER),
    n("livy.rsc.jars", None, List, JVM_DRIVER),
    k(PYSPARK_ARCHIVES, None, List),
    n("livy.sparkr.package", None, Str, SPARKR),
    k("livy.server.yarn.app-leakage.check-timeout", Some("600s"), Duration),
    k("livy.server.yarn.app-leakage.check-interval", Some("60s"), Duration),
    n("livy.server.hdfs.safe-mode.interval", Some("5"), Int, HDFS_STORE),
    n("livy.server.hdfs.safe-mode.max.retry.attempts", Some("12"), Int, HDFS_STORE),
    // Kubernetes (accepted so Livy configs load; setting one is warned about at start).
    n("livy.server.kubernetes.oauthTokenFile", Some(""), Str, KUBERNETES),
    n("livy.server.kubernetes.oauthTokenValue", Some(""), Str, KUBERNETES),
    n("livy.server.kubernetes.caCertFile", Some(""), Str, KUBERNETES),
    n("livy.server.kubernetes.clientKeyFile", Some(""), Str, KUBERNETES),
    n("livy.server.kubernetes.clientCertFile", Some(""), Str, KUBERNETES),
    n("livy.server.kubernetes.app-lookup-timeout", Some("600s"), Duration, KUBERNETES),
    n("livy.server.kubernetes.app-lookup.max-failed.times", Some("120"), Int, KUBERNETES),
    n("livy.server.kubernetes.app-lookup.thread-pool.size", Some("4"), Int, KUBERNETES),
    n("livy.server.kubernetes.poll-interval", Some("15s"), Duration, KUBERNETES),
    n("livy.server.kubernetes.app-leakage.check-timeout", Some("600s"), Duration, KUBERNETES),
    n("livy.server.kubernetes.app-leakage.check-interval", Some("60s"), Duration, KUBERNETES),
    n("livy.server.kubernetes.ingress.create", Some("false"), Bool, KUBERNETES),
    n("livy.server.kubernetes.ingress.className", Some(""), Str, KUBERNETES),
    n("livy.server.kubernetes.ingress.protocol", Some("http"), Str, KUBERNETES),
    n("livy.server.kubernetes.ingress.host", Some("localhost"), Str, KUBERNETES),
    n("livy.server.kubernetes.ingress.additionalConfSnippet", Some(""), Str, KUBERNETES),
    n("livy.server.kubernetes.ingress.additionalAnnotations", Some(""), Str, KUBERNETES),
    n("livy.server.kubernetes.ingress.tls.secretName", Some("spark-cluster-tls"), Str, KUBERNETES),
    n("livy.server.kubernetes.grafana.loki.enabled", Some("false"), Bool, KUBERNETES),
    n("livy.server.kubernetes.grafana.url", Some("http://localhost:3000"), Str, KUBERNETES),
    n("livy.server.kubernetes.grafana.loki.datasource", Some("loki"), Str, KUBERNETES),
    n("livy.server.kubernetes.grafana.timeRange", Some("6h"), Str, KUBERNETES),
    n("livy.server.kubernetes.spark.sidecar.enabled", Some("true"), Bool, KUBERNETES),
    n("livy.server.kubernetes.spark.container.name", Some("spark-container"), Str, KUBERNETES),
    n("livy.ui.history-server-url", Some("http://spark-history-server"), Str, KUBERNETES),
    // Session lifecycle.
    k(SESSION_TIMEOUT_CHECK, Some("true"), Bool),
    k(SESSION_TIMEOUT_CHECK_SKIP_BUSY, Some("false"), Bool),
    k(SESSION_TIMEOUT, Some("1h"), Duration),
    k(SESSION_STATE_RETAIN, Some("600s"), Duration),
    k(SESSION_MAX_CREATION, Some("100"), Int),
    k(SESSION_TTL_CHECK, Some("false"), Bool),
    k(SESSION_TTL, Some("8h"), Duration),
    k(SESSION_ALLOW_CUSTOM_CLASSPATH, Some("false"), Bool),
    // The warm pool of session drivers (livy-rs's own keys; see conf::pool).
    k(super::pool::SIZE, Some("0"), Int),
    k(super::pool::KIND, Some("pyspark"), Str),
    k(super::pool::TTL, Some("1h"), Duration),
    k(SPARK_FILE_LISTS, None, List),
    // Thrift server (accepted so Livy configs load; setting one is warned about at start).
    n("livy.server.thrift.enabled", Some("false"), Bool, THRIFT),
    n("livy.server.thrift.incrementalCollect", Some("false"), Bool, THRIFT),
    n("livy.server.thrift.session.creationTimeout", Some("10m"), Duration, THRIFT),
    n("livy.server.thrift.resultset.default.fetch.size", Some("1000"), Int, THRIFT),
    n("livy.server.thrift.transport.mode", Some("binary"), Str, THRIFT),
    n("livy.server.thrift.port", Some("10090"), Int, THRIFT),
    n("livy.server.thrift.long.polling.timeout", Some("5000ms"), Duration, THRIFT),
    n("livy.server.thrift.limit.connections.per.user", Some("0"), Int, THRIFT),
    n("livy.server.thrift.limit.connections.per.ipaddress", Some("0"), Int, THRIFT),
    n("livy.server.thrift.limit.connections.per.user.ipaddress", Some("0"), Int, THRIFT),
    n("livy.server.thrift.session.check.interval", Some("6h"), Duration, THRIFT),
    n("livy.server.thrift.close.session.on.disconnect", Some("true"), Bool, THRIFT),
    n("livy.server.thrift.idle.session.timeout", Some("7d"), Duration, THRIFT),
    n("livy.server.thrift.idle.operation.timeout", Some("5d"), Duration, THRIFT),
    n("livy.server.thrift.idle.session.check.operation", Some("true"), Bool, THRIFT),
    n("livy.server.thrift.logging.operation.enabled", Some("true"), Bool, THRIFT),
    n("livy.server.thrift.async.exec.threads", Some("100"), Int, THRIFT),
    n("livy.server.thrift.async.exec.shutdown.timeout", Some("10s"), Duration, THRIFT),
    n("livy.server.thrift.async.exec.wait.queue.size", Some("100"), Int, THRIFT),
    n("livy.server.thrift.async.exec.keepalive.time", Some("10s"), Duration, THRIFT),
    n("livy.server.thrift.bind.host", None, Str, THRIFT),
    n("livy.server.thrift.worker.keepalive.time", Some("60s"), Duration, THRIFT),
    n("livy.server.thrift.min.worker.threads", Some("5"), Int, THRIFT),
    n("livy.server.thrift.max.worker.threads", Some("500"), Int, THRIFT),
    n("livy.server.thrift.resultset.max.fetch.size", Some("10000"), Int, THRIFT),
    n("livy.server.thrift.allow.user.substitution", Some("true"), Bool, THRIFT),
    n("livy.server.thrift.authentication", Some("NONE"), Str, THRIFT),
    n("livy.server.thrift.enable.doAs", Some("true"), Bool, THRIFT),
    n("livy.server.thrift.ssl.protocol.blacklist", Some("SSLv2,SSLv3"), List, THRIFT),
    n("livy.server.thrift.use.SSL", Some("false"), Bool, THRIFT),
    n("livy.server.thrift.max.message.size", Some("104857600"), Int, THRIFT),
    n("livy.server.thrift.login.timeout", Some("20s"), Duration, THRIFT),
    n("livy.server.thrift.exponential.backoff.slot.length", Some("100ms"), Duration, THRIFT),
    n("livy.server.thrift.http.request.header.size", Some("6144"), Int, THRIFT),
    n("livy.server.thrift.http.response.header.size", Some("6144"), Int, THRIFT),
    n("livy.server.thrift.http.max.idle.time", Some("1800s"), Duration, THRIFT),
    n("livy.server.thrift.xsrf.filter.enabled", Some("false"), Bool, THRIFT),
    n("livy.server.thrift.http.path", Some("cliservice"), Str, THRIFT),
    n("livy.server.thrift.http.compression.enabled", Some("true"), Bool, THRIFT),
    n("livy.server.thrift.http.cookie.auth.enabled", Some("true"), Bool, THRIFT),
    n("livy.server.thrift.http.cookie.max.age", Some("86400s"), Duration, THRIFT),
    n("livy.server.thrift.http.cookie.domain", None, Str, THRIFT),
    n("livy.server.thrift.http.cookie.path", None, Str, THRIFT),
    n("livy.server.thrift.http.cookie.is.httponly", Some("true"), Bool, THRIFT),
    n("livy.server.thrift.custom.authentication.class", None, Str, THRIFT),
    n("livy.server.thrift.sasl.qop", Some("auth"), Str, THRIFT),
    n("livy.server.thrift.delegation.key.update-interval", Some("1d"), Duration, THRIFT),
    n("livy.server.thrift.delegation.token.gc-interval", Some("1h"), Duration, THRIFT),
    n("livy.server.thrift.delegation.token.max-lifetime", Some("7d"), Duration, THRIFT),
    n("livy.server.thrift.delegation.token.renew-interval", Some("1d"), Duration, THRIFT),
    n("livy.server.thrift.ldap.authentication.userfilter", None, Str, THRIFT),
    // The remote Spark context (Livy's RSCConf, read from livy.conf with the `livy.rsc.` prefix).
    n("livy.rsc.client.auth.id", None, Str, SET_PER_SESSION),
    n("livy.rsc.client.auth.secret", None, Str, SET_PER_SESSION),
    n("livy.rsc.client.do-not-use.run-driver-in-process", Some("false"), Bool, "drivers always run in their own process"),
    n("livy.rsc.client.shutdown-timeout", Some("10s"), Duration, "a stopping driver gets livy.server.process.kill-timeout"),
    n("livy.rsc.driver-class", None, Str, JVM_DRIVER),
    n("livy.rsc.session.kind", None, Str, SET_PER_SESSION),
    n("livy.rsc.sparkr.package", None, Str, SPARKR),
    n("livy.rsc.pyspark.archives", None, List, "livy-rs reads livy.pyspark.archives (with livy.server.yarn.submit = rest)"),
    k(LAUNCHER_ADDRESS, None, Str),
    k(LAUNCHER_PORT_RANGE, Some("10000~10010"), Str),
    n("livy.rsc.launcher.port", Some("-1"), Int, "drivers connect to a port of livy.rsc.launcher.port.range"),
    k("livy.rsc.server.idle-timeout", Some("10m"), Duration),
    n("livy.rsc.proxy-user", None, Str, SET_PER_SESSION),
    k(RPC_SERVER_ADDRESS, None, Str),
    k(CONNECT_TIMEOUT, Some("90s"), Duration),
    n("livy.rsc.client.connect.timeout", Some("10s"), Duration, JVM_DRIVER),
    n("livy.rsc.channel.log.level", None, Str, CHANNEL),
    k(RPC_MAX_SIZE, Some("52428800"), Size),
    n("livy.rsc.rpc.threads", Some("8"), Int, CHANNEL),
    n("livy.rsc.secret.bits", Some("256"), Int, "session secrets are always 256 random bits"),
    n("livy.rsc.rpc.sasl.mechanisms", Some("DIGEST-MD5"), Str, CHANNEL),
    n("livy.rsc.rpc.sasl.qop", None, Str, CHANNEL),
    k(JOB_CANCEL_TRIGGER, Some("100ms"), Duration),
    k(JOB_CANCEL_TIMEOUT, Some("30s"), Duration),
    k(RETAINED_STATEMENTS, Some("100"), Int),
    n("livy.rsc.retained.share-variables", Some("100"), Int, JVM_DRIVER),
    k(SQL_NUM_ROWS, Some("1000"), Int),
    // livy-rs's own keys.
    k(PROCESS_KILL_TIMEOUT, Some("10s"), Duration),
    k(LAUNCH_PYSPARK_PYTHON, None, Str),
    k(STATEMENT_OUTPUT_MAX, Some("10m"), Size),
    k(YARN_SUBMIT, Some("spark-submit"), Str),
    k(YARN_ADMISSION_CHECK, Some("true"), Bool),
    // TLS on the REST port from PEM files (Livy's JKS `livy.keystore` is refused with a how-to).
    k(TLS_CERTIFICATE, None, Str),
    k(TLS_KEY, None, Str),
    k(AUTH_LDAP_CA_FILE, None, Str),
    k(AUTH_LDAP_TIMEOUT, Some("10s"), Duration),
    // Unset: livy-server-<host>-<port> (see yarn::server_tag); empty: no server tag.
    k(YARN_SERVER_TAG, None, Str),
    k(AUTH_TOKEN_VALIDITY, Some("36000s"), Duration),
    k(ALLOWED_ORIGINS, None, List),
];

/// Keys Livy renamed in 0.4, with the name that replaced them. Old names still work, with a warning.
pub const DEPRECATED: &[(&str, &str)] = &[
    ("livy.spark.deployMode", SPARK_DEPLOY_MODE),
    ("livy.spark.scalaVersion", "livy.spark.scala-version"),
    (
        "livy.repl.enableHiveContext",
        "livy.repl.enable-hive-context",
    ),
    (
        "livy.server.csrf_protection.enabled",
        "livy.server.csrf-protection.enabled",
    ),
    ("livy.server.access_control.enabled", ACCESS_CONTROL_ENABLED),
    (
        "livy.server.auth.kerberos.name_rules",
        "livy.server.auth.kerberos.name-rules",
    ),
    (
        "livy.server.launch.kerberos.refresh_interval",
        "livy.server.launch.kerberos.refresh-interval",
    ),
    (
        "livy.server.launch.kerberos.kinit_fail_threshold",
        "livy.server.launch.kerberos.kinit-fail-threshold",
    ),
    (
        "livy.server.yarn.app-leakage.check_timeout",
        "livy.server.yarn.app-leakage.check-timeout",
    ),
    (
        "livy.server.yarn.app-leakage.check_interval",
        "livy.server.yarn.app-leakage.check-interval",
    ),
    (
        "livy.rsc.client.shutdown_timeout",
        "livy.rsc.client.shutdown-timeout",
    ),
    ("livy.rsc.driver_class", "livy.rsc.driver-class"),
    (
        "livy.rsc.server.idle_timeout",
        "livy.rsc.server.idle-timeout",
    ),
    ("livy.rsc.proxy_user", "livy.rsc.proxy-user"),
    (
        "livy.rsc.job_cancel.trigger_interval",
        "livy.rsc.job-cancel.trigger-interval",
    ),
    ("livy.rsc.job_cancel.timeout", "livy.rsc.job-cancel.timeout"),
    (
        "livy.rsc.retained_statements",
        "livy.rsc.retained-statements",
    ),
];

/// Looks a key up in the table.
pub fn find(name: &str) -> Option<&'static Key> {
    KEYS.iter().find(|key| key.name == name)
}

/// Key prefixes whose members are open-ended (Livy's custom auth filter parameters).
pub fn is_open_ended(name: &str) -> bool {
    name.starts_with("livy.server.auth.") && (name.ends_with(".class") || name.contains(".param."))
}

/// The start-up warning for a key livy.conf sets, when livy-rs does not use it. Names the key,
/// never the value (some are passwords).
pub fn unsupported_warning(name: &str) -> Option<String> {
    let why = match find(name).map(|key| key.support) {
        Some(Support::NoEffect(why)) => why,
        Some(_) => return None,
        None if is_open_ended(name) => {
            "custom authentication filters are not supported (livy.server.auth.type is kerberos or ldap)"
        }
        None => return None,
    };
    Some(format!(
        "livy.conf: '{name}' is not supported by livy-rs and has no effect: {why}"
    ))
}
