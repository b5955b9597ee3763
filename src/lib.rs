//! livy-rs: a Livy-compatible REST server for Spark batches and interactive sessions.
//!
//! Layout follows the concepts Livy users know: [`conf`] (livy.conf and friends), [`api`] (one
//! module per REST resource), [`batches`], [`sessions`], [`launch`] (spark-submit and process
//! supervision), [`auth`] (who may do what), [`yarn`] (ResourceManager and WebHDFS REST
//! clients), [`ha`] (several servers as one over ZooKeeper); [`app`] ties them together.

pub mod api;
pub mod app;
pub mod auth;
pub mod batches;
pub mod cli;
pub mod coerce;
pub mod conf;
pub mod driver;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod ha;
pub mod launch;
pub mod logs;
pub mod metrics;
pub mod recovery;
pub mod server;
pub mod sessions;
pub mod statements;
pub mod yarn;

#[cfg(test)]
pub(crate) mod test_support;
