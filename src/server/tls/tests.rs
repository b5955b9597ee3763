use super::*;
use std::path::Path;

/// A test CA and a server certificate for `localhost`/127.0.0.1 signed by it, as PEM files.
pub(crate) struct TestPki {
    pub dir: tempfile::TempDir,
    pub ca_pem: String,
}

impl TestPki {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let params =
            rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
        let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
        std::fs::write(dir.path().join("cert.pem"), cert.pem()).unwrap();
        std::fs::write(dir.path().join("key.pem"), key.serialize_pem()).unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
        TestPki {
            dir,
            ca_pem: ca.pem(),
        }
    }

    pub fn cert(&self) -> PathBuf {
        self.dir.path().join("cert.pem")
    }

    pub fn key(&self) -> PathBuf {
        self.dir.path().join("key.pem")
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    }
}

fn err(cert: &Path, key: &Path) -> TlsError {
    server_config(cert, key).expect_err("should not load")
}

#[test]
fn pem_certificate_and_key_load_with_alpn() {
    let pki = TestPki::new();
    let config = server_config(&pki.cert(), &pki.key()).unwrap();
    assert_eq!(
        config.alpn_protocols,
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    );
}

#[test]
fn unusable_files_are_named_without_their_contents() {
    let pki = TestPki::new();
    let key_text = std::fs::read_to_string(pki.key()).unwrap();
    let missing = pki.dir.path().join("missing.pem");

    let e = err(&missing, &pki.key());
    assert!(matches!(e, TlsError::Unreadable { .. }), "{e}");
    assert!(e.to_string().contains("missing.pem"));

    // A key where the certificate should be.
    let e = err(&pki.key(), &pki.key());
    assert!(matches!(e, TlsError::NoCertificate { .. }), "{e}");

    // A certificate where the key should be.
    let e = err(&pki.cert(), &pki.cert());
    assert!(matches!(e, TlsError::NoKey { .. }), "{e}");

    // Another key than the certificate's.
    let other = pki.write(
        "other-key.pem",
        &rcgen::KeyPair::generate().unwrap().serialize_pem(),
    );
    let e = err(&pki.cert(), &other);
    assert!(matches!(e, TlsError::KeyMismatch { .. }), "{e}");

    let encrypted = pki.write(
        "enc.pem",
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
    );
    let e = err(&pki.cert(), &encrypted);
    assert!(matches!(e, TlsError::EncryptedKey { .. }), "{e}");
    assert!(e.to_string().contains("openssl pkey"), "{e}");

    let broken = pki.write(
        "broken.pem",
        "-----BEGIN PRIVATE KEY-----\n!!notbase64!!\n-----END PRIVATE KEY-----\n",
    );
    let e = err(&pki.cert(), &broken);
    assert!(matches!(e, TlsError::BadPem { .. }), "{e}");

    // No key material in any message.
    let body: String = key_text
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    for e in [
        err(&pki.cert(), &other),
        err(&pki.key(), &pki.key()),
        err(&pki.cert(), &pki.cert()),
    ] {
        let text = e.to_string();
        assert!(!text.contains(&body[..20]), "{text}");
    }
}

/// A silent client and a plain-HTTP client do not stop the server from answering TLS clients.
#[tokio::test]
async fn handshakes_do_not_block_accept_and_failures_do_not_stop_the_server() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let pki = TestPki::new();
    let config = server_config(&pki.cert(), &pki.key()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route("/", axum::routing::get(|| async { "hello" }));
    let shutdown = tokio_util::sync::CancellationToken::new();
    let server = tokio::spawn(crate::server::serve(
        listener,
        app,
        Some(config),
        8192,
        shutdown.clone(),
        Duration::from_secs(2),
    ));

    // Connects and says nothing: holds only its own task.
    let _silent = tokio::net::TcpStream::connect(addr).await.unwrap();
    // Speaks plain HTTP to the TLS port: the handshake fails and the connection is closed.
    let mut plain = tokio::net::TcpStream::connect(addr).await.unwrap();
    plain
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), plain.read_to_end(&mut buf))
        .await
        .expect("plain-HTTP connection is closed");
    assert!(!String::from_utf8_lossy(&buf).contains("hello"));

    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(pki.ca_pem.as_bytes()).unwrap())
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    for _ in 0..3 {
        let resp = client
            .get(format!("https://localhost:{}/", addr.port()))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.text().await.unwrap(), "hello");
    }
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(20), server)
        .await
        .unwrap()
        .unwrap();
}
