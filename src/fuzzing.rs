//! Entry points for the `cargo fuzz` targets in `fuzz/` (see docs/FUZZING.md). Each takes raw
//! bytes and drives the same parsing code the server runs on that input, so a target needs no
//! private access of its own; the invariants each one checks are asserted here, where the
//! types are known. Not an API: hidden from the docs, and nothing in the server calls it. It is
//! compiled in every build so that CI's stable `clippy --all-targets` keeps it in step with the
//! code it drives.

use crate::auth::cookie::{find_cookie, CookieError, CookieSigner};
use crate::conf::{hadoop::HadoopConf, Env, LivyConf};
use crate::driver::protocol::{read_frame, read_value, FromDriver};
use crate::statements::{Statement, Statements};
use crate::yarn::types::{
    AppEnvelope, AppStateBody, AppsEnvelope, AttemptsEnvelope, TokenExpiration,
};
use crate::yarn::{ClusterInfo, ClusterMetrics, DelegationToken, NewApplication};
use serde::Deserialize;
use std::collections::BTreeSet;
use std::time::Duration;

/// `livy.conf` and `spark-blacklist.conf` as the server reads them at start (Java properties,
/// then [`LivyConf::from_map`]); `env` names a Spark home with a `bin/spark-submit`.
pub fn livy_conf(livy_conf: &[u8], blacklist: &[u8], env: &Env) {
    let Ok(raw) = crate::conf::parse_properties(livy_conf) else {
        return;
    };
    let blacklist: BTreeSet<String> = crate::conf::parse_properties(blacklist)
        .map(|m| m.into_keys().collect())
        .unwrap_or_default();
    if let Ok(loaded) = LivyConf::from_map(raw.clone(), blacklist, env) {
        let conf = loaded.conf;
        // Every key the input set reads back (only those: walking all ~300 known keys made each
        // run 3x slower under the fuzzer's comparison tracing, for values that are defaults).
        for key in raw.keys() {
            let _ = conf.value(key);
            let _ = conf.duration(key);
        }
        let _ = crate::auth::AccessManager::new(&conf.access);
    }
    for value in raw.values() {
        let _ = crate::conf::units::parse_duration(value);
        let _ = crate::conf::units::parse_size(value);
        let _ = crate::conf::units::comma_list(value);
        let _ = crate::driver::channel::parse_port_range(value);
    }
}

/// A Hadoop site file (core-site.xml, yarn-site.xml, hdfs-site.xml) as the server reads it,
/// then what the YARN and WebHDFS clients take from it.
pub fn hadoop_xml(text: &str) {
    let Ok(props) = crate::conf::hadoop::parse_xml(text) else {
        return;
    };
    let conf = HadoopConf::from_pairs(props.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    for key in props.keys() {
        let _ = conf.get(key);
        let _ = conf.get_list(key);
    }
    let _ = conf.default_fs();
    if let Ok(yarn) = crate::yarn::YarnConf::from_hadoop(&conf) {
        let _ = crate::yarn::tokens::yarn_renewer(&conf, &yarn);
        let _ = crate::yarn::tokens::is_hdfs(&conf.default_fs());
    }
}

/// Bytes from a driver's socket: frames read the way the handshake (`read_frame`) and the
/// session's link (`read_value`, then the message) read them, each message applied to a
/// session's statements as the link applies it, then the statements shown as the API shows them.
pub fn driver_frames(data: &[u8]) {
    let Some((&limit, stream)) = data.split_first() else {
        return;
    };
    // Frame limits from a few bytes to 64 KiB: a frame is allocated before it is read.
    let max = 1usize << (limit % 17);
    futures::executor::block_on(async {
        let mut handshake = stream;
        while read_frame(&mut handshake, max).await.is_ok() {}

        let mut statements = Statements::new(usize::from(limit % 5));
        for code in ["1 + 1", "spark.range(10).count()", "print('x')"] {
            statements.add(code.into(), "pyspark".into());
        }
        let mut reader = stream;
        while let Ok(value) = read_value(&mut reader, max).await {
            let Ok(message) = serde_json::from_value::<FromDriver>(value) else {
                continue;
            };
            match message {
                FromDriver::Started { id, at } => statements.started(id, at),
                FromDriver::Progress { id, progress } => statements.progress(id, progress),
                FromDriver::Result {
                    id,
                    completed,
                    output,
                } => statements.finished(id, completed, output),
                other => {
                    let _ = serde_json::to_string(&other);
                }
            }
            if let Some(id) = statements.next_waiting().map(|s| s.id) {
                statements.started(id, 1);
            }
        }
        statements.abandon("the session was stopped", 2);
        let shown: Vec<&Statement> = statements.all().collect();
        let json = serde_json::to_string(&shown).expect("statements serialise");
        let back: Vec<Statement> = serde_json::from_str(&json).expect("statements read back");
        assert_eq!(back.len(), shown.len());
    });
}

/// The `Authorization` header (SPNEGO's `Negotiate`, LDAP's `Basic`) and the `hadoop.auth`
/// cookie as the authentication layer reads them. `Cookie` headers are split on NUL. A cookie
/// is checked twice: as presented (its signature almost never matches), and signed with a known
/// key, so that the field parsing behind the signature check is reached too.
pub fn auth_headers(authorization: &str, cookies: &str) {
    let mut headers = axum::http::HeaderMap::new();
    if let Ok(value) = axum::http::HeaderValue::from_str(authorization) {
        headers.insert(axum::http::header::AUTHORIZATION, value);
    }
    let _ = crate::auth::filter::negotiate_token(&headers);
    let _ = crate::auth::ldap::parse_basic(authorization);

    let Some(value) = find_cookie(cookies.split('\0')) else {
        return;
    };
    let random = CookieSigner::random(Duration::from_secs(60));
    assert!(random.verify(value, "kerberos").is_err());

    let signer = CookieSigner::with_secret([7; 32], Duration::from_secs(60));
    let now = 1_700_000_000_000;
    let trimmed = value.trim();
    let body = trimmed
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(trimmed);
    let body = body.rsplit_once("&s=").map_or(body, |(b, _)| b);
    // The server reads a cookie value trimmed and unquoted: a body with white space (VT, CR...)
    // at its ends or a quote inside is not one it would issue, so signing it proves nothing.
    if body.trim() != body || body.contains('"') {
        return;
    }
    let signed = signer.sign(body);
    match signer.verify_at(&signed, "kerberos", now) {
        Ok(token) => {
            assert!(!token.user.is_empty());
            assert!(token.expires_ms > now);
            // What the server issues for that caller verifies to the same caller.
            if let Some(again) = signer.issue_at(&token.user, &token.principal, &token.scheme, now)
            {
                let back = signer
                    .verify_at(&again, "kerberos", now)
                    .expect("own cookie");
                assert_eq!((back.user, back.principal), (token.user, token.principal));
            }
        }
        Err(CookieError::BadSignature) => {
            panic!("a cookie signed with the server's key was refused as forged")
        }
        Err(_) => {}
    }
}

/// Hadoop's `auth_to_local` rules (`livy.server.auth.kerberos.name-rules`) and a principal.
pub fn name_rules(rules: &str, principal: &str, default_realm: &str) {
    let Ok(rules) = crate::auth::name_rules::NameRules::parse(rules) else {
        return;
    };
    if let Ok(short) = rules.short_name(principal, default_realm) {
        assert!(
            !short.contains('/') && !short.contains('@'),
            "{principal} mapped to the non-simple name {short}"
        );
    }
}

/// A body from the ResourceManager or a NameNode: every answer type the YARN and WebHDFS
/// clients decode, then what the server computes from the decoded values.
pub fn rm_json(body: &[u8]) {
    #[derive(Deserialize)]
    struct InfoEnvelope {
        #[serde(rename = "clusterInfo")]
        cluster_info: ClusterInfo,
    }
    #[derive(Deserialize)]
    struct MetricsEnvelope {
        #[serde(rename = "clusterMetrics")]
        cluster_metrics: ClusterMetrics,
    }
    #[derive(Deserialize)]
    struct StatusEnvelope {
        #[serde(rename = "FileStatus")]
        _status: crate::yarn::FileStatus,
    }

    let _ = crate::yarn::RemoteException::parse(body);
    let mut reports = Vec::new();
    if let Ok(apps) = serde_json::from_slice::<AppsEnvelope>(body) {
        reports.extend(apps.apps.map(|a| a.app).unwrap_or_default());
    }
    if let Ok(one) = serde_json::from_slice::<AppEnvelope>(body) {
        reports.push(one.app);
    }
    for report in &reports {
        let _ = crate::yarn::monitor::map_state(report);
        let _ = crate::yarn::monitor::diagnostics_lines(report);
    }
    let _ = serde_json::from_slice::<AppStateBody>(body);
    let _ = serde_json::from_slice::<AttemptsEnvelope>(body);
    let _ = serde_json::from_slice::<NewApplication>(body);
    let _ = serde_json::from_slice::<TokenExpiration>(body);
    let _ = serde_json::from_slice::<StatusEnvelope>(body);
    if let Ok(info) = serde_json::from_slice::<InfoEnvelope>(body) {
        let _ = info.cluster_info.is_standby();
    }
    if let Ok(token) = serde_json::from_slice::<DelegationToken>(body) {
        if let Ok(decoded) = crate::yarn::tokens::HadoopToken::decode(&token.token) {
            let _ = decoded.identifier_fields();
            let again = crate::yarn::tokens::HadoopToken::decode(&decoded.encode())
                .expect("an encoded token decodes");
            assert!(again == decoded, "a token changed on re-encoding");
        }
    }
    let total = serde_json::from_slice::<MetricsEnvelope>(body)
        .map(|m| m.cluster_metrics.total())
        .unwrap_or(crate::yarn::Resources {
            memory_mb: 8192,
            vcores: 8,
        });
    if let Ok(envelope) = serde_json::from_slice::<crate::yarn::scheduler::SchedulerEnvelope>(body)
    {
        let info = envelope.scheduler.scheduler_info;
        let mut queues = vec!["default".to_string(), "root".to_string()];
        let mut stack: Vec<&crate::yarn::QueueInfo> = info.queues.iter().collect();
        while let Some(q) = stack.pop() {
            queues.push(q.queue_name.clone());
            queues.extend(q.queue_path.clone());
            stack.extend(q.queues.iter());
        }
        for queue in queues {
            let _ = crate::yarn::queue_headroom(&info, &queue, total);
            let _ = crate::yarn::scheduler::queue_limit(&info, &queue, total);
        }
    }
}
