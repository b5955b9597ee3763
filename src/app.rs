//! Start → run → shutdown. Load and check the configuration, open the logs, bind the port, serve
//! until SIGTERM/SIGINT, then stop accepting, drain in-flight requests, and stop every child
//! process — unless recovery is on: then sessions and batches are loaded from the store at start
//! and left running at the stop, for the next server. A second signal quits at once. [`wire`]
//! builds the server's parts and connects them, in one place.

use crate::api::{self, access_log::AccessLog, AppState};
use crate::auth::filter::{AuthFilter, Authenticator};
use crate::auth::hadoop::{negotiate::cluster_auth, HadoopIdentity};
use crate::auth::AccessManager;
use crate::batches::Batches;
use crate::conf::{Env, LivyConf};
use crate::launch::Launcher;
use crate::sessions::InteractiveSessions;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};
use tokio_util::sync::CancellationToken;

/// How long in-flight requests may take to finish after a stop signal.
const DRAIN_DEADLINE: Duration = Duration::from_secs(10);
/// How often finished sessions and batches are checked against their retain time.
const GC_INTERVAL: Duration = Duration::from_secs(1);

/// Loads the configuration, printing every problem; `None` when it is not usable.
/// Writes a fatal message to stderr for whoever started the server (systemd's journal, a
/// terminal). Not `eprintln!`: it panics when stderr is a closed pipe, which would turn a clean
/// exit with a reason into a panic.
pub fn tell_stderr(message: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "livy-server: {message}");
}

pub fn load_conf(env: &Env) -> Option<LivyConf> {
    report_conf(LivyConf::load(env))
}

/// Logs a loaded configuration's warnings, or prints its problems; `None` when it is not usable.
/// (The server loads its configuration before its log exists, since livy.conf chooses the
/// log's format, and reports it once the log is set up.)
pub fn report_conf(
    loaded: Result<crate::conf::Loaded, crate::conf::ConfError>,
) -> Option<LivyConf> {
    match loaded {
        Ok(loaded) => {
            for w in &loaded.warnings {
                tracing::warn!("{w}");
            }
            Some(loaded.conf)
        }
        Err(e) => {
            tracing::error!("{e}");
            tell_stderr(format_args!("{e}"));
            None
        }
    }
}

/// Lines the server log holds in memory while stderr is slow; more are dropped.
const LOG_BUFFER_LINES: usize = 10_000;

/// Sets up the server log on stderr: `LIVY_LOG` filters it (default `info`), `format` is
/// `livy.server.log.format`. JSON lines carry the fields of the span they were written in, so
/// a request's lines carry its `request_id`.
///
/// stderr is a sink the server does not control (a pipe whose reader closed it or stopped
/// reading): lines go through a bounded queue to a writer thread that drops what it cannot write,
/// and write errors are not reported on stderr (tracing's report is an `eprintln!`, which panics
/// on a closed pipe and so killed whichever task logged, the signal watcher included). Keep the
/// returned guard until exit: dropping it flushes the queue (waiting at most a second).
pub fn init_logging(
    format: crate::conf::monitoring::LogFormat,
) -> tracing_appender::non_blocking::WorkerGuard {
    use std::io::IsTerminal;
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .buffered_lines_limit(LOG_BUFFER_LINES)
        .lossy(true)
        .thread_name("livy-log")
        .finish(std::io::stderr());
    let filter = tracing_subscriber::EnvFilter::try_from_env("LIVY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .log_internal_errors(false);
    match format {
        crate::conf::monitoring::LogFormat::Text => builder
            .fmt_fields(escaped_fields())
            .with_ansi(std::io::stderr().is_terminal())
            .init(),
        crate::conf::monitoring::LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init(),
    }
    guard
}

/// The text log's fields, written as tracing writes them (`name=value`, the message bare) but
/// with control and bidirectional-override characters escaped: values come from requests (a
/// Basic user name, an LDAP error quoting it), and a raw newline in one would start a line that
/// looks like the server's own. (JSON lines escape them already.)
fn escaped_fields() -> impl for<'w> tracing_subscriber::fmt::FormatFields<'w> + 'static {
    use tracing_subscriber::field::MakeExt;
    tracing_subscriber::fmt::format::debug_fn(|w, field, value| {
        let raw = format!("{value:?}");
        let text = escape_controls(&raw);
        if field.name() == "message" {
            write!(w, "{text}")
        } else {
            write!(w, "{field}={text}")
        }
    })
    .delimited(" ")
}

/// `text` with control characters (newlines included) and bidirectional overrides written as
/// Rust escapes (`\n`, `\u{202e}`).
fn escape_controls(text: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char = |c: char| {
        c.is_control()
            || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !text.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unsafe_char(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Runs the server until a stop signal. Returns the process exit code.
pub async fn run(conf: LivyConf) -> i32 {
    let conf = Arc::new(conf);
    let (access_log, _access_guard) = match AccessLog::open(
        &conf.paths.log_dir,
        conf.server.request_log_retain_days,
        conf.server.log_format,
    ) {
        Ok((log, guard)) => (Some(log), Some(guard)),
        Err(e) => {
            tracing::warn!(dir = %conf.paths.log_dir.display(), error = %e, "cannot open the access log; continuing without it");
            (None, None)
        }
    };

    let addr = format!("{}:{}", conf.server.host, conf.server.port);
    let listener = match TcpListener::bind(&addr).await {
        Ok(l) => l,
        Err(e) => {
            tell_stderr(format_args!("cannot listen on {addr}: {e}"));
            tracing::error!(%addr, error = %e, "cannot listen");
            return 1;
        }
    };
    let local = listener.local_addr().map(|a| a.to_string()).unwrap_or(addr);

    // Signal handlers exist before the "listening" line: a stop signal that follows it at once
    // must be a graceful stop, not the default action that kills the process.
    let (term, int) = match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(term), Ok(int)) => (term, int),
        (Err(e), _) | (_, Err(e)) => {
            tell_stderr(format_args!("cannot install signal handlers: {e}"));
            return 1;
        }
    };
    let recovery = match &conf.recovery {
        Some(settings) => {
            match crate::recovery::Recovery::open(settings.clone(), conf.security.tls.is_some())
                .await
            {
                Ok(r) => Some(r),
                Err(e) => {
                    tell_stderr(format_args!("{e:#}"));
                    tracing::error!(error = %format!("{e:#}"), "cannot open the recovery store");
                    return 1;
                }
            }
        }
        None => None,
    };
    let state = match wire(conf.clone(), recovery) {
        Ok(state) => state,
        Err(e) => {
            tell_stderr(format_args!("{e:#}"));
            return 1;
        }
    };
    if let Err(e) = recover(&state).await {
        tell_stderr(format_args!("cannot recover sessions and batches: {e:#}"));
        tracing::error!(error = %format!("{e:#}"), "cannot recover sessions and batches");
        return 1;
    }
    if let Some(identity) = &state.identity {
        // Launches right after start need the ticket; a failed login is logged by the identity
        // and the server serves anyway (see auth::hadoop).
        identity.first_attempt().await;
        if identity.check().is_ok() {
            tracing::info!(
                principal = identity.principal(),
                "logged in to Kerberos from the launch keytab"
            );
        }
    }
    if let Err(e) = join_service(&state, &local).await {
        tell_stderr(format_args!("cannot join the active-active service: {e:#}"));
        tracing::error!(error = %format!("{e:#}"), "cannot join the active-active service");
        return 1;
    }
    state.sessions.start_pool();
    let shutdown = CancellationToken::new();
    let gc = tokio::spawn(collect_garbage(state.clone(), shutdown.clone()));
    let app = api::router(state.clone(), access_log);

    let scheme = if conf.security.tls.is_some() {
        "https"
    } else {
        "http"
    };
    tracing::info!(
        address = %local,
        url = %format!("{scheme}://{local}"),
        spark_home = %conf.spark.home.display(),
        master = %conf.spark.master,
        spark_version = conf.spark.version.as_deref().unwrap_or("unknown"),
        "livy-rs listening"
    );
    if conf.security.csrf_protection {
        tracing::info!("CSRF protection is enabled");
    }
    notify_systemd(sd_notify::NotifyState::Ready);
    let signals = tokio::spawn(watch_signals(term, int, shutdown.clone()));
    crate::server::serve(
        listener,
        app,
        conf.security.tls.as_ref().map(|t| t.server_config.clone()),
        conf.server.request_header_size,
        shutdown.clone(),
        DRAIN_DEADLINE,
    )
    .await;

    if let Some(recovery) = &state.recovery {
        // Drivers, spark-submits and YARN apps keep running; the next server adopts them.
        tracing::info!("recovery is on: sessions and batches keep running for the next server");
        // Pooled drivers not taken have no record: no server would adopt them.
        state.sessions.stop_pool().await;
        if !recovery.flush(Duration::from_secs(10)).await {
            tracing::warn!("some recovery records could not be written before the stop");
        }
        tracing::info!(
            writes = recovery.writes.load(std::sync::atomic::Ordering::Relaxed),
            bytes = recovery.bytes.load(std::sync::atomic::Ordering::Relaxed),
            "recovery store use since start"
        );
        state.stop.cancel();
        gc.abort();
        signals.abort();
        tracing::info!("livy-rs stopped");
        return 0;
    }
    tracing::info!("stopping sessions and batches");
    let stop_deadline = conf.sessions.process_kill_timeout + Duration::from_secs(20);
    let stopping = async { tokio::join!(state.batches.shutdown(), state.sessions.shutdown()) };
    if tokio::time::timeout(stop_deadline, stopping).await.is_err() {
        tracing::warn!("some sessions or batches did not stop in time");
    }
    state.stop.cancel();
    state.launcher.drain(Duration::from_secs(5)).await;
    gc.abort();
    signals.abort();
    tracing::info!("livy-rs stopped");
    0
}

/// Active/active: registers this server with the others (its REST URL and driver channel),
/// then adopts what no server runs, now and whenever a server leaves.
async fn join_service(state: &AppState, local: &str) -> anyhow::Result<()> {
    let Some(ha) = state.recovery.as_ref().and_then(|r| r.ha()).cloned() else {
        return Ok(());
    };
    let url = match &ha.conf.advertised_url {
        Some(url) => url.clone(),
        None => {
            let scheme = if state.conf.security.tls.is_some() {
                "https"
            } else {
                "http"
            };
            let port = local.rsplit(':').next().unwrap_or_default();
            let host = match state.conf.server.host.as_str() {
                "0.0.0.0" | "::" | "[::]" | "" => nix::unistd::gethostname()
                    .ok()
                    .and_then(|h| h.into_string().ok())
                    .unwrap_or_else(|| "localhost".into()),
                host => host.to_string(),
            };
            format!("{scheme}://{host}:{port}")
        }
    };
    let channel = state.sessions.channel_address().await?;
    ha.join(&url, &channel).await?;
    ha.exit_on_session_loss();
    tokio::spawn(crate::ha::takeover::run(state.clone(), ha));
    Ok(())
}

/// Loads what the recovery store holds, before the port serves anything. (Active/active
/// servers adopt instead: see [`join_service`].)
async fn recover(state: &AppState) -> anyhow::Result<()> {
    if state.recovery.as_ref().is_none_or(|r| r.ha().is_some()) {
        return Ok(());
    }
    let started = Instant::now();
    let batches = state.batches.recover().await?;
    let sessions = state.sessions.recover().await?;
    tracing::info!(
        batches,
        sessions,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "recovered from the state store"
    );
    Ok(())
}

/// First SIGTERM/SIGINT: graceful stop. Second: exit now.
async fn watch_signals(
    mut term: tokio::signal::unix::Signal,
    mut int: tokio::signal::unix::Signal,
    shutdown: CancellationToken,
) {
    tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
    tracing::info!("stop signal received; shutting down (send it again to quit at once)");
    notify_systemd(sd_notify::NotifyState::Stopping);
    shutdown.cancel();
    tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
    tracing::warn!("second stop signal; exiting now");
    std::process::exit(130);
}

async fn collect_garbage(state: AppState, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(GC_INTERVAL);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let now = Instant::now();
                state.batches.collect_garbage(now);
                state.sessions.collect_garbage(now);
            }
            _ = shutdown.cancelled() => return,
        }
    }
}

/// Tells systemd (`Type=notify` in packaging/livy-server.service) that the port is open
/// (`READY=1`) or that a stop began (`STOPPING=1`). A no-op without `NOTIFY_SOCKET`, i.e. when
/// not started by systemd; a failed send only costs the readiness signal, so it is just logged.
fn notify_systemd(state: sd_notify::NotifyState) {
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return;
    }
    if let Err(e) = sd_notify::notify(&[state]) {
        tracing::warn!(error = %e, "cannot notify systemd");
    }
}

/// Builds the server's state: who authenticates clients and decides access, the launcher, the
/// YARN monitor, batches and sessions, wired together once here; fails when no work directory
/// can be made, when LDAP over TLS is configured and no CA certificate can be trusted, or when
/// the YARN clients cannot be set up.
pub fn wire(
    conf: Arc<LivyConf>,
    recovery: Option<Arc<crate::recovery::Recovery>>,
) -> anyhow::Result<AppState> {
    let access = Arc::new(AccessManager::new(&conf.access));
    let auth = Arc::new(AuthFilter::new(
        Authenticator::from_conf(&conf.auth)?,
        &conf.auth,
        access.clone(),
        conf.security.tls.is_some(),
    ));
    let stop = tokio_util::sync::CancellationToken::new();
    let identity = match &conf.launch_kerberos {
        Some(settings) => {
            let identity = HadoopIdentity::new(settings.clone()).map_err(|e| {
                anyhow::anyhow!("cannot create the private Kerberos credential cache: {e}")
            })?;
            identity.start(stop.clone());
            Some(identity)
        }
        None => None,
    };
    // One RM and one WebHDFS client for the whole server (see yarn::cluster): the monitor,
    // the admission check, the REST submitter and session staging share their memory of the
    // active HA peer and their SPNEGO cookies.
    let cluster = match &conf.yarn {
        Some(settings) => Some(
            crate::yarn::cluster::Cluster::new(
                &settings.cluster,
                cluster_auth(identity.as_ref(), &settings.cluster),
            )
            .map_err(|e| anyhow::anyhow!("cannot set up the YARN clients: {e}"))?,
        ),
        None => None,
    };
    let launcher = Arc::new(
        Launcher::new(conf.clone(), identity.clone(), cluster.clone())
            .map_err(|e| anyhow::anyhow!("cannot set up the YARN clients: {e}"))?,
    );
    let yarn = match (&conf.yarn, &cluster) {
        (Some(settings), Some(cluster)) => {
            let kerberos = settings.cluster.authentication == crate::yarn::Authentication::Kerberos;
            let monitor = crate::yarn::monitor::AppMonitor::start(
                cluster.rm().clone(),
                settings.monitor.clone(),
                stop.clone(),
            );
            monitor.set_kill_as_proxy_user(kerberos);
            Some(monitor)
        }
        _ => None,
    };
    let batches = Arc::new(Batches::new(
        conf.clone(),
        launcher.clone(),
        access.clone(),
        yarn.clone(),
        recovery.clone(),
    ));
    let work_dir = Arc::new(
        tempfile::Builder::new()
            .prefix("livy-rs-")
            .tempdir()
            .map_err(|e| anyhow::anyhow!("cannot create a work directory: {e}"))?,
    );
    let sessions = Arc::new(InteractiveSessions::new(
        conf.clone(),
        launcher.clone(),
        access.clone(),
        work_dir.path().to_path_buf(),
        yarn.clone(),
        recovery.clone(),
    ));
    Ok(AppState {
        conf,
        access,
        auth,
        launcher,
        batches,
        sessions,
        work_dir,
        yarn,
        stop,
        identity,
        recovery,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn log_fields_cannot_break_a_line() {
        assert_eq!(super::escape_controls("alice"), "alice");
        assert_eq!(
            super::escape_controls("eve\n2026 INFO forged\r\u{1b}[2K\u{202e}"),
            "eve\\n2026 INFO forged\\r\\u{1b}[2K\\u{202e}"
        );
        assert_eq!(super::escape_controls("tab\there é"), "tab\\there é");
    }
}
