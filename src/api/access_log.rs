//! The per-request access log (NCSA combined format, as Livy's Jetty request log writes), to
//! `$LIVY_LOG_DIR/livy-requests.<date>.log`, rotated daily and kept for
//! `livy.server.request-log-retain.days`. Lines go through a non-blocking writer so a slow disk
//! never holds a request up.
//!
//! Each line ends with the request's id (`request_id=...`, see [`super::observe`]), which the
//! server log's lines for the same request carry too. With `livy.server.log.format = json` the
//! lines are JSON objects with the same fields instead.

use super::observe::RequestId;
use crate::auth::RemoteUser;
use crate::conf::monitoring::LogFormat;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Instant;
use tracing_appender::non_blocking::{NonBlocking, WorkerGuard};
use tracing_appender::rolling::{Builder, Rotation};

/// A handle on the access log writer.
#[derive(Clone)]
pub struct AccessLog {
    writer: NonBlocking,
    format: LogFormat,
}

impl AccessLog {
    /// Opens the log in `dir`; the guard flushes it when dropped at shutdown.
    pub fn open(
        dir: &Path,
        retain_days: usize,
        format: LogFormat,
    ) -> anyhow::Result<(AccessLog, WorkerGuard)> {
        std::fs::create_dir_all(dir)?;
        let mut builder = Builder::new()
            .rotation(Rotation::DAILY)
            .filename_prefix("livy-requests")
            .filename_suffix("log");
        if retain_days > 0 {
            builder = builder.max_log_files(retain_days);
        }
        let appender = builder.build(dir)?;
        let (writer, guard) = tracing_appender::non_blocking(appender);
        Ok((AccessLog { writer, format }, guard))
    }
}

/// Middleware writing one line per request.
pub async fn record(State(log): State<AccessLog>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_else(|| "-".into());
    let method = req.method().clone();
    let uri = req.uri().clone();
    let version = req.version();
    let referer = header_text(&req, header::REFERER);
    let agent = header_text(&req, header::USER_AGENT);
    let request_id = req.extensions().get::<RequestId>().cloned();
    let response = next.run(req).await;
    let user = response
        .extensions()
        .get::<RemoteUser>()
        .and_then(|u| u.0.clone())
        .unwrap_or_else(|| "-".into());
    let size = response
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    let time = chrono::Local::now().format("%d/%b/%Y:%H:%M:%S %z");
    let target = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let status = response.status().as_u16();
    let millis = start.elapsed().as_millis();
    let request_id = request_id.as_ref().map_or("-", RequestId::as_str);
    let line = match log.format {
        LogFormat::Text => format!(
            "{peer} - {user} [{time}] \"{method} {target} {version:?}\" {status} {size} \"{referer}\" \"{agent}\" {millis}ms request_id={request_id}\n",
        ),
        LogFormat::Json => {
            let mut line = serde_json::json!({
                "time": time.to_string(),
                "remote": peer,
                "user": user,
                "method": method.as_str(),
                "uri": target,
                "protocol": format!("{version:?}"),
                "status": status,
                "size": size,
                "referer": referer,
                "agent": agent,
                "duration_ms": millis as u64,
                "request_id": request_id,
            })
            .to_string();
            line.push('\n');
            line
        }
    };
    let mut writer = log.writer.clone();
    let _ = writer.write_all(line.as_bytes());
    response
}

fn header_text(req: &Request, name: header::HeaderName) -> String {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.replace('"', "'"))
        .unwrap_or_else(|| "-".into())
}
