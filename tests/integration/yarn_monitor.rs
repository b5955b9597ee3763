//! The YARN app monitor (`livy_rs::yarn::monitor`) against the RM emulator
//! (tests/yarn/rm_emulator.py): how many RM requests a tick makes with many tracked apps, and
//! that every tracked app still gets its reports, whether or not it carries the server tag.

use super::common;

use common::emulator::Emulator;
use livy_rs::yarn::monitor::{AppListener, AppMonitor, MonitorSettings};
use livy_rs::yarn::{AppReport, AppState, Endpoint, RmClient};
use serde_json::json;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

const SERVER_TAG: &str = "livy-server-test-8998";

#[derive(Default)]
struct Listener {
    reports: Mutex<Vec<AppState>>,
}

impl AppListener for Listener {
    fn app_report(&self, report: &AppReport) {
        self.reports.lock().unwrap().push(report.state);
    }
    fn lookup_timed_out(&self, timeout: Duration) {
        panic!("lookup timed out after {timeout:?}");
    }
}

fn settings(poll: Duration) -> MonitorSettings {
    MonitorSettings {
        poll_interval: poll,
        lookup_timeout: Duration::from_secs(120),
        leak_check_timeout: Duration::from_secs(600),
        leak_check_interval: Duration::from_secs(60),
        server_tag: Some(SERVER_TAG.into()),
    }
}

fn rm(emu: &Emulator) -> RmClient {
    RmClient::builder(vec![Endpoint {
        id: Some("rm1".into()),
        url: emu.rm_url("rm1"),
    }])
    .timeout(Duration::from_secs(10))
    .build()
    .unwrap()
}

async fn apps_requests(emu: &Emulator) -> u64 {
    emu.counters("rm1")
        .await
        .get("GET /ws/v1/cluster/apps")
        .and_then(|v| v.as_u64())
        .unwrap_or(0)
}

async fn wait_until<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// 600 tracked apps (their unique tags alone would need three URLs): one request per tick, and
/// every app — including a few launched without the server tag — is reported, and its state
/// change reaches it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_tracked_apps_cost_one_request_per_tick_and_all_are_reported() {
    let emu = Emulator::start(&[]);
    let n = 600;
    let untagged = [5usize, 300, 599];
    let mut ids = Vec::new();
    for i in 0..n {
        let tags = if untagged.contains(&i) {
            vec![format!("livy-batch-{i}-abcdefgh")]
        } else {
            vec![format!("livy-batch-{i}-abcdefgh"), SERVER_TAG.to_string()]
        };
        ids.push(
            emu.register_app(
                json!({"name": format!("b{i}"), "user": "alice", "tags": tags,
                                    "state": "RUNNING"}),
            )
            .await,
        );
    }
    // An app of another server: listed by nobody's server tag but its own.
    emu.register_app(
        json!({"name": "other", "tags": ["livy-batch-0-zzzzzzzz", "livy-server-other-1"]}),
    )
    .await;

    let stop = CancellationToken::new();
    let monitor = AppMonitor::start(rm(&emu), settings(Duration::from_millis(200)), stop.clone());
    let listeners: Vec<Arc<Listener>> = (0..n).map(|_| Arc::new(Listener::default())).collect();
    for (i, l) in listeners.iter().enumerate() {
        let weak: Weak<dyn AppListener> = Arc::downgrade(l) as Weak<dyn AppListener>;
        monitor.track(&format!("livy-batch-{i}-abcdefgh"), weak);
    }
    emu.reset_counters().await;
    let before = monitor.requests();

    wait_until("every app reported", Duration::from_secs(30), || async {
        listeners
            .iter()
            .all(|l| !l.reports.lock().unwrap().is_empty())
    })
    .await;
    // Keep ticking a while, then compare RM requests with ticks.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let ticks = monitor.requests() - before;
    let served = apps_requests(&emu).await;
    assert!(ticks >= 5, "{ticks} ticks");
    // The counter may see one request more or less than the monitor counted when read mid-tick.
    assert!(
        served.abs_diff(ticks) <= 1,
        "{served} RM requests for {ticks} ticks"
    );
    let log = emu.requests("rm1").await;
    let apps_queries: Vec<&serde_json::Value> = log
        .iter()
        .filter(|r| r["path"] == "/ws/v1/cluster/apps")
        .collect();
    assert!(!apps_queries.is_empty());
    for r in &apps_queries {
        let tags = r["query"]["applicationTags"].as_str().unwrap_or_default();
        assert!(tags.split(',').any(|t| t == SERVER_TAG), "{r}");
        assert!(tags.len() < 6000);
    }

    // A state change reaches its listener, tagged or not.
    for i in [1usize, 300] {
        emu.set_app_state(&ids[i], "FINISHED").await;
    }
    wait_until("the FINISHED reports", Duration::from_secs(10), || async {
        [1usize, 300]
            .iter()
            .all(|&i| listeners[i].reports.lock().unwrap().last() == Some(&AppState::Finished))
    })
    .await;
    // Finished apps are no longer tracked: their listeners hear nothing more.
    let heard = listeners[1].reports.lock().unwrap().len();
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(listeners[1].reports.lock().unwrap().len(), heard);
    stop.cancel();
}

/// A few tracked apps are asked for by their own tags, in one request, without the server tag.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn few_tracked_apps_are_asked_for_by_their_own_tags() {
    let emu = Emulator::start(&[]);
    let stop = CancellationToken::new();
    let monitor = AppMonitor::start(rm(&emu), settings(Duration::from_millis(100)), stop.clone());
    let listeners: Vec<Arc<Listener>> = (0..3).map(|_| Arc::new(Listener::default())).collect();
    for (i, l) in listeners.iter().enumerate() {
        let tag = format!("livy-session-{i}-abcdefgh");
        emu.register_app(
            json!({"name": format!("s{i}"), "tags": [tag.clone()], "state": "ACCEPTED"}),
        )
        .await;
        monitor.track(&tag, Arc::downgrade(l) as Weak<dyn AppListener>);
    }
    wait_until("every app reported", Duration::from_secs(10), || async {
        listeners
            .iter()
            .all(|l| !l.reports.lock().unwrap().is_empty())
    })
    .await;
    let log = emu.requests("rm1").await;
    let last = log
        .iter()
        .rev()
        .find(|r| r["path"] == "/ws/v1/cluster/apps")
        .unwrap();
    assert_eq!(
        last["query"]["applicationTags"],
        "livy-session-0-abcdefgh,livy-session-1-abcdefgh,livy-session-2-abcdefgh"
    );
    stop.cancel();
}
