//! `livy.server.session.pool.*`: the warm pool of session drivers (a livy-rs feature; Apache
//! Livy has none). Parsed once here; `crate::sessions::pool` keeps the drivers.
//!
//! The admin declares *profiles*: what a pooled driver is (kind, resources, queue, Spark conf),
//! whom it serves (its proxy users, or `none` for sessions without one) and how many to keep
//! ready. `livy.server.session.pool.profile.<name>.<field>` declares profile `<name>`; the
//! simple keys `livy.server.session.pool.size/kind/ttl` are a shorthand for one profile named
//! `default` (no proxy user, default resources). Pools per user are explicit: a profile that
//! lists `alice` keeps `size` drivers launched with `--proxy-user alice` for her alone.

use crate::sessions::{CreateSessionRequest, Kind};
use std::collections::BTreeMap;
use std::time::Duration;

pub const SIZE: &str = "livy.server.session.pool.size";
pub const KIND: &str = "livy.server.session.pool.kind";
pub const TTL: &str = "livy.server.session.pool.ttl";
pub const PREFIX: &str = "livy.server.session.pool.";
pub const PROFILE_PREFIX: &str = "livy.server.session.pool.profile.";
/// The profile the simple keys declare.
pub const DEFAULT_PROFILE: &str = "default";
/// In `proxy-users`: sessions that run with no proxy user (impersonation off, or no user).
pub const NO_PROXY_USER: &str = "none";
/// The fields of a profile, besides `conf.<spark key>`.
const FIELDS: &[&str] = &[
    "size",
    "kind",
    "proxy-users",
    "ttl",
    "driver-memory",
    "driver-cores",
    "executor-memory",
    "executor-cores",
    "num-executors",
    "queue",
];
/// Spark settings that always come from livy.conf (`livy.spark.master`, `.deploy-mode`).
const FROM_LIVY_CONF: &[&str] = &["spark.master", "spark.submit.deployMode"];

/// The pool as configured: its profiles, in name order (a request is served by the first that
/// fits).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolConf {
    pub profiles: Vec<Profile>,
}

/// One kind of pooled driver.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Profile {
    pub name: String,
    /// Drivers kept ready for each of `proxy_users`.
    pub size: usize,
    /// `shared` drivers serve requests of every kind; others only their own kind.
    pub kind: Kind,
    /// Whom the drivers run as; `None` is "no proxy user" ([`NO_PROXY_USER`]).
    pub proxy_users: Vec<Option<String>>,
    /// How long a ready driver may wait unused before it is replaced by a fresh one.
    pub ttl: Duration,
    pub driver_memory: Option<String>,
    pub driver_cores: Option<i32>,
    pub executor_memory: Option<String>,
    pub executor_cores: Option<i32>,
    pub num_executors: Option<i32>,
    pub queue: Option<String>,
    /// Spark settings, checked at start like a user's `conf` (blacklist, file whitelist).
    pub conf: BTreeMap<String, String>,
}

impl Profile {
    /// The create request a driver of this profile is launched for: it goes through the same
    /// checks ([`crate::launch::prepare::launch_conf`]) as a user's.
    pub fn request(&self) -> CreateSessionRequest {
        CreateSessionRequest {
            kind: self.kind,
            driver_memory: self.driver_memory.clone(),
            driver_cores: self.driver_cores,
            executor_memory: self.executor_memory.clone(),
            executor_cores: self.executor_cores,
            num_executors: self.num_executors,
            queue: self.queue.clone(),
            conf: self.conf.clone(),
            ..Default::default()
        }
    }
}

/// Reads the pool keys: the simple ones (`size`, `kind`, `ttl`, already checked for their type)
/// and every other `livy.server.session.pool.*` entry in `raw`. `None` when no profile keeps a
/// driver. Problems go to `problems`, all of them.
pub fn parse(
    size: i64,
    kind: Option<&str>,
    ttl: Duration,
    raw: &BTreeMap<String, String>,
    impersonation: bool,
    problems: &mut Vec<String>,
) -> Option<PoolConf> {
    let before = problems.len();
    if size < 0 {
        problems.push(format!("{SIZE}: must not be negative"));
    }
    let kind = parse_kind(KIND, kind, problems);
    if ttl.is_zero() {
        problems.push(format!("{TTL}: must be longer than 0"));
    }
    let mut profiles: BTreeMap<String, Profile> = BTreeMap::new();
    if size > 0 {
        profiles.insert(
            DEFAULT_PROFILE.into(),
            Profile {
                name: DEFAULT_PROFILE.into(),
                size: usize::try_from(size).unwrap_or(0),
                kind,
                proxy_users: vec![None],
                ttl,
                ..Default::default()
            },
        );
    }
    let mut declared: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for (key, value) in raw {
        match split_key(key) {
            Ok((name, field)) => {
                if name == DEFAULT_PROFILE && size > 0 {
                    problems.push(format!("{key}: profile '{DEFAULT_PROFILE}' is the one {SIZE} declares; give this profile another name"));
                    continue;
                }
                declared
                    .entry(name.to_string())
                    .or_default()
                    .insert(field.to_string(), value.trim().to_string());
            }
            Err(why) => problems.push(format!("{key}: {why}")),
        }
    }
    for (name, fields) in declared {
        if let Some(p) = profile(&name, &fields, ttl, impersonation, problems) {
            profiles.insert(name, p);
        }
    }
    let profiles: Vec<Profile> = profiles.into_values().filter(|p| p.size > 0).collect();
    (problems.len() == before && !profiles.is_empty()).then_some(PoolConf { profiles })
}

/// `livy.server.session.pool.profile.<name>.<field>` → (name, field), or why the key is wrong.
fn split_key(key: &str) -> Result<(&str, &str), String> {
    let known = || {
        format!(
            "unknown pool key; the pool is configured with {SIZE}, {KIND}, {TTL} and {PROFILE_PREFIX}<name>.<field> where <field> is one of {} or conf.<spark key>",
            FIELDS.join(", ")
        )
    };
    let rest = key.strip_prefix(PROFILE_PREFIX).ok_or_else(known)?;
    let (name, field) = rest.split_once('.').ok_or_else(known)?;
    let name_ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !name_ok {
        return Err(format!(
            "profile name '{name}' is not valid; use 1-64 letters, digits, '-' or '_'"
        ));
    }
    if FIELDS.contains(&field) || field.strip_prefix("conf.").is_some_and(|k| !k.is_empty()) {
        Ok((name, field))
    } else {
        Err(known())
    }
}

fn parse_kind(key: &str, kind: Option<&str>, problems: &mut Vec<String>) -> Kind {
    match kind.map(Kind::parse) {
        None => Kind::Pyspark,
        Some(Some(k)) if k != Kind::Sparkr => k,
        Some(_) => {
            problems.push(format!(
                "{key}: value '{}' is not valid; expected pyspark, spark, sql or shared",
                kind.unwrap_or_default()
            ));
            Kind::Pyspark
        }
    }
}

/// A user name that is passed to spark-submit as `--proxy-user`: letters, digits and `._@$-`,
/// not starting with `-` (it must never read as an option).
fn valid_user(name: &str) -> bool {
    !name.starts_with('-')
        && name.len() <= 256
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._@$-".contains(c))
}

/// One declared profile's fields, checked; the Spark-facing ones (sizes, conf, queue) are
/// checked again as a user's request is, once the whole configuration is known
/// ([`super::LivyConf::from_map`] calls `launch_conf` on [`Profile::request`]).
fn profile(
    name: &str,
    fields: &BTreeMap<String, String>,
    default_ttl: Duration,
    impersonation: bool,
    problems: &mut Vec<String>,
) -> Option<Profile> {
    let key = |field: &str| format!("{PROFILE_PREFIX}{name}.{field}");
    let before = problems.len();
    let get = |field: &str| fields.get(field).map(String::as_str);
    let int = |field: &str, min: i64, problems: &mut Vec<String>| -> Option<i32> {
        let v = get(field)?;
        match v.parse::<i32>() {
            Ok(n) if i64::from(n) >= min => Some(n),
            _ => {
                problems.push(format!(
                    "{}: value '{v}' is not valid; expected a whole number ≥ {min}",
                    key(field)
                ));
                None
            }
        }
    };
    let size = match get("size") {
        None => {
            problems.push(format!(
                "{}: missing; a profile says how many drivers to keep ready",
                key("size")
            ));
            0
        }
        Some(_) => int("size", 0, problems).unwrap_or(0),
    };
    let driver_cores = int("driver-cores", 1, problems);
    let executor_cores = int("executor-cores", 1, problems);
    let num_executors = int("num-executors", 0, problems);
    let kind = parse_kind(&key("kind"), get("kind"), problems);
    let ttl = match get("ttl") {
        None => default_ttl,
        Some(v) => match super::units::parse_duration(v) {
            Ok(d) if !d.is_zero() => d,
            _ => {
                problems.push(format!(
                    "{}: value '{v}' is not valid; expected a duration longer than 0 (e.g. 30m, 1h)",
                    key("ttl")
                ));
                default_ttl
            }
        },
    };
    let mut proxy_users = Vec::new();
    for user in get("proxy-users").unwrap_or(NO_PROXY_USER).split(',') {
        let user = user.trim();
        let entry = (user != NO_PROXY_USER).then(|| user.to_string());
        if entry.as_deref().is_some_and(|u| !valid_user(u)) {
            problems.push(format!("{}: '{user}' is not a valid user name (letters, digits and ._@$- ; not starting with -)", key("proxy-users")));
        } else if proxy_users.contains(&entry) {
            problems.push(format!("{}: '{user}' is listed twice", key("proxy-users")));
        } else if entry.is_some() && !impersonation {
            problems.push(format!("{}: names '{user}' but livy.impersonation.enabled is false, so no session ever runs as a proxy user; use '{NO_PROXY_USER}'", key("proxy-users")));
        } else {
            proxy_users.push(entry);
        }
    }
    let mut conf = BTreeMap::new();
    for (field, value) in fields {
        let Some(spark_key) = field.strip_prefix("conf.") else {
            continue;
        };
        if FROM_LIVY_CONF.contains(&spark_key) {
            problems.push(format!(
                "{}: comes from livy.spark.master / livy.spark.deploy-mode, not from a profile",
                key(field)
            ));
        } else {
            conf.insert(spark_key.to_string(), value.clone());
        }
    }
    let text = |field: &str| get(field).map(String::from);
    (problems.len() == before).then(|| Profile {
        name: name.to_string(),
        size: usize::try_from(size).unwrap_or(0),
        kind,
        proxy_users,
        ttl,
        driver_memory: text("driver-memory"),
        driver_cores,
        executor_memory: text("executor-memory"),
        executor_cores,
        num_executors,
        queue: text("queue"),
        conf,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    fn raw(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
        entries
            .iter()
            .map(|(k, v)| (format!("{PROFILE_PREFIX}{k}"), v.to_string()))
            .collect()
    }

    fn parsed(
        size: i64,
        entries: &[(&str, &str)],
        impersonation: bool,
    ) -> (Option<PoolConf>, Vec<String>) {
        let mut problems = Vec::new();
        let conf = parse(
            size,
            None,
            HOUR,
            &raw(entries),
            impersonation,
            &mut problems,
        );
        (conf, problems)
    }

    #[test]
    fn the_simple_keys_are_one_default_profile() {
        let mut problems = Vec::new();
        let none = BTreeMap::new();
        assert_eq!(parse(0, None, HOUR, &none, false, &mut problems), None);
        let conf = parse(2, Some("shared"), HOUR, &none, false, &mut problems).unwrap();
        assert_eq!(conf.profiles.len(), 1);
        let p = &conf.profiles[0];
        assert_eq!(
            (p.name.as_str(), p.size, p.kind),
            ("default", 2, Kind::Shared)
        );
        assert_eq!(p.proxy_users, vec![None]);
        assert!(problems.is_empty());
        assert_eq!(
            parse(1, Some("sparkr"), HOUR, &none, false, &mut problems),
            None
        );
        assert_eq!(parse(-1, None, HOUR, &none, false, &mut problems), None);
        assert_eq!(
            parse(1, None, Duration::ZERO, &none, false, &mut problems),
            None
        );
        assert_eq!(problems.len(), 3, "{problems:?}");
    }

    #[test]
    fn profiles_are_read_whole() {
        let (conf, problems) = parsed(
            1,
            &[
                ("etl.size", "2"),
                ("etl.kind", "spark"),
                ("etl.proxy-users", "alice, bob,none"),
                ("etl.driver-memory", "2g"),
                ("etl.executor-cores", "2"),
                ("etl.num-executors", "0"),
                ("etl.queue", "etl"),
                ("etl.ttl", "30m"),
                ("etl.conf.spark.sql.shuffle.partitions", "8"),
                ("off.size", "0"),
            ],
            true,
        );
        assert!(problems.is_empty(), "{problems:?}");
        let conf = conf.unwrap();
        let names: Vec<&str> = conf.profiles.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["default", "etl"], "a size-0 profile keeps nothing");
        let etl = &conf.profiles[1];
        assert_eq!(
            etl.proxy_users,
            vec![Some("alice".into()), Some("bob".into()), None]
        );
        assert_eq!(etl.ttl, Duration::from_secs(1800));
        let r = etl.request();
        assert_eq!(
            (
                r.kind,
                r.driver_memory.as_deref(),
                r.executor_cores,
                r.num_executors
            ),
            (Kind::Spark, Some("2g"), Some(2), Some(0))
        );
        assert_eq!(r.queue.as_deref(), Some("etl"));
        assert_eq!(r.conf["spark.sql.shuffle.partitions"], "8");
    }

    #[test]
    fn unknown_or_invalid_profile_keys_are_refused_with_a_message() {
        for (entries, impersonation, says) in [
            (&[("etl.sise", "1")][..], true, "unknown pool key"),
            (&[("etl", "1")][..], true, "unknown pool key"),
            (&[("etl.conf.", "1")][..], true, "unknown pool key"),
            (&[("e.t.l.size", "1")][..], true, "unknown pool key"),
            (&[("bad name!.size", "1")][..], true, "profile name"),
            (&[("etl.kind", "pyspark")][..], true, "missing"),
            (&[("etl.size", "-1")][..], true, "whole number"),
            (
                &[("etl.size", "1"), ("etl.kind", "cobol")][..],
                true,
                "not valid",
            ),
            (
                &[("etl.size", "1"), ("etl.ttl", "0s")][..],
                true,
                "duration",
            ),
            (
                &[("etl.size", "1"), ("etl.driver-cores", "0")][..],
                true,
                "whole number",
            ),
            (
                &[("etl.size", "1"), ("etl.proxy-users", "alice")][..],
                false,
                "impersonation",
            ),
            (
                &[("etl.size", "1"), ("etl.proxy-users", "-x")][..],
                true,
                "not a valid user",
            ),
            (
                &[("etl.size", "1"), ("etl.proxy-users", "a b")][..],
                true,
                "not a valid user",
            ),
            (
                &[("etl.size", "1"), ("etl.proxy-users", "a,a")][..],
                true,
                "twice",
            ),
            (
                &[("etl.size", "1"), ("etl.conf.spark.master", "yarn")][..],
                true,
                "livy.spark.master",
            ),
            (&[("default.size", "1")][..], true, "another name"),
        ] {
            let (conf, problems) = parsed(1, entries, impersonation);
            assert_eq!(conf, None, "{entries:?}");
            assert!(
                problems.iter().any(|p| p.contains(says)),
                "{entries:?}: {problems:?}"
            );
        }
        let (conf, problems) = parsed(0, &[("default.size", "1")], false);
        assert!(problems.is_empty() && conf.is_some(), "{problems:?}");
    }
}
