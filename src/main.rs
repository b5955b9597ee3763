//! `livy-server`: parses the command line and hands over to the library.

use clap::{Parser, Subcommand};
use livy_rs::conf::Env;
use std::io::IsTerminal;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "livy-server",
    version,
    about = "A Livy-compatible REST server for Spark"
)]
struct Cli {
    /// Configuration directory (default: $LIVY_CONF_DIR, else $LIVY_HOME/conf, else ./conf).
    #[arg(long, global = true)]
    conf_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server in the foreground (the default).
    Run,
    /// Check the configuration and print every problem found, then exit.
    Validate,
    /// Print the OpenAPI document of the REST API (served at /openapi.json), then exit.
    Openapi,
}

fn main() {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LIVY_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let mut env = Env::from_process();
    if let Some(dir) = cli.conf_dir {
        env.livy_conf_dir = Some(dir);
    }
    let code = match cli.command.unwrap_or(Command::Run) {
        Command::Openapi => {
            print!("{}", livy_rs::api::openapi::document_text());
            0
        }
        Command::Validate => match livy_rs::app::load_conf(&env) {
            Some(conf) => {
                println!(
                    "configuration in {} is valid (Spark {} at {}, master {})",
                    conf.paths.conf_dir.display(),
                    conf.spark.version.as_deref().unwrap_or("unknown version"),
                    conf.spark.home.display(),
                    conf.spark.master
                );
                0
            }
            None => 1,
        },
        Command::Run => {
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("livy-server: cannot start the async runtime: {e}");
                    std::process::exit(1);
                }
            };
            runtime.block_on(livy_rs::app::run(env))
        }
    };
    std::process::exit(code);
}
