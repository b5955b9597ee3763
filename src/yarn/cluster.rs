//! The server's one connection to its YARN cluster: one [`RmClient`] and one [`WebHdfs`],
//! built once (in `app::wire`) and shared by everything that talks to the cluster — the
//! application monitor, the admission check, the REST submitter and the session staging
//! directories.
//!
//! Why one: each client remembers which HA peer is active and, on a Kerberized cluster, the
//! `hadoop.auth` cookie of each endpoint. With one client per user of the cluster, a failover
//! learnt by the monitor would be learnt again (a wasted request to the standby, a fresh
//! SPNEGO negotiation) by the submitter and the admission check; sharing the clients (cheap
//! clones of one `Arc`) makes that memory one piece of state with one owner.

use super::conf::{Authentication, YarnConf};
use super::error::YarnError;
use super::http::{Caller, RequestAuth};
use super::{RmClient, WebHdfs};
use std::sync::Arc;

/// The RM and WebHDFS clients of the cluster plus who the server is towards it. Clones share
/// everything.
#[derive(Clone)]
pub struct Cluster {
    rm: RmClient,
    /// `None` when `fs.defaultFS` is not HDFS (no NameNode to talk WebHDFS to).
    hdfs: Option<WebHdfs>,
    /// `fs.defaultFS` without a trailing `/`, e.g. `hdfs://nn:8020`.
    default_fs: String,
    simple_auth: bool,
    /// The server's Hadoop user (`HADOOP_USER_NAME`, else the OS user), as `user.name`.
    launcher_user: String,
}

impl Cluster {
    /// Clients for the RMs and NameNodes of `conf`, authenticated by `auth` (SPNEGO as the
    /// server's principal on a Kerberized cluster).
    pub fn new(conf: &YarnConf, auth: Arc<dyn RequestAuth>) -> Result<Self, YarnError> {
        let rm = RmClient::from_conf(conf).auth(auth.clone()).build()?;
        let hdfs = if conf.namenodes.is_empty() {
            None
        } else {
            Some(WebHdfs::from_conf(conf).auth(auth).build()?)
        };
        Ok(Self::from_clients(conf, rm, hdfs))
    }

    /// A cluster around clients built elsewhere (tests pick their own timeouts).
    pub fn from_clients(conf: &YarnConf, rm: RmClient, hdfs: Option<WebHdfs>) -> Self {
        let launcher_user = std::env::var("HADOOP_USER_NAME")
            .or_else(|_| std::env::var("USER"))
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| "livy".into());
        Cluster {
            rm,
            hdfs,
            default_fs: conf.default_fs.trim_end_matches('/').to_string(),
            simple_auth: conf.authentication == Authentication::Simple,
            launcher_user,
        }
    }

    pub fn rm(&self) -> &RmClient {
        &self.rm
    }

    /// The WebHDFS client, or why there is none.
    pub fn hdfs(&self) -> Result<&WebHdfs, YarnError> {
        self.hdfs.as_ref().ok_or_else(|| {
            YarnError::Invalid(format!(
                "fs.defaultFS is {}, not HDFS: there is no NameNode to reach through WebHDFS",
                self.default_fs
            ))
        })
    }

    pub fn default_fs(&self) -> &str {
        &self.default_fs
    }

    pub fn simple_auth(&self) -> bool {
        self.simple_auth
    }

    /// The server's Hadoop user.
    pub fn launcher_user(&self) -> &str {
        &self.launcher_user
    }

    /// Who the calls are made as: `user.name` = the server's user on a simple-auth cluster (the
    /// authenticator speaks for it otherwise), `doAs` = the proxy user when impersonating.
    pub fn caller<'a>(&'a self, proxy_user: Option<&'a str>) -> Caller<'a> {
        let base = if self.simple_auth {
            Caller::user(&self.launcher_user)
        } else {
            Caller::NONE
        };
        match proxy_user {
            Some(user) => base.do_as(user),
            None => base,
        }
    }
}
