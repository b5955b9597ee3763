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
use super::ldap::{parse_basic, LdapAuth, LdapError};
use super::spnego::{AcceptPool, Accepted, Spnego, SpnegoError};
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
    /// HTTP Basic credentials checked by a bind against LDAP.
    Ldap(Arc<LdapAuth>),
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
            AuthScheme::Ldap(l) => {
                let ldap = LdapAuth::from_conf(l)
                    .map_err(|e| anyhow::anyhow!("cannot set up LDAP authentication: {e:#}"))?;
                tracing::info!("LDAP auth enabled");
                Authenticator::Ldap(Arc::new(ldap))
            }
        })
    }

    /// The token type recorded in cookies (Hadoop's handler type).
    fn type_name(&self) -> &'static str {
        match self {
            Authenticator::None => "simple",
            Authenticator::Kerberos(_) => "kerberos",
            Authenticator::Ldap(_) => "ldap",
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
    /// No or bad credentials: 401 with this challenge and message.
    Challenge(HeaderValue, String),
    /// Authenticated, but refused (a principal no name rule maps): 403.
    Forbidden(String),
    /// The credentials could not be checked now (the directory is down, every SPNEGO worker is
    /// busy): 503, no challenge.
    Unavailable(String),
}

/// The message of a 401 that asks for credentials.
const AUTH_REQUIRED: &str = "Authentication required";

/// The state of the authentication layer.
pub struct AuthFilter {
    authenticator: Authenticator,
    cookies: CookieSigner,
    access: Arc<AccessManager>,
    /// The REST port speaks HTTPS: cookies are marked `Secure`.
    secure: bool,
}

impl AuthFilter {
    pub fn new(
        authenticator: Authenticator,
        conf: &AuthConf,
        access: Arc<AccessManager>,
        secure: bool,
    ) -> Self {
        AuthFilter {
            authenticator,
            cookies: CookieSigner::random(conf.token_validity),
            access,
            secure,
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
            Authenticator::Ldap(ldap) => ldap_basic(ldap, headers).await,
        }
    }
}

/// Livy's message for credentials the directory did not accept.
const LDAP_REJECTED: &str = "Error validating LDAP user";

/// HTTP Basic against LDAP. Where this differs from Livy (through Hadoop's handler): wrong
/// password, unknown user and blank input are 401 with the challenge (Livy: 403), as RFC 7235
/// prescribes and so browsers and curl ask again; malformed credentials are 401 (Livy: an empty
/// 200); a directory that is down, fails TLS or does not answer within
/// `livy.server.auth.ldap.timeout` is 503, so a client can tell "try later" from "wrong
/// password". The request is never let through. Neither the password nor the header is logged.
async fn ldap_basic(ldap: &LdapAuth, headers: &HeaderMap) -> Outcome {
    let challenge = HeaderValue::from_static("Basic");
    let credentials = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_basic);
    let Some((user, password)) = credentials else {
        return Outcome::Challenge(challenge, AUTH_REQUIRED.into());
    };
    match ldap.authenticate(&user, &password).await {
        Ok(()) => Outcome::Ok {
            principal: user.clone(),
            user,
            reply: None,
        },
        Err(e) if e.is_unavailable() => {
            tracing::warn!(user = %user, error = %e, "cannot check credentials with LDAP");
            Outcome::Unavailable(
                "Cannot validate credentials: the LDAP server is unavailable. See the Livy server log."
                    .into(),
            )
        }
        Err(e) => {
            tracing::info!(user = %user, reason = %e, "LDAP authentication failed");
            // Livy's wording: the reason is given for blank input only, never for a refused bind.
            let reason = match e {
                LdapError::BlankUser | LdapError::BlankPassword => format!(": {e}"),
                _ => String::new(),
            };
            Outcome::Challenge(challenge, format!("{LDAP_REJECTED}{reason}"))
        }
    }
}

/// The `Negotiate` token of the request, base64-decoded. `Err(())` when a Negotiate header is
/// there but is not base64.
pub(crate) fn negotiate_token(headers: &HeaderMap) -> Option<Result<Vec<u8>, ()>> {
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
    let acceptor = spnego.clone();
    negotiate_on(&spnego.pool, headers, path, move |token| {
        acceptor.accept(&token)
    })
    .await
}

/// The answer when every SPNEGO worker stays busy (a flood of tokens): the client may retry.
const NEGOTIATE_BUSY: &str = "Too many authentication requests in progress; try again in a moment.";

/// The Negotiate exchange, with `accept` (blocking GSSAPI) run on `pool`.
async fn negotiate_on(
    pool: &AcceptPool,
    headers: &HeaderMap,
    path: &str,
    accept: impl FnOnce(Vec<u8>) -> Result<Accepted, SpnegoError> + Send + 'static,
) -> Outcome {
    let challenge = HeaderValue::from_static("Negotiate");
    let ask = |c: HeaderValue| Outcome::Challenge(c, AUTH_REQUIRED.into());
    let token = match negotiate_token(headers) {
        None => return ask(challenge),
        Some(Err(())) => {
            tracing::warn!(path, "SPNEGO: the Negotiate token is not base64");
            return ask(challenge);
        }
        Some(Ok(token)) => token,
    };
    let accepted = match pool.run(move || accept(token)).await {
        Ok(accepted) => accepted,
        Err(busy) => {
            tracing::warn!(path, reason = %busy, "SPNEGO: token refused, workers busy");
            return Outcome::Unavailable(NEGOTIATE_BUSY.into());
        }
    };
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
        Ok(Err(SpnegoError::Continue(reply))) => ask(b64(&reply).unwrap_or(challenge)),
        Ok(Err(SpnegoError::Unmapped(e))) => {
            tracing::warn!(error = %e, "SPNEGO: authenticated principal has no local name");
            Outcome::Forbidden(format!("Authentication failed: {e}"))
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, path, "SPNEGO: token rejected");
            ask(challenge)
        }
        Err(e) => {
            tracing::error!(error = %e, "SPNEGO: the GSSAPI task failed");
            ask(challenge)
        }
    }
}

fn unauthorized(challenge: HeaderValue, msg: String, clear_cookie: Option<String>) -> Response {
    let mut response = ApiError::Unauthorized(msg).into_response();
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
    if !filter.enabled() || req.extensions().get::<super::TrustedPeer>().is_some() {
        return next.run(req).await;
    }
    let failed = |reason| crate::metrics::get().auth_failed(reason);
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
                Outcome::Challenge(challenge, msg) => {
                    failed(if req.headers().contains_key(header::AUTHORIZATION) {
                        "bad_credentials"
                    } else if rejected_cookie {
                        "bad_cookie"
                    } else {
                        "missing_credentials"
                    });
                    let clear = rejected_cookie.then(|| filter.cookies.clear_cookie());
                    return unauthorized(challenge, msg, clear);
                }
                Outcome::Forbidden(msg) => {
                    failed("unmapped_principal");
                    return ApiError::Forbidden(msg).into_response();
                }
                Outcome::Unavailable(msg) => {
                    failed("unavailable");
                    return ApiError::ServiceUnavailable(msg).into_response();
                }
            }
        }
    };
    // Livy's AccessFilter: only allowed users may use the server at all.
    if !filter.access.is_user_allowed(Some(&user)) {
        failed("not_allowed");
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
    if let Some(value) = new_cookie {
        if let Ok(v) = HeaderValue::from_str(&filter.cookies.set_cookie(&value, filter.secure)) {
            headers.append(header::SET_COOKIE, v);
        }
    }
    response.extensions_mut().insert(RemoteUser(Some(user)));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conf::auth::AuthConf;
    use crate::conf::ldap::{LdapConf, LdapTrust};
    use crate::conf::AccessConf;
    use axum::body::Body;
    use axum::http::{Request as HttpRequest, StatusCode};
    use axum::routing::get;
    use axum::{Extension, Router};
    use http_body_util::BodyExt;
    use std::time::Duration;
    use tower::ServiceExt;

    /// A router whose one route echoes the RemoteUser, behind the filter with LDAP; the
    /// directory is a loopback port nobody listens on, so only checks that never reach it (or
    /// a valid cookie) can succeed.
    fn app(filter: Arc<AuthFilter>) -> Router {
        Router::new()
            .route(
                "/who",
                get(|Extension(u): Extension<RemoteUser>| async move { format!("{:?}", u.0) }),
            )
            .layer(axum::middleware::from_fn_with_state(filter, authenticate))
    }

    fn ldap_filter() -> Arc<AuthFilter> {
        let conf = LdapConf {
            urls: vec![url::Url::parse("ldap://127.0.0.1:9").unwrap()],
            base_dn: Some("dc=livy,dc=test".into()),
            username_domain: None,
            start_tls: false,
            trust: LdapTrust::SystemRoots,
            timeout: Duration::from_secs(2),
        };
        let ldap = Arc::new(LdapAuth::from_conf(&conf).unwrap());
        let access = Arc::new(AccessManager::new(&AccessConf::default()));
        Arc::new(AuthFilter::new(
            Authenticator::Ldap(ldap),
            &AuthConf::none(),
            access,
            true,
        ))
    }

    async fn call(
        filter: Arc<AuthFilter>,
        header_name: header::HeaderName,
        value: Option<&str>,
    ) -> (StatusCode, Option<String>, String) {
        let mut req = HttpRequest::get("/who");
        if let Some(value) = value {
            req = req.header(header_name, value);
        }
        let resp = app(filter)
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
    async fn missing_or_malformed_basic_credentials_get_the_basic_challenge() {
        let filter = ldap_filter();
        for value in [
            None,
            Some("Negotiate abc"),
            Some("Basic %%%"),
            Some("Basic"),
        ] {
            let (status, challenge, body) =
                call(filter.clone(), header::AUTHORIZATION, value).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED);
            assert_eq!(challenge.as_deref(), Some("Basic"), "{value:?}");
            assert_eq!(body, r#"{"msg":"Authentication required"}"#);
        }
        // alice with an empty password: refused before any bind.
        let (status, challenge, body) =
            call(filter, header::AUTHORIZATION, Some("Basic YWxpY2U6")).await;
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
        let (status, challenge, body) = call(
            ldap_filter(),
            header::AUTHORIZATION,
            Some("Basic YWxpY2U6cHc="),
        )
        .await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(challenge, None);
        assert!(body.contains("the LDAP server is unavailable"), "{body}");
    }

    fn negotiate_headers() -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Negotiate YWJj"),
        );
        headers
    }

    /// A stand-in for GSSAPI that holds its worker until `release` sends (or is dropped), and
    /// counts how many run at once.
    fn blocking_accept(
        running: Arc<std::sync::atomic::AtomicUsize>,
        peak: Arc<std::sync::atomic::AtomicUsize>,
        release: std::sync::mpsc::Receiver<()>,
    ) -> impl FnOnce(Vec<u8>) -> Result<Accepted, SpnegoError> + Send + 'static {
        use std::sync::atomic::Ordering;
        move |_token| {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            let _ = release.recv();
            running.fetch_sub(1, Ordering::SeqCst);
            Ok(Accepted {
                principal: "alice@LIVY.TEST".into(),
                user: "alice".into(),
                reply: None,
            })
        }
    }

    async fn until(what: &str, check: impl Fn() -> bool) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !check() {
            assert!(std::time::Instant::now() < deadline, "timed out: {what}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[tokio::test]
    async fn a_flood_of_negotiate_tokens_takes_at_most_the_pool_and_the_excess_gets_503() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let pool = Arc::new(AcceptPool::new(2, Duration::from_millis(300)));
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let mut releases = Vec::new();
        let mut held = Vec::new();
        // Two tokens occupy both workers; a third client gives up waiting (its task is
        // aborted, as when a client disconnects): its job, once started, keeps its worker.
        for _ in 0..2 {
            let (tx, rx) = std::sync::mpsc::channel();
            releases.push(tx);
            let accept = blocking_accept(running.clone(), peak.clone(), rx);
            let pool = pool.clone();
            held.push(tokio::spawn(async move {
                negotiate_on(&pool, &negotiate_headers(), "/sessions", accept).await
            }));
        }
        until("both workers busy", || running.load(Ordering::SeqCst) == 2).await;
        held.pop().unwrap().abort();
        // The flood: every further token is refused after the short wait, in Livy's shape.
        for _ in 0..4 {
            let (_tx, rx) = std::sync::mpsc::channel();
            let accept = blocking_accept(running.clone(), peak.clone(), rx);
            let headers = negotiate_headers();
            let flood = negotiate_on(&pool, &headers, "/sessions", accept);
            let outcome = tokio::time::timeout(Duration::from_secs(5), flood)
                .await
                .expect("an excess token is refused after a short wait, not queued for ever");
            match outcome {
                Outcome::Unavailable(msg) => assert_eq!(msg, NEGOTIATE_BUSY),
                _ => panic!("a token was accepted while every worker was busy"),
            }
        }
        let response = ApiError::ServiceUnavailable(NEGOTIATE_BUSY.into()).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        // Released, the held logins complete and the pool serves again.
        drop(releases);
        let first = held.pop().unwrap().await.unwrap();
        assert!(matches!(first, Outcome::Ok { ref user, .. } if user == "alice"));
        until("workers free", || running.load(Ordering::SeqCst) == 0).await;
        let (tx, rx) = std::sync::mpsc::channel();
        drop(tx);
        let accept = blocking_accept(running.clone(), peak.clone(), rx);
        let again = negotiate_on(&pool, &negotiate_headers(), "/sessions", accept).await;
        assert!(matches!(again, Outcome::Ok { .. }));
        assert_eq!(peak.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_signed_cookie_spares_the_directory_and_a_forged_one_is_cleared() {
        let filter = ldap_filter();
        let good = filter.cookies.issue("alice", "alice", "ldap").unwrap();
        let (status, _, body) = call(
            filter.clone(),
            header::COOKIE,
            Some(&format!("hadoop.auth=\"{good}\"")),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, r#"Some("alice")"#);
        // A cookie of another scheme's type, or tampered, does not authenticate.
        let kerberos = filter.cookies.issue("alice", "alice", "kerberos").unwrap();
        let forged = good.replace("u=alice", "u=admin");
        for cookie in [kerberos, forged] {
            let (status, challenge, _) = call(
                filter.clone(),
                header::COOKIE,
                Some(&format!("hadoop.auth=\"{cookie}\"")),
            )
            .await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{cookie}");
            assert_eq!(challenge.as_deref(), Some("Basic"));
        }
    }
}
