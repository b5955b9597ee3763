//! Sessions and batches by state, counted at scrape time from the registries that own them
//! (nothing is counted twice, so the gauges cannot drift from what `GET /sessions` shows).

use crate::batches::Batches;
use crate::sessions::{InteractiveSessions, SessionState};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use std::sync::Arc;

/// Every state, so a state with nothing in it shows 0 rather than vanishing from the scrape.
const STATES: [SessionState; 11] = [
    SessionState::NotStarted,
    SessionState::Starting,
    SessionState::Recovering,
    SessionState::Idle,
    SessionState::Running,
    SessionState::Busy,
    SessionState::ShuttingDown,
    SessionState::Error,
    SessionState::Dead,
    SessionState::Killed,
    SessionState::Success,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: &'static str,
}

/// Reads the server's sessions and batches on each scrape.
pub struct StateCollector {
    pub sessions: Arc<InteractiveSessions>,
    pub batches: Arc<Batches>,
}

impl std::fmt::Debug for StateCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StateCollector")
    }
}

/// How many of `states` are in each of [`STATES`].
fn tally(states: impl Iterator<Item = SessionState>) -> [i64; STATES.len()] {
    let mut counts = [0i64; STATES.len()];
    for s in states {
        if let Some(i) = STATES.iter().position(|known| *known == s) {
            counts[i] += 1;
        }
    }
    counts
}

fn encode_by_state(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    counts: [i64; STATES.len()],
) -> Result<(), std::fmt::Error> {
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (state, count) in STATES.iter().zip(counts) {
        let labels = StateLabels {
            state: state.as_str(),
        };
        ConstGauge::new(count).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

impl Collector for StateCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let sessions = tally(self.sessions.registry().all().iter().map(|s| s.state()));
        let batches = tally(self.batches.registry().all().iter().map(|b| b.state()));
        encode_by_state(
            &mut encoder,
            "sessions",
            "Interactive sessions the server knows, by state",
            sessions,
        )?;
        encode_by_state(
            &mut encoder,
            "batches",
            "Batches the server knows, by state",
            batches,
        )?;
        if let Some(pool) = self.sessions.pool_stats() {
            encode_pool(&mut encoder, &pool)?;
        }
        Ok(())
    }
}

/// The warm pool (only when a pool profile is configured), labelled by profile: drivers by
/// condition as gauges, what it has done since start as counters.
fn encode_pool(
    encoder: &mut DescriptorEncoder,
    pool: &[crate::sessions::pool::PoolStats],
) -> Result<(), std::fmt::Error> {
    use prometheus_client::metrics::counter::ConstCounter;
    #[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
    struct Condition {
        profile: String,
        condition: &'static str,
    }
    #[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
    struct Profile {
        profile: String,
    }
    let mut family = encoder.encode_descriptor(
        "session_pool_drivers",
        "Drivers of the warm pool by profile: ready (started, connected, not taken), refilling (starting), in_use (taken by a session that has not ended)",
        None,
        MetricType::Gauge,
    )?;
    for p in pool {
        for (condition, n) in [
            ("ready", p.ready),
            ("refilling", p.refilling),
            ("in_use", p.in_use),
        ] {
            let labels = Condition {
                profile: p.profile.clone(),
                condition,
            };
            ConstGauge::new(n as i64).encode(family.encode_family(&labels)?)?;
        }
    }
    type Count = fn(&crate::sessions::pool::PoolStats) -> u64;
    let counters: [(&str, &str, Count); 3] = [
        (
            "session_pool_handed_out",
            "Pooled drivers handed to a new session, by profile",
            |p| p.handed_out,
        ),
        (
            "session_pool_failures",
            "Pooled drivers that failed before they were taken, by profile",
            |p| p.failures,
        ),
        (
            "session_pool_recycled",
            "Ready pooled drivers replaced after their profile's ttl unused, by profile",
            |p| p.recycled,
        ),
    ];
    for (name, help, count) in counters {
        let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
        for p in pool {
            let labels = Profile {
                profile: p.profile.clone(),
            };
            ConstCounter::new(count(p)).encode(family.encode_family(&labels)?)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_is_counted() {
        let counts =
            tally([SessionState::Idle, SessionState::Idle, SessionState::Dead].into_iter());
        assert_eq!(counts[3], 2);
        assert_eq!(counts[8], 1);
        assert_eq!(counts.iter().sum::<i64>(), 3);
    }
}
