//! One owner per session and batch: the ephemeral node `ha/owners/<kind>/<id>` holds the
//! owning server's member id. It is created before the entry's record exists (at create) and
//! removed only after the record is gone (at delete), so a record without an owner node means
//! its server's ZooKeeper session ended: an orphan, for a survivor to adopt.
//!
//! Every request about another server's entry asks who owns it, so owners read are kept in
//! [`Owners`] until ZooKeeper says the node changed (a watch set by the read itself); that took
//! the ZooKeeper round trip, about 40 % of a forwarded read's cost (docs/BENCHMARKS.md), off the
//! path. An absent owner is never kept: any id a client names would otherwise take memory.

use super::{Ha, HaResult};
use parking_lot::Mutex;
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use zookeeper_client as zk;

/// Owner nodes read and still watched: path → (owner, the read that put it there).
#[derive(Default, Clone)]
pub struct Owners {
    known: Arc<Mutex<HashMap<String, (String, u64)>>>,
    reads: Arc<AtomicU64>,
}

impl Owners {
    fn get(&self, path: &str) -> Option<String> {
        self.known.lock().get(path).map(|(owner, _)| owner.clone())
    }

    /// Keeps `owner` until `watcher` fires (a change, a deletion or a lost session); a newer
    /// read's entry is not removed by an older read's watch.
    fn keep(&self, path: String, owner: String, watcher: zk::OneshotWatcher) {
        let read = self.reads.fetch_add(1, Ordering::Relaxed);
        self.known.lock().insert(path.clone(), (owner, read));
        let known = self.known.clone();
        tokio::spawn(async move {
            watcher.changed().await;
            let mut known = known.lock();
            if known.get(&path).is_some_and(|(_, r)| *r == read) {
                known.remove(&path);
            }
        });
    }

    /// Drops what is kept for `path`: its holder is found gone before the watch said so.
    fn forget(&self, path: &str) {
        self.known.lock().remove(path);
    }
}

impl Ha {
    fn owner_path(&self, kind: &str, id: u32) -> String {
        self.path(&format!("ha/owners/{kind}/{id}"))
    }

    /// Takes ownership; false when another server owns it already.
    pub async fn own(&self, kind: &str, id: u32) -> HaResult<bool> {
        let options = zk::CreateMode::Ephemeral.with_acls(self.acls());
        let path = self.owner_path(kind, id);
        match super::retry(|| self.client.create(&path, self.me.as_bytes(), &options)).await {
            Ok(_) => Ok(true),
            Err(zk::Error::NodeExists) => {
                Ok(self.owner(kind, id).await?.as_deref() == Some(&self.me))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The member id of the owner, if any.
    pub async fn owner(&self, kind: &str, id: u32) -> HaResult<Option<String>> {
        let path = self.owner_path(kind, id);
        if let Some(owner) = self.owners.get(&path) {
            return Ok(Some(owner));
        }
        match super::retry(|| self.client.get_and_watch_data(&path)).await {
            Ok((data, _, watcher)) => {
                let owner = String::from_utf8_lossy(&data).into_owned();
                self.owners.keep(path, owner.clone(), watcher);
                Ok(Some(owner))
            }
            Err(zk::Error::NoNode) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Waits (at most `timeout`) until the owner node changes or goes: a request whose owner
    /// cannot be reached waits for the take-over instead of failing.
    pub async fn owner_changed(&self, kind: &str, id: u32, timeout: std::time::Duration) {
        let path = self.owner_path(kind, id);
        self.owners.forget(&path);
        if let Ok((Some(_), watcher)) = self.client.check_and_watch_stat(&path).await {
            let _ = tokio::time::timeout(timeout, watcher.changed()).await;
        }
    }

    /// Gives ownership up (the entry and its record are gone). Only this server's node.
    pub async fn disown(&self, kind: &str, id: u32) {
        let path = self.owner_path(kind, id);
        if let Ok((data, stat)) = self.client.get_data(&path).await {
            if data == self.me.as_bytes() {
                let _ = self.client.delete(&path, Some(stat.version)).await;
            }
        }
    }

    /// Whether `v1/<kind>/<id>` exists.
    pub async fn has_record(&self, kind: &str, id: u32) -> HaResult<bool> {
        let path = self.path(&format!("v1/{kind}/{id}"));
        Ok(super::retry(|| self.client.check_stat(&path))
            .await?
            .is_some())
    }

    /// Ids whose record exists with no owner.
    pub async fn orphans(&self, kind: &str) -> HaResult<Vec<u32>> {
        let ids = |names: Vec<String>| -> BTreeSet<u32> {
            names.iter().filter_map(|n| n.parse().ok()).collect()
        };
        let (owners, records) = (
            self.path(&format!("ha/owners/{kind}")),
            self.path(&format!("v1/{kind}")),
        );
        let owned = ids(super::retry(|| self.client.list_children(&owners)).await?);
        let records = ids(super::retry(|| self.client.list_children(&records)).await?);
        Ok(records.difference(&owned).copied().collect())
    }
}
