//! Connection settings shared by the ResourceManager and WebHDFS clients: both talk to an HA set
//! of HTTP endpoints with the same timeouts, authenticator and failover rules.

use super::conf::Endpoint;
use super::error::YarnError;
use super::failover::{Peers, DEFAULT_FAILOVER_BACKOFF, DEFAULT_FAILOVER_ROUNDS};
use super::http::{
    NoAuth, RequestAuth, Transport, DEFAULT_CONNECT_TIMEOUT, DEFAULT_REQUEST_TIMEOUT,
};
use std::sync::Arc;
use std::time::Duration;

/// Endpoints plus how to reach them.
pub(crate) struct Connection {
    pub endpoints: Vec<Endpoint>,
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub auth: Arc<dyn RequestAuth>,
    pub failover_rounds: usize,
    pub failover_backoff: Duration,
}

impl Connection {
    pub fn new(endpoints: Vec<Endpoint>) -> Self {
        Connection {
            endpoints,
            timeout: DEFAULT_REQUEST_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            auth: Arc::new(NoAuth),
            failover_rounds: DEFAULT_FAILOVER_ROUNDS,
            failover_backoff: DEFAULT_FAILOVER_BACKOFF,
        }
    }

    /// The HTTP transport and the HA peer list for `service` ("ResourceManager", "NameNode").
    pub fn open(self, service: &'static str) -> Result<(Transport, Peers), YarnError> {
        Ok((
            Transport::new(self.timeout, self.connect_timeout, self.auth)?,
            Peers::new(
                service,
                &self.endpoints,
                self.failover_rounds,
                self.failover_backoff,
            )?,
        ))
    }
}

/// The builder methods for a [`Connection`] held in a builder's `conn` field.
macro_rules! connection_setters {
    () => {
        /// Per-request timeout (connect, send, whole answer). Default 30 s.
        pub fn timeout(mut self, timeout: std::time::Duration) -> Self {
            self.conn.timeout = timeout;
            self
        }

        /// Connect timeout, so a dead HA peer is skipped quickly. Default 5 s.
        pub fn connect_timeout(mut self, timeout: std::time::Duration) -> Self {
            self.conn.connect_timeout = timeout;
            self
        }

        /// The request authenticator (default [`NoAuth`](crate::yarn::NoAuth)).
        pub fn auth(mut self, auth: std::sync::Arc<dyn crate::yarn::RequestAuth>) -> Self {
            self.conn.auth = auth;
            self
        }

        /// Passes over all peers before a call fails (HA only). Default 2.
        pub fn failover_rounds(mut self, rounds: usize) -> Self {
            self.conn.failover_rounds = rounds;
            self
        }

        /// Pause between passes, times the pass number. Default 200 ms.
        pub fn failover_backoff(mut self, backoff: std::time::Duration) -> Self {
            self.conn.failover_backoff = backoff;
            self
        }
    };
}
pub(crate) use connection_setters;
