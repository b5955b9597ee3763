//! `GET /version`.

use super::AppState;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use utoipa::ToSchema;

/// The Livy REST API version whose behaviour livy-rs follows.
pub const LIVY_API_VERSION: &str = "0.9.0";

pub fn routes() -> Router<AppState> {
    Router::new().route("/version", get(version))
}

/// Livy's version document, plus which server answers it.
#[derive(Serialize, ToSchema)]
pub struct VersionInfo {
    /// The Livy version whose REST API this server follows.
    pub version: &'static str,
    /// Livy's build facts; empty here.
    pub user: &'static str,
    pub revision: &'static str,
    pub branch: &'static str,
    pub date: &'static str,
    pub url: &'static str,
    /// `livy-rs <version>`.
    pub server: String,
}

#[utoipa::path(get, path = "/version", tag = "server",
    responses((status = 200, description = "The Livy API version served", body = VersionInfo)))]
async fn version() -> Json<VersionInfo> {
    Json(VersionInfo {
        version: LIVY_API_VERSION,
        user: "",
        revision: "",
        branch: "",
        date: "",
        url: "",
        server: format!("livy-rs {}", env!("CARGO_PKG_VERSION")),
    })
}

/// The `Server` header sent with `livy.server.send-server-version = true` (Jetty's
/// `sendServerVersion` in Livy); without it no `Server` header is sent, as Livy's default.
pub const SERVER_HEADER: &str = concat!("livy-rs/", env!("CARGO_PKG_VERSION"));

/// The layer that adds [`SERVER_HEADER`] to every answer, errors included.
pub async fn server_header(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let mut response = next.run(req).await;
    response.headers_mut().insert(
        axum::http::header::SERVER,
        axum::http::HeaderValue::from_static(SERVER_HEADER),
    );
    response
}
