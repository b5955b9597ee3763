//! How one server speaks for a user to another. A forwarded request carries the header
//! [`HEADER`]: the caller's authenticated user, a timestamp and a nonce, and an HMAC-SHA256
//! under the servers' shared secret over those and the request itself (method, path with query
//! — which holds any `doAs` — and the SHA-256 of the body). The receiving server checks the MAC,
//! refuses a timestamp more than [`VALIDITY`] away and a nonce it has seen, and then trusts the
//! user named: the user's own credentials (a Kerberos ticket, a password) are never passed on.
//! A client cannot make the header without the secret, and one that sends it is refused.

use crate::conf::ha::HaConf;
use hmac::{Hmac, Mac};
use parking_lot::Mutex;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::time::Duration;

/// The forwarding header.
pub const HEADER: &str = "x-livy-rs-peer";
/// How far a forwarded request's timestamp may be from the receiver's clock.
pub const VALIDITY: Duration = Duration::from_secs(30);
/// Nonces remembered at once; beyond, forwarded requests are refused until old ones expire
/// (memory stays bounded whatever peers or clients send).
const MAX_NONCES: usize = 100_000;
/// The header's format version.
const VERSION: &str = "v1";

/// Signs and checks forwarded requests, and sends them.
pub struct Peer {
    secret: Vec<u8>,
    seen: Mutex<HashMap<String, i64>>,
    pub http: reqwest::Client,
}

/// Why a peer header was refused (logged; the client only hears that it was refused).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Refusal {
    #[error("malformed")]
    Malformed,
    #[error("bad signature")]
    BadSignature,
    #[error("timestamp outside the validity window")]
    Stale,
    #[error("nonce already used")]
    Replayed,
    #[error("too many forwarded requests in the validity window")]
    Busy,
}

/// The request a header speaks for.
pub struct Signed<'a> {
    pub method: &'a str,
    pub path_and_query: &'a str,
    pub body: &'a [u8],
}

fn hex_user(user: Option<&str>) -> String {
    user.map_or_else(|| "-".to_string(), |u| hex::encode(u.as_bytes()))
}

fn now_secs() -> i64 {
    crate::statements::now_ms() / 1000
}

impl Peer {
    pub fn new(conf: &HaConf, tls: bool) -> anyhow::Result<Self> {
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(300))
            // Idle connections are dropped before a peer closes them (it does after
            // `HEADER_READ_TIMEOUT`): a request sent on a connection the peer is closing at that
            // moment is lost (a race a loaded machine makes likelier).
            .pool_idle_timeout(crate::server::HEADER_READ_TIMEOUT / 2)
            .redirect(reqwest::redirect::Policy::none());
        if tls {
            // Peers present the certificates of the REST port; those are trusted through the
            // system's roots (a site CA installed there, or the file `SSL_CERT_FILE` names),
            // not through the public CA list reqwest carries in the binary. Only HTTPS: a peer
            // whose certificate does not verify is refused, never tried in plain text.
            builder = builder.https_only(true).tls_built_in_root_certs(false);
            let found = rustls_native_certs::load_native_certs();
            let mut added = 0;
            for der in found.certs {
                if let Ok(cert) = reqwest::Certificate::from_der(&der) {
                    builder = builder.add_root_certificate(cert);
                    added += 1;
                }
            }
            if added == 0 {
                anyhow::bail!(
                    "TLS is on, yet this system trusts no CA certificate to verify the other servers of the service with; install the site CA in the system's store or point SSL_CERT_FILE at it"
                );
            }
        }
        Ok(Peer {
            secret: conf.secret.0.clone(),
            seen: Mutex::new(HashMap::new()),
            http: builder.build()?,
        })
    }

    /// A failed request's error and its causes, outermost first.
    fn causes(e: &reqwest::Error) -> Vec<&(dyn std::error::Error + 'static)> {
        let mut all = Vec::new();
        let mut next: Option<&(dyn std::error::Error + 'static)> = Some(e);
        while let Some(err) = next {
            all.push(err);
            // hyper-rustls hands rustls' error up inside an io::Error inside another, and an
            // io::Error's `source()` skips the error it wraps: look inside instead.
            next = match err
                .downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
            {
                Some(inner) => Some(inner),
                None => err.source(),
            };
        }
        all
    }

    /// Whether a request failed because the peer's TLS certificate did not verify (an
    /// untrusted CA, a name it does not cover, expired): sending it again cannot help, and the
    /// admin needs to hear which it was.
    pub fn untrusted(e: &reqwest::Error) -> bool {
        Self::causes(e).into_iter().any(|err| {
            matches!(
                err.downcast_ref::<rustls::Error>(),
                Some(rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented)
            )
        })
    }

    /// The innermost cause of a failed request, for the log (reqwest's own text names only
    /// the URL).
    pub fn root_cause(e: &reqwest::Error) -> String {
        Self::causes(e)
            .last()
            .map_or_else(|| e.to_string(), |c| c.to_string())
    }

    fn mac(&self, ts: i64, nonce: &str, user: &str, req: &Signed) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.secret).expect("HMAC takes any key");
        let body = hex::encode(Sha256::digest(req.body));
        mac.update(
            format!(
                "livy-rs-peer|{VERSION}|{ts}|{nonce}|{user}|{}|{}|{body}",
                req.method, req.path_and_query
            )
            .as_bytes(),
        );
        mac
    }

    /// The header value for a request made on behalf of `user`.
    pub fn sign(&self, user: Option<&str>, req: &Signed) -> String {
        let ts = now_secs();
        let nonce = crate::driver::channel::random_hex(16);
        let user = hex_user(user);
        let mac = hex::encode(self.mac(ts, &nonce, &user, req).finalize().into_bytes());
        format!("{VERSION};{ts};{nonce};{user};{mac}")
    }

    /// Checks a header; the user it speaks for (`None`: the caller was anonymous).
    pub fn verify(&self, header: &str, req: &Signed) -> Result<Option<String>, Refusal> {
        let parts: Vec<&str> = header.split(';').collect();
        let [version, ts, nonce, user, mac] = parts[..] else {
            return Err(Refusal::Malformed);
        };
        if version != VERSION || nonce.len() != 32 || !nonce.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Err(Refusal::Malformed);
        }
        let ts: i64 = ts.parse().map_err(|_| Refusal::Malformed)?;
        let given = hex::decode(mac).map_err(|_| Refusal::Malformed)?;
        self.mac(ts, nonce, user, req)
            .verify_slice(&given)
            .map_err(|_| Refusal::BadSignature)?;
        let now = now_secs();
        let window = VALIDITY.as_secs() as i64;
        if (now - ts).abs() > window {
            return Err(Refusal::Stale);
        }
        {
            let mut seen = self.seen.lock();
            if seen.len() >= MAX_NONCES {
                seen.retain(|_, at| now - *at <= window);
            }
            if seen.contains_key(nonce) {
                return Err(Refusal::Replayed);
            }
            if seen.len() >= MAX_NONCES {
                return Err(Refusal::Busy);
            }
            seen.insert(nonce.to_string(), ts);
        }
        if user == "-" {
            return Ok(None);
        }
        let user = hex::decode(user).map_err(|_| Refusal::Malformed)?;
        String::from_utf8(user)
            .map(Some)
            .map_err(|_| Refusal::Malformed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conf::ha::PeerSecret;

    fn peer(secret: &[u8]) -> Peer {
        Peer::new(
            &HaConf {
                secret: PeerSecret(secret.to_vec()),
                advertised_url: None,
                session_timeout: Duration::from_secs(6),
            },
            false,
        )
        .unwrap()
    }

    const REQ: Signed = Signed {
        method: "POST",
        path_and_query: "/sessions/3/statements?doAs=bob",
        body: b"{\"code\":\"1+1\"}",
    };

    #[test]
    fn a_signed_request_names_its_user_once() {
        let (a, b) = (peer(&[7; 32]), peer(&[7; 32]));
        let header = a.sign(Some("alice"), &REQ);
        assert!(!header.contains("alice"), "{header}");
        assert_eq!(b.verify(&header, &REQ), Ok(Some("alice".into())));
        assert_eq!(b.verify(&header, &REQ), Err(Refusal::Replayed));
        assert_eq!(b.verify(&a.sign(None, &REQ), &REQ), Ok(None));
    }

    #[test]
    fn forged_altered_or_stale_headers_are_refused() {
        let (a, b) = (peer(&[7; 32]), peer(&[7; 32]));
        let other = peer(&[8; 32]);
        assert_eq!(
            b.verify(&other.sign(Some("alice"), &REQ), &REQ),
            Err(Refusal::BadSignature)
        );
        let header = a.sign(Some("alice"), &REQ);
        for changed in [
            Signed {
                method: "DELETE",
                ..REQ
            },
            Signed {
                path_and_query: "/sessions/3/statements?doAs=root",
                ..REQ
            },
            Signed {
                body: b"{\"code\":\"evil\"}",
                ..REQ
            },
        ] {
            assert_eq!(b.verify(&header, &changed), Err(Refusal::BadSignature));
        }
        // Another user in a valid header's place.
        let mut parts: Vec<String> = header.split(';').map(String::from).collect();
        parts[3] = hex::encode("root");
        assert_eq!(b.verify(&parts.join(";"), &REQ), Err(Refusal::BadSignature));
        // A header signed long ago (by the right key).
        let ts = now_secs() - 3600;
        let nonce = "0".repeat(32);
        let mac = hex::encode(a.mac(ts, &nonce, "-", &REQ).finalize().into_bytes());
        assert_eq!(
            b.verify(&format!("v1;{ts};{nonce};-;{mac}"), &REQ),
            Err(Refusal::Stale)
        );
        for junk in ["", "v1", "v1;x;y;z;w", "v2;1;00;-;00", "alice"] {
            assert!(b.verify(junk, &REQ).is_err(), "{junk}");
        }
    }
}
