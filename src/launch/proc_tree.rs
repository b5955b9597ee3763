//! Finding and signalling a process tree on Linux through /proc.
//!
//! Hand-written (a few dozen lines) rather than pulling in a process-listing crate: livy-rs runs
//! on Linux edge nodes, and all it needs is each process's parent and group. spark-submit's children
//! (the driver JVM, the PySpark Python process, its workers) mostly stay in the process group we
//! create, but some tools start their own groups or sessions, so the tree is walked as well.
//!
//! Signalling a process group is only safe while its leader (our child) is not reaped: a pid —
//! and so a group id — cannot be reused while that zombie exists. The supervisor in `child.rs`
//! therefore waits for the leader's exit with [`leader_state`] (which does not reap), cleans the
//! group up, and only then reaps. These functions read `/proc`: call them off the async runtime.

use nix::sys::signal::{kill, killpg, Signal};
use nix::sys::wait::{waitid, Id, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::collections::HashMap;

/// Every process id in `/proc`.
fn all_pids() -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse().ok()))
        .collect()
}

/// Every live descendant of `root` (not `root` itself).
pub fn descendants(root: u32) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for pid in all_pids() {
        if let Some(ppid) = parent_of(pid) {
            children.entry(ppid).or_default().push(pid);
        }
    }
    let mut out = Vec::new();
    let mut stack = vec![root];
    while let Some(pid) = stack.pop() {
        if let Some(kids) = children.get(&pid) {
            for &kid in kids {
                out.push(kid);
                stack.push(kid);
            }
        }
    }
    out
}

/// Field `n` after the command name of `/proc/<pid>/stat` ("pid (comm) state ppid pgrp ...";
/// comm may hold spaces and parentheses): 0 is the state, 1 the parent, 2 the process group.
fn stat_field(pid: u32, n: usize) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(n).map(str::to_string)
}

/// The parent pid.
fn parent_of(pid: u32) -> Option<u32> {
    stat_field(pid, 1)?.parse().ok()
}

/// Whether a process exists (and is not a zombie we could reap).
pub fn is_alive(pid: u32) -> bool {
    stat_field(pid, 0).is_some_and(|state| state != "Z")
}

/// Live members of the process group `pgid` other than its leader: what a spark-submit that
/// exited left running in its group (a daemon it forked, a subshell).
pub fn group_members(pgid: u32) -> Vec<u32> {
    all_pids()
        .into_iter()
        .filter(|&p| p != pgid)
        .filter(|&p| stat_field(p, 2).and_then(|g| g.parse().ok()) == Some(pgid))
        .filter(|&p| is_alive(p))
        .collect()
}

/// What is left of the tree of an exited `leader`: its group's other members and those of the
/// `known` descendants still alive (they may have left the group).
pub fn leftovers(leader: u32, known: &[u32]) -> Vec<u32> {
    let mut left = group_members(leader);
    for &p in known {
        if !left.contains(&p) && is_alive(p) {
            left.push(p);
        }
    }
    left
}

/// Where our child `pid` is, asked without reaping it (`WNOWAIT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leader {
    Running,
    /// Exited and not reaped: its pid and group id are still ours to signal.
    Exited,
    /// Not our child any more (someone reaped it): its group must not be signalled.
    Gone,
}

pub fn leader_state(pid: u32) -> Leader {
    let Ok(raw) = i32::try_from(pid) else {
        return Leader::Gone;
    };
    let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
    match waitid(Id::Pid(Pid::from_raw(raw)), flags) {
        Ok(WaitStatus::StillAlive) => Leader::Running,
        Ok(_) => Leader::Exited,
        Err(_) => Leader::Gone,
    }
}

/// Sends `signal` to the process group led by `leader` and to each listed pid. Errors (a process
/// already gone) are expected and ignored. Call it only while `leader` is not reaped (module
/// docs); a leader of 0 (no process) never signals a group (`killpg(0)` would be our own).
pub fn signal_tree(leader: u32, pids: &[u32], signal: Signal) {
    if let Ok(pgid) = i32::try_from(leader) {
        if pgid > 0 {
            let _ = killpg(Pid::from_raw(pgid), signal);
        }
    }
    for &pid in pids {
        if let Ok(pid) = i32::try_from(pid) {
            if pid > 0 {
                let _ = kill(Pid::from_raw(pid), signal);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_grandchildren() {
        let mut child = std::process::Command::new("sh")
            .args(["-c", "sleep 30 & sleep 30 & wait"])
            .spawn()
            .unwrap();
        let pid = child.id();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let mut found = Vec::new();
        while std::time::Instant::now() < deadline {
            found = descendants(pid);
            if found.len() >= 2 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert_eq!(found.len(), 2, "{found:?}");
        signal_tree(pid, &found, Signal::SIGKILL);
        let _ = child.wait();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while found.iter().any(|&p| is_alive(p)) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert!(
            found.iter().all(|&p| !is_alive(p)),
            "grandchildren survived"
        );
    }
}
