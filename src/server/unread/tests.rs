//! Over a real socket: a response given before the request body was read leaves the connection
//! usable, or says it will not be.

use crate::server::{serve_with, Limits};
use axum::routing::post;
use axum::Router;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// A server with a route that refuses without reading the body and one that reads it.
async fn start() -> (SocketAddr, CancellationToken) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new()
        .route(
            "/refuse",
            post(|| async { (axum::http::StatusCode::FORBIDDEN, "no") }),
        )
        .route("/echo", post(|body: String| async move { body }));
    let shutdown = CancellationToken::new();
    let limits = Limits {
        max_header_bytes: 64 * 1024,
        header_read_timeout: Duration::from_secs(30),
    };
    tokio::spawn(serve_with(
        listener,
        app,
        None,
        limits,
        shutdown.clone(),
        Duration::from_secs(1),
    ));
    (addr, shutdown)
}

/// Reads one response (head and a `content-length` body); `None` when the connection closed
/// first.
async fn response(tcp: &mut TcpStream) -> Option<String> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&got).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(str::to_owned)
                })
                .and_then(|n| n.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if got.len() >= end + 4 + length {
                return Some(text);
            }
        }
        let n = tokio::time::timeout(Duration::from_secs(10), tcp.read(&mut buf))
            .await
            .expect("no answer within 10 s")
            .ok()?;
        if n == 0 {
            return None;
        }
        got.extend_from_slice(&buf[..n]);
    }
}

fn head(path: &str, length: usize, extra: &str) -> String {
    format!("POST {path} HTTP/1.1\r\nhost: x\r\ncontent-length: {length}\r\n{extra}\r\n")
}

fn says_close(response: &str) -> bool {
    response
        .to_ascii_lowercase()
        .contains("\r\nconnection: close\r\n")
}

#[tokio::test]
async fn a_refusal_sent_before_a_late_small_body_keeps_the_connection() {
    let (addr, _shutdown) = start().await;
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let body = r#"{"kind": "pyspark"}"#;
    // Head and body in two writes, as urllib3 sends them; the body comes after the answer.
    tcp.write_all(head("/refuse", body.len(), "").as_bytes())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    tcp.write_all(body.as_bytes()).await.unwrap();
    let first = response(&mut tcp).await.expect("first answer");
    assert!(first.starts_with("HTTP/1.1 403"), "{first}");
    assert!(!says_close(&first), "{first}");
    tcp.write_all(format!("{}hi", head("/echo", 2, "")).as_bytes())
        .await
        .unwrap();
    let second = response(&mut tcp)
        .await
        .expect("the connection was closed after a keep-alive answer");
    assert!(
        second.starts_with("HTTP/1.1 200") && second.ends_with("hi"),
        "{second}"
    );
}

#[tokio::test]
async fn a_refusal_of_a_large_body_says_the_connection_closes_and_does_not_wait_for_it() {
    let (addr, _shutdown) = start().await;
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let started = Instant::now();
    tcp.write_all(head("/refuse", 100 << 20, "").as_bytes())
        .await
        .unwrap();
    let answer = response(&mut tcp).await.expect("an answer");
    assert!(
        answer.starts_with("HTTP/1.1 403") && says_close(&answer),
        "{answer}"
    );
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
}

/// What a request head alone (its body never sent) to the refusing route gets.
async fn answer_to_a_lone_head(extra: &str) -> String {
    let (addr, _shutdown) = start().await;
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(head("/refuse", 10, extra).as_bytes())
        .await
        .unwrap();
    response(&mut tcp).await.expect("an answer")
}

#[tokio::test]
async fn a_small_body_that_never_comes_ends_the_connection_after_a_short_wait() {
    let answer = answer_to_a_lone_head("").await;
    assert!(
        answer.starts_with("HTTP/1.1 403") && says_close(&answer),
        "{answer}"
    );
}

#[tokio::test]
async fn a_client_waiting_for_continue_gets_the_refusal_instead_and_sends_nothing() {
    let answer = answer_to_a_lone_head("expect: 100-continue\r\n").await;
    assert!(
        answer.starts_with("HTTP/1.1 403") && says_close(&answer),
        "{answer}"
    );
}

#[tokio::test]
async fn a_body_the_handler_read_leaves_the_connection_as_it_was() {
    let (addr, _shutdown) = start().await;
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    for _ in 0..2 {
        tcp.write_all(format!("{}hi", head("/echo", 2, "")).as_bytes())
            .await
            .unwrap();
        let answer = response(&mut tcp).await.expect("an answer");
        assert!(answer.ends_with("hi") && !says_close(&answer), "{answer}");
    }
}
