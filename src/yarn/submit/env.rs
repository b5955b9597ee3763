//! The AM container's environment: `Client.setupLaunchEnv` and `Client.populateClasspath`.
//! Entries are kept in the order Spark adds them (YARN itself keeps a map).

use super::input::{PrimaryResource, SparkVersion, SubmissionInput};
use super::sparkconf::{
    file_name, flag, is_local, list, resolve_uri, uri_fragment, uri_path, with_prepended, CPS, PWD,
};
use std::collections::BTreeMap;

/// Hadoop's `YarnConfiguration.DEFAULT_YARN_APPLICATION_CLASSPATH` (Unix form), used when
/// yarn-site.xml does not set `yarn.application.classpath`.
pub const DEFAULT_YARN_APPLICATION_CLASSPATH: [&str; 7] = [
    "$HADOOP_CONF_DIR",
    "$HADOOP_COMMON_HOME/share/hadoop/common/*",
    "$HADOOP_COMMON_HOME/share/hadoop/common/lib/*",
    "$HADOOP_HDFS_HOME/share/hadoop/hdfs/*",
    "$HADOOP_HDFS_HOME/share/hadoop/hdfs/lib/*",
    "$HADOOP_YARN_HOME/share/hadoop/yarn/*",
    "$HADOOP_YARN_HOME/share/hadoop/yarn/lib/*",
];

/// Hadoop's `MRJobConfig.DEFAULT_MAPREDUCE_APPLICATION_CLASSPATH`, split on commas.
pub const DEFAULT_MAPREDUCE_APPLICATION_CLASSPATH: [&str; 2] = [
    "$HADOOP_MAPRED_HOME/share/hadoop/mapreduce/*",
    "$HADOOP_MAPRED_HOME/share/hadoop/mapreduce/lib/*",
];

/// An ordered environment where adding an existing key appends with `<CPS>`
/// (`YarnSparkHadoopUtil.addPathToEnvironment`).
#[derive(Debug, Default)]
pub(crate) struct Env(Vec<(String, String)>);

impl Env {
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn set(&mut self, key: &str, value: String) {
        match self.0.iter_mut().find(|(k, _)| k == key) {
            Some(entry) => entry.1 = value,
            None => self.0.push((key.to_string(), value)),
        }
    }

    fn append(&mut self, key: &str, value: &str) {
        let value = match self.get(key) {
            Some(old) => format!("{old}{CPS}{value}"),
            None => value.to_string(),
        };
        self.set(key, value);
    }

    pub(crate) fn into_entries(self) -> Vec<(String, String)> {
        self.0
    }
}

/// `Client.getClusterPath`: replace `spark.yarn.config.gatewayPath` with
/// `spark.yarn.config.replacementPath` when both are set.
pub(crate) fn cluster_path(conf: &BTreeMap<String, String>, path: &str) -> String {
    match (
        conf.get("spark.yarn.config.gatewayPath"),
        conf.get("spark.yarn.config.replacementPath"),
    ) {
        (Some(gateway), Some(replacement)) => path.replace(gateway.as_str(), replacement),
        _ => path.to_string(),
    }
}

/// The AM's CLASSPATH, entry by entry.
pub fn classpath(conf: &BTreeMap<String, String>, input: &SubmissionInput) -> Vec<String> {
    let mut cp = Vec::new();
    let extra = match input.spark_version {
        SparkVersion::V3_5 => conf.get("spark.driver.extraClassPath").cloned(),
        SparkVersion::V4 => with_prepended(
            conf,
            "spark.driver.defaultExtraClassPath",
            "spark.driver.extraClassPath",
            ":",
        ),
    };
    if let Some(extra) = extra {
        cp.push(cluster_path(conf, &extra));
    }
    cp.push(PWD.to_string());
    cp.push(format!("{PWD}/__spark_conf__"));

    if flag(conf, "spark.yarn.user.classpath.first", false) {
        // The main jar: its local: path, else the __app__.jar link (also for Python apps).
        let main_jar = match &input.primary {
            PrimaryResource::Jar { uri, .. } if is_local(uri) => cluster_path(conf, uri_path(uri)),
            _ => format!("{PWD}/__app__.jar"),
        };
        cp.push(main_jar);
        for jar in list(conf, "spark.yarn.dist.jars") {
            if is_local(&jar) {
                cp.push(cluster_path(conf, uri_path(&jar)));
            } else {
                let uri = resolve_uri(&jar);
                let link = uri_fragment(&uri).unwrap_or(file_name(&uri));
                cp.push(format!("{PWD}/{link}"));
            }
        }
    }

    cp.push(format!("{PWD}/__spark_libs__/*"));
    if !conf.contains_key("spark.yarn.archive") {
        for jar in list(conf, "spark.yarn.jars").iter().filter(|j| is_local(j)) {
            cp.push(cluster_path(conf, uri_path(jar)));
        }
    }

    if flag(conf, "spark.yarn.populateHadoopClasspath", false) {
        let or_default = |v: &Option<Vec<String>>, default: &[&str]| match v {
            Some(list) if !list.is_empty() => list.clone(),
            _ => default.iter().map(|s| s.to_string()).collect(),
        };
        let hadoop = &input.hadoop;
        cp.extend(
            or_default(
                &hadoop.yarn_application_classpath,
                &DEFAULT_YARN_APPLICATION_CLASSPATH,
            )
            .into_iter()
            .chain(or_default(
                &hadoop.mapreduce_application_classpath,
                &DEFAULT_MAPREDUCE_APPLICATION_CLASSPATH,
            ))
            .map(|c| c.trim().to_string()),
        );
    }

    if let Some(dist) = input.submit_env.get("SPARK_DIST_CLASSPATH") {
        cp.push(cluster_path(conf, dist));
    }
    cp.push(format!("{PWD}/__spark_conf__/__hadoop_conf__"));
    cp
}

/// The PYTHONPATH entries Spark adds: `__pyfiles__` when `.py` files are shipped, then the
/// pyspark archives and the other py-files (by file name, or their path when `local:`).
pub(crate) fn python_path(conf: &BTreeMap<String, String>, input: &SubmissionInput) -> Vec<String> {
    let (py, archives): (Vec<String>, Vec<String>) = list(conf, "spark.yarn.dist.pyFiles")
        .into_iter()
        .partition(|f| f.ends_with(".py"));
    let mut path = Vec::new();
    if !py.is_empty() {
        path.push(format!("{PWD}/__pyfiles__"));
    }
    for entry in input.pyspark_archives.iter().chain(&archives) {
        let uri = resolve_uri(entry);
        if is_local(&uri) {
            path.push(uri_path(&uri).to_string());
        } else {
            path.push(format!("{PWD}/{}", file_name(&uri)));
        }
    }
    path
}

/// The whole AM environment, from the effective conf (see [`super::sparkconf::effective_conf`]).
pub fn environment(
    conf: &BTreeMap<String, String>,
    input: &SubmissionInput,
) -> Vec<(String, String)> {
    let mut env = Env::default();
    for entry in classpath(conf, input) {
        env.append("CLASSPATH", &entry);
    }
    env.set("SPARK_YARN_STAGING_DIR", input.staging_dir.clone());
    env.set("SPARK_PREFER_IPV6", prefer_ipv6(input).to_string());
    for (key, value) in conf {
        if let Some(name) = key.strip_prefix("spark.yarn.appMasterEnv.") {
            env.append(name, value);
        }
    }
    if env.get("SPARK_USER").is_none() {
        env.set("SPARK_USER", input.user.clone());
    }

    let python_path = python_path(conf, input);
    if !python_path.is_empty() {
        let value: Vec<String> = env
            .get("PYTHONPATH")
            .map(String::from)
            .into_iter()
            .chain(input.submit_env.get("PYTHONPATH").cloned())
            .chain(python_path)
            .collect();
        env.set("PYTHONPATH", value.join(CPS));
    }
    for name in ["PYSPARK_DRIVER_PYTHON", "PYSPARK_PYTHON"] {
        if env.get(name).is_none() {
            if let Some(value) = input.submit_env.get(name) {
                env.set(name, value.clone());
            }
        }
    }
    for name in ["PYTHONHASHSEED", "SPARK_DIST_CLASSPATH"] {
        if let Some(value) = input.submit_env.get(name) {
            env.set(name, value.clone());
        }
    }
    env.into_entries()
}

/// `Utils.preferIPv6` is spark-submit's JVM property `java.net.preferIPv6Addresses`, which
/// Spark's scripts derive from `SPARK_PREFER_IPV6`; here `submit_env["SPARK_PREFER_IPV6"]`
/// stands for it (unset: false, the usual value).
pub(crate) fn prefer_ipv6(input: &SubmissionInput) -> bool {
    input
        .submit_env
        .get("SPARK_PREFER_IPV6")
        .map(String::as_str)
        == Some("true")
}
