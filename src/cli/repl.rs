//! `livy repl`: an interactive shell on a session. rustyline gives line editing and a history
//! file (~/.livy_history); a line that opens a block (ends with `:` or `\`, or leaves a bracket
//! open) continues on `... ` lines until a blank line. Ctrl-C at the prompt clears the line;
//! while a statement runs it cancels the statement (POST .../statements/{id}/cancel). Ctrl-D quits.

use super::client::Client;
use super::error::CliError;
use super::sessions::{create, print_statement, run_statement, CreateArgs, Waited};
use super::Global;
use clap::Args;
use rustyline::error::ReadlineError;
use serde_json::Value;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Args, Debug)]
pub struct ReplArgs {
    /// Statement kind: spark, pyspark, sparkr, sql.
    #[arg(long, default_value = "pyspark")]
    pub kind: String,
    /// Use this session; without it a new session is created and deleted on exit.
    #[arg(long)]
    pub session: Option<u64>,
}

/// True when `code` needs more lines: an open bracket, or a last line ending in `:` or `\`.
pub fn needs_more(code: &str) -> bool {
    let mut depth: i64 = 0;
    let mut quote: Option<char> = None;
    let mut chars = code.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(_), '\\') => {
                chars.next();
            }
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '(' | '[' | '{') => depth += 1,
            (None, ')' | ']' | '}') => depth -= 1,
            _ => {}
        }
    }
    let last = code.lines().last().unwrap_or("").trim_end();
    depth > 0 || last.ends_with(':') || last.ends_with('\\')
}

pub async fn repl(client: Client, g: &Global, args: ReplArgs) -> Result<ExitCode, CliError> {
    let client = Arc::new(client);
    let (sid, created) = match args.session {
        Some(id) => (id, false),
        None => {
            let ca = CreateArgs {
                kind: args.kind.clone(),
                name: None,
                conf: vec![],
                no_wait: false,
            };
            let s = create(&client, g, &ca).await?;
            let id = s.get("id").and_then(Value::as_u64).unwrap_or(0);
            if s.get("state").and_then(Value::as_str) != Some("idle") {
                return Err(CliError::Failed(format!("session {id} did not start")));
            }
            (id, true)
        }
    };
    eprintln!(
        "session {sid} ({}) ready; Ctrl-D quits, Ctrl-C cancels a running statement",
        args.kind
    );
    let handle = tokio::runtime::Handle::current();
    let kind = args.kind.clone();
    let json = g.json();
    let c = client.clone();
    // rustyline blocks: the loop runs on a blocking thread and drives requests through the handle.
    let result = tokio::task::spawn_blocking(move || -> Result<(), CliError> {
        let mut rl = rustyline::DefaultEditor::new()
            .map_err(|e| CliError::Usage(format!("cannot open the terminal: {e}")))?;
        let history =
            std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".livy_history"));
        if let Some(h) = &history {
            let _ = rl.load_history(h);
        }
        loop {
            let mut code = String::new();
            let mut prompt = format!("{kind}> ");
            loop {
                match rl.readline(&prompt) {
                    Ok(line) => {
                        if !code.is_empty() {
                            code.push('\n');
                        }
                        code.push_str(&line);
                        let blank = line.trim().is_empty();
                        if (prompt.starts_with("...") && blank)
                            || (!prompt.starts_with("...") && !needs_more(&code))
                        {
                            break;
                        }
                        prompt = "... ".into();
                    }
                    Err(ReadlineError::Interrupted) => {
                        code.clear();
                        prompt = format!("{kind}> ");
                    }
                    Err(ReadlineError::Eof) => {
                        if let Some(h) = &history {
                            let _ = rl.save_history(h);
                        }
                        return Ok(());
                    }
                    Err(e) => return Err(CliError::Usage(format!("reading input: {e}"))),
                }
            }
            if code.trim().is_empty() {
                continue;
            }
            let _ = rl.add_history_entry(code.as_str());
            match handle.block_on(run_statement(&c, sid, &code, &kind)) {
                Ok(Waited::Done(st)) | Ok(Waited::Interrupted(st)) => {
                    print_statement(json, &st);
                }
                Err(e @ CliError::Connection(_)) => return Err(e),
                Err(e) => eprintln!("livy: {e}"),
            }
        }
    })
    .await
    .map_err(|e| CliError::Usage(format!("the REPL thread failed: {e}")))?;
    if created {
        if let Err(e) = client.delete(&format!("sessions/{sid}")).await {
            eprintln!("livy: deleting session {sid}: {e}");
        }
    }
    result.map(|()| ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::needs_more;

    #[test]
    fn blocks_and_brackets_continue() {
        assert!(needs_more("for i in range(3):"));
        assert!(needs_more("x = [1,\n 2"));
        assert!(needs_more("a = 1 + \\"));
        assert!(!needs_more("print(1)"));
        assert!(!needs_more("s = '(:'"));
    }
}
