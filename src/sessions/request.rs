//! The body of `POST /sessions` (Livy 0.9's `CreateInteractiveRequest`) and the statement and
//! completion requests.

use crate::coerce::{opt_int, opt_string, string_list, string_map};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The kind of an interactive session (Livy's `Kind`); `shared` is Livy 0.9's default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Spark,
    #[serde(alias = "pyspark3")]
    Pyspark,
    Sparkr,
    Sql,
    #[default]
    Shared,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Spark => "spark",
            Kind::Pyspark => "pyspark",
            Kind::Sparkr => "sparkr",
            Kind::Sql => "sql",
            Kind::Shared => "shared",
        }
    }

    /// Parses a statement's `kind` (Livy accepts the same names).
    pub fn parse(text: &str) -> Option<Kind> {
        serde_json::from_value(serde_json::Value::String(text.to_ascii_lowercase())).ok()
    }
}

/// A session as the user asked for it; kept whole with the session.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateSessionRequest {
    #[serde(default, deserialize_with = "opt_kind")]
    pub kind: Kind,
    #[serde(default, deserialize_with = "opt_string")]
    pub proxy_user: Option<String>,
    #[serde(default, deserialize_with = "string_list")]
    pub jars: Vec<String>,
    #[serde(default, deserialize_with = "string_list")]
    pub py_files: Vec<String>,
    #[serde(default, deserialize_with = "string_list")]
    pub files: Vec<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub driver_memory: Option<String>,
    #[serde(default, deserialize_with = "opt_int")]
    #[schema(minimum = 1, maximum = 1_000_000)]
    pub driver_cores: Option<i32>,
    #[serde(default, deserialize_with = "opt_string")]
    pub executor_memory: Option<String>,
    #[serde(default, deserialize_with = "opt_int")]
    #[schema(minimum = 1, maximum = 1_000_000)]
    pub executor_cores: Option<i32>,
    #[serde(default, deserialize_with = "opt_int")]
    #[schema(minimum = 0, maximum = 1_000_000)]
    pub num_executors: Option<i32>,
    #[serde(default, deserialize_with = "string_list")]
    pub archives: Vec<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub queue: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "string_map")]
    pub conf: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "opt_int")]
    pub heartbeat_timeout_in_second: Option<i32>,
    #[serde(default, deserialize_with = "opt_string")]
    pub ttl: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub idle_timeout: Option<String>,
}

fn opt_kind<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Kind, D::Error> {
    let text: Option<String> = Option::deserialize(d)?;
    match text {
        None => Ok(Kind::Shared),
        Some(t) => Kind::parse(&t).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown session kind '{t}'; expected spark, pyspark, sparkr, sql or shared"
            ))
        }),
    }
}

crate::impl_spark_request!(CreateSessionRequest);

/// `POST /sessions/{id}/statements`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecuteRequest {
    #[serde(deserialize_with = "required_string")]
    pub code: String,
    #[serde(default, deserialize_with = "opt_string")]
    pub kind: Option<String>,
}

/// `POST /sessions/{id}/completion`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompletionRequest {
    #[serde(deserialize_with = "required_string")]
    pub code: String,
    #[serde(default, deserialize_with = "opt_string")]
    pub kind: Option<String>,
    #[serde(default, deserialize_with = "opt_int")]
    pub cursor: Option<i32>,
}

fn required_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    opt_string(d)?.ok_or_else(|| serde::de::Error::custom("must not be null"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_parse_like_livy() {
        let r: CreateSessionRequest = serde_json::from_str("{}").unwrap();
        assert_eq!(r.kind, Kind::Shared);
        let r: CreateSessionRequest = serde_json::from_str(r#"{"kind":"pyspark3"}"#).unwrap();
        assert_eq!(r.kind, Kind::Pyspark);
        assert!(serde_json::from_str::<CreateSessionRequest>(r#"{"kind":"cobol"}"#).is_err());
        let r: CreateSessionRequest =
            serde_json::from_str(r#"{"kind":"spark","heartbeatTimeoutInSecond":"30","ttl":"1h"}"#)
                .unwrap();
        assert_eq!(r.heartbeat_timeout_in_second, Some(30));
        assert!(serde_json::from_str::<ExecuteRequest>(r#"{"kind":"sql"}"#).is_err());
        assert!(serde_json::from_str::<ExecuteRequest>(r#"{"code":null}"#).is_err());
    }
}
