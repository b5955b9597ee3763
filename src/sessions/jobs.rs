//! The Job API side of an interactive session: jobs (Livy's `JobHandle`) and the files, Python
//! files and jars added to its Spark context. Split from `interactive` so each file stays small;
//! the state lives in the session's runtime like everything else of the session.

use super::interactive::{LinkCommand, Session};
use super::SessionState;
use crate::error::ApiError;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// What an add/upload call adds to the Spark context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    File,
    PyFile,
    Jar,
}

/// A Job API job as Livy's `JobStatus` shows it (`result` is what the Python client decodes).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct JobStatus {
    pub id: u64,
    pub state: JobState,
    pub result: Option<String>,
    pub error: Option<String>,
}

/// Livy's `JobHandle.State` names.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "UPPERCASE")]
pub enum JobState {
    Sent,
    Queued,
    Started,
    Cancelled,
    Failed,
    Succeeded,
}

impl Session {
    /// Queues a Job API job; it runs once the driver is ready.
    pub fn submit_job(&self, job: String) -> Result<JobStatus, ApiError> {
        let status = {
            let mut rt = self.runtime.lock();
            if rt.state.is_finished() || rt.state == SessionState::ShuttingDown {
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
        self.command(LinkCommand::Job { id: status.id, job });
        Ok(JobStatus {
            state: JobState::Sent,
            ..status
        })
    }

    pub fn job(&self, id: u64) -> Option<JobStatus> {
        self.runtime.lock().jobs.get(&id).cloned()
    }

    pub(crate) fn update_job(&self, id: u64, f: impl FnOnce(&mut JobStatus)) {
        if let Some(job) = self.runtime.lock().jobs.get_mut(&id) {
            if !matches!(
                job.state,
                JobState::Cancelled | JobState::Failed | JobState::Succeeded
            ) {
                f(job);
            }
        }
        self.notify();
    }

    pub fn cancel_job(&self, id: u64) -> Result<(), ApiError> {
        if self.job(id).is_none() {
            return Err(ApiError::NotFound(format!("Job {id} not found.")));
        }
        self.update_job(id, |j| j.state = JobState::Cancelled);
        self.command(LinkCommand::CancelJob(id));
        Ok(())
    }

    /// Adds a file, Python file or jar to the running context; waits for the driver's answer.
    /// While the session starts the addition waits for the driver (as in Livy); it fails with a
    /// clear message when the session ends first.
    pub async fn add_resource(&self, what: Resource, uri: String) -> Result<(), ApiError> {
        let starting = match self.state() {
            SessionState::Idle | SessionState::Busy => false,
            SessionState::NotStarted | SessionState::Starting => true,
            _ => return Err(ApiError::BadRequest("Session isn't active.".into())),
        };
        self.record_activity();
        let (reply, rx) = oneshot::channel();
        self.command(LinkCommand::AddResource { what, uri, reply });
        // While starting, the link ends (and drops `reply`) by the connect timeout at the latest.
        let answer = if starting {
            Ok(rx.await)
        } else {
            tokio::time::timeout(Duration::from_secs(120), rx).await
        };
        match answer {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(e))) => Err(ApiError::BadRequest(e)),
            Ok(Err(_)) => Err(ApiError::BadRequest(format!(
                "Session {} ended before its driver could add the file.",
                self.id
            ))),
            Err(_) => Err(ApiError::BadRequest(
                "The driver did not confirm the addition.".into(),
            )),
        }
    }
}
