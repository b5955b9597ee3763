//! `/sessions`: create, list, view, state, log, stop and delete interactive sessions.

use super::json::LivyJson;
use super::{AppState, Caller};
use crate::error::{ApiError, Msg};
use crate::logs;
use crate::sessions::{CreateSessionRequest, Session, SessionState, SessionView};
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use std::sync::Arc;
use utoipa::ToSchema;

/// `GET /sessions`: one page of sessions (Livy's `from`/`total`/`sessions`).
#[derive(Serialize, ToSchema)]
pub struct SessionList {
    /// The index of the page's first session.
    pub from: i64,
    /// How many sessions there are in all.
    pub total: usize,
    pub sessions: Vec<SessionView>,
}

/// `GET /sessions/{id}/state` and `GET /batches/{id}/state`.
#[derive(Serialize, ToSchema)]
pub struct StateView {
    pub id: u32,
    pub state: SessionState,
}

/// `GET /sessions/{id}/log` and `GET /batches/{id}/log`: a page of log lines.
#[derive(Serialize, ToSchema)]
pub struct LogPage {
    pub id: u32,
    /// The index of the first line shown.
    pub from: usize,
    /// How many lines are kept in all.
    pub total: usize,
    pub log: Vec<String>,
}

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

#[utoipa::path(get, path = "/sessions", tag = "sessions",
    params(super::openapi::Paging, super::openapi::DoAs),
    responses((status = 200, description = "A page of sessions; details are hidden from callers without view access", body = SessionList)))]
async fn list(State(app): State<AppState>, caller: Caller) -> Result<Json<SessionList>, ApiError> {
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
    Ok(Json(SessionList {
        from,
        total,
        sessions,
    }))
}

#[utoipa::path(post, path = "/sessions", tag = "sessions",
    params(super::openapi::DoAs),
    request_body = CreateSessionRequest,
    responses(
        (status = 201, description = "The session was created and is starting", body = SessionView,
            headers(("Location" = String, description = "The new session's path"))),
        (status = 400, description = "The request is malformed or refused (`Rejected, Reason: ...`)", body = Msg)))]
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

#[utoipa::path(get, path = "/sessions/{id}", tag = "sessions",
    params(super::openapi::SessionId, super::openapi::DoAs),
    responses((status = 200, description = "The session; its log is hidden from callers without view access", body = SessionView),
        (status = 404, description = "No such session", body = Msg)))]
async fn view(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<SessionView>, ApiError> {
    let session = find(&app, &caller, &id, Need::Nothing)?;
    let show = can_view(&app, &caller, &session)?;
    Ok(Json(session.view(show)))
}

#[utoipa::path(get, path = "/sessions/{id}/state", tag = "sessions",
    params(super::openapi::SessionId, super::openapi::DoAs),
    responses((status = 200, description = "The session's state", body = StateView),
        (status = 404, description = "No such session", body = Msg)))]
async fn state(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<StateView>, ApiError> {
    let session = find(&app, &caller, &id, Need::Nothing)?;
    Ok(Json(StateView {
        id: session.id,
        state: session.state(),
    }))
}

#[utoipa::path(get, path = "/sessions/{id}/log", tag = "sessions",
    params(super::openapi::SessionId, super::openapi::LogPaging, super::openapi::DoAs),
    responses((status = 200, description = "A page of the session's log (the last lines by default)", body = LogPage),
        (status = 400, description = "`from` or `size` is not an integer", body = Msg),
        (status = 403, description = "The caller may not view this session", body = Msg),
        (status = 404, description = "No such session", body = Msg)))]
async fn log(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<LogPage>, ApiError> {
    let session = find(&app, &caller, &id, Need::View)?;
    log_answer(session.id, &session.logs, &caller)
}

/// A `/log` answer (sessions and batches): the page of rendered lines `from`/`size` ask for.
pub(super) fn log_answer(
    id: u32,
    logs: &logs::ProcessLogs,
    caller: &Caller,
) -> Result<Json<LogPage>, ApiError> {
    let from = caller.params.int("from")?;
    let size = caller.params.int("size")?;
    let (from, total, lines) = logs::page(logs.lines(), from, size);
    Ok(Json(LogPage {
        id,
        from,
        total,
        log: lines,
    }))
}

#[utoipa::path(delete, path = "/sessions/{id}", tag = "sessions",
    params(super::openapi::SessionId, super::openapi::DoAs),
    responses((status = 200, description = "The session was stopped and removed: `{\"msg\":\"deleted\"}`", body = Msg),
        (status = 403, description = "The caller may not modify this session", body = Msg),
        (status = 404, description = "No such session", body = Msg)))]
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
#[utoipa::path(post, path = "/sessions/{id}/stop", tag = "sessions",
    params(super::openapi::SessionId, super::openapi::DoAs),
    responses((status = 204, description = "The session's driver was stopped; the session stays listed"),
        (status = 403, description = "The caller may not modify this session", body = Msg),
        (status = 404, description = "No such session", body = Msg)))]
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
#[utoipa::path(post, path = "/sessions/{id}/interrupt", tag = "sessions",
    params(super::openapi::SessionId, super::openapi::DoAs),
    responses((status = 200, description = "The session was stopped (as Livy does): `{\"msg\":\"interrupted\"}`", body = Msg),
        (status = 403, description = "The caller may not modify this session", body = Msg),
        (status = 404, description = "No such session", body = Msg)))]
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
#[utoipa::path(post, path = "/sessions/{id}/connect", tag = "sessions",
    params(super::openapi::SessionId, super::openapi::DoAs),
    responses((status = 200, description = "The session", body = SessionView),
        (status = 403, description = "The caller may not modify this session", body = Msg),
        (status = 404, description = "No such session", body = Msg)))]
async fn connect(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<SessionView>, ApiError> {
    let session = find(&app, &caller, &id, Need::Modify)?;
    session.record_activity();
    Ok(Json(session.view(true)))
}
