//! The warm pool (`livy.server.session.pool.*`): drivers started ahead of time, so that a
//! `POST /sessions` the pool can serve is `idle` at once instead of after a cold start.
//!
//! The admin declares profiles ([`crate::conf::pool`]); each keeps `size` drivers ready for each
//! of its proxy users (or for sessions without one). A pooled driver is a session driver
//! launched by the normal path (spark-submit with the profile's resources, queue and conf, and
//! `--proxy-user` when the profile names one; the driver channel; its link task) for nobody
//! yet. It reserves its session id when it starts (so ids are never given out twice, even
//! across a restart) but is not listed in `GET /sessions` and has no recovery record until it
//! is taken. Taking it builds the user's session (id, name, owner, kind, timeouts, recovery
//! record) and hands the driver's link over to it ([`LinkCommand::Handover`]); from then on the
//! driver is that session's, and it is never returned to the pool: a pooled driver never serves
//! two sessions, so nothing one user left in it reaches another.
//!
//! Which requests a profile serves is explicit ([`fit`]): the session's effective proxy user
//! (after impersonation) is one the profile names, its kind is the profile's (a `shared`
//! profile serves every kind), its resources and queue are the profile's, and its `conf`
//! differs only in settings a running SparkSession takes (runtime SQL settings, which the
//! driver checks with Spark's own `spark.conf.isModifiable` before the driver is handed over).
//! jars, pyFiles and files are added to the running context. Everything else starts a driver
//! as before.
//!
//! One keeper task per server owns the refills: it notices drivers that became ready or died,
//! replaces those unused for longer than their profile's ttl, and starts new ones while a group
//! is short and `livy.server.session.max-creation` leaves a process slot (pooled drivers hold
//! one each, as any session's driver does; they pass the YARN admission check as their
//! profile's request would). Drivers that keep failing to start are retried with a growing
//! back-off, so a broken Spark setup does not spin.

mod fit;
mod stale;
mod state;

use super::interactive::{Handover, LinkCommand, NewSession, Session};
use super::manager::{remove_run_dir, timeouts, InteractiveSessions, Launched, Start};
use super::request::CreateSessionRequest;
use super::{Reservation, SessionState};
use crate::error::ApiError;
use crate::launch::prepare::launch_conf;
use state::{Group, Pooled};
pub use state::{Pool, PoolStats};
use std::sync::Arc;
use std::sync::Weak;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// How often the keeper looks at the pool when nothing wakes it.
const TICK: Duration = Duration::from_secs(1);
/// How long a taker waits for a driver's link to accept the handover.
const HANDOVER_WAIT: Duration = Duration::from_secs(10);

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

impl InteractiveSessions {
    /// The pool's counts per profile, when a pool is configured.
    pub fn pool_stats(&self) -> Option<Vec<PoolStats>> {
        self.pool.as_ref().map(Pool::stats)
    }

    /// Starts the keeper that fills the pool (after recovery, so ids stay ahead of records).
    pub fn start_pool(self: &Arc<Self>) {
        let Some(pool) = &self.pool else { return };
        for group in &pool.groups {
            tracing::info!(
                profile = group.profile.name.as_str(),
                proxy_user = group.proxy_user.as_deref(),
                size = group.profile.size,
                kind = group.profile.kind.as_str(),
                "keeping a warm pool of session drivers"
            );
        }
        let this = self.clone();
        self.tasks.spawn(async move { this.keep_pool().await });
    }

    async fn keep_pool(self: Arc<Self>) {
        let Some(pool) = &self.pool else { return };
        loop {
            let now = Instant::now();
            for (at, group) in pool.groups.iter().enumerate() {
                for p in group.sweep(now) {
                    let this = self.clone();
                    self.tasks.spawn(async move { this.discard(p).await });
                }
                for _ in 0..group.missing(now) {
                    let Some(slot) = self.launcher.reserve() else {
                        tracing::debug!(
                            "no process slot for a pooled driver (livy.server.session.max-creation)"
                        );
                        break;
                    };
                    if let Err(e) = self.start_pooled(at, slot).await {
                        group.failed_to_start(now);
                        tracing::warn!(profile = group.profile.name.as_str(), error = %e, "cannot start a pooled driver");
                        break;
                    }
                }
            }
            tokio::select! {
                _ = pool.wake.notified() => {}
                _ = tokio::time::sleep(TICK) => {}
                _ = pool.stop.cancelled() => return,
            }
        }
    }

    /// Launches one driver of group `at` by the normal path and adds it to the pool.
    async fn start_pooled(&self, at: usize, slot: crate::launch::Slot) -> Result<(), ApiError> {
        let Some(pool) = &self.pool else {
            return Ok(());
        };
        let group = &pool.groups[at];
        let request = group.profile.request();
        let conf = launch_conf(&request, &self.conf).map_err(ApiError::rejected)?;
        self.launcher
            .preflight(&conf, request.queue.as_deref(), group.proxy_user.as_deref())
            .await?;
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
                proxy_user: group.proxy_user.clone(),
                ttl: None,
                idle_timeout: None,
                reservation,
                pooled: Some(group.profile.name.clone()),
            })
            .await?;
        match child {
            Ok(child) => {
                stale::mark(
                    &session.run_dir,
                    stale::process_of(&child, &session.run_dir),
                    &session.app_tag,
                    group.proxy_user.as_deref(),
                );
                session.set_child(child)
            }
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
        // Checked under the group's lock, which `stop_pool` takes after cancelling: a driver
        // launched while the server stopped the pool is either drained there or stopped here.
        if let Some(late) = group.add(pooled, &pool.stop) {
            self.discard(late).await;
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
        // Whom the session runs as decides which drivers may serve it: one started for that
        // user, or, with no proxy user, one started for none. (An impersonation the caller may
        // not make is refused here as on a cold start.)
        let proxy_user = self
            .access
            .check_impersonation(do_as.or(request.proxy_user.as_deref()), owner)?;
        let (ttl, idle_timeout) = timeouts(request)?;
        let conf = launch_conf(request, &self.conf).map_err(ApiError::rejected)?;
        for group in pool.groups.iter().filter(|g| g.proxy_user == proxy_user) {
            let Some(fit) = fit::fit(&group.profile, &group.conf, request, &conf) else {
                continue;
            };
            let taking = Taking {
                request,
                owner,
                proxy_user: proxy_user.as_deref(),
                ttl,
                idle_timeout,
            };
            if let Some(session) = self.take_from(pool, group, fit, taking).await? {
                return Ok(Some(session));
            }
        }
        tracing::info!(
            proxy_user = proxy_user.as_deref(),
            kind = request.kind.as_str(),
            "no pooled driver fits or is ready; starting one for the session"
        );
        Ok(None)
    }

    /// Takes a ready driver of `group` for the request, if one is alive and takes the request's
    /// runtime settings.
    async fn take_from(
        &self,
        pool: &Pool,
        group: &Group,
        fit: fit::Fit,
        taking: Taking<'_>,
    ) -> Result<Option<Arc<Session>>, ApiError> {
        let profile = group.profile.name.as_str();
        loop {
            let Some(mut pooled) = group.take_ready() else {
                return Ok(None);
            };
            pool.wake.notify_one();
            // A driver killed a moment ago may not have been noticed yet: a completion round
            // trip (answered by every live driver, whatever its kind) proves it is alive.
            if !alive(&pooled.session).await {
                group.failed();
                tracing::warn!(
                    pooled_id = pooled.session.id,
                    profile,
                    "pooled driver did not answer; trying another"
                );
                self.discard(pooled).await;
                continue;
            }
            // Spark decides which settings a running session takes; the driver asks it and
            // changes nothing yet. A driver that cannot take them stays in the pool.
            if !fit.runtime_conf.is_empty() {
                let check = pooled
                    .session
                    .set_runtime_conf(fit.runtime_conf.clone(), true)
                    .await;
                if let Err(e) = check {
                    tracing::info!(pooled_id = pooled.session.id, profile, reason = %e, "the request's conf needs a new SparkContext; not taken from the pool");
                    if pooled.session.state() == SessionState::Idle {
                        group.put_back(pooled);
                    } else {
                        self.discard(pooled).await;
                    }
                    return Ok(None);
                }
            }
            if let Some(name) = &taking.request.name {
                if let Err(e) = self.registry.claim_name(&mut pooled.reservation, name) {
                    group.put_back(pooled);
                    return Err(ApiError::rejected(e));
                }
            }
            match self.hand_over(pooled, &taking).await {
                Ok((session, reservation)) => {
                    group.handed_out(&session);
                    return self.finish_take(session, reservation, fit, profile).await;
                }
                Err(pooled) => {
                    group.failed();
                    tracing::warn!(
                        pooled_id = pooled.session.id,
                        profile,
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
        taking: &Taking<'_>,
    ) -> Result<(Arc<Session>, Reservation), Pooled> {
        let old = &pooled.session;
        let (session, commands) = Session::new(NewSession {
            id: old.id,
            app_tag: old.app_tag.clone(),
            on_yarn: old.on_yarn,
            staging: self.staging(taking.proxy_user),
            owner: taking.owner.map(String::from),
            proxy_user: taking.proxy_user.map(String::from),
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
                stale::unmark(&session.run_dir);
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

    /// Sets the request's runtime settings and adds its jars, pyFiles and files to the taken
    /// driver, then lists the session (and records it, with recovery) like any created one. A
    /// failure stops it and the request starts a driver of its own, which reports the problem
    /// as a cold start would.
    async fn finish_take(
        &self,
        session: Arc<Session>,
        reservation: Reservation,
        fit: fit::Fit,
        profile: &str,
    ) -> Result<Option<Arc<Session>>, ApiError> {
        let mut failed = None;
        if !fit.runtime_conf.is_empty() {
            failed = session
                .set_runtime_conf(fit.runtime_conf, false)
                .await
                .err();
        }
        for (what, uri) in fit.additions {
            if failed.is_some() {
                break;
            }
            failed = session.add_resource(what, uri).await.err();
        }
        if let Some(e) = failed {
            tracing::warn!(session_id = session.id, profile, error = %e, "a pooled driver could not take the request's conf or files; starting one for the session instead");
            self.stop(&session).await;
            session.life.forget_record();
            self.registry.release(reservation);
            remove_run_dir(&session).await;
            return Ok(None);
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
        tracing::info!(session_id = session.id, profile, kind = session.kind.as_str(), owner = ?session.owner, proxy_user = ?session.proxy_user, "session took a pooled driver");
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
        let drivers: Vec<Pooled> = pool.groups.iter().flat_map(Group::drain).collect();
        futures::future::join_all(drivers.into_iter().map(|p| self.discard(p))).await;
    }
}

/// What a taken driver becomes.
struct Taking<'a> {
    request: &'a CreateSessionRequest,
    owner: Option<&'a str>,
    proxy_user: Option<&'a str>,
    ttl: Option<Duration>,
    idle_timeout: Option<Duration>,
}
