//! Session rules that need no driver: the garbage collector deletes once, a stopping session
//! accepts only a finished state, the command queue is bounded, and finished jobs are evicted.

use super::interactive::{
    Commands, JobKind, JobState, LinkCommand, NewSession, Session, MAX_QUEUED_REQUESTS,
};
use super::{CreateSessionRequest, Kind, SessionState};
use crate::api::AppState;
use crate::error::ApiError;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A session as the manager makes it, without a process or link.
fn session_with(id: u32, retained: usize, run_dir: std::path::PathBuf) -> (Arc<Session>, Commands) {
    Session::new(NewSession {
        id,
        app_tag: format!("livy-session-{id}-test"),
        on_yarn: false,
        staging: None,
        owner: None,
        proxy_user: None,
        request: CreateSessionRequest {
            kind: Kind::Pyspark,
            ..Default::default()
        },
        ttl: None,
        idle_timeout: Some(Duration::from_secs(1)),
        run_dir,
        log_lines: 100,
        retained_statements: retained,
        secret: "test-secret".into(),
        recovery: None,
        created_ms: crate::statements::now_ms(),
        logs: None,
        redaction: Default::default(),
    })
}

/// Session 1 (`run_dir` is not touched), for tests of the link.
pub(crate) fn new_session(retained: usize) -> (Arc<Session>, Commands) {
    session_with(
        1,
        retained,
        std::env::temp_dir().join("livy-rs-test-session-unused"),
    )
}

/// Takes what is queued now, without waiting.
async fn drain(commands: &mut Commands) -> Vec<LinkCommand> {
    let mut out = Vec::new();
    while let Ok(Some(cmd)) =
        tokio::time::timeout(std::time::Duration::from_millis(20), commands.recv()).await
    {
        out.push(cmd);
    }
    out
}

#[tokio::test]
async fn a_flood_of_requests_does_not_grow_the_command_queue() {
    let (session, mut commands) = new_session(100);
    // The link is stuck (say, writing to a slow driver): nothing takes commands meanwhile.
    for i in 0..10_000 {
        session.submit(format!("{i}"), None).unwrap();
    }
    let queued = drain(&mut commands).await;
    assert_eq!(
        queued.len(),
        1,
        "10,000 statements must not queue 10,000 commands"
    );
    assert!(matches!(queued[0], LinkCommand::Dispatch));
    // Taken: the next statement asks again.
    session.submit("again".into(), None).unwrap();
    assert_eq!(drain(&mut commands).await.len(), 1);

    for _ in 0..MAX_QUEUED_REQUESTS {
        session
            .submit_job("payload".repeat(100), JobKind::Python)
            .unwrap();
    }
    let refused = session
        .submit_job("one too many".into(), JobKind::Python)
        .unwrap_err();
    assert!(
        matches!(refused, ApiError::ServiceUnavailable(_)),
        "{refused:?}"
    );
    assert!(refused.to_string().contains("try again later"));
    assert_eq!(
        session.job(MAX_QUEUED_REQUESTS as u64 + 1),
        None,
        "a refused job is not listed"
    );
    // Once the link has taken them, jobs are accepted again.
    assert_eq!(drain(&mut commands).await.len(), MAX_QUEUED_REQUESTS);
    session.submit_job("later".into(), JobKind::Python).unwrap();

    // Repeated cancels of one job reach the driver once.
    let id = session
        .submit_job("to cancel".into(), JobKind::Python)
        .unwrap()
        .id;
    drain(&mut commands).await;
    for _ in 0..1000 {
        session.cancel_job(id).unwrap();
    }
    assert_eq!(drain(&mut commands).await.len(), 1);
}

#[tokio::test]
async fn finished_jobs_beyond_the_retained_count_are_evicted_oldest_first() {
    let (session, mut commands) = new_session(3);
    let ids: Vec<u64> = (0..10)
        .map(|i| {
            session
                .submit_job(format!("job {i}"), JobKind::Python)
                .unwrap()
                .id
        })
        .collect();
    drain(&mut commands).await;
    // The first job stays unfinished; the others finish in order.
    for &id in &ids[1..] {
        session.update_job(id, |j| {
            j.state = JobState::Succeeded;
            j.result = Some("x".repeat(1000));
        });
    }
    let kept: Vec<u64> = ids
        .iter()
        .copied()
        .filter(|&id| session.job(id).is_some())
        .collect();
    assert_eq!(kept, vec![ids[0], ids[7], ids[8], ids[9]]);
    // When the session ends, the unfinished job fails and the count still holds.
    session.end(SessionState::Dead, vec!["gone".into()]);
    let kept: Vec<u64> = ids
        .iter()
        .copied()
        .filter(|&id| session.job(id).is_some())
        .collect();
    assert_eq!(kept, vec![ids[7], ids[8], ids[9]]);
}

/// Ticks that come while a delete is still under way (it waits for the driver to stop, then
/// for YARN) must not start another one: one stop, one `shutdown` to the driver.
#[tokio::test]
async fn the_gc_deletes_an_expired_session_once_however_many_ticks_pass() {
    let state = AppState::new(Arc::new(crate::test_support::conf_with(&[]))).unwrap();
    let sessions = &state.sessions;
    let reservation = sessions.registry().reserve(None).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (s, mut commands) = session_with(reservation.id, 10, dir.path().join("run"));
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
    let shutdowns = drain(&mut commands)
        .await
        .iter()
        .filter(|cmd| matches!(cmd, LinkCommand::Shutdown))
        .count();
    assert_eq!(shutdowns, 1, "one delete, one shutdown");
}

#[test]
fn a_session_shutting_down_only_moves_on_to_a_finished_state() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _commands) = session_with(1, 10, dir.path().join("run"));
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

/// `Session::end` against statements and jobs submitted at the same moment, from other threads:
/// whatever was accepted has ended with the session; none waits forever in a dead session.
#[test]
fn nothing_accepted_while_a_session_ends_is_left_waiting() {
    for round in 0..200 {
        let (session, _commands) = new_session(0);
        session.set_state(SessionState::Idle);
        let go = Arc::new(std::sync::Barrier::new(3));
        let submitters: Vec<_> = (0..2)
            .map(|i| {
                let (session, go) = (session.clone(), go.clone());
                std::thread::spawn(move || {
                    go.wait();
                    for _ in 0..50 {
                        if i == 0 {
                            let _ = session.submit("1".into(), None);
                        } else {
                            let _ = session.submit_job("job".into(), JobKind::Python);
                        }
                    }
                })
            })
            .collect();
        go.wait();
        session.end(SessionState::Dead, vec!["\nlivy-rs: test end".into()]);
        for t in submitters {
            t.join().unwrap();
        }
        assert_eq!(session.state(), SessionState::Dead);
        let (_, statements) = session.statements(false, 0, None);
        let waiting: Vec<_> = statements
            .iter()
            .filter(|s| !s.state.is_done())
            .map(|s| s.id)
            .collect();
        assert!(
            waiting.is_empty(),
            "round {round}: statements {waiting:?} wait in a dead session"
        );
        let rt = session.runtime.lock();
        let unfinished: Vec<_> = rt
            .jobs
            .values()
            .filter(|j| !j.state.is_finished())
            .map(|j| j.id)
            .collect();
        assert!(
            unfinished.is_empty(),
            "round {round}: jobs {unfinished:?} never end"
        );
    }
}
