//! Recovery: sessions, statements and batches outlive a server restart. Every change of a
//! session or batch marks its record dirty here (the one place a state change meets the store);
//! one writer task turns dirty marks into store writes, newest state first and coalesced, so a
//! burst of changes costs one write and the request path never waits for the disk or ZooKeeper.
//! What hands the client a new id is the exception: creating a session or batch and submitting
//! a statement wait for their records ([`Recovery::flush`]) before they answer, so an id a
//! client has seen is never lost or reused, and the code behind it is never forgotten.

mod log;
pub mod store;
mod writer;
pub mod zk;

use crate::conf::recovery::{RecoveryConf, StoreConf};
use parking_lot::Mutex;
use std::sync::{Arc, Weak};
use std::time::Duration;
use store::{FsStore, StateStore};
use tokio::sync::{watch, Notify};
use writer::{Pending, Source};

/// Something whose records are written by the writer, serialised when they are written (so the
/// newest state goes out, and marks in between cost nothing).
pub trait Recordable: Send + Sync {
    /// The records to write under `key` (and keys below it): `(key, Some(bytes))` to write,
    /// `(key, None)` to remove.
    fn records(&self, key: &str) -> Vec<(String, Option<Vec<u8>>)>;
}

/// The server's recovery store and its writer.
pub struct Recovery {
    pub conf: RecoveryConf,
    store: Arc<dyn StateStore>,
    pending: Mutex<Pending>,
    wake: Notify,
    progress: watch::Sender<writer::Progress>,
    /// A flush gave up waiting: the writer says when it has caught up (operators and tests
    /// watch for that line).
    behind: std::sync::atomic::AtomicBool,
    /// Records written and their bytes since start (logged at stop; benchmarks read them).
    pub writes: std::sync::atomic::AtomicU64,
    pub bytes: std::sync::atomic::AtomicU64,
    /// Active/active: the servers sharing this store (ids, ownership, forwarding).
    ha: Option<Arc<crate::ha::Ha>>,
}

/// How long a request that hands out an id (a create, a statement, a job) waits for its record
/// before it answers anyway (and the store is logged as slow or down).
pub const ANSWER_WAIT: Duration = Duration::from_secs(5);

/// Record kinds, as Livy names them in its layout.
pub const BATCH: &str = "batch";
pub const INTERACTIVE: &str = "interactive";

/// Where a session's statements are kept, one record each (`v1/statement/<session>/<id>`).
pub fn statements_key(session: u32) -> String {
    format!("v1/statement/{session}")
}

/// The key of one statement's record.
pub fn statement_key(session: u32, statement: u32) -> String {
    format!("v1/statement/{session}/{statement}")
}

/// The key of one record.
pub fn key(kind: &str, id: u32) -> String {
    format!("v1/{kind}/{id}")
}

/// Who owns the store: `host pid`, so a restart on the same host can tell a dead owner.
fn owner_id() -> String {
    let host = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_default();
    format!("{host} {}", std::process::id())
}

/// Whether the owner named by `holder` (see [`owner_id`]) is a process of this host that is
/// no longer running.
pub(crate) fn owner_is_gone(holder: &str) -> bool {
    let mine = owner_id();
    let (Some((host, pid)), Some((my_host, _))) = (holder.split_once(' '), mine.split_once(' '))
    else {
        return false;
    };
    host == my_host
        && pid
            .parse::<u32>()
            .is_ok_and(|p| !std::path::Path::new(&format!("/proc/{p}")).exists())
}

impl Recovery {
    /// Opens and claims the store. An unusable store is an error: the server must not start and
    /// then silently drop what users submit. With active/active on, the store is shared with
    /// the other servers instead (`tls`: the REST port, and so peers, speak HTTPS).
    pub async fn open(conf: RecoveryConf, tls: bool) -> anyhow::Result<Arc<Self>> {
        let store: Arc<dyn StateStore> = match &conf.store {
            StoreConf::Filesystem { dir } => Arc::new(FsStore::open(dir).map_err(|e| {
                anyhow::anyhow!("cannot open the recovery store {}: {e}", dir.display())
            })?),
            StoreConf::ZooKeeper {
                ensemble,
                key_prefix,
                retry,
                digest,
            } => Arc::new(
                zk::ZkStore::open(ensemble, key_prefix, digest.clone(), *retry)
                    .await
                    .map_err(|e| {
                        anyhow::anyhow!("cannot open the ZooKeeper recovery store {ensemble}: {e}")
                    })?,
            ),
        };
        let ha = match (&conf.ha, &conf.store) {
            (
                Some(ha),
                StoreConf::ZooKeeper {
                    ensemble,
                    key_prefix,
                    digest,
                    ..
                },
            ) => Some(Arc::new(
                crate::ha::Ha::connect(ha.clone(), ensemble, key_prefix, digest.as_deref(), tls)
                    .await?,
            )),
            _ => {
                store
                    .claim(&owner_id())
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                None
            }
        };
        let recovery = Arc::new(Recovery {
            conf,
            store,
            pending: Mutex::new(Pending::default()),
            wake: Notify::new(),
            progress: watch::channel(writer::Progress::default()).0,
            behind: std::sync::atomic::AtomicBool::new(false),
            writes: Default::default(),
            bytes: Default::default(),
            ha,
        });
        tokio::spawn(writer::run(recovery.clone()));
        Ok(recovery)
    }

    fn queue(&self, key: String, source: Source) {
        self.pending.lock().queue(key, source);
        self.wake.notify_one();
    }

    /// Marks a live entry's record dirty; it is serialised when written.
    pub fn mark(&self, key: String, entry: Weak<dyn Recordable>) {
        self.queue(key, Source::Live(entry));
    }

    /// Queues fixed bytes (e.g. the next-id record).
    pub fn put(&self, key: String, bytes: Vec<u8>) {
        self.queue(key, Source::Bytes(bytes));
    }

    /// Queues the removal of a record.
    pub fn remove(&self, key: String) {
        self.queue(key, Source::Removed);
    }

    /// Waits until everything queued before the call is in the store (or `timeout` passes:
    /// then false, and the writes still go out when the store is back).
    pub async fn flush(&self, timeout: Duration) -> bool {
        let target = self.pending.lock().marks;
        self.wait(timeout, |p, _| p.written >= target).await
    }

    /// Like [`Recovery::flush`] for one key only: what was queued for it before the call.
    pub async fn flush_key(&self, key: &str, timeout: Duration) -> bool {
        let target = self.pending.lock().marks;
        self.wait(timeout, |p, pending| {
            p.written >= target || pending.key_written(key, target)
        })
        .await
    }

    async fn wait(
        &self,
        timeout: Duration,
        done: impl Fn(&writer::Progress, &Pending) -> bool,
    ) -> bool {
        let mut rx = self.progress.subscribe();
        let finished = tokio::time::timeout(timeout, async {
            loop {
                let progress = *rx.borrow_and_update();
                if done(&progress, &self.pending.lock()) {
                    return;
                }
                if rx.changed().await.is_err() {
                    return;
                }
            }
        })
        .await
        .is_ok();
        if !finished {
            self.behind
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        finished
    }

    /// Every record of a kind, by id; unreadable ones are logged and skipped.
    pub async fn load(&self, kind: &str) -> anyhow::Result<Vec<(u32, Vec<u8>)>> {
        self.load_dir(&format!("v1/{kind}")).await
    }

    /// Every record under `dir` whose name is a number, in order (the store reads them as
    /// suits it: 64 reads in flight on ZooKeeper, one log replay for a session's statements).
    pub async fn load_dir(&self, dir: &str) -> anyhow::Result<Vec<(u32, Vec<u8>)>> {
        let mut out: Vec<(u32, Vec<u8>)> = self
            .store
            .load_dir(dir)
            .await?
            .into_iter()
            .filter_map(|(name, bytes)| Some((name.parse::<u32>().ok()?, bytes)))
            .collect();
        out.sort_by_key(|(id, _)| *id);
        Ok(out)
    }

    /// The records of a kind, decoded, with the next id to give out. A record that does not
    /// decode, or names another id than its key, is logged and skipped: one bad record must not
    /// cost every other session.
    pub async fn load_records<T: serde::de::DeserializeOwned>(
        &self,
        kind: &str,
        id_of: impl Fn(&T) -> u32,
    ) -> anyhow::Result<(Vec<T>, u32)> {
        let next = self.next_id(kind).await?;
        let raw = self.load(kind).await?;
        Ok((decode_records(kind, raw, id_of), next))
    }

    /// Livy's `v1/{kind}/state` record: the next id to give out.
    pub async fn next_id(&self, kind: &str) -> anyhow::Result<u32> {
        let Some(bytes) = self.store.get(&format!("v1/{kind}/state")).await? else {
            return Ok(0);
        };
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        Ok(v["nextSessionId"].as_u64().unwrap_or(0) as u32)
    }

    /// Queues the next-id record (Livy's `SessionManagerState`). With active/active the
    /// record is the shared counter, advanced only by compare-and-set (`crate::ha::ids`).
    pub fn set_next_id(&self, kind: &str, next: u32) {
        if self.ha.is_some() {
            return;
        }
        let bytes =
            serde_json::to_vec(&serde_json::json!({ "nextSessionId": next })).unwrap_or_default();
        self.put(format!("v1/{kind}/state"), bytes);
    }
}

/// The format of the session and batch records this livy-rs writes (`recordVersion`; absent in
/// records of livy-rs before it, read as 0). A newer livy-rs that only adds fields keeps the
/// number, and this one keeps those fields when it rewrites the record ([`Upgrade`]); a newer
/// number means a change this livy-rs cannot read, and such a record is left alone.
pub const RECORD_VERSION: u32 = 1;

/// What a record carries across a rolling upgrade: its format version, and the fields a newer
/// livy-rs wrote that this one does not know, written back as they were.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Upgrade {
    #[serde(rename = "recordVersion", default)]
    pub version: u32,
    #[serde(flatten)]
    pub unknown: serde_json::Map<String, serde_json::Value>,
}

impl Upgrade {
    /// What a record written now carries: this version, the unknown fields kept.
    pub fn rewritten(&self) -> Upgrade {
        Upgrade {
            version: RECORD_VERSION,
            unknown: self.unknown.clone(),
        }
    }
}

/// The format version a record says it has, when this livy-rs cannot read that format.
fn unreadable_version(bytes: &[u8]) -> Option<u64> {
    #[derive(serde::Deserialize)]
    struct Head {
        #[serde(rename = "recordVersion", default)]
        version: u64,
    }
    serde_json::from_slice::<Head>(bytes)
        .ok()
        .map(|h| h.version)
        .filter(|v| *v > u64::from(RECORD_VERSION))
}

/// Decodes raw records (see [`Recovery::load_records`]); `what` names them in the log. A
/// record in a newer format than this livy-rs reads is skipped with a log line that says so.
pub fn decode_records<T: serde::de::DeserializeOwned>(
    what: &str,
    raw: Vec<(u32, Vec<u8>)>,
    id_of: impl Fn(&T) -> u32,
) -> Vec<T> {
    raw.into_iter()
        .filter(|(id, bytes)| match unreadable_version(bytes) {
            Some(version) => {
                tracing::error!(
                    what,
                    id,
                    version,
                    readable = RECORD_VERSION,
                    "a recovery record is in a newer format than this livy-rs reads; left for a newer server"
                );
                false
            }
            None => true,
        })
        .filter_map(|(id, bytes)| match serde_json::from_slice::<T>(&bytes) {
            Ok(record) if id_of(&record) == id => Some(record),
            Ok(_) => {
                tracing::error!(what, id, "a recovery record names another id; skipped");
                None
            }
            Err(e) => {
                tracing::error!(what, id, error = %e, "a recovery record is corrupt; skipped");
                None
            }
        })
        .collect()
}

/// An entry's link to the store: marks its record dirty on every change.
pub struct Persist {
    recovery: Arc<Recovery>,
    key: String,
    me: Weak<dyn Recordable>,
}

impl Persist {
    pub fn new(recovery: Arc<Recovery>, key: String, me: Weak<dyn Recordable>) -> Self {
        Persist { recovery, key, me }
    }

    /// Queues a write of the entry's current record.
    pub fn mark(&self) {
        self.recovery.mark(self.key.clone(), self.me.clone());
    }

    /// Queues a write of one record below the entry (`key`, e.g. a statement's): the entry
    /// serialises it when it is written, in a round of its own.
    pub fn mark_below(&self, key: String) {
        self.recovery.mark(key, self.me.clone());
    }

    /// Queues the removal of the entry's record (the entry was deleted).
    pub fn forget(&self) {
        self.recovery.remove(self.key.clone());
    }

    pub fn recovery(&self) -> &Arc<Recovery> {
        &self.recovery
    }
}

/// Wall-clock milliseconds → the `Instant` that many milliseconds ago, so idle, TTL and
/// retain clocks continue across a restart instead of starting again.
pub fn instant_of(ms: i64) -> std::time::Instant {
    let now = std::time::Instant::now();
    let age = crate::statements::now_ms().saturating_sub(ms).max(0) as u64;
    now.checked_sub(Duration::from_millis(age)).unwrap_or(now)
}

/// The wall-clock milliseconds of an `Instant` of this process.
pub fn ms_of(at: std::time::Instant) -> i64 {
    let ago = std::time::Instant::now().saturating_duration_since(at);
    crate::statements::now_ms() - ago.as_millis() as i64
}

impl Recovery {
    /// The active/active service this server is part of, when on.
    pub fn ha(&self) -> Option<&Arc<crate::ha::Ha>> {
        self.ha.as_ref()
    }

    /// Reads one record directly (start-up only).
    pub async fn get(&self, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
        Ok(self.store.get(key).await?)
    }
}

#[cfg(test)]
mod upgrade_tests {
    use super::{decode_records, RECORD_VERSION};

    #[derive(serde::Serialize, serde::Deserialize)]
    struct Rec {
        id: u32,
        state: String,
        #[serde(flatten)]
        upgrade: super::Upgrade,
    }

    #[test]
    fn a_newer_field_is_kept_and_a_newer_format_is_skipped() {
        let raw = vec![
            (1, br#"{"id":1,"state":"running","zone":"b"}"#.to_vec()),
            (
                2,
                br#"{"id":2,"state":"running","recordVersion":1}"#.to_vec(),
            ),
            (
                3,
                br#"{"id":3,"state":"running","recordVersion":2}"#.to_vec(),
            ),
        ];
        let mut recs = decode_records("test", raw, |r: &Rec| r.id);
        assert_eq!(recs.iter().map(|r| r.id).collect::<Vec<_>>(), [1, 2]);
        let old = &mut recs[0];
        assert_eq!(old.upgrade.version, 0, "absent in records before versions");
        old.state = "success".into();
        old.upgrade = old.upgrade.rewritten();
        let again: serde_json::Value = serde_json::to_value(&*old).unwrap();
        assert_eq!(
            again,
            serde_json::json!({"id": 1, "state": "success", "zone": "b", "recordVersion": RECORD_VERSION})
        );
    }
}
