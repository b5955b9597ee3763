//! One supervisor task per child process (spark-submit and everything it starts). The task owns
//! the child: it streams stdout and stderr into the session's log rings, reaps the process, and on
//! request kills the whole tree (SIGTERM, then SIGKILL after the kill timeout). Nothing else
//! touches the process, so there is no race between a kill and a natural exit. Either way, what
//! the process left in its group is ended before the process is reaped (see `proc_tree` for
//! why the order matters).

use super::proc_tree;
use super::spark_submit::SparkSubmit;
use crate::logs::{ProcessLogs, Stream, MAX_LINE_BYTES};
use nix::sys::signal::Signal;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How a supervised process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildExit {
    /// The exit code, if it exited rather than died by a signal.
    pub code: Option<i32>,
    /// Whether the kill was asked for (DELETE, shutdown), which makes the end `killed`.
    pub killed: bool,
    /// Why a launch that is not a process (the YARN REST submission) failed, for the log.
    pub reason: Option<String>,
}

impl ChildExit {
    pub fn success(&self) -> bool {
        self.code == Some(0) && !self.killed
    }

    /// For a batch's log: the reason of a task launch, else "spark-submit exited with code N".
    pub fn summary(&self) -> String {
        match &self.reason {
            Some(reason) => reason.clone(),
            None => format!("spark-submit {}", self.describe()),
        }
    }

    pub fn describe(&self) -> String {
        if let Some(reason) = &self.reason {
            return reason.clone();
        }
        match self.code {
            Some(code) => format!("exited with code {code}"),
            None => "was terminated by a signal".to_string(),
        }
    }
}

/// A handle on a supervised child: ask for a kill, wait for the end.
#[derive(Debug, Clone)]
pub struct ChildHandle {
    /// The process id; 0 for a task launch (YARN REST submission).
    pub pid: u32,
    stop: CancellationToken,
    done: watch::Receiver<Option<ChildExit>>,
    /// Set for a child that may outlive the server (recovery on): what a restart needs to find it.
    pub detached: Option<super::detached::ProcessRecord>,
}

impl ChildHandle {
    pub(crate) fn from_parts(
        pid: u32,
        stop: CancellationToken,
        done: watch::Receiver<Option<ChildExit>>,
    ) -> Self {
        ChildHandle {
            pid,
            stop,
            done,
            detached: None,
        }
    }

    /// Asks the supervisor to kill the process tree; returns at once.
    pub fn kill(&self) {
        self.stop.cancel();
    }

    /// Waits until the process has been reaped and the exit callback has run.
    pub async fn wait(&self) -> ChildExit {
        let mut done = self.done.clone();
        let ended = done
            .wait_for(Option::is_some)
            .await
            .map(|exit| exit.clone());
        // An error means the supervisor is gone (runtime shutting down): treat as ended.
        ended.ok().flatten().unwrap_or(ChildExit {
            code: None,
            killed: true,
            reason: None,
        })
    }

    pub fn has_exited(&self) -> bool {
        self.done.borrow().is_some()
    }
}

/// Starts `cmd` in its own process group under a supervisor task tracked by `tracker`.
/// `slot` counts the child against `session.max-creation` until it is reaped.
/// `on_exit` runs once, after the process is reaped and its output drained. With `detach`, the
/// child outlives the server: output and exit code go to files in that directory (see
/// `launch::detached`), and nothing kills it when the server's runtime ends.
pub fn spawn(
    cmd: &SparkSubmit,
    detach: Option<&std::path::Path>,
    logs: Arc<ProcessLogs>,
    kill_timeout: Duration,
    slot: super::Slot,
    tracker: &TaskTracker,
    on_exit: Box<dyn FnOnce(&ChildExit) + Send>,
) -> std::io::Result<ChildHandle> {
    let wrapped;
    let cmd = match detach {
        Some(dir) => {
            std::fs::create_dir_all(dir)?;
            wrapped = super::detached::wrap(cmd, dir);
            &wrapped
        }
        None => cmd,
    };
    let mut command = tokio::process::Command::new(&cmd.program);
    let output = || {
        if detach.is_some() {
            Stdio::null()
        } else {
            Stdio::piped()
        }
    };
    command
        .args(&cmd.args)
        .envs(cmd.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(output())
        .stderr(output())
        .process_group(0)
        .kill_on_drop(detach.is_none());
    let mut child = command.spawn()?;
    let pid = child.id().unwrap_or(0);
    let detached = detach.map(|dir| super::detached::ProcessRecord {
        pid,
        start_time: super::detached::start_time(pid).unwrap_or(0),
        dir: dir.to_path_buf(),
    });

    let mut readers = Vec::new();
    let tail_done = CancellationToken::new();
    if let Some(dir) = detach {
        readers.push(tracker.spawn(super::detached::tail(
            dir.to_path_buf(),
            logs.clone(),
            tail_done.clone(),
        )));
    }
    if let Some(out) = child.stdout.take() {
        readers.push(tracker.spawn(read_lines(out, logs.clone(), Stream::Stdout)));
    }
    if let Some(err) = child.stderr.take() {
        readers.push(tracker.spawn(read_lines(err, logs.clone(), Stream::Stderr)));
    }

    let stop = CancellationToken::new();
    let (done_tx, done_rx) = watch::channel(None);
    let stop_rx = stop.clone();
    tracker.spawn(async move {
        let killed = tokio::select! {
            _ = leader_exit(pid) => false,
            _ = stop_rx.cancelled() => true,
        };
        if killed {
            let mut tree = off_runtime(move || proc_tree::descendants(pid)).await;
            proc_tree::signal_tree(pid, &tree, Signal::SIGTERM);
            if tokio::time::timeout(kill_timeout, leader_exit(pid))
                .await
                .is_err()
            {
                tracing::warn!(pid, "process tree ignored SIGTERM; sending SIGKILL");
                tree.extend(off_runtime(move || proc_tree::descendants(pid)).await);
                proc_tree::signal_tree(pid, &tree, Signal::SIGKILL);
                leader_exit(pid).await;
            }
            // Stragglers that left the group or were re-parented when the leader died.
            end_leftovers(pid, tree, Duration::ZERO).await;
        } else {
            // spark-submit ended on its own, but what it started in its group may live on.
            end_leftovers(pid, Vec::new(), kill_timeout).await;
        }
        // Only now is the leader reaped: until here its pid and group id could not be reused.
        let status = child.wait().await;
        // Output may still be buffered in the pipes; a grandchild that kept them open must not
        // hold the exit up forever.
        tail_done.cancel();
        for reader in readers {
            let _ = tokio::time::timeout(Duration::from_secs(2), reader).await;
        }
        let exit = ChildExit {
            code: status.as_ref().ok().and_then(|s| s.code()),
            killed,
            reason: None,
        };
        drop(slot);
        on_exit(&exit);
        let _ = done_tx.send(Some(exit));
    });

    Ok(ChildHandle {
        pid,
        stop,
        done: done_rx,
        detached,
    })
}

/// Resolves once the child `pid` has exited, without reaping it (see `proc_tree`): woken by
/// SIGCHLD, with a slow poll as a safety net for a missed signal. Also resolves when `pid` is
/// not our child any more (nothing to wait for).
async fn leader_exit(pid: u32) {
    use tokio::signal::unix::{signal, SignalKind};
    // Subscribe before the first look, so an exit in between still wakes us.
    let mut sigchld = signal(SignalKind::child()).ok();
    loop {
        if proc_tree::leader_state(pid) != proc_tree::Leader::Running {
            return;
        }
        let woken = async {
            match sigchld.as_mut() {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = woken => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

/// Ends what is left of an exited leader's tree while the leader is still unreaped: SIGTERM
/// and up to `grace` to go (none: SIGKILL at once), then SIGKILL, waiting a moment for them
/// to die. Nothing is signalled if the leader was reaped elsewhere.
async fn end_leftovers(pid: u32, known: Vec<u32>, grace: Duration) {
    if proc_tree::leader_state(pid) != proc_tree::Leader::Exited {
        return;
    }
    let look = || {
        let known = known.clone();
        off_runtime(move || proc_tree::leftovers(pid, &known))
    };
    let mut left = look().await;
    if left.is_empty() {
        return;
    }
    tracing::info!(
        pid,
        count = left.len(),
        "ending processes left behind by spark-submit"
    );
    if !grace.is_zero() {
        proc_tree::signal_tree(pid, &left, Signal::SIGTERM);
        let deadline = tokio::time::Instant::now() + grace;
        while !left.is_empty() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
            left = look().await;
        }
        if left.is_empty() {
            return;
        }
    }
    proc_tree::signal_tree(pid, &left, Signal::SIGKILL);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while !left.is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
        left = look().await;
    }
}

/// Runs a `/proc` scan on the blocking pool: it reads a file per process.
async fn off_runtime<T: Send + 'static>(scan: impl FnOnce() -> Vec<T> + Send + 'static) -> Vec<T> {
    tokio::task::spawn_blocking(scan).await.unwrap_or_default()
}

/// Supervises a launch that is a task rather than a process (the YARN REST submission) exactly
/// like a child: same tracker, same slot accounting, same `on_exit` and [`ChildHandle`]. `work`
/// ends with `Err(reason)` on failure; a kill drops it and then runs `on_kill` (clean-up).
pub fn spawn_task(
    work: impl std::future::Future<Output = Result<(), String>> + Send + 'static,
    on_kill: impl std::future::Future<Output = ()> + Send + 'static,
    slot: super::Slot,
    tracker: &TaskTracker,
    on_exit: Box<dyn FnOnce(&ChildExit) + Send>,
) -> ChildHandle {
    let stop = CancellationToken::new();
    let (done_tx, done_rx) = watch::channel(None);
    let stop_rx = stop.clone();
    tracker.spawn(async move {
        let exit = tokio::select! {
            result = work => match result {
                Ok(()) => ChildExit { code: Some(0), killed: false, reason: None },
                Err(reason) => ChildExit { code: Some(1), killed: false, reason: Some(reason) },
            },
            _ = stop_rx.cancelled() => {
                on_kill.await;
                ChildExit { code: None, killed: true, reason: None }
            }
        };
        drop(slot);
        on_exit(&exit);
        let _ = done_tx.send(Some(exit));
    });
    ChildHandle::from_parts(0, stop, done_rx)
}

/// Splits a stream into lines (without reading unbounded lines into memory) and keeps them.
async fn read_lines(mut stream: impl AsyncRead + Unpin, logs: Arc<ProcessLogs>, which: Stream) {
    let mut buf = vec![0u8; 8192];
    let mut line: Vec<u8> = Vec::new();
    let mut overflow = 0usize;
    loop {
        let n = match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        for &b in &buf[..n] {
            if b == b'\n' {
                emit(&logs, which, &mut line, &mut overflow);
            } else if line.len() < MAX_LINE_BYTES {
                line.push(b);
            } else {
                overflow += 1;
            }
        }
    }
    if !line.is_empty() {
        emit(&logs, which, &mut line, &mut overflow);
    }
}

fn emit(logs: &ProcessLogs, which: Stream, line: &mut Vec<u8>, overflow: &mut usize) {
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    let mut text = String::from_utf8_lossy(line).into_owned();
    if *overflow > 0 {
        let total = line.len() + *overflow;
        text.push_str(&format!(" ...[line truncated by livy-rs: {total} bytes]"));
    }
    logs.push(which, text);
    line.clear();
    *overflow = 0;
}
