//! The native YARN REST submission (`livy.server.yarn.submit = rest`) against the RM + WebHDFS
//! emulator: the files land in the user's staging directory with the sizes the submission
//! context names, the context carries the queue, tags, AM size and local resources Spark's client
//! would send, and a failed staging leaves nothing behind. The emulator's own AM launcher is off
//! here (tests/yarn_e2e runs real drivers from REST submissions).

use super::common;

use common::emulator::Emulator;
use livy_rs::conf::{Env, LivyConf};
use livy_rs::logs::ProcessLogs;
use livy_rs::yarn::submit::{Progress, RestSubmitter, Submission};
use livy_rs::yarn::{Caller, CreateOptions, Endpoint, WebHdfs};
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

const ARCHIVE: &[u8] = b"PK\x05\x06\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";
const PYSPARK: &[u8] = b"pyspark zip placeholder";
const PY4J: &[u8] = b"py4j zip placeholder, longer";

fn hdfs(emu: &Emulator) -> WebHdfs {
    WebHdfs::builder(vec![Endpoint {
        id: None,
        url: emu.webhdfs_url(),
    }])
    .build()
    .unwrap()
}

/// What an admin pre-stages: the Spark jars archive and the two Python zips, world-readable.
async fn prestage(fs: &WebHdfs) {
    let admin = Caller::user("hdfs");
    fs.mkdirs("/apps/spark", Some(0o755), admin).await.unwrap();
    let public = CreateOptions {
        permission: Some(0o644),
        ..Default::default()
    };
    for (name, data) in [
        ("spark-jars.zip", ARCHIVE),
        ("pyspark.zip", PYSPARK),
        ("py4j-0.10.9.7-src.zip", PY4J),
    ] {
        fs.create(
            &format!("/apps/spark/{name}"),
            data.to_vec(),
            &public,
            admin,
        )
        .await
        .unwrap();
    }
}

fn livy_conf(emu: &Emulator, spark_home: &Path) -> Arc<LivyConf> {
    let raw: BTreeMap<String, String> = [
        ("livy.spark.master", "yarn"),
        ("livy.spark.deploy-mode", "cluster"),
        ("livy.server.yarn.submit", "rest"),
        ("livy.spark.version", "3.5.9"),
        (
            "livy.pyspark.archives",
            "hdfs:///apps/spark/pyspark.zip,hdfs:///apps/spark/py4j-0.10.9.7-src.zip",
        ),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let env = Env {
        hadoop_conf_dir: Some(emu.hadoop_conf_dir()),
        spark_home: Some(spark_home.to_path_buf()),
        ..Default::default()
    };
    Arc::new(
        LivyConf::from_map(raw, Default::default(), &env)
            .unwrap()
            .conf,
    )
}

fn spec(dir: &Path, files: &str) -> Submission {
    let conf: BTreeMap<String, String> = [
        ("spark.master", "yarn".to_string()),
        ("spark.submit.deployMode", "cluster".to_string()),
        (
            "spark.yarn.archive",
            "hdfs:///apps/spark/spark-jars.zip".to_string(),
        ),
        ("spark.files", files.to_string()),
        (
            "spark.submit.pyFiles",
            format!("file://{}", dir.join("util.py").display()),
        ),
        (
            "spark.yarn.tags",
            "livy-batch-0-abcdefgh,Team-A".to_string(),
        ),
        ("spark.yarn.maxAppAttempts", "1".to_string()),
        ("spark.driver.memory", "2g".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    Submission {
        conf,
        class_name: None,
        name: Some("rest-e2e".into()),
        queue: Some("small".into()),
        file: Some(format!("file://{}", dir.join("job.py").display())),
        args: vec!["10".into(), "it's $HOME".into()],
    }
}

fn local_files(dir: &Path) {
    std::fs::write(dir.join("job.py"), "print('job')\n").unwrap();
    std::fs::write(dir.join("data.csv"), "a,b\n1,2\n3,4\n").unwrap();
    std::fs::write(dir.join("util.py"), "X = 1\n").unwrap();
}

fn entries(v: &Value) -> BTreeMap<String, Value> {
    v["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["key"].as_str().unwrap().to_string(), e["value"].clone()))
        .collect()
}

/// An emulator with the Spark archive pre-staged (its AMs not run), local files to ship, and a
/// submitter pointed at it.
struct Setup {
    emu: Emulator,
    fs: WebHdfs,
    dir: tempfile::TempDir,
    _spark_home: tempfile::TempDir,
    submitter: RestSubmitter,
    logs: ProcessLogs,
    progress: parking_lot::Mutex<Progress>,
}

async fn setup() -> Setup {
    let emu = Emulator::start(&[]);
    emu.settings(json!({"run_spark_am": false})).await;
    let fs = hdfs(&emu);
    prestage(&fs).await;
    let dir = tempfile::tempdir().unwrap();
    local_files(dir.path());
    let spark_home = common::fake_spark_home();
    let livy = livy_conf(&emu, spark_home.path());
    let settings = livy.yarn.as_ref().unwrap();
    let cluster = livy_rs::yarn::cluster::Cluster::new(
        &settings.cluster,
        std::sync::Arc::new(livy_rs::yarn::NoAuth),
    )
    .unwrap();
    let submitter = RestSubmitter::new(livy.clone(), settings, &cluster).unwrap();
    Setup {
        emu,
        fs,
        dir,
        _spark_home: spark_home,
        submitter,
        logs: ProcessLogs::new(100),
        progress: parking_lot::Mutex::new(Progress::default()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stages_files_and_submits_the_context_spark_would() {
    let Setup {
        emu,
        fs,
        dir,
        _spark_home,
        submitter,
        logs,
        progress,
    } = setup().await;
    let data = format!("file://{}", dir.path().join("data.csv").display());

    let app_id = submitter
        .submit(&spec(dir.path(), &data), None, &logs, &progress)
        .await
        .unwrap_or_else(|e| panic!("submission failed: {e}\n{:?}", logs.lines()));

    let rec = emu
        .control(Method::GET, &format!("/emulator/apps/{app_id}"), None)
        .await;
    let user = rec["user"].as_str().unwrap().to_string();
    let ctx = &rec["submission"];
    assert_eq!(ctx["application-id"], app_id.as_str());
    assert_eq!(ctx["application-name"], "rest-e2e");
    assert_eq!(ctx["queue"], "small");
    assert_eq!(ctx["application-type"], "SPARK");
    assert_eq!(ctx["max-app-attempts"], 1);
    assert_eq!(
        ctx["application-tags"]["tag"],
        json!(["livy-batch-0-abcdefgh", "team-a"])
    );
    // 2g driver + max(10 %, 384 MiB) overhead, one core.
    assert_eq!(ctx["resource"], json!({"memory": 2048 + 384, "vCores": 1}));
    assert_eq!(
        rec["app"]["applicationTags"],
        "livy-batch-0-abcdefgh,team-a"
    );
    assert_eq!(rec["state"], "ACCEPTED");

    // What the NodeManager will localize, checked against what WebHDFS now holds.
    let staging = format!("/user/{user}/.sparkStaging/{app_id}");
    let resources = entries(&ctx["am-container-spec"]["local-resources"]);
    let keys: Vec<&str> = resources.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "__pyfiles__/util.py",
            "__spark_conf__",
            "__spark_libs__",
            "data.csv",
            "job.py",
            "py4j-0.10.9.7-src.zip",
            "pyspark.zip"
        ]
    );
    for (link, local, staged_name) in [
        ("job.py", "job.py", "job.py"),
        ("data.csv", "data.csv", "data.csv"),
        ("__pyfiles__/util.py", "util.py", "util.py"),
    ] {
        let r = &resources[link];
        let path = format!("{staging}/{staged_name}");
        let status = fs.status(&path, Caller::NONE).await.unwrap();
        let size = std::fs::metadata(dir.path().join(local)).unwrap().len();
        assert_eq!(r["size"], size, "{link}");
        assert_eq!(status.length as u64, size, "{link}");
        assert_eq!(r["timestamp"], status.modification_time, "{link}");
        assert_eq!(r["visibility"], "PRIVATE", "{link}");
        assert_eq!(r["type"], "FILE", "{link}");
        assert!(
            r["resource"].as_str().unwrap().ends_with(&path),
            "{link}: {}",
            r["resource"]
        );
        assert_eq!(
            fs.open(&path, Caller::NONE).await.unwrap(),
            std::fs::read(dir.path().join(local)).unwrap()
        );
    }
    // Pre-staged files are used in place, PUBLIC (world-readable up to the root).
    let libs = &resources["__spark_libs__"];
    assert_eq!(libs["type"], "ARCHIVE");
    assert_eq!(libs["visibility"], "PUBLIC");
    assert_eq!(libs["size"], ARCHIVE.len());
    assert!(libs["resource"]
        .as_str()
        .unwrap()
        .ends_with("/apps/spark/spark-jars.zip"));
    assert_eq!(resources["py4j-0.10.9.7-src.zip"]["size"], PY4J.len());
    let staging_dir = fs.status(&staging, Caller::NONE).await.unwrap();
    assert_eq!(staging_dir.permission, "700");

    // The conf archive: Spark's properties with Livy's tag, and the dist cache list.
    let conf_res = &resources["__spark_conf__"];
    assert_eq!(conf_res["type"], "ARCHIVE");
    let zip_bytes = fs
        .open(&format!("{staging}/__spark_conf__.zip"), Caller::NONE)
        .await
        .unwrap();
    assert_eq!(conf_res["size"], zip_bytes.len());
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(zip_bytes)).unwrap();
    let mut props = String::new();
    zip.by_name("__spark_conf__.properties")
        .unwrap()
        .read_to_string(&mut props)
        .unwrap();
    assert!(
        props.contains("spark.yarn.tags=livy-batch-0-abcdefgh,Team-A"),
        "{props}"
    );
    assert!(props.contains("spark.app.name=rest-e2e"), "{props}");
    let mut dist = String::new();
    zip.by_name("__spark_dist_cache__.properties")
        .unwrap()
        .read_to_string(&mut dist)
        .unwrap();
    assert!(dist.contains(r"data.csv\#data.csv"), "{dist}");
    assert!(zip.by_name("__hadoop_conf__/core-site.xml").is_ok());

    // The AM command runs the Python file with the arguments, quoted for bash.
    let command = ctx["am-container-spec"]["commands"]["command"]
        .as_str()
        .unwrap();
    assert!(command.contains("--primary-py-file job.py"), "{command}");
    assert!(
        command.contains(r"--arg '10' --arg 'it'\''s \$HOME'"),
        "{command}"
    );
    let env = entries(&ctx["am-container-spec"]["environment"]);
    assert_eq!(env["SPARK_USER"], user.as_str());
    assert!(env["PYTHONPATH"]
        .as_str()
        .unwrap()
        .contains("{{PWD}}/pyspark.zip"));

    // What the log shows, as spark-submit's output would.
    let lines = logs.lines();
    assert!(
        lines
            .iter()
            .any(|l| l.contains(&format!("Submitted application {app_id}"))),
        "{lines:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_staging_cleans_up_and_says_why() {
    let Setup {
        emu,
        fs,
        dir,
        _spark_home,
        submitter,
        logs,
        progress,
    } = setup().await;
    let missing = format!("file://{}", dir.path().join("missing.csv").display());

    let err = submitter
        .submit(&spec(dir.path(), &missing), None, &logs, &progress)
        .await
        .unwrap_err();
    assert!(err.contains("missing.csv"), "{err}");
    let staging = progress.lock().staging_path.clone().unwrap();
    assert!(!progress.lock().posted);
    submitter.clean(&progress, None).await;
    let gone = fs.status(&staging, Caller::NONE).await.unwrap_err();
    assert!(gone.is_not_found(), "{gone}");
    // Nothing was submitted.
    let apps = emu.control(Method::GET, "/emulator/apps", None).await;
    assert_eq!(apps.as_array().map_or(0, Vec::len), 0, "{apps}");
}

/// The admission check: a request bigger than the queue's maximum capacity is refused with the
/// numbers; an RM that does not answer does not refuse anyone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admission_refuses_what_cannot_fit_and_admits_when_the_rm_is_down() {
    let emu = Emulator::start(&[]);
    let spark_home = common::fake_spark_home();
    let env = Env {
        hadoop_conf_dir: Some(emu.hadoop_conf_dir()),
        spark_home: Some(spark_home.path().to_path_buf()),
        ..Default::default()
    };
    let raw: BTreeMap<String, String> = [
        ("livy.spark.master", "yarn"),
        ("livy.spark.deploy-mode", "cluster"),
        ("livy.spark.version", "4.0.1"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let livy = Arc::new(
        LivyConf::from_map(raw, Default::default(), &env)
            .unwrap()
            .conf,
    );
    let cluster = livy_rs::yarn::cluster::Cluster::new(
        &livy.yarn.as_ref().unwrap().cluster,
        Arc::new(livy_rs::yarn::NoAuth),
    )
    .unwrap();
    let launcher = livy_rs::launch::Launcher::new(livy, None, Some(cluster)).unwrap();
    let conf = |executors: &str| -> BTreeMap<String, String> {
        [
            ("spark.submit.deployMode", "cluster"),
            ("spark.executor.instances", executors),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    };

    launcher.preflight(&conf("2"), None, None).await.unwrap();
    // 20 % of 16384 MB: 3276 MB; 1408 MB AM + 2 x 1408 MB executors do not fit.
    let err = launcher
        .preflight(&conf("2"), Some("small"), None)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("Rejected, Reason: "), "{err}");
    assert!(
        err.contains("4224 MB") && err.contains("queue 'small'") && err.contains("3276 MB"),
        "{err}"
    );
    let err = launcher
        .preflight(&conf("1"), Some("nope"), None)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("queue 'nope' does not exist"), "{err}");

    emu.add_fault(json!({"target": "rm", "mode": "refuse", "seconds": 30}))
        .await;
    launcher
        .preflight(&conf("2"), Some("small"), None)
        .await
        .expect("an unreachable RM does not refuse");
    emu.clear_faults().await;
}
