//! The REST port's protections: CSRF, the origins allowed to send state-changing requests, the
//! security headers Livy adds to every response, and TLS.
//!
//! Livy serves TLS from a Java keystore (`livy.keystore`, JKS or PKCS12). livy-rs serves it with
//! rustls from PEM files instead (`livy.server.tls.certificate`, `livy.server.tls.key`): a
//! keystore in livy.conf stops the server with the commands that turn it into PEM, rather than
//! silently serving plain HTTP where the admin expected HTTPS.

use super::keys;
use axum::http::{HeaderName, HeaderValue};
use std::path::PathBuf;
use std::sync::Arc;

/// The security headers Livy's `SecurityHeadersFilter` knows, with the key each is read from.
/// Strict-Transport-Security is sent only when the port speaks TLS.
const HEADER_KEYS: &[(&str, &str)] = &[
    ("x-content-type-options", keys::HEADER_CONTENT_TYPE_OPTIONS),
    ("x-frame-options", keys::HEADER_FRAME_OPTIONS),
    ("x-xss-protection", keys::HEADER_XSS_PROTECTION),
    (
        "strict-transport-security",
        keys::HEADER_STRICT_TRANSPORT_SECURITY,
    ),
    (
        "content-security-policy",
        keys::HEADER_CONTENT_SECURITY_POLICY,
    ),
];

/// The REST port's security settings.
#[derive(Debug, Clone, Default)]
pub struct SecurityConf {
    /// `livy.server.csrf-protection.enabled`: state-changing requests need `X-Requested-By`.
    pub csrf_protection: bool,
    /// Headers added to every response; empty when `livy.server.security-headers.enabled` is
    /// false. A header configured with an empty value is left out, as in Livy.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// TLS on the REST port, when a certificate and key are configured.
    pub tls: Option<TlsConf>,
    /// `livy.server.allowed-origins`: origins besides the server's own whose pages may send
    /// state-changing requests, each in the form a browser's `Origin` header takes
    /// (`https://host[:port]`, the default port left out).
    pub allowed_origins: Vec<String>,
}

/// The REST port's TLS identity, checked (files read, key matched to certificate) at load time.
#[derive(Debug, Clone)]
pub struct TlsConf {
    pub certificate: PathBuf,
    pub key: PathBuf,
    /// Built once from the files above; the accept loop hands it to every handshake.
    pub server_config: Arc<rustls::ServerConfig>,
}

/// Reads the security keys through `get` (validated values, defaults applied), pushing every
/// problem found onto `problems`.
pub fn from_values<'a>(
    get: impl Fn(&str) -> Option<&'a str>,
    problems: &mut Vec<String>,
) -> SecurityConf {
    let non_empty = |name: &str| get(name).map(str::trim).filter(|v| !v.is_empty());
    let enabled = |name: &str| non_empty(name).is_some_and(|v| v.eq_ignore_ascii_case("true"));

    if let Some(keystore) = non_empty(keys::KEYSTORE) {
        problems.push(keystore_message(keystore));
    }
    let tls = match (non_empty(keys::TLS_CERTIFICATE), non_empty(keys::TLS_KEY)) {
        (None, None) => None,
        (Some(certificate), Some(key)) => {
            let (certificate, key) = (PathBuf::from(certificate), PathBuf::from(key));
            match crate::server::tls::server_config(&certificate, &key) {
                Ok(server_config) => Some(TlsConf {
                    certificate,
                    key,
                    server_config,
                }),
                Err(e) => {
                    problems.push(format!("TLS on the REST port: {e}"));
                    None
                }
            }
        }
        (Some(_), None) | (None, Some(_)) => {
            problems.push(format!(
                "TLS on the REST port needs both {} (PEM certificate chain) and {} (PEM private key)",
                keys::TLS_CERTIFICATE,
                keys::TLS_KEY
            ));
            None
        }
    };

    let mut headers = Vec::new();
    if enabled(keys::SECURITY_HEADERS_ENABLED) {
        for (name, key) in HEADER_KEYS {
            let Some(value) = non_empty(key) else {
                continue;
            };
            if *key == keys::HEADER_STRICT_TRANSPORT_SECURITY && tls.is_none() {
                continue;
            }
            match HeaderValue::from_str(value) {
                Ok(v) => headers.push((HeaderName::from_static(name), v)),
                Err(_) => problems.push(format!(
                    "{key}: value '{value}' is not valid; expected visible ASCII text for an HTTP header"
                )),
            }
        }
    }

    let allowed_origins = non_empty(keys::ALLOWED_ORIGINS)
        .map(super::units::comma_list)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|entry| match origin(&entry) {
            Some(o) => Some(o),
            None => {
                problems.push(format!(
                    "{}: '{entry}' is not an origin; expected scheme://host[:port] with scheme \
                     http or https and no path, e.g. https://notebooks.example.com",
                    keys::ALLOWED_ORIGINS
                ));
                None
            }
        })
        .collect();

    SecurityConf {
        csrf_protection: enabled(keys::CSRF_PROTECTION),
        headers,
        tls,
        allowed_origins,
    }
}

/// An HTTP(S) origin as browsers serialize it in `Origin` (lowercase host, default port left
/// out); `None` for anything else (a path, credentials, another scheme, `null`).
pub fn origin(text: &str) -> Option<String> {
    let url = url::Url::parse(text.trim()).ok()?;
    let plain = matches!(url.scheme(), "http" | "https")
        && url.username().is_empty()
        && url.password().is_none()
        && url.path() == "/"
        && url.query().is_none()
        && url.fragment().is_none();
    plain.then(|| url.origin().ascii_serialization())
}

/// What an admin migrating from Livy is told when livy.conf still names a Java keystore.
fn keystore_message(keystore: &str) -> String {
    format!(
        "{ks} = {keystore}: livy-rs does not read Java keystores; it serves TLS from PEM files. \
         Convert the keystore once (keytool asks for the keystore password; the key inside must be \
         stored without a passphrase for livy-rs to read it):\n\
         \x20     keytool -importkeystore -srckeystore {keystore} -destkeystore livy.p12 -deststoretype PKCS12\n\
         \x20     openssl pkcs12 -in livy.p12 -nokeys -out livy-cert.pem\n\
         \x20     openssl pkcs12 -in livy.p12 -nocerts -nodes -out livy-key.pem\n\
         \x20   then remove {ks}, {pw}, {kpw} and {ty} from livy.conf and set\n\
         \x20     {cert} = /path/to/livy-cert.pem\n\
         \x20     {key} = /path/to/livy-key.pem\n\
         \x20   (keep livy-key.pem readable only by the user the server runs as)",
        ks = keys::KEYSTORE,
        pw = keys::KEYSTORE_PASSWORD,
        kpw = keys::KEY_PASSWORD,
        ty = keys::KEYSTORE_TYPE,
        cert = keys::TLS_CERTIFICATE,
        key = keys::TLS_KEY,
    )
}

#[cfg(test)]
mod tests;
