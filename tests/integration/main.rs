//! The integration tests, one test binary: the REST router in-process (`api_*`, `ui`), the real
//! server binary (`shutdown`), and the YARN client library against the RM + WebHDFS emulator
//! (`yarn_*`). One binary rather than one per file: each binary is a crate of its own that
//! compiles its copy of the generic code it uses (axum, hyper, tokio) and links the whole library
//! with its debuginfo, which cost minutes of every test run; one binary also runs all these
//! tests on one pool of threads instead of one file after another.

mod common;

mod api_batches;
mod api_openapi;
mod api_requests;
mod shutdown;
mod ui;
mod yarn_client;
mod yarn_monitor;
mod yarn_redirects;
mod yarn_rest_submit;
mod yarn_shared_rm;
mod yarn_tokens;
