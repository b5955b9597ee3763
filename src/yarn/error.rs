//! Errors of the ResourceManager and WebHDFS clients.
//!
//! Both services report failures as a `RemoteException` JSON object (ResourceManagerRest.md
//! "Bad Request Error Response", WebHDFS.md "Error Responses"); that is parsed into
//! [`RemoteException`] so callers can match on the Java exception instead of on text. Anything
//! else a gateway, proxy or half-dead daemon may send (HTML login pages, truncated or binary
//! bodies, standby notices) becomes a typed variant too: a bad answer is never a panic.
//! [`YarnError::is_retriable`] tells the monitor loop whether asking again later can help.

use serde::Deserialize;
use std::time::Duration;

/// The body of a Hadoop `{"RemoteException": {...}}` answer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RemoteException {
    /// Simple class name, e.g. `NotFoundException`, `FileNotFoundException`, `StandbyException`.
    #[serde(default)]
    pub exception: String,
    #[serde(default)]
    pub message: String,
    /// Fully qualified class name, e.g. `org.apache.hadoop.yarn.webapp.NotFoundException`.
    #[serde(default, rename = "javaClassName")]
    pub java_class_name: String,
}

impl RemoteException {
    /// Parses a `{"RemoteException": {...}}` body; `None` for anything else.
    pub fn parse(body: &[u8]) -> Option<RemoteException> {
        #[derive(Deserialize)]
        struct Wrapper {
            #[serde(rename = "RemoteException")]
            remote: RemoteException,
        }
        let w: Wrapper = serde_json::from_slice(body).ok()?;
        (!w.remote.exception.is_empty() || !w.remote.java_class_name.is_empty()).then_some(w.remote)
    }

    /// Whether this is `exception` under its simple or its Java class name.
    pub fn is(&self, exception: &str) -> bool {
        self.exception == exception
            || self.java_class_name == exception
            || self.java_class_name.rsplit(['.', '$']).next() == Some(exception)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum YarnError {
    /// The service answered with a `RemoteException`.
    #[error("{method} {url}: HTTP {status} {}: {}", remote.exception, remote.message)]
    Remote {
        method: String,
        url: String,
        status: u16,
        remote: RemoteException,
    },
    /// A non-success status without a `RemoteException` (Jetty/proxy error pages, 401s, 503s).
    #[error("{method} {url}: HTTP {status}: {snippet}")]
    Status {
        method: String,
        url: String,
        status: u16,
        snippet: String,
    },
    /// A success status whose body is not what the API documents: HTML (a login or error page
    /// from a gateway), non-JSON bytes, or JSON of another shape.
    #[error("{method} {url}: unexpected answer (HTTP {status}, {content_type}): {reason}; body starts with {snippet:?}")]
    UnexpectedBody {
        method: String,
        url: String,
        status: u16,
        content_type: String,
        reason: String,
        snippet: String,
    },
    /// The TCP/TLS connection could not be made (refused, unreachable, DNS).
    #[error("cannot connect to {url}: {source}")]
    Connect {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// No complete answer within the per-request timeout.
    #[error("{url}: no answer within {timeout:?}")]
    Timeout { url: String, timeout: Duration },
    /// The connection broke after it was made (reset, closed mid-answer).
    #[error("{url}: connection failed: {source}")]
    Transport {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// A standby ResourceManager or NameNode answered; the active one could not be reached.
    #[error("{url}: standby: {detail}")]
    Standby { url: String, detail: String },
    /// Redirects went round without reaching an answer (e.g. two RMs each calling the other
    /// active during a failover), or a redirect had no usable `Location`.
    #[error("{url}: redirect problem after {hops} hop(s): {detail}")]
    Redirect {
        url: String,
        hops: usize,
        detail: String,
    },
    /// Every ResourceManager/NameNode was tried; `last` is the last failure seen.
    #[error("no active {service} among {tried:?}; last error: {last}")]
    NoActive {
        service: &'static str,
        tried: Vec<String>,
        last: Box<YarnError>,
    },
    /// A kill was requested but the application did not report a final state in time.
    #[error(
        "application {app_id} still {last_state} after {attempts} kill request(s) over {waited:?}"
    )]
    KillNotConfirmed {
        app_id: String,
        last_state: String,
        attempts: usize,
        waited: Duration,
    },
    /// The request authenticator (SPNEGO, tokens) failed before anything was sent.
    #[error("cannot authenticate the request to {url}: {detail}")]
    Auth { url: String, detail: String },
    /// The caller asked for something the client cannot express (bad path, bad URL).
    #[error("invalid request: {0}")]
    Invalid(String),
    /// A local file to upload could not be opened or read.
    #[error("cannot read {path}: {source}")]
    LocalFile {
        path: String,
        source: std::io::Error,
    },
}

impl YarnError {
    /// Whether asking again (later, or another RM/NameNode) may succeed: connection problems,
    /// timeouts, standbys and 5xx answers are; 4xx answers (bad request, not found, forbidden)
    /// and well-formed-but-wrong bodies are not.
    pub fn is_retriable(&self) -> bool {
        match self {
            YarnError::Connect { .. }
            | YarnError::Timeout { .. }
            | YarnError::Transport { .. }
            | YarnError::Standby { .. }
            | YarnError::Redirect { .. }
            | YarnError::NoActive { .. }
            | YarnError::KillNotConfirmed { .. } => true,
            YarnError::Remote { status, remote, .. } => {
                *status >= 500 || remote.is("StandbyException") || remote.is("RetriableException")
            }
            YarnError::Status { status, .. } => *status >= 500,
            YarnError::UnexpectedBody { .. }
            | YarnError::Auth { .. }
            | YarnError::Invalid(_)
            | YarnError::LocalFile { .. } => false,
        }
    }

    /// The HTTP status the service answered with, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            YarnError::Remote { status, .. }
            | YarnError::Status { status, .. }
            | YarnError::UnexpectedBody { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The parsed `RemoteException`, if the service sent one.
    pub fn remote(&self) -> Option<&RemoteException> {
        match self {
            YarnError::Remote { remote, .. } => Some(remote),
            YarnError::NoActive { last, .. } => last.remote(),
            _ => None,
        }
    }

    /// A 404 (`NotFoundException` from the RM, `FileNotFoundException` from WebHDFS).
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
            || self
                .remote()
                .is_some_and(|r| r.is("NotFoundException") || r.is("FileNotFoundException"))
    }

    /// A standby answered (RM notice, NameNode `StandbyException`): try the next HA peer.
    pub fn is_standby(&self) -> bool {
        matches!(self, YarnError::Standby { .. })
            || self.remote().is_some_and(|r| r.is("StandbyException"))
    }

    /// The connection never delivered an answer (refused, reset, timed out).
    pub fn is_connection(&self) -> bool {
        matches!(
            self,
            YarnError::Connect { .. } | YarnError::Timeout { .. } | YarnError::Transport { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remote(status: u16, body: &str) -> YarnError {
        YarnError::Remote {
            method: "GET".into(),
            url: "http://rm:8088/ws/v1/cluster/apps/x".into(),
            status,
            remote: RemoteException::parse(body.as_bytes()).unwrap(),
        }
    }

    /// The bad-request example of ResourceManagerRest.md's Cluster Application State API, as JSON.
    #[test]
    fn parses_the_rm_remote_exception() {
        let body = r#"{"RemoteException":{"exception":"BadRequestException","message":"java.lang.Exception: Only 'KILLED' is allowed as a target state.","javaClassName":"org.apache.hadoop.yarn.webapp.BadRequestException"}}"#;
        let e = remote(400, body);
        let r = e.remote().unwrap();
        assert_eq!(r.exception, "BadRequestException");
        assert_eq!(
            r.message,
            "java.lang.Exception: Only 'KILLED' is allowed as a target state."
        );
        assert!(r.is("org.apache.hadoop.yarn.webapp.BadRequestException"));
        assert!(!e.is_retriable());
        assert!(
            e.to_string().contains("HTTP 400 BadRequestException"),
            "{e}"
        );
    }

    /// WebHDFS.md "Error Responses": FileNotFoundException example.
    #[test]
    fn parses_the_webhdfs_remote_exception() {
        let body = r#"{
          "RemoteException":
          {
            "exception"    : "FileNotFoundException",
            "javaClassName": "java.io.FileNotFoundException",
            "message"      : "File does not exist: /foo/a.patch"
          }
        }"#;
        let e = remote(404, body);
        assert!(e.is_not_found());
        assert!(!e.is_retriable());
        let standby = remote(
            403,
            r#"{"RemoteException":{"exception":"StandbyException","javaClassName":"org.apache.hadoop.ipc.StandbyException","message":"Operation category READ is not supported in state standby"}}"#,
        );
        assert!(standby.is_standby());
        assert!(
            standby.is_retriable(),
            "a standby NameNode is worth another try elsewhere"
        );
    }

    #[test]
    fn non_remote_bodies_are_not_parsed_as_remote_exceptions() {
        for body in [
            "",
            "<html>",
            "{}",
            r#"{"RemoteException":{}}"#,
            r#"{"apps":null}"#,
        ] {
            assert_eq!(RemoteException::parse(body.as_bytes()), None, "{body}");
        }
    }

    #[test]
    fn retriable_by_status_class() {
        let status = |s| YarnError::Status {
            method: "GET".into(),
            url: "u".into(),
            status: s,
            snippet: String::new(),
        };
        assert!(status(503).is_retriable());
        assert!(status(500).is_retriable());
        assert!(!status(401).is_retriable());
        assert!(!status(404).is_retriable());
        assert!(status(404).is_not_found());
        assert!(YarnError::Timeout {
            url: "u".into(),
            timeout: Duration::from_secs(1)
        }
        .is_retriable());
        assert!(!YarnError::UnexpectedBody {
            method: "GET".into(),
            url: "u".into(),
            status: 200,
            content_type: "text/html".into(),
            reason: "HTML".into(),
            snippet: "<html>".into(),
        }
        .is_retriable());
    }
}
