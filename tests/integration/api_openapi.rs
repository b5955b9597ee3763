//! The OpenAPI document against the router, in-process: it is served at `/openapi.json` as
//! generated, every operation it documents is a route the server has, and the bad inputs
//! schemathesis found (tests/openapi) stay fixed.

use super::common;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use common::fake_spark_home;
use http_body_util::BodyExt;
use livy_rs::api::{openapi, router, AppState};
use livy_rs::conf::{Env, LivyConf};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use tower::ServiceExt;

struct Harness {
    app: Router,
    _spark: tempfile::TempDir,
    files: tempfile::TempDir,
}

fn harness() -> Harness {
    let common::InProcessConf { conf, spark, files } = common::in_process_conf(&[], &[]);
    let state = AppState::new(Arc::new(conf)).unwrap();
    Harness {
        app: router(state, None),
        _spark: spark,
        files,
    }
}

impl Harness {
    async fn send(&self, method: Method, uri: &str, body: Option<&Value>) -> (StatusCode, Value) {
        let mut req = Request::builder().method(method).uri(uri);
        let body = match body {
            Some(b) => {
                req = req.header(header::CONTENT_TYPE, "application/json");
                Body::from(b.to_string())
            }
            None => Body::empty(),
        };
        common::answer(&self.app, req.body(body).unwrap()).await
    }
}

#[tokio::test]
async fn the_document_is_served_as_generated() {
    let h = harness();
    let (status, served) = h.send(Method::GET, openapi::PATH, None).await;
    assert_eq!(status, StatusCode::OK);
    let generated: Value = serde_json::from_str(&openapi::document_text()).unwrap();
    assert_eq!(served, generated);
    assert_eq!(served["openapi"], "3.1.0");
}

/// Each documented operation reaches a handler: not the router's "Not found" fallback and not
/// its 405. (Unknown ids answer the handler's own 404, whose message names the session.)
#[tokio::test]
async fn every_documented_operation_is_a_route() {
    let h = harness();
    let doc: Value = serde_json::from_str(&openapi::document_text()).unwrap();
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 27, "{} paths", paths.len());
    let mut checked = 0;
    for (path, item) in paths {
        let uri = path
            .replace("{id}", "7")
            .replace("{sid}", "0")
            .replace("{job}", "0");
        for (method, _) in item.as_object().unwrap() {
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let body = (method == Method::POST).then(|| json!({}));
            let (status, answer) = h.send(method.clone(), &uri, body.as_ref()).await;
            let text = answer["msg"].as_str().unwrap_or("");
            assert!(
                status != StatusCode::METHOD_NOT_ALLOWED && !text.starts_with("Not found:"),
                "{method} {path} is documented but not routed: {status} {answer}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 30, "{checked} operations");
}

/// schemathesis: `{"driverCores": 2.0}` is an integer to JSON Schema (and to Livy's Jackson),
/// but was refused with "expected an integer".
#[tokio::test]
async fn an_integer_written_with_a_zero_fraction_is_an_integer() {
    let h = harness();
    let job = h.files.path().join("job.py");
    std::fs::write(&job, "print('hi')\n").unwrap();
    let body = json!({"file": job.display().to_string(), "driverCores": 2.0, "numExecutors": 1.0});
    let (status, answer) = h.send(Method::POST, "/batches", Some(&body)).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    // A fraction is still refused, in Livy's shape.
    let body = json!({"file": job.display().to_string(), "driverCores": 2.5});
    let (status, answer) = h.send(Method::POST, "/batches", Some(&body)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert!(answer["msg"]
        .as_str()
        .unwrap()
        .contains("expected an integer"));
}

/// The document is behind the same authentication as the API (Livy has no such page, so
/// nothing an operator secured opens up): without credentials, a 401 in Livy's shape.
#[tokio::test]
async fn the_document_needs_credentials_when_authentication_is_on() {
    let spark = fake_spark_home();
    let mut raw: BTreeMap<String, String> = BTreeMap::new();
    raw.insert("livy.server.auth.type".into(), "ldap".into());
    // Never reached: a request without credentials is answered before the directory is asked.
    raw.insert(
        "livy.server.auth.ldap.url".into(),
        "ldap://127.0.0.1:9".into(),
    );
    raw.insert(
        "livy.server.auth.ldap.base-dn".into(),
        "dc=livy,dc=test".into(),
    );
    let env = Env {
        spark_home: Some(spark.path().to_path_buf()),
        ..Env::default()
    };
    let conf = LivyConf::from_map(raw, BTreeSet::new(), &env).unwrap().conf;
    let app = router(AppState::new(Arc::new(conf)).unwrap(), None);
    let resp = app
        .oneshot(
            Request::builder()
                .uri(openapi::PATH)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(resp.headers().contains_key(header::WWW_AUTHENTICATE));
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    assert!(body["msg"].is_string(), "{body}");
}
