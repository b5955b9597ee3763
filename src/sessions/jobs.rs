//! The Job API side of an interactive session: jobs (Livy's `JobHandle`) and the files, Python
//! files and jars added to its Spark context. Split from `interactive` so each file stays small;
//! the state lives in the session's runtime like everything else of the session.

use super::commands::{LinkCommand, Resource};
use super::interactive::Session;
use super::SessionState;
use crate::error::ApiError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// A Job API job as Livy's `JobStatus` shows it (`result` is what the Python client decodes).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct JobStatus {
    pub id: u64,
    pub state: JobState,
    pub result: Option<String>,
    pub error: Option<String>,
}

/// Livy's `JobHandle.State` names.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum JobState {
    Sent,
    Queued,
    Started,
    Cancelled,
    Failed,
    Succeeded,
}

/// The language of a Job API job (`SerializedJob.jobType`): a cloudpickled Python function, or
/// a Kryo-written Java/Scala `org.apache.livy.Job` (Livy's Java client sends "spark").
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum JobKind {
    #[default]
    Python,
    Spark,
}

impl JobState {
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            JobState::Cancelled | JobState::Failed | JobState::Succeeded
        )
    }
}

/// Drops the oldest finished jobs beyond `retain` (0 keeps all); unfinished jobs always stay.
pub(super) fn evict_finished_jobs(jobs: &mut BTreeMap<u64, JobStatus>, retain: usize) {
    if retain == 0 {
        return;
    }
    let finished = jobs.values().filter(|j| j.state.is_finished()).count();
    let evict: Vec<u64> = jobs
        .values()
        .filter(|j| j.state.is_finished())
        .take(finished.saturating_sub(retain))
        .map(|j| j.id)
        .collect();
    for id in evict {
        jobs.remove(&id);
    }
}

impl Session {
    /// Queues a Job API job; it runs once the driver is ready.
    pub fn submit_job(&self, job: String, kind: JobKind) -> Result<JobStatus, ApiError> {
        let status = {
            let mut rt = self.runtime.lock();
            let state = self.life.state();
            if state.is_finished() || state == SessionState::ShuttingDown {
                return Err(ApiError::BadRequest("Session isn't active.".into()));
            }
            rt.last_activity = Instant::now();
            let id = rt.next_job_id;
            rt.next_job_id += 1;
            let status = JobStatus {
                id,
                state: JobState::Queued,
                result: None,
                error: None,
            };
            rt.jobs.insert(id, status.clone());
            status
        };
        let id = status.id;
        if let Err(e) = self.request(|slot| LinkCommand::Job {
            id,
            job,
            kind,
            slot,
        }) {
            self.runtime.lock().jobs.remove(&id);
            return Err(e);
        }
        self.notify();
        Ok(JobStatus {
            state: JobState::Sent,
            ..status
        })
    }

    pub fn job(&self, id: u64) -> Option<JobStatus> {
        self.runtime.lock().jobs.get(&id).cloned()
    }

    /// Changes an unfinished job; returns whether it was. A job that ends here may push the
    /// oldest finished ones out (see `retained_jobs`), and is no longer being cancelled.
    pub(crate) fn update_job(&self, id: u64, f: impl FnOnce(&mut JobStatus)) -> bool {
        let changed = {
            let mut rt = self.runtime.lock();
            let (changed, ended) = match rt.jobs.get_mut(&id) {
                Some(job) if !job.state.is_finished() => {
                    f(job);
                    (true, job.state.is_finished())
                }
                _ => (false, false),
            };
            if ended {
                rt.cancelling_jobs.remove(&id);
            }
            if changed {
                evict_finished_jobs(&mut rt.jobs, self.retained_jobs);
            }
            changed
        };
        self.notify();
        changed
    }

    /// Asks for a job's cancel. Like a statement's, it is truthful: a job the driver runs stays
    /// `STARTED` until the driver says its thread ended (then `CANCELLED`), or until
    /// `livy.rsc.job-cancel.timeout` (see [`Session::job_cancel_timed_out`]); one not sent yet
    /// never runs and is `CANCELLED` as soon as the link drops it. Only the first cancel of an
    /// unfinished job reaches the link.
    pub fn cancel_job(&self, id: u64) -> Result<(), ApiError> {
        let first = {
            let mut rt = self.runtime.lock();
            match rt.jobs.get(&id) {
                None => return Err(ApiError::NotFound(format!("Job {id} not found."))),
                Some(job) if job.state.is_finished() => false,
                Some(_) => rt.cancelling_jobs.insert(id),
            }
        };
        if first {
            self.command(LinkCommand::CancelJob(id));
            self.notify();
        }
        Ok(())
    }

    /// Whether a job's cancel was asked for and it has not ended yet.
    pub(crate) fn job_cancelling(&self, id: u64) -> bool {
        self.runtime.lock().cancelling_jobs.contains(&id)
    }

    /// The jobs being cancelled (a resumed driver is told again).
    pub(crate) fn cancelling_jobs(&self) -> Vec<u64> {
        self.runtime
            .lock()
            .cancelling_jobs
            .iter()
            .copied()
            .collect()
    }

    /// A cancelled job that never reached the driver (the link dropped it): cancelled now.
    pub(crate) fn job_dropped(&self, id: u64) {
        self.update_job(id, |j| j.state = JobState::Cancelled);
    }

    /// The driver says a job's thread ended, with its result or its error. After a cancel, an
    /// error (the interrupt, or a Spark job cancelled with its group) means `CANCELLED`; a
    /// result means the job had finished before the interrupt could reach it (`SUCCEEDED`, as
    /// Livy's cancel of a job whose future is done leaves it).
    pub(crate) fn job_ended(&self, id: u64, result: Option<String>, error: Option<String>) {
        let cancelling = self.job_cancelling(id);
        self.update_job(id, |job| match (result, error) {
            (_, Some(_)) if cancelling => job.state = JobState::Cancelled,
            (_, Some(error)) => {
                job.state = JobState::Failed;
                job.error = Some(error);
            }
            (result, None) => {
                job.state = JobState::Succeeded;
                job.result = result;
            }
        });
    }

    /// `livy.rsc.job-cancel.timeout` passed since a job's cancel: it is `CANCELLED` whatever its
    /// code does (a thread blocked in one long C call, say `time.sleep(300)`, cannot be
    /// interrupted; it runs on beside the next jobs and statements, which do not wait for it).
    /// Returns whether it was still running.
    pub(crate) fn job_cancel_timed_out(&self, id: u64) -> bool {
        if !self.job_cancelling(id) {
            return false;
        }
        let gave_up = self.update_job(id, |j| j.state = JobState::Cancelled);
        if gave_up {
            tracing::info!(
                session_id = self.id,
                job = id,
                "the job did not end in time after its cancel; marked cancelled (its thread may still run)"
            );
        }
        gave_up
    }

    /// Adds a file, Python file or jar to the running context; waits for the driver's answer.
    /// While the session starts the addition waits for the driver (as in Livy, whose reply to
    /// an upload means "added", which Livy's Java client's `uploadJar(..).get()` relies on); it
    /// fails with the reason when the session ends first.
    pub async fn add_resource(&self, what: Resource, uri: String) -> Result<(), ApiError> {
        self.acked(|reply, slot| LinkCommand::AddResource {
            what,
            uri,
            reply,
            slot,
        })
        .await
    }

    /// Sets Spark settings on the running SparkSession, all or none (see
    /// [`LinkCommand::SetConf`]); with `check_only`, only asks whether the driver would.
    pub async fn set_runtime_conf(
        &self,
        conf: std::collections::BTreeMap<String, String>,
        check_only: bool,
    ) -> Result<(), ApiError> {
        self.acked(|reply, slot| LinkCommand::SetConf {
            conf,
            check_only,
            reply,
            slot,
        })
        .await
    }

    /// Sends a request the driver confirms (an addition, a conf change) and waits for its
    /// answer.
    async fn acked(
        &self,
        command: impl FnOnce(oneshot::Sender<Result<(), String>>, super::commands::Slot) -> LinkCommand,
    ) -> Result<(), ApiError> {
        let starting = match self.state() {
            SessionState::Idle | SessionState::Busy => false,
            SessionState::NotStarted | SessionState::Starting => true,
            _ => return Err(ApiError::BadRequest("Session isn't active.".into())),
        };
        self.record_activity();
        let (reply, rx) = oneshot::channel();
        self.request(|slot| command(reply, slot))?;
        // While starting, the link ends (and drops `reply`) by the connect timeout at the latest.
        let answer = if starting {
            Ok(rx.await)
        } else {
            // The link fails an unconfirmed addition after ADDITION_TIMEOUT with the reason;
            // this is a backstop only.
            tokio::time::timeout(
                crate::driver::link::ADDITION_TIMEOUT + Duration::from_secs(5),
                rx,
            )
            .await
        };
        match answer {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(e))) => Err(ApiError::BadRequest(e)),
            Ok(Err(_)) => Err(ApiError::BadRequest(self.ended_before_addition())),
            Err(_) => Err(ApiError::BadRequest(
                "The driver did not confirm the addition.".into(),
            )),
        }
    }

    /// Stages the local file `local` (at most `max` bytes) as `name` in the session's staging
    /// directory on the cluster (see [`super::staging`]); returns its URI there. The record is
    /// written again when this made the directory, so a restarted server still deletes it.
    pub async fn stage_file(
        &self,
        name: &str,
        local: &std::path::Path,
        max: usize,
    ) -> Result<String, ApiError> {
        let Some(staging) = &self.staging else {
            return Ok(local.display().to_string());
        };
        let had_dir = staging.dir().is_some();
        let staged = staging.put_file(name, local, max).await;
        if !had_dir && staging.dir().is_some() {
            self.notify();
        }
        staged
    }

    /// Why an addition that waited for the driver was not made: the session ended first.
    fn ended_before_addition(&self) -> String {
        let reason = self.runtime.lock().end_reason.clone();
        match (reason, self.life.state()) {
            (Some(reason), _) => format!(
                "Session {} ended before its driver could add the file: {reason}",
                self.id
            ),
            (None, SessionState::ShuttingDown) => format!(
                "Session {} was stopped before its driver could add the file.",
                self.id
            ),
            (None, _) => format!(
                "Session {} ended before its driver could add the file.",
                self.id
            ),
        }
    }
}
