//! Membership: each server's ephemeral node `ha/members/<id>` says where it is (REST URL,
//! driver-channel address) and what it runs (version). The set of live servers is watched
//! (a ZooKeeper child watch, re-armed after every change), never polled; readers get a copy.

use super::{Ha, HaResult};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use zookeeper_client as zk;

/// One live server, as it registered itself. Fields this version does not know are kept
/// (`extra`), so servers of two adjacent versions read each other's nodes whole.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    pub id: String,
    /// Where peers send requests (`http(s)://host:port`).
    pub url: String,
    /// Where drivers dial in (`host:port`).
    pub channel: String,
    pub version: String,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// Live servers by member id.
pub type Members = BTreeMap<String, Member>;

impl Ha {
    /// Registers this server (an ephemeral node that lives as long as its ZooKeeper session)
    /// and starts watching the others.
    pub async fn join(self: &std::sync::Arc<Self>, url: &str, channel: &str) -> HaResult<()> {
        let member = Member {
            id: self.me.clone(),
            url: url.to_string(),
            channel: channel.to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            extra: Default::default(),
        };
        let bytes = serde_json::to_vec(&member).unwrap_or_default();
        let options = zk::CreateMode::Ephemeral.with_acls(self.acls());
        self.client
            .create(
                &self.path(&format!("ha/members/{}", self.me)),
                &bytes,
                &options,
            )
            .await?;
        tracing::info!(member = %self.me, url, channel, "joined the active-active service");
        self.refresh_members().await?;
        let ha = self.clone();
        tokio::spawn(async move { ha.watch_members().await });
        Ok(())
    }

    /// Re-reads the set of members and arms a watch on it; returns the watch.
    async fn refresh_members(&self) -> HaResult<zk::OneshotWatcher> {
        let dir = self.path("ha/members");
        let (names, watcher) = self.client.list_and_watch_children(&dir).await?;
        let mut members = Members::new();
        for name in names {
            match self.client.get_data(&format!("{dir}/{name}")).await {
                Ok((data, _)) => match serde_json::from_slice::<Member>(&data) {
                    Ok(m) => {
                        members.insert(name, m);
                    }
                    Err(e) => {
                        tracing::warn!(member = %name, error = %e, "unreadable member node; ignored")
                    }
                },
                Err(zk::Error::NoNode) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let channels = channels_of(&members);
        self.members.send_if_modified(|old| {
            let changed = *old != members;
            if changed {
                tracing::info!(members = ?members.keys().collect::<Vec<_>>(), "active-active members");
                *old = members;
            }
            changed
        });
        // Drivers hear of a change of addresses only (a member's other fields do not concern them).
        self.channels.send_if_modified(|old| {
            let changed = *old != channels;
            if changed {
                *old = channels;
            }
            changed
        });
        Ok(watcher)
    }

    async fn watch_members(&self) {
        let mut backoff = std::time::Duration::from_millis(100);
        loop {
            match self.refresh_members().await {
                Ok(watcher) => {
                    backoff = std::time::Duration::from_millis(100);
                    watcher.changed().await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the active-active members; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(std::time::Duration::from_secs(5));
                }
            }
        }
    }

    /// The live servers now.
    pub fn members(&self) -> Members {
        self.members.borrow().clone()
    }

    /// Changes of the live set.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<Members> {
        self.members.subscribe()
    }

    /// The live servers' driver channels, watched: each session's link tells its driver, so a
    /// driver learns of servers that joined after its launch and can dial back to one of them.
    pub fn driver_channels(&self) -> tokio::sync::watch::Receiver<Vec<String>> {
        self.channels.subscribe()
    }

    /// The other live servers.
    pub fn peers(&self) -> Vec<Member> {
        self.members
            .borrow()
            .values()
            .filter(|m| m.id != self.me)
            .cloned()
            .collect()
    }

    /// A member by id, read from ZooKeeper when the watched copy does not have it yet.
    pub async fn member(&self, id: &str) -> HaResult<Option<Member>> {
        if let Some(m) = self.members.borrow().get(id) {
            return Ok(Some(m.clone()));
        }
        let path = self.path(&format!("ha/members/{id}"));
        match super::retry(|| self.client.get_data(&path)).await {
            Ok((data, _)) => Ok(serde_json::from_slice(&data).ok()),
            Err(zk::Error::NoNode) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

/// The distinct driver channels of `members`, in member order.
fn channels_of(members: &Members) -> Vec<String> {
    let mut channels: Vec<String> = Vec::with_capacity(members.len());
    for m in members.values() {
        if !m.channel.is_empty() && !channels.contains(&m.channel) {
            channels.push(m.channel.clone());
        }
    }
    channels
}

impl Ha {
    /// The driver channel's TLS identity, one for the whole service (`v1/channel`, as a single
    /// server keeps it): drivers pin its fingerprint and may dial back to any server. The first
    /// server makes it; ZooKeeper's create decides between servers that start together.
    pub async fn channel_identity(&self) -> anyhow::Result<crate::driver::tls::ChannelIdentity> {
        use crate::driver::tls::ChannelIdentity;
        let path = self.path("v1/channel");
        let decode = |bytes: &[u8]| -> anyhow::Result<ChannelIdentity> {
            let v: serde_json::Value = serde_json::from_slice(bytes)?;
            let part = |k: &str| hex::decode(v[k].as_str().unwrap_or_default());
            ChannelIdentity::from_der(part("cert")?, part("key")?)
        };
        if let Ok((bytes, _)) = self.client.get_data(&path).await {
            return decode(&bytes);
        }
        let fresh = ChannelIdentity::generate()?;
        let record = serde_json::json!({
            "port": 0,
            "cert": hex::encode(&fresh.cert_der),
            "key": hex::encode(&fresh.key_der),
        });
        let options = zk::CreateMode::Persistent.with_acls(self.acls());
        match self
            .client
            .create(&path, record.to_string().as_bytes(), &options)
            .await
        {
            Ok(_) => Ok(fresh),
            Err(zk::Error::NodeExists) => decode(&self.client.get_data(&path).await?.0),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_newer_servers_member_node_keeps_fields_this_version_does_not_know() {
        let text =
            r#"{"id":"1-ab","url":"http://h:1","channel":"h:2","version":"9.9.9","zone":"b"}"#;
        let m: Member = serde_json::from_str(text).unwrap();
        assert_eq!(m.extra["zone"], "b");
        let again: serde_json::Value = serde_json::to_value(&m).unwrap();
        assert_eq!(again["zone"], "b");
    }

    #[test]
    fn drivers_are_told_each_live_servers_channel_once() {
        let member = |id: &str, channel: &str| Member {
            id: id.into(),
            url: format!("http://{id}"),
            channel: channel.into(),
            version: "0".into(),
            extra: Default::default(),
        };
        let members: Members = [
            member("1-a", "h:1"),
            member("2-b", "h:2"),
            member("3-c", "h:1"),
            member("4-d", ""),
        ]
        .into_iter()
        .map(|m| (m.id.clone(), m))
        .collect();
        assert_eq!(channels_of(&members), ["h:1", "h:2"]);
    }
}
