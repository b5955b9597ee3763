//! The driver: the program of ours that runs inside Spark for an interactive session, and the
//! authenticated, encrypted channel it connects back to the server on.

pub mod channel;
pub mod link;
pub mod program;
pub mod protocol;
pub mod tls;

#[cfg(test)]
mod client;
#[cfg(test)]
mod link_tests;
#[cfg(test)]
mod tests;

pub use program::{
    write_program, DRIVER_FILE, DRIVER_PACKAGE_ZIP, DRIVER_PY, SCALA_BRIDGE, SCALA_BRIDGE_FILE,
};

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
