//! Fixture tests: four fixed inputs, and the submission context, `__spark_conf__.properties` and
//! `__spark_dist_cache__.properties` Spark's client produces for them, under
//! `tests/fixtures/yarn_rest/` (see its README for where each value comes from).
//! `UPDATE_YARN_REST_FIXTURES=1` rewrites the files from the code; review the diff against Spark.

use super::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;

const APP_ID: &str = "application_1700000000000_0042";
const NN: &str = "hdfs://nn:8020";

fn staging() -> String {
    staging_dir(
        &BTreeMap::new(),
        &format!("{NN}/user/alice"),
        "alice",
        APP_ID,
    )
}

fn conf(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn res(
    role: ResourceRole,
    link: &str,
    uri: &str,
    size: u64,
    visibility: Visibility,
) -> StagedResource {
    StagedResource {
        role,
        link: link.into(),
        uri: uri.into(),
        size,
        timestamp: 1_700_000_000_000 + size as i64,
        visibility,
    }
}

fn conf_archive_resource() -> StagedResource {
    res(
        ResourceRole::SparkConf,
        "__spark_conf__",
        &format!("{}/__spark_conf__.zip", staging()),
        4321,
        Visibility::Private,
    )
}

fn base_input(version: SparkVersion, primary: PrimaryResource) -> SubmissionInput {
    SubmissionInput {
        spark_version: version,
        application_id: APP_ID.into(),
        app_name: None,
        queue: None,
        tags: vec!["livy-batch-7-AbCdEfGh".into()],
        user: "alice".into(),
        launcher_user: "livy".into(),
        conf: BTreeMap::new(),
        primary,
        args: vec![],
        pyspark_archives: vec![],
        staging_dir: staging(),
        resources: vec![],
        submit_env: BTreeMap::new(),
        hadoop: HadoopClasspath::default(),
        submit_time_ms: 1_700_000_000_123,
    }
}

/// PySpark on 3.5: py-files (a .py and a .zip), a data file, pyspark from HDFS, tags, queue.
fn spark35_pyspark() -> SubmissionInput {
    let mut input = base_input(
        SparkVersion::V3_5,
        PrimaryResource::Python {
            uri: format!("{NN}/jobs/etl.py"),
        },
    );
    input.app_name = Some("nightly-etl".into());
    input.queue = Some("etl".into());
    input.args = vec!["--date".into(), "2024-01-01".into(), "it's $HOME".into()];
    input.conf = conf(&[
        ("spark.master", "yarn"),
        ("spark.submit.deployMode", "cluster"),
        ("spark.driver.memory", "2g"),
        ("spark.driver.cores", "2"),
        ("spark.executor.memory", "1g"),
        (
            "spark.yarn.archive",
            "hdfs://nn:8020/apps/spark/3.5.9/spark-jars.zip",
        ),
        (
            "spark.submit.pyFiles",
            "hdfs://nn:8020/jobs/lib/util.py,hdfs://nn:8020/jobs/lib/deps.zip",
        ),
        ("spark.files", "hdfs://nn:8020/jobs/data/lookup.csv"),
        ("spark.yarn.maxAppAttempts", "1"),
        ("spark.yarn.tags", "team-a"),
    ]);
    input.submit_env = conf(&[("PYSPARK_PYTHON", "/usr/bin/python3")]);
    input.pyspark_archives = vec![
        format!("{NN}/apps/spark/3.5.9/pyspark.zip"),
        format!("{NN}/apps/spark/3.5.9/py4j-0.10.9.7-src.zip"),
    ];
    input.resources = vec![
        conf_archive_resource(),
        res(
            ResourceRole::PyFile,
            "__pyfiles__/util.py",
            &format!("{NN}/jobs/lib/util.py"),
            1200,
            Visibility::Private,
        ),
        res(
            ResourceRole::PyFile,
            "deps.zip",
            &format!("{NN}/jobs/lib/deps.zip"),
            56000,
            Visibility::Private,
        ),
        res(
            ResourceRole::SparkLibs,
            "__spark_libs__",
            "hdfs://nn:8020/apps/spark/3.5.9/spark-jars.zip",
            250_000_000,
            Visibility::Public,
        ),
        res(
            ResourceRole::File,
            "lookup.csv",
            &format!("{NN}/jobs/data/lookup.csv"),
            9000,
            Visibility::Private,
        ),
        res(
            ResourceRole::PrimaryPyFile,
            "etl.py",
            &format!("{NN}/jobs/etl.py"),
            3000,
            Visibility::Private,
        ),
        res(
            ResourceRole::PySparkArchive,
            "pyspark.zip",
            &format!("{NN}/apps/spark/3.5.9/pyspark.zip"),
            1_500_000,
            Visibility::Public,
        ),
        res(
            ResourceRole::PySparkArchive,
            "py4j-0.10.9.7-src.zip",
            &format!("{NN}/apps/spark/3.5.9/py4j-0.10.9.7-src.zip"),
            42_000,
            Visibility::Public,
        ),
    ];
    input
}

/// A jar on 3.5: the main class names the app, an uploaded jar and a remote one with a link
/// name, driver JVM options and library path, the Hadoop classpath, priority and retries.
fn spark35_jar() -> SubmissionInput {
    let mut input = base_input(
        SparkVersion::V3_5,
        PrimaryResource::Jar {
            uri: format!("{NN}/jobs/app.jar"),
            class_name: "com.example.Main".into(),
        },
    );
    input.args = vec!["10".into(), "a b".into()];
    input.conf = conf(&[
        ("spark.master", "yarn"),
        ("spark.submit.deployMode", "cluster"),
        ("spark.driver.memory", "4g"),
        ("spark.yarn.archive", "hdfs://nn:8020/apps/spark/3.5.9/spark-jars.zip"),
        (
            "spark.jars",
            "file:/tmp/livy-uploads/udfs.jar,hdfs://nn:8020/libs/common.jar#common-lib.jar",
        ),
        (
            "spark.driver.extraJavaOptions",
            "-Dlog4j.configuration=file:log4j.properties -Dapp.id={{APP_ID}} \"-Dgreeting=hello world\"",
        ),
        ("spark.driver.extraClassPath", "/opt/extra/*"),
        ("spark.driver.extraLibraryPath", "/opt/hadoop/lib/native"),
        ("spark.yarn.populateHadoopClasspath", "true"),
        ("spark.yarn.priority", "5"),
        ("spark.yarn.am.attemptFailuresValidityInterval", "1h"),
        ("spark.driver.host", "edge-1"),
    ]);
    input.resources = vec![
        res(
            ResourceRole::SparkLibs,
            "__spark_libs__",
            "hdfs://nn:8020/apps/spark/3.5.9/spark-jars.zip",
            250_000_000,
            Visibility::Public,
        ),
        res(
            ResourceRole::AppJar,
            "__app__.jar",
            &format!("{NN}/jobs/app.jar"),
            80_000,
            Visibility::Private,
        ),
        res(
            ResourceRole::Jar,
            "udfs.jar",
            &format!("{}/udfs.jar", staging()),
            7000,
            Visibility::Private,
        ),
        res(
            ResourceRole::Jar,
            "common-lib.jar",
            &format!("{NN}/libs/common.jar"),
            33_000,
            Visibility::Public,
        ),
        conf_archive_resource(),
    ];
    input
}

/// PySpark on 4.x as a proxy user: a virtualenv archive (Livy's spark.yarn.dist.archives),
/// spark.yarn.appMasterEnv, the 4.x minimum overhead key, default driver memory.
fn spark4_pyspark() -> SubmissionInput {
    let mut input = base_input(
        SparkVersion::V4,
        PrimaryResource::Python {
            uri: format!("{NN}/jobs/report.py"),
        },
    );
    input.user = "bob".into();
    input.staging_dir = staging_dir(&BTreeMap::new(), &format!("{NN}/user/bob"), "bob", APP_ID);
    input.app_name = Some("report".into());
    input.args = vec!["--out".into(), "\"quoted\"".into()];
    input.conf = conf(&[
        ("spark.master", "yarn"),
        ("spark.submit.deployMode", "cluster"),
        (
            "spark.yarn.archive",
            "hdfs://nn:8020/apps/spark/4.3.0/spark-jars.zip",
        ),
        (
            "spark.yarn.dist.archives",
            "hdfs://nn:8020/envs/venv.tar.gz#venv",
        ),
        (
            "spark.yarn.appMasterEnv.PYSPARK_PYTHON",
            "./venv/bin/python",
        ),
        ("spark.executorEnv.PYSPARK_PYTHON", "./venv/bin/python"),
        ("spark.driver.minMemoryOverhead", "512m"),
        ("spark.yarn.queue", "reports"),
    ]);
    input.submit_env = conf(&[
        ("PYSPARK_PYTHON", "/usr/bin/python3"),
        ("PYTHONHASHSEED", "0"),
    ]);
    input.pyspark_archives = vec![
        format!("{NN}/apps/spark/4.3.0/pyspark.zip"),
        format!("{NN}/apps/spark/4.3.0/py4j-0.10.9.9-src.zip"),
    ];
    let staged = |name: &str| format!("{}/{name}", input.staging_dir);
    input.resources = vec![
        res(
            ResourceRole::SparkLibs,
            "__spark_libs__",
            "hdfs://nn:8020/apps/spark/4.3.0/spark-jars.zip",
            300_000_000,
            Visibility::Public,
        ),
        res(
            ResourceRole::Archive,
            "venv",
            &format!("{NN}/envs/venv.tar.gz"),
            90_000_000,
            Visibility::Private,
        ),
        res(
            ResourceRole::PrimaryPyFile,
            "report.py",
            &format!("{NN}/jobs/report.py"),
            2500,
            Visibility::Private,
        ),
        res(
            ResourceRole::PySparkArchive,
            "pyspark.zip",
            &format!("{NN}/apps/spark/4.3.0/pyspark.zip"),
            1_600_000,
            Visibility::Public,
        ),
        res(
            ResourceRole::PySparkArchive,
            "py4j-0.10.9.9-src.zip",
            &format!("{NN}/apps/spark/4.3.0/py4j-0.10.9.9-src.zip"),
            43_000,
            Visibility::Public,
        ),
        res(
            ResourceRole::SparkConf,
            "__spark_conf__",
            &staged("__spark_conf__.zip"),
            4321,
            Visibility::Private,
        ),
    ];
    input
}

/// A jar on 4.x: overhead factor, default + extra Java options, the 4.2+ processor-count flag,
/// user classpath first, rolled logs, a custom application type.
fn spark4_jar() -> SubmissionInput {
    let mut input = base_input(
        SparkVersion::V4,
        PrimaryResource::Jar {
            uri: "file:/tmp/livy-uploads/wordcount.jar".into(),
            class_name: "org.example.WordCount".into(),
        },
    );
    input.app_name = Some("wordcount".into());
    input.queue = Some("batch".into());
    input.args = vec!["hdfs:///in".into(), "$OUT".into()];
    input.conf = conf(&[
        ("spark.master", "yarn"),
        ("spark.submit.deployMode", "cluster"),
        ("spark.driver.memory", "3g"),
        ("spark.driver.cores", "4"),
        ("spark.driver.memoryOverheadFactor", "0.2"),
        ("spark.driver.limitActiveProcessorCount.enabled", "true"),
        ("spark.driver.defaultJavaOptions", "-XX:+UseG1GC"),
        ("spark.driver.extraJavaOptions", "-Dfoo=bar"),
        (
            "spark.yarn.archive",
            "hdfs://nn:8020/apps/spark/4.3.0/spark-jars.zip",
        ),
        ("spark.jars", "hdfs://nn:8020/libs/json.jar"),
        ("spark.yarn.user.classpath.first", "true"),
        ("spark.yarn.rolledLog.includePattern", "spark*"),
        ("spark.yarn.applicationType", "SPARK-BATCH"),
        ("spark.yarn.maxAppAttempts", "2"),
    ]);
    input.resources = vec![
        res(
            ResourceRole::SparkLibs,
            "__spark_libs__",
            "hdfs://nn:8020/apps/spark/4.3.0/spark-jars.zip",
            300_000_000,
            Visibility::Public,
        ),
        res(
            ResourceRole::AppJar,
            "__app__.jar",
            &format!("{}/wordcount.jar", staging()),
            12_000,
            Visibility::Private,
        ),
        res(
            ResourceRole::Jar,
            "json.jar",
            &format!("{NN}/libs/json.jar"),
            64_000,
            Visibility::Public,
        ),
        conf_archive_resource(),
    ];
    input
}

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/yarn_rest")
}

/// The first JSON path where `actual` differs from `expected`, with both values.
fn first_difference(path: &str, expected: &Value, actual: &Value) -> Option<String> {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (key, ev) in e {
                let p = format!("{path}.{key}");
                match a.get(key) {
                    None => return Some(format!("{p}: missing (expected {ev})")),
                    Some(av) => {
                        if let Some(d) = first_difference(&p, ev, av) {
                            return Some(d);
                        }
                    }
                }
            }
            a.keys()
                .find(|k| !e.contains_key(*k))
                .map(|k| format!("{path}.{k}: unexpected (got {})", a[k]))
        }
        (Value::Array(e), Value::Array(a)) => {
            for (i, ev) in e.iter().enumerate() {
                let p = format!("{path}[{i}]");
                match a.get(i) {
                    None => return Some(format!("{p}: missing (expected {ev})")),
                    Some(av) => {
                        if let Some(d) = first_difference(&p, ev, av) {
                            return Some(d);
                        }
                    }
                }
            }
            (a.len() > e.len())
                .then(|| format!("{path}[{}]: unexpected (got {})", e.len(), a[e.len()]))
        }
        _ => (expected != actual).then(|| format!("{path}: expected {expected}, got {actual}")),
    }
}

fn check_text(name: &str, actual: &str) {
    let path = fixture_dir().join(name);
    if std::env::var_os("UPDATE_YARN_REST_FIXTURES").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    for (i, (e, a)) in expected.lines().zip(actual.lines()).enumerate() {
        assert_eq!(e, a, "{name} line {}", i + 1);
    }
    assert_eq!(
        expected.lines().count(),
        actual.lines().count(),
        "{name}: line count"
    );
}

fn check_fixture(stem: &str, input: &SubmissionInput) {
    check(input).unwrap_or_else(|e| panic!("{stem}: {e}"));
    let actual = build_submission(input);
    let path = fixture_dir().join(format!("{stem}.json"));
    if std::env::var_os("UPDATE_YARN_REST_FIXTURES").is_some() {
        let text = serde_json::to_string_pretty(&actual).unwrap() + "\n";
        std::fs::write(&path, text).unwrap();
    } else {
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let expected: Value = serde_json::from_str(&text).unwrap();
        if let Some(diff) = first_difference("$", &expected, &actual) {
            panic!("{stem}.json differs at {diff}");
        }
    }
    check_text(
        &format!("{stem}.conf.properties"),
        &spark_conf_properties(input),
    );
    check_text(
        &format!("{stem}.dist-cache.properties"),
        &dist_cache_properties(input),
    );
}

#[test]
fn spark_3_5_pyspark_matches_fixture() {
    check_fixture("spark-3.5-pyspark", &spark35_pyspark());
}

#[test]
fn spark_3_5_jar_matches_fixture() {
    check_fixture("spark-3.5-jar", &spark35_jar());
}

#[test]
fn spark_4_pyspark_matches_fixture() {
    check_fixture("spark-4-pyspark", &spark4_pyspark());
}

#[test]
fn spark_4_jar_matches_fixture() {
    check_fixture("spark-4-jar", &spark4_jar());
}

#[test]
fn difference_reports_the_first_path() {
    let e: Value = serde_json::json!({"a": {"b": [1, {"c": "x"}]}, "d": 1});
    let a: Value = serde_json::json!({"a": {"b": [1, {"c": "y"}]}, "d": 1});
    assert_eq!(
        first_difference("$", &e, &a).unwrap(),
        "$.a.b[1].c: expected \"x\", got \"y\""
    );
    assert_eq!(first_difference("$", &e, &e), None);
}

#[test]
fn overhead_rules_differ_between_lines() {
    let c = conf(&[
        ("spark.driver.memory", "1g"),
        ("spark.driver.minMemoryOverhead", "1g"),
    ]);
    assert_eq!(
        am_resources(&c, SparkVersion::V3_5).unwrap().overhead_mb,
        384
    );
    assert_eq!(
        am_resources(&c, SparkVersion::V4).unwrap().overhead_mb,
        1024
    );
    let c = conf(&[
        ("spark.driver.memory", "10g"),
        ("spark.driver.memoryOverhead", "1500"),
    ]);
    assert_eq!(
        am_resources(&c, SparkVersion::V4).unwrap().overhead_mb,
        1500
    );
    let c = conf(&[("spark.driver.memory", "8g")]);
    assert_eq!(
        am_resources(&c, SparkVersion::V3_5).unwrap().overhead_mb,
        819
    );
}

#[test]
fn check_refuses_what_spark_would() {
    let mut input = spark35_jar();
    input
        .conf
        .insert("spark.driver.memory".into(), "lots".into());
    assert!(matches!(check(&input), Err(SpecError::BadValue { .. })));
    let mut input = spark35_jar();
    input
        .resources
        .retain(|r| r.role != ResourceRole::SparkConf);
    assert_eq!(
        check(&input),
        Err(SpecError::MissingResource(ResourceRole::SparkConf))
    );
    let mut input = spark35_jar();
    input.conf.remove("spark.yarn.archive");
    assert!(matches!(check(&input), Err(SpecError::NoSparkArchive(_))));
}

#[test]
fn version_strings() {
    assert_eq!(SparkVersion::parse("3.5.x"), Some(SparkVersion::V3_5));
    assert_eq!(SparkVersion::parse("3.5.9"), Some(SparkVersion::V3_5));
    assert_eq!(SparkVersion::parse("4.x"), Some(SparkVersion::V4));
    assert_eq!(SparkVersion::parse("4.0.1"), Some(SparkVersion::V4));
    assert_eq!(SparkVersion::parse("3.4.1"), None);
}

#[test]
fn staging_dir_follows_spark() {
    assert_eq!(
        staging_dir(
            &BTreeMap::new(),
            "hdfs://nn:8020/user/alice/",
            "alice",
            APP_ID
        ),
        format!("hdfs://nn:8020/user/alice/.sparkStaging/{APP_ID}")
    );
    let c = conf(&[("spark.yarn.stagingDir", "hdfs:///tmp/staging")]);
    assert_eq!(
        staging_dir(&c, "ignored", "alice", APP_ID),
        format!("hdfs:///tmp/staging/alice/.sparkStaging/{APP_ID}")
    );
}
