//! `GET /` and `/ui`: a small page listing sessions and batches, until the full web UI exists.

use super::AppState;
use axum::extract::State;
use axum::response::Html;
use axum::routing::get;
use axum::Router;
use std::fmt::Write;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/ui", get(index))
}

async fn index(State(app): State<AppState>) -> Html<String> {
    let mut page = String::from(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>livy-rs</title>\
         <style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}\
         td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}</style></head><body>\
         <h1>livy-rs</h1><h2>Interactive sessions</h2>",
    );
    let sessions = app.sessions.registry().all();
    if sessions.is_empty() {
        page.push_str("<p>No interactive sessions.</p>");
    } else {
        page.push_str(
            "<table><tr><th>id</th><th>name</th><th>kind</th><th>state</th><th>appId</th><th>owner</th><th>links</th></tr>",
        );
        for s in sessions {
            let v = s.view(false);
            let _ = write!(
                page,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
                 <td><a href=\"/sessions/{}\">json</a> <a href=\"/sessions/{}/statements\">statements</a></td></tr>",
                v.id,
                escape(v.name.as_deref().unwrap_or("")),
                v.kind.as_str(),
                v.state,
                escape(v.app_id.as_deref().unwrap_or("")),
                escape(v.owner.as_deref().unwrap_or("")),
                v.id,
                v.id
            );
        }
        page.push_str("</table>");
    }
    page.push_str("<h2>Batches</h2>");
    let batches = app.batches.registry().all();
    if batches.is_empty() {
        page.push_str("<p>No batches.</p>");
    } else {
        page.push_str(
            "<table><tr><th>id</th><th>name</th><th>state</th><th>appId</th><th>owner</th><th>links</th></tr>",
        );
        for b in batches {
            let v = b.view(false);
            let _ = write!(
                page,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
                 <td><a href=\"/batches/{}\">json</a> <a href=\"/batches/{}/log\">log</a></td></tr>",
                v.id,
                escape(v.name.as_deref().unwrap_or("")),
                v.state,
                escape(v.app_id.as_deref().unwrap_or("")),
                escape(v.owner.as_deref().unwrap_or("")),
                v.id,
                v.id
            );
        }
        page.push_str("</table>");
    }
    page.push_str("</body></html>");
    Html(page)
}

/// Escapes text for HTML: names and owners come from users.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}
