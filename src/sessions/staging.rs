//! A session's staging directory on the cluster file system, for the Job API's uploads on YARN.
//!
//! A driver in a YARN container cannot read the server's disk, so on YARN the files of
//! `upload-file`, `upload-pyfile`, `upload-jar` and `add-*` of a local (`file:`) URI are written
//! to `<livy.session.staging-dir>/<random>` (default `<home>/.livy-sessions/<random>`, as Livy's
//! `Session.getStagingDir`) through WebHDFS — as the server's identity acting for the proxy
//! user, like the REST submitter's `.sparkStaging` — and the driver is handed that URI
//! (`sc.addFile`, `addPyFile` and the jobs' class loader read it through Hadoop's file system).
//! The directory is made on the first upload (mode 700) and deleted when the session ends.

use crate::error::ApiError;
use crate::yarn::cluster::Cluster;
use crate::yarn::{Content, CreateOptions, YarnError};
use std::path::Path;

/// Longest file name accepted (HDFS's default `dfs.namenode.fs-limits.max-component-length`).
pub const MAX_NAME_BYTES: usize = 255;
/// The directory under the home directory when `livy.session.staging-dir` is not set (Livy's).
const DEFAULT_ROOT: &str = ".livy-sessions";

/// One session's staging directory (made lazily).
pub struct Staging {
    cluster: Cluster,
    /// `livy.session.staging-dir` as a path; `None` = the home directory's `.livy-sessions`.
    root: Option<String>,
    /// The proxy user the files belong to (`doas`), when impersonating.
    proxy_user: Option<String>,
    /// The directory's path once made (made once: concurrent first uploads wait for one
    /// another; kept in the session's recovery record, so a restarted server cleans it up).
    dir: tokio::sync::OnceCell<String>,
}

/// Checks an uploaded file's name where it becomes a path in the cluster file system and a URI
/// handed to Spark: one plain component (no separators, `.`/`..`, hidden names, percent
/// escapes, `#` — Spark's alias marker —, spaces or control characters), at most
/// [`MAX_NAME_BYTES`].
pub fn check_name(name: &str) -> Result<(), ApiError> {
    let plain = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'+'));
    if name.is_empty() || name.len() > MAX_NAME_BYTES || !plain || name.starts_with('.') {
        let shown: String = name.chars().take(64).collect();
        return Err(ApiError::BadRequest(format!(
            "File name {shown:?} cannot be staged in the cluster: use 1 to {MAX_NAME_BYTES} letters, digits, '.', '_', '-' or '+', not starting with '.'."
        )));
    }
    Ok(())
}

/// What a failed WebHDFS call tells the client: the NameNode's own message (e.g. a permission
/// denial), never our URLs; the whole error goes to the server log.
fn failed(what: &str, e: YarnError) -> ApiError {
    tracing::warn!(error = %e, "{what}");
    let why = e
        .remote()
        .map(|r| format!(": {}", r.message))
        .unwrap_or_default();
    ApiError::ServiceUnavailable(format!("{what}{why}"))
}

impl Staging {
    pub fn new(cluster: Cluster, root: Option<String>, proxy_user: Option<String>) -> Self {
        Staging {
            cluster,
            root,
            proxy_user,
            dir: tokio::sync::OnceCell::new(),
        }
    }

    /// The directory's path, if it was made.
    pub fn dir(&self) -> Option<String> {
        self.dir.get().cloned()
    }

    /// The directory a session made before a server restart (from its recovery record): later
    /// uploads go there, and it is deleted when the session ends.
    pub fn restore_dir(&self, dir: String) {
        let _ = self.dir.set(dir);
    }

    /// Makes the session's directory on first use; returns its path.
    async fn ensure_dir(&self) -> Result<String, ApiError> {
        Ok(self.dir.get_or_try_init(|| self.make_dir()).await?.clone())
    }

    async fn make_dir(&self) -> Result<String, ApiError> {
        let hdfs = self
            .cluster
            .hdfs()
            .map_err(|e| failed("Cannot stage files on this cluster", e))?;
        let caller = self.cluster.caller(self.proxy_user.as_deref());
        let root = match &self.root {
            Some(root) => root.clone(),
            None => {
                let home = hdfs
                    .home_directory(caller)
                    .await
                    .map_err(|e| failed("Cannot read the home directory in HDFS", e))?;
                format!("{}/{DEFAULT_ROOT}", home.trim_end_matches('/'))
            }
        };
        let path = format!("{root}/{}", crate::driver::channel::random_hex(16));
        hdfs.mkdirs(&path, Some(0o700), caller)
            .await
            .map_err(|e| failed("Cannot create the session's staging directory", e))?;
        Ok(path)
    }

    /// Writes `data` as `name` into the directory; returns the URI the driver reads it from.
    pub async fn put(&self, name: &str, data: Vec<u8>) -> Result<String, ApiError> {
        self.stage(name, Content::Bytes(data)).await
    }

    /// Stages the local file `local` (at most `max` bytes) as `name`, streamed from disk (an
    /// upload's size is bounded by `max`, not by the server's memory).
    pub async fn put_file(&self, name: &str, local: &Path, max: usize) -> Result<String, ApiError> {
        let internal = |e: std::io::Error| ApiError::Internal(e.into());
        let size = tokio::fs::metadata(local).await.map_err(internal)?.len();
        if size > max as u64 {
            return Err(ApiError::PayloadTooLarge(
                crate::api::body_limit::upload_too_large(max),
            ));
        }
        self.stage(name, Content::File(local)).await
    }

    async fn stage(&self, name: &str, content: Content<'_>) -> Result<String, ApiError> {
        check_name(name)?;
        let dir = self.ensure_dir().await?;
        let path = format!("{dir}/{name}");
        let options = CreateOptions {
            overwrite: true,
            permission: Some(0o644),
            ..Default::default()
        };
        let hdfs = self
            .cluster
            .hdfs()
            .map_err(|e| failed("Cannot stage files on this cluster", e))?;
        let caller = self.cluster.caller(self.proxy_user.as_deref());
        hdfs.create(&path, content, &options, caller)
            .await
            .map_err(|e| {
                failed(
                    "Cannot write the file to the session's staging directory",
                    e,
                )
            })?;
        Ok(format!("{}{path}", self.cluster.default_fs()))
    }

    /// Deletes the directory, if one was made (logged, never failing: the session is over).
    /// Deleting it again (a finished session recovered after a restart) changes nothing.
    pub async fn clean(&self, session_id: u32) {
        let Some(path) = self.dir() else {
            return;
        };
        let Ok(hdfs) = self.cluster.hdfs() else {
            return;
        };
        match hdfs
            .delete(&path, true, self.cluster.caller(self.proxy_user.as_deref()))
            .await
        {
            Ok(_) => {
                tracing::info!(session_id, staging = %path, "deleted the session's staging directory")
            }
            Err(e) => {
                tracing::warn!(session_id, staging = %path, error = %e, "cannot delete the session's staging directory")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::check_name;

    #[test]
    fn names_that_would_change_the_path_or_uri_are_refused() {
        for ok in ["job.py", "pi-job_2.jar", "data.v1+x.csv"] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        let long = "a".repeat(256);
        for bad in [
            "",
            ".",
            "..",
            ".hidden",
            "a/b",
            "..%2Fetc",
            "a\\b",
            "a#b",
            "a b",
            "a?b",
            "x\u{0}",
            "é.py",
            long.as_str(),
        ] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }
}
