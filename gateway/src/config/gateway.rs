//! Validation of `gateway.toml` and `ministries.toml`.

use super::error::Problems;
use super::raw::{
    RawAssist, RawGateway, RawIdentity, RawLocalized, RawMinistries, RawSecret, RawSessions,
    RawSso, RawTelemetry, RawTimeouts,
};
use super::values;
use super::{
    AccessLogTarget, AssistSettings, Defaults, GatewaySettings, IdentitySettings, LegacyHostMode,
    LlmConfig, Localized, Ministry, PortalSettings, PublicUrl, SecretRef, ServerSettings,
    SessionSettings, SessionStoreKind, SsoSettings, TelemetrySettings, Timeouts, TlsListener,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Timeouts when neither the service nor `[defaults.timeouts]` sets them.
pub const BUILTIN_TIMEOUTS: Timeouts = Timeouts {
    connect: Duration::from_secs(2),
    read: Duration::from_secs(10),
    total: Duration::from_secs(30),
};

/// Resolves a path written in a config file relative to that file's directory.
pub(crate) fn relative_to(file: &Path, written: &str) -> PathBuf {
    let p = Path::new(written);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        file.parent().unwrap_or(Path::new(".")).join(p)
    }
}

pub(crate) fn validate_gateway(raw: RawGateway, p: &mut Problems<'_>) -> Option<GatewaySettings> {
    let file = p.file().to_path_buf();

    let threads = match raw.server.threads {
        None => Some(2),
        Some(t) => p.check("server.threads", values::bounded(t, 1, 1024)),
    };
    let pool = match raw.server.upstream_keepalive_pool_size {
        None => Some(1024),
        Some(v) => p.check(
            "server.upstream_keepalive_pool_size",
            values::bounded(v, 0, 1_000_000),
        ),
    };
    let grace_period = opt_duration(
        p,
        "server.grace_period",
        raw.server.grace_period.as_deref(),
        Duration::from_secs(5),
    );
    let graceful_timeout = opt_duration(
        p,
        "server.graceful_shutdown_timeout",
        raw.server.graceful_shutdown_timeout.as_deref(),
        Duration::from_secs(10),
    );

    let public_url = p.check("portal.public_url", public_url(&raw.portal.public_url));
    let mut listen = Vec::new();
    for (i, a) in raw.portal.listen.iter().enumerate() {
        if let Some(addr) = p.check(format!("portal.listen[{i}]"), values::listen_addr(a)) {
            listen.push(addr);
        }
    }
    let mut tls = Vec::new();
    for (i, t) in raw.portal.tls.iter().enumerate() {
        let addr = p.check(
            format!("portal.tls[{i}].listen"),
            values::listen_addr(&t.listen),
        );
        let cert = relative_to(&file, &t.cert);
        let key = relative_to(&file, &t.key);
        for (field, path) in [("cert", &cert), ("key", &key)] {
            if !path.is_file() {
                p.add(
                    format!("portal.tls[{i}].{field}"),
                    format!("file {} does not exist", path.display()),
                );
            }
        }
        if let Some(listen) = addr {
            tls.push(TlsListener {
                listen,
                cert,
                key,
                h2: t.h2.unwrap_or(true),
            });
        }
    }
    if raw.portal.listen.is_empty() && raw.portal.tls.is_empty() {
        p.add(
            "portal.listen",
            "at least one plain or TLS listener is required",
        );
    }
    let mut trusted = Vec::new();
    for (i, cidr) in raw.portal.trusted_proxies.iter().enumerate() {
        let parsed = cidr
            .parse::<ipnet::IpNet>()
            .or_else(|_| cidr.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
            .map_err(|_| format!("{cidr:?} is not an IP address or CIDR block"));
        if let Some(net) = p.check(format!("portal.trusted_proxies[{i}]"), parsed) {
            trusted.push(net);
        }
    }
    let max_header_bytes = match raw.portal.max_header_bytes {
        None => Some(32 * 1024),
        Some(v) => p.check(
            "portal.max_header_bytes",
            values::bounded(v, 1024, 1024 * 1024),
        ),
    };

    let admin_listen = opt_listen(p, "admin.listen", raw.admin.listen.as_deref());
    let metrics_listen = opt_listen(p, "metrics.listen", raw.metrics.listen.as_deref());

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
        Some(raw_sso) => sso(raw_sso, p).map(Some),
    };
    let sessions = sessions(&raw.sessions, p);
    let identity = identity(&raw.identity, p);
    let assist = assist(&raw.assist, p);
    let telemetry = telemetry(&raw.telemetry, p);

    let services_dir = relative_to(&file, raw.services_dir.as_deref().unwrap_or("services"));
    let ministries_file = relative_to(
        &file,
        raw.ministries_file.as_deref().unwrap_or("ministries.toml"),
    );

    Some(GatewaySettings {
        file,
        server: ServerSettings {
            threads: threads?,
            work_stealing: raw.server.work_stealing.unwrap_or(true),
            upstream_keepalive_pool_size: pool?,
            grace_period: grace_period?,
            graceful_shutdown_timeout: graceful_timeout?,
        },
        portal: PortalSettings {
            public_url: public_url?,
            listen,
            h2c: raw.portal.h2c.unwrap_or(true),
            tls,
            trusted_proxies: trusted,
            max_header_bytes: max_header_bytes?,
        },
        admin_listen: admin_listen?,
        metrics_listen: metrics_listen?,
        defaults: Defaults {
            timeouts: timeouts?,
            on_legacy_host: on_legacy_host?,
        },
        sso: sso?,
        sessions: sessions?,
        identity: identity?,
        assist: assist?,
        telemetry: telemetry?,
        services_dir,
        ministries_file,
    })
}

fn public_url(s: &str) -> Result<PublicUrl, String> {
    let url = url::Url::parse(s).map_err(|e| format!("{s:?} is not a URL: {e}"))?;
    let https = match url.scheme() {
        "http" => false,
        "https" => true,
        other => return Err(format!("scheme must be http or https, not {other:?}")),
    };
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err("must be an origin only, like \"https://portail.gov.ma\" (no path)".into());
    }
    let host = url
        .host_str()
        .ok_or_else(|| "must name a host".to_string())?
        .to_ascii_lowercase();
    let authority = match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.clone(),
    };
    Ok(PublicUrl {
        https,
        host: host.trim_matches(['[', ']']).to_string(),
        authority,
    })
}

fn opt_duration(
    p: &mut Problems<'_>,
    field: &str,
    value: Option<&str>,
    default: Duration,
) -> Option<Duration> {
    match value {
        None => Some(default),
        Some(s) => p.check(field, values::duration(s)),
    }
}

fn opt_listen(
    p: &mut Problems<'_>,
    field: &str,
    value: Option<&str>,
) -> Option<Option<std::net::SocketAddr>> {
    match value {
        None | Some("") => Some(None),
        Some(s) => p.check(field, values::listen_addr(s)).map(Some),
    }
}

/// Validates a `timeouts` table, filling unset values from `inherited`.
pub(crate) fn timeouts(
    p: &mut Problems<'_>,
    field: &str,
    raw: Option<&RawTimeouts>,
    inherited: &Timeouts,
) -> Option<Timeouts> {
    let Some(raw) = raw else {
        return Some(*inherited);
    };
    let connect = opt_duration(
        p,
        &format!("{field}.connect"),
        raw.connect.as_deref(),
        inherited.connect,
    );
    let read = opt_duration(
        p,
        &format!("{field}.read"),
        raw.read.as_deref(),
        inherited.read,
    );
    let total = opt_duration(
        p,
        &format!("{field}.total"),
        raw.total.as_deref(),
        inherited.total,
    );
    let t = Timeouts {
        connect: connect?,
        read: read?,
        total: total?,
    };
    if t.total < t.connect {
        p.add(
            format!("{field}.total"),
            "must not be shorter than the connect timeout",
        );
        return None;
    }
    Some(t)
}

pub(crate) fn localized(
    p: &mut Problems<'_>,
    field: &str,
    raw: &RawLocalized,
) -> Option<Localized> {
    let mut get = |lang: &str, v: &Option<String>| match v.as_deref().map(str::trim) {
        Some(s) if !s.is_empty() => Some(s.to_string()),
        _ => {
            p.add(
                format!("{field}.{lang}"),
                "is required and must not be empty",
            );
            None
        }
    };
    let ar = get("ar", &raw.ar);
    let fr = get("fr", &raw.fr);
    let en = get("en", &raw.en);
    Some(Localized {
        ar: ar?,
        fr: fr?,
        en: en?,
    })
}

pub(crate) fn validate_ministries(
    raw: RawMinistries,
    p: &mut Problems<'_>,
) -> BTreeMap<String, Ministry> {
    let mut out = BTreeMap::new();
    for (id, m) in raw {
        if p.check(id.clone(), values::slug(&id)).is_none() {
            continue;
        }
        let names = localized(p, &format!("{id}.names"), &m.names);
        let mut agencies = BTreeMap::new();
        for (aid, a) in &m.agencies {
            let field = format!("{id}.agencies.{aid}");
            if p.check(field.clone(), values::slug(aid)).is_none() {
                continue;
            }
            if let Some(n) = localized(p, &format!("{field}.names"), &a.names) {
                agencies.insert(aid.clone(), n);
            }
        }
        if let Some(names) = names {
            out.insert(
                id.clone(),
                Ministry {
                    id,
                    names,
                    agencies,
                },
            );
        }
    }
    out
}

/// A `{ env = "..." }` / `{ file = "..." }` secret reference.
pub(crate) fn secret_ref(
    file: &Path,
    field: &str,
    raw: &RawSecret,
    p: &mut Problems<'_>,
) -> Option<SecretRef> {
    match (&raw.env, &raw.file) {
        (Some(name), None) => {
            let ok = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
            if ok {
                Some(SecretRef::Env(name.clone()))
            } else {
                p.add(
                    format!("{field}.env"),
                    format!("{name:?} must be an environment variable name (A-Z, 0-9, _)"),
                );
                None
            }
        }
        (None, Some(path)) => Some(SecretRef::File(relative_to(file, path))),
        _ => {
            p.add(
                field,
                "give exactly one of { env = \"NAME\" } or { file = \"path\" }; never the secret itself",
            );
            None
        }
    }
}

fn sso(raw: &RawSso, p: &mut Problems<'_>) -> Option<SsoSettings> {
    let file = p.file().to_path_buf();
    let issuer = match url::Url::parse(raw.issuer.trim()) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {
            Some(raw.issuer.trim().trim_end_matches('/').to_string())
        }
        Ok(_) => {
            p.add("sso.issuer", "must be an http(s) URL with a host");
            None
        }
        Err(e) => {
            p.add("sso.issuer", format!("{:?} is not a URL: {e}", raw.issuer));
            None
        }
    };
    if raw.client_id.trim().is_empty() {
        p.add("sso.client_id", "must not be empty");
    }
    let secret = secret_ref(&file, "sso.client_secret", &raw.client_secret, p);
    let mut scopes = vec!["openid".to_string()];
    for (i, s) in raw.scopes.iter().enumerate() {
        if s.is_empty() || s.contains(' ') {
            p.add(
                format!("sso.scopes[{i}]"),
                "must be one scope token without spaces",
            );
        } else if !scopes.contains(s) {
            scopes.push(s.clone());
        }
    }
    if raw.scopes.is_empty() {
        scopes.extend(["profile".to_string(), "email".to_string()]);
    }
    let clock_skew = opt_duration(
        p,
        "sso.clock_skew",
        raw.clock_skew.as_deref(),
        Duration::from_secs(60),
    );
    let refresh_before = opt_duration(
        p,
        "sso.refresh_before",
        raw.refresh_before.as_deref(),
        Duration::from_secs(30),
    );
    let provider_timeout = opt_duration(
        p,
        "sso.provider_timeout",
        raw.provider_timeout.as_deref(),
        Duration::from_secs(5),
    );
    let values = if raw.professional_values.is_empty() {
        vec!["professional".to_string()]
    } else {
        raw.professional_values.clone()
    };
    Some(SsoSettings {
        issuer: issuer?,
        client_id: (!raw.client_id.trim().is_empty()).then(|| raw.client_id.trim().to_string())?,
        client_secret: secret?,
        scopes,
        professional_claim: raw
            .professional_claim
            .clone()
            .unwrap_or_else(|| "profile".to_string()),
        professional_values: values,
        clock_skew: clock_skew?,
        refresh_before: refresh_before?,
        provider_timeout: provider_timeout?,
    })
}

fn sessions(raw: &RawSessions, p: &mut Problems<'_>) -> Option<SessionSettings> {
    let store = match raw.store.as_deref().unwrap_or("memory") {
        "memory" => {
            if !raw.redis_urls.is_empty() {
                p.add("sessions.redis_urls", "only used with store = \"redis\"");
            }
            Some(SessionStoreKind::Memory)
        }
        "redis" => {
            let mut ok = !raw.redis_urls.is_empty();
            if !ok {
                p.add(
                    "sessions.redis_urls",
                    "store = \"redis\" needs at least one redis:// URL",
                );
            }
            for (i, u) in raw.redis_urls.iter().enumerate() {
                let valid = url::Url::parse(u).ok().is_some_and(|u| {
                    matches!(u.scheme(), "redis" | "rediss") && u.host().is_some()
                });
                if !valid {
                    p.add(
                        format!("sessions.redis_urls[{i}]"),
                        format!("{u:?} is not a redis:// or rediss:// URL"),
                    );
                    ok = false;
                }
            }
            let cluster = raw.cluster.unwrap_or(raw.redis_urls.len() > 1);
            ok.then(|| SessionStoreKind::Redis {
                urls: raw.redis_urls.clone(),
                cluster,
            })
        }
        other => {
            p.add(
                "sessions.store",
                format!("{other:?} is not one of: memory, redis"),
            );
            None
        }
    };
    let idle = opt_duration(
        p,
        "sessions.idle_timeout",
        raw.idle_timeout.as_deref(),
        Duration::from_secs(30 * 60),
    );
    let absolute = opt_duration(
        p,
        "sessions.absolute_timeout",
        raw.absolute_timeout.as_deref(),
        Duration::from_secs(12 * 3600),
    );
    let cache_ttl = opt_duration(
        p,
        "sessions.cache_ttl",
        raw.cache_ttl.as_deref(),
        Duration::from_secs(5),
    );
    if let (Some(i), Some(a)) = (idle, absolute) {
        if i > a {
            p.add(
                "sessions.idle_timeout",
                "must not be longer than sessions.absolute_timeout",
            );
            return None;
        }
    }
    Some(SessionSettings {
        store: store?,
        idle_timeout: idle?,
        absolute_timeout: absolute?,
        cache_ttl: cache_ttl?,
        key_prefix: raw
            .key_prefix
            .clone()
            .unwrap_or_else(|| "egov:".to_string()),
    })
}

fn identity(raw: &RawIdentity, p: &mut Problems<'_>) -> Option<IdentitySettings> {
    let file = p.file().to_path_buf();
    let header = raw
        .header
        .as_deref()
        .unwrap_or("x-egov-identity")
        .to_ascii_lowercase();
    let header_ok = http::HeaderName::from_bytes(header.as_bytes()).is_ok();
    if !header_ok {
        p.add(
            "identity.header",
            format!("{header:?} is not a valid header name"),
        );
    }
    let ttl = opt_duration(
        p,
        "identity.ttl",
        raw.ttl.as_deref(),
        Duration::from_secs(60),
    );
    if ttl.is_some_and(|t| t > Duration::from_secs(60)) {
        p.add(
            "identity.ttl",
            "must be at most 60s: assertions are short-lived by design",
        );
        return None;
    }
    let secret = match &raw.pairwise_secret {
        None => Some(None),
        Some(s) => secret_ref(&file, "identity.pairwise_secret", s, p).map(Some),
    };
    let mut keys = Vec::new();
    for (i, k) in raw.signing_keys.iter().enumerate() {
        let path = relative_to(&file, k);
        if !path.is_file() {
            p.add(
                format!("identity.signing_keys[{i}]"),
                format!("file {} does not exist", path.display()),
            );
        }
        keys.push(path);
    }
    let rotate = opt_duration(
        p,
        "identity.rotate_every",
        raw.rotate_every.as_deref(),
        Duration::from_secs(24 * 3600),
    );
    Some(IdentitySettings {
        header: header_ok.then_some(header)?,
        ttl: ttl?,
        pairwise_secret: secret?,
        signing_keys: keys,
        rotate_every: rotate?,
    })
}

fn assist(raw: &RawAssist, p: &mut Problems<'_>) -> Option<AssistSettings> {
    let file = p.file().to_path_buf();
    let shortlist = match raw.shortlist {
        None => Some(5),
        Some(v) => p.check("assist.shortlist", values::bounded(v, 2, 10)),
    };
    let cache_ttl = opt_duration(
        p,
        "assist.cache_ttl",
        raw.cache_ttl.as_deref(),
        Duration::from_secs(600),
    );
    let llm = match &raw.llm {
        None => Some(None),
        Some(l) => {
            let url_ok = url::Url::parse(&l.base_url)
                .ok()
                .is_some_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
            if !url_ok {
                p.add(
                    "assist.llm.base_url",
                    format!("{:?} is not an http(s) URL", l.base_url),
                );
            }
            if l.model.trim().is_empty() {
                p.add("assist.llm.model", "must not be empty");
            }
            let key = match &l.api_key {
                None => Some(None),
                Some(k) => secret_ref(&file, "assist.llm.api_key", k, p).map(Some),
            };
            let deadline = opt_duration(
                p,
                "assist.llm.deadline",
                l.deadline.as_deref(),
                Duration::from_secs(2),
            );
            let open_for = opt_duration(
                p,
                "assist.llm.breaker_open_for",
                l.breaker_open_for.as_deref(),
                Duration::from_secs(30),
            );
            let retries = match l.retries {
                None => Some(2),
                Some(v) => p.check("assist.llm.retries", values::bounded(v, 0, 5)),
            };
            let max_tokens = match l.max_tokens {
                None => Some(32),
                Some(v) => p.check("assist.llm.max_tokens", values::bounded(v, 8, 4096)),
            };
            let failures = match l.breaker_failures {
                None => Some(5),
                Some(v) => p.check("assist.llm.breaker_failures", values::bounded(v, 1, 1000)),
            };
            let format = l
                .response_format
                .clone()
                .unwrap_or_else(|| "json_schema".into());
            let known_format = matches!(
                format.as_str(),
                "json_schema" | "json_object_schema" | "json_object" | "off"
            );
            if !known_format {
                p.add(
                    "assist.llm.response_format",
                    format!("{format:?} is not one of: json_schema, json_object_schema, json_object, off"),
                );
            }
            (url_ok
                && !l.model.trim().is_empty()
                && matches!(format.as_str(), "json_schema" | "json_object" | "off"))
            .then_some(())?;
            Some(Some(LlmConfig {
                base_url: l.base_url.trim_end_matches('/').to_string(),
                model: l.model.clone(),
                api_key: key?,
                deadline: deadline?,
                retries: retries? as u32,
                response_format: format,
                max_tokens: max_tokens? as u32,
                breaker_failures: failures? as u32,
                breaker_open_for: open_for?,
            }))
        }
    };
    Some(AssistSettings {
        shortlist: shortlist?,
        cache_ttl: cache_ttl?,
        llm: llm?,
    })
}

fn telemetry(raw: &RawTelemetry, p: &mut Problems<'_>) -> Option<TelemetrySettings> {
    let file = p.file().to_path_buf();
    let access_log = match raw.access_log.as_deref().unwrap_or("off") {
        "off" | "" => AccessLogTarget::Off,
        "stdout" => AccessLogTarget::Stdout,
        other => match other.strip_prefix("file:") {
            Some(path) if !path.is_empty() => AccessLogTarget::File(relative_to(&file, path)),
            _ => {
                p.add(
                    "telemetry.access_log",
                    format!("{other:?} is not one of: off, stdout, file:<path>"),
                );
                return None;
            }
        },
    };
    let otlp = match raw.otlp_endpoint.as_deref() {
        None | Some("") => None,
        Some(u) => {
            let ok = url::Url::parse(u)
                .ok()
                .is_some_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
            if !ok {
                p.add(
                    "telemetry.otlp_endpoint",
                    format!("{u:?} is not an http(s) URL"),
                );
                return None;
            }
            Some(u.trim_end_matches('/').to_string())
        }
    };
    let ratio = raw.sampling_ratio.unwrap_or(1.0);
    if !(0.0..=1.0).contains(&ratio) {
        p.add(
            "telemetry.sampling_ratio",
            format!("must be between 0 and 1, got {ratio}"),
        );
        return None;
    }
    Some(TelemetrySettings {
        access_log,
        otlp_endpoint: otlp,
        sampling_ratio: ratio,
        service_name: raw
            .service_name
            .clone()
            .unwrap_or_else(|| "egov-gateway".to_string()),
        metrics: raw.metrics.unwrap_or(true),
    })
}
