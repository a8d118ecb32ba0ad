//! The WebSockets a signed-in citizen has open, ended with her session.
//!
//! A WebSocket handshake is authorised once, as the citizen: what the connection carries
//! afterwards is never asked about her session again. Found when tried: after her logout
//! (the session gone, every new request sent to log in again), a socket opened before kept
//! exchanging messages as her, its identity assertion given at the handshake, and a site's
//! pings alone keep such a socket open past its idle limit. Each upgrade of a signed-in
//! request holds an [`UpgradeTicket`] under its session; when the session ends on any
//! instance (a logout, a back-channel logout, a revocation followed from the shared store:
//! every path that evicts it from [`super::store::SessionCache`]), its tickets are marked,
//! and the connection is cut before its next message, either way, is passed on. A session
//! that ends otherwise (its idle or absolute timeout; a revocation sent while this
//! instance's feed was down) is found by a look at each session with an upgrade open, every
//! few seconds ([`super::Sso::background`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

/// The open upgrades of each session, by the session's store id.
#[derive(Debug, Default)]
pub struct LiveUpgrades {
    by_session: Mutex<HashMap<String, Vec<Weak<AtomicBool>>>>,
}

impl LiveUpgrades {
    /// A ticket for an upgrade asked for by session `id`, marked when the session ends.
    pub fn register(self: &Arc<Self>, id: &str) -> UpgradeTicket {
        let ended = Arc::new(AtomicBool::new(false));
        if let Ok(mut map) = self.by_session.lock() {
            map.entry(id.to_owned())
                .or_default()
                .push(Arc::downgrade(&ended));
        }
        UpgradeTicket {
            ended,
            registry: Arc::clone(self),
            session: id.to_owned(),
        }
    }

    /// Session `id` ended: its upgrades are cut at their next message.
    pub fn end(&self, id: &str) {
        let tickets = self.by_session.lock().ok().and_then(|mut m| m.remove(id));
        for ticket in tickets.into_iter().flatten() {
            if let Some(ended) = ticket.upgrade() {
                ended.store(true, Ordering::Release);
            }
        }
    }

    /// How many sessions have an upgrade open.
    pub fn sessions(&self) -> usize {
        self.by_session.lock().map_or(0, |m| m.len())
    }

    /// The sessions with an upgrade open, for [`super::Sso::background`]'s look at each:
    /// a session that expired (idle or absolute) is evicted by no one, and one revoked while
    /// the revocation feed was down reached no eviction here (found in a bypass probe: a
    /// logout in the second after a Redis blip left her socket open for good, and so did
    /// her session's end at its absolute timeout).
    pub fn session_ids(&self) -> Vec<String> {
        self.by_session
            .lock()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }
}

/// One upgrade's hold on its session, kept in its request's context for the connection's
/// life; dropped, it leaves the registry.
#[derive(Debug)]
pub struct UpgradeTicket {
    ended: Arc<AtomicBool>,
    registry: Arc<LiveUpgrades>,
    session: String,
}

impl UpgradeTicket {
    /// Whether the session the upgrade was opened as has ended.
    pub fn ended(&self) -> bool {
        self.ended.load(Ordering::Acquire)
    }
}

impl Drop for UpgradeTicket {
    fn drop(&mut self) {
        let Ok(mut map) = self.registry.by_session.lock() else {
            return;
        };
        if let Some(tickets) = map.get_mut(&self.session) {
            tickets.retain(|t| t.strong_count() > 0 && !std::ptr::eq(t.as_ptr(), &*self.ended));
            if tickets.is_empty() {
                map.remove(&self.session);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sessions_end_marks_its_upgrades_and_no_other() {
        let live = Arc::new(LiveUpgrades::default());
        let (hers, also_hers, his) = (live.register("a"), live.register("a"), live.register("b"));
        live.end("a");
        assert!(hers.ended() && also_hers.ended());
        assert!(!his.ended());
    }

    #[test]
    fn a_closed_upgrade_leaves_the_registry() {
        let live = Arc::new(LiveUpgrades::default());
        let (first, second) = (live.register("a"), live.register("a"));
        drop(first);
        assert_eq!(live.sessions(), 1, "the second is still open");
        drop(second);
        assert_eq!(live.sessions(), 0);
    }
}
