//! The driver channel of the server's interactive sessions: the TLS listener every driver dials
//! back to, started once on first use, with an identity that outlives a restart (drivers pin
//! its certificate) — kept in the recovery store, or shared by all servers of an active/active
//! service.

use super::manager::InteractiveSessions;
use crate::driver;
use crate::driver::channel::ChannelServer;
use crate::error::ApiError;
use std::path::PathBuf;
use std::sync::Arc;

/// The driver channel's identity and port in the recovery store.
const CHANNEL_KEY: &str = "v1/channel";
impl InteractiveSessions {
    pub(super) async fn channel(&self) -> Result<&(Arc<ChannelServer>, PathBuf), ApiError> {
        self.channel
            .get_or_try_init(|| async {
                let rsc = &self.conf.rsc;
                let local = self.conf.spark.master.starts_with("local");
                let bind = channel_bind(rsc, local);
                let advertise = rsc.launcher_address.clone().unwrap_or_else(|| {
                    if local {
                        "127.0.0.1".into()
                    } else {
                        hostname()
                    }
                });
                let ha = self.recovery.as_ref().and_then(|r| r.ha());
                let (identity, port) = match ha {
                    // One certificate for the whole service (drivers pin it and may dial any
                    // server); each server its own port.
                    Some(ha) => (ha.channel_identity().await?, None),
                    None => self.channel_identity().await?,
                };
                let server =
                    ChannelServer::start(&bind, &advertise, rsc.port_range, identity, port).await?;
                if let Some(recovery) = self.recovery.as_ref().filter(|r| r.ha().is_none()) {
                    let port = server.advertised.rsplit(':').next().unwrap_or_default();
                    let record = serde_json::json!({
                        "port": port.parse::<u16>().unwrap_or(0),
                        "cert": hex::encode(&server.identity_der.0),
                        "key": hex::encode(&server.identity_der.1),
                    });
                    recovery.put(CHANNEL_KEY.into(), record.to_string().into_bytes());
                    recovery.flush(crate::recovery::ANSWER_WAIT).await;
                }
                let dir = self.work_dir.join("driver");
                std::fs::create_dir_all(&dir)?;
                let program = driver::write_program(&dir)?;
                Ok::<_, anyhow::Error>((server, program))
            })
            .await
            .map_err(ApiError::Internal)
    }

    /// The channel's TLS identity: the stored one after a restart (drivers pinned it), else new.
    async fn channel_identity(
        &self,
    ) -> anyhow::Result<(crate::driver::tls::ChannelIdentity, Option<u16>)> {
        use crate::driver::tls::ChannelIdentity;
        if let Some(recovery) = &self.recovery {
            if let Some(bytes) = recovery.get(CHANNEL_KEY).await? {
                let v: serde_json::Value = serde_json::from_slice(&bytes)?;
                let part = |k: &str| hex::decode(v[k].as_str().unwrap_or_default());
                if let (Ok(cert), Ok(key)) = (part("cert"), part("key")) {
                    let port = v["port"].as_u64().and_then(|p| u16::try_from(p).ok());
                    return Ok((ChannelIdentity::from_der(cert, key)?, port));
                }
            }
        }
        Ok((ChannelIdentity::generate()?, None))
    }

    /// The driver channel's address (started now if it was not yet).
    pub async fn channel_address(&self) -> anyhow::Result<String> {
        let (channel, _) = self.channel().await.map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(channel.advertised.clone())
    }
}

/// Where the driver channel listens: where drivers are told to connect
/// (`livy.rsc.launcher.address`), not every interface; `livy.rsc.rpc.server.address` overrides.
/// Without either, local mode listens on loopback and YARN on all interfaces (the host name's
/// address is often a loopback alias on Debian, which containers could not reach).
fn channel_bind(rsc: &crate::conf::RscConf, local: bool) -> String {
    rsc.bind_address
        .clone()
        .or_else(|| rsc.launcher_address.clone())
        .unwrap_or_else(|| if local { "127.0.0.1" } else { "0.0.0.0" }.into())
}

fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "localhost".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_channel_listens_on_the_launcher_address_unless_configured() {
        let mut rsc = crate::test_support::conf_with(&[]).rsc;
        assert_eq!(channel_bind(&rsc, true), "127.0.0.1");
        assert_eq!(channel_bind(&rsc, false), "0.0.0.0");
        rsc.launcher_address = Some("10.1.2.3".into());
        assert_eq!(channel_bind(&rsc, false), "10.1.2.3");
        rsc.bind_address = Some("0.0.0.0".into());
        assert_eq!(channel_bind(&rsc, false), "0.0.0.0");
    }
}
