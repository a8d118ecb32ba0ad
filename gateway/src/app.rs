//! Everything a running gateway is made of, built once from a validated configuration: the
//! registry snapshot, single sign-on, the intent router and telemetry. `serve`, `demo` and
//! the test harness all start a gateway through [`App::new`], so they run the same thing.

use crate::assist::{Assist, AssistError};
use crate::config::{Config, ConfigErrors, Secrets, SessionStoreKind};
use crate::kv::RedisKv;
use crate::registry::{Registry, Snapshot};
use crate::sso::{Sso, SsoError};
use crate::telemetry::{Telemetry, TelemetryError};
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
    #[error("sessions.redis_urls: {0}")]
    Redis(String),
    #[error("{0}")]
    Telemetry(#[from] TelemetryError),
    /// The client for the gateway's own calls could not be built (its TLS set-up failed).
    #[error("cannot build the HTTP client for the SOAP facade: {0}")]
    HttpClient(#[source] reqwest::Error),
}

/// The parts of a running gateway.
pub struct App {
    pub registry: Arc<Registry>,
    pub sso: Arc<Sso>,
    pub assist: Arc<Assist>,
    pub telemetry: Arc<Telemetry>,
    /// Client for the calls the gateway makes itself to plain-text legacy backends (the
    /// SOAP facade); built here so a failure stops start-up instead of silently losing
    /// its no-redirect, no-proxy settings.
    pub http: reqwest::Client,
}

impl App {
    /// Builds every part; nothing external is contacted yet.
    pub fn new(config: &Config, secrets: &Secrets) -> Result<App, AppError> {
        let telemetry = Arc::new(Telemetry::new(&config.gateway.telemetry)?);
        let metrics = Arc::clone(&telemetry.metrics);
        let snapshot = Snapshot::build_with_metrics(config, secrets, Some(&metrics))?;
        metrics
            .registry_services
            .set(snapshot.services().len() as i64);
        let sessions = &config.gateway.sessions;
        let kv = match &sessions.store {
            SessionStoreKind::Redis { urls, cluster } => Some(Arc::new(
                RedisKv::new(urls, *cluster, &sessions.key_prefix)
                    .map_err(|e| AppError::Redis(e.0))?,
            )),
            SessionStoreKind::Memory => None,
        };
        let sso = Arc::new(Sso::new(config, secrets, kv.clone(), Arc::clone(&metrics))?);
        let assist = Arc::new(Assist::new(&config.gateway.assist, secrets, kv, metrics)?);
        let http = crate::soap_facade::client_builder()
            .build()
            .map_err(AppError::HttpClient)?;
        Ok(App {
            http,
            registry: Arc::new(Registry::new(snapshot)),
            sso,
            assist,
            telemetry,
        })
    }
}
