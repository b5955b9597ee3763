//! `livy-server`: parses the command line and hands over to the library.

use clap::{Parser, Subcommand};
use livy_rs::conf::monitoring::LogFormat;
use livy_rs::conf::{Env, LivyConf};
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
    let mut env = Env::from_process();
    if let Some(dir) = cli.conf_dir {
        env.livy_conf_dir = Some(dir);
    }
    let command = cli.command.unwrap_or(Command::Run);
    // The log's queue is flushed when this guard drops, before `exit` (which runs no destructor).
    let mut log = None;
    if matches!(command, Command::Validate) {
        log = Some(livy_rs::app::init_logging(LogFormat::Text));
    }
    let code = match command {
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
            // livy.conf chooses the log's format, so it is read first and reported after.
            let loaded = LivyConf::load(&env);
            log = Some(livy_rs::app::init_logging(
                loaded
                    .as_ref()
                    .map_or(LogFormat::Text, |l| l.conf.server.log_format),
            ));
            match livy_rs::app::report_conf(loaded) {
                None => 1,
                Some(conf) => match tokio::runtime::Builder::new_multi_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime.block_on(livy_rs::app::run(conf)),
                    Err(e) => {
                        livy_rs::app::tell_stderr(format_args!(
                            "cannot start the async runtime: {e}"
                        ));
                        1
                    }
                },
            }
        }
    };
    drop(log);
    std::process::exit(code);
}
