//! Accepting connections: hyper's HTTP/1 and HTTP/2 server driven by our own accept loop (so the
//! header limits, the header-read deadline and TLS are ours to set) with graceful shutdown: stop
//! accepting, let in-flight requests finish up to a deadline.
//!
//! Both protocols get the same limits. hyper bounds an HTTP/1 request head by its read buffer and
//! closes a connection whose head does not arrive within `header_read_timeout`; HTTP/2 has
//! neither by default (its header-list limit is 16 KiB, below the 128 KiB Livy allows for large
//! Kerberos tokens, and nothing times out a client that opens a connection, or a header block,
//! and then dribbles). So the HTTP/2 header-list limit is set to the same size, and each
//! connection has a watchdog: when no request has been in flight for `header_read_timeout`
//! (a new connection that sends no complete request, a half-sent header block, an idle
//! keep-alive), the connection is shut down gracefully, and dropped if it does not close soon
//! after. A request being handled or a response being streamed keeps its connection open.

pub mod tls;
mod unread;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use parking_lot::Mutex;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// How long a connection may go without a request in flight before it is closed (hyper's
/// default for HTTP/1 head reads, applied to HTTP/2 too).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a connection told to close may take to do so before it is dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// Per-connection limits, the same for HTTP/1.1 and HTTP/2.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// `livy.server.request-header.size`: the largest request head (HTTP/1.1) or decoded header
    /// list (HTTP/2).
    pub max_header_bytes: usize,
    /// The longest a connection may stay without a request in flight.
    pub header_read_timeout: Duration,
}

/// Serves `app` on `listener` until `shutdown` fires, then drains for at most `drain`. With
/// `tls`, every connection first completes a TLS handshake in its own task (so a slow or silent
/// client never holds up `accept`); a failed handshake drops only that connection.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    max_header_bytes: usize,
    shutdown: CancellationToken,
    drain: Duration,
) {
    let limits = Limits {
        max_header_bytes,
        header_read_timeout: HEADER_READ_TIMEOUT,
    };
    serve_with(listener, app, tls, limits, shutdown, drain).await
}

/// [`serve`] with every limit given (tests shorten the timeout).
pub async fn serve_with(
    listener: TcpListener,
    app: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    limits: Limits,
    shutdown: CancellationToken,
    drain: Duration,
) {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes.max(8192));
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX));
    let builder = Arc::new(builder);
    let connections = TaskTracker::new();
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and similar: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = shutdown.cancelled() => break,
        };
        let _ = stream.set_nodelay(true);
        let connection = Connection {
            builder: builder.clone(),
            app: app.clone(),
            peer,
            idle_timeout: limits.header_read_timeout,
            shutdown: shutdown.clone(),
        };
        let acceptor = acceptor.clone();
        connections.spawn(async move {
            match acceptor {
                None => connection.run(stream).await,
                Some(acceptor) => {
                    if let Some(stream) = tls::accept(&acceptor, stream, peer).await {
                        connection.run(stream).await
                    }
                }
            }
        });
    }
    drop(listener);
    connections.close();
    tracing::info!("stopped accepting connections; draining in-flight requests");
    if tokio::time::timeout(drain, connections.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            ?drain,
            "in-flight requests did not finish before the drain deadline"
        );
    }
}

/// One accepted connection and what it needs to serve it.
struct Connection {
    builder: Arc<Builder<TokioExecutor>>,
    app: Router,
    peer: SocketAddr,
    idle_timeout: Duration,
    shutdown: CancellationToken,
}

impl Connection {
    /// Serves requests until the client closes, the server shuts down, or the connection has
    /// had no request in flight for `idle_timeout`.
    async fn run<IO>(self, io: IO)
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let Connection {
            builder,
            app,
            peer,
            idle_timeout,
            shutdown,
        } = self;
        let activity = Arc::new(Activity::new());
        let tracked = activity.clone();
        let service = tower::service_fn(move |mut req: hyper::Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            let busy = tracked.begin();
            let app = app.clone();
            let (version, expects_continue) = (req.version(), unread::expects_continue(&req));
            let left_behind = unread::Slot::default();
            let req = left_behind.wrap(req);
            async move {
                let mut response = app.oneshot(req).await?;
                left_behind
                    .settle(version, expects_continue, &mut response)
                    .await;
                Ok::<_, Infallible>(
                    response.map(|body| Body::new(TrackedBody { body, _busy: busy })),
                )
            }
        });
        let conn = builder
            .serve_connection_with_upgrades(TokioIo::new(io), TowerToHyperService::new(service));
        tokio::pin!(conn);
        let mut closing = false;
        let mut drop_at: Option<Instant> = None;
        loop {
            let wake = drop_at.unwrap_or_else(|| activity.idle_deadline(idle_timeout));
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!(error = %e, %peer, "connection ended with an error");
                    }
                    return;
                }
                _ = shutdown.cancelled(), if !closing => {
                    conn.as_mut().graceful_shutdown();
                    closing = true;
                }
                _ = tokio::time::sleep_until(wake) => {
                    if drop_at.is_some() {
                        tracing::debug!(%peer, "dropping a connection that did not close in time");
                        return;
                    }
                    if activity.idle_for(idle_timeout) {
                        tracing::debug!(%peer, timeout = ?idle_timeout,
                            "closing a connection with no complete request in time");
                        if !closing {
                            conn.as_mut().graceful_shutdown();
                            closing = true;
                        }
                        drop_at = Some(Instant::now() + CLOSE_GRACE);
                    }
                }
            }
        }
    }
}

/// Whether a connection has requests in flight, and since when it has had none.
struct Activity {
    in_flight: AtomicUsize,
    quiet_since: Mutex<Instant>,
}

impl Activity {
    fn new() -> Self {
        Activity {
            in_flight: AtomicUsize::new(0),
            quiet_since: Mutex::new(Instant::now()),
        }
    }

    /// Marks a request in flight until the returned guard (held by its response body) drops.
    fn begin(self: &Arc<Self>) -> Busy {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        Busy(self.clone())
    }

    /// When the connection will have been quiet for `timeout` if nothing happens; while busy,
    /// a time to look again.
    fn idle_deadline(&self, timeout: Duration) -> Instant {
        if self.in_flight.load(Ordering::SeqCst) > 0 {
            Instant::now() + timeout
        } else {
            *self.quiet_since.lock() + timeout
        }
    }

    fn idle_for(&self, timeout: Duration) -> bool {
        self.in_flight.load(Ordering::SeqCst) == 0 && self.quiet_since.lock().elapsed() >= timeout
    }
}

/// One request in flight.
struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        *self.0.quiet_since.lock() = Instant::now();
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A response body that keeps its request counted as in flight until it is sent or dropped.
struct TrackedBody {
    body: Body,
    /// Held for its `Drop`.
    _busy: Busy,
}

impl HttpBody for TrackedBody {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests;
