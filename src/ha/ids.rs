//! One id space for all servers: ids come from Livy's own counter record `v1/{kind}/state`
//! (`{"nextSessionId": n}`), advanced by compare-and-set on the node's version. Two servers
//! that read the same value cannot both write it back, so an id is handed out once, and the
//! counter only grows, so an id is never reused (also after every server restarted).

use super::{Ha, HaError, HaResult};
use zookeeper_client as zk;

/// Attempts before a create gives up (each failed one means another server just took an id).
const CAS_ATTEMPTS: usize = 1000;

/// The counter record after handing out `next`: the next id, and whatever else the record
/// held (fields of a newer version are kept).
fn advanced(record: &[u8]) -> Result<(u32, Vec<u8>), String> {
    let mut map: serde_json::Map<String, serde_json::Value> = if record.is_empty() {
        Default::default()
    } else {
        serde_json::from_slice(record).map_err(|e| format!("unreadable id counter: {e}"))?
    };
    let next = match map.get("nextSessionId") {
        None => 0,
        Some(v) => v
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| format!("unreadable id counter value {v}"))?,
    };
    let after = next
        .checked_add(1)
        .ok_or_else(|| "the id space is exhausted".to_string())?;
    map.insert("nextSessionId".into(), after.into());
    Ok((next, serde_json::to_vec(&map).unwrap_or_default()))
}

impl Ha {
    /// The next id of `kind` (`batch` or `interactive`), unique across all servers.
    pub async fn allocate(&self, kind: &str) -> HaResult<u32> {
        let path = self.path(&format!("v1/{kind}/state"));
        for _ in 0..CAS_ATTEMPTS {
            match super::retry(|| self.client.get_data(&path)).await {
                Ok((data, stat)) => {
                    let (id, record) = advanced(&data).map_err(HaError::Refused)?;
                    // Retried when cut off: a repeat of a write that went through fails on
                    // the version and reads again (that id stays unused, never handed out twice).
                    match super::retry(|| self.client.set_data(&path, &record, Some(stat.version)))
                        .await
                    {
                        Ok(_) => return Ok(id),
                        Err(zk::Error::BadVersion) => continue,
                        Err(e) => return Err(e.into()),
                    }
                }
                Err(zk::Error::NoNode) => {
                    let (id, record) = advanced(b"").map_err(HaError::Refused)?;
                    let options = zk::CreateMode::Persistent.with_acls(self.acls());
                    match super::retry(|| self.client.create(&path, &record, &options)).await {
                        Ok(_) => return Ok(id),
                        Err(zk::Error::NodeExists) => continue,
                        Err(e) => return Err(e.into()),
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(HaError::Refused(
            "too many servers took ids at once; try again".into(),
        ))
    }
}

/// Reserves a new entry's id with its name. Active/active (`ha`): from the shared counter,
/// owned by this server before anything of it is written (so no other server ever takes it for
/// an orphan), and its name claimed service-wide (`super::names`); otherwise from this server's
/// registry.
pub async fn reserve<T: crate::sessions::Entry>(
    ha: Option<&std::sync::Arc<Ha>>,
    registry: &crate::sessions::Registry<T>,
    kind: &str,
    name: Option<&str>,
) -> Result<crate::sessions::Reservation, crate::error::ApiError> {
    use crate::error::ApiError;
    use crate::sessions::NameError;
    let Some(ha) = ha else {
        return registry.reserve(name).map_err(ApiError::rejected);
    };
    let unavailable = |e: HaError| {
        tracing::warn!(kind, error = %e, "cannot take an id or a name from ZooKeeper");
        ApiError::ServiceUnavailable(
            "The session store (ZooKeeper) cannot be reached; try again.".into(),
        )
    };
    crate::sessions::Registry::<T>::check_name(name).map_err(ApiError::rejected)?;
    let id = ha.allocate(kind).await.map_err(unavailable)?;
    if !ha.own(kind, id).await.map_err(unavailable)? {
        return Err(ApiError::Internal(anyhow::anyhow!(
            "a freshly allocated {kind} id {id} has an owner"
        )));
    }
    // The id stays used whatever fails from here (ids are never reused); its name and
    // ownership go.
    if let Some(n) = name {
        let claimed = ha.claim_name(kind, n, id).await;
        if !matches!(claimed, Ok(true)) {
            abandon(ha, kind, id, name).await;
        }
        match claimed {
            Ok(true) => {}
            Ok(false) => return Err(ApiError::rejected(NameError::Duplicate(n.to_string()))),
            Err(e) => return Err(unavailable(e)),
        }
    }
    match registry.reserve_id(id, name) {
        Ok(reservation) => Ok(reservation),
        Err(e) => {
            abandon(ha, kind, id, name).await;
            Err(ApiError::rejected(e))
        }
    }
}

/// Gives up an id reserved by [`reserve`] whose entry never got a record (its start failed):
/// its name, then its ownership. Nothing to do without active/active.
pub async fn abandon(ha: &Ha, kind: &str, id: u32, name: Option<&str>) {
    if let Some(n) = name {
        ha.free_name(kind, n, id).await;
    }
    ha.disown(kind, id).await;
}

/// After an entry was deleted: once its record's removal is in the store, frees its name and
/// gives its ownership up (in that order, so no server takes the deleted entry for an orphan,
/// nor its name for stale while it still has an owner). Runs in a task of its own, so it
/// completes even if the request that deleted the entry goes away; a DELETE waits for it
/// ([`released`]) so the name can be used again as soon as the client has its answer.
pub fn release(
    recovery: &std::sync::Arc<crate::recovery::Recovery>,
    kind: &'static str,
    id: u32,
    name: Option<String>,
) -> Option<tokio::task::JoinHandle<()>> {
    let ha = recovery.ha().cloned()?;
    let recovery = recovery.clone();
    Some(tokio::spawn(async move {
        if recovery.flush(crate::recovery::ANSWER_WAIT * 6).await {
            abandon(&ha, kind, id, name.as_deref()).await;
        }
    }))
}

/// Waits (at most [`crate::recovery::ANSWER_WAIT`]) for a [`release`] to finish.
pub async fn released(release: Option<tokio::task::JoinHandle<()>>) {
    if let Some(task) = release {
        let _ = tokio::time::timeout(crate::recovery::ANSWER_WAIT, task).await;
    }
}

#[cfg(test)]
mod tests {
    use super::advanced;

    #[test]
    fn the_counter_advances_and_keeps_other_fields() {
        assert_eq!(
            advanced(b"").unwrap(),
            (0, br#"{"nextSessionId":1}"#.to_vec())
        );
        let (id, rec) = advanced(br#"{"nextSessionId":41,"future":true}"#).unwrap();
        assert_eq!(id, 41);
        let v: serde_json::Value = serde_json::from_slice(&rec).unwrap();
        assert_eq!(
            (v["nextSessionId"].as_u64(), v["future"].as_bool()),
            (Some(42), Some(true))
        );
        assert!(advanced(br#"{"nextSessionId":4294967295}"#).is_err());
        assert!(advanced(b"not json").is_err());
    }
}
