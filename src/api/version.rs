//! `GET /version`.

use super::AppState;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

/// The Livy REST API version whose behaviour livy-rs follows.
pub const LIVY_API_VERSION: &str = "0.9.0";

pub fn routes() -> Router<AppState> {
    Router::new().route("/version", get(version))
}

/// Livy's version document, plus which server answers it.
async fn version() -> Json<Value> {
    Json(json!({
        "version": LIVY_API_VERSION,
        "user": "",
        "revision": "",
        "branch": "",
        "date": "",
        "url": "",
        "server": format!("livy-rs {}", env!("CARGO_PKG_VERSION")),
    }))
}
