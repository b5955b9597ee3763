//! The programmatic API of Livy's Python client: `/submit-job`, `/run-job`, `/jobs/{id}`,
//! `/jobs/{id}/cancel`, `/add-file`, `/add-pyfile`, `/add-jar` and the multipart uploads.
//! Jobs are cloudpickled Python functions run in the driver with a JobContext.

use super::json::{opt_string, LivyJson};
use super::sessions::{find, Need};
use super::{AppState, Caller};
use crate::error::ApiError;
use crate::launch::prepare::resolve_uri;
use crate::sessions::interactive::{JobStatus, Resource};
use axum::extract::{DefaultBodyLimit, Multipart, Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

pub fn routes(upload_limit: usize) -> Router<AppState> {
    Router::new()
        .route("/sessions/{id}/submit-job", post(submit_job))
        .route("/sessions/{id}/run-job", post(submit_job))
        .route("/sessions/{id}/jobs/{job}", get(job_status))
        .route("/sessions/{id}/jobs/{job}/cancel", post(cancel_job))
        .route("/sessions/{id}/add-file", post(add_file))
        .route("/sessions/{id}/add-pyfile", post(add_pyfile))
        .route("/sessions/{id}/add-jar", post(add_jar))
        .route(
            "/sessions/{id}/upload-file",
            post(upload_file).layer(DefaultBodyLimit::max(upload_limit)),
        )
        .route(
            "/sessions/{id}/upload-pyfile",
            post(upload_pyfile).layer(DefaultBodyLimit::max(upload_limit)),
        )
        .route(
            "/sessions/{id}/upload-jar",
            post(upload_jar).layer(DefaultBodyLimit::max(upload_limit)),
        )
}

/// Livy's `SerializedJob`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SerializedJob {
    #[serde(default, deserialize_with = "opt_string")]
    job: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    job_type: Option<String>,
}

/// Livy's `AddResource`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddResource {
    #[serde(default, deserialize_with = "opt_string")]
    uri: Option<String>,
}

async fn submit_job(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    LivyJson(request): LivyJson<SerializedJob>,
) -> Result<(StatusCode, Json<JobStatus>), ApiError> {
    let session = find(&app, &caller, &id, Need::Modify)?;
    let job = request
        .job
        .filter(|j| !j.is_empty())
        .ok_or_else(|| ApiError::BadRequest("requirement failed: no job provided.".into()))?;
    match request.job_type.as_deref() {
        None | Some("python") | Some("pyspark") => {}
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
            "Job type '{other}' is not supported: livy-rs runs Python jobs (jobType \"python\")."
        )))
        }
    }
    let status = session.submit_job(job)?;
    Ok((StatusCode::CREATED, Json(status)))
}

fn job_id(text: &str) -> Result<u64, ApiError> {
    text.parse()
        .map_err(|_| ApiError::NotFound(format!("Job {text} not found.")))
}

async fn job_status(
    State(app): State<AppState>,
    caller: Caller,
    Path((id, job)): Path<(String, String)>,
) -> Result<Json<JobStatus>, ApiError> {
    let session = find(&app, &caller, &id, Need::View)?;
    let job = job_id(&job)?;
    session
        .job(job)
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("Job {job} not found.")))
}

async fn cancel_job(
    State(app): State<AppState>,
    caller: Caller,
    Path((id, job)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let session = find(&app, &caller, &id, Need::Modify)?;
    session.cancel_job(job_id(&job)?)?;
    Ok(Json(json!({ "msg": "canceled" })))
}

async fn add(
    app: AppState,
    caller: Caller,
    id: String,
    request: AddResource,
    what: Resource,
) -> Result<Json<Value>, ApiError> {
    let session = find(&app, &caller, &id, Need::Modify)?;
    let uri = request
        .uri
        .filter(|u| !u.is_empty())
        .ok_or_else(|| ApiError::BadRequest("requirement failed: uri is required.".into()))?;
    let resolved = resolve_uri(&uri, &app.conf).map_err(ApiError::BadRequest)?;
    session.add_resource(what, resolved).await?;
    Ok(Json(json!({})))
}

async fn add_file(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    LivyJson(r): LivyJson<AddResource>,
) -> Result<Json<Value>, ApiError> {
    add(app, caller, id, r, Resource::File).await
}

async fn add_pyfile(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    LivyJson(r): LivyJson<AddResource>,
) -> Result<Json<Value>, ApiError> {
    add(app, caller, id, r, Resource::PyFile).await
}

async fn add_jar(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    LivyJson(r): LivyJson<AddResource>,
) -> Result<Json<Value>, ApiError> {
    add(app, caller, id, r, Resource::Jar).await
}

/// Saves the multipart part `field` into the session's run dir and adds it to the context.
async fn upload(
    app: AppState,
    caller: Caller,
    id: String,
    mut form: Multipart,
    field: &str,
    what: Resource,
) -> Result<Json<Value>, ApiError> {
    let session = find(&app, &caller, &id, Need::Modify)?;
    let too_large = |_| {
        ApiError::PayloadTooLarge(format!(
            "Upload is larger than livy.file.upload.max.size or malformed ({} bytes allowed).",
            app.conf.files_upload_max
        ))
    };
    while let Some(part) = form.next_field().await.map_err(too_large)? {
        if part.name() != Some(field) {
            continue;
        }
        let name = part
            .file_name()
            .and_then(|n| std::path::Path::new(n).file_name())
            .and_then(|n| n.to_str())
            .filter(|n| !n.starts_with('.'))
            .map(String::from)
            .ok_or_else(|| {
                ApiError::BadRequest("The uploaded part has no usable file name.".into())
            })?;
        let data = part.bytes().await.map_err(too_large)?;
        let dir = session.run_dir.join("uploads");
        std::fs::create_dir_all(&dir).map_err(|e| ApiError::Internal(e.into()))?;
        let path = dir.join(&name);
        std::fs::write(&path, &data).map_err(|e| ApiError::Internal(e.into()))?;
        session
            .add_resource(what, path.display().to_string())
            .await?;
        return Ok(Json(json!({})));
    }
    let noun = if field == "jar" { "jar" } else { "file" };
    Err(ApiError::BadRequest(format!("No {noun} sent!")))
}

async fn upload_file(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    form: Multipart,
) -> Result<Json<Value>, ApiError> {
    upload(app, caller, id, form, "file", Resource::File).await
}

async fn upload_pyfile(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    form: Multipart,
) -> Result<Json<Value>, ApiError> {
    upload(app, caller, id, form, "file", Resource::PyFile).await
}

async fn upload_jar(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    form: Multipart,
) -> Result<Json<Value>, ApiError> {
    upload(app, caller, id, form, "jar", Resource::Jar).await
}
