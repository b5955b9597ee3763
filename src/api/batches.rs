//! `/batches`: create, list, view, state, log and delete batches.

use super::json::LivyJson;
use super::{AppState, Caller};
use crate::batches::{Batch, CreateBatchRequest};
use crate::error::{ApiError, Msg};
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::sync::Arc;

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

async fn list(State(app): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
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
    Ok(Json(
        json!({ "from": from, "total": total, "sessions": sessions }),
    ))
}

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

async fn view(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let batch = app.batches.get(&id)?;
    let user = caller.effective_user(&app.access)?;
    Ok(Json(batch.view(can_view(&app, &batch, user.as_deref()))))
}

async fn state(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let batch = app.batches.get(&id)?;
    Ok(Json(json!({ "id": batch.id, "state": batch.state() })))
}

async fn log(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
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
