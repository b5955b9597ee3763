//! `/ui/api/`: the JSON the UI's pages read. Separate from the REST API for two reasons:
//!
//! - Livy's `GET /sessions` and `GET /batches` list every entry (hiding only the logs of the
//!   ones the caller may not view); the UI lists only what the caller may view, with the times
//!   (created, last activity) the REST views do not carry.
//! - Any REST call on a session is a heartbeat (Livy's); a page left open and polling must not
//!   keep an abandoned session alive, so these routes read without one.
//!
//! Access is checked exactly as the REST API checks it (the same view ACL, doAs included).

use super::super::sessions::{self as rest_sessions, Need};
use super::super::{batches as rest_batches, AppState, Caller};
use crate::batches::Batch;
use crate::error::ApiError;
use crate::sessions::{AppInfo, Session, SessionState};
use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use serde_json::{json, Value};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/ui/api/sessions", get(sessions))
        .route("/ui/api/batches", get(batches))
        .route("/ui/api/sessions/{id}", get(session))
        .route("/ui/api/sessions/{id}/log", get(session_log))
        .route("/ui/api/batches/{id}/log", get(batch_log))
        .route("/ui/api/pool", get(pool))
}

/// The warm pool's counts per profile (`null` without a pool): no user's data, only counts, so
/// any caller the UI lets in may see them.
async fn pool(State(app): State<AppState>, _caller: Caller) -> Json<Value> {
    Json(json!({ "pool": app.sessions.pool_stats() }))
}

/// One row of the sessions or batches table (Livy's columns plus age and last activity).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Row {
    id: u32,
    name: Option<String>,
    owner: Option<String>,
    proxy_user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    state: SessionState,
    app_id: Option<String>,
    app_info: AppInfo,
    /// Epoch milliseconds.
    created_at: i64,
    /// Epoch milliseconds: a session's last statement or job, a batch's end.
    last_activity: Option<i64>,
}

fn session_row(s: &Session) -> Row {
    let v = s.view(false);
    Row {
        id: v.id,
        name: v.name,
        owner: v.owner,
        proxy_user: v.proxy_user,
        kind: Some(v.kind.as_str()),
        state: v.state,
        app_id: v.app_id,
        app_info: v.app_info,
        created_at: s.created_ms,
        last_activity: Some(s.last_activity_ms()),
    }
}

fn batch_row(b: &Batch) -> Row {
    let v = b.view(false);
    let (created_at, finished_at) = b.created_and_finished_ms();
    Row {
        id: v.id,
        name: v.name,
        owner: v.owner,
        proxy_user: v.proxy_user,
        kind: None,
        state: v.state,
        app_id: v.app_id,
        app_info: v.app_info,
        created_at,
        last_activity: finished_at,
    }
}

async fn sessions(State(app): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    let mut rows = Vec::new();
    for s in app.sessions.registry().all() {
        if rest_sessions::can_view(&app, &caller, &s)? {
            rows.push(session_row(&s));
        }
    }
    Ok(Json(json!({ "sessions": rows })))
}

async fn batches(State(app): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    let user = caller.effective_user(&app.access)?;
    let rows: Vec<Row> = app
        .batches
        .registry()
        .all()
        .iter()
        .filter(|b| rest_batches::can_view(&app, b, user.as_deref()))
        .map(|b| batch_row(b))
        .collect();
    Ok(Json(json!({ "batches": rows })))
}

/// A session and all its statements (as many as `livy.rsc.retained-statements` keeps).
async fn session(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let session = rest_sessions::check(&app, &caller, app.sessions.get(&id)?, Need::View)?;
    let (total, statements) = session.statements(false, 0, None);
    Ok(Json(json!({
        "session": session_row(&session),
        "total_statements": total,
        "statements": statements,
    })))
}

async fn session_log(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<rest_sessions::LogPage>, ApiError> {
    let session = rest_sessions::check(&app, &caller, app.sessions.get(&id)?, Need::View)?;
    rest_sessions::log_answer(session.id, &session.logs, &caller)
}

async fn batch_log(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<rest_sessions::LogPage>, ApiError> {
    let batch = rest_batches::viewable(&app, &caller, &id)?;
    rest_sessions::log_answer(batch.id, &batch.logs, &caller)
}
