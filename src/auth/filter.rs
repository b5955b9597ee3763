//! The authentication layer every route sits behind (Hadoop's AuthenticationFilter plus Livy's
//! AccessFilter, as LivyServer installs them on `/*`).
//!
//! Per request: a valid signed cookie identifies the caller; otherwise the configured scheme
//! authenticates the request's credentials and, on success, a new cookie is issued. Failure is
//! a `401` with a `WWW-Authenticate` challenge (and a rejected cookie is cleared). Then the
//! allowed-users ACL applies. The caller's short name goes into the [`RemoteUser`] extension of
//! the request (for handlers) and of the response (for the access log).
//!
//! Nothing secret is logged: not tokens, not cookie values, not the signing key.

use super::cookie::{find_cookie, CookieSigner};
use super::spnego::{Spnego, SpnegoError};
use super::{AccessManager, RemoteUser};
use crate::conf::auth::{AuthConf, AuthScheme};
use crate::error::ApiError;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use std::sync::Arc;

/// The configured authentication scheme.
pub enum Authenticator {
    None,
    Kerberos(Arc<Spnego>),
    // SEAM(ldap): `Ldap(Arc<crate::auth::ldap::LdapAuth>)`, answering `Authorization: Basic`
    // with `LdapAuth::authenticate(user, password)`, challenge `Basic realm="..."`.
}

impl Authenticator {
    /// Sets the scheme up (for Kerberos: acquires the acceptor credential from the keytab).
    pub fn from_conf(conf: &AuthConf) -> anyhow::Result<Self> {
        Ok(match &conf.scheme {
            AuthScheme::None => Authenticator::None,
            AuthScheme::Kerberos(k) => {
                let spnego = Spnego::from_conf(k).map_err(|e| {
                    anyhow::anyhow!(
                        "Kerberos authentication: {e} (principal {}, keytab {})",
                        k.principal,
                        k.keytab.display()
                    )
                })?;
                tracing::info!(principal = %spnego.principal(), "SPNEGO auth enabled");
                Authenticator::Kerberos(Arc::new(spnego))
            }
        })
    }

    /// The token type recorded in cookies (Hadoop's handler type).
    fn type_name(&self) -> &'static str {
        match self {
            Authenticator::None => "simple",
            Authenticator::Kerberos(_) => "kerberos",
        }
    }
}

/// What authenticating a request's credentials gave.
enum Outcome {
    /// Authenticated; `reply` is a header to add to the answer (the mutual-auth token).
    Ok {
        user: String,
        principal: String,
        reply: Option<HeaderValue>,
    },
    /// No or bad credentials: 401 with this challenge.
    Challenge(HeaderValue),
    /// Authenticated, but refused (a principal no name rule maps): 403.
    Forbidden(String),
}

/// The state of the authentication layer.
pub struct AuthFilter {
    authenticator: Authenticator,
    cookies: CookieSigner,
    access: Arc<AccessManager>,
}

impl AuthFilter {
    pub fn new(authenticator: Authenticator, conf: &AuthConf, access: Arc<AccessManager>) -> Self {
        AuthFilter {
            authenticator,
            cookies: CookieSigner::random(conf.token_validity),
            access,
        }
    }

    pub fn enabled(&self) -> bool {
        !matches!(self.authenticator, Authenticator::None)
    }

    async fn authenticate_credentials(&self, headers: &HeaderMap, path: &str) -> Outcome {
        match &self.authenticator {
            Authenticator::None => Outcome::Ok {
                user: String::new(),
                principal: String::new(),
                reply: None,
            },
            Authenticator::Kerberos(spnego) => negotiate(spnego, headers, path).await,
        }
    }
}

/// The `Negotiate` token of the request, base64-decoded. `Err(())` when a Negotiate header is
/// there but is not base64.
fn negotiate_token(headers: &HeaderMap) -> Option<Result<Vec<u8>, ()>> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ').unwrap_or((value.trim(), ""));
    if !scheme.eq_ignore_ascii_case("Negotiate") {
        return None;
    }
    let token: String = token.chars().filter(|c| !c.is_whitespace()).collect();
    if token.is_empty() {
        return Some(Err(()));
    }
    Some(
        base64::engine::general_purpose::STANDARD
            .decode(token)
            .map_err(|_| ()),
    )
}

async fn negotiate(spnego: &Arc<Spnego>, headers: &HeaderMap, path: &str) -> Outcome {
    let challenge = HeaderValue::from_static("Negotiate");
    let token = match negotiate_token(headers) {
        None => return Outcome::Challenge(challenge),
        Some(Err(())) => {
            tracing::warn!(path, "SPNEGO: the Negotiate token is not base64");
            return Outcome::Challenge(challenge);
        }
        Some(Ok(token)) => token,
    };
    let acceptor = spnego.clone();
    let accepted = tokio::task::spawn_blocking(move || acceptor.accept(&token)).await;
    let b64 = |bytes: &[u8]| {
        HeaderValue::from_str(&format!(
            "Negotiate {}",
            base64::engine::general_purpose::STANDARD.encode(bytes)
        ))
        .ok()
    };
    match accepted {
        Ok(Ok(acc)) => Outcome::Ok {
            reply: acc.reply.as_deref().and_then(b64),
            user: acc.user,
            principal: acc.principal,
        },
        Ok(Err(SpnegoError::Continue(reply))) => {
            Outcome::Challenge(b64(&reply).unwrap_or(challenge))
        }
        Ok(Err(SpnegoError::Unmapped(e))) => {
            tracing::warn!(error = %e, "SPNEGO: authenticated principal has no local name");
            Outcome::Forbidden(format!("Authentication failed: {e}"))
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, path, "SPNEGO: token rejected");
            Outcome::Challenge(challenge)
        }
        Err(e) => {
            tracing::error!(error = %e, "SPNEGO: the GSSAPI task failed");
            Outcome::Challenge(challenge)
        }
    }
}

fn unauthorized(challenge: HeaderValue, clear_cookie: Option<String>) -> Response {
    let mut response = ApiError::Unauthorized("Authentication required".into()).into_response();
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, challenge);
    if let Some(clear) = clear_cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        response.headers_mut().insert(header::SET_COOKIE, clear);
    }
    response
}

/// The middleware: authenticates, applies the allowed-users ACL, sets [`RemoteUser`].
pub async fn authenticate(
    State(filter): State<Arc<AuthFilter>>,
    mut req: Request,
    next: Next,
) -> Response {
    if !filter.enabled() {
        return next.run(req).await;
    }
    let type_name = filter.authenticator.type_name();
    let cookie = find_cookie(
        req.headers()
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok()),
    )
    .map(|v| filter.cookies.verify(v, type_name));
    let mut rejected_cookie = false;
    let (user, reply, new_cookie) = match cookie {
        Some(Ok(token)) => (token.user, None, None),
        other => {
            if let Some(Err(e)) = other {
                // Hadoop ignores a bad cookie and authenticates afresh.
                tracing::info!(reason = %e, path = %req.uri().path(), "auth cookie ignored");
                rejected_cookie = true;
            }
            let path = req.uri().path().to_string();
            match filter.authenticate_credentials(req.headers(), &path).await {
                Outcome::Ok {
                    user,
                    principal,
                    reply,
                } => {
                    tracing::debug!(%user, %principal, "authenticated");
                    let cookie = filter.cookies.issue(&user, &principal, type_name);
                    (user, reply, cookie)
                }
                Outcome::Challenge(challenge) => {
                    let clear = rejected_cookie.then(|| filter.cookies.clear_cookie());
                    return unauthorized(challenge, clear);
                }
                Outcome::Forbidden(msg) => return ApiError::Forbidden(msg).into_response(),
            }
        }
    };
    // Livy's AccessFilter: only allowed users may use the server at all.
    if !filter.access.is_user_allowed(Some(&user)) {
        let mut response =
            ApiError::Forbidden("User not authorised to use Livy.".into()).into_response();
        response.extensions_mut().insert(RemoteUser(Some(user)));
        return response;
    }
    req.extensions_mut().insert(RemoteUser(Some(user.clone())));
    let mut response = next.run(req).await;
    let headers = response.headers_mut();
    if let Some(reply) = reply {
        headers.insert(header::WWW_AUTHENTICATE, reply);
    }
    // TODO(tls): add `Secure` once the server knows it is serving HTTPS.
    if let Some(value) = new_cookie {
        if let Ok(v) = HeaderValue::from_str(&filter.cookies.set_cookie(&value, false)) {
            headers.append(header::SET_COOKIE, v);
        }
    }
    response.extensions_mut().insert(RemoteUser(Some(user)));
    response
}
