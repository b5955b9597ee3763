//! Pooled drivers a crashed server left behind.
//!
//! With recovery on, drivers outlive the server (detached, their run directories under the log
//! dir) so that sessions come back; a pooled driver not yet taken has no record, so no
//! restarted server would adopt it: its process (and on YARN its application) would hold
//! resources until it gave up dialing back. Without recovery, the work directory is a
//! temporary directory of the server's own, which a kill -9 leaves behind with the pooled
//! drivers still dialing their dead server. So each pooled driver's run directory holds a
//! marker naming its process and YARN tag, removed when the driver is handed to a session;
//! without recovery the work directory also names the server that owns it. The next start
//! stops what the markers name and removes those run directories (and, without recovery, the
//! whole work directory of a server that is gone; never one whose server still runs).

use crate::launch::detached::{self, ProcessRecord};
use crate::sessions::InteractiveSessions;
use nix::sys::signal::Signal;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

const MARKER: &str = "pooled.json";
/// In a work directory without recovery: the server process that owns it.
const OWNER: &str = "server.json";
/// How the work directories of servers without recovery are named (see `app::build`).
const WORK_DIR_PREFIX: &str = "livy-rs-";
/// How often a stopping process is looked at.
const POLL: Duration = Duration::from_millis(200);

/// What a restarted server needs to stop a pooled driver it did not start.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Marker {
    process: Option<ProcessRecord>,
    app_tag: String,
    proxy_user: Option<String>,
}

/// What names a pooled driver's process: the detached record with recovery; without, the
/// spark-submit child's pid and start time (none for a YARN REST submission, which has no
/// process: its application is found by tag).
pub(super) fn process_of(
    child: &crate::launch::child::ChildHandle,
    run_dir: &Path,
) -> Option<ProcessRecord> {
    child.detached.clone().or_else(|| {
        Some(ProcessRecord {
            pid: child.pid,
            start_time: detached::start_time(child.pid)?,
            dir: run_dir.to_path_buf(),
        })
    })
}

/// Marks `run_dir` as a pooled driver's.
pub(super) fn mark(
    run_dir: &Path,
    process: Option<ProcessRecord>,
    app_tag: &str,
    proxy_user: Option<&str>,
) {
    let marker = Marker {
        process,
        app_tag: app_tag.to_string(),
        proxy_user: proxy_user.map(String::from),
    };
    let text = serde_json::to_string(&marker).unwrap_or_default();
    if let Err(e) = std::fs::write(run_dir.join(MARKER), text) {
        tracing::warn!(dir = %run_dir.display(), error = %e, "cannot mark a pooled driver's directory");
    }
}

/// The driver is a session's now: a restart recovers it like any other.
pub(super) fn unmark(run_dir: &Path) {
    let _ = std::fs::remove_file(run_dir.join(MARKER));
}

/// Run directories under `work_dir` with a marker, and what they say.
fn marked(work_dir: &Path) -> Vec<(PathBuf, Option<Marker>)> {
    let Ok(entries) = std::fs::read_dir(work_dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .map(|e| e.path())
        .filter(|dir| dir.join(MARKER).is_file())
        .map(|dir| {
            let marker = std::fs::read(dir.join(MARKER))
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok());
            (dir, marker)
        })
        .collect()
}

/// Work directories (siblings of `own`, named like it) whose owner marker names a server
/// that is gone. A directory without a marker (a server with recovery, or one that is not
/// ours) or a symlink is never returned.
fn dead_work_dirs(own: &Path) -> Vec<PathBuf> {
    let Some(parent) = own.parent() else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir(parent) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter(|e| e.file_name().to_string_lossy().starts_with(WORK_DIR_PREFIX))
        .map(|e| e.path())
        .filter(|dir| dir != own)
        .filter(|dir| {
            std::fs::read(dir.join(OWNER))
                .ok()
                .and_then(|b| serde_json::from_slice::<ProcessRecord>(&b).ok())
                .is_some_and(|owner| !owner.is_running())
        })
        .collect()
}

impl InteractiveSessions {
    /// Stops the pooled drivers an earlier server left (by their process record, only while
    /// the pid still names that process; on YARN also by their application's tag) and removes
    /// their run directories. Runs at start, before anything is served.
    pub(in crate::sessions) async fn clean_stale_pooled(&self) {
        self.stop_marked(self.work_dir.clone()).await;
    }

    /// Without recovery: marks this server's work directory as its own, then stops the pooled
    /// drivers of servers that died (kill -9, OOM) with theirs left in the same temporary
    /// directory, and removes those directories. Runs at start, before anything is served.
    pub async fn clean_dead_servers(&self) {
        let own = self.work_dir.clone();
        let found = tokio::task::spawn_blocking(move || {
            let pid = std::process::id();
            let owner = detached::start_time(pid).map(|start_time| ProcessRecord {
                pid,
                start_time,
                dir: own.clone(),
            });
            if let Some(owner) = owner {
                let text = serde_json::to_string(&owner).unwrap_or_default();
                if let Err(e) = std::fs::write(own.join(OWNER), text) {
                    tracing::warn!(dir = %own.display(), error = %e, "cannot mark the work directory");
                }
            }
            dead_work_dirs(&own)
        })
        .await
        .unwrap_or_default();
        for dir in found {
            tracing::info!(dir = %dir.display(), "removing the work directory of a server that is gone");
            self.stop_marked(dir.clone()).await;
            let _ = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(dir)).await;
        }
    }

    /// Stops what the pooled markers under `work_dir` name and removes their run directories.
    async fn stop_marked(&self, work_dir: PathBuf) {
        let found = tokio::task::spawn_blocking(move || marked(&work_dir))
            .await
            .unwrap_or_default();
        for (dir, marker) in found {
            let tag = marker.as_ref().map(|m| m.app_tag.clone());
            tracing::info!(dir = %dir.display(), app_tag = tag.as_deref(), "stopping a pooled driver left by an earlier server");
            if let Some(Marker {
                process,
                app_tag,
                proxy_user,
            }) = marker
            {
                if let Some(record) = process {
                    stop_process(&record, self.conf.sessions.process_kill_timeout).await;
                }
                if let Some(monitor) = &self.yarn {
                    if let Err(e) = monitor.kill(&app_tag, None, proxy_user.as_deref()).await {
                        tracing::warn!(app_tag, error = %e, "cannot kill a pooled driver's YARN application");
                    }
                }
            }
            let _ = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(dir)).await;
        }
    }
}

/// SIGTERM to the process tree, SIGKILL after `grace`.
async fn stop_process(record: &ProcessRecord, grace: Duration) {
    detached::signal(record, Signal::SIGTERM);
    let deadline = tokio::time::Instant::now() + grace;
    while record.is_running() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(POLL).await;
    }
    detached::signal(record, Signal::SIGKILL);
}
