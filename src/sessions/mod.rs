//! Sessions: what interactive sessions and batches share (states, the registry that owns them).

pub mod registry;
pub mod state;

pub use registry::{Entry, NameError, Registry, Reservation};
pub use state::SessionState;

use serde::{Deserialize, Serialize};

/// Links about the Spark application, as Livy's `AppInfo` (all null until known).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppInfo {
    pub driver_log_url: Option<String>,
    pub spark_ui_url: Option<String>,
    pub executor_log_urls: Option<String>,
}
