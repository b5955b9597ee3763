//! Phase one of a session's link: waiting for its driver to connect back (or dial back after a
//! restart), holding the Job API requests that arrive meanwhile.

use super::{end_session, Settings};
use crate::driver::channel::DriverConnection;
use crate::sessions::interactive::{Commands, LinkCommand};
use crate::sessions::{Session, SessionState};
use std::sync::Arc;
use tokio::sync::oneshot;

/// Phase one: until the driver connects. Returns `None` when the session ended first. Job API
/// requests that arrive meanwhile are kept in `early`, in order, for the driver (as Livy does;
/// each holds its [`Slot`](crate::sessions::interactive::Slot), so they stay within the queue's
/// bound); when the session ends first they are dropped, which ends their waiting callers
/// (jobs were failed with the reason by `Session::end`).
pub(super) async fn wait_for_driver(
    session: &Arc<Session>,
    commands: &mut Commands,
    mut connection: oneshot::Receiver<DriverConnection>,
    settings: &Settings,
    early: &mut Vec<LinkCommand>,
) -> Option<DriverConnection> {
    let deadline = tokio::time::sleep(settings.connect_timeout);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            conn = &mut connection => return conn.ok(),
            _ = &mut deadline => {
                let msg = if settings.resume {
                    format!(
                        "livy-rs: the driver did not dial back within {}s of the server's restart (livy.rsc.server.idle-timeout); it was stopped",
                        settings.connect_timeout.as_secs()
                    )
                } else {
                    format!(
                        "livy-rs: the driver did not connect back within {}s (livy.rsc.server.connect.timeout); its process was killed",
                        settings.connect_timeout.as_secs()
                    )
                };
                tracing::warn!(session_id = session.id, "driver did not connect back in time");
                end_session(session, SessionState::Dead, &msg);
                if let Some(child) = session.child() {
                    child.kill();
                    child.wait().await;
                }
                return None;
            }
            cmd = commands.recv() => match cmd {
                // On YARN spark-submit exits 0 once the app is submitted; the driver comes later.
                Some(LinkCommand::Exited(exit)) if session.on_yarn && exit.success() => {}
                Some(LinkCommand::Exited(exit)) => {
                    if session.state() != SessionState::ShuttingDown {
                        end_session(session, SessionState::Dead, &format!(
                            "livy-rs: the driver {} before connecting back", exit.describe()));
                    }
                    return None;
                }
                // Deleted while starting: the held requests' callers get their answer now
                // (dropping them ends their wait), not when the connect timeout ends it. On
                // YARN spark-submit is long gone and the app is killed by the delete, so there
                // is nothing left to wait for.
                Some(LinkCommand::Shutdown) => {
                    early.clear();
                    if let Some(child) = session.child() {
                        child.kill();
                    }
                    if session.on_yarn {
                        return None;
                    }
                }
                Some(LinkCommand::Complete { reply, .. }) => {
                    let _ = reply.send(Vec::new());
                }
                // A job cancelled before the driver came never reaches it.
                Some(LinkCommand::CancelJob(id)) => {
                    early.retain(|held| !is_job(held, id));
                    session.job_dropped(id);
                }
                Some(
                    cmd @ (LinkCommand::Job { .. }
                    | LinkCommand::AddResource { .. }
                    | LinkCommand::SetConf { .. }),
                ) if session.state() != SessionState::ShuttingDown => {
                    log_held(session.id, &cmd);
                    early.push(cmd);
                }
                Some(_) => {}
                None => return None,
            }
        }
    }
}

pub(super) fn is_job(cmd: &LinkCommand, id: u64) -> bool {
    matches!(cmd, LinkCommand::Job { id: held, .. } if *held == id)
}

/// Says that a Job API request waits for the driver (so an operator, and a test, can see what
/// a starting session holds, in order).
pub(super) fn log_held(session_id: u32, cmd: &LinkCommand) {
    match cmd {
        LinkCommand::Job { id, .. } => {
            tracing::info!(session_id, job = id, "job held until the driver is ready")
        }
        LinkCommand::AddResource { what, .. } => {
            tracing::info!(session_id, ?what, "addition held until the driver is ready")
        }
        LinkCommand::SetConf { .. } => {
            tracing::info!(session_id, "conf change held until the driver is ready")
        }
        _ => {}
    }
}
