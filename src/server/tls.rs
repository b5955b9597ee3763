//! TLS for the REST port: the rustls server configuration built from the admin's PEM files, and
//! the per-connection handshake with a deadline.
//!
//! Errors name files and what is wrong with them, never their contents.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;

/// How long a client may take to complete the TLS handshake. The handshake runs in the
/// connection's own task, so a client that connects and sends nothing only holds its own task.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A certificate or key file that cannot serve TLS.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Unreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} holds no PEM certificate (expected -----BEGIN CERTIFICATE-----)")]
    NoCertificate { path: PathBuf },
    #[error("{path} is not a valid PEM file: {detail}")]
    BadPem { path: PathBuf, detail: String },
    #[error(
        "{path} holds an encrypted private key, which livy-rs cannot unlock; write it out \
         unencrypted with `openssl pkey -in {path} -out key.pem` and keep that file readable \
         only by the server's user"
    )]
    EncryptedKey { path: PathBuf },
    #[error(
        "{path} holds no PEM private key (expected -----BEGIN PRIVATE KEY-----, \
         -----BEGIN RSA PRIVATE KEY----- or -----BEGIN EC PRIVATE KEY-----)"
    )]
    NoKey { path: PathBuf },
    #[error("the private key in {key} does not belong to the first certificate in {certificate}")]
    KeyMismatch { certificate: PathBuf, key: PathBuf },
    #[error("certificate {certificate} with key {key} is not usable: {detail}")]
    Unusable {
        certificate: PathBuf,
        key: PathBuf,
        detail: String,
    },
}

/// Reads the certificate chain and private key and builds the server configuration: TLS 1.3 and
/// 1.2, ALPN `h2` and `http/1.1`, no client certificates (Livy asks for none either).
pub fn server_config(
    certificate: &Path,
    key: &Path,
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let chain = read_chain(certificate)?;
    let private_key = read_key(key)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let unusable = |e: rustls::Error| match e {
        rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch) => {
            TlsError::KeyMismatch {
                certificate: certificate.to_path_buf(),
                key: key.to_path_buf(),
            }
        }
        other => TlsError::Unusable {
            certificate: certificate.to_path_buf(),
            key: key.to_path_buf(),
            detail: other.to_string(),
        },
    };
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(unusable)?
        .with_no_client_auth()
        .with_single_cert(chain, private_key)
        .map_err(unusable)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Unreadable {
        path: path.to_path_buf(),
        source,
    })
}

fn bad_pem(path: &Path, e: rustls::pki_types::pem::Error) -> TlsError {
    TlsError::BadPem {
        path: path.to_path_buf(),
        detail: e.to_string(),
    }
}

fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = read(path)?;
    let chain = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad_pem(path, e))?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_path_buf(),
        });
    }
    Ok(chain)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let bytes = read(path)?;
    match PrivateKeyDer::from_pem_slice(&bytes) {
        Ok(key) => Ok(key),
        Err(rustls::pki_types::pem::Error::NoItemsFound) => {
            // rustls skips sections it does not know; an encrypted PKCS#8 key is the one an
            // admin most likely has (openssl pkcs12 without -nodes), so name it.
            let encrypted = String::from_utf8_lossy(&bytes).contains("ENCRYPTED");
            Err(if encrypted {
                TlsError::EncryptedKey {
                    path: path.to_path_buf(),
                }
            } else {
                TlsError::NoKey {
                    path: path.to_path_buf(),
                }
            })
        }
        Err(e) => Err(bad_pem(path, e)),
    }
}

/// Completes the server side of the handshake within [`HANDSHAKE_TIMEOUT`]; `None` (logged at
/// debug, with the peer) when the client does not speak TLS, fails it, or is too slow.
pub async fn accept(
    acceptor: &tokio_rustls::TlsAcceptor,
    stream: TcpStream,
    peer: std::net::SocketAddr,
) -> Option<tokio_rustls::server::TlsStream<TcpStream>> {
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => Some(tls),
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "TLS handshake failed");
            None
        }
        Err(_) => {
            tracing::debug!(%peer, timeout = ?HANDSHAKE_TIMEOUT, "TLS handshake timed out");
            None
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
