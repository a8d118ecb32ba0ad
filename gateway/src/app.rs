//! Everything a running gateway is made of, built once from a validated configuration: the
//! registry snapshot, single sign-on, the intent router and the metrics. `serve`, `demo`
//! and the test harness all start a gateway through [`App::new`], so they run the same thing.

use crate::assist::{Assist, AssistError};
use crate::config::{Config, ConfigErrors, Secrets, SessionStoreKind};
use crate::kv::RedisKv;
use crate::registry::{Registry, Snapshot};
use crate::sso::{Sso, SsoError};
use crate::telemetry::Metrics;
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
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}

/// The parts of a running gateway.
pub struct App {
    pub registry: Arc<Registry>,
    pub sso: Arc<Sso>,
    pub assist: Arc<Assist>,
    pub metrics: Arc<Metrics>,
}

impl App {
    /// Builds every part; nothing external is contacted yet.
    pub fn new(config: &Config, secrets: &Secrets) -> Result<App, AppError> {
        let metrics = Arc::new(Metrics::new()?);
        let snapshot = Snapshot::build(config, secrets)?;
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
        let sso = Arc::new(Sso::new(config, secrets, kv.clone())?);
        let assist = Arc::new(Assist::new(
            &config.gateway.assist,
            secrets,
            kv,
            Arc::clone(&metrics),
        )?);
        Ok(App {
            registry: Arc::new(Registry::new(snapshot)),
            sso,
            assist,
            metrics,
        })
    }
}
