//! `GET /metrics`: the Prometheus scrape (crate::metrics says what is in it).
//!
//! Who may read it. Apache Livy mounts its `/metrics` admin servlet behind the same
//! authentication and allowed-users filters as the API. livy-rs does the same, and, since the
//! numbers describe every user's sessions, with access control on it asks for the right to view
//! every session: view-users, modify-users or superusers. A scraper that cannot authenticate
//! (Prometheus with SPNEGO is rare) is let in by address instead, with
//! `livy.server.metrics.allowed-addresses`; the address is the TCP peer's, never a header a
//! client could forge.

use crate::auth::{AccessManager, RemoteUser, TrustedPeer};
use crate::conf::monitoring::MetricsConf;
use crate::error::ApiError;
use crate::metrics::state::StateCollector;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use prometheus_client::registry::Registry;
use std::net::SocketAddr;
use std::sync::Arc;

/// The route's path.
pub const PATH: &str = "/metrics";

pub(super) struct Scrape {
    registry: Registry,
    access: Arc<AccessManager>,
}

/// The `/metrics` route, reading the state of `app`'s sessions and batches at each scrape.
pub fn routes(app: &super::AppState) -> Router {
    let state = Arc::new(Scrape {
        registry: crate::metrics::registry(StateCollector {
            sessions: app.sessions.clone(),
            batches: app.batches.clone(),
        }),
        access: app.access.clone(),
    });
    Router::new().route(PATH, get(scrape)).with_state(state)
}

/// The Prometheus scrape: the OpenMetrics text format when the scraper asks for it in
/// `Accept`, else Prometheus' text format 0.0.4.
#[utoipa::path(get, path = "/metrics", tag = "server",
    responses(
        (status = 200, description = "Every metric of the server, its sessions and batches, in \
            Prometheus' text format (OpenMetrics when `Accept` asks for it). Needs the right to \
            view every session, unless the scraper's address is in \
            `livy.server.metrics.allowed-addresses`.",
            content_type = "text/plain", body = String)))]
pub(super) async fn scrape(
    State(scrape): State<Arc<Scrape>>,
    trusted: Option<Extension<TrustedPeer>>,
    user: Option<Extension<RemoteUser>>,
    headers: HeaderMap,
) -> Response {
    let user = user.and_then(|Extension(u)| u.0);
    if trusted.is_none() && !scrape.access.may_view_all(user.as_deref()) {
        return ApiError::Forbidden(format!(
            "User '{}' may not read the server's metrics: it needs {}, {} or {}.",
            user.as_deref().unwrap_or("null"),
            crate::conf::keys::ACCESS_CONTROL_VIEW_USERS,
            crate::conf::keys::ACCESS_CONTROL_MODIFY_USERS,
            crate::conf::keys::SUPERUSERS,
        ))
        .into_response();
    }
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let (content_type, body) = crate::metrics::render(&scrape.registry, accept);
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
        body,
    )
        .into_response()
}

/// Marks a `/metrics` request from an allowed scraper address as [`TrustedPeer`]; runs before
/// authentication.
pub async fn admit_scrapers(
    State(conf): State<Arc<MetricsConf>>,
    mut req: Request,
    next: Next,
) -> Response {
    let is_metrics = req
        .extensions()
        .get::<MatchedPath>()
        .is_some_and(|p| p.as_str() == PATH);
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    if is_metrics && peer.is_some_and(|ip| conf.allows(ip)) {
        req.extensions_mut().insert(TrustedPeer);
    }
    next.run(req).await
}
