//! What the ResourceManager and WebHDFS clients share: who is calling (`user.name`/`doAs`), the
//! authentication hook, sending one request, and turning an answer into a value or a typed error.
//!
//! Redirects are never followed by reqwest itself: a standby RM's `307`, WebHDFS's two-step
//! CREATE and an `OPEN` redirect each need their own handling (and must not re-send a body to
//! a place we did not choose), so the clients follow them explicitly.

use super::error::{RemoteException, YarnError};
use futures::future::BoxFuture;
use reqwest::header::{HeaderMap, ACCEPT, CONTENT_LENGTH, CONTENT_TYPE};
use reqwest::{Method, RequestBuilder, StatusCode, Url};
use serde::de::DeserializeOwned;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How long one request may take (connect, send, read the whole answer) unless configured.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long establishing a connection may take, so a dead HA peer is skipped quickly.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Characters of an unexpected body kept in an error, enough to recognise a login page.
const SNIPPET_CHARS: usize = 160;

/// Who a request is made as. Without security, `as_user` becomes `user.name` (Hadoop's pseudo
/// authentication); `do_as` asks the service to act for another user (proxy user), sent as
/// `doAs` to the RM and `doas` to WebHDFS.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Caller<'a> {
    pub as_user: Option<&'a str>,
    pub do_as: Option<&'a str>,
}

impl<'a> Caller<'a> {
    /// No identity parameters: the service's default web user (or the authenticator's principal).
    pub const NONE: Caller<'static> = Caller {
        as_user: None,
        do_as: None,
    };

    /// Calls made as `user` (`user.name=user`).
    pub fn user(user: &'a str) -> Self {
        Caller {
            as_user: Some(user),
            do_as: None,
        }
    }

    /// The same caller acting for `user`.
    pub fn do_as(self, user: &'a str) -> Self {
        Caller {
            do_as: Some(user),
            ..self
        }
    }

    pub(crate) fn append(&self, url: &mut Url, do_as_param: &str) {
        let mut pairs = url.query_pairs_mut();
        if let Some(u) = self.as_user {
            pairs.append_pair("user.name", u);
        }
        if let Some(u) = self.do_as {
            pairs.append_pair(do_as_param, u);
        }
    }
}

/// Adds credentials to a request before it is sent: the hook SPNEGO (and delegation tokens)
/// plug into. It sees every request, including redirect targets and HA peers, with the URL it
/// goes to (SPNEGO needs the host for the `HTTP/host` principal).
///
/// Returns a boxed future rather than being an `async fn` so clients can hold it as
/// `Arc<dyn RequestAuth>`.
pub trait RequestAuth: Send + Sync {
    fn authorize<'a>(
        &'a self,
        request: RequestBuilder,
        target: &'a Url,
    ) -> BoxFuture<'a, Result<RequestBuilder, YarnError>>;

    /// Sees every answer (e.g. to keep Hadoop's `hadoop.auth` cookie). Returning `true` asks
    /// for the request to be authorized and sent once more — for a `401` to a request whose
    /// credentials went stale. Default: nothing to learn, never repeat.
    fn answered(&self, _target: &Url, _status: StatusCode, _headers: &HeaderMap) -> bool {
        false
    }
}

/// No credentials: simple authentication (`user.name`) or an open cluster.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoAuth;

impl RequestAuth for NoAuth {
    fn authorize<'a>(
        &'a self,
        request: RequestBuilder,
        _target: &'a Url,
    ) -> BoxFuture<'a, Result<RequestBuilder, YarnError>> {
        Box::pin(async move { Ok(request) })
    }
}

/// The largest answer read from a ResourceManager, NameNode or DataNode. A busy RM's /apps
/// list is a few MiB; a file read through WebHDFS is a small staged file.
pub(crate) const MAX_ANSWER_BYTES: usize = 64 * 1024 * 1024;

/// A request body, as bytes so a request can be repeated on another HA peer (by cloning), or a
/// local file streamed from disk as it is sent (uploads of any size in bounded memory). A
/// streamed body cannot be replayed: each attempt opens the file again.
#[derive(Debug, Clone)]
pub(crate) enum Body {
    Empty,
    Json(Vec<u8>),
    Octets(Vec<u8>),
    File(PathBuf),
}

/// Chunks a streamed file is read in.
const FILE_CHUNK_BYTES: usize = 64 * 1024;

/// A file as a streamed request body, with its length as `Content-Length` (a DataNode gets the
/// size up front, as from Hadoop's own client, rather than a chunked body).
async fn file_body(path: &std::path::Path) -> Result<(reqwest::Body, u64), YarnError> {
    let failed = |source| YarnError::LocalFile {
        path: path.display().to_string(),
        source,
    };
    let file = tokio::fs::File::open(path).await.map_err(failed)?;
    let len = file.metadata().await.map_err(failed)?.len();
    let stream = tokio_util::io::ReaderStream::with_capacity(file, FILE_CHUNK_BYTES);
    Ok((reqwest::Body::wrap_stream(stream), len))
}

/// The slowest transfer an upload is allowed before it counts as hung: 1 MiB/s.
const UPLOAD_FLOOR_BYTES_PER_SEC: u64 = 1024 * 1024;

/// Time a file body may take on top of the request timeout: the timeout is meant for an answer,
/// and a large jar on a slow link would otherwise never fit in it, whatever its size.
fn upload_allowance(len: u64) -> Duration {
    Duration::from_secs(len.div_ceil(UPLOAD_FLOOR_BYTES_PER_SEC))
}

/// One complete answer (status, headers, the whole body).
#[derive(Debug)]
pub(crate) struct Answer {
    pub method: Method,
    pub url: Url,
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

/// The HTTP client, authenticator and timeout one service client uses.
#[derive(Clone)]
pub(crate) struct Transport {
    http: reqwest::Client,
    auth: Arc<dyn RequestAuth>,
    timeout: Duration,
}

impl Transport {
    pub fn new(
        timeout: Duration,
        connect_timeout: Duration,
        auth: Arc<dyn RequestAuth>,
    ) -> Result<Self, YarnError> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(connect_timeout)
            .build()
            .map_err(|e| YarnError::Invalid(format!("cannot build the HTTP client: {e}")))?;
        Ok(Transport {
            http,
            auth,
            timeout,
        })
    }

    /// Sends one request and reads the whole answer; never follows redirects.
    pub async fn send(
        &self,
        method: Method,
        url: &Url,
        body: Body,
        headers: &[(&str, &str)],
    ) -> Result<Answer, YarnError> {
        self.send_with(method, url, body, headers, true).await
    }

    /// The second step of a WebHDFS OPEN/CREATE, at the DataNode the NameNode chose: sent
    /// without our credentials (no SPNEGO, no cookie). The NameNode puts what the DataNode needs
    /// (a delegation token) into the redirect URL itself; a host we did not configure must never
    /// see the server's Kerberos identity.
    pub async fn send_to_datanode(
        &self,
        method: Method,
        url: &Url,
        body: Body,
    ) -> Result<Answer, YarnError> {
        self.send_with(method, url, body, &[], false).await
    }

    async fn send_with(
        &self,
        method: Method,
        url: &Url,
        body: Body,
        headers: &[(&str, &str)],
        authorized: bool,
    ) -> Result<Answer, YarnError> {
        // At most one repeat, when the authenticator says its credentials went stale.
        let mut repeated = false;
        loop {
            let mut timeout = self.timeout;
            let mut req = self
                .http
                .request(method.clone(), url.clone())
                .header(ACCEPT, "application/json");
            for (name, value) in headers {
                req = req.header(*name, *value);
            }
            req = match body.clone() {
                Body::Empty => req,
                Body::Json(b) => req.header(CONTENT_TYPE, "application/json").body(b),
                Body::Octets(b) => req.header(CONTENT_TYPE, "application/octet-stream").body(b),
                Body::File(path) => {
                    let (body, len) = file_body(&path).await?;
                    timeout += upload_allowance(len);
                    req.header(CONTENT_TYPE, "application/octet-stream")
                        .header(CONTENT_LENGTH, len)
                        .body(body)
                }
            };
            let req = req.timeout(timeout);
            let req = if authorized {
                self.auth.authorize(req, url).await?
            } else {
                req
            };
            let failed = |e: reqwest::Error| self.classify(e, url);
            let mut resp = req.send().await.map_err(failed)?;
            let status = resp.status();
            let resp_headers = resp.headers().clone();
            // Read at most MAX_ANSWER_BYTES: a broken or hostile RM/NameNode must not make the
            // server buffer gigabytes.
            let mut body = Vec::new();
            while let Some(chunk) = resp.chunk().await.map_err(failed)? {
                if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                    return Err(YarnError::UnexpectedBody {
                        method: method.to_string(),
                        url: redact(url),
                        status: status.as_u16(),
                        content_type: resp_headers
                            .get(CONTENT_TYPE)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("")
                            .to_string(),
                        reason: format!("larger than {MAX_ANSWER_BYTES} bytes; not read"),
                        snippet: String::from_utf8_lossy(&body[..body.len().min(64)]).into_owned(),
                    });
                }
                body.extend_from_slice(&chunk);
            }
            if authorized && self.auth.answered(url, status, &resp_headers) && !repeated {
                repeated = true;
                continue;
            }
            return Ok(Answer {
                method,
                url: url.clone(),
                status,
                headers: resp_headers,
                body,
            });
        }
    }

    /// Maps a reqwest failure to the variant callers act on. reqwest's own message would repeat
    /// the URL unredacted, so it is dropped from the source.
    fn classify(&self, e: reqwest::Error, url: &Url) -> YarnError {
        let url = redact(url);
        let e = e.without_url();
        if e.is_timeout() {
            YarnError::Timeout {
                url,
                timeout: self.timeout,
            }
        } else if e.is_connect() {
            YarnError::Connect { url, source: e }
        } else if e.is_builder() {
            YarnError::Invalid(format!("{url}: {e}"))
        } else {
            YarnError::Transport { url, source: e }
        }
    }
}

impl Answer {
    /// The body as `T` if the status is a success and the body is the JSON the API documents.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, YarnError> {
        if !self.status.is_success() {
            return Err(self.error());
        }
        if self.looks_like_html() {
            return Err(self.unexpected("an HTML page instead of JSON".into()));
        }
        serde_json::from_slice(&self.body)
            .map_err(|e| self.unexpected(format!("not the documented JSON: {e}")))
    }

    /// The typed error for a non-success answer: the `RemoteException` when there is one.
    pub fn error(&self) -> YarnError {
        match RemoteException::parse(&self.body) {
            Some(remote) => YarnError::Remote {
                method: self.method.to_string(),
                url: redact(&self.url),
                status: self.status.as_u16(),
                remote,
            },
            None => YarnError::Status {
                method: self.method.to_string(),
                url: redact(&self.url),
                status: self.status.as_u16(),
                snippet: self.snippet(),
            },
        }
    }

    pub fn unexpected(&self, reason: String) -> YarnError {
        YarnError::UnexpectedBody {
            method: self.method.to_string(),
            url: redact(&self.url),
            status: self.status.as_u16(),
            content_type: self.header(CONTENT_TYPE.as_str()).unwrap_or("none").into(),
            reason,
            snippet: self.snippet(),
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// `Location`, resolved against the request URL (it may be relative).
    pub fn location(&self) -> Option<Url> {
        self.url.join(self.header("location")?.trim()).ok()
    }

    pub fn looks_like_html(&self) -> bool {
        self.header(CONTENT_TYPE.as_str())
            .is_some_and(|ct| ct.to_ascii_lowercase().contains("html"))
            || self.body.trim_ascii_start().starts_with(b"<")
    }

    pub fn snippet(&self) -> String {
        String::from_utf8_lossy(&self.body)
            .chars()
            .take(SNIPPET_CHARS)
            .collect()
    }
}

/// A URL for errors and logs: delegation tokens (`delegation=`, `token=`) are secrets.
pub(crate) fn redact(url: &Url) -> String {
    if !url
        .query_pairs()
        .any(|(k, _)| k == "delegation" || k == "token")
    {
        return url.to_string();
    }
    let mut clean = url.clone();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "delegation" || k == "token" {
                "<redacted>".to_string()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    clean.query_pairs_mut().clear().extend_pairs(pairs);
    clean.to_string()
}

/// Joins `path` (absolute, already escaped where needed) onto a base URL like `http://host:port`.
pub(crate) fn endpoint_url(base: &Url, path: &str) -> Result<Url, YarnError> {
    base.join(path)
        .map_err(|e| YarnError::Invalid(format!("{base} + {path}: {e}")))
}

/// Parses a configured base URL (`http://host:port`).
pub(crate) fn parse_base(url: &str) -> Result<Url, YarnError> {
    let parsed = Url::parse(url)
        .map_err(|e| YarnError::Invalid(format!("bad endpoint URL {url:?}: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(YarnError::Invalid(format!(
            "bad endpoint URL {url:?}: expected http(s)://host:port"
        )));
    }
    Ok(parsed)
}

/// Whether `url` is served by the endpoint `base` (same scheme, host and port).
pub(crate) fn same_origin(url: &Url, base: &Url) -> bool {
    url.scheme() == base.scheme()
        && url.host_str() == base.host_str()
        && url.port_or_known_default() == base.port_or_known_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, ct: &str, body: &str) -> Answer {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, ct.parse().unwrap());
        Answer {
            method: Method::GET,
            url: Url::parse("http://rm:8088/ws/v1/cluster/apps").unwrap(),
            status: StatusCode::from_u16(status).unwrap(),
            headers,
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn html_and_garbage_are_typed_errors() {
        let html = answer(
            200,
            "text/html;charset=utf-8",
            "<!DOCTYPE html><title>Sign in</title>",
        );
        let err = html.json::<serde_json::Value>().unwrap_err();
        assert!(
            matches!(&err, YarnError::UnexpectedBody { reason, .. } if reason.contains("HTML")),
            "{err}"
        );
        let garbage = answer(
            200,
            "application/json",
            "\u{0}\u{1f}<<not-json>> {\"apps\": [tru",
        );
        let err = garbage.json::<serde_json::Value>().unwrap_err();
        assert!(
            matches!(err, YarnError::UnexpectedBody { status: 200, .. }),
            "{err}"
        );
        let truncated = answer(200, "application/json", "{\"apps\": [tru");
        assert!(truncated.json::<serde_json::Value>().is_err());
    }

    #[test]
    fn error_answers_become_remote_or_status() {
        let remote = answer(
            404,
            "application/json",
            r#"{"RemoteException":{"exception":"NotFoundException","message":"java.lang.Exception: app with id: application_1_0001 not found","javaClassName":"org.apache.hadoop.yarn.webapp.NotFoundException"}}"#,
        );
        let err = remote.json::<serde_json::Value>().unwrap_err();
        assert!(err.is_not_found());
        assert_eq!(err.remote().unwrap().exception, "NotFoundException");
        let page = answer(
            503,
            "text/html",
            "<html><body><h2>HTTP ERROR 503</h2></body></html>",
        );
        let err = page.json::<serde_json::Value>().unwrap_err();
        assert!(matches!(err, YarnError::Status { status: 503, .. }));
        assert!(err.is_retriable());
    }

    #[test]
    fn caller_parameters_and_redaction() {
        let mut url = Url::parse("http://nn:9870/webhdfs/v1/a?op=OPEN").unwrap();
        Caller::user("livy").do_as("alice").append(&mut url, "doas");
        assert_eq!(url.query(), Some("op=OPEN&user.name=livy&doas=alice"));
        let secret = Url::parse("http://dn:9864/webhdfs/v1/a?op=OPEN&delegation=SECRET").unwrap();
        assert!(!redact(&secret).contains("SECRET"));
    }
}
