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
        )
    }
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
