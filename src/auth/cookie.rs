//! The signed authentication cookie, in the form of Hadoop's `hadoop.auth` cookie (what Livy's
//! AuthenticationFilter issues), so a client authenticates once and then presents the cookie
//! instead of renegotiating on every request.
//!
//! The value is `u=<user>&p=<principal>&t=<type>&e=<expiry, ms since the epoch>&s=<signature>`,
//! the signature being Base64 of HMAC-SHA256 over everything before `&s=` with a key only this
//! server holds. Livy sets no signature secret, so Hadoop uses a random one per server; so do
//! we: cookies do not survive a restart, and clients simply negotiate again. The cookie is
//! independent of the authentication scheme (Kerberos or LDAP): `t` records which one.

use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The cookie's name, as Hadoop's clients and servers know it.
pub const COOKIE_NAME: &str = "hadoop.auth";

/// Who a valid cookie vouches for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthToken {
    pub user: String,
    pub principal: String,
    pub scheme: String,
    pub expires_ms: u128,
}

/// Why a presented cookie is not accepted; the caller then asks for authentication again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CookieError {
    #[error("the auth cookie is malformed")]
    Malformed,
    #[error("the auth cookie's signature does not match")]
    BadSignature,
    #[error("the auth cookie has expired")]
    Expired,
    #[error("the auth cookie was issued for another authentication type")]
    WrongScheme,
}

/// Issues and checks cookies with this server's secret. `Debug` leaves the secret out.
pub struct CookieSigner {
    secret: [u8; 32],
    validity: Duration,
}

impl std::fmt::Debug for CookieSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CookieSigner")
            .field("validity", &self.validity)
            .finish_non_exhaustive()
    }
}

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

impl CookieSigner {
    /// A signer with a fresh random secret from the OS.
    pub fn random(validity: Duration) -> Self {
        let mut secret = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut secret);
        CookieSigner { secret, validity }
    }

    fn mac(&self) -> Hmac<Sha256> {
        Hmac::<Sha256>::new_from_slice(&self.secret).expect("HMAC takes keys of any length")
    }

    /// The signed cookie value for `user`, valid from now for the configured validity; `None`
    /// when a field holds a character the format cannot carry (`&`), as Hadoop cannot either.
    pub fn issue(&self, user: &str, principal: &str, scheme: &str) -> Option<String> {
        self.issue_at(user, principal, scheme, now_ms())
    }

    pub(crate) fn issue_at(
        &self,
        user: &str,
        principal: &str,
        scheme: &str,
        now: u128,
    ) -> Option<String> {
        if [user, principal, scheme].iter().any(|f| f.contains('&')) {
            return None;
        }
        let expires = now + self.validity.as_millis();
        Some(self.sign(&format!("u={user}&p={principal}&t={scheme}&e={expires}")))
    }

    /// `body` with its signature appended (`&s=...`), as a cookie value.
    pub(crate) fn sign(&self, body: &str) -> String {
        let mut mac = self.mac();
        mac.update(body.as_bytes());
        let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        format!("{body}&s={sig}")
    }

    /// A signer with a known key (the fuzz targets sign the cookies they present).
    pub(crate) fn with_secret(secret: [u8; 32], validity: Duration) -> Self {
        CookieSigner { secret, validity }
    }

    /// The `Set-Cookie` header value carrying `value` (quoted, as Hadoop writes it).
    ///
    /// `SameSite=Lax`: a browser then withholds the cookie from requests other sites' pages make
    /// (form posts, fetches, frames), so such a page cannot act as the logged-in user; it still
    /// sends it when the user follows a link here, which only ever reads (no GET changes
    /// state). `Strict` would drop it on those links too and make each visit from a wiki or the
    /// YARN UI negotiate (or, with LDAP, prompt) again, for no protection the cross-site check of
    /// the API (which also covers sibling hosts of the same site) does not already give.
    pub fn set_cookie(&self, value: &str, secure: bool) -> String {
        let secure = if secure { "; Secure" } else { "" };
        format!("{COOKIE_NAME}=\"{value}\"; Path=/; HttpOnly; SameSite=Lax{secure}")
    }

    /// The `Set-Cookie` header value that makes a client drop a rejected cookie.
    pub fn clear_cookie(&self) -> String {
        format!("{COOKIE_NAME}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax")
    }

    /// Checks a cookie value (quoted or not) and returns the token it carries.
    pub fn verify(&self, value: &str, scheme: &str) -> Result<AuthToken, CookieError> {
        self.verify_at(value, scheme, now_ms())
    }

    pub(crate) fn verify_at(
        &self,
        value: &str,
        scheme: &str,
        now: u128,
    ) -> Result<AuthToken, CookieError> {
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        let (body, sig) = value.rsplit_once("&s=").ok_or(CookieError::Malformed)?;
        let sig = base64::engine::general_purpose::STANDARD
            .decode(sig)
            .map_err(|_| CookieError::BadSignature)?;
        let mut mac = self.mac();
        mac.update(body.as_bytes());
        mac.verify_slice(&sig)
            .map_err(|_| CookieError::BadSignature)?;
        let mut fields = std::collections::BTreeMap::new();
        for part in body.split('&') {
            let (k, v) = part.split_once('=').ok_or(CookieError::Malformed)?;
            fields.insert(k, v);
        }
        let field = |k: &str| fields.get(k).copied().ok_or(CookieError::Malformed);
        let token = AuthToken {
            user: field("u")?.to_string(),
            principal: field("p")?.to_string(),
            scheme: field("t")?.to_string(),
            expires_ms: field("e")?.parse().map_err(|_| CookieError::Malformed)?,
        };
        if token.user.is_empty() {
            return Err(CookieError::Malformed);
        }
        if token.scheme != scheme {
            return Err(CookieError::WrongScheme);
        }
        if token.expires_ms <= now {
            return Err(CookieError::Expired);
        }
        Ok(token)
    }
}

/// The value of the `hadoop.auth` cookie among a request's `Cookie` headers, if any.
pub fn find_cookie<'a>(headers: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    headers
        .flat_map(|h| h.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty() && *v != "\"\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn issued_cookies_verify_until_they_expire() {
        let signer = CookieSigner::random(HOUR);
        let now = 1_700_000_000_000;
        let value = signer
            .issue_at("alice", "alice@LIVY.TEST", "kerberos", now)
            .unwrap();
        assert!(value.starts_with("u=alice&p=alice@LIVY.TEST&t=kerberos&e=1700003600000&s="));
        let token = signer.verify_at(&value, "kerberos", now + 1000).unwrap();
        assert_eq!(token.user, "alice");
        assert_eq!(token.principal, "alice@LIVY.TEST");
        // Quoted, as clients echo Hadoop's Set-Cookie.
        assert!(signer
            .verify_at(&format!("\"{value}\""), "kerberos", now)
            .is_ok());
        assert_eq!(
            signer.verify_at(&value, "kerberos", now + HOUR.as_millis()),
            Err(CookieError::Expired)
        );
        assert_eq!(
            signer.verify_at(&value, "ldap", now),
            Err(CookieError::WrongScheme)
        );
    }

    #[test]
    fn tampered_or_foreign_cookies_are_rejected() {
        let signer = CookieSigner::random(HOUR);
        let now = 1_700_000_000_000;
        let value = signer
            .issue_at("alice", "alice@R", "kerberos", now)
            .unwrap();
        let tampered = value.replace("u=alice", "u=admin");
        assert_eq!(
            signer.verify_at(&tampered, "kerberos", now),
            Err(CookieError::BadSignature)
        );
        let later = value.replace("e=17000036", "e=27000036");
        assert_eq!(
            signer.verify_at(&later, "kerberos", now),
            Err(CookieError::BadSignature)
        );
        // Another server's secret.
        let other = CookieSigner::random(HOUR);
        assert_eq!(
            other.verify_at(&value, "kerberos", now),
            Err(CookieError::BadSignature)
        );
        for junk in [
            "",
            "u=alice",
            "u=alice&s=",
            "&s=!!!",
            "u=a&p=b&t=kerberos&e=x&s=AAAA",
        ] {
            assert!(signer.verify_at(junk, "kerberos", now).is_err(), "{junk}");
        }
        assert!(signer.issue_at("a&u=root", "p", "kerberos", now).is_none());
    }

    #[test]
    fn finds_the_cookie_among_others() {
        let headers = ["a=1; hadoop.auth=\"u=x&s=y\"", "b=2"];
        assert_eq!(find_cookie(headers.iter().copied()), Some("\"u=x&s=y\""));
        assert_eq!(find_cookie(["hadoop.auth="].iter().copied()), None);
        assert_eq!(find_cookie(["other=1"].iter().copied()), None);
    }

    #[test]
    fn browsers_keep_the_cookie_from_other_sites_requests() {
        let signer = CookieSigner::random(HOUR);
        let value = signer.issue("alice", "alice", "kerberos").unwrap();
        let attributes = |header: &str| -> Vec<String> {
            header
                .split(';')
                .skip(1)
                .map(|a| a.trim().to_ascii_lowercase())
                .collect()
        };
        for header in [
            signer.set_cookie(&value, false),
            signer.set_cookie(&value, true),
            signer.clear_cookie(),
        ] {
            let attrs = attributes(&header);
            assert!(attrs.contains(&"samesite=lax".to_string()), "{header}");
            assert!(attrs.contains(&"httponly".to_string()), "{header}");
        }
        assert!(attributes(&signer.set_cookie(&value, true)).contains(&"secure".to_string()));
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let signer = CookieSigner::random(HOUR);
        let text = format!("{signer:?}");
        assert!(!text.contains("secret"));
    }
}
