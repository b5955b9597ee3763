//! Session and batch names unique across the service. Livy refuses a second session (or batch)
//! with a name in use ("Duplicate session name"); each server's registry knows only its own
//! entries, so with several servers the name is also claimed in ZooKeeper: the persistent node
//! `ha/names/<kind>/<digest>` holds the id (in decimal) that has the name. Creating it is the
//! claim, so of two servers creating one name at once exactly one succeeds.
//!
//! The node's name is the SHA-256 of the name, in hex: whatever a client sends (unicode, '/',
//! '..', a name as long as the body limit allows) becomes one fixed-size path segment, so no
//! name reaches another node nor exceeds ZooKeeper's path limits. The name itself is not stored.
//!
//! The order keeps names consistent with ownership (see `ownership`): a name is claimed after
//! its id is owned and before its record exists, and freed after the record's removal is in the
//! store and before ownership is given up. So the holder of a name always has an owner or a
//! record (an orphan keeps its name for the server that adopts it), except when its server died
//! between two of those steps: such a name is stale, and the next claim takes it over — a crash
//! never locks a name for good.

use super::{Ha, HaError, HaResult};
use sha2::{Digest, Sha256};
use zookeeper_client as zk;

/// Attempts to take a stale name over before giving up (each failed one means another server
/// changed the node at the same moment).
const CLAIM_ATTEMPTS: usize = 10;

/// The node name for `name`: SHA-256 in hex (64 characters of [0-9a-f], whatever the name).
fn digest(name: &str) -> String {
    hex::encode(Sha256::digest(name.as_bytes()))
}

/// The id a name node holds; `None` when it is not a decimal id (written by something else).
fn holder_of(data: &[u8]) -> Option<u32> {
    std::str::from_utf8(data).ok()?.parse().ok()
}

impl Ha {
    fn name_path(&self, kind: &str, name: &str) -> String {
        self.path(&format!("ha/names/{kind}/{}", digest(name)))
    }

    /// Claims `name` for entry `id` (which this server owns). False when a live entry of the
    /// service has it: one with an owner or a record.
    pub async fn claim_name(&self, kind: &str, name: &str, id: u32) -> HaResult<bool> {
        let path = self.name_path(kind, name);
        let options = zk::CreateMode::Persistent.with_acls(self.acls());
        let data = id.to_string();
        for _ in 0..CLAIM_ATTEMPTS {
            match super::retry(|| self.client.create(&path, data.as_bytes(), &options)).await {
                Ok(_) => return Ok(true),
                Err(zk::Error::NodeExists) => {}
                Err(e) => return Err(e.into()),
            }
            let (holder, stat) = match super::retry(|| self.client.get_data(&path)).await {
                Ok((bytes, stat)) => (holder_of(&bytes), stat),
                Err(zk::Error::NoNode) => continue,
                Err(e) => return Err(e.into()),
            };
            let Some(holder) = holder else {
                // Not ours to judge (a newer livy-rs may write more): the name stays taken.
                tracing::warn!(kind, "a name node holds no id; the name is left taken");
                return Ok(false);
            };
            if holder == id {
                // A repeat of a create that went through (cut off before its answer).
                return Ok(true);
            }
            if self.owner(kind, holder).await?.is_some() || self.has_record(kind, holder).await? {
                return Ok(false);
            }
            tracing::info!(
                kind,
                holder,
                id,
                "taking over a name left by a server that died while creating or deleting"
            );
            // Only the node as read: if another server took it over meanwhile, look again.
            match super::retry(|| self.client.delete(&path, Some(stat.version))).await {
                Ok(()) | Err(zk::Error::NoNode) | Err(zk::Error::BadVersion) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Err(HaError::Refused(
            "too many servers claimed one name at once; try again".into(),
        ))
    }

    /// Frees `name` if entry `id` holds it (its record is gone). Failures are logged: the node
    /// is stale then, and the next claim of the name takes it over.
    pub async fn free_name(&self, kind: &str, name: &str, id: u32) {
        let path = self.name_path(kind, name);
        let freed = match super::retry(|| self.client.get_data(&path)).await {
            Ok((bytes, stat)) if holder_of(&bytes) == Some(id) => {
                match super::retry(|| self.client.delete(&path, Some(stat.version))).await {
                    Ok(()) | Err(zk::Error::NoNode) => Ok(()),
                    Err(e) => Err(e),
                }
            }
            Ok(_) | Err(zk::Error::NoNode) => Ok(()),
            Err(e) => Err(e),
        };
        if let Err(e) = freed {
            tracing::warn!(kind, id, error = %e, "cannot free a name in ZooKeeper; the next claim of it takes it over");
        }
    }

    /// The id that holds `name`, if any (to route a request that names an entry).
    pub async fn named(&self, kind: &str, name: &str) -> HaResult<Option<u32>> {
        let path = self.name_path(kind, name);
        match super::retry(|| self.client.get_data(&path)).await {
            Ok((bytes, _)) => Ok(holder_of(&bytes)),
            Err(zk::Error::NoNode) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{digest, holder_of};

    #[test]
    fn every_name_is_one_fixed_size_path_segment() {
        let long = "x".repeat(100_000);
        for name in [
            "etl",
            "../../owners/interactive/0",
            "a/b",
            "報告 ✓",
            "",
            long.as_str(),
        ] {
            let d = digest(name);
            assert_eq!(d.len(), 64, "{name:.20}");
            assert!(d
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        }
        assert_ne!(
            digest("a"),
            digest("A"),
            "names are case-sensitive, as in Livy"
        );
    }

    #[test]
    fn a_holder_is_a_decimal_id() {
        assert_eq!(holder_of(b"42"), Some(42));
        assert_eq!(holder_of(b"{\"id\":42}"), None);
        assert_eq!(holder_of(b"-1"), None);
        assert_eq!(holder_of(b""), None);
    }
}
