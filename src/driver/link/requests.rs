//! Requests the driver acknowledges or runs on a thread of its own: additions (`add-jar`,
//! `add-file`, `add-pyfile`), conf changes and Job API jobs. They apply in order: each waits
//! behind the additions not yet confirmed, and an unconfirmed one times out.

use super::Link;
use crate::driver::protocol::ToDriver;
use crate::sessions::interactive::{JobKind, JobState, LinkCommand, Resource};
use tokio::sync::oneshot;

/// The Spark job group of a Job API job, so it can be cancelled.
fn job_group(session: u32, job: u64) -> String {
    format!("livy-rs-job-{session}-{job}")
}

impl Link {
    pub(super) async fn send_addition(
        &mut self,
        what: Resource,
        uri: String,
        reply: oneshot::Sender<Result<(), String>>,
    ) {
        self.send_acked(reply, |req| match what {
            Resource::File => ToDriver::AddFile { req, uri },
            Resource::PyFile => ToDriver::AddPyfile { req, uri },
            Resource::Jar => ToDriver::AddJar { req, uri },
        })
        .await
    }

    pub(super) async fn send_set_conf(
        &mut self,
        conf: std::collections::BTreeMap<String, String>,
        check_only: bool,
        reply: oneshot::Sender<Result<(), String>>,
    ) {
        self.send_acked(reply, |req| ToDriver::SetConf {
            req,
            conf,
            check_only,
        })
        .await
    }

    /// Sends a request the driver answers with `ack` (additions, conf changes); its answer, or
    /// why there is none, goes to `reply`.
    pub(super) async fn send_acked(
        &mut self,
        reply: oneshot::Sender<Result<(), String>>,
        msg: impl FnOnce(u64) -> ToDriver,
    ) {
        self.next_req += 1;
        let req = self.next_req;
        self.acks.insert(req, reply);
        self.ack_deadlines
            .insert(req, tokio::time::Instant::now() + self.addition_timeout);
        let msg = msg(req);
        if let Err(why) = self.send(&msg).await {
            self.ack_deadlines.remove(&req);
            if let Some(reply) = self.acks.remove(&req) {
                let _ = reply.send(Err(format!("could not be sent to the driver: {why}")));
            }
        }
    }

    /// Interrupts a job the driver has (its thread, its Spark job group; the driver repeats
    /// the interrupt until the thread ends) and arms its `job-cancel.timeout`.
    pub(super) async fn cancel_sent_job(&mut self, id: u64) {
        self.job_cancel_deadlines
            .insert(id, tokio::time::Instant::now() + self.cancel_timeout);
        if self.ready {
            let _ = self
                .send(&ToDriver::CancelJob {
                    req: id,
                    job_id: job_group(self.session.id, id),
                })
                .await;
        }
    }

    /// Jobs whose cancel timed out are `CANCELLED` now (see [`Session::job_cancel_timed_out`]).
    pub(super) fn give_up_job_cancels(&mut self) {
        let now = tokio::time::Instant::now();
        let due: Vec<u64> = self
            .job_cancel_deadlines
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            self.job_cancel_deadlines.remove(&id);
            self.session.job_cancel_timed_out(id);
        }
    }

    pub(super) fn next_ack_deadline(&self) -> Option<tokio::time::Instant> {
        self.ack_deadlines.values().min().copied()
    }

    /// Fails the additions the driver did not confirm in time (a late confirmation is then
    /// ignored) and sends what waited behind them.
    pub(super) async fn fail_unconfirmed_additions(&mut self) {
        let now = tokio::time::Instant::now();
        let late: Vec<u64> = self
            .ack_deadlines
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(req, _)| *req)
            .collect();
        for req in late {
            self.ack_deadlines.remove(&req);
            tracing::warn!(
                session_id = self.session.id,
                req,
                "the driver did not confirm an addition in time"
            );
            if let Some(reply) = self.acks.remove(&req) {
                let _ = reply.send(Err(format!(
                    "The driver did not confirm the addition within {}s; it may be busy in code that cannot be interrupted.",
                    self.addition_timeout.as_secs()
                )));
            }
        }
        self.release_held().await;
    }

    /// Whether a job or addition must wait behind others: until the driver is ready, and while
    /// an addition sent before it is unconfirmed. The driver handles each message on a thread
    /// of its own, so without this a job sent right after an upload could run before the
    /// uploaded module is importable; Livy's clients expect requests to apply in order.
    pub(super) fn hold(&self) -> bool {
        !self.ready || !self.acks.is_empty() || !self.queued.is_empty()
    }

    /// Sends held requests in order, up to the next addition (whose confirmation releases the
    /// rest).
    pub(super) async fn release_held(&mut self) {
        while self.ready && !self.broken && self.acks.is_empty() {
            let Some(cmd) = self.queued.pop_front() else {
                return;
            };
            match cmd {
                LinkCommand::Job { id, job, kind, .. } => self.send_job(id, job, kind).await,
                LinkCommand::AddResource {
                    what, uri, reply, ..
                } => self.send_addition(what, uri, reply).await,
                LinkCommand::SetConf {
                    conf,
                    check_only,
                    reply,
                    ..
                } => self.send_set_conf(conf, check_only, reply).await,
                _ => {}
            }
        }
    }

    pub(super) async fn send_job(&mut self, id: u64, job: String, job_type: JobKind) {
        self.session.update_job(id, |j| j.state = JobState::Started);
        let sent = self
            .send(&ToDriver::Job {
                req: id,
                job,
                job_type,
                job_id: job_group(self.session.id, id),
            })
            .await;
        if let Err(why) = sent {
            self.session.update_job(id, |j| {
                j.state = JobState::Failed;
                j.error = Some(format!("the job could not be sent to the driver: {why}"));
            });
        }
    }
}
