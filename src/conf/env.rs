//! What the configuration reads from outside livy.conf: the process environment (captured once,
//! and injectable in tests), Java properties files, and the Spark version of a Spark home.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The process environment the configuration depends on, captured once (and injectable in tests).
#[derive(Debug, Clone, Default)]
pub struct Env {
    pub livy_home: Option<PathBuf>,
    pub livy_conf_dir: Option<PathBuf>,
    pub livy_log_dir: Option<PathBuf>,
    pub livy_pid_dir: Option<PathBuf>,
    pub spark_home: Option<PathBuf>,
    pub spark_conf_dir: Option<PathBuf>,
    pub hadoop_conf_dir: Option<PathBuf>,
    pub yarn_conf_dir: Option<PathBuf>,
    pub pyspark_python: Option<String>,
    /// `KRB5_CONFIG`: where the Kerberos library reads krb5.conf (for the default realm).
    pub krb5_config: Option<String>,
}

impl Env {
    /// Reads the variables Livy's launcher script and Spark honour.
    pub fn from_process() -> Self {
        let path = |name: &str| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        Env {
            livy_home: path("LIVY_HOME"),
            livy_conf_dir: path("LIVY_CONF_DIR"),
            livy_log_dir: path("LIVY_LOG_DIR"),
            livy_pid_dir: path("LIVY_PID_DIR"),
            spark_home: path("SPARK_HOME"),
            spark_conf_dir: path("SPARK_CONF_DIR"),
            hadoop_conf_dir: path("HADOOP_CONF_DIR"),
            yarn_conf_dir: path("YARN_CONF_DIR"),
            pyspark_python: std::env::var("PYSPARK_PYTHON")
                .ok()
                .filter(|v| !v.is_empty()),
            krb5_config: std::env::var("KRB5_CONFIG").ok().filter(|v| !v.is_empty()),
        }
    }

    /// `LIVY_CONF_DIR`, else `$LIVY_HOME/conf`, else `./conf`.
    pub fn conf_dir(&self) -> PathBuf {
        self.livy_conf_dir
            .clone()
            .or_else(|| self.livy_home.as_ref().map(|h| h.join("conf")))
            .unwrap_or_else(|| PathBuf::from("conf"))
    }
}

/// Reads a Java properties file; `Ok(None)` when it does not exist.
pub fn read_properties(path: &Path) -> Result<Option<BTreeMap<String, String>>, String> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    java_properties::read(std::io::BufReader::new(file))
        .map(|m| Some(m.into_iter().collect()))
        .map_err(|e| format!("cannot parse {}: {e}", path.display()))
}

/// The Spark version from the name of `jars/spark-core_<scala>-<spark>.jar`.
pub(super) fn detect_spark_version(home: &Path) -> Option<String> {
    let Ok(entries) = std::fs::read_dir(home.join("jars")) else {
        return None;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(rest) = name
            .strip_prefix("spark-core_")
            .and_then(|r| r.strip_suffix(".jar"))
        {
            if let Some((_scala, spark)) = rest.split_once('-') {
                return Some(spark.to_string());
            }
        }
    }
    None
}
