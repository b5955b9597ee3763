//! How big a request body may be, checked at the door in one layer.
//!
//! A body whose `Content-Length` is over the limit is answered 413 before a byte of it is read;
//! any other body (chunked, or an HTTP/2 stream without a length) is cut off at the limit as it
//! is read, so memory per request is bounded by the limit whatever the client sends.
//!
//! JSON bodies carry statements, completions and Job API jobs, which go to the driver in one
//! message of the driver channel; that channel refuses messages over `livy.rsc.rpc.max.size`.
//! So the JSON limit is that size less [`FRAME_ENVELOPE`]: a statement too big to send is refused
//! here with a 413 naming the key, never accepted and then lost between server and driver. Upload
//! bodies are limited by `livy.file.upload.max.size` (plus the multipart framing), and the file
//! itself is counted again as it is streamed to disk.

use super::jobs;
use crate::conf::keys::RPC_MAX_SIZE;
use crate::conf::LivyConf;
use crate::error::ApiError;
use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// What a driver-channel message adds around the statement code or job it carries (type, ids,
/// kind; a few dozen bytes), with room to spare. The code itself is never longer in the message
/// than in the request: both are JSON strings, and the message escapes only what a request must
/// escape too.
pub const FRAME_ENVELOPE: usize = 1024;

/// Room for the multipart boundaries and part headers around an uploaded file.
pub const MULTIPART_FRAMING: usize = 64 * 1024;

/// The key naming the upload limit.
pub const UPLOAD_MAX_SIZE: &str = "livy.file.upload.max.size";

/// The limits of the server's routes.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    /// Every JSON route.
    pub json: usize,
    /// `livy.rsc.rpc.max.size`, for messages.
    pub rpc_max: usize,
    /// `livy.file.upload.max.size`: one uploaded file.
    pub upload_file: usize,
}

impl BodyLimits {
    pub fn from_conf(conf: &LivyConf) -> Self {
        Self::new(conf.rsc.max_message, conf.files_upload_max)
    }

    pub fn new(rpc_max: usize, upload_file: usize) -> Self {
        BodyLimits {
            json: rpc_max.saturating_sub(FRAME_ENVELOPE),
            rpc_max,
            upload_file,
        }
    }

    /// The limit of the route `route` (its pattern, e.g. `/sessions/{id}/upload-jar`).
    fn for_route(&self, route: Option<&str>) -> BodyLimit {
        if route.is_some_and(jobs::is_upload_route) {
            BodyLimit {
                bytes: self.upload_file.saturating_add(MULTIPART_FRAMING),
                why: Why::Upload {
                    file_max: self.upload_file,
                },
            }
        } else {
            self.json_limit()
        }
    }

    /// The limit of every JSON route.
    pub fn json_limit(&self) -> BodyLimit {
        BodyLimit {
            bytes: self.json,
            why: Why::DriverMessage {
                rpc_max: self.rpc_max,
            },
        }
    }
}

/// The limit applied to one request, put in its extensions for the extractor that reads it.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit {
    pub bytes: usize,
    why: Why,
}

#[derive(Debug, Clone, Copy)]
enum Why {
    DriverMessage { rpc_max: usize },
    Upload { file_max: usize },
}

impl BodyLimit {
    /// The 413 for a body over this limit.
    pub fn too_large(&self) -> ApiError {
        ApiError::PayloadTooLarge(match self.why {
            Why::DriverMessage { rpc_max } => format!(
                "Request body is larger than {} bytes: statements and jobs reach the driver in one \
                 message of at most {RPC_MAX_SIZE} = {rpc_max} bytes, less {FRAME_ENVELOPE} for \
                 the message itself.",
                self.bytes
            ),
            Why::Upload { file_max } => upload_too_large(file_max),
        })
    }
}

/// The message for an uploaded file over `livy.file.upload.max.size`.
pub fn upload_too_large(file_max: usize) -> String {
    format!("The upload is larger than {UPLOAD_MAX_SIZE} = {file_max} bytes.")
}

/// Whether `error` (from reading a body) is the body going over its limit.
pub fn is_over_limit(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(e) = next {
        if e.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        next = e.source();
    }
    false
}

/// The layer: refuses a declared length over the limit, and bounds what is read of the rest.
pub async fn limit_body(State(limits): State<BodyLimits>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str);
    let limit = limits.for_route(route);
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit.bytes as u64) {
        tracing::info!(
            path = %req.uri().path(),
            length = declared,
            limit = limit.bytes,
            "request body refused before reading: over the limit"
        );
        return limit.too_large().into_response();
    }
    let (mut parts, body) = req.into_parts();
    parts.extensions.insert(limit);
    let body = Body::new(http_body_util::Limited::new(body, limit.bytes));
    next.run(Request::from_parts(parts, body)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::json::parse_body;
    use crate::driver::protocol::ToDriver;
    use crate::sessions::request::ExecuteRequest;

    /// The largest statement body the door lets through fits one driver message, whatever
    /// its code holds.
    #[test]
    fn a_statement_at_the_limit_fits_the_driver_channel() {
        let limits = BodyLimits::new(64 * 1024, 1024);
        for unit in [
            "a",
            "\\n",
            "\\u0001",
            "\\\"",
            "é",
            "\\u00e9",
            "\\ud83d\\ude00",
        ] {
            let head = r#"{"kind":"pyspark","code":""#;
            let tail = r#""}"#;
            let room = limits.json - head.len() - tail.len();
            let mut body = format!("{head}{}{tail}", unit.repeat(room / unit.len()));
            while body.len() < limits.json {
                body.insert(head.len(), ' ');
            }
            assert_eq!(body.len(), limits.json);
            let request: ExecuteRequest = parse_body(&body.clone().into()).unwrap();
            let frame = ToDriver::Execute {
                id: u32::MAX,
                kind: "pyspark".into(),
                code: request.code,
            };
            let size = serde_json::to_vec(&frame).unwrap().len();
            assert!(
                size <= limits.rpc_max,
                "{unit}: {size} > {}",
                limits.rpc_max
            );
        }
    }
}
