//! What `/metrics` shows, in Prometheus's text format, through the Prometheus project's own
//! client crate (`prometheus-client`: typed label sets that cost a hash lookup and no
//! allocation per observation, collectors that run at scrape time, and the 0.0.4 text format
//! that Prometheus and `promtool` read; the `metrics` facade would build a label vector on every
//! call and hide the registry behind a global recorder).
//!
//! Two kinds of numbers:
//! - **Events** (requests, statements, session starts, RM calls, refusals, auth failures) are
//!   counted where they happen, into the instruments of [`Metrics`]. They are process-wide
//!   ([`get`]): they are deep in the YARN client, the auth filter and the driver channel, which
//!   do not otherwise share a handle, and nothing reads them back but the scrape.
//! - **State** (sessions and batches by state, process memory and descriptors) is not kept
//!   twice: it is read at scrape time from its owners ([`state`], [`process`]).

pub mod process;
pub mod state;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use std::sync::LazyLock;
use std::time::Duration;

/// HTTP request latency buckets, seconds (long polls with `?wait=` land in the top ones).
const HTTP_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// Statement run time buckets, seconds.
const STATEMENT_BUCKETS: &[f64] = &[
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
];
/// Session start (POST → idle) buckets, seconds: a local pyspark start takes 15–30 s.
const SESSION_START_BUCKETS: &[f64] = &[
    1.0, 2.0, 5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0, 180.0, 300.0, 600.0,
];
/// ResourceManager request latency buckets, seconds.
const RM_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

fn http_histogram() -> Histogram {
    Histogram::new(HTTP_BUCKETS.iter().copied())
}

fn rm_histogram() -> Histogram {
    Histogram::new(RM_BUCKETS.iter().copied())
}

/// An HTTP request, by route template (never the raw path: ids would make a series each).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub method: &'static str,
    pub route: &'static str,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: &'static str,
    pub route: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RmLabels {
    pub endpoint: &'static str,
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndpointLabels {
    pub endpoint: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// The event instruments. Cloning one shares its value (they are `Arc`s inside).
pub struct Metrics {
    http_requests: Family<HttpLabels, Counter>,
    http_duration: HistogramFamily<RouteLabels>,
    statements_started: Counter,
    statements_finished: Family<OutcomeLabels, Counter>,
    statement_duration: Histogram,
    session_start: Histogram,
    driver_connected: Gauge,
    driver_handshakes: Family<OutcomeLabels, Counter>,
    rm_requests: Family<RmLabels, Counter>,
    rm_duration: HistogramFamily<EndpointLabels>,
    admission_refusals: Family<ReasonLabels, Counter>,
    auth_failures: Family<ReasonLabels, Counter>,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| Metrics {
    http_requests: Family::default(),
    http_duration: Family::new_with_constructor(http_histogram),
    statements_started: Counter::default(),
    statements_finished: Family::default(),
    statement_duration: Histogram::new(STATEMENT_BUCKETS.iter().copied()),
    session_start: Histogram::new(SESSION_START_BUCKETS.iter().copied()),
    driver_connected: Gauge::default(),
    driver_handshakes: Family::default(),
    rm_requests: Family::default(),
    rm_duration: Family::new_with_constructor(rm_histogram),
    admission_refusals: Family::default(),
    auth_failures: Family::default(),
});

/// The process's instruments.
pub fn get() -> &'static Metrics {
    &METRICS
}

impl Metrics {
    /// One answered HTTP request.
    pub fn http_request(
        &self,
        method: &'static str,
        route: &'static str,
        status: u16,
        took: Duration,
    ) {
        self.http_requests
            .get_or_create(&HttpLabels {
                method,
                route,
                status,
            })
            .inc();
        self.http_duration
            .get_or_create(&RouteLabels { method, route })
            .observe(took.as_secs_f64());
    }

    /// A statement was submitted.
    pub fn statement_started(&self) {
        self.statements_started.inc();
    }

    /// A statement ended: `ok`, `error`, `cancelled`, or `lost` (its driver went away or its
    /// result did not survive a restart); `ran` is its run time when it ran at all.
    pub fn statement_finished(&self, outcome: &'static str, ran: Option<Duration>) {
        self.statements_finished
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
        if let Some(ran) = ran {
            self.statement_duration.observe(ran.as_secs_f64());
        }
    }

    /// A new session became idle `took` after it was created.
    pub fn session_started(&self, took: Duration) {
        self.session_start.observe(took.as_secs_f64());
    }

    /// A driver connected; the guard counts it as connected until dropped.
    pub fn driver_connected(&self) -> ConnectedDriver {
        self.driver_connected.inc();
        ConnectedDriver(self.driver_connected.clone())
    }

    /// A connection to the driver channel ended its handshake: `accepted`, `rejected` (bad
    /// proof, unknown session, timeout) or `busy` (too many handshakes at once).
    pub fn driver_handshake(&self, outcome: &'static str) {
        self.driver_handshakes
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    /// One HTTP request to a ResourceManager: `ok`, `http_error` (an answer of 400 or more)
    /// or `failed` (no answer).
    pub fn rm_request(&self, endpoint: &'static str, outcome: &'static str, took: Duration) {
        self.rm_requests
            .get_or_create(&RmLabels { endpoint, outcome })
            .inc();
        self.rm_duration
            .get_or_create(&EndpointLabels { endpoint })
            .observe(took.as_secs_f64());
    }

    /// A create was refused before anything started: `max_creation`, `queue_too_small`,
    /// `unknown_queue`.
    pub fn admission_refused(&self, reason: &'static str) {
        self.admission_refusals
            .get_or_create(&ReasonLabels { reason })
            .inc();
    }

    /// A request failed authentication or the allowed-users ACL: `missing_credentials`,
    /// `bad_credentials`, `bad_cookie`, `unmapped_principal`, `unavailable`, `not_allowed`.
    pub fn auth_failed(&self, reason: &'static str) {
        self.auth_failures
            .get_or_create(&ReasonLabels { reason })
            .inc();
    }

    /// Registers every instrument under `livy_` in `registry`.
    fn register(&self, registry: &mut Registry) {
        let r = registry.sub_registry_with_prefix("livy");
        r.register(
            "http_requests",
            "HTTP requests answered, by method, route template and status",
            self.http_requests.clone(),
        );
        r.register_with_unit(
            "http_request_duration",
            "Time to answer an HTTP request, by method and route template",
            Unit::Seconds,
            self.http_duration.clone(),
        );
        r.register(
            "statements_started",
            "Statements submitted to interactive sessions",
            self.statements_started.clone(),
        );
        r.register(
            "statements_finished",
            "Statements ended, by outcome (ok, error, cancelled, lost)",
            self.statements_finished.clone(),
        );
        r.register_with_unit(
            "statement_duration",
            "Run time of statements, from start to result",
            Unit::Seconds,
            self.statement_duration.clone(),
        );
        r.register_with_unit(
            "session_start_duration",
            "Time from a session's creation (POST /sessions) until it is first idle",
            Unit::Seconds,
            self.session_start.clone(),
        );
        r.register(
            "driver_connections",
            "Session drivers connected to the server now",
            self.driver_connected.clone(),
        );
        r.register(
            "driver_handshakes",
            "Connections to the driver channel, by handshake outcome (accepted, rejected, busy)",
            self.driver_handshakes.clone(),
        );
        r.register(
            "yarn_rm_requests",
            "HTTP requests to YARN ResourceManagers, by endpoint and outcome (ok, http_error, failed)",
            self.rm_requests.clone(),
        );
        r.register_with_unit(
            "yarn_rm_request_duration",
            "Time of HTTP requests to YARN ResourceManagers, by endpoint",
            Unit::Seconds,
            self.rm_duration.clone(),
        );
        r.register(
            "admission_refusals",
            "Session and batch creates refused before launch, by reason",
            self.admission_refusals.clone(),
        );
        r.register(
            "auth_failures",
            "Requests refused by authentication or the allowed-users ACL, by reason",
            self.auth_failures.clone(),
        );
    }
}

/// Counts one connected driver while it lives (held by the task that owns the connection).
pub struct ConnectedDriver(Gauge);

impl Drop for ConnectedDriver {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Builds the registry a server scrapes: the event instruments, and collectors reading the
/// state of `sessions` and `batches` and of the process at scrape time.
pub fn registry(state: state::StateCollector) -> Registry {
    let mut registry = Registry::default();
    get().register(&mut registry);
    registry
        .sub_registry_with_prefix("livy")
        .register_collector(Box::new(state));
    registry.register_collector(Box::new(process::ProcessCollector));
    registry
}

/// The scrape in the format the client asked for: OpenMetrics when its `Accept` names it (as
/// Prometheus's does), else the 0.0.4 text format. Returns (content type, body).
pub fn render(registry: &Registry, accept: Option<&str>) -> (&'static str, String) {
    let mut body = String::with_capacity(16 * 1024);
    let openmetrics = accept.is_some_and(|a| a.contains("application/openmetrics-text"));
    // Writing into a String cannot fail; an encoder error would be a bug in a collector, and
    // a partial scrape is still better than none.
    if openmetrics {
        let _ = prometheus_client::encoding::text::encode(&mut body, registry);
        (
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            body,
        )
    } else {
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut body, registry);
        (
            prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
            body,
        )
    }
}

/// Route templates as `'static` label values, interned once each: the metrics middleware then
/// labels a request without allocating. Templates come only from the router's own routes, so
/// the set is small; the cap is a guard, not a limit that is expected to be reached.
pub fn intern_route(route: &str) -> &'static str {
    const CAP: usize = 512;
    static ROUTES: LazyLock<parking_lot::RwLock<std::collections::HashSet<&'static str>>> =
        LazyLock::new(Default::default);
    if let Some(known) = ROUTES.read().get(route) {
        return known;
    }
    let mut routes = ROUTES.write();
    if let Some(known) = routes.get(route) {
        return known;
    }
    if routes.len() >= CAP {
        return "other";
    }
    let leaked: &'static str = Box::leak(route.to_owned().into_boxed_str());
    routes.insert(leaked);
    leaked
}

/// The method as a label value from a fixed set.
pub fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_interned_once() {
        let a = intern_route("/sessions/{id}");
        let b = intern_route(&String::from("/sessions/{id}"));
        assert!(std::ptr::eq(a, b));
        assert_eq!(
            method_label(&axum::http::Method::from_bytes(b"BREW").unwrap()),
            "other"
        );
    }

    #[test]
    fn the_scrape_names_every_family_in_both_formats() {
        get().http_request("GET", "/sessions", 200, Duration::from_millis(3));
        get().statement_finished("ok", Some(Duration::from_secs(1)));
        let mut registry = Registry::default();
        get().register(&mut registry);
        let (ct, text) = render(&registry, None);
        assert!(ct.starts_with("text/plain; version=0.0.4"));
        assert!(
            text.contains("# TYPE livy_http_requests_total counter"),
            "{text}"
        );
        assert!(text
            .contains(r#"livy_http_requests_total{method="GET",route="/sessions",status="200"}"#));
        assert!(
            text.contains("livy_statement_duration_seconds_bucket{le=\"1"),
            "{text}"
        );
        let (ct, text) = render(
            &registry,
            Some("application/openmetrics-text;version=1.0.0"),
        );
        assert!(ct.starts_with("application/openmetrics-text"));
        assert!(text.ends_with("# EOF\n"));
    }
}
