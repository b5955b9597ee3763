//! The states a session or batch goes through, with Livy's names.

use serde::{Deserialize, Serialize};

/// Livy's `SessionState`, shared by interactive sessions and batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SessionState {
    NotStarted,
    Starting,
    Recovering,
    Idle,
    Running,
    Busy,
    ShuttingDown,
    Error,
    Dead,
    Killed,
    Success,
}

impl SessionState {
    /// Livy's `FinishedSessionState`: nothing more will happen to the session.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            SessionState::Error | SessionState::Dead | SessionState::Killed | SessionState::Success
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SessionState::NotStarted => "not_started",
            SessionState::Starting => "starting",
            SessionState::Recovering => "recovering",
            SessionState::Idle => "idle",
            SessionState::Running => "running",
            SessionState::Busy => "busy",
            SessionState::ShuttingDown => "shutting_down",
            SessionState::Error => "error",
            SessionState::Dead => "dead",
            SessionState::Killed => "killed",
            SessionState::Success => "success",
        }
    }
}

impl std::fmt::Display for SessionState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_with_livys_names() {
        assert_eq!(
            serde_json::to_string(&SessionState::NotStarted).unwrap(),
            "\"not_started\""
        );
        assert_eq!(
            serde_json::to_string(&SessionState::ShuttingDown).unwrap(),
            "\"shutting_down\""
        );
        for s in [
            SessionState::Idle,
            SessionState::Dead,
            SessionState::Success,
        ] {
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{s}\""));
        }
        assert!(SessionState::Killed.is_finished());
        assert!(!SessionState::Running.is_finished());
    }
}
