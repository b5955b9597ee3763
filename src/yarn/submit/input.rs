//! What the builder needs to know about one submission. Everything that Spark's YARN client would
//! read from the edge node (the JVM's `user.name`, environment variables, `yarn-site.xml`) is an
//! explicit field here, so the builder stays a pure function.

use std::collections::BTreeMap;

/// The Spark line whose `org.apache.spark.deploy.yarn.Client` the output follows.
///
/// The two lines differ in a handful of rules (see `docs/YARN_REST_SUBMISSION.md`); patch releases
/// inside a line are treated alike. The defaults were checked against Spark 3.5.9 and 4.3.0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SparkVersion {
    /// Spark 3.5.x (Scala 2.12/2.13).
    V3_5,
    /// Spark 4.x (Scala 2.13).
    V4,
}

impl SparkVersion {
    /// Reads "3.5", "3.5.x", "3.5.9", "4", "4.x", "4.0.1", ...; `None` for other lines.
    pub fn parse(version: &str) -> Option<Self> {
        let mut parts = version.trim().split('.');
        match (parts.next(), parts.next()) {
            (Some("3"), Some("5")) => Some(SparkVersion::V3_5),
            (Some("4"), _) => Some(SparkVersion::V4),
            _ => None,
        }
    }
}

/// The application the AM runs: a JVM main class from a jar, or a Python file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrimaryResource {
    /// `--jar <uri> --class <class_name>`; the jar is staged as `__app__.jar` unless it is a
    /// `local:` URI.
    Jar { uri: String, class_name: String },
    /// `--primary-py-file <file name> --class org.apache.spark.deploy.PythonRunner`; the file is
    /// staged under its own name, for the AM only.
    Python { uri: String },
}

impl PrimaryResource {
    pub fn uri(&self) -> &str {
        match self {
            PrimaryResource::Jar { uri, .. } | PrimaryResource::Python { uri } => uri,
        }
    }

    pub fn is_python(&self) -> bool {
        matches!(self, PrimaryResource::Python { .. })
    }
}

/// What a staged file is for; decides its YARN type, whether executors get it too, and where
/// it sits in Spark's distribution order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ResourceRole {
    /// The keytab copied for the AM (`spark.kerberos.keytab`), link `<name>-<uuid>`. AM only.
    Keytab,
    /// `spark.yarn.archive`, link `__spark_libs__`. ARCHIVE.
    SparkLibs,
    /// The primary jar, link `__app__.jar`.
    AppJar,
    /// An entry of `spark.jars`/`spark.yarn.dist.jars`, link = URI fragment or file name.
    Jar,
    /// An entry of `spark.files`/`spark.yarn.dist.files`.
    File,
    /// An entry of `spark.archives`/`spark.yarn.dist.archives`. ARCHIVE.
    Archive,
    /// The primary Python file, link = its file name. AM only.
    PrimaryPyFile,
    /// pyspark.zip or the py4j zip, link = file name.
    PySparkArchive,
    /// An entry of `spark.submit.pyFiles`: `__pyfiles__/<name>` for `.py` files, else `<name>`.
    PyFile,
    /// The conf archive this module builds, link `__spark_conf__`. ARCHIVE.
    SparkConf,
}

impl ResourceRole {
    /// YARN's `LocalResourceType` name for this role.
    pub fn resource_type(self) -> &'static str {
        match self {
            ResourceRole::SparkLibs | ResourceRole::Archive | ResourceRole::SparkConf => "ARCHIVE",
            _ => "FILE",
        }
    }

    /// Spark's `appMasterOnly` resources stay out of `__spark_dist_cache__.properties`.
    pub fn am_only(self) -> bool {
        matches!(self, ResourceRole::Keytab | ResourceRole::PrimaryPyFile)
    }
}

/// YARN's `LocalResourceVisibility`. Spark picks PUBLIC when the file is world-readable and
/// every ancestor directory world-executable, PRIVATE otherwise; it never uses APPLICATION.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    Public,
    Private,
    Application,
}

impl Visibility {
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Public => "PUBLIC",
            Visibility::Private => "PRIVATE",
            Visibility::Application => "APPLICATION",
        }
    }
}

/// A file already in HDFS (or on the cluster's default file system) that the AM container needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedResource {
    pub role: ResourceRole,
    /// The name the file gets in the container's working directory (`local-resources` key).
    pub link: String,
    /// Fully qualified URI, e.g. `hdfs://nn:8020/user/alice/.sparkStaging/<appId>/__app__.jar`.
    pub uri: String,
    /// Length in bytes and modification time (ms), as the file system reports them; YARN refuses
    /// to localize a file whose size or timestamp changed.
    pub size: u64,
    pub timestamp: i64,
    pub visibility: Visibility,
}

/// The two Hadoop settings Spark reads for `spark.yarn.populateHadoopClasspath`; `None` (or an
/// empty list) means "not set", and Hadoop's compiled-in default is used, as Spark does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HadoopClasspath {
    /// `yarn.application.classpath` from yarn-site.xml.
    pub yarn_application_classpath: Option<Vec<String>>,
    /// `mapreduce.application.classpath` from mapred-site.xml.
    pub mapreduce_application_classpath: Option<Vec<String>>,
}

/// Everything one yarn-cluster submission is built from.
#[derive(Debug, Clone)]
pub struct SubmissionInput {
    pub spark_version: SparkVersion,
    /// From `POST /ws/v1/cluster/apps/new-application`.
    pub application_id: String,
    /// spark-submit's `--name`; when absent Spark uses `spark.app.name`, then the main class, then
    /// the primary resource's file name.
    pub app_name: Option<String>,
    /// spark-submit's `--queue`; overrides `spark.yarn.queue`.
    pub queue: Option<String>,
    /// Application tags, ours (the unique Livy tag) first; `spark.yarn.tags` entries follow.
    pub tags: Vec<String>,
    /// The YARN application user: the proxy user when impersonating, else the server's user.
    /// Spark's `SPARK_USER` and the current user of the ACLs.
    pub user: String,
    /// The OS user the server runs as (what `user.name` is in a spark-submit JVM); Spark puts it
    /// in the application's view/modify ACLs.
    pub launcher_user: String,
    /// The Spark conf after Livy's preparation (`spark.master=yarn`,
    /// `spark.submit.deployMode=cluster`, user conf, `spark.driver.memory`, ...). File lists come
    /// from `spark.jars`, `spark.files`, `spark.archives`/`spark.yarn.dist.archives` and
    /// `spark.submit.pyFiles` (spark-submit's `--py-files`), as spark-submit reads them.
    pub conf: BTreeMap<String, String>,
    pub primary: PrimaryResource,
    pub args: Vec<String>,
    /// For Python apps: pyspark.zip and the py4j zip, as `PYSPARK_ARCHIVES_PATH` would list them
    /// (`hdfs://...` ones are staged as [`ResourceRole::PySparkArchive`]; `local:` ones are not).
    pub pyspark_archives: Vec<String>,
    /// Qualified staging directory: `<home>/.sparkStaging/<appId>` (see [`super::staging_dir`]).
    pub staging_dir: String,
    /// Every file of `local-resources`, including the `__spark_conf__` archive.
    pub resources: Vec<StagedResource>,
    /// The environment a spark-submit child would have had: `PYSPARK_PYTHON`,
    /// `PYSPARK_DRIVER_PYTHON`, `PYTHONHASHSEED`, `PYTHONPATH`, `SPARK_DIST_CLASSPATH`,
    /// `SPARK_PREFER_IPV6`, `SPARK_USER`. Other variables are ignored.
    pub submit_env: BTreeMap<String, String>,
    pub hadoop: HadoopClasspath,
    /// What spark-submit stores as `spark.app.submitTime` (ms since the epoch) unless set.
    pub submit_time_ms: i64,
}

impl SubmissionInput {
    pub fn is_python(&self) -> bool {
        self.primary.is_python()
    }

    pub(crate) fn resources_with(
        &self,
        role: ResourceRole,
    ) -> impl Iterator<Item = &StagedResource> + '_ {
        self.resources.iter().filter(move |r| r.role == role)
    }
}
