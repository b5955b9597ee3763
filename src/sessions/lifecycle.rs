//! The lifecycle that interactive sessions and batches share (Livy's Session and SparkApp
//! pair): the state and its rules, the Spark application (its spark-submit process, its YARN id
//! and links), when it ended, who is woken by a change, and its record in the recovery store.
//!
//! Every state change of a session or batch goes through [`Lifecycle::transition`], and every
//! change of either is announced through [`Lifecycle::changed`], which also marks its record for
//! the recovery writer: recovery has one door, whichever task (REST handler, driver link, YARN
//! monitor, process supervisor) made the change.
//!
//! Lock order: an owner may hold its own lock while it calls in here; nothing in here calls
//! back into the owner.

use super::{AppInfo, Entry, Registry, Reservation, SessionState};
use crate::launch::ChildHandle;
use crate::logs::ProcessLogs;
use crate::recovery::{Persist, Recovery};
use crate::yarn::monitor::{map_state, AppListener, AppMonitor, LivyAppState};
use crate::yarn::AppReport;
use parking_lot::Mutex;
use std::path::Path;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// What the lifecycle belongs to (names it in the server log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Of {
    Session,
    Batch,
}

/// The Spark application as YARN last reported it.
#[derive(Debug, Clone, Default)]
pub struct App {
    pub id: Option<String>,
    pub info: AppInfo,
    /// YARN reported a final state for it.
    pub yarn_final: bool,
}

struct Core {
    state: SessionState,
    finished_at: Option<Instant>,
    app: App,
    child: Option<ChildHandle>,
}

/// One session's or batch's lifecycle.
pub struct Lifecycle {
    of: Of,
    id: u32,
    /// When it was made (for a session: its POST), for the session start time metric.
    created: Instant,
    core: Mutex<Core>,
    changes: watch::Sender<u64>,
    persist: Option<Persist>,
}

impl Lifecycle {
    pub fn new(of: Of, id: u32, initial: SessionState, persist: Option<Persist>) -> Self {
        Lifecycle {
            of,
            id,
            created: Instant::now(),
            core: Mutex::new(Core {
                state: initial,
                finished_at: None,
                app: App::default(),
                child: None,
            }),
            changes: watch::channel(0).0,
            persist,
        }
    }

    pub fn state(&self) -> SessionState {
        self.core.lock().state
    }

    /// The state, the application and when it ended, read together.
    pub fn snapshot(&self) -> (SessionState, App, Option<Instant>) {
        let c = self.core.lock();
        (c.state, c.app.clone(), c.finished_at)
    }

    pub fn app_id(&self) -> Option<String> {
        self.core.lock().app.id.clone()
    }

    pub fn child(&self) -> Option<ChildHandle> {
        self.core.lock().child.clone()
    }

    pub fn set_child(&self, child: ChildHandle) {
        self.core.lock().child = Some(child);
        self.changed();
    }

    /// Moves to `to`. A finished entry stays finished, and one shutting down only moves on to
    /// a finished state (a `ready` or `result` the driver sends while it stops must not make
    /// the session look usable again). Returns whether the state changed.
    pub fn transition(&self, to: SessionState) -> bool {
        self.transition_if(to, |from| {
            !from.is_finished() && (from != SessionState::ShuttingDown || to.is_finished())
        })
    }

    /// Moves `from` → `to` only, and never out of a finished state (a local batch runs once
    /// spark-submit does, unless it already ended).
    pub fn transition_from(&self, from: SessionState, to: SessionState) -> bool {
        self.transition_if(to, |now| now == from && !now.is_finished())
    }

    /// YARN says the application was killed after the session was already seen dead (its
    /// driver's connection usually drops first): `killed` it is, as Livy's transition allows.
    pub fn killed_after_dead(&self) -> bool {
        self.transition_if(SessionState::Killed, |from| from == SessionState::Dead)
    }

    fn transition_if(&self, to: SessionState, allowed: impl Fn(SessionState) -> bool) -> bool {
        {
            let mut c = self.core.lock();
            let from = c.state;
            if from == to || !allowed(from) {
                return false;
            }
            match self.of {
                Of::Session => {
                    tracing::info!(session_id = self.id, %from, %to, "session state changed")
                }
                Of::Batch => {
                    tracing::info!(batch_id = self.id, %from, %to, "batch state changed")
                }
            }
            c.state = to;
            if to.is_finished() {
                c.finished_at = Some(Instant::now());
            }
            // A new session's first idle ends its start (a recovered one starts `recovering`).
            if self.of == Of::Session
                && to == SessionState::Idle
                && matches!(from, SessionState::NotStarted | SessionState::Starting)
            {
                crate::metrics::get().session_started(self.created.elapsed());
            }
        }
        self.changed();
        true
    }

    /// Takes in a YARN report: the application's id and links, and whether it ended. Returns
    /// what the report means in Livy's terms; the owner decides what its state becomes.
    pub fn app_report(&self, report: &AppReport) -> LivyAppState {
        {
            let mut c = self.core.lock();
            c.app.id = Some(report.id.clone());
            c.app.info.driver_log_url = report.am_container_logs.clone();
            c.app.info.spark_ui_url = report.tracking_url.clone();
            c.app.yarn_final = report.state.is_final();
        }
        self.changed();
        map_state(report)
    }

    /// A local driver says which application it is (on YARN the ResourceManager says it, and
    /// the driver's own view — its UI's direct address — must not overwrite that).
    pub fn driver_app(&self, id: Option<String>, spark_ui_url: Option<String>) {
        {
            let mut c = self.core.lock();
            c.app.id = id;
            if spark_ui_url.is_some() {
                c.app.info.spark_ui_url = spark_ui_url;
            }
        }
        self.changed();
    }

    /// Puts back what a record kept (after a restart), before anyone can see the entry.
    pub fn restore(&self, state: SessionState, app: App, finished_at: Option<Instant>) {
        let mut c = self.core.lock();
        c.state = state;
        c.app = app;
        c.finished_at = match finished_at {
            None if state.is_finished() => Some(Instant::now()),
            other => other,
        };
    }

    /// Whether the entry finished more than `retain` ago.
    pub fn finished_longer_than(&self, retain: Duration, now: Instant) -> bool {
        let c = self.core.lock();
        c.state.is_finished()
            && c.finished_at
                .is_some_and(|t| now.duration_since(t) > retain)
    }

    /// Announces a change of the entry: wakes long-polls and marks its record for the store.
    pub fn changed(&self) {
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
        if let Some(p) = &self.persist {
            p.mark();
        }
    }

    /// Announces a change of records below the entry only (statements, each its own record
    /// under `keys`): the entry's own record is not rewritten for them.
    pub fn changed_records(&self, keys: impl IntoIterator<Item = String>) {
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
        if let Some(p) = &self.persist {
            for key in keys {
                p.mark_below(key);
            }
        }
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Waits until the entry's records are in the recovery store (at most
    /// [`crate::recovery::ANSWER_WAIT`]; a slow store is logged, and the writes still go out
    /// when it is back). Without recovery there is nothing to wait for.
    pub async fn persisted(&self) {
        self.wait_for_store(None).await;
    }

    /// Like [`Lifecycle::persisted`] for one record below the entry (a statement's, see
    /// [`Lifecycle::changed_records`]).
    pub async fn persisted_record(&self, key: &str) {
        self.wait_for_store(Some(key)).await;
    }

    async fn wait_for_store(&self, key: Option<&str>) {
        let Some(p) = &self.persist else { return };
        let recovery = p.recovery();
        let stored = match key {
            None => recovery.flush(crate::recovery::ANSWER_WAIT).await,
            Some(key) => recovery.flush_key(key, crate::recovery::ANSWER_WAIT).await,
        };
        if !stored {
            tracing::warn!(
                of = ?self.of,
                id = self.id,
                key,
                "the recovery store is slow or down; the records are written when it is back"
            );
        }
    }

    /// The entry is deleted: its record goes too.
    pub fn forget_record(&self) {
        if let Some(p) = &self.persist {
            p.forget();
        }
    }

    pub fn persist(&self) -> Option<&Persist> {
        self.persist.as_ref()
    }
}

/// What the code shared by sessions and batches needs of either.
pub trait Lived: Entry + AppListener + Send + Sync + 'static {
    fn life(&self) -> &Lifecycle;
    fn logs(&self) -> &ProcessLogs;
    /// The tag the Spark application carries, by which YARN finds it.
    fn app_tag(&self) -> &str;
}

/// How a new session or batch is opened, after its spark-submit was asked to start.
pub(crate) struct Opening<'a, T> {
    pub registry: &'a Registry<T>,
    pub reservation: Reservation,
    /// Its state once spark-submit runs (none: YARN will say).
    pub started_as: Option<SessionState>,
    pub yarn: Option<&'a AppMonitor>,
    /// With recovery: the store and the record kind (`interactive`, `batch`).
    pub recovery: Option<(&'a Recovery, &'static str)>,
    /// For the message when spark-submit could not be started.
    pub spark_submit: &'a Path,
}

/// The end of every create, the same for sessions and batches: the process is the entry's (or
/// the entry is dead, saying why), YARN watches for its application, the entry is listed, and
/// with recovery its record and the next id are in the store before the id is answered — a
/// crash after the answer must not lose the entry or give its id out again.
pub(crate) async fn open<T: Lived>(
    entry: &Arc<T>,
    launched: std::io::Result<ChildHandle>,
    how: Opening<'_, T>,
) {
    let life = entry.life();
    match launched {
        Ok(child) => {
            life.set_child(child);
            if let Some(state) = how.started_as {
                life.transition(state);
            }
            if let Some(monitor) = how.yarn {
                let listener = Arc::downgrade(entry) as Weak<dyn AppListener>;
                monitor.track(entry.app_tag(), listener);
            }
        }
        Err(e) => {
            tracing::error!(of = ?life.of, id = life.id, error = %e, program = %how.spark_submit.display(), "cannot start spark-submit");
            entry.logs().set_diagnostics(vec![format!(
                "\nlivy-rs: could not start {}: {e}",
                how.spark_submit.display()
            )]);
            life.transition(SessionState::Dead);
        }
    }
    how.registry.insert(how.reservation, entry.clone());
    if let Some((recovery, kind)) = how.recovery {
        recovery.set_next_id(kind, how.registry.next_id());
        life.changed();
        life.persisted().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finished_is_final_and_shutting_down_only_ends() {
        let life = Lifecycle::new(Of::Session, 1, SessionState::Starting, None);
        assert!(life.transition(SessionState::Idle));
        assert!(
            !life.transition(SessionState::Idle),
            "no change, no announcement"
        );
        assert!(life.transition(SessionState::ShuttingDown));
        assert!(!life.transition(SessionState::Idle));
        assert!(life.transition(SessionState::Dead));
        assert!(
            life.finished_longer_than(Duration::ZERO, Instant::now() + Duration::from_millis(1))
        );
        assert!(!life.transition(SessionState::Idle));
        assert!(!life.transition_from(SessionState::Dead, SessionState::Running));
        assert!(life.killed_after_dead());
        assert_eq!(life.state(), SessionState::Killed);
        assert!(!life.killed_after_dead());
    }

    #[test]
    fn a_batch_runs_only_from_starting() {
        let life = Lifecycle::new(Of::Batch, 2, SessionState::Starting, None);
        assert!(
            life.transition(SessionState::Dead),
            "a fast exit ends it first"
        );
        assert!(!life.transition_from(SessionState::Starting, SessionState::Running));
        assert_eq!(life.state(), SessionState::Dead);
    }
}
