//! The registry: every registered service, compiled into one immutable [`Snapshot`] that
//! requests read without locks and that a reload replaces atomically.
//!
//! Every change (the ministries' admin API, an edit of `config/services/`, SIGHUP, another
//! instance's change) goes one way, through [`Reloader::apply`]: config → validate → diff →
//! [`Snapshot::build_from`] off the request path, carrying over what did not change →
//! [`Registry::swap`]. A failed build leaves the old snapshot serving; requests already in
//! flight keep the snapshot they started with. Where services are kept is [`store`]'s.

pub mod address;
#[cfg(test)]
pub mod fixtures;
pub mod live;
pub mod reload;
mod service;
mod snapshot;
pub mod store;

pub use live::{Backing, LiveRegistry};
pub use reload::{Diff, Reloader};
pub use service::{Service, Upstream};
pub use snapshot::{PortalInfo, Snapshot};

use arc_swap::ArcSwap;
use std::sync::Arc;

/// The live snapshot, shared by every worker thread.
#[derive(Debug)]
pub struct Registry {
    current: ArcSwap<Snapshot>,
}

impl Registry {
    pub fn new(snapshot: Snapshot) -> Self {
        Self {
            current: ArcSwap::from_pointee(snapshot),
        }
    }

    /// The snapshot to serve one request with; cheap (one atomic increment).
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// The snapshot, borrowed for a moment without touching its reference count (no await
    /// while it is held): for the accept path, which a reconnecting flood runs thousands
    /// of times a second.
    pub fn peek(&self) -> arc_swap::Guard<Arc<Snapshot>> {
        self.current.load()
    }

    /// Installs `next` for new requests and returns the one it replaced.
    pub fn swap(&self, next: Snapshot) -> Arc<Snapshot> {
        self.current.swap(Arc::new(next))
    }
}
