//! Configuration: livy.conf, spark-blacklist.conf, spark-defaults.conf and Hadoop's XML files,
//! read once at start into typed structs. Every problem is reported together, so an admin fixes a
//! conf dir in one pass (`livy-server validate` runs exactly this and nothing else).

pub mod auth;
mod env;
pub mod ha;
pub mod hadoop;
pub mod keys;
pub mod ldap;
mod load;
pub mod monitoring;
pub mod pool;
mod raw;
pub mod recovery;
pub mod security;
pub mod ui;
pub mod units;

pub use env::{parse_properties, read_properties, Env};
use hadoop::HadoopConf;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

/// Spark settings holding lists of files, which Livy resolves and checks against the whitelist
/// (Livy's `HARDCODED_SPARK_FILE_LISTS`; `livy.spark.file-list-configs` adds more).
pub const SPARK_FILE_LIST_KEYS: &[&str] = &[
    "spark.jars",
    "spark.files",
    "spark.yarn.dist.archives",
    "spark.submit.pyFiles",
    "spark.archives",
    "spark.yarn.archive",
    "spark.yarn.dist.files",
    "spark.yarn.dist.jars",
    "spark.yarn.dist.pyFiles",
    "spark.yarn.jar",
    "spark.yarn.jars",
];

/// All configuration problems found, reported together.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n  - {}", problems.join("\n  - "))]
pub struct ConfError {
    pub problems: Vec<String>,
}

/// The HTTP server's settings.
#[derive(Debug, Clone)]
pub struct ServerConf {
    pub host: String,
    pub port: u16,
    pub ui_enabled: bool,
    pub base_path: String,
    pub request_header_size: usize,
    pub send_server_version: bool,
    pub request_log_retain_days: usize,
    /// `livy.server.log.format`: text or JSON lines in the server log.
    pub log_format: monitoring::LogFormat,
    /// Who may read `/metrics` without authenticating.
    pub metrics: monitoring::MetricsConf,
}

/// Where Spark is and how sessions and batches are launched.
#[derive(Debug, Clone)]
pub struct SparkConf {
    pub home: PathBuf,
    pub master: String,
    pub deploy_mode: Option<String>,
    /// From the jars in `$SPARK_HOME/jars` (or `livy.spark.version`), e.g. "4.3.0".
    pub version: Option<String>,
    pub conf_dir: Option<PathBuf>,
    /// spark-defaults.conf, as spark-submit will read it.
    pub defaults: BTreeMap<String, String>,
    pub file_list_keys: Vec<String>,
    /// The Python that runs PySpark code (PYSPARK_PYTHON or `livy.server.launch.pyspark-python`).
    pub pyspark_python: Option<String>,
    /// Spark's redaction rule (`spark.redaction.regex` of spark-defaults.conf, else Spark's).
    pub redaction: crate::launch::redact::Redactor,
}

impl SparkConf {
    pub fn spark_submit(&self) -> PathBuf {
        self.home.join("bin").join("spark-submit")
    }

    pub fn is_yarn(&self) -> bool {
        self.master.starts_with("yarn")
    }
}

/// Lifecycle limits of sessions and batches.
#[derive(Debug, Clone)]
pub struct SessionConf {
    pub timeout_check: bool,
    pub timeout_check_skip_busy: bool,
    pub timeout: Duration,
    pub state_retain: Duration,
    pub max_creation: usize,
    pub ttl_check: bool,
    pub ttl: Duration,
    pub allow_custom_classpath: bool,
    pub cache_log_size: usize,
    pub process_kill_timeout: Duration,
}

/// Who may do what (Livy's AccessManager settings).
#[derive(Debug, Clone, Default)]
pub struct AccessConf {
    pub impersonation_enabled: bool,
    pub superusers: BTreeSet<String>,
    pub access_control_enabled: bool,
    pub allowed_users: BTreeSet<String>,
    pub modify_users: BTreeSet<String>,
    pub view_users: BTreeSet<String>,
}

/// The remote Spark context: how drivers of interactive sessions reach the server.
#[derive(Debug, Clone)]
pub struct RscConf {
    /// Address drivers connect to (`livy.rsc.launcher.address`); `None` = decide at start.
    pub launcher_address: Option<String>,
    pub port_range: (u16, u16),
    /// Address the channel listens on (`livy.rsc.rpc.server.address`).
    pub bind_address: Option<String>,
    pub max_message: usize,
    pub connect_timeout: Duration,
    pub retained_statements: usize,
    pub sql_num_rows: usize,
    pub job_cancel_trigger: Duration,
    /// How long a cancelled statement may stay `cancelling` before it is `cancelled` anyway.
    pub job_cancel_timeout: Duration,
    pub output_max: usize,
}

/// YARN settings, present when `livy.spark.master` is `yarn`.
#[derive(Debug, Clone)]
pub struct YarnSettings {
    pub cluster: crate::yarn::YarnConf,
    /// `livy.server.yarn.submit`: through spark-submit, or natively through the RM REST API.
    pub submit_with_rest: bool,
    pub admission_check: bool,
    pub monitor: crate::yarn::monitor::MonitorSettings,
    /// `livy.session.staging-dir` as a path on `fs.defaultFS`: where each session's uploads go
    /// (`<dir>/<random>`); `None` = `<owner's home>/.livy-sessions`, as in Livy.
    pub session_staging_dir: Option<String>,
}

/// Where the server keeps its files.
#[derive(Debug, Clone)]
pub struct Paths {
    pub conf_dir: PathBuf,
    pub log_dir: PathBuf,
    pub pid_dir: PathBuf,
}

/// The whole checked configuration.
#[derive(Debug, Clone)]
pub struct LivyConf {
    pub server: ServerConf,
    pub spark: SparkConf,
    pub sessions: SessionConf,
    pub access: AccessConf,
    /// How clients authenticate (`livy.server.auth.*`).
    pub auth: auth::AuthConf,
    pub rsc: RscConf,
    /// CSRF protection, security headers and TLS of the REST port.
    pub security: security::SecurityConf,
    pub yarn: Option<YarnSettings>,
    /// Present when `livy.server.recovery.mode = recovery`.
    pub recovery: Option<recovery::RecoveryConf>,
    /// The warm pool of drivers, present when `livy.server.session.pool.size` is above 0.
    pub pool: Option<pool::PoolConf>,
    /// `livy.file.upload.max.size`: the largest upload accepted.
    pub files_upload_max: usize,
    /// `livy.file.local-dir-whitelist`, each with a trailing '/'.
    pub local_dir_whitelist: Vec<String>,
    /// Keys users may not set in a session's or batch's `conf`.
    pub blacklist: BTreeSet<String>,
    pub hadoop: HadoopConf,
    /// The server's Kerberos identity towards Hadoop (`livy.server.launch.kerberos.*`), present
    /// when core-site.xml says `hadoop.security.authentication = kerberos`, as in Livy.
    pub launch_kerberos: Option<crate::auth::hadoop::IdentitySettings>,
    pub paths: Paths,
    /// Every known key's value after validation (explicit or default), for the keys later
    /// subsystems type for themselves.
    values: BTreeMap<&'static str, String>,
}

/// A loaded configuration plus the warnings to log once at start.
pub struct Loaded {
    pub conf: LivyConf,
    pub warnings: Vec<String>,
}

impl LivyConf {
    /// The validated value of a known key (explicit or Livy's default).
    pub fn value(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    /// A known duration key's value.
    pub fn duration(&self, key: &str) -> Duration {
        self.value(key)
            .and_then(|v| units::parse_duration(v).ok())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests;
