//! `/batches`: create, list, view, state, log and delete batches.

use super::json::LivyJson;
use super::sessions::{LogPage, StateView};
use super::{AppState, Caller};
use crate::batches::{Batch, BatchView, CreateBatchRequest};
use crate::error::{ApiError, Msg};
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use std::sync::Arc;
use utoipa::ToSchema;

/// `GET /batches`: one page of batches (Livy calls the list `sessions` here too).
#[derive(Serialize, ToSchema)]
pub struct BatchList {
    /// The index of the page's first batch.
    pub from: i64,
    /// How many batches there are in all.
    pub total: usize,
    pub sessions: Vec<BatchView>,
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/batches", get(list).post(create))
        .route("/batches/", get(list).post(create))
        .route("/batches/{id}", get(view).delete(delete))
        .route("/batches/{id}/state", get(state))
        .route("/batches/{id}/log", get(log))
}

/// Default page size of `GET /batches` (Livy's).
const DEFAULT_PAGE: i64 = 100;

#[utoipa::path(get, path = "/batches", tag = "batches",
    params(super::openapi::Paging, super::openapi::DoAs),
    responses((status = 200, description = "A page of batches; logs are hidden from callers without view access", body = BatchList)))]
async fn list(State(app): State<AppState>, caller: Caller) -> Result<Json<BatchList>, ApiError> {
    let from = caller.params.int("from")?.unwrap_or(0).max(0);
    let size = caller.params.int("size")?.unwrap_or(DEFAULT_PAGE).max(0);
    let user = caller.effective_user(&app.access)?;
    let (total, page) = app.batches.registry().page(
        usize::try_from(from).unwrap_or(usize::MAX),
        usize::try_from(size).unwrap_or(usize::MAX),
    );
    let sessions: Vec<_> = page
        .iter()
        .map(|b| b.view(can_view(&app, b, user.as_deref())))
        .collect();
    Ok(Json(BatchList {
        from,
        total,
        sessions,
    }))
}

#[utoipa::path(post, path = "/batches", tag = "batches",
    params(super::openapi::DoAs),
    request_body = CreateBatchRequest,
    responses(
        (status = 201, description = "The batch was created and is starting", body = BatchView,
            headers(("Location" = String, description = "The new batch's path"))),
        (status = 400, description = "The request is malformed or refused (`Rejected, Reason: ...`)", body = Msg)))]
async fn create(
    State(app): State<AppState>,
    caller: Caller,
    LivyJson(request): LivyJson<CreateBatchRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let batches = app.batches.clone();
    let batch = batches
        .create(request, caller.user.clone(), caller.do_as.clone())
        .await?;
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, format!("/batches/{}", batch.id))],
        Json(batch.view(true)),
    ))
}

#[utoipa::path(get, path = "/batches/{id}", tag = "batches",
    params(super::openapi::BatchId, super::openapi::DoAs),
    responses((status = 200, description = "The batch; its log is hidden from callers without view access", body = BatchView),
        (status = 404, description = "No such batch", body = Msg)))]
async fn view(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<BatchView>, ApiError> {
    let batch = app.batches.get(&id)?;
    let user = caller.effective_user(&app.access)?;
    Ok(Json(batch.view(can_view(&app, &batch, user.as_deref()))))
}

#[utoipa::path(get, path = "/batches/{id}/state", tag = "batches",
    params(super::openapi::BatchId),
    responses((status = 200, description = "The batch's state", body = StateView),
        (status = 404, description = "No such batch", body = Msg)))]
async fn state(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<StateView>, ApiError> {
    let batch = app.batches.get(&id)?;
    Ok(Json(StateView {
        id: batch.id,
        state: batch.state(),
    }))
}

#[utoipa::path(get, path = "/batches/{id}/log", tag = "batches",
    params(super::openapi::BatchId, super::openapi::LogPaging, super::openapi::DoAs),
    responses((status = 200, description = "A page of the batch's log (the last lines by default)", body = LogPage),
        (status = 400, description = "`from` or `size` is not an integer", body = Msg),
        (status = 403, description = "The caller may not view this batch", body = Msg),
        (status = 404, description = "No such batch", body = Msg)))]
async fn log(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<LogPage>, ApiError> {
    let batch = viewable(&app, &caller, &id)?;
    super::sessions::log_answer(batch.id, &batch.logs, &caller)
}

/// The batch `id` when the caller may view it (its log, its page in the web UI).
pub(super) fn viewable(app: &AppState, caller: &Caller, id: &str) -> Result<Arc<Batch>, ApiError> {
    let batch = app.batches.get(id)?;
    let user = caller.effective_user(&app.access)?;
    if !can_view(app, &batch, user.as_deref()) {
        return Err(forbidden(&batch, user.as_deref()));
    }
    Ok(batch)
}

#[utoipa::path(delete, path = "/batches/{id}", tag = "batches",
    params(super::openapi::BatchId, super::openapi::DoAs),
    responses((status = 200, description = "The batch was killed and removed: `{\"msg\":\"deleted\"}`", body = Msg),
        (status = 403, description = "The caller may not modify this batch", body = Msg),
        (status = 404, description = "No such batch", body = Msg)))]
async fn delete(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Msg>, ApiError> {
    let batch = app.batches.get(&id)?;
    let user = caller.effective_user(&app.access)?;
    if !app.access.has_modify_access(
        batch.owner.as_deref(),
        user.as_deref(),
        batch.proxy_user.as_deref(),
    ) {
        return Err(forbidden(&batch, user.as_deref()));
    }
    app.batches.delete(&batch).await;
    Ok(Msg::new("deleted"))
}

pub(super) fn can_view(app: &AppState, batch: &Arc<Batch>, user: Option<&str>) -> bool {
    app.access
        .has_view_access(batch.owner.as_deref(), user, batch.proxy_user.as_deref())
}

fn forbidden(batch: &Batch, user: Option<&str>) -> ApiError {
    ApiError::Forbidden(format!(
        "User '{}' does not have access to batch {}.",
        user.unwrap_or(""),
        batch.id
    ))
}
