//! Take-over: when a server's ZooKeeper session ends (a crash, kill -9, a lost network), its
//! member node and ownership nodes vanish together; every survivor sees the member set change
//! and looks for orphans (records without an owner). Each orphan is adopted by the one server
//! whose ownership node ZooKeeper creates first, which restores it from its record as recovery
//! does after a restart: the YARN app is tracked again, a running spark-submit or driver
//! process re-attached, and the driver dials back (to any live server; the adopter expects it).
//! A server also adopts at start (what no server runs) and when a request meets an orphan.

use super::{Ha, KINDS};
use crate::api::AppState;
use crate::recovery::BATCH;
use std::sync::Arc;

/// Adopts one orphan if ZooKeeper gives it to this server; true when this server runs it now.
pub async fn adopt(state: &AppState, ha: &Ha, kind: &str, id: u32) -> bool {
    match ha.own(kind, id).await {
        Ok(true) => {}
        Ok(false) => return false,
        Err(e) => {
            tracing::warn!(kind, id, error = %e, "cannot take ownership");
            return false;
        }
    }
    let local = if kind == BATCH {
        state.batches.registry().get_id(id).is_some()
    } else {
        state.sessions.registry().get_id(id).is_some()
    };
    if local {
        return true;
    }
    let adopted = if kind == BATCH {
        state.batches.adopt(id).await
    } else {
        state.sessions.adopt(id).await
    };
    match adopted {
        Ok(true) => {
            tracing::info!(kind, id, "adopted from a server that left");
            true
        }
        Ok(false) => {
            // Deleted meanwhile: nothing to run.
            ha.disown(kind, id).await;
            false
        }
        Err(e) => {
            tracing::error!(kind, id, error = %format!("{e:#}"), "cannot adopt");
            ha.disown(kind, id).await;
            false
        }
    }
}

/// Adopts every orphan this server can get.
pub async fn adopt_orphans(state: &AppState, ha: &Ha) -> usize {
    let mut count = 0;
    for kind in KINDS {
        match ha.orphans(kind).await {
            Ok(ids) => {
                for id in ids {
                    if adopt(state, ha, kind, id).await {
                        count += 1;
                    }
                }
            }
            Err(e) => tracing::warn!(kind, error = %e, "cannot look for orphans"),
        }
    }
    count
}

/// Adopts at start, then again whenever a server leaves; runs for the server's life.
pub async fn run(state: AppState, ha: Arc<Ha>) {
    let mut members = ha.subscribe();
    let mut known = members.borrow_and_update().clone();
    adopt_orphans(&state, &ha).await;
    loop {
        tokio::select! {
            changed = members.changed() => if changed.is_err() { return },
            _ = state.stop.cancelled() => return,
        }
        let now = members.borrow_and_update().clone();
        let left = known.keys().any(|id| !now.contains_key(id));
        known = now;
        if left {
            let adopted = adopt_orphans(&state, &ha).await;
            tracing::info!(
                adopted,
                "a server left the service; its orphans were adopted"
            );
        }
    }
}
