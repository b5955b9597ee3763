//! `livy.server.ha.*`: several livy-rs servers as one service (a livy-rs feature; Apache Livy
//! has none). Off unless `livy.server.ha.mode = active-active`, which needs recovery on the
//! ZooKeeper store: the servers share its records and meet in its namespace. Parsed once here;
//! `crate::ha` runs it.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

pub const MODE: &str = "livy.server.ha.mode";
pub const SECRET_FILE: &str = "livy.server.ha.secret-file";
pub const ADVERTISED_URL: &str = "livy.server.ha.advertised-url";
pub const SESSION_TIMEOUT: &str = "livy.server.ha.zk-session-timeout";
/// Every key of the family; any other `livy.server.ha.*` key is refused (a typo must not
/// silently leave a server out of the service).
pub const KEYS: &[&str] = &[MODE, SECRET_FILE, ADVERTISED_URL, SESSION_TIMEOUT];
pub const PREFIX: &str = "livy.server.ha.";
/// The ZooKeeper session timeout unless configured: how long a dead server's sessions wait
/// before the others adopt them.
pub const DEFAULT_SESSION_TIMEOUT: &str = "6s";
/// The shortest shared secret accepted: 32 bytes, the HMAC-SHA256 key size.
pub const MIN_SECRET_BYTES: usize = 32;

/// The shared secret that signs forwarded requests between servers. Its `Debug` never shows
/// it, so a logged configuration does not leak it.
#[derive(Clone, PartialEq, Eq)]
pub struct PeerSecret(pub Vec<u8>);

impl std::fmt::Debug for PeerSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PeerSecret(..)")
    }
}

/// Active/active as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HaConf {
    pub secret: PeerSecret,
    /// The REST URL peers forward to (`scheme://host:port`); `None`: this server's own address.
    pub advertised_url: Option<String>,
    /// The ZooKeeper session of membership and ownership: a server that is gone this long has
    /// its sessions adopted.
    pub session_timeout: Duration,
}

/// The message for a `livy.server.ha.*` key livy-rs does not know, or `None`.
pub fn unknown_key(name: &str) -> Option<String> {
    (name.starts_with(PREFIX) && !KEYS.contains(&name))
        .then(|| format!("{name}: unknown key; livy-rs knows {}", KEYS.join(", ")))
}

/// Reads the HA keys; `None` when HA is off. `zookeeper_recovery` says whether recovery is on
/// with the ZooKeeper store, which active/active requires.
pub fn parse(
    get: &dyn Fn(&str) -> Option<String>,
    zookeeper_recovery: bool,
    session_timeout: Duration,
    problems: &mut Vec<String>,
) -> Option<HaConf> {
    // Every key is read whatever the mode, so a key set with HA off is still checked.
    let (secret_file, advertised_url) = (get(SECRET_FILE), get(ADVERTISED_URL));
    match get(MODE).as_deref().unwrap_or("off") {
        "off" => return None,
        "active-active" => {}
        other => {
            problems.push(format!(
                "{MODE}: value '{other}' is not valid; expected off or active-active"
            ));
            return None;
        }
    }
    if !zookeeper_recovery {
        problems.push(format!(
            "{MODE} = active-active needs livy.server.recovery.mode = recovery and livy.server.recovery.state-store = zookeeper: the servers share the ZooKeeper store's sessions"
        ));
        return None;
    }
    let secret = match secret_file {
        None => {
            problems.push(format!(
                "{SECRET_FILE} must name a file only the server can read, holding the secret the servers share (at least {MIN_SECRET_BYTES} bytes), when {MODE} is active-active"
            ));
            return None;
        }
        Some(path) => match read_secret(&PathBuf::from(&path)) {
            Ok(s) => s,
            Err(e) => {
                problems.push(format!("{SECRET_FILE}: {e}"));
                return None;
            }
        },
    };
    if let Some(url) = &advertised_url {
        let ok = url::Url::parse(url).is_ok_and(|u| {
            matches!(u.scheme(), "http" | "https") && u.host().is_some() && u.path() == "/"
        });
        if !ok {
            problems.push(format!(
                "{ADVERTISED_URL}: '{url}' is not a URL like http://host:8998"
            ));
            return None;
        }
    }
    if session_timeout < Duration::from_secs(1) || session_timeout > Duration::from_secs(60) {
        problems.push(format!("{SESSION_TIMEOUT}: must be between 1s and 60s"));
        return None;
    }
    Some(HaConf {
        secret,
        advertised_url: advertised_url.map(|u| u.trim_end_matches('/').to_string()),
        session_timeout,
    })
}

/// Reads the shared secret: a regular file that neither group nor others can read (it lets its
/// holder speak for any user to every server), with at least [`MIN_SECRET_BYTES`] bytes.
/// Errors name the file, never its content.
fn read_secret(path: &std::path::Path) -> Result<PeerSecret, String> {
    let meta =
        std::fs::metadata(path).map_err(|e| format!("cannot read '{}': {e}", path.display()))?;
    if !meta.is_file() {
        return Err(format!("'{}' is not a file", path.display()));
    }
    let mode = meta.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(format!(
            "'{}' can be read by other users (mode {:o}); chmod 600 it",
            path.display(),
            mode & 0o777
        ));
    }
    let bytes =
        std::fs::read(path).map_err(|e| format!("cannot read '{}': {e}", path.display()))?;
    let trimmed = bytes.trim_ascii();
    if trimmed.len() < MIN_SECRET_BYTES {
        return Err(format!(
            "'{}' holds fewer than {MIN_SECRET_BYTES} bytes; the secret must be at least that long",
            path.display()
        ));
    }
    Ok(PeerSecret(trimmed.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::os::unix::fs::PermissionsExt;

    fn run(pairs: &[(&str, &str)], zk: bool) -> (Option<HaConf>, Vec<String>) {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut problems = Vec::new();
        let conf = parse(
            &|k| map.get(k).cloned(),
            zk,
            Duration::from_secs(6),
            &mut problems,
        );
        (conf, problems)
    }

    #[test]
    fn active_active_needs_zookeeper_recovery_and_a_private_secret() {
        assert_eq!(run(&[], false), (None, vec![]));
        let (c, p) = run(&[(MODE, "active-active")], false);
        assert!(
            c.is_none() && p[0].contains("state-store = zookeeper"),
            "{p:?}"
        );
        let (_, p) = run(&[(MODE, "hot")], true);
        assert!(p[0].contains(MODE), "{p:?}");
        let (_, p) = run(&[(MODE, "active-active")], true);
        assert!(p[0].contains(SECRET_FILE), "{p:?}");

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secret");
        std::fs::write(&file, "s3cr3t-that-is-long-enough-for-hmac-256\n").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let path = file.to_str().unwrap();
        let (c, p) = run(&[(MODE, "active-active"), (SECRET_FILE, path)], true);
        assert!(c.is_none() && p[0].contains("chmod 600"), "{p:?}");
        assert!(!p[0].contains("s3cr3t"), "the secret is never shown: {p:?}");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let (c, p) = run(&[(MODE, "active-active"), (SECRET_FILE, path)], true);
        assert!(p.is_empty(), "{p:?}");
        let c = c.unwrap();
        assert_eq!(c.secret.0, b"s3cr3t-that-is-long-enough-for-hmac-256");
        assert!(!format!("{c:?}").contains("s3cr3t"));

        std::fs::write(&file, "short").unwrap();
        let (_, p) = run(&[(MODE, "active-active"), (SECRET_FILE, path)], true);
        assert!(p[0].contains("fewer than"), "{p:?}");
    }

    #[test]
    fn unknown_ha_keys_are_refused() {
        assert!(unknown_key("livy.server.ha.moed").is_some());
        assert!(unknown_key(MODE).is_none());
        assert!(unknown_key("livy.server.port").is_none());
    }
}
