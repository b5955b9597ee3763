//! `livy.server.yarn.submit = rest`: the part of a native YARN submission that talks to the
//! cluster. It does what spark-submit's YARN client does on an edge node — ask the RM for an
//! application id, stage the application's files in the user's `.sparkStaging` directory over
//! WebHDFS, upload the `__spark_conf__` archive, and post the submission context that the pure
//! builder ([`super`]) makes — and reports progress in the session's or batch's log as
//! spark-submit's output would. See `docs/YARN_REST_SUBMISSION.md`.

use super::sparkconf::{file_name, is_local, uri_fragment, uri_path, uri_scheme};
use super::{
    build_submission, check, conf_archive, dist_cache_properties, spark_conf_properties,
    staging_dir, HadoopClasspath, PrimaryResource, ResourceRole, SparkVersion, StagedResource,
    SubmissionInput, Visibility,
};
use crate::conf::{LivyConf, YarnSettings};
use crate::logs::{ProcessLogs, Stream};
use crate::yarn::cluster::Cluster;
use crate::yarn::tokens::{am_credentials, is_hdfs, yarn_renewer, TokenSources};
use crate::yarn::{
    Caller, Content, CreateOptions, FileStatus, RmClient, WebHdfs, YarnConf, YarnError,
};
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::sync::Arc;

/// What to submit: the application as spark-submit's command line would name it.
#[derive(Debug, Clone, Default)]
pub struct Submission {
    pub conf: BTreeMap<String, String>,
    pub class_name: Option<String>,
    pub name: Option<String>,
    pub queue: Option<String>,
    /// The primary resource (a Python file or a jar).
    pub file: Option<String>,
    pub args: Vec<String>,
}

/// Where a submission stands, shared with the kill path: what to clean up, and whether the RM
/// may already know the application (then its staging directory belongs to the AM).
#[derive(Debug, Default)]
pub struct Progress {
    pub staging_path: Option<String>,
    pub posted: bool,
}

/// The RM and WebHDFS clients plus what every submission needs.
pub struct RestSubmitter {
    rm: RmClient,
    hdfs: WebHdfs,
    default_fs: String,
    simple_auth: bool,
    /// The server's Hadoop user (`HADOOP_USER_NAME`, else the OS user), as `user.name`.
    launcher_user: String,
    /// The server's shared cluster clients (who calls as whom).
    shared: Cluster,
    /// The cluster, for delegation tokens on a Kerberized one (the AM gets no ticket).
    cluster: YarnConf,
    livy: Arc<LivyConf>,
}

/// Spark's `SparkHadoopUtil`-style failures are reported to the user as text; YARN errors keep
/// their parsed form in the server log.
fn yarn(what: &str, e: YarnError) -> String {
    format!("{what}: {e}")
}

impl RestSubmitter {
    /// Uses the server's shared cluster clients (see [`Cluster`]); fails when `fs.defaultFS`
    /// is not HDFS, as files must be staged there.
    pub fn new(
        livy: Arc<LivyConf>,
        settings: &YarnSettings,
        shared: &Cluster,
    ) -> Result<Self, YarnError> {
        Ok(RestSubmitter {
            rm: shared.rm().clone(),
            hdfs: shared.hdfs()?.clone(),
            default_fs: shared.default_fs().to_string(),
            simple_auth: shared.simple_auth(),
            launcher_user: shared.launcher_user().to_string(),
            shared: shared.clone(),
            cluster: settings.cluster.clone(),
            livy,
        })
    }

    pub fn rm(&self) -> &RmClient {
        &self.rm
    }

    /// The Spark line of `livy.spark.version` or the jars of `SPARK_HOME`.
    pub fn spark_version(&self) -> Result<SparkVersion, String> {
        let detected = self.livy.spark.version.as_deref();
        detected.and_then(SparkVersion::parse).ok_or_else(|| {
            format!(
                "livy.server.yarn.submit=rest needs Spark 3.5 or 4.x, but the configured Spark version is {}; set livy.spark.version",
                detected.unwrap_or("unknown")
            )
        })
    }

    /// Who the calls are made as: `user.name` = the server's user on a simple-auth cluster (the
    /// authenticator speaks for it otherwise), `doAs` = the proxy user when impersonating.
    fn caller<'a>(&'a self, proxy_user: Option<&'a str>) -> Caller<'a> {
        self.shared.caller(proxy_user)
    }

    /// The YARN application user: the proxy user when impersonating, else the server's user.
    fn app_user(&self, proxy_user: Option<&str>) -> String {
        proxy_user.unwrap_or(&self.launcher_user).to_string()
    }

    /// A path on the cluster file system → its qualified URI (`hdfs://nn:8020/p`).
    fn qualify(&self, uri_or_path: &str) -> String {
        match uri_scheme(uri_or_path) {
            None => format!("{}{}", self.default_fs, uri_or_path),
            Some(scheme) => {
                let rest = &uri_or_path[scheme.len() + 1..];
                if rest.starts_with("///") || !rest.starts_with("//") {
                    format!("{}{}", self.default_fs, uri_path(uri_or_path))
                } else {
                    uri_or_path
                        .split('#')
                        .next()
                        .unwrap_or(uri_or_path)
                        .to_string()
                }
            }
        }
    }

    /// Checks at create time what would otherwise fail later: a known Spark line, and the
    /// pre-staged `spark.yarn.archive` in place.
    pub async fn preflight(
        &self,
        conf: &BTreeMap<String, String>,
        proxy_user: Option<&str>,
    ) -> Result<(), String> {
        self.spark_version()?;
        if conf.contains_key("spark.yarn.jars") && !conf.contains_key("spark.yarn.archive") {
            return Err("livy.server.yarn.submit=rest does not support spark.yarn.jars; pre-stage the Spark jars as one archive and set spark.yarn.archive".into());
        }
        let Some(archive) = conf.get("spark.yarn.archive") else {
            return Err("livy.server.yarn.submit=rest needs the Spark jars pre-staged on the cluster: set spark.yarn.archive (spark-defaults.conf) to a zip of $SPARK_HOME/jars in HDFS, e.g. hdfs:///apps/spark/spark-jars.zip (see docs/YARN_REST_SUBMISSION.md)".into());
        };
        if is_local(archive) {
            return Ok(());
        }
        match self
            .hdfs
            .status(uri_path(archive), self.caller(proxy_user))
            .await
        {
            Ok(status) if !status.is_dir() => Ok(()),
            Ok(_) => Err(format!("spark.yarn.archive {archive} is a directory; it must be a zip of $SPARK_HOME/jars")),
            Err(e) if e.is_not_found() => Err(format!(
                "spark.yarn.archive {archive} does not exist in HDFS; pre-stage a zip of $SPARK_HOME/jars there (see docs/YARN_REST_SUBMISSION.md)"
            )),
            // The NameNode could not tell: the submission itself will find out and say so.
            Err(e) => {
                tracing::warn!(error = %e, "cannot check spark.yarn.archive; submitting anyway");
                Ok(())
            }
        }
    }

    /// The whole submission. Returns the application id once the RM accepted the context.
    pub async fn submit(
        &self,
        spec: &Submission,
        proxy_user: Option<&str>,
        logs: &ProcessLogs,
        progress: &Mutex<Progress>,
    ) -> Result<String, String> {
        let say = |line: String| logs.push(Stream::Stderr, line);
        let version = self.spark_version()?;
        let caller = self.caller(proxy_user);
        let user = self.app_user(proxy_user);
        let mut conf = self.livy.spark.defaults.clone();
        conf.extend(spec.conf.clone());

        say(format!(
            "INFO Client: Requesting a new application from ResourceManager {} (livy-rs REST submission, Spark {})",
            self.rm.current_rm(),
            self.livy.spark.version.as_deref().unwrap_or("?")
        ));
        let new_app = self
            .rm
            .new_application(caller)
            .await
            .map_err(|e| yarn("cannot get a new application from the ResourceManager", e))?;
        let app_id = new_app.application_id;
        let am = super::am_resources(&conf, version).map_err(|e| e.to_string())?;
        let max = new_app.maximum_resource_capability;
        let am_mb = (am.memory_mb + am.overhead_mb) as i64;
        if max.memory_mb > 0 && am_mb > max.memory_mb {
            return Err(format!(
                "Required AM memory ({}+{} MB) is above the max threshold ({} MB) of this cluster! Please check the values of 'yarn.scheduler.maximum-allocation-mb' and/or 'yarn.nodemanager.resource.memory-mb'.",
                am.memory_mb, am.overhead_mb, max.memory_mb
            ));
        }
        say(format!(
            "INFO Client: Will allocate AM container, with {am_mb} MB memory including {} MB overhead",
            am.overhead_mb
        ));

        let home = self
            .hdfs
            .home_directory(caller)
            .await
            .map_err(|e| yarn("cannot read the user's HDFS home directory", e))?;
        let staging = staging_dir(&conf, &self.qualify(&home), &user, &app_id);
        let staging_path = uri_path(&staging).to_string();
        progress.lock().staging_path = Some(staging_path.clone());
        self.hdfs
            .mkdirs(&staging_path, Some(0o700), caller)
            .await
            .map_err(|e| yarn("cannot create the staging directory", e))?;
        say(format!(
            "INFO Client: Uploading resources to the staging directory {staging}"
        ));

        let mut stager = Stager {
            submitter: self,
            caller,
            staging: &staging,
            staging_path: &staging_path,
            replication: conf
                .get("spark.yarn.submit.file.replication")
                .and_then(|r| r.trim().parse().ok()),
            uploaded: Vec::new(),
            resources: Vec::new(),
            logs,
        };
        if let Some(archive) = conf.get("spark.yarn.archive").filter(|a| !is_local(a)) {
            stager
                .add(archive, ResourceRole::SparkLibs, "__spark_libs__".into())
                .await?;
        }
        let file = spec.file.clone().unwrap_or_default();
        let primary = if file.ends_with(".py") {
            stager
                .add(&file, ResourceRole::PrimaryPyFile, file_name(&file).into())
                .await?;
            PrimaryResource::Python { uri: file.clone() }
        } else {
            let class_name = spec.class_name.clone().ok_or_else(|| {
                "className is required for a jar application with livy.server.yarn.submit=rest"
                    .to_string()
            })?;
            if !is_local(&file) {
                stager
                    .add(&file, ResourceRole::AppJar, "__app__.jar".into())
                    .await?;
            }
            PrimaryResource::Jar {
                uri: file.clone(),
                class_name,
            }
        };
        let lists: [(&[&str], ResourceRole); 4] = [
            (&["spark.jars", "spark.yarn.dist.jars"], ResourceRole::Jar),
            (
                &["spark.files", "spark.yarn.dist.files"],
                ResourceRole::File,
            ),
            (
                &["spark.archives", "spark.yarn.dist.archives"],
                ResourceRole::Archive,
            ),
            (&["spark.submit.pyFiles"], ResourceRole::PyFile),
        ];
        for (keys, role) in lists {
            for key in keys {
                for uri in split(conf.get(*key)) {
                    if is_local(&uri) {
                        continue;
                    }
                    let name = uri_fragment(&uri).unwrap_or(file_name(&uri)).to_string();
                    let link = if role == ResourceRole::PyFile && name.ends_with(".py") {
                        format!("__pyfiles__/{name}")
                    } else {
                        name
                    };
                    if role == ResourceRole::Jar && stager.has_link(&link) {
                        say(format!("WARN Client: Same name resource {uri} added multiple times to distributed cache"));
                        continue;
                    }
                    stager.add(&uri, role, link).await?;
                }
            }
        }
        let pyspark_archives = if primary.is_python() {
            let archives = self.pyspark_archives()?;
            for uri in archives.iter().filter(|u| !is_local(u)) {
                stager
                    .add(uri, ResourceRole::PySparkArchive, file_name(uri).into())
                    .await?;
            }
            archives
        } else {
            Vec::new()
        };
        let resources = std::mem::take(&mut stager.resources);

        let mut submit_env = BTreeMap::new();
        if let Some(python) = &self.livy.spark.pyspark_python {
            submit_env.insert("PYSPARK_PYTHON".to_string(), python.clone());
        }
        let mut input = SubmissionInput {
            spark_version: version,
            application_id: app_id.clone(),
            app_name: spec.name.clone(),
            queue: spec.queue.clone(),
            tags: Vec::new(),
            user: user.clone(),
            launcher_user: self.launcher_user.clone(),
            conf,
            primary,
            args: spec.args.clone(),
            pyspark_archives,
            staging_dir: staging.clone(),
            resources,
            submit_env,
            hadoop: HadoopClasspath::default(),
            submit_time_ms: now_ms(),
        };
        let hadoop_files = self.hadoop_conf_files();
        let archive = conf_archive(
            &spark_conf_properties(&input),
            &dist_cache_properties(&input),
            &hadoop_files,
            &[],
        )
        .map_err(|e| format!("cannot build the __spark_conf__ archive: {e}"))?;
        let conf_path = format!("{staging_path}/__spark_conf__.zip");
        let conf_res = stager
            .upload(
                Content::Bytes(archive),
                &conf_path,
                ResourceRole::SparkConf,
                "__spark_conf__".into(),
            )
            .await?;
        input.resources.push(conf_res);
        check(&input).map_err(|e| e.to_string())?;
        let mut context = build_submission(&input);
        if !self.simple_auth {
            let credentials = self.credentials(proxy_user).await?;
            say("INFO Client: Added HDFS and ResourceManager delegation tokens to the AM's credentials".into());
            context["am-container-spec"]["credentials"] = credentials;
        }

        say(format!(
            "INFO Client: Submitting application {app_id} to ResourceManager"
        ));
        progress.lock().posted = true;
        self.rm
            .submit(&context, caller)
            .await
            .map_err(|e| yarn("the ResourceManager refused the submission", e))?;
        say(format!(
            "INFO YarnClientImpl: Submitted application {app_id}"
        ));
        Ok(app_id)
    }

    /// On a Kerberized cluster the AM has no ticket: it gets HDFS and RM delegation tokens for
    /// the application's user, renewable by YARN (what spark-submit's token manager does).
    async fn credentials(&self, proxy_user: Option<&str>) -> Result<serde_json::Value, String> {
        let renewer = yarn_renewer(&self.livy.hadoop, &self.cluster)?;
        let hdfs = is_hdfs(&self.default_fs).then_some(&self.hdfs);
        let sources = TokenSources::new(&self.rm, hdfs, &self.cluster);
        am_credentials(&sources, proxy_user, &renewer)
            .await
            .map_err(|e| yarn("cannot get delegation tokens for the application", e))
    }

    /// Deletes a staging directory after a failed or killed submission (never after the RM may
    /// have the application: its AM needs the files, and deletes them itself).
    pub async fn clean(&self, progress: &Mutex<Progress>, proxy_user: Option<&str>) {
        let path = {
            let p = progress.lock();
            if p.posted {
                return;
            }
            p.staging_path.clone()
        };
        if let Some(path) = path {
            if let Err(e) = self.hdfs.delete(&path, true, self.caller(proxy_user)).await {
                tracing::warn!(staging = %path, error = %e, "cannot delete the staging directory");
            }
        }
    }

    /// `livy.pyspark.archives` (pyspark.zip and the py4j zip, as Livy's key), else the two zips
    /// of `$SPARK_HOME/python/lib`, uploaded per application as spark-submit would.
    fn pyspark_archives(&self) -> Result<Vec<String>, String> {
        let configured: Vec<String> = self
            .livy
            .value("livy.pyspark.archives")
            .map(|v| split(Some(&v.to_string())))
            .unwrap_or_default();
        if !configured.is_empty() {
            return Ok(configured);
        }
        let lib = self.livy.spark.home.join("python").join("lib");
        let mut zips: Vec<String> = std::fs::read_dir(&lib)
            .map(|dir| {
                dir.filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| {
                        n == "pyspark.zip" || (n.starts_with("py4j-") && n.ends_with(".zip"))
                    })
                    .collect()
            })
            .unwrap_or_default();
        zips.sort_by_key(|n| n != "pyspark.zip");
        if zips.len() < 2 {
            return Err(format!(
                "a Python application needs pyspark.zip and the py4j zip: set livy.pyspark.archives (HDFS or local: URIs) or provide them in {}",
                lib.display()
            ));
        }
        Ok(zips
            .into_iter()
            .map(|n| format!("file://{}", lib.join(n).display()))
            .collect())
    }

    /// The Hadoop site files the server read, for `__hadoop_conf__/` in the conf archive.
    fn hadoop_conf_files(&self) -> Vec<(String, Vec<u8>)> {
        let mut files: Vec<(String, Vec<u8>)> = Vec::new();
        for path in &self.livy.hadoop.sources {
            let Some(name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else {
                continue;
            };
            if files.iter().any(|(n, _)| *n == name) {
                continue;
            }
            if let Ok(bytes) = std::fs::read(path) {
                files.push((name, bytes));
            }
        }
        files
    }
}

fn split(value: Option<&String>) -> Vec<String> {
    value
        .map(|v| crate::conf::units::comma_list(v))
        .unwrap_or_default()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Collects the local resources of one submission, uploading what is not on the cluster yet.
struct Stager<'a> {
    submitter: &'a RestSubmitter,
    caller: Caller<'a>,
    staging: &'a str,
    staging_path: &'a str,
    replication: Option<u16>,
    uploaded: Vec<String>,
    resources: Vec<StagedResource>,
    logs: &'a ProcessLogs,
}

impl Stager<'_> {
    fn has_link(&self, link: &str) -> bool {
        self.resources.iter().any(|r| r.link == link)
    }

    /// Adds `uri` under `link`: a `file:` URI or plain path is uploaded into the staging
    /// directory; a cluster URI is used in place, with its size and modification time.
    async fn add(&mut self, uri: &str, role: ResourceRole, link: String) -> Result<(), String> {
        let resource = match uri_scheme(uri) {
            None | Some("file") => {
                let local = uri_path(uri).to_string();
                let name = file_name(uri).to_string();
                if self.uploaded.contains(&name) {
                    return Err(format!(
                        "two files named {name} would be staged; rename one (Spark refuses this too)"
                    ));
                }
                let path = format!("{}/{name}", self.staging_path);
                self.logs.push(
                    Stream::Stderr,
                    format!("INFO Client: Uploading resource file:{local} -> {}/{name}", self.staging),
                );
                self.uploaded.push(name);
                let local = std::path::Path::new(&local);
                self.upload(Content::File(local), &path, role, link)
                    .await?
            }
            Some("local") => {
                return Err(format!(
                    "{uri}: a local: primary resource is not supported with livy.server.yarn.submit=rest"
                ))
            }
            Some("http" | "https" | "ftp") => {
                return Err(format!(
                    "{uri}: livy.server.yarn.submit=rest does not download remote files; put it in HDFS first"
                ))
            }
            Some(_) => {
                let path = uri_path(uri);
                let status = self
                    .submitter
                    .hdfs
                    .status(path, self.caller)
                    .await
                    .map_err(|e| yarn(&format!("cannot stat {uri}"), e))?;
                if status.is_dir() {
                    return Err(format!("{uri} is a directory, not a file"));
                }
                let visibility = self.visibility(path, &status).await;
                self.logs.push(
                    Stream::Stderr,
                    format!("INFO Client: Source and destination file systems are the same. Not copying {uri}"),
                );
                StagedResource {
                    role,
                    link,
                    uri: self.submitter.qualify(uri),
                    size: status.length.max(0) as u64,
                    timestamp: status.modification_time,
                    visibility,
                }
            }
        };
        self.resources.push(resource);
        Ok(())
    }

    /// Writes `data` (bytes, or a local file streamed from disk) to `path` (644) and stats it
    /// back, as YARN needs the size and time the file system reports.
    async fn upload(
        &self,
        data: Content<'_>,
        path: &str,
        role: ResourceRole,
        link: String,
    ) -> Result<StagedResource, String> {
        self.submitter
            .hdfs
            .create(path, data, &self.upload_options(), self.caller)
            .await
            .map_err(|e| yarn(&format!("cannot upload {path}"), e))?;
        self.staged(path, role, link).await
    }

    fn upload_options(&self) -> CreateOptions {
        CreateOptions {
            overwrite: true,
            permission: Some(0o644),
            replication: self.replication,
            block_size: None,
        }
    }

    /// The resource YARN localizes from `path`, with the size and time the file system reports.
    async fn staged(
        &self,
        path: &str,
        role: ResourceRole,
        link: String,
    ) -> Result<StagedResource, String> {
        let status = self
            .submitter
            .hdfs
            .status(path, self.caller)
            .await
            .map_err(|e| yarn(&format!("cannot stat {path}"), e))?;
        Ok(StagedResource {
            role,
            link,
            uri: self.submitter.qualify(path),
            size: status.length.max(0) as u64,
            timestamp: status.modification_time,
            visibility: Visibility::Private,
        })
    }

    /// Spark's rule: PUBLIC when the file is world-readable and every ancestor directory
    /// world-executable (NodeManagers then cache it once for all users), else PRIVATE.
    async fn visibility(&self, path: &str, status: &FileStatus) -> Visibility {
        let others = |perm: &str| u32::from_str_radix(perm, 8).map(|p| p & 0o7).unwrap_or(0);
        if others(&status.permission) & 0o4 == 0 {
            return Visibility::Private;
        }
        let mut dir = path.trim_end_matches('/');
        while let Some(i) = dir.rfind('/') {
            dir = &dir[..i];
            let parent = if dir.is_empty() { "/" } else { dir };
            match self.submitter.hdfs.status(parent, self.caller).await {
                Ok(s) if others(&s.permission) & 0o1 != 0 => {}
                _ => return Visibility::Private,
            }
        }
        Visibility::Public
    }
}
