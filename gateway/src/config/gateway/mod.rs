//! Validation of `gateway.toml`, one file per section: [`server`], [`portal`] (with the admin
//! and metrics listeners), [`sso`], [`redis`], [`sessions`], [`identity`], [`assist`] and
//! [`telemetry`]. Each section validates its own raw table and records every problem with
//! its key; this module puts the sections together.

mod admin;
mod assist;
mod cache;
mod identity;
mod limits;
mod portal;
mod redis;
mod server;
mod sessions;
mod sso;
mod telemetry;

pub use assist::{check_llm_endpoint, InvalidSetting, LlmEndpoint, DEFAULT_MAX_IN_FLIGHT};
pub use limits::DEFAULT_MAX_IN_FLIGHT_PER_SERVICE;
pub use redis::DEFAULT_KEY_PREFIX;

use super::error::{ConfigError, Problems};
use super::fields::{relative_to, timeouts};
use super::raw::RawGateway;
use super::{Defaults, GatewaySettings, LegacyHostMode, Timeouts};
use std::time::Duration;

/// Timeouts when neither the service nor `[defaults.timeouts]` sets them.
pub const BUILTIN_TIMEOUTS: Timeouts = Timeouts {
    connect: Duration::from_secs(2),
    read: Duration::from_secs(10),
    total: Duration::from_secs(30),
};

/// Whether listeners on `a` and `b` would share a port: the same port on the same address,
/// or on every address (`0.0.0.0`, `[::]`). `[::ffff:127.0.0.1]` is `127.0.0.1` (found when
/// tried: an admin listener written so bound beside the portal's and was never reached).
/// Port 0 is a fresh port each time, never shared.
pub fn same_port(a: std::net::SocketAddr, b: std::net::SocketAddr) -> bool {
    let (x, y) = (a.ip().to_canonical(), b.ip().to_canonical());
    a.port() != 0 && a.port() == b.port() && (x == y || x.is_unspecified() || y.is_unspecified())
}

/// Refuses two listeners on one port (the same address, or one on every address): both
/// sockets would be bound (the side listeners with `SO_REUSEPORT`), and the kernel would
/// spread connections over them, so `/metrics`, the admin API and `/readyz` would be served
/// on the portal's port now and then (found when tried: `metrics.listen` set to the portal's
/// address passed `check` and `serve`).
fn listeners_apart(
    portal: &crate::config::PortalSettings,
    admin: Option<std::net::SocketAddr>,
    metrics: Option<std::net::SocketAddr>,
    p: &mut Problems<'_>,
) {
    let many = portal.listen.len() > 1;
    let mut all: Vec<(String, std::net::SocketAddr)> = portal
        .listen
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let field = if many {
                format!("portal.listen[{i}]")
            } else {
                "portal.listen".to_string()
            };
            (field, *a)
        })
        .collect();
    all.extend(
        portal
            .tls
            .iter()
            .enumerate()
            .map(|(i, t)| (format!("portal.tls[{i}].listen"), t.listen)),
    );
    all.extend(admin.map(|a| ("admin.listen".to_string(), a)));
    all.extend(metrics.map(|a| ("metrics.listen".to_string(), a)));
    for (j, (field, addr)) in all.iter().enumerate() {
        if let Some((other, at)) = all[..j].iter().find(|(_, a)| same_port(*a, *addr)) {
            p.add(
                field.clone(),
                format!(
                    "{addr} is also where {other} listens ({at}): two listeners on one port \
                     would take each other's connections"
                ),
            );
        }
    }
}

/// `raw` validated; every warning is also pushed to `warned`, so they are reported when
/// the settings are not valid, or another file is not (found when tried: `check` printed
/// no warning beside any error).
pub(crate) fn validate_gateway(
    raw: RawGateway,
    p: &mut Problems<'_>,
    warned: &mut Vec<ConfigError>,
) -> Option<GatewaySettings> {
    let mut settings = settings_of(raw, p, warned);
    if let Some(s) = settings.as_mut() {
        s.warnings.clone_from(warned);
    }
    settings
}

fn settings_of(
    raw: RawGateway,
    p: &mut Problems<'_>,
    warnings: &mut Vec<ConfigError>,
) -> Option<GatewaySettings> {
    let file = p.file().to_path_buf();

    let server = server::validate(&raw.server, p);
    let portal = portal::validate(&raw.portal, p);
    if raw.portal.service_origin.is_none() {
        warnings.push(ConfigError::new(
            &file,
            "portal.service_origin",
            "not set: every service shares the portal's origin, so script on any legacy page \
             can act as the signed-in citizen on every other service; set it (e.g. \
             \"https://{id}.services.gov.ma\", wildcard DNS and certificate)",
        ));
    }
    if let Some(portal) = portal.as_ref().filter(|p| !p.public_url.https) {
        let host = portal.public_url.host.as_str();
        let loopback = crate::config::is_loopback_host(host) || host.ends_with(".localhost");
        if !loopback {
            warnings.push(ConfigError::new(
                &file,
                "portal.public_url",
                "plain HTTP: the session and hop cookies cannot take the __Host- prefix, so a \
                 page on one service's origin can plant them for another's (and they cross the \
                 network in the clear); serve the portal over https",
            ));
        }
    }
    let admin = admin::validate(&raw.admin, p);
    let metrics_listen = portal::side_listener(p, "metrics.listen", raw.metrics.listen.as_deref());

    if let (Some(portal), Some(admin), Some(metrics)) = (&portal, &admin, &metrics_listen) {
        listeners_apart(portal, admin.listen, *metrics, p);
    }

    let timeouts = timeouts(
        p,
        "defaults.timeouts",
        Some(&raw.defaults.timeouts),
        &BUILTIN_TIMEOUTS,
    );
    let on_legacy_host = match raw.defaults.on_legacy_host.as_deref() {
        None => Some(LegacyHostMode::Redirect),
        Some(s) => p.check("defaults.on_legacy_host", LegacyHostMode::parse(s)),
    };

    let sso = match &raw.sso {
        None => Some(None),
        Some(raw_sso) => sso::validate(raw_sso, p).map(Some),
    };
    let redis = redis::validate(
        raw.redis.as_ref(),
        &raw.sessions,
        p,
        &mut |field, reason| warnings.push(ConfigError::new(&file, field, reason)),
    );
    // Whether the deployment has a shared store. A `[redis]` with a wrong value counts as
    // one: its own errors say what is wrong, and every setting that needs Redis saying
    // "needs a [redis] section" as well sent the operator after three errors that were not
    // (found when tried).
    let has_redis = redis.as_ref().is_none_or(|r| r.is_some());
    let sessions = sessions::validate(&raw.sessions, has_redis, p);
    let identity = identity::validate(&raw.identity, has_redis, p);
    // An ID token the provider issued to the gateway itself is audienced to its client id: an
    // admin API accepting that audience would take any citizen's ID token as a credential.
    if let (Some(Some(sso)), Some(admin)) = (&sso, &admin) {
        if admin.token_audience.as_deref() == Some(sso.client_id.as_str()) {
            p.add(
                "admin.token_audience",
                "must not be sso.client_id: ID tokens issued to the portal would be accepted \
                 as admin credentials; use the admin API's own resource identifier",
            );
        }
    }
    let registry = admin::registry(&raw.registry, has_redis, p);
    let cache = cache::validate(&raw.cache, has_redis, p);
    let limits = limits::validate(&raw.limits, has_redis, p);
    let assist = assist::validate(&raw.assist, p);
    let telemetry = telemetry::validate(&raw.telemetry, p);

    let services_dir = relative_to(&file, raw.services_dir.as_deref().unwrap_or("services"));
    let ministries_file = relative_to(
        &file,
        raw.ministries_file.as_deref().unwrap_or("ministries.toml"),
    );

    Some(GatewaySettings {
        file,
        server: server?,
        portal: portal?,
        admin_listen: admin.as_ref()?.listen,
        admin: admin?,
        registry: registry?,
        cache: cache?,
        limits: limits?,
        metrics_listen: metrics_listen?,
        defaults: Defaults {
            timeouts: timeouts?,
            on_legacy_host: on_legacy_host?,
        },
        sso: sso?,
        redis: redis?,
        sessions: sessions?,
        identity: identity?,
        assist: assist?,
        telemetry: telemetry?,
        services_dir,
        ministries_file,
        warnings: Vec::new(),
    })
}

/// `gateway.toml` text through [`validate_gateway`], for the sections' tests: the settings
/// (when valid), the errors and the warnings as `file: key: reason` lines.
#[cfg(test)]
pub(crate) fn validate_text(text: &str) -> (Option<GatewaySettings>, Vec<String>) {
    let raw: RawGateway = toml::from_str(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let mut errors = Vec::new();
    let file = std::path::Path::new("gateway.toml");
    let settings = validate_gateway(raw, &mut Problems::new(file, &mut errors), &mut Vec::new());
    (settings, errors.iter().map(ToString::to_string).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The problems of a portal on `portal` with an admin listener on `admin`.
    fn apart(portal: &str, admin: &str) -> Vec<ConfigError> {
        let mut settings = crate::config::fixtures::config_without_secrets()
            .gateway
            .portal;
        settings.listen = vec![portal.parse().expect("address")];
        settings.tls.clear();
        let mut errors = Vec::new();
        let file = std::path::Path::new("gateway.toml");
        listeners_apart(
            &settings,
            Some(admin.parse().expect("address")),
            None,
            &mut Problems::new(file, &mut errors),
        );
        errors
    }

    #[test]
    fn two_listeners_on_one_port_are_refused_however_the_address_is_written() {
        assert_eq!(apart("127.0.0.1:8080", "127.0.0.1:9901").len(), 0);
        assert_eq!(apart("127.0.0.1:8080", "127.0.0.1:8080").len(), 1);
        assert_eq!(apart("127.0.0.1:8080", "[::ffff:127.0.0.1]:8080").len(), 1);
        assert_eq!(apart("0.0.0.0:8080", "127.0.0.1:8080").len(), 1);
    }
}
