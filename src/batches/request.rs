//! The body of `POST /batches` (Livy's `CreateBatchRequest`).

use crate::coerce::{opt_int, opt_string, string_list, string_map};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A batch as the user submitted it. Kept whole with the batch (and, with recovery, in the state
/// store), so nothing the user sent is lost.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateBatchRequest {
    #[serde(default, deserialize_with = "opt_string")]
    pub file: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub proxy_user: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub class_name: Option<String>,
    #[serde(default, deserialize_with = "string_list")]
    pub args: Vec<String>,
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
}

crate::impl_spark_request!(CreateBatchRequest);
