//! `livy sessions list|create|delete` and `livy run`: creating a session and waiting for it,
//! running a statement and waiting for its result (Ctrl-C cancels it), printing the output.

use super::client::Client;
use super::error::CliError;
use super::{render, Global, INTERRUPTED};
use clap::{Args, Subcommand};
use serde_json::{json, Map, Value};
use std::process::ExitCode;
use std::time::Duration;

#[derive(Subcommand, Debug)]
pub enum SessionsCmd {
    /// List the sessions you may see.
    List,
    /// Create a session and wait until it is idle (exit 1 if it dies while starting).
    Create(CreateArgs),
    /// Show one session.
    Show { id: u64 },
    /// Delete a session.
    Delete { id: u64 },
}

#[derive(Args, Debug, Clone)]
pub struct CreateArgs {
    /// Session kind: spark, pyspark, sparkr, sql (Livy 0.5+ sessions run all kinds).
    #[arg(long, default_value = "pyspark")]
    pub kind: String,
    /// A name for the session.
    #[arg(long)]
    pub name: Option<String>,
    /// Spark configuration, KEY=VALUE (repeatable).
    #[arg(long = "conf", value_name = "KEY=VALUE")]
    pub conf: Vec<String>,
    /// Return as soon as the server accepted the session, without waiting for it to be idle.
    #[arg(long)]
    pub no_wait: bool,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// The code to run.
    pub code: String,
    /// Statement kind: spark, pyspark, sparkr, sql.
    #[arg(long, default_value = "pyspark")]
    pub kind: String,
    /// Run in this session; without it a new session is created and deleted afterwards.
    #[arg(long)]
    pub session: Option<u64>,
    /// Keep the session created for this run (its id is printed on stderr).
    #[arg(long)]
    pub keep: bool,
}

/// The fields a session and a batch request share: `name`, the global `--proxy-user`, and the
/// `--conf KEY=VALUE` arguments as a JSON object.
pub fn add_common_fields(
    body: &mut Value,
    name: Option<&String>,
    g: &Global,
    conf: &[String],
) -> Result<(), CliError> {
    if let Some(n) = name {
        body["name"] = json!(n);
    }
    if let Some(p) = &g.proxy_user {
        body["proxyUser"] = json!(p);
    }
    let conf = conf_map(conf)?;
    if !conf.is_empty() {
        body["conf"] = Value::Object(conf);
    }
    Ok(())
}

/// `KEY=VALUE` arguments as a JSON object.
pub fn conf_map(pairs: &[String]) -> Result<Map<String, Value>, CliError> {
    let mut map = Map::new();
    for p in pairs {
        let (k, v) = p
            .split_once('=')
            .filter(|(k, _)| !k.is_empty())
            .ok_or_else(|| CliError::Usage(format!("--conf {p:?}: KEY=VALUE expected")))?;
        map.insert(k.to_string(), Value::String(v.to_string()));
    }
    Ok(map)
}

pub async fn sessions(client: &Client, g: &Global, cmd: SessionsCmd) -> Result<ExitCode, CliError> {
    match cmd {
        SessionsCmd::List => {
            let list = client.get("sessions?size=1000").await?;
            print!(
                "{}",
                if g.json() {
                    render::json(&list)
                } else {
                    render::resources(&list, "sessions", true)
                }
            );
        }
        SessionsCmd::Show { id } => {
            let s = client.get(&format!("sessions/{id}")).await?;
            print!("{}", render::json(&s));
        }
        SessionsCmd::Create(args) => {
            let s = create(client, g, &args).await?;
            let state = s.get("state").and_then(Value::as_str).unwrap_or("");
            if g.json() {
                print!("{}", render::json(&s));
            } else {
                println!("session {} {state}", s.get("id").unwrap_or(&Value::Null));
            }
            if !args.no_wait && state != "idle" {
                return Ok(ExitCode::from(1));
            }
        }
        SessionsCmd::Delete { id } => {
            let r = client.delete(&format!("sessions/{id}")).await?;
            if g.json() {
                print!("{}", render::json(&r));
            } else {
                println!("session {id} deleted");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Creates a session and, unless `no_wait`, polls it until it is idle or has ended; returns the
/// last view of it.
pub async fn create(client: &Client, g: &Global, args: &CreateArgs) -> Result<Value, CliError> {
    let mut body = json!({ "kind": args.kind });
    add_common_fields(&mut body, args.name.as_ref(), g, &args.conf)?;
    let mut s = client.post("sessions", body).await?;
    if args.no_wait {
        return Ok(s);
    }
    let id = s.get("id").cloned().unwrap_or(Value::Null);
    if !g.json() {
        eprintln!("session {id} starting…");
    }
    loop {
        match s.get("state").and_then(Value::as_str).unwrap_or("") {
            "not_started" | "starting" | "busy" => {}
            _ => return Ok(s),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        s = client.get(&format!("sessions/{id}")).await?;
    }
}

/// What became of a statement waited for.
pub enum Waited {
    Done(Value),
    /// Ctrl-C: the statement was asked to cancel; its last view.
    Interrupted(Value),
}

/// Submits `code` to session `sid` and waits for the result; Ctrl-C while waiting posts
/// `.../statements/{id}/cancel` and keeps waiting for the statement to end (a second Ctrl-C stops
/// waiting).
pub async fn run_statement(
    client: &Client,
    sid: u64,
    code: &str,
    kind: &str,
) -> Result<Waited, CliError> {
    let st = client
        .post(
            &format!("sessions/{sid}/statements"),
            json!({ "code": code, "kind": kind }),
        )
        .await?;
    let stid = st
        .get("id")
        .and_then(Value::as_u64)
        .ok_or_else(|| CliError::Server {
            status: 200,
            msg: "the statement has no id".into(),
        })?;
    let path = format!("sessions/{sid}/statements/{stid}");
    let mut last = st;
    let mut cancelled = false;
    loop {
        if finished(&last) {
            return Ok(if cancelled {
                Waited::Interrupted(last)
            } else {
                Waited::Done(last)
            });
        }
        // `wait` is livy-rs's long poll; Apache Livy ignores it and answers at once.
        let poll = async {
            let v = client.get(&format!("{path}?wait=5")).await?;
            if v.get("state")
                .and_then(Value::as_str)
                .is_some_and(|s| !matches!(s, "available" | "error" | "cancelled"))
            {
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            Ok::<Value, CliError>(v)
        };
        tokio::select! {
            v = poll => last = v?,
            _ = tokio::signal::ctrl_c() => {
                if cancelled {
                    return Ok(Waited::Interrupted(last));
                }
                cancelled = true;
                eprintln!("cancelling statement {stid}…");
                client.post(&format!("{path}/cancel"), json!({})).await?;
            }
        }
    }
}

fn finished(st: &Value) -> bool {
    matches!(
        st.get("state").and_then(Value::as_str),
        Some("available" | "error" | "cancelled")
    )
}

/// Prints a finished statement as the user asked; true when it failed.
pub fn print_statement(json: bool, st: &Value) -> bool {
    let (out, err, failed) = render::statement_output(st);
    if json {
        print!("{}", render::json(st));
    } else {
        print!("{out}");
    }
    eprint!("{err}");
    failed || st.get("state").and_then(Value::as_str) == Some("error")
}

pub async fn run(client: &Client, g: &Global, args: RunArgs) -> Result<ExitCode, CliError> {
    let (sid, created) = match args.session {
        Some(id) => (id, false),
        None => {
            let create_args = CreateArgs {
                kind: args.kind.clone(),
                name: None,
                conf: vec![],
                no_wait: false,
            };
            let s = create(client, g, &create_args).await?;
            let id = s.get("id").and_then(Value::as_u64).unwrap_or(0);
            if s.get("state").and_then(Value::as_str) != Some("idle") {
                return Err(CliError::Failed(format!(
                    "session {id} did not start: {}",
                    s.get("state").map(|v| v.to_string()).unwrap_or_default()
                )));
            }
            (id, true)
        }
    };
    let result = run_statement(client, sid, &args.code, &args.kind).await;
    if created {
        if args.keep {
            eprintln!("session {sid} kept");
        } else if let Err(e) = client.delete(&format!("sessions/{sid}")).await {
            eprintln!("livy: deleting session {sid}: {e}");
        }
    }
    Ok(match result? {
        Waited::Done(st) => {
            if print_statement(g.json(), &st) {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Waited::Interrupted(st) => {
            print_statement(g.json(), &st);
            ExitCode::from(INTERRUPTED)
        }
    })
}
