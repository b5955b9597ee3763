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

/// What Livy's `SparkApp.prepareSparkConf` adds for YARN: our unique tag first in
/// `spark.yarn.tags` (so the app can be found), and spark-submit returning once submitted.
/// Sessions also get one attempt only: a second AM would start a driver nobody connects to.
pub fn add_yarn_conf(
    conf: &mut std::collections::BTreeMap<String, String>,
    tag: &str,
    session: bool,
) {
    let tags = match conf.get("spark.yarn.tags") {
        Some(user) if !user.trim().is_empty() => format!("{tag},{user}"),
        _ => tag.to_string(),
    };
    conf.insert("spark.yarn.tags".into(), tags);
    conf.insert("spark.yarn.submit.waitAppCompletion".into(), "false".into());
    if session {
        conf.insert("spark.yarn.maxAppAttempts".into(), "1".into());
    }
}

/// One claimed process slot (see [`Launcher::reserve`]).
#[derive(Debug)]
pub struct Slot {
    live: Arc<AtomicUsize>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.live.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Starts and tracks every child process of the server.
pub struct Launcher {
    conf: Arc<LivyConf>,
    live: Arc<AtomicUsize>,
    tracker: TaskTracker,
    /// The server's Kerberos login on a secure cluster: children get its private ccache.
    identity: Option<Arc<crate::auth::hadoop::HadoopIdentity>>,
}

impl Launcher {
    pub fn new(conf: Arc<LivyConf>) -> Self {
        Launcher {
            conf,
            live: Arc::new(AtomicUsize::new(0)),
            tracker: TaskTracker::new(),
            identity: None,
        }
    }

    /// Launches run with the server's Kerberos credentials (`KRB5CCNAME` of its private ccache),
    /// and are refused with the login's error while it has none.
    pub fn with_identity(
        mut self,
        identity: Option<Arc<crate::auth::hadoop::HadoopIdentity>>,
    ) -> Self {
        self.identity = identity;
        self
    }

    /// Live launcher processes (Livy counts these against `livy.server.session.max-creation`).
    pub fn live_processes(&self) -> usize {
        self.live.load(Ordering::SeqCst)
    }

    /// Claims one of the `livy.server.session.max-creation` process slots, atomically, so
    /// concurrent creates cannot all pass the check; `None` means Livy's "too many" rejection.
    /// The slot is given back when the process it is used for ends, or when it is dropped unused.
    pub fn reserve(&self) -> Option<Slot> {
        let max = self.conf.sessions.max_creation;
        self.live
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| Slot {
                live: self.live.clone(),
            })
    }

    /// What every create checks first, in Livy's order: a free process slot (else Livy's "too
    /// many" 400), then who the application runs as (`doAs` wins over the body's `proxyUser`).
    pub fn admit(
        &self,
        access: &crate::auth::AccessManager,
        requested_proxy_user: Option<&str>,
        owner: Option<&str>,
        do_as: Option<&str>,
    ) -> Result<(Slot, Option<String>), crate::error::ApiError> {
        let slot = self.reserve().ok_or_else(|| {
            crate::error::ApiError::BadRequest(
                "Rejected, too many sessions are being created!".into(),
            )
        })?;
        let proxy_user = access.check_impersonation(do_as.or(requested_proxy_user), owner)?;
        Ok((slot, proxy_user))
    }

    /// Starts a command under supervision, in a reserved slot.
    pub fn start(
        &self,
        slot: Slot,
        cmd: &SparkSubmit,
        logs: Arc<ProcessLogs>,
        on_exit: Box<dyn FnOnce(&ChildExit) + Send>,
    ) -> std::io::Result<ChildHandle> {
        let with_credentials;
        let cmd = match &self.identity {
            Some(identity) => {
                identity.check().map_err(std::io::Error::other)?;
                let mut c = cmd.clone();
                c.env.extend(identity.child_env());
                with_credentials = c;
                &with_credentials
            }
            None => cmd,
        };
        tracing::info!(command = %cmd.display(), "running spark-submit");
        child::spawn(
            cmd,
            logs,
            self.conf.sessions.process_kill_timeout,
            slot,
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
