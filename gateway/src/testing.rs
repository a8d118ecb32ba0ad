//! Helpers for the unit tests of every room: the repository's own configuration, and a
//! snapshot of it that needs no secret and contacts nothing.

use crate::config::{self, AdapterStep, Config, Secrets};
use crate::registry::Snapshot;
use std::sync::Arc;

/// The repository's `config/gateway.toml`, as shipped.
pub fn repo_config() -> Config {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config");
    config::load(&dir.join("gateway.toml")).unwrap_or_else(|e| panic!("{e}"))
}

/// The shipped configuration without the services whose adapters read a secret (their
/// environment variables are not set in unit tests).
pub fn config_without_secrets() -> Config {
    let mut config = repo_config();
    config.services.retain(|s| {
        !s.adapters.iter().any(|a| {
            matches!(
                a,
                AdapterStep::BasicAuth { .. } | AdapterStep::ApiKey { .. }
            )
        })
    });
    config
}

/// A snapshot of [`config_without_secrets`].
pub fn snapshot() -> Arc<Snapshot> {
    let config = config_without_secrets();
    Arc::new(Snapshot::build(&config, &Secrets::from_process()).unwrap_or_else(|e| panic!("{e}")))
}

/// A snapshot of [`config_without_secrets`] with every service on its own origin,
/// `https://<id>.services.gov.ma`, behind the portal `https://portail.gov.ma`.
pub fn snapshot_on_origins() -> Arc<Snapshot> {
    let mut config = config_without_secrets();
    config.gateway.portal.public_url = config::PublicUrl {
        https: true,
        host: "portail.gov.ma".into(),
        authority: "portail.gov.ma".into(),
    };
    config.gateway.portal.service_origins = Some(config::ServiceOrigins {
        https: true,
        domain: "services.gov.ma".into(),
        port: None,
    });
    Arc::new(Snapshot::build(&config, &Secrets::from_process()).unwrap_or_else(|e| panic!("{e}")))
}

// What the stages' (and the portal's) unit tests build requests and parts from.

use crate::assist::Assist;
use crate::config::TelemetrySettings;
use crate::kv::MemoryKv;
use crate::sso::Sso;
use crate::telemetry::Telemetry;
use pingora::proxy::Session;
use tokio::io::AsyncWriteExt;

/// A pingora session that has read `raw` (a whole HTTP/1.1 request head, and body).
pub async fn request(raw: &[u8]) -> Session {
    let (mut client, server) = tokio::io::duplex(128 * 1024);
    client.write_all(raw).await.expect("write the request");
    // Kept open: the session may read a body after the head.
    std::mem::forget(client);
    let mut session = Session::new_h1(Box::new(server));
    assert!(
        session.read_request().await.expect("a request"),
        "no request"
    );
    session
}

pub fn telemetry() -> Arc<Telemetry> {
    let settings = TelemetrySettings {
        access_log: crate::config::AccessLogTarget::Off,
        otlp_endpoint: None,
        sampling_ratio: 1.0,
        service_name: "egov-gateway-test".into(),
        metrics: true,
    };
    Arc::new(Telemetry::new(&settings).expect("telemetry"))
}

/// SSO (no provider: the unit-test configuration has none), the router and telemetry.
pub struct Parts {
    pub sso: Arc<Sso>,
    pub assist: Arc<Assist>,
    pub telemetry: Arc<Telemetry>,
}

impl Parts {
    /// The portal over these parts, keeping feedback in memory.
    pub fn portal(&self) -> Arc<crate::portal::Portal> {
        Arc::new(crate::portal::Portal::new(crate::portal::PortalDeps {
            sso: Arc::clone(&self.sso),
            assist: Arc::clone(&self.assist),
            telemetry: Arc::clone(&self.telemetry),
            feedback: Arc::new(crate::portal::feedback::FeedbackLog::Shared(Arc::new(
                MemoryKv::default(),
            ))),
            https: false,
        }))
    }
}

pub fn parts() -> Parts {
    let config = crate::testing::config_without_secrets();
    let secrets = crate::config::Secrets::from_process();
    let telemetry = telemetry();
    let metrics = Arc::clone(&telemetry.metrics);
    let sso = Sso::new(
        &config,
        &secrets,
        Arc::new(MemoryKv::default()),
        Arc::clone(&metrics),
    )
    .expect("sso");
    let mut assist_settings = config.gateway.assist.clone();
    assist_settings.llm = None;
    let assist = Assist::new(
        &assist_settings,
        &secrets,
        Arc::new(MemoryKv::default()),
        metrics,
    )
    .expect("router");
    Parts {
        sso: Arc::new(sso),
        assist: Arc::new(assist),
        telemetry,
    }
}
