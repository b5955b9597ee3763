//! The recovery writer: turns dirty marks into store writes.
//!
//! It works in rounds. A round takes every dirty key that is not being written already,
//! serialises its records then (the newest state goes out, and marks in between cost nothing)
//! and writes them side by side. Rounds overlap, so a statement's `POST` does not wait behind
//! the write of the previous statement's result; but one key is never in two rounds at once,
//! so a record is never overwritten by an older version of itself.
//!
//! Flushes learn how far the store is: every mark below the oldest one not yet written is in
//! it. A failed write keeps its mark and is retried with back-off, so a flush waits for the
//! retry; the first failure and then one line a minute are logged, so a ZooKeeper outage does
//! not flood the log.
//!
//! Written here rather than taken from a crate: it is the queue in front of our own
//! `StateStore` trait, with the coalescing and ordering rules recovery needs.

use super::{Recordable, Recovery};
use futures::stream::{FuturesUnordered, StreamExt};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::time::Instant;

/// Records of one round written at the same time (file syncs on the blocking pool, or
/// pipelined ZooKeeper requests).
const PARALLEL_WRITES: usize = 16;
/// Rounds in flight at once.
const MAX_ROUNDS: usize = 8;

pub(super) enum Source {
    Live(Weak<dyn Recordable>),
    Bytes(Vec<u8>),
    Removed,
}

struct Dirty {
    source: Source,
    /// The oldest mark of this key not yet in the store.
    first: u64,
}

/// What waits to be written, and what is being written.
#[derive(Default)]
pub(super) struct Pending {
    dirty: BTreeMap<String, Dirty>,
    /// Keys in a round now, with the oldest mark that round covers.
    in_flight: HashMap<String, u64>,
    /// Counts marks.
    pub(super) marks: u64,
}

/// How far the store is, for flushes: every mark up to `written` is in it; `rounds` counts
/// finished rounds (a waiter for one key re-checks on each).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Progress {
    pub written: u64,
    pub rounds: u64,
}

impl Pending {
    pub(super) fn queue(&mut self, key: String, source: Source) {
        use std::collections::btree_map::Entry;
        self.marks += 1;
        match self.dirty.entry(key) {
            Entry::Occupied(mut o) => o.get_mut().source = source,
            Entry::Vacant(v) => {
                v.insert(Dirty {
                    source,
                    first: self.marks,
                });
            }
        }
    }

    /// Puts back a write that failed, unless a newer mark replaced it; either way its mark
    /// stays unwritten.
    fn requeue(&mut self, key: String, source: Source, first: u64) {
        let d = self.dirty.entry(key).or_insert(Dirty { source, first });
        d.first = d.first.min(first);
    }

    fn take_round(&mut self) -> Vec<(String, u64, Source)> {
        let keys: Vec<String> = self
            .dirty
            .keys()
            .filter(|k| !self.in_flight.contains_key(*k))
            .cloned()
            .collect();
        keys.into_iter()
            .filter_map(|k| {
                let d = self.dirty.remove(&k)?;
                self.in_flight.insert(k.clone(), d.first);
                Some((k, d.first, d.source))
            })
            .collect()
    }

    /// Every mark up to this one is in the store.
    fn written(&self) -> u64 {
        self.dirty
            .values()
            .map(|d| d.first)
            .chain(self.in_flight.values().copied())
            .min()
            .map_or(self.marks, |first| first - 1)
    }

    /// Whether every mark of `key` up to `target` is in the store.
    pub(super) fn key_written(&self, key: &str, target: u64) -> bool {
        self.dirty.get(key).is_none_or(|d| d.first > target)
            && self.in_flight.get(key).is_none_or(|first| *first > target)
    }

    pub(super) fn is_idle(&self) -> bool {
        self.dirty.is_empty() && self.in_flight.is_empty()
    }
}

/// What a round did.
struct Outcome {
    keys: Vec<String>,
    /// Writes that failed: record key, what to write, the mark it covers.
    failed: Vec<(String, Source, u64)>,
    error: Option<String>,
}

async fn round(r: Arc<Recovery>, batch: Vec<(String, u64, Source)>) -> Outcome {
    let mut writes: Vec<(String, Option<Vec<u8>>, u64)> = Vec::new();
    let mut keys = Vec::with_capacity(batch.len());
    for (key, first, source) in batch {
        match source {
            Source::Live(weak) => {
                if let Some(entry) = weak.upgrade() {
                    writes.extend(entry.records(&key).into_iter().map(|(k, b)| (k, b, first)));
                }
            }
            Source::Bytes(bytes) => writes.push((key.clone(), Some(bytes), first)),
            Source::Removed => writes.push((key.clone(), None, first)),
        }
        keys.push(key);
    }
    // The records of a round are independent (one key each, and loading tolerates any subset
    // of them), so they go out together.
    let results: Vec<_> = futures::stream::iter(writes)
        .map(|(key, bytes, first)| {
            let r = &r;
            async move {
                let result = match &bytes {
                    None => r.store.remove(&key).await,
                    Some(bytes) => {
                        r.writes.fetch_add(1, Ordering::Relaxed);
                        r.bytes.fetch_add(bytes.len() as u64, Ordering::Relaxed);
                        r.store.set(&key, bytes).await
                    }
                };
                (key, bytes, first, result)
            }
        })
        .buffer_unordered(PARALLEL_WRITES)
        .collect()
        .await;
    let mut failed = Vec::new();
    let mut error = None;
    for (key, bytes, first, result) in results {
        if let Err(e) = result {
            error.get_or_insert(e.to_string());
            let source = bytes.map_or(Source::Removed, Source::Bytes);
            failed.push((key, source, first));
        }
    }
    Outcome {
        keys,
        failed,
        error,
    }
}

pub(super) async fn run(r: Arc<Recovery>) {
    let mut rounds = FuturesUnordered::new();
    let mut backoff = Duration::from_millis(100);
    let mut retry_at: Option<Instant> = None;
    let mut last_log: Option<Instant> = None;
    loop {
        if rounds.len() < MAX_ROUNDS && retry_at.is_none() {
            let batch = r.pending.lock().take_round();
            if !batch.is_empty() {
                rounds.push(round(r.clone(), batch));
            }
        }
        tokio::select! {
            _ = r.wake.notified() => {}
            _ = tokio::time::sleep_until(retry_at.unwrap_or_else(Instant::now)), if retry_at.is_some() => {
                retry_at = None;
            }
            Some(outcome) = rounds.next(), if !rounds.is_empty() => {
                let (written, idle) = {
                    let mut p = r.pending.lock();
                    for key in &outcome.keys {
                        p.in_flight.remove(key);
                    }
                    for (key, source, first) in outcome.failed {
                        p.requeue(key, source, first);
                    }
                    (p.written(), p.is_idle())
                };
                r.progress.send_modify(|p| {
                    p.written = p.written.max(written);
                    p.rounds += 1;
                });
                if let Some(error) = outcome.error {
                    let now = Instant::now();
                    if last_log.is_none_or(|t| now - t > Duration::from_secs(60)) {
                        tracing::warn!(%error, "cannot write to the recovery store; retrying until it is back");
                        last_log = Some(now);
                    }
                    retry_at = Some(now + backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    continue;
                }
                if last_log.take().is_some() {
                    tracing::info!("the recovery store is writable again");
                }
                backoff = Duration::from_millis(100);
                if idle && r.behind.swap(false, Ordering::Relaxed) {
                    tracing::info!("the recovery store has caught up with every change");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_are_written_up_to_the_oldest_pending_one() {
        let mut p = Pending::default();
        p.queue("a".into(), Source::Removed); // mark 1
        p.queue("b".into(), Source::Removed); // mark 2
        assert_eq!(p.written(), 0);
        let round = p.take_round();
        assert_eq!(round.len(), 2);
        p.queue("a".into(), Source::Removed); // mark 3, while `a` is in flight
        assert!(
            p.take_round().is_empty(),
            "a key is never in two rounds at once"
        );
        p.in_flight.remove("b");
        assert_eq!(p.written(), 0, "`a` (mark 1) is still in flight");
        assert!(p.key_written("b", 2));
        assert!(!p.key_written("a", 1));
        p.in_flight.remove("a");
        assert_eq!(p.written(), 2, "mark 3 waits");
        assert!(p.key_written("a", 2) && !p.key_written("a", 3));
        p.requeue("a".into(), Source::Removed, 1);
        assert_eq!(p.written(), 0, "a failed write keeps its mark");
        assert_eq!(p.take_round().len(), 1);
        p.in_flight.clear();
        assert_eq!(p.written(), 3);
        assert!(p.is_idle());
    }
}
