//! The programmatic API of Livy's Python client: `/submit-job`, `/run-job`, `/jobs/{id}`,
//! `/jobs/{id}/cancel`, `/add-file`, `/add-pyfile`, `/add-jar` and the multipart uploads.
//! Jobs are cloudpickled Python functions (`jobType` "pyspark") or Kryo-written Java/Scala
//! `org.apache.livy.Job` objects ("spark"), run in the driver with a JobContext.

use super::body_limit::upload_too_large;
use super::json::LivyJson;
use super::sessions::{find, Need};
use super::{AppState, Caller};
use crate::coerce::opt_string;
use crate::error::{ApiError, Msg};
use crate::launch::prepare::{local_file, resolve_uri};
use crate::sessions::interactive::{JobKind, JobStatus, Resource};
use crate::sessions::staging::check_name;
use axum::extract::multipart::{Field, MultipartError};
use axum::extract::{DefaultBodyLimit, Multipart, Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post, MethodRouter};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use tokio::io::AsyncWriteExt;
use utoipa::ToSchema;

/// The routes that take a multipart upload (the layers in front of every route let multipart
/// bodies through on these only, with the upload size limit).
pub const UPLOAD_FILE: &str = "/sessions/{id}/upload-file";
pub const UPLOAD_PYFILE: &str = "/sessions/{id}/upload-pyfile";
pub const UPLOAD_JAR: &str = "/sessions/{id}/upload-jar";

/// Whether the route pattern `route` is one of the upload routes.
pub fn is_upload_route(route: &str) -> bool {
    [UPLOAD_FILE, UPLOAD_PYFILE, UPLOAD_JAR].contains(&route)
}

pub fn routes() -> Router<AppState> {
    // The body-limit layer bounds upload bodies; axum's own 2 MB default must not apply.
    let upload = |handler: MethodRouter<AppState>| handler.layer(DefaultBodyLimit::disable());
    Router::new()
        .route("/sessions/{id}/submit-job", post(submit_job))
        .route("/sessions/{id}/run-job", post(submit_job))
        .route("/sessions/{id}/jobs/{job}", get(job_status))
        .route("/sessions/{id}/jobs/{job}/cancel", post(cancel_job))
        .route("/sessions/{id}/add-file", post(add_file))
        .route("/sessions/{id}/add-pyfile", post(add_pyfile))
        .route("/sessions/{id}/add-jar", post(add_jar))
        .route(UPLOAD_FILE, upload(post(upload_file)))
        .route(UPLOAD_PYFILE, upload(post(upload_pyfile)))
        .route(UPLOAD_JAR, upload(post(upload_jar)))
}

/// Livy's `SerializedJob`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct SerializedJob {
    /// The job, base64: a cloudpickled Python function, or a Kryo-written `org.apache.livy.Job`.
    #[serde(default, deserialize_with = "opt_string")]
    job: Option<String>,
    /// `pyspark` (or `python`, the default) or `spark`.
    #[serde(default, deserialize_with = "opt_string")]
    job_type: Option<String>,
}

/// Livy's `AddResource`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct AddResource {
    /// The file's URI, resolved as the session's files are (local paths must be allow-listed).
    #[serde(default, deserialize_with = "opt_string")]
    uri: Option<String>,
}

/// The answer of the Job API's add and upload routes (Livy's: an empty object).
#[derive(Serialize, ToSchema)]
pub struct Empty {}

/// The multipart body of the upload routes: one part holding the file.
#[derive(ToSchema)]
#[allow(dead_code)] // only the OpenAPI document uses it; the handlers stream the part
pub(super) struct UploadFile {
    /// The file; the part's file name is the name it gets in the session.
    #[schema(format = Binary, content_media_type = "application/octet-stream")]
    file: String,
}

/// The multipart body of `/upload-jar`.
#[derive(ToSchema)]
#[allow(dead_code)] // only the OpenAPI document uses it
pub(super) struct UploadJar {
    /// The jar; the part's file name is the name it gets in the session.
    #[schema(format = Binary, content_media_type = "application/octet-stream")]
    jar: String,
}

#[utoipa::path(post, path = "/sessions/{id}/submit-job", tag = "jobs",
    params(super::openapi::SessionId, super::openapi::DoAs),
    request_body = SerializedJob,
    responses((status = 201, description = "The job was queued", body = JobStatus),
        (status = 400, description = "Malformed request, no job, an unknown job type, or a session that cannot take jobs", body = Msg),
        (status = 403, description = "The caller may not modify this session", body = Msg),
        (status = 404, description = "No such session", body = Msg)))]
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
    let kind = match request.job_type.as_deref() {
        None | Some("python") | Some("pyspark") => JobKind::Python,
        Some("spark") => JobKind::Spark,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "Job type '{other}' is not supported: jobType is \"pyspark\" (a Python function) or \"spark\" (a Java/Scala org.apache.livy.Job)."
            )))
        }
    };
    let status = session.submit_job(job, kind)?;
    // A job handle id the client has seen survives a crash and is never given out again.
    session.persisted().await;
    Ok((StatusCode::CREATED, Json(status)))
}

/// Livy's Python client's name for `submit-job` (the route is served by `submit_job`; this
/// only documents the second path).
#[utoipa::path(post, path = "/sessions/{id}/run-job", tag = "jobs",
    params(super::openapi::SessionId, super::openapi::DoAs),
    request_body = SerializedJob,
    responses((status = 201, description = "The job was queued", body = JobStatus),
        (status = 400, description = "Malformed request, no job, an unknown job type, or a session that cannot take jobs", body = Msg),
        (status = 403, description = "The caller may not modify this session", body = Msg),
        (status = 404, description = "No such session", body = Msg)))]
#[allow(dead_code)]
fn run_job() {}

fn job_id(text: &str) -> Result<u64, ApiError> {
    text.parse()
        .map_err(|_| ApiError::NotFound(format!("Job {text} not found.")))
}

#[utoipa::path(get, path = "/sessions/{id}/jobs/{job}", tag = "jobs",
    params(super::openapi::SessionId, super::openapi::JobId, super::openapi::DoAs),
    responses((status = 200, description = "The job's status", body = JobStatus),
        (status = 403, description = "The caller may not view this session", body = Msg),
        (status = 404, description = "No such session or job", body = Msg)))]
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

#[utoipa::path(post, path = "/sessions/{id}/jobs/{job}/cancel", tag = "jobs",
    params(super::openapi::SessionId, super::openapi::JobId, super::openapi::DoAs),
    responses((status = 200, description = "The job is being cancelled: `{\"msg\":\"canceled\"}`", body = Msg),
        (status = 403, description = "The caller may not modify this session", body = Msg),
        (status = 404, description = "No such session or job", body = Msg)))]
async fn cancel_job(
    State(app): State<AppState>,
    caller: Caller,
    Path((id, job)): Path<(String, String)>,
) -> Result<Json<Msg>, ApiError> {
    let session = find(&app, &caller, &id, Need::Modify)?;
    session.cancel_job(job_id(&job)?)?;
    Ok(Msg::new("canceled"))
}

async fn add(
    app: AppState,
    caller: Caller,
    id: String,
    request: AddResource,
    what: Resource,
) -> Result<Json<Empty>, ApiError> {
    let session = find(&app, &caller, &id, Need::Modify)?;
    let uri = request
        .uri
        .filter(|u| !u.is_empty())
        .ok_or_else(|| ApiError::BadRequest("requirement failed: uri is required.".into()))?;
    let mut resolved = resolve_uri(&uri, &app.conf).map_err(ApiError::BadRequest)?;
    // On YARN a file on the server's disk is out of the driver's reach: it is staged in the
    // cluster file system and added from there.
    if let (Some(_), Some(local)) = (&session.staging, local_file(&resolved)) {
        let name = local
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        resolved = session
            .stage_file(&name, &local, app.conf.files_upload_max)
            .await?;
    }
    session.add_resource(what, resolved).await?;
    Ok(Json(Empty {}))
}

#[utoipa::path(post, path = "/sessions/{id}/add-file", tag = "jobs",
    params(super::openapi::SessionId, super::openapi::DoAs),
    request_body = AddResource,
    responses((status = 200, description = "Added a file to the Spark context (`SparkContext.addFile`)", body = Empty),
        (status = 400, description = "Malformed request, no uri, or a uri that is not allowed", body = Msg),
        (status = 403, description = "The caller may not modify this session", body = Msg),
        (status = 404, description = "No such session", body = Msg)))]
async fn add_file(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    LivyJson(r): LivyJson<AddResource>,
) -> Result<Json<Empty>, ApiError> {
    add(app, caller, id, r, Resource::File).await
}

#[utoipa::path(post, path = "/sessions/{id}/add-pyfile", tag = "jobs",
    params(super::openapi::SessionId, super::openapi::DoAs),
    request_body = AddResource,
    responses((status = 200, description = "Added a Python file to the driver's `sys.path` and the Spark context", body = Empty),
        (status = 400, description = "Malformed request, no uri, or a uri that is not allowed", body = Msg),
        (status = 403, description = "The caller may not modify this session", body = Msg),
        (status = 404, description = "No such session", body = Msg)))]
async fn add_pyfile(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    LivyJson(r): LivyJson<AddResource>,
) -> Result<Json<Empty>, ApiError> {
    add(app, caller, id, r, Resource::PyFile).await
}

#[utoipa::path(post, path = "/sessions/{id}/add-jar", tag = "jobs",
    params(super::openapi::SessionId, super::openapi::DoAs),
    request_body = AddResource,
    responses((status = 200, description = "Added a jar to the Spark context and the session's class path", body = Empty),
        (status = 400, description = "Malformed request, no uri, or a uri that is not allowed", body = Msg),
        (status = 403, description = "The caller may not modify this session", body = Msg),
        (status = 404, description = "No such session", body = Msg)))]
async fn add_jar(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    LivyJson(r): LivyJson<AddResource>,
) -> Result<Json<Empty>, ApiError> {
    add(app, caller, id, r, Resource::Jar).await
}

/// Saves the multipart part `field` into the session's run dir (on YARN: into its staging
/// directory in the cluster file system) and adds it to the context.
async fn upload(
    app: AppState,
    caller: Caller,
    id: String,
    mut form: Multipart,
    field: &str,
    what: Resource,
) -> Result<Json<Empty>, ApiError> {
    let session = find(&app, &caller, &id, Need::Modify)?;
    let file_max = app.conf.files_upload_max;
    while let Some(part) = form
        .next_field()
        .await
        .map_err(|e| multipart_error(e, file_max))?
    {
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
        if session.staging.is_some() {
            check_name(&name)?;
        }
        let path = save_upload(part, &session.run_dir.join("uploads"), &name, file_max).await?;
        // On YARN the driver reads the file from the session's staging directory in the
        // cluster file system; the server's copy was only the way there.
        let uri = match &session.staging {
            Some(_) => {
                let staged = session.stage_file(&name, &path, file_max).await;
                let _ = tokio::fs::remove_file(&path).await;
                staged?
            }
            None => path.display().to_string(),
        };
        session.add_resource(what, uri).await?;
        return Ok(Json(Empty {}));
    }
    let noun = if field == "jar" { "jar" } else { "file" };
    Err(ApiError::BadRequest(format!("No {noun} sent!")))
}

fn multipart_error(e: MultipartError, file_max: usize) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge(upload_too_large(file_max))
    } else {
        ApiError::BadRequest(format!("Malformed upload: {}", e.body_text()))
    }
}

/// Streams one uploaded part to `dir/name`, never holding more than a chunk of it in memory,
/// and refuses it once it passes `file_max` bytes. The file appears under its name only when
/// complete (written to a temporary file in the same directory, then renamed); a refused or
/// broken upload leaves nothing behind. File-system calls run off the runtime.
async fn save_upload(
    mut part: Field<'_>,
    dir: &std::path::Path,
    name: &str,
    file_max: usize,
) -> Result<PathBuf, ApiError> {
    let internal = |e: std::io::Error| ApiError::Internal(e.into());
    let staging = {
        let dir = dir.to_path_buf();
        tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&dir)?;
            tempfile::Builder::new()
                .prefix(".upload-")
                .permissions(std::fs::Permissions::from_mode(0o644))
                .tempfile_in(&dir)
        })
        .await
        .map_err(|e| ApiError::Internal(e.into()))?
        .map_err(internal)?
    };
    let written: Result<(), ApiError> = async {
        let mut file = tokio::fs::File::from_std(staging.as_file().try_clone().map_err(internal)?);
        let mut size = 0usize;
        while let Some(chunk) = part
            .chunk()
            .await
            .map_err(|e| multipart_error(e, file_max))?
        {
            size = size.saturating_add(chunk.len());
            if size > file_max {
                return Err(ApiError::PayloadTooLarge(upload_too_large(file_max)));
            }
            file.write_all(&chunk).await.map_err(internal)?;
        }
        file.flush().await.map_err(internal)
    }
    .await;
    let path = dir.join(name);
    let target = path.clone();
    tokio::task::spawn_blocking(move || match written {
        Ok(()) => staging
            .persist(&target)
            .map(|_| ())
            .map_err(|e| internal(e.error)),
        Err(e) => {
            drop(staging);
            Err(e)
        }
    })
    .await
    .map_err(|e| ApiError::Internal(e.into()))??;
    Ok(path)
}

#[utoipa::path(post, path = "/sessions/{id}/upload-file", tag = "jobs",
    params(super::openapi::SessionId, super::openapi::DoAs),
    request_body(content = UploadFile, content_type = "multipart/form-data"),
    responses((status = 200, description = "Uploaded a file into the session and added it", body = Empty),
        (status = 400, description = "A malformed upload, no file part, or a part without a usable file name", body = Msg),
        (status = 403, description = "The caller may not modify this session", body = Msg),
        (status = 404, description = "No such session", body = Msg),
        (status = 413, description = "The file is larger than `livy.file.upload.max.size`", body = Msg)))]
async fn upload_file(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    form: Multipart,
) -> Result<Json<Empty>, ApiError> {
    upload(app, caller, id, form, "file", Resource::File).await
}

#[utoipa::path(post, path = "/sessions/{id}/upload-pyfile", tag = "jobs",
    params(super::openapi::SessionId, super::openapi::DoAs),
    request_body(content = UploadFile, content_type = "multipart/form-data"),
    responses((status = 200, description = "Uploaded a Python file into the session and added it", body = Empty),
        (status = 400, description = "A malformed upload, no file part, or a part without a usable file name", body = Msg),
        (status = 403, description = "The caller may not modify this session", body = Msg),
        (status = 404, description = "No such session", body = Msg),
        (status = 413, description = "The file is larger than `livy.file.upload.max.size`", body = Msg)))]
async fn upload_pyfile(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    form: Multipart,
) -> Result<Json<Empty>, ApiError> {
    upload(app, caller, id, form, "file", Resource::PyFile).await
}

#[utoipa::path(post, path = "/sessions/{id}/upload-jar", tag = "jobs",
    params(super::openapi::SessionId, super::openapi::DoAs),
    request_body(content = UploadJar, content_type = "multipart/form-data"),
    responses((status = 200, description = "Uploaded a jar into the session and added it", body = Empty),
        (status = 400, description = "A malformed upload, no file part, or a part without a usable file name", body = Msg),
        (status = 403, description = "The caller may not modify this session", body = Msg),
        (status = 404, description = "No such session", body = Msg),
        (status = 413, description = "The file is larger than `livy.file.upload.max.size`", body = Msg)))]
async fn upload_jar(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    form: Multipart,
) -> Result<Json<Empty>, ApiError> {
    upload(app, caller, id, form, "jar", Resource::Jar).await
}
