//! Pooled drivers a crashed server left behind. With recovery on, drivers outlive the server
//! (detached, their run directories under the log dir) so that sessions come back; a pooled
//! driver not yet taken has no record, so no restarted server would adopt it: its process (and
//! on YARN its application) would hold resources until it gave up dialing back. So each pooled
//! driver's run directory holds a marker naming its process and YARN tag, removed when the
//! driver is handed to a session; the next start stops what the markers name and removes
//! those directories.

use crate::launch::detached::{self, ProcessRecord};
use crate::sessions::InteractiveSessions;
use nix::sys::signal::Signal;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

const MARKER: &str = "pooled.json";
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

/// Marks `run_dir` as a pooled driver's (only with recovery: without, the work directory is
/// the server's own temporary directory and its drivers stop with their connection).
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

impl InteractiveSessions {
    /// Stops the pooled drivers an earlier server left (by their process record, only while
    /// the pid still names that process; on YARN also by their application's tag) and removes
    /// their run directories. Runs at start, before anything is served.
    pub(in crate::sessions) async fn clean_stale_pooled(&self) {
        let dir = self.work_dir.clone();
        let found = tokio::task::spawn_blocking(move || marked(&dir))
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
