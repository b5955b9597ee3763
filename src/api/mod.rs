//! The REST API: one module per resource, each exposing `routes()`, assembled by [`router`]
//! separately from binding a port so tests can drive it in-process.

pub mod access_log;
pub mod admin;
pub mod batches;
pub mod body_limit;
pub mod cross_site;
pub mod impersonation;
pub mod jobs;
pub mod json;
pub mod metrics;
pub mod observe;
pub mod openapi;
pub mod security;
pub mod sessions;
pub mod statements;
pub mod ui;
pub mod version;

use crate::auth::filter::AuthFilter;
use crate::auth::hadoop::HadoopIdentity;
use crate::auth::{AccessManager, RemoteUser};
use crate::batches::Batches;
use crate::conf::LivyConf;
use crate::error::ApiError;
use crate::launch::Launcher;
use crate::sessions::InteractiveSessions;
use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use json::Params;
use std::sync::Arc;

/// Everything a request handler may reach.
#[derive(Clone)]
pub struct AppState {
    pub conf: Arc<LivyConf>,
    pub access: Arc<AccessManager>,
    /// Client authentication (the layer in front of every route).
    pub auth: Arc<AuthFilter>,
    pub launcher: Arc<Launcher>,
    pub batches: Arc<Batches>,
    pub sessions: Arc<InteractiveSessions>,
    /// Per-server scratch space (driver program, session run dirs); removed when the last
    /// clone of the state is dropped.
    pub work_dir: Arc<tempfile::TempDir>,
    /// The YARN application monitor, when the master is yarn.
    pub yarn: Option<Arc<crate::yarn::monitor::AppMonitor>>,
    /// Stops background loops (the YARN monitor, the Kerberos login) at shutdown.
    pub stop: tokio_util::sync::CancellationToken,
    /// The server's Kerberos identity towards Hadoop, on a secure cluster.
    pub identity: Option<Arc<HadoopIdentity>>,
    /// The recovery store, when `livy.server.recovery.mode = recovery`.
    pub recovery: Option<Arc<crate::recovery::Recovery>>,
}

impl AppState {
    /// The server's state without recovery (tests and tools); the server itself is wired by
    /// [`crate::app::wire`].
    pub fn new(conf: Arc<LivyConf>) -> anyhow::Result<Self> {
        crate::app::wire(conf, None)
    }
}

/// The whole application: routes plus the layers every route goes through.
pub fn router(state: AppState, access_log: Option<access_log::AccessLog>) -> Router {
    let security = state.conf.security.clone();
    let cross_site = Arc::new(cross_site::CrossSite::from_conf(&security));
    let body_limits = body_limit::BodyLimits::from_conf(&state.conf);
    let send_server_version = state.conf.server.send_server_version;
    let auth = state.auth.clone();
    let scrapers = Arc::new(state.conf.server.metrics.clone());
    let metrics = metrics::routes(&state);
    let access = state.access.clone();
    let app = Router::new()
        .merge(version::routes())
        .merge(admin::routes())
        .merge(ui::routes(&state.conf.server))
        .merge(batches::routes())
        .merge(sessions::routes())
        .merge(statements::routes())
        .merge(jobs::routes())
        .merge(openapi::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state.clone())
        .merge(metrics)
        // Active/active: requests about another server's sessions go there (after the caller
        // is known and the doAs checked, below).
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::ha::forward::route,
        ))
        .layer(middleware::from_fn(negotiate_version))
        .layer(middleware::from_fn(livy_error_shape))
        // After authentication (it needs the caller): a doAs the caller may not use is refused
        // on every route, before any handler runs.
        .layer(middleware::from_fn_with_state(
            access,
            impersonation::refuse_forbidden_do_as,
        ));
    // Livy's filter order: authentication runs before the CSRF check, and the security headers
    // wrap everything, so 400/401/403/404 answers carry them too.
    let app = if security.csrf_protection {
        app.layer(middleware::from_fn(security::csrf))
    } else {
        app
    };
    let app = app.layer(middleware::from_fn_with_state(
        auth,
        crate::auth::filter::authenticate,
    ));
    // Active/active: a request another server forwarded names its caller in a signed header,
    // checked before authentication (a header that does not verify is refused).
    let app = match state.recovery.as_ref().and_then(|r| r.ha()) {
        Some(ha) => app.layer(middleware::from_fn_with_state(
            ha.clone(),
            crate::ha::forward::verify_peer,
        )),
        None => app,
    };
    let app = app.layer(middleware::from_fn_with_state(
        scrapers,
        metrics::admit_scrapers,
    ));
    // Before authentication: a request another site's page sent is refused without spending a
    // GSSAPI or LDAP check on it, and an oversized body without reading it. (Layers added with
    // `Router::layer` run after routing, so both see which route was matched.)
    let app = app
        .layer(middleware::from_fn_with_state(
            body_limits,
            body_limit::limit_body,
        ))
        .layer(middleware::from_fn_with_state(
            cross_site,
            cross_site::refuse_cross_site,
        ));
    let app = match access_log {
        Some(log) => app.layer(middleware::from_fn_with_state(log, access_log::record)),
        None => app,
    };
    let app = app.layer(tower_http::catch_panic::CatchPanicLayer::custom(on_panic));
    let app = if security.headers.is_empty() {
        app
    } else {
        app.layer(middleware::from_fn_with_state(
            Arc::new(security.headers),
            security::add_headers,
        ))
    };
    let app = if send_server_version {
        app.layer(middleware::from_fn(version::server_header))
    } else {
        app
    };
    // Outermost: the request id and span cover every layer above, and the HTTP metrics see
    // the status the client gets.
    app.layer(middleware::from_fn(observe::observe))
}

/// The most of a plain-text error body that is carried into `{"msg": ...}`; axum's rejection
/// texts are a line or two.
const PLAIN_ERROR_MAX: usize = 4096;

/// Every error in Livy's JSON shape: axum's own extractor rejections (a path that is not valid
/// UTF-8 such as `/batches/%ff%fe`, a bad query string) answer in plain text, so one layer
/// here wraps any plain-text 4xx/5xx body into `{"msg": ...}` instead of each handler.
async fn livy_error_shape(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    let status = response.status();
    let plain = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("text/plain"));
    if !(status.is_client_error() || status.is_server_error()) || !plain {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = match axum::body::to_bytes(body, PLAIN_ERROR_MAX).await {
        Ok(b) => String::from_utf8_lossy(&b).trim().to_string(),
        Err(_) => status.canonical_reason().unwrap_or("error").to_string(),
    };
    parts.headers.remove(header::CONTENT_TYPE);
    parts.headers.remove(header::CONTENT_LENGTH);
    let mut out = (status, axum::Json(crate::error::Msg { msg: text })).into_response();
    for (name, value) in parts.headers.iter() {
        out.headers_mut().append(name.clone(), value.clone());
    }
    out
}

/// The caller of a request: the authenticated user and the `doAs` they asked for.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    pub user: Option<String>,
    pub do_as: Option<String>,
    pub params: Arc<Params>,
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let user = parts
            .extensions
            .get::<RemoteUser>()
            .and_then(|u| u.0.clone());
        let params = Params::parse(parts.uri.query());
        let do_as = impersonation::do_as(&params)?;
        Ok(Caller {
            user,
            do_as,
            params: Arc::new(params),
        })
    }
}

impl Caller {
    /// Livy's `effectiveUser`: the `doAs` user when impersonation allows it, else the caller.
    pub fn effective_user(&self, access: &AccessManager) -> Result<Option<String>, ApiError> {
        Ok(access
            .check_impersonation(self.do_as.as_deref(), self.user.as_deref())?
            .or_else(|| self.user.clone()))
    }
}

/// Livy's API versioning: `Accept: application/vnd.livy.v<version>+json` must name a version we
/// speak (only 0.1 exists); anything else in Accept is ignored.
async fn negotiate_version(req: Request, next: Next) -> Response {
    if let Some(accept) = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
    {
        if let Some(rest) = accept.trim().strip_prefix("application/vnd.livy.v") {
            let version = rest.split('+').next().unwrap_or("");
            if version != "0.1" {
                return ApiError::NotAcceptable(format!(
                    "Unsupported API version '{version}' in Accept header; this server supports 0.1."
                ))
                .into_response();
            }
        }
    }
    let mut response = next.run(req).await;
    if !response.headers().contains_key(header::CONTENT_TYPE) {
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
    }
    response
}

async fn not_found(req: Request) -> ApiError {
    ApiError::NotFound(format!("Not found: {} {}", req.method(), req.uri().path()))
}

async fn method_not_allowed(req: Request) -> ApiError {
    ApiError::MethodNotAllowed(format!(
        "Method {} is not allowed on {}",
        req.method(),
        req.uri().path()
    ))
}

fn on_panic(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    ApiError::Internal(anyhow::anyhow!("a request handler panicked")).into_response()
}
