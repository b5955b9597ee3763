//! HTTP Basic authentication against LDAP, as a router layer: the caller's name goes into the
//! request as [`RemoteUser`]. Kept to one function so it can be folded into the shared
//! authentication filter (which adds the signed cookie that spares a bind per request).
//!
//! Answers, where Livy (through Hadoop's AuthenticationFilter) differs in places:
//! - no `Authorization` header, another scheme, or malformed Basic credentials: 401 with
//!   `WWW-Authenticate: Basic` (Livy: the same, except malformed credentials got an empty 200);
//! - wrong password, unknown user, blank user or password: 401 with the challenge, message
//!   `Error validating LDAP user` (Livy answers 403 here; 401 is what RFC 7235 prescribes, and
//!   lets browsers and curl ask again);
//! - directory unreachable, TLS or StartTLS failing, or no answer within
//!   `livy.server.auth.ldap.timeout`: 503, so a client can tell "try later" from "wrong
//!   password". The request is never let through.
//!
//! Neither the password nor the header is ever logged; the user name is.

use super::ldap::{parse_basic, LdapAuth};
use super::RemoteUser;
use crate::error::ApiError;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// Livy's message for credentials the directory did not accept.
const REJECTED: &str = "Error validating LDAP user";

/// The layer: authenticate, then pass the request on with its [`RemoteUser`].
pub async fn require_ldap_basic(
    State(ldap): State<Arc<LdapAuth>>,
    mut req: Request,
    next: Next,
) -> Response {
    let credentials = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_basic);
    let Some((user, password)) = credentials else {
        return challenge("Authentication required");
    };
    match ldap.authenticate(&user, &password).await {
        Ok(()) => {
            tracing::debug!(user = %user, "LDAP authentication succeeded");
            let remote = RemoteUser(Some(user));
            req.extensions_mut().insert(remote.clone());
            let mut response = next.run(req).await;
            // The access log names the user from the response (it sees the request first).
            response.extensions_mut().insert(remote);
            response
        }
        Err(e) if e.is_unavailable() => {
            tracing::warn!(user = %user, error = %e, "cannot check credentials with LDAP");
            ApiError::ServiceUnavailable(
                "Cannot validate credentials: the LDAP server is unavailable. See the Livy server log."
                    .into(),
            )
            .into_response()
        }
        Err(e) => {
            tracing::info!(user = %user, reason = %e, "LDAP authentication failed");
            challenge(&format!("{REJECTED}{}", suffix(&e)))
        }
    }
}

/// Livy's wording: the reason is given for blank input only, never for a refused bind.
fn suffix(e: &super::ldap::LdapError) -> String {
    use super::ldap::LdapError::*;
    match e {
        BlankUser | BlankPassword => format!(": {e}"),
        _ => String::new(),
    }
}

/// 401 with the Basic challenge, in Livy's `{"msg"}` shape.
fn challenge(msg: &str) -> Response {
    let mut response = ApiError::Unauthorized(msg.to_string()).into_response();
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conf::ldap::{LdapConf, LdapTrust};
    use axum::body::Body;
    use axum::http::{Request as HttpRequest, StatusCode};
    use axum::routing::get;
    use axum::{Extension, Router};
    use http_body_util::BodyExt;
    use std::time::Duration;
    use tower::ServiceExt;

    /// A router whose one route echoes the RemoteUser, behind the layer; the directory is a
    /// loopback port nobody listens on, so only checks that never reach it can succeed.
    fn app() -> Router {
        let conf = LdapConf {
            urls: vec![url::Url::parse("ldap://127.0.0.1:9").unwrap()],
            base_dn: Some("dc=livy,dc=test".into()),
            username_domain: None,
            start_tls: false,
            trust: LdapTrust::SystemRoots,
            timeout: Duration::from_secs(2),
        };
        let ldap = Arc::new(LdapAuth::from_conf(&conf).unwrap());
        Router::new()
            .route(
                "/who",
                get(|Extension(u): Extension<RemoteUser>| async move { format!("{:?}", u.0) }),
            )
            .layer(axum::middleware::from_fn_with_state(
                ldap,
                require_ldap_basic,
            ))
    }

    async fn call(authorization: Option<&str>) -> (StatusCode, Option<String>, String) {
        let mut req = HttpRequest::get("/who");
        if let Some(value) = authorization {
            req = req.header(header::AUTHORIZATION, value);
        }
        let resp = app()
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let challenge = resp
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .map(|v| v.to_str().unwrap().to_string());
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            challenge,
            String::from_utf8_lossy(&body).into_owned(),
        )
    }

    #[tokio::test]
    async fn missing_or_malformed_credentials_get_the_basic_challenge() {
        for value in [
            None,
            Some("Negotiate abc"),
            Some("Basic %%%"),
            Some("Basic"),
        ] {
            let (status, challenge, body) = call(value).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED);
            assert_eq!(challenge.as_deref(), Some("Basic"), "{value:?}");
            assert_eq!(body, r#"{"msg":"Authentication required"}"#);
        }
        // alice with an empty password: refused before any bind.
        let (status, challenge, body) = call(Some("Basic YWxpY2U6")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(challenge.as_deref(), Some("Basic"));
        assert_eq!(
            body,
            r#"{"msg":"Error validating LDAP user: a null or blank password has been provided"}"#
        );
    }

    #[tokio::test]
    async fn an_unreachable_directory_is_a_503_without_challenge() {
        // alice:pw
        let (status, challenge, body) = call(Some("Basic YWxpY2U6cHc=")).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(challenge, None);
        assert!(body.contains("the LDAP server is unavailable"), "{body}");
    }
}
