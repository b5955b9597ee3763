//! The channel's handshake against a client written with Python's ssl module, as the driver is.
//! (That the real driver refuses a server whose certificate is not the pinned one is tested
//! against the driver itself, in tests/driver/test_channel.py.)

use super::channel::*;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

const CLIENT: &str = r#"
import hashlib, hmac, json, os, socket, ssl, struct, sys
host, port, fp, sid, secret = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
s = ctx.wrap_socket(socket.create_connection((host, port)))
if hashlib.sha256(s.getpeercert(binary_form=True)).hexdigest() != fp:
    print("fingerprint mismatch"); sys.exit(3)
def send(m):
    b = json.dumps(m).encode(); s.sendall(struct.pack(">I", len(b)) + b)
def recv():
    h = b""
    while len(h) < 4:
        c = s.recv(4 - len(h))
        if not c: return None
        h += c
    n = struct.unpack(">I", h)[0]; b = b""
    while len(b) < n: b += s.recv(n - len(b))
    return json.loads(b)
send({"type": "hello", "session_id": sid, "protocol": 1})
ch = recv()
if ch is None: print("closed"); sys.exit(4)
mine = os.urandom(32).hex()
mac = hmac.new(secret.encode(), f"livy-rs-driver|{sid}|{ch['nonce']}".encode(), hashlib.sha256).hexdigest()
send({"type": "auth", "mac": mac, "nonce": mine})
w = recv()
if w is None: print("closed"); sys.exit(4)
good = hmac.new(secret.encode(), f"livy-rs-server|{sid}|{mine}".encode(), hashlib.sha256).hexdigest()
print("welcome" if hmac.compare_digest(good, w["mac"]) else "server proof wrong")
send({"type": "ready", "app_id": "local-1"})
"#;

async fn run_client(server: &ChannelServer, sid: u32, secret: &str, fp: &str) -> (i32, String) {
    let (host, port) = server.advertised.rsplit_once(':').unwrap();
    let out = tokio::process::Command::new("python3")
        .args(["-c", CLIENT, host, port, fp, &sid.to_string(), secret])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .await
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
    )
}

async fn start() -> std::sync::Arc<ChannelServer> {
    // Port 0 range: the OS picks, so tests never collide.
    ChannelServer::start(
        "127.0.0.1",
        "127.0.0.1",
        (0, 0),
        super::tls::ChannelIdentity::generate().unwrap(),
        None,
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn a_driver_with_the_secret_connects_and_a_wrong_one_is_dropped() {
    let server = start().await;
    let secret = random_hex(32);
    let mut rx = server.expect(7, secret.clone());
    let fp = server.fingerprint.clone();

    let (code, out) = run_client(&server, 7, "not-the-secret", &fp).await;
    assert_eq!(
        (code, out.as_str()),
        (4, "closed"),
        "a wrong secret must be refused"
    );
    assert!(rx.try_recv().is_err(), "the session must still be waiting");

    let (code, out) = run_client(&server, 8, &secret, &fp).await;
    assert_eq!(
        (code, out.as_str()),
        (4, "closed"),
        "an unknown session must be refused"
    );

    let (code, out) = run_client(&server, 7, &secret, &fp).await;
    assert_eq!((code, out.as_str()), (0, "welcome"));
    let mut conn = tokio::time::timeout(Duration::from_secs(5), rx)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(conn.session_id, 7);
    let msg = super::protocol::read_frame(&mut conn.reader, 1 << 20)
        .await
        .unwrap();
    assert!(matches!(msg, super::protocol::FromDriver::Ready { .. }));
    let _ = conn.writer.shutdown().await;

    // Once connected, the session no longer accepts another driver.
    let (code, _) = run_client(&server, 7, &secret, &fp).await;
    assert_eq!(code, 4);
}

#[test]
fn hmac_and_ranges() {
    let mac = sign("k", "m");
    assert!(verify("k", "m", &mac));
    assert!(!verify("k2", "m", &mac));
    assert!(!verify("k", "m", "zz"));
    assert_eq!(parse_port_range("10000~10010").unwrap(), (10000, 10010));
    assert!(parse_port_range("10010~10000").is_err());
    assert!(parse_port_range("10000").is_err());
}

#[tokio::test]
async fn before_authentication_frames_are_small_and_handshakes_are_bounded() {
    use tokio::io::AsyncReadExt;
    let server = start().await;
    let secret = random_hex(32);
    let mut rx = server.expect(3, secret.clone());
    // A 40 MiB length prefix before any proof: the server closes at once, allocating nothing.
    let mut tls = super::client::connect_tls(&server).await;
    tls.write_u32(40 << 20).await.unwrap();
    tls.write_all(b"{\"type\":").await.unwrap();
    tls.flush().await.unwrap();
    assert!(
        super::client::raw_closed_within(&mut tls, Duration::from_secs(5)).await,
        "the connection must be closed"
    );
    // Many idle connections that never speak: extra ones are closed, and a real driver still
    // gets in (its own connection is accepted once the idle ones time out or while slots last).
    let mut idle = Vec::new();
    for _ in 0..(MAX_PENDING_HANDSHAKES + 20) {
        idle.push(
            tokio::net::TcpStream::connect(&server.advertised)
                .await
                .unwrap(),
        );
    }
    let mut closed = 0;
    for conn in &mut idle {
        let mut b = [0u8; 1];
        if let Ok(Ok(0)) = tokio::time::timeout(Duration::from_millis(200), conn.read(&mut b)).await
        {
            closed += 1;
        }
    }
    assert!(
        closed >= 20,
        "only {closed} of the extra connections were closed"
    );
    drop(idle);
    let fp = server.fingerprint.clone();
    let (code, out) = run_client(&server, 3, &secret, &fp).await;
    assert_eq!((code, out.as_str()), (0, "welcome"));
    assert!(tokio::time::timeout(Duration::from_secs(5), &mut rx)
        .await
        .is_ok());
}
