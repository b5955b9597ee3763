//! One loop tracks every YARN application of the server. Each tick makes ONE ResourceManager
//! request listing the apps of all tracked tags (split only if the URL would be too long) and
//! fans the reports out to the sessions and batches they belong to; the cost per tick does not
//! grow with the number of apps. It also finds apps whose lookup timed out ("leaked": submitted,
//! but not seen in time) and kills them when they show up, as Livy's leakage check does.

use super::client::{AppsQuery, RmClient};
use super::http::Caller;
use super::types::AppReport;
use super::YarnError;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// What a session or batch hears about its YARN application.
pub trait AppListener: Send + Sync {
    /// Every tick while tracked (the first one carries the app id).
    fn app_report(&self, report: &AppReport);
    /// The app did not appear within `livy.server.yarn.app-lookup-timeout`.
    fn lookup_timed_out(&self, timeout: Duration);
}

/// Timing of the monitor (from livy.conf).
#[derive(Debug, Clone, Copy)]
pub struct MonitorSettings {
    pub poll_interval: Duration,
    pub lookup_timeout: Duration,
    pub leak_check_timeout: Duration,
    pub leak_check_interval: Duration,
}

struct Tracked {
    since: Instant,
    seen: bool,
    listener: Weak<dyn AppListener>,
}

#[derive(Default)]
struct State {
    tracked: HashMap<String, Tracked>,
    /// Tags whose app was given up on, with when; killed if they appear before the leak timeout.
    leaked: HashMap<String, Instant>,
    last_leak_check: Option<Instant>,
}

/// The monitor; cheap to share.
pub struct AppMonitor {
    rm: RmClient,
    settings: MonitorSettings,
    state: Mutex<State>,
    requests: std::sync::atomic::AtomicU64,
    /// Whether kills go to the RM as the app's proxy user (`doAs`): on a Kerberized cluster,
    /// where the server authenticates as itself and Hadoop's proxy-user rules apply. Without
    /// security there is no authenticated caller a `doAs` could be checked against.
    kill_as_proxy_user: std::sync::atomic::AtomicBool,
}

impl AppMonitor {
    /// Starts the loop; it ends when `stop` fires.
    pub fn start(rm: RmClient, settings: MonitorSettings, stop: CancellationToken) -> Arc<Self> {
        let monitor = Arc::new(AppMonitor {
            rm,
            settings,
            state: Mutex::new(State::default()),
            requests: Default::default(),
            kill_as_proxy_user: Default::default(),
        });
        let weak = Arc::downgrade(&monitor);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(settings.poll_interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut failures = 0u32;
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stop.cancelled() => return,
                }
                let Some(monitor) = weak.upgrade() else {
                    return;
                };
                match monitor.tick().await {
                    Ok(()) => {
                        if failures > 0 {
                            tracing::info!(failures, "the ResourceManager answers again");
                        }
                        failures = 0;
                    }
                    Err(e) => {
                        failures += 1;
                        // Warn on the 1st, 2nd, 4th, 8th... failure: a down RM must not flood the log.
                        if failures.is_power_of_two() {
                            tracing::warn!(failures, error = %e, "cannot reach the ResourceManager; sessions keep their last state");
                        }
                    }
                }
            }
        });
        monitor
    }

    /// See `kill_as_proxy_user`: set when the RM client authenticates with Kerberos.
    pub fn set_kill_as_proxy_user(&self, on: bool) {
        self.kill_as_proxy_user
            .store(on, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn rm(&self) -> &RmClient {
        &self.rm
    }

    /// RM requests made by the loop so far (for benchmarks and tests).
    pub fn requests(&self) -> u64 {
        self.requests.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Starts following the app tagged `tag` (lower-case, as YARN stores tags).
    pub fn track(&self, tag: &str, listener: Weak<dyn AppListener>) {
        self.state.lock().tracked.insert(
            tag.to_lowercase(),
            Tracked {
                since: Instant::now(),
                seen: false,
                listener,
            },
        );
    }

    pub fn untrack(&self, tag: &str) {
        self.state.lock().tracked.remove(&tag.to_lowercase());
    }

    /// Kills the app tagged `tag`: by id when known, else by looking it up; if it is not there
    /// yet, remembers the tag so the leak check kills it when it appears. `proxy_user` is the
    /// user the app runs as (sent as `doAs` on a Kerberized cluster).
    pub async fn kill(
        &self,
        tag: &str,
        app_id: Option<&str>,
        proxy_user: Option<&str>,
    ) -> Result<(), YarnError> {
        let caller = match proxy_user {
            Some(user)
                if self
                    .kill_as_proxy_user
                    .load(std::sync::atomic::Ordering::Relaxed) =>
            {
                Caller::NONE.do_as(user)
            }
            _ => Caller::NONE,
        };
        let tag = tag.to_lowercase();
        self.untrack(&tag);
        let id = match app_id {
            Some(id) => Some(id.to_string()),
            None => {
                let query = AppsQuery {
                    application_tags: vec![tag.clone()],
                    ..AppsQuery::default()
                };
                self.rm
                    .apps(&query, Caller::NONE)
                    .await?
                    .into_iter()
                    .next()
                    .map(|a| a.id)
            }
        };
        match id {
            Some(id) => {
                self.rm.kill(&id, caller).await?;
                Ok(())
            }
            None => {
                self.state.lock().leaked.insert(tag, Instant::now());
                Ok(())
            }
        }
    }

    async fn tick(&self) -> Result<(), YarnError> {
        let now = Instant::now();
        let tags: Vec<String> = {
            let mut st = self.state.lock();
            let check_leaks = st
                .last_leak_check
                .is_none_or(|t| now.duration_since(t) >= self.settings.leak_check_interval);
            let timeout = self.settings.leak_check_timeout;
            st.leaked
                .retain(|_, since| now.duration_since(*since) < timeout);
            let mut tags: Vec<String> = st.tracked.keys().cloned().collect();
            if check_leaks && !st.leaked.is_empty() {
                st.last_leak_check = Some(now);
                tags.extend(st.leaked.keys().cloned());
            }
            tags
        };
        if tags.is_empty() {
            return Ok(());
        }
        let query = AppsQuery {
            application_tags: tags,
            ..AppsQuery::default()
        };
        self.requests
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let reports = self.rm.apps_by_tags(&query, Caller::NONE).await?;

        let mut deliveries: Vec<(Arc<dyn AppListener>, AppReport)> = Vec::new();
        let mut timed_out: Vec<Arc<dyn AppListener>> = Vec::new();
        let mut to_kill: Vec<String> = Vec::new();
        {
            let mut st = self.state.lock();
            for report in reports {
                for tag in &report.application_tags {
                    let tag = tag.to_lowercase();
                    if st.leaked.remove(&tag).is_some() {
                        if !report.state.is_final() {
                            to_kill.push(report.id.clone());
                        }
                        continue;
                    }
                    let final_state = report.state.is_final();
                    if let Some(t) = st.tracked.get_mut(&tag) {
                        t.seen = true;
                        match t.listener.upgrade() {
                            Some(l) => deliveries.push((l, report.clone())),
                            None => {
                                st.tracked.remove(&tag);
                                continue;
                            }
                        }
                        if final_state {
                            st.tracked.remove(&tag);
                        }
                    }
                }
            }
            let lookup = self.settings.lookup_timeout;
            let expired: Vec<String> = st
                .tracked
                .iter()
                .filter(|(_, t)| !t.seen && now.duration_since(t.since) > lookup)
                .map(|(tag, _)| tag.clone())
                .collect();
            for tag in expired {
                if let Some(t) = st.tracked.remove(&tag) {
                    if let Some(l) = t.listener.upgrade() {
                        timed_out.push(l);
                    }
                    st.leaked.insert(tag, now);
                }
            }
        }
        for (listener, report) in deliveries {
            listener.app_report(&report);
        }
        for listener in timed_out {
            listener.lookup_timed_out(self.settings.lookup_timeout);
        }
        for id in to_kill {
            tracing::warn!(app_id = %id, "killing a leaked YARN application (its lookup had timed out)");
            if let Err(e) = self.rm.kill(&id, Caller::NONE).await {
                tracing::warn!(app_id = %id, error = %e, "cannot kill a leaked application");
            }
        }
        Ok(())
    }
}

/// Livy's mapping of a YARN report onto its own app states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LivyAppState {
    Starting,
    Running,
    Finished,
    Failed,
    Killed,
}

/// Livy's `SparkYarnApp.mapYarnState`.
pub fn map_state(report: &AppReport) -> LivyAppState {
    use super::types::{AppState, FinalStatus};
    match report.state {
        AppState::Running => LivyAppState::Running,
        AppState::Finished => match report.final_status {
            FinalStatus::Succeeded => LivyAppState::Finished,
            FinalStatus::Killed => LivyAppState::Killed,
            _ => LivyAppState::Failed,
        },
        AppState::Failed => LivyAppState::Failed,
        AppState::Killed => LivyAppState::Killed,
        _ => LivyAppState::Starting,
    }
}

/// The `YARN Diagnostics:` section Livy appends to a session's log.
pub fn diagnostics_lines(report: &AppReport) -> Vec<String> {
    if report.diagnostics.trim().is_empty() {
        return Vec::new();
    }
    std::iter::once("\nYARN Diagnostics: ".to_string())
        .chain(report.diagnostics.lines().map(String::from))
        .collect()
}
