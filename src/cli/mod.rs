//! `livy`: the command-line client of a Livy server (ours or Apache Livy). The command line is
//! parsed here (clap derive); each resource has its module: [`sessions`] (sessions and `run`),
//! [`repl`], [`batches`]. The HTTP side, auth and TLS are in [`client`]; what the user sees in
//! [`render`]; exit codes in [`error`]. See docs/CLI.md.

pub mod batches;
pub mod client;
pub mod error;
pub mod render;
pub mod repl;
pub mod sessions;

use clap::{Args, Parser, Subcommand, ValueEnum};
use client::{Auth, Client, ConnectOptions};
use error::CliError;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(name = "livy", version, about = "Command-line client of a Livy server",
    after_help = error::EXIT_CODES)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Debug)]
pub struct Global {
    /// The server's URL.
    #[arg(
        long,
        global = true,
        env = "LIVY_URL",
        default_value = "http://localhost:8998"
    )]
    pub url: String,
    /// A PEM file of CA certificates to trust for https:// (besides the built-in roots).
    #[arg(long, global = true)]
    pub ca_file: Option<PathBuf>,
    /// Authenticate with this user name (LDAP/basic); the password comes from the environment
    /// variable LIVY_PASSWORD or is asked for on the terminal.
    #[arg(long, global = true, conflicts_with = "kerberos")]
    pub user: Option<String>,
    /// Authenticate with Kerberos (SPNEGO) using your ticket cache (kinit first).
    #[arg(long, global = true)]
    pub kerberos: bool,
    /// Run sessions and batches as this user (impersonation; needs the server's permission).
    #[arg(long, global = true)]
    pub proxy_user: Option<String>,
    /// Output format: text for people, json for scripts (stable JSON on stdout).
    #[arg(long, global = true, value_enum, default_value_t = Output::Text)]
    pub output: Output,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Interactive sessions.
    #[command(subcommand)]
    Sessions(sessions::SessionsCmd),
    /// Run one statement (in --session ID, or in a new session deleted afterwards) and print its output.
    Run(sessions::RunArgs),
    /// An interactive shell on a session (line editing, history; Ctrl-C cancels a statement).
    Repl(repl::ReplArgs),
    /// Batch jobs.
    #[command(subcommand)]
    Batches(batches::BatchesCmd),
}

impl Global {
    pub fn client(&self) -> Result<Client, CliError> {
        let auth = if self.kerberos {
            Auth::Kerberos
        } else if let Some(user) = &self.user {
            let password = match std::env::var("LIVY_PASSWORD") {
                Ok(p) => p,
                Err(_) => rpassword::prompt_password(format!("Password for {user}: "))
                    .map_err(|e| CliError::Usage(format!("cannot read the password: {e}")))?,
            };
            Auth::Basic {
                user: user.clone(),
                password,
            }
        } else {
            Auth::None
        };
        Client::new(ConnectOptions {
            url: self.url.clone(),
            ca_file: self.ca_file.clone(),
            auth,
        })
    }

    pub fn json(&self) -> bool {
        self.output == Output::Json
    }
}

/// Entry point of the `livy` binary: parse, run, print the error, map it to the exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("livy: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("livy: {e}");
            e.exit_code()
        }
    }
}

pub async fn run(cli: Cli) -> Result<ExitCode, CliError> {
    let client = cli.global.client()?;
    match cli.command {
        Command::Sessions(cmd) => sessions::sessions(&client, &cli.global, cmd).await,
        Command::Run(args) => sessions::run(&client, &cli.global, args).await,
        Command::Repl(args) => repl::repl(client, &cli.global, args).await,
        Command::Batches(cmd) => batches::batches(&client, &cli.global, cmd).await,
    }
}

/// Exit code of a wait cut short by Ctrl-C (128 + SIGINT, as shells report it).
pub const INTERRUPTED: u8 = 130;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_run_with_globals_after_the_subcommand() {
        let cli = Cli::try_parse_from([
            "livy",
            "run",
            "--kind",
            "pyspark",
            "1+1",
            "--session",
            "3",
            "--output",
            "json",
            "--url",
            "http://h:1",
        ])
        .unwrap();
        assert_eq!(cli.global.output, Output::Json);
        assert_eq!(cli.global.url, "http://h:1");
        match cli.command {
            Command::Run(r) => {
                assert_eq!(r.session, Some(3));
                assert_eq!(r.code, "1+1");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn options_after_the_batch_arguments_are_options() {
        let cli = Cli::try_parse_from([
            "livy", "batches", "submit", "job.py", "a", "--wait", "--", "-b",
        ])
        .unwrap();
        match cli.command {
            Command::Batches(batches::BatchesCmd::Submit(s)) => {
                assert!(s.wait);
                assert_eq!(s.args, ["a", "-b"]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn there_is_no_password_option() {
        let err = Cli::try_parse_from(["livy", "--password", "x", "sessions", "list"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn user_and_kerberos_conflict() {
        assert!(
            Cli::try_parse_from(["livy", "--user", "a", "--kerberos", "sessions", "list"]).is_err()
        );
    }
}
