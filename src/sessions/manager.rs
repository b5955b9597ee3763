//! Every interactive session of the server: creation (checks, then spark-submit of our driver),
//! lookup, deletion, the idle/TTL/heartbeat garbage collector, and shutdown.

use super::interactive::{LinkCommand, NewSession, Session};
use super::request::{CreateSessionRequest, Kind};
use super::{Registry, SessionState};
use crate::auth::AccessManager;
use crate::conf::{units, LivyConf};
use crate::driver::channel::{random_hex, ChannelServer};
use crate::driver::{self, link};
use crate::error::ApiError;
use crate::launch::prepare::launch_conf;
use crate::launch::{ChildExit, LaunchSpec, Launcher};
use crate::yarn::monitor::{AppListener, AppMonitor};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::Weak;
use std::time::{Duration, Instant};
use tokio::sync::OnceCell;
use tokio_util::task::TaskTracker;

/// How long a driver gets to stop Spark after `shutdown` before its process tree is killed.
const DRIVER_SHUTDOWN_GRACE: Duration = Duration::from_secs(15);

/// All interactive sessions.
pub struct InteractiveSessions {
    registry: Registry<Session>,
    conf: Arc<LivyConf>,
    launcher: Arc<Launcher>,
    access: Arc<AccessManager>,
    /// The driver channel and the driver program on disk, set up on first use so a server that
    /// only runs batches opens no extra port.
    channel: OnceCell<(Arc<ChannelServer>, PathBuf)>,
    work_dir: PathBuf,
    tasks: TaskTracker,
    yarn: Option<Arc<AppMonitor>>,
}

impl InteractiveSessions {
    pub fn new(
        conf: Arc<LivyConf>,
        launcher: Arc<Launcher>,
        access: Arc<AccessManager>,
        work_dir: PathBuf,
        yarn: Option<Arc<AppMonitor>>,
    ) -> Self {
        InteractiveSessions {
            registry: Registry::default(),
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

    async fn channel(&self) -> Result<&(Arc<ChannelServer>, PathBuf), ApiError> {
        self.channel
            .get_or_try_init(|| async {
                let rsc = &self.conf.rsc;
                let local = self.conf.spark.master.starts_with("local");
                let bind = rsc
                    .bind_address
                    .clone()
                    .unwrap_or_else(|| if local { "127.0.0.1" } else { "0.0.0.0" }.into());
                let advertise = rsc.launcher_address.clone().unwrap_or_else(|| {
                    if local {
                        "127.0.0.1".into()
                    } else {
                        hostname()
                    }
                });
                let server =
                    ChannelServer::start(&bind, &advertise, rsc.port_range, rsc.max_message)
                        .await?;
                let dir = self.work_dir.join("driver");
                std::fs::create_dir_all(&dir)?;
                let program = dir.join("livy_rs_driver.py");
                std::fs::write(&program, driver::DRIVER_PY)?;
                Ok::<_, anyhow::Error>((server, program))
            })
            .await
            .map_err(ApiError::Internal)
    }

    /// Validates a request, then launches its driver. Nothing changes unless it is accepted.
    pub async fn create(
        &self,
        request: CreateSessionRequest,
        owner: Option<String>,
        do_as: Option<String>,
    ) -> Result<Arc<Session>, ApiError> {
        let (slot, proxy_user) = self.launcher.admit(
            &self.access,
            request.proxy_user.as_deref(),
            owner.as_deref(),
            do_as.as_deref(),
        )?;
        let parse_time = |v: &Option<String>| -> Result<Option<Duration>, ApiError> {
            v.as_deref()
                .map(|t| {
                    units::parse_duration(t)
                        .map_err(|_| ApiError::rejected(format!("Invalid time string: {t}")))
                })
                .transpose()
        };
        let ttl = parse_time(&request.ttl)?;
        let idle_timeout = parse_time(&request.idle_timeout)?;
        if request.kind == Kind::Sparkr {
            check_sparkr(&self.conf.spark.home).map_err(ApiError::rejected)?;
        }
        let mut conf = launch_conf(&request, &self.conf).map_err(ApiError::rejected)?;
        self.launcher
            .preflight(&conf, request.queue.as_deref(), proxy_user.as_deref())
            .await?;
        let (channel, program) = self.channel().await?;

        let reservation = self
            .registry
            .reserve(request.name.as_deref())
            .map_err(ApiError::rejected)?;
        let id = reservation.id;
        let run_dir = self
            .work_dir
            .join(format!("session-{id}-{}", random_hex(4)));
        let secret = random_hex(32);
        let config_path = run_dir.join("config.json");
        let rsc = &self.conf.rsc;
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
        });
        if let Err(e) = write_private(&run_dir, &config_path, &config.to_string()) {
            self.registry.release(reservation);
            return Err(ApiError::Internal(
                e.context("cannot write the session's driver config"),
            ));
        }
        let app_tag = format!("livy-session-{id}-{}", crate::batches::random_tag()).to_lowercase();
        // On YARN the driver runs in the cluster: its config travels with the app (YARN
        // localizes spark.files into the container's directory) and is named relative to it.
        let config_arg = if let Some(monitor) = &self.yarn {
            crate::launch::add_yarn_conf(&mut conf, &app_tag, monitor.server_tag(), true);
            let shipped = format!("file://{}", config_path.display());
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
        };
        let (session, commands) = Session::new(NewSession {
            id,
            app_tag,
            on_yarn: self.yarn.is_some(),
            owner,
            proxy_user,
            request,
            ttl,
            idle_timeout,
            run_dir,
            log_lines: self.conf.sessions.cache_log_size,
            retained_statements: rsc.retained_statements,
        });
        tracing::info!(session_id = id, kind = session.kind.as_str(), owner = ?session.owner, "creating session");
        let connection = channel.expect(id, secret);

        let weak = Arc::downgrade(&session);
        let on_exit = Box::new(move |exit: &ChildExit| {
            if let Some(session) = weak.upgrade() {
                session.command(LinkCommand::Exited(exit.clone()));
            }
        });
        match self
            .launcher
            .launch(slot, spec, session.logs.clone(), on_exit)
        {
            Ok(child) => {
                session.set_child(child);
                session.set_state(SessionState::Starting);
                if let Some(monitor) = &self.yarn {
                    let listener: Weak<dyn AppListener> =
                        Arc::downgrade(&session) as Weak<dyn AppListener>;
                    monitor.track(&session.app_tag, listener);
                }
            }
            Err(e) => {
                tracing::error!(session_id = id, error = %e, "cannot start spark-submit");
                session.logs.set_diagnostics(vec![format!(
                    "\nlivy-rs: could not start {}: {e}",
                    self.conf.spark.spark_submit().display()
                )]);
                channel.forget(id);
                session.set_state(SessionState::Dead);
            }
        }
        self.registry.insert(reservation, session.clone());
        self.tasks.spawn(link::run(
            session.clone(),
            commands,
            connection,
            link::Settings {
                connect_timeout: rsc.connect_timeout,
                max_message: rsc.max_message,
                cancel_timeout: rsc.job_cancel_timeout,
                channel: channel.clone(),
            },
        ));
        Ok(session)
    }

    /// Stops a session's driver (politely, then by killing its process tree) and forgets it.
    pub async fn delete(&self, session: &Arc<Session>) {
        tracing::info!(session_id = session.id, "deleting session");
        self.stop(session).await;
        self.registry.remove(session.id);
        let _ = std::fs::remove_dir_all(&session.run_dir);
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
            let (app_id, final_seen) = {
                let rt = session.runtime.lock();
                (rt.app_id.clone(), rt.yarn_final)
            };
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
            if let Some(reason) = session.expired(&self.conf.sessions, now) {
                tracing::info!(session_id = session.id, %reason, "deleting session");
                let this = self.clone();
                self.tasks.spawn(async move { this.delete(&session).await });
            }
        }
    }

    /// On server stop without recovery: stop every session.
    pub async fn shutdown(&self) {
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

/// SparkR sessions need R and the SparkR package; refuse clearly instead of a session that hangs.
fn check_sparkr(spark_home: &Path) -> Result<(), String> {
    let r = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join("Rscript").is_file()))
        .unwrap_or(false);
    let package = spark_home.join("R/lib/SparkR");
    let mut missing = Vec::new();
    if !r {
        missing.push("R (Rscript is not on the server's PATH)".to_string());
    }
    if !package.is_dir() {
        missing.push(format!(
            "the SparkR package ({} does not exist; the pyspark wheel does not ship SparkR, use a full Spark distribution)",
            package.display()
        ));
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!("sparkr sessions need {}", missing.join(" and ")))
    }
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

fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "localhost".into())
}
