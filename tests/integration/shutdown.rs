//! Black-box: the real binary, started as admins start it, stops cleanly on SIGTERM and takes
//! its children with it; bin/livy-server's start/status/stop work like Livy's script.

use super::common;

use common::{fake_spark_home, process_with_cmdline, server_binary, wait_for, ServerProcess};
use serde_json::{json, Value};
use std::process::Command;
use std::time::Duration;

#[tokio::test]
async fn sigterm_stops_the_server_and_its_batches() {
    let spark = fake_spark_home();
    let files = tempfile::tempdir().unwrap();
    let script = files.path().join("sleep-until-shutdown.py");
    std::fs::write(&script, "").unwrap();
    let mut server = ServerProcess::start(
        spark.path(),
        &format!(
            "livy.file.local-dir-whitelist = {}\n",
            files.path().display()
        ),
    );
    let client = reqwest::Client::new();
    let created: Value = client
        .post(format!("{}/batches", server.url))
        .json(&json!({"file": script.display().to_string()}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_u64().unwrap();
    let needle = script.display().to_string();
    wait_for(
        Duration::from_secs(10),
        "the batch's grandchild",
        || async {
            let log: Value = client
                .get(format!("{}/batches/{id}/log", server.url))
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            log["log"].to_string().contains("child ").then_some(())
        },
    )
    .await;
    assert!(!process_with_cmdline(&needle).is_empty());

    let code = server.terminate(Duration::from_secs(30));
    assert_eq!(code, Some(0), "server did not exit cleanly after SIGTERM");
    wait_for(
        Duration::from_secs(10),
        "the batch's processes to be gone",
        || async { process_with_cmdline(&needle).is_empty().then_some(()) },
    )
    .await;
    // The access log recorded the requests.
    let logs: Vec<_> = std::fs::read_dir(server.dirs.path().join("logs"))
        .unwrap()
        .flatten()
        .collect();
    let text: String = logs
        .iter()
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect();
    assert!(text.contains("\"POST /batches HTTP/1.1\" 201"), "{text}");
}

#[test]
fn a_bad_livy_conf_stops_start_up_with_every_problem() {
    let spark = fake_spark_home();
    let conf = tempfile::tempdir().unwrap();
    std::fs::write(
        conf.path().join("livy.conf"),
        "livy.server.port = http\nlivy.server.session.timeout = soon\n",
    )
    .unwrap();
    let out = Command::new(server_binary())
        .arg("validate")
        .env("LIVY_CONF_DIR", conf.path())
        .env("SPARK_HOME", spark.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("livy.server.port: value 'http'"), "{err}");
    assert!(
        err.contains("livy.server.session.timeout: value 'soon'"),
        "{err}"
    );
    let run = Command::new(server_binary())
        .env("LIVY_CONF_DIR", conf.path())
        .env("SPARK_HOME", spark.path())
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1));
}

#[test]
fn the_livy_server_script_starts_reports_and_stops() {
    let spark = fake_spark_home();
    let home = tempfile::tempdir().unwrap();
    let conf = home.path().join("conf");
    std::fs::create_dir_all(&conf).unwrap();
    std::fs::write(
        conf.join("livy.conf"),
        "livy.server.host = 127.0.0.1\nlivy.server.port = 0\n",
    )
    .unwrap();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bin/livy-server");
    let run = |arg: &str| {
        Command::new(&script)
            .arg(arg)
            .env("LIVY_HOME", home.path())
            .env("LIVY_RS_BIN", server_binary())
            .env("LIVY_PID_DIR", home.path().join("pids"))
            .env("LIVY_LOG_DIR", home.path().join("logs"))
            .env("LIVY_IDENT_STRING", "test")
            .env("SPARK_HOME", spark.path())
            .output()
            .unwrap()
    };
    let out = run("status");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("is not running"));
    let out = run("start");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let pid_file = home.path().join("pids/livy-test-server.pid");
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    let out = run("status");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!("running (pid: {})", pid.trim()))
    );
    let out = run("start");
    assert!(!out.status.success(), "a second start must refuse");
    let out = run("stop");
    assert!(out.status.success());
    assert!(!pid_file.exists());
    assert!(!std::path::Path::new(&format!("/proc/{}", pid.trim())).exists());
    let log = std::fs::read_to_string(home.path().join("logs/livy-test-server.out")).unwrap();
    assert!(log.contains("livy-rs stopped"), "{log}");
}
