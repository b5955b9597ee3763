//! Configuration: livy.conf, spark-blacklist.conf, spark-defaults.conf and Hadoop's XML files,
//! read once at start into typed structs. Every problem is reported together, so an admin fixes a
//! conf dir in one pass (`livy-server validate` runs exactly this and nothing else).

pub mod auth;
mod env;
pub mod ha;
pub mod hadoop;
pub mod keys;
pub mod ldap;
pub mod monitoring;
pub mod pool;
pub mod recovery;
pub mod security;
pub mod ui;
pub mod units;

use env::detect_spark_version;
pub use env::{parse_properties, read_properties, Env};
use hadoop::HadoopConf;
use keys::Kind;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

/// Keys users may never set themselves unless `livy.server.session.allow-custom-classpath` is on
/// (Livy's `Session.BLACKLIST_CUSTOM_CLASSPATH`).
const CUSTOM_CLASSPATH_KEYS: &[&str] = &[
    "spark.submit.deployMode",
    "spark.submit.proxyUser.allowCustomClasspathInClusterMode",
];

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
    /// Loads `livy.conf` and `spark-blacklist.conf` from the conf dir named by `env`.
    pub fn load(env: &Env) -> Result<Loaded, ConfError> {
        let conf_dir = env.conf_dir();
        let mut problems = Vec::new();
        let raw = match read_properties(&conf_dir.join("livy.conf")) {
            Ok(map) => map.unwrap_or_default(),
            Err(e) => {
                problems.push(e);
                BTreeMap::new()
            }
        };
        let blacklist = match read_properties(&conf_dir.join("spark-blacklist.conf")) {
            Ok(map) => map.unwrap_or_default().into_keys().collect(),
            Err(e) => {
                problems.push(e);
                BTreeSet::new()
            }
        };
        match Self::from_map(raw, blacklist, env) {
            Ok(loaded) if problems.is_empty() => Ok(loaded),
            Ok(_) => Err(ConfError { problems }),
            Err(mut e) => {
                problems.append(&mut e.problems);
                Err(ConfError { problems })
            }
        }
    }

    /// Checks raw livy.conf entries and builds the typed configuration.
    pub fn from_map(
        raw: BTreeMap<String, String>,
        mut blacklist: BTreeSet<String>,
        env: &Env,
    ) -> Result<Loaded, ConfError> {
        let mut problems = Vec::new();
        let mut warnings = Vec::new();
        let mut explicit: BTreeMap<&'static str, String> = BTreeMap::new();
        // `livy.server.session.pool.*` keys beyond the simple ones: the pool's profiles.
        let mut pool_keys: BTreeMap<String, String> = BTreeMap::new();

        for (name, value) in raw {
            let canonical = match keys::DEPRECATED.iter().find(|(old, _)| *old == name) {
                Some((old, new)) => {
                    warnings.push(format!(
                        "livy.conf: '{old}' is deprecated since Livy 0.4; use '{new}' instead"
                    ));
                    new.to_string()
                }
                None => name,
            };
            warnings.extend(keys::unsupported_warning(&canonical));
            match keys::find(&canonical) {
                Some(key) => match check(key.kind, &value) {
                    Ok(()) => {
                        explicit.insert(key.name, value.trim().to_string());
                    }
                    Err(expected) => problems.push(format!(
                        "{}: value '{}' is not valid; expected {}",
                        key.name, value, expected
                    )),
                },
                None if keys::is_open_ended(&canonical) => {}
                None if monitoring::owns(&canonical) => problems.push(format!(
                    "{canonical}: unknown key; livy-rs knows {} and {}",
                    keys::LOG_FORMAT,
                    keys::METRICS_ALLOWED_ADDRESSES
                )),
                None if canonical.starts_with(pool::PREFIX) => {
                    pool_keys.insert(canonical, value);
                }
                None if ha::unknown_key(&canonical).is_some() => {
                    problems.extend(ha::unknown_key(&canonical))
                }
                None if canonical.starts_with("livy.") => {
                    warnings.push(format!("livy.conf: unknown key '{canonical}' is ignored"))
                }
                None => warnings.push(format!(
                    "livy.conf: '{canonical}' is ignored (only livy.* keys are read from livy.conf)"
                )),
            }
        }

        let mut values = BTreeMap::new();
        for key in keys::KEYS {
            if let Some(v) = explicit
                .get(key.name)
                .cloned()
                .or(key.default.map(String::from))
            {
                values.insert(key.name, v);
            }
        }
        let get = |name: &str| {
            #[cfg(test)]
            tests::record_read(name);
            values.get(name).map(String::as_str)
        };
        let string = |name: &str| get(name).filter(|v| !v.is_empty()).map(String::from);
        let boolean = |name: &str| get(name).is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let int = |name: &str| get(name).and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
        let duration = |name: &str| {
            get(name)
                .and_then(|v| units::parse_duration(v).ok())
                .unwrap_or_default()
        };
        let list =
            |name: &str| -> Vec<String> { get(name).map(units::comma_list).unwrap_or_default() };

        let port = int(keys::SERVER_PORT);
        if !(0..=65535).contains(&port) {
            problems.push(format!(
                "{}: value '{port}' is not valid; expected a TCP port 0-65535",
                keys::SERVER_PORT
            ));
        }
        let master = string(keys::SPARK_MASTER).unwrap_or_default();
        if master.is_empty() {
            problems.push(format!(
                "{}: must name a Spark master (e.g. local, local[*], yarn)",
                keys::SPARK_MASTER
            ));
        }
        let deploy_mode = string(keys::SPARK_DEPLOY_MODE);
        if let Some(mode) = &deploy_mode {
            if mode != "client" && mode != "cluster" {
                problems.push(format!(
                    "{}: value '{mode}' is not valid; expected client or cluster",
                    keys::SPARK_DEPLOY_MODE
                ));
            }
        }
        let mut recovery = recovery::parse(
            &|name: &str| string(name),
            duration("livy.rsc.server.idle-timeout"),
            &mut problems,
        );
        if let Some(r) = recovery.as_mut() {
            let zookeeper = matches!(r.store, recovery::StoreConf::ZooKeeper { .. });
            r.ha = ha::parse(
                &|name: &str| string(name),
                zookeeper,
                duration(ha::SESSION_TIMEOUT),
                &mut problems,
            );
        } else {
            ha::parse(
                &|name: &str| string(name),
                false,
                Duration::ZERO,
                &mut problems,
            );
        }
        let pool = pool::parse(
            int(pool::SIZE),
            get(pool::KIND),
            duration(pool::TTL),
            &pool_keys,
            boolean(keys::IMPERSONATION_ENABLED),
            &mut problems,
        );
        if pool.is_some() && recovery.as_ref().is_some_and(|r| r.ha.is_some()) {
            problems.push(format!(
                "{}: the warm pool is not supported with {} = active-active yet",
                pool::SIZE,
                ha::MODE
            ));
        }
        for name in [
            keys::SESSION_MAX_CREATION,
            keys::CACHE_LOG_SIZE,
            keys::REQUEST_LOG_RETAIN_DAYS,
            keys::REQUEST_HEADER_SIZE,
        ] {
            if int(name) < 0 {
                problems.push(format!("{name}: must not be negative"));
            }
        }

        let port_range = match crate::driver::channel::parse_port_range(
            get(keys::LAUNCHER_PORT_RANGE).unwrap_or_default(),
        ) {
            Ok(range) => range,
            Err(e) => {
                problems.push(format!("{}: {e}", keys::LAUNCHER_PORT_RANGE));
                (0, 0)
            }
        };
        let size = |name: &str| {
            get(name)
                .and_then(|v| units::parse_size(v).ok())
                .and_then(|v| usize::try_from(v).ok())
                .unwrap_or(usize::MAX)
        };

        let spark_home = string(keys::SPARK_HOME)
            .map(PathBuf::from)
            .or_else(|| env.spark_home.clone());
        let spark_home = match spark_home {
            Some(home) if home.join("bin").join("spark-submit").is_file() => Some(home),
            Some(home) => {
                problems.push(format!(
                    "Spark home '{}' has no bin/spark-submit (set SPARK_HOME or {} to a Spark installation)",
                    home.display(),
                    keys::SPARK_HOME
                ));
                None
            }
            None => {
                problems.push(format!(
                    "SPARK_HOME is not set and {} is empty: livy-rs needs a Spark installation to launch sessions and batches",
                    keys::SPARK_HOME
                ));
                None
            }
        };
        let spark_conf_dir = env
            .spark_conf_dir
            .clone()
            .or_else(|| spark_home.as_ref().map(|h| h.join("conf")));
        let spark_defaults = match spark_conf_dir.as_ref() {
            Some(dir) => match read_properties(&dir.join("spark-defaults.conf")) {
                Ok(map) => map.unwrap_or_default(),
                Err(e) => {
                    problems.push(e);
                    BTreeMap::new()
                }
            },
            None => BTreeMap::new(),
        };
        let detected = spark_home
            .as_deref()
            .map(detect_spark_version)
            .unwrap_or_default();

        let hadoop = match HadoopConf::load(&hadoop::conf_dirs(
            env.hadoop_conf_dir.as_deref(),
            env.yarn_conf_dir.as_deref(),
        )) {
            Ok(h) => h,
            Err(e) => {
                problems.push(e);
                HadoopConf::default()
            }
        };

        let launch_kerberos =
            auth::launch_identity(&hadoop, &string, &int, &duration, &mut problems);

        let yarn = if master.starts_with("yarn") {
            let submit = string(keys::YARN_SUBMIT).unwrap_or_default();
            if submit != "spark-submit" && submit != "rest" {
                problems.push(format!(
                    "{}: value '{submit}' is not valid; expected spark-submit or rest",
                    keys::YARN_SUBMIT
                ));
            }
            let server_tag = crate::yarn::server_tag::from_conf(
                get(keys::YARN_SERVER_TAG),
                &string(keys::SERVER_HOST).unwrap_or_default(),
                u16::try_from(port).unwrap_or(0),
            )
            .unwrap_or_else(|e| {
                problems.push(format!("{}: {e}", keys::YARN_SERVER_TAG));
                None
            });
            match crate::yarn::YarnConf::from_hadoop(&hadoop) {
                Ok(cluster) => Some(YarnSettings {
                    session_staging_dir: string(keys::SESSION_STAGING_DIR)
                        .filter(|d| !d.trim().is_empty())
                        .and_then(|d| {
                            staging_path(d.trim(), &cluster.default_fs)
                                .map_err(|e| {
                                    problems.push(format!("{}: {e}", keys::SESSION_STAGING_DIR))
                                })
                                .ok()
                        }),
                    cluster,
                    submit_with_rest: submit == "rest",
                    admission_check: boolean(keys::YARN_ADMISSION_CHECK),
                    monitor: crate::yarn::monitor::MonitorSettings {
                        poll_interval: duration(keys::YARN_POLL_INTERVAL)
                            .max(Duration::from_millis(10)),
                        lookup_timeout: duration(keys::YARN_APP_LOOKUP_TIMEOUT),
                        leak_check_timeout: duration("livy.server.yarn.app-leakage.check-timeout"),
                        leak_check_interval: duration(
                            "livy.server.yarn.app-leakage.check-interval",
                        ),
                        server_tag,
                    },
                }),
                Err(e) => {
                    problems.push(format!(
                        "livy.spark.master is yarn, but the Hadoop configuration (HADOOP_CONF_DIR) is not usable: {e}"
                    ));
                    None
                }
            }
        } else {
            None
        };

        if explicit.contains_key(keys::SESSION_STAGING_DIR) && yarn.is_none() {
            warnings.push(format!(
                "livy.conf: '{}' has no effect unless {} is yarn (local sessions keep uploaded files in their directory on the server)",
                keys::SESSION_STAGING_DIR,
                keys::SPARK_MASTER
            ));
        }
        if explicit.contains_key(keys::PYSPARK_ARCHIVES)
            && !yarn.as_ref().is_some_and(|y| y.submit_with_rest)
        {
            warnings.push(format!(
                "livy.conf: '{}' has no effect unless {} is yarn and {} is rest (spark-submit ships pyspark itself)",
                keys::PYSPARK_ARCHIVES,
                keys::SPARK_MASTER,
                keys::YARN_SUBMIT
            ));
        }
        if !boolean(keys::SESSION_ALLOW_CUSTOM_CLASSPATH) {
            blacklist.extend(CUSTOM_CLASSPATH_KEYS.iter().map(|s| s.to_string()));
        }
        let mut file_list_keys: Vec<String> =
            SPARK_FILE_LIST_KEYS.iter().map(|s| s.to_string()).collect();
        file_list_keys.extend(list(keys::SPARK_FILE_LISTS));

        let security = security::from_values(get, &mut problems);
        let host = string(keys::SERVER_HOST).unwrap_or_else(|| "0.0.0.0".into());
        let auth = auth::parse(
            &|name: &str| string(name),
            &host,
            env.krb5_config.as_deref(),
            duration(keys::AUTH_TOKEN_VALIDITY),
            &mut problems,
        );
        if boolean(keys::ACCESS_CONTROL_ENABLED) && string(keys::AUTH_TYPE).is_none() {
            problems.push(format!(
                "{}: Access control was requested but could not be enabled, since authentication is disabled (set {}).",
                keys::ACCESS_CONTROL_ENABLED,
                keys::AUTH_TYPE
            ));
        }

        let log_format = monitoring::log_format(get(keys::LOG_FORMAT), &mut problems);
        let metrics = monitoring::metrics(list(keys::METRICS_ALLOWED_ADDRESSES), &mut problems);
        let set = |name: &str| list(name).into_iter().collect::<BTreeSet<_>>();
        let conf_dir = env.conf_dir();
        let home = env.livy_home.clone().unwrap_or_else(|| PathBuf::from("."));
        let base_path = ui::base_path(string(keys::UI_BASE_PATH).as_deref(), &mut problems);
        let conf = LivyConf {
            server: ServerConf {
                host,
                port: u16::try_from(port).unwrap_or(0),
                ui_enabled: boolean(keys::UI_ENABLED),
                base_path,
                request_header_size: usize::try_from(int(keys::REQUEST_HEADER_SIZE)).unwrap_or(0),
                send_server_version: boolean(keys::SEND_SERVER_VERSION),
                request_log_retain_days: usize::try_from(int(keys::REQUEST_LOG_RETAIN_DAYS))
                    .unwrap_or(0),
                log_format,
                metrics,
            },
            spark: SparkConf {
                home: spark_home.unwrap_or_default(),
                master,
                deploy_mode,
                version: string("livy.spark.version").or(detected),
                conf_dir: spark_conf_dir,
                defaults: spark_defaults.clone(),
                file_list_keys,
                pyspark_python: string(keys::LAUNCH_PYSPARK_PYTHON)
                    .or_else(|| env.pyspark_python.clone()),
                redaction: crate::launch::redact::Redactor::from_defaults(&spark_defaults),
            },
            sessions: SessionConf {
                timeout_check: boolean(keys::SESSION_TIMEOUT_CHECK),
                timeout_check_skip_busy: boolean(keys::SESSION_TIMEOUT_CHECK_SKIP_BUSY),
                timeout: duration(keys::SESSION_TIMEOUT),
                state_retain: duration(keys::SESSION_STATE_RETAIN),
                max_creation: usize::try_from(int(keys::SESSION_MAX_CREATION)).unwrap_or(0),
                ttl_check: boolean(keys::SESSION_TTL_CHECK),
                ttl: duration(keys::SESSION_TTL),
                allow_custom_classpath: boolean(keys::SESSION_ALLOW_CUSTOM_CLASSPATH),
                cache_log_size: usize::try_from(int(keys::CACHE_LOG_SIZE)).unwrap_or(0),
                process_kill_timeout: duration(keys::PROCESS_KILL_TIMEOUT),
            },
            access: AccessConf {
                impersonation_enabled: boolean(keys::IMPERSONATION_ENABLED),
                superusers: set(keys::SUPERUSERS),
                access_control_enabled: boolean(keys::ACCESS_CONTROL_ENABLED),
                allowed_users: set(keys::ACCESS_CONTROL_ALLOWED_USERS),
                modify_users: set(keys::ACCESS_CONTROL_MODIFY_USERS),
                view_users: set(keys::ACCESS_CONTROL_VIEW_USERS),
            },
            security,
            auth,
            yarn,
            recovery,
            pool,
            rsc: RscConf {
                launcher_address: string(keys::LAUNCHER_ADDRESS),
                port_range,
                bind_address: string(keys::RPC_SERVER_ADDRESS),
                max_message: size(keys::RPC_MAX_SIZE),
                connect_timeout: duration(keys::CONNECT_TIMEOUT),
                retained_statements: usize::try_from(int(keys::RETAINED_STATEMENTS)).unwrap_or(0),
                sql_num_rows: usize::try_from(int(keys::SQL_NUM_ROWS)).unwrap_or(0),
                job_cancel_trigger: duration(keys::JOB_CANCEL_TRIGGER),
                job_cancel_timeout: duration(keys::JOB_CANCEL_TIMEOUT),
                output_max: size(keys::STATEMENT_OUTPUT_MAX),
            },
            files_upload_max: size("livy.file.upload.max.size"),
            local_dir_whitelist: list(keys::LOCAL_FS_WHITELIST)
                .into_iter()
                .map(|p| format!("{}/", p.trim_end_matches('/')))
                .collect(),
            blacklist,
            hadoop,
            launch_kerberos,
            paths: Paths {
                conf_dir,
                log_dir: env
                    .livy_log_dir
                    .clone()
                    .unwrap_or_else(|| home.join("logs")),
                pid_dir: env.livy_pid_dir.clone().unwrap_or_else(std::env::temp_dir),
            },
            values,
        };
        // A profile's Spark settings pass the checks a user's request does (blacklist, file
        // whitelist, sizes), now that the whole configuration is known.
        for profile in conf.pool.iter().flat_map(|p| &p.profiles) {
            if let Err(why) = crate::launch::prepare::launch_conf(&profile.request(), &conf) {
                problems.push(format!("{}{}: {why}", pool::PROFILE_PREFIX, profile.name));
            }
        }
        if problems.is_empty() {
            Ok(Loaded { conf, warnings })
        } else {
            Err(ConfError { problems })
        }
    }

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

/// Checks a value against the form its key requires; the error names the expected form.
fn check(kind: Kind, value: &str) -> Result<(), String> {
    let v = value.trim();
    match kind {
        Kind::Str | Kind::List => Ok(()),
        Kind::Bool => {
            if v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("false") {
                Ok(())
            } else {
                Err("true or false".into())
            }
        }
        Kind::Int => v
            .parse::<i32>()
            .map(|_| ())
            .map_err(|_| "a 32-bit integer".into()),
        Kind::Duration => units::parse_duration(v).map(|_| ()),
        Kind::Size => units::parse_size(v).map(|_| ()),
    }
}

#[cfg(test)]
mod tests;

/// `livy.session.staging-dir` → the path it names on `default_fs`: an absolute path, or a URI
/// of the default file system (`hdfs://nn:8020/livy`, `hdfs:///livy`). Uploads are written
/// through WebHDFS to the default file system's NameNodes, so another file system is refused.
fn staging_path(dir: &str, default_fs: &str) -> Result<String, String> {
    let path = if dir.starts_with('/') {
        dir.to_string()
    } else {
        let url = reqwest::Url::parse(dir)
            .map_err(|e| format!("'{dir}' is neither an absolute path nor a URI: {e}"))?;
        let fs = reqwest::Url::parse(default_fs).map_err(|e| format!("fs.defaultFS: {e}"))?;
        let same_authority = url.host_str().is_none_or(|h| h.is_empty())
            || (url.host_str() == fs.host_str() && url.port() == fs.port());
        if url.scheme() != fs.scheme() || !same_authority {
            return Err(format!(
                "'{dir}' is not on the default file system {default_fs}; uploads are staged there"
            ));
        }
        url.path().to_string()
    };
    if path.split('/').any(|s| s == "." || s == "..") || path.contains(['?', '#']) {
        return Err(format!("'{dir}' must be a plain absolute path"));
    }
    Ok(path.trim_end_matches('/').to_string())
}
