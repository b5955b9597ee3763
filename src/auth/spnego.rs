//! SPNEGO (HTTP `Negotiate`, RFC 4559) acceptor: what Livy's Kerberos authentication handler
//! does for `livy.server.auth.type = kerberos`.
//!
//! Each request's token is accepted in a fresh GSSAPI context with the server's acceptor
//! credential (one leg for Kerberos, as in Hadoop). The acceptor uses MIT's replay cache (the
//! default `dfl` cache in `KRB5RCACHEDIR`, `/var/tmp` unless set), so a captured token cannot be
//! presented twice. GSSAPI calls block (keytab and replay-cache I/O), so they run on tokio's
//! blocking threads, but only through [`AcceptPool`]: a flood of tokens (browsers negotiate on
//! their own, and anyone can send a token) must not take every blocking thread the server needs
//! for files and processes.

use super::gss;
use super::name_rules::{NameError, NameRules};
use crate::conf::auth::KerberosConf;
use libgssapi::context::{SecurityContext, ServerCtx};
use libgssapi::credential::Cred;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// How many tokens are checked at once. Accepting a Kerberos token takes milliseconds, so this
/// serves thousands of logins a second while leaving tokio's blocking threads to everyone else.
pub const ACCEPT_WORKERS: usize = 8;

/// How long a token waits for a free worker before the client is told to come back (503).
pub const ACCEPT_QUEUE_WAIT: Duration = Duration::from_secs(2);

/// The server side of SPNEGO, ready to accept tokens.
pub struct Spnego {
    cred: Cred,
    principal: String,
    rules: NameRules,
    default_realm: String,
    /// Where [`Spnego::accept`] runs.
    pub pool: AcceptPool,
}

impl std::fmt::Debug for Spnego {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spnego")
            .field("principal", &self.principal)
            .finish_non_exhaustive()
    }
}

/// A successfully accepted token.
#[derive(Debug)]
pub struct Accepted {
    /// The client's full principal, e.g. `alice/admin@LIVY.TEST`.
    pub principal: String,
    /// The short name from the auth_to_local rules.
    pub user: String,
    /// The mutual-authentication token for `WWW-Authenticate: Negotiate <token>`.
    pub reply: Option<Vec<u8>>,
}

/// Why a token was not accepted. The details are for the server log; the client only gets a
/// new challenge (or a 403 for a principal no rule maps).
#[derive(Debug, thiserror::Error)]
pub enum SpnegoError {
    #[error("GSSAPI rejected the token: {0}")]
    Rejected(libgssapi::error::Error),
    /// More legs needed (not Kerberos): the server's token goes back in a new challenge.
    #[error("the negotiation needs another round trip")]
    Continue(Vec<u8>),
    #[error("cannot read the client's name: {0}")]
    Name(libgssapi::error::Error),
    #[error(transparent)]
    Unmapped(#[from] NameError),
}

impl Spnego {
    /// Acquires the acceptor credential for the configured principal from the configured keytab.
    pub fn from_conf(conf: &KerberosConf) -> Result<Self, gss::CredError> {
        let principal = (conf.principal != "*").then_some(conf.principal.as_str());
        let cred = gss::acceptor_from_keytab(principal, &conf.keytab.to_string_lossy())?;
        Ok(Spnego {
            cred,
            principal: conf.principal.clone(),
            rules: conf.name_rules.clone(),
            default_realm: conf.default_realm.clone(),
            pool: AcceptPool::new(ACCEPT_WORKERS, ACCEPT_QUEUE_WAIT),
        })
    }

    /// The principal this server accepts tickets for.
    pub fn principal(&self) -> &str {
        &self.principal
    }

    /// Accepts one client token. Blocking.
    pub fn accept(&self, token: &[u8]) -> Result<Accepted, SpnegoError> {
        let mut ctx = ServerCtx::new(Some(self.cred.clone()));
        let reply = ctx.step(token).map_err(SpnegoError::Rejected)?;
        if !ctx.is_complete() {
            return Err(SpnegoError::Continue(
                reply.map(|b| b.to_vec()).unwrap_or_default(),
            ));
        }
        let name = ctx.source_name().map_err(SpnegoError::Name)?;
        let principal = name
            .display_name()
            .map_err(SpnegoError::Name)
            .map(|b| String::from_utf8_lossy(&b).into_owned())?;
        let user = self.rules.short_name(&principal, &self.default_realm)?;
        Ok(Accepted {
            principal,
            user,
            reply: reply.map(|b| b.to_vec()),
        })
    }
}

/// A bounded set of blocking workers: at most `workers` jobs run at once; a job that finds them
/// all taken waits up to `wait` for one, then is refused with [`PoolBusy`].
#[derive(Debug)]
pub struct AcceptPool {
    permits: Arc<Semaphore>,
    workers: usize,
    wait: Duration,
}

/// Every worker stayed busy for the whole wait.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("all {workers} authentication workers are busy")]
pub struct PoolBusy {
    pub workers: usize,
}

impl AcceptPool {
    pub fn new(workers: usize, wait: Duration) -> Self {
        let workers = workers.max(1);
        AcceptPool {
            permits: Arc::new(Semaphore::new(workers)),
            workers,
            wait,
        }
    }

    /// Runs blocking `job` on a worker. The worker stays taken until `job` returns even if the
    /// caller goes away (a client that disconnects mid-negotiation), so the bound holds.
    pub async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<Result<T, tokio::task::JoinError>, PoolBusy> {
        let busy = || PoolBusy {
            workers: self.workers,
        };
        let permit = tokio::time::timeout(self.wait, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| busy())?
            .map_err(|_| busy())?;
        Ok(tokio::task::spawn_blocking(move || {
            let _permit = permit;
            job()
        })
        .await)
    }
}
