//! One interactive session: its identity, what the user asked for, its state and statements.
//! The session's driver link task (driver::link) is the only writer of driver-reported state;
//! REST handlers read views and queue commands to it.

use super::commands::Inbox;
pub use super::commands::{Commands, Handover, LinkCommand, Resource, Slot, MAX_QUEUED_REQUESTS};
use super::jobs::evict_finished_jobs;
pub use super::jobs::{JobKind, JobState, JobStatus};
use super::lifecycle::{Lifecycle, Of};
use super::request::{CreateSessionRequest, Kind};
use super::{AppInfo, Entry, SessionState};
use crate::error::ApiError;
use crate::launch::ChildHandle;
use crate::logs::ProcessLogs;
use crate::statements::{now_ms, Statement, Statements};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// Lines of log shown in a session's view (Livy shows the last 10).
const VIEW_LOG_LINES: usize = 10;

pub(crate) struct Runtime {
    pub statements: Statements,
    pub last_activity: Instant,
    pub last_heartbeat: Instant,
    pub created_at: Instant,
    pub jobs: BTreeMap<u64, JobStatus>,
    /// Jobs whose cancel was asked for and that have not ended yet: they stay `STARTED` until
    /// the driver says their thread ended, or until `livy.rsc.job-cancel.timeout`.
    pub cancelling_jobs: BTreeSet<u64>,
    pub next_job_id: u64,
    /// Why the session ended (the first reason, as [`Session::end`] found it), for requests that
    /// were still waiting for its driver.
    pub end_reason: Option<String>,
}

/// One interactive session.
pub struct Session {
    pub id: u32,
    pub name: Option<String>,
    pub owner: Option<String>,
    pub proxy_user: Option<String>,
    pub kind: Kind,
    pub app_tag: String,
    pub request: CreateSessionRequest,
    pub logs: Arc<ProcessLogs>,
    pub ttl: Option<Duration>,
    pub idle_timeout: Option<Duration>,
    pub heartbeat_timeout: Option<Duration>,
    pub run_dir: PathBuf,
    /// Runs on YARN in cluster mode: spark-submit exits once the app is submitted.
    pub on_yarn: bool,
    /// On YARN: where the session's uploads are staged in the cluster file system.
    pub staging: Option<Arc<super::staging::Staging>>,
    /// State, application, driver process and record (shared with batches).
    pub(crate) life: Lifecycle,
    /// What only interactive sessions have: statements, jobs, activity clocks.
    pub(crate) runtime: Mutex<Runtime>,
    /// Finished Job API jobs kept for polling (`livy.rsc.retained-statements`, as statements);
    /// the oldest go first. 0 keeps all.
    pub(super) retained_jobs: usize,
    link: mpsc::UnboundedSender<LinkCommand>,
    inbox: Arc<Inbox>,
    /// The driver's HMAC secret, kept (only) in the recovery record so a restarted server can
    /// authenticate the driver when it dials back.
    pub(crate) secret: String,
    pub(crate) created_ms: i64,
    /// Secret conf values are shown redacted in views and logs.
    redaction: crate::launch::redact::Redactor,
    /// The garbage collector started deleting this session (see [`Session::claim_gc`]).
    gc_claimed: AtomicBool,
    /// What its record carries for rolling upgrades (fields of a newer livy-rs are kept); set
    /// from the record when the session is restored.
    pub(crate) upgrade: Mutex<crate::recovery::Upgrade>,
}

/// A session as clients see it (Livy's `SessionInfo`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionView {
    pub id: u32,
    pub name: Option<String>,
    pub app_id: Option<String>,
    pub owner: Option<String>,
    pub proxy_user: Option<String>,
    pub state: SessionState,
    pub kind: Kind,
    pub app_info: AppInfo,
    pub log: Vec<String>,
    pub ttl: Option<String>,
    pub idle_timeout: Option<String>,
    pub driver_memory: Option<String>,
    pub driver_cores: i32,
    pub executor_memory: Option<String>,
    pub executor_cores: i32,
    pub conf: BTreeMap<String, String>,
    pub archives: Vec<String>,
    pub files: Vec<String>,
    pub heartbeat_timeout_in_second: i32,
    pub jars: Vec<String>,
    pub num_executors: i32,
    pub py_files: Vec<String>,
    pub queue: Option<String>,
}

/// What a new session is built from.
pub(crate) struct NewSession {
    pub id: u32,
    pub app_tag: String,
    pub on_yarn: bool,
    pub staging: Option<Arc<super::staging::Staging>>,
    pub owner: Option<String>,
    pub proxy_user: Option<String>,
    pub request: CreateSessionRequest,
    pub ttl: Option<Duration>,
    pub idle_timeout: Option<Duration>,
    pub run_dir: PathBuf,
    pub log_lines: usize,
    pub retained_statements: usize,
    pub secret: String,
    pub recovery: Option<Arc<crate::recovery::Recovery>>,
    pub created_ms: i64,
    pub redaction: crate::launch::redact::Redactor,
    /// The driver's output so far, when the session takes over a running (pooled) driver.
    pub logs: Option<Arc<ProcessLogs>>,
}

impl crate::yarn::monitor::AppListener for Session {
    fn app_report(&self, report: &crate::yarn::AppReport) {
        use crate::yarn::monitor::{diagnostics_lines, LivyAppState};
        let state = self.life.app_report(report);
        let ended = match state {
            LivyAppState::Finished | LivyAppState::Failed => SessionState::Dead,
            LivyAppState::Killed => SessionState::Killed,
            _ => return,
        };
        if self.state() == SessionState::ShuttingDown {
            return;
        }
        if self.state().is_finished() {
            // The driver's connection usually drops before YARN's final report arrives: keep
            // the first reason, add YARN's diagnostics, and say `killed` when YARN killed it
            // (Livy's transition allows dead -> killed).
            self.logs.add_diagnostics(diagnostics_lines(report));
            if ended == SessionState::Killed {
                self.life.killed_after_dead();
            }
            return;
        }
        let mut lines = diagnostics_lines(report);
        lines.insert(
            0,
            format!(
                "\nlivy-rs: YARN reports the application {} ({:?})",
                report.id, report.state
            ),
        );
        self.end(ended, lines);
    }

    fn lookup_timed_out(&self, timeout: Duration) {
        if self.state().is_finished() {
            return;
        }
        let why = crate::batches::lookup_timeout_message(&self.app_tag, timeout);
        self.end(SessionState::Dead, vec![format!("\n{why}")]);
        if let Some(child) = self.child() {
            child.kill();
        }
        self.command(LinkCommand::Shutdown);
    }
}

impl Entry for Session {
    fn id(&self) -> u32 {
        self.id
    }
    fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }
}

impl super::lifecycle::Lived for Session {
    fn life(&self) -> &Lifecycle {
        &self.life
    }
    fn logs(&self) -> &ProcessLogs {
        &self.logs
    }
    fn app_tag(&self) -> &str {
        &self.app_tag
    }
}

impl Session {
    pub(crate) fn new(n: NewSession) -> (Arc<Session>, Commands) {
        let (link, rx) = mpsc::unbounded_channel();
        let inbox = Arc::new(Inbox::default());
        let commands = Commands {
            rx,
            inbox: inbox.clone(),
        };
        let now = Instant::now();
        let heartbeat = n
            .request
            .heartbeat_timeout_in_second
            .filter(|s| *s > 0)
            .map(|s| Duration::from_secs(s as u64));
        let key = crate::recovery::key(crate::recovery::INTERACTIVE, n.id);
        let session = Arc::new_cyclic(|me: &std::sync::Weak<Session>| Session {
            life: Lifecycle::new(
                Of::Session,
                n.id,
                SessionState::NotStarted,
                n.recovery.map(|r| {
                    crate::recovery::Persist::new(
                        r,
                        key,
                        me.clone() as std::sync::Weak<dyn crate::recovery::Recordable>,
                    )
                }),
            ),
            secret: n.secret,
            created_ms: n.created_ms,
            id: n.id,
            name: n.request.name.clone(),
            owner: n.owner,
            proxy_user: n.proxy_user,
            kind: n.request.kind,
            app_tag: n.app_tag,
            on_yarn: n.on_yarn,
            staging: n.staging,
            request: n.request,
            logs: n.logs.unwrap_or_else(|| {
                Arc::new(ProcessLogs::new(n.log_lines).redacting(n.redaction.clone()))
            }),
            redaction: n.redaction,
            ttl: n.ttl,
            idle_timeout: n.idle_timeout,
            heartbeat_timeout: heartbeat,
            run_dir: n.run_dir,
            upgrade: Default::default(),
            runtime: Mutex::new(Runtime {
                statements: Statements::new(n.retained_statements),
                last_activity: now,
                last_heartbeat: now,
                created_at: now,
                jobs: BTreeMap::new(),
                cancelling_jobs: BTreeSet::new(),
                next_job_id: 1,
                end_reason: None,
            }),
            retained_jobs: n.retained_statements,
            link,
            inbox,
            gc_claimed: AtomicBool::new(false),
        });
        (session, commands)
    }

    pub fn state(&self) -> SessionState {
        self.life.state()
    }

    pub fn view(&self, show_log: bool) -> SessionView {
        let (state, app, _) = self.life.snapshot();
        let (app_id, app_info) = (app.id, app.info);
        let r = &self.request;
        SessionView {
            id: self.id,
            name: self.name.clone(),
            app_id,
            owner: self.owner.clone(),
            proxy_user: self.proxy_user.clone(),
            state,
            kind: self.kind,
            app_info,
            log: if show_log {
                self.logs.tail(VIEW_LOG_LINES)
            } else {
                Vec::new()
            },
            ttl: r.ttl.clone(),
            idle_timeout: r.idle_timeout.clone(),
            driver_memory: r.driver_memory.clone(),
            driver_cores: r.driver_cores.unwrap_or(0),
            executor_memory: r.executor_memory.clone(),
            executor_cores: r.executor_cores.unwrap_or(0),
            conf: self.redaction.conf(&r.conf),
            archives: r.archives.clone(),
            files: r.files.clone(),
            heartbeat_timeout_in_second: r.heartbeat_timeout_in_second.unwrap_or(0),
            jars: r.jars.clone(),
            num_executors: r.num_executors.unwrap_or(0),
            py_files: r.py_files.clone(),
            queue: r.queue.clone(),
        }
    }

    /// Any REST call on the session is a heartbeat (Livy's SessionHeartbeatNotifier).
    pub fn heartbeat(&self) {
        self.runtime.lock().last_heartbeat = Instant::now();
    }

    /// When the session last ran a statement or job or was attached to (epoch ms).
    pub fn last_activity_ms(&self) -> i64 {
        crate::recovery::ms_of(self.runtime.lock().last_activity)
    }

    pub fn record_activity(&self) {
        let mut rt = self.runtime.lock();
        rt.last_activity = Instant::now();
        rt.last_heartbeat = rt.last_activity;
    }

    /// `true` once, for the first caller: the garbage collector deletes a session once, however
    /// many ticks pass while that delete waits for the driver or YARN.
    pub(crate) fn claim_gc(&self) -> bool {
        !self.gc_claimed.swap(true, Ordering::AcqRel)
    }

    /// Moves to `state` by the lifecycle's rules (see [`Lifecycle::transition`]).
    pub(crate) fn set_state(&self, state: SessionState) {
        self.life.transition(state);
    }

    /// Ends the session: says why in its log, ends unfinished statements, sets the final state.
    /// The first reason wins: a later "connection lost" must not hide why the driver failed.
    ///
    /// The final state is set under the runtime lock, with the statements and jobs ended: a
    /// statement or job is accepted under that lock only while the state is not finished
    /// (`submit`, `submit_job`), so none can slip in between and wait forever. (Lock order:
    /// runtime, then the lifecycle's; `submit` takes them in the same order.)
    pub(crate) fn end(&self, state: SessionState, why: Vec<String>) {
        let reason = why
            .iter()
            .map(|l| l.trim().trim_start_matches("livy-rs: "))
            .find(|l| !l.is_empty())
            .unwrap_or("the session ended")
            .to_string();
        {
            let mut rt = self.runtime.lock();
            if self.state().is_finished() {
                return;
            }
            self.logs.set_diagnostics(why);
            rt.end_reason = Some(reason.clone());
            rt.statements.abandon(&reason, now_ms());
            // Jobs that can no longer run (say, sent while the session started) fail with why;
            // one being cancelled is cancelled: its thread ended with the driver.
            let cancelling = std::mem::take(&mut rt.cancelling_jobs);
            for job in rt.jobs.values_mut() {
                if matches!(job.state, JobState::Queued | JobState::Started) {
                    if cancelling.contains(&job.id) {
                        job.state = JobState::Cancelled;
                    } else {
                        job.state = JobState::Failed;
                        job.error = Some(format!("The session ended: {reason}"));
                    }
                }
            }
            evict_finished_jobs(&mut rt.jobs, self.retained_jobs);
            self.set_state(state);
        }
        self.notify_statements();
    }

    /// Wakes everyone waiting for a change of this session, and records the change (and that
    /// of any statement) when recovery is on. Called without the runtime lock held.
    pub(crate) fn notify(&self) {
        self.notify_statements();
        self.life.changed();
    }

    /// Like [`Session::notify`], for a change of statements only. Each statement is its own
    /// record with its own key, written only through that key, so the writer never has two
    /// versions of one statement in flight. Called without the runtime lock held.
    pub(crate) fn notify_statements(&self) {
        let ids = self.runtime.lock().statements.take_changed_ids();
        self.life.changed_records(
            ids.into_iter()
                .map(|id| crate::recovery::statement_key(self.id, id)),
        );
    }

    pub(crate) fn command(&self, cmd: LinkCommand) {
        let _ = self.link.send(cmd);
    }

    /// Asks the link to send waiting statements; one pending request covers them all.
    pub(super) fn dispatch(&self) {
        if !self.inbox.dispatch_pending.swap(true, Ordering::SeqCst) {
            self.command(LinkCommand::Dispatch);
        }
    }

    /// Queues a request (a job, completion or addition, built by `make` around its [`Slot`])
    /// unless [`MAX_QUEUED_REQUESTS`] already wait for the driver: then a 503 in Livy's shape.
    pub(super) fn request(&self, make: impl FnOnce(Slot) -> LinkCommand) -> Result<(), ApiError> {
        let slot = Slot::take(&self.inbox)
            .ok_or_else(|| ApiError::ServiceUnavailable(self.too_many_requests()))?;
        // Only fails once the link has ended, i.e. the session has.
        self.link
            .send(make(slot))
            .map_err(|_| ApiError::BadRequest("Session isn't active.".into()))
    }

    pub(super) fn too_many_requests(&self) -> String {
        format!(
            "More than {MAX_QUEUED_REQUESTS} jobs, completions and additions wait for session {}'s driver; try again later.",
            self.id
        )
    }

    pub(crate) fn set_child(&self, child: ChildHandle) {
        self.life.set_child(child);
    }

    pub(crate) fn child(&self) -> Option<ChildHandle> {
        self.life.child()
    }

    /// Queues a statement; it runs when the driver is free (also while starting or busy).
    pub fn submit(&self, code: String, kind: Option<&str>) -> Result<Statement, ApiError> {
        let kind = match kind {
            Some(k) => match Kind::parse(k) {
                Some(Kind::Shared) | None => {
                    return Err(ApiError::BadRequest(format!(
                        "Invalid statement kind '{k}'; expected spark, pyspark, sparkr or sql."
                    )))
                }
                Some(k) => k,
            },
            None if self.kind == Kind::Shared => {
                return Err(ApiError::BadRequest(
                    "Code type should be specified if session kind is shared".into(),
                ))
            }
            None => self.kind,
        };
        let statement = {
            let mut rt = self.runtime.lock();
            let state = self.life.state();
            if state.is_finished() || state == SessionState::ShuttingDown {
                return Err(ApiError::BadRequest("Session isn't active.".into()));
            }
            rt.last_activity = Instant::now();
            rt.statements.add(code, kind.as_str().to_string())
        };
        // Only the statement's record is written for it: it carries the id, and the
        // session's record catches up with its next change.
        self.notify_statements();
        self.dispatch();
        Ok(statement)
    }

    /// Waits until a statement's record is in the recovery store, so its id is never lost or
    /// given out again (see [`Lifecycle::persisted_record`]).
    pub async fn persisted_statement(&self, id: u32) {
        self.life
            .persisted_record(&crate::recovery::statement_key(self.id, id))
            .await;
    }

    /// Waits until the session's records (its own and its statements') are in the recovery
    /// store; see [`Lifecycle::persisted`].
    pub async fn persisted(&self) {
        self.life.persisted().await;
    }

    /// Livy's cancel: waiting → cancelled now; running → cancelling, and the driver is told.
    pub fn cancel(&self, statement_id: u32) -> Result<(), ApiError> {
        let tell_driver = {
            let mut rt = self.runtime.lock();
            if rt.statements.get(statement_id).is_none() {
                return Err(ApiError::NotFound("Statement not found".into()));
            }
            rt.last_activity = Instant::now();
            rt.statements.cancel(statement_id, now_ms())
        };
        if tell_driver {
            self.command(LinkCommand::Cancel(statement_id));
        }
        self.notify_statements();
        Ok(())
    }

    /// Completion candidates from the driver (empty when it is not ready).
    pub async fn complete(&self, kind: String, code: String, cursor: i64) -> Vec<String> {
        if self.state() != SessionState::Idle && self.state() != SessionState::Busy {
            return Vec::new();
        }
        self.record_activity();
        let (reply, rx) = oneshot::channel();
        let asked = self.request(|slot| LinkCommand::Complete {
            kind,
            code,
            cursor,
            reply,
            slot,
        });
        if asked.is_err() {
            return Vec::new();
        }
        tokio::time::timeout(Duration::from_secs(10), rx)
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default()
    }

    pub fn statement(&self, id: u32) -> Option<Statement> {
        self.runtime.lock().statements.get(id).cloned()
    }

    /// Statements in order (or reversed), with Livy's paging; returns (total, page).
    pub fn statements(
        &self,
        desc: bool,
        from: usize,
        size: Option<usize>,
    ) -> (usize, Vec<Statement>) {
        let rt = self.runtime.lock();
        let total = rt.statements.len();
        let size = size.unwrap_or(total);
        let page: Vec<Statement> = if desc {
            rt.statements
                .all()
                .rev()
                .skip(from)
                .take(size)
                .cloned()
                .collect()
        } else {
            rt.statements.all().skip(from).take(size).cloned().collect()
        };
        (total, page)
    }

    /// Waits until the session has ended (any final state).
    pub async fn ended(&self) {
        let mut rx = self.life.subscribe();
        while !self.state().is_finished() {
            if rx.changed().await.is_err() {
                return;
            }
        }
    }

    /// Waits until `done` holds or `timeout` passes (the long-poll extension).
    pub async fn wait_until(&self, timeout: Duration, done: impl Fn(&Session) -> bool) {
        let mut rx = self.life.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        while !done(self) {
            if tokio::time::timeout_at(deadline, rx.changed())
                .await
                .is_err()
            {
                return;
            }
        }
    }

    /// Whether the GC should stop this session now (Livy's SessionManager rules).
    pub(crate) fn expired(&self, conf: &crate::conf::SessionConf, now: Instant) -> Option<String> {
        let (state, _, finished_at) = self.life.snapshot();
        if state.is_finished() {
            return finished_at
                .filter(|t| now.duration_since(*t) > conf.state_retain)
                .map(|_| "finished before the state-retain time".to_string());
        }
        let rt = self.runtime.lock();
        if let Some(hb) = self.heartbeat_timeout {
            if now.duration_since(rt.last_heartbeat) > hb {
                return Some(format!("no heartbeat for {}s", hb.as_secs()));
            }
        }
        if !conf.timeout_check {
            return None;
        }
        if state == SessionState::Busy && conf.timeout_check_skip_busy {
            return None;
        }
        let idle = self.idle_timeout.unwrap_or(conf.timeout);
        if now.duration_since(rt.last_activity) > idle {
            return Some(format!("inactive for more than {}s", idle.as_secs()));
        }
        if conf.ttl_check {
            let ttl = self.ttl.unwrap_or(conf.ttl);
            if now.duration_since(rt.created_at) > ttl {
                return Some(format!("older than its ttl of {}s", ttl.as_secs()));
            }
        }
        None
    }
}
