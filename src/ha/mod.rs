//! Several livy-rs servers as one service (`livy.server.ha.mode = active-active`).
//!
//! The servers share the ZooKeeper recovery store and meet in its namespace, on a ZooKeeper
//! session of their own (separate from the store's, so its timeout is the take-over time):
//! - `membership`: each server's ephemeral node (REST URL, driver-channel address, version);
//!   the live set is watched.
//! - `ids`: session and batch ids from one counter, Livy's `v1/{kind}/state`, by compare-and-set.
//! - `ownership`: one ephemeral node per session or batch names the server that runs it; only
//!   that server monitors its YARN app and talks to its driver.
//! - `names`: a session's or batch's name is claimed service-wide (Livy refuses duplicates).
//! - `forward`: requests about an entry another server owns go to it, signed with the shared
//!   secret and carrying the caller's identity; lists gather every server's entries.
//! - `takeover`: when a server's session ends, its ownership nodes vanish and the survivors
//!   adopt what it ran (one each, by ZooKeeper); drivers dial back to any live server.
//!
//! A server whose own ZooKeeper session expires has lost its sessions to the others: it exits
//! (a supervisor restarts it), rather than keep driving sessions another server now owns.

pub mod drain;
pub mod forward;
pub mod ids;
pub mod lists;
pub mod membership;
pub mod names;
pub mod ownership;
pub mod peer;
pub mod takeover;

use crate::conf::ha::HaConf;
use std::time::Duration;
use zookeeper_client as zk;

pub use membership::Member;

/// A ZooKeeper failure of the HA layer.
#[derive(Debug, thiserror::Error)]
pub enum HaError {
    #[error("ZooKeeper: {0}")]
    ZooKeeper(#[from] zk::Error),
    #[error("{0}")]
    Refused(String),
}

pub type HaResult<T> = Result<T, HaError>;

/// How long a ZooKeeper request cut off by a slow connection is retried (the client
/// reconnects on the same session meanwhile; on a loaded machine an answer can take longer than
/// the client's read timeout, two fifths of the session timeout).
const RETRY_FOR: Duration = Duration::from_secs(10);

/// Whether a failed request may succeed when sent again: a connection problem, not an answer.
fn transient(e: &zk::Error) -> bool {
    matches!(
        e,
        zk::Error::ConnectionLoss
            | zk::Error::Throttled
            | zk::Error::UnexpectedError(_)
            | zk::Error::Custom(_)
    )
}

/// Runs a ZooKeeper request again while it fails transiently, up to [`RETRY_FOR`]. Every
/// request retried here is safe to repeat: a read, a create (a repeat finds the node and checks
/// its owner) or a compare-and-set (a repeat fails on the version and reads again).
pub(crate) async fn retry<T, F, Fut>(mut op: F) -> Result<T, zk::Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, zk::Error>>,
{
    let deadline = tokio::time::Instant::now() + RETRY_FOR;
    let mut backoff = Duration::from_millis(50);
    loop {
        match op().await {
            Err(e) if transient(&e) && tokio::time::Instant::now() + backoff < deadline => {
                tracing::debug!(error = %e, "ZooKeeper request cut off; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
            other => return other,
        }
    }
}

/// This server's part in the service.
pub struct Ha {
    pub conf: HaConf,
    /// `/<key-prefix>`.
    root: String,
    digest: bool,
    client: zk::Client,
    /// This server's member id (unique per process: a restarted server is a new member).
    pub me: String,
    members: tokio::sync::watch::Sender<membership::Members>,
    /// The live members' driver channels, for the drivers (see `Ha::driver_channels`).
    channels: tokio::sync::watch::Sender<Vec<String>>,
    peer: peer::Peer,
    /// Owners read, until their node changes.
    owners: ownership::Owners,
    /// Cancelled when this server drains (see `drain`).
    draining: tokio_util::sync::CancellationToken,
}

/// Record kinds whose entries are owned (the names of `crate::recovery`).
pub const KINDS: [&str; 2] = [crate::recovery::BATCH, crate::recovery::INTERACTIVE];

impl Ha {
    /// Connects to ZooKeeper with the HA session and makes the namespace's nodes. Fails when a
    /// single (non-HA) server owns the store.
    pub async fn connect(
        conf: HaConf,
        ensemble: &str,
        key_prefix: &str,
        digest: Option<&str>,
        tls: bool,
    ) -> anyhow::Result<Self> {
        let mut connector = zk::Client::connector()
            .with_session_timeout(conf.session_timeout)
            .with_connection_timeout(Duration::from_secs(3));
        if let Some(d) = digest {
            connector = connector.with_auth("digest", d.as_bytes());
        }
        let client = tokio::time::timeout(Duration::from_secs(15), connector.connect(ensemble))
            .await
            .map_err(|_| anyhow::anyhow!("no answer from ZooKeeper {ensemble}"))??;
        let me = format!(
            "{}-{}",
            std::process::id(),
            crate::driver::channel::random_hex(6)
        );
        let ha = Ha {
            peer: peer::Peer::new(&conf, tls)?,
            conf,
            root: format!("/{key_prefix}"),
            digest: digest.is_some(),
            client,
            me,
            members: tokio::sync::watch::channel(Default::default()).0,
            channels: tokio::sync::watch::channel(Vec::new()).0,
            draining: Default::default(),
            owners: Default::default(),
        };
        for dir in ["ha", "ha/members", "ha/owners", "ha/names", "v1"]
            .into_iter()
            .map(String::from)
            .chain(KINDS.iter().map(|k| format!("ha/owners/{k}")))
            .chain(KINDS.iter().map(|k| format!("ha/names/{k}")))
            .chain(KINDS.iter().map(|k| format!("v1/{k}")))
        {
            ha.make(&dir).await?;
        }
        if ha.client.check_stat(&ha.path("v1/owner")).await?.is_some() {
            anyhow::bail!(
                "a livy-rs server without {} owns the ZooKeeper recovery store {}; all servers of one store must run active-active",
                crate::conf::ha::MODE,
                ha.root
            );
        }
        Ok(ha)
    }

    /// The absolute ZooKeeper path of `key` (relative, like the store's keys).
    fn path(&self, key: &str) -> String {
        format!("{}/{key}", self.root)
    }

    fn acls(&self) -> zk::Acls<'static> {
        if self.digest {
            zk::Acls::creator_all()
        } else {
            zk::Acls::anyone_all()
        }
    }

    /// Creates a persistent node (and its parents) unless it exists.
    async fn make(&self, key: &str) -> HaResult<()> {
        let options = zk::CreateMode::Persistent.with_acls(self.acls());
        let mut at = String::new();
        for part in self.path(key).trim_start_matches('/').split('/') {
            at.push('/');
            at.push_str(part);
            match self.client.create(&at, b"", &options).await {
                Ok(_) | Err(zk::Error::NodeExists) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Exits the process when this server's ZooKeeper session ends: its ownership nodes are
    /// gone, so other servers adopt (or have adopted) its sessions.
    pub fn exit_on_session_loss(&self) {
        let mut states = self.client.state_watcher();
        tokio::spawn(async move {
            loop {
                let state = states.changed().await;
                if matches!(
                    state,
                    zk::SessionState::Expired | zk::SessionState::AuthFailed
                ) {
                    tracing::error!(?state, "this server's ZooKeeper session ended: other servers adopt its sessions and batches; exiting");
                    crate::app::tell_stderr(format_args!("the ZooKeeper session of active-active membership ended ({state:?}); exiting"));
                    std::process::exit(3);
                }
            }
        });
    }

    pub fn peer(&self) -> &peer::Peer {
        &self.peer
    }
}
