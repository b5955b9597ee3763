//! auth_to_local rules, a principal and a default realm, separated by NUL.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut parts = text.splitn(3, '\0');
    let rules = parts.next().unwrap_or_default();
    let principal = parts.next().unwrap_or("alice/admin@FUZZ.TEST");
    let realm = parts.next().unwrap_or("FUZZ.TEST");
    livy_rs::fuzzing::name_rules(rules, principal, realm);
});
