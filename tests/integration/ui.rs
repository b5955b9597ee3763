//! The web UI (`/`, `/ui`, its pages, files and `/ui/api/` data) and the livy.conf keys about it,
//! driven in-process through the router: its data holds only what the caller may view,
//! `livy.ui.enabled = false` removes it, `livy.ui.basePath` prefixes its links, every answer
//! carries the UI's Content-Security-Policy, and `livy.server.send-server-version` adds a Server
//! header. (tests/ui/ drives the same pages in a real Chromium.) The caller is set the way the authentication layer sets it (a `RemoteUser`
//! extension), by a layer in front of the router, so no KDC or directory is needed.

use super::common;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::Router;
use common::fake_spark_home;
use http_body_util::BodyExt;
use livy_rs::api::{router, AppState};
use livy_rs::auth::RemoteUser;
use livy_rs::conf::{Env, LivyConf};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use tower::ServiceExt;

const USER_HEADER: &str = "x-test-user";

struct Harness {
    app: Router,
    _spark: tempfile::TempDir,
    files: tempfile::TempDir,
}

/// Stands in for the authentication layer: the test names the caller in a header.
async fn as_user(mut req: Request, next: Next) -> axum::response::Response {
    let user = req
        .headers()
        .get(USER_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    req.extensions_mut().insert(RemoteUser(user));
    next.run(req).await
}

/// A server whose conf is `extra`; `acls` turns access control on with `admin` a superuser.
fn harness(extra: &[(&str, &str)], acls: bool) -> Harness {
    let common::InProcessConf {
        mut conf,
        spark,
        files,
    } = common::in_process_conf(extra, &[]);
    if acls {
        // Access control needs an authentication scheme in livy.conf; here the layer above
        // plays that part.
        conf.access.access_control_enabled = true;
        conf.access.superusers = ["admin".to_string()].into();
    }
    let state = AppState::new(std::sync::Arc::new(conf)).unwrap();
    Harness {
        app: router(state, None).layer(middleware::from_fn(as_user)),
        _spark: spark,
        files,
    }
}

impl Harness {
    async fn call(
        &self,
        user: Option<&str>,
        method: Method,
        uri: &str,
        body: Option<Value>,
    ) -> (StatusCode, axum::http::HeaderMap, String) {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(user) = user {
            req = req.header(USER_HEADER, user);
        }
        let req = req
            .header(header::CONTENT_TYPE, "application/json")
            .body(
                body.map(|b| Body::from(b.to_string()))
                    .unwrap_or_else(Body::empty),
            )
            .unwrap();
        let resp = self.app.clone().oneshot(req).await.unwrap();
        let (status, headers) = (resp.status(), resp.headers().clone());
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            headers,
            String::from_utf8_lossy(&bytes).into_owned(),
        )
    }

    async fn create_batch(&self, user: &str, name: &str) -> u64 {
        let file = self.files.path().join(format!("{name}.py"));
        std::fs::write(&file, "print('hi')\n").unwrap();
        let body = json!({"file": file.display().to_string(), "name": name});
        let (status, _, text) = self
            .call(Some(user), Method::POST, "/batches", Some(body))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{text}");
        serde_json::from_str::<Value>(&text).unwrap()["id"]
            .as_u64()
            .unwrap()
    }

    async fn create_session(&self, user: &str, name: &str) -> u64 {
        let body = json!({"kind": "pyspark", "name": name});
        let (status, _, text) = self
            .call(Some(user), Method::POST, "/sessions", Some(body))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{text}");
        serde_json::from_str::<Value>(&text).unwrap()["id"]
            .as_u64()
            .unwrap()
    }

    async fn page(&self, user: &str) -> String {
        let (status, _, page) = self.call(Some(user), Method::GET, "/ui", None).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        page
    }

    /// The names in the UI's sessions or batches list (`what`) as `user` sees them.
    async fn listed(&self, user: &str, what: &str) -> Vec<String> {
        let (status, _, body) = self
            .call(Some(user), Method::GET, &format!("/ui/api/{what}"), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let body: Value = serde_json::from_str(&body).unwrap();
        body[what]
            .as_array()
            .unwrap()
            .iter()
            .map(|row| row["name"].as_str().unwrap_or_default().to_string())
            .collect()
    }
}

#[tokio::test]
async fn the_lists_hold_only_what_the_caller_may_view() {
    let h = harness(&[], true);
    h.create_batch("alice", "alices-batch").await;
    h.create_batch("bob", "bobs-batch").await;
    h.create_session("alice", "alices-session").await;
    h.create_session("bob", "bobs-session").await;

    assert_eq!(h.listed("alice", "sessions").await, ["alices-session"]);
    assert_eq!(h.listed("alice", "batches").await, ["alices-batch"]);
    assert_eq!(h.listed("bob", "sessions").await, ["bobs-session"]);
    assert_eq!(h.listed("bob", "batches").await, ["bobs-batch"]);
    assert_eq!(
        h.listed("admin", "sessions").await,
        ["alices-session", "bobs-session"],
        "the superuser sees all"
    );
    assert_eq!(h.listed("mallory", "batches").await, Vec::<String>::new());

    // Rows carry Livy's columns and the times the REST views lack.
    let (_, _, body) = h
        .call(Some("alice"), Method::GET, "/ui/api/sessions", None)
        .await;
    let row = &serde_json::from_str::<Value>(&body).unwrap()["sessions"][0];
    for key in [
        "id",
        "appId",
        "appInfo",
        "owner",
        "proxyUser",
        "kind",
        "state",
    ] {
        assert!(row.get(key).is_some(), "{key} missing: {row}");
    }
    assert!(
        row["createdAt"].as_i64().unwrap() > 1_600_000_000_000,
        "{row}"
    );
    assert!(row["lastActivity"].as_i64().is_some(), "{row}");

    // The REST listing keeps Livy's behaviour (every entry, the log only for viewers).
    let (_, _, list) = h.call(Some("alice"), Method::GET, "/batches", None).await;
    let list: Value = serde_json::from_str(&list).unwrap();
    assert_eq!(list["total"], 2);
}

#[tokio::test]
async fn a_session_page_and_logs_are_only_for_viewers() {
    let h = harness(&[], true);
    let session = h.create_session("alice", "alices-session").await;
    let batch = h.create_batch("alice", "alices-batch").await;
    for path in [
        format!("/ui/api/sessions/{session}"),
        format!("/ui/api/sessions/{session}/log"),
        format!("/ui/api/batches/{batch}/log"),
    ] {
        let (status, _, body) = h.call(Some("bob"), Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
        assert!(!body.contains("alices-"), "{path}: {body}");
        let (status, _, body) = h.call(Some("alice"), Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
    }
    let (_, _, body) = h
        .call(
            Some("alice"),
            Method::GET,
            &format!("/ui/api/sessions/{session}"),
            None,
        )
        .await;
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["session"]["name"], "alices-session");
    assert_eq!(body["total_statements"], 0);
    let (_, _, log) = h
        .call(
            Some("alice"),
            Method::GET,
            &format!("/ui/api/batches/{batch}/log?size=-1"),
            None,
        )
        .await;
    let log: Value = serde_json::from_str(&log).unwrap();
    assert_eq!(log["log"][0], "stdout: ", "{log}");
}

#[tokio::test]
async fn without_access_control_everyone_sees_everything() {
    let h = harness(&[], false);
    h.create_batch("alice", "alices-batch").await;
    assert_eq!(h.listed("bob", "batches").await, ["alices-batch"]);
}

#[tokio::test]
async fn pages_are_livys_paths_and_ids_are_numbers() {
    let h = harness(&[], false);
    for (path, kind) in [
        ("/ui", "lists"),
        ("/ui/", "lists"),
        ("/ui/session/3", "session"),
        ("/ui/session/3/log", "session-log"),
        ("/ui/batch/7/log", "batch-log"),
    ] {
        let (status, headers, body) = h.call(Some("alice"), Method::GET, path, None).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        assert!(headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        assert!(
            body.contains(&format!("data-page=\"{kind}\"")),
            "{path}: {body}"
        );
    }
    for path in [
        "/ui/session/abc",
        "/ui/batch/%3Cscript%3E/log",
        "/ui/session/-1",
    ] {
        let (status, _, body) = h.call(Some("alice"), Method::GET, path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        assert!(!body.contains("<script"), "{path}: {body}");
    }
    let (status, headers, _) = h.call(None, Method::GET, "/", None).await;
    assert!(status.is_redirection(), "{status}");
    assert_eq!(headers[header::LOCATION], "/ui/");
}

#[tokio::test]
async fn every_ui_answer_carries_the_strict_policy() {
    let h = harness(&[], false);
    let id = h.create_session("alice", "s").await;
    for (path, content_type) in [
        ("/ui".to_string(), "text/html"),
        ("/ui/static/main.js".to_string(), "text/javascript"),
        ("/ui/static/livy-ui.css".to_string(), "text/css"),
        ("/ui/api/sessions".to_string(), "application/json"),
        (format!("/ui/api/sessions/{id}"), "application/json"),
        ("/ui/api/pool".to_string(), "application/json"),
    ] {
        let (status, headers, body) = h.call(Some("alice"), Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        assert!(
            headers[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with(content_type),
            "{path}: {headers:?}"
        );
        let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert_eq!(csp, livy_rs::api::ui::CONTENT_SECURITY_POLICY, "{path}");
        for part in [
            "default-src 'none'",
            "script-src 'self';",
            "style-src 'self';",
            "img-src 'self' data:;",
            "connect-src 'self'",
            "frame-ancestors 'none'",
        ] {
            assert!(csp.contains(part), "{path}: {csp}");
        }
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "{path}");
        assert_eq!(
            headers
                .get_all(header::CONTENT_SECURITY_POLICY)
                .iter()
                .count(),
            1
        );
    }
    // The page itself has no inline script or style for the policy to block.
    let page = h.page("alice").await;
    assert!(
        !page.contains("<script>") && !page.contains("style="),
        "{page}"
    );
    assert!(
        page.contains("<script type=\"module\" src=\"/ui/static/main.js\">"),
        "{page}"
    );
    // The REST API keeps livy.conf's policy (Livy's default here).
    let (_, headers, _) = h.call(Some("alice"), Method::GET, "/sessions", None).await;
    assert!(headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .starts_with("default-src 'self'"));
    let (status, _, _) = h.call(None, Method::GET, "/ui/static/nope.js", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn ui_enabled_false_removes_the_ui() {
    let h = harness(&[("livy.ui.enabled", "false")], false);
    for path in [
        "/ui",
        "/ui/",
        "/ui/session/0",
        "/ui/static/livy-ui.css",
        "/ui/api/sessions",
        "/ui/api/pool",
    ] {
        let (status, _, body) = h.call(None, Method::GET, path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        let msg: Value = serde_json::from_str(&body).unwrap();
        assert!(msg["msg"].is_string(), "{body}");
    }
    // Livy sends `/` to its metrics when the UI is off.
    let (status, headers, _) = h.call(None, Method::GET, "/", None).await;
    assert!(status.is_redirection(), "{status}");
    assert_eq!(headers[header::LOCATION], "/metrics");
    // The REST API is unaffected.
    let (status, _, _) = h.call(None, Method::GET, "/batches", None).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn base_path_prefixes_the_pages_links() {
    let h = harness(&[("livy.ui.basePath", "/gateway/livy/")], false);
    let page = h.page("alice").await;
    for link in [
        "href=\"/gateway/livy/ui/static/livy-ui.css\"",
        "src=\"/gateway/livy/ui/static/main.js\"",
        "data-base-path=\"/gateway/livy\"",
        "href=\"/gateway/livy/ui/\"",
    ] {
        assert!(page.contains(link), "{link}: {page}");
    }
    let (_, headers, _) = h.call(None, Method::GET, "/", None).await;
    assert_eq!(headers[header::LOCATION], "/gateway/livy/ui/");
    // Routes themselves stay where they are: the proxy strips the prefix.
    let (status, _, _) = h
        .call(None, Method::GET, "/ui/static/livy-ui.css", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let plain = harness(&[], false);
    let page = plain.page("alice").await;
    assert!(page.contains("href=\"/ui/static/livy-ui.css\""), "{page}");
    assert!(page.contains("data-base-path=\"\""), "{page}");
}

#[tokio::test]
async fn a_base_path_that_is_not_a_path_is_refused() {
    let spark = fake_spark_home();
    let env = Env {
        spark_home: Some(spark.path().to_path_buf()),
        ..Env::default()
    };
    for bad in [
        "gateway",
        "/a\"><script>alert(1)</script>",
        "//evil.example",
    ] {
        let raw: BTreeMap<String, String> =
            [("livy.ui.basePath".to_string(), bad.to_string())].into();
        let err = LivyConf::from_map(raw, BTreeSet::new(), &env)
            .err()
            .unwrap_or_else(|| panic!("{bad} was accepted"));
        assert!(err.to_string().contains("livy.ui.basePath"), "{err}");
    }
}

#[tokio::test]
async fn send_server_version_adds_a_server_header_to_every_answer() {
    let quiet = harness(&[], false);
    let (_, headers, _) = quiet.call(None, Method::GET, "/version", None).await;
    assert!(headers.get(header::SERVER).is_none());

    let h = harness(&[("livy.server.send-server-version", "true")], false);
    for (method, path) in [
        (Method::GET, "/version"),
        (Method::GET, "/no-such-route"),
        (Method::POST, "/batches"),
    ] {
        let (_, headers, _) = h.call(None, method, path, None).await;
        let server = headers
            .get(header::SERVER)
            .unwrap_or_else(|| panic!("no Server header on {path}"));
        assert_eq!(
            server.to_str().unwrap(),
            format!("livy-rs/{}", env!("CARGO_PKG_VERSION"))
        );
    }
}
