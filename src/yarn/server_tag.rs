//! The server tag: a YARN application tag every app this server launches carries after its
//! unique `livy-batch-…`/`livy-session-…` tag, so the monitor can list all of them with one
//! short request however many there are (see [`super::monitor`]).
//!
//! It is `livy.server.yarn.server-tag` when set (empty disables it), else
//! `livy-server-<host>-<port>`: stable across restarts of the same server, so a restarted
//! server (session recovery) still finds the apps it launched before, and different servers on
//! one cluster do not list each other's apps. Servers that share one state store and take over
//! each other's sessions can set the same value: each then sees the whole group's apps in its
//! listing and keeps the ones it tracks (the others are ignored).

/// YARN refuses a tag longer than this (`YarnConfiguration.APPLICATION_MAX_TAG_LENGTH`).
pub const MAX_TAG_LENGTH: usize = 100;
/// YARN refuses a submission with more tags than this (`APPLICATION_MAX_TAGS`).
pub const MAX_TAGS: usize = 10;

/// The server tag from the configured value (`None`: unset) and the server's address.
/// `Ok(None)` when disabled; `Err` says what is wrong with a configured value.
pub fn from_conf(
    configured: Option<&str>,
    host: &str,
    port: u16,
) -> Result<Option<String>, String> {
    match configured.map(str::trim) {
        Some("") => Ok(None),
        Some(value) => check(value).map(Some),
        None => Ok(Some(default_tag(host, port))),
    }
}

/// `livy-server-<host>-<port>`; a wildcard host is replaced by the machine's name.
fn default_tag(host: &str, port: u16) -> String {
    let host = match host.trim() {
        "" | "0.0.0.0" | "::" | "[::]" => nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_else(|| "localhost".into()),
        h => h.to_string(),
    };
    let mut tag: String = format!("livy-server-{host}-{port}")
        .to_lowercase()
        .chars()
        .map(|c| match c {
            'a'..='z' | '0'..='9' | '.' | '-' | '_' => c,
            _ => '-',
        })
        .collect();
    if tag.len() > MAX_TAG_LENGTH {
        // Keep the port (the end) distinct: cut the host in the middle of the tag.
        let tail = tag.split_off(tag.len() - 20);
        tag.truncate(MAX_TAG_LENGTH - tail.len());
        tag.push_str(&tail);
    }
    tag
}

/// A configured tag as YARN will store it (lower-case), if YARN accepts it.
fn check(value: &str) -> Result<String, String> {
    if !value.is_ascii() {
        return Err(format!(
            "'{value}' has non-ASCII characters (YARN refuses such tags)"
        ));
    }
    if value.contains(',') {
        return Err(format!("'{value}' has a comma (it would be two tags)"));
    }
    if value.len() > MAX_TAG_LENGTH {
        return Err(format!(
            "'{value}' is longer than YARN's {MAX_TAG_LENGTH}-character limit for tags"
        ));
    }
    Ok(value.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_host_and_port_lower_cased_and_yarn_safe() {
        assert_eq!(
            from_conf(None, "Edge-1.Example.COM", 8998)
                .unwrap()
                .unwrap(),
            "livy-server-edge-1.example.com-8998"
        );
        let wildcard = from_conf(None, "0.0.0.0", 8998).unwrap().unwrap();
        assert!(wildcard.starts_with("livy-server-") && wildcard.ends_with("-8998"));
        assert!(!wildcard.contains("0.0.0.0"));
        let long = from_conf(None, &"h".repeat(300), 18998).unwrap().unwrap();
        assert_eq!(long.len(), MAX_TAG_LENGTH);
        assert!(long.ends_with("-18998"), "{long}");
        let odd = from_conf(None, "fe80::1%eth0", 1).unwrap().unwrap();
        assert_eq!(odd, "livy-server-fe80--1-eth0-1");
    }

    #[test]
    fn configured_value_is_checked_and_empty_disables() {
        assert_eq!(from_conf(Some("  "), "h", 1), Ok(None));
        assert_eq!(
            from_conf(Some("Livy-Prod"), "h", 1),
            Ok(Some("livy-prod".into()))
        );
        for bad in ["a,b", "é", &"x".repeat(101)] {
            assert!(from_conf(Some(bad), "h", 1).is_err(), "{bad}");
        }
    }
}
