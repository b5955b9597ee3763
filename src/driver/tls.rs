//! The driver channel's TLS identity: a self-signed certificate made at server start. Drivers do
//! not check it against a CA; they pin its SHA-256 fingerprint, which the server passes to each
//! driver at launch, so no certificate needs to be distributed.

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// The server side of the channel's TLS.
pub struct ChannelIdentity {
    pub config: Arc<rustls::ServerConfig>,
    /// Lower-case hex SHA-256 of the certificate's DER bytes.
    pub fingerprint: String,
    /// The certificate and PKCS#8 key (DER), kept in the recovery store so a restarted server
    /// shows drivers the certificate they pinned.
    pub cert_der: Vec<u8>,
    pub key_der: Vec<u8>,
}

impl ChannelIdentity {
    pub fn generate() -> anyhow::Result<Self> {
        let key = rcgen::KeyPair::generate()?;
        let params = rcgen::CertificateParams::new(vec!["livy-rs-driver-channel".to_string()])?;
        let cert = params.self_signed(&key)?;
        Self::from_der(cert.der().to_vec(), key.serialize_der())
    }

    /// The identity from a stored certificate and key.
    pub fn from_der(der: Vec<u8>, key_der: Vec<u8>) -> anyhow::Result<Self> {
        let fingerprint = hex::encode(Sha256::digest(&der));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(der.clone())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_der.clone())),
            )?;
        Ok(ChannelIdentity {
            config: Arc::new(config),
            fingerprint,
            cert_der: der,
            key_der,
        })
    }
}
