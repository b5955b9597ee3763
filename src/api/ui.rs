//! `GET /` and `/ui`: a small page listing the sessions and batches the caller may view, until
//! the full web UI exists. `livy.ui.enabled = false` removes these routes (404), and
//! `livy.ui.basePath` prefixes the page's links, for a reverse proxy that serves livy-rs under a
//! path and strips it before forwarding (Livy's UI uses it the same way).

use super::{AppState, Caller};
use crate::conf::ServerConf;
use crate::error::ApiError;
use axum::extract::State;
use axum::response::Html;
use axum::routing::get;
use axum::Router;

pub fn routes(conf: &ServerConf) -> Router<AppState> {
    if !conf.ui_enabled {
        return Router::new();
    }
    Router::new()
        .route("/", get(index))
        .route("/ui", get(index))
        .route("/ui/livy-rs.css", get(stylesheet))
}

/// The page's style, served as a file: Livy's default Content-Security-Policy
/// (`default-src 'self'`) forbids inline `<style>` in browsers.
const STYLE: &str = "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}\
                     td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}";

async fn stylesheet() -> ([(axum::http::HeaderName, &'static str); 1], &'static str) {
    ([(axum::http::header::CONTENT_TYPE, "text/css")], STYLE)
}

/// Lists only what the caller may view (the REST API hides the logs of the others; a page that
/// lists names, owners and app ids across users would show more than the ACLs allow).
async fn index(State(app): State<AppState>, caller: Caller) -> Result<Html<String>, ApiError> {
    let user = caller.effective_user(&app.access)?;
    let user = user.as_deref();
    let base = escape(app.conf.server.base_path.trim_end_matches('/'));
    let mut page = format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>livy-rs</title>\
         <link rel=\"stylesheet\" href=\"{base}/ui/livy-rs.css\"></head><body>\
         <h1>livy-rs</h1>"
    );
    let sessions: Vec<Vec<String>> = app
        .sessions
        .registry()
        .all()
        .iter()
        .filter(|s| {
            app.access
                .has_view_access(s.owner.as_deref(), user, s.proxy_user.as_deref())
        })
        .map(|s| {
            let v = s.view(false);
            vec![
                v.id.to_string(),
                escape(v.name.as_deref().unwrap_or("")),
                v.kind.as_str().to_string(),
                v.state.to_string(),
                escape(v.app_id.as_deref().unwrap_or("")),
                escape(v.owner.as_deref().unwrap_or("")),
                format!(
                    "<a href=\"{base}/sessions/{0}\">json</a> <a href=\"{base}/sessions/{0}/statements\">statements</a>",
                    v.id
                ),
            ]
        })
        .collect();
    table(
        &mut page,
        "Interactive sessions",
        &["id", "name", "kind", "state", "appId", "owner", "links"],
        sessions,
    );
    let batches: Vec<Vec<String>> = app
        .batches
        .registry()
        .all()
        .iter()
        .filter(|b| {
            app.access
                .has_view_access(b.owner.as_deref(), user, b.proxy_user.as_deref())
        })
        .map(|b| {
            let v = b.view(false);
            vec![
                v.id.to_string(),
                escape(v.name.as_deref().unwrap_or("")),
                v.state.to_string(),
                escape(v.app_id.as_deref().unwrap_or("")),
                escape(v.owner.as_deref().unwrap_or("")),
                format!(
                    "<a href=\"{base}/batches/{0}\">json</a> <a href=\"{base}/batches/{0}/log\">log</a>",
                    v.id
                ),
            ]
        })
        .collect();
    table(
        &mut page,
        "Batches",
        &["id", "name", "state", "appId", "owner", "links"],
        batches,
    );
    page.push_str("</body></html>");
    Ok(Html(page))
}

/// Appends a titled table (cells are already escaped HTML), or a "none" line.
fn table(page: &mut String, title: &str, headers: &[&str], rows: Vec<Vec<String>>) {
    page.push_str(&format!("<h2>{title}</h2>"));
    if rows.is_empty() {
        page.push_str(&format!("<p>No {}.</p>", title.to_lowercase()));
        return;
    }
    page.push_str("<table><tr>");
    for h in headers {
        page.push_str(&format!("<th>{h}</th>"));
    }
    page.push_str("</tr>");
    for row in rows {
        page.push_str("<tr>");
        for cell in row {
            page.push_str(&format!("<td>{cell}</td>"));
        }
        page.push_str("</tr>");
    }
    page.push_str("</table>");
}

/// Escapes text for HTML: names and owners come from users.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}
