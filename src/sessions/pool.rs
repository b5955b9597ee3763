//! The warm pool (`livy.server.session.pool.*`): drivers started ahead of time, so that a
//! `POST /sessions` the pool can serve is `idle` at once instead of after a cold start.
//!
//! A pooled driver is a session driver launched by the normal path (spark-submit, the driver
//! channel, its link task) for nobody: no owner, no proxy user, default resources, the pool's
//! kind. It reserves its session id when it starts (so ids are never given out twice, even
//! across a restart) but is not listed in `GET /sessions` and has no recovery record until it
//! is taken. Taking it builds the user's session (id, name, owner, kind, timeouts, recovery
//! record) and hands the driver's link over to it ([`LinkCommand::Handover`]); from then on the
//! driver is that session's, and it is never returned to the pool: a pooled driver never serves
//! two sessions, so nothing one user left in it reaches another.
//!
//! Which requests a pool serves is explicit: no proxy user (neither asked for nor implied by
//! impersonation), the pool's kind (a `shared` pool serves every kind), nothing that needs a
//! new SparkContext (driver/executor resources, queue, archives, conf). jars, pyFiles and files
//! are added to the running context. Everything else starts a driver as before.
//!
//! One keeper task per server owns the refills: it notices drivers that became ready or died,
//! replaces those unused for longer than the pool's ttl, and starts new ones while the pool is
//! short and `livy.server.session.max-creation` leaves a process slot (pooled drivers hold one
//! each, as any session's driver does). Drivers that keep failing to start are retried with a
//! growing back-off, so a broken Spark setup does not spin.

use super::interactive::{Handover, LinkCommand, NewSession, Resource, Session};
use super::manager::{remove_run_dir, timeouts, ExitTarget, InteractiveSessions, Launched, Start};
use super::request::{CreateSessionRequest, Kind};
use super::{Reservation, SessionState};
use crate::conf::pool::PoolConf;
use crate::error::ApiError;
use crate::launch::prepare::launch_conf;
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, Notify};
use tokio_util::sync::CancellationToken;

/// How often the keeper looks at the pool when nothing wakes it.
const TICK: Duration = Duration::from_secs(1);
/// How long a taker waits for a driver's link to accept the handover.
const HANDOVER_WAIT: Duration = Duration::from_secs(10);
/// The longest pause between attempts after pooled drivers failed to start, one after another.
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// Spark settings a pooled driver was launched with whatever the request (they do not make the
/// request differ from what the pool holds), and the lists a running context can take.
const LAUNCH_KEYS: &[&str] = &["spark.master", "spark.submit.deployMode"];
const ADDABLE: &[(&str, Resource)] = &[
    ("spark.jars", Resource::Jar),
    ("spark.submit.pyFiles", Resource::PyFile),
    ("spark.files", Resource::File),
];

/// The pool's counts, for `/metrics`, the UI and logs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PoolStats {
    /// `livy.server.session.pool.size`.
    pub size: usize,
    /// Started, connected and idle: the next creates take these.
    pub ready: usize,
    /// Being started (refills).
    pub refilling: usize,
    /// Sessions that took a pooled driver and have not ended.
    pub in_use: usize,
    /// Drivers handed out since start.
    pub handed_out: u64,
    /// Pooled drivers that failed (to start, or later) before they were taken.
    pub failures: u64,
    /// Ready drivers replaced after `livy.server.session.pool.ttl` unused.
    pub recycled: u64,
}

/// A driver in the pool.
struct Pooled {
    session: Arc<Session>,
    reservation: Reservation,
    exit_to: ExitTarget,
    started: Instant,
    ready_at: Option<Instant>,
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

/// The pool's state; its keeper and takers are methods of [`InteractiveSessions`].
pub struct Pool {
    conf: PoolConf,
    inner: Mutex<Inner>,
    wake: Notify,
    stop: CancellationToken,
}

impl Pool {
    pub fn new(conf: PoolConf) -> Pool {
        Pool {
            conf,
            inner: Mutex::new(Inner::default()),
            wake: Notify::new(),
            stop: CancellationToken::new(),
        }
    }

    pub fn stats(&self) -> PoolStats {
        let mut inner = self.inner.lock();
        inner
            .taken
            .retain(|s| s.upgrade().is_some_and(|s| !s.state().is_finished()));
        let ready = inner
            .drivers
            .iter()
            .filter(|p| p.session.state() == SessionState::Idle)
            .count();
        PoolStats {
            size: self.conf.size,
            ready,
            refilling: inner.drivers.len() - ready,
            in_use: inner.taken.len(),
            handed_out: inner.handed_out,
            failures: inner.failures,
            recycled: inner.recycled,
        }
    }

    /// The oldest ready driver, out of the pool.
    fn take_ready(&self) -> Option<Pooled> {
        let mut inner = self.inner.lock();
        let at = inner
            .drivers
            .iter()
            .position(|p| p.session.state() == SessionState::Idle)?;
        Some(inner.drivers.remove(at))
    }

    /// Finds what changed: drivers that became ready (logged), ended (failures) or stayed
    /// unused past the ttl (recycled). Returns the ones to stop.
    fn sweep(&self, now: Instant) -> Vec<Pooled> {
        let mut inner = self.inner.lock();
        let mut out = Vec::new();
        let mut kept = Vec::new();
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
                tracing::warn!(pooled_id = p.session.id, %state, reason = why.as_deref().unwrap_or("unknown"), "pooled driver failed; it is replaced");
                out.push(p);
                continue;
            }
            if state == SessionState::Idle && p.ready_at.is_none() {
                p.ready_at = Some(now);
                inner.failed_in_a_row = 0;
                inner.retry_at = None;
                tracing::info!(
                    pooled_id = p.session.id,
                    seconds = now.duration_since(p.started).as_secs_f64(),
                    "pooled driver ready"
                );
            }
            if p.ready_at
                .is_some_and(|t| now.duration_since(t) > self.conf.ttl)
            {
                inner.recycled += 1;
                tracing::info!(
                    pooled_id = p.session.id,
                    "pooled driver unused for livy.server.session.pool.ttl; replacing it"
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
    fn missing(&self, now: Instant) -> usize {
        let inner = self.inner.lock();
        if inner.retry_at.is_some_and(|t| now < t) {
            return 0;
        }
        self.conf.size.saturating_sub(inner.drivers.len())
    }
}

/// The additions (jars, pyFiles, files) that make a pooled driver what the request asks for,
/// or `None` when the request needs a driver of its own. `conf` is the request's prepared
/// Spark conf ([`launch_conf`]: checked, lists resolved and whitelisted).
fn runtime_additions(
    request: &CreateSessionRequest,
    conf: &BTreeMap<String, String>,
) -> Option<Vec<(Resource, String)>> {
    if request.queue.is_some() {
        return None;
    }
    let mut additions = Vec::new();
    for (key, value) in conf {
        if LAUNCH_KEYS.contains(&key.as_str()) {
            continue;
        }
        let (_, what) = ADDABLE.iter().find(|(k, _)| k == key)?;
        additions.extend(
            value
                .split(',')
                .filter(|u| !u.is_empty())
                .map(|u| (*what, u.to_string())),
        );
    }
    Some(additions)
}

/// Whether a pooled driver answers a completion request (`spar` → `spark`, from the Python
/// interpreter every driver has) while still idle.
async fn alive(session: &Session) -> bool {
    let answer = tokio::time::timeout(
        HANDOVER_WAIT,
        session.complete("pyspark".into(), "spar".into(), 4),
    )
    .await;
    matches!(answer, Ok(c) if !c.is_empty()) && session.state() == SessionState::Idle
}

/// Whether a driver of the pool's kind can run a session of the request's kind.
fn serves(pool: Kind, request: Kind) -> bool {
    request != Kind::Sparkr && (pool == Kind::Shared || pool == request)
}

impl InteractiveSessions {
    /// The pool's counts, when a pool is configured.
    pub fn pool_stats(&self) -> Option<PoolStats> {
        self.pool.as_ref().map(Pool::stats)
    }

    /// Starts the keeper that fills the pool (after recovery, so ids stay ahead of records).
    pub fn start_pool(self: &Arc<Self>) {
        let Some(pool) = &self.pool else { return };
        tracing::info!(
            size = pool.conf.size,
            kind = pool.conf.kind.as_str(),
            "keeping a warm pool of session drivers"
        );
        let this = self.clone();
        self.tasks.spawn(async move { this.keep_pool().await });
    }

    async fn keep_pool(self: Arc<Self>) {
        let Some(pool) = &self.pool else { return };
        loop {
            let now = Instant::now();
            for p in pool.sweep(now) {
                let this = self.clone();
                self.tasks.spawn(async move { this.discard(p).await });
            }
            for _ in 0..pool.missing(now) {
                let Some(slot) = self.launcher.reserve() else {
                    tracing::debug!(
                        "no process slot for a pooled driver (livy.server.session.max-creation)"
                    );
                    break;
                };
                if let Err(e) = self.start_pooled(slot).await {
                    let mut inner = pool.inner.lock();
                    inner.failures += 1;
                    inner.failed_in_a_row += 1;
                    inner.retry_at = Some(now + MAX_BACKOFF.min(Duration::from_secs(30)));
                    tracing::warn!(error = %e, "cannot start a pooled driver");
                    break;
                }
            }
            tokio::select! {
                _ = pool.wake.notified() => {}
                _ = tokio::time::sleep(TICK) => {}
                _ = pool.stop.cancelled() => return,
            }
        }
    }

    /// Launches one pooled driver by the normal path and adds it to the pool.
    async fn start_pooled(&self, slot: crate::launch::Slot) -> Result<(), ApiError> {
        let Some(pool) = &self.pool else {
            return Ok(());
        };
        let request = CreateSessionRequest {
            kind: pool.conf.kind,
            ..Default::default()
        };
        let conf = launch_conf(&request, &self.conf).map_err(ApiError::rejected)?;
        self.launcher.preflight(&conf, None, None).await?;
        let reservation = self.registry.reserve(None).map_err(ApiError::rejected)?;
        if let Some(recovery) = &self.recovery {
            // The id is spent even if this driver is never taken: its process may still dial
            // a restarted server, which must not give the id to another session.
            recovery.set_next_id(crate::recovery::INTERACTIVE, self.registry.next_id());
        }
        let Launched {
            session,
            commands,
            connection,
            child,
            reservation,
            exit_to,
        } = self
            .start_driver(Start {
                slot,
                request,
                conf,
                owner: None,
                proxy_user: None,
                ttl: None,
                idle_timeout: None,
                reservation,
                pooled: true,
            })
            .await?;
        match child {
            Ok(child) => session.set_child(child),
            Err(e) => {
                self.registry.release(reservation);
                remove_run_dir(&session).await;
                return Err(ApiError::Internal(anyhow::anyhow!(
                    "cannot start spark-submit: {e}"
                )));
            }
        }
        session.set_state(SessionState::Starting);
        if let Some(monitor) = &self.yarn {
            let listener = Arc::downgrade(&session) as Weak<dyn crate::yarn::monitor::AppListener>;
            monitor.track(&session.app_tag, listener);
        }
        self.run_link(&session, commands, connection).await?;
        let pooled = Pooled {
            session,
            reservation,
            exit_to,
            started: Instant::now(),
            ready_at: None,
        };
        // Checked under the lock `stop_pool` takes after cancelling: a driver launched while the
        // server stopped the pool is either in the list it empties or stopped here.
        let late = {
            let mut inner = pool.inner.lock();
            if pool.stop.is_cancelled() {
                Some(pooled)
            } else {
                inner.drivers.push(pooled);
                None
            }
        };
        if let Some(pooled) = late {
            self.discard(pooled).await;
        }
        Ok(())
    }

    /// Serves a create from the pool when it can: `Ok(None)` means start a driver as usual.
    pub(super) async fn take_pooled(
        &self,
        request: &CreateSessionRequest,
        owner: Option<&str>,
        do_as: Option<&str>,
    ) -> Result<Option<Arc<Session>>, ApiError> {
        let Some(pool) = &self.pool else {
            return Ok(None);
        };
        // Impersonation is explicit: a request that names a user to run as, or that runs as its
        // owner because impersonation is on, never gets a driver started for nobody.
        if request.proxy_user.is_some()
            || do_as.is_some()
            || !serves(pool.conf.kind, request.kind)
            || self.access.check_impersonation(None, owner)?.is_some()
        {
            return Ok(None);
        }
        let (ttl, idle_timeout) = timeouts(request)?;
        let conf = launch_conf(request, &self.conf).map_err(ApiError::rejected)?;
        let Some(additions) = runtime_additions(request, &conf) else {
            tracing::debug!("the request needs a driver of its own; not taken from the pool");
            return Ok(None);
        };
        loop {
            let Some(mut pooled) = pool.take_ready() else {
                tracing::info!("no pooled driver is ready; starting one for the session");
                return Ok(None);
            };
            pool.wake.notify_one();
            // A driver killed a moment ago may not have been noticed yet: a completion round
            // trip (answered by every live driver, whatever its kind) proves it is alive.
            if !alive(&pooled.session).await {
                pool.inner.lock().failures += 1;
                tracing::warn!(
                    pooled_id = pooled.session.id,
                    "pooled driver did not answer; trying another"
                );
                self.discard(pooled).await;
                continue;
            }
            if let Some(name) = &request.name {
                if let Err(e) = self.registry.claim_name(&mut pooled.reservation, name) {
                    pool.inner.lock().drivers.insert(0, pooled);
                    return Err(ApiError::rejected(e));
                }
            }
            let taking = Taking {
                request,
                owner,
                ttl,
                idle_timeout,
            };
            match self.hand_over(pooled, taking).await {
                Ok((session, reservation)) => {
                    {
                        let mut inner = pool.inner.lock();
                        inner.handed_out += 1;
                        inner.taken.push(Arc::downgrade(&session));
                    }
                    return self.finish_take(session, reservation, additions).await;
                }
                Err(pooled) => {
                    pool.inner.lock().failures += 1;
                    tracing::warn!(
                        pooled_id = pooled.session.id,
                        "pooled driver could not be handed over; trying another"
                    );
                    self.discard(pooled).await;
                }
            }
        }
    }

    /// Builds the taker's session on the pooled driver's id, process and output, and moves the
    /// driver's link to it. Gives the driver back (to be discarded) when its link says no: it
    /// ended, or is not idle.
    async fn hand_over(
        &self,
        pooled: Pooled,
        taking: Taking<'_>,
    ) -> Result<(Arc<Session>, Reservation), Pooled> {
        let old = &pooled.session;
        let (session, commands) = Session::new(NewSession {
            id: old.id,
            app_tag: old.app_tag.clone(),
            on_yarn: old.on_yarn,
            staging: self.staging(None),
            owner: taking.owner.map(String::from),
            proxy_user: None,
            request: taking.request.clone(),
            ttl: taking.ttl,
            idle_timeout: taking.idle_timeout,
            run_dir: old.run_dir.clone(),
            log_lines: self.conf.sessions.cache_log_size,
            retained_statements: self.conf.rsc.retained_statements,
            secret: old.secret.clone(),
            recovery: self.recovery.clone(),
            created_ms: crate::statements::now_ms(),
            redaction: self.conf.spark.redaction.clone(),
            logs: Some(old.logs.clone()),
        });
        let (done, answer) = oneshot::channel();
        old.command(LinkCommand::Handover(Box::new(Handover {
            session: session.clone(),
            commands,
            done,
        })));
        match tokio::time::timeout(HANDOVER_WAIT, answer).await {
            Ok(Ok(())) => {
                *pooled.exit_to.lock() = Arc::downgrade(&session);
                self.clean_staging_when_ended(&session);
                Ok((session, pooled.reservation))
            }
            _ => {
                // The link may still take it after the wait: the session then only ends.
                session.command(LinkCommand::Shutdown);
                Err(pooled)
            }
        }
    }

    /// Adds the request's jars, pyFiles and files to the taken driver, then lists the session
    /// (and records it, with recovery) like any created one. A failed addition stops it and the
    /// request starts a driver of its own, which reports the problem as a cold start would.
    async fn finish_take(
        &self,
        session: Arc<Session>,
        reservation: Reservation,
        additions: Vec<(Resource, String)>,
    ) -> Result<Option<Arc<Session>>, ApiError> {
        for (what, uri) in additions {
            if let Err(e) = session.add_resource(what, uri).await {
                tracing::warn!(session_id = session.id, error = %e, "a pooled driver could not add the request's files; starting one for the session instead");
                self.stop(&session).await;
                session.life.forget_record();
                self.registry.release(reservation);
                remove_run_dir(&session).await;
                return Ok(None);
            }
        }
        if let Some(monitor) = &self.yarn {
            let listener = Arc::downgrade(&session) as Weak<dyn crate::yarn::monitor::AppListener>;
            monitor.track(&session.app_tag, listener);
        }
        self.registry.insert(reservation, session.clone());
        if let Some(recovery) = &self.recovery {
            recovery.set_next_id(crate::recovery::INTERACTIVE, self.registry.next_id());
            session.life.changed();
            session.persisted().await;
        }
        tracing::info!(session_id = session.id, kind = session.kind.as_str(), owner = ?session.owner, "session took a pooled driver");
        Ok(Some(session))
    }

    /// Stops a pooled driver that will never be taken, and forgets its id's reservation.
    async fn discard(&self, pooled: Pooled) {
        tracing::info!(pooled_id = pooled.session.id, "stopping a pooled driver");
        self.stop(&pooled.session).await;
        self.registry.release(pooled.reservation);
        remove_run_dir(&pooled.session).await;
    }

    /// Stops refilling and stops every driver not taken (also with recovery: they have no
    /// record, so no server would ever adopt them).
    pub async fn stop_pool(&self) {
        let Some(pool) = &self.pool else { return };
        pool.stop.cancel();
        let drivers = std::mem::take(&mut pool.inner.lock().drivers);
        futures::future::join_all(drivers.into_iter().map(|p| self.discard(p))).await;
    }
}

/// What a taken driver becomes.
struct Taking<'a> {
    request: &'a CreateSessionRequest,
    owner: Option<&'a str>,
    ttl: Option<Duration>,
    idle_timeout: Option<Duration>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(json: &str) -> CreateSessionRequest {
        serde_json::from_str(json).unwrap()
    }

    fn prepared(json: &str) -> (CreateSessionRequest, BTreeMap<String, String>) {
        let livy = crate::test_support::conf_with(&[("livy.file.local-dir-whitelist", "/tmp")]);
        let r = request(json);
        let conf = launch_conf(&r, &livy).unwrap();
        (r, conf)
    }

    #[test]
    fn only_requests_a_running_context_can_serve_come_from_the_pool() {
        let (r, conf) = prepared(r#"{"kind":"pyspark","name":"x","ttl":"1h"}"#);
        assert_eq!(runtime_additions(&r, &conf), Some(vec![]));
        let (r, conf) =
            prepared(r#"{"jars":["/tmp/a.jar"],"pyFiles":["/tmp/b.py"],"files":["/tmp/c"]}"#);
        let added = runtime_additions(&r, &conf).unwrap();
        assert_eq!(added.len(), 3, "{added:?}");
        assert!(
            added.contains(&(Resource::Jar, "file:///tmp/a.jar".into())),
            "{added:?}"
        );
        for needs_own in [
            r#"{"driverMemory":"2g"}"#,
            r#"{"executorCores":2}"#,
            r#"{"numExecutors":3}"#,
            r#"{"queue":"etl"}"#,
            r#"{"archives":["/tmp/x.zip"]}"#,
            r#"{"conf":{"spark.sql.shuffle.partitions":"4"}}"#,
        ] {
            let (r, conf) = prepared(needs_own);
            assert_eq!(runtime_additions(&r, &conf), None, "{needs_own}");
        }
    }

    #[test]
    fn a_shared_pool_serves_every_kind_others_their_own() {
        assert!(serves(Kind::Shared, Kind::Spark));
        assert!(serves(Kind::Pyspark, Kind::Pyspark));
        assert!(!serves(Kind::Pyspark, Kind::Spark));
        assert!(!serves(Kind::Shared, Kind::Sparkr));
    }
}
