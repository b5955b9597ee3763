//! The YARN REST client library (`livy_rs::yarn`) against the RM + WebHDFS emulator
//! (tests/yarn/rm_emulator.py): one emulator per test on ephemeral ports; the emulator's request
//! counters show how many requests each call made and to which RM.

use super::common;

use common::emulator::Emulator;
use futures::future::BoxFuture;
use livy_rs::conf::hadoop::HadoopConf;
use livy_rs::yarn::{
    queue_headroom, split_by_url_length, AppState, AppsQuery, Caller, Content, CreateOptions,
    Endpoint, FinalStatus, RequestAuth, Resources, RmClient, WebHdfs, YarnConf, YarnError,
    MAX_APPS_URL_BYTES,
};
use reqwest::{Method, RequestBuilder, Url};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn rm_client(emu: &Emulator, ids: &[&str]) -> RmClient {
    let endpoints = ids
        .iter()
        .map(|id| Endpoint {
            id: Some(id.to_string()),
            url: emu.rm_url(id),
        })
        .collect();
    RmClient::builder(endpoints)
        .timeout(Duration::from_secs(10))
        .failover_backoff(Duration::from_millis(20))
        .build()
        .unwrap()
}

fn webhdfs(urls: &[(&str, String)]) -> WebHdfs {
    let endpoints = urls
        .iter()
        .map(|(id, url)| Endpoint {
            id: Some(id.to_string()),
            url: url.clone(),
        })
        .collect();
    WebHdfs::builder(endpoints)
        .timeout(Duration::from_secs(10))
        .failover_backoff(Duration::from_millis(20))
        .build()
        .unwrap()
}

fn sorted_ids(apps: &[livy_rs::yarn::AppReport]) -> Vec<String> {
    let mut ids: Vec<String> = apps.iter().map(|a| a.id.clone()).collect();
    ids.sort();
    ids
}

/// Requests `server` served whose counter key (`METHOD path[?op=OP]`) matches.
/// Requests each RM of the pair got since the counters were reset: (rm1, rm2).
async fn rm_requests(emu: &Emulator) -> (u64, u64) {
    (
        emu.total_requests("rm1").await,
        emu.total_requests("rm2").await,
    )
}

async fn count(emu: &Emulator, server: &str, matches: impl Fn(&str) -> bool) -> u64 {
    emu.counters(server)
        .await
        .iter()
        .filter(|(k, _)| matches(k))
        .filter_map(|(_, v)| v.as_u64())
        .sum()
}

#[tokio::test]
async fn apps_with_several_tags_is_one_request() {
    let emu = Emulator::start(&[]);
    let a = emu
        .register_app(json!({"name": "a", "tags": ["livy-batch-1-aaa"]}))
        .await;
    let b = emu
        .register_app(json!({"name": "b", "tags": "livy-batch-2-bbb,other"}))
        .await;
    let c = emu
        .register_app(json!({"name": "c", "tags": ["livy-session-3-ccc"], "state": "RUNNING"}))
        .await;
    emu.register_app(json!({"name": "d", "tags": ["unrelated"]}))
        .await;
    let rm = rm_client(&emu, &["rm1"]);

    emu.reset_counters().await;
    let q = AppsQuery {
        application_tags: [
            "livy-batch-1-aaa",
            "LIVY-BATCH-2-BBB",
            "livy-session-3-ccc",
            "livy-gone",
        ]
        .map(String::from)
        .to_vec(),
        ..Default::default()
    };
    let apps = rm.apps(&q, Caller::NONE).await.unwrap();
    let mut expected = vec![a.clone(), b, c.clone()];
    expected.sort();
    assert_eq!(sorted_ids(&apps), expected);
    let counters = emu.counters("rm1").await;
    assert_eq!(
        Value::Object(counters),
        json!({"GET /ws/v1/cluster/apps": 1})
    );

    let running = AppsQuery {
        states: vec![AppState::Running],
        application_types: vec!["spark".into()],
        ..q.clone()
    };
    assert_eq!(
        sorted_ids(&rm.apps(&running, Caller::NONE).await.unwrap()),
        [c]
    );

    // `{"apps": null}` is an empty list, not an error.
    let nothing = AppsQuery {
        application_tags: vec!["no-such-tag".into()],
        ..Default::default()
    };
    assert!(rm.apps(&nothing, Caller::NONE).await.unwrap().is_empty());

    // The splitting helper makes one request for a normal tag list...
    emu.reset_counters().await;
    assert_eq!(rm.apps_by_tags(&q, Caller::NONE).await.unwrap().len(), 3);
    assert_eq!(emu.total_requests("rm1").await, 1);

    // ...and several, each under the URL limit, for a huge one; nothing is lost.
    let mut many: Vec<String> = (0..600)
        .map(|i| format!("livy-old-batch-{i:04}-0123456789"))
        .collect();
    many.insert(300, "livy-batch-1-aaa".into());
    let huge = AppsQuery {
        application_tags: many,
        ..Default::default()
    };
    let chunks = split_by_url_length(
        &huge,
        &Url::parse(&emu.rm_url("rm1")).unwrap(),
        MAX_APPS_URL_BYTES,
    );
    assert!(chunks.len() > 1);
    emu.reset_counters().await;
    assert_eq!(
        sorted_ids(&rm.apps_by_tags(&huge, Caller::NONE).await.unwrap()),
        [a]
    );
    assert_eq!(emu.total_requests("rm1").await, chunks.len() as u64);
}

#[tokio::test]
async fn app_report_attempts_and_typed_not_found() {
    let emu = Emulator::start(&[]);
    let rm = rm_client(&emu, &["rm1"]);
    let id = emu
        .register_app(
            json!({"name": "report", "queue": "small", "user": "bob", "tags": ["T1", "t2"]}),
        )
        .await;
    emu.set_app_state(&id, "RUNNING").await;

    let app = rm.app(&id, Caller::NONE).await.unwrap();
    assert_eq!(
        (app.state, app.final_status),
        (AppState::Running, FinalStatus::Undefined)
    );
    assert_eq!(
        (app.name.as_str(), app.queue.as_str(), app.user.as_str()),
        ("report", "small", "bob")
    );
    assert_eq!(app.application_tags, ["t1", "t2"], "YARN lower-cases tags");
    assert_eq!(app.application_type, "SPARK");
    assert!(app.started_time > 0 && app.finished_time == 0);
    assert!(app
        .am_container_logs
        .as_deref()
        .unwrap()
        .contains("/node/containerlogs/container_"));
    assert_eq!(
        rm.app_state(&id, Caller::NONE).await.unwrap(),
        AppState::Running
    );

    let attempts = rm.app_attempts(&id, Caller::NONE).await.unwrap();
    assert_eq!(attempts.len(), 1);
    let container = attempts[0].container_id.clone().unwrap();
    assert!(attempts[0]
        .logs_link
        .as_deref()
        .unwrap()
        .ends_with(&format!("{container}/bob")));

    let early = emu
        .register_app(json!({"name": "early", "state": "SUBMITTED"}))
        .await;
    assert!(rm
        .app_attempts(&early, Caller::NONE)
        .await
        .unwrap()
        .is_empty());

    let missing = format!("application_{}_9999", emu.info["cluster_timestamp"]);
    let err = rm.app(&missing, Caller::NONE).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert!(!err.is_retriable());
    let remote = err.remote().unwrap();
    assert_eq!(remote.exception, "NotFoundException");
    assert!(remote.message.contains(&missing), "{}", remote.message);

    let err = rm.app("../scheduler", Caller::NONE).await.unwrap_err();
    assert!(matches!(err, YarnError::Invalid(_)), "{err}");
}

#[tokio::test]
async fn kill_repeats_until_the_app_is_killed() {
    let emu = Emulator::start(&[]);
    let rm = rm_client(&emu, &["rm1"]);
    let id = emu
        .register_app(json!({"name": "victim", "state": "RUNNING"}))
        .await;
    emu.reset_counters().await;

    assert_eq!(
        rm.kill(&id, Caller::user("livy")).await.unwrap(),
        AppState::Killed
    );
    let puts = count(&emu, "rm1", |k| {
        k == format!("PUT /ws/v1/cluster/apps/{id}/state")
    })
    .await;
    assert!(
        puts >= 2,
        "first PUT is answered 202 while the kill is pending; got {puts}"
    );
    let app = rm.app(&id, Caller::NONE).await.unwrap();
    assert_eq!(
        (app.state, app.final_status),
        (AppState::Killed, FinalStatus::Killed)
    );

    // An app that already ended reports its own final state after one request.
    let done = emu
        .register_app(json!({"name": "done", "state": "RUNNING"}))
        .await;
    emu.set_app_state(&done, "FINISHED").await;
    emu.reset_counters().await;
    assert_eq!(
        rm.kill(&done, Caller::NONE).await.unwrap(),
        AppState::Finished
    );
    assert_eq!(emu.total_requests("rm1").await, 1);

    // A kill that never completes is reported, bounded by the kill timeout.
    emu.settings(json!({"kill_delay_ms": 60000})).await;
    let stuck = emu
        .register_app(json!({"name": "stuck", "state": "RUNNING"}))
        .await;
    let impatient = RmClient::builder(vec![Endpoint {
        id: None,
        url: emu.rm_url("rm1"),
    }])
    .kill_timeout(Duration::from_millis(400))
    .build()
    .unwrap();
    let err = impatient.kill(&stuck, Caller::NONE).await.unwrap_err();
    match &err {
        YarnError::KillNotConfirmed {
            last_state,
            attempts,
            ..
        } => {
            assert_eq!(last_state, "RUNNING");
            assert!(*attempts >= 2);
        }
        other => panic!("expected KillNotConfirmed, got {other}"),
    }
    assert!(err.is_retriable());
}

#[tokio::test]
async fn ha_standby_redirect_is_followed_and_the_active_remembered() {
    let emu = Emulator::start(&["--ha", "rm1,rm2"]);
    emu.set_active(Some("rm2")).await;
    let rm = rm_client(&emu, &["rm1", "rm2"]); // rm1, asked first, is a standby
    let id = emu.register_app(json!({"name": "ha"})).await;
    emu.reset_counters().await;

    let app_path = format!("GET /ws/v1/cluster/apps/{id}");
    assert_eq!(rm.app(&id, Caller::NONE).await.unwrap().id, id);
    assert_eq!(
        Value::Object(emu.counters("rm1").await),
        json!({ &app_path: 1 }),
        "one 307 from the standby"
    );
    assert_eq!(
        Value::Object(emu.counters("rm2").await),
        json!({ &app_path: 1 })
    );
    assert!(rm.current_rm().starts_with("rm2"), "{}", rm.current_rm());

    // The next calls go straight to the active RM: the standby sees nothing more.
    rm.app(&id, Caller::NONE).await.unwrap();
    rm.apps(&AppsQuery::default(), Caller::NONE).await.unwrap();
    assert_eq!(emu.total_requests("rm1").await, 1);
    assert_eq!(emu.total_requests("rm2").await, 3);

    // A clone shares what was learnt.
    let clone = rm.clone();
    clone.app(&id, Caller::NONE).await.unwrap();
    assert_eq!(emu.total_requests("rm1").await, 1);

    // Writes follow the redirect too (same method and body): rm1 is active again.
    emu.set_active(Some("rm1")).await;
    emu.reset_counters().await;
    assert_eq!(rm.kill(&id, Caller::NONE).await.unwrap(), AppState::Killed);
    assert_eq!(
        count(&emu, "rm2", |k| k.starts_with("PUT ")).await,
        1,
        "only the first PUT met the standby"
    );
    assert!(rm.current_rm().starts_with("rm1"));
}

#[tokio::test]
async fn ha_fails_over_when_the_active_is_refused_or_flipped() {
    let emu = Emulator::start(&["--ha", "rm1,rm2"]);
    let rm = rm_client(&emu, &["rm1", "rm2"]);
    let info = rm.cluster_info(Caller::NONE).await.unwrap();
    assert_eq!(info.ha_state.as_deref(), Some("ACTIVE"));
    assert!(rm.current_rm().starts_with("rm1"));

    // A real failover: rm2 takes over and rm1 stops answering.
    emu.set_active(Some("rm2")).await;
    emu.add_fault(json!({"target": "rm1", "mode": "refuse"}))
        .await;
    emu.reset_counters().await;
    rm.apps(&AppsQuery::default(), Caller::NONE).await.unwrap();
    assert!(rm.current_rm().starts_with("rm2"));
    assert_eq!(emu.total_requests("rm2").await, 1);

    // rm1 comes back as a standby: it is not asked.
    emu.clear_faults().await;
    emu.reset_counters().await;
    rm.apps(&AppsQuery::default(), Caller::NONE).await.unwrap();
    assert_eq!(rm_requests(&emu).await, (0, 1));

    // Flipped back: the remembered RM (now standby) redirects once, then rm1 is remembered.
    emu.set_active(Some("rm1")).await;
    emu.reset_counters().await;
    rm.apps(&AppsQuery::default(), Caller::NONE).await.unwrap();
    rm.apps(&AppsQuery::default(), Caller::NONE).await.unwrap();
    assert_eq!(rm_requests(&emu).await, (2, 1));

    // cluster_info looks past a standby's own answer (it is not redirected).
    emu.set_active(Some("rm2")).await;
    let info = rm.cluster_info(Caller::NONE).await.unwrap();
    assert_eq!(info.ha_state.as_deref(), Some("ACTIVE"));
    assert!(rm.current_rm().starts_with("rm2"));

    // No active RM: each standby answers 503; the attempts are bounded (2 rounds x 2 RMs).
    emu.set_active(None).await;
    emu.reset_counters().await;
    let err = rm
        .apps(&AppsQuery::default(), Caller::NONE)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, YarnError::NoActive { last, .. } if last.is_standby()),
        "{err}"
    );
    assert!(err.is_retriable());
    assert_eq!(
        emu.total_requests("rm1").await + emu.total_requests("rm2").await,
        4
    );

    // Nobody answers at all.
    emu.set_active(Some("rm1")).await;
    emu.add_fault(json!({"target": "rm", "mode": "refuse"}))
        .await;
    let err = rm
        .apps(&AppsQuery::default(), Caller::NONE)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, YarnError::NoActive { last, .. } if last.is_connection()),
        "{err}"
    );
    assert!(err.is_retriable());
    emu.clear_faults().await;
    rm.apps(&AppsQuery::default(), Caller::NONE).await.unwrap();
}

#[tokio::test]
async fn ha_refresh_header_of_old_standbys_is_followed() {
    let emu = Emulator::start(&["--ha", "rm1,rm2", "--ha-redirect-mode", "refresh"]);
    emu.set_active(Some("rm2")).await;
    let id = emu.register_app(json!({"name": "refresh"})).await;
    let rm = rm_client(&emu, &["rm1", "rm2"]);
    emu.reset_counters().await;

    assert_eq!(rm.app(&id, Caller::NONE).await.unwrap().id, id);
    assert_eq!(rm_requests(&emu).await, (1, 1));
    assert!(rm.current_rm().starts_with("rm2"));
    rm.app(&id, Caller::NONE).await.unwrap();
    assert_eq!(rm_requests(&emu).await, (1, 2));
}

#[tokio::test]
async fn garbage_html_and_error_pages_are_typed_errors() {
    let emu = Emulator::start(&[]);
    let rm = rm_client(&emu, &["rm1"]);
    let q = AppsQuery::default();

    emu.add_fault(json!({"target": "rm", "mode": "garbage", "count": 1}))
        .await;
    let err = rm.apps(&q, Caller::NONE).await.unwrap_err();
    assert!(
        matches!(err, YarnError::UnexpectedBody { status: 200, .. }),
        "{err}"
    );
    assert!(!err.is_retriable());

    emu.add_fault(json!({"target": "rm", "mode": "html", "count": 1}))
        .await;
    let err = rm.cluster_info(Caller::NONE).await.unwrap_err();
    match &err {
        YarnError::UnexpectedBody {
            reason,
            content_type,
            snippet,
            ..
        } => {
            assert!(reason.contains("HTML"), "{reason}");
            assert!(content_type.contains("text/html"), "{content_type}");
            assert!(snippet.contains("Sign in"), "{snippet}");
        }
        other => panic!("expected UnexpectedBody, got {other}"),
    }

    emu.add_fault(json!({"target": "rm", "mode": "status", "status": 500, "count": 1}))
        .await;
    let err = rm.apps(&q, Caller::NONE).await.unwrap_err();
    assert!(
        matches!(err, YarnError::Status { status: 500, .. }),
        "{err}"
    );
    assert!(err.is_retriable());

    emu.add_fault(json!({"target": "rm", "mode": "status", "status": 403, "count": 1}))
        .await;
    let err = rm.apps(&q, Caller::NONE).await.unwrap_err();
    assert_eq!(err.status(), Some(403));
    assert!(!err.is_retriable());

    emu.add_fault(json!({"target": "rm", "mode": "reset", "count": 1}))
        .await;
    let err = rm.apps(&q, Caller::NONE).await.unwrap_err();
    assert!(err.is_connection() && err.is_retriable(), "{err:?}");

    emu.add_fault(json!({"target": "rm", "mode": "latency", "latency_ms": 1500, "count": 1}))
        .await;
    let hasty = RmClient::builder(vec![Endpoint {
        id: None,
        url: emu.rm_url("rm1"),
    }])
    .timeout(Duration::from_millis(300))
    .build()
    .unwrap();
    let err = hasty.apps(&q, Caller::NONE).await.unwrap_err();
    assert!(matches!(err, YarnError::Timeout { .. }), "{err}");
    assert!(err.is_retriable());

    // Faults are used up; the RM answers normally again.
    rm.apps(&q, Caller::NONE).await.unwrap();
}

#[tokio::test]
async fn new_application_submit_and_caller_parameters() {
    let emu = Emulator::start(&[]);
    let rm = rm_client(&emu, &["rm1"]);
    let alice = Caller::user("alice");
    let new = rm.new_application(alice).await.unwrap();
    assert!(new.application_id.starts_with("application_"));
    assert_eq!(
        new.maximum_resource_capability,
        Resources {
            memory_mb: 8192,
            vcores: 8
        }
    );

    let context = json!({
        "application-id": new.application_id,
        "application-name": "rest-submitted",
        "queue": "default",
        "application-type": "SPARK",
        "application-tags": {"tag": ["livy-batch-9-xyz"]},
        "resource": {"memory": 1024, "vCores": 1},
        "am-container-spec": {"commands": {"command": "{{JAVA_HOME}}/bin/java -version"}},
    });
    let location = rm.submit(&context, alice).await.unwrap().unwrap();
    assert!(
        location.ends_with(&format!("/ws/v1/cluster/apps/{}", new.application_id)),
        "{location}"
    );
    let app = rm
        .app(&new.application_id, Caller::user("livy").do_as("alice"))
        .await
        .unwrap();
    assert_eq!(
        (app.state, app.user.as_str()),
        (AppState::Accepted, "alice")
    );
    assert_eq!(app.application_tags, ["livy-batch-9-xyz"]);

    let log = emu.requests("rm1").await;
    let last = log.last().unwrap();
    assert_eq!(
        (last["user.name"].as_str(), last["doAs"].as_str()),
        (Some("livy"), Some("alice"))
    );
    let submit = log
        .iter()
        .find(|r| r["method"] == "POST" && r["path"] == "/ws/v1/cluster/apps")
        .unwrap();
    assert_eq!(submit["user.name"], "alice");

    // An AM larger than the cluster's maximum is refused with a typed 400.
    let mut too_big = context.clone();
    too_big["application-id"] = json!(rm.new_application(alice).await.unwrap().application_id);
    too_big["resource"] = json!({"memory": 65536, "vCores": 1});
    let err = rm.submit(&too_big, alice).await.unwrap_err();
    assert_eq!(err.status(), Some(400));
    assert!(err
        .remote()
        .unwrap()
        .message
        .contains("InvalidResourceRequestException"));
    assert!(!err.is_retriable());
}

#[tokio::test]
async fn scheduler_gives_queue_headroom() {
    let emu = Emulator::start(&["--total-mb", "16384", "--total-vcores", "16"]);
    let rm = rm_client(&emu, &["rm1"]);
    emu.control(
        Method::POST,
        "/emulator/queues/small/usage",
        Some(json!({"memory": 1024, "vCores": 1, "containers": 1})),
    )
    .await;
    let total = rm.cluster_metrics(Caller::NONE).await.unwrap().total();
    assert_eq!(
        total,
        Resources {
            memory_mb: 16384,
            vcores: 16
        }
    );
    let sched = rm.scheduler(Caller::NONE).await.unwrap();
    assert_eq!(sched.scheduler_type, "capacityScheduler");
    // small: max 20% = 3276 MB / 3 vcores, 1024 MB / 1 vcore used.
    assert_eq!(
        queue_headroom(&sched, "small", total),
        Some(Resources {
            memory_mb: 2252,
            vcores: 2
        })
    );
    assert_eq!(
        queue_headroom(&sched, "root.default", total),
        Some(Resources {
            memory_mb: 15360,
            vcores: 15
        })
    );
    assert_eq!(queue_headroom(&sched, "nope", total), None);

    // A running app in default holds its AM's resources; that shrinks what default can get.
    emu.register_app(
        json!({"name": "big", "queue": "default", "state": "RUNNING", "memory": 4096, "vcores": 2}),
    )
    .await;
    let sched = rm.scheduler(Caller::NONE).await.unwrap();
    assert_eq!(
        queue_headroom(&sched, "default", total),
        Some(Resources {
            memory_mb: 11264,
            vcores: 13
        })
    );
    assert_eq!(
        queue_headroom(&sched, "small", total),
        Some(Resources {
            memory_mb: 2252,
            vcores: 2
        })
    );
}

#[tokio::test]
async fn webhdfs_create_streams_a_local_file() {
    let emu = Emulator::start(&[]);
    let fs = webhdfs(&[("nn1", emu.webhdfs_url())]);
    let alice = Caller::user("alice");
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("data.bin");
    // Several of the body's chunks, none alike, so a chunk lost or repeated shows.
    let data: Vec<u8> = (0..3 * 1024 * 1024 + 17)
        .map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&local, &data).unwrap();
    let file = "/user/alice/streamed.bin";
    fs.create(
        file,
        Content::File(&local),
        &CreateOptions::default(),
        alice,
    )
    .await
    .unwrap();
    assert_eq!(fs.open(file, alice).await.unwrap(), data);

    // A local file that is not there: a clear error, and nothing asked of the cluster.
    emu.reset_counters().await;
    let missing = dir.path().join("missing.bin");
    let err = fs
        .create(
            "/user/alice/m.bin",
            Content::File(&missing),
            &CreateOptions::default(),
            alice,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, YarnError::LocalFile { path, .. } if path.ends_with("missing.bin")),
        "{err}"
    );
    assert_eq!(count(&emu, "webhdfs", |k| k.contains("op=CREATE")).await, 0);
}

/// A request timeout bounds an answer, not an upload: a file slower to send than the timeout
/// (here 3 MiB to a DataNode reading 1.5 MiB/s, with a 1 s timeout) still arrives whole.
#[tokio::test]
async fn webhdfs_create_of_a_file_slower_than_the_timeout_arrives() {
    let emu = Emulator::start(&[]);
    emu.settings(json!({"body_read_bytes_per_sec": 1536 * 1024}))
        .await;
    let fs = WebHdfs::builder(vec![Endpoint {
        id: Some("nn1".into()),
        url: emu.webhdfs_url(),
    }])
    .timeout(Duration::from_secs(1))
    .failover_backoff(Duration::from_millis(20))
    .build()
    .unwrap();
    let alice = Caller::user("alice");
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("slow.bin");
    let data: Vec<u8> = (0..3 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&local, &data).unwrap();
    let file = "/user/alice/slow.bin";
    let started = std::time::Instant::now();
    fs.create(
        file,
        Content::File(&local),
        &CreateOptions::default(),
        alice,
    )
    .await
    .unwrap();
    // The DataNode's pace really made it outlast the timeout (else the test proves nothing).
    assert!(
        started.elapsed() > Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    emu.settings(json!({"body_read_bytes_per_sec": 0})).await;
    assert_eq!(fs.open(file, alice).await.unwrap(), data);
}

#[tokio::test]
async fn webhdfs_round_trip() {
    let emu = Emulator::start(&[]);
    let fs = webhdfs(&[("nn1", emu.webhdfs_url())]);
    let alice = Caller::user("alice");
    assert_eq!(fs.home_directory(alice).await.unwrap(), "/user/alice");

    let dir = "/user/alice/.sparkStaging/app 1";
    assert!(fs.mkdirs(dir, Some(0o700), alice).await.unwrap());
    let st = fs.status(dir, alice).await.unwrap();
    assert!(st.is_dir());
    assert_eq!(
        (st.permission.as_str(), st.owner.as_str()),
        ("700", "alice")
    );

    let file = format!("{dir}/job.py");
    emu.reset_counters().await;
    let mode = CreateOptions {
        permission: Some(0o640),
        ..Default::default()
    };
    fs.create(&file, b"print(1)\n".to_vec(), &mode, alice)
        .await
        .unwrap();
    assert_eq!(
        count(&emu, "webhdfs", |k| k.starts_with("PUT ")
            && k.ends_with("?op=CREATE"))
        .await,
        1
    );
    assert_eq!(
        count(&emu, "node", |k| k.starts_with("PUT ")
            && k.ends_with("?op=CREATE"))
        .await,
        1
    );
    let st = fs.status(&file, alice).await.unwrap();
    assert_eq!(
        (st.length, st.permission.as_str(), st.owner.as_str()),
        (9, "640", "alice")
    );
    assert!(st.modification_time > 0);

    let err = fs
        .create(&file, b"again".to_vec(), &CreateOptions::default(), alice)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(403));
    assert_eq!(
        err.remote().unwrap().exception,
        "FileAlreadyExistsException"
    );
    assert!(!err.is_retriable());
    let overwrite = CreateOptions {
        overwrite: true,
        ..Default::default()
    };
    fs.create(&file, b"print(2)\n".to_vec(), &overwrite, alice)
        .await
        .unwrap();
    assert_eq!(fs.open(&file, alice).await.unwrap(), b"print(2)\n");

    let entries = fs.list(dir, alice).await.unwrap();
    assert_eq!(
        entries
            .iter()
            .map(|e| e.path_suffix.as_str())
            .collect::<Vec<_>>(),
        ["job.py"]
    );

    let proxied = "/user/alice/by-proxy.txt";
    fs.create(
        proxied,
        b"x".to_vec(),
        &CreateOptions::default(),
        Caller::user("livy").do_as("alice"),
    )
    .await
    .unwrap();
    assert_eq!(
        fs.status(proxied, Caller::NONE).await.unwrap().owner,
        "alice"
    );

    fs.set_permission(&file, 0o600, alice).await.unwrap();
    assert_eq!(fs.status(&file, alice).await.unwrap().permission, "600");

    let renamed = format!("{dir}/renamed.py");
    assert!(fs.rename(&file, &renamed, alice).await.unwrap());
    let err = fs.status(&file, alice).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert_eq!(err.remote().unwrap().exception, "FileNotFoundException");

    let err = fs.delete(dir, false, alice).await.unwrap_err();
    assert_eq!(
        err.remote().unwrap().exception,
        "PathIsNotEmptyDirectoryException"
    );
    assert!(fs.delete(dir, true, alice).await.unwrap());
    assert!(!fs.delete(dir, true, alice).await.unwrap(), "already gone");
    assert!(fs.status(&renamed, alice).await.unwrap_err().is_not_found());
}

/// NameNode HA: two emulators stand in for two NameNodes; the first answers like a standby.
#[tokio::test]
async fn webhdfs_fails_over_to_the_active_namenode() {
    let nn1 = Emulator::start(&[]);
    let nn2 = Emulator::start(&[]);
    let standby = json!({
        "target": "webhdfs", "mode": "status", "status": 403,
        "body": r#"{"RemoteException":{"exception":"StandbyException","javaClassName":"org.apache.hadoop.ipc.StandbyException","message":"Operation category READ is not supported in state standby"}}"#,
    });
    nn1.add_fault(standby.clone()).await;
    let fs = webhdfs(&[("nn1", nn1.webhdfs_url()), ("nn2", nn2.webhdfs_url())]);
    let alice = Caller::user("alice");
    nn1.reset_counters().await;

    assert!(fs.mkdirs("/tmp/ha", None, alice).await.unwrap());
    assert_eq!(
        (
            nn1.total_requests("webhdfs").await,
            nn2.total_requests("webhdfs").await
        ),
        (1, 1)
    );
    assert!(fs.current_namenode().starts_with("nn2"));
    fs.create(
        "/tmp/ha/f",
        b"data".to_vec(),
        &CreateOptions::default(),
        alice,
    )
    .await
    .unwrap();
    assert_eq!(fs.status("/tmp/ha/f", alice).await.unwrap().length, 4);
    assert_eq!(
        nn1.total_requests("webhdfs").await,
        1,
        "the standby is not asked again"
    );

    // nn2 goes away and nn1 becomes active.
    nn1.clear_faults().await;
    nn2.add_fault(json!({"target": "webhdfs", "mode": "refuse"}))
        .await;
    assert_eq!(fs.home_directory(alice).await.unwrap(), "/user/alice");
    assert!(fs.current_namenode().starts_with("nn1"));

    // No active NameNode: bounded, typed, retriable.
    nn1.add_fault(standby).await;
    let err = fs.home_directory(alice).await.unwrap_err();
    assert!(
        matches!(
            &err,
            YarnError::NoActive {
                service: "NameNode",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.is_retriable());
}

#[tokio::test]
async fn clients_from_the_emulators_hadoop_conf_dir() {
    let emu = Emulator::start(&["--ha", "rm1,rm2"]);
    let hadoop = HadoopConf::load(&[emu.hadoop_conf_dir()]).unwrap();
    let conf = YarnConf::from_hadoop(&hadoop).unwrap();
    assert!(conf.ha_enabled);
    let rms: Vec<(Option<String>, String)> = conf
        .resource_managers
        .iter()
        .map(|e| (e.id.clone(), e.url.clone()))
        .collect();
    assert_eq!(
        rms,
        [
            (Some("rm1".into()), emu.rm_url("rm1")),
            (Some("rm2".into()), emu.rm_url("rm2"))
        ]
    );
    assert_eq!(
        conf.namenodes
            .iter()
            .map(|e| e.url.clone())
            .collect::<Vec<_>>(),
        [emu.webhdfs_url()]
    );

    let rm = RmClient::from_conf(&conf).build().unwrap();
    assert_eq!(
        rm.cluster_info(Caller::NONE)
            .await
            .unwrap()
            .ha_state
            .as_deref(),
        Some("ACTIVE")
    );
    let fs = WebHdfs::from_conf(&conf).build().unwrap();
    assert_eq!(
        fs.home_directory(Caller::user("bob")).await.unwrap(),
        "/user/bob"
    );
}

/// A stand-in for SPNEGO: the emulator's default validator accepts any base64 token and takes
/// `user@REALM` from it. Records where it was asked to authenticate.
struct FakeNegotiate {
    seen: Mutex<Vec<String>>,
}

impl RequestAuth for FakeNegotiate {
    fn authorize<'a>(
        &'a self,
        request: RequestBuilder,
        target: &'a Url,
    ) -> BoxFuture<'a, Result<RequestBuilder, YarnError>> {
        Box::pin(async move {
            self.seen.lock().unwrap().push(target.path().to_string());
            // base64("livy@EXAMPLE.COM")
            Ok(request.header("Authorization", "Negotiate bGl2eUBFWEFNUExFLkNPTQ=="))
        })
    }
}

#[tokio::test]
async fn delegation_tokens_through_the_auth_hook() {
    let emu = Emulator::start(&["--require-spnego"]);
    let endpoints = vec![Endpoint {
        id: None,
        url: emu.rm_url("rm1"),
    }];

    let anonymous = RmClient::builder(endpoints.clone()).build().unwrap();
    let err = anonymous
        .apps(&AppsQuery::default(), Caller::NONE)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(401));
    assert!(!err.is_retriable());

    let auth = Arc::new(FakeNegotiate {
        seen: Mutex::new(Vec::new()),
    });
    let rm = RmClient::builder(endpoints)
        .auth(auth.clone())
        .build()
        .unwrap();
    rm.apps(&AppsQuery::default(), Caller::NONE).await.unwrap();
    let token = rm.get_delegation_token("livy", Caller::NONE).await.unwrap();
    assert_eq!(token.kind.as_deref(), Some("RM_DELEGATION_TOKEN"));
    assert_eq!(token.owner.as_deref(), Some("livy@EXAMPLE.COM"));
    let expiration = rm
        .renew_delegation_token(&token.token, Caller::NONE)
        .await
        .unwrap();
    assert!(expiration > 0);
    rm.cancel_delegation_token(&token.token, Caller::NONE)
        .await
        .unwrap();
    let err = rm
        .renew_delegation_token(&token.token, Caller::NONE)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(403), "{err}");
    assert!(auth
        .seen
        .lock()
        .unwrap()
        .iter()
        .any(|p| p == "/ws/v1/cluster/delegation-token"));

    // Without Kerberos the RM refuses token operations: typed, not retriable.
    let simple = Emulator::start(&[]);
    let err = rm_client(&simple, &["rm1"])
        .get_delegation_token("livy", Caller::NONE)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(403), "{err}");
    assert!(!err.is_retriable());
}
