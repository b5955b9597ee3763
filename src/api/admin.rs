//! `POST /admin/drain`: a livy-rs route (Apache Livy has no admin API) that drains an
//! active/active server — see `crate::ha::drain` for what draining does. With authentication
//! on, only `livy.superusers` may call it (`livy-server drain` signs it with the servers'
//! shared secret instead); without, anyone who reaches the port may, as with every other route.

use super::AppState;
use crate::auth::RemoteUser;
use crate::error::ApiError;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Extension, Json, Router};

pub fn routes() -> Router<AppState> {
    Router::new().route(crate::ha::drain::PATH, post(drain))
}

#[utoipa::path(post, path = "/admin/drain", tag = "server",
    responses(
        (status = 202, description = "The server drains: it takes no new session or batch, hands what it runs to the other servers and exits", body = crate::error::Msg),
        (status = 400, description = "Not an active/active server", body = crate::error::Msg),
        (status = 403, description = "The caller is not a superuser", body = crate::error::Msg)))]
async fn drain(
    State(state): State<AppState>,
    user: Option<Extension<RemoteUser>>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let user = user.and_then(|Extension(u)| u.0);
    if !state.access.is_super_user(user.as_deref()) {
        return Err(ApiError::Forbidden(format!(
            "User '{}' may not drain the server: it needs {}.",
            user.as_deref().unwrap_or("null"),
            crate::conf::keys::SUPERUSERS
        )));
    }
    let Some(ha) = state.recovery.as_ref().and_then(|r| r.ha()).cloned() else {
        return Err(ApiError::BadRequest(format!(
            "Only a server of an active/active service ({} = active-active) can drain; stop a single server with a stop signal.",
            crate::conf::ha::MODE
        )));
    };
    tracing::info!(user = user.as_deref().unwrap_or("-"), "drain requested");
    ha.drain().await;
    Ok((
        StatusCode::ACCEPTED,
        Json(serde_json::json!({
            "msg": "Draining: new sessions and batches go to the other servers; this server hands over what it runs and exits."
        })),
    ))
}
