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
    /// oldest finished ones out (see `retained_jobs`).
    pub(crate) fn update_job(&self, id: u64, f: impl FnOnce(&mut JobStatus)) -> bool {
        let changed = {
            let mut rt = self.runtime.lock();
            let changed = match rt.jobs.get_mut(&id) {
                Some(job) if !job.state.is_finished() => {
                    f(job);
                    true
                }
                _ => false,
            };
            if changed {
                evict_finished_jobs(&mut rt.jobs, self.retained_jobs);
            }
            changed
        };
        self.notify();
        changed
    }

    pub fn cancel_job(&self, id: u64) -> Result<(), ApiError> {
        if self.job(id).is_none() {
            return Err(ApiError::NotFound(format!("Job {id} not found.")));
        }
        // Only the first cancel of a running job reaches the driver.
        if self.update_job(id, |j| j.state = JobState::Cancelled) {
            self.command(LinkCommand::CancelJob(id));
        }
        Ok(())
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
