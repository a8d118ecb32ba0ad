//! Single sign-on: one login at the portal, recognised by every service.
//!
//! - [`provider`]: the OpenID provider (discovery, code flow + PKCE, refresh, token checks);
//! - [`session`], [`store`]: server-side sessions, in memory or Redis, with a cache;
//! - [`cookie`]: the small opaque cookie that points at a session;
//! - [`origin`]: one login, one session per service origin (the one-time code hop);
//! - [`identity`]: the signed, pairwise identity assertion ministries receive;
//! - [`endpoints`]: `/auth/login`, `/auth/callback`, `/auth/logout`,
//!   `/auth/backchannel-logout`, `/auth/session`.
//!
//! [`Sso::authorize`] is the per-request step: it decides, from the service's access level
//! and the request's session, whether the request goes on (and with which identity), or
//! which answer it gets instead (login redirect, 401, 403, 503).

pub mod cookie;
pub mod endpoints;
pub mod identity;
pub mod origin;
pub mod pending;
pub mod provider;
pub mod session;
pub mod store;
pub mod upgrades;
pub mod upstream;

use crate::config::{Access, Config, Secrets, ServiceOrigins};
use crate::kv::Kv;
use crate::registry::Service;
use crate::response::{self, ErrorKind, LocalResponse};
use crate::telemetry::Metrics;
use cookie::{CookieJar, SessionCookie};
use identity::IdentityIssuer;
use pingora::http::RequestHeader;
use provider::{Provider, ProviderError};
use session::{now_secs, Session, SessionHandle};
use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use store::{CachedStore, SessionCache, SessionStore, SharedStore, StoreError, UpdateOutcome};

/// SSO could not be set up from the configuration.
#[derive(Debug, thiserror::Error)]
pub enum SsoError {
    #[error("sso.client_secret: {0}")]
    ClientSecret(String),
    #[error("identity.pairwise_secret: {0}")]
    PairwiseSecret(String),
    #[error("identity: {0}")]
    Identity(#[from] identity::IdentityError),
    #[error("sessions: {0}")]
    Store(#[from] StoreError),
    #[error("sso: {0}")]
    Provider(#[from] ProviderError),
}

/// How often the session store is pinged (the store-up metric and readiness).
const STORE_CHECK_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);
/// Live sessions are counted every this many pings (once a minute).
const COUNT_EVERY_TICKS: u64 = 12;

/// What the SSO step decided for one request to a service.
///
/// Returned by value once per request and taken apart at once, so the size difference
/// between the variants costs a move, where boxing the session would cost an allocation.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Authorization {
    /// Go on; with the citizen's session when there is one and the service needs it.
    Proceed(Option<Session>),
    /// Answer this instead.
    Respond(LocalResponse),
}

/// Login, sessions and identity for the whole gateway.
pub struct Sso {
    provider: Option<Provider>,
    store: Arc<dyn SessionStore>,
    cache: SessionCache,
    shared: Arc<SharedStore>,
    identity: IdentityIssuer,
    identity_header: http::HeaderName,
    /// Every spelling of every identity header clients may not send (see [`upstream`]).
    forgeable: egov_adapters::headers::HeaderSet,
    jar: CookieJar,
    /// Logins in progress, capped overall and per client address.
    pending: pending::PendingLogins,
    origin: String,
    /// Each service on its own origin (then its sessions are children of the portal's).
    service_origins: Option<ServiceOrigins>,
    /// How long a one-time origin code may wait to be exchanged.
    origin_code_ttl: std::time::Duration,
    idle: std::time::Duration,
    absolute: std::time::Duration,
    refreshing: Mutex<HashSet<String>>,
    /// Until when (seconds) no refresh is tried, after one failed because the provider was
    /// down or slow ([`REFRESH_PAUSE`]).
    refresh_paused_until: std::sync::atomic::AtomicU64,
    /// Sessions whose refresh claim this instance tried lately (held by it or another):
    /// not tried again, and Redis not asked, before the claim lapses. Found in review: a
    /// session due and held elsewhere (or declined by the provider) cost every one of its
    /// requests a Redis write, where the session itself is read from memory.
    refresh_tried: moka::sync::Cache<String, ()>,
    /// The log lines of refused back-channel logouts, this second.
    backchannel_refusal_lines: crate::telemetry::PerSecond,
    pub(crate) metrics: Arc<Metrics>,
    /// A session store operation failed within [`STORE_FAILURE_REMEMBERED`]: a Redis at
    /// its memory limit answers `PING` and refuses every write, so readiness and
    /// `egov_sso_session_store_up` said "up" while nobody could log in (found when tried).
    store_failing: Arc<crate::kv::Resting>,
}

/// Cuts the upgrades (WebSockets) of each session that ended without an eviction here:
/// expired (idle or absolute), or revoked while the revocation feed was down (see
/// [`upgrades`]). A store that fails cuts nothing: an outage is no logout.
async fn end_upgrades_of_ended_sessions(
    store: &dyn SessionStore,
    upgrades: &upgrades::LiveUpgrades,
    idle: std::time::Duration,
) {
    for id in upgrades.session_ids() {
        match store.get(&id).await {
            Ok(Some(session)) if !session.expired(now_secs(), idle) => {}
            // A record this version cannot read is no session either (`live_session`).
            Ok(_) | Err(StoreError::Corrupt(_)) => upgrades.end(&id),
            Err(_) => return,
        }
    }
}

/// How often [`end_upgrades_of_ended_sessions`] runs.
const UPGRADES_CHECK_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

/// How long a failed session store operation keeps the store reported as failing.
const STORE_FAILURE_REMEMBERED: std::time::Duration = std::time::Duration::from_secs(30);

impl Sso {
    /// A hold on session `id` for an upgrade (WebSocket) it asks for: marked when the
    /// session ends, so the connection is cut ([`upgrades`]).
    pub fn upgrade_ticket(&self, id: &str) -> upgrades::UpgradeTicket {
        self.cache.upgrades().register(id)
    }

    /// How long a session lives without a request (`sessions.idle_timeout`): the portal
    /// strip's session warning counts it down.
    pub fn idle_timeout(&self) -> std::time::Duration {
        self.idle
    }

    /// Builds SSO from `config`, with sessions in `sessions` (the shared store, or this
    /// process's memory). Nothing is contacted yet: the provider is discovered and Redis
    /// connected on first use, so the gateway starts while either is down.
    pub fn new(
        config: &Config,
        secrets: &Secrets,
        sessions: Arc<dyn Kv>,
        metrics: Arc<Metrics>,
    ) -> Result<Self, SsoError> {
        let g = &config.gateway;
        let origin = g.portal.public_url.origin();
        let provider = match &g.sso {
            Some(sso) => {
                let secret = secrets
                    .resolve(&sso.client_secret)
                    .map_err(|e| SsoError::ClientSecret(e.to_string()))?;
                Some(Provider::new(
                    sso.clone(),
                    secret,
                    format!("{origin}/auth/callback"),
                )?)
            }
            None => None,
        };
        let cache = SessionCache::new(g.sessions.cache_ttl, 100_000);
        let pending = pending::PendingLogins::new(
            Arc::clone(&sessions),
            endpoints::LOGIN_TTL,
            g.limits.rate.max_pending_logins,
            g.limits.rate.max_pending_logins_per_ip,
        );
        let shared = Arc::new(SharedStore::new(sessions));
        let store: Arc<dyn SessionStore> =
            Arc::new(CachedStore::new(Arc::clone(&shared), cache.clone()));
        let pairwise = g
            .identity
            .pairwise_secret
            .as_ref()
            .map(|r| secrets.resolve(r))
            .transpose()
            .map_err(|e| SsoError::PairwiseSecret(e.to_string()))?;
        if pairwise.is_none() {
            tracing::warn!(
                "identity.pairwise_secret is not set: pairwise subjects change at restart"
            );
        }
        let identity = IdentityIssuer::new(&g.identity, origin.clone(), pairwise)?;
        let identity_header = http::HeaderName::from_bytes(g.identity.header.as_bytes())
            .unwrap_or_else(|_| http::HeaderName::from_static("x-egov-identity"));
        Ok(Self {
            provider,
            store,
            cache,
            shared,
            identity,
            forgeable: upstream::forgeable_spellings(&identity_header),
            identity_header,
            jar: CookieJar::new(g.portal.public_url.https),
            pending,
            origin,
            service_origins: g.portal.service_origins.clone(),
            origin_code_ttl: g.sessions.origin_code_ttl,
            idle: g.sessions.idle_timeout,
            absolute: g.sessions.absolute_timeout,
            refreshing: Mutex::new(HashSet::new()),
            refresh_tried: moka::sync::Cache::builder()
                .time_to_live(refresh_claim_hold(
                    g.sso
                        .as_ref()
                        .map_or(std::time::Duration::ZERO, |s| s.provider_timeout),
                ))
                .max_capacity(100_000)
                .build(),
            refresh_paused_until: std::sync::atomic::AtomicU64::new(0),
            backchannel_refusal_lines: crate::telemetry::PerSecond::default(),
            metrics,
            store_failing: Arc::new(crate::kv::Resting::new(STORE_FAILURE_REMEMBERED)),
        })
    }

    /// Work that runs for the life of the server: the revocation feed, a ping of the
    /// session store every few seconds (store-up metric), a count of live sessions every
    /// minute, and a look at the session of each open WebSocket every few seconds.
    pub fn background(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let shared = Arc::clone(&self.shared);
        let uncached = Arc::clone(&self.shared);
        let cache = self.cache.clone();
        let store = Arc::clone(&self.store);
        let metrics = Arc::clone(&self.metrics);
        let failing = Arc::clone(&self.store_failing);
        let upgrades = Arc::clone(self.cache.upgrades());
        let idle = self.idle;
        async move {
            let health = async move {
                let mut was_up = true;
                for tick in 0u64.. {
                    // As `store_health` says: a store that answers the ping but failed an
                    // operation within the last 30 s is down (a full Redis refuses every
                    // write; the ping set the gauge back to 1 between failures, and the
                    // alert's minute never completed: found when tried).
                    // A store back from an outage takes a write: up at once, not 30 s on
                    // (found in a probe: logins worked again while the gauge, `/readyz` and
                    // `/status` said failing, and a 30 s outage paged as one of a minute).
                    let mut up = store.ping().await.is_ok();
                    if up && failing.now() && store.write_probe().await.is_ok() {
                        failing.recovered();
                    }
                    up = up && !failing.now();
                    metrics.session_store_up.set(i64::from(up));
                    // Its failure was logged when it began; its end is too (found when
                    // tried: an SRE read of the outage's start, never of its end).
                    if up && !was_up {
                        tracing::info!("the session store answers again");
                    }
                    was_up = up;
                    // Counting walks Redis's keyspace (SCAN): once a minute, not per ping.
                    if tick % COUNT_EVERY_TICKS == 0 {
                        if let Ok(Some(n)) = store.count().await {
                            metrics.sessions_active.set(n as i64);
                        }
                    }
                    tokio::time::sleep(STORE_CHECK_INTERVAL).await;
                }
            };
            // Its own loop: a look at thousands of sessions must not hold the store's
            // health back (the gauge and `/readyz` read it). It runs whether the store is
            // "failing" or not: a Redis at its memory limit refuses writes but still says
            // which sessions ended (found in a bypass probe: an ended session's socket
            // stayed open while Redis was full). It reads past the in-process cache, whose
            // 5 s would add up with the loop's.
            let upgrades_checked = async move {
                loop {
                    end_upgrades_of_ended_sessions(uncached.as_ref(), &upgrades, idle).await;
                    tokio::time::sleep(UPGRADES_CHECK_INTERVAL).await;
                }
            };
            tokio::join!(shared.follow_revocations(cache), health, upgrades_checked);
        }
    }

    /// Whether an identity provider is configured (citizens can log in).
    pub fn has_provider(&self) -> bool {
        self.provider.is_some()
    }

    pub fn identity(&self) -> &IdentityIssuer {
        &self.identity
    }

    /// The request header carrying the signed assertion upstream.
    pub fn identity_header(&self) -> &http::HeaderName {
        &self.identity_header
    }

    /// Checks an OAuth2 access token from the identity provider (a JWT for `audience`): its
    /// claims, or why it is refused.
    pub async fn validate_access_token(
        &self,
        token: &str,
        audience: &str,
    ) -> Result<serde_json::Map<String, serde_json::Value>, ProviderError> {
        match &self.provider {
            Some(p) => p.validate_access_token(token, audience).await,
            None => Err(ProviderError::Unavailable(
                "no identity provider is configured ([sso])".into(),
            )),
        }
    }

    pub fn cookies(&self) -> &CookieJar {
        &self.jar
    }

    pub fn store(&self) -> &Arc<dyn SessionStore> {
        &self.store
    }

    /// The per-request access decision for `service`: its access level against the
    /// request's session (on the service's own origin, that origin's session, read through
    /// its portal parent).
    pub async fn authorize(
        &self,
        req: &RequestHeader,
        service: &Service,
        request_id: &str,
    ) -> Authorization {
        let access = service.config.access;
        if access == Access::Public {
            return Authorization::Proceed(None);
        }
        let deny = |reason: &str, response: LocalResponse| {
            self.metrics
                .access_denied
                .with_label_values(&[service.id(), reason])
                .inc();
            Authorization::Respond(response)
        };
        if self.provider.is_none() {
            return deny(
                "login_unavailable",
                response::error_page(ErrorKind::LoginUnavailable, request_id),
            );
        }
        let cookie = self.jar.session_cookie(req);
        let session = match (cookie, &service.origin) {
            (SessionCookie::One(token), Some(_)) => {
                let id = SessionHandle::of_cookie(token);
                self.origin_session(id.as_str(), service).await
            }
            (SessionCookie::One(token), None) => {
                self.live_session(SessionHandle::of_cookie(token).as_str())
                    .await
            }
            (SessionCookie::Absent | SessionCookie::Duplicated, _) => Ok(None),
        };
        let duplicated = cookie == SessionCookie::Duplicated;
        let session = match session {
            Ok(s) => s,
            Err(e) => {
                self.store_failed(&e, "session store unavailable");
                return deny(
                    "store_unavailable",
                    response::error_page(ErrorKind::SessionsUnavailable, request_id),
                );
            }
        };
        match session {
            None => {
                let answer = match &service.origin {
                    Some(_) => self.hop_required(req, service, request_id),
                    None => login_required(req, request_id),
                };
                if duplicated {
                    // Every copy is expired where every gateway-made answer is written
                    // (`pipeline::write_local`).
                    tracing::warn!(
                        service = service.id(),
                        "a request carried the session cookie twice: treated as anonymous"
                    );
                }
                deny("login_required", answer)
            }
            Some(s) if access == Access::Professional && !s.professional => deny(
                "forbidden",
                response::error_page(ErrorKind::ProfessionalOnly, request_id),
            ),
            Some(s) => Authorization::Proceed(Some(s)),
        }
    }

    /// The request's live session: checked for expiry, its idle clock moved on, and its
    /// access token refreshed when it is about to expire.
    ///
    /// The write-back is an update, never a create: a session revoked while this request
    /// read or refreshed it stays revoked, and the request is treated as anonymous. Failed
    /// writes are logged and counted but do not fail the request: the session was read and
    /// is valid, and the citizen keeps their request (the idle clock moves on next time).
    pub async fn current_session(
        &self,
        req: &RequestHeader,
    ) -> Result<Option<Session>, StoreError> {
        let Some(id) = self.jar.session_id(req) else {
            return Ok(None);
        };
        self.live_session(id.as_str()).await
    }

    /// The live portal session `id` (see [`Self::current_session`]).
    async fn live_session(&self, id: &str) -> Result<Option<Session>, StoreError> {
        let mut session = match self.store.get(id).await {
            Ok(Some(session)) => session,
            Ok(None) => return Ok(None),
            // A record this version cannot read (damaged, or written by an incompatible
            // release) is no session: it is deleted and the citizen logs in again, rather
            // than getting 503s until its TTL ends.
            Err(StoreError::Corrupt(why)) => {
                tracing::warn!(%why, "unreadable session record deleted");
                self.end_session(id).await;
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let now = now_secs();
        if session.expired(now, self.idle) {
            self.end_session(id).await;
            return Ok(None);
        }
        let mut touched = false;
        // Touch at most once a minute (or a tenth of the idle timeout): idle expiry stays
        // accurate without a write per request.
        let touch_every = (self.idle.as_secs() / 10).clamp(1, 60);
        if now.saturating_sub(session.last_seen) >= touch_every {
            session.last_seen = now;
            touched = true;
        }
        let refreshed = match self.refresh_if_due(&mut session, now).await {
            Refresh::Kept => false,
            Refresh::Updated => true,
            Refresh::Ended => {
                self.end_session(&session.id).await;
                return Ok(None);
            }
        };
        if touched || refreshed {
            let ttl = session.ttl(now, self.idle);
            // Refreshed: the whole record, read from the store under the refresh's claim.
            // Only touched: the idle clock alone, over whatever the store holds now.
            let written = if refreshed {
                self.store.update(&session, ttl).await
            } else {
                self.store.touch(&session, ttl).await
            };
            match written {
                Ok(UpdateOutcome::Written) => {}
                Ok(UpdateOutcome::Gone) => return Ok(None),
                Err(e) => {
                    self.store_failed(&e, "could not save the session's idle clock or tokens");
                }
            }
        }
        Ok(Some(session))
    }

    /// Deletes a session that is over; if the store fails, its TTL ends it anyway.
    async fn end_session(&self, id: &str) {
        if let Err(e) = self.store.delete(id).await {
            self.store_failed(&e, "could not delete an ended session");
        }
    }

    /// A session store operation failed (`what`, and its `error`): counted, the store
    /// marked failing for 30 s (readiness says so), and logged when it starts failing.
    pub(crate) fn store_failed(&self, error: &dyn std::fmt::Display, what: &str) {
        self.metrics.session_store_errors.inc();
        self.metrics.session_store_up.set(0);
        // Logged when the store starts failing, not for every request while it is down
        // (found when tried: a Redis outage wrote one warning per request, two for some);
        // every failure is counted in `egov_sso_session_store_errors_total`.
        if !self.store_failing.now() {
            tracing::warn!(%error, "{what} (further failures within 30 s are only counted)");
        }
        self.store_failing.failed();
    }

    /// Whether the session store answers, and no operation on it failed lately (what
    /// readiness and `egov_sso_session_store_up` report).
    pub async fn store_health(&self) -> Result<(), String> {
        self.store.ping().await.map_err(|e| e.to_string())?;
        if self.store_failing.now() {
            return Err(
                "it answers, but an operation on it failed within the last 30 s \
                 (an outage just over, or a full Redis refusing writes: see the log)"
                    .to_string(),
            );
        }
        Ok(())
    }

    async fn refresh_if_due(&self, session: &mut Session, now: u64) -> Refresh {
        let Some(provider) = &self.provider else {
            return Refresh::Kept;
        };
        let due = session.access_expires_at <= now + provider.settings().refresh_before.as_secs();
        let Some(refresh_token) = session.refresh_token.clone().filter(|_| due) else {
            return Refresh::Kept;
        };
        let paused_until = self.refresh_paused_until.load(Ordering::Relaxed);
        if now < paused_until {
            return Refresh::Kept;
        }
        // One refresh per session at a time in this process (refresh tokens may rotate).
        let Some(_busy) = Busy::enter(&self.refreshing, &session.id) else {
            return Refresh::Kept;
        };
        let result = self
            .refresh_claimed(provider, session, &refresh_token, now)
            .await;
        let result = match result {
            Claimed::Refreshed(result) => *result,
            Claimed::NotNow => return Refresh::Kept,
            Claimed::RefreshedElsewhere => {
                self.count_refresh("elsewhere");
                return Refresh::Updated;
            }
        };
        self.count_refresh(match &result {
            Ok(_) => "refreshed",
            Err(ProviderError::Rejected(_) | ProviderError::InvalidToken(_)) => "ended",
            Err(ProviderError::Declined(_)) => "declined",
            Err(ProviderError::Unavailable(_)) => "unavailable",
        });
        match result {
            Ok((tokens, claims)) => apply_refresh(session, tokens, claims),
            Err(ProviderError::Rejected(reason)) => {
                tracing::info!(%reason, "refresh refused by the provider: session ended");
                Refresh::Ended
            }
            Err(ProviderError::InvalidToken(reason)) => {
                // The provider's new ID token does not prove who this is any more.
                tracing::warn!(%reason, "refreshed ID token invalid: session ended");
                Refresh::Ended
            }
            Err(e @ ProviderError::Declined(_)) => {
                // The provider is up: only this session's refresh waits for its next request
                // (found when tried: one session's errors paused every citizen's refreshes).
                tracing::warn!(error = %e, "token refresh declined; keeping the session");
                Refresh::Kept
            }
            Err(e @ ProviderError::Unavailable(_)) => {
                // Provider down, slow or in trouble: the session keeps working on what it
                // has (the access token is never sent upstream) and tries again later.
                tracing::warn!(error = %e, "token refresh failed; keeping the session");
                self.refresh_paused_until
                    .store(now + REFRESH_PAUSE.as_secs(), Ordering::Relaxed);
                Refresh::Kept
            }
        }
    }
}

/// A session's place in the set of refreshes under way in this process, left on drop: a
/// refresh that panicked (found when tried: a provider's `expires_in` overflowed) kept its
/// place, and the session was never refreshed again in this process.
struct Busy<'a> {
    set: &'a Mutex<HashSet<String>>,
    id: String,
}

impl<'a> Busy<'a> {
    /// `None` while a refresh of session `id` is under way here.
    fn enter(set: &'a Mutex<HashSet<String>>, id: &str) -> Option<Self> {
        let mut busy = set.lock().ok()?;
        busy.insert(id.to_string()).then(|| Self {
            set,
            id: id.to_string(),
        })
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        if let Ok(mut busy) = self.set.lock() {
            busy.remove(&self.id);
        }
    }
}

impl Sso {
    fn count_refresh(&self, result: &str) {
        self.metrics.refreshes.with_label_values(&[result]).inc();
    }
}

/// What became of a refresh once this process decided one was due.
enum Claimed {
    /// Asked of the provider.
    Refreshed(Box<Result<(provider::Tokens, Option<provider::IdentityClaims>), ProviderError>>),
    /// Another instance refreshes this session now (or did within the claim's life), or the
    /// store cannot say: the session goes on with what it has.
    NotNow,
    /// Another instance refreshed it since this copy was read: its tokens were taken.
    RefreshedElsewhere,
}

impl Sso {
    /// Refreshes `session`'s tokens once this instance holds the session's refresh claim
    /// ([`SharedStore::claim_refresh`]), from the session as the store holds it now: the
    /// copy this request read may be up to `sessions.cache_ttl` old, its refresh token
    /// already used by another instance.
    async fn refresh_claimed(
        &self,
        provider: &provider::Provider,
        session: &mut Session,
        refresh_token: &str,
        now: u64,
    ) -> Claimed {
        if self.refresh_tried.contains_key(&session.id) {
            return Claimed::NotNow;
        }
        self.refresh_tried.insert(session.id.clone(), ());
        let hold = refresh_claim_hold(provider.settings().provider_timeout);
        if !matches!(self.shared.claim_refresh(&session.id, hold).await, Ok(true)) {
            return Claimed::NotNow;
        }
        let stored = match self.shared.get(&session.id).await {
            Ok(Some(stored)) => stored,
            // Ended meanwhile (the write-back finds it gone), or the store failing.
            Ok(None) | Err(_) => return Claimed::NotNow,
        };
        if stored.refresh_token.as_deref() != Some(refresh_token) {
            session.refresh_token = stored.refresh_token;
            session.access_expires_at = stored.access_expires_at;
            session.issuer = stored.issuer;
            session.name = stored.name;
            session.acr = stored.acr;
            session.professional = stored.professional;
            let before = provider.settings().refresh_before.as_secs();
            if session.access_expires_at > now + before {
                return Claimed::RefreshedElsewhere;
            }
        }
        let Some(token) = session.refresh_token.clone() else {
            return Claimed::RefreshedElsewhere;
        };
        Claimed::Refreshed(Box::new(provider.refresh(&token).await))
    }
}

/// Beyond twice the provider's timeout (a refresh's longest), how long a session's refresh
/// claim holds: the refreshing instance's write-back of the new tokens lands within it.
const REFRESH_CLAIM_SLACK: std::time::Duration = std::time::Duration::from_secs(5);

/// How long a session's refresh claim holds, for a provider with `timeout`.
fn refresh_claim_hold(timeout: std::time::Duration) -> std::time::Duration {
    timeout * 2 + REFRESH_CLAIM_SLACK
}

/// How long no session's tokens are refreshed after a refresh failed because the provider
/// was down or slow. The refresh runs before the request goes on, and the access token is
/// never sent to a legacy site: without a pause, every request of every citizen whose token
/// was due waited `provider_timeout` again (found when tried: 5 s on every page while the
/// provider hung). After it, one request tries again.
const REFRESH_PAUSE: std::time::Duration = std::time::Duration::from_secs(30);

/// Takes a refresh's result into the session. A refreshed ID token must be about the same
/// user from the same issuer (OpenID Connect Core 12.2), otherwise the session ends; its
/// claims (assurance level, professional status, name) replace the login's.
fn apply_refresh(
    session: &mut Session,
    tokens: provider::Tokens,
    claims: Option<provider::IdentityClaims>,
) -> Refresh {
    if let Some(c) = claims {
        // Records written before the issuer was kept have none: the first refresh sets it.
        let same_issuer = session.issuer.is_empty() || c.iss == session.issuer;
        if c.sub != session.sub || !same_issuer {
            tracing::warn!("refreshed ID token names another user or issuer: session ended");
            return Refresh::Ended;
        }
        session.issuer = c.iss;
        session.name = c.name;
        session.acr = c.acr;
        session.professional = c.professional;
    }
    // The access token itself is not kept (see `Session::access_token`); its lifetime is.
    session.refresh_token = tokens.refresh_token;
    session.access_expires_at = tokens.access_expires_at;
    Refresh::Updated
}

#[derive(Debug, PartialEq, Eq)]
enum Refresh {
    Kept,
    Updated,
    Ended,
}

/// Anonymous request to a protected service: browsers are sent to log in and come back
/// ([`back_to`]); what else it gets is [`send_to`]'s.
fn login_required(req: &RequestHeader, request_id: &str) -> LocalResponse {
    let login = format!(
        "/auth/login?return_to={}",
        form_urlencoded::byte_serialize(back_to(req).as_bytes()).collect::<String>()
    );
    send_to(req, &login, request_id, "/")
}

/// Where a citizen sent to log in comes back to: the page asked for; for a form sent after
/// the session ended, the page the form was on (its `Referer`, on this same host), since
/// the form's address opened as a `GET` is no page (found when tried: after logging in
/// again the citizen landed on the legacy site's error for a `GET` of its `POST` address).
fn back_to(req: &RequestHeader) -> &str {
    let asked = req
        .uri
        .path_and_query()
        .map(|pq| pq.as_str())
        .unwrap_or("/");
    if matches!(req.method, http::Method::GET | http::Method::HEAD) {
        return asked;
    }
    crate::host::referer_path_on_this_host(req).unwrap_or(asked)
}

/// Who sent a request that needs a login it does not have.
#[derive(Debug, PartialEq, Eq)]
enum Asker {
    /// A browser opening a page (`GET`, `HEAD`): sent to log in and back.
    Navigation,
    /// A browser sending a form: its body cannot be kept across the login, so it gets a page
    /// in the citizen's languages that says so and links to the login.
    Form,
    /// A page's script, an API client or anything else: a 401 it can act on.
    Program,
}

/// Tells [`Asker`]s apart: browsers say what they are doing (`Sec-Fetch-Mode: navigate` for
/// pages and forms, `cors`/`no-cors`/`same-origin` for scripts and resources); without it,
/// an `Accept` that names `text/html` is a browser's. Found when tried: a page's
/// `fetch()` (`Accept: */*`) got a redirect to the portal instead of a 401, and a form sent
/// after the session ended got a JSON 401 in English.
fn asker(req: &RequestHeader) -> Asker {
    let header = |name: &str| req.headers.get(name).and_then(|v| v.to_str().ok());
    let reads = matches!(req.method, http::Method::GET | http::Method::HEAD);
    let page = if reads {
        Asker::Navigation
    } else {
        Asker::Form
    };
    let accept = header("accept").unwrap_or_default();
    let wants_json = accept.contains("application/json") && !accept.contains("text/html");
    match header("sec-fetch-mode") {
        Some(mode) if mode.eq_ignore_ascii_case("navigate") => page,
        Some(_) => Asker::Program,
        None if wants_json => Asker::Program,
        None if reads || accept.contains("text/html") => page,
        None => Asker::Program,
    }
}

/// The answer to a request that needs a login first (`login`: where to log in; `home`: the
/// portal's address from where the answer is served): see [`Asker`].
fn send_to(req: &RequestHeader, login: &str, request_id: &str, home: &str) -> LocalResponse {
    let no_store = || http::HeaderValue::from_static("no-store");
    let challenge = || http::HeaderValue::from_static("Cookie realm=\"portal\"");
    match asker(req) {
        Asker::Navigation => LocalResponse::redirect(false, login)
            .with_header(http::header::CACHE_CONTROL, no_store()),
        Asker::Form => response::session_ended_page(request_id, login, home)
            .with_header(http::header::CACHE_CONTROL, no_store())
            .with_header(http::header::WWW_AUTHENTICATE, challenge()),
        Asker::Program => LocalResponse::json(
            http::StatusCode::UNAUTHORIZED,
            &serde_json::json!({
                "error": "login_required",
                "error_description": "this service needs a logged-in citizen",
                "login": login,
            }),
        )
        .with_header(http::header::WWW_AUTHENTICATE, challenge()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use provider::{IdentityClaims, Tokens};

    fn request(method: &str, path: &str, headers: &[(&'static str, &str)]) -> RequestHeader {
        let mut req = RequestHeader::build(method, path.as_bytes(), None).expect("request");
        req.insert_header("host", "portal.example").expect("host");
        for (name, value) in headers {
            req.append_header(*name, *value).expect("header");
        }
        req
    }

    const PAGE: (&str, &str) = ("accept", "text/html,application/xhtml+xml,*/*;q=0.8");

    #[test]
    fn a_browser_opening_a_page_is_sent_to_log_in() {
        for headers in [&[PAGE, ("sec-fetch-mode", "navigate")][..], &[PAGE], &[]] {
            assert_eq!(asker(&request("GET", "/s/x/", headers)), Asker::Navigation);
        }
    }

    #[test]
    fn a_browser_sending_a_form_is_told_what_was_lost() {
        for headers in [&[PAGE, ("sec-fetch-mode", "navigate")][..], &[PAGE]] {
            assert_eq!(asker(&request("POST", "/s/x/depot", headers)), Asker::Form);
        }
    }

    #[test]
    fn a_pages_script_or_an_api_client_gets_a_401() {
        for (method, headers) in [
            ("GET", &[("accept", "*/*"), ("sec-fetch-mode", "cors")][..]),
            ("GET", &[("sec-fetch-mode", "no-cors")]),
            ("POST", &[("accept", "*/*")]),
            ("POST", &[]),
            ("GET", &[("accept", "application/json")]),
        ] {
            assert_eq!(
                asker(&request(method, "/s/x/api", headers)),
                Asker::Program,
                "{method} {headers:?}"
            );
        }
    }

    #[test]
    fn a_form_sent_after_the_session_ended_comes_back_to_the_page_it_was_on() {
        let form = request(
            "POST",
            "/s/x/depot?etape=2",
            &[("referer", "http://portal.example/s/x/formulaire?n=1#haut")],
        );
        assert_eq!(back_to(&form), "/s/x/formulaire?n=1");
    }

    #[test]
    fn a_form_from_another_host_or_without_a_referer_comes_back_to_its_own_address() {
        for referer in [
            &[("referer", "http://evil.example/s/x/formulaire")][..],
            &[("referer", "http://portal.example.evil/x")],
            &[("referer", "http://portal.example")],
            &[],
        ] {
            assert_eq!(
                back_to(&request("POST", "/s/x/depot", referer)),
                "/s/x/depot"
            );
        }
        let page = request(
            "GET",
            "/s/x/a?b=1",
            &[("referer", "http://portal.example/s/x/")],
        );
        assert_eq!(back_to(&page), "/s/x/a?b=1");
    }

    #[test]
    fn the_form_page_is_a_401_in_three_languages_linking_to_the_login() {
        let form = request("POST", "/s/x/depot", &[PAGE]);
        let answer = send_to(&form, "/auth/login?return_to=%2Fs%2Fx%2F", "req-1", "/");
        assert_eq!(answer.status, http::StatusCode::UNAUTHORIZED);
        let html = std::str::from_utf8(&answer.body).expect("utf-8");
        assert!(
            html.contains("href=\"/auth/login?return_to=%2Fs%2Fx%2F\""),
            "{html}"
        );
        for lang in ["lang=\"ar\"", "lang=\"fr\"", "lang=\"en\""] {
            assert!(html.contains(lang), "{lang}");
        }
        assert!(answer
            .headers
            .iter()
            .any(|(n, _)| n == http::header::WWW_AUTHENTICATE));
    }

    fn tokens() -> Tokens {
        Tokens {
            access_token: "at-2".into(),
            refresh_token: Some("rt-2".into()),
            id_token: Some("id-2".into()),
            access_expires_at: 4_000_000_000,
        }
    }

    fn claims(iss: &str, sub: &str) -> IdentityClaims {
        IdentityClaims {
            iss: iss.into(),
            sub: sub.into(),
            sid: None,
            name: Some("Amina El Idrissi".into()),
            acr: Some("loa3".into()),
            professional: true,
            expires_at: 0,
            auth_time: None,
            issued_at: None,
        }
    }

    #[test]
    fn a_refreshed_id_token_for_the_same_user_updates_the_claims() {
        let mut s = Session::for_test("amina", None);
        let issuer = s.issuer.clone();
        assert_eq!(
            apply_refresh(&mut s, tokens(), Some(claims(&issuer, "amina"))),
            Refresh::Updated
        );
        assert_eq!(s.refresh_token.as_deref(), Some("rt-2"));
        assert!(s.access_token.is_empty(), "an access token is never kept");
        assert_eq!(s.acr.as_deref(), Some("loa3"));
        assert_eq!(s.name.as_deref(), Some("Amina El Idrissi"));
        assert!(s.professional);
    }

    #[test]
    fn a_refreshed_id_token_for_another_user_or_issuer_ends_the_session() {
        let mut s = Session::for_test("amina", None);
        let issuer = s.issuer.clone();
        assert_eq!(
            apply_refresh(&mut s, tokens(), Some(claims(&issuer, "youssef"))),
            Refresh::Ended
        );
        assert_eq!(
            apply_refresh(
                &mut s,
                tokens(),
                Some(claims("https://other.test", "amina"))
            ),
            Refresh::Ended
        );
        assert_ne!(
            s.refresh_token.as_deref(),
            Some("rt-2"),
            "nothing of the refusal was kept"
        );
        assert!(!s.professional);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_session_store_outage_is_logged_once_and_every_failure_counted() {
        let p = crate::testing::parts();
        let (lines, _guard) = crate::testing::capture_logs();
        for _ in 0..3 {
            p.sso
                .store_failed(&"connection refused", "session store unavailable");
        }
        assert_eq!(
            lines.text().matches("session store unavailable").count(),
            1,
            "{}",
            lines.text()
        );
        assert_eq!(p.telemetry.metrics.session_store_errors.get(), 3);
    }
}
