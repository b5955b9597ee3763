//! A session's command queue: what REST handlers ask of its driver link, and the bounds that
//! keep a flood of requests from growing the queue without limit.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use tokio::sync::{mpsc, oneshot};

/// How many jobs, completions and additions may wait in a session's command queue for its link
/// (say while it writes a large frame to a slow driver); more are refused until it catches up.
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
    },
    CancelJob(u64),
    /// `add-file`, `add-pyfile`, `add-jar` (and the uploads, after saving the file).
    AddResource {
        what: Resource,
        uri: String,
        reply: oneshot::Sender<Result<(), String>>,
    },
}

impl LinkCommand {
    /// Commands that carry a payload or a waiting caller, one per REST request: these are what a
    /// flood of requests would pile up, so their number in the queue is bounded.
    pub(super) fn is_request(&self) -> bool {
        matches!(
            self,
            LinkCommand::Job { .. }
                | LinkCommand::Complete { .. }
                | LinkCommand::AddResource { .. }
        )
    }
}

/// What is in a session's command queue, shared by its two ends.
#[derive(Default)]
pub(super) struct Inbox {
    /// A `Dispatch` is queued and not yet taken: statements wait in [`crate::statements::Statements`], so one
    /// pending `Dispatch` covers any number of them.
    pub(super) dispatch_pending: AtomicBool,
    /// Requests (see [`LinkCommand::is_request`]) queued and not yet taken.
    pub(super) requests: AtomicUsize,
}

/// The driver link's end of a session's command queue. The queue cannot grow without bound: a
/// `Dispatch` is only sent when none is pending, requests are refused beyond
/// [`MAX_QUEUED_REQUESTS`], and the other commands happen once per statement, job or process.
pub struct Commands {
    pub(super) rx: mpsc::UnboundedReceiver<LinkCommand>,
    pub(super) inbox: std::sync::Arc<Inbox>,
}

impl Commands {
    /// The next command (cancel-safe, for `select!`).
    pub async fn recv(&mut self) -> Option<LinkCommand> {
        let cmd = self.rx.recv().await?;
        if matches!(cmd, LinkCommand::Dispatch) {
            self.inbox.dispatch_pending.store(false, Ordering::SeqCst);
        } else if cmd.is_request() {
            self.inbox.requests.fetch_sub(1, Ordering::SeqCst);
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
