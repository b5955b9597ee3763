//! REST requests (method, path, headers, body) through the whole router, in-process. A panic
//! anywhere, a 5xx, an error that is not in Livy's `{"msg": ...}` shape, or a request that does
//! not answer is a finding. An input starting with a line `#2` runs against a server with CSRF
//! protection and impersonation on; otherwise against the defaults.
#![no_main]

#[path = "common/harness.rs"]
mod harness;

use harness::{is_livy_error, parse_calls, Harness};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static DEFAULT: LazyLock<Harness> = LazyLock::new(|| Harness::new(&[]));
static STRICT: LazyLock<Harness> = LazyLock::new(|| {
    Harness::new(&[
        ("livy.server.csrf-protection.enabled", "true"),
        ("livy.impersonation.enabled", "true"),
        ("livy.superusers", "admin"),
        ("livy.server.session.allow-custom-classpath", "false"),
    ])
});

fuzz_target!(|data: &[u8]| {
    let (h, data) = match data.strip_prefix(b"#2\n") {
        Some(rest) => (&*STRICT, rest),
        None => (&*DEFAULT, data),
    };
    let calls = parse_calls(data);
    h.rt.block_on(async {
        for call in &calls {
            let (resp, body) = h.send(call).await;
            let status = resp.status();
            assert!(
                !status.is_server_error(),
                "{} {} answered {status}: {}",
                call.method,
                call.uri,
                String::from_utf8_lossy(&body)
            );
            if status.is_client_error() && call.method != axum::http::Method::HEAD {
                assert!(
                    is_livy_error(&body),
                    "{} {} answered {status} not in Livy's shape: {:?}",
                    call.method,
                    call.uri,
                    String::from_utf8_lossy(&body)
                );
            }
        }
        h.reset().await;
    });
});
