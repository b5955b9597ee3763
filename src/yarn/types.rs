//! The ResourceManager's JSON shapes (ResourceManagerRest.md), as typed structs.
//!
//! Parsing is lenient where Hadoop versions differ, so a newer or older RM does not break the
//! monitor: unknown fields are ignored, missing ones default, numbers may be ints or floats
//! (`progress` is `100` in old examples, `100.0` in Hadoop 3), `unmanagedApplication` may be a
//! boolean or the string `"false"`, a list may be `null` (`{"apps": null}` means no apps) or a
//! single object, and `applicationTags` is the comma-separated string the RM sends.

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};
use std::fmt;

/// `YarnApplicationState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AppState {
    New,
    NewSaving,
    Submitted,
    Accepted,
    Running,
    Finished,
    Failed,
    Killed,
    /// A state this client does not know (a newer RM); treated as not final.
    #[serde(other)]
    Unknown,
}

impl AppState {
    /// FINISHED, FAILED or KILLED: the application will not change any more.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            AppState::Finished | AppState::Failed | AppState::Killed
        )
    }

    /// The name the RM uses (for `states=` queries).
    pub fn as_str(self) -> &'static str {
        match self {
            AppState::New => "NEW",
            AppState::NewSaving => "NEW_SAVING",
            AppState::Submitted => "SUBMITTED",
            AppState::Accepted => "ACCEPTED",
            AppState::Running => "RUNNING",
            AppState::Finished => "FINISHED",
            AppState::Failed => "FAILED",
            AppState::Killed => "KILLED",
            AppState::Unknown => "UNKNOWN",
        }
    }
}

impl fmt::Display for AppState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `FinalApplicationStatus`, reported by the application itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FinalStatus {
    #[default]
    Undefined,
    Succeeded,
    Failed,
    Killed,
    Ended,
    #[serde(other)]
    Unknown,
}

/// Memory (MB) and virtual cores: the RM's `{"memory": .., "vCores": ..}` resource object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Resources {
    #[serde(rename = "memory", default)]
    pub memory_mb: i64,
    #[serde(rename = "vCores", default)]
    pub vcores: i64,
}

/// `GET /ws/v1/cluster/info` → `clusterInfo`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ClusterInfo {
    pub id: i64,
    pub started_on: i64,
    /// NOTINITED, INITED, STARTED, STOPPED.
    pub state: String,
    /// INITIALIZING, ACTIVE, STANDBY, STOPPED (absent on RMs without HA support).
    pub ha_state: Option<String>,
    pub resource_manager_version: String,
    pub hadoop_version: String,
}

impl ClusterInfo {
    pub fn is_standby(&self) -> bool {
        self.ha_state.as_deref() == Some("STANDBY")
    }
}

/// `GET /ws/v1/cluster/metrics` → `clusterMetrics` (the fields capacity planning needs).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ClusterMetrics {
    pub apps_submitted: i64,
    pub apps_pending: i64,
    pub apps_running: i64,
    #[serde(rename = "availableMB")]
    pub available_mb: i64,
    #[serde(rename = "allocatedMB")]
    pub allocated_mb: i64,
    #[serde(rename = "totalMB")]
    pub total_mb: i64,
    pub available_virtual_cores: i64,
    pub allocated_virtual_cores: i64,
    pub total_virtual_cores: i64,
    pub active_nodes: i64,
}

impl ClusterMetrics {
    /// The cluster's total resources.
    pub fn total(&self) -> Resources {
        Resources {
            memory_mb: self.total_mb,
            vcores: self.total_virtual_cores,
        }
    }
}

/// One application (`app` object of the Cluster Application(s) API).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppReport {
    pub id: String,
    #[serde(default)]
    pub user: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub queue: String,
    pub state: AppState,
    #[serde(default)]
    pub final_status: FinalStatus,
    /// Percent, 0–100.
    #[serde(default)]
    pub progress: f64,
    /// `UNASSIGNED`, `ApplicationMaster` or `History`.
    #[serde(default, rename = "trackingUI")]
    pub tracking_ui: Option<String>,
    #[serde(default)]
    pub tracking_url: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub diagnostics: String,
    #[serde(default)]
    pub cluster_id: i64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub application_type: String,
    /// Lower-cased by YARN when stored.
    #[serde(default, deserialize_with = "comma_list")]
    pub application_tags: Vec<String>,
    #[serde(default)]
    pub started_time: i64,
    /// 0 until the application is final.
    #[serde(default)]
    pub finished_time: i64,
    #[serde(default)]
    pub elapsed_time: i64,
    /// The AM container's log page on its NodeManager, once an attempt was launched.
    #[serde(default)]
    pub am_container_logs: Option<String>,
    #[serde(default)]
    pub am_host_http_address: Option<String>,
    /// -1 for finished applications on Hadoop 3.
    #[serde(default, rename = "allocatedMB")]
    pub allocated_mb: i64,
    #[serde(default, rename = "allocatedVCores")]
    pub allocated_vcores: i64,
    #[serde(default)]
    pub running_containers: i64,
    #[serde(default)]
    pub memory_seconds: i64,
    #[serde(default)]
    pub vcore_seconds: i64,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub unmanaged_application: bool,
    #[serde(default)]
    pub application_priority: Option<i64>,
}

/// `{"apps": {"app": [...]}}`, or `{"apps": null}` when nothing matches.
#[derive(Debug, Deserialize)]
pub(crate) struct AppsEnvelope {
    #[serde(default)]
    pub apps: Option<AppList>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct AppList {
    #[serde(default, deserialize_with = "one_or_many")]
    pub app: Vec<AppReport>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct AppEnvelope {
    pub app: AppReport,
}

/// `{"state": "ACCEPTED"}` from the Cluster Application State API.
#[derive(Debug, Deserialize)]
pub(crate) struct AppStateBody {
    pub state: AppState,
}

/// One attempt (`appAttempt` object of the Cluster Application Attempts API).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppAttempt {
    /// The attempt number (an int in the doc, a string on some versions).
    #[serde(deserialize_with = "string_or_number")]
    pub id: String,
    #[serde(default)]
    pub node_id: Option<String>,
    #[serde(default)]
    pub node_http_address: Option<String>,
    /// The AM container's log page: where a driver's stdout/stderr are read from.
    #[serde(default)]
    pub logs_link: Option<String>,
    #[serde(default)]
    pub container_id: Option<String>,
    #[serde(default)]
    pub start_time: i64,
    #[serde(default)]
    pub finished_time: i64,
    #[serde(default)]
    pub app_attempt_id: Option<String>,
    #[serde(default)]
    pub app_attempt_state: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct AttemptsEnvelope {
    #[serde(default, rename = "appAttempts")]
    pub app_attempts: Option<AttemptList>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct AttemptList {
    #[serde(default, rename = "appAttempt", deserialize_with = "one_or_many")]
    pub app_attempt: Vec<AppAttempt>,
}

/// `POST /ws/v1/cluster/apps/new-application`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct NewApplication {
    #[serde(rename = "application-id")]
    pub application_id: String,
    /// The largest container the cluster grants.
    #[serde(rename = "maximum-resource-capability", default)]
    pub maximum_resource_capability: Resources,
}

/// An RM delegation token (Cluster Delegation Tokens API). The token itself is a secret.
#[derive(Clone, PartialEq, Deserialize)]
pub struct DelegationToken {
    pub token: String,
    #[serde(default)]
    pub renewer: Option<String>,
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default, rename = "expiration-time")]
    pub expiration_time: Option<i64>,
    #[serde(default, rename = "max-validity")]
    pub max_validity: Option<i64>,
}

impl fmt::Debug for DelegationToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DelegationToken")
            .field("token", &"<redacted>")
            .field("renewer", &self.renewer)
            .field("owner", &self.owner)
            .field("kind", &self.kind)
            .field("expiration_time", &self.expiration_time)
            .finish()
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct TokenExpiration {
    #[serde(rename = "expiration-time")]
    pub expiration_time: i64,
}

/// Accepts `[x, ...]`, a single `x`, or `null`.
pub(crate) fn one_or_many<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany<T> {
        Many(Vec<T>),
        One(T),
    }
    Ok(match Option::<OneOrMany<T>>::deserialize(d)? {
        None => Vec::new(),
        Some(OneOrMany::Many(v)) => v,
        Some(OneOrMany::One(x)) => vec![x],
    })
}

fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// `"a,b"` (or a JSON list, or null) → `["a", "b"]`.
fn comma_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Tags {
        Csv(String),
        List(Vec<String>),
    }
    Ok(match Option::<Tags>::deserialize(d)? {
        None => Vec::new(),
        Some(Tags::Csv(s)) => crate::conf::units::comma_list(&s),
        Some(Tags::List(v)) => v,
    })
}

/// `true`, `"true"`, `"false"`, null.
fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    match Option::<serde_json::Value>::deserialize(d)? {
        None | Some(serde_json::Value::Null) => Ok(false),
        Some(serde_json::Value::Bool(b)) => Ok(b),
        Some(serde_json::Value::String(s)) => Ok(s.eq_ignore_ascii_case("true")),
        Some(other) => Err(de::Error::custom(format!(
            "expected a boolean, got {other}"
        ))),
    }
}

fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => Ok(s),
        serde_json::Value::Number(n) => Ok(n.to_string()),
        other => Err(de::Error::custom(format!("expected an id, got {other}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Cluster Applications API JSON example (tabs and string booleans included).
    const APPS_EXAMPLE: &str = r#"{
  "apps":
  {
    "app":
    [
       {
          "finishedTime" : 1326815598530,
          "amContainerLogs" : "http://host.domain.com:8042/node/containerlogs/container_1326815542473_0001_01_000001",
          "trackingUI" : "History",
          "state" : "FINISHED",
          "user" : "user1",
          "id" : "application_1326815542473_0001",
          "clusterId" : 1326815542473,
          "finalStatus" : "SUCCEEDED",
          "amHostHttpAddress" : "host.domain.com:8042",
          "progress" : 100,
          "name" : "word count",
          "startedTime" : 1326815573334,
          "elapsedTime" : 25196,
          "diagnostics" : "",
          "trackingUrl" : "http://host.domain.com:8088/proxy/application_1326815542473_0001/jobhistory/job/job_1326815542473_1_1",
          "queue" : "default",
          "allocatedMB" : 0,
          "allocatedVCores" : 0,
          "runningContainers" : 0,
	  "applicationType" : "MAPREDUCE",
	  "applicationTags" : "",
          "memorySeconds" : 151730,
          "vcoreSeconds" : 103,
          "unmanagedApplication" : "false",
          "applicationPriority" : 0,
          "appNodeLabelExpression" : "",
          "amnodeLabelExpression" : ""
       },
       {
          "finishedTime" : 1326815789546,
          "amContainerLogs" : "http://host.domain.com:8042/node/containerlogs/container_1326815542473_0002_01_000001",
          "trackingUI" : "History",
          "state" : "FINISHED",
          "user" : "user1",
          "id" : "application_1326815542473_0002",
          "clusterId" : 1326815542473,
          "finalStatus" : "SUCCEEDED",
          "amHostHttpAddress" : "host.domain.com:8042",
          "progress" : 100,
          "name" : "Sleep job",
          "startedTime" : 1326815641380,
          "elapsedTime" : 148166,
          "diagnostics" : "",
          "trackingUrl" : "http://host.domain.com:8088/proxy/application_1326815542473_0002/jobhistory/job/job_1326815542473_2_2",
          "queue" : "default",
          "allocatedMB" : 0,
          "allocatedVCores" : 0,
          "runningContainers" : 1,
	  "applicationType" : "YARN",
	  "applicationTags" : "tag1",
          "memorySeconds" : 640064,
          "vcoreSeconds" : 442,
          "unmanagedApplication" : "false",
          "applicationPriority" : 0,
          "appNodeLabelExpression" : "",
          "amNodeLabelExpression" : ""
       }
    ]
  }
}"#;

    #[test]
    fn parses_the_apps_example() {
        let env: AppsEnvelope = serde_json::from_str(APPS_EXAMPLE).unwrap();
        let apps = env.apps.unwrap().app;
        assert_eq!(apps.len(), 2);
        let a = &apps[0];
        assert_eq!(a.id, "application_1326815542473_0001");
        assert_eq!(a.state, AppState::Finished);
        assert!(a.state.is_final());
        assert_eq!(a.final_status, FinalStatus::Succeeded);
        assert_eq!(a.progress, 100.0);
        assert_eq!(a.application_type, "MAPREDUCE");
        assert!(a.application_tags.is_empty());
        assert!(!a.unmanaged_application);
        assert_eq!(a.finished_time, 1326815598530);
        assert_eq!(a.tracking_ui.as_deref(), Some("History"));
        assert!(a
            .am_container_logs
            .as_deref()
            .unwrap()
            .contains("container_1326815542473_0001_01_000001"));
        assert_eq!(apps[1].application_tags, ["tag1"]);
        assert_eq!(apps[1].running_containers, 1);
    }

    #[test]
    fn null_apps_means_none_and_a_single_app_object_is_accepted() {
        let env: AppsEnvelope = serde_json::from_str(r#"{"apps": null}"#).unwrap();
        assert!(env.apps.is_none());
        let one = r#"{"apps":{"app":{"id":"application_1_0001","state":"RUNNING","applicationTags":"a,b","unmanagedApplication":true,"progress":10.5,"diagnostics":null}}}"#;
        let env: AppsEnvelope = serde_json::from_str(one).unwrap();
        let app = &env.apps.unwrap().app[0];
        assert_eq!(app.application_tags, ["a", "b"]);
        assert!(app.unmanaged_application);
        assert_eq!(app.diagnostics, "");
        assert_eq!(app.final_status, FinalStatus::Undefined);
    }

    #[test]
    fn unknown_states_do_not_fail_parsing() {
        let app: AppReport =
            serde_json::from_str(r#"{"id":"a","state":"HIBERNATING","finalStatus":"WHATEVER"}"#)
                .unwrap();
        assert_eq!(app.state, AppState::Unknown);
        assert!(!app.state.is_final());
        assert_eq!(app.final_status, FinalStatus::Unknown);
    }

    /// The Cluster Application API JSON example.
    #[test]
    fn parses_the_single_app_example() {
        let body = r#"{
   "app" : {
      "finishedTime" : 1326824991300,
      "amContainerLogs" : "http://host.domain.com:8042/node/containerlogs/container_1326821518301_0005_01_000001",
      "trackingUI" : "History",
      "state" : "FINISHED",
      "user" : "user1",
      "id" : "application_1326821518301_0005",
      "clusterId" : 1326821518301,
      "finalStatus" : "SUCCEEDED",
      "amHostHttpAddress" : "host.domain.com:8042",
      "progress" : 100,
      "name" : "Sleep job",
      "applicationType" : "Yarn",
      "startedTime" : 1326824544552,
      "elapsedTime" : 446748,
      "diagnostics" : "",
      "trackingUrl" : "http://host.domain.com:8088/proxy/application_1326821518301_0005/jobhistory/job/job_1326821518301_5_5",
      "queue" : "a1",
      "memorySeconds" : 151730,
      "vcoreSeconds" : 103,
      "unmanagedApplication" : "false",
      "applicationPriority" : 0,
      "appNodeLabelExpression" : "",
      "amNodeLabelExpression" : ""
   }
}"#;
        let app = serde_json::from_str::<AppEnvelope>(body).unwrap().app;
        assert_eq!(app.queue, "a1");
        assert_eq!(app.user, "user1");
        assert_eq!(app.started_time, 1326824544552);
    }

    /// The Cluster Application Attempts API JSON example (numeric `id`).
    #[test]
    fn parses_the_attempts_example() {
        let body = r#"{
   "appAttempts" : {
      "appAttempt" : [
         {
            "nodeId" : "host.domain.com:8041",
            "nodeHttpAddress" : "host.domain.com:8042",
            "startTime" : 1326381444693,
            "id" : 1,
            "logsLink" : "http://host.domain.com:8042/node/containerlogs/container_1326821518301_0005_01_000001/user1",
            "containerId" : "container_1326821518301_0005_01_000001"
         }
      ]
   }
}"#;
        let env: AttemptsEnvelope = serde_json::from_str(body).unwrap();
        let att = &env.app_attempts.unwrap().app_attempt[0];
        assert_eq!(att.id, "1");
        assert_eq!(att.logs_link.as_deref(), Some("http://host.domain.com:8042/node/containerlogs/container_1326821518301_0005_01_000001/user1"));
        let none: AttemptsEnvelope = serde_json::from_str(r#"{"appAttempts":null}"#).unwrap();
        assert!(none.app_attempts.is_none());
    }

    #[test]
    fn parses_cluster_info_new_app_and_tokens() {
        let info = r#"{"clusterInfo":{"id":1324053971963,"startedOn":1324053971963,"state":"STARTED","haState":"ACTIVE","resourceManagerVersion":"0.23.1-SNAPSHOT","hadoopVersion":"0.23.1-SNAPSHOT"}}"#;
        #[derive(Deserialize)]
        struct W {
            #[serde(rename = "clusterInfo")]
            c: ClusterInfo,
        }
        let c = serde_json::from_str::<W>(info).unwrap().c;
        assert_eq!(c.ha_state.as_deref(), Some("ACTIVE"));
        assert!(!c.is_standby());
        let new_app: NewApplication = serde_json::from_str(
            r#"{"application-id":"application_1404198295326_0003","maximum-resource-capability":{"memory":8192,"vCores":32}}"#,
        )
        .unwrap();
        assert_eq!(
            new_app.maximum_resource_capability,
            Resources {
                memory_mb: 8192,
                vcores: 32
            }
        );
        let tok: DelegationToken = serde_json::from_str(
            r#"{"token":"MgASY2xp","renewer":"test-renewer","owner":"client@EXAMPLE.COM","kind":"RM_DELEGATION_TOKEN","expiration-time":1405153616489,"max-validity":1405672016489}"#,
        )
        .unwrap();
        assert_eq!(tok.expiration_time, Some(1405153616489));
        assert!(
            !format!("{tok:?}").contains("MgASY2xp"),
            "tokens never reach logs"
        );
    }
}
