//! The `Authorization` header (Negotiate, Basic) and `Cookie` headers: first through the
//! parsers directly (the cookie also re-signed with a known key, to reach what follows the
//! signature check), then through the router of a server with Kerberos authentication, whose
//! acceptor credential comes from a keytab made here with ktutil (no KDC is needed to reject
//! tokens). Input: the Authorization value, a NUL, then Cookie values separated by NUL.
#![no_main]

#[path = "common/harness.rs"]
mod harness;

use axum::http::{header, HeaderValue, Method};
use harness::{is_livy_error, Call, Harness};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

/// The Kerberos-protected server, when ktutil is there to make its keytab.
static KERBEROS: LazyLock<Option<Harness>> = LazyLock::new(|| {
    let dir = tempfile::tempdir().unwrap().keep();
    let keytab = dir.join("http.keytab");
    let krb5 = dir.join("krb5.conf");
    std::fs::write(
        &krb5,
        "[libdefaults]\n default_realm = FUZZ.TEST\n\n[realms]\n FUZZ.TEST = {\n  kdc = 127.0.0.1:1\n }\n",
    )
    .unwrap();
    let script = format!(
        "addent -password -p HTTP/localhost@FUZZ.TEST -k 1 -e aes256-cts-hmac-sha1-96\nfuzz-password\nwkt {}\nq\n",
        keytab.display()
    );
    let made = std::process::Command::new("ktutil")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(script.as_bytes())?;
            child.wait()
        });
    if !matches!(made, Ok(s) if s.success()) || !keytab.exists() {
        eprintln!("auth_headers: no ktutil; the Kerberos router part is skipped");
        return None;
    }
    std::env::set_var("KRB5_CONFIG", &krb5);
    // No replay cache on disk: every input would write to it.
    std::env::set_var("KRB5RCACHETYPE", "none");
    let keytab = keytab.display().to_string();
    Some(Harness::new(&[
        ("livy.server.auth.type", "kerberos"),
        ("livy.server.auth.kerberos.principal", "HTTP/localhost@FUZZ.TEST"),
        ("livy.server.auth.kerberos.keytab", &keytab),
    ]))
});

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (authorization, cookies) = text.split_once('\0').unwrap_or((text, ""));
    livy_rs::fuzzing::auth_headers(authorization, cookies);

    let Some(h) = KERBEROS.as_ref() else { return };
    let mut headers = Vec::new();
    if let Ok(v) = HeaderValue::from_str(authorization) {
        headers.push((header::AUTHORIZATION, v));
    }
    for cookie in cookies.split('\0').filter(|c| !c.is_empty()) {
        if let Ok(v) = HeaderValue::from_str(cookie) {
            headers.push((header::COOKIE, v));
        }
    }
    let call = Call {
        method: Method::GET,
        uri: "/sessions".into(),
        headers,
        body: Vec::new(),
    };
    h.rt.block_on(async {
        let (resp, body) = h.send(&call).await;
        let status = resp.status().as_u16();
        assert!(
            matches!(status, 200 | 401 | 403),
            "GET /sessions answered {status}: {}",
            String::from_utf8_lossy(&body)
        );
        if status == 401 {
            assert!(resp.headers().contains_key(header::WWW_AUTHENTICATE));
        }
        if status != 200 {
            assert!(is_livy_error(&body), "{status} not in Livy's shape");
        }
    });
});
