//! Livy's two protective filters as middleware: CSRF protection (`CsrfFilter`) and the security
//! headers (`SecurityHeadersFilter`). Both wrap every route, the UI and the 404/405 fallbacks.

use crate::error::ApiError;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// The header a client sends to show the request is not a cross-site form post.
pub const CSRF_HEADER: &str = "x-requested-by";

/// Livy's exact message for a request without [`CSRF_HEADER`].
pub const CSRF_MESSAGE: &str = "Missing Required Header for CSRF protection.";

/// Rejects a state-changing request that lacks `X-Requested-By`, as Livy's `CsrfFilter` does:
/// only GET, HEAD and OPTIONS pass without it, and any value (even empty) counts. Livy's servlet
/// container answers 400 with an HTML page carrying the message; we answer the same status and
/// message in Livy's JSON error shape, like every other error of this server.
pub async fn csrf(req: Request, next: Next) -> Response {
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe && !req.headers().contains_key(CSRF_HEADER) {
        return ApiError::BadRequest(CSRF_MESSAGE.to_string()).into_response();
    }
    next.run(req).await
}

/// Adds the configured security headers to every response (errors and 404s included). A header
/// the route set itself is kept: the web UI sends its own, stricter Content-Security-Policy.
pub async fn add_headers(
    State(headers): State<Arc<Vec<(HeaderName, HeaderValue)>>>,
    req: Request,
    next: Next,
) -> Response {
    let mut response = next.run(req).await;
    for (name, value) in headers.iter() {
        if !response.headers().contains_key(name) {
            response.headers_mut().insert(name.clone(), value.clone());
        }
    }
    response
}

#[cfg(test)]
mod tests;
