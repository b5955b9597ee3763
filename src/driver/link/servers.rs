//! The service's servers, told to the driver (active/active): on connect and at every change of
//! the live set, so a driver that loses every server it knew still finds one that joined after
//! its launch. The list travels on the authenticated channel like any other message.

use super::Link;
use crate::driver::protocol::ToDriver;
use tokio::sync::watch;

/// The driver-channel addresses of the live servers, as membership watches them.
pub type Servers = watch::Receiver<Vec<String>>;

/// The next list of servers; `None` once the watch has ended (its sender is gone), after which
/// `servers` is `None` and this waits forever (a `select!` branch that is off).
pub(super) async fn next(servers: &mut Option<Servers>) -> Option<Vec<String>> {
    let Some(rx) = servers else {
        return std::future::pending().await;
    };
    if rx.changed().await.is_ok() {
        return Some(rx.borrow_and_update().clone());
    }
    *servers = None;
    None
}

/// The list as it is now (marked seen, so only later changes wake [`next`]).
pub(super) fn current(servers: &mut Option<Servers>) -> Option<Vec<String>> {
    servers.as_mut().map(|rx| rx.borrow_and_update().clone())
}

impl Link {
    /// Sends the list of servers; an empty one (membership not read yet) is not worth a message.
    /// A failed send is handled by [`Link::send`] like any other.
    pub(super) async fn tell_servers(&mut self, servers: Option<Vec<String>>) {
        let Some(servers) = servers.filter(|s| !s.is_empty()) else {
            return;
        };
        tracing::debug!(
            session_id = self.session.id,
            ?servers,
            "telling the driver the servers of the service"
        );
        let _ = self.send(&ToDriver::Servers { servers }).await;
    }
}
