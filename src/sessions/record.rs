//! A session's recovery record (`v1/interactive/<id>`): everything needed to show it again after
//! a restart and to let its driver back in — who asked for what, its state, statements and Job
//! API handles, the clocks, the driver's secret and the process that runs it.

use super::interactive::{NewSession, Session};
use super::jobs::JobStatus;
use super::lifecycle::App;
use super::request::{CreateSessionRequest, Kind};
use super::{AppInfo, SessionState};
use crate::launch::detached::ProcessRecord;
use crate::recovery::{instant_of, ms_of, Recordable};
use crate::statements::{StatementRecord, Statements};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionRecord {
    pub id: u32,
    pub name: Option<String>,
    pub owner: Option<String>,
    pub proxy_user: Option<String>,
    pub kind: Kind,
    pub request: CreateSessionRequest,
    pub app_tag: String,
    pub app_id: Option<String>,
    pub app_info: AppInfo,
    pub state: SessionState,
    pub secret: String,
    pub run_dir: PathBuf,
    pub ttl_ms: Option<u64>,
    pub idle_timeout_ms: Option<u64>,
    pub created_ms: i64,
    pub last_activity_ms: i64,
    pub finished_ms: Option<i64>,
    /// The next statement id; the statements are records of their own.
    pub next_statement_id: u32,
    pub jobs: Vec<JobStatus>,
    /// Jobs whose cancel was asked for and that had not ended (absent in older records).
    #[serde(default)]
    pub cancelling_jobs: Vec<u64>,
    pub next_job_id: u64,
    pub process: Option<ProcessRecord>,
    pub diagnostics: Vec<String>,
    /// On YARN: the session's staging directory in the cluster file system, once made (absent
    /// in older records), so a restarted server deletes it when the session ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staging_dir: Option<String>,
    /// The format version, and fields of a newer livy-rs (kept when this one rewrites it).
    #[serde(flatten)]
    pub upgrade: crate::recovery::Upgrade,
}

impl Recordable for Session {
    fn records(&self, key: &str) -> Vec<(String, Option<Vec<u8>>)> {
        // One statement's record (a new statement marks its own key).
        let dir = crate::recovery::statements_key(self.id);
        if let Some(id) = key
            .strip_prefix(dir.as_str())
            .and_then(|rest| rest.strip_prefix('/'))
            .and_then(|id| id.parse::<u32>().ok())
        {
            let record = self.runtime.lock().statements.record(id);
            // Gone (evicted) since it was marked: its record goes too.
            let bytes = record.and_then(|r| serde_json::to_vec(&r).ok());
            return vec![(key.to_string(), bytes)];
        }
        let record = {
            let rt = self.runtime.lock();
            let (state, app, finished_at) = self.life.snapshot();
            SessionRecord {
                id: self.id,
                name: self.name.clone(),
                owner: self.owner.clone(),
                proxy_user: self.proxy_user.clone(),
                kind: self.kind,
                request: self.request.clone(),
                app_tag: self.app_tag.clone(),
                app_id: app.id,
                app_info: app.info,
                state,
                secret: self.secret.clone(),
                run_dir: self.run_dir.clone(),
                ttl_ms: self.ttl.map(|d| d.as_millis() as u64),
                idle_timeout_ms: self.idle_timeout.map(|d| d.as_millis() as u64),
                created_ms: self.created_ms,
                last_activity_ms: ms_of(rt.last_activity),
                finished_ms: finished_at.map(ms_of),
                next_statement_id: rt.statements.next_id(),
                jobs: rt.jobs.values().cloned().collect(),
                cancelling_jobs: rt.cancelling_jobs.iter().copied().collect(),
                next_job_id: rt.next_job_id,
                process: self.life.child().and_then(|c| c.detached.clone()),
                diagnostics: self.logs.diagnostics(),
                staging_dir: self.staging.as_ref().and_then(|s| s.dir()),
                upgrade: self.upgrade.lock().rewritten(),
            }
        };
        serde_json::to_vec(&record)
            .map(|bytes| vec![(key.to_string(), Some(bytes))])
            .unwrap_or_default()
    }
}

/// Builds a session from its record; the caller re-attaches the driver. Unfinished sessions
/// come back `recovering` until their driver dials back.
pub(crate) fn restore(
    record: SessionRecord,
    statements: Vec<StatementRecord>,
    redaction: crate::launch::redact::Redactor,
    // Sessions run on YARN exactly when they have a staging directory there.
    staging: Option<Arc<super::staging::Staging>>,
    log_lines: usize,
    retained_statements: usize,
    recovery: Arc<crate::recovery::Recovery>,
) -> (Arc<Session>, super::interactive::Commands) {
    if let (Some(staging), Some(dir)) = (&staging, record.staging_dir.clone()) {
        staging.restore_dir(dir);
    }
    let (session, commands) = Session::new(NewSession {
        id: record.id,
        app_tag: record.app_tag.clone(),
        on_yarn: staging.is_some(),
        staging,
        owner: record.owner.clone(),
        proxy_user: record.proxy_user.clone(),
        request: record.request.clone(),
        ttl: record.ttl_ms.map(Duration::from_millis),
        idle_timeout: record.idle_timeout_ms.map(Duration::from_millis),
        run_dir: record.run_dir.clone(),
        log_lines,
        retained_statements,
        secret: record.secret.clone(),
        recovery: Some(recovery),
        created_ms: record.created_ms,
        logs: None,
        redaction,
    });
    session.logs.set_diagnostics(record.diagnostics.clone());
    *session.upgrade.lock() = record.upgrade.clone();
    session.life.restore(
        if record.state.is_finished() {
            record.state
        } else {
            SessionState::Recovering
        },
        App {
            id: record.app_id,
            info: record.app_info,
            yarn_final: false,
        },
        record.finished_ms.map(instant_of),
    );
    {
        let mut rt = session.runtime.lock();
        rt.statements =
            Statements::from_records(statements, record.next_statement_id, retained_statements);
        rt.jobs = record
            .jobs
            .into_iter()
            .map(|j| (j.id, j))
            .collect::<BTreeMap<_, _>>();
        rt.cancelling_jobs = record
            .cancelling_jobs
            .into_iter()
            .filter(|id| rt.jobs.get(id).is_some_and(|j| !j.state.is_finished()))
            .collect();
        rt.next_job_id = record.next_job_id.max(1);
        rt.last_activity = instant_of(record.last_activity_ms);
        rt.created_at = instant_of(record.created_ms);
    }
    (session, commands)
}
