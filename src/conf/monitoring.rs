//! How the server is watched: the format of its own log (`livy.server.log.format`) and who may
//! scrape `/metrics` without credentials (`livy.server.metrics.allowed-addresses`).
//!
//! Apache Livy has neither key (its logging is log4j.properties, and its `/metrics` is a
//! Dropwizard admin servlet behind the same filters as the API), so both are livy-rs's own, and
//! any other `livy.server.metrics.*` or `livy.server.log.*` key is refused rather than ignored:
//! a misspelt allow-list must not leave a scraper locked out, nor a format silently unchanged.

use super::keys;
use ipnet::IpNet;
use std::net::IpAddr;

/// The server log's line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// `tracing`'s human-readable lines (the default).
    #[default]
    Text,
    /// One JSON object per line (`tracing-subscriber`'s JSON formatter); the request log
    /// (livy-requests.*.log) is then JSON lines too.
    Json,
}

/// `/metrics` access.
#[derive(Debug, Clone, Default)]
pub struct MetricsConf {
    /// Peers (addresses or CIDR blocks) that may read `/metrics` without authenticating, e.g. a
    /// Prometheus server. Everyone else goes through authentication and the ACLs.
    pub allowed_addresses: Vec<IpNet>,
}

impl MetricsConf {
    /// Whether `peer` is one of the allowed scrapers. An IPv4 peer seen as an IPv4-mapped IPv6
    /// address (a dual-stack listener) matches its IPv4 entry.
    pub fn allows(&self, peer: IpAddr) -> bool {
        let peer = match peer {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(peer, IpAddr::V4),
            v4 => v4,
        };
        self.allowed_addresses.iter().any(|net| net.contains(&peer))
    }
}

/// Whether `name` is under a prefix this module owns (unknown keys there are refused).
pub fn owns(name: &str) -> bool {
    name.starts_with("livy.server.metrics.") || name.starts_with("livy.server.log.")
}

/// Reads the log format; a value other than text or json is a problem.
pub fn log_format(value: Option<&str>, problems: &mut Vec<String>) -> LogFormat {
    match value.map(str::trim) {
        None | Some("") => LogFormat::Text,
        Some(v) if v.eq_ignore_ascii_case("text") => LogFormat::Text,
        Some(v) if v.eq_ignore_ascii_case("json") => LogFormat::Json,
        Some(v) => {
            problems.push(format!(
                "{}: value '{v}' is not valid; expected text or json",
                keys::LOG_FORMAT
            ));
            LogFormat::Text
        }
    }
}

/// Reads the allowed scraper addresses: each an IP address or a CIDR block.
pub fn metrics(addresses: Vec<String>, problems: &mut Vec<String>) -> MetricsConf {
    let mut allowed_addresses = Vec::new();
    for entry in addresses {
        let parsed = entry
            .parse::<IpNet>()
            .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from));
        match parsed {
            Ok(net) => allowed_addresses.push(net.trunc()),
            Err(_) => problems.push(format!(
                "{}: '{entry}' is not an IP address or CIDR block (e.g. 10.0.0.5, 10.1.0.0/16, ::1)",
                keys::METRICS_ALLOWED_ADDRESSES
            )),
        }
    }
    MetricsConf { allowed_addresses }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_addresses_take_ips_and_blocks() {
        let mut problems = Vec::new();
        let conf = metrics(
            vec!["127.0.0.1".into(), "10.1.0.0/16".into(), "::1".into()],
            &mut problems,
        );
        assert!(problems.is_empty(), "{problems:?}");
        for ok in ["127.0.0.1", "10.1.200.3", "::1", "::ffff:127.0.0.1"] {
            assert!(conf.allows(ok.parse().unwrap()), "{ok}");
        }
        for no in ["127.0.0.2", "10.2.0.1", "::2"] {
            assert!(!conf.allows(no.parse().unwrap()), "{no}");
        }
        metrics(
            vec!["localhost".into(), "10.0.0.0/33".into()],
            &mut problems,
        );
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(MetricsConf::default().allowed_addresses.is_empty());
    }

    #[test]
    fn log_format_is_text_or_json() {
        let mut problems = Vec::new();
        assert_eq!(log_format(None, &mut problems), LogFormat::Text);
        assert_eq!(log_format(Some("JSON"), &mut problems), LogFormat::Json);
        assert_eq!(log_format(Some("text"), &mut problems), LogFormat::Text);
        assert!(problems.is_empty());
        log_format(Some("xml"), &mut problems);
        assert_eq!(problems.len(), 1);
        assert!(owns("livy.server.metrics.enabled") && owns("livy.server.log.level"));
        assert!(!owns("livy.server.logs"));
    }
}
