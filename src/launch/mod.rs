//! Launching Spark applications for sessions and batches: preparing their conf, building the
//! spark-submit command, and supervising the processes. [`yarn_rest`] builds what a native YARN
//! REST submission sends instead of running spark-submit; callers only see [`Launcher`].

pub mod child;
pub mod prepare;
pub mod proc_tree;
pub mod spark_submit;
pub mod yarn_rest;

pub use child::{ChildExit, ChildHandle};
pub use spark_submit::{build_command, LaunchSpec, SparkSubmit};

use crate::conf::LivyConf;
use crate::logs::ProcessLogs;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::task::TaskTracker;

/// Starts and tracks every child process of the server.
pub struct Launcher {
    conf: Arc<LivyConf>,
    live: Arc<AtomicUsize>,
    tracker: TaskTracker,
}

impl Launcher {
    pub fn new(conf: Arc<LivyConf>) -> Self {
        Launcher {
            conf,
            live: Arc::new(AtomicUsize::new(0)),
            tracker: TaskTracker::new(),
        }
    }

    /// Live launcher processes (Livy counts these against `livy.server.session.max-creation`).
    pub fn live_processes(&self) -> usize {
        self.live.load(Ordering::SeqCst)
    }

    /// Whether a new session or batch must be refused.
    pub fn too_many(&self) -> bool {
        self.live_processes() >= self.conf.sessions.max_creation
    }

    /// Starts a command under supervision.
    pub fn start(
        &self,
        cmd: &SparkSubmit,
        logs: Arc<ProcessLogs>,
        on_exit: Box<dyn FnOnce(&ChildExit) + Send>,
    ) -> std::io::Result<ChildHandle> {
        tracing::info!(command = %cmd.display(), "running spark-submit");
        child::spawn(
            cmd,
            logs,
            self.conf.sessions.process_kill_timeout,
            self.live.clone(),
            &self.tracker,
            on_exit,
        )
    }

    /// Waits for every supervisor and reader task to finish, up to `deadline`.
    pub async fn drain(&self, deadline: Duration) -> bool {
        self.tracker.close();
        tokio::time::timeout(deadline, self.tracker.wait())
            .await
            .is_ok()
    }
}
