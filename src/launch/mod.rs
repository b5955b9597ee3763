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
///
/// livy-rs also adds the server tag right after the unique tag (see [`crate::yarn::server_tag`]),
/// unless the user's own tags leave no room under YARN's limit of tags per app: the app is then
/// still found by its unique tag, only not by the one-request listing.
pub fn add_yarn_conf(
    conf: &mut std::collections::BTreeMap<String, String>,
    tag: &str,
    server_tag: Option<&str>,
    session: bool,
) {
    let user = conf.get("spark.yarn.tags").map(|t| t.trim()).unwrap_or("");
    let user_tags: std::collections::BTreeSet<String> = user
        .split(',')
        .map(|t| t.trim().to_lowercase())
        .filter(|t| !t.is_empty())
        .collect();
    let mut tags = vec![tag.to_string()];
    if let Some(server) = server_tag {
        let server = server.to_lowercase();
        if !user_tags.contains(&server) && user_tags.len() + 2 <= crate::yarn::server_tag::MAX_TAGS
        {
            tags.push(server);
        }
    }
    if !user.is_empty() {
        tags.push(user.to_string());
    }
    conf.insert("spark.yarn.tags".into(), tags.join(","));
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

#[cfg(test)]
mod tests {
    use super::add_yarn_conf;
    use std::collections::BTreeMap;

    fn tags(user: Option<&str>, server: Option<&str>) -> String {
        let mut conf = BTreeMap::new();
        if let Some(u) = user {
            conf.insert("spark.yarn.tags".to_string(), u.to_string());
        }
        add_yarn_conf(&mut conf, "livy-batch-1-abc", server, false);
        conf["spark.yarn.tags"].clone()
    }

    #[test]
    fn unique_tag_first_then_the_server_tag_then_the_users() {
        assert_eq!(tags(None, None), "livy-batch-1-abc");
        assert_eq!(
            tags(None, Some("Livy-Server-H-8998")),
            "livy-batch-1-abc,livy-server-h-8998"
        );
        assert_eq!(
            tags(Some("team-a, nightly"), Some("livy-server-h-8998")),
            "livy-batch-1-abc,livy-server-h-8998,team-a, nightly"
        );
        // Already among the user's tags: not twice.
        assert_eq!(
            tags(Some("livy-server-h-8998"), Some("livy-server-h-8998")),
            "livy-batch-1-abc,livy-server-h-8998"
        );
    }

    #[test]
    fn the_server_tag_never_pushes_an_app_over_yarns_tag_limit() {
        let eight: Vec<String> = (0..8).map(|i| format!("t{i}")).collect();
        let with = tags(Some(&eight.join(",")), Some("srv"));
        assert_eq!(with.split(',').count(), 10);
        assert!(with.starts_with("livy-batch-1-abc,srv,"));
        let nine: Vec<String> = (0..9).map(|i| format!("t{i}")).collect();
        let without = tags(Some(&nine.join(",")), Some("srv"));
        assert_eq!(without, format!("livy-batch-1-abc,{}", nine.join(",")));
    }
}
