//! Refusing cross-site requests, in one layer in front of every route.
//!
//! A page on another site can make the user's browser send a request here, and the browser adds
//! what authenticates the user: the `hadoop.auth` cookie (now `SameSite=Lax`, which stops that
//! only for other *sites*, not sibling hosts of the same site) and, unasked, a SPNEGO ticket.
//! Without a CORS preflight a page can only send a form or `text/plain` body, and in any case the
//! browser says where the request comes from. So a state-changing request (anything but GET,
//! HEAD and OPTIONS; no GET changes state here) is refused when:
//!
//! - its `Origin` is neither this server's own origin (the scheme this port speaks and the host
//!   the client addressed: `Host`, or HTTP/2's `:authority`) nor in `livy.server.allowed-origins`
//!   (`null`, sent by sandboxed frames and after cross-origin redirects, is never allowed);
//! - it carries no allowed `Origin` and `Sec-Fetch-Site: cross-site`;
//! - its body is a form (`application/x-www-form-urlencoded`, `multipart/form-data`) or
//!   `text/plain`, the bodies a page can send without a preflight; the upload routes of the Job
//!   API take multipart and are behind the Origin check like the rest.
//!
//! An allowed origin overrides `Sec-Fetch-Site`, or listing a cross-site origin could never work.
//! Clients that are not browsers (curl, pylivy, sparkmagic, Airflow) send neither header, and
//! may send no `Content-Type` at all: they pass unchanged.

use super::jobs;
use crate::conf::keys::ALLOWED_ORIGINS;
use crate::conf::security::{origin, SecurityConf};
use crate::error::ApiError;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderMap, Method, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// Who may send state-changing requests.
#[derive(Debug, Clone)]
pub struct CrossSite {
    /// `https` when the port speaks TLS, else `http`.
    scheme: &'static str,
    /// `livy.server.allowed-origins`, serialized as browsers send them.
    allowed: Vec<String>,
}

impl CrossSite {
    pub fn from_conf(security: &SecurityConf) -> Self {
        CrossSite {
            scheme: if security.tls.is_some() {
                "https"
            } else {
                "http"
            },
            allowed: security.allowed_origins.clone(),
        }
    }

    /// This server's origin as the client addressed it.
    fn own_origin(&self, uri: &Uri, headers: &HeaderMap) -> Option<String> {
        let host = match uri.authority() {
            Some(authority) => authority.as_str(),
            None => headers.get(header::HOST)?.to_str().ok()?,
        };
        origin(&format!("{}://{host}", self.scheme))
    }

    /// Refuses the request when a browser says another site's page sent it.
    fn check_origin(&self, uri: &Uri, headers: &HeaderMap) -> Result<(), ApiError> {
        let cross_site = headers
            .get("sec-fetch-site")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site"));
        let Some(sent) = headers.get(header::ORIGIN) else {
            return if cross_site {
                Err(ApiError::Forbidden(
                    "Cross-site request refused: the browser marked it Sec-Fetch-Site: cross-site."
                        .into(),
                ))
            } else {
                Ok(())
            };
        };
        let text = String::from_utf8_lossy(sent.as_bytes());
        let normalized = origin(&text);
        if normalized
            .as_ref()
            .is_some_and(|o| self.allowed.iter().any(|a| a == o))
        {
            return Ok(());
        }
        if !cross_site && normalized.is_some() && normalized == self.own_origin(uri, headers) {
            return Ok(());
        }
        Err(ApiError::Forbidden(format!(
            "Cross-site request refused: Origin '{}' is not this server's origin and not in {ALLOWED_ORIGINS}.",
            text.chars().take(200).collect::<String>()
        )))
    }
}

/// Refuses the body types a page on another site can send without a preflight, except
/// multipart on the upload routes that take it.
fn check_body_type(headers: &HeaderMap, route: Option<&str>) -> Result<(), ApiError> {
    let Some(content_type) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let text = String::from_utf8_lossy(content_type.as_bytes());
    let essence = text
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let refused = match essence.as_str() {
        "application/x-www-form-urlencoded" | "text/plain" => true,
        "multipart/form-data" => !route.is_some_and(jobs::is_upload_route),
        _ => false,
    };
    if refused {
        return Err(ApiError::UnsupportedMediaType(format!(
            "Content-Type {essence} is not accepted here: send the JSON body with \
             Content-Type: application/json (curl: -H 'Content-Type: application/json')."
        )));
    }
    Ok(())
}

/// The layer: every state-changing request passes both checks before anything else sees it.
pub async fn refuse_cross_site(
    State(policy): State<Arc<CrossSite>>,
    req: Request,
    next: Next,
) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str);
    let checked = policy
        .check_origin(req.uri(), req.headers())
        .and_then(|()| check_body_type(req.headers(), route));
    match checked {
        Ok(()) => next.run(req).await,
        Err(e) => {
            tracing::info!(
                method = %req.method(),
                path = %req.uri().path(),
                reason = %e,
                "request refused"
            );
            e.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(
                header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        map
    }

    fn policy(tls: bool, allowed: &[&str]) -> CrossSite {
        CrossSite {
            scheme: if tls { "https" } else { "http" },
            allowed: allowed.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn the_own_origin_is_the_addressed_host_with_the_ports_scheme() {
        let p = policy(false, &[]);
        let uri: Uri = "/batches".parse().unwrap();
        let ok = |h: &[(&str, &str)]| p.check_origin(&uri, &headers(h)).is_ok();
        assert!(ok(&[
            ("host", "livy.example:8998"),
            ("origin", "http://livy.example:8998")
        ]));
        assert!(ok(&[
            ("host", "LIVY.example:80"),
            ("origin", "http://livy.example")
        ]));
        assert!(ok(&[
            ("host", "[::1]:8998"),
            ("origin", "http://[::1]:8998")
        ]));
        // Another port, scheme or host is another origin.
        assert!(!ok(&[
            ("host", "livy.example:8998"),
            ("origin", "http://livy.example:8999")
        ]));
        assert!(!ok(&[
            ("host", "livy.example:8998"),
            ("origin", "https://livy.example:8998")
        ]));
        assert!(!ok(&[
            ("host", "livy.example"),
            ("origin", "http://evil.example")
        ]));
        assert!(!ok(&[("host", "livy.example"), ("origin", "null")]));
        assert!(!ok(&[("origin", "http://livy.example")]));
        // HTTP/2 carries the host in the request target.
        let h2: Uri = "https://livy.example:8443/batches".parse().unwrap();
        let tls = policy(true, &[]);
        assert!(tls
            .check_origin(&h2, &headers(&[("origin", "https://livy.example:8443")]))
            .is_ok());
    }

    #[test]
    fn sec_fetch_site_and_the_allow_list() {
        let p = policy(false, &["https://notebooks.example"]);
        let uri: Uri = "/batches".parse().unwrap();
        let ok = |h: &[(&str, &str)]| p.check_origin(&uri, &headers(h)).is_ok();
        assert!(!ok(&[("sec-fetch-site", "cross-site")]));
        assert!(!ok(&[
            ("host", "l"),
            ("origin", "http://l"),
            ("sec-fetch-site", "cross-site")
        ]));
        assert!(ok(&[
            ("origin", "https://notebooks.example"),
            ("sec-fetch-site", "cross-site")
        ]));
        assert!(ok(&[("origin", "https://NOTEBOOKS.example:443")]));
        assert!(ok(&[("sec-fetch-site", "same-origin")]));
        assert!(ok(&[("sec-fetch-site", "none")]));
        assert!(ok(&[]));
    }

    #[test]
    fn form_and_text_bodies_are_refused_and_multipart_only_on_uploads() {
        let check =
            |ct: &str, route: &str| check_body_type(&headers(&[("content-type", ct)]), Some(route));
        for ct in [
            "application/x-www-form-urlencoded",
            "Application/X-WWW-Form-Urlencoded; charset=UTF-8",
            "text/plain",
            "text/plain;charset=utf-8",
            "multipart/form-data; boundary=x",
        ] {
            let err = check(ct, "/sessions/{id}/statements").unwrap_err();
            assert!(matches!(err, ApiError::UnsupportedMediaType(_)), "{ct}");
        }
        assert!(check(
            "multipart/form-data; boundary=x",
            "/sessions/{id}/upload-jar"
        )
        .is_ok());
        assert!(check("text/plain", "/sessions/{id}/upload-jar").is_err());
        assert!(check("application/json", "/batches").is_ok());
        assert!(check("application/json; charset=utf-8", "/batches").is_ok());
        assert!(check_body_type(&HeaderMap::new(), None).is_ok());
    }
}
