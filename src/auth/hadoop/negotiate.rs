//! SPNEGO towards the ResourceManager and WebHDFS as the server's principal, the way Hadoop's
//! `KerberosAuthenticator` does it: the target is `HTTP/<host of the URL>` in the default realm
//! (lower-cased host, the name as written — no DNS canonicalisation), the token goes in
//! `Authorization: Negotiate <base64>`, and the signed `hadoop.auth` cookie the service sets
//! after a successful negotiation is sent instead on later requests to the same endpoint, so
//! the KDC and the service's replay cache are not asked on every call. A `401` to a request that
//! carried a cookie (expired, or the service restarted with a new secret) drops the cookie and
//! the request is sent once more with a fresh token.
//!
//! Mutual authentication is not requested: the answer's token is not needed to trust an answer
//! that comes over the same connection the request went out on (TLS protects it where the
//! cluster uses HTTPS), and skipping it keeps each request to one round trip.

use super::HadoopIdentity;
use crate::yarn::{RequestAuth, YarnError};
use base64::Engine;
use futures::future::BoxFuture;
use libgssapi::context::{ClientCtx, CtxFlags};
use libgssapi::name::Name;
use libgssapi::oid::{GSS_MECH_SPNEGO, GSS_NT_KRB5_PRINCIPAL};
use parking_lot::Mutex;
use reqwest::header::{HeaderMap, AUTHORIZATION, COOKIE, SET_COOKIE};
use reqwest::{RequestBuilder, StatusCode, Url};
use std::collections::HashMap;
use std::sync::Arc;

/// Hadoop's authentication cookie (`AuthenticatedURL.AUTH_COOKIE`).
const AUTH_COOKIE: &str = "hadoop.auth";

/// The SPNEGO request authenticator for the RM and WebHDFS clients.
pub struct SpnegoAuth {
    identity: Arc<HadoopIdentity>,
    /// `hadoop.auth` cookie value per endpoint (`scheme://host:port`). A secret: never logged.
    cookies: Mutex<HashMap<String, String>>,
}

impl SpnegoAuth {
    pub fn new(identity: Arc<HadoopIdentity>) -> Self {
        SpnegoAuth {
            identity,
            cookies: Mutex::new(HashMap::new()),
        }
    }

    /// A fresh SPNEGO token for `HTTP/<host>`, made off the async runtime.
    async fn token(&self, target: &Url) -> Result<String, YarnError> {
        let failed = |detail: String| YarnError::Auth {
            url: crate::yarn::redact_url(target),
            detail,
        };
        self.identity.check().map_err(|e| failed(e.to_string()))?;
        let host = target
            .host_str()
            .ok_or_else(|| failed("the URL has no host".into()))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_lowercase();
        let identity = self.identity.clone();
        let service = service_principal(&host);
        let token = tokio::task::spawn_blocking(move || initial_token(&identity, &service))
            .await
            .map_err(|e| failed(format!("the SPNEGO task failed: {e}")))?
            .map_err(failed)?;
        Ok(base64::engine::general_purpose::STANDARD.encode(token))
    }
}

/// The authenticator the RM and WebHDFS clients of a cluster need: SPNEGO as the server's
/// principal when the cluster is Kerberized (and the server has its identity), else none.
pub fn cluster_auth(
    identity: Option<&Arc<HadoopIdentity>>,
    cluster: &crate::yarn::YarnConf,
) -> Arc<dyn RequestAuth> {
    match identity {
        Some(identity) if cluster.authentication == crate::yarn::Authentication::Kerberos => {
            Arc::new(SpnegoAuth::new(identity.clone()))
        }
        _ => Arc::new(crate::yarn::NoAuth),
    }
}

/// `HTTP/<host>`: the realm is left to the Kerberos library (default realm or domain_realm).
pub fn service_principal(host: &str) -> String {
    format!("HTTP/{host}")
}

/// The first (and, without mutual authentication, only) SPNEGO token for `service`.
fn initial_token(identity: &HadoopIdentity, service: &str) -> Result<Vec<u8>, String> {
    spnego_token(Some(identity.initiator()?), service)
}

/// The first SPNEGO token for `service` with `cred`, or with the default credential (the
/// user's ticket cache) when `None` — the `livy` command-line client's case. Blocking.
pub fn spnego_token(
    cred: Option<libgssapi::credential::Cred>,
    service: &str,
) -> Result<Vec<u8>, String> {
    let target = Name::new(service.as_bytes(), Some(&GSS_NT_KRB5_PRINCIPAL))
        .map_err(|e| format!("bad service principal {service}: {e}"))?;
    let mut ctx = ClientCtx::new(cred, target, CtxFlags::empty(), Some(&GSS_MECH_SPNEGO));
    match ctx.step(None, None) {
        Ok(Some(token)) => Ok(token.to_vec()),
        Ok(None) => Err(format!("no SPNEGO token for {service}")),
        Err(e) => Err(format!(
            "cannot get a Kerberos service ticket for {service}: {}",
            e.to_string().trim()
        )),
    }
}

fn endpoint(url: &Url) -> String {
    format!(
        "{}://{}:{}",
        url.scheme(),
        url.host_str().unwrap_or(""),
        url.port_or_known_default().unwrap_or(0)
    )
}

/// The `hadoop.auth` value a `Set-Cookie` header sets: `Some("")` when it clears the cookie.
fn auth_cookie(set_cookie: &str) -> Option<String> {
    let first = set_cookie.split(';').next()?.trim();
    let (name, value) = first.split_once('=')?;
    (name.trim() == AUTH_COOKIE).then(|| {
        let v = value.trim();
        if v == "\"\"" {
            String::new()
        } else {
            v.to_string()
        }
    })
}

impl RequestAuth for SpnegoAuth {
    fn authorize<'a>(
        &'a self,
        request: RequestBuilder,
        target: &'a Url,
    ) -> BoxFuture<'a, Result<RequestBuilder, YarnError>> {
        Box::pin(async move {
            // A WebHDFS DataNode URL the NameNode redirected to carries its own delegation
            // token; DataNodes do not do SPNEGO (and may have no HTTP/<host> principal).
            if target.query_pairs().any(|(k, _)| k == "delegation") {
                return Ok(request);
            }
            let cookie = self.cookies.lock().get(&endpoint(target)).cloned();
            if let Some(cookie) = cookie {
                return Ok(request.header(COOKIE, format!("{AUTH_COOKIE}={cookie}")));
            }
            let token = self.token(target).await?;
            Ok(request.header(AUTHORIZATION, format!("Negotiate {token}")))
        })
    }

    fn answered(&self, target: &Url, status: StatusCode, headers: &HeaderMap) -> bool {
        let key = endpoint(target);
        let mut cookies = self.cookies.lock();
        if status == StatusCode::UNAUTHORIZED {
            return cookies.remove(&key).is_some();
        }
        for value in headers.get_all(SET_COOKIE) {
            match value.to_str().ok().and_then(auth_cookie) {
                Some(v) if v.is_empty() => {
                    cookies.remove(&key);
                }
                Some(v) => {
                    cookies.insert(key.clone(), v);
                }
                None => {}
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_read_from_set_cookie() {
        assert_eq!(
            auth_cookie("hadoop.auth=\"u=livy&p=livy@R&t=kerberos&e=1&s=abc\"; Path=/; HttpOnly"),
            Some("\"u=livy&p=livy@R&t=kerberos&e=1&s=abc\"".into())
        );
        assert_eq!(auth_cookie("hadoop.auth=\"\"; Path=/"), Some(String::new()));
        assert_eq!(auth_cookie("JSESSIONID=1; Path=/"), None);
    }

    fn auth() -> SpnegoAuth {
        let identity = HadoopIdentity::new(super::super::IdentitySettings {
            principal: "livy/edge@EXAMPLE.COM".into(),
            keytab: "/nonexistent.keytab".into(),
            refresh_interval: std::time::Duration::from_secs(3600),
            fail_threshold: 1,
        })
        .unwrap();
        SpnegoAuth::new(identity)
    }

    async fn headers_sent(auth: &SpnegoAuth, url: &Url) -> Result<HeaderMap, YarnError> {
        let request = reqwest::Client::new().get(url.clone());
        let built = auth.authorize(request, url).await?.build().unwrap();
        Ok(built.headers().clone())
    }

    #[tokio::test]
    async fn the_cookie_is_reused_until_refused_and_datanodes_get_no_negotiation() {
        let auth = auth();
        let rm = Url::parse("http://rm1:8088/ws/v1/cluster/apps").unwrap();
        // No ticket yet: a typed error naming the principal, nothing sent.
        let err = headers_sent(&auth, &rm).await.unwrap_err();
        assert!(
            matches!(&err, YarnError::Auth { detail, .. } if detail.contains("livy/edge@EXAMPLE.COM")),
            "{err}"
        );

        let mut set = HeaderMap::new();
        set.insert(
            SET_COOKIE,
            "hadoop.auth=\"u=livy&s=x\"; Path=/; HttpOnly"
                .parse()
                .unwrap(),
        );
        assert!(!auth.answered(&rm, StatusCode::OK, &set));
        let sent = headers_sent(&auth, &rm).await.unwrap();
        assert_eq!(sent[COOKIE], "hadoop.auth=\"u=livy&s=x\"");
        assert!(sent.get(AUTHORIZATION).is_none());
        // Another endpoint does not get it.
        let other = Url::parse("http://rm2:8088/ws/v1/cluster/apps").unwrap();
        assert!(headers_sent(&auth, &other).await.is_err());
        // Refused: dropped, and the request is to be repeated (with a fresh token).
        assert!(auth.answered(&rm, StatusCode::UNAUTHORIZED, &HeaderMap::new()));
        assert!(!auth.answered(&rm, StatusCode::UNAUTHORIZED, &HeaderMap::new()));
        assert!(headers_sent(&auth, &rm).await.is_err());

        let dn = Url::parse("http://dn1:9864/webhdfs/v1/f?op=OPEN&delegation=T").unwrap();
        let sent = headers_sent(&auth, &dn).await.unwrap();
        assert!(sent.get(AUTHORIZATION).is_none() && sent.get(COOKIE).is_none());
    }

    #[test]
    fn the_service_is_http_at_the_url_host() {
        assert_eq!(service_principal("rm1.example.com"), "HTTP/rm1.example.com");
        let u = Url::parse("http://RM1.Example.com:8088/ws").unwrap();
        assert_eq!(endpoint(&u), "http://rm1.example.com:8088");
    }
}
