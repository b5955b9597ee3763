//! Recovery of interactive sessions: loading their records after a restart, and adopting a
//! session another server of an active/active service ran. Their drivers dial back and are let
//! in by the same HMAC proof as at launch.

use super::interactive::LinkCommand;
use super::manager::InteractiveSessions;
use super::SessionState;
use crate::driver::link;
use crate::launch::ChildExit;
use crate::yarn::monitor::AppListener;
use std::sync::{Arc, Weak};
use std::time::Duration;

/// Extra time a restarted server gives drivers beyond their own dial-back window.
const REDIAL_MARGIN: Duration = Duration::from_secs(30);

impl InteractiveSessions {
    /// Loads every session record after a restart. Unfinished sessions come back `recovering`;
    /// their drivers dial back (and are let in by the same HMAC proof as at launch), or the
    /// session ends `dead` with a message saying so when they do not in time.
    pub async fn recover(&self) -> anyhow::Result<usize> {
        use crate::recovery::INTERACTIVE;
        let Some(recovery) = self.recovery.clone() else {
            return Ok(0);
        };
        self.clean_stale_pooled().await;
        let (records, next) = recovery
            .load_records(INTERACTIVE, |r: &super::record::SessionRecord| r.id)
            .await?;
        let count = records.len();
        for record in records {
            self.restore(record, &recovery).await?;
        }
        self.registry.advance_next_id(next);
        recovery.set_next_id(INTERACTIVE, self.registry.next_id());
        Ok(count)
    }

    /// Active/active: takes over one session another server ran (this server owns it now);
    /// its driver dials back here. False when its record is gone (deleted meanwhile).
    pub async fn adopt(&self, id: u32) -> anyhow::Result<bool> {
        use crate::recovery::INTERACTIVE;
        let Some(recovery) = self.recovery.clone() else {
            return Ok(false);
        };
        let Some(bytes) = recovery.get(&crate::recovery::key(INTERACTIVE, id)).await? else {
            return Ok(false);
        };
        let mut records = crate::recovery::decode_records(
            INTERACTIVE,
            vec![(id, bytes)],
            |r: &super::record::SessionRecord| r.id,
        );
        let Some(record) = records.pop() else {
            anyhow::bail!("the record of session {id} is unreadable");
        };
        self.restore(record, &recovery).await?;
        Ok(true)
    }

    async fn restore(
        &self,
        record: super::record::SessionRecord,
        recovery: &Arc<crate::recovery::Recovery>,
    ) -> anyhow::Result<()> {
        let finished = record.state.is_finished();
        let process = record.process.clone();
        let secret = record.secret.clone();
        let statements = crate::recovery::decode_records(
            "statement",
            recovery
                .load_dir(&crate::recovery::statements_key(record.id))
                .await?,
            |s: &crate::statements::StatementRecord| s.statement.id,
        );
        let record_proxy_user = record.proxy_user.clone();
        let (session, commands) = super::record::restore(
            record,
            statements,
            self.conf.spark.redaction.clone(),
            self.staging(record_proxy_user.as_deref()),
            self.conf.sessions.cache_log_size,
            self.conf.rsc.retained_statements,
            recovery.clone(),
        );
        tracing::info!(session_id = session.id, state = %session.state(), "recovered session");
        self.clean_staging_when_ended(&session);
        if let Some(p) = &process {
            if finished || !p.is_running() {
                let done = tokio_util::sync::CancellationToken::new();
                done.cancel();
                tokio::spawn(crate::launch::detached::tail(
                    p.dir.clone(),
                    session.logs.clone(),
                    done,
                ));
            }
        }
        self.registry.restore(session.clone());
        if finished {
            return Ok(());
        }
        // On YARN (cluster mode) spark-submit ends once the app is submitted: its end says
        // nothing of the driver, which runs in its container and dials back (or the YARN
        // monitor reports the app's end).
        if let Some(p) = process
            .as_ref()
            .filter(|p| !p.is_running() && !session.on_yarn)
        {
            // A local driver waits for a restart only livy.rsc.server.idle-timeout long.
            let exit = p.exit();
            session.end(
                SessionState::Dead,
                vec![format!(
                    "\nlivy-rs: the driver ended while the server was down ({}); a driver waits livy.rsc.server.idle-timeout ({}s) for the server to come back",
                    exit.describe(),
                    recovery.conf.driver_redial.as_secs()
                )],
            );
            return Ok(());
        }
        let (channel, _) = self.channel().await.map_err(|e| anyhow::anyhow!("{e}"))?;
        let connection = channel.expect(session.id, secret);
        if let Some(p) = process.filter(|p| p.is_running()) {
            let weak = Arc::downgrade(&session);
            let mut child = crate::launch::detached::adopt(
                p.clone(),
                session.logs.clone(),
                self.conf.sessions.process_kill_timeout,
                Box::new(move |exit: &ChildExit| {
                    if let Some(session) = weak.upgrade() {
                        session.command(LinkCommand::Exited(exit.clone()));
                    }
                }),
            );
            child.detached = Some(p);
            session.set_child(child);
        }
        if let Some(monitor) = &self.yarn {
            let listener: Weak<dyn AppListener> = Arc::downgrade(&session) as Weak<dyn AppListener>;
            monitor.track(&session.app_tag, listener);
        }
        let rsc = &self.conf.rsc;
        self.tasks.spawn(link::run(
            session.clone(),
            commands,
            connection,
            link::Settings {
                connect_timeout: recovery.conf.driver_redial + REDIAL_MARGIN,
                max_message: rsc.max_message,
                output_max: rsc.output_max,
                cancel_timeout: rsc.job_cancel_timeout,
                addition_timeout: crate::driver::link::ADDITION_TIMEOUT,
                channel: channel.clone(),
                resume: true,
                servers: self.driver_servers(),
            },
        ));
        Ok(())
    }
}
