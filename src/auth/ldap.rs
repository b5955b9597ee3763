//! LDAP authentication of HTTP Basic credentials (`livy.server.auth.type = ldap`), as Livy's
//! `LdapAuthenticationHandlerImpl` does it: a simple bind with the caller's password decides.
//!
//! The bind name follows Livy's rule: the user name gets `@<username-domain>` appended unless it
//! already names a domain (a '/' or '@' after its first character), and with a base DN it
//! becomes `uid=<that>,<base-dn>`. Unlike Livy, the value inside `uid=` is escaped (RFC 4514), so
//! a user name holding ',' or '+' cannot bind as a different entry than the one it names.
//!
//! Blank passwords are refused before any bind: an LDAP simple bind with an empty password is
//! an "unauthenticated bind" that many servers answer with success.

use crate::conf::ldap::{LdapConf, LdapTrust};
use base64::Engine;
use ldap3::{LdapConnAsync, LdapConnSettings};
use std::sync::Arc;
use std::time::Duration;

/// LDAP result code for a wrong password or unknown entry (RFC 4511 `invalidCredentials`).
const INVALID_CREDENTIALS: u32 = 49;

/// Why credentials were not accepted.
#[derive(Debug, thiserror::Error)]
pub enum LdapError {
    #[error("a null or blank username has been provided")]
    BlankUser,
    #[error("a null or blank password has been provided")]
    BlankPassword,
    /// The directory answered the bind with an error (49 = wrong password or no such entry).
    #[error("the directory refused the bind of '{bind_dn}' (LDAP result {rc}: {text})")]
    Refused {
        bind_dn: String,
        rc: u32,
        text: String,
    },
    /// No usable connection: unreachable, TLS failed, StartTLS refused. Nothing was sent in
    /// the clear: a failed StartTLS ends the attempt before the bind.
    #[error("cannot use the LDAP server {url}: {reason}")]
    Unavailable { url: String, reason: String },
    #[error("the LDAP server did not answer within {0:?}")]
    Timeout(Duration),
}

impl LdapError {
    /// True when the directory could not be asked at all (the caller's credentials may be fine).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, LdapError::Unavailable { .. } | LdapError::Timeout(_))
    }
}

/// Checks user names and passwords against the configured directory.
pub struct LdapAuth {
    conf: LdapConf,
    /// The TLS settings for ldaps:// and StartTLS, built once.
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl LdapAuth {
    /// Prepares the checker; fails when TLS is configured but no CA certificate is trusted.
    pub fn from_conf(conf: &LdapConf) -> anyhow::Result<Self> {
        let needs_tls = conf.start_tls || conf.urls.iter().any(|u| u.scheme() == "ldaps");
        let tls = if needs_tls {
            Some(Arc::new(client_tls(&conf.trust)?))
        } else {
            None
        };
        Ok(LdapAuth {
            conf: conf.clone(),
            tls,
        })
    }

    /// The name bound as for `user` (Livy's rule; see the module comment).
    pub fn bind_dn(&self, user: &str) -> String {
        bind_dn(
            user,
            self.conf.base_dn.as_deref(),
            self.conf.username_domain.as_deref(),
        )
    }

    /// Succeeds when a simple bind as `user` with `password` succeeds, within the configured
    /// timeout; the first reachable URL decides.
    pub async fn authenticate(&self, user: &str, password: &str) -> Result<(), LdapError> {
        if user.is_empty() {
            return Err(LdapError::BlankUser);
        }
        // A leading NUL would let some servers read the password as empty (Hadoop checks it too).
        if password.is_empty() || password.starts_with('\0') {
            return Err(LdapError::BlankPassword);
        }
        let bind_dn = self.bind_dn(user);
        let attempt = async {
            let mut last = None;
            for url in &self.conf.urls {
                match self.bind_once(url, &bind_dn, password).await {
                    Err(e @ LdapError::Unavailable { .. }) => last = Some(e),
                    other => return other,
                }
            }
            Err(last.unwrap_or(LdapError::Unavailable {
                url: String::new(),
                reason: "no LDAP URL configured".into(),
            }))
        };
        tokio::time::timeout(self.conf.timeout, attempt)
            .await
            .unwrap_or(Err(LdapError::Timeout(self.conf.timeout)))
    }

    async fn bind_once(
        &self,
        url: &url::Url,
        bind_dn: &str,
        password: &str,
    ) -> Result<(), LdapError> {
        let unavailable = |reason: String| LdapError::Unavailable {
            url: url.to_string(),
            reason,
        };
        let mut settings = LdapConnSettings::new()
            .set_conn_timeout(self.conf.timeout)
            .set_starttls(self.conf.start_tls && url.scheme() == "ldap");
        if let Some(tls) = &self.tls {
            settings = settings.set_config(tls.clone());
        }
        let (conn, mut ldap) = LdapConnAsync::from_url_with_settings(settings, url)
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        // The connection is driven here rather than in a spawned task, so nothing outlives the
        // check. `biased`: a bind answered just as the connection ends still counts.
        let drive = conn.drive();
        tokio::pin!(drive);
        let result = tokio::select! {
            biased;
            r = ldap.simple_bind(bind_dn, password) => r,
            r = &mut drive => {
                return Err(unavailable(match r {
                    Ok(()) => "the server closed the connection".into(),
                    Err(e) => e.to_string(),
                }))
            }
        };
        // A polite goodbye, bounded: the connection ends with the unbind.
        let goodbye = async { tokio::join!(ldap.unbind(), &mut drive) };
        let _ = tokio::time::timeout(Duration::from_secs(1), goodbye).await;
        let result = result.map_err(|e| unavailable(e.to_string()))?;
        match result.rc {
            0 => Ok(()),
            rc => Err(LdapError::Refused {
                bind_dn: bind_dn.to_string(),
                rc,
                text: if rc == INVALID_CREDENTIALS {
                    "invalid credentials".into()
                } else {
                    result.text
                },
            }),
        }
    }
}

/// Livy's bind name: `user@domain` unless the user names a domain, inside `uid=...,<base-dn>`
/// when a base DN is set.
pub fn bind_dn(user: &str, base_dn: Option<&str>, domain: Option<&str>) -> String {
    let principal = match domain {
        Some(domain) if !has_domain(user) => format!("{user}@{domain}"),
        _ => user.to_string(),
    };
    match base_dn {
        Some(base) => format!("uid={},{base}", ldap3::dn_escape(principal.as_str())),
        None => principal,
    }
}

/// Livy's `hasDomain`: a '/' or '@' somewhere after the first character.
fn has_domain(user: &str) -> bool {
    user.find(['/', '@']).is_some_and(|i| i > 0)
}

/// The user name and password of an `Authorization: Basic ...` header value (RFC 7617: the
/// scheme is case-insensitive, the credentials are UTF-8 and split at the first ':'). `None` for
/// any other scheme or malformed credentials.
pub fn parse_basic(header_value: &str) -> Option<(String, String)> {
    let value = header_value.trim();
    let (scheme, rest) = value.split_once(|c: char| c.is_ascii_whitespace())?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// rustls client settings trusting either the system's roots or the configured CA file.
fn client_tls(trust: &LdapTrust) -> anyhow::Result<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    match trust {
        LdapTrust::CaFile { path, certs } => {
            for cert in certs {
                roots.add(cert.clone()).map_err(|e| {
                    anyhow::anyhow!("CA certificate in {} is not usable: {e}", path.display())
                })?;
            }
        }
        LdapTrust::SystemRoots => {
            let found = rustls_native_certs::load_native_certs();
            let (added, _) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                anyhow::bail!(
                    "LDAP over TLS is configured but no trusted CA certificates were found on this \
                     system; set livy.server.auth.ldap.ca-file to the directory's CA (PEM)"
                );
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(raw: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }

    #[test]
    fn parse_basic_follows_rfc_7617() {
        assert_eq!(
            parse_basic(&basic("alice:s3cret")),
            Some(("alice".into(), "s3cret".into()))
        );
        // Only the first ':' separates; the password may hold more.
        assert_eq!(
            parse_basic(&basic("alice:a:b:")),
            Some(("alice".into(), "a:b:".into()))
        );
        assert_eq!(
            parse_basic(&basic("alice:")),
            Some(("alice".into(), "".into()))
        );
        assert_eq!(
            parse_basic(&basic("jürgen:pässword")),
            Some(("jürgen".into(), "pässword".into()))
        );
        let lower = basic("bob:pw").replace("Basic", "bAsIc");
        assert_eq!(
            parse_basic(&format!("  {lower}  ")),
            Some(("bob".into(), "pw".into()))
        );
    }

    #[test]
    fn parse_basic_rejects_malformed_values() {
        assert_eq!(parse_basic(""), None);
        assert_eq!(parse_basic("Basic"), None);
        assert_eq!(parse_basic("Basic "), None);
        assert_eq!(parse_basic("Basic !!!not-base64!!!"), None);
        assert_eq!(parse_basic(&basic("no-colon")), None);
        assert_eq!(
            parse_basic(&basic("alice:pw").replace("Basic", "Negotiate")),
            None
        );
        assert_eq!(
            parse_basic(&basic("alice:pw").replace("Basic ", "Basicx ")),
            None
        );
        let not_utf8 = base64::engine::general_purpose::STANDARD.encode([0xff, b':', b'x']);
        assert_eq!(parse_basic(&format!("Basic {not_utf8}")), None);
    }

    #[test]
    fn bind_dn_follows_livy() {
        let base = Some("ou=people,dc=livy,dc=test");
        assert_eq!(
            bind_dn("alice", base, None),
            "uid=alice,ou=people,dc=livy,dc=test"
        );
        assert_eq!(bind_dn("alice", None, Some("corp.test")), "alice@corp.test");
        // A name that already carries a domain keeps it.
        assert_eq!(
            bind_dn("alice@other.test", None, Some("corp.test")),
            "alice@other.test"
        );
        assert_eq!(bind_dn("CORP/alice", None, Some("corp.test")), "CORP/alice");
        // ... unless the separator is the first character (Livy's index > 0).
        assert_eq!(
            bind_dn("@alice", None, Some("corp.test")),
            "@alice@corp.test"
        );
        // Both set: the qualified name inside the DN, as Livy builds it.
        assert_eq!(
            bind_dn("alice", base, Some("corp.test")),
            "uid=alice@corp.test,ou=people,dc=livy,dc=test"
        );
        // Neither: the name is bound as given (e.g. a full DN).
        assert_eq!(
            bind_dn("cn=admin,dc=livy,dc=test", None, None),
            "cn=admin,dc=livy,dc=test"
        );
    }

    #[test]
    fn bind_dn_escapes_the_uid_value() {
        let dn = bind_dn("alice,ou=admins", Some("dc=livy,dc=test"), None);
        assert_eq!(dn, "uid=alice\\2cou\\3dadmins,dc=livy,dc=test");
        let dn = bind_dn("a+b", Some("dc=livy,dc=test"), None);
        assert!(dn.starts_with("uid=a\\2bb,"), "{dn}");
    }

    fn auth(url: &str) -> LdapAuth {
        let conf = LdapConf {
            urls: vec![url::Url::parse(url).unwrap()],
            base_dn: Some("dc=livy,dc=test".into()),
            username_domain: None,
            start_tls: false,
            trust: LdapTrust::SystemRoots,
            timeout: Duration::from_millis(500),
        };
        LdapAuth::from_conf(&conf).unwrap()
    }

    #[tokio::test]
    async fn blank_credentials_never_reach_the_directory() {
        // Port 9 on loopback: nothing listens, so reaching the network would be Unavailable.
        let a = auth("ldap://127.0.0.1:9");
        assert!(matches!(
            a.authenticate("alice", "").await,
            Err(LdapError::BlankPassword)
        ));
        assert!(matches!(
            a.authenticate("alice", "\0x").await,
            Err(LdapError::BlankPassword)
        ));
        assert!(matches!(
            a.authenticate("", "pw").await,
            Err(LdapError::BlankUser)
        ));
        let down = a.authenticate("alice", "pw").await.unwrap_err();
        assert!(down.is_unavailable(), "{down}");
    }

    #[tokio::test]
    async fn a_silent_server_times_out() {
        // Accepts the connection, never answers.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let hold = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = listener.accept().await {
                held.push(s);
            }
        });
        let a = auth(&format!("ldap://127.0.0.1:{port}"));
        let started = std::time::Instant::now();
        let err = a.authenticate("alice", "pw").await.unwrap_err();
        assert!(matches!(err, LdapError::Timeout(_)), "{err}");
        assert!(started.elapsed() < Duration::from_secs(3));
        hold.abort();
    }
}
