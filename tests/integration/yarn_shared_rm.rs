//! The server keeps one ResourceManager client per cluster (`yarn::cluster::Cluster`, built by
//! `app::wire`): an RM failover that the YARN monitor learns is what the admission check and
//! the REST submitter use next, so neither asks the standby again.

use super::common;

use common::emulator::Emulator;
use livy_rs::conf::{Env, LivyConf};
use livy_rs::launch::LaunchSpec;
use livy_rs::logs::ProcessLogs;
use livy_rs::yarn::{AppsQuery, Caller};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Requests `server` got whose method and path start with `prefix`.
async fn count(emu: &Emulator, server: &str, prefix: &str) -> u64 {
    emu.counters(server)
        .await
        .iter()
        .filter(|(k, _)| k.starts_with(prefix))
        .filter_map(|(_, v)| v.as_u64())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failover_learnt_by_the_monitor_is_used_by_admission_and_submission() {
    let emu = Emulator::start(&["--ha", "rm1,rm2"]);
    let spark_home = common::fake_spark_home();
    let env = Env {
        hadoop_conf_dir: Some(emu.hadoop_conf_dir()),
        spark_home: Some(spark_home.path().to_path_buf()),
        ..Default::default()
    };
    let raw = map(&[
        ("livy.spark.master", "yarn"),
        ("livy.spark.deploy-mode", "cluster"),
        ("livy.server.yarn.submit", "rest"),
        ("livy.spark.version", "3.5.9"),
    ]);
    let livy = Arc::new(
        LivyConf::from_map(raw, Default::default(), &env)
            .unwrap()
            .conf,
    );
    let state = livy_rs::app::wire(livy, None).unwrap();
    let monitor = state.yarn.clone().expect("the YARN monitor");

    // rm1, configured first, fails over to rm2; the monitor's next RM call meets the standby's
    // redirect and learns the active RM.
    emu.set_active(Some("rm2")).await;
    emu.reset_counters().await;
    monitor
        .rm()
        .apps(&AppsQuery::default(), Caller::NONE)
        .await
        .unwrap();
    assert_eq!(count(&emu, "rm1", "GET /ws/v1/cluster/apps").await, 1);
    assert!(monitor.rm().current_rm().starts_with("rm2"));

    // The admission check asks rm2 straight away.
    emu.reset_counters().await;
    let conf = map(&[
        ("spark.submit.deployMode", "cluster"),
        ("spark.yarn.archive", "local:/opt/spark/jars.zip"),
    ]);
    state
        .launcher
        .preflight(&conf, Some("default"), None)
        .await
        .unwrap();
    assert_eq!(count(&emu, "rm2", "GET /ws/v1/cluster/scheduler").await, 1);
    assert_eq!(
        emu.total_requests("rm1").await,
        0,
        "{:?}",
        emu.counters("rm1").await
    );

    // So does the REST submitter (its first call asks for a new application).
    let logs = Arc::new(ProcessLogs::new(100));
    let spec = LaunchSpec {
        conf,
        proxy_user: None,
        class_name: Some("org.example.Main".into()),
        name: Some("shared-rm".into()),
        queue: None,
        file: Some("hdfs:///apps/app.jar".into()),
        args: Vec::new(),
        env: Vec::new(),
        detach: None,
    };
    let slot = state.launcher.reserve().unwrap();
    let child = state
        .launcher
        .launch(slot, spec, logs.clone(), Box::new(|_| {}))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while count(&emu, "rm2", "POST /ws/v1/cluster/apps/new-application").await == 0 {
        assert!(Instant::now() < deadline, "{:?}", logs.lines());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child.kill();
    child.wait().await;
    assert!(
        logs.lines()
            .iter()
            .any(|l| l.contains("new application from ResourceManager rm2")),
        "{:?}",
        logs.lines()
    );
    assert_eq!(
        emu.total_requests("rm1").await,
        0,
        "{:?}",
        emu.counters("rm1").await
    );
    state.stop.cancel();
}
