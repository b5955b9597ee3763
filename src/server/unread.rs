//! Request bodies a handler answered without reading.
//!
//! Many answers come before the body is read: a 401 challenge, a refused `doAs`, a 404, a 413.
//! hyper then tries to skip the rest of the body; when it has not arrived yet (clients such as
//! urllib3 send the head and the body in separate writes), hyper closes the connection after the
//! response, which still looked keep-alive. The client puts the connection back in its pool and
//! its next request fails with a reset (requests-gssapi resends on the same connection right
//! after a 401, so every SPNEGO login could hit this). So a body the handler left behind is
//! handed back here: a small one is read to its end before the response goes out, and for any
//! other the response says `Connection: close`, so the client knows not to reuse the connection.

use axum::body::{Body, Bytes};
use http_body_util::BodyExt;
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};
use hyper::header::{HeaderValue, CONNECTION, EXPECT};
use hyper::{Request, Response, Version};
use parking_lot::Mutex;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

/// The most of a left-behind body that is read to keep the connection: JSON requests are well
/// below it; an upload refused up front is not worth receiving.
const DRAIN_BYTES: u64 = 256 * 1024;

/// How long the rest of a small body may take to arrive.
const DRAIN_TIME: Duration = Duration::from_secs(1);

/// Where a dropped, unfinished request body is put back.
#[derive(Clone, Default)]
pub struct Slot(Arc<Mutex<Option<Incoming>>>);

impl Slot {
    /// Wraps the body of `req` so that, if the handler drops it unfinished, it lands here.
    pub fn wrap(&self, req: Request<Incoming>) -> Request<Body> {
        req.map(|body| {
            // Nothing to leave behind (most GETs): no wrapper.
            if body.is_end_stream() {
                return Body::new(body);
            }
            Body::new(Returning {
                inner: Some(body),
                ended: false,
                slot: self.clone(),
            })
        })
    }

    /// Finishes `response` for an HTTP/1 request whose handler may have left its body unread:
    /// reads a small rest, or marks the response as the connection's last.
    pub async fn settle(
        &self,
        version: Version,
        expects_continue: bool,
        response: &mut Response<Body>,
    ) {
        let Some(rest) = self.0.lock().take() else {
            return;
        };
        if version >= Version::HTTP_2 {
            return;
        }
        // A client waiting for `100 Continue` has not sent the body, and need not.
        if expects_continue || !drain(rest).await {
            response
                .headers_mut()
                .insert(CONNECTION, HeaderValue::from_static("close"));
        }
    }
}

/// Whether the request says `Expect: 100-continue`.
pub fn expects_continue<B>(req: &Request<B>) -> bool {
    req.headers()
        .get(EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"))
}

/// Reads `body` to its end if it is small and arrives in time.
async fn drain(mut body: Incoming) -> bool {
    if body.is_end_stream() {
        return true;
    }
    if body.size_hint().upper().is_none_or(|n| n > DRAIN_BYTES) {
        return false;
    }
    let read = async {
        let mut seen = 0u64;
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else { return false };
            if let Some(data) = frame.data_ref() {
                seen += data.len() as u64;
                if seen > DRAIN_BYTES {
                    return false;
                }
            }
        }
        true
    };
    tokio::time::timeout(DRAIN_TIME, read)
        .await
        .unwrap_or(false)
}

/// A request body that goes back to its [`Slot`] when dropped before its end.
struct Returning {
    inner: Option<Incoming>,
    ended: bool,
    slot: Slot,
}

impl HttpBody for Returning {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let Some(inner) = self.inner.as_mut() else {
            return Poll::Ready(None);
        };
        let polled = Pin::new(inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None) | Poll::Ready(Some(Err(_)))) {
            self.ended = true;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.ended || self.inner.as_ref().is_none_or(HttpBody::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), HttpBody::size_hint)
    }
}

impl Drop for Returning {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.take() {
            if !self.ended && !inner.is_end_stream() {
                *self.slot.0.lock() = Some(inner);
            }
        }
    }
}

#[cfg(test)]
mod tests;
