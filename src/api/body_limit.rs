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
//!
//! Every JSON body is held in memory while it is read and parsed, so all of them together draw
//! on one [`BodyBudget`]: twice the JSON limit. A body reserves its declared length (the whole
//! limit when it has none, chunked or HTTP/2) before its first byte is read, once, so requests
//! never hold part of the budget while waiting for more; one that cannot get its share within
//! [`BUDGET_WAIT`] is answered 503. Without it, N concurrent bodies cost N times the limit.

use super::jobs;
use crate::conf::keys::RPC_MAX_SIZE;
use crate::conf::LivyConf;
use crate::error::ApiError;
use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// What a driver-channel message adds around the statement code or job it carries (type, ids,
/// kind; a few dozen bytes), with room to spare. The code itself is never longer in the message
/// than in the request: both are JSON strings, and the message escapes only what a request must
/// escape too.
pub const FRAME_ENVELOPE: usize = 1024;

/// Room for the multipart boundaries and part headers around an uploaded file.
pub const MULTIPART_FRAMING: usize = 64 * 1024;

/// The key naming the upload limit.
pub const UPLOAD_MAX_SIZE: &str = "livy.file.upload.max.size";

/// How long a body waits for its share of the [`BodyBudget`] before it is refused.
pub const BUDGET_WAIT: Duration = Duration::from_secs(30);

/// How long reading one JSON body may take, all of it: a client that trickles its body holds
/// part of the budget, so it cannot hold it forever.
pub const BODY_READ_DEADLINE: Duration = Duration::from_secs(120);

/// The bytes all JSON bodies being read at once may take, counted in KiB (a semaphore's
/// permits are `u32`).
#[derive(Debug, Clone)]
pub struct BodyBudget {
    kib: Arc<Semaphore>,
    total_kib: u32,
    /// [`BUDGET_WAIT`]; shorter in tests, which run in real time (tokio's paused clock needs its
    /// `test-util` feature, and that feature alone would make `cargo test` rebuild tokio, every
    /// crate above it and this one again instead of reusing the release build).
    wait: Duration,
}

impl BodyBudget {
    pub fn new(bytes: usize) -> Self {
        let total_kib = u32::try_from(bytes.div_ceil(1024)).unwrap_or(u32::MAX);
        BodyBudget {
            kib: Arc::new(Semaphore::new(total_kib as usize)),
            total_kib,
            wait: BUDGET_WAIT,
        }
    }

    /// A budget whose bodies wait `wait` instead of [`BUDGET_WAIT`] (for tests).
    #[cfg(test)]
    pub fn with_wait(bytes: usize, wait: Duration) -> Self {
        BodyBudget {
            wait,
            ..Self::new(bytes)
        }
    }

    /// Reserves room for a body of `bytes` (never more than the whole budget), waiting up to
    /// [`BUDGET_WAIT`] in turn with the others.
    pub async fn reserve(&self, bytes: usize) -> Result<OwnedSemaphorePermit, ApiError> {
        let kib = u32::try_from(bytes.div_ceil(1024))
            .unwrap_or(u32::MAX)
            .clamp(1, self.total_kib.max(1));
        match tokio::time::timeout(self.wait, self.kib.clone().acquire_many_owned(kib)).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(ApiError::ServiceUnavailable(
                "The server is reading too many large request bodies at once; try again shortly."
                    .into(),
            )),
        }
    }

    /// KiB not reserved right now (for tests).
    #[cfg(test)]
    pub fn available_kib(&self) -> usize {
        self.kib.available_permits()
    }
}

/// The limits of the server's routes.
#[derive(Debug, Clone)]
pub struct BodyLimits {
    /// Every JSON route.
    pub json: usize,
    /// `livy.rsc.rpc.max.size`, for messages.
    pub rpc_max: usize,
    /// `livy.file.upload.max.size`: one uploaded file.
    pub upload_file: usize,
    /// Shared by every JSON body of the server.
    pub budget: BodyBudget,
}

impl BodyLimits {
    pub fn from_conf(conf: &LivyConf) -> Self {
        Self::new(conf.rsc.max_message, conf.files_upload_max)
    }

    pub fn new(rpc_max: usize, upload_file: usize) -> Self {
        let json = rpc_max.saturating_sub(FRAME_ENVELOPE);
        BodyLimits {
            json,
            rpc_max,
            upload_file,
            budget: BodyBudget::new(json.saturating_mul(2)),
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

/// The budget a request's JSON body draws on, put in its extensions by the layer.
#[derive(Debug, Clone)]
pub struct BudgetFor(pub BodyBudget);

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
    parts.extensions.insert(BudgetFor(limits.budget.clone()));
    let body = Body::new(http_body_util::Limited::new(body, limit.bytes));
    next.run(Request::from_parts(parts, body)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bodies take their share once and in turn; one that cannot get it in time is a 503, and
    /// a body larger than the whole budget still gets in alone (it is cut at its limit anyway).
    #[tokio::test]
    async fn bodies_share_one_budget_and_wait_in_turn() {
        let budget = BodyBudget::with_wait(64 * 1024, Duration::from_secs(3));
        let first = budget.reserve(40 * 1024).await.unwrap();
        assert_eq!(budget.available_kib(), 24);
        let waiting = tokio::spawn({
            let budget = budget.clone();
            async move { budget.reserve(40 * 1024).await.map(|_| ()) }
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!waiting.is_finished(), "there is no room for it yet");
        drop(first);
        waiting.await.unwrap().unwrap();

        let all = budget.reserve(10 << 30).await.unwrap();
        assert_eq!(budget.available_kib(), 0);
        let refused = budget.reserve(1).await.unwrap_err();
        assert!(
            matches!(refused, ApiError::ServiceUnavailable(_)),
            "{refused:?}"
        );
        drop(all);
        let _again = budget.reserve(1).await.unwrap();
    }
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
