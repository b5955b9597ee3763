//! Delegation tokens for an ApplicationMaster submitted through the RM REST API.
//!
//! On a Kerberized cluster the AM has no Kerberos ticket of its own: it reads HDFS and talks to
//! the RM with delegation tokens the submitter puts into the container's `credentials`
//! (ResourceManagerRest.md, "Cluster Applications API (Submit Application)": `tokens` maps an
//! alias to a token's URL-string encoding, `secrets` maps an alias to base64 bytes). What Spark's
//! `HadoopDelegationTokenManager` fetches over RPC is fetched here over REST:
//!
//! - HDFS: WebHDFS `GETDELEGATIONTOKEN` (WebHDFS.md). The NameNode issues it with the kind
//!   `WEBHDFS delegation`; the AM uses HDFS over RPC, so it is re-labelled
//!   `HDFS_DELEGATION_TOKEN` (same identifier and password — it is one token to the NameNode)
//!   and stored under its service, `ha-hdfs:<nameservice>` on an HA file system as Hadoop's HA
//!   client names it, else the NameNode's RPC address the NameNode put in it. When
//!   `fs.defaultFS` is itself `webhdfs://` (or `swebhdfs://`), the AM and the NodeManager read
//!   the staged files over WebHDFS: the token keeps its WebHDFS kind and its service becomes
//!   that file system's `host:port`, as Hadoop's `WebHdfsFileSystem` names its tokens.
//! - RM: `POST /ws/v1/cluster/delegation-token` (Cluster Delegation Tokens API).
//!
//! Both are asked for as the proxy user (`doAs`) when one is set, with the renewer Spark uses
//! (the short name of `yarn.resourcemanager.principal`, `_HOST` resolved) so YARN can renew them
//! for the application's lifetime. Tokens are secrets: they are never logged, and their `Debug`
//! output is redacted.

use super::client::RmClient;
use super::conf::YarnConf;
use super::error::YarnError;
use super::http::Caller;
use super::webhdfs::WebHdfs;
use crate::conf::hadoop::HadoopConf;
use base64::Engine;
use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Value};
use std::fmt;

pub const RM_PRINCIPAL: &str = "yarn.resourcemanager.principal";
pub const HDFS_DELEGATION_KIND: &str = "HDFS_DELEGATION_TOKEN";
const WEBHDFS_KINDS: [&str; 2] = ["WEBHDFS delegation", "SWEBHDFS delegation"];

/// Where the tokens come from.
pub struct TokenSources<'a> {
    pub rm: &'a RmClient,
    /// `None` when `fs.defaultFS` is not HDFS (no HDFS token is needed then).
    pub hdfs: Option<&'a WebHdfs>,
    /// The HA nameservice `fs.defaultFS` names, if any (see the module docs).
    pub nameservice: Option<&'a str>,
    /// `host:port` of a `webhdfs://`/`swebhdfs://` `fs.defaultFS` (see the module docs).
    pub webhdfs: Option<&'a str>,
}

impl<'a> TokenSources<'a> {
    /// Sources for a cluster configuration.
    pub fn new(rm: &'a RmClient, hdfs: Option<&'a WebHdfs>, cluster: &'a YarnConf) -> Self {
        TokenSources {
            rm,
            hdfs,
            nameservice: cluster.nameservice.as_deref(),
            webhdfs: webhdfs_authority(&cluster.default_fs),
        }
    }
}

/// Whether `fs.defaultFS` is HDFS (over RPC or WebHDFS), i.e. whether the AM needs an HDFS token.
pub fn is_hdfs(default_fs: &str) -> bool {
    default_fs.starts_with("hdfs://") || webhdfs_authority(default_fs).is_some()
}

/// `host:port` of a `webhdfs://` or `swebhdfs://` file system URI.
fn webhdfs_authority(default_fs: &str) -> Option<&str> {
    let rest = default_fs
        .strip_prefix("webhdfs://")
        .or_else(|| default_fs.strip_prefix("swebhdfs://"))?;
    rest.split('/').next().filter(|a| !a.is_empty())
}

/// The AM container's `credentials` object: the tokens `user` (the proxy user, or the server's
/// principal when `None`) needs, renewable by `renewer`.
pub async fn am_credentials(
    sources: &TokenSources<'_>,
    user: Option<&str>,
    renewer: &str,
) -> Result<Value, YarnError> {
    let caller = match user {
        Some(u) => Caller::NONE.do_as(u),
        None => Caller::NONE,
    };
    let mut tokens: Vec<(String, String)> = Vec::new();
    if let Some(hdfs) = sources.hdfs {
        let token = hdfs.get_delegation_token(renewer, caller).await?;
        let token = match sources.webhdfs {
            Some(authority) => as_webhdfs_token(token, authority),
            None => as_hdfs_token(token, sources.nameservice),
        };
        tokens.push((token.service.clone(), token.encode()));
    }
    let rm = sources.rm.get_delegation_token(renewer, caller).await?;
    let token = HadoopToken::decode(&rm.token)?;
    let alias = if token.service.is_empty() {
        token.kind.clone()
    } else {
        token.service.clone()
    };
    tokens.push((alias, rm.token));
    let entry: Vec<Value> = tokens
        .into_iter()
        .map(|(k, v)| json!({"key": k, "value": v}))
        .collect();
    Ok(json!({"tokens": {"entry": entry}, "secrets": {"entry": []}}))
}

/// A WebHDFS token for a `webhdfs://` default file system at `authority` (module docs).
fn as_webhdfs_token(mut token: HadoopToken, authority: &str) -> HadoopToken {
    token.service = authority.to_string();
    token
}

/// Re-labels a WebHDFS token for HDFS RPC, as described in the module docs.
fn as_hdfs_token(mut token: HadoopToken, nameservice: Option<&str>) -> HadoopToken {
    if WEBHDFS_KINDS.contains(&token.kind.as_str()) {
        token.kind = HDFS_DELEGATION_KIND.into();
    }
    if let Some(ns) = nameservice {
        token.service = format!("ha-hdfs:{ns}");
    }
    token
}

/// The renewer Spark names for delegation tokens on YARN: the short name of
/// `yarn.resourcemanager.principal` with `_HOST` replaced by the RM's host. An error when the
/// principal is not configured (Spark fails the submission the same way).
pub fn yarn_renewer(hadoop: &HadoopConf, cluster: &YarnConf) -> Result<String, String> {
    let principal = hadoop.get_trimmed(RM_PRINCIPAL).ok_or_else(|| {
        format!("{RM_PRINCIPAL} is not set: cannot name the renewer of delegation tokens")
    })?;
    let host = cluster
        .resource_managers
        .first()
        .and_then(|e| reqwest::Url::parse(&e.url).ok())
        .and_then(|u| u.host_str().map(str::to_lowercase))
        .unwrap_or_default();
    let principal = principal.replace("_HOST", &host);
    Ok(short_name(&principal).to_string())
}

/// `user/host@REALM` → `user` (Hadoop's default `auth_to_local` rule for the local realm).
pub fn short_name(principal: &str) -> &str {
    principal.split(['/', '@']).next().unwrap_or(principal)
}

impl WebHdfs {
    /// GETDELEGATIONTOKEN with `renewer`. A cluster without security answers `{"Token": null}`,
    /// which is an error here: there is nothing to put into credentials.
    pub async fn get_delegation_token(
        &self,
        renewer: &str,
        caller: Caller<'_>,
    ) -> Result<HadoopToken, YarnError> {
        #[derive(Deserialize)]
        struct Body {
            #[serde(rename = "Token")]
            token: Option<UrlString>,
        }
        #[derive(Deserialize)]
        struct UrlString {
            #[serde(rename = "urlString")]
            url_string: String,
        }
        let answer = self
            .namenode(
                Method::GET,
                "/",
                "GETDELEGATIONTOKEN",
                &[("renewer", renewer.to_string())],
                caller,
            )
            .await?;
        match answer.json::<Body>()?.token {
            Some(t) => HadoopToken::decode(&t.url_string),
            None => Err(answer.unexpected(
                "no delegation token (is the file system secured with Kerberos?)".into(),
            )),
        }
    }
}

/// A Hadoop `Token` (identifier, password, kind, service) as its URL-string encoding carries
/// it: Writable fields (`WritableUtils` vints, `Text`), base64url without padding.
#[derive(Clone, PartialEq, Eq)]
pub struct HadoopToken {
    pub identifier: Vec<u8>,
    pub password: Vec<u8>,
    pub kind: String,
    pub service: String,
}

impl fmt::Debug for HadoopToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HadoopToken")
            .field("kind", &self.kind)
            .field("service", &self.service)
            .field("identifier", &"<redacted>")
            .field("password", &"<redacted>")
            .finish()
    }
}

/// The fields of an `AbstractDelegationTokenIdentifier` (HDFS and RM tokens alike).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenIdentifier {
    pub owner: String,
    pub renewer: String,
    pub real_user: String,
    pub issue_date: i64,
    pub max_date: i64,
    pub sequence_number: i32,
    pub master_key_id: i32,
}

fn bad_token(detail: &str) -> YarnError {
    YarnError::Invalid(format!("not a Hadoop delegation token: {detail}"))
}

impl HadoopToken {
    /// Parses a URL-string encoding (either base64 alphabet, padded or not).
    pub fn decode(url_string: &str) -> Result<Self, YarnError> {
        let cleaned: String = url_string
            .trim()
            .trim_end_matches('=')
            .chars()
            .map(|c| match c {
                '+' => '-',
                '/' => '_',
                c => c,
            })
            .collect();
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(cleaned)
            .map_err(|_| bad_token("not base64"))?;
        let mut r = Reader(&bytes);
        let identifier = r.bytes()?;
        let password = r.bytes()?;
        let kind = r.text()?;
        let service = r.text()?;
        Ok(HadoopToken {
            identifier,
            password,
            kind,
            service,
        })
    }

    /// The URL-string encoding Hadoop's `Token.encodeToUrlString` produces.
    pub fn encode(&self) -> String {
        let mut out = Vec::new();
        write_bytes(&mut out, &self.identifier);
        write_bytes(&mut out, &self.password);
        write_bytes(&mut out, self.kind.as_bytes());
        write_bytes(&mut out, self.service.as_bytes());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(out)
    }

    /// The identifier's fields, when it is a delegation token identifier (version 0).
    pub fn identifier_fields(&self) -> Result<TokenIdentifier, YarnError> {
        let mut r = Reader(&self.identifier);
        if r.byte()? != 0 {
            return Err(bad_token("unknown identifier version"));
        }
        Ok(TokenIdentifier {
            owner: r.text()?,
            renewer: r.text()?,
            real_user: r.text()?,
            issue_date: r.vlong()?,
            max_date: r.vlong()?,
            sequence_number: r.vlong()? as i32,
            master_key_id: r.vlong()? as i32,
        })
    }
}

/// Hadoop's `WritableUtils.writeVLong`.
fn write_vlong(out: &mut Vec<u8>, value: i64) {
    if (-112..=127).contains(&value) {
        out.push(value as u8);
        return;
    }
    let (mut v, mut len) = (value, -112i32);
    if v < 0 {
        v = !v;
        len = -120;
    }
    let mut tmp = v;
    while tmp != 0 {
        tmp >>= 8;
        len -= 1;
    }
    out.push(len as i8 as u8);
    let n = if len < -120 {
        -(len + 120)
    } else {
        -(len + 112)
    };
    for idx in (0..n).rev() {
        out.push(((v >> (idx * 8)) & 0xff) as u8);
    }
}

fn write_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    write_vlong(out, bytes.len() as i64);
    out.extend_from_slice(bytes);
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn byte(&mut self) -> Result<u8, YarnError> {
        let (&b, rest) = self.0.split_first().ok_or_else(|| bad_token("truncated"))?;
        self.0 = rest;
        Ok(b)
    }

    /// Hadoop's `WritableUtils.readVLong`.
    fn vlong(&mut self) -> Result<i64, YarnError> {
        let first = self.byte()? as i8;
        let size = if first >= -112 {
            return Ok(i64::from(first));
        } else if first < -120 {
            -119 - i32::from(first)
        } else {
            -111 - i32::from(first)
        };
        let mut v: i64 = 0;
        for _ in 0..size - 1 {
            v = (v << 8) | i64::from(self.byte()?);
        }
        let negative = first < -120;
        Ok(if negative { !v } else { v })
    }

    fn bytes(&mut self) -> Result<Vec<u8>, YarnError> {
        let len = usize::try_from(self.vlong()?).map_err(|_| bad_token("negative length"))?;
        if len > self.0.len() {
            return Err(bad_token("truncated"));
        }
        let (head, rest) = self.0.split_at(len);
        self.0 = rest;
        Ok(head.to_vec())
    }

    fn text(&mut self) -> Result<String, YarnError> {
        String::from_utf8(self.bytes()?).map_err(|_| bad_token("a Text field is not UTF-8"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identifier(owner: &str, renewer: &str, real: &str) -> Vec<u8> {
        let mut out = vec![0u8];
        for t in [owner, renewer, real] {
            write_bytes(&mut out, t.as_bytes());
        }
        write_vlong(&mut out, 1_700_000_000_000);
        write_vlong(&mut out, 1_700_604_800_000);
        write_vlong(&mut out, 7);
        write_vlong(&mut out, -3);
        out
    }

    #[test]
    fn vlongs_round_trip_like_writable_utils() {
        for v in [
            0i64,
            1,
            -1,
            127,
            -112,
            -113,
            128,
            255,
            256,
            -129,
            1 << 40,
            i64::MAX,
            i64::MIN,
        ] {
            let mut out = Vec::new();
            write_vlong(&mut out, v);
            assert_eq!(Reader(&out).vlong().unwrap(), v, "{v}");
        }
        // Known encodings from WritableUtils: 300 is 0x8e 0x01 0x2c; -300 is 0x86 0x01 0x2b.
        let mut out = Vec::new();
        write_vlong(&mut out, 300);
        assert_eq!(out, [0x8e, 0x01, 0x2c]);
        out.clear();
        write_vlong(&mut out, -300);
        assert_eq!(out, [0x86, 0x01, 0x2b]);
    }

    #[test]
    fn tokens_round_trip_and_relabel_for_hdfs() {
        let token = HadoopToken {
            identifier: identifier("bob", "yarn", "livy"),
            password: vec![1, 2, 3, 250],
            kind: "WEBHDFS delegation".into(),
            service: "10.0.0.1:8020".into(),
        };
        let s = token.encode();
        assert!(!s.contains('=') && !s.contains('+') && !s.contains('/'));
        let back = HadoopToken::decode(&s).unwrap();
        assert_eq!(back, token);
        let id = back.identifier_fields().unwrap();
        assert_eq!(
            (
                id.owner.as_str(),
                id.renewer.as_str(),
                id.real_user.as_str()
            ),
            ("bob", "yarn", "livy")
        );
        assert_eq!((id.sequence_number, id.master_key_id), (7, -3));
        let hdfs = as_hdfs_token(back.clone(), None);
        assert_eq!(
            (hdfs.kind.as_str(), hdfs.service.as_str()),
            (HDFS_DELEGATION_KIND, "10.0.0.1:8020")
        );
        assert_eq!(hdfs.password, token.password);
        assert_eq!(
            as_hdfs_token(back.clone(), Some("ns1")).service,
            "ha-hdfs:ns1"
        );
        let web = as_webhdfs_token(back, "nn.example.com:9870");
        assert_eq!(
            (web.kind.as_str(), web.service.as_str()),
            ("WEBHDFS delegation", "nn.example.com:9870")
        );
        assert!(!format!("{token:?}").contains("250"));
    }

    #[test]
    fn webhdfs_default_file_systems_need_an_hdfs_token_too() {
        assert!(is_hdfs("hdfs://ns1"));
        assert!(is_hdfs("webhdfs://nn:9870"));
        assert!(is_hdfs("swebhdfs://nn:9871/"));
        assert!(!is_hdfs("file:///"));
        assert!(!is_hdfs("s3a://bucket"));
        assert_eq!(webhdfs_authority("webhdfs://nn:9870/"), Some("nn:9870"));
        assert_eq!(webhdfs_authority("webhdfs:///"), None);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bad in ["", "!!!", "AAAA", "_____w", "gA"] {
            assert!(HadoopToken::decode(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn renewer_is_the_short_name_of_the_rm_principal() {
        let hadoop = HadoopConf::from_pairs([
            ("yarn.resourcemanager.principal", "rm/_HOST@EXAMPLE.COM"),
            ("yarn.resourcemanager.hostname", "rm1.example.com"),
        ]);
        let cluster = YarnConf::from_hadoop(&hadoop).unwrap();
        assert_eq!(yarn_renewer(&hadoop, &cluster).unwrap(), "rm");
        let bare = HadoopConf::from_pairs([]);
        let cluster = YarnConf::from_hadoop(&bare).unwrap();
        assert!(yarn_renewer(&bare, &cluster)
            .unwrap_err()
            .contains("yarn.resourcemanager.principal"));
    }
}
