//! What can go wrong in the `livy` client, each kind with the exit code a script can rely on
//! (documented in `livy --help` and docs/CLI.md).

use std::process::ExitCode;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A statement, session or batch ended in error (exit 1).
    #[error("{0}")]
    Failed(String),
    /// Bad arguments (exit 2; clap's own parse errors exit 2 as well).
    #[error("{0}")]
    Usage(String),
    /// The server cannot be reached, TLS failed, or it refused our credentials (exit 3).
    #[error("{0}")]
    Connection(String),
    /// The session, statement or batch does not exist (exit 4).
    #[error("{0}")]
    NotFound(String),
    /// Any other error answer of the server, with its `msg` (exit 5).
    #[error("the server answered {status}: {msg}")]
    Server { status: u16, msg: String },
}

impl CliError {
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self {
            CliError::Failed(_) => 1,
            CliError::Usage(_) => 2,
            CliError::Connection(_) => 3,
            CliError::NotFound(_) => 4,
            CliError::Server { .. } => 5,
        })
    }
}

/// The exit-code table shown at the end of `livy --help`.
pub const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  a statement, session or batch failed (error output, dead, killed)
  2  usage error (bad arguments)
  3  connection, TLS or authentication error (including 401/403)
  4  not found (404)
  5  any other error answer of the server
  130 interrupted (Ctrl-C) while waiting";
