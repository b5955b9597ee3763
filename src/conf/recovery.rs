//! `livy.server.recovery.*` and the ZooKeeper keys, as Livy 0.9 reads them: the mode, which store,
//! where it is, and how ZooKeeper is retried. Parsed once here; `crate::recovery` opens the store.

use std::path::PathBuf;
use std::time::Duration;

/// Where recovery records are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreConf {
    /// `filesystem`: a local directory (`file:///var/lib/livy/recovery` or a plain path).
    Filesystem { dir: PathBuf },
    /// `zookeeper`: an ensemble (`host1:2181,host2:2181`).
    ZooKeeper {
        ensemble: String,
        key_prefix: String,
        /// `(attempts, first back-off)` from Livy's "m,n" retry policy.
        retry: (u32, Duration),
        /// `user:password` for ZooKeeper's digest scheme: records are then created readable only
        /// by this identity (they hold driver secrets). Without it, any ZooKeeper client can read
        /// them, which is warned at start.
        digest: Option<String>,
    },
}

/// Recovery is on when this is present (`livy.server.recovery.mode = recovery`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryConf {
    pub store: StoreConf,
    /// `livy.rsc.server.idle-timeout`: how long a driver keeps dialing a server that is gone, and
    /// so how long a restarted server waits for the drivers of its recovered sessions.
    pub driver_redial: Duration,
    /// `livy.server.ha.mode = active-active` (only with the ZooKeeper store).
    pub ha: Option<super::ha::HaConf>,
}

/// Keys this module reads.
pub const MODE: &str = "livy.server.recovery.mode";
pub const STORE: &str = "livy.server.recovery.state-store";
pub const STORE_URL: &str = "livy.server.recovery.state-store.url";
pub const ZK_URL: &str = "livy.server.zookeeper.url";
pub const ZK_RETRY: &str = "livy.server.recovery.zk-state-store.retry-policy";
pub const ZK_RETRY_NEW: &str = "livy.server.zk.retry-policy";
pub const ZK_KEY_PREFIX: &str = "livy.server.recovery.zk-state-store.key-prefix";
pub const ZK_DIGEST: &str = "livy.server.recovery.zk-state-store.digest";
pub const ZK_SASL: &str = "livy.server.zk.sasl.enabled";

/// Reads the recovery keys; `None` when recovery is off. Problems are added to `problems`.
pub fn parse(
    get: &dyn Fn(&str) -> Option<String>,
    driver_redial: Duration,
    problems: &mut Vec<String>,
) -> Option<RecoveryConf> {
    let mode = get(MODE).unwrap_or_else(|| "off".into());
    match mode.as_str() {
        "off" => return None,
        "recovery" => {}
        other => {
            problems.push(format!(
                "{MODE}: value '{other}' is not valid; expected off or recovery"
            ));
            return None;
        }
    }
    if get(ZK_SASL).is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        problems.push(format!(
            "{ZK_SASL}: SASL towards ZooKeeper is not supported by livy-rs; protect the records with {ZK_DIGEST} (user:password, ZooKeeper's digest scheme) instead"
        ));
    }
    let url = get(STORE_URL);
    let store = match get(STORE).as_deref() {
        Some("filesystem") => match url.as_deref().map(file_dir) {
            Some(Ok(dir)) => StoreConf::Filesystem { dir },
            Some(Err(e)) => {
                problems.push(format!("{STORE_URL}: {e}"));
                return None;
            }
            None => {
                problems.push(format!(
                    "{STORE_URL} must name a directory when {STORE} is filesystem"
                ));
                return None;
            }
        },
        Some("zookeeper") => {
            // Livy 0.7+ prefers livy.server.zookeeper.url and falls back to the state-store url.
            let Some(ensemble) = get(ZK_URL).or(url) else {
                problems.push(format!(
                    "{ZK_URL} (or {STORE_URL}) must name the ZooKeeper ensemble when {STORE} is zookeeper"
                ));
                return None;
            };
            let policy = get(ZK_RETRY_NEW)
                .or_else(|| get(ZK_RETRY))
                .unwrap_or_else(|| "5,100".into());
            let retry = match parse_retry(&policy) {
                Ok(r) => r,
                Err(e) => {
                    problems.push(format!("{ZK_RETRY_NEW}: {e}"));
                    return None;
                }
            };
            let key_prefix = get(ZK_KEY_PREFIX).unwrap_or_else(|| "livy".into());
            if key_prefix.is_empty()
                || key_prefix.contains('/')
                || key_prefix.chars().any(char::is_control)
            {
                problems.push(format!(
                    "{ZK_KEY_PREFIX}: '{key_prefix}' must be one ZooKeeper path segment"
                ));
                return None;
            }
            let digest = get(ZK_DIGEST);
            if let Some(d) = &digest {
                if !d.contains(':') {
                    problems.push(format!("{ZK_DIGEST}: expected user:password"));
                    return None;
                }
            }
            StoreConf::ZooKeeper {
                ensemble,
                key_prefix,
                retry,
                digest,
            }
        }
        Some(other) => {
            problems.push(format!(
                "{STORE}: value '{other}' is not valid; expected filesystem or zookeeper"
            ));
            return None;
        }
        None => {
            problems.push(format!(
                "{STORE} must be filesystem or zookeeper when {MODE} is recovery"
            ));
            return None;
        }
    };
    Some(RecoveryConf {
        store,
        driver_redial,
        ha: None,
    })
}

/// A filesystem store's directory from `file:///path` or `/path`. Livy takes any Hadoop file
/// system URL; only the local one is supported here, and other schemes are refused clearly.
fn file_dir(url: &str) -> Result<PathBuf, String> {
    let path = match url.split_once("://") {
        Some(("file", rest)) => rest,
        Some((scheme, _)) => {
            return Err(format!(
                "'{url}': only local directories (file:// or a path) are supported, not {scheme}://"
            ))
        }
        None => url.strip_prefix("file:").unwrap_or(url),
    };
    if !path.starts_with('/') {
        return Err(format!("'{url}' must be an absolute path"));
    }
    Ok(PathBuf::from(path))
}

/// Livy's "m,n" retry policy: m attempts, n milliseconds of first back-off.
fn parse_retry(text: &str) -> Result<(u32, Duration), String> {
    let bad = || format!("'{text}' is not a retry policy like 5,100 (attempts,milliseconds)");
    let (n, ms) = text.split_once(',').ok_or_else(bad)?;
    let n: u32 = n.trim().parse().map_err(|_| bad())?;
    let ms: u64 = ms.trim().parse().map_err(|_| bad())?;
    Ok((n, Duration::from_millis(ms)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn run(pairs: &[(&str, &str)]) -> (Option<RecoveryConf>, Vec<String>) {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut problems = Vec::new();
        let conf = parse(
            &|k| map.get(k).cloned(),
            Duration::from_secs(600),
            &mut problems,
        );
        (conf, problems)
    }

    #[test]
    fn livy_keys_are_read() {
        assert_eq!(run(&[]).0, None);
        let (c, p) = run(&[
            (MODE, "recovery"),
            (STORE, "filesystem"),
            (STORE_URL, "file:///var/lib/livy/recovery"),
        ]);
        assert!(p.is_empty(), "{p:?}");
        assert_eq!(
            c.unwrap().store,
            StoreConf::Filesystem {
                dir: "/var/lib/livy/recovery".into()
            }
        );
        let (c, p) = run(&[
            (MODE, "recovery"),
            (STORE, "zookeeper"),
            (STORE_URL, "old:2181"),
            (ZK_URL, "new:2181"),
            (ZK_RETRY, "3,50"),
        ]);
        assert!(p.is_empty(), "{p:?}");
        match c.unwrap().store {
            StoreConf::ZooKeeper {
                ensemble,
                retry,
                key_prefix,
                ..
            } => {
                assert_eq!(ensemble, "new:2181");
                assert_eq!(retry, (3, Duration::from_millis(50)));
                assert_eq!(key_prefix, "livy");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_values_are_refused_by_name() {
        for (pairs, key) in [
            (vec![(MODE, "yes")], MODE),
            (vec![(MODE, "recovery")], STORE),
            (vec![(MODE, "recovery"), (STORE, "filesystem")], STORE_URL),
            (
                vec![
                    (MODE, "recovery"),
                    (STORE, "filesystem"),
                    (STORE_URL, "hdfs://nn/livy"),
                ],
                STORE_URL,
            ),
            (
                vec![
                    (MODE, "recovery"),
                    (STORE, "zookeeper"),
                    (ZK_URL, "z:2181"),
                    (ZK_RETRY_NEW, "x"),
                ],
                ZK_RETRY_NEW,
            ),
            (
                vec![
                    (MODE, "recovery"),
                    (STORE, "zookeeper"),
                    (ZK_URL, "z:2181"),
                    (ZK_KEY_PREFIX, "a/b"),
                ],
                ZK_KEY_PREFIX,
            ),
        ] {
            let (c, p) = run(&pairs);
            assert!(c.is_none());
            assert!(p.iter().any(|m| m.contains(key)), "{key}: {p:?}");
        }
    }
}
