//! One loop tracks every YARN application of the server. Each tick makes ONE ResourceManager
//! request and fans the reports out to the sessions and batches they belong to; the cost per
//! tick does not grow with the number of apps. It also finds apps whose lookup timed out
//! ("leaked": submitted, but not seen in time) and kills them when they show up, as Livy's
//! leakage check does.
//!
//! Which request (see [`plan_tick`]): while the unique tags of the tracked apps fit in one URL,
//! the RM is asked for exactly those tags. Past that (hundreds of apps) it is asked for the
//! *server tag* instead — a tag every app this server launches also carries
//! (`livy.server.yarn.server-tag`, see [`crate::launch::add_yarn_conf`]) — bounded by
//! `startedTimeBegin` so apps that ended long ago are not listed again. `applicationTags`
//! matches apps having ANY of the listed tags, so the same request also names, by their own
//! tag, the apps known not to carry the server tag (launched before it existed, or with no room
//! for it) and, in turns, the apps not seen yet; an app without the server tag is thus still
//! found, after a few ticks at worst.

use super::client::MAX_APPS_URL_BYTES;
use super::client::{apps_url_len, split_by_url_length, tag_url_cost, AppsQuery, RmClient};
use super::http::Caller;
use super::types::AppReport;
use super::YarnError;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// How much earlier than the RM's clock at tracking time an app may have started and still be
/// looked for. Covers HA RMs whose clocks differ: the bound comes from one RM's reports, the
/// app's start time may come from another after a failover.
pub const START_BOUND_MARGIN_MS: i64 = 10 * 60 * 1000;

/// What a session or batch hears about its YARN application.
pub trait AppListener: Send + Sync {
    /// Every tick while tracked (the first one carries the app id).
    fn app_report(&self, report: &AppReport);
    /// The app did not appear within `livy.server.yarn.app-lookup-timeout`.
    fn lookup_timed_out(&self, timeout: Duration);
}

/// Timing of the monitor and the server tag (from livy.conf).
#[derive(Debug, Clone)]
pub struct MonitorSettings {
    pub poll_interval: Duration,
    pub lookup_timeout: Duration,
    pub leak_check_timeout: Duration,
    pub leak_check_interval: Duration,
    /// `livy.server.yarn.server-tag` (lower-case); `None` when disabled.
    pub server_tag: Option<String>,
}

/// What a tick knows about an app it looks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sighting {
    /// Not seen yet. `not_before`: the RM's clock (ms) when tracking began, as far as known
    /// (the latest time any RM report had shown); the app cannot have started much earlier.
    Unseen { not_before: Option<i64> },
    /// Seen: when it started (RM clock) and whether its report carries the server tag.
    Seen { started: i64, server_tagged: bool },
}

/// The request of one tick (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub enum TickQuery {
    /// Every wanted tag in one URL.
    ByTags(AppsQuery),
    /// The server tag, plus the tags of apps that may lack it; `rotated` of them were named in
    /// turns (the next tick's turn starts after them).
    ServerTag { query: AppsQuery, rotated: usize },
    /// No server tag configured and too many tags for one URL: one request per URL-sized chunk.
    Chunked(Vec<AppsQuery>),
}

/// Chooses the request of a tick for the `wanted` tags (lower-case, sorted), so that its URL on
/// the RM base URL `base` stays within `max_url_bytes`. `cursor` says where the turn of apps
/// named by their own tag starts (it wraps).
pub fn plan_tick(
    wanted: &[(String, Sighting)],
    server_tag: Option<&str>,
    cursor: usize,
    base: &reqwest::Url,
    max_url_bytes: usize,
) -> TickQuery {
    let by_tags = AppsQuery {
        application_tags: wanted.iter().map(|(t, _)| t.clone()).collect(),
        ..AppsQuery::default()
    };
    if apps_url_len(&by_tags, base) <= max_url_bytes {
        return TickQuery::ByTags(by_tags);
    }
    let Some(server_tag) = server_tag else {
        return TickQuery::Chunked(split_by_url_length(&by_tags, base, max_url_bytes));
    };
    // The earliest start any wanted app can have; no bound while one has no known floor.
    let started_time_begin = wanted
        .iter()
        .map(|(_, s)| match *s {
            Sighting::Seen { started, .. } => Some(started),
            Sighting::Unseen { not_before } => {
                not_before.map(|t| t.saturating_sub(START_BOUND_MARGIN_MS))
            }
        })
        .try_fold(i64::MAX, |acc, t| t.map(|t| acc.min(t)))
        .filter(|t| *t > 0 && *t < i64::MAX);
    let mut query = AppsQuery {
        application_tags: vec![server_tag.to_string()],
        started_time_begin,
        ..AppsQuery::default()
    };
    let mut len = apps_url_len(&query, base);
    let mut tags = std::mem::take(&mut query.application_tags);
    // Seen without the server tag: only their own tag finds them, so they are named every tick
    // when they all fit. Unseen: most carry the server tag, but which do is only known once
    // seen; they are named in turns. (If even the first group does not fit, it joins the turns.)
    let untagged: Vec<&String> = wanted
        .iter()
        .filter(|(_, s)| {
            matches!(
                s,
                Sighting::Seen {
                    server_tagged: false,
                    ..
                }
            )
        })
        .map(|(t, _)| t)
        .collect();
    let unseen = wanted
        .iter()
        .filter(|(_, s)| matches!(s, Sighting::Unseen { .. }))
        .map(|(t, _)| t);
    let untagged_cost: usize = untagged.iter().map(|t| tag_url_cost(t)).sum();
    let ring: Vec<&String> = if len + untagged_cost <= max_url_bytes {
        len += untagged_cost;
        tags.extend(untagged.into_iter().cloned());
        unseen.collect()
    } else {
        untagged.into_iter().chain(unseen).collect()
    };
    let mut add = |tag: &str, tags: &mut Vec<String>| {
        let cost = tag_url_cost(tag);
        if len + cost > max_url_bytes {
            return false;
        }
        len += cost;
        tags.push(tag.to_string());
        true
    };
    let mut rotated = 0;
    if !ring.is_empty() {
        let start = cursor % ring.len();
        for tag in ring[start..].iter().chain(&ring[..start]) {
            if !add(tag, &mut tags) {
                break;
            }
            rotated += 1;
        }
    }
    query.application_tags = tags;
    TickQuery::ServerTag { query, rotated }
}

struct Tracked {
    since: Instant,
    sighting: Sighting,
    listener: Weak<dyn AppListener>,
}

struct Leaked {
    /// When it was given up on (it is forgotten after the leak-check timeout).
    since: Instant,
    not_before: Option<i64>,
}

#[derive(Default)]
struct State {
    tracked: HashMap<String, Tracked>,
    /// Tags whose app was given up on; killed if they appear before the leak timeout.
    leaked: HashMap<String, Leaked>,
    last_leak_check: Option<Instant>,
    /// The latest time (RM clock, ms) any report showed: a floor for apps submitted from now on.
    rm_clock: Option<i64>,
    /// Where the next turn of unseen apps named by their own tag starts.
    cursor: usize,
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
        let poll_interval = settings.poll_interval;
        let monitor = Arc::new(AppMonitor {
            rm,
            settings,
            state: Mutex::new(State::default()),
            requests: Default::default(),
            kill_as_proxy_user: Default::default(),
        });
        let weak = Arc::downgrade(&monitor);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(poll_interval);
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

    /// The tag every app this server launches carries besides its own (None: disabled).
    pub fn server_tag(&self) -> Option<&str> {
        self.settings.server_tag.as_deref()
    }

    /// RM requests made by the loop so far (for benchmarks and tests).
    pub fn requests(&self) -> u64 {
        self.requests.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Starts following the app tagged `tag` (lower-case, as YARN stores tags), which is about
    /// to be submitted. (An app that started earlier — e.g. one recovered after a restart —
    /// would need its start time here, for the `startedTimeBegin` bound.)
    pub fn track(&self, tag: &str, listener: Weak<dyn AppListener>) {
        let mut st = self.state.lock();
        let not_before = st.rm_clock;
        st.tracked.insert(
            tag.to_lowercase(),
            Tracked {
                since: Instant::now(),
                sighting: Sighting::Unseen { not_before },
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
        let not_before = {
            let mut st = self.state.lock();
            let rm_clock = st.rm_clock;
            match st.tracked.remove(&tag).map(|t| t.sighting) {
                Some(Sighting::Unseen { not_before }) => not_before,
                Some(Sighting::Seen { started, .. }) => Some(started),
                None => rm_clock,
            }
        };
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
                self.state.lock().leaked.insert(
                    tag,
                    Leaked {
                        since: Instant::now(),
                        not_before,
                    },
                );
                Ok(())
            }
        }
    }

    /// The request this tick makes, from the tracked apps (and the leaked ones when due).
    fn plan(&self, now: Instant) -> Option<TickQuery> {
        let mut st = self.state.lock();
        let check_leaks = st
            .last_leak_check
            .is_none_or(|t| now.duration_since(t) >= self.settings.leak_check_interval);
        let timeout = self.settings.leak_check_timeout;
        st.leaked
            .retain(|_, l| now.duration_since(l.since) < timeout);
        let mut wanted: Vec<(String, Sighting)> = st
            .tracked
            .iter()
            .map(|(tag, t)| (tag.clone(), t.sighting))
            .collect();
        if check_leaks && !st.leaked.is_empty() {
            st.last_leak_check = Some(now);
            wanted.extend(st.leaked.iter().map(|(tag, l)| {
                (
                    tag.clone(),
                    Sighting::Unseen {
                        not_before: l.not_before,
                    },
                )
            }));
        }
        if wanted.is_empty() {
            return None;
        }
        wanted.sort_by(|a, b| a.0.cmp(&b.0));
        let plan = plan_tick(
            &wanted,
            self.server_tag(),
            st.cursor,
            self.rm.longest_base(),
            MAX_APPS_URL_BYTES,
        );
        if let TickQuery::ServerTag { rotated, .. } = &plan {
            st.cursor = st.cursor.wrapping_add(*rotated);
        }
        Some(plan)
    }

    async fn tick(&self) -> Result<(), YarnError> {
        let now = Instant::now();
        let Some(plan) = self.plan(now) else {
            return Ok(());
        };
        let queries = match plan {
            TickQuery::ByTags(q) | TickQuery::ServerTag { query: q, .. } => vec![q],
            TickQuery::Chunked(chunks) => chunks,
        };
        let mut reports: Vec<AppReport> = Vec::new();
        for query in &queries {
            self.requests
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            reports.extend(self.rm.apps(query, Caller::NONE).await?);
        }
        self.deliver(now, reports);
        Ok(())
    }

    /// Fans the reports out to the listeners, expires lookups and kills leaked apps that showed up.
    fn deliver(&self, now: Instant, reports: Vec<AppReport>) {
        let mut deliveries: Vec<(Arc<dyn AppListener>, AppReport)> = Vec::new();
        let mut timed_out: Vec<Arc<dyn AppListener>> = Vec::new();
        let mut to_kill: Vec<String> = Vec::new();
        {
            let mut st = self.state.lock();
            let server_tag = self.server_tag();
            for report in reports {
                let latest = report.started_time.max(report.finished_time);
                if latest > 0 {
                    st.rm_clock = Some(st.rm_clock.map_or(latest, |c| c.max(latest)));
                }
                let server_tagged = server_tag.is_some_and(|s| {
                    report
                        .application_tags
                        .iter()
                        .any(|t| t.eq_ignore_ascii_case(s))
                });
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
                        t.sighting = Sighting::Seen {
                            started: report.started_time,
                            server_tagged,
                        };
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
                .filter(|(_, t)| {
                    matches!(t.sighting, Sighting::Unseen { .. })
                        && now.duration_since(t.since) > lookup
                })
                .map(|(tag, _)| tag.clone())
                .collect();
            for tag in expired {
                if let Some(t) = st.tracked.remove(&tag) {
                    if let Some(l) = t.listener.upgrade() {
                        timed_out.push(l);
                    }
                    let not_before = match t.sighting {
                        Sighting::Unseen { not_before } => not_before,
                        Sighting::Seen { started, .. } => Some(started),
                    };
                    st.leaked.insert(
                        tag,
                        Leaked {
                            since: now,
                            not_before,
                        },
                    );
                }
            }
        }
        for (listener, report) in deliveries {
            listener.app_report(&report);
        }
        for listener in timed_out {
            listener.lookup_timed_out(self.settings.lookup_timeout);
        }
        if to_kill.is_empty() {
            return;
        }
        // Kills wait for a final state (seconds); the next tick must not wait for them.
        let rm = self.rm.clone();
        tokio::spawn(async move {
            for id in to_kill {
                tracing::warn!(app_id = %id, "killing a leaked YARN application (its lookup had timed out)");
                if let Err(e) = rm.kill(&id, Caller::NONE).await {
                    tracing::warn!(app_id = %id, error = %e, "cannot kill a leaked application");
                }
            }
        });
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

#[cfg(test)]
#[path = "monitor_tests.rs"]
mod tests;
