//! Delegation tokens for a REST-submitted ApplicationMaster (`livy_rs::yarn::tokens`) against the
//! emulator with SPNEGO required (its default validator takes the principal from the token, so no
//! KDC is needed here; tests/security_yarn runs the real Kerberos path).

use super::common;

use common::emulator::Emulator;
use futures::future::BoxFuture;
use livy_rs::yarn::tokens::{am_credentials, HadoopToken, TokenSources, HDFS_DELEGATION_KIND};
use livy_rs::yarn::{Endpoint, RequestAuth, RmClient, WebHdfs, YarnError};
use reqwest::{RequestBuilder, Url};
use serde_json::Value;
use std::sync::Arc;

/// Authenticates as `livy/localhost@LIVY.TEST` to the emulator's accept-all validator.
struct AsLivy;

impl RequestAuth for AsLivy {
    fn authorize<'a>(
        &'a self,
        request: RequestBuilder,
        _target: &'a Url,
    ) -> BoxFuture<'a, Result<RequestBuilder, YarnError>> {
        // base64("livy/localhost@LIVY.TEST")
        Box::pin(async move {
            Ok(request.header(
                "Authorization",
                "Negotiate bGl2eS9sb2NhbGhvc3RATElWWS5URVNU",
            ))
        })
    }
}

fn entries(credentials: &Value, field: &str) -> Vec<(String, String)> {
    credentials[field]["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["key"].as_str().unwrap().to_string(),
                e["value"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn am_credentials_carry_hdfs_and_rm_tokens_for_the_proxy_user_renewable_by_yarn() {
    let emu = Emulator::start(&["--require-spnego"]);
    let rm = RmClient::builder(vec![Endpoint {
        id: None,
        url: emu.rm_url("rm1"),
    }])
    .auth(Arc::new(AsLivy))
    .build()
    .unwrap();
    let hdfs = WebHdfs::builder(vec![Endpoint {
        id: None,
        url: emu.webhdfs_url(),
    }])
    .auth(Arc::new(AsLivy))
    .build()
    .unwrap();
    let sources = TokenSources {
        rm: &rm,
        hdfs: Some(&hdfs),
        nameservice: None,
        webhdfs: None,
    };
    let creds = am_credentials(&sources, Some("bob"), "rm").await.unwrap();
    assert_eq!(entries(&creds, "secrets"), vec![]);
    let tokens = entries(&creds, "tokens");
    assert_eq!(tokens.len(), 2, "{creds}");

    let (alias, hdfs_token) = &tokens[0];
    let hdfs_token = HadoopToken::decode(hdfs_token).unwrap();
    assert_eq!(hdfs_token.kind, HDFS_DELEGATION_KIND);
    assert_eq!(alias, &hdfs_token.service, "stored under its service");
    assert!(
        hdfs_token.service.ends_with(":8020"),
        "{}",
        hdfs_token.service
    );
    let id = hdfs_token.identifier_fields().unwrap();
    assert_eq!(id.owner, "bob");
    assert_eq!(id.renewer, "rm");
    assert_eq!(id.real_user, "livy/localhost@LIVY.TEST");

    let (alias, rm_token) = &tokens[1];
    assert_eq!(alias, "RM_DELEGATION_TOKEN");
    let rm_id = HadoopToken::decode(rm_token)
        .unwrap()
        .identifier_fields()
        .unwrap();
    assert_eq!(
        (rm_id.owner.as_str(), rm_id.renewer.as_str()),
        ("bob", "rm")
    );

    // The emulator issued exactly these, for bob, renewable by rm; asked for as doAs=bob.
    let issued = emu
        .control(reqwest::Method::GET, "/emulator/tokens", None)
        .await;
    let issued = issued["tokens"].as_array().unwrap();
    assert_eq!(issued.len(), 2, "{issued:?}");
    assert!(issued
        .iter()
        .all(|t| t["owner"] == "bob" && t["renewer"] == "rm"));
    let mut log = emu.requests("rm1").await;
    log.extend(emu.requests("webhdfs").await);
    let asked: Vec<&Value> = log
        .iter()
        .filter(|r| {
            r["path"]
                .as_str()
                .unwrap_or("")
                .contains("delegation-token")
                || r["query"]["op"] == "GETDELEGATIONTOKEN"
        })
        .collect();
    assert_eq!(asked.len(), 2, "{asked:?}");
    for r in asked {
        assert_eq!(r["doAs"], "bob", "{r}");
        assert_eq!(r["principal"], "livy/localhost@LIVY.TEST", "{r}");
        assert_eq!(r["status"], 200, "{r}");
    }

    // Without Kerberos there is no token to put into credentials: a typed error, no panic.
    let simple = Emulator::start(&[]);
    let plain_hdfs = WebHdfs::builder(vec![Endpoint {
        id: None,
        url: simple.webhdfs_url(),
    }])
    .build()
    .unwrap();
    let err = plain_hdfs
        .get_delegation_token("rm", livy_rs::yarn::Caller::NONE)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no delegation token"), "{err}");
}
