//! The accept loop's limits over real sockets: HTTP/2 gets HTTP/1.1's header-size limit and
//! header-read deadline.

use super::*;
use axum::routing::get;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const MAX_HEADER: usize = 64 * 1024;

struct TestServer {
    addr: SocketAddr,
    shutdown: CancellationToken,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn start(header_read_timeout: Duration) -> TestServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new().route("/", get(|| async { "hello" })).route(
        "/slow",
        get(|| async {
            // Longer than the header-read timeout: a request in flight keeps its connection.
            tokio::time::sleep(Duration::from_millis(1500)).await;
            "slow"
        }),
    );
    let shutdown = CancellationToken::new();
    let limits = Limits {
        max_header_bytes: MAX_HEADER,
        header_read_timeout,
    };
    tokio::spawn(serve_with(
        listener,
        app,
        None,
        limits,
        shutdown.clone(),
        Duration::from_secs(2),
    ));
    TestServer { addr, shutdown }
}

/// One request over a fresh HTTP/2 connection: the status, or the client's error text.
async fn h2_get(addr: SocketAddr, path: &str, header: usize) -> Result<(u16, String), String> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (mut send, conn) = hyper::client::conn::http2::handshake::<_, _, Empty<Bytes>>(
        TokioExecutor::new(),
        TokioIo::new(tcp),
    )
    .await
    .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let req = hyper::Request::get(format!("http://{addr}{path}"))
        .header("x-big", "a".repeat(header))
        .body(Empty::new())
        .unwrap();
    let resp = send.send_request(req).await.map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?;
    Ok((
        status,
        String::from_utf8_lossy(&body.to_bytes()).into_owned(),
    ))
}

/// The same over HTTP/1.1.
async fn h1_get(addr: SocketAddr, path: &str, header: usize) -> Result<(u16, String), String> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (mut send, conn) =
        hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(TokioIo::new(tcp))
            .await
            .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let req = hyper::Request::get(path)
        .header("host", addr.to_string())
        .header("x-big", "a".repeat(header))
        .body(Empty::new())
        .unwrap();
    let resp = send.send_request(req).await.map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?;
    Ok((
        status,
        String::from_utf8_lossy(&body.to_bytes()).into_owned(),
    ))
}

#[tokio::test]
async fn http2_takes_the_header_size_http1_takes_and_refuses_more() {
    let server = start(HEADER_READ_TIMEOUT).await;
    // 40 KiB: more than HTTP/2's 16 KiB default, within the configured 64 KiB (a large
    // Kerberos token is this size).
    let ok = Ok((200, "hello".to_string()));
    assert_eq!(h1_get(server.addr, "/", 40 * 1024).await, ok);
    assert_eq!(h2_get(server.addr, "/", 40 * 1024).await, ok);
    // Over the limit: refused on both (hyper answers 431 on HTTP/1.1, h2 431 or a reset).
    let h1 = h1_get(server.addr, "/", 2 * MAX_HEADER).await;
    assert!(!matches!(h1, Ok((200, _))), "{h1:?}");
    let h2 = h2_get(server.addr, "/", 2 * MAX_HEADER).await;
    assert!(!matches!(h2, Ok((200, _))), "{h2:?}");
    // And the server still answers.
    assert_eq!(
        h2_get(server.addr, "/", 10).await,
        Ok((200, "hello".into()))
    );
}

/// Reads until the server closes the connection; `None` when it is still open at the deadline.
async fn closed_within(stream: &mut TcpStream, deadline: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut buf = [0u8; 4096];
    let read_all = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(deadline, read_all)
        .await
        .ok()
        .map(|()| start.elapsed())
}

/// An HTTP/2 frame: 24-bit length, type, flags, stream id.
fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).unwrap().to_be_bytes();
    let mut out = vec![len[1], len[2], len[3], kind, flags];
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

#[tokio::test]
async fn an_http2_header_block_that_never_ends_is_closed_like_a_slow_http1_head() {
    let server = start(Duration::from_secs(1)).await;
    // HTTP/2: the preface, SETTINGS, then a HEADERS frame without END_HEADERS (":method GET"),
    // and nothing more, as a slowloris would.
    let mut h2 = TcpStream::connect(server.addr).await.unwrap();
    let mut hello = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    hello.extend(frame(0x4, 0, 0, &[]));
    hello.extend(frame(0x1, 0, 1, &[0x82]));
    h2.write_all(&hello).await.unwrap();
    // HTTP/1.1 for comparison: half a request head.
    let mut h1 = TcpStream::connect(server.addr).await.unwrap();
    h1.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // A connection that says nothing at all.
    let mut silent = TcpStream::connect(server.addr).await.unwrap();

    let deadline = Duration::from_secs(15);
    for (name, stream) in [("h2", &mut h2), ("h1", &mut h1), ("silent", &mut silent)] {
        let closed = closed_within(stream, deadline).await;
        assert!(closed.is_some(), "{name}: still open after {deadline:?}");
    }
    // Requests that take longer than the timeout are not cut, on either protocol.
    assert_eq!(
        h2_get(server.addr, "/slow", 0).await,
        Ok((200, "slow".into()))
    );
    assert_eq!(
        h1_get(server.addr, "/slow", 0).await,
        Ok((200, "slow".into()))
    );
}
