//! The one error type at the HTTP boundary. Each variant *is* a Livy response: its status code and
//! `{"msg": ...}` body. Internal failures are logged once here and answered with a generic message,
//! so no internal detail (paths, secrets, stack traces) reaches a client.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

/// An error answered to a REST client.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is malformed or not allowed by configuration.
    #[error("{0}")]
    BadRequest(String),
    /// 401: no (valid) credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: authenticated but not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// 404: no such session, batch, statement or route.
    #[error("{0}")]
    NotFound(String),
    /// 405: the route exists but not for this method.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// 406: an `Accept: application/vnd.livy.vX+json` version this server does not speak.
    #[error("{0}")]
    NotAcceptable(String),
    /// 408: a request body that did not arrive in time.
    #[error("{0}")]
    RequestTimeout(String),
    /// 413: a body larger than allowed.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// 415: a body type a route does not take (a form or text body on a JSON route).
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 503: a service the request depends on (the LDAP server) cannot be reached, or the server
    /// is at one of its bounds (bodies in memory, requests queued for a driver).
    #[error("{0}")]
    ServiceUnavailable(String),
    /// 500: a fault of ours; the detail is logged, never sent.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::NotAcceptable(_) => StatusCode::NOT_ACCEPTABLE,
            ApiError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::ServiceUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Livy's message for a session or batch that does not exist.
    pub fn session_not_found(id_or_name: &str) -> Self {
        ApiError::NotFound(format!("Session '{id_or_name}' not found."))
    }

    /// Livy's shape for a rejected create request (`SessionServlet.post`).
    pub fn rejected(reason: impl std::fmt::Display) -> Self {
        ApiError::BadRequest(format!("Rejected, Reason: {reason}"))
    }
}

/// The body of every error and of plain messages such as `{"msg":"deleted"}`.
#[derive(Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Msg {
    pub msg: String,
}

impl Msg {
    pub fn new(msg: impl Into<String>) -> Json<Msg> {
        Json(Msg { msg: msg.into() })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let msg = match &self {
            ApiError::Internal(e) => {
                tracing::error!(
                    error = format!("{e:#}"),
                    "internal error answering a request"
                );
                "Internal server error; see the Livy server log.".to_string()
            }
            other => other.to_string(),
        };
        (status, Json(Msg { msg })).into_response()
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        ApiError::Internal(e)
    }
}
