//! Everything a running gateway is made of, built once from a validated configuration: the
//! registry snapshot and the live registry that changes it, the ministries' admin API, the
//! portal's pages, single sign-on, the intent router, the shared state and telemetry. `serve`, `demo` and the test harness all start a gateway through
//! [`App::new`], so they run the same thing.

use crate::admin::Admin;
use crate::assist::{Assist, AssistError};
use crate::cache::ResponseCache;
use crate::certificates::{CertificateError, CertificateMetrics, PortalCertificates};
use crate::config::{Config, ConfigErrors, RegistryStoreKind, Secrets, SessionStoreKind};
use crate::kv::SharedState;
use crate::portal::feedback::FeedbackLog;
use crate::portal::{Portal, PortalDeps};
use crate::registry::store::{FileStore, SharedStore, StoreError};
use crate::registry::{Backing, LiveRegistry, Registry, Snapshot};
use crate::sso::{Sso, SsoError};
use crate::telemetry::{Telemetry, TelemetryError};
use crate::upstream::Upstreams;
use std::sync::Arc;

/// A configuration that cannot be started.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("invalid configuration:\n{0}")]
    Config(#[from] ConfigErrors),
    #[error("{0}")]
    Sso(#[from] SsoError),
    #[error("{0}")]
    Assist(#[from] AssistError),
    #[error("redis: {0}")]
    Redis(#[from] crate::kv::KvError),
    #[error("{0}")]
    Telemetry(#[from] TelemetryError),
    #[error("{0}")]
    Registry(#[from] StoreError),
    #[error("admin audit log: {0}")]
    Audit(std::io::Error),
    #[error("TLS listener {0}: {1}")]
    Certificate(std::net::SocketAddr, CertificateError),
}

/// The parts of a running gateway.
pub struct App {
    pub registry: Arc<Registry>,
    /// The registry kept in step with its store (admin API, file edits, other instances).
    pub live: Arc<LiveRegistry>,
    /// The ministries' API (on the admin listener).
    pub admin: Arc<Admin>,
    pub portal: Arc<Portal>,
    pub sso: Arc<Sso>,
    pub assist: Arc<Assist>,
    pub telemetry: Arc<Telemetry>,
    /// How backends are reached (peers, deadlines, failover, outcomes), for the proxy and
    /// for the gateway's own calls (the SOAP facade) alike.
    pub upstreams: Arc<Upstreams>,
    pub shared: Arc<SharedState>,
    /// The response cache (storage, purges); what each service keeps is its `[cache]`.
    pub cache: Arc<ResponseCache>,
    /// Connection caps and the request-header deadline of the portal listeners.
    pub connections: crate::limits::ConnectionLimits,
    /// Request-rate buckets (`[limits.rate]` and each service's `[limits]`).
    pub rate_limiter: Arc<crate::limits::rate::RateLimiter>,
    /// Set once shutdown has begun: `/readyz` answers 503 so load balancers stop sending,
    /// while the portal keeps serving for `server.grace_period`.
    pub draining: Arc<std::sync::atomic::AtomicBool>,
    /// Set once this process is leaving: SIGTERM's grace period (with [`Self::draining`])
    /// or a graceful upgrade's hand-over (SIGQUIT; `/readyz` stays ready then, the new
    /// process answering beside it on the same ports). Every answer from then on closes its
    /// connection, so kept-alive clients move elsewhere before this process stops.
    pub closing_connections: Arc<std::sync::atomic::AtomicBool>,
    /// The TLS listeners' certificates, which a reload reads again.
    pub certificates: Arc<PortalCertificates>,
}

impl App {
    /// Builds every part; nothing external is contacted yet.
    pub fn new(config: &Config, secrets: &Secrets) -> Result<App, AppError> {
        let telemetry = Arc::new(Telemetry::new(&config.gateway.telemetry)?);
        let metrics = Arc::clone(&telemetry.metrics);
        let certificates = Arc::new(
            PortalCertificates::load(
                config
                    .gateway
                    .portal
                    .tls
                    .iter()
                    .map(|t| (t.listen, t.cert.as_path(), t.key.as_path())),
                Some(CertificateMetrics {
                    expiry: metrics.tls_certificate_expiry.clone(),
                    reloads: metrics.tls_certificate_reloads.clone(),
                }),
            )
            .map_err(|(listen, e)| AppError::Certificate(listen, e))?,
        );
        let kept = crate::registry::store::files::with_kept_secrets(config, secrets)?;
        let snapshot = Snapshot::build_with_metrics(config, &kept, Some(&metrics))?;
        for (service, why) in snapshot.unresolved() {
            tracing::warn!(service, reasons = ?why, "a backend name did not resolve: the service runs without it until it does");
        }
        metrics
            .registry_services
            .set(snapshot.services().len() as i64);
        let shared = Arc::new(SharedState::new(config.gateway.redis.as_ref(), secrets)?);
        let sessions = match config.gateway.sessions.store {
            SessionStoreKind::Redis => shared.store(),
            SessionStoreKind::Memory => shared.memory(),
        };
        let sso = Arc::new(Sso::new(config, secrets, sessions, Arc::clone(&metrics))?);
        let assist = Arc::new(Assist::new(
            &config.gateway.assist,
            config.gateway.identity.pairwise_secret.as_ref(),
            secrets,
            shared.store(),
            Arc::clone(&metrics),
        )?);
        let registry = Arc::new(Registry::new(snapshot));
        let backing = match config.gateway.registry.store {
            RegistryStoreKind::Files => Backing::Files(Arc::new(
                FileStore::open(
                    &config.gateway.services_dir,
                    &config.gateway.registry.history,
                )?
                .with_history_per_ministry(config.gateway.registry.history_per_ministry),
            )),
            RegistryStoreKind::Redis => Backing::Shared(Arc::new(SharedStore::new(
                shared.store(),
                config.gateway.registry.history_per_ministry,
            ))),
        };
        let live = Arc::new(LiveRegistry::new(
            Arc::clone(&registry),
            backing,
            config,
            secrets.clone(),
            Some(Arc::clone(&metrics)),
        ));
        let cache = Arc::new(ResponseCache::new(
            &config.gateway.cache,
            shared.store(),
            Arc::clone(&metrics) as Arc<dyn crate::cache::StorageEvents>,
        ));
        let feedback = Arc::new(if shared.is_distributed() {
            FeedbackLog::Shared(shared.store())
        } else {
            match &config.gateway.portal.feedback_log {
                Some(path) => FeedbackLog::file(path.clone()),
                None => FeedbackLog::Off,
            }
        });
        let admin = Arc::new(
            Admin::new(
                &config.gateway.admin,
                Arc::clone(&live),
                Arc::clone(&sso),
                Arc::clone(&cache),
                Arc::clone(&feedback),
                metrics,
            )
            .map_err(AppError::Audit)?,
        );
        let rate_limiter = Arc::new(crate::limits::rate::RateLimiter::new(
            config.gateway.limits.rate.shared.then(|| shared.store()),
        ));
        let portal = Arc::new(Portal::new(PortalDeps {
            sso: Arc::clone(&sso),
            assist: Arc::clone(&assist),
            telemetry: Arc::clone(&telemetry),
            feedback,
            https: config.gateway.portal.public_url.https,
        }));
        Ok(App {
            registry,
            live,
            admin,
            portal,
            upstreams: Arc::new(Upstreams::new(
                &config.gateway.server,
                Arc::clone(&telemetry),
            )),
            sso,
            assist,
            telemetry,
            shared,
            cache,
            rate_limiter,
            connections: crate::limits::ConnectionLimits::new(&config.gateway.limits),
            draining: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            closing_connections: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            certificates,
        })
    }
}
