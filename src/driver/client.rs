//! A driver's end of the channel in Rust, for tests: TLS with the pinned fingerprint, the
//! handshake, and raw frames, so tests can play a driver (or an attacker) byte by byte.

use super::channel::{sign, ChannelServer};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

pub type ClientStream = TlsStream<TcpStream>;

/// Accepts exactly the certificate with the given SHA-256, as the real driver does.
#[derive(Debug)]
struct Pinned(String);

fn provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::ring::default_provider()
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if hex::encode(Sha256::digest(end_entity.as_ref())) == self.0 {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General("fingerprint mismatch".into()))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algs = provider().signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, &algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algs = provider().signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, &algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A TLS connection to the channel, before any frame.
pub async fn connect_tls(server: &ChannelServer) -> ClientStream {
    try_connect_tls(server).await.expect("TLS connection")
}

async fn try_connect_tls(server: &ChannelServer) -> Result<ClientStream, String> {
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Pinned(server.fingerprint.clone())))
        .with_no_client_auth();
    let tcp = TcpStream::connect(&server.advertised)
        .await
        .map_err(|e| e.to_string())?;
    let name = ServerName::try_from("livy-rs-driver-channel").expect("a valid name");
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())
}

/// Writes one frame.
pub async fn send<W: AsyncWrite + Unpin>(w: &mut W, msg: &Value) {
    let body = serde_json::to_vec(msg).unwrap();
    w.write_u32(body.len() as u32).await.unwrap();
    w.write_all(&body).await.unwrap();
    w.flush().await.unwrap();
}

/// Reads one frame (any size: the test is the driver and trusts the server).
pub async fn recv<R: AsyncRead + Unpin>(r: &mut R) -> Result<Value, String> {
    let len = r.read_u32().await.map_err(|e| e.to_string())? as usize;
    let mut buf = vec![0u8; len];
    r.read_exact(&mut buf).await.map_err(|e| e.to_string())?;
    serde_json::from_slice(&buf).map_err(|e| e.to_string())
}

/// Connects and authenticates as session `sid`'s driver; checks the server's proof too.
pub async fn handshake(
    server: &ChannelServer,
    sid: u32,
    secret: &str,
) -> Result<ClientStream, String> {
    let mut s = try_connect_tls(server).await?;
    send(
        &mut s,
        &json!({"type": "hello", "session_id": sid, "protocol": 1}),
    )
    .await;
    let challenge = recv(&mut s).await?;
    let nonce = challenge["nonce"]
        .as_str()
        .ok_or("no challenge")?
        .to_string();
    let mine = super::channel::random_hex(32);
    let mac = sign(secret, &format!("livy-rs-driver|{sid}|{nonce}"));
    send(&mut s, &json!({"type": "auth", "mac": mac, "nonce": mine})).await;
    let welcome = recv(&mut s).await?;
    if welcome["mac"].as_str() != Some(&sign(secret, &format!("livy-rs-server|{sid}|{mine}"))) {
        return Err(format!("bad welcome: {welcome}"));
    }
    Ok(s)
}

/// Whether the peer closes the connection (EOF or reset) within `limit`; data is skipped.
pub async fn raw_closed_within<R: AsyncRead + Unpin>(r: &mut R, limit: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let until = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(until, r.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}
