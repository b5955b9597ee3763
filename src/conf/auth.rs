//! Client authentication settings (`livy.server.auth.*`), checked once at start.
//!
//! Livy accepts `livy.server.auth.type` unset (no authentication), `kerberos` (SPNEGO with
//! Hadoop's AuthenticationFilter) or `ldap` (Basic credentials checked by an LDAP bind);
//! anything else stops the server ("Invalid auth type").

use super::hadoop::HadoopConf;
use super::keys;
use crate::auth::name_rules::NameRules;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Settings of Kerberos (SPNEGO) authentication.
#[derive(Debug, Clone)]
pub struct KerberosConf {
    /// The service principal with `_HOST` already replaced, e.g. `HTTP/host.example.com@REALM`.
    pub principal: String,
    pub keytab: PathBuf,
    pub name_rules: NameRules,
    /// The realm `DEFAULT` name rules accept: krb5.conf's `default_realm`, else the service
    /// principal's realm.
    pub default_realm: String,
}

/// Which scheme authenticates clients.
#[derive(Debug, Clone)]
pub enum AuthScheme {
    None,
    Kerberos(KerberosConf),
    Ldap(super::ldap::LdapConf),
}

/// Everything about authenticating clients.
#[derive(Debug, Clone)]
pub struct AuthConf {
    pub scheme: AuthScheme,
    /// How long the signed auth cookie stays valid (Hadoop's `token.validity`, 10 hours).
    pub token_validity: Duration,
}

impl AuthConf {
    /// No authentication (the default, and what in-process tests use).
    pub fn none() -> Self {
        AuthConf {
            scheme: AuthScheme::None,
            token_validity: Duration::from_secs(36000),
        }
    }

    pub fn enabled(&self) -> bool {
        !matches!(self.scheme, AuthScheme::None)
    }
}

/// Reads the auth keys; every problem goes to `problems`.
pub fn parse(
    get: &dyn Fn(&str) -> Option<String>,
    server_host: &str,
    krb5_config: Option<&str>,
    token_validity: Duration,
    problems: &mut Vec<String>,
) -> AuthConf {
    let scheme = match get(keys::AUTH_TYPE).as_deref() {
        None => AuthScheme::None,
        Some("kerberos") => match kerberos(get, server_host, krb5_config, problems) {
            Some(k) => AuthScheme::Kerberos(k),
            None => AuthScheme::None,
        },
        Some("ldap") => match super::ldap::LdapConf::from_values(get) {
            Ok(l) => AuthScheme::Ldap(l),
            Err(mut e) => {
                problems.append(&mut e);
                AuthScheme::None
            }
        },
        Some(other) => {
            problems.push(format!(
                "{}: Invalid auth type: {other} (expected kerberos or ldap, or no value for none)",
                keys::AUTH_TYPE
            ));
            AuthScheme::None
        }
    };
    if token_validity.is_zero() {
        problems.push(format!(
            "{}: must be longer than 0",
            keys::AUTH_TOKEN_VALIDITY
        ));
    }
    AuthConf {
        scheme,
        token_validity,
    }
}

fn kerberos(
    get: &dyn Fn(&str) -> Option<String>,
    server_host: &str,
    krb5_config: Option<&str>,
    problems: &mut Vec<String>,
) -> Option<KerberosConf> {
    let before = problems.len();
    let principal = get(keys::AUTH_KERBEROS_PRINCIPAL);
    if principal.is_none() {
        problems.push(format!(
            "Kerberos auth requires {} to be provided.",
            keys::AUTH_KERBEROS_PRINCIPAL
        ));
    }
    let keytab = get(keys::AUTH_KERBEROS_KEYTAB).map(PathBuf::from);
    match &keytab {
        None => problems.push(format!(
            "Kerberos auth requires {} to be provided.",
            keys::AUTH_KERBEROS_KEYTAB
        )),
        Some(path) => {
            if let Err(e) = std::fs::File::open(path) {
                problems.push(format!(
                    "{}: cannot read the keytab {}: {e}",
                    keys::AUTH_KERBEROS_KEYTAB,
                    path.display()
                ));
            }
        }
    }
    let rules = get(keys::AUTH_KERBEROS_NAME_RULES).unwrap_or_else(|| "DEFAULT".into());
    let name_rules = match NameRules::parse(&rules) {
        Ok(r) => Some(r),
        Err(e) => {
            problems.push(format!("{}: {e}", keys::AUTH_KERBEROS_NAME_RULES));
            None
        }
    };
    if problems.len() > before {
        return None;
    }
    let principal = server_principal(&principal?, server_host);
    let realm_of_principal = principal
        .rsplit_once('@')
        .map(|(_, r)| r.to_string())
        .unwrap_or_default();
    let default_realm = krb5_default_realm(krb5_config).unwrap_or(realm_of_principal);
    Some(KerberosConf {
        principal,
        keytab: keytab?,
        name_rules: name_rules?,
        default_realm,
    })
}

/// Hadoop's `SecurityUtil.getServerPrincipal`: a `_HOST` host component becomes the server's
/// host name, lower-cased (the machine's name when the server listens on every address).
pub fn server_principal(principal: &str, server_host: &str) -> String {
    let (name, realm) = match principal.split_once('@') {
        Some((n, r)) => (n, Some(r)),
        None => (principal, None),
    };
    let Some((service, "_HOST")) = name.split_once('/') else {
        return principal.to_string();
    };
    let host = if server_host.is_empty() || server_host == "0.0.0.0" || server_host == "::" {
        nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_else(|| "localhost".into())
    } else {
        server_host.to_string()
    };
    let host = host.to_lowercase();
    match realm {
        Some(realm) => format!("{service}/{host}@{realm}"),
        None => format!("{service}/{host}"),
    }
}

/// `default_realm` from the `[libdefaults]` of the Kerberos configuration the GSSAPI library
/// reads (`KRB5_CONFIG`, a colon-separated list, else /etc/krb5.conf).
fn krb5_default_realm(krb5_config: Option<&str>) -> Option<String> {
    let files = krb5_config.unwrap_or("/etc/krb5.conf");
    files
        .split(':')
        .filter(|f| !f.is_empty())
        .find_map(|f| default_realm_in(Path::new(f)))
}

fn default_realm_in(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut in_libdefaults = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_libdefaults = line == "[libdefaults]";
        } else if in_libdefaults {
            if let Some((k, v)) = line.split_once('=') {
                if k.trim() == "default_realm" {
                    return Some(v.trim().to_string());
                }
            }
        }
    }
    None
}

/// Livy's rule (`LivyServer.start`): with Hadoop security on, the launch principal and keytab
/// are required; the principal's `_HOST` becomes this server's host. Without security they are
/// not used (Livy ignores them too).
pub(super) fn launch_identity(
    hadoop: &HadoopConf,
    string: &dyn Fn(&str) -> Option<String>,
    int: &dyn Fn(&str) -> i64,
    duration: &dyn Fn(&str) -> Duration,
    problems: &mut Vec<String>,
) -> Option<crate::auth::hadoop::IdentitySettings> {
    let kerberos = hadoop
        .get_trimmed(crate::yarn::conf::HADOOP_SECURITY_AUTHENTICATION)
        .is_some_and(|v| v.eq_ignore_ascii_case("kerberos"));
    if !kerberos {
        return None;
    }
    const PRINCIPAL: &str = "livy.server.launch.kerberos.principal";
    const KEYTAB: &str = "livy.server.launch.kerberos.keytab";
    let keytab = string(KEYTAB);
    let principal = string(PRINCIPAL);
    if keytab.is_none() {
        problems.push(format!("Kerberos requires {KEYTAB} to be provided."));
    }
    if principal.is_none() {
        problems.push(format!("Kerberos requires {PRINCIPAL} to be provided."));
    }
    let server_host = string(keys::SERVER_HOST).unwrap_or_default();
    Some(crate::auth::hadoop::IdentitySettings {
        principal: crate::auth::hadoop::resolve_host(&principal?, &server_host),
        keytab: PathBuf::from(keytab?),
        // Zero would renew in a busy loop.
        refresh_interval: duration("livy.server.launch.kerberos.refresh-interval")
            .max(Duration::from_secs(1)),
        fail_threshold: u32::try_from(int("livy.server.launch.kerberos.kinit-fail-threshold"))
            .unwrap_or(1)
            .max(1),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_placeholder_is_expanded_like_hadoop() {
        assert_eq!(
            server_principal("HTTP/_HOST@LIVY.TEST", "Edge.Example.COM"),
            "HTTP/edge.example.com@LIVY.TEST"
        );
        assert_eq!(
            server_principal("HTTP/fixed@LIVY.TEST", "other"),
            "HTTP/fixed@LIVY.TEST"
        );
        let any = server_principal("HTTP/_HOST@R", "0.0.0.0");
        assert!(!any.contains("_HOST") && any.ends_with("@R"), "{any}");
    }

    #[test]
    fn default_realm_comes_from_libdefaults() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("krb5.conf");
        std::fs::write(
            &f,
            "[realms]\n default_realm = WRONG\n[libdefaults]\n  default_realm = LIVY.TEST\n",
        )
        .unwrap();
        let list = format!("/nonexistent:{}", f.display());
        assert_eq!(
            krb5_default_realm(Some(&list)).as_deref(),
            Some("LIVY.TEST")
        );
    }
}
