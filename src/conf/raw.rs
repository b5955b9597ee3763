//! livy.conf's raw entries, sorted before anything is built: a deprecated name is read under
//! its new one (with a warning), a known key's value is checked against the form the key
//! requires, and a key livy-rs would not honour is refused or warned about, never silently
//! ignored.

use super::keys::{self, Kind};
use super::{ha, monitoring, pool, units};
use std::collections::BTreeMap;

/// livy.conf's entries, sorted.
pub(super) struct Entries {
    /// Known keys whose values passed their check (trimmed).
    pub explicit: BTreeMap<&'static str, String>,
    /// `livy.server.session.pool.*` keys beyond the simple ones: the pool's profiles.
    pub pool_keys: BTreeMap<String, String>,
}

/// Sorts the raw entries; what is wrong goes to `problems`, what is ignored to `warnings`.
pub(super) fn sort(
    raw: BTreeMap<String, String>,
    problems: &mut Vec<String>,
    warnings: &mut Vec<String>,
) -> Entries {
    let mut explicit: BTreeMap<&'static str, String> = BTreeMap::new();
    let mut pool_keys: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in raw {
        let canonical = match keys::DEPRECATED.iter().find(|(old, _)| *old == name) {
            Some((old, new)) => {
                warnings.push(format!(
                    "livy.conf: '{old}' is deprecated since Livy 0.4; use '{new}' instead"
                ));
                new.to_string()
            }
            None => name,
        };
        warnings.extend(keys::unsupported_warning(&canonical));
        match keys::find(&canonical) {
            Some(key) => match check(key.kind, &value) {
                Ok(()) => {
                    explicit.insert(key.name, value.trim().to_string());
                }
                Err(expected) => problems.push(format!(
                    "{}: value '{}' is not valid; expected {}",
                    key.name, value, expected
                )),
            },
            None if keys::is_open_ended(&canonical) => {}
            None if monitoring::owns(&canonical) => problems.push(format!(
                "{canonical}: unknown key; livy-rs knows {} and {}",
                keys::LOG_FORMAT,
                keys::METRICS_ALLOWED_ADDRESSES
            )),
            None if canonical.starts_with(pool::PREFIX) => {
                pool_keys.insert(canonical, value);
            }
            None if ha::unknown_key(&canonical).is_some() => {
                problems.extend(ha::unknown_key(&canonical))
            }
            None if canonical.starts_with("livy.") => {
                warnings.push(format!("livy.conf: unknown key '{canonical}' is ignored"))
            }
            None => warnings.push(format!(
                "livy.conf: '{canonical}' is ignored (only livy.* keys are read from livy.conf)"
            )),
        }
    }
    Entries {
        explicit,
        pool_keys,
    }
}

/// Checks a value against the form its key requires; the error names the expected form.
fn check(kind: Kind, value: &str) -> Result<(), String> {
    let v = value.trim();
    match kind {
        Kind::Str | Kind::List => Ok(()),
        Kind::Bool => {
            if v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("false") {
                Ok(())
            } else {
                Err("true or false".into())
            }
        }
        Kind::Int => v
            .parse::<i32>()
            .map(|_| ())
            .map_err(|_| "a 32-bit integer".into()),
        Kind::Duration => units::parse_duration(v).map(|_| ()),
        Kind::Size => units::parse_size(v).map(|_| ()),
    }
}
