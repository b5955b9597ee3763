//! The driver: the program of ours that runs inside Spark for an interactive session, and the
//! authenticated, encrypted channel it connects back to the server on.

pub mod channel;
pub mod link;
pub mod protocol;
pub mod tls;

#[cfg(test)]
mod client;
#[cfg(test)]
mod link_tests;
#[cfg(test)]
mod tests;

/// The driver program, embedded so the package needs nothing but the binary; it is written to
/// the server's run directory and handed to spark-submit.
pub const DRIVER_PY: &str = include_str!("python/livy_rs_driver.py");

/// The Scala half of the `spark` kind, which the driver's Scala REPL interprets at start-up; it
/// is written beside the program (and shipped with it on YARN), where the program looks for it.
pub const SCALA_BRIDGE: &str = include_str!("python/livy_rs_bridge.scala");
/// Its file name beside the program.
pub const SCALA_BRIDGE_FILE: &str = "livy_rs_bridge.scala";

/// The file name of the driver's Java helper (src/driver/java, built by scripts/build-jobs-jar):
/// livy-api's `Job`/`JobContext` and the runner of `jobType: "spark"` jobs.
pub const JOBS_JAR: &str = "livy-rs-jobs.jar";

/// Where the Java helper is: next to the server's binary (a development build:
/// target/release), else in the installation's `jars/` beside `libexec/` (the packages:
/// /usr/lib/livy/jars). Without it the driver still runs Python jobs and answers Java ones
/// with an error that says the helper is missing.
pub fn jobs_jar() -> Option<std::path::PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let dir = exe.parent()?;
    [
        dir.join(JOBS_JAR),
        dir.parent()?.join("jars").join(JOBS_JAR),
    ]
    .into_iter()
    .find(|p| p.is_file())
}
