//! The Hadoop side of livy-rs: a YARN ResourceManager and WebHDFS client over their documented
//! REST APIs.
//!
//! Why REST: Livy talks to YARN through Hadoop's Java client libraries, but livy-rs runs on an
//! edge node without a JVM of its own, and no native Rust Hadoop client exists. Everything the
//! server needs — finding applications by tag, their state and AM logs, killing them, submitting
//! (`new-application` + submission context), queue headroom, delegation tokens, staging files in
//! HDFS — is in ResourceManagerRest.md and WebHDFS.md, so this module speaks those, with the HA
//! behaviour of ResourceManagerHA.md (standby redirects, failover) and the configuration keys of
//! `yarn-site.xml`/`hdfs-site.xml`.
//!
//! - [`conf`]: where the RMs and NameNodes are ([`YarnConf::from_hadoop`]).
//! - [`client`]: [`RmClient`], the ResourceManager client.
//! - [`cluster`]: [`cluster::Cluster`], the one RM + WebHDFS client pair the server shares.
//! - [`webhdfs`]: [`WebHdfs`], the file client.
//! - [`scheduler`]: capacity-scheduler queues and [`queue_headroom`].
//! - [`error`]: [`YarnError`], with the RemoteException parsed and `is_retriable()`.
//! - [`RequestAuth`] is where SPNEGO plugs in; [`Caller`] sets `user.name`/`doAs` per call.
//!
//! Tests run against `tests/yarn/rm_emulator.py` (see `tests/yarn/EMULATOR.md`).

mod apps_query;
pub mod client;
pub mod cluster;
pub mod conf;
pub mod error;
mod failover;
mod http;
pub mod monitor;
pub mod scheduler;
pub mod server_tag;
mod settings;
pub mod submit;
pub mod tokens;
pub mod types;
pub mod webhdfs;

pub use client::{split_by_url_length, AppsQuery, RmClient, RmClientBuilder, MAX_APPS_URL_BYTES};
pub use conf::{Authentication, Endpoint, HttpPolicy, YarnConf};
pub use error::{RemoteException, YarnError};
pub(crate) use http::redact as redact_url;
pub use http::{Caller, NoAuth, RequestAuth};
pub use scheduler::{queue_headroom, QueueInfo, SchedulerInfo};
pub use types::{
    AppAttempt, AppReport, AppState, ClusterInfo, ClusterMetrics, DelegationToken, FinalStatus,
    NewApplication, Resources,
};
pub use webhdfs::{Content, CreateOptions, FileStatus, FileType, WebHdfs, WebHdfsBuilder};
