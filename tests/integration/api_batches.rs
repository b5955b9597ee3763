//! The /batches REST contract, driven in-process through the router. A stand-in spark-submit
//! (see common::fake_spark_home) makes these tests about livy-rs itself: request checking,
//! Livy's responses and error shapes, states, logs and process handling. Real Spark runs in
//! tests/clients.

use super::common;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use common::{process_with_cmdline, wait_for};
use http_body_util::BodyExt;
use livy_rs::api::{router, AppState};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tower::ServiceExt;

struct Harness {
    app: Router,
    state: AppState,
    _spark: tempfile::TempDir,
    files: tempfile::TempDir,
}

fn harness(extra: &[(&str, &str)], blacklist: &[&str]) -> Harness {
    let common::InProcessConf { conf, spark, files } = common::in_process_conf(extra, blacklist);
    let state = AppState::new(std::sync::Arc::new(conf)).unwrap();
    Harness {
        app: router(state.clone(), None),
        state,
        _spark: spark,
        files,
    }
}

impl Harness {
    fn path(&self, name: &str) -> String {
        let p = self.files.path().join(name);
        std::fs::write(&p, "print('hi')\n").unwrap();
        p.display().to_string()
    }

    async fn call(
        &self,
        method: Method,
        uri: &str,
        body: Option<&str>,
    ) -> (StatusCode, Value, Option<String>) {
        self.call_with(method, uri, body, &[]).await
    }

    async fn call_with(
        &self,
        method: Method,
        uri: &str,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> (StatusCode, Value, Option<String>) {
        let mut req = Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req
            .header(header::CONTENT_TYPE, "application/json")
            .body(
                body.map(|b| Body::from(b.to_string()))
                    .unwrap_or_else(Body::empty),
            )
            .unwrap();
        let resp = self.app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let location = resp
            .headers()
            .get(header::LOCATION)
            .map(|v| v.to_str().unwrap().to_string());
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let value = serde_json::from_slice(&bytes)
            .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into()));
        (status, value, location)
    }

    async fn create(&self, body: Value) -> Value {
        let (status, v, _) = self
            .call(Method::POST, "/batches", Some(&body.to_string()))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{v}");
        v
    }

    async fn wait_state(&self, id: u64, want: &str) -> Value {
        wait_for(
            Duration::from_secs(20),
            &format!("batch {id} to be {want}"),
            || async {
                let (_, v, _) = self
                    .call(Method::GET, &format!("/batches/{id}"), None)
                    .await;
                (v["state"] == want).then_some(v)
            },
        )
        .await
    }

    async fn total(&self) -> u64 {
        self.call(Method::GET, "/batches", None).await.1["total"]
            .as_u64()
            .unwrap()
    }
}

#[tokio::test]
async fn a_batch_runs_to_success_with_livys_view_and_log() {
    let h = harness(&[], &[]);
    let file = h.path("job.py");
    let body = json!({"file": file, "args": ["a b", "2"], "name": "etl", "driverMemory": "1g",
                      "numExecutors": "2", "conf": {"spark.x": 1}});
    let (status, v, location) = h
        .call(Method::POST, "/batches", Some(&body.to_string()))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert_eq!(location.as_deref(), Some("/batches/0"));
    assert_eq!(v["id"], 0);
    assert_eq!(v["name"], "etl");
    assert_eq!(v["owner"], Value::Null);
    assert_eq!(v["proxyUser"], Value::Null);
    assert_eq!(v["appId"], Value::Null);
    assert_eq!(
        v["appInfo"],
        json!({"driverLogUrl": null, "sparkUiUrl": null, "executorLogUrls": null})
    );
    assert!(v["log"].is_array());

    let done = h.wait_state(0, "success").await;
    let log: Vec<String> = serde_json::from_value(done["log"].clone()).unwrap();
    assert!(log.len() <= 10);
    let (_, state, _) = h.call(Method::GET, "/batches/etl/state", None).await;
    assert_eq!(state, json!({"id": 0, "state": "success"}));

    let (_, full, _) = h.call(Method::GET, "/batches/0/log", None).await;
    let lines: Vec<String> = serde_json::from_value(full["log"].clone()).unwrap();
    assert_eq!(lines[0], "stdout: ");
    let cmd = &lines[1];
    for part in [
        "--name etl",
        "--conf spark.driver.memory=1g",
        "--conf spark.executor.instances=2",
        "--conf spark.master=local",
        "--conf spark.x=1",
        &format!("file://{file} a b 2"),
    ] {
        assert!(cmd.contains(part), "{part:?} missing from {cmd}");
    }
    assert!(lines.contains(&"\nstderr: ".to_string()));
    assert!(lines.contains(&"to stderr".to_string()));
    assert_eq!(full["total"], lines.len());
    assert_eq!(full["from"], 0);

    let (_, page, _) = h
        .call(Method::GET, "/batches/0/log?from=1&size=1", None)
        .await;
    assert_eq!(page["from"], 1);
    assert_eq!(page["log"].as_array().unwrap().len(), 1);
    let (_, last, _) = h.call(Method::GET, "/batches/0/log?size=2", None).await;
    assert_eq!(last["from"], lines.len() - 2);
}

#[tokio::test]
async fn a_failing_batch_is_dead_and_says_why() {
    let h = harness(&[], &[]);
    let v = h.create(json!({"file": h.path("fail.py")})).await;
    let id = v["id"].as_u64().unwrap();
    let dead = h.wait_state(id, "dead").await;
    let log = dead["log"].to_string();
    assert!(log.contains("failing on purpose"), "{log}");
    assert!(log.contains("spark-submit exited with code 3"), "{log}");
}

#[tokio::test]
async fn delete_kills_the_process_tree_and_forgets_the_batch() {
    let h = harness(&[], &[]);
    let file = h.path("sleep-delete-me.py");
    let v = h.create(json!({"file": file})).await;
    let id = v["id"].as_u64().unwrap();
    h.wait_state(id, "running").await;
    // The stand-in starts a grandchild ("sleep 300"); wait until it is up.
    wait_for(Duration::from_secs(10), "the grandchild", || async {
        let (_, log, _) = h
            .call(Method::GET, &format!("/batches/{id}/log"), None)
            .await;
        log["log"].to_string().contains("child ").then_some(())
    })
    .await;
    assert!(!process_with_cmdline(&file).is_empty());
    let (status, v, _) = h
        .call(Method::DELETE, &format!("/batches/{id}"), None)
        .await;
    assert_eq!((status, v), (StatusCode::OK, json!({"msg": "deleted"})));
    let (status, v, _) = h.call(Method::GET, &format!("/batches/{id}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(v, json!({"msg": format!("Session '{id}' not found.")}));
    wait_for(
        Duration::from_secs(10),
        "the process tree to be gone",
        || async { process_with_cmdline(&file).is_empty().then_some(()) },
    )
    .await;
    assert_eq!(h.state.launcher.live_processes(), 0);
}

#[tokio::test]
async fn bad_requests_get_livys_errors_and_change_nothing() {
    let h = harness(&[], &["spark.driver.extraClassPath", "spark.yarn.jars"]);
    let ok = h.path("ok.py");
    let cases: Vec<(String, &str)> = vec![
        ("{\"file\": ".into(), "Invalid request body"),
        ("".into(), "Request body is empty"),
        ("[1]".into(), "expected a JSON object"),
        (json!({"file": ok, "bogus": 1}).to_string(), "unknown field `bogus`"),
        (json!({"file": ok, "numExecutors": "abc"}).to_string(), "expected an integer"),
        (json!({"file": ok, "args": "x"}).to_string(), "expected a list of strings"),
        (json!({"file": ok, "conf": []}).to_string(), "expected an object"),
        (json!({"args": []}).to_string(), "Rejected, Reason: requirement failed: File is required."),
        (
            json!({"file": ok, "conf": {"spark.yarn.jars": "x", "spark.driver.extraClassPath": "y"}}).to_string(),
            "Rejected, Reason: Blacklisted configuration values in session config: spark.driver.extraClassPath, spark.yarn.jars",
        ),
        (
            json!({"file": ok, "conf": {"spark.submit.deployMode": "cluster"}}).to_string(),
            "Blacklisted configuration values in session config: spark.submit.deployMode",
        ),
        (
            json!({"file": "/etc/passwd"}).to_string(),
            "Rejected, Reason: requirement failed: Local path /etc/passwd cannot be added to user sessions.",
        ),
        (
            json!({"file": ok, "jars": ["file:///etc/x.jar"]}).to_string(),
            "Local path /etc/x.jar cannot be added to user sessions.",
        ),
        (json!({"file": "job.py"}).to_string(), "Path 'job.py' is not absolute."),
        // The server's own keytab, shipped to the user's application: refused like any local file.
        (
            json!({"file": ok, "conf": {"spark.kerberos.principal": "livy/edge@R", "spark.kerberos.keytab": "/etc/security/keytabs/livy.keytab"}}).to_string(),
            "Local path /etc/security/keytabs/livy.keytab cannot be added to user sessions.",
        ),
        (
            json!({"file": ok, "conf": {"spark.yarn.keytab": "file:///etc/livy.keytab"}}).to_string(),
            "Local path /etc/livy.keytab cannot be added to user sessions.",
        ),
        (json!({"file": ok, "name": "1234"}).to_string(), "Rejected, Reason: Invalid session name: 1234"),
    ];
    for (body, want) in cases {
        let (status, v, _) = h.call(Method::POST, "/batches", Some(&body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {v}");
        let msg = v["msg"].as_str().unwrap_or_else(|| panic!("no msg in {v}"));
        assert!(msg.contains(want), "{body}: {msg:?} lacks {want:?}");
        assert_eq!(v.as_object().unwrap().len(), 1, "{v}");
    }
    assert_eq!(h.total().await, 0);
    assert_eq!(
        h.state.batches.registry().next_id(),
        0,
        "a rejected request consumed an id"
    );

    h.create(json!({"file": ok, "name": "nightly"})).await;
    let (status, v, _) = h
        .call(
            Method::POST,
            "/batches",
            Some(&json!({"file": ok, "name": "nightly"}).to_string()),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        v["msg"],
        "Rejected, Reason: Duplicate session name: nightly"
    );
    assert_eq!(h.total().await, 1);
    let (status, v, _) = h.call(Method::GET, "/batches/nightly", None).await;
    assert_eq!((status, v["id"].clone()), (StatusCode::OK, json!(0)));
}

/// Issue #9 item 1–2: what would reach spark-submit's command line in another shape than the
/// checks saw it is refused with a 400 naming the field, and nothing is created.
#[tokio::test]
async fn conf_and_field_bypasses_are_refused_before_spark_submit() {
    let h = harness(&[], &["spark.driver.extraJavaOptions", "spark.files"]);
    let ok = h.path("ok.py");
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret"), "s").unwrap();
    let link = h.files.path().join("link.py");
    std::os::unix::fs::symlink(outside.path().join("secret"), &link).unwrap();
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"file": ok, "conf": {"spark.driver.extraJavaOptions=-Dx=1 -Dy": "z"}}),
            "Invalid configuration key",
        ),
        (
            json!({"file": ok, "conf": {"spark.files=file:///etc/shadow#k": "x"}}),
            "Invalid configuration key",
        ),
        (
            json!({"file": ok, "conf": {" spark.files": "x"}}),
            "Invalid configuration key",
        ),
        (
            json!({"file": ok, "conf": {"spark.a\tb": "x"}}),
            "Invalid configuration key",
        ),
        (
            json!({"file": ok, "conf": {"": "x"}}),
            "Invalid configuration key",
        ),
        (
            json!({"file": ok, "conf": {"spark.app.x": "a\nb"}}),
            "line breaks",
        ),
        (
            json!({"file": ok, "driverMemory": "abc"}),
            "Invalid driverMemory",
        ),
        (
            json!({"file": ok, "driverMemory": "-1g"}),
            "Invalid driverMemory",
        ),
        (
            json!({"file": ok, "executorMemory": "99999999999999t"}),
            "Invalid executorMemory",
        ),
        (
            json!({"file": ok, "executorMemory": "1g --conf x=y"}),
            "Invalid executorMemory",
        ),
        (
            json!({"file": ok, "numExecutors": -1}),
            "Invalid numExecutors",
        ),
        (
            json!({"file": ok, "driverCores": -2}),
            "Invalid driverCores",
        ),
        (
            json!({"file": ok, "executorCores": 0}),
            "Invalid executorCores",
        ),
        (
            json!({"file": ok, "conf": {"spark.executor.instances": "99999999999"}}),
            "spark.executor.instances",
        ),
        (json!({"file": ok, "className": ""}), "Invalid className"),
        (json!({"file": ok, "queue": ""}), "Invalid queue"),
        (json!({"file": ok, "name": "x\u{1b}[2J"}), "Invalid name"),
        (
            json!({"file": ok, "jars": [format!("{ok},/etc/passwd")]}),
            "/etc/passwd cannot be added",
        ),
        (
            json!({"file": link.display().to_string()}),
            "cannot be added to user sessions",
        ),
        (
            json!({"file": ok, "jars": ["local:/etc/passwd"]}),
            "/etc/passwd cannot be added",
        ),
    ];
    for (body, want) in cases {
        let body = body.to_string();
        let (status, v, _) = h.call(Method::POST, "/batches", Some(&body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {v}");
        let msg = v["msg"].as_str().unwrap_or_else(|| panic!("no msg in {v}"));
        assert!(msg.contains(want), "{body}: {msg:?} lacks {want:?}");
    }
    assert_eq!(h.total().await, 0);
    assert_eq!(h.state.batches.registry().next_id(), 0);
    // What is legitimate still works: spaces and '=' inside a value, sizes, zero executors.
    h.create(
        json!({"file": ok, "driverMemory": "512m", "numExecutors": 0,
        "conf": {"spark.executor.extraJavaOptions": "-Da=1 -Db=2"}}),
    )
    .await;
    assert_eq!(h.total().await, 1);
}

#[tokio::test]
async fn unknown_things_and_versions() {
    let h = harness(&[], &[]);
    // axum's own rejections (here: a path that is not UTF-8) come in Livy's shape too.
    for path in [
        "/batches/%ff%fe",
        "/batches/%ff%fe/log",
        "/sessions/%c3%28/statements",
    ] {
        let (status, v, _) = h.call(Method::GET, path, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {v}");
        assert!(
            v["msg"].as_str().is_some_and(|m| !m.is_empty()),
            "{path}: {v}"
        );
        assert_eq!(v.as_object().map(|o| o.len()), Some(1), "{path}: {v}");
    }
    let (status, v, _) = h.call(Method::GET, "/batches/7", None).await;
    assert_eq!(
        (status, v),
        (
            StatusCode::NOT_FOUND,
            json!({"msg": "Session '7' not found."})
        )
    );
    let (status, v, _) = h.call(Method::GET, "/batches/nope/log", None).await;
    assert_eq!(
        (status, v),
        (
            StatusCode::NOT_FOUND,
            json!({"msg": "Session 'nope' not found."})
        )
    );
    let (status, v, _) = h
        .call(Method::DELETE, "/batches/99999999999999999999", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{v}");
    let (status, v, _) = h.call(Method::GET, "/nowhere", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(v["msg"].as_str().unwrap().contains("/nowhere"));
    let (status, v, _) = h.call(Method::PUT, "/batches", None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(v["msg"].is_string());
    let (status, v, _) = h
        .call_with(
            Method::GET,
            "/batches",
            None,
            &[("accept", "application/vnd.livy.v0.2+json")],
        )
        .await;
    assert_eq!(status, StatusCode::NOT_ACCEPTABLE);
    assert!(v["msg"].as_str().unwrap().contains("0.2"));
    let (status, _, _) = h
        .call_with(
            Method::GET,
            "/batches",
            None,
            &[("accept", "application/vnd.livy.v0.1+json")],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, v, _) = h.call(Method::GET, "/batches?from=x", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(v["msg"].as_str().unwrap().contains("'from'"));
    let (status, v, _) = h.call(Method::GET, "/version", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(v["version"].as_str().unwrap().starts_with("0.9"));
}

#[tokio::test]
async fn listing_pages_like_livy() {
    let h = harness(&[], &[]);
    let ok = h.path("ok.py");
    for i in 0..5 {
        h.create(json!({"file": ok, "name": format!("b{i}")})).await;
    }
    let (_, v, _) = h.call(Method::GET, "/batches", None).await;
    assert_eq!(
        (v["from"].clone(), v["total"].clone()),
        (json!(0), json!(5))
    );
    assert_eq!(v["sessions"].as_array().unwrap().len(), 5);
    let (_, v, _) = h.call(Method::GET, "/batches?from=3&size=10", None).await;
    let ids: Vec<u64> = v["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_u64().unwrap())
        .collect();
    assert_eq!((v["from"].clone(), ids), (json!(3), vec![3, 4]));
    let (_, v, _) = h.call(Method::GET, "/batches/?size=1", None).await;
    assert_eq!(v["sessions"].as_array().unwrap().len(), 1);
    // The web UI's list holds every batch (its pages are tests/integration/ui.rs's and tests/ui/'s).
    let (_, ui, _) = h.call(Method::GET, "/ui/api/batches", None).await;
    let names: Vec<&str> = ui["batches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap_or_default())
        .collect();
    assert!(names.len() == 5 && names.contains(&"b4"), "{ui}");
}

#[tokio::test]
async fn max_creation_counts_running_spark_submits() {
    let h = harness(&[("livy.server.session.max-creation", "1")], &[]);
    let first = h.create(json!({"file": h.path("sleep-max.py")})).await;
    let (status, v, _) = h
        .call(
            Method::POST,
            "/batches",
            Some(&json!({"file": h.path("ok.py")}).to_string()),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        v,
        json!({"msg": "Rejected, too many sessions are being created!"})
    );
    h.call(Method::DELETE, &format!("/batches/{}", first["id"]), None)
        .await;
    h.create(json!({"file": h.path("ok.py")})).await;
}

#[tokio::test]
async fn finished_batches_are_forgotten_after_state_retain() {
    let h = harness(&[("livy.server.session.state-retain.sec", "1s")], &[]);
    let v = h.create(json!({"file": h.path("ok.py")})).await;
    let running = h.create(json!({"file": h.path("sleep-retain.py")})).await;
    h.wait_state(v["id"].as_u64().unwrap(), "success").await;
    h.state.batches.collect_garbage(Instant::now());
    assert_eq!(h.total().await, 2, "dropped before its retain time");
    h.state
        .batches
        .collect_garbage(Instant::now() + Duration::from_secs(5));
    let (_, list, _) = h.call(Method::GET, "/batches", None).await;
    assert_eq!(list["total"], 1);
    assert_eq!(list["sessions"][0]["id"], running["id"]);
    h.call(Method::DELETE, &format!("/batches/{}", running["id"]), None)
        .await;
}

#[tokio::test]
async fn a_missing_spark_submit_makes_a_dead_batch_that_says_why() {
    let h = harness(&[], &[]);
    std::fs::remove_file(h._spark.path().join("bin/spark-submit")).unwrap();
    let v = h.create(json!({"file": h.path("ok.py")})).await;
    assert_eq!(v["state"], "dead");
    assert!(v["log"].to_string().contains("could not start"), "{v}");
}
