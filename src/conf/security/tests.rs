use crate::conf::{Env, LivyConf};
use std::collections::{BTreeMap, BTreeSet};

fn load(entries: &[(&str, &str)]) -> Result<LivyConf, Vec<String>> {
    let spark = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(spark.path().join("bin")).unwrap();
    std::fs::write(spark.path().join("bin/spark-submit"), "#!/bin/sh\n").unwrap();
    let env = Env {
        spark_home: Some(spark.path().to_path_buf()),
        ..Env::default()
    };
    let raw: BTreeMap<String, String> = entries
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    LivyConf::from_map(raw, BTreeSet::new(), &env)
        .map(|l| l.conf)
        .map_err(|e| e.problems)
}

#[test]
fn a_java_keystore_stops_the_server_with_the_conversion_steps() {
    let problems = load(&[
        ("livy.keystore", "/etc/livy/keystore.jks"),
        ("livy.keystore.password", "s3cret-pass"),
    ])
    .unwrap_err();
    assert_eq!(problems.len(), 1, "{problems:?}");
    let msg = &problems[0];
    for needle in [
        "livy.keystore = /etc/livy/keystore.jks",
        "keytool -importkeystore -srckeystore /etc/livy/keystore.jks",
        "-deststoretype PKCS12",
        "-nokeys",
        "-nodes",
        "livy.server.tls.certificate",
        "livy.server.tls.key",
    ] {
        assert!(msg.contains(needle), "missing {needle:?} in {msg}");
    }
    assert!(!msg.contains("s3cret-pass"));
}

#[test]
fn tls_needs_both_files() {
    let problems = load(&[("livy.server.tls.certificate", "/x/cert.pem")]).unwrap_err();
    assert!(problems[0].contains("needs both"), "{problems:?}");
    let problems = load(&[
        ("livy.server.tls.certificate", "/nonexistent/cert.pem"),
        ("livy.server.tls.key", "/nonexistent/key.pem"),
    ])
    .unwrap_err();
    assert!(
        problems[0].contains("/nonexistent/cert.pem"),
        "{problems:?}"
    );
}

#[test]
fn hsts_only_with_tls() {
    let plain = load(&[]).unwrap();
    assert!(plain.security.tls.is_none());
    assert!(!plain
        .security
        .headers
        .iter()
        .any(|(n, _)| n == "strict-transport-security"));
    assert!(!plain.security.csrf_protection);

    let pki = crate::server::tls::tests::TestPki::new();
    let (cert, key) = (pki.cert(), pki.key());
    let tls = load(&[
        ("livy.server.tls.certificate", cert.to_str().unwrap()),
        ("livy.server.tls.key", key.to_str().unwrap()),
        ("livy.server.csrf-protection.enabled", "true"),
    ])
    .unwrap();
    assert!(tls.security.tls.is_some());
    assert!(tls.security.csrf_protection);
    let hsts = tls
        .security
        .headers
        .iter()
        .find(|(n, _)| n == "strict-transport-security")
        .map(|(_, v)| v.to_str().unwrap().to_string());
    assert_eq!(hsts.as_deref(), Some("max-age=31536000; includeSubDomains"));
}

#[test]
fn a_header_value_that_http_cannot_carry_is_a_problem() {
    let problems = load(&[("livy.server.http.header.X-Frame-Options", "DENY\u{7f}")]).unwrap_err();
    assert!(
        problems[0].contains("livy.server.http.header.X-Frame-Options"),
        "{problems:?}"
    );
}

#[test]
fn hsts_set_empty_is_not_sent_even_with_tls() {
    let pki = crate::server::tls::tests::TestPki::new();
    let (cert, key) = (pki.cert(), pki.key());
    let conf = load(&[
        ("livy.server.tls.certificate", cert.to_str().unwrap()),
        ("livy.server.tls.key", key.to_str().unwrap()),
        ("livy.server.http.header.Strict-Transport-Security", ""),
    ])
    .unwrap();
    assert!(conf.security.tls.is_some());
    let names: Vec<_> = conf
        .security
        .headers
        .iter()
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "x-content-type-options",
            "x-frame-options",
            "x-xss-protection",
            "content-security-policy"
        ]
    );
}

#[test]
fn allowed_origins_are_read_as_browsers_write_them_and_bad_entries_are_named() {
    let conf = load(&[(
        "livy.server.allowed-origins",
        "https://Notebooks.Example.com:443, http://10.0.0.5:8080/,http://[::1]:80",
    )])
    .unwrap();
    assert_eq!(
        conf.security.allowed_origins,
        vec![
            "https://notebooks.example.com",
            "http://10.0.0.5:8080",
            "http://[::1]"
        ]
    );
    assert!(load(&[]).unwrap().security.allowed_origins.is_empty());
    for bad in [
        "null",
        "*",
        "notebooks.example.com",
        "ftp://x",
        "https://x/path",
        "https://u@x",
    ] {
        let problems = load(&[("livy.server.allowed-origins", bad)]).unwrap_err();
        assert_eq!(problems.len(), 1, "{bad}: {problems:?}");
        assert!(
            problems[0].starts_with(&format!(
                "livy.server.allowed-origins: '{bad}' is not an origin"
            )),
            "{}",
            problems[0]
        );
    }
}
