//! Helpers shared by the Rust integration tests.
#![allow(dead_code)]

pub mod emulator;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// livy.conf for a server built in process: a stand-in `SPARK_HOME`, a temp dir as the one local
/// directory requests may name, a 5 s kill timeout, then `extra` (which may override those).
/// The dirs live as long as the value.
pub struct InProcessConf {
    pub conf: livy_rs::conf::LivyConf,
    pub spark: tempfile::TempDir,
    pub files: tempfile::TempDir,
}

pub fn in_process_conf(extra: &[(&str, &str)], blacklist: &[&str]) -> InProcessConf {
    let spark = fake_spark_home();
    let files = tempfile::tempdir().unwrap();
    let mut raw = std::collections::BTreeMap::new();
    raw.insert(
        "livy.file.local-dir-whitelist".to_string(),
        files.path().display().to_string(),
    );
    raw.insert("livy.server.process.kill-timeout".into(), "5s".into());
    for (k, v) in extra {
        raw.insert(k.to_string(), v.to_string());
    }
    let env = livy_rs::conf::Env {
        spark_home: Some(spark.path().to_path_buf()),
        ..Default::default()
    };
    let blacklist = blacklist.iter().map(|s| s.to_string()).collect();
    let conf = livy_rs::conf::LivyConf::from_map(raw, blacklist, &env)
        .unwrap()
        .conf;
    InProcessConf { conf, spark, files }
}

/// A stand-in Spark installation for tests of the REST contract and process handling (no Spark
/// needed): `bin/spark-submit` prints its arguments, then behaves by the primary resource's name:
/// `*fail*` exits 3, `*sleep*` runs until killed (with a grandchild, to check tree kills),
/// anything else exits 0. Tests that need Spark itself use the real pyspark (tests/clients).
pub fn fake_spark_home() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("bin")).unwrap();
    let script = dir.path().join("bin/spark-submit");
    std::fs::write(
        &script,
        r#"#!/bin/sh
echo "fake-spark-submit $*"
echo "to stderr" >&2
for last; do :; done
for a; do case "$a" in *.py|*.jar) res="$a";; esac; done
case "$res" in
  *fail*) echo "failing on purpose" >&2; exit 3 ;;
  *sleep*) sleep 300 & echo "child $!"; wait ;;
esac
exit 0
"#,
    )
    .unwrap();
    set_executable(&script);
    dir
}

pub fn set_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Polls `f` until it returns `Some`, failing the test with `what` after `timeout`.
pub async fn wait_for<T, F, Fut>(timeout: Duration, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Whether any process's command line contains `needle`.
pub fn process_with_cmdline(needle: &str) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if let Ok(cmd) = std::fs::read(format!("/proc/{pid}/cmdline")) {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let zombie = stat
                .rfind(')')
                .map(|i| stat[i + 1..].trim_start().starts_with('Z'))
                .unwrap_or(true);
            if !zombie && String::from_utf8_lossy(&cmd).contains(needle) {
                found.push(pid);
            }
        }
    }
    found
}

/// The livy-server binary under test.
pub fn server_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_livy-server"))
}

/// A livy-server process started on a free port with its own conf, log and pid dirs.
pub struct ServerProcess {
    pub child: Child,
    pub url: String,
    pub dirs: tempfile::TempDir,
}

impl ServerProcess {
    pub fn start(spark_home: &Path, livy_conf: &str) -> ServerProcess {
        let dirs = tempfile::tempdir().unwrap();
        let conf_dir = dirs.path().join("conf");
        std::fs::create_dir_all(&conf_dir).unwrap();
        std::fs::write(
            conf_dir.join("livy.conf"),
            format!("livy.server.host = 127.0.0.1\nlivy.server.port = 0\n{livy_conf}\n"),
        )
        .unwrap();
        let mut child = Command::new(server_binary())
            .arg("run")
            .env("LIVY_CONF_DIR", &conf_dir)
            .env("LIVY_LOG_DIR", dirs.path().join("logs"))
            .env("SPARK_HOME", spark_home)
            .env_remove("SPARK_CONF_DIR")
            .env_remove("HADOOP_CONF_DIR")
            .env("LIVY_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if !sent && line.contains("livy-rs listening") {
                    if let Some(addr) = line
                        .split_whitespace()
                        .find_map(|w| w.strip_prefix("address="))
                    {
                        let _ = tx.send(addr.to_string());
                        sent = true;
                    }
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("server did not report its address");
        ServerProcess {
            child,
            url: format!("http://{addr}"),
            dirs,
        }
    }

    /// Sends SIGTERM and waits for the exit code.
    pub fn terminate(&mut self, timeout: Duration) -> Option<i32> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends one request through an in-process router and reads its answer: the status and the
/// body as JSON (or as a JSON string when it is not JSON).
pub async fn answer(
    app: &axum::Router,
    req: axum::http::Request<axum::body::Body>,
) -> (axum::http::StatusCode, serde_json::Value) {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let value = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::String(
        String::from_utf8_lossy(&bytes).into(),
    ));
    (status, value)
}
