//! Draining a server: `livy-server drain`, `POST /admin/drain`, or a stop signal (what
//! `systemctl stop` sends) on an active/active server. A draining server:
//! 1. takes no new session or batch: a create that reaches it (a load balancer has not noticed
//!    yet) goes to a live peer, so the client still gets its session;
//! 2. stops serving (the port closes; in-flight requests finish, a load balancer sends the
//!    next ones elsewhere; peers that forward to it wait for the hand-over);
//! 3. writes its pending recovery records, then hands over what it runs: one ZooKeeper
//!    transaction deletes its ownership nodes and its member node, so every survivor sees it
//!    leave at once and adopts its sessions and batches (as after a crash, without waiting for
//!    the ZooKeeper session to expire); drivers, spark-submits and YARN apps keep running, and
//!    the drivers dial back to a survivor when this process exits;
//! 4. exits with status 0.
//!
//! Who may drain: with authentication on, `livy.superusers` only; and the server's own
//! operator through `livy-server drain`, which signs the call with the servers' shared secret
//! (only the service account can read it) instead of logging in.

use super::peer::{Signed, HEADER};
use super::{Ha, HaResult, KINDS};
use axum::body::Bytes;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use std::time::Duration;
use zookeeper_client as zk;

/// The admin route's path.
pub const PATH: &str = "/admin/drain";

impl Ha {
    /// Starts draining (idempotent); the server's run loop stops serving and hands over. The
    /// member node says so, so peers send no create here meanwhile.
    pub async fn drain(&self) {
        if self.draining.is_cancelled() {
            return;
        }
        tracing::info!(member = %self.me, "draining: new sessions and batches go to the other servers; handing over what this server runs");
        self.draining.cancel();
        let path = self.path(&format!("ha/members/{}", self.me));
        if let Ok((data, stat)) = super::retry(|| self.client.get_data(&path)).await {
            if let Ok(mut member) = serde_json::from_slice::<super::Member>(&data) {
                member.extra.insert("draining".into(), true.into());
                let bytes = serde_json::to_vec(&member).unwrap_or_default();
                let _ = self
                    .client
                    .set_data(&path, &bytes, Some(stat.version))
                    .await;
            }
        }
    }

    pub fn is_draining(&self) -> bool {
        self.draining.is_cancelled()
    }

    /// Resolves when draining starts.
    pub async fn drain_requested(&self) {
        self.draining.cancelled().await
    }

    /// Hands everything this server owns to the others and leaves the service: its ownership
    /// nodes and its member node go in one transaction. Call once the server no longer serves
    /// and its recovery records are written; the process exits next.
    pub async fn hand_over(&self) -> HaResult<usize> {
        let mut owned = Vec::new();
        for kind in KINDS {
            let dir = self.path(&format!("ha/owners/{kind}"));
            for name in super::retry(|| self.client.list_children(&dir)).await? {
                let path = format!("{dir}/{name}");
                match super::retry(|| self.client.get_data(&path)).await {
                    Ok((data, stat)) if data == self.me.as_bytes() => {
                        owned.push((path, stat.version))
                    }
                    Ok(_) | Err(zk::Error::NoNode) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        let mut tx = self.client.new_multi_writer();
        for (path, version) in &owned {
            tx.add_delete(path, Some(*version))?;
        }
        tx.add_delete(&self.path(&format!("ha/members/{}", self.me)), None)?;
        tx.commit().await.map_err(zk::Error::from)?;
        tracing::info!(
            member = %self.me,
            handed_over = owned.len(),
            "left the active-active service; the other servers adopt what this server ran"
        );
        Ok(owned.len())
    }

    /// Whether a member is draining or gone, as ZooKeeper says now (the watched copy follows
    /// the set of members, not changes of their nodes).
    pub async fn is_leaving(&self, id: &str) -> bool {
        let path = self.path(&format!("ha/members/{id}"));
        match super::retry(|| self.client.get_data(&path)).await {
            Ok((data, _)) => serde_json::from_slice::<super::Member>(&data)
                .is_ok_and(|m| m.extra.get("draining").is_some_and(|d| d == true)),
            Err(zk::Error::NoNode) => true,
            Err(_) => false,
        }
    }

    /// The live peers in a random order, for a create this server does not take.
    fn create_targets(&self) -> Vec<super::Member> {
        let mut peers = self.peers();
        if !peers.is_empty() {
            let start = usize::from(crate::driver::channel::random_hex(1).as_bytes()[0]);
            let n = peers.len();
            peers.rotate_left(start % n);
        }
        peers
    }
}

/// A create (`POST /sessions`, `POST /batches`) that reached a draining server: sent to a live
/// peer with the caller's identity, its answer returned as it came.
pub async fn forward_create(ha: &Ha, parts: &Parts, body: &Bytes, user: Option<&str>) -> Response {
    for member in ha.create_targets() {
        if ha.is_leaving(&member.id).await {
            continue;
        }
        match super::forward::send(ha, &member, parts, body, user).await {
            Ok(response) => return response,
            // Not sent: another peer may take it.
            Err(e) if e.is_connect() => {
                tracing::warn!(member = %member.id, error = %e, "a peer did not take a create from a draining server");
            }
            Err(e) => {
                tracing::warn!(member = %member.id, error = %e, "a create forwarded by a draining server was cut off");
                break;
            }
        }
    }
    crate::error::ApiError::ServiceUnavailable(
        "This server is draining and no other server of the service took the request; try again."
            .into(),
    )
    .into_response()
}

/// `livy-server drain`: asks the server configured in livy.conf to drain, signing the call with
/// the shared secret, and waits (at most `wait`) until it has stopped.
pub async fn request(
    conf: &crate::conf::LivyConf,
    url: Option<&str>,
    wait: Duration,
) -> anyhow::Result<()> {
    let ha = conf
        .recovery
        .as_ref()
        .and_then(|r| r.ha.as_ref())
        .ok_or_else(|| {
            anyhow::anyhow!(
                "drain needs {} = active-active: a single server stops with a stop signal",
                crate::conf::ha::MODE
            )
        })?;
    let tls = conf.security.tls.is_some();
    let url = match url.or(ha.advertised_url.as_deref()) {
        Some(url) => url.trim_end_matches('/').to_string(),
        None if conf.server.port == 0 => anyhow::bail!(
            "livy.conf lets the system choose the port: give the server's URL with --url"
        ),
        None => {
            let host = match conf.server.host.as_str() {
                "0.0.0.0" | "" => "127.0.0.1",
                "::" | "[::]" => "[::1]",
                host => host,
            };
            let scheme = if tls { "https" } else { "http" };
            format!("{scheme}://{host}:{}", conf.server.port)
        }
    };
    let peer = super::peer::Peer::new(ha, tls)?;
    let signature = peer.sign(
        None,
        &Signed {
            method: "POST",
            path_and_query: PATH,
            body: b"",
        },
    );
    let answer = peer
        .http
        .post(format!("{url}{PATH}"))
        .header(HEADER, signature)
        .header("X-Requested-By", "livy-server drain")
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("cannot reach the server at {url}: {e}"))?;
    let status = answer.status();
    if !status.is_success() {
        let text = answer.text().await.unwrap_or_default();
        anyhow::bail!("the server at {url} refused to drain ({status}): {text}");
    }
    println!("{url} is draining; waiting for it to hand over and stop");
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match peer.http.get(format!("{url}/version")).send().await {
            Err(e) if e.is_connect() => break,
            _ if tokio::time::Instant::now() >= deadline => {
                anyhow::bail!("{url} still answers after {}s", wait.as_secs())
            }
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    println!("{url} stopped: the other servers run its sessions and batches");
    Ok(())
}

/// Links draining and the server's stop: a drain stops the server (which then hands over), and
/// a stop signal on an active/active server drains it (no create is taken meanwhile).
pub async fn stop_when_drained(
    ha: std::sync::Arc<Ha>,
    shutdown: tokio_util::sync::CancellationToken,
) {
    tokio::select! {
        _ = ha.drain_requested() => {
            crate::app::notify_systemd(sd_notify::NotifyState::Stopping);
            shutdown.cancel();
        }
        _ = shutdown.cancelled() => ha.drain().await,
    }
}
