//! `/sessions/{id}/statements` and `/sessions/{id}/completion`.
//!
//! Extension: `GET /sessions/{id}/statements/{sid}?wait=N` holds the answer for up to N seconds
//! (at most [`MAX_WAIT`]) until the statement is available or cancelled, so clients can get a
//! result without polling. Without `wait` it answers at once, as Livy does.

use super::json::LivyJson;
use super::sessions::{find, Need};
use super::{AppState, Caller};
use crate::error::{ApiError, Msg};
use crate::sessions::request::{CompletionRequest, ExecuteRequest};
use crate::sessions::Session;
use crate::statements::Statement;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use std::time::Duration;
use utoipa::ToSchema;

/// `GET /sessions/{id}/statements`.
#[derive(Serialize, ToSchema)]
pub struct StatementList {
    /// How many statements the session keeps in all.
    pub total_statements: usize,
    pub statements: Vec<Statement>,
}

/// `POST /sessions/{id}/completion`.
#[derive(Serialize, ToSchema)]
pub struct Completions {
    /// Completions of the code at the cursor; empty while the session is not idle or busy.
    pub candidates: Vec<String>,
}

/// Longest `wait` honoured.
pub const MAX_WAIT: Duration = Duration::from_secs(60);

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/sessions/{id}/statements", get(list).post(create))
        .route("/sessions/{id}/statements/{sid}", get(view))
        .route("/sessions/{id}/statements/{sid}/cancel", post(cancel))
        .route("/sessions/{id}/completion", post(completion))
}

fn statement_id(text: &str) -> Result<u32, ApiError> {
    text.parse()
        .map_err(|_| ApiError::NotFound("Statement not found".into()))
}

#[utoipa::path(get, path = "/sessions/{id}/statements", tag = "statements",
    params(super::openapi::SessionId, super::openapi::StatementPaging, super::openapi::DoAs),
    responses((status = 200, description = "The session's statements", body = StatementList),
        (status = 400, description = "`from` or `size` is not an integer", body = Msg),
        (status = 403, description = "The caller may not view this session", body = Msg),
        (status = 404, description = "No such session", body = Msg)))]
async fn list(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<StatementList>, ApiError> {
    let session = find(&app, &caller, &id, Need::View)?;
    let desc = caller
        .params
        .get("order")
        .is_some_and(|o| o.trim().eq_ignore_ascii_case("desc"));
    let from = caller.params.int("from")?.unwrap_or(0).max(0);
    let size = caller
        .params
        .int("size")?
        .map(|s| usize::try_from(s.max(0)).unwrap_or(usize::MAX));
    let (total, page) = session.statements(desc, usize::try_from(from).unwrap_or(usize::MAX), size);
    Ok(Json(StatementList {
        total_statements: total,
        statements: page,
    }))
}

#[utoipa::path(post, path = "/sessions/{id}/statements", tag = "statements",
    params(super::openapi::SessionId, super::openapi::DoAs),
    request_body = ExecuteRequest,
    responses(
        (status = 201, description = "The statement was queued", body = Statement,
            headers(("Location" = String, description = "The new statement's path"))),
        (status = 400, description = "Malformed request, an unknown kind, or a session that cannot take statements", body = Msg),
        (status = 403, description = "The caller may not modify this session", body = Msg),
        (status = 404, description = "No such session", body = Msg)))]
async fn create(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    LivyJson(request): LivyJson<ExecuteRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let session = find(&app, &caller, &id, Need::Modify)?;
    let statement = session.submit(request.code, request.kind.as_deref())?;
    // A statement id the client has seen survives a crash and is never given out again.
    session.persisted_statement(statement.id).await;
    Ok((
        StatusCode::CREATED,
        [(
            header::LOCATION,
            format!("/sessions/{}/statements/{}", session.id, statement.id),
        )],
        Json(statement),
    ))
}

#[utoipa::path(get, path = "/sessions/{id}/statements/{sid}", tag = "statements",
    params(super::openapi::SessionId, super::openapi::StatementId, super::openapi::Wait, super::openapi::DoAs),
    responses((status = 200, description = "The statement", body = Statement),
        (status = 400, description = "`wait` is not an integer", body = Msg),
        (status = 403, description = "The caller may not view this session", body = Msg),
        (status = 404, description = "No such session or statement", body = Msg)))]
async fn view(
    State(app): State<AppState>,
    caller: Caller,
    Path((id, sid)): Path<(String, String)>,
) -> Result<Json<Statement>, ApiError> {
    let session = find(&app, &caller, &id, Need::View)?;
    let sid = statement_id(&sid)?;
    if let Some(secs) = caller.params.int("wait")? {
        let wait = Duration::from_secs(u64::try_from(secs.max(0)).unwrap_or(0)).min(MAX_WAIT);
        session
            .wait_until(wait, |s: &Session| {
                s.statement(sid).is_none_or(|st| st.state.is_done())
            })
            .await;
    }
    session
        .statement(sid)
        .map(Json)
        .ok_or_else(|| ApiError::NotFound("Statement not found".into()))
}

#[utoipa::path(post, path = "/sessions/{id}/statements/{sid}/cancel", tag = "statements",
    params(super::openapi::SessionId, super::openapi::StatementId, super::openapi::DoAs),
    responses((status = 200, description = "The statement is being cancelled: `{\"msg\":\"canceled\"}`", body = Msg),
        (status = 403, description = "The caller may not modify this session", body = Msg),
        (status = 404, description = "No such session or statement", body = Msg)))]
async fn cancel(
    State(app): State<AppState>,
    caller: Caller,
    Path((id, sid)): Path<(String, String)>,
) -> Result<Json<Msg>, ApiError> {
    let session = find(&app, &caller, &id, Need::Modify)?;
    session.cancel(statement_id(&sid)?)?;
    Ok(Msg::new("canceled"))
}

#[utoipa::path(post, path = "/sessions/{id}/completion", tag = "statements",
    params(super::openapi::SessionId, super::openapi::DoAs),
    request_body = CompletionRequest,
    responses((status = 200, description = "Completion candidates", body = Completions),
        (status = 403, description = "The caller may not modify this session", body = Msg),
        (status = 404, description = "No such session", body = Msg)))]
async fn completion(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    LivyJson(request): LivyJson<CompletionRequest>,
) -> Result<Json<Completions>, ApiError> {
    let session = find(&app, &caller, &id, Need::Modify)?;
    let kind = request
        .kind
        .unwrap_or_else(|| session.kind.as_str().to_string());
    let cursor = request
        .cursor
        .map(i64::from)
        .unwrap_or(request.code.chars().count() as i64);
    let candidates = session.complete(kind, request.code, cursor).await;
    Ok(Json(Completions { candidates }))
}
