//! The server end of the driver channel. One listener for all sessions, bound in
//! `livy.rsc.launcher.port.range`; each accepted connection gets its own handshake task. A driver
//! proves it knows its session's secret with an HMAC over a fresh nonce (the secret never crosses
//! the wire), and the server answers with an HMAC over the driver's nonce, so each side knows the
//! other holds the secret. A connection that fails is logged and dropped; the session keeps
//! waiting for its real driver.

use super::protocol::{read_frame, write_frame, FrameError, FromDriver, ToDriver};
use super::tls::ChannelIdentity;
use hmac::{Hmac, Mac};
use parking_lot::Mutex;
use rand::RngCore;
use sha2::Sha256;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{ReadHalf, WriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// How long a connecting driver has to finish the handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);
/// The largest frame before a driver has proven itself: `hello` and `auth` are under 300 bytes,
/// so nobody unauthenticated gets a `livy.rsc.rpc.max.size` buffer.
pub const PRE_AUTH_MAX_FRAME: usize = 16 * 1024;
/// Connections in the handshake at once; more are closed at once, so idle or slow peers cannot
/// hold unbounded tasks and buffers (real drivers retry their connection).
pub const MAX_PENDING_HANDSHAKES: usize = 64;
/// The protocol version this server speaks.
pub const PROTOCOL_VERSION: u32 = 1;

type Stream = TlsStream<TcpStream>;

/// An authenticated connection from a session's driver.
pub struct DriverConnection {
    pub session_id: u32,
    pub peer: SocketAddr,
    pub reader: ReadHalf<Stream>,
    pub writer: WriteHalf<Stream>,
}

struct Pending {
    secret: String,
    deliver: oneshot::Sender<DriverConnection>,
}

/// The listener drivers connect back to.
pub struct ChannelServer {
    /// Where drivers are told to connect (`host:port`).
    pub advertised: String,
    pub fingerprint: String,
    /// The certificate and key (DER), for the recovery store.
    pub identity_der: (Vec<u8>, Vec<u8>),
    pending: Mutex<HashMap<u32, Pending>>,
}

impl ChannelServer {
    /// Binds the first free port of `ports` on `bind_host` and starts accepting.
    /// `identity` and `preferred_port` come from the recovery store after a restart, so drivers
    /// dialing back find the port and certificate they know.
    pub async fn start(
        bind_host: &str,
        advertise_host: &str,
        ports: (u16, u16),
        identity: ChannelIdentity,
        preferred_port: Option<u16>,
    ) -> anyhow::Result<Arc<Self>> {
        let mut last_err = None;
        let mut listener = None;
        for port in preferred_port.into_iter().chain(ports.0..=ports.1) {
            match TcpListener::bind((bind_host, port)).await {
                Ok(l) => {
                    listener = Some(l);
                    break;
                }
                Err(e) => last_err = Some(e),
            }
        }
        let listener = listener.ok_or_else(|| {
            anyhow::anyhow!(
                "no free port for the driver channel in {}~{} on {bind_host}: {}",
                ports.0,
                ports.1,
                last_err.map(|e| e.to_string()).unwrap_or_default()
            )
        })?;
        let port = listener.local_addr()?.port();
        let server = Arc::new(ChannelServer {
            advertised: format!("{advertise_host}:{port}"),
            fingerprint: identity.fingerprint.clone(),
            identity_der: (identity.cert_der.clone(), identity.key_der.clone()),
            pending: Mutex::new(HashMap::new()),
        });
        tracing::info!(address = %server.advertised, "driver channel listening");
        let acceptor = TlsAcceptor::from(identity.config);
        let weak = Arc::downgrade(&server);
        let slots = Arc::new(tokio::sync::Semaphore::new(MAX_PENDING_HANDSHAKES));
        tokio::spawn(async move {
            loop {
                let Ok((tcp, peer)) = listener.accept().await else {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                };
                let Some(server) = weak.upgrade() else { return };
                let Ok(slot) = slots.clone().try_acquire_owned() else {
                    tracing::debug!(%peer, "too many driver handshakes at once; connection closed");
                    crate::metrics::get().driver_handshake("busy");
                    drop(tcp);
                    continue;
                };
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let _slot = slot;
                    match tokio::time::timeout(
                        HANDSHAKE_TIMEOUT,
                        server.handshake(acceptor, tcp, peer),
                    )
                    .await
                    {
                        Ok(Ok(())) => crate::metrics::get().driver_handshake("accepted"),
                        Ok(Err(reason)) => {
                            crate::metrics::get().driver_handshake("rejected");
                            tracing::warn!(%peer, %reason, "driver connection rejected")
                        }
                        Err(_) => {
                            crate::metrics::get().driver_handshake("rejected");
                            tracing::warn!(%peer, "driver connection rejected: handshake timed out")
                        }
                    }
                });
            }
        });
        Ok(server)
    }

    /// Registers a session that waits for its driver; the receiver yields the authenticated
    /// connection. Dropping the receiver (session gone) makes later attempts fail.
    pub fn expect(&self, session_id: u32, secret: String) -> oneshot::Receiver<DriverConnection> {
        let (tx, rx) = oneshot::channel();
        self.pending.lock().insert(
            session_id,
            Pending {
                secret,
                deliver: tx,
            },
        );
        rx
    }

    /// Stops waiting for a session's driver.
    pub fn forget(&self, session_id: u32) {
        self.pending.lock().remove(&session_id);
    }

    async fn handshake(
        &self,
        acceptor: TlsAcceptor,
        tcp: TcpStream,
        peer: SocketAddr,
    ) -> Result<(), String> {
        let _ = tcp.set_nodelay(true);
        let tls = acceptor
            .accept(tcp)
            .await
            .map_err(|e| format!("TLS handshake failed: {e}"))?;
        let (mut reader, mut writer) = tokio::io::split(tls);
        let max = PRE_AUTH_MAX_FRAME;
        let session_id = match read_frame(&mut reader, max).await.map_err(describe)? {
            FromDriver::Hello {
                session_id,
                protocol,
            } if protocol == PROTOCOL_VERSION => session_id,
            FromDriver::Hello { protocol, .. } => {
                return Err(format!("unsupported protocol version {protocol}"))
            }
            other => return Err(format!("expected hello, got {}", kind(&other))),
        };
        let secret = self
            .pending
            .lock()
            .get(&session_id)
            .map(|p| p.secret.clone())
            .ok_or_else(|| format!("no session {session_id} is waiting for a driver"))?;
        let nonce = random_hex(32);
        write_frame(
            &mut writer,
            &ToDriver::Challenge {
                nonce: nonce.clone(),
            },
            max,
        )
        .await
        .map_err(describe)?;
        let (mac, client_nonce) = match read_frame(&mut reader, max).await.map_err(describe)? {
            FromDriver::Auth { mac, nonce } => (mac, nonce),
            other => return Err(format!("expected auth, got {}", kind(&other))),
        };
        let expected = format!("livy-rs-driver|{session_id}|{nonce}");
        if !verify(&secret, &expected, &mac) {
            return Err(format!("session {session_id}: wrong secret"));
        }
        let proof = sign(
            &secret,
            &format!("livy-rs-server|{session_id}|{client_nonce}"),
        );
        write_frame(&mut writer, &ToDriver::Welcome { mac: proof }, max)
            .await
            .map_err(describe)?;
        let pending = self
            .pending
            .lock()
            .remove(&session_id)
            .ok_or_else(|| format!("session {session_id} stopped waiting"))?;
        tracing::info!(session_id, %peer, "driver connected");
        pending
            .deliver
            .send(DriverConnection {
                session_id,
                peer,
                reader,
                writer,
            })
            .map_err(|_| format!("session {session_id} is gone"))
    }
}

fn describe(e: FrameError) -> String {
    e.to_string()
}

fn kind(m: &FromDriver) -> String {
    serde_json::to_value(m)
        .ok()
        .and_then(|v| v["type"].as_str().map(String::from))
        .unwrap_or_default()
}

/// HMAC-SHA256 of `message` under `secret`, hex.
pub fn sign(secret: &str, message: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(message.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Constant-time check of a hex HMAC.
pub fn verify(secret: &str, message: &str, mac_hex: &str) -> bool {
    let Ok(given) = hex::decode(mac_hex) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(message.as_bytes());
    mac.verify_slice(&given).is_ok()
}

/// `bytes` random bytes as hex (nonces and session secrets).
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut buf);
    hex::encode(buf)
}

/// Parses Livy's `livy.rsc.launcher.port.range` ("10000~10010").
pub fn parse_port_range(text: &str) -> Result<(u16, u16), String> {
    let (lo, hi) = text
        .split_once('~')
        .ok_or_else(|| format!("'{text}' is not a port range like 10000~10010"))?;
    let lo: u16 = lo.trim().parse().map_err(|_| format!("bad port '{lo}'"))?;
    let hi: u16 = hi.trim().parse().map_err(|_| format!("bad port '{hi}'"))?;
    if lo > hi {
        return Err(format!("port range '{text}' is empty"));
    }
    Ok((lo, hi))
}
