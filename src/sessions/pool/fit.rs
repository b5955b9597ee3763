//! Which requests a pooled driver can serve, and what it must do first to become the request's
//! session: add the request's jars, pyFiles and files to the running context, and set the
//! request's runtime Spark SQL settings (`spark.conf.set`, when the driver says Spark allows it).
//! Anything else that differs from what the driver was launched with (resources, queue, static
//! settings) needs a driver of its own.

use crate::conf::pool::Profile;
use crate::sessions::commands::Resource;
use crate::sessions::request::{CreateSessionRequest, Kind};
use crate::yarn::submit::sparkconf::bytes_as_mib;
use std::collections::BTreeMap;

/// Spark settings every driver is launched with whatever the request (they come from livy.conf).
const LAUNCH_KEYS: &[&str] = &["spark.master", "spark.submit.deployMode"];
/// The lists a running context can take.
const ADDABLE: &[(&str, Resource)] = &[
    ("spark.jars", Resource::Jar),
    ("spark.submit.pyFiles", Resource::PyFile),
    ("spark.files", Resource::File),
];
/// The request's resource fields as settings: a pooled driver serves a request only when these
/// are what it was launched with (both unset counts as the same).
const RESOURCE_KEYS: &[&str] = &[
    "spark.driver.memory",
    "spark.driver.cores",
    "spark.executor.memory",
    "spark.executor.cores",
    "spark.executor.instances",
];
/// Settings only a launch can make (Spark refuses to change core settings on a running
/// session); anything else is asked of the driver, which answers with Spark's own rule
/// (`spark.conf.isModifiable`), so this list only saves that round trip.
const LAUNCH_ONLY_PREFIXES: &[&str] = &[
    "spark.driver.",
    "spark.executor.",
    "spark.yarn.",
    "spark.submit.",
    "spark.kubernetes.",
    "spark.dynamicAllocation.",
    "spark.kerberos.",
    "spark.app.",
    "spark.jars.",
    "spark.archives",
    "spark.pyspark.",
];

/// What a pooled driver does to become the request's session.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Fit {
    pub additions: Vec<(Resource, String)>,
    /// Settings to set on the running SparkSession, if the driver says each one can be.
    pub runtime_conf: BTreeMap<String, String>,
}

/// Whether a driver of the pool's kind can run a session of the request's kind.
pub(super) fn serves(pool: Kind, request: Kind) -> bool {
    request != Kind::Sparkr && (pool == Kind::Shared || pool == request)
}

/// How a driver of `profile`, launched with the prepared `profile_conf`, serves `request`
/// (prepared conf `conf`), or `None` when the request needs a driver of its own. Whom the
/// driver runs as is matched by the caller.
pub(super) fn fit(
    profile: &Profile,
    profile_conf: &BTreeMap<String, String>,
    request: &CreateSessionRequest,
    conf: &BTreeMap<String, String>,
) -> Option<Fit> {
    if !serves(profile.kind, request.kind) || request.queue != profile.queue {
        return None;
    }
    for key in RESOURCE_KEYS {
        if !same_value(key, conf.get(*key), profile_conf.get(*key)) {
            return None;
        }
    }
    let mut fit = Fit::default();
    for (key, value) in conf {
        if LAUNCH_KEYS.contains(&key.as_str()) || RESOURCE_KEYS.contains(&key.as_str()) {
            continue;
        }
        if let Some((_, what)) = ADDABLE.iter().find(|(k, _)| k == key) {
            fit.additions.extend(
                value
                    .split(',')
                    .filter(|u| !u.is_empty())
                    .map(|u| (*what, u.to_string())),
            );
        } else if profile_conf.get(key) == Some(value) {
            // Already so.
        } else if LAUNCH_ONLY_PREFIXES.iter().any(|p| key.starts_with(p)) {
            return None;
        } else {
            fit.runtime_conf.insert(key.clone(), value.clone());
        }
    }
    Some(fit)
}

/// Equal settings; sizes compare by value (`2g` is `2048m`).
fn same_value(key: &str, a: Option<&String>, b: Option<&String>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => {
            a == b
                || (key.ends_with(".memory")
                    && bytes_as_mib(a)
                        .ok()
                        .is_some_and(|m| bytes_as_mib(b).ok() == Some(m)))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::launch::prepare::launch_conf;

    fn livy() -> crate::conf::LivyConf {
        crate::test_support::conf_with(&[("livy.file.local-dir-whitelist", "/tmp")])
    }

    fn prepared(json: &str) -> (CreateSessionRequest, BTreeMap<String, String>) {
        let r: CreateSessionRequest = serde_json::from_str(json).unwrap();
        let conf = launch_conf(&r, &livy()).unwrap();
        (r, conf)
    }

    fn against(profile: &Profile, json: &str) -> Option<Fit> {
        let profile_conf = launch_conf(&profile.request(), &livy()).unwrap();
        let (r, conf) = prepared(json);
        fit(profile, &profile_conf, &r, &conf)
    }

    fn plain() -> Profile {
        Profile {
            name: "default".into(),
            size: 1,
            kind: Kind::Pyspark,
            proxy_users: vec![None],
            ..Default::default()
        }
    }

    #[test]
    fn only_requests_a_running_context_can_serve_come_from_the_pool() {
        let p = plain();
        assert_eq!(
            against(&p, r#"{"kind":"pyspark","name":"x","ttl":"1h"}"#),
            Some(Fit::default())
        );
        let fit = against(
            &p,
            r#"{"jars":["/tmp/a.jar"],"pyFiles":["/tmp/b.py"],"files":["/tmp/c"],"kind":"pyspark"}"#,
        )
        .unwrap();
        assert_eq!(fit.additions.len(), 3, "{fit:?}");
        assert!(fit
            .additions
            .contains(&(Resource::Jar, "file:///tmp/a.jar".into())));
        for needs_own in [
            r#"{"kind":"pyspark","driverMemory":"2g"}"#,
            r#"{"kind":"pyspark","executorCores":2}"#,
            r#"{"kind":"pyspark","numExecutors":3}"#,
            r#"{"kind":"pyspark","queue":"etl"}"#,
            r#"{"kind":"pyspark","archives":["/tmp/x.zip"]}"#,
            r#"{"kind":"pyspark","conf":{"spark.executor.memoryOverhead":"1g"}}"#,
            r#"{"kind":"spark"}"#,
        ] {
            assert_eq!(against(&p, needs_own), None, "{needs_own}");
        }
    }

    #[test]
    fn runtime_settings_are_left_to_the_driver() {
        let fit = against(
            &plain(),
            r#"{"kind":"pyspark","conf":{"spark.sql.shuffle.partitions":"3","spark.sql.warehouse.dir":"/tmp/w"}}"#,
        )
        .unwrap();
        assert_eq!(
            fit.runtime_conf.keys().collect::<Vec<_>>(),
            ["spark.sql.shuffle.partitions", "spark.sql.warehouse.dir"]
        );
    }

    #[test]
    fn a_profile_serves_its_own_resources_queue_and_conf() {
        let p = Profile {
            driver_memory: Some("2g".into()),
            queue: Some("etl".into()),
            conf: [(
                "spark.executor.memoryOverhead".to_string(),
                "1g".to_string(),
            )]
            .into(),
            ..plain()
        };
        assert_eq!(against(&p, r#"{"kind":"pyspark"}"#), None);
        assert_eq!(
            against(&p, r#"{"kind":"pyspark","driverMemory":"2g"}"#),
            None,
            "the queue differs"
        );
        let same = r#"{"kind":"pyspark","driverMemory":"2048m","queue":"etl","conf":{"spark.executor.memoryOverhead":"1g"}}"#;
        assert_eq!(against(&p, same), Some(Fit::default()));
        let other = r#"{"kind":"pyspark","driverMemory":"2g","queue":"etl","conf":{"spark.executor.memoryOverhead":"2g"}}"#;
        assert_eq!(against(&p, other), None);
    }

    #[test]
    fn a_shared_pool_serves_every_kind_others_their_own() {
        assert!(serves(Kind::Shared, Kind::Spark));
        assert!(serves(Kind::Pyspark, Kind::Pyspark));
        assert!(!serves(Kind::Pyspark, Kind::Spark));
        assert!(!serves(Kind::Shared, Kind::Sparkr));
    }
}
