//! The task that owns one session's driver: it waits for the driver to connect back (or for the
//! connect timeout, or for the process to die), then carries statements to it one at a time and
//! turns its events into session and statement state. One task per session; the socket is
//! touched by nobody else.

mod connect;
mod requests;
mod servers;

use super::channel::{ChannelServer, DriverConnection};
use super::protocol::{read_value, write_frame, FrameError, FromDriver, ToDriver};
use crate::launch::ChildExit;
use crate::sessions::interactive::{Commands, Handover, JobState, LinkCommand};
use crate::sessions::{Session, SessionState};
use crate::statements::{capped_output, now_ms};
use connect::{is_job, log_held, wait_for_driver};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::WriteHalf;
use tokio::sync::{mpsc, oneshot};

pub use servers::Servers;

pub struct Settings {
    pub connect_timeout: Duration,
    pub max_message: usize,
    /// `livy.server.statement.output-max-size` (0: no cap).
    pub output_max: usize,
    /// `livy.rsc.job-cancel.timeout`: a cancelled statement is `cancelled` after this at the latest.
    pub cancel_timeout: Duration,
    pub channel: Arc<ChannelServer>,
    /// A session recovered after a restart: its driver dials back and says `resumed`.
    pub resume: bool,
    /// How long the driver has to confirm an addition (see [`ADDITION_TIMEOUT`]).
    pub addition_timeout: Duration,
    /// Active/active: the live servers' driver channels, told to the driver (see `servers`).
    pub servers: Option<servers::Servers>,
}

/// How long the driver has to confirm an addition (`add-jar`, `add-file`, ...; the REST call
/// waits as long). Requests behind an addition wait for its confirmation, so one the driver
/// never confirms (a driver stuck in C code holding Python's GIL cannot even read it) must not
/// hold them forever: it fails with a message saying so, and the queue moves on.
pub const ADDITION_TIMEOUT: Duration = Duration::from_secs(120);

type Writer = WriteHalf<tokio_rustls::server::TlsStream<tokio::net::TcpStream>>;

/// Runs until the session's driver is gone.
pub async fn run(
    session: Arc<Session>,
    mut commands: Commands,
    connection: oneshot::Receiver<DriverConnection>,
    settings: Settings,
) {
    let id = session.id;
    let mut early = Vec::new();
    let Some(conn) =
        wait_for_driver(&session, &mut commands, connection, &settings, &mut early).await
    else {
        settings.channel.forget(id);
        return;
    };
    let DriverConnection { reader, writer, .. } = conn;
    let connected = crate::metrics::get().driver_connected();
    let (frames_tx, mut frames) = mpsc::channel(64);
    let max = settings.max_message;
    // A separate reader: frame reads are not cancel-safe, so they must not sit in a select!.
    let reader_task = tokio::spawn(async move {
        let mut reader = reader;
        loop {
            let frame = read_value(&mut reader, max).await;
            let end = frame.is_err();
            if frames_tx.send(frame).await.is_err() || end {
                return;
            }
        }
    });
    let mut link = Link {
        session: session.clone(),
        writer,
        max,
        ready: false,
        shutting_down: false,
        completions: HashMap::new(),
        acks: HashMap::new(),
        ack_deadlines: std::collections::BTreeMap::new(),
        job_cancel_deadlines: std::collections::BTreeMap::new(),
        addition_timeout: settings.addition_timeout,
        queued: VecDeque::new(),
        next_req: 0,
        in_flight: None,
        cancel_timeout: settings.cancel_timeout,
        output_max: settings.output_max,
        broken: false,
    };
    let mut servers = settings.servers;
    link.tell_servers(servers::current(&mut servers)).await;
    for cmd in early {
        link.on_command(cmd).await;
    }
    loop {
        let ack_deadline = link.next_ack_deadline();
        let job_cancel_deadline = link.job_cancel_deadlines.values().min().copied();
        tokio::select! {
            _ = sleep_until_some(ack_deadline) => link.fail_unconfirmed_additions().await,
            _ = sleep_until_some(job_cancel_deadline) => link.give_up_job_cancels(),
            list = servers::next(&mut servers) => link.tell_servers(list).await,
            frame = frames.recv() => match frame {
                Some(Ok(value)) => link.on_frame(value).await,
                Some(Err(e)) => {
                    if !link.shutting_down {
                        link.driver_lost(&format!("the connection to the driver was lost ({e})"));
                    }
                    break;
                }
                None => break,
            },
            cmd = commands.recv() => match cmd {
                Some(LinkCommand::Exited(exit)) => {
                    link.exited(&exit);
                    break;
                }
                Some(LinkCommand::Handover(handover)) => {
                    // The driver's last words first: one that just died is never handed over.
                    while let Ok(frame) = frames.try_recv() {
                        match frame {
                            Ok(value) => link.on_frame(value).await,
                            Err(e) => {
                                link.driver_lost(&format!("the connection to the driver was lost ({e})"));
                                link.broken = true;
                                break;
                            }
                        }
                    }
                    if let Some(taken) = link.hand_over(*handover) {
                        commands = taken;
                    }
                }
                Some(cmd) => link.on_command(cmd).await,
                None => break,
            },
        }
        if link.broken {
            break;
        }
    }
    reader_task.abort();
    drop(connected);
    // Wait for the process to end so its exit is recorded (and nothing is left behind).
    let session = link.session.clone();
    if let Some(child) = session.child() {
        if !link.shutting_down {
            child.kill();
        }
        let exit = child.wait().await;
        if !link.shutting_down && !session.state().is_finished() {
            link.exited(&exit);
        }
    }
}

/// Sleeps until `at`, or forever without one (a `select!` branch that is off).
async fn sleep_until_some(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Marks the session finished, says why in its log, and ends its unfinished statements.
fn end_session(session: &Session, state: SessionState, why: &str) {
    session.end(state, vec![format!("\n{why}")]);
}

struct Link {
    session: Arc<Session>,
    writer: Writer,
    max: usize,
    ready: bool,
    shutting_down: bool,
    completions: HashMap<u64, oneshot::Sender<Vec<String>>>,
    acks: HashMap<u64, oneshot::Sender<Result<(), String>>>,
    /// When each unconfirmed addition in `acks` times out (by request id).
    ack_deadlines: std::collections::BTreeMap<u64, tokio::time::Instant>,
    /// When each job being cancelled is `CANCELLED` even if the driver has not said its thread
    /// ended (`livy.rsc.job-cancel.timeout`; by job id).
    job_cancel_deadlines: std::collections::BTreeMap<u64, tokio::time::Instant>,
    addition_timeout: Duration,
    /// Jobs and additions (`Job`, `AddResource`) held, in order: sent before the driver was
    /// ready, or after an addition the driver has not confirmed yet (see [`Link::hold`]).
    queued: VecDeque<LinkCommand>,
    next_req: u64,
    /// The statement the driver is running: a statement cancelled by the timeout still
    /// occupies the interpreter until its result comes.
    in_flight: Option<u32>,
    cancel_timeout: Duration,
    output_max: usize,
    /// A write failed: the connection is unusable and the session has ended.
    broken: bool,
}

impl Link {
    /// Sends one message. A message too big for the channel is the caller's to answer (its
    /// statement or job fails); a broken socket ends the session, so nothing waits forever for
    /// a driver that can no longer be reached.
    async fn send(&mut self, msg: &ToDriver) -> Result<(), String> {
        if self.broken {
            return Err("the connection to the driver is broken".into());
        }
        match write_frame(&mut self.writer, msg, self.max).await {
            Ok(()) => Ok(()),
            Err(e @ (FrameError::TooLarge { .. } | FrameError::Malformed(_))) => {
                tracing::warn!(session_id = self.session.id, error = %e, "message too big for the driver channel");
                Err(e.to_string())
            }
            Err(e) => {
                tracing::warn!(session_id = self.session.id, error = %e, "cannot send to the driver");
                self.broken = true;
                if !self.shutting_down {
                    self.driver_lost(&format!("the connection to the driver was lost ({e})"));
                }
                Err(e.to_string())
            }
        }
    }

    async fn on_frame(&mut self, value: serde_json::Value) {
        let msg: FromDriver = match serde_json::from_value(value.clone()) {
            Ok(m) => m,
            Err(_) => {
                tracing::debug!(session_id = self.session.id, kind = %value["type"], "ignoring an unknown driver message");
                return;
            }
        };
        let session = &self.session;
        match msg {
            FromDriver::Ready {
                app_id,
                spark_ui_url,
                ..
            } => {
                // On YARN the app id and UI URL come from the ResourceManager (as in Livy): the
                // driver's own view (its UI's direct URL) would overwrite the RM's.
                if !session.on_yarn {
                    session.life.driver_app(app_id, spark_ui_url);
                }
                self.ready = true;
                session.set_state(SessionState::Idle);
                self.release_held().await;
                self.dispatch().await;
            }
            FromDriver::Error { message } => {
                tracing::warn!(session_id = session.id, %message, "driver failed to start");
                end_session(
                    session,
                    SessionState::Error,
                    &format!("livy-rs: the driver failed to start: {message}"),
                );
            }
            FromDriver::Started { id, at } => {
                session.runtime.lock().statements.started(id, at);
                session.notify_statements();
            }
            FromDriver::Progress { id, progress } => {
                session.runtime.lock().statements.progress(id, progress);
                session.notify_statements();
            }
            FromDriver::Result {
                id,
                completed,
                output,
            } => {
                let output = capped_output(id, output, self.output_max);
                {
                    // The REPL going idle counts as activity (Livy's replLastActivity), so a
                    // long statement does not make its session look idle the moment it ends.
                    let mut rt = session.runtime.lock();
                    rt.statements.finished(id, completed, output);
                    rt.last_activity = std::time::Instant::now();
                }
                if self.in_flight == Some(id) {
                    self.in_flight = None;
                }
                session.set_state(SessionState::Idle);
                session.notify();
                self.dispatch().await;
            }
            FromDriver::Completion { req, candidates } => {
                if let Some(reply) = self.completions.remove(&req) {
                    let _ = reply.send(candidates);
                }
            }
            FromDriver::JobResult { req, result, error } => {
                self.job_cancel_deadlines.remove(&req);
                session.job_ended(req, result, error);
            }
            FromDriver::Ack { req, error } => {
                self.ack_deadlines.remove(&req);
                if let Some(reply) = self.acks.remove(&req) {
                    let _ = reply.send(error.map_or(Ok(()), Err));
                }
                self.release_held().await;
            }
            FromDriver::Resumed {
                ready,
                running,
                last_received,
                running_jobs,
            } => {
                let session = self.session.clone();
                // Jobs the old server had sent whose results the driver no longer has.
                let lost_jobs: Vec<u64> = session
                    .runtime
                    .lock()
                    .jobs
                    .values()
                    .filter(|j| j.state == JobState::Started && !running_jobs.contains(&j.id))
                    .map(|j| j.id)
                    .collect();
                for id in lost_jobs {
                    // One being cancelled has ended: that is all its cancel waited for.
                    let cancelled = session.job_cancelling(id);
                    session.update_job(id, |j| {
                        if cancelled {
                            j.state = JobState::Cancelled;
                        } else {
                            j.state = JobState::Failed;
                            j.error = Some(
                                "the job's result was lost while the livy-rs server restarted"
                                    .into(),
                            );
                        }
                    });
                }
                // Cancels the old server asked for: told again, with a fresh timeout.
                for id in session.cancelling_jobs() {
                    if running_jobs.contains(&id) {
                        self.cancel_sent_job(id).await;
                    }
                }
                tracing::info!(
                    session_id = session.id,
                    ready,
                    ?running,
                    "driver resumed after a server restart"
                );
                let lost = {
                    let mut rt = session.runtime.lock();
                    rt.statements.reconcile(running, last_received, now_ms())
                };
                if !lost.is_empty() {
                    tracing::warn!(
                        session_id = session.id,
                        ?lost,
                        "statements lost in the restart"
                    );
                }
                self.in_flight = running;
                if ready {
                    self.ready = true;
                    let busy = running.is_some();
                    session.set_state(if busy {
                        SessionState::Busy
                    } else {
                        SessionState::Idle
                    });
                    self.release_held().await;
                    self.dispatch().await;
                } else {
                    session.set_state(SessionState::Starting);
                }
                session.notify();
            }
            FromDriver::Hello { .. } | FromDriver::Auth { .. } => {}
        }
    }

    /// Sends the oldest waiting statement if the driver is ready and free. A statement that
    /// cannot be sent ends at once with an error output, and the next one is tried.
    async fn dispatch(&mut self) {
        loop {
            // The session may be stopping before our `Shutdown` command arrives.
            if !self.ready
                || self.shutting_down
                || self.broken
                || self.in_flight.is_some()
                || self.session.state() == SessionState::ShuttingDown
            {
                return;
            }
            let next = {
                let rt = self.session.runtime.lock();
                if rt.statements.running().is_some() {
                    return;
                }
                rt.statements.next_waiting().cloned()
            };
            let Some(statement) = next else { return };
            self.session
                .runtime
                .lock()
                .statements
                .started(statement.id, now_ms());
            self.in_flight = Some(statement.id);
            self.session.set_state(SessionState::Busy);
            self.session.notify_statements();
            let sent = self
                .send(&ToDriver::Execute {
                    id: statement.id,
                    kind: statement.kind.clone(),
                    code: statement.code.clone(),
                })
                .await;
            let Err(why) = sent else { return };
            if self.broken {
                // The session has ended (dead, with the reason); nothing more is sent.
                return;
            }
            // The statement never reached the driver: it ends with the reason, and the session
            // goes on with the next one.
            self.in_flight = None;
            self.session.runtime.lock().statements.finished(
                statement.id,
                now_ms(),
                serde_json::json!({
                    "status": "error",
                    "execution_count": statement.id,
                    "ename": "StatementNotSent",
                    "evalue": format!("the statement could not be sent to the driver: {why}"),
                    "traceback": [],
                }),
            );
            if !self.session.state().is_finished() {
                self.session.set_state(SessionState::Idle);
            }
            self.session.notify();
        }
    }

    async fn on_command(&mut self, cmd: LinkCommand) {
        match cmd {
            LinkCommand::Dispatch => self.dispatch().await,
            LinkCommand::Cancel(id) => {
                let _ = self.send(&ToDriver::Cancel { id }).await;
                // Livy's `job-cancel.timeout`: whatever the code does, the statement is
                // `cancelled` in time; the session stays busy until the interpreter is free.
                let session = self.session.clone();
                let timeout = self.cancel_timeout;
                tokio::spawn(async move {
                    tokio::time::sleep(timeout).await;
                    let gave_up = session
                        .runtime
                        .lock()
                        .statements
                        .cancel_timed_out(id, now_ms());
                    if gave_up {
                        tracing::info!(
                            session_id = session.id,
                            statement = id,
                            "failed to cancel the statement in time; marked cancelled"
                        );
                        session.notify();
                    }
                });
            }
            LinkCommand::Complete {
                kind,
                code,
                cursor,
                reply,
                ..
            } => {
                if !self.ready {
                    let _ = reply.send(Vec::new());
                    return;
                }
                self.next_req += 1;
                let req = self.next_req;
                self.completions.insert(req, reply);
                let sent = self
                    .send(&ToDriver::Complete {
                        req,
                        kind,
                        code,
                        cursor,
                    })
                    .await;
                if sent.is_err() {
                    if let Some(reply) = self.completions.remove(&req) {
                        let _ = reply.send(Vec::new());
                    }
                }
            }
            LinkCommand::Shutdown => {
                if !self.shutting_down {
                    self.shutting_down = true;
                    let _ = self.send(&ToDriver::Shutdown).await;
                }
            }
            LinkCommand::Exited(exit) => self.exited(&exit),
            cmd @ (LinkCommand::Job { .. }
            | LinkCommand::AddResource { .. }
            | LinkCommand::SetConf { .. })
                if self.hold() =>
            {
                if !self.ready {
                    log_held(self.session.id, &cmd);
                }
                self.queued.push_back(cmd);
            }
            LinkCommand::Job { id, job, kind, .. } => self.send_job(id, job, kind).await,
            LinkCommand::CancelJob(id) => {
                let held = self.queued.len();
                self.queued.retain(|held| !is_job(held, id));
                if self.queued.len() < held {
                    self.session.job_dropped(id);
                } else {
                    self.cancel_sent_job(id).await;
                }
            }
            LinkCommand::AddResource {
                what, uri, reply, ..
            } => self.send_addition(what, uri, reply).await,
            LinkCommand::SetConf {
                conf,
                check_only,
                reply,
                ..
            } => self.send_set_conf(conf, check_only, reply).await,
            // Only a ready link hands its driver over (see `run`); dropping it says no.
            LinkCommand::Handover(_) => {}
        }
    }

    /// Serves another session from now on, if the driver is ready, free and not stopping (a
    /// pooled driver being taken: see [`crate::sessions::pool`]). The new session gets the
    /// driver's process and application; the old one is left behind, never to be used again.
    /// Returns the new session's command queue, or `None` (the taker is told by the dropped
    /// `done`) when the driver cannot be handed over.
    fn hand_over(&mut self, handover: Handover) -> Option<Commands> {
        let old = &self.session;
        if !self.ready
            || self.broken
            || self.shutting_down
            || self.in_flight.is_some()
            || old.state() != SessionState::Idle
        {
            return None;
        }
        let Handover {
            session,
            commands,
            done,
        } = handover;
        if let Some(child) = old.child() {
            session.set_child(child);
        }
        let (_, app, _) = old.life.snapshot();
        session.life.driver_app(app.id, app.info.spark_ui_url);
        session.set_state(SessionState::Idle);
        tracing::info!(session_id = session.id, "pooled driver handed over");
        self.session = session;
        // Said once the link serves the new session: a taker that gave up meanwhile finds the
        // session idle and stops it like any other.
        let _ = done.send(());
        Some(commands)
    }

    fn driver_lost(&mut self, why: &str) {
        tracing::warn!(session_id = self.session.id, %why, "driver lost");
        end_session(
            &self.session,
            SessionState::Dead,
            &format!("livy-rs: {why}"),
        );
    }

    fn exited(&mut self, exit: &ChildExit) {
        if self.session.on_yarn && exit.success() {
            return;
        }
        if self.shutting_down || self.session.state() == SessionState::ShuttingDown {
            return;
        }
        self.driver_lost(&format!("the driver {}", exit.describe()));
    }
}
