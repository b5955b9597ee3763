//! The HTTP side of the `livy` client: one reqwest client with the user's TLS roots, the chosen
//! authentication (none, LDAP basic, or Kerberos SPNEGO from the user's ticket cache), and
//! Livy's CSRF header on every write. Answers are Livy's JSON; error answers become [`CliError`]s.

use super::error::CliError;
use base64::Engine;
use reqwest::{Method, StatusCode, Url};
use serde_json::Value;
use std::time::Duration;

/// How the client proves who the user is.
pub enum Auth {
    None,
    /// LDAP (or any basic) authentication. The password never reaches a log or an error.
    Basic {
        user: String,
        password: String,
    },
    /// SPNEGO with the default credential: the user's ticket cache (`KRB5CCNAME`, `kinit`).
    Kerberos,
}

pub struct Client {
    http: reqwest::Client,
    base: Url,
    auth: Auth,
}

/// Connection settings, as the command line gives them.
pub struct ConnectOptions {
    pub url: String,
    pub ca_file: Option<std::path::PathBuf>,
    pub auth: Auth,
}

impl Client {
    pub fn new(opts: ConnectOptions) -> Result<Client, CliError> {
        let mut base = Url::parse(&opts.url)
            .map_err(|e| CliError::Usage(format!("bad --url {:?}: {e}", opts.url)))?;
        if !matches!(base.scheme(), "http" | "https") || base.host_str().is_none() {
            return Err(CliError::Usage(format!(
                "bad --url {:?}: an http:// or https:// URL with a host is needed",
                opts.url
            )));
        }
        // Paths are joined onto the base, so it must end in '/' (a server under a path prefix).
        if !base.path().ends_with('/') {
            let p = format!("{}/", base.path());
            base.set_path(&p);
        }
        let mut builder = reqwest::Client::builder().connect_timeout(Duration::from_secs(30));
        if let Some(path) = &opts.ca_file {
            let pem = std::fs::read(path).map_err(|e| {
                CliError::Usage(format!("cannot read --ca-file {}: {e}", path.display()))
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| CliError::Usage(format!("--ca-file {}: {e}", path.display())))?;
            if certs.is_empty() {
                return Err(CliError::Usage(format!(
                    "--ca-file {}: no PEM certificate in it",
                    path.display()
                )));
            }
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let http = builder
            .build()
            .map_err(|e| CliError::Connection(format!("cannot set up the HTTP client: {e}")))?;
        Ok(Client {
            http,
            base,
            auth: opts.auth,
        })
    }

    pub fn url(&self, path: &str) -> Result<Url, CliError> {
        self.base
            .join(path.trim_start_matches('/'))
            .map_err(|e| CliError::Usage(format!("bad path {path:?}: {e}")))
    }

    pub async fn get(&self, path: &str) -> Result<Value, CliError> {
        self.send(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Result<Value, CliError> {
        self.send(Method::POST, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Result<Value, CliError> {
        self.send(Method::DELETE, path, None).await
    }

    /// One request; a 2xx answer's JSON (or `null` for an empty body), else the error it means.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, CliError> {
        let url = self.url(path)?;
        let write = method != Method::GET && method != Method::HEAD;
        let mut req = self.http.request(method, url.clone());
        if write {
            // Livy's CSRF protection (livy.server.csrf-protection.enabled) wants this on writes.
            req = req.header("X-Requested-By", "livy-cli");
        }
        req = match &self.auth {
            Auth::None => req,
            Auth::Basic { user, password } => req.basic_auth(user, Some(password)),
            Auth::Kerberos => {
                let token = spnego_token(&url).await?;
                req.header(reqwest::header::AUTHORIZATION, format!("Negotiate {token}"))
            }
        };
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.map_err(|e| {
            CliError::Connection(format!(
                "cannot reach {}: {}",
                redact(&url),
                error_chain(&e)
            ))
        })?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| {
            CliError::Connection(format!("reading the answer of {}: {e}", redact(&url)))
        })?;
        let json: Option<Value> = serde_json::from_str(&text).ok();
        if status.is_success() {
            return Ok(json.unwrap_or(Value::Null));
        }
        let msg = json
            .as_ref()
            .and_then(|j| j.get("msg"))
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| text.chars().take(500).collect());
        Err(match status {
            StatusCode::NOT_FOUND => CliError::NotFound(msg),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                CliError::Connection(format!("{} ({status})", msg.trim()))
            }
            _ => CliError::Server {
                status: status.as_u16(),
                msg,
            },
        })
    }
}

/// A SPNEGO token for `HTTP/<host of url>` from the user's ticket cache, made off the runtime.
async fn spnego_token(url: &Url) -> Result<String, CliError> {
    let host = url
        .host_str()
        .unwrap_or("")
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_lowercase();
    let service = crate::auth::hadoop::negotiate::service_principal(&host);
    let token = tokio::task::spawn_blocking(move || {
        crate::auth::hadoop::negotiate::spnego_token(None, &service)
    })
    .await
    .map_err(|e| CliError::Connection(format!("the SPNEGO task failed: {e}")))?
    .map_err(|e| CliError::Connection(format!("Kerberos: {e} (is there a ticket? run kinit)")))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(token))
}

/// The URL without user info or query, for messages.
fn redact(url: &Url) -> String {
    let mut u = url.clone();
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.set_query(None);
    u.to_string()
}

/// reqwest's error with its causes (the TLS or connect reason is in the sources).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        out.push_str(": ");
        out.push_str(&s.to_string());
        src = s.source();
    }
    out
}
