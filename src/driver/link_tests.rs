//! The driver link against a driver played by the test: messages that cannot be sent, a broken
//! connection, and outputs past the cap. Each test reads what a REST client would see.

use super::channel::{random_hex, ChannelServer};
use super::client::{handshake, recv, send, ClientStream};
use super::link;
use crate::sessions::interactive::{JobKind, JobState, Session};
use crate::sessions::tests::new_session;
use crate::sessions::SessionState;
use crate::statements::StatementState;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::sync::oneshot;

const WAIT: Duration = Duration::from_secs(10);

struct Limits {
    max_message: usize,
    output_max: usize,
    /// Shut the server's writing half before the link gets it: every send then fails with an
    /// I/O error while reads still work (a connection broken in one direction).
    break_writes: bool,
    addition_timeout: Duration,
    /// `livy.rsc.job-cancel.timeout`.
    cancel_timeout: Duration,
    /// Active/active: the servers' driver channels.
    servers: Option<link::Servers>,
}

const DEFAULT: Limits = Limits {
    max_message: 4096,
    output_max: 0,
    break_writes: false,
    addition_timeout: WAIT,
    cancel_timeout: WAIT,
    servers: None,
};

/// A session whose link runs against a driver the test plays; the driver is `ready`.
async fn connected(limits: Limits) -> (Arc<Session>, ClientStream) {
    let server = ChannelServer::start(
        "127.0.0.1",
        "127.0.0.1",
        (0, 0),
        super::tls::ChannelIdentity::generate().unwrap(),
        None,
    )
    .await
    .unwrap();
    let secret = random_hex(32);
    let (session, commands) = new_session(100);
    let authenticated = server.expect(session.id, secret.clone());
    let (hand_over, connection) = oneshot::channel();
    let break_writes = limits.break_writes;
    let servers = limits.servers;
    tokio::spawn(async move {
        let mut conn = authenticated.await.unwrap();
        if break_writes {
            conn.writer.shutdown().await.unwrap();
        }
        let _ = hand_over.send(conn);
    });
    tokio::spawn(link::run(
        session.clone(),
        commands,
        connection,
        link::Settings {
            connect_timeout: WAIT,
            max_message: limits.max_message,
            output_max: limits.output_max,
            cancel_timeout: limits.cancel_timeout,
            addition_timeout: limits.addition_timeout,
            channel: server.clone(),
            resume: false,
            servers,
        },
    ));
    let mut driver = handshake(&server, session.id, &secret).await.unwrap();
    send(&mut driver, &json!({"type": "ready", "app_id": "local-1"})).await;
    session
        .wait_until(WAIT, |s| s.state() == SessionState::Idle)
        .await;
    assert_eq!(session.state(), SessionState::Idle);
    (session, driver)
}

async fn next_frame(driver: &mut ClientStream) -> Value {
    tokio::time::timeout(WAIT, recv(driver))
        .await
        .expect("the server sends nothing")
        .unwrap()
}

async fn wait_statement_done(session: &Session, id: u32) {
    session
        .wait_until(WAIT, |s| {
            s.statement(id).is_some_and(|st| st.state.is_done())
        })
        .await;
}

async fn answer(driver: &mut ClientStream, id: u64, output: Value) {
    send(
        driver,
        &json!({"type": "result", "id": id, "completed": 1, "output": output}),
    )
    .await;
}

#[tokio::test]
async fn a_statement_too_large_to_send_ends_with_an_error_and_the_session_goes_on() {
    let (session, mut driver) = connected(DEFAULT).await;
    let big = session.submit("x".repeat(10_000), None).unwrap();
    let small = session.submit("1 + 1".into(), None).unwrap();

    wait_statement_done(&session, big.id).await;
    let big = session.statement(big.id).unwrap();
    assert_eq!(big.state, StatementState::Available);
    let out = big.output.unwrap();
    assert_eq!(out["status"], "error");
    assert_eq!(out["ename"], "StatementNotSent");
    assert!(
        out["evalue"]
            .as_str()
            .unwrap()
            .contains("livy.rsc.rpc.max.size"),
        "{out}"
    );

    // The next statement is sent, and the session is usable.
    let frame = next_frame(&mut driver).await;
    assert_eq!(
        (frame["type"].as_str(), frame["id"].as_u64()),
        (Some("execute"), Some(1))
    );
    assert_eq!(session.state(), SessionState::Busy);
    let two = json!({"status": "ok", "execution_count": 1, "data": {"text/plain": "2"}});
    answer(&mut driver, 1, two.clone()).await;
    wait_statement_done(&session, small.id).await;
    assert_eq!(session.statement(small.id).unwrap().output, Some(two));
    session
        .wait_until(WAIT, |s| s.state() == SessionState::Idle)
        .await;
    assert_eq!(session.state(), SessionState::Idle);
}

#[tokio::test]
async fn a_job_too_large_to_send_fails_with_the_reason() {
    let (session, mut driver) = connected(DEFAULT).await;
    let big = session
        .submit_job("A".repeat(10_000), JobKind::Python)
        .unwrap();
    session
        .wait_until(WAIT, |s| {
            s.job(big.id).is_some_and(|j| j.state.is_finished())
        })
        .await;
    let job = session.job(big.id).unwrap();
    assert_eq!(job.state, JobState::Failed);
    assert!(
        job.error
            .as_deref()
            .unwrap()
            .contains("livy.rsc.rpc.max.size"),
        "{job:?}"
    );
    let small = session.submit_job("AAAA".into(), JobKind::Python).unwrap();
    let frame = next_frame(&mut driver).await;
    assert_eq!(frame["type"], "job");
    assert_eq!(frame["job_type"], "python");
    assert_eq!(frame["req"].as_u64(), Some(small.id));
    assert_eq!(session.state(), SessionState::Idle);
}

#[tokio::test]
async fn a_connection_that_cannot_be_written_ends_the_session() {
    let (session, _driver) = connected(Limits {
        break_writes: true,
        ..DEFAULT
    })
    .await;
    let st = session.submit("1 + 1".into(), None).unwrap();
    session.wait_until(WAIT, |s| s.state().is_finished()).await;
    assert_eq!(session.state(), SessionState::Dead, "not left busy");
    let log = session.logs.lines().join("\n");
    assert!(
        log.contains("the connection to the driver was lost"),
        "{log}"
    );
    let st = session.statement(st.id).unwrap();
    assert!(st.state.is_done());
    assert_eq!(st.output.unwrap()["status"], "error");
}

#[tokio::test]
async fn an_output_past_the_cap_becomes_an_error_output() {
    let (session, mut driver) = connected(Limits {
        output_max: 1024,
        max_message: 1 << 20,
        ..DEFAULT
    })
    .await;
    let first = session.submit("%json big".into(), None).unwrap();
    assert_eq!(next_frame(&mut driver).await["id"].as_u64(), Some(0));
    let huge = json!({"status": "ok", "execution_count": 0,
                      "data": {"application/json": vec![7; 200_000]}});
    answer(&mut driver, 0, huge).await;
    wait_statement_done(&session, first.id).await;
    let out = session.statement(first.id).unwrap().output.unwrap();
    assert_eq!(
        (out["status"].as_str(), out["ename"].as_str()),
        (Some("error"), Some("OutputTooLarge")),
        "the huge output was kept"
    );

    // Text the driver already cut at the cap is kept as it is; the session goes on.
    let second = session.submit("print(x)".into(), None).unwrap();
    assert_eq!(next_frame(&mut driver).await["id"].as_u64(), Some(1));
    let cut = json!({"status": "ok", "execution_count": 1, "data": {"text/plain":
        format!("{}\n...[output truncated by livy-rs: 99999 bytes total]", "y".repeat(1024))}});
    answer(&mut driver, 1, cut.clone()).await;
    wait_statement_done(&session, second.id).await;
    assert_eq!(session.statement(second.id).unwrap().output, Some(cut));
    session
        .wait_until(WAIT, |s| s.state() == SessionState::Idle)
        .await;
    assert_eq!(session.state(), SessionState::Idle);
}

#[tokio::test]
async fn an_addition_the_driver_never_confirms_fails_in_time_and_frees_the_queue() {
    let (session, mut driver) = connected(Limits {
        addition_timeout: Duration::from_secs(1),
        ..DEFAULT
    })
    .await;
    let adding = {
        let session = session.clone();
        tokio::spawn(async move {
            session
                .add_resource(
                    crate::sessions::interactive::Resource::File,
                    "file:/tmp/x".into(),
                )
                .await
        })
    };
    let frame = next_frame(&mut driver).await;
    assert_eq!(frame["type"], "add_file", "{frame}");
    // A job behind the addition waits for it; the driver never answers the addition.
    let job = session.submit_job("AAAA".into(), JobKind::Python).unwrap();
    let answer = tokio::time::timeout(WAIT, adding)
        .await
        .expect("the addition is still waiting")
        .unwrap();
    let err = answer.expect_err("an unconfirmed addition must fail");
    assert!(
        err.to_string()
            .contains("did not confirm the addition within 1s"),
        "{err}"
    );
    // The job behind it goes to the driver now.
    let frame = next_frame(&mut driver).await;
    assert_eq!(
        (frame["type"].as_str(), frame["req"].as_u64()),
        (Some("job"), Some(job.id)),
        "{frame}"
    );
    // A late confirmation changes nothing.
    send(&mut driver, &json!({"type": "ack", "req": 1})).await;
    assert_eq!(session.state(), SessionState::Idle);
}

/// A cancelled job is `CANCELLED` only once the driver says its thread ended, or after
/// `livy.rsc.job-cancel.timeout`: never while the driver may still run it unasked.
#[tokio::test]
async fn a_cancelled_job_stays_started_until_the_driver_confirms_or_the_timeout() {
    let timeout = Duration::from_secs(2);
    let (session, mut driver) = connected(Limits {
        cancel_timeout: timeout,
        ..DEFAULT
    })
    .await;
    let state = |id| session.job(id).unwrap().state;
    let confirmed = session.submit_job("AAAA".into(), JobKind::Python).unwrap();
    let stuck = session.submit_job("AAAA".into(), JobKind::Python).unwrap();
    for _ in 0..2 {
        assert_eq!(next_frame(&mut driver).await["type"], "job");
    }

    session.cancel_job(confirmed.id).unwrap();
    let frame = next_frame(&mut driver).await;
    assert_eq!(
        (frame["type"].as_str(), frame["req"].as_u64()),
        (Some("cancel_job"), Some(confirmed.id)),
        "{frame}"
    );
    assert_eq!(
        state(confirmed.id),
        JobState::Started,
        "no confirmation yet"
    );
    send(
        &mut driver,
        &json!({"type": "job_result", "req": confirmed.id, "error": "Client job error:KeyboardInterrupt"}),
    )
    .await;
    session
        .wait_until(WAIT, |s| s.job(confirmed.id).unwrap().state.is_finished())
        .await;
    let done = session.job(confirmed.id).unwrap();
    assert_eq!((done.state, done.error), (JobState::Cancelled, None));

    // The driver never confirms this one: CANCELLED at the timeout, not before.
    let asked = std::time::Instant::now();
    session.cancel_job(stuck.id).unwrap();
    assert_eq!(next_frame(&mut driver).await["type"], "cancel_job");
    session
        .wait_until(WAIT, |s| s.job(stuck.id).unwrap().state.is_finished())
        .await;
    assert_eq!(state(stuck.id), JobState::Cancelled);
    assert!(asked.elapsed() >= timeout, "{:?}", asked.elapsed());
    // Its late end changes nothing, and the next job runs.
    send(
        &mut driver,
        &json!({"type": "job_result", "req": stuck.id, "result": "eA=="}),
    )
    .await;
    let next = session.submit_job("AAAA".into(), JobKind::Python).unwrap();
    assert_eq!(next_frame(&mut driver).await["req"], next.id);
    send(
        &mut driver,
        &json!({"type": "job_result", "req": next.id, "result": "eQ=="}),
    )
    .await;
    session
        .wait_until(WAIT, |s| s.job(next.id).unwrap().state.is_finished())
        .await;
    assert_eq!(state(next.id), JobState::Succeeded);
    assert_eq!(state(stuck.id), JobState::Cancelled);
    assert_eq!(session.state(), SessionState::Idle);
}

#[tokio::test]
async fn the_driver_hears_the_servers_of_the_service_on_connect_and_at_every_change() {
    let (members, servers) = tokio::sync::watch::channel(vec!["h:1".to_string(), "h:2".into()]);
    let (session, mut driver) = connected(Limits {
        servers: Some(servers),
        ..DEFAULT
    })
    .await;
    let told = next_frame(&mut driver).await;
    assert_eq!(told, json!({"type": "servers", "servers": ["h:1", "h:2"]}));
    // A server joins, then one leaves: each change is told, in order.
    members
        .send(vec!["h:1".into(), "h:2".into(), "h:3".into()])
        .unwrap();
    let told = next_frame(&mut driver).await;
    assert_eq!(told["servers"], json!(["h:1", "h:2", "h:3"]));
    members.send(vec!["h:3".into()]).unwrap();
    assert_eq!(next_frame(&mut driver).await["servers"], json!(["h:3"]));
    // Membership gone (the server stops watching): the session goes on as before.
    drop(members);
    let st = session.submit("1 + 1".into(), None).unwrap();
    let frame = next_frame(&mut driver).await;
    assert_eq!(
        (frame["type"].as_str(), frame["id"].as_u64()),
        (Some("execute"), Some(u64::from(st.id)))
    );
}
