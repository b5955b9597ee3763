//! The web UI page (`/`, `/ui`) and the livy.conf keys about it, driven in-process through the
//! router: it lists only what the caller may view, `livy.ui.enabled = false` removes it,
//! `livy.ui.basePath` prefixes its links, and `livy.server.send-server-version` adds a Server
//! header. The caller is set the way the authentication layer sets it (a `RemoteUser`
//! extension), by a layer in front of the router, so no KDC or directory is needed.

mod common;

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
    let spark = fake_spark_home();
    let files = tempfile::tempdir().unwrap();
    let mut raw: BTreeMap<String, String> = BTreeMap::new();
    raw.insert(
        "livy.file.local-dir-whitelist".into(),
        files.path().display().to_string(),
    );
    for (k, v) in extra {
        raw.insert(k.to_string(), v.to_string());
    }
    let env = Env {
        spark_home: Some(spark.path().to_path_buf()),
        ..Env::default()
    };
    let mut conf = LivyConf::from_map(raw, BTreeSet::new(), &env).unwrap().conf;
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
}

#[tokio::test]
async fn the_page_lists_only_what_the_caller_may_view() {
    let h = harness(&[], true);
    h.create_batch("alice", "alices-batch").await;
    h.create_batch("bob", "bobs-batch").await;
    h.create_session("alice", "alices-session").await;
    h.create_session("bob", "bobs-session").await;

    let alice = h.page("alice").await;
    assert!(alice.contains("alices-batch") && alice.contains("alices-session"));
    assert!(!alice.contains("bobs-batch"), "{alice}");
    assert!(!alice.contains("bobs-session"), "{alice}");
    assert!(
        !alice.contains(">bob<"),
        "bob's rows leak his name: {alice}"
    );

    let bob = h.page("bob").await;
    assert!(bob.contains("bobs-batch") && bob.contains("bobs-session"));
    assert!(!bob.contains("alices-"), "{bob}");

    let admin = h.page("admin").await;
    for name in [
        "alices-batch",
        "bobs-batch",
        "alices-session",
        "bobs-session",
    ] {
        assert!(admin.contains(name), "the superuser sees {name}: {admin}");
    }

    // The REST listing keeps Livy's behaviour (every entry, the log only for viewers); the
    // page is not a way around the log's ACL either.
    let (_, _, list) = h.call(Some("alice"), Method::GET, "/batches", None).await;
    let list: Value = serde_json::from_str(&list).unwrap();
    assert_eq!(list["total"], 2);
}

#[tokio::test]
async fn without_access_control_everyone_sees_everything() {
    let h = harness(&[], false);
    h.create_batch("alice", "alices-batch").await;
    let page = h.page("bob").await;
    assert!(page.contains("alices-batch"), "{page}");
}

#[tokio::test]
async fn ui_enabled_false_removes_the_page() {
    let h = harness(&[("livy.ui.enabled", "false")], false);
    for path in ["/", "/ui", "/ui/livy-rs.css"] {
        let (status, _, body) = h.call(None, Method::GET, path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        let msg: Value = serde_json::from_str(&body).unwrap();
        assert!(msg["msg"].is_string(), "{body}");
    }
    // The REST API is unaffected.
    let (status, _, _) = h.call(None, Method::GET, "/batches", None).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn base_path_prefixes_the_pages_links() {
    let h = harness(&[("livy.ui.basePath", "/gateway/livy/")], false);
    let id = h.create_batch("alice", "etl").await;
    let page = h.page("alice").await;
    assert!(
        page.contains("href=\"/gateway/livy/ui/livy-rs.css\""),
        "{page}"
    );
    assert!(
        page.contains(&format!("href=\"/gateway/livy/batches/{id}/log\"")),
        "{page}"
    );
    // Routes themselves stay where they are: the proxy strips the prefix.
    let (status, _, _) = h.call(None, Method::GET, "/ui/livy-rs.css", None).await;
    assert_eq!(status, StatusCode::OK);
    let plain = harness(&[], false);
    let page = plain.page("alice").await;
    assert!(page.contains("href=\"/ui/livy-rs.css\""), "{page}");
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

#[tokio::test]
async fn a_caller_who_may_view_nothing_sees_empty_tables() {
    let h = harness(&[], true);
    h.create_session("alice", "alices-session").await;
    h.create_batch("alice", "alices-batch").await;
    let mallory = h.page("mallory").await;
    assert!(mallory.contains("No interactive sessions."), "{mallory}");
    assert!(mallory.contains("No batches."), "{mallory}");
}
