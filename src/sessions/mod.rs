//! Sessions: interactive sessions (a live Spark driver running statements) and what they share
//! with batches (states, the registry that owns them, application info).

pub mod commands;
mod driver_channel;
pub mod interactive;
pub mod jobs;
pub mod lifecycle;
pub mod manager;
pub mod pool;
pub mod record;
mod recover;
pub mod registry;
pub mod request;
pub mod staging;
pub mod state;
#[cfg(test)]
pub(crate) mod tests;

pub use interactive::{Session, SessionView};
pub use manager::InteractiveSessions;
pub use registry::{Entry, NameError, Registry, Reservation};
pub use request::{CreateSessionRequest, Kind};
pub use state::SessionState;

use serde::{Deserialize, Serialize};

/// Links about the Spark application, as Livy's `AppInfo` (all null until known).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppInfo {
    pub driver_log_url: Option<String>,
    pub spark_ui_url: Option<String>,
    pub executor_log_urls: Option<String>,
}
