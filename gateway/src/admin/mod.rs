//! The ministries' API, on the admin listener under `/api/v1` (its OpenAPI 3.1 document at
//! `/api/v1/openapi.json`): each ministry registers and changes its own services, live.
//!
//! - [`auth`]: who is calling (API keys, OAuth2 client-credentials tokens);
//! - [`checks`]: what a document must pass beyond a service file's validation (secrets,
//!   backends' addresses, legacy hosts);
//! - [`api`]: the handlers; every change goes through the registry's one reload pipeline
//!   ([`crate::registry::LiveRegistry`]);
//! - [`audit`]: one JSON line per change asked, accepted or refused;
//! - the citizens' "not what I meant" answers about a ministry's services (redacted), to
//!   turn into routing examples;
//! - [`openapi`]: the document describing all of it.
//!
//! Errors are JSON, `{ "error", "error_description", "problems": [{ "pointer", "message" }] }`:
//! 401 (with `WWW-Authenticate`) without a valid credential, 403 for another ministry's
//! service, 404, 412 when `If-Match` names a version that is no longer current, 422 with a
//! JSON pointer per problem.

pub mod api;
pub mod audit;
pub mod auth;
pub mod checks;
pub mod openapi;

use crate::cache::ResponseCache;
use crate::config::AdminSettings;
use crate::portal::feedback::FeedbackLog;
use crate::registry::LiveRegistry;
use crate::sso::Sso;
use crate::telemetry::Metrics;
use arc_swap::ArcSwap;
use audit::AuditLog;
use auth::Authenticator;
use std::net::SocketAddr;
use std::sync::Arc;

/// How many health reads of one ministry may connect to backends at once on one instance;
/// more wait for one of them to end (found in a probe: 540 reads of one service, each of 32
/// backends that never accept, held 511 threads and every change behind them).
const HEALTH_READS: usize = 4;

/// How many changes of one ministry may wait for the one-at-a-time turn on one instance;
/// more are answered 429 at once.
pub(crate) const WAITING_CHANGES: usize = 4;

/// Everything the API's handlers share.
pub struct Admin {
    pub live: Arc<LiveRegistry>,
    pub auth: Authenticator,
    pub audit: AuditLog,
    pub metrics: Arc<Metrics>,
    pub settings: AdminSettings,
    /// For purges.
    pub cache: Arc<ResponseCache>,
    /// The portal's "not what I meant" answers, each ministry reading its services'.
    pub feedback: Arc<FeedbackLog>,
    /// Where this gateway really listens (the configured addresses may name port 0, or a
    /// caller may hand over sockets of its own): no service may have one as a backend.
    listening: ArcSwap<Vec<SocketAddr>>,
    /// One change at a time is checked, stored and applied (see `api::change::OneAtATime`).
    pub(crate) writes: Arc<tokio::sync::Mutex<()>>,
    /// One change of each service at a time on this instance, from its read to its write.
    pub(crate) turns: ServiceTurns,
    /// Each ministry's changes (`[admin] changes_per_ministry`), counted on this instance.
    pub(crate) rates: crate::limits::rate::RateLimiter,
    /// Each ministry's health reads connecting to backends at once (see
    /// `api::reads::health`).
    pub(crate) health_reads: PerMinistry,
    /// Each ministry's changes waiting for the one-at-a-time turn (see `api::change`).
    pub(crate) waiting: PerMinistry,
}

/// A few permits per ministry (the platform counting as one): what one ministry does at once
/// may not make the others wait. Found in a bypass probe: 30 legal changes of one ministry,
/// queued for the turn at once, had another ministry's change refused "busy" after 30 s, and
/// 30 health reads of its black-holed service held every ministry's reads for 34 s.
pub(crate) struct PerMinistry {
    permits: usize,
    each: std::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Semaphore>>>,
}

impl PerMinistry {
    fn new(permits: usize) -> Self {
        Self {
            permits,
            each: std::sync::Mutex::new(std::collections::HashMap::new()),
        }
    }

    /// The permits of `ministry` (callers are authenticated: one entry per ministry).
    pub(crate) fn of(&self, ministry: &str) -> Arc<tokio::sync::Semaphore> {
        let mut each = self
            .each
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(
            each.entry(ministry.to_string())
                .or_insert_with(|| Arc::new(tokio::sync::Semaphore::new(self.permits))),
        )
    }
}

/// A turn per service, for its changes: writes that named no version would otherwise read
/// the same version, lose to each other at the store and try again, and with eight at once
/// five tries were not enough (found when tried: 87 of 200 got 412). Writes through other
/// instances still meet at the store, and are tried again.
#[derive(Default)]
pub(crate) struct ServiceTurns(
    std::sync::Mutex<std::collections::HashMap<String, std::sync::Weak<tokio::sync::Mutex<()>>>>,
);

impl ServiceTurns {
    /// The turn of service `id` (kept while someone holds or waits for it).
    pub(crate) fn of(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut turns = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(turn) = turns.get(id).and_then(std::sync::Weak::upgrade) {
            return turn;
        }
        turns.retain(|_, t| t.strong_count() > 0);
        let turn = Arc::new(tokio::sync::Mutex::new(()));
        turns.insert(id.to_owned(), Arc::downgrade(&turn));
        turn
    }
}

impl Admin {
    pub fn new(
        settings: &AdminSettings,
        live: Arc<LiveRegistry>,
        sso: Arc<Sso>,
        cache: Arc<ResponseCache>,
        feedback: Arc<FeedbackLog>,
        metrics: Arc<Metrics>,
    ) -> std::io::Result<Self> {
        Ok(Self {
            live,
            auth: Authenticator::new(settings, sso),
            audit: AuditLog::open(&settings.audit_log)?,
            metrics,
            settings: settings.clone(),
            cache,
            feedback,
            listening: ArcSwap::from_pointee(Vec::new()),
            writes: Arc::new(tokio::sync::Mutex::new(())),
            turns: ServiceTurns::default(),
            rates: crate::limits::rate::RateLimiter::new(None),
            health_reads: PerMinistry::new(HEALTH_READS),
            waiting: PerMinistry::new(WAITING_CHANGES),
        })
    }

    /// Records the addresses the gateway's listeners are bound to, once the server has them.
    pub fn listening_on(&self, addresses: Vec<SocketAddr>) {
        self.listening.store(Arc::new(addresses));
    }

    /// The gateway's own listeners: those bound, and those the configuration names.
    pub fn own_listeners(&self) -> Vec<SocketAddr> {
        let mut own = self.live.snapshot().config.gateway.own_listeners();
        own.extend(self.listening.load().iter().copied());
        own
    }
}

/// The API's routes, to be nested at the admin listener's root.
pub fn router(admin: Arc<Admin>) -> axum::Router {
    api::routes(admin)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found in a bypass probe: one ministry's 30 changes queued at once had another
    /// ministry's refused "busy"; past its few waiting, a ministry is refused, not the others.
    #[test]
    fn a_ministry_past_its_permits_is_refused_and_another_is_not() {
        let waiting = PerMinistry::new(WAITING_CHANGES);
        let held: Vec<_> = (0..WAITING_CHANGES)
            .map(|_| {
                waiting
                    .of("interior")
                    .try_acquire_owned()
                    .expect("a permit")
            })
            .collect();
        assert!(waiting.of("interior").try_acquire_owned().is_err());
        assert!(waiting.of("justice").try_acquire_owned().is_ok());
        drop(held);
        assert!(waiting.of("interior").try_acquire_owned().is_ok());
    }
}
