//! HA peers: the configured ResourceManagers (or NameNodes), which one answered last, and the
//! bounded loop that tries them in turn.
//!
//! Hadoop's own clients go round the configured RMs until one is active
//! (ResourceManagerHA.md, "Client, ApplicationMaster and NodeManager on RM failover"). We do the
//! same, but start with the peer that answered last, so in the steady state every call is one
//! request to the active RM and a standby is never asked.

use super::conf::Endpoint;
use super::error::YarnError;
use super::http::{parse_base, same_origin};
use reqwest::Url;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Full passes over the peers before giving up (a failover takes a moment to settle).
pub const DEFAULT_FAILOVER_ROUNDS: usize = 2;
/// Pause before each pass after the first, multiplied by the pass number.
pub const DEFAULT_FAILOVER_BACKOFF: Duration = Duration::from_millis(200);

#[derive(Debug, Clone)]
pub(crate) struct Peer {
    pub id: Option<String>,
    pub base: Url,
}

impl Peer {
    pub fn name(&self) -> String {
        match &self.id {
            Some(id) => format!("{id} ({})", self.base),
            None => self.base.to_string(),
        }
    }
}

#[derive(Debug)]
pub(crate) struct Peers {
    service: &'static str,
    list: Vec<Peer>,
    active: AtomicUsize,
    rounds: usize,
    backoff: Duration,
}

impl Peers {
    pub fn new(
        service: &'static str,
        endpoints: &[Endpoint],
        rounds: usize,
        backoff: Duration,
    ) -> Result<Self, YarnError> {
        if endpoints.is_empty() {
            return Err(YarnError::Invalid(format!(
                "no {service} address configured"
            )));
        }
        let list = endpoints
            .iter()
            .map(|e| {
                Ok(Peer {
                    id: e.id.clone(),
                    base: parse_base(&e.url)?,
                })
            })
            .collect::<Result<Vec<_>, YarnError>>()?;
        Ok(Peers {
            service,
            list,
            active: AtomicUsize::new(0),
            rounds: rounds.max(1),
            backoff,
        })
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn get(&self, i: usize) -> &Peer {
        &self.list[i]
    }

    /// The peer the next call goes to first.
    pub fn active(&self) -> usize {
        self.active.load(Ordering::Relaxed)
    }

    /// The peer serving `url`, if it is one of ours.
    pub fn index_of(&self, url: &Url) -> Option<usize> {
        self.list.iter().position(|p| same_origin(url, &p.base))
    }

    /// Makes `i` the first peer tried from now on.
    pub fn remember(&self, i: usize) {
        let previous = self.active.swap(i, Ordering::Relaxed);
        if previous != i && self.list.len() > 1 {
            tracing::info!(
                service = self.service,
                peer = %self.list[i].name(),
                previous = %self.list[previous].name(),
                "switched to another HA peer"
            );
        }
    }

    /// Runs `attempt(i)` on peer `i`, starting at the active one and moving on while the error
    /// is one `fail_over` accepts, for at most `rounds` passes. A single peer is tried once: the
    /// caller's own retry policy (`is_retriable`) decides what happens next.
    pub async fn run<T, F, Fut>(
        &self,
        fail_over: impl Fn(&YarnError) -> bool,
        mut attempt: F,
    ) -> Result<T, YarnError>
    where
        F: FnMut(usize) -> Fut,
        Fut: Future<Output = Result<T, YarnError>>,
    {
        let n = self.list.len();
        let start = self.active();
        let attempts = if n == 1 { 1 } else { n * self.rounds };
        let mut tried = Vec::new();
        let mut last = None;
        for k in 0..attempts {
            if k > 0 && k % n == 0 {
                tokio::time::sleep(self.backoff * (k / n) as u32).await;
            }
            let i = (start + k) % n;
            match attempt(i).await {
                Ok(v) => return Ok(v),
                Err(e) if n > 1 && fail_over(&e) => {
                    tracing::debug!(service = self.service, peer = %self.list[i].name(), error = %e, "HA peer failed; trying the next");
                    let name = self.list[i].name();
                    if !tried.contains(&name) {
                        tried.push(name);
                    }
                    last = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(match last {
            Some(last) => YarnError::NoActive {
                service: self.service,
                tried,
                last: Box::new(last),
            },
            None => YarnError::Invalid(format!("no {} to try", self.service)),
        })
    }
}
