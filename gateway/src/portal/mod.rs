//! The citizen UI: the pages the portal serves itself, rendered from a registry
//! [`Snapshot`] (today the home page; the full portal of categories, service pages and the
//! "what do you need?" box grows here).
//!
//! Pages depend only on the snapshot, so each is rendered once per snapshot and then shared:
//! a request costs one atomic load and a pointer comparison. The registry knows nothing of
//! pages; the portal follows whichever snapshot a request was routed with.

mod home;

pub use home::render_home;

use crate::registry::Snapshot;
use crate::response::LocalResponse;
use arc_swap::ArcSwapOption;
use bytes::Bytes;
use http::StatusCode;
use std::sync::{Arc, Weak};

/// A page rendered for one snapshot. The `Weak` keeps that snapshot's allocation from being
/// reused while the page is cached, so pointer equality cannot mistake a new snapshot for it.
struct Rendered {
    snapshot: Weak<Snapshot>,
    body: Bytes,
}

/// The portal's pages, rendered lazily once per snapshot.
#[derive(Default)]
pub struct Portal {
    home: ArcSwapOption<Rendered>,
}

impl Portal {
    pub fn new() -> Self {
        Self::default()
    }

    /// The home page for `snap`: rendered on the first request after a swap, shared after.
    pub fn home_page(&self, snap: &Arc<Snapshot>) -> LocalResponse {
        let body = match &*self.home.load() {
            Some(r) if std::ptr::eq(r.snapshot.as_ptr(), Arc::as_ptr(snap)) => r.body.clone(),
            _ => {
                // Two first requests may both render; either result is the same page.
                let body = render_home(&snap.ministries, snap.services());
                self.home.store(Some(Arc::new(Rendered {
                    snapshot: Arc::downgrade(snap),
                    body: body.clone(),
                })));
                body
            }
        };
        LocalResponse::html_bytes(StatusCode::OK, body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::snapshot;

    #[test]
    fn the_home_page_is_rendered_once_per_snapshot_and_again_after_a_swap() {
        let portal = Portal::new();
        let first = snapshot();
        let a = portal.home_page(&first);
        let b = portal.home_page(&first);
        assert_eq!(a.status, StatusCode::OK);
        // The same bytes, shared: not rendered twice.
        assert_eq!(a.body.as_ptr(), b.body.as_ptr());
        let second = snapshot();
        let c = portal.home_page(&second);
        assert_ne!(
            a.body.as_ptr(),
            c.body.as_ptr(),
            "a new snapshot gets its own page"
        );
        let page = std::str::from_utf8(&c.body).expect("utf-8");
        assert!(page.contains("/s/"), "{page}");
    }
}
