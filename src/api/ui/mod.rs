//! The web UI, at Livy's paths: `/ui` (sessions and batches), `/ui/session/{id}` (a session and
//! its statements), `/ui/session/{id}/log` and `/ui/batch/{id}/log`; `/` redirects to it.
//!
//! Each page is a small HTML shell; its script (plain JavaScript modules under `/ui/static/`,
//! compiled into the binary) reads JSON from `/ui/api/` ([`data`]) with the user's own
//! credentials: every request passes the same authentication layer as the REST API, and the data
//! routes return only what the caller may view.
//!
//! `livy.ui.enabled = false` removes every `/ui` route (404) and `/` redirects to the metrics, as
//! in Livy. `livy.ui.basePath` is for a reverse proxy that serves livy-rs under a path and strips
//! it before forwarding (Livy's meaning): routes stay where they are, and every link and request
//! the pages make starts with the base path.
//!
//! Every UI answer carries a strict Content-Security-Policy (scripts and styles only from files of
//! this server, no inline ones, images also from `data:` URLs for `image/png` outputs): the
//! scripts build the page with DOM text nodes, never HTML from data, and the policy is the second
//! line of defence if one ever did.

mod data;

use super::AppState;
use crate::conf::ServerConf;
use crate::error::ApiError;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;

/// The policy of every UI answer. `data:` images are the pictures `%matplot` returns.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

pub fn routes(conf: &ServerConf) -> Router<AppState> {
    if !conf.ui_enabled {
        // Livy's redirect when its UI is off.
        let metrics = format!("{}/metrics", conf.base_path);
        return Router::new().route("/", get(move || async move { Redirect::to(&metrics) }));
    }
    let ui = format!("{}/ui/", conf.base_path);
    let pages = Router::new()
        .route("/ui", get(lists))
        .route("/ui/", get(lists))
        .route("/ui/session/{id}", get(session))
        .route("/ui/session/{id}/log", get(session_log))
        .route("/ui/batch/{id}/log", get(batch_log))
        .route("/ui/static/{file}", get(asset))
        .merge(data::routes())
        .layer(middleware::from_fn(ui_headers));
    Router::new()
        .route("/", get(move || async move { Redirect::to(&ui) }))
        .merge(pages)
}

/// The UI's files, compiled in. A table rather than an embedding crate: a handful of files known
/// at build time, each served with its content type.
const ASSETS: &[(&str, &str, &str)] = &[
    ("livy-ui.css", CSS, include_str!("assets/livy-ui.css")),
    ("main.js", JS, include_str!("assets/main.js")),
    ("common.js", JS, include_str!("assets/common.js")),
    ("lists.js", JS, include_str!("assets/lists.js")),
    ("session.js", JS, include_str!("assets/session.js")),
    ("output.js", JS, include_str!("assets/output.js")),
    ("log.js", JS, include_str!("assets/log.js")),
];
const CSS: &str = "text/css; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";

async fn asset(Path(file): Path<String>) -> Result<Response, ApiError> {
    let (_, content_type, body) = ASSETS
        .iter()
        .find(|(name, _, _)| *name == file)
        .ok_or_else(|| ApiError::NotFound(format!("Not found: /ui/static/{file}")))?;
    Ok(([(header::CONTENT_TYPE, *content_type)], *body).into_response())
}

/// Which page a shell is for; its script reads it from the `<body>`'s data attributes.
enum Page {
    Lists,
    Session(u32),
    SessionLog(u32),
    BatchLog(u32),
}

async fn lists(State(app): State<AppState>) -> Html<String> {
    shell(&app.conf.server.base_path, Page::Lists)
}

async fn session(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Html<String>, ApiError> {
    Ok(shell(
        &app.conf.server.base_path,
        Page::Session(page_id(&id)?),
    ))
}

async fn session_log(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Html<String>, ApiError> {
    Ok(shell(
        &app.conf.server.base_path,
        Page::SessionLog(page_id(&id)?),
    ))
}

async fn batch_log(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Html<String>, ApiError> {
    Ok(shell(
        &app.conf.server.base_path,
        Page::BatchLog(page_id(&id)?),
    ))
}

/// A page's id is a session or batch id: a number, or no such page.
fn page_id(text: &str) -> Result<u32, ApiError> {
    text.parse()
        .map_err(|_| ApiError::NotFound("No such page: a session or batch id is a number.".into()))
}

/// The HTML of a page: no data in it (the script fetches that), only the base path (checked
/// when livy.conf was read, escaped all the same) and the page's kind and numeric id.
fn shell(base: &str, page: Page) -> Html<String> {
    let (kind, id, title) = match page {
        Page::Lists => ("lists", None, "Sessions".to_string()),
        Page::Session(id) => ("session", Some(id), format!("Session {id}")),
        Page::SessionLog(id) => ("session-log", Some(id), format!("Session {id} Log")),
        Page::BatchLog(id) => ("batch-log", Some(id), format!("Batch {id} Log")),
    };
    let base = escape(base);
    let id = id.map(|id| id.to_string()).unwrap_or_default();
    Html(format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Livy - {title}</title>\
         <link rel=\"stylesheet\" href=\"{base}/ui/static/livy-ui.css\">\
         <script type=\"module\" src=\"{base}/ui/static/main.js\"></script></head>\
         <body data-base-path=\"{base}\" data-page=\"{kind}\" data-id=\"{id}\">\
         <header class=\"bar\"><a class=\"brand\" href=\"{base}/ui/\">livy-rs</a>\
         <nav id=\"crumbs\" aria-label=\"breadcrumbs\"></nav>\
         <span id=\"status\" role=\"status\"></span></header>\
         <main id=\"main\"><noscript>This page needs JavaScript.</noscript></main>\
         </body></html>\n"
    ))
}

/// Escapes text for an HTML attribute.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The headers of every UI answer. The server-wide security headers (livy.conf's
/// `livy.server.http.header.*`) are added after these and keep them.
async fn ui_headers(req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "same-origin"),
        // Per-user answers: not kept by the browser or a proxy.
        (header::CACHE_CONTROL, "no-store"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}
