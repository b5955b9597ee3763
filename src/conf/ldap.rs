//! LDAP authentication settings (`livy.server.auth.type = ldap`), checked once at start.
//!
//! Livy hands these keys to its `LdapAuthenticationHandlerImpl`; the rules it enforces at start
//! are kept (a URL is required; ldaps and StartTLS exclude each other), and the cases Livy
//! silently mishandled become start-up errors: a URL that is not an LDAP URL, and a
//! `security-authentication` other than `simple` (Livy ignores the key and always binds simply,
//! so an admin who asked for something else would get something else).

use super::keys;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use std::path::PathBuf;
use std::time::Duration;

/// Which certificates the server trusts when it talks TLS to the directory.
#[derive(Debug, Clone)]
pub enum LdapTrust {
    /// The operating system's roots (Livy uses the JVM's default trust store).
    SystemRoots,
    /// Only the certificates of `livy.server.auth.ldap.ca-file` (a PEM bundle).
    CaFile {
        path: PathBuf,
        certs: Vec<CertificateDer<'static>>,
    },
}

/// The checked LDAP settings.
#[derive(Debug, Clone)]
pub struct LdapConf {
    /// One or more `ldap://` / `ldaps://` URLs (space-separated in livy.conf, as JNDI accepts);
    /// the next is tried when one cannot be reached.
    pub urls: Vec<url::Url>,
    pub base_dn: Option<String>,
    pub username_domain: Option<String>,
    /// StartTLS on an `ldap://` connection before the bind (never a plaintext fallback).
    pub start_tls: bool,
    pub trust: LdapTrust,
    /// The whole check (connect, StartTLS, bind) must finish within this.
    pub timeout: Duration,
}

impl LdapConf {
    /// Builds the settings from validated livy.conf values (`get` returns a key's value or
    /// default, empty values as `None`); every problem is returned.
    pub fn from_values(get: &dyn Fn(&str) -> Option<String>) -> Result<Self, Vec<String>> {
        let mut problems = Vec::new();
        let url_text = get(keys::AUTH_LDAP_URL).unwrap_or_default();
        let mut urls = Vec::new();
        if url_text.trim().is_empty() {
            problems.push(format!(
                "{}: must be set when {} is ldap (e.g. ldap://ldap.example.com:389)",
                keys::AUTH_LDAP_URL,
                keys::AUTH_TYPE
            ));
        }
        for text in url_text.split_whitespace() {
            match url::Url::parse(text) {
                Ok(u) if matches!(u.scheme(), "ldap" | "ldaps") && u.host_str().is_some() => {
                    urls.push(u)
                }
                _ => problems.push(format!(
                    "{}: value '{text}' is not valid; expected ldap://host[:port] or ldaps://host[:port]",
                    keys::AUTH_LDAP_URL
                )),
            }
        }
        let start_tls =
            get(keys::AUTH_LDAP_START_TLS).is_some_and(|v| v.eq_ignore_ascii_case("true"));
        if start_tls && urls.iter().any(|u| u.scheme() == "ldaps") {
            problems.push(format!(
                "{}: Can not use ldaps and StartTLS option at the same time ({} is true)",
                keys::AUTH_LDAP_URL,
                keys::AUTH_LDAP_START_TLS
            ));
        }
        let mechanism = get(keys::AUTH_LDAP_SECURITY_AUTH).unwrap_or_else(|| "simple".into());
        if !mechanism.eq_ignore_ascii_case("simple") {
            problems.push(format!(
                "{}: value '{mechanism}' is not supported; only simple binds are (as in Livy)",
                keys::AUTH_LDAP_SECURITY_AUTH
            ));
        }
        let trust = match get(keys::AUTH_LDAP_CA_FILE) {
            None => LdapTrust::SystemRoots,
            Some(path) => {
                let path = PathBuf::from(path);
                match read_ca_file(&path) {
                    Ok(certs) => LdapTrust::CaFile { path, certs },
                    Err(e) => {
                        problems.push(format!("{}: {e}", keys::AUTH_LDAP_CA_FILE));
                        LdapTrust::SystemRoots
                    }
                }
            }
        };
        let timeout = get(keys::AUTH_LDAP_TIMEOUT)
            .and_then(|v| super::units::parse_duration(&v).ok())
            .unwrap_or_default();
        if timeout.is_zero() {
            problems.push(format!(
                "{}: must be longer than 0 (a hung directory would otherwise hang requests)",
                keys::AUTH_LDAP_TIMEOUT
            ));
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(LdapConf {
            urls,
            base_dn: get(keys::AUTH_LDAP_BASE_DN),
            username_domain: get(keys::AUTH_LDAP_USERNAME_DOMAIN),
            start_tls,
            trust,
            timeout,
        })
    }
}

/// Reads a PEM bundle; at least one certificate is required.
fn read_ca_file(path: &std::path::Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("cannot read CA certificates from {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "{} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
            path.display()
        ));
    }
    Ok(certs)
}
