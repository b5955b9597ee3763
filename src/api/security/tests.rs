use super::CSRF_MESSAGE;
use crate::api::{router, AppState};
use crate::test_support::conf_with;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use std::sync::Arc;
use tower::ServiceExt;

fn app(entries: &[(&str, &str)]) -> Router {
    let state = AppState::new(Arc::new(conf_with(entries))).unwrap();
    router(state, None)
}

async fn send(
    app: &Router,
    method: Method,
    uri: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (StatusCode, axum::http::HeaderMap, serde_json::Value) {
    let mut req = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = app
        .clone()
        .oneshot(req.body(Body::from(body.to_string())).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    (status, headers, json)
}

const JSON: (&str, &str) = ("content-type", "application/json");

#[tokio::test]
async fn csrf_on_rejects_state_changes_without_the_header() {
    let app = app(&[("livy.server.csrf-protection.enabled", "true")]);
    for method in [Method::POST, Method::DELETE, Method::PUT, Method::PATCH] {
        let (status, _, body) = send(&app, method.clone(), "/batches", &[JSON], "{}").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{method}");
        assert_eq!(body["msg"], CSRF_MESSAGE, "{method}");
    }
    // Nothing was created, and reads are not affected.
    let (status, _, body) = send(&app, Method::GET, "/batches", &[], "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["total"], 0);
    let (status, _, _) = send(&app, Method::HEAD, "/version", &[], "").await;
    assert_eq!(status, StatusCode::OK);
    // Unknown routes are checked too (Livy's filter sits in front of everything).
    let (status, _, body) = send(&app, Method::POST, "/no-such-route", &[], "").await;
    assert_eq!(
        (status, body["msg"].as_str()),
        (StatusCode::BAD_REQUEST, Some(CSRF_MESSAGE))
    );
}

#[tokio::test]
async fn csrf_on_accepts_any_value_of_the_header() {
    let app = app(&[("livy.server.csrf-protection.enabled", "true")]);
    for value in ["livy", ""] {
        let (status, _, body) = send(
            &app,
            Method::DELETE,
            "/batches/42",
            &[("X-Requested-By", value)],
            "",
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "value {value:?}: {body}");
    }
}

#[tokio::test]
async fn csrf_off_needs_no_header() {
    let app = app(&[]);
    let (status, _, body) = send(&app, Method::DELETE, "/batches/42", &[], "").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}

#[tokio::test]
async fn security_headers_are_livys_by_default_on_every_answer() {
    let app = app(&[]);
    for (method, uri) in [
        (Method::GET, "/version"),
        (Method::GET, "/no-such-route"),
        (Method::GET, "/batches/7"),
        (Method::POST, "/batches"),
    ] {
        let (_, headers, _) = send(&app, method, uri, &[JSON], "not json").await;
        let get = |name: &str| headers.get(name).map(|v| v.to_str().unwrap().to_string());
        assert_eq!(
            get("x-content-type-options").as_deref(),
            Some("nosniff"),
            "{uri}"
        );
        assert_eq!(get("x-frame-options").as_deref(), Some("SAMEORIGIN"));
        assert_eq!(get("x-xss-protection").as_deref(), Some("1; mode=block"));
        assert_eq!(
            get("content-security-policy").as_deref(),
            Some("default-src 'self'; script-src 'self' 'unsafe-inline'; img-src 'self'; frame-src 'self';")
        );
        // No TLS on this port: no HSTS.
        assert_eq!(get("strict-transport-security"), None);
    }
}

#[tokio::test]
async fn security_headers_follow_the_configuration() {
    let app = app(&[
        ("livy.server.http.header.X-XSS-Protection", ""),
        ("livy.server.http.header.X-Frame-Options", "DENY"),
    ]);
    let (_, headers, _) = send(&app, Method::GET, "/version", &[], "").await;
    assert!(headers.get("x-xss-protection").is_none());
    assert_eq!(headers.get("x-frame-options").unwrap(), "DENY");

    let app = app_off();
    let (_, headers, _) = send(&app, Method::GET, "/version", &[], "").await;
    for name in [
        "x-content-type-options",
        "x-frame-options",
        "x-xss-protection",
        "content-security-policy",
        "strict-transport-security",
    ] {
        assert!(headers.get(name).is_none(), "{name} sent while disabled");
    }
}

fn app_off() -> Router {
    app(&[("livy.server.security-headers.enabled", "false")])
}
