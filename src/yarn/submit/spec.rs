//! The body of `POST /ws/v1/cluster/apps` (ResourceManagerRest.md, "Cluster Applications
//! API(Submit Application)") for a Spark yarn-cluster application, following
//! `Client.createApplicationSubmissionContext` and `Client.createContainerLaunchContext`.

use super::command::am_command;
use super::env::environment;
use super::input::{PrimaryResource, ResourceRole, SparkVersion, StagedResource, SubmissionInput};
use super::sparkconf::{bytes_as_mib, effective_conf, list, properties_text, tags};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// Why an input cannot be submitted; the facts are what spark-submit would have complained about.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SpecError {
    #[error("{key}={value:?} is not a valid {expected}")]
    BadValue {
        key: String,
        value: String,
        expected: &'static str,
    },
    #[error("no staged resource with role {0:?}; the AM cannot start without it")]
    MissingResource(ResourceRole),
    #[error("{0} must be set: the Spark jars have to be pre-staged as an archive")]
    NoSparkArchive(&'static str),
}

/// AM container size: driver memory plus overhead (MiB), and driver cores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AmResources {
    pub memory_mb: u64,
    pub overhead_mb: u64,
    pub vcores: u32,
}

/// `spark.driver.memory` (default 1g) plus `spark.driver.memoryOverhead`, else
/// max(`spark.driver.memoryOverheadFactor` (0.1) × memory, minimum); the minimum is 384 MiB in
/// 3.5 and `spark.driver.minMemoryOverhead` (default 384m) in 4.x.
pub fn am_resources(
    conf: &BTreeMap<String, String>,
    version: SparkVersion,
) -> Result<AmResources, SpecError> {
    let size = |key: &str, default: &str| {
        let value = conf.get(key).map_or(default, String::as_str);
        bytes_as_mib(value).map_err(|_| bad(key, value, "size (e.g. 512m, 2g)"))
    };
    let memory_mb = size("spark.driver.memory", "1g")?;
    let overhead_mb = match conf.get("spark.driver.memoryOverhead") {
        Some(_) => size("spark.driver.memoryOverhead", "0")?,
        None => {
            let factor_text = conf
                .get("spark.driver.memoryOverheadFactor")
                .map_or("0.1", String::as_str);
            let factor: f64 = factor_text
                .trim()
                .parse()
                .ok()
                .filter(|f: &f64| *f > 0.0)
                .ok_or_else(|| {
                    bad(
                        "spark.driver.memoryOverheadFactor",
                        factor_text,
                        "number > 0",
                    )
                })?;
            let minimum = match version {
                SparkVersion::V3_5 => 384,
                SparkVersion::V4 => size("spark.driver.minMemoryOverhead", "384m")?,
            };
            ((factor * memory_mb as f64) as u64).max(minimum)
        }
    };
    let cores_text = conf.get("spark.driver.cores").map_or("1", String::as_str);
    let vcores = cores_text
        .trim()
        .parse()
        .map_err(|_| bad("spark.driver.cores", cores_text, "integer"))?;
    Ok(AmResources {
        memory_mb,
        overhead_mb,
        vcores,
    })
}

fn bad(key: &str, value: &str, expected: &'static str) -> SpecError {
    SpecError::BadValue {
        key: key.into(),
        value: value.into(),
        expected,
    }
}

fn optional_int(conf: &BTreeMap<String, String>, key: &str) -> Result<Option<i64>, SpecError> {
    conf.get(key)
        .map(|v| v.trim().parse().map_err(|_| bad(key, v, "integer")))
        .transpose()
}

/// Checks what [`build_submission`] would otherwise have to guess: numbers Spark parses, and the
/// staged files the AM cannot start without.
pub fn check(input: &SubmissionInput) -> Result<(), SpecError> {
    let conf = effective_conf(input);
    am_resources(&conf, input.spark_version)?;
    optional_int(&conf, "spark.yarn.maxAppAttempts")?;
    optional_int(&conf, "spark.yarn.priority")?;
    if let Some(v) = conf.get("spark.yarn.am.attemptFailuresValidityInterval") {
        duration_ms(v).ok_or_else(|| {
            bad(
                "spark.yarn.am.attemptFailuresValidityInterval",
                v,
                "duration",
            )
        })?;
    }
    if !conf.contains_key("spark.yarn.archive") {
        return Err(SpecError::NoSparkArchive("spark.yarn.archive"));
    }
    let mut needed = vec![ResourceRole::SparkConf, ResourceRole::SparkLibs];
    match &input.primary {
        PrimaryResource::Jar { uri, .. } if !super::sparkconf::is_local(uri) => {
            needed.push(ResourceRole::AppJar)
        }
        PrimaryResource::Python { .. } => needed.push(ResourceRole::PrimaryPyFile),
        PrimaryResource::Jar { .. } => {}
    }
    for role in needed {
        if input.resources_with(role).next().is_none() {
            return Err(SpecError::MissingResource(role));
        }
    }
    Ok(())
}

/// Spark's `timeConf(MILLISECONDS)`: a number with an optional unit (ms default).
fn duration_ms(value: &str) -> Option<i64> {
    let v = value.trim().to_ascii_lowercase();
    let digits = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (n, unit) = v.split_at(digits);
    let n: i64 = n.parse().ok()?;
    let factor = match unit {
        "" | "ms" => 1,
        "us" => return Some(n / 1000),
        "s" => 1000,
        "m" | "min" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    Some(n * factor)
}

/// Resources in the order Spark's `prepareLocalResources` distributes them.
fn ordered(input: &SubmissionInput) -> Vec<&StagedResource> {
    let mut resources: Vec<&StagedResource> = input.resources.iter().collect();
    resources.sort_by_key(|r| r.role);
    resources
}

fn local_resource(r: &StagedResource) -> Value {
    json!({
        "key": r.link,
        "value": {
            "resource": r.uri,
            "type": r.role.resource_type(),
            "visibility": r.visibility.as_str(),
            "size": r.size,
            "timestamp": r.timestamp,
        }
    })
}

fn entries<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Value {
    let entry: Vec<Value> = pairs
        .into_iter()
        .map(|(k, v)| json!({"key": k, "value": v}))
        .collect();
    json!({ "entry": entry })
}

/// `SecurityManager` ACLs sent with the AM container: users `spark.admin.acls` + the launcher's
/// OS user + the current user + `spark.ui.view.acls` (resp. `spark.modify.acls`), a space, then
/// the groups (`spark.admin.acls.groups` + `spark.ui.view.acls.groups` / `spark.modify.acls.groups`).
fn acls(conf: &BTreeMap<String, String>, input: &SubmissionInput) -> Value {
    let current = input
        .submit_env
        .get("SPARK_USER")
        .cloned()
        .unwrap_or_else(|| input.user.clone());
    let join = |items: Vec<String>| {
        let mut seen = Vec::new();
        for item in items {
            if !seen.contains(&item) {
                seen.push(item);
            }
        }
        if seen.iter().any(|s| s == "*") {
            "*".to_string()
        } else {
            seen.join(",")
        }
    };
    let acl = |users_key: &str, groups_key: &str| {
        let users = [
            list(conf, "spark.admin.acls"),
            vec![input.launcher_user.clone(), current.clone()],
            list(conf, users_key),
        ]
        .concat();
        let groups = [
            list(conf, "spark.admin.acls.groups"),
            list(conf, groups_key),
        ]
        .concat();
        format!("{} {}", join(users), join(groups))
    };
    let view = acl("spark.ui.view.acls", "spark.ui.view.acls.groups");
    let modify = acl("spark.modify.acls", "spark.modify.acls.groups");
    entries([("VIEW_APP", view.as_str()), ("MODIFY_APP", modify.as_str())])
}

/// The application-submission-context for `POST /ws/v1/cluster/apps`, without `credentials`
/// (the caller adds delegation tokens on a secure cluster). Expects an input that passed
/// [`check`]; values that do not parse fall back to Spark's defaults.
pub fn build_submission(input: &SubmissionInput) -> Value {
    let conf = effective_conf(input);
    let am = am_resources(&conf, input.spark_version).unwrap_or(AmResources {
        memory_mb: 1024,
        overhead_mb: 384,
        vcores: 1,
    });

    let env = environment(&conf, input);
    let mut container = Map::new();
    container.insert(
        "local-resources".into(),
        json!({ "entry": ordered(input).into_iter().map(local_resource).collect::<Vec<_>>() }),
    );
    container.insert(
        "environment".into(),
        entries(env.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
    );
    container.insert(
        "commands".into(),
        json!({ "command": am_command(&conf, input, am.memory_mb, am.vcores) }),
    );
    container.insert("application-acls".into(), acls(&conf, input));

    let mut ctx = Map::new();
    ctx.insert("application-id".into(), json!(input.application_id));
    ctx.insert("application-name".into(), json!(conf["spark.app.name"]));
    ctx.insert(
        "queue".into(),
        json!(conf
            .get("spark.yarn.queue")
            .map_or("default", String::as_str)),
    );
    if let Ok(Some(priority)) = optional_int(&conf, "spark.yarn.priority") {
        ctx.insert("priority".into(), json!(priority));
    }
    ctx.insert("am-container-spec".into(), Value::Object(container));
    ctx.insert("unmanaged-AM".into(), json!(false));
    if let Ok(Some(attempts)) = optional_int(&conf, "spark.yarn.maxAppAttempts") {
        ctx.insert("max-app-attempts".into(), json!(attempts));
    }
    ctx.insert(
        "resource".into(),
        json!({ "memory": am.memory_mb.saturating_add(am.overhead_mb), "vCores": am.vcores }),
    );
    ctx.insert(
        "application-type".into(),
        json!(conf
            .get("spark.yarn.applicationType")
            .map_or("SPARK", String::as_str)),
    );
    ctx.insert(
        "keep-containers-across-application-attempts".into(),
        json!(false),
    );
    // YARN's ApplicationSubmissionContext lower-cases tags when they are set, on the client in
    // Spark's case and in the RM for REST; the body carries what the RM will store.
    let tags: Vec<String> = tags(input).iter().map(|t| t.to_lowercase()).collect();
    ctx.insert("application-tags".into(), json!({ "tag": tags }));
    if let Some(include) = conf.get("spark.yarn.rolledLog.includePattern") {
        let mut log = Map::new();
        log.insert("rolled-log-include-pattern".into(), json!(include));
        if let Some(exclude) = conf.get("spark.yarn.rolledLog.excludePattern") {
            log.insert("rolled-log-exclude-pattern".into(), json!(exclude));
        }
        ctx.insert("log-aggregation-context".into(), Value::Object(log));
    }
    if let Some(ms) = conf
        .get("spark.yarn.am.attemptFailuresValidityInterval")
        .and_then(|v| duration_ms(v))
    {
        ctx.insert("attempt-failures-validity-interval".into(), json!(ms));
    }
    if let Some(expr) = conf.get("spark.yarn.am.nodeLabelExpression") {
        ctx.insert("am-container-node-label-expression".into(), json!(expr));
    }
    Value::Object(ctx)
}

/// `__spark_conf__/__spark_conf__.properties`: the effective Spark conf.
pub fn spark_conf_properties(input: &SubmissionInput) -> String {
    properties_text("Spark configuration.", &effective_conf(input))
}

/// `__spark_conf__/__spark_dist_cache__.properties`: what executors must localize (everything
/// staged except AM-only files and the conf archive itself) and where the conf archive is.
pub fn dist_cache_properties(input: &SubmissionInput) -> String {
    let cached: Vec<&StagedResource> = ordered(input)
        .into_iter()
        .filter(|r| !r.role.am_only() && r.role != ResourceRole::SparkConf)
        .collect();
    let join = |f: &dyn Fn(&StagedResource) -> String| {
        cached.iter().map(|r| f(r)).collect::<Vec<_>>().join(",")
    };
    let mut props = BTreeMap::new();
    props.insert(
        "spark.yarn.cache.confArchive".to_string(),
        format!(
            "{}/__spark_conf__.zip",
            input.staging_dir.trim_end_matches('/')
        ),
    );
    props.insert(
        "spark.yarn.cache.filenames".to_string(),
        join(&|r| format!("{}#{}", r.uri.split('#').next().unwrap_or(&r.uri), r.link)),
    );
    props.insert(
        "spark.yarn.cache.sizes".to_string(),
        join(&|r| r.size.to_string()),
    );
    props.insert(
        "spark.yarn.cache.timestamps".to_string(),
        join(&|r| r.timestamp.to_string()),
    );
    props.insert(
        "spark.yarn.cache.types".to_string(),
        join(&|r| r.role.resource_type().to_string()),
    );
    props.insert(
        "spark.yarn.cache.visibilities".to_string(),
        join(&|r| r.visibility.as_str().to_string()),
    );
    properties_text("Spark configuration.", &props)
}
