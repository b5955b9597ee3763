//! The `livy` command-line client; everything is in `livy_rs::cli`.
fn main() -> std::process::ExitCode {
    livy_rs::cli::main()
}
