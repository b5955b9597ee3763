//! The pool's drivers and counts: one [`Group`] per profile and proxy user, each with its own
//! drivers, failures and back-off. Its locks are never held across an `.await`.

use crate::conf::pool::{PoolConf, Profile};
use crate::conf::LivyConf;
use crate::sessions::interactive::Session;
use crate::sessions::manager::ExitTarget;
use crate::sessions::{Reservation, SessionState};
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// The longest pause between attempts after pooled drivers failed to start, one after another.
pub(super) const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// One profile's counts, for `/metrics`, the UI and logs (summed over its proxy users).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PoolStats {
    /// The profile's name (`default` for the simple `livy.server.session.pool.*` keys).
    pub profile: String,
    /// Its kind of driver.
    pub kind: String,
    /// Drivers it keeps ready: its size times its proxy users.
    pub size: usize,
    /// Started, connected and idle: the next creates take these.
    pub ready: usize,
    /// Being started (refills).
    pub refilling: usize,
    /// Sessions that took one of its drivers and have not ended.
    pub in_use: usize,
    /// Drivers handed out since start.
    pub handed_out: u64,
    /// Pooled drivers that failed (to start, or later) before they were taken.
    pub failures: u64,
    /// Ready drivers replaced after the profile's ttl unused.
    pub recycled: u64,
}

/// A driver in the pool.
pub(super) struct Pooled {
    pub session: Arc<Session>,
    pub reservation: Reservation,
    pub exit_to: ExitTarget,
    pub started: Instant,
    pub ready_at: Option<Instant>,
}

#[derive(Default)]
struct Inner {
    drivers: Vec<Pooled>,
    taken: Vec<Weak<Session>>,
    handed_out: u64,
    failures: u64,
    recycled: u64,
    failed_in_a_row: u32,
    retry_at: Option<Instant>,
}

/// The drivers one profile keeps for one proxy user (or for sessions without one).
pub(super) struct Group {
    pub profile: Arc<Profile>,
    pub proxy_user: Option<String>,
    /// What its drivers are launched with: the profile's request, prepared as a user's is.
    pub conf: BTreeMap<String, String>,
    inner: Mutex<Inner>,
}

/// The pool's state; its keeper and takers are methods of
/// [`crate::sessions::InteractiveSessions`].
pub struct Pool {
    pub(super) groups: Vec<Group>,
    pub(super) wake: Notify,
    pub(super) stop: CancellationToken,
}

impl Pool {
    pub fn new(conf: &PoolConf, livy: &LivyConf) -> Pool {
        let mut groups = Vec::new();
        for profile in &conf.profiles {
            let profile = Arc::new(profile.clone());
            // Checked when livy.conf was loaded; a failure here would surface at launch.
            let prepared =
                crate::launch::prepare::launch_conf(&profile.request(), livy).unwrap_or_default();
            for user in &profile.proxy_users {
                groups.push(Group {
                    profile: profile.clone(),
                    proxy_user: user.clone(),
                    conf: prepared.clone(),
                    inner: Mutex::new(Inner::default()),
                });
            }
        }
        Pool {
            groups,
            wake: Notify::new(),
            stop: CancellationToken::new(),
        }
    }

    /// Counts per profile, in the order profiles are tried.
    pub fn stats(&self) -> Vec<PoolStats> {
        let mut out: Vec<PoolStats> = Vec::new();
        for group in &self.groups {
            let name = &group.profile.name;
            let at = match out.iter().position(|s| &s.profile == name) {
                Some(at) => at,
                None => {
                    out.push(PoolStats {
                        profile: name.clone(),
                        kind: group.profile.kind.as_str().into(),
                        ..Default::default()
                    });
                    out.len() - 1
                }
            };
            group.add_stats(&mut out[at]);
        }
        out
    }
}

impl Group {
    fn add_stats(&self, s: &mut PoolStats) {
        let mut inner = self.inner.lock();
        inner
            .taken
            .retain(|s| s.upgrade().is_some_and(|s| !s.state().is_finished()));
        let ready = inner
            .drivers
            .iter()
            .filter(|p| p.session.state() == SessionState::Idle)
            .count();
        s.size += self.profile.size;
        s.ready += ready;
        s.refilling += inner.drivers.len() - ready;
        s.in_use += inner.taken.len();
        s.handed_out += inner.handed_out;
        s.failures += inner.failures;
        s.recycled += inner.recycled;
    }

    /// The oldest ready driver, out of the pool.
    pub fn take_ready(&self) -> Option<Pooled> {
        let mut inner = self.inner.lock();
        let at = inner
            .drivers
            .iter()
            .position(|p| p.session.state() == SessionState::Idle)?;
        Some(inner.drivers.remove(at))
    }

    /// Puts back a driver that was taken out but not changed (the request went elsewhere).
    pub fn put_back(&self, pooled: Pooled) {
        self.inner.lock().drivers.insert(0, pooled);
    }

    /// Adds a started driver, unless the pool is stopping (then it is given back).
    pub fn add(&self, pooled: Pooled, stop: &CancellationToken) -> Option<Pooled> {
        let mut inner = self.inner.lock();
        if stop.is_cancelled() {
            return Some(pooled);
        }
        inner.drivers.push(pooled);
        None
    }

    /// Every driver, out of the pool (when it stops).
    pub fn drain(&self) -> Vec<Pooled> {
        std::mem::take(&mut self.inner.lock().drivers)
    }

    pub fn handed_out(&self, session: &Arc<Session>) {
        let mut inner = self.inner.lock();
        inner.handed_out += 1;
        inner.taken.push(Arc::downgrade(session));
    }

    /// A driver that failed before it was taken.
    pub fn failed(&self) {
        self.inner.lock().failures += 1;
    }

    /// A driver that could not even be started: try again later.
    pub fn failed_to_start(&self, now: Instant) {
        let mut inner = self.inner.lock();
        inner.failures += 1;
        inner.failed_in_a_row += 1;
        inner.retry_at = Some(now + MAX_BACKOFF.min(Duration::from_secs(30)));
    }

    /// Finds what changed: drivers that became ready (logged), ended (failures) or stayed
    /// unused past the ttl (recycled). Returns the ones to stop.
    pub fn sweep(&self, now: Instant) -> Vec<Pooled> {
        let mut inner = self.inner.lock();
        let mut out = Vec::new();
        let mut kept = Vec::new();
        let profile = self.profile.name.as_str();
        for mut p in std::mem::take(&mut inner.drivers) {
            let state = p.session.state();
            if state.is_finished() {
                inner.failures += 1;
                if p.ready_at.is_none() {
                    inner.failed_in_a_row += 1;
                    let backoff = Duration::from_secs(1u64 << inner.failed_in_a_row.min(9));
                    inner.retry_at = Some(now + backoff.min(MAX_BACKOFF));
                }
                let why = p.session.runtime.lock().end_reason.clone();
                tracing::warn!(pooled_id = p.session.id, profile, %state, reason = why.as_deref().unwrap_or("unknown"), "pooled driver failed; it is replaced");
                out.push(p);
                continue;
            }
            if state == SessionState::Idle && p.ready_at.is_none() {
                p.ready_at = Some(now);
                inner.failed_in_a_row = 0;
                inner.retry_at = None;
                tracing::info!(
                    pooled_id = p.session.id,
                    profile,
                    proxy_user = self.proxy_user.as_deref(),
                    seconds = now.duration_since(p.started).as_secs_f64(),
                    "pooled driver ready"
                );
            }
            if p.ready_at
                .is_some_and(|t| now.duration_since(t) > self.profile.ttl)
            {
                inner.recycled += 1;
                tracing::info!(
                    pooled_id = p.session.id,
                    profile,
                    "pooled driver unused for its profile's ttl; replacing it"
                );
                out.push(p);
                continue;
            }
            kept.push(p);
        }
        inner.drivers = kept;
        out
    }

    /// How many drivers to start now (none while backing off after failures).
    pub fn missing(&self, now: Instant) -> usize {
        let inner = self.inner.lock();
        if inner.retry_at.is_some_and(|t| now < t) {
            return 0;
        }
        self.profile.size.saturating_sub(inner.drivers.len())
    }
}
