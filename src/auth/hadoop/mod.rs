//! The server's own Kerberos identity towards Hadoop (`livy.server.launch.kerberos.*`).
//!
//! On a Kerberized cluster (`hadoop.security.authentication = kerberos` in core-site.xml) Livy
//! runs `kinit -kt <keytab> <principal>` at start and every `refresh-interval`, and everything it
//! launches uses that ticket. livy-rs does the same without a `kinit` binary: one task
//! ([`HadoopIdentity::start`]) logs in from the keytab through GSSAPI ([`gss`]) into a
//! *private* credential cache (a 0700 directory of the server's own, never the user's default
//! ccache), renews it every `refresh-interval` and before the ticket's end (at 80% of its
//! lifetime, as Hadoop's UGI does), and hands the ccache to spark-submit (`KRB5CCNAME`) and to
//! the SPNEGO client of the RM and WebHDFS ([`negotiate::SpnegoAuth`]).
//!
//! Failures: Livy retries a failed kinit at once and, after `kinit-fail-threshold` consecutive
//! failures, stops the whole server. livy-rs deliberately does not exit because the KDC or a
//! keytab misbehaves: after the threshold it logs one error, marks the identity *failed* (every
//! launch and RM/WebHDFS call that needs it then fails with that error, naming the principal,
//! the keytab and the cause), keeps serving everything else, and keeps trying every
//! `refresh-interval`, so a fixed keytab heals the server without a restart. Below the threshold
//! it retries after a short pause, and an earlier ticket that is still valid keeps being used.

pub mod negotiate;

use crate::auth::gss;
use parking_lot::Mutex;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Pause between retries of a failed login, below the failure threshold (Livy retries at once;
/// a short pause keeps a dead KDC from being hammered).
pub const RETRY_PAUSE: Duration = Duration::from_secs(1);
/// Never renew more often than this, whatever the ticket lifetime.
const MIN_RENEW: Duration = Duration::from_secs(1);

/// `livy.server.launch.kerberos.*`, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentitySettings {
    /// `_HOST` already replaced, as Hadoop's `SecurityUtil.getServerPrincipal` does.
    pub principal: String,
    pub keytab: PathBuf,
    pub refresh_interval: Duration,
    /// Consecutive failures before the identity is marked failed (at least 1).
    pub fail_threshold: u32,
}

/// Why the identity cannot be used right now. The text is shown to users in launch errors, so
/// it names the principal, the keytab path and the cause, never the keytab's contents.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum IdentityError {
    #[error("the server has no valid Kerberos ticket as {principal} yet")]
    Pending { principal: String },
    #[error(
        "the server cannot log in to Kerberos as {principal} with the keytab {keytab}: {reason} \
         ({failures} consecutive failure(s); retrying)"
    )]
    Failing {
        principal: String,
        keytab: String,
        failures: u32,
        reason: String,
    },
    #[error(
        "the server's Kerberos login as {principal} with the keytab {keytab} failed {failures} times \
         in a row (livy.server.launch.kerberos.kinit-fail-threshold = {threshold}): {reason}; \
         launches on the Kerberized cluster are refused until a login succeeds (retried every {retry:?})"
    )]
    Failed {
        principal: String,
        keytab: String,
        failures: u32,
        threshold: u32,
        reason: String,
        retry: Duration,
    },
}

/// Where the login stands (watched by launches and the SPNEGO client).
#[derive(Debug, Clone, Default)]
struct Status {
    /// Successful logins so far.
    logins: u64,
    /// Consecutive failures since the last success.
    failures: u32,
    last_error: Option<String>,
    /// When the newest ticket expires.
    valid_until: Option<Instant>,
    /// The threshold was reached (and not yet cleared by a success).
    failed: bool,
    /// At least one attempt has finished.
    attempted: bool,
}

/// The server's Kerberos login; one per server, shared.
pub struct HadoopIdentity {
    settings: IdentitySettings,
    /// Holds the private ccache directory; removed with the identity.
    dir: tempfile::TempDir,
    status: watch::Sender<Status>,
    /// Serialises logins (the owner task, and a forced one from tests/renewal).
    login_lock: Mutex<()>,
}

impl HadoopIdentity {
    /// Creates the private ccache directory (0700). Nothing is contacted yet.
    pub fn new(settings: IdentitySettings) -> std::io::Result<Arc<Self>> {
        let dir = tempfile::Builder::new().prefix("livy-rs-krb5-").tempdir()?;
        Ok(Arc::new(HadoopIdentity {
            settings,
            dir,
            status: watch::Sender::new(Status::default()),
            login_lock: Mutex::new(()),
        }))
    }

    pub fn principal(&self) -> &str {
        &self.settings.principal
    }

    fn ccache_path(&self) -> PathBuf {
        self.dir.path().join("ccache")
    }

    /// The private credential cache, as `KRB5CCNAME` takes it (`FILE:/...`).
    pub fn ccache_name(&self) -> String {
        format!("FILE:{}", self.ccache_path().display())
    }

    /// Environment a launched process needs to act as the server's principal.
    pub fn child_env(&self) -> Vec<(String, String)> {
        vec![("KRB5CCNAME".into(), self.ccache_name())]
    }

    /// Starts the owner task: log in now, then renew as the module docs describe, until `stop`.
    pub fn start(self: &Arc<Self>, stop: CancellationToken) {
        let me = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                let Some(identity) = me.upgrade() else { return };
                let delay = identity.login_once().await;
                drop(identity);
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = stop.cancelled() => return,
                }
            }
        });
    }

    /// Waits until the first login attempt has finished (successful or not).
    pub async fn first_attempt(&self) {
        let mut rx = self.status.subscribe();
        let _ = rx.wait_for(|s| s.attempted).await;
    }

    /// Ok when a valid ticket is in the private ccache; else why not.
    pub fn check(&self) -> Result<(), IdentityError> {
        let s = self.status.borrow();
        let keytab = self.settings.keytab.display().to_string();
        let principal = self.settings.principal.clone();
        let reason = s.last_error.clone().unwrap_or_default();
        if s.failed {
            return Err(IdentityError::Failed {
                principal,
                keytab,
                failures: s.failures,
                threshold: self.settings.fail_threshold,
                reason,
                retry: self.settings.refresh_interval,
            });
        }
        let valid = s.valid_until.is_some_and(|t| t > Instant::now());
        match (valid, s.failures) {
            (true, _) => Ok(()),
            (false, 0) if !s.attempted || s.logins > 0 => Err(IdentityError::Pending { principal }),
            (false, failures) => Err(IdentityError::Failing {
                principal,
                keytab,
                failures,
                reason,
            }),
        }
    }

    /// Successful logins so far (for tests and logs).
    pub fn logins(&self) -> u64 {
        self.status.borrow().logins
    }

    /// One login attempt; returns how long to wait before the next one.
    async fn login_once(self: &Arc<Self>) -> Duration {
        let me = self.clone();
        let outcome = tokio::task::spawn_blocking(move || me.login_blocking())
            .await
            .unwrap_or_else(|e| Err(format!("the login task failed: {e}")));
        let settings = &self.settings;
        let mut delay = settings.refresh_interval;
        self.status.send_modify(|s| {
            s.attempted = true;
            match &outcome {
                Ok(lifetime) => {
                    if s.failed || s.failures > 0 {
                        tracing::info!(principal = %settings.principal, failures = s.failures, "Kerberos login succeeded again");
                    }
                    s.logins += 1;
                    s.failures = 0;
                    s.failed = false;
                    s.last_error = None;
                    s.valid_until = Instant::now().checked_add(*lifetime);
                    delay = renew_after(settings.refresh_interval, *lifetime);
                    tracing::debug!(principal = %settings.principal, lifetime_s = lifetime.as_secs(), next_s = delay.as_secs(), "Kerberos login from keytab");
                }
                Err(reason) => {
                    s.failures += 1;
                    s.last_error = Some(reason.clone());
                    if s.failures >= settings.fail_threshold {
                        if !s.failed {
                            tracing::error!(
                                principal = %settings.principal,
                                keytab = %settings.keytab.display(),
                                failures = s.failures,
                                error = %reason,
                                "Kerberos login failed kinit-fail-threshold times in a row; launches on the Kerberized cluster are refused until a login succeeds (Livy would stop the server here; livy-rs keeps serving and retries every refresh-interval)"
                            );
                        }
                        s.failed = true;
                    } else {
                        tracing::warn!(principal = %settings.principal, keytab = %settings.keytab.display(), failures = s.failures, error = %reason, "Kerberos login from keytab failed; retrying");
                        delay = RETRY_PAUSE.min(settings.refresh_interval);
                    }
                }
            }
        });
        delay
    }

    /// `kinit -kt` into a fresh cache next to the private one, then an atomic rename over it:
    /// a process reading the old cache never sees a half-written one, and every renewal gets a
    /// new TGT (MIT would otherwise keep reusing a still-valid one).
    fn login_blocking(&self) -> Result<Duration, String> {
        let _one_at_a_time = self.login_lock.lock();
        let fresh = self.dir.path().join("ccache.new");
        let _ = std::fs::remove_file(&fresh);
        let result = gss::login_from_keytab(
            &self.settings.principal,
            &self.settings.keytab.to_string_lossy(),
            &format!("FILE:{}", fresh.display()),
        );
        match result {
            Ok(lifetime) => {
                std::fs::rename(&fresh, self.ccache_path())
                    .map_err(|e| format!("cannot install the new credential cache: {e}"))?;
                Ok(lifetime)
            }
            Err(e) => {
                let _ = std::fs::remove_file(&fresh);
                Err(e.to_string().trim().to_string())
            }
        }
    }

    /// Initiator credentials from the private cache, for SPNEGO. Blocking.
    pub(crate) fn initiator(&self) -> Result<libgssapi::credential::Cred, String> {
        gss::initiator_from_ccache(&self.ccache_name()).map_err(|e| e.to_string())
    }
}

/// When to log in again after a success: every `refresh_interval`, and before the ticket ends
/// (at 80% of its lifetime, as Hadoop's UGI renews), never more often than [`MIN_RENEW`].
pub fn renew_after(refresh_interval: Duration, lifetime: Duration) -> Duration {
    let before_end = lifetime.checked_mul(4).map_or(lifetime, |l| l / 5);
    refresh_interval.min(before_end).max(MIN_RENEW)
}

/// Hadoop's `SecurityUtil.getServerPrincipal`: `_HOST` in the principal's host part becomes
/// this host's name in lower case (`livy.server.host`, or the machine's host name when that is
/// empty or the wildcard address).
pub fn resolve_host(principal: &str, server_host: &str) -> String {
    if !principal.contains("_HOST") {
        return principal.to_string();
    }
    let host = match server_host.trim() {
        "" | "0.0.0.0" | "::" => nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_else(|| "localhost".into()),
        h => h.to_string(),
    };
    principal.replace("_HOST", &host.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_comes_before_the_ticket_ends_and_at_least_every_interval() {
        let hour = Duration::from_secs(3600);
        assert_eq!(
            renew_after(hour, Duration::from_secs(100)),
            Duration::from_secs(80)
        );
        assert_eq!(renew_after(hour, Duration::from_secs(10 * 3600)), hour);
        assert_eq!(renew_after(hour, Duration::ZERO), MIN_RENEW);
        assert_eq!(renew_after(hour, Duration::MAX), hour);
    }

    #[test]
    fn host_placeholder_is_resolved_like_hadoop() {
        assert_eq!(
            resolve_host("livy/_HOST@EXAMPLE.COM", "Edge1.Example.com"),
            "livy/edge1.example.com@EXAMPLE.COM"
        );
        assert_eq!(resolve_host("livy@EXAMPLE.COM", "edge"), "livy@EXAMPLE.COM");
        assert!(!resolve_host("livy/_HOST@R", "0.0.0.0").contains("_HOST"));
    }

    #[tokio::test]
    async fn a_missing_keytab_fails_then_is_marked_failed_without_panicking() {
        let id = HadoopIdentity::new(IdentitySettings {
            principal: "livy/host@NO.SUCH.REALM".into(),
            keytab: "/nonexistent/livy.keytab".into(),
            refresh_interval: Duration::from_secs(3600),
            fail_threshold: 2,
        })
        .unwrap();
        assert!(matches!(id.check(), Err(IdentityError::Pending { .. })));
        let delay = id.login_once().await;
        assert_eq!(delay, RETRY_PAUSE);
        let err = id.check().unwrap_err();
        assert!(
            matches!(err, IdentityError::Failing { failures: 1, .. }),
            "{err}"
        );
        let delay = id.login_once().await;
        assert_eq!(delay, Duration::from_secs(3600));
        let err = id.check().unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(err, IdentityError::Failed { failures: 2, .. }),
            "{text}"
        );
        assert!(text.contains("livy/host@NO.SUCH.REALM"), "{text}");
        assert!(text.contains("/nonexistent/livy.keytab"), "{text}");
        assert!(id.ccache_name().starts_with("FILE:"));
        assert_eq!(id.logins(), 0);
    }
}
