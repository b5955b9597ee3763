//! `GET /sessions` and `GET /batches` across the service: this server's entries and every
//! peer's (asked with the caller's identity, so each applies its own access rules), merged by
//! id and paged here, so the page is the same whichever server a client asks.

use super::forward::{caller, send};
use super::Ha;
use crate::api::json::Params;
use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// The entries of one server's answer (`None` when it is not a list).
async fn entries(response: Response) -> Option<Vec<serde_json::Value>> {
    if response.status() != StatusCode::OK {
        return None;
    }
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .ok()?;
    let mut v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    match v.get_mut("sessions")?.take() {
        serde_json::Value::Array(a) => Some(a),
        _ => None,
    }
}

/// `uri` asking for every entry (`from=0`, no size limit), other parameters (`doAs`) kept.
fn whole_list(uri: &Uri) -> Option<Uri> {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (k, v) in form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes()) {
        if k != "from" && k != "size" {
            query.append_pair(&k, &v);
        }
    }
    query.append_pair("from", "0");
    query.append_pair("size", &i64::MAX.to_string());
    format!("{}?{}", uri.path(), query.finish()).parse().ok()
}

/// Asks one peer for its list, twice if the first attempt fails (a list read is safe to repeat;
/// an answer cut off by a loaded machine must not leave the peer's entries out of the page).
async fn ask(
    ha: &Ha,
    member: &super::Member,
    parts: &axum::http::request::Parts,
    body: &Bytes,
    user: Option<&str>,
) -> Result<Response, reqwest::Error> {
    match send(ha, member, parts, body, user).await {
        Err(e) if ha.members().contains_key(&member.id) => {
            tracing::info!(member = %member.id, error = %e, "asking a peer for its list again");
            send(ha, member, parts, body, user).await
        }
        answer => answer,
    }
}

pub async fn gather(ha: &Arc<Ha>, req: Request, next: Next) -> Response {
    let params = Params::parse(req.uri().query());
    let (from, size) = match (params.int("from"), params.int("size")) {
        (Ok(f), Ok(s)) => (f.unwrap_or(0).max(0), s.unwrap_or(100).max(0)),
        // A bad value gets this server's own error.
        _ => return next.run(req).await,
    };
    let Some(uri) = whole_list(req.uri()) else {
        return next.run(req).await;
    };
    let (mut parts, _) = req.into_parts();
    parts.uri = uri;
    let user = caller(&parts);
    let peers = ha.peers();
    let empty = Bytes::new();
    let asked = futures::future::join_all(
        peers
            .iter()
            .map(|m| ask(ha, m, &parts, &empty, user.as_deref())),
    );
    let local = next.run(Request::from_parts(parts.clone(), Body::empty()));
    let (local, asked) = tokio::join!(local, asked);
    if local.status() != StatusCode::OK {
        return local;
    }
    let Some(mut all) = entries(local).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    for (member, answer) in peers.iter().zip(asked) {
        match answer {
            Ok(response) => match entries(response).await {
                Some(e) => all.extend(e),
                None => tracing::warn!(member = %member.id, "a peer's list answer was not a list"),
            },
            Err(e) => {
                tracing::warn!(member = %member.id, error = %e, "cannot ask a peer for its entries")
            }
        }
    }
    all.sort_by_key(|e| e["id"].as_u64().unwrap_or(u64::MAX));
    all.dedup_by_key(|e| e["id"].as_u64());
    let total = all.len();
    let page: Vec<_> = all
        .into_iter()
        .skip(usize::try_from(from).unwrap_or(usize::MAX))
        .take(usize::try_from(size).unwrap_or(usize::MAX))
        .collect();
    axum::Json(serde_json::json!({ "from": from, "total": total, "sessions": page }))
        .into_response()
}
