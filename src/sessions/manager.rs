//! Every interactive session of the server: creation (checks, then spark-submit of our driver),
//! lookup, deletion, the idle/TTL/heartbeat garbage collector, and shutdown.

use super::interactive::{LinkCommand, NewSession, Session};
use super::lifecycle::{self, Opening};
use super::request::{CreateSessionRequest, Kind};
use super::{Registry, SessionState};
use crate::auth::AccessManager;
use crate::conf::{units, LivyConf};
use crate::driver::channel::{random_hex, ChannelServer};
use crate::driver::{self, link};
use crate::error::ApiError;
use crate::launch::prepare::launch_conf;
use crate::launch::{ChildExit, LaunchSpec, Launcher};
use crate::yarn::monitor::AppMonitor;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::Weak;
use std::time::{Duration, Instant};
use tokio::sync::OnceCell;
use tokio_util::task::TaskTracker;

/// How long a driver gets to stop Spark after `shutdown` before its process tree is killed.
const DRIVER_SHUTDOWN_GRACE: Duration = Duration::from_secs(15);

/// Whom a driver process's exit is told to (the pool changes it when it hands a driver over).
pub(super) type ExitTarget = Arc<parking_lot::Mutex<Weak<Session>>>;

/// What a driver is started with.
pub(super) struct Start {
    pub slot: crate::launch::Slot,
    pub request: CreateSessionRequest,
    pub conf: std::collections::BTreeMap<String, String>,
    pub owner: Option<String>,
    pub proxy_user: Option<String>,
    pub ttl: Option<Duration>,
    pub idle_timeout: Option<Duration>,
    pub reservation: super::Reservation,
    /// For the warm pool (its profile's name): no recovery record, not listed.
    pub pooled: Option<String>,
}

/// A driver whose spark-submit was asked to start.
pub(super) struct Launched {
    pub session: Arc<Session>,
    pub commands: super::interactive::Commands,
    pub connection: tokio::sync::oneshot::Receiver<crate::driver::channel::DriverConnection>,
    pub child: std::io::Result<crate::launch::ChildHandle>,
    pub reservation: super::Reservation,
    pub exit_to: ExitTarget,
}

/// A request's `ttl` and `idleTimeout`, checked (Livy's message for a bad one).
pub(super) fn timeouts(
    request: &CreateSessionRequest,
) -> Result<(Option<Duration>, Option<Duration>), ApiError> {
    let parse = |v: &Option<String>| -> Result<Option<Duration>, ApiError> {
        v.as_deref()
            .map(|t| {
                units::parse_duration(t)
                    .map_err(|_| ApiError::rejected(format!("Invalid time string: {t}")))
            })
            .transpose()
    };
    Ok((parse(&request.ttl)?, parse(&request.idle_timeout)?))
}

/// All interactive sessions.
pub struct InteractiveSessions {
    pub(super) registry: Registry<Session>,
    pub(super) conf: Arc<LivyConf>,
    pub(super) launcher: Arc<Launcher>,
    pub(super) access: Arc<AccessManager>,
    /// The driver channel and the driver program on disk, set up on first use so a server that
    /// only runs batches opens no extra port.
    pub(super) channel: OnceCell<(Arc<ChannelServer>, PathBuf)>,
    pub(super) work_dir: PathBuf,
    pub(super) tasks: TaskTracker,
    pub(super) yarn: Option<Arc<AppMonitor>>,
    pub(super) recovery: Option<Arc<crate::recovery::Recovery>>,
    /// The warm pool of drivers (`livy.server.session.pool.*`), when configured.
    pub(super) pool: Option<super::pool::Pool>,
}

impl InteractiveSessions {
    pub fn new(
        conf: Arc<LivyConf>,
        launcher: Arc<Launcher>,
        access: Arc<AccessManager>,
        work_dir: PathBuf,
        yarn: Option<Arc<AppMonitor>>,
        recovery: Option<Arc<crate::recovery::Recovery>>,
    ) -> Self {
        // With recovery, run dirs (driver output, exit code) must outlive this process.
        let work_dir = if recovery.is_some() {
            conf.paths.log_dir.join("sessions")
        } else {
            work_dir
        };
        InteractiveSessions {
            recovery,
            registry: Registry::default(),
            pool: conf.pool.as_ref().map(|p| super::pool::Pool::new(p, &conf)),
            conf,
            launcher,
            access,
            channel: OnceCell::new(),
            work_dir,
            tasks: TaskTracker::new(),
            yarn,
        }
    }

    pub fn registry(&self) -> &Registry<Session> {
        &self.registry
    }

    pub fn get(&self, id_or_name: &str) -> Result<Arc<Session>, ApiError> {
        self.registry
            .get(id_or_name)
            .ok_or_else(|| ApiError::session_not_found(id_or_name))
    }

    /// Validates a request, then launches its driver — or hands it a ready driver of the warm
    /// pool when the pool can serve it (see [`super::pool`]). Nothing changes unless it is
    /// accepted.
    pub async fn create(
        &self,
        request: CreateSessionRequest,
        owner: Option<String>,
        do_as: Option<String>,
    ) -> Result<Arc<Session>, ApiError> {
        if let Some(session) = self
            .take_pooled(&request, owner.as_deref(), do_as.as_deref())
            .await?
        {
            return Ok(session);
        }
        let (slot, proxy_user) = self.launcher.admit(
            &self.access,
            request.proxy_user.as_deref(),
            owner.as_deref(),
            do_as.as_deref(),
        )?;
        let (ttl, idle_timeout) = timeouts(&request)?;
        if request.kind == Kind::Sparkr {
            return Err(ApiError::rejected(SPARKR_UNSUPPORTED));
        }
        let conf = launch_conf(&request, &self.conf).map_err(ApiError::rejected)?;
        self.launcher
            .preflight(&conf, request.queue.as_deref(), proxy_user.as_deref())
            .await?;
        let reservation = crate::ha::ids::reserve(
            self.recovery.as_ref().and_then(|r| r.ha()),
            &self.registry,
            crate::recovery::INTERACTIVE,
            request.name.as_deref(),
        )
        .await?;
        let (id, name) = (reservation.id, request.name.clone());
        let started = self
            .start_driver(Start {
                slot,
                request,
                conf,
                owner,
                proxy_user,
                ttl,
                idle_timeout,
                reservation,
                pooled: None,
            })
            .await;
        let Launched {
            session,
            commands,
            connection,
            child,
            reservation,
            ..
        } = match started {
            Ok(launched) => launched,
            Err(e) => {
                // No record was written: in active/active the id's name and ownership go
                // too (the id itself stays used), as its registry reservation went.
                if let Some(ha) = self.recovery.as_ref().and_then(|r| r.ha()) {
                    crate::ha::ids::abandon(ha, crate::recovery::INTERACTIVE, id, name.as_deref())
                        .await;
                }
                return Err(e);
            }
        };
        lifecycle::open(
            &session,
            child,
            Opening {
                registry: &self.registry,
                reservation,
                started_as: Some(SessionState::Starting),
                yarn: self.yarn.as_deref(),
                recovery: self
                    .recovery
                    .as_deref()
                    .map(|r| (r, crate::recovery::INTERACTIVE)),
                spark_submit: &self.conf.spark.spark_submit(),
            },
        )
        .await;
        // The link runs once the session is listed as starting (or dead).
        self.run_link(&session, commands, connection).await?;
        Ok(session)
    }

    /// Writes a driver's config and starts its spark-submit, for a new session or the pool.
    /// The caller lists the session (or pools it) and then runs its link.
    pub(super) async fn start_driver(&self, start: Start) -> Result<Launched, ApiError> {
        let Start {
            slot,
            request,
            mut conf,
            owner,
            proxy_user,
            ttl,
            idle_timeout,
            reservation,
            pooled,
        } = start;
        let (channel, program) = match self.channel().await {
            Ok(c) => c,
            Err(e) => {
                self.registry.release(reservation);
                return Err(e);
            }
        };
        let id = reservation.id;
        let run_dir = self
            .work_dir
            .join(format!("session-{id}-{}", random_hex(4)));
        let secret = random_hex(32);
        let config_path = run_dir.join("config.json");
        let rsc = &self.conf.rsc;
        let jobs_jar = driver::jobs_jar();
        let config = serde_json::json!({
            "session_id": id,
            "server": channel.advertised,
            "fingerprint": channel.fingerprint,
            "secret": secret,
            "kind": request.kind.as_str(),
            "max_message_bytes": rsc.max_message,
            "sql_num_rows": rsc.sql_num_rows,
            "output_cap_bytes": rsc.output_max,
            "job_cancel_trigger_interval_ms": rsc.job_cancel_trigger.as_millis() as u64,
            // On YARN the helper travels with the app (below) into the container's directory.
            "jobs_jar": jobs_jar.as_ref().map(|jar| if self.yarn.is_some() {
                driver::JOBS_JAR.into()
            } else {
                jar.display().to_string()
            }),
            // With recovery a driver that loses the server keeps its SparkContext and dials
            // back for this long (Livy's livy.rsc.server.idle-timeout); without, it stops.
            "redial_seconds": self.recovery.as_ref().map_or(0, |r| r.conf.driver_redial.as_secs()),
            // Active/active: every server's channel, to dial back to when this one is gone.
            "servers": self.recovery.as_ref().and_then(|r| r.ha()).map(|ha| {
                let mut all: Vec<String> = ha.members().into_values().map(|m| m.channel).collect();
                all.retain(|c| c != &channel.advertised);
                all.insert(0, channel.advertised.clone());
                all
            }),
        });
        if let Err(e) = write_private(&run_dir, &config_path, &config.to_string()) {
            self.registry.release(reservation);
            return Err(ApiError::Internal(
                e.context("cannot write the session's driver config"),
            ));
        }
        let app_tag = format!("livy-session-{id}-{}", crate::batches::random_tag()).to_lowercase();
        // On YARN the driver runs in the cluster: its config, its package (one zip, see
        // driver::program), the Scala bridge and the Java helper travel with the app (YARN
        // localizes spark.files into the container's directory, where the program runs), and
        // the config is named relative to it.
        let config_arg = if let Some(monitor) = &self.yarn {
            crate::launch::add_yarn_conf(&mut conf, &app_tag, monitor.server_tag(), true);
            let bridge = program.with_file_name(driver::SCALA_BRIDGE_FILE);
            let package = program.with_file_name(driver::DRIVER_PACKAGE_ZIP);
            let mut shipped = format!(
                "file://{},file://{},file://{}",
                config_path.display(),
                package.display(),
                bridge.display()
            );
            // The Java helper of `jobType: "spark"` jobs (named by its file name in the config).
            if let Some(jar) = &jobs_jar {
                shipped.push_str(&format!(",file://{}", jar.display()));
            }
            let files = match conf.get("spark.files") {
                Some(existing) if !existing.is_empty() => format!("{existing},{shipped}"),
                _ => shipped,
            };
            conf.insert("spark.files".into(), files);
            "config.json".to_string()
        } else {
            config_path.display().to_string()
        };
        let spec = LaunchSpec {
            conf,
            proxy_user: proxy_user.clone(),
            class_name: None,
            name: Some(
                request
                    .name
                    .clone()
                    .unwrap_or_else(|| format!("livy-session-{id}")),
            ),
            queue: request.queue.clone(),
            file: Some(program.display().to_string()),
            args: vec![config_arg],
            env: Vec::new(),
            detach: self.recovery.as_ref().map(|_| run_dir.join("process")),
        };
        let (session, commands) = Session::new(NewSession {
            id,
            app_tag,
            on_yarn: self.yarn.is_some(),
            staging: self.staging(proxy_user.as_deref()),
            owner,
            proxy_user,
            request,
            ttl,
            idle_timeout,
            run_dir,
            log_lines: self.conf.sessions.cache_log_size,
            retained_statements: rsc.retained_statements,
            secret: secret.clone(),
            // A pooled driver has no record until it is taken (its taker's session has one).
            recovery: self.recovery.clone().filter(|_| pooled.is_none()),
            created_ms: crate::statements::now_ms(),
            redaction: self.conf.spark.redaction.clone(),
            logs: None,
        });
        if let Some(profile) = &pooled {
            tracing::info!(
                pooled_id = id,
                profile = profile.as_str(),
                proxy_user = ?session.proxy_user,
                kind = session.kind.as_str(),
                "starting a pooled driver"
            );
        } else {
            tracing::info!(session_id = id, kind = session.kind.as_str(), owner = ?session.owner, "creating session");
        }
        self.clean_staging_when_ended(&session);
        let connection = channel.expect(id, secret);
        // Whom the process's exit is told to: the pool hands the driver to another session.
        let exit_to: ExitTarget = Arc::new(parking_lot::Mutex::new(Arc::downgrade(&session)));
        let target = exit_to.clone();
        let on_exit = Box::new(move |exit: &ChildExit| {
            let session = target.lock().upgrade();
            if let Some(session) = session {
                session.command(LinkCommand::Exited(exit.clone()));
            }
        });
        let child = self
            .launcher
            .launch(slot, spec, session.logs.clone(), on_exit);
        if child.is_err() {
            channel.forget(id);
        }
        Ok(Launched {
            session,
            commands,
            connection,
            child,
            reservation,
            exit_to,
        })
    }

    /// Starts the task that carries the session's statements to its driver.
    pub(super) async fn run_link(
        &self,
        session: &Arc<Session>,
        commands: super::interactive::Commands,
        connection: tokio::sync::oneshot::Receiver<crate::driver::channel::DriverConnection>,
    ) -> Result<(), ApiError> {
        let (channel, _) = self.channel().await?;
        let rsc = &self.conf.rsc;
        self.tasks.spawn(link::run(
            session.clone(),
            commands,
            connection,
            link::Settings {
                connect_timeout: rsc.connect_timeout,
                max_message: rsc.max_message,
                output_max: rsc.output_max,
                cancel_timeout: rsc.job_cancel_timeout,
                addition_timeout: crate::driver::link::ADDITION_TIMEOUT,
                channel: channel.clone(),
                resume: false,
                servers: self.driver_servers(),
            },
        ));
        Ok(())
    }

    /// Active/active: the live servers' driver channels, for a session's link to tell its driver.
    pub(super) fn driver_servers(&self) -> Option<link::Servers> {
        let ha = self.recovery.as_ref().and_then(|r| r.ha())?;
        Some(ha.driver_channels())
    }

    /// On YARN: the staging directory of a session's uploads, as the proxy user when
    /// impersonating (as the launch runs).
    pub(super) fn staging(&self, proxy_user: Option<&str>) -> Option<Arc<super::staging::Staging>> {
        let cluster = self.launcher.cluster()?;
        let root = self
            .conf
            .yarn
            .as_ref()
            .and_then(|y| y.session_staging_dir.clone());
        let proxy_user = self.launcher.proxy_user(proxy_user).map(String::from);
        Some(Arc::new(super::staging::Staging::new(
            cluster.clone(),
            root,
            proxy_user,
        )))
    }

    /// Deletes the session's staging directory once the session ends, whichever way it ends
    /// (deleted, killed, idle timeout, dead).
    pub(super) fn clean_staging_when_ended(&self, session: &Arc<Session>) {
        let Some(staging) = session.staging.clone() else {
            return;
        };
        let session = session.clone();
        self.tasks.spawn(async move {
            session.ended().await;
            staging.clean(session.id).await;
        });
    }

    /// Stops a session's driver (politely, then by killing its process tree) and forgets it.
    pub async fn delete(&self, session: &Arc<Session>) {
        tracing::info!(session_id = session.id, "deleting session");
        self.stop(session).await;
        self.registry.remove(session.id);
        let mut release = None;
        if let Some(p) = session.life.persist() {
            p.forget();
            p.recovery()
                .remove(crate::recovery::statements_key(session.id));
            release = crate::ha::ids::release(
                p.recovery(),
                crate::recovery::INTERACTIVE,
                session.id,
                session.name.clone(),
            );
        }
        remove_run_dir(session).await;
        crate::ha::ids::released(release).await;
    }

    /// Stops the driver, leaving the session listed as killed.
    pub async fn stop(&self, session: &Arc<Session>) {
        if !session.state().is_finished() {
            session.set_state(SessionState::ShuttingDown);
        }
        session.command(LinkCommand::Shutdown);
        if let Some(child) = session.child() {
            if tokio::time::timeout(DRIVER_SHUTDOWN_GRACE, child.wait())
                .await
                .is_err()
            {
                tracing::warn!(
                    session_id = session.id,
                    "driver did not stop in time; killing it"
                );
                child.kill();
                child.wait().await;
            }
        }
        if let Some(monitor) = &self.yarn {
            let (_, app, _) = session.life.snapshot();
            let (app_id, final_seen) = (app.id, app.yarn_final);
            if !final_seen {
                if let Err(e) = monitor
                    .kill(
                        &session.app_tag,
                        app_id.as_deref(),
                        session.proxy_user.as_deref(),
                    )
                    .await
                {
                    tracing::warn!(session_id = session.id, error = %e, "cannot kill the session's YARN application");
                }
            }
        }
        session
            .runtime
            .lock()
            .statements
            .abandon("the session was stopped", crate::statements::now_ms());
        session.set_state(SessionState::Killed);
    }

    /// Stops sessions that are idle, past their TTL, without heartbeat, or long finished.
    pub fn collect_garbage(self: &Arc<Self>, now: Instant) {
        for session in self.registry.all() {
            // One delete per session, however many ticks it takes.
            let expired = session.expired(&self.conf.sessions, now);
            if let Some(reason) = expired.filter(|_| session.claim_gc()) {
                tracing::info!(session_id = session.id, %reason, "deleting session");
                let this = self.clone();
                self.tasks.spawn(async move { this.delete(&session).await });
            }
        }
    }

    /// On server stop without recovery: stop every session. With recovery drivers keep running
    /// and dial back to the next server.
    pub async fn shutdown(&self) {
        self.stop_pool().await;
        if self.recovery.is_some() {
            return;
        }
        let all = self.registry.all();
        futures::future::join_all(all.iter().map(|s| async move {
            if !s.state().is_finished() {
                self.stop(s).await;
            }
        }))
        .await;
        self.tasks.close();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.tasks.wait()).await;
    }
}

/// Why a `sparkr` session is refused. Livy ran SparkR through R's `SparkR` package; Apache
/// Spark 4 deprecates it and pip-installed Spark (our embedded default) does not ship it, so
/// livy-rs has no SparkR interpreter: refusing up front beats a session that can never start.
const SPARKR_UNSUPPORTED: &str = "SparkR sessions are not supported by livy-rs: Apache Spark 4 deprecates SparkR and pip-installed Spark does not ship it; use kind pyspark, spark or sql";

/// Removes a session's run directory (driver config, output), off the runtime.
pub(super) async fn remove_run_dir(session: &Session) {
    let dir = session.run_dir.clone();
    let _ = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(dir)).await;
}

/// Writes a file only the server's user can read, in a directory only it can enter.
fn write_private(dir: &Path, file: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(file)?;
    f.write_all(text.as_bytes())?;
    Ok(())
}
