//! Any server answers any request. Two layers of the router:
//! - [`verify_peer`] (before authentication): a request carrying the peer header is let in as
//!   the user it names only when the header verifies (see `super::peer`); otherwise it is
//!   refused, whoever sent it.
//! - [`route`] (after authentication and the `doAs` check): a request about a session or batch
//!   this server does not run goes to the server that owns it, with the caller's identity; an
//!   entry without an owner (its server just died) is adopted first; `GET /sessions` and
//!   `GET /batches` gather the entries of every server, so every server gives the same page.
//!   A request that arrived forwarded is answered from this server's own entries.

use super::peer::{Signed, HEADER};
use super::{Ha, Member};
use crate::api::AppState;
use crate::auth::{RemoteUser, TrustedPeer};
use crate::error::ApiError;
use crate::recovery::{BATCH, INTERACTIVE};
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderName, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Marks a request a peer forwarded (its header verified).
#[derive(Debug, Clone, Copy)]
pub struct Forwarded;

/// Headers not passed between servers: hop-by-hop ones, the length (recomputed), and the
/// caller's credentials — the peer header stands for them.
fn passed(name: &HeaderName) -> bool {
    !matches!(
        name.as_str(),
        "host"
            | "authorization"
            | "proxy-authorization"
            | "cookie"
            | "content-length"
            | "connection"
            | "keep-alive"
            | "transfer-encoding"
            | "te"
            | "upgrade"
            | HEADER
    )
}

async fn body_bytes(body: Body) -> Result<Bytes, Response> {
    // The body limit layer in front has capped it already.
    axum::body::to_bytes(body, usize::MAX).await.map_err(|_| {
        ApiError::PayloadTooLarge("The request body is larger than allowed.".into()).into_response()
    })
}

/// The layer in front of authentication: verifies a peer header, or refuses the request.
pub async fn verify_peer(State(ha): State<Arc<Ha>>, req: Request, next: Next) -> Response {
    let Some(value) = req.headers().get(HEADER) else {
        return next.run(req).await;
    };
    let value = value.to_str().unwrap_or_default().to_string();
    let (mut parts, body) = req.into_parts();
    let bytes = match body_bytes(body).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    let signed = Signed {
        method: parts.method.as_str(),
        path_and_query: &path,
        body: &bytes,
    };
    match ha.peer().verify(&value, &signed) {
        Ok(user) => {
            parts.headers.remove(HEADER);
            parts.extensions.insert(TrustedPeer);
            parts.extensions.insert(RemoteUser(user));
            parts.extensions.insert(Forwarded);
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Err(reason) => {
            tracing::warn!(%reason, path = %parts.uri.path(), "refused a request with an invalid server-to-server forwarding header");
            ApiError::Forbidden(
                "Invalid forwarding header: only the servers of this service may send it.".into(),
            )
            .into_response()
        }
    }
}

/// What a path is about.
enum Target {
    List,
    Entry(&'static str, u32),
    /// An entry by name (Livy takes a session's name where its id goes).
    Named(&'static str, String),
}

fn target(method: &Method, path: &str) -> Option<Target> {
    let mut segs = path.trim_start_matches('/').split('/');
    let kind = match segs.next()? {
        "sessions" => INTERACTIVE,
        "batches" => BATCH,
        _ => return None,
    };
    match segs.next() {
        None | Some("") if method == Method::GET => Some(Target::List),
        Some(id) if !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) => {
            Some(Target::Entry(kind, id.parse().ok()?))
        }
        // Decoded as the router decodes its path parameters.
        Some(name) if !name.is_empty() => Some(Target::Named(
            kind,
            percent_encoding::percent_decode_str(name)
                .decode_utf8()
                .ok()?
                .into_owned(),
        )),
        _ => None,
    }
}

fn is_local(state: &AppState, kind: &str, id: u32) -> bool {
    if kind == BATCH {
        state.batches.registry().get_id(id).is_some()
    } else {
        state.sessions.registry().get_id(id).is_some()
    }
}

/// The layer after authentication: sends requests about other servers' entries to them.
pub async fn route(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(ha) = state.recovery.as_ref().and_then(|r| r.ha().cloned()) else {
        return next.run(req).await;
    };
    if req.extensions().get::<Forwarded>().is_some() {
        if let Some(Target::Entry(kind, id)) = target(req.method(), req.uri().path()) {
            adopted(&state, &ha, kind, id).await;
        }
        return next.run(req).await;
    }
    if ha.is_draining()
        && req.method() == Method::POST
        && matches!(
            req.uri().path().trim_end_matches('/'),
            "/sessions" | "/batches"
        )
    {
        let (parts, body) = req.into_parts();
        return match body_bytes(body).await {
            Ok(bytes) => {
                super::drain::forward_create(&ha, &parts, &bytes, caller(&parts).as_deref()).await
            }
            Err(r) => r,
        };
    }
    match target(req.method(), req.uri().path()) {
        Some(Target::Entry(kind, id)) if !is_local(&state, kind, id) => {
            to_owner(&state, &ha, kind, id, req, next).await
        }
        Some(Target::List) => super::lists::gather(&ha, req, next).await,
        // Not one of this server's names: the service's name claim says which entry it is.
        Some(Target::Named(kind, name)) if !is_local_name(&state, kind, &name) => {
            match ha.named(kind, &name).await {
                Ok(Some(id)) if !is_local(&state, kind, id) => {
                    to_owner(&state, &ha, kind, id, req, next).await
                }
                _ => next.run(req).await,
            }
        }
        _ => next.run(req).await,
    }
}

fn is_local_name(state: &AppState, kind: &str, name: &str) -> bool {
    if kind == BATCH {
        state.batches.registry().get(name).is_some()
    } else {
        state.sessions.registry().get(name).is_some()
    }
}

/// Waits while this server owns an entry it is still adopting: a peer that read the new
/// ownership node, or a client the balancer sent here, asks before the entry is restored (seen
/// as a 404 while a drained server's session moved).
async fn adopted(state: &AppState, ha: &Ha, kind: &'static str, id: u32) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut checked = Instant::now() - Duration::from_secs(1);
    while !is_local(state, kind, id) && Instant::now() < deadline {
        if checked.elapsed() >= Duration::from_secs(1) {
            // Not ours any more, or deleted (the record goes before the owner node).
            if !matches!(ha.owner(kind, id).await, Ok(Some(o)) if o == ha.me)
                || !matches!(ha.has_record(kind, id).await, Ok(true))
            {
                return;
            }
            checked = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The caller's identity as authentication left it.
pub(super) fn caller(parts: &Parts) -> Option<String> {
    parts
        .extensions
        .get::<RemoteUser>()
        .and_then(|u| u.0.clone())
}

async fn to_owner(
    state: &AppState,
    ha: &Arc<Ha>,
    kind: &'static str,
    id: u32,
    req: Request,
    next: Next,
) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = match body_bytes(body).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let user = caller(&parts);
    // Long enough for a dead owner's ZooKeeper session to expire and a survivor to adopt.
    let deadline = Instant::now() + ha.conf.session_timeout + Duration::from_secs(10);
    let unavailable = |why: &str| {
        ApiError::ServiceUnavailable(format!(
            "The server that runs {kind} {id} cannot be reached ({why}); try again."
        ))
        .into_response()
    };
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let owner = match ha.owner(kind, id).await {
            Ok(o) => o,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read an owner from ZooKeeper");
                return unavailable("ZooKeeper is unreachable");
            }
        };
        match owner {
            Some(o) if o == ha.me => {
                // Ours, maybe only just: the entry may still be being restored from its record
                // (a 404 before, when a balancer sent the client here right after a drain).
                adopted(state, ha, kind, id).await;
                return next
                    .run(Request::from_parts(parts, Body::from(bytes)))
                    .await;
            }
            Some(o) => match ha.member(&o).await {
                Ok(Some(member)) => {
                    match send(ha, &member, &parts, &bytes, user.as_deref()).await {
                        Ok(response) => return response,
                        Err(e) if super::peer::Peer::untrusted(&e) => {
                            tracing::warn!(%kind, id, owner = %o, url = %member.url, cause = %super::peer::Peer::root_cause(&e), "the owner's TLS certificate is not trusted; the request was not forwarded");
                            return ApiError::ServiceUnavailable(format!(
                                "The server that runs {kind} {id} presented a TLS certificate this server does not trust; the request was not sent. Ask the administrator to check the certificates of the service's servers."
                            ))
                            .into_response();
                        }
                        Err(e) if left.is_zero() => {
                            tracing::warn!(%kind, id, owner = %o, error = %e, "cannot forward a request to its owner");
                            return unavailable("no answer");
                        }
                        Err(e) if e.is_connect() => ha.owner_changed(kind, id, left).await,
                        // Cut off: safe to send again when it reads only, or when the owner is
                        // draining (it finishes what it has begun before it stops, so a request
                        // it dropped was never run); the next attempt meets the new owner.
                        Err(e) if parts.method == Method::GET || ha.is_leaving(&o).await => {
                            tracing::info!(%kind, id, owner = %o, error = %e, "a forwarded request was cut off; sending it again");
                            ha.owner_changed(kind, id, left.min(Duration::from_secs(1)))
                                .await
                        }
                        Err(e) => {
                            tracing::warn!(%kind, id, owner = %o, error = %e, "cannot forward a request to its owner");
                            return unavailable("its answer was cut off");
                        }
                    }
                }
                // A member node gone before the owner nodes of its session: they go next.
                Ok(None) if !left.is_zero() => ha.owner_changed(kind, id, left).await,
                _ => return unavailable("it left the service"),
            },
            None => {
                let adopted = match ha.has_record(kind, id).await {
                    Ok(true) => super::takeover::adopt(state, ha, kind, id).await,
                    _ => false,
                };
                // Ours now, no such entry anywhere (a 404), or one no server could adopt (its
                // record is in a newer format, say: logged by the adoption): answered here.
                if adopted
                    || left.is_zero()
                    || !matches!(ha.has_record(kind, id).await, Ok(true))
                    || matches!(ha.owner(kind, id).await, Ok(None))
                {
                    return next
                        .run(Request::from_parts(parts, Body::from(bytes)))
                        .await;
                }
            }
        }
    }
}

/// Sends a request to a peer on behalf of `user`, and its answer back as it came.
pub(super) async fn send(
    ha: &Ha,
    member: &Member,
    parts: &Parts,
    body: &Bytes,
    user: Option<&str>,
) -> Result<Response, reqwest::Error> {
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let signature = ha.peer().sign(
        user,
        &Signed {
            method: parts.method.as_str(),
            path_and_query: path,
            body,
        },
    );
    let mut request = ha
        .peer()
        .http
        .request(parts.method.clone(), format!("{}{path}", member.url))
        .header(HEADER, signature)
        .body(body.clone());
    for (name, value) in parts.headers.iter().filter(|(n, _)| passed(n)) {
        request = request.header(name, value);
    }
    let answer = request.send().await?;
    let status = answer.status();
    let headers = answer.headers().clone();
    let bytes = answer.bytes().await?;
    let status = StatusCode::from_u16(status.as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut response = (status, bytes).into_response();
    // What describes the answer itself; the layers of this server add their own headers
    // (security, server version, request id) as on any answer.
    response.headers_mut().remove(header::CONTENT_TYPE);
    for name in [
        header::CONTENT_TYPE,
        header::LOCATION,
        header::CONTENT_DISPOSITION,
    ] {
        if let Some(value) = headers.get(&name) {
            response.headers_mut().insert(name, value.clone());
        }
    }
    Ok(response)
}
