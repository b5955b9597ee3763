//! Bringing batches back after a restart: every stored record becomes a batch again with its id,
//! name, owner and state; unfinished ones are re-attached to what runs them — the YARN app (by
//! id, or by tag when the server died before it knew the id) or the local spark-submit (by pid
//! and start time) — and a batch whose process ended while the server was down gets its end.

use super::{Batch, BatchRecord, Batches};
use crate::launch::{detached, ChildExit};
use crate::logs::ProcessLogs;
use crate::recovery::{instant_of, BATCH};
use crate::sessions::lifecycle::App;
use crate::sessions::SessionState;
use crate::yarn::monitor::AppListener;
use std::sync::{Arc, Weak};

impl Batches {
    /// Loads every batch record; returns how many were recovered.
    pub async fn recover(&self) -> anyhow::Result<usize> {
        let Some(recovery) = self.recovery.clone() else {
            return Ok(0);
        };
        let (records, next) = recovery.load_records(BATCH, |r: &BatchRecord| r.id).await?;
        let count = records.len();
        for record in records {
            self.restore(record);
        }
        self.registry.advance_next_id(next);
        recovery.set_next_id(BATCH, self.registry.next_id());
        Ok(count)
    }

    /// Active/active: takes over one batch another server ran (this server owns it now).
    /// False when its record is gone (deleted meanwhile).
    pub async fn adopt(&self, id: u32) -> anyhow::Result<bool> {
        let Some(recovery) = self.recovery.clone() else {
            return Ok(false);
        };
        let Some(bytes) = recovery.get(&crate::recovery::key(BATCH, id)).await? else {
            return Ok(false);
        };
        let mut records =
            crate::recovery::decode_records(BATCH, vec![(id, bytes)], |r: &BatchRecord| r.id);
        let Some(record) = records.pop() else {
            anyhow::bail!("the record of batch {id} is unreadable");
        };
        self.restore(record);
        Ok(true)
    }

    fn restore(&self, record: BatchRecord) {
        let logs = Arc::new(
            ProcessLogs::new(self.conf.sessions.cache_log_size)
                .redacting(self.conf.spark.redaction.clone()),
        );
        logs.set_diagnostics(record.diagnostics.clone());
        let finished = record.state.is_finished();
        let batch = Arc::new_cyclic(|me: &Weak<Batch>| Batch {
            id: record.id,
            name: record.name.clone(),
            owner: record.owner.clone(),
            proxy_user: record.proxy_user.clone(),
            app_tag: record.app_tag.clone(),
            request: record.request.clone(),
            logs: logs.clone(),
            on_yarn: self.yarn.is_some(),
            life: self.lifecycle(record.id, me.clone()),
            created_ms: record.created_ms,
            upgrade: record.upgrade.clone(),
        });
        batch.life.restore(
            record.state,
            App {
                id: record.app_id.clone(),
                info: record.app_info.clone(),
                yarn_final: false,
            },
            record.finished_ms.map(instant_of),
        );
        tracing::info!(batch_id = batch.id, state = %record.state, "recovered batch");
        if let Some(process) = &record.process {
            if finished || !process.is_running() {
                // Its log lives in files: read them once.
                let done = tokio_util::sync::CancellationToken::new();
                done.cancel();
                tokio::spawn(detached::tail(process.dir.clone(), logs.clone(), done));
            }
        }
        if !finished {
            self.reattach(&batch, &record);
        }
        self.registry.restore(batch);
    }

    fn reattach(&self, batch: &Arc<Batch>, record: &BatchRecord) {
        if let Some(monitor) = &self.yarn {
            // The monitor finds the app by its tag (also when its id was never learnt) and
            // reports its state: killed or finished while the server was down included.
            monitor.track(
                &batch.app_tag,
                Arc::downgrade(batch) as Weak<dyn AppListener>,
            );
            return;
        }
        let Some(process) = record.process.clone() else {
            batch.logs.set_diagnostics(vec![
                "\nlivy-rs: the server stopped before this batch's spark-submit started".into(),
            ]);
            batch.life.transition(SessionState::Dead);
            return;
        };
        if !process.is_running() {
            let exit = process.exit();
            tracing::info!(batch_id = batch.id, exit = %exit.describe(), "spark-submit ended while the server was down");
            batch.on_exit(&exit);
            return;
        }
        let weak = Arc::downgrade(batch);
        let child = detached::adopt(
            process.clone(),
            batch.logs.clone(),
            self.conf.sessions.process_kill_timeout,
            Box::new(move |exit: &ChildExit| {
                if let Some(batch) = weak.upgrade() {
                    batch.on_exit(exit);
                }
            }),
        );
        let mut child = child;
        child.detached = Some(process);
        batch.life.set_child(child);
    }
}
