//! The YARN RM + WebHDFS emulator (tests/yarn/rm_emulator.py, see tests/yarn/EMULATOR.md) as a
//! child process of a Rust test: started on ephemeral ports with its own state dir, driven through
//! its `/emulator/...` control API, stopped with SIGTERM when dropped.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Emulator {
    child: Child,
    /// The JSON line it printed when ready (`rm`, `webhdfs`, `node`, `hadoop_conf_dir`, ...).
    pub info: Value,
    pub state_dir: tempfile::TempDir,
    http: reqwest::Client,
}

impl Emulator {
    /// Starts `rm_emulator.py --port 0 --state-dir <tmp> <args>` and waits for its ready line.
    pub fn start(args: &[&str]) -> Emulator {
        let state_dir = tempfile::tempdir().unwrap();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/yarn/rm_emulator.py");
        let mut child = Command::new("python3")
            .arg(script)
            .args(["--port", "0", "--state-dir"])
            .arg(state_dir.path())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs the emulator");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                panic!("the emulator did not print its ready line within 30 s");
            }
        };
        let info: Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("bad ready line {line:?}: {e}"));
        Emulator {
            child,
            info,
            state_dir,
            http: reqwest::Client::new(),
        }
    }

    /// `http://host:port` of an RM id (`rm1` without HA).
    pub fn rm_url(&self, rm_id: &str) -> String {
        format!("http://{}", self.info["rm"][rm_id].as_str().unwrap())
    }

    pub fn webhdfs_url(&self) -> String {
        self.info["webhdfs_url"].as_str().unwrap().to_string()
    }

    pub fn hadoop_conf_dir(&self) -> std::path::PathBuf {
        self.info["hadoop_conf_dir"].as_str().unwrap().into()
    }

    /// Calls the control API on the worker-node port, which no test faults or refuses.
    pub async fn control(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("http://{}{path}", self.info["node"].as_str().unwrap());
        let mut req = self.http.request(method, &url);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap_or_else(|e| panic!("{url}: {e}"));
        let status = resp.status();
        let text = resp.text().await.unwrap();
        assert!(status.is_success(), "{url}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// Registers an app as if submitted (`POST /emulator/apps`); returns its id.
    pub async fn register_app(&self, spec: Value) -> String {
        let rec = self
            .control(reqwest::Method::POST, "/emulator/apps", Some(spec))
            .await;
        rec["id"].as_str().unwrap().to_string()
    }

    pub async fn set_app_state(&self, app_id: &str, state: &str) {
        let path = format!("/emulator/apps/{app_id}/state");
        self.control(
            reqwest::Method::POST,
            &path,
            Some(json!({ "state": state })),
        )
        .await;
    }

    /// Requests served by `server` (`rm1`, `rm2`, `webhdfs`, `node`), by method and path.
    pub async fn counters(&self, server: &str) -> serde_json::Map<String, Value> {
        let path = format!("/emulator/counters?server={server}");
        match self.control(reqwest::Method::GET, &path, None).await {
            Value::Object(m) => m,
            other => panic!("counters: {other}"),
        }
    }

    /// All requests `server` served.
    pub async fn total_requests(&self, server: &str) -> u64 {
        self.counters(server)
            .await
            .values()
            .filter_map(Value::as_u64)
            .sum()
    }

    pub async fn reset_counters(&self) {
        self.control(reqwest::Method::POST, "/emulator/counters/reset", None)
            .await;
    }

    /// The request log of `server` (`user.name`, `doAs`, method, path, status, ...).
    pub async fn requests(&self, server: &str) -> Vec<Value> {
        let path = format!("/emulator/requests?server={server}");
        match self.control(reqwest::Method::GET, &path, None).await {
            Value::Array(v) => v,
            Value::Object(m) => m
                .get("requests")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
            other => panic!("requests: {other}"),
        }
    }

    pub async fn add_fault(&self, fault: Value) {
        self.control(reqwest::Method::POST, "/emulator/faults", Some(fault))
            .await;
    }

    pub async fn clear_faults(&self) {
        self.control(reqwest::Method::DELETE, "/emulator/faults", None)
            .await;
    }

    /// Makes `rm` the active RM (`None`: no active RM).
    pub async fn set_active(&self, rm: Option<&str>) {
        self.control(
            reqwest::Method::POST,
            "/emulator/active",
            Some(json!({ "rm": rm })),
        )
        .await;
    }

    pub async fn settings(&self, settings: Value) {
        self.control(reqwest::Method::POST, "/emulator/settings", Some(settings))
            .await;
    }
}

impl Drop for Emulator {
    /// SIGTERM (the emulator exits 0 and saves its state), SIGKILL if it lingers.
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
