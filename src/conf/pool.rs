//! `livy.server.session.pool.*`: the warm pool of session drivers (a livy-rs feature; Apache
//! Livy has none). Off unless `livy.server.session.pool.size` is above 0. Parsed once here;
//! `crate::sessions::pool` keeps the drivers.

use crate::sessions::Kind;
use std::time::Duration;

pub const SIZE: &str = "livy.server.session.pool.size";
pub const KIND: &str = "livy.server.session.pool.kind";
pub const TTL: &str = "livy.server.session.pool.ttl";
/// Every key of the family; any other `livy.server.session.pool.*` key is refused (a typo such
/// as `pool.sise` must not silently leave the pool off).
pub const KEYS: &[&str] = &[SIZE, KIND, TTL];
pub const PREFIX: &str = "livy.server.session.pool.";

/// The pool as configured: how many drivers to keep ready, of which kind, and how long an
/// unused one may wait before it is replaced by a fresh one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolConf {
    pub size: usize,
    /// `shared` drivers serve requests of every kind; others only their own kind.
    pub kind: Kind,
    pub ttl: Duration,
}

/// Reads the pool keys; `None` when the pool is off (size 0). Problems go to `problems`.
pub fn parse(
    size: i64,
    kind: Option<&str>,
    ttl: Duration,
    problems: &mut Vec<String>,
) -> Option<PoolConf> {
    if size < 0 {
        problems.push(format!("{SIZE}: must not be negative"));
        return None;
    }
    let kind = match kind.map(Kind::parse) {
        None => Kind::Pyspark,
        Some(Some(k)) if k != Kind::Sparkr => k,
        Some(_) => {
            problems.push(format!(
                "{KIND}: value '{}' is not valid; expected pyspark, spark, sql or shared",
                kind.unwrap_or_default()
            ));
            return None;
        }
    };
    if ttl.is_zero() {
        problems.push(format!("{TTL}: must be longer than 0"));
        return None;
    }
    (size > 0).then(|| PoolConf {
        size: usize::try_from(size).unwrap_or(0),
        kind,
        ttl,
    })
}

/// The message for a `livy.server.session.pool.*` key livy-rs does not know, or `None`.
pub fn unknown_key(name: &str) -> Option<String> {
    (name.starts_with(PREFIX) && !KEYS.contains(&name)).then(|| {
        format!(
            "{name}: unknown pool key; the pool is configured with {}",
            KEYS.join(", ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_by_default_and_checked() {
        let mut problems = Vec::new();
        let hour = Duration::from_secs(3600);
        assert_eq!(parse(0, None, hour, &mut problems), None);
        assert_eq!(
            parse(2, None, hour, &mut problems),
            Some(PoolConf {
                size: 2,
                kind: Kind::Pyspark,
                ttl: hour
            })
        );
        assert_eq!(
            parse(1, Some("shared"), hour, &mut problems).map(|p| p.kind),
            Some(Kind::Shared)
        );
        assert!(problems.is_empty());
        assert_eq!(parse(1, Some("sparkr"), hour, &mut problems), None);
        assert_eq!(parse(-1, None, hour, &mut problems), None);
        assert_eq!(parse(1, None, Duration::ZERO, &mut problems), None);
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(unknown_key("livy.server.session.pool.sise").is_some());
        assert!(unknown_key(SIZE).is_none());
        assert!(unknown_key("livy.server.session.ttl").is_none());
    }
}
