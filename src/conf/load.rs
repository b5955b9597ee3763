//! Building the typed configuration: livy.conf and spark-blacklist.conf read from the conf dir,
//! spark-defaults.conf and Hadoop's XML files found from the environment, every value checked
//! and every problem collected, then one [`LivyConf`].

use super::env::detect_spark_version;
use super::hadoop::{self, HadoopConf};
use super::{
    auth, ha, keys, monitoring, pool, raw, read_properties, recovery, security, ui, units,
    AccessConf, ConfError, Env, LivyConf, Loaded, Paths, RscConf, ServerConf, SessionConf,
    SparkConf, YarnSettings, SPARK_FILE_LIST_KEYS,
};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

/// Keys users may never set themselves unless `livy.server.session.allow-custom-classpath` is on
/// (Livy's `Session.BLACKLIST_CUSTOM_CLASSPATH`).
const CUSTOM_CLASSPATH_KEYS: &[&str] = &[
    "spark.submit.deployMode",
    "spark.submit.proxyUser.allowCustomClasspathInClusterMode",
];

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
        let raw::Entries {
            explicit,
            pool_keys,
        } = raw::sort(raw, &mut problems, &mut warnings);

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
            super::tests::record_read(name);
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
}

/// `livy.session.staging-dir` → the path it names on `default_fs`: an absolute path, or a URI
/// of the default file system (`hdfs://nn:8020/livy`, `hdfs:///livy`). Uploads are written
/// through WebHDFS to the default file system's NameNodes, so another file system is refused.
pub(super) fn staging_path(dir: &str, default_fs: &str) -> Result<String, String> {
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
