#![allow(dead_code)] // each target uses part of it
//! The REST router built in-process (as tests/integration/api_batches.rs does) over a Spark home whose
//! `bin/spark-submit` is not executable: every create that passes the checks gets as far as
//! starting the process, which fails at once, so a fuzz run starts no process and the batch or
//! session ends `dead`. Requests are written like HTTP/1.1 text so seeds stay readable:
//!
//! ```text
//! POST /batches
//! Content-Type: application/json
//!
//! {"file": "/tmp/x.py"}
//! ```
//!
//! Several requests are separated by a line `%%`. In a path, `{b}` and `{s}` stand for the id
//! of the newest batch and session (ids grow over a run; the server is emptied after each input),
//! and `{files}` in a path or body for the whitelisted directory holding `app.py` and `lib.jar`.

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, Method, Request, Response, Uri};
use axum::Router;
use http_body_util::BodyExt;
use livy_rs::api::{router, AppState};
use livy_rs::conf::{Env, LivyConf};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;
use tower::ServiceExt;

/// Longer than any request should take in-process: past it the request hangs (a finding).
const REQUEST_DEADLINE: Duration = Duration::from_secs(20);
/// Requests per input.
const MAX_REQUESTS: usize = 4;

pub struct Harness {
    pub rt: tokio::runtime::Runtime,
    pub state: AppState,
    pub app: Router,
    /// A whitelisted directory with `app.py` and `lib.jar` in it.
    pub files: PathBuf,
}

/// One request of an input.
pub struct Call {
    pub method: Method,
    pub uri: String,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Vec<u8>,
}

impl Harness {
    /// A server with these livy.conf entries on top of the fuzzing basics.
    pub fn new(extra: &[(&str, &str)]) -> Harness {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let spark = tempfile::tempdir().unwrap().keep();
        std::fs::create_dir_all(spark.join("bin")).unwrap();
        // Present (the conf check wants it) but not executable: launching fails without a fork.
        std::fs::write(spark.join("bin/spark-submit"), "not a program\n").unwrap();
        let files = tempfile::tempdir().unwrap().keep();
        std::fs::write(files.join("app.py"), "print(1)\n").unwrap();
        std::fs::write(files.join("lib.jar"), "PK").unwrap();
        let mut raw: BTreeMap<String, String> = BTreeMap::new();
        raw.insert(
            "livy.file.local-dir-whitelist".into(),
            files.display().to_string(),
        );
        // An ephemeral port for the driver channel, so a run holds none of the usual range.
        raw.insert("livy.rsc.launcher.port.range".into(), "0~0".into());
        raw.insert("livy.server.process.kill-timeout".into(), "1s".into());
        for (k, v) in extra {
            raw.insert(k.to_string(), v.to_string());
        }
        let env = Env {
            spark_home: Some(spark),
            ..Env::default()
        };
        let blacklist: BTreeSet<String> = ["spark.master", "spark.submit.deployMode"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let conf = LivyConf::from_map(raw, blacklist, &env)
            .unwrap_or_else(|e| panic!("fuzzing conf: {:?}", e.problems))
            .conf;
        let state = {
            let _guard = rt.enter();
            AppState::new(std::sync::Arc::new(conf)).unwrap()
        };
        let app = router(state.clone(), None);
        Harness {
            rt,
            state,
            app,
            files,
        }
    }

    /// Sends one request and returns the response with its whole body.
    pub async fn send(&self, call: &Call) -> (Response<()>, Vec<u8>) {
        let uri = call
            .uri
            .replace("{b}", &newest(self.state.batches.registry().all().last().map(|b| b.id)))
            .replace("{s}", &newest(self.state.sessions.registry().all().last().map(|s| s.id)))
            .replace("{files}", &self.files.display().to_string());
        let Ok(uri) = uri.parse::<Uri>() else {
            return (Response::new(()), Vec::new());
        };
        let mut req = Request::builder().method(call.method.clone()).uri(uri);
        for (k, v) in &call.headers {
            req = req.header(k, v);
        }
        let body = replace(&call.body, b"{files}", self.files.display().to_string().as_bytes());
        let req = req.body(Body::from(body)).unwrap();
        let answer = tokio::time::timeout(REQUEST_DEADLINE, async {
            let resp = self.app.clone().oneshot(req).await.unwrap();
            let (parts, body) = resp.into_parts();
            let bytes = body.collect().await.unwrap().to_bytes();
            (Response::from_parts(parts, ()), bytes.to_vec())
        })
        .await;
        match answer {
            Ok(a) => a,
            Err(_) => panic!(
                "{} {} did not answer within {REQUEST_DEADLINE:?}",
                call.method, call.uri
            ),
        }
    }

    /// Forgets every batch and session, so the next input starts from an empty server.
    pub async fn reset(&self) {
        for batch in self.state.batches.registry().all() {
            self.state.batches.delete(&batch).await;
        }
        for session in self.state.sessions.registry().all() {
            self.state.sessions.delete(&session).await;
        }
    }
}

fn newest(id: Option<u32>) -> String {
    id.unwrap_or(0).to_string()
}

/// Splits an input into requests; lines that are not a request line or a header are skipped.
pub fn parse_calls(data: &[u8]) -> Vec<Call> {
    let mut calls = Vec::new();
    for chunk in split(data, b"\n%%\n").into_iter().take(MAX_REQUESTS) {
        let (head, body) = match find(chunk, b"\n\n") {
            Some(at) => (&chunk[..at], &chunk[at + 2..]),
            None => (chunk, &[][..]),
        };
        let mut lines = head.split(|&b| b == b'\n');
        let first = String::from_utf8_lossy(lines.next().unwrap_or_default()).into_owned();
        let (method, uri) = first.split_once(' ').unwrap_or((first.as_str(), "/"));
        let Ok(method) = Method::from_bytes(method.as_bytes()) else {
            continue;
        };
        let headers = lines
            .filter_map(|line| {
                let at = line.iter().position(|&b| b == b':')?;
                let name = HeaderName::from_bytes(&line[..at]).ok()?;
                let value = HeaderValue::from_bytes(line[at + 1..].trim_ascii()).ok()?;
                Some((name, value))
            })
            .collect();
        calls.push(Call {
            method,
            uri: uri.trim().to_string(),
            headers,
            body: body.to_vec(),
        });
    }
    calls
}

fn replace(hay: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(hay.len());
    let mut rest = hay;
    while let Some(at) = find(rest, from) {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(to);
        rest = &rest[at + from.len()..];
    }
    out.extend_from_slice(rest);
    out
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn split<'a>(mut data: &'a [u8], sep: &[u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    while let Some(at) = find(data, sep) {
        out.push(&data[..at]);
        data = &data[at + sep.len()..];
    }
    out.push(data);
    out
}

/// Livy's error shape: a JSON object with a string `msg`.
pub fn is_livy_error(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .is_some_and(|v| v.get("msg").is_some_and(|m| m.is_string()))
}
