//! A WebHDFS client (WebHDFS.md): the file operations a YARN submitter needs to stage files
//! (home directory, mkdirs, two-step create, status with size and modification time for YARN
//! local resources, list, delete, rename, permissions, read).
//!
//! NameNode HA: the configured NameNodes are tried in turn; a standby answers with a
//! `StandbyException` RemoteException, which moves on to the next one, and the NameNode that
//! answered becomes the first one asked next time. Data goes to the DataNode the NameNode
//! redirects to; that step is never failed over (the NameNode chose it).

use super::conf::{Endpoint, YarnConf};
use super::error::YarnError;
use super::failover::Peers;
use super::http::{Answer, Body, Caller, Transport};
use super::settings::{connection_setters, Connection};
use reqwest::{Method, Url};
use serde::Deserialize;
use std::sync::Arc;

const PREFIX: &str = "/webhdfs/v1";
/// Redirects followed for OPEN (NameNode → DataNode is one).
const MAX_REDIRECTS: usize = 3;
/// The largest mode `permission` accepts (sticky bit + rwxrwxrwx), per WebHDFS.md's
/// "Permission" parameter domain `[0-1]?[0-7]?[0-7]?[0-7]`.
const MAX_PERMISSION: u32 = 0o1777;

/// What CREATE writes: bytes in memory, or a local file streamed from disk.
#[derive(Debug)]
pub enum Content<'a> {
    Bytes(Vec<u8>),
    File(&'a std::path::Path),
}

impl From<Vec<u8>> for Content<'_> {
    fn from(bytes: Vec<u8>) -> Self {
        Content::Bytes(bytes)
    }
}

/// `FILE`, `DIRECTORY` or `SYMLINK`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FileType {
    File,
    Directory,
    Symlink,
    #[serde(other)]
    Unknown,
}

/// A `FileStatus` JSON object (WebHDFS.md "FileStatus JSON Schema").
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileStatus {
    #[serde(default)]
    pub access_time: i64,
    #[serde(default)]
    pub block_size: i64,
    #[serde(default)]
    pub group: String,
    /// Bytes; the `size` of a YARN local resource.
    #[serde(default)]
    pub length: i64,
    /// Milliseconds since the epoch; the `timestamp` of a YARN local resource.
    #[serde(default)]
    pub modification_time: i64,
    #[serde(default)]
    pub owner: String,
    /// The name within the listed directory; empty for GETFILESTATUS.
    #[serde(default)]
    pub path_suffix: String,
    /// Octal, e.g. `"644"`.
    #[serde(default)]
    pub permission: String,
    #[serde(default)]
    pub replication: i64,
    #[serde(rename = "type")]
    pub file_type: FileType,
    #[serde(default)]
    pub children_num: Option<i64>,
    #[serde(default)]
    pub file_id: Option<i64>,
}

impl FileStatus {
    pub fn is_dir(&self) -> bool {
        self.file_type == FileType::Directory
    }
}

/// Parameters of CREATE; defaults are the server's (no overwrite, 644, cluster replication and
/// block size).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CreateOptions {
    pub overwrite: bool,
    /// Mode bits, e.g. `0o644`.
    pub permission: Option<u32>,
    pub replication: Option<u16>,
    pub block_size: Option<u64>,
}

/// Options of a [`WebHdfs`] client; start from [`WebHdfs::builder`] or [`WebHdfs::from_conf`].
pub struct WebHdfsBuilder {
    conn: Connection,
}

impl WebHdfsBuilder {
    connection_setters!();

    pub fn build(self) -> Result<WebHdfs, YarnError> {
        Ok(WebHdfs {
            inner: Arc::new({
                let (transport, peers) = self.conn.open("NameNode")?;
                Inner { transport, peers }
            }),
        })
    }
}

/// A WebHDFS client. Clones share connections and the remembered active NameNode.
#[derive(Clone)]
pub struct WebHdfs {
    inner: Arc<Inner>,
}

struct Inner {
    transport: Transport,
    peers: Peers,
}

#[derive(Deserialize)]
struct BooleanBody {
    boolean: bool,
}

impl WebHdfs {
    /// A client for these NameNode web endpoints (one, or one per HA NameNode).
    pub fn builder(endpoints: Vec<Endpoint>) -> WebHdfsBuilder {
        WebHdfsBuilder {
            conn: Connection::new(endpoints),
        }
    }

    /// A client for the NameNodes of `fs.defaultFS` (building fails if it is not HDFS).
    pub fn from_conf(conf: &YarnConf) -> WebHdfsBuilder {
        Self::builder(conf.namenodes.clone())
    }

    /// The NameNode id (or URL) the next call goes to first.
    pub fn current_namenode(&self) -> String {
        let peers = &self.inner.peers;
        peers.get(peers.active()).name()
    }

    /// GETHOMEDIRECTORY: `/user/<effective user>`.
    pub async fn home_directory(&self, caller: Caller<'_>) -> Result<String, YarnError> {
        #[derive(Deserialize)]
        struct PathBody {
            #[serde(rename = "Path")]
            path: String,
        }
        let answer = self
            .namenode(Method::GET, "/", "GETHOMEDIRECTORY", &[], caller)
            .await?;
        Ok(answer.json::<PathBody>()?.path)
    }

    /// MKDIRS, with parents; `permission` defaults to the server's 755.
    pub async fn mkdirs(
        &self,
        path: &str,
        permission: Option<u32>,
        caller: Caller<'_>,
    ) -> Result<bool, YarnError> {
        let mut params = Vec::new();
        if let Some(p) = permission {
            params.push(("permission", octal(p)?));
        }
        let answer = self
            .namenode(Method::PUT, path, "MKDIRS", &params, caller)
            .await?;
        Ok(answer.json::<BooleanBody>()?.boolean)
    }

    /// CREATE in WebHDFS's two steps: ask the NameNode without data, then PUT the data to the
    /// DataNode its `307` names (so data is never sent to a place that will not keep it). A
    /// [`Content::File`] is streamed from disk as it is sent: memory stays bounded whatever the
    /// file's size.
    pub async fn create(
        &self,
        path: &str,
        data: impl Into<Content<'_>>,
        options: &CreateOptions,
        caller: Caller<'_>,
    ) -> Result<(), YarnError> {
        let data = match data.into() {
            Content::Bytes(bytes) => Body::Octets(bytes),
            Content::File(local) => {
                // Readable before the NameNode is asked: a missing file creates nothing.
                tokio::fs::metadata(local)
                    .await
                    .map_err(|source| YarnError::LocalFile {
                        path: local.display().to_string(),
                        source,
                    })?;
                Body::File(local.to_path_buf())
            }
        };
        let mut params = vec![("overwrite", options.overwrite.to_string())];
        if let Some(p) = options.permission {
            params.push(("permission", octal(p)?));
        }
        if let Some(r) = options.replication {
            params.push(("replication", r.to_string()));
        }
        if let Some(b) = options.block_size {
            params.push(("blocksize", b.to_string()));
        }
        let step1 = self
            .namenode(Method::PUT, path, "CREATE", &params, caller)
            .await?;
        let target = data_location(&step1)?;
        let step2 = self
            .inner
            .transport
            .send_to_datanode(Method::PUT, &target, data)
            .await?;
        if step2.status.is_success() {
            Ok(())
        } else {
            Err(step2.error())
        }
    }

    /// GETFILESTATUS; a missing path is an error with `is_not_found()`.
    pub async fn status(&self, path: &str, caller: Caller<'_>) -> Result<FileStatus, YarnError> {
        #[derive(Deserialize)]
        struct Envelope {
            #[serde(rename = "FileStatus")]
            status: FileStatus,
        }
        let answer = self
            .namenode(Method::GET, path, "GETFILESTATUS", &[], caller)
            .await?;
        Ok(answer.json::<Envelope>()?.status)
    }

    /// LISTSTATUS: a directory's entries (a file lists as itself).
    pub async fn list(&self, path: &str, caller: Caller<'_>) -> Result<Vec<FileStatus>, YarnError> {
        #[derive(Deserialize)]
        struct Envelope {
            #[serde(rename = "FileStatuses")]
            statuses: Statuses,
        }
        #[derive(Deserialize)]
        struct Statuses {
            #[serde(
                rename = "FileStatus",
                default,
                deserialize_with = "super::types::one_or_many"
            )]
            list: Vec<FileStatus>,
        }
        let answer = self
            .namenode(Method::GET, path, "LISTSTATUS", &[], caller)
            .await?;
        Ok(answer.json::<Envelope>()?.statuses.list)
    }

    /// DELETE; `false` when the path did not exist. A non-empty directory needs `recursive`.
    pub async fn delete(
        &self,
        path: &str,
        recursive: bool,
        caller: Caller<'_>,
    ) -> Result<bool, YarnError> {
        let params = [("recursive", recursive.to_string())];
        let answer = self
            .namenode(Method::DELETE, path, "DELETE", &params, caller)
            .await?;
        Ok(answer.json::<BooleanBody>()?.boolean)
    }

    /// SETPERMISSION, e.g. `0o700` for a staging directory.
    pub async fn set_permission(
        &self,
        path: &str,
        permission: u32,
        caller: Caller<'_>,
    ) -> Result<(), YarnError> {
        let params = [("permission", octal(permission)?)];
        let answer = self
            .namenode(Method::PUT, path, "SETPERMISSION", &params, caller)
            .await?;
        if answer.status.is_success() {
            Ok(())
        } else {
            Err(answer.error())
        }
    }

    /// RENAME `from` to `to` (HDFS semantics: into `to` if it is an existing directory).
    pub async fn rename(
        &self,
        from: &str,
        to: &str,
        caller: Caller<'_>,
    ) -> Result<bool, YarnError> {
        check_path(to)?;
        let params = [("destination", to.to_string())];
        let answer = self
            .namenode(Method::PUT, from, "RENAME", &params, caller)
            .await?;
        Ok(answer.json::<BooleanBody>()?.boolean)
    }

    /// OPEN: the whole file, read through the DataNode the NameNode redirects to.
    pub async fn open(&self, path: &str, caller: Caller<'_>) -> Result<Vec<u8>, YarnError> {
        let mut answer = self
            .namenode(Method::GET, path, "OPEN", &[], caller)
            .await?;
        for _ in 0..MAX_REDIRECTS {
            if !answer.status.is_redirection() {
                break;
            }
            let next = answer.location().ok_or_else(|| YarnError::Redirect {
                url: answer.url.to_string(),
                hops: 0,
                detail: "OPEN redirect without a Location".into(),
            })?;
            answer = self
                .inner
                .transport
                .send_to_datanode(Method::GET, &next, Body::Empty)
                .await?;
        }
        if answer.status.is_success() {
            Ok(answer.body)
        } else {
            Err(answer.error())
        }
    }

    /// One operation on the active NameNode, failing over on standby answers and connection
    /// errors. Redirects are returned, not followed.
    pub(super) async fn namenode(
        &self,
        method: Method,
        path: &str,
        op: &str,
        params: &[(&str, String)],
        caller: Caller<'_>,
    ) -> Result<Answer, YarnError> {
        check_path(path)?;
        let peers = &self.inner.peers;
        // RENAME is the one operation that cannot be repeated blindly after a lost answer.
        let idempotent = op != "RENAME";
        let fail_over = |e: &YarnError| {
            e.is_standby()
                || matches!(e, YarnError::Connect { .. })
                || (idempotent && e.is_connection())
        };
        peers
            .run(fail_over, |i| {
                let method = method.clone();
                async move {
                    let url = op_url(&peers.get(i).base, path, op, params, caller);
                    let answer = self
                        .inner
                        .transport
                        .send(method, &url, Body::Empty, &[])
                        .await?;
                    if !answer.status.is_success() && !answer.status.is_redirection() {
                        let err = answer.error();
                        if err.is_standby() {
                            return Err(err);
                        }
                    }
                    peers.remember(i);
                    Ok(answer)
                }
            })
            .await
    }
}

/// `http://nn:port/webhdfs/v1/<path>?op=OP&...&user.name=..&doas=..`, each path segment
/// percent-encoded.
fn op_url(base: &Url, path: &str, op: &str, params: &[(&str, String)], caller: Caller<'_>) -> Url {
    let mut url = base.clone();
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if segments.is_empty() {
        url.set_path(&format!("{PREFIX}/"));
    } else {
        url.set_path(PREFIX);
        if let Ok(mut path_segments) = url.path_segments_mut() {
            path_segments.extend(segments);
        }
    }
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("op", op);
        for (k, v) in params {
            q.append_pair(k, v);
        }
    }
    caller.append(&mut url, "doas");
    url
}

/// WebHDFS paths are absolute and free of `.`/`..` segments (HDFS rejects those anyway; here
/// they would also change which URL is called).
fn check_path(path: &str) -> Result<(), YarnError> {
    if !path.starts_with('/') {
        return Err(YarnError::Invalid(format!(
            "HDFS path must be absolute: {path:?}"
        )));
    }
    if path.split('/').any(|s| s == "." || s == "..") {
        return Err(YarnError::Invalid(format!(
            "HDFS path must not contain . or ..: {path:?}"
        )));
    }
    Ok(())
}

fn octal(mode: u32) -> Result<String, YarnError> {
    if mode > MAX_PERMISSION {
        return Err(YarnError::Invalid(format!(
            "permission {mode:o} is not in 0..=1777"
        )));
    }
    Ok(format!("{mode:o}"))
}

/// Where CREATE's data goes: the `307` Location, or the `{"Location": ..}` a `noredirect`
/// NameNode answers with.
fn data_location(step1: &Answer) -> Result<Url, YarnError> {
    if step1.status.is_redirection() {
        return step1.location().ok_or_else(|| YarnError::Redirect {
            url: step1.url.to_string(),
            hops: 0,
            detail: "CREATE redirect without a Location".into(),
        });
    }
    #[derive(Deserialize)]
    struct LocationBody {
        #[serde(rename = "Location")]
        location: String,
    }
    let body: LocationBody = step1.json()?;
    Url::parse(&body.location)
        .map_err(|e| step1.unexpected(format!("bad Location {:?}: {e}", body.location)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Url {
        Url::parse("http://nn1:9870").unwrap()
    }

    #[test]
    fn urls_encode_segments_and_carry_the_caller() {
        let url = op_url(
            &base(),
            "/user/alice/my dir/a?b#c.txt",
            "GETFILESTATUS",
            &[],
            Caller::user("livy").do_as("alice"),
        );
        assert_eq!(
            url.as_str(),
            "http://nn1:9870/webhdfs/v1/user/alice/my%20dir/a%3Fb%23c.txt?op=GETFILESTATUS&user.name=livy&doas=alice"
        );
        let root = op_url(&base(), "/", "GETHOMEDIRECTORY", &[], Caller::NONE);
        assert_eq!(
            root.as_str(),
            "http://nn1:9870/webhdfs/v1/?op=GETHOMEDIRECTORY"
        );
        let mk = op_url(
            &base(),
            "/tmp/x",
            "MKDIRS",
            &[("permission", "755".into())],
            Caller::NONE,
        );
        assert_eq!(
            mk.as_str(),
            "http://nn1:9870/webhdfs/v1/tmp/x?op=MKDIRS&permission=755"
        );
    }

    #[test]
    fn paths_and_permissions_are_checked() {
        assert!(check_path("relative/x").is_err());
        assert!(check_path("/a/../etc").is_err());
        assert!(check_path("/a/b").is_ok());
        assert_eq!(octal(0o755).unwrap(), "755");
        assert_eq!(octal(0o1777).unwrap(), "1777");
        assert!(octal(0o2755).is_err());
    }

    /// The FileStatus and FileStatuses examples of WebHDFS.md.
    #[test]
    fn parses_the_documented_statuses() {
        let status = r#"{"FileStatus":{"accessTime":0,"blockSize":0,"group":"supergroup","length":0,"modificationTime":1320173277227,"owner":"webuser","pathSuffix":"","permission":"777","replication":0,"type":"DIRECTORY"}}"#;
        #[derive(Deserialize)]
        struct E {
            #[serde(rename = "FileStatus")]
            s: FileStatus,
        }
        let s = serde_json::from_str::<E>(status).unwrap().s;
        assert!(s.is_dir());
        assert_eq!(s.modification_time, 1320173277227);
        let file = r#"{"accessTime":1320171722771,"blockSize":33554432,"group":"supergroup","length":24930,"modificationTime":1320171722771,"owner":"webuser","pathSuffix":"a.patch","permission":"644","replication":1,"type":"FILE"}"#;
        let f: FileStatus = serde_json::from_str(file).unwrap();
        assert_eq!(
            (f.length, f.file_type, f.path_suffix.as_str()),
            (24930, FileType::File, "a.patch")
        );
    }
}
