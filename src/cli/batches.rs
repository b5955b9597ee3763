//! `livy batches submit|list|status|delete|logs`: batch jobs, with a progress spinner while
//! waiting and the batch's log followed by polling `/batches/{id}/log` with `from`/`size`.

use super::client::Client;
use super::error::CliError;
use super::sessions::add_common_fields;
use super::{render, Global, INTERRUPTED};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};
use std::process::ExitCode;
use std::time::Duration;

#[derive(Subcommand, Debug)]
pub enum BatchesCmd {
    /// Submit a batch: FILE is a path or URI as the server sees it (a local path must be in the
    /// server's livy.file.local-dir-whitelist); a relative path that exists here is made absolute.
    Submit(SubmitArgs),
    /// List the batches you may see.
    List,
    /// Show a batch (exit 1 if it is dead or killed).
    Status { id: u64 },
    /// Delete (kill) a batch.
    Delete { id: u64 },
    /// Print a batch's log; with -f, follow new lines until the batch ends.
    Logs {
        id: u64,
        #[arg(short, long)]
        follow: bool,
    },
}

#[derive(Args, Debug)]
pub struct SubmitArgs {
    pub file: String,
    /// Arguments of the application (after `--` when one starts with `-`).
    pub args: Vec<String>,
    /// Main class (for a jar).
    #[arg(long)]
    pub class_name: Option<String>,
    #[arg(long)]
    pub name: Option<String>,
    /// Spark configuration, KEY=VALUE (repeatable).
    #[arg(long = "conf", value_name = "KEY=VALUE")]
    pub conf: Vec<String>,
    /// Wait for the batch to end, following its log; exit 1 unless it succeeded.
    #[arg(long)]
    pub wait: bool,
}

/// Batch states after which nothing changes.
fn ended(state: &str) -> bool {
    matches!(state, "success" | "dead" | "killed" | "error")
}

pub async fn batches(client: &Client, g: &Global, cmd: BatchesCmd) -> Result<ExitCode, CliError> {
    match cmd {
        BatchesCmd::Submit(args) => submit(client, g, args).await,
        BatchesCmd::List => {
            let list = client.get("batches?size=1000").await?;
            print!(
                "{}",
                if g.json() {
                    render::json(&list)
                } else {
                    render::resources(&list, "sessions", false)
                }
            );
            Ok(ExitCode::SUCCESS)
        }
        BatchesCmd::Status { id } => {
            let b = client.get(&format!("batches/{id}")).await?;
            let state = b
                .get("state")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            if g.json() {
                print!("{}", render::json(&b));
            } else {
                println!("batch {id} {state}");
            }
            Ok(if matches!(state.as_str(), "dead" | "killed" | "error") {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        BatchesCmd::Delete { id } => {
            let r = client.delete(&format!("batches/{id}")).await?;
            if g.json() {
                print!("{}", render::json(&r));
            } else {
                println!("batch {id} deleted");
            }
            Ok(ExitCode::SUCCESS)
        }
        BatchesCmd::Logs { id, follow } => {
            let mut log = LogFollower::new(id);
            if !follow {
                for line in log.poll(client).await? {
                    println!("{line}");
                }
                return Ok(ExitCode::SUCCESS);
            }
            let state = tokio::select! {
                s = log.follow(client, |_| {}, |l| println!("{l}")) => s?,
                _ = tokio::signal::ctrl_c() => return Ok(ExitCode::from(INTERRUPTED)),
            };
            Ok(if state == "success" {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}

/// Reads a batch's log from where it left off: each line is handed out once. The log the server
/// gives is Livy's view, `stdout: ` lines then `stderr: ` lines (and YARN diagnostics), so new
/// output can appear in the middle of it: the whole log is read each time (the server bounds it)
/// and each section's lines past those already seen are new.
pub struct LogFollower {
    id: u64,
    /// Lines seen per section, in the order the sections appear.
    seen: Vec<(String, usize)>,
}

/// Splits the log at its section headers (`stdout: `, `stderr: `, `YARN Diagnostics: `).
fn sections(lines: Vec<String>) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = vec![(String::new(), Vec::new())];
    for l in lines {
        if matches!(l.trim(), "stdout:" | "stderr:" | "YARN Diagnostics:") {
            out.push((l.trim().to_string(), Vec::new()));
        } else if let Some(last) = out.last_mut() {
            last.1.push(l);
        }
    }
    out
}

impl LogFollower {
    pub fn new(id: u64) -> Self {
        LogFollower {
            id,
            seen: Vec::new(),
        }
    }

    /// The lines not handed out before.
    pub async fn poll(&mut self, client: &Client) -> Result<Vec<String>, CliError> {
        const PAGE: u64 = 1000;
        let mut all = Vec::new();
        loop {
            let page = client
                .get(&format!(
                    "batches/{}/log?from={}&size={PAGE}",
                    self.id,
                    all.len()
                ))
                .await?;
            let lines: Vec<String> = page
                .get("log")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .map(|l| l.as_str().unwrap_or_default().to_string())
                        .collect()
                })
                .unwrap_or_default();
            let n = lines.len() as u64;
            all.extend(lines);
            let total = page.get("total").and_then(Value::as_u64).unwrap_or(0);
            if n < PAGE || all.len() as u64 >= total {
                break;
            }
        }
        let mut out = Vec::new();
        for (name, lines) in sections(all) {
            let idx = match self.seen.iter().position(|(n, _)| *n == name) {
                Some(i) => i,
                None => {
                    self.seen.push((name, 0));
                    self.seen.len() - 1
                }
            };
            let done = self.seen[idx].1;
            // Blank lines between sections are Livy's layout, not the application's output.
            out.extend(lines.iter().skip(done).filter(|l| !l.is_empty()).cloned());
            self.seen[idx].1 = done.max(lines.len());
        }
        Ok(out)
    }

    /// Hands each state seen to `state` and each new line to `line` until the batch has ended and
    /// its log is read to the end; returns the final state.
    pub async fn follow(
        &mut self,
        client: &Client,
        mut state: impl FnMut(&str),
        mut line: impl FnMut(&str),
    ) -> Result<String, CliError> {
        loop {
            // The state first: lines written before it ended are all there when it reads ended.
            let now = batch_state(client, self.id).await?;
            state(&now);
            for l in self.poll(client).await? {
                line(&l);
            }
            if ended(&now) {
                return Ok(now);
            }
            tokio::time::sleep(Duration::from_millis(700)).await;
        }
    }
}

async fn batch_state(client: &Client, id: u64) -> Result<String, CliError> {
    let s = client.get(&format!("batches/{id}/state")).await?;
    Ok(s.get("state")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string())
}

async fn submit(client: &Client, g: &Global, args: SubmitArgs) -> Result<ExitCode, CliError> {
    let mut file = args.file.clone();
    let local = std::path::Path::new(&file);
    if !file.contains("://") && local.is_relative() && local.exists() {
        if let Ok(abs) = local.canonicalize() {
            file = abs.to_string_lossy().into_owned();
        }
    }
    let mut body = json!({ "file": file });
    if !args.args.is_empty() {
        body["args"] = json!(args.args);
    }
    if let Some(c) = &args.class_name {
        body["className"] = json!(c);
    }
    add_common_fields(&mut body, args.name.as_ref(), g, &args.conf)?;
    let b = client.post("batches", body).await?;
    let id = b
        .get("id")
        .and_then(Value::as_u64)
        .ok_or_else(|| CliError::Server {
            status: 200,
            msg: "the batch has no id".into(),
        })?;
    if !args.wait {
        if g.json() {
            print!("{}", render::json(&b));
        } else {
            println!(
                "batch {id} {}",
                b.get("state").and_then(Value::as_str).unwrap_or("")
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    // The spinner on stderr (hidden when it is not a terminal); log lines above it on stdout.
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} batch {prefix} {msg} [{elapsed}]")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.set_prefix(id.to_string());
    bar.enable_steady_tick(Duration::from_millis(120));
    let json_out = g.json();
    let mut log = LogFollower::new(id);
    let follow = log.follow(
        client,
        |s| bar.set_message(s.to_string()),
        |l| {
            if !json_out {
                bar.suspend(|| println!("{l}"));
            }
        },
    );
    let state = tokio::select! {
        s = follow => s,
        _ = tokio::signal::ctrl_c() => {
            bar.finish_and_clear();
            eprintln!("stopped waiting; batch {id} goes on (livy batches delete {id} kills it)");
            return Ok(ExitCode::from(INTERRUPTED));
        }
    };
    bar.finish_and_clear();
    let state = state?;
    if json_out {
        print!(
            "{}",
            render::json(&client.get(&format!("batches/{id}")).await?)
        );
    } else {
        eprintln!("batch {id} {state}");
    }
    Ok(if state == "success" {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
