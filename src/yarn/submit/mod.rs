//! Native YARN REST submission (`livy.server.yarn.submit = rest`). The pure part (this module)
//! builds the
//! ResourceManager's application-submission-context for a Spark yarn-cluster application the
//! way Spark's own YARN client (`org.apache.spark.deploy.yarn.Client`, reached through
//! spark-submit's `YarnClusterApplication`) builds it, for Spark 3.5 and 4.x, so no JVM has to run
//! on the Livy host. Staging files in HDFS and talking to the RM are the caller's job.
//!
//! A submission goes: `new-application` → upload the app's files to [`staging_dir`] → fill a
//! [`SubmissionInput`] → [`check`] → [`spark_conf_properties`] + [`dist_cache_properties`] →
//! [`conf_archive`] → upload it as `__spark_conf__.zip` → add it to the input →
//! [`build_submission`] → `POST /ws/v1/cluster/apps`. See `docs/YARN_REST_SUBMISSION.md`.
//! [`submitter`] is the part that talks to the cluster (RM and WebHDFS clients beside it).

pub mod archive;
pub mod command;
pub mod env;
pub mod input;
pub mod sparkconf;
pub mod spec;
pub mod submitter;

#[cfg(test)]
mod tests;

pub use archive::conf_archive;
pub use input::{
    HadoopClasspath, PrimaryResource, ResourceRole, SparkVersion, StagedResource, SubmissionInput,
    Visibility,
};
pub use spec::{
    am_resources, build_submission, check, dist_cache_properties, spark_conf_properties,
    AmResources, SpecError,
};
pub use submitter::{Progress, RestSubmitter, Submission};

use std::collections::BTreeMap;

/// Where Spark stages an application's files: `<spark.yarn.stagingDir>/<user>/.sparkStaging/<id>`
/// when `spark.yarn.stagingDir` is set, else `<home>/.sparkStaging/<id>` with `home` the user's
/// qualified home directory (WebHDFS `GETHOMEDIRECTORY`, e.g. `hdfs://nn:8020/user/alice`).
pub fn staging_dir(
    conf: &BTreeMap<String, String>,
    home: &str,
    user: &str,
    app_id: &str,
) -> String {
    let base = match conf.get("spark.yarn.stagingDir") {
        Some(dir) => format!("{}/{user}", dir.trim_end_matches('/')),
        None => home.trim_end_matches('/').to_string(),
    };
    format!("{base}/.sparkStaging/{app_id}")
}
