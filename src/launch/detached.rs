//! Children that outlive the server (recovery on). Their output goes to files in their run
//! directory instead of pipes (a pipe to a dead server would break the next write, and kill
//! Spark with it), a small `sh` wrapper records the exit code in a file, and the server reads
//! both: while it runs by tailing the files, after a restart by adopting the process by pid.
//! A pid alone could be reused after the process is gone, so the kernel's start time of the
//! process is kept with it and checked before any signal.

use super::child::ChildExit;
use super::proc_tree;
use super::spark_submit::SparkSubmit;
use crate::logs::{ProcessLogs, Stream, MAX_LINE_BYTES};
use nix::sys::signal::Signal;
use serde::{Deserialize, Serialize};
use std::io::{Read, Seek, SeekFrom};
#[cfg(test)]
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// How often a tailed file or an adopted process is looked at.
const POLL: Duration = Duration::from_millis(200);

/// A detached child as recorded for recovery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessRecord {
    pub pid: u32,
    /// Field 22 of `/proc/<pid>/stat`: with the pid, names this process and no other.
    pub start_time: u64,
    /// Holds `stdout`, `stderr` and, once it ended, `exit`.
    pub dir: PathBuf,
}

impl ProcessRecord {
    pub fn is_running(&self) -> bool {
        start_time(self.pid) == Some(self.start_time) && proc_tree::is_alive(self.pid)
    }

    /// The exit the wrapper wrote, or "terminated" when the process is gone without one.
    pub fn exit(&self) -> ChildExit {
        let code = std::fs::read_to_string(self.dir.join("exit"))
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok());
        ChildExit {
            code,
            killed: false,
            reason: None,
        }
    }
}

/// The kernel's start time of a process (clock ticks since boot), `None` when it is gone.
pub fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    // After the comm: state is field 3, starttime field 22.
    after.split_whitespace().nth(19)?.parse().ok()
}

/// Wraps a command so its output lands in `dir` and its exit code in `dir/exit`.
pub fn wrap(cmd: &SparkSubmit, dir: &Path) -> SparkSubmit {
    let script = r#"d=$1; shift; exec >>"$d/stdout" 2>>"$d/stderr" </dev/null; "$@"; c=$?; echo $c >"$d/exit.tmp" && mv "$d/exit.tmp" "$d/exit"; exit $c"#;
    let mut args = vec![
        "-c".to_string(),
        script.to_string(),
        "livy-rs-child".to_string(),
        dir.display().to_string(),
        cmd.program.display().to_string(),
    ];
    args.extend(cmd.args.iter().cloned());
    SparkSubmit {
        program: PathBuf::from("/bin/sh"),
        args,
        env: cmd.env.clone(),
    }
}

/// Copies new lines of `dir/stdout` and `dir/stderr` into `logs` until `done` fires, then
/// reads what is left. Started from the beginning of the files, so a restarted server shows
/// the whole recent log again.
pub async fn tail(dir: PathBuf, logs: Arc<ProcessLogs>, done: CancellationToken) {
    let mut out = Tail::new(dir.join("stdout"), Stream::Stdout);
    let mut err = Tail::new(dir.join("stderr"), Stream::Stderr);
    loop {
        let finished = done.is_cancelled();
        let (o, e) = (&mut out, &mut err);
        let logs2 = logs.clone();
        let moved = tokio::task::spawn_blocking({
            let (mut o, mut e) = (std::mem::take(o), std::mem::take(e));
            move || {
                o.read(&logs2);
                e.read(&logs2);
                (o, e)
            }
        })
        .await;
        match moved {
            Ok((o2, e2)) => {
                out = o2;
                err = e2;
            }
            Err(_) => return,
        }
        if finished {
            out.flush(&logs);
            err.flush(&logs);
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = done.cancelled() => {}
        }
    }
}

#[derive(Default)]
struct Tail {
    path: PathBuf,
    stream: Option<Stream>,
    offset: u64,
    partial: Vec<u8>,
}

impl Tail {
    fn new(path: PathBuf, stream: Stream) -> Self {
        Tail {
            path,
            stream: Some(stream),
            offset: 0,
            partial: Vec::new(),
        }
    }

    fn read(&mut self, logs: &ProcessLogs) {
        let Some(stream) = self.stream else { return };
        let Ok(mut f) = std::fs::File::open(&self.path) else {
            return;
        };
        if f.seek(SeekFrom::Start(self.offset)).is_err() {
            return;
        }
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match f.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            self.offset += n as u64;
            for &b in &buf[..n] {
                if b == b'\n' {
                    push(logs, stream, &mut self.partial);
                } else if self.partial.len() < MAX_LINE_BYTES {
                    self.partial.push(b);
                }
            }
        }
    }

    fn flush(&mut self, logs: &ProcessLogs) {
        if let Some(stream) = self.stream {
            if !self.partial.is_empty() {
                push(logs, stream, &mut self.partial);
            }
        }
    }
}

fn push(logs: &ProcessLogs, stream: Stream, line: &mut Vec<u8>) {
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    logs.push(stream, String::from_utf8_lossy(line).into_owned());
    line.clear();
}

/// Supervises a child started by an earlier server: tails its output, notices its end (it is
/// not our child, so it is polled), and kills its process group on request — only while the
/// pid still names the same process.
pub fn adopt(
    record: ProcessRecord,
    logs: Arc<ProcessLogs>,
    kill_timeout: Duration,
    on_exit: Box<dyn FnOnce(&ChildExit) + Send>,
) -> super::ChildHandle {
    let stop = CancellationToken::new();
    let (done_tx, done_rx) = watch::channel(None);
    let stop_rx = stop.clone();
    let tail_done = CancellationToken::new();
    tokio::spawn(tail(record.dir.clone(), logs, tail_done.clone()));
    let pid = record.pid;
    tokio::spawn(async move {
        let mut killed = false;
        loop {
            if !record.is_running() {
                break;
            }
            tokio::select! {
                _ = tokio::time::sleep(POLL) => {}
                _ = stop_rx.cancelled(), if !killed => {
                    killed = true;
                    signal(&record, Signal::SIGTERM);
                    let deadline = tokio::time::Instant::now() + kill_timeout;
                    while record.is_running() && tokio::time::Instant::now() < deadline {
                        tokio::time::sleep(POLL).await;
                    }
                    if record.is_running() {
                        signal(&record, Signal::SIGKILL);
                    }
                }
            }
        }
        tail_done.cancel();
        let mut exit = record.exit();
        exit.killed = killed;
        on_exit(&exit);
        let _ = done_tx.send(Some(exit));
    });
    super::ChildHandle::from_parts(pid, stop, done_rx)
}

/// Signals the process group and tree of `record`, if the pid still names that process.
pub fn signal(record: &ProcessRecord, sig: Signal) {
    if !record.is_running() {
        return;
    }
    let tree = proc_tree::descendants(record.pid);
    proc_tree::signal_tree(record.pid, &tree, sig);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_wrapped_child_writes_its_output_and_exit_code_to_files_and_is_adopted() {
        let dir = tempfile::tempdir().unwrap();
        let cmd = SparkSubmit {
            program: "/bin/sh".into(),
            args: vec![
                "-c".into(),
                "echo out; echo err >&2; sleep 0.5; exit 3".into(),
            ],
            env: vec![],
        };
        let wrapped = wrap(&cmd, dir.path());
        let mut child = std::process::Command::new(&wrapped.program)
            .args(&wrapped.args)
            .process_group(0)
            .spawn()
            .unwrap();
        let pid = child.id();
        let record = ProcessRecord {
            pid,
            start_time: start_time(pid).unwrap(),
            dir: dir.path().to_path_buf(),
        };
        let logs = Arc::new(ProcessLogs::new(10));
        let (tx, rx) = std::sync::mpsc::channel();
        // Reap it from a thread as the old server's runtime would have; adoption must still see
        // the end through /proc and the exit file.
        std::thread::spawn(move || child.wait());
        let handle = adopt(
            record,
            logs.clone(),
            Duration::from_secs(1),
            Box::new(move |e| tx.send(e.clone()).unwrap()),
        );
        let exit = tokio::time::timeout(Duration::from_secs(10), handle.wait())
            .await
            .unwrap();
        assert_eq!(exit.code, Some(3));
        assert_eq!(rx.recv().unwrap().code, Some(3));
        let lines = logs.lines().join("\n");
        assert!(lines.contains("out") && lines.contains("err"), "{lines}");
    }
}
