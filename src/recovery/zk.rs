//! Livy's ZooKeeper state store on the `zookeeper-client` crate: records are znodes under
//! `/<key-prefix>/v1/...`. With `livy.server.recovery.zk-state-store.digest` set, the session
//! adds that digest identity and every node is created with `creator_all`, so only a client
//! holding the same digest can read the driver secrets inside; without it nodes are
//! `anyone_all` (a warning says so at start). The client reconnects by itself after a lost
//! session; operations fail meanwhile and the writer retries them.

use super::store::{StateStore, StoreError, StoreResult};
use futures::future::BoxFuture;
use std::time::Duration;
use zookeeper_client as zk;

pub struct ZkStore {
    ensemble: String,
    prefix: String,
    digest: Option<String>,
    client: tokio::sync::Mutex<Option<zk::Client>>,
}

fn zk_err(e: zk::Error) -> StoreError {
    StoreError::ZooKeeper(e.to_string())
}

impl ZkStore {
    /// Connects once (so a store that is down at start is a clear error) and makes the root.
    pub async fn open(
        ensemble: &str,
        prefix: &str,
        digest: Option<String>,
        retry: (u32, Duration),
    ) -> StoreResult<Self> {
        let store = ZkStore {
            ensemble: ensemble.to_string(),
            prefix: format!("/{prefix}"),
            digest,
            client: tokio::sync::Mutex::new(None),
        };
        if store.digest.is_none() {
            tracing::warn!("ZooKeeper recovery records are readable by any ZooKeeper client (they hold driver secrets); set livy.server.recovery.zk-state-store.digest to user:password to protect them");
        }
        let (attempts, mut backoff) = retry;
        let mut last = None;
        for _ in 0..attempts.max(1) {
            match store.client().await {
                Ok(_) => return Ok(store),
                Err(e) => {
                    tracing::warn!(ensemble, error = %e, "cannot reach ZooKeeper; retrying");
                    last = Some(e);
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
            }
        }
        Err(last.unwrap_or_else(|| StoreError::ZooKeeper("no attempt".into())))
    }

    async fn client(&self) -> StoreResult<zk::Client> {
        let mut guard = self.client.lock().await;
        if let Some(c) = guard.as_ref() {
            if !matches!(
                c.state(),
                zk::SessionState::Expired | zk::SessionState::Closed | zk::SessionState::AuthFailed
            ) {
                return Ok(c.clone());
            }
        }
        let mut connector = zk::Client::connector()
            .with_session_timeout(Duration::from_secs(10))
            .with_connection_timeout(Duration::from_secs(3))
            .with_fail_eagerly();
        if let Some(d) = &self.digest {
            connector = connector.with_auth("digest", d.as_bytes());
        }
        let client =
            tokio::time::timeout(Duration::from_secs(10), connector.connect(&self.ensemble))
                .await
                .map_err(|_| StoreError::ZooKeeper(format!("no answer from {}", self.ensemble)))?
                .map_err(zk_err)?;
        *guard = Some(client.clone());
        Ok(client)
    }

    fn acls(&self) -> zk::Acls<'static> {
        if self.digest.is_some() {
            zk::Acls::creator_all()
        } else {
            zk::Acls::anyone_all()
        }
    }

    fn path(&self, key: &str) -> StoreResult<String> {
        if key.is_empty()
            || key
                .split('/')
                .any(|s| s.is_empty() || s == "." || s == "..")
        {
            return Err(StoreError::Refused(format!("bad store key '{key}'")));
        }
        Ok(format!("{}/{key}", self.prefix))
    }

    /// Creates the parents of `path` that do not exist.
    async fn make_parents(&self, client: &zk::Client, path: &str) -> StoreResult<()> {
        let options = zk::CreateMode::Persistent.with_acls(self.acls());
        let mut at = String::new();
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        for part in &parts[..parts.len().saturating_sub(1)] {
            at.push('/');
            at.push_str(part);
            match client.create(&at, b"", &options).await {
                Ok(_) | Err(zk::Error::NodeExists) => {}
                Err(e) => return Err(zk_err(e)),
            }
        }
        Ok(())
    }

    async fn set_once(&self, path: &str, value: &[u8]) -> StoreResult<()> {
        let client = self.client().await?;
        match client.set_data(path, value, None).await {
            Ok(_) => return Ok(()),
            Err(zk::Error::NoNode) => {}
            Err(e) => return Err(zk_err(e)),
        }
        self.make_parents(&client, path).await?;
        let options = zk::CreateMode::Persistent.with_acls(self.acls());
        match client.create(path, value, &options).await {
            Ok(_) => Ok(()),
            Err(zk::Error::NodeExists) => client
                .set_data(path, value, None)
                .await
                .map(|_| ())
                .map_err(zk_err),
            Err(e) => Err(zk_err(e)),
        }
    }

    async fn remove_tree(&self, client: &zk::Client, path: &str) -> StoreResult<()> {
        let kids = match client.list_children(path).await {
            Ok(k) => k,
            Err(zk::Error::NoNode) => return Ok(()),
            Err(e) => return Err(zk_err(e)),
        };
        for kid in kids {
            Box::pin(self.remove_tree(client, &format!("{path}/{kid}"))).await?;
        }
        match client.delete(path, None).await {
            Ok(()) | Err(zk::Error::NoNode) => Ok(()),
            Err(e) => Err(zk_err(e)),
        }
    }
}

impl StateStore for ZkStore {
    fn set<'a>(&'a self, key: &'a str, value: &'a [u8]) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move { self.set_once(&self.path(key)?, value).await })
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, StoreResult<Option<Vec<u8>>>> {
        Box::pin(async move {
            let path = self.path(key)?;
            match self.client().await?.get_data(&path).await {
                Ok((data, _)) => Ok(Some(data)),
                Err(zk::Error::NoNode) => Ok(None),
                Err(e) => Err(zk_err(e)),
            }
        })
    }

    fn children<'a>(&'a self, key: &'a str) -> BoxFuture<'a, StoreResult<Vec<String>>> {
        Box::pin(async move {
            let path = self.path(key)?;
            match self.client().await?.list_children(&path).await {
                Ok(kids) => Ok(kids),
                Err(zk::Error::NoNode) => Ok(Vec::new()),
                Err(e) => Err(zk_err(e)),
            }
        })
    }

    fn remove<'a>(&'a self, key: &'a str) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            let path = self.path(key)?;
            let client = self.client().await?;
            self.remove_tree(&client, &path).await
        })
    }

    /// An ephemeral `v1/owner` node names the server that owns the store. A node left by a
    /// server on this host whose process is gone (a kill -9 whose ZooKeeper session has not
    /// expired yet) is taken over; a live owner elsewhere is refused.
    fn claim<'a>(&'a self, owner: &'a str) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            let path = self.path("v1/owner")?;
            let client = self.client().await?;
            self.make_parents(&client, &path).await?;
            // Servers in active/active mode share the store (crate::ha); a single server must
            // not take their sessions.
            match client.list_children(&self.path("ha/members")?).await {
                Ok(members) if !members.is_empty() => {
                    return Err(StoreError::Refused(format!(
                        "{} livy-rs servers in active-active mode use the ZooKeeper recovery store {}; set livy.server.ha.mode = active-active to join them",
                        members.len(),
                        self.prefix
                    )))
                }
                Ok(_) | Err(zk::Error::NoNode) => {}
                Err(e) => return Err(zk_err(e)),
            }
            let options = zk::CreateMode::Ephemeral.with_acls(self.acls());
            for _ in 0..2 {
                match client.create(&path, owner.as_bytes(), &options).await {
                    Ok(_) => return Ok(()),
                    Err(zk::Error::NodeExists) => {
                        let holder = match client.get_data(&path).await {
                            Ok((d, _)) => String::from_utf8_lossy(&d).into_owned(),
                            Err(zk::Error::NoNode) => continue,
                            Err(e) => return Err(zk_err(e)),
                        };
                        if super::owner_is_gone(&holder) {
                            tracing::info!(previous = %holder, "taking over the recovery store from a server that is gone");
                            match client.delete(&path, None).await {
                                Ok(()) | Err(zk::Error::NoNode) => continue,
                                Err(e) => return Err(zk_err(e)),
                            }
                        }
                        return Err(StoreError::Refused(format!(
                            "another livy-rs server ({holder}) owns the ZooKeeper recovery store {}; two servers must not own the same sessions",
                            self.prefix
                        )));
                    }
                    Err(e) => return Err(zk_err(e)),
                }
            }
            Err(StoreError::Refused(
                "cannot claim the ZooKeeper recovery store".into(),
            ))
        })
    }
}
