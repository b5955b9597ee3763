//! What every request gets before anything else runs: an id, a tracing span, and its line in
//! the HTTP metrics.
//!
//! - **Request id**: a client's `X-Request-Id` is kept when it is short and made of safe
//!   characters (a proxy's or a client's correlation id); anything else — too long, quotes,
//!   control characters — is replaced by a fresh id rather than echoed into a header or a log.
//!   The id goes back in the `X-Request-Id` response header, into the access log line, and,
//!   through the request's span, into every server log line written while the request is
//!   handled.
//! - **Metrics**: one count and one latency observation per request, labelled with the route
//!   *template* (`/sessions/{id}`) from axum's `MatchedPath`, never the raw path, so a client
//!   walking random ids cannot create a series per id; unrouted paths share `unmatched`.
//!
//! Cost on the hot path: one map lookup for the route's interned label, one random id, one
//! span; no lock is held across an await.

use crate::metrics;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use std::time::Instant;
use tracing::Instrument;

/// The request id header, both ways.
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The longest client id kept (a UUID is 36; a trace id with a prefix fits).
pub const MAX_REQUEST_ID: usize = 64;

/// The request's id, for the layers and handlers inside (the access log reads it).
#[derive(Debug, Clone)]
pub struct RequestId(pub HeaderValue);

impl RequestId {
    pub fn as_str(&self) -> &str {
        // Only ever built from ASCII (see `sane` and `generate`).
        self.0.to_str().unwrap_or("-")
    }
}

/// The label of requests no route matched.
const UNMATCHED: &str = "unmatched";

/// A client's id when it is 1..=64 characters of `A-Z a-z 0-9 - _ . :`.
fn sane(headers: &HeaderMap) -> Option<HeaderValue> {
    let mut values = headers.get_all(&X_REQUEST_ID).iter();
    let value = values.next()?;
    if values.next().is_some() {
        return None; // two ids: trust neither
    }
    let bytes = value.as_bytes();
    let ok = !bytes.is_empty()
        && bytes.len() <= MAX_REQUEST_ID
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    ok.then(|| value.clone())
}

/// A fresh id: 64 random bits in hex.
fn generate() -> HeaderValue {
    let id = format!("{:016x}", rand::random::<u64>());
    HeaderValue::from_str(&id).unwrap_or_else(|_| HeaderValue::from_static("0"))
}

/// The middleware (outermost, so the id and span cover every other layer).
pub async fn observe(mut req: Request, next: Next) -> Response {
    let start = Instant::now();
    let id = sane(req.headers()).unwrap_or_else(generate);
    let method = metrics::method_label(req.method());
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED, |p| metrics::intern_route(p.as_str()));
    let request_id = RequestId(id.clone());
    let span = tracing::info_span!("request", request_id = request_id.as_str());
    req.extensions_mut().insert(request_id);
    let mut response = next.run(req).instrument(span).await;
    response.headers_mut().insert(X_REQUEST_ID.clone(), id);
    metrics::get().http_request(method, route, response.status().as_u16(), start.elapsed());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&[u8]]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(&X_REQUEST_ID, HeaderValue::from_bytes(v).unwrap());
        }
        h
    }

    #[test]
    fn only_short_safe_ids_are_kept() {
        let uuid = b"0f8fad5b-d9cb-469f-a165-70867728950e";
        assert_eq!(sane(&headers(&[uuid])).unwrap().as_bytes(), uuid);
        assert!(sane(&headers(&[b"trace:abc_1.2"])).is_some());
        let long = vec![b'a'; MAX_REQUEST_ID + 1];
        for bad in [&b""[..], b"a b", b"a\"b", b"<script>", b"\xc3\xa9", &long] {
            assert!(sane(&headers(&[bad])).is_none(), "{bad:?}");
        }
        assert!(sane(&headers(&[b"a", b"b"])).is_none());
        assert!(sane(&HeaderMap::new()).is_none());
        let fresh = generate();
        assert_eq!(fresh.len(), 16);
        assert_ne!(fresh, generate());
    }
}
