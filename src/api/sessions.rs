//! `/sessions`: create, list, view, state, log, stop and delete interactive sessions.

use super::json::LivyJson;
use super::{AppState, Caller};
use crate::error::{ApiError, Msg};
use crate::logs;
use crate::sessions::{CreateSessionRequest, Session};
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use std::sync::Arc;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/sessions", get(list).post(create))
        .route("/sessions/", get(list).post(create))
        .route("/sessions/{id}", get(view).delete(delete))
        .route("/sessions/{id}/state", get(state))
        .route("/sessions/{id}/log", get(log))
        .route("/sessions/{id}/stop", post(stop))
        .route("/sessions/{id}/interrupt", post(interrupt))
        .route("/sessions/{id}/connect", post(connect))
}

/// What a route needs of its caller (Livy's withUnprotected/View/ModifyAccessSession).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Need {
    Nothing,
    View,
    Modify,
}

/// Finds a session, records the heartbeat, and checks the caller's access.
pub(super) fn find(
    app: &AppState,
    caller: &Caller,
    id: &str,
    need: Need,
) -> Result<Arc<Session>, ApiError> {
    let session = app.sessions.get(id)?;
    session.heartbeat();
    check(app, caller, session, need)
}

/// Checks the caller's access to a session already found. The web UI uses this without
/// [`find`]'s heartbeat: a page left open must not keep an abandoned session alive.
pub(super) fn check(
    app: &AppState,
    caller: &Caller,
    session: Arc<Session>,
    need: Need,
) -> Result<Arc<Session>, ApiError> {
    if need == Need::Nothing {
        return Ok(session);
    }
    let user = caller.effective_user(&app.access)?;
    let (owner, proxy) = (session.owner.as_deref(), session.proxy_user.as_deref());
    let allowed = match need {
        Need::View => app.access.has_view_access(owner, user.as_deref(), proxy),
        _ => app.access.has_modify_access(owner, user.as_deref(), proxy),
    };
    if allowed {
        Ok(session)
    } else {
        Err(ApiError::Forbidden(format!(
            "User '{}' does not have access to session {}.",
            user.unwrap_or_default(),
            session.id
        )))
    }
}

pub(super) fn can_view(
    app: &AppState,
    caller: &Caller,
    session: &Session,
) -> Result<bool, ApiError> {
    let user = caller.effective_user(&app.access)?;
    Ok(app.access.has_view_access(
        session.owner.as_deref(),
        user.as_deref(),
        session.proxy_user.as_deref(),
    ))
}

async fn list(State(app): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    let from = caller.params.int("from")?.unwrap_or(0).max(0);
    let size = caller.params.int("size")?.unwrap_or(100).max(0);
    let (total, page) = app.sessions.registry().page(
        usize::try_from(from).unwrap_or(usize::MAX),
        usize::try_from(size).unwrap_or(usize::MAX),
    );
    let mut sessions = Vec::with_capacity(page.len());
    for s in &page {
        sessions.push(s.view(can_view(&app, &caller, s)?));
    }
    Ok(Json(
        json!({ "from": from, "total": total, "sessions": sessions }),
    ))
}

async fn create(
    State(app): State<AppState>,
    caller: Caller,
    LivyJson(request): LivyJson<CreateSessionRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let session = app
        .sessions
        .create(request, caller.user.clone(), caller.do_as.clone())
        .await?;
    session.record_activity();
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, format!("/sessions/{}", session.id))],
        Json(session.view(true)),
    ))
}

async fn view(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let session = find(&app, &caller, &id, Need::Nothing)?;
    let show = can_view(&app, &caller, &session)?;
    Ok(Json(json!(session.view(show))))
}

async fn state(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let session = find(&app, &caller, &id, Need::Nothing)?;
    Ok(Json(json!({ "id": session.id, "state": session.state() })))
}

async fn log(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let session = find(&app, &caller, &id, Need::View)?;
    log_answer(session.id, &session.logs, &caller)
}

/// A `/log` answer (sessions and batches): the page of rendered lines `from`/`size` ask for.
pub(super) fn log_answer(
    id: u32,
    logs: &logs::ProcessLogs,
    caller: &Caller,
) -> Result<Json<Value>, ApiError> {
    let from = caller.params.int("from")?;
    let size = caller.params.int("size")?;
    let (from, total, lines) = logs::page(logs.lines(), from, size);
    Ok(Json(
        json!({ "id": id, "from": from, "total": total, "log": lines }),
    ))
}

async fn delete(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Msg>, ApiError> {
    let session = find(&app, &caller, &id, Need::Modify)?;
    app.sessions.delete(&session).await;
    Ok(Msg::new("deleted"))
}

/// Livy's `POST /sessions/{id}/stop`: stops the driver, keeps the session listed.
async fn stop(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let session = find(&app, &caller, &id, Need::Modify)?;
    app.sessions.stop(&session).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Livy's `POST /sessions/{id}/interrupt`, which in Livy stops the session.
async fn interrupt(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Msg>, ApiError> {
    let session = find(&app, &caller, &id, Need::Modify)?;
    app.sessions.stop(&session).await;
    Ok(Msg::new("interrupted"))
}

/// Livy's `POST /sessions/{id}/connect` (the Job API client's "attach"): records activity.
async fn connect(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let session = find(&app, &caller, &id, Need::Modify)?;
    session.record_activity();
    Ok(Json(json!(session.view(true))))
}
