//! The registry: every registered service, compiled into one immutable [`Snapshot`] that
//! requests read without locks and that a reload replaces atomically.
//!
//! Today the snapshot is built once, at start-up, from `config/services/`, and nothing swaps
//! it yet. The live registry (the ministries' admin API, file edits, SIGHUP) will go one way:
//! config → validate → diff → [`Snapshot::build`] off the request path → [`Registry::swap`];
//! a failed build will leave the old snapshot serving, and requests already in flight keep
//! the snapshot they started with.

mod service;
mod snapshot;

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

    /// Installs `next` for new requests and returns the one it replaced.
    pub fn swap(&self, next: Snapshot) -> Arc<Snapshot> {
        self.current.swap(Arc::new(next))
    }
}
