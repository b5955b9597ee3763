//! What the door refuses before any handler runs, driven in-process through the router (and one
//! real socket): requests other sites' pages send, form and text bodies on JSON routes, bodies
//! over the limit; and what it must keep letting through: clients that send no `Origin` and no
//! `Content-Type` (curl, pylivy, sparkmagic, Airflow).

use super::common;

use axum::body::{Body, Bytes};
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use common::wait_for;
use livy_rs::api::{router, AppState};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;
use tower::ServiceExt;

struct Harness {
    app: Router,
    state: AppState,
    _spark: tempfile::TempDir,
    files: tempfile::TempDir,
}

fn harness(extra: &[(&str, &str)]) -> Harness {
    let extra: Vec<_> = [("livy.rsc.server.connect.timeout", "5s")]
        .into_iter()
        .chain(extra.iter().copied())
        .collect();
    let common::InProcessConf { conf, spark, files } = common::in_process_conf(&extra, &[]);
    let state = AppState::new(Arc::new(conf)).unwrap();
    Harness {
        app: router(state.clone(), None),
        state,
        _spark: spark,
        files,
    }
}

const HOST: &str = "livy.example:8998";

impl Harness {
    fn job(&self) -> String {
        let p = self.files.path().join("job.py");
        std::fs::write(&p, "print('hi')\n").unwrap();
        p.display().to_string()
    }

    /// Sends exactly the headers given (no default Content-Type), and `Host` like a client.
    async fn send(
        &self,
        method: Method,
        uri: &str,
        headers: &[(&str, &str)],
        body: Body,
    ) -> (StatusCode, Value) {
        let mut req = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::HOST, HOST);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        common::answer(&self.app, req.body(body).unwrap()).await
    }

    async fn post(&self, uri: &str, headers: &[(&str, &str)], body: &Value) -> (StatusCode, Value) {
        self.send(Method::POST, uri, headers, Body::from(body.to_string()))
            .await
    }

    async fn total_batches(&self) -> u64 {
        let (_, v) = self.send(Method::GET, "/batches", &[], Body::empty()).await;
        v["total"].as_u64().unwrap()
    }
}

fn msg(v: &Value) -> &str {
    v["msg"]
        .as_str()
        .unwrap_or_else(|| panic!("not Livy's shape: {v}"))
}

const JSON: (&str, &str) = ("content-type", "application/json");

#[tokio::test]
async fn browser_requests_from_other_sites_are_refused_and_change_nothing() {
    let h = harness(&[("livy.server.allowed-origins", "https://notebooks.example")]);
    let batch = json!({"file": h.job()});
    for headers in [
        vec![JSON, ("origin", "http://evil.example")],
        // A sibling host of the same site: SameSite cookies do not stop it, the Origin does.
        vec![JSON, ("origin", "http://notebooks.livy.example:8998")],
        vec![JSON, ("origin", "null")],
        vec![JSON, ("sec-fetch-site", "cross-site")],
        vec![
            JSON,
            ("origin", "http://livy.example:8998"),
            ("sec-fetch-site", "cross-site"),
        ],
        // A form post from another site, the classic forgery.
        vec![
            ("content-type", "application/x-www-form-urlencoded"),
            ("origin", "http://evil.example"),
        ],
    ] {
        let (status, v) = h.post("/batches", &headers, &batch).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{headers:?}: {v}");
        assert!(msg(&v).starts_with("Cross-site request refused"), "{v}");
    }
    let (status, v) = h
        .post(
            "/sessions/0/statements",
            &[JSON, ("origin", "http://evil.example")],
            &json!({"code": "1+1"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(h.total_batches().await, 0);

    // The server's own pages and the allowed origin may.
    let (status, v) = h
        .post(
            "/batches",
            &[
                JSON,
                ("origin", "http://livy.example:8998"),
                ("sec-fetch-site", "same-origin"),
            ],
            &batch,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let (status, v) = h
        .post(
            "/batches",
            &[
                JSON,
                ("origin", "https://notebooks.example"),
                ("sec-fetch-site", "cross-site"),
            ],
            &batch,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    // A cross-site DELETE is refused; reads are not state-changing and pass.
    let evil = [("origin", "http://evil.example")];
    let (status, _) = h
        .send(Method::DELETE, "/batches/0", &evil, Body::empty())
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, v) = h.send(Method::GET, "/batches", &evil, Body::empty()).await;
    assert_eq!((status, v["total"].as_u64()), (StatusCode::OK, Some(2)));
}

#[tokio::test]
async fn form_and_text_bodies_are_refused_on_json_routes() {
    let h = harness(&[]);
    let batch = json!({"file": h.job()});
    for content_type in [
        "application/x-www-form-urlencoded",
        "text/plain",
        "text/plain; charset=UTF-8",
        "multipart/form-data; boundary=x",
    ] {
        let (status, v) = h
            .post("/batches", &[("content-type", content_type)], &batch)
            .await;
        assert_eq!(
            status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{content_type}: {v}"
        );
        assert!(msg(&v).contains("Content-Type: application/json"), "{v}");
        let (status, _) = h
            .post(
                "/sessions/0/statements",
                &[("content-type", content_type)],
                &json!({"code": "1+1"}),
            )
            .await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{content_type}");
    }
    assert_eq!(h.total_batches().await, 0);
    // Multipart stays allowed where uploads are taken (here: no such session).
    let (status, v) = h
        .send(
            Method::POST,
            "/sessions/0/upload-jar",
            &[("content-type", "multipart/form-data; boundary=x")],
            Body::from("--x--\r\n"),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{v}");
}

#[tokio::test]
async fn clients_that_send_no_content_type_or_origin_keep_working() {
    let h = harness(&[("livy.server.csrf-protection.enabled", "false")]);
    let batch = json!({"file": h.job(), "name": "plain"});
    // curl -X POST --data-binary with -H 'Content-Type:' (none), as scripts do.
    let (status, v) = h.post("/batches", &[], &batch).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    // What pylivy, sparkmagic and Airflow send (requests' json=, or data= with a JSON header).
    for content_type in ["application/json", "application/json; charset=UTF-8"] {
        let (status, v) = h
            .post(
                "/batches",
                &[
                    ("content-type", content_type),
                    ("accept", "application/json"),
                    ("user-agent", "python-requests/2.32"),
                    ("x-requested-by", "sparkmagic"),
                ],
                &json!({"file": h.job()}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{content_type}: {v}");
    }
    assert_eq!(h.total_batches().await, 3);
    let (status, v) = h
        .send(Method::DELETE, "/batches/0", &[], Body::empty())
        .await;
    assert_eq!((status, v), (StatusCode::OK, json!({"msg": "deleted"})));
    // A body-less POST without headers reaches its handler (no such statement here).
    let (status, _) = h
        .send(
            Method::POST,
            "/sessions/0/statements/0/cancel",
            &[],
            Body::empty(),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// A body that records whether anything polled it, and never yields.
fn untouchable_body(polled: Arc<AtomicBool>) -> Body {
    Body::from_stream(futures::stream::poll_fn(
        move |_| -> Poll<Option<Result<Bytes, std::io::Error>>> {
            polled.store(true, Ordering::SeqCst);
            Poll::Pending
        },
    ))
}

#[tokio::test]
async fn a_declared_length_over_the_limit_is_refused_before_the_body_is_read() {
    let h = harness(&[("livy.rsc.rpc.max.size", "1m")]);
    for uri in [
        "/batches",
        "/sessions/0/statements",
        "/sessions/0/submit-job",
    ] {
        let polled = Arc::new(AtomicBool::new(false));
        let answer = tokio::time::timeout(
            Duration::from_secs(10),
            h.send(
                Method::POST,
                uri,
                &[JSON, ("content-length", "104857600")],
                untouchable_body(polled.clone()),
            ),
        )
        .await
        .unwrap_or_else(|_| panic!("{uri}: no answer: the server waited for the body"));
        let (status, v) = answer;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{uri}: {v}");
        assert!(msg(&v).contains("livy.rsc.rpc.max.size = 1048576"), "{v}");
        assert!(!polled.load(Ordering::SeqCst), "{uri}: the body was read");
    }
}

#[tokio::test]
async fn a_chunked_body_is_cut_off_at_the_limit() {
    let h = harness(&[("livy.rsc.rpc.max.size", "1m")]);
    const CHUNK: usize = 64 * 1024;
    let pulled = Arc::new(AtomicUsize::new(0));
    let counter = pulled.clone();
    // `{"code":"aaaa…` for ever, without a Content-Length.
    let body = Body::from_stream(futures::stream::unfold(true, move |first| {
        let counter = counter.clone();
        async move {
            let chunk = if first {
                let mut c = br#"{"code":""#.to_vec();
                c.resize(CHUNK, b'a');
                c
            } else {
                vec![b'a'; CHUNK]
            };
            counter.fetch_add(chunk.len(), Ordering::SeqCst);
            Some((Ok::<_, std::io::Error>(Bytes::from(chunk)), false))
        }
    }));
    let (status, v) = h
        .send(Method::POST, "/sessions/0/statements", &[JSON], body)
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
    assert!(msg(&v).contains("livy.rsc.rpc.max.size"), "{v}");
    let read = pulled.load(Ordering::SeqCst);
    assert!(
        read <= 1024 * 1024 + 2 * CHUNK,
        "read {read} bytes of a body over the limit"
    );
}

/// The REST limit and the driver channel's agree: a statement the channel could not carry is a
/// 413 naming the key; one just inside passes the door (to the handler: no such session).
#[tokio::test]
async fn a_statement_too_big_for_the_driver_channel_is_refused_at_the_door() {
    let h = harness(&[("livy.rsc.rpc.max.size", "256k")]);
    let limit = 256 * 1024 - livy_rs::api::body_limit::FRAME_ENVELOPE;
    // `{"<field>":"xxx…"}` of exactly `size` bytes.
    let body = |field: &str, size: usize| {
        let text = format!(r#"{{"{field}":"{}"}}"#, "x".repeat(size - field.len() - 7));
        assert_eq!(text.len(), size);
        text
    };
    for (uri, field) in [
        ("/sessions/0/statements", "code"),
        ("/sessions/0/completion", "code"),
        ("/sessions/0/submit-job", "job"),
    ] {
        let (status, v) = h
            .send(
                Method::POST,
                uri,
                &[JSON],
                Body::from(body(field, limit + 1)),
            )
            .await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{uri}: {v}");
        assert!(msg(&v).contains("livy.rsc.rpc.max.size = 262144"), "{v}");
        let (status, v) = h
            .send(Method::POST, uri, &[JSON], Body::from(body(field, limit)))
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}: {v}");
    }
}

/// Over a real socket: a client that announces 100 MB gets its 413 without sending a byte of it.
#[tokio::test]
async fn a_client_announcing_a_huge_body_is_answered_without_sending_it() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let h = harness(&[]);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    tokio::spawn(livy_rs::server::serve(
        listener,
        h.app.clone(),
        None,
        131072,
        shutdown.clone(),
        Duration::from_secs(2),
    ));
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(
        b"POST /batches HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
          Content-Length: 104857600\r\n\r\n{\"file\":",
    )
    .await
    .unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let head = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let n = tcp.read(&mut buf).await.unwrap();
            answer.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&answer);
            if n == 0 || text.contains("}") {
                return text.into_owned();
            }
        }
    })
    .await
    .expect("no answer before the body was sent");
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
    assert!(head.contains("livy.rsc.rpc.max.size"), "{head}");
    shutdown.cancel();
}

fn multipart_head(field: &str, file: &str) -> String {
    format!(
        "--XB\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{file}\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    )
}
const MULTIPART_TAIL: &str = "\r\n--XB--\r\n";
const MULTIPART: (&str, &str) = ("content-type", "multipart/form-data; boundary=XB");

/// Files in `dir` with their sizes (none when it does not exist).
fn listing(dir: &std::path::Path) -> Vec<(String, u64)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                e.metadata().map(|m| m.len()).unwrap_or(0),
            )
        })
        .collect()
}

#[tokio::test]
async fn uploads_are_streamed_to_disk_and_refused_past_the_limit() {
    let h = harness(&[("livy.file.upload.max.size", "1m")]);
    let (status, v) = h
        .post("/sessions", &[JSON], &json!({"kind": "pyspark"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let uploads = h.state.sessions.get("0").unwrap().run_dir.join("uploads");

    // A 768 KiB jar sent in two halves: the first half is on disk before the second is sent.
    let half = vec![7u8; 384 * 1024];
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(4);
    let body = Body::from_stream(futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|c| (Ok::<_, std::io::Error>(c), rx))
    }));
    let app = h.app.clone();
    let request = Request::post("/sessions/0/upload-jar")
        .header(header::HOST, HOST)
        .header(MULTIPART.0, MULTIPART.1)
        .body(body)
        .unwrap();
    let upload = tokio::spawn(async move { app.oneshot(request).await.unwrap() });
    let mut first = multipart_head("jar", "big.jar").into_bytes();
    first.extend_from_slice(&half);
    tx.send(Bytes::from(first)).await.unwrap();
    wait_for(
        Duration::from_secs(10),
        "the first half on disk",
        || async {
            listing(&uploads)
                .iter()
                .any(|(_, size)| *size >= 256 * 1024)
                .then_some(())
        },
    )
    .await;
    let mut second = half.clone();
    second.extend_from_slice(MULTIPART_TAIL.as_bytes());
    tx.send(Bytes::from(second)).await.unwrap();
    drop(tx);
    let response = upload.await.unwrap();
    // The session's driver never connects (a stand-in spark-submit); the file is saved whole.
    assert_ne!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let saved = std::fs::read(uploads.join("big.jar")).unwrap();
    assert_eq!(saved.len(), 768 * 1024);
    assert!(saved.iter().all(|b| *b == 7));

    // Over livy.file.upload.max.size, sent chunked: refused, and nothing is left behind.
    std::fs::remove_file(uploads.join("big.jar")).unwrap();
    let mut big = multipart_head("jar", "huge.jar").into_bytes();
    big.extend(vec![1u8; 3 * 1024 * 1024]);
    big.extend_from_slice(MULTIPART_TAIL.as_bytes());
    let chunks: Vec<Result<Bytes, std::io::Error>> = big
        .chunks(64 * 1024)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let (status, v) = h
        .send(
            Method::POST,
            "/sessions/0/upload-jar",
            &[MULTIPART],
            Body::from_stream(futures::stream::iter(chunks)),
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
    assert!(
        msg(&v).contains("livy.file.upload.max.size = 1048576"),
        "{v}"
    );
    assert_eq!(listing(&uploads), Vec::new());
    // Announced over the limit: refused before the body is read.
    let polled = Arc::new(AtomicBool::new(false));
    let (status, v) = h
        .send(
            Method::POST,
            "/sessions/0/upload-file",
            &[MULTIPART, ("content-length", "3145728")],
            untouchable_body(polled.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
    assert!(!polled.load(Ordering::SeqCst));
    let _ = h
        .send(Method::DELETE, "/sessions/0", &[], Body::empty())
        .await;
}
