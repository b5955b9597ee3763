//! Launching Spark applications for sessions and batches: preparing their conf, building the
//! spark-submit command, and supervising the processes. With `livy.server.yarn.submit = rest` the YARN
//! submission ([`crate::yarn::submit`]) runs instead of spark-submit; callers only see [`Launcher`].

pub mod admission;
pub mod child;
pub mod detached;
pub mod prepare;
pub mod proc_tree;
pub mod redact;
pub mod spark_submit;
pub mod validate;

pub use child::{ChildExit, ChildHandle};
pub use spark_submit::{build_command, LaunchSpec, SparkSubmit};

use crate::conf::LivyConf;
use crate::error::ApiError;
use crate::logs::{ProcessLogs, Stream};
use crate::yarn::submit::{Progress, RestSubmitter, SparkVersion, Submission};
use std::collections::BTreeMap;
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

/// How long a create waits for the RM's scheduler answer before admitting without it: a slow RM
/// must not hold every create for the clients' full request timeout.
const ADMISSION_TIMEOUT: Duration = Duration::from_secs(5);

/// What launching on YARN needs besides spark-submit.
struct YarnLaunch {
    /// The server's shared RM and WebHDFS clients (the admission check asks this RM client).
    cluster: crate::yarn::cluster::Cluster,
    admission_check: bool,
    /// Set with `livy.server.yarn.submit = rest`.
    rest: Option<Arc<RestSubmitter>>,
}

/// Starts and tracks every child process (and REST submission task) of the server.
pub struct Launcher {
    conf: Arc<LivyConf>,
    live: Arc<AtomicUsize>,
    tracker: TaskTracker,
    yarn: Option<YarnLaunch>,
    /// The server's Kerberos login on a secure cluster: children get its private ccache.
    identity: Option<Arc<crate::auth::hadoop::HadoopIdentity>>,
}

impl Launcher {
    /// Fails only when the REST submitter cannot be set up from the Hadoop configuration.
    /// `identity` is the server's Kerberos login on a secure cluster: launches then run with
    /// its credentials (`KRB5CCNAME` of its private ccache) and are refused with the login's
    /// error while it has none. `cluster` is the server's one set of YARN clients (built by
    /// `app::wire` with SPNEGO as that identity), required when the master is yarn.
    pub fn new(
        conf: Arc<LivyConf>,
        identity: Option<Arc<crate::auth::hadoop::HadoopIdentity>>,
        cluster: Option<crate::yarn::cluster::Cluster>,
    ) -> Result<Self, crate::yarn::YarnError> {
        let yarn = match (&conf.yarn, cluster) {
            (Some(settings), Some(cluster)) => {
                let rest = if settings.submit_with_rest {
                    Some(Arc::new(RestSubmitter::new(
                        conf.clone(),
                        settings,
                        &cluster,
                    )?))
                } else {
                    None
                };
                Some(YarnLaunch {
                    cluster,
                    admission_check: settings.admission_check,
                    rest,
                })
            }
            (Some(_), None) => {
                return Err(crate::yarn::YarnError::Invalid(
                    "the master is yarn but no YARN clients were given".into(),
                ))
            }
            (None, _) => None,
        };
        Ok(Launcher {
            conf,
            live: Arc::new(AtomicUsize::new(0)),
            tracker: TaskTracker::new(),
            yarn,
            identity,
        })
    }

    /// The server's YARN clients, when the master is yarn.
    pub fn cluster(&self) -> Option<&crate::yarn::cluster::Cluster> {
        self.yarn.as_ref().map(|y| &y.cluster)
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
            crate::metrics::get().admission_refused("max_creation");
            crate::error::ApiError::BadRequest(
                "Rejected, too many sessions are being created!".into(),
            )
        })?;
        let proxy_user = access.check_impersonation(do_as.or(requested_proxy_user), owner)?;
        Ok((slot, proxy_user))
    }

    /// The checks of a create that need the cluster, before anything is created: the REST
    /// submitter's pre-staged files, then whether the application can ever fit in its queue
    /// (`livy.server.yarn.admission-check`). `conf` is the prepared Spark conf, `queue` the
    /// request's. An RM that cannot answer does not refuse anyone (logged): an outage must not
    /// block users beyond what tracking does.
    pub async fn preflight(
        &self,
        conf: &BTreeMap<String, String>,
        queue: Option<&str>,
        proxy_user: Option<&str>,
    ) -> Result<(), ApiError> {
        let Some(yarn) = &self.yarn else {
            return Ok(());
        };
        let mut merged = self.conf.spark.defaults.clone();
        merged.extend(conf.clone());
        if let Some(rest) = &yarn.rest {
            rest.preflight(&merged, self.proxy_user(proxy_user))
                .await
                .map_err(ApiError::rejected)?;
        }
        if !yarn.admission_check {
            return Ok(());
        }
        let version = self
            .conf
            .spark
            .version
            .as_deref()
            .and_then(SparkVersion::parse)
            .unwrap_or(SparkVersion::V4);
        let ask = admission::resource_ask(&merged, version).map_err(ApiError::rejected)?;
        let queue = queue
            .or(merged.get("spark.yarn.queue").map(String::as_str))
            .unwrap_or("default");
        let checked = tokio::time::timeout(
            ADMISSION_TIMEOUT,
            admission::check_queue(yarn.cluster.rm(), queue, &ask),
        )
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {ADMISSION_TIMEOUT:?}")));
        match checked {
            Ok(Ok(())) => Ok(()),
            Ok(Err(refusal)) => {
                let (reason, why) = match refusal {
                    admission::Refusal::UnknownQueue(why) => ("unknown_queue", why),
                    admission::Refusal::TooBig(why) => ("queue_too_small", why),
                };
                crate::metrics::get().admission_refused(reason);
                tracing::info!(queue, reason = %why, "refusing an application that cannot fit in its YARN queue");
                Err(ApiError::rejected(why))
            }
            Err(problem) => {
                tracing::warn!(queue, error = %problem, "cannot check the queue's capacity; admitting the application");
                Ok(())
            }
        }
    }

    /// The proxy user the launch runs as: only when impersonation is enabled, as spark-submit's
    /// `--proxy-user` is only passed then.
    pub fn proxy_user<'a>(&self, proxy_user: Option<&'a str>) -> Option<&'a str> {
        proxy_user.filter(|_| self.conf.access.impersonation_enabled)
    }

    /// Launches `spec` in a reserved slot: spark-submit as a supervised child, or with
    /// `livy.server.yarn.submit = rest` the native submission as a supervised task that ends
    /// like spark-submit in yarn-cluster mode (success once YARN has the application, failure
    /// with the reason in `logs`), so sessions and batches treat both alike.
    pub fn launch(
        &self,
        slot: Slot,
        spec: LaunchSpec,
        logs: Arc<ProcessLogs>,
        on_exit: Box<dyn FnOnce(&ChildExit) + Send>,
    ) -> std::io::Result<ChildHandle> {
        let Some(rest) = self.yarn.as_ref().and_then(|y| y.rest.clone()) else {
            let command = build_command(&spec, &self.conf);
            return self.start(slot, &command, spec.detach.as_deref(), logs, on_exit);
        };
        if let Some(identity) = &self.identity {
            identity.check().map_err(std::io::Error::other)?;
        }
        let proxy_user = self
            .proxy_user(spec.proxy_user.as_deref())
            .map(String::from);
        let progress = Arc::new(parking_lot::Mutex::new(Progress::default()));
        let work = {
            let (rest, progress, proxy_user) = (rest.clone(), progress.clone(), proxy_user.clone());
            async move {
                match rest
                    .submit(
                        &Submission::from(&spec),
                        proxy_user.as_deref(),
                        &logs,
                        &progress,
                    )
                    .await
                {
                    Ok(app_id) => {
                        tracing::info!(%app_id, "submitted to YARN through the REST API");
                        Ok(())
                    }
                    Err(reason) => {
                        tracing::warn!(error = %reason, "YARN REST submission failed");
                        logs.push(Stream::Stderr, format!("ERROR livy-rs: {reason}"));
                        rest.clean(&progress, proxy_user.as_deref()).await;
                        Err(format!("YARN REST submission failed: {reason}"))
                    }
                }
            }
        };
        let on_kill = async move { rest.clean(&progress, proxy_user.as_deref()).await };
        Ok(child::spawn_task(
            work,
            on_kill,
            slot,
            &self.tracker,
            on_exit,
        ))
    }

    /// Starts a command under supervision, in a reserved slot.
    pub fn start(
        &self,
        slot: Slot,
        cmd: &SparkSubmit,
        detach: Option<&std::path::Path>,
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
        tracing::info!(command = %self.conf.spark.redaction.text(&cmd.display()), "running spark-submit");
        child::spawn(
            cmd,
            detach,
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
