//! Batches: one spark-submit run per batch, from `starting` through `running` to `success`,
//! `dead` or `killed`. [`Batches`] owns every batch; each batch's process is owned by its
//! supervisor task (see `launch::child`), which reports the end back here.

pub mod recover;
pub mod request;

pub use request::CreateBatchRequest;

use crate::auth::AccessManager;
use crate::conf::LivyConf;
use crate::error::ApiError;
use crate::launch::prepare::{launch_conf, resolve_uri};
use crate::launch::{ChildExit, LaunchSpec, Launcher};
use crate::logs::ProcessLogs;
use crate::sessions::lifecycle::{self, Lifecycle, Lived, Of, Opening};
use crate::sessions::{AppInfo, Entry, Registry, SessionState};
use crate::yarn::monitor::{diagnostics_lines, AppListener, AppMonitor, LivyAppState};
use crate::yarn::AppReport;
use rand::distributions::Alphanumeric;
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

/// Lines of log shown in a batch's view (Livy shows the last 10).
const VIEW_LOG_LINES: usize = 10;

/// One batch.
pub struct Batch {
    pub id: u32,
    pub name: Option<String>,
    pub owner: Option<String>,
    pub proxy_user: Option<String>,
    /// The unique tag the application carries (`livy-batch-<id>-<random>`), used to find it in YARN.
    pub app_tag: String,
    pub request: CreateBatchRequest,
    pub logs: Arc<ProcessLogs>,
    /// Runs on YARN: the app's state comes from the ResourceManager, not spark-submit's exit.
    pub on_yarn: bool,
    /// State, application, process and record (shared with sessions).
    pub(crate) life: Lifecycle,
    created_ms: i64,
    /// What its record carries for rolling upgrades (fields of a newer livy-rs are kept).
    pub(crate) upgrade: crate::recovery::Upgrade,
}

/// A batch as clients see it (Livy's `BatchSessionView`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BatchView {
    pub id: u32,
    pub name: Option<String>,
    pub owner: Option<String>,
    pub proxy_user: Option<String>,
    pub state: SessionState,
    pub app_id: Option<String>,
    pub app_info: AppInfo,
    pub log: Vec<String>,
}

/// What is persisted about a batch for recovery (`v1/batch/<id>`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BatchRecord {
    pub id: u32,
    pub name: Option<String>,
    pub owner: Option<String>,
    pub proxy_user: Option<String>,
    pub app_tag: String,
    pub app_id: Option<String>,
    #[serde(default)]
    pub app_info: AppInfo,
    pub state: SessionState,
    pub request: CreateBatchRequest,
    /// The local spark-submit, when it may still run after a restart.
    #[serde(default)]
    pub process: Option<crate::launch::detached::ProcessRecord>,
    #[serde(default)]
    pub created_ms: i64,
    #[serde(default)]
    pub finished_ms: Option<i64>,
    /// Why it ended, as shown after the log (diagnostics).
    #[serde(default)]
    pub diagnostics: Vec<String>,
    /// The format version, and fields of a newer livy-rs (kept when this one rewrites it).
    #[serde(flatten)]
    pub upgrade: crate::recovery::Upgrade,
}

impl crate::recovery::Recordable for Batch {
    fn records(&self, key: &str) -> Vec<(String, Option<Vec<u8>>)> {
        serde_json::to_vec(&self.record())
            .map(|bytes| vec![(key.to_string(), Some(bytes))])
            .unwrap_or_default()
    }
}

impl AppListener for Batch {
    fn app_report(&self, report: &AppReport) {
        let diagnostics = diagnostics_lines(report);
        if !diagnostics.is_empty() {
            self.logs.set_diagnostics(diagnostics);
        }
        let to = match self.life.app_report(report) {
            LivyAppState::Starting => return,
            LivyAppState::Running => SessionState::Running,
            LivyAppState::Finished => SessionState::Success,
            LivyAppState::Failed => SessionState::Dead,
            LivyAppState::Killed => SessionState::Killed,
        };
        self.life.transition(to);
    }

    fn lookup_timed_out(&self, timeout: Duration) {
        self.logs.set_diagnostics(vec![format!(
            "\n{}",
            lookup_timeout_message(&self.app_tag, timeout)
        )]);
        self.life.transition(SessionState::Dead);
    }
}

/// Livy's message when an application never shows up in YARN.
pub fn lookup_timeout_message(tag: &str, timeout: Duration) -> String {
    format!(
        "No YARN application is found with tag {tag} in {} seconds. This may be because 1) spark-submit fail to submit application to YARN; or 2) YARN cluster doesn't have enough resources to start the application in time. Please check Livy log and YARN log to know the details.",
        timeout.as_secs()
    )
}

impl Entry for Batch {
    fn id(&self) -> u32 {
        self.id
    }
    fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }
}

impl Lived for Batch {
    fn life(&self) -> &Lifecycle {
        &self.life
    }
    fn logs(&self) -> &ProcessLogs {
        &self.logs
    }
    fn app_tag(&self) -> &str {
        &self.app_tag
    }
}

impl Batch {
    pub fn state(&self) -> SessionState {
        self.life.state()
    }

    /// The view; `show_log` is false for callers without view access.
    pub fn view(&self, show_log: bool) -> BatchView {
        let (state, app, _) = self.life.snapshot();
        BatchView {
            id: self.id,
            name: self.name.clone(),
            owner: self.owner.clone(),
            proxy_user: self.proxy_user.clone(),
            state,
            app_id: app.id,
            app_info: app.info,
            log: if show_log {
                self.logs.tail(VIEW_LOG_LINES)
            } else {
                Vec::new()
            },
        }
    }

    /// When the batch was created and, once it ended, when that was (epoch ms).
    pub fn created_and_finished_ms(&self) -> (i64, Option<i64>) {
        let (_, _, finished_at) = self.life.snapshot();
        (self.created_ms, finished_at.map(crate::recovery::ms_of))
    }

    pub fn record(&self) -> BatchRecord {
        let (state, app, finished_at) = self.life.snapshot();
        BatchRecord {
            id: self.id,
            name: self.name.clone(),
            owner: self.owner.clone(),
            proxy_user: self.proxy_user.clone(),
            app_tag: self.app_tag.clone(),
            app_id: app.id,
            app_info: app.info,
            state,
            request: self.request.clone(),
            process: self.life.child().and_then(|c| c.detached.clone()),
            created_ms: self.created_ms,
            finished_ms: finished_at.map(crate::recovery::ms_of),
            diagnostics: self.logs.diagnostics(),
            upgrade: self.upgrade.rewritten(),
        }
    }

    fn on_exit(&self, exit: &ChildExit) {
        if self.on_yarn {
            // spark-submit only submits; a failure before YARN knew the app is the batch's end.
            let submitted = self.life.app_id().is_some();
            if !exit.killed && !exit.success() && !submitted {
                self.logs
                    .set_diagnostics(vec![format!("\nlivy-rs: {}", exit.summary())]);
                self.life.transition(SessionState::Dead);
            }
            return;
        }
        let state = if exit.killed {
            SessionState::Killed
        } else if exit.success() {
            SessionState::Success
        } else {
            self.logs
                .set_diagnostics(vec![format!("\nlivy-rs: {}", exit.summary())]);
            SessionState::Dead
        };
        self.life.transition(state);
    }

    /// Kills the process tree (if running) and waits until it is reaped.
    pub async fn stop(&self) {
        if let Some(child) = self.life.child() {
            if !child.has_exited() {
                child.kill();
            }
            child.wait().await;
        }
    }
}

/// Every batch of the server.
pub struct Batches {
    registry: Registry<Batch>,
    yarn: Option<Arc<AppMonitor>>,
    conf: Arc<LivyConf>,
    launcher: Arc<Launcher>,
    access: Arc<AccessManager>,
    recovery: Option<Arc<crate::recovery::Recovery>>,
    /// With recovery on: each batch's output and exit files, under the log dir so they survive.
    run_dir: std::path::PathBuf,
}

impl Batches {
    pub fn new(
        conf: Arc<LivyConf>,
        launcher: Arc<Launcher>,
        access: Arc<AccessManager>,
        yarn: Option<Arc<AppMonitor>>,
        recovery: Option<Arc<crate::recovery::Recovery>>,
    ) -> Self {
        Batches {
            registry: Registry::default(),
            yarn,
            run_dir: conf.paths.log_dir.join("batches"),
            conf,
            launcher,
            access,
            recovery,
        }
    }

    /// A new batch's lifecycle, recorded when recovery is on.
    fn lifecycle(&self, id: u32, me: Weak<Batch>) -> Lifecycle {
        let persist = self.recovery.as_ref().map(|r| {
            crate::recovery::Persist::new(
                r.clone(),
                crate::recovery::key(crate::recovery::BATCH, id),
                me as Weak<dyn crate::recovery::Recordable>,
            )
        });
        Lifecycle::new(Of::Batch, id, SessionState::Starting, persist)
    }

    pub fn registry(&self) -> &Registry<Batch> {
        &self.registry
    }

    /// Looks a batch up by id or name; Livy's 404 otherwise.
    pub fn get(&self, id_or_name: &str) -> Result<Arc<Batch>, ApiError> {
        self.registry
            .get(id_or_name)
            .ok_or_else(|| ApiError::session_not_found(id_or_name))
    }

    /// Validates a request (on YARN also against the cluster: pre-staged files, queue capacity),
    /// then launches it. Nothing changes unless it is accepted.
    pub async fn create(
        &self,
        request: CreateBatchRequest,
        owner: Option<String>,
        do_as: Option<String>,
    ) -> Result<Arc<Batch>, ApiError> {
        let (slot, proxy_user) = self.launcher.admit(
            &self.access,
            request.proxy_user.as_deref(),
            owner.as_deref(),
            do_as.as_deref(),
        )?;
        crate::launch::validate::text_field("className", request.class_name.as_deref())
            .map_err(ApiError::rejected)?;
        let mut conf = launch_conf(&request, &self.conf).map_err(ApiError::rejected)?;
        let file = match request.file.as_deref() {
            Some(f) if !f.is_empty() => resolve_uri(f, &self.conf).map_err(ApiError::rejected)?,
            _ => return Err(ApiError::rejected("requirement failed: File is required.")),
        };
        let fields = request.args.iter().map(|a| ("args", a.as_str()));
        let named = [
            ("className", request.class_name.as_deref()),
            ("name", request.name.as_deref()),
        ];
        crate::launch::validate::command_line(
            &conf,
            fields
                .chain([("file", file.as_str())])
                .chain(named.iter().filter_map(|(f, v)| Some((*f, (*v)?)))),
        )
        .map_err(ApiError::rejected)?;
        self.launcher
            .preflight(&conf, request.queue.as_deref(), proxy_user.as_deref())
            .await?;

        let reservation = crate::ha::ids::reserve(
            self.recovery.as_ref().and_then(|r| r.ha()),
            &self.registry,
            crate::recovery::BATCH,
            request.name.as_deref(),
        )
        .await?;
        let id = reservation.id;
        let app_tag = format!("livy-batch-{id}-{}", random_tag()).to_lowercase();
        if let Some(monitor) = &self.yarn {
            crate::launch::add_yarn_conf(&mut conf, &app_tag, monitor.server_tag(), false);
        }
        let spec = LaunchSpec {
            conf,
            proxy_user: proxy_user.clone(),
            class_name: request.class_name.clone(),
            name: request.name.clone(),
            queue: request.queue.clone(),
            file: Some(file),
            args: request.args.clone(),
            env: Vec::new(),
            detach: self
                .recovery
                .as_ref()
                .map(|_| self.run_dir.join(format!("batch-{id}-{}", random_tag()))),
        };
        let batch = Arc::new_cyclic(|me: &Weak<Batch>| Batch {
            id,
            name: request.name.clone(),
            owner,
            proxy_user,
            app_tag,
            request,
            logs: Arc::new(
                ProcessLogs::new(self.conf.sessions.cache_log_size)
                    .redacting(self.conf.spark.redaction.clone()),
            ),
            on_yarn: self.yarn.is_some(),
            life: self.lifecycle(id, me.clone()),
            created_ms: crate::statements::now_ms(),
            upgrade: Default::default(),
        });
        tracing::info!(batch_id = id, owner = ?batch.owner, "creating batch");

        let weak: Weak<Batch> = Arc::downgrade(&batch);
        let on_exit = Box::new(move |exit: &ChildExit| {
            if let Some(batch) = weak.upgrade() {
                tracing::info!(batch_id = batch.id, exit = %exit.describe(), killed = exit.killed, "spark-submit ended");
                batch.on_exit(exit);
            }
        });
        let launched = self
            .launcher
            .launch(slot, spec, batch.logs.clone(), on_exit);
        let started_as = (self.yarn.is_none()).then_some(SessionState::Running);
        lifecycle::open(
            &batch,
            launched,
            Opening {
                registry: &self.registry,
                reservation,
                started_as,
                yarn: self.yarn.as_deref(),
                recovery: self
                    .recovery
                    .as_deref()
                    .map(|r| (r, crate::recovery::BATCH)),
                spark_submit: &self.conf.spark.spark_submit(),
            },
        )
        .await;
        Ok(batch)
    }

    /// Stops a batch's process tree and forgets it (Livy's `SessionManager.delete`).
    pub async fn delete(&self, batch: &Arc<Batch>) {
        tracing::info!(batch_id = batch.id, "deleting batch");
        batch.stop().await;
        if let Some(monitor) = &self.yarn {
            if !batch.state().is_finished() {
                let app_id = batch.life.app_id();
                if let Err(e) = monitor
                    .kill(
                        &batch.app_tag,
                        app_id.as_deref(),
                        batch.proxy_user.as_deref(),
                    )
                    .await
                {
                    tracing::warn!(batch_id = batch.id, error = %e, "cannot kill the batch's YARN application");
                }
            }
        }
        batch.life.transition(SessionState::Killed);
        crate::ha::ids::released(self.forget(batch)).await;
    }

    /// Removes a batch from the registry and its record from the store. Returns the release
    /// of its id in active/active (see `crate::ha::ids::release`), for a DELETE to wait for.
    fn forget(&self, batch: &Batch) -> Option<tokio::task::JoinHandle<()>> {
        self.registry.remove(batch.id);
        batch.life.forget_record();
        let release = self.recovery.as_ref().and_then(|recovery| {
            crate::ha::ids::release(
                recovery,
                crate::recovery::BATCH,
                batch.id,
                batch.name.clone(),
            )
        });
        if let Some(dir) = batch
            .life
            .child()
            .and_then(|c| c.detached.as_ref().map(|d| d.dir.clone()))
        {
            tokio::task::spawn_blocking(move || std::fs::remove_dir_all(dir));
        }
        release
    }

    /// Drops batches that finished more than `livy.server.session.state-retain.sec` ago.
    pub fn collect_garbage(&self, now: Instant) {
        let retain = self.conf.sessions.state_retain;
        for batch in self.registry.all() {
            if batch.life.finished_longer_than(retain, now) {
                tracing::info!(
                    batch_id = batch.id,
                    "forgetting finished batch after state-retain time"
                );
                self.forget(&batch);
            }
        }
    }

    /// On server stop without recovery: kill every running batch and wait for them. With
    /// recovery they keep running, and the next server adopts them.
    pub async fn shutdown(&self) {
        if self.recovery.is_some() {
            return;
        }
        let all = self.registry.all();
        futures::future::join_all(all.iter().map(|b| b.stop())).await;
    }
}

/// Eight random lowercase alphanumerics, as Livy's app tags carry.
pub(crate) fn random_tag() -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(8)
        .map(char::from)
        .collect()
}
