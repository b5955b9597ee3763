//! Session life-cycle rules that need no driver: how the garbage collector deletes, and which
//! state changes a stopping session accepts.

use super::interactive::{LinkCommand, NewSession};
use super::{CreateSessionRequest, Session, SessionState};
use crate::api::AppState;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedReceiver;

fn session(id: u32, run_dir: std::path::PathBuf) -> (Arc<Session>, UnboundedReceiver<LinkCommand>) {
    Session::new(NewSession {
        id,
        app_tag: format!("livy-session-{id}-test"),
        on_yarn: false,
        owner: None,
        proxy_user: None,
        request: CreateSessionRequest::default(),
        ttl: None,
        idle_timeout: Some(Duration::from_secs(1)),
        run_dir,
        log_lines: 10,
        retained_statements: 10,
        secret: "test-secret".into(),
        recovery: None,
        created_ms: crate::statements::now_ms(),
        redaction: Default::default(),
    })
}

/// Ticks that come while a delete is still under way (it waits for the driver to stop, then
/// for YARN) must not start another one: one stop, one `shutdown` to the driver.
#[tokio::test]
async fn the_gc_deletes_an_expired_session_once_however_many_ticks_pass() {
    let state = AppState::new(Arc::new(crate::test_support::conf_with(&[]))).unwrap();
    let sessions = &state.sessions;
    let reservation = sessions.registry().reserve(None).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (s, mut commands) = session(reservation.id, dir.path().join("run"));
    s.set_state(SessionState::Idle);
    sessions.registry().insert(reservation, s.clone());

    let long_idle = Instant::now() + Duration::from_secs(3600);
    for _ in 0..5 {
        sessions.collect_garbage(long_idle);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while !sessions.registry().is_empty() {
        assert!(Instant::now() < deadline, "the session was never deleted");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(s.state(), SessionState::Killed);
    let mut shutdowns = 0;
    while let Ok(cmd) = commands.try_recv() {
        shutdowns += usize::from(matches!(cmd, LinkCommand::Shutdown));
    }
    assert_eq!(shutdowns, 1, "one delete, one shutdown");
}

#[test]
fn a_session_shutting_down_only_moves_on_to_a_finished_state() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _commands) = session(1, dir.path().join("run"));
    s.set_state(SessionState::Busy);
    s.set_state(SessionState::ShuttingDown);
    for late in [
        SessionState::Idle,
        SessionState::Busy,
        SessionState::Starting,
    ] {
        s.set_state(late);
        assert_eq!(s.state(), SessionState::ShuttingDown, "after {late}");
    }
    s.set_state(SessionState::Killed);
    assert_eq!(s.state(), SessionState::Killed);
    s.set_state(SessionState::Idle);
    assert_eq!(s.state(), SessionState::Killed);
}
