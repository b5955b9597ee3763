//! A session's command queue: what REST handlers ask of its driver link, and the bounds that
//! keep a flood of requests from growing the queue without limit.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// How many jobs, completions and additions may wait for a session's driver: in its command
/// queue (say while the link writes a large frame to a slow driver), or held by the link until
/// the driver is ready (Livy accepts Job API requests while a session starts) or until an
/// earlier addition is done. More are refused until they drain.
pub const MAX_QUEUED_REQUESTS: usize = 256;

/// What REST handlers ask of a session's driver link.
#[derive(Debug)]
pub enum LinkCommand {
    /// A statement was queued: send it if the driver is free.
    Dispatch,
    /// Cancel a running statement.
    Cancel(u32),
    Complete {
        kind: String,
        code: String,
        cursor: i64,
        reply: oneshot::Sender<Vec<String>>,
        slot: Slot,
    },
    /// Stop the driver (DELETE, timeouts, server shutdown).
    Shutdown,
    /// The driver's process ended (sent by its supervisor).
    Exited(crate::launch::ChildExit),
    /// Run a Job API job (base64 cloudpickle or Kryo), known to the session as `id`.
    Job {
        id: u64,
        job: String,
        kind: super::jobs::JobKind,
        slot: Slot,
    },
    CancelJob(u64),
    /// `add-file`, `add-pyfile`, `add-jar` (and the uploads, after saving the file).
    AddResource {
        what: Resource,
        uri: String,
        reply: oneshot::Sender<Result<(), String>>,
        slot: Slot,
    },
    /// Set Spark SQL settings on the running SparkSession (`spark.conf.set`), all or none: the
    /// driver refuses the lot when one is not modifiable at runtime (Spark's
    /// `spark.conf.isModifiable`). With `check_only` it only says whether it would.
    SetConf {
        conf: std::collections::BTreeMap<String, String>,
        check_only: bool,
        reply: oneshot::Sender<Result<(), String>>,
        slot: Slot,
    },
    /// A pooled driver is taken: from now on the link serves `Handover::session` (see
    /// [`crate::sessions::pool`]).
    Handover(Box<Handover>),
}

/// What a link needs to serve another session: that session, its command queue, and whom to
/// tell once it does. Dropping it unanswered means the driver could not be handed over.
pub struct Handover {
    pub session: std::sync::Arc<super::Session>,
    pub commands: Commands,
    pub done: oneshot::Sender<()>,
}

impl std::fmt::Debug for Handover {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Handover(session {})", self.session.id)
    }
}

/// What is in a session's command queue, shared by its two ends.
#[derive(Default)]
pub(super) struct Inbox {
    /// A `Dispatch` is queued and not yet taken: statements wait in [`crate::statements::Statements`], so one
    /// pending `Dispatch` covers any number of them.
    pub(super) dispatch_pending: AtomicBool,
    /// Requests (jobs, completions, additions) not yet sent to the driver nor dropped: one per
    /// live [`Slot`].
    pub(super) requests: AtomicUsize,
}

/// A request's place among the [`MAX_QUEUED_REQUESTS`] that may wait for the driver. It travels
/// inside the request and frees the place when the request is dropped: sent to the driver,
/// answered, or abandoned with its session. (Counting on drop means no path of the link can
/// forget to give a place back.)
pub struct Slot(Arc<Inbox>);

impl Slot {
    /// Takes a place, unless all are taken.
    pub(super) fn take(inbox: &Arc<Inbox>) -> Option<Slot> {
        let queued = inbox.requests.fetch_add(1, Ordering::SeqCst);
        if queued >= MAX_QUEUED_REQUESTS {
            inbox.requests.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        Some(Slot(inbox.clone()))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.requests.fetch_sub(1, Ordering::SeqCst);
    }
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Slot")
    }
}

/// The driver link's end of a session's command queue. The queue cannot grow without bound: a
/// `Dispatch` is only sent when none is pending, requests are refused beyond
/// [`MAX_QUEUED_REQUESTS`] (each holds a [`Slot`]), and the other commands happen once per
/// statement, job or process.
pub struct Commands {
    pub(super) rx: mpsc::UnboundedReceiver<LinkCommand>,
    pub(super) inbox: Arc<Inbox>,
}

impl Commands {
    /// The next command (cancel-safe, for `select!`).
    pub async fn recv(&mut self) -> Option<LinkCommand> {
        let cmd = self.rx.recv().await?;
        if matches!(cmd, LinkCommand::Dispatch) {
            self.inbox.dispatch_pending.store(false, Ordering::SeqCst);
        }
        Some(cmd)
    }
}

/// What an add/upload call adds to the Spark context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    File,
    PyFile,
    Jar,
}
