//! The ResourceManager REST client (ResourceManagerRest.md), with RM HA (ResourceManagerHA.md).
//!
//! [`RmClient`] is cheap to clone (an `Arc` inside) so one client serves the whole server: the
//! monitor loop, submitters and kill requests share its connection pool and its memory of which
//! RM is active. HA handling: a standby answers `307` with the active RM's URL in `Location`
//! (or, on old RMs, `200` with a `Refresh: N; url=...` header); both are followed and the RM
//! that finally answers becomes the first one asked next time. Connection failures and standby
//! answers move on to the next configured RM, a bounded number of times.

pub use super::apps_query::{apps_url_len, split_by_url_length, tag_url_cost, AppsQuery};
use super::conf::{Endpoint, YarnConf};
use super::error::YarnError;
use super::failover::Peers;
use super::http::{endpoint_url, Answer, Body, Caller, Transport};
use super::scheduler::{SchedulerEnvelope, SchedulerInfo};
use super::settings::{connection_setters, Connection};
use super::types::*;
use reqwest::{Method, StatusCode, Url};
use serde::Deserialize;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub(super) const API: &str = "/ws/v1/cluster";
/// Redirects followed within one attempt (standby → active is one; more means a loop).
const MAX_REDIRECTS: usize = 3;
/// The header the Cluster Delegation Tokens API reads the token to renew/cancel from.
const RM_DELEGATION_TOKEN_HEADER: &str = "Hadoop-YARN-RM-Delegation-Token";
/// Longest `GET /apps` URL [`RmClient::apps_by_tags`] sends in one request: Jetty's default
/// request-header buffer is 8 KiB, and proxies in front of the RM are often stricter.
pub const MAX_APPS_URL_BYTES: usize = 6000;
/// How long [`RmClient::kill`] keeps asking before it reports that the kill is unconfirmed.
pub const DEFAULT_KILL_TIMEOUT: Duration = Duration::from_secs(30);
const KILL_FIRST_BACKOFF: Duration = Duration::from_millis(100);
const KILL_MAX_BACKOFF: Duration = Duration::from_secs(1);

/// Options of an [`RmClient`]; start from [`RmClient::builder`] or [`RmClient::from_conf`].
pub struct RmClientBuilder {
    conn: Connection,
    kill_timeout: Duration,
}

impl RmClientBuilder {
    connection_setters!();

    /// How long [`RmClient::kill`] waits for a final state. Default 30 s.
    pub fn kill_timeout(mut self, timeout: Duration) -> Self {
        self.kill_timeout = timeout;
        self
    }

    pub fn build(self) -> Result<RmClient, YarnError> {
        Ok(RmClient {
            inner: Arc::new({
                let (transport, peers) = self.conn.open("ResourceManager")?;
                Inner {
                    transport,
                    peers,
                    kill_timeout: self.kill_timeout,
                }
            }),
        })
    }
}

/// A ResourceManager REST client. Clones share connections and the remembered active RM.
#[derive(Clone)]
pub struct RmClient {
    inner: Arc<Inner>,
}

struct Inner {
    transport: Transport,
    peers: Peers,
    kill_timeout: Duration,
}

/// One REST call, replayable on another RM.
struct Call<'a> {
    method: Method,
    path: String,
    query: Option<&'a AppsQuery>,
    body: Body,
    headers: Vec<(&'static str, &'a str)>,
    caller: Caller<'a>,
}

impl RmClient {
    /// A client for these RM web endpoints (one, or one per HA RM id, in order).
    pub fn builder(endpoints: Vec<Endpoint>) -> RmClientBuilder {
        RmClientBuilder {
            conn: Connection::new(endpoints),
            kill_timeout: DEFAULT_KILL_TIMEOUT,
        }
    }

    /// A client for the RMs of a Hadoop configuration.
    pub fn from_conf(conf: &YarnConf) -> RmClientBuilder {
        Self::builder(conf.resource_managers.clone())
    }

    /// The RM id (or URL) the next call goes to first.
    pub fn current_rm(&self) -> String {
        let peers = &self.inner.peers;
        peers.get(peers.active()).name()
    }

    /// `GET /ws/v1/cluster/info`. A standby answers this itself (it is not redirected), so with
    /// HA the RMs are asked in turn until one says ACTIVE, which is then remembered; if none
    /// does, the first answer is returned (its `haState` says why).
    pub async fn cluster_info(&self, caller: Caller<'_>) -> Result<ClusterInfo, YarnError> {
        #[derive(Deserialize)]
        struct Envelope {
            #[serde(rename = "clusterInfo")]
            cluster_info: ClusterInfo,
        }
        let peers = &self.inner.peers;
        let call = self.get(format!("{API}/info"), caller);
        let mut first: Option<ClusterInfo> = None;
        let mut last_err = None;
        for k in 0..peers.len() {
            let i = (peers.active() + k) % peers.len();
            match self.attempt(i, &call).await {
                Ok((answer, _)) => {
                    let info = answer.json::<Envelope>()?.cluster_info;
                    if !info.is_standby() {
                        peers.remember(i);
                        return Ok(info);
                    }
                    first.get_or_insert(info);
                }
                Err(e) if peers.len() > 1 && e.is_connection() => last_err = Some(e),
                Err(e) => return Err(e),
            }
        }
        match (first, last_err) {
            (Some(info), _) => Ok(info),
            (None, Some(e)) => Err(e),
            (None, None) => Err(YarnError::Invalid("no ResourceManager configured".into())),
        }
    }

    /// `GET /ws/v1/cluster/metrics`: totals and availability of the cluster.
    pub async fn cluster_metrics(&self, caller: Caller<'_>) -> Result<ClusterMetrics, YarnError> {
        #[derive(Deserialize)]
        struct Envelope {
            #[serde(rename = "clusterMetrics")]
            cluster_metrics: ClusterMetrics,
        }
        let call = self.get(format!("{API}/metrics"), caller);
        Ok(self.run(&call).await?.json::<Envelope>()?.cluster_metrics)
    }

    /// `GET /ws/v1/cluster/apps` with `query`: exactly one request, however many tags.
    pub async fn apps(
        &self,
        query: &AppsQuery,
        caller: Caller<'_>,
    ) -> Result<Vec<AppReport>, YarnError> {
        let call = Call {
            query: Some(query),
            ..self.get(format!("{API}/apps"), caller)
        };
        let env: AppsEnvelope = self.run(&call).await?.json()?;
        Ok(env.apps.map(|a| a.app).unwrap_or_default())
    }

    /// The longest base URL of the configured RMs: a query whose URL fits on it fits on any.
    pub fn longest_base(&self) -> &Url {
        let peers = &self.inner.peers;
        (0..peers.len())
            .map(|i| &peers.get(i).base)
            .max_by_key(|u| u.as_str().len())
            .expect("at least one RM")
    }

    /// Like [`apps`](Self::apps), but splits a tag list whose URL would exceed
    /// [`MAX_APPS_URL_BYTES`] into several requests (merged, each app once). With a normal
    /// number of tags this is one request.
    pub async fn apps_by_tags(
        &self,
        query: &AppsQuery,
        caller: Caller<'_>,
    ) -> Result<Vec<AppReport>, YarnError> {
        let longest = self.longest_base();
        let mut out: Vec<AppReport> = Vec::new();
        for chunk in split_by_url_length(query, longest, MAX_APPS_URL_BYTES) {
            for app in self.apps(&chunk, caller).await? {
                if !out.iter().any(|a| a.id == app.id) {
                    out.push(app);
                }
            }
        }
        Ok(out)
    }

    /// `GET /ws/v1/cluster/apps/{id}`; a missing app is an error with `is_not_found()`.
    pub async fn app(&self, app_id: &str, caller: Caller<'_>) -> Result<AppReport, YarnError> {
        let call = self.get(format!("{API}/apps/{}", check_id(app_id)?), caller);
        Ok(self.run(&call).await?.json::<AppEnvelope>()?.app)
    }

    /// `GET /ws/v1/cluster/apps/{id}/state`.
    pub async fn app_state(&self, app_id: &str, caller: Caller<'_>) -> Result<AppState, YarnError> {
        let call = self.get(format!("{API}/apps/{}/state", check_id(app_id)?), caller);
        Ok(self.run(&call).await?.json::<AppStateBody>()?.state)
    }

    /// `GET /ws/v1/cluster/apps/{id}/appattempts`: where the AM ran and its log page
    /// (`logsLink`). Empty before the first attempt starts.
    pub async fn app_attempts(
        &self,
        app_id: &str,
        caller: Caller<'_>,
    ) -> Result<Vec<AppAttempt>, YarnError> {
        let call = self.get(
            format!("{API}/apps/{}/appattempts", check_id(app_id)?),
            caller,
        );
        let env: AttemptsEnvelope = self.run(&call).await?.json()?;
        Ok(env.app_attempts.map(|a| a.app_attempt).unwrap_or_default())
    }

    /// Kills an application: `PUT .../apps/{id}/state {"state":"KILLED"}`, repeated with a
    /// growing pause (as the Cluster Application State API says: "repeat the PUT request until
    /// you get a 200") until the RM reports a final state, which is returned (FINISHED or FAILED
    /// if the app ended on its own first). Gives up after the kill timeout with
    /// [`YarnError::KillNotConfirmed`].
    pub async fn kill(&self, app_id: &str, caller: Caller<'_>) -> Result<AppState, YarnError> {
        let call = Call {
            method: Method::PUT,
            body: Body::Json(br#"{"state":"KILLED"}"#.to_vec()),
            ..self.get(format!("{API}/apps/{}/state", check_id(app_id)?), caller)
        };
        let started = Instant::now();
        let mut pause = KILL_FIRST_BACKOFF;
        let mut attempts = 0;
        loop {
            attempts += 1;
            let state = self.run(&call).await?.json::<AppStateBody>()?.state;
            if state.is_final() {
                tracing::debug!(app_id, %state, attempts, "kill confirmed");
                return Ok(state);
            }
            if started.elapsed() + pause > self.inner.kill_timeout {
                return Err(YarnError::KillNotConfirmed {
                    app_id: app_id.to_string(),
                    last_state: state.to_string(),
                    attempts,
                    waited: started.elapsed(),
                });
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(KILL_MAX_BACKOFF);
        }
    }

    /// `POST /ws/v1/cluster/apps/new-application`: an application id for [`submit`](Self::submit).
    pub async fn new_application(&self, caller: Caller<'_>) -> Result<NewApplication, YarnError> {
        let call = Call {
            method: Method::POST,
            ..self.get(format!("{API}/apps/new-application"), caller)
        };
        self.run(&call).await?.json()
    }

    /// `POST /ws/v1/cluster/apps` with an `application-submission-context` (JSON as in the
    /// document). Returns the `Location` of the new app, if the RM sent one.
    pub async fn submit(
        &self,
        context: &serde_json::Value,
        caller: Caller<'_>,
    ) -> Result<Option<String>, YarnError> {
        let body = serde_json::to_vec(context).map_err(|e| YarnError::Invalid(e.to_string()))?;
        let call = Call {
            method: Method::POST,
            body: Body::Json(body),
            ..self.get(format!("{API}/apps"), caller)
        };
        let answer = self.run(&call).await?;
        if !answer.status.is_success() {
            return Err(answer.error());
        }
        Ok(answer.location().map(|u| u.to_string()))
    }

    /// `GET /ws/v1/cluster/scheduler`; see [`queue_headroom`](super::scheduler::queue_headroom).
    pub async fn scheduler(&self, caller: Caller<'_>) -> Result<SchedulerInfo, YarnError> {
        let call = self.get(format!("{API}/scheduler"), caller);
        Ok(self
            .run(&call)
            .await?
            .json::<SchedulerEnvelope>()?
            .scheduler
            .scheduler_info)
    }

    /// `POST /ws/v1/cluster/delegation-token`: a token `renewer` may renew. Kerberos only (the RM
    /// answers 403 on a simple-auth channel).
    pub async fn get_delegation_token(
        &self,
        renewer: &str,
        caller: Caller<'_>,
    ) -> Result<DelegationToken, YarnError> {
        let body = serde_json::to_vec(&serde_json::json!({ "renewer": renewer }))
            .map_err(|e| YarnError::Invalid(e.to_string()))?;
        let call = Call {
            method: Method::POST,
            body: Body::Json(body),
            ..self.get(format!("{API}/delegation-token"), caller)
        };
        self.run(&call).await?.json()
    }

    /// `POST /ws/v1/cluster/delegation-token/expiration`: the new expiration time (ms).
    pub async fn renew_delegation_token(
        &self,
        token: &str,
        caller: Caller<'_>,
    ) -> Result<i64, YarnError> {
        let call = Call {
            method: Method::POST,
            headers: vec![(RM_DELEGATION_TOKEN_HEADER, token)],
            ..self.get(format!("{API}/delegation-token/expiration"), caller)
        };
        Ok(self
            .run(&call)
            .await?
            .json::<TokenExpiration>()?
            .expiration_time)
    }

    /// `DELETE /ws/v1/cluster/delegation-token`.
    pub async fn cancel_delegation_token(
        &self,
        token: &str,
        caller: Caller<'_>,
    ) -> Result<(), YarnError> {
        let call = Call {
            method: Method::DELETE,
            headers: vec![(RM_DELEGATION_TOKEN_HEADER, token)],
            ..self.get(format!("{API}/delegation-token"), caller)
        };
        let answer = self.run(&call).await?;
        if answer.status.is_success() {
            Ok(())
        } else {
            Err(answer.error())
        }
    }

    fn get<'a>(&self, path: String, caller: Caller<'a>) -> Call<'a> {
        Call {
            method: Method::GET,
            path,
            query: None,
            body: Body::Empty,
            headers: Vec::new(),
            caller,
        }
    }

    /// Runs `call` on the active RM, failing over as the module docs describe.
    async fn run(&self, call: &Call<'_>) -> Result<Answer, YarnError> {
        let peers = &self.inner.peers;
        // A request that may have reached the RM is only repeated if repeating is harmless.
        let idempotent = call.method != Method::POST || call.path.ends_with("/new-application");
        let fail_over = |e: &YarnError| {
            e.is_standby()
                || matches!(e, YarnError::Connect { .. } | YarnError::Redirect { .. })
                || (idempotent && e.is_connection())
        };
        peers
            .run(fail_over, |i| async move {
                let (answer, served_by) = self.attempt(i, call).await?;
                if let Some(k) = served_by {
                    peers.remember(k);
                }
                Ok(answer)
            })
            .await
    }

    /// One attempt at RM `i`, following standby redirects. Returns the answer and the index of
    /// the RM that gave it (if it is one of ours).
    async fn attempt(
        &self,
        i: usize,
        call: &Call<'_>,
    ) -> Result<(Answer, Option<usize>), YarnError> {
        let peers = &self.inner.peers;
        let mut url = endpoint_url(&peers.get(i).base, &call.path)?;
        if let Some(q) = call.query {
            q.append_to(&mut url);
        }
        call.caller.append(&mut url, "doAs");
        if url.query() == Some("") {
            url.set_query(None);
        }
        let mut served_by = Some(i);
        for hop in 0..=MAX_REDIRECTS {
            let sent = std::time::Instant::now();
            let answer = self
                .inner
                .transport
                .send(call.method.clone(), &url, call.body.clone(), &call.headers)
                .await;
            let outcome = match &answer {
                Ok(a) if a.status.as_u16() >= 400 => "http_error",
                Ok(_) => "ok",
                Err(_) => "failed",
            };
            crate::metrics::get().rm_request(
                rm_endpoint(&call.method, &call.path),
                outcome,
                sent.elapsed(),
            );
            let answer = answer?;
            match standby_redirect(&answer) {
                // Only to a configured RM: the request may carry SPNEGO and, for a REST
                // submission, delegation tokens, which no other host may see.
                Redirect::To(next) if peers.index_of(&next).is_none() => {
                    return Err(YarnError::Redirect {
                        url: url.to_string(),
                        hops: hop,
                        detail: format!(
                            "redirect to {} which is not a configured ResourceManager (yarn.resourcemanager.*address*); not followed",
                            next.host_str().unwrap_or("?")
                        ),
                    });
                }
                Redirect::To(next) if hop < MAX_REDIRECTS => {
                    tracing::debug!(from = %url, to = %next, "following a standby RM's redirect");
                    served_by = peers.index_of(&next);
                    url = next;
                }
                Redirect::To(_) => break,
                Redirect::Broken(detail) => {
                    return Err(YarnError::Redirect {
                        url: url.to_string(),
                        hops: hop,
                        detail,
                    })
                }
                Redirect::None
                    if peers.len() > 1 && answer.status == StatusCode::SERVICE_UNAVAILABLE =>
                {
                    // A standby with no active RM to point at, or an RM still starting up.
                    return Err(YarnError::Standby {
                        url: url.to_string(),
                        detail: answer.snippet(),
                    });
                }
                Redirect::None => return Ok((answer, served_by)),
            }
        }
        Err(YarnError::Redirect {
            url: url.to_string(),
            hops: MAX_REDIRECTS,
            detail: "too many redirects: RMs keep pointing at each other".into(),
        })
    }
}

/// The RM REST endpoint a call goes to, as a metrics label from a fixed set: application ids
/// are left out so each application does not become a series of its own.
fn rm_endpoint(method: &Method, path: &str) -> &'static str {
    let rest = path.strip_prefix(API).unwrap_or(path);
    let parts: Vec<&str> = rest.trim_matches('/').split('/').collect();
    match (parts.as_slice(), *method == Method::GET) {
        (["info"], _) => "info",
        (["metrics"], _) => "metrics",
        (["scheduler"], _) => "scheduler",
        (["apps"], true) => "apps",
        (["apps"], false) => "submit",
        (["apps", "new-application"], _) => "new_application",
        (["apps", _], _) => "app",
        (["apps", _, "state"], true) => "app_state",
        (["apps", _, "state"], false) => "kill",
        (["apps", _, "appattempts"], _) => "app_attempts",
        (["delegation-token"], _) => "delegation_token",
        (["delegation-token", "expiration"], _) => "delegation_token_renew",
        _ => "other",
    }
}

enum Redirect {
    None,
    To(Url),
    Broken(String),
}

/// A standby RM's pointer to the active one: a 3xx `Location`, or the old `Refresh` header on
/// a 200 (`Refresh: 3; url=http://active:8088/...`).
fn standby_redirect(answer: &Answer) -> Redirect {
    if answer.status.is_redirection() {
        return match answer.location() {
            Some(url) => Redirect::To(url),
            None => Redirect::Broken(format!(
                "HTTP {} without a usable Location",
                answer.status.as_u16()
            )),
        };
    }
    if answer.status == StatusCode::OK {
        if let Some(refresh) = answer.header("refresh") {
            let lower = refresh.to_ascii_lowercase();
            if let Some(pos) = lower.find("url=") {
                let target = refresh[pos + 4..].trim().trim_matches(['\'', '"']);
                return match answer.url.join(target) {
                    Ok(url) => Redirect::To(url),
                    Err(e) => Redirect::Broken(format!("bad Refresh url {target:?}: {e}")),
                };
            }
        }
    }
    Redirect::None
}

/// Application ids go into URL paths: only `application_<ts>_<seq>`-like text is accepted.
fn check_id(app_id: &str) -> Result<&str, YarnError> {
    if !app_id.is_empty()
        && app_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        Ok(app_id)
    } else {
        Err(YarnError::Invalid(format!(
            "not an application id: {app_id:?}"
        )))
    }
}

#[cfg(test)]
#[path = "client_tests.rs"]
mod tests;
