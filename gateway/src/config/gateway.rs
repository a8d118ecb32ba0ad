//! Validation of `gateway.toml` and `ministries.toml`.

use super::error::Problems;
use super::raw::{
    RawAssist, RawGateway, RawIdentity, RawLlm, RawLocalized, RawMinistries, RawSecret,
    RawSessions, RawSso, RawTelemetry, RawTimeouts,
};
use super::values;
use super::{
    AccessLogTarget, AssistSettings, Defaults, GatewaySettings, IdentitySettings, LegacyHostMode,
    LlmConfig, Localized, Ministry, PortalSettings, PublicUrl, SecretRef, ServerSettings,
    SessionSettings, SessionStoreKind, SsoSettings, TelemetrySettings, Timeouts, TlsListener,
};
use crate::assist::llm::{self, ResponseFormatMode};
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
        Some(l) => assist_llm(l, p).map(Some),
    };
    Some(AssistSettings {
        shortlist: shortlist?,
        cache_ttl: cache_ttl?,
        llm: llm?,
    })
}

/// `[assist.llm]`. Every `None` comes with a recorded problem: each key is parsed on its own,
/// then the whole is checked by the LLM client's own validation
/// ([`crate::assist::llm::validate`]), so `check` refuses exactly what the client would.
fn assist_llm(l: &RawLlm, p: &mut Problems<'_>) -> Option<LlmConfig> {
    let file = p.file().to_path_buf();
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
    let format = match l.response_format.as_deref() {
        None => Some(ResponseFormatMode::default()),
        Some(f) => p.check(
            "assist.llm.response_format",
            f.parse::<ResponseFormatMode>(),
        ),
    };
    // Keys that failed above are already reported; their defaults stand in so the rest is
    // still checked in this run.
    let candidate = LlmConfig {
        base_url: l.base_url.trim().trim_end_matches('/').to_string(),
        model: l.model.clone(),
        api_key: None,
        deadline: deadline.unwrap_or(Duration::from_secs(2)),
        retries: retries.unwrap_or(2) as u32,
        response_format: format.unwrap_or_default(),
        max_tokens: max_tokens.unwrap_or(32) as u32,
        breaker_failures: failures.unwrap_or(5) as u32,
        breaker_open_for: open_for.unwrap_or(Duration::from_secs(30)),
    };
    // The key's value is only known once its secret is read; its form is checked then.
    let valid = match llm::validate(&crate::assist::llm_settings(&candidate, None)) {
        Ok(_) => true,
        Err(problems) => {
            for problem in problems {
                p.add(format!("assist.llm.{}", problem.key), problem.reason);
            }
            false
        }
    };
    let parsed = deadline.is_some()
        && retries.is_some()
        && max_tokens.is_some()
        && failures.is_some()
        && format.is_some()
        && open_for.is_some();
    let api_key = key?;
    (parsed && valid).then_some(LlmConfig {
        api_key,
        ..candidate
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

#[cfg(test)]
mod assist_tests {
    use super::*;
    use crate::config::error::ConfigError;

    /// `gateway.toml` with a minimal portal and `llm` as the `[assist.llm]` table's body.
    fn validate(llm: &str) -> (Option<GatewaySettings>, Vec<ConfigError>) {
        let text = format!(
            "[portal]\npublic_url = \"http://127.0.0.1:8080\"\nlisten = [\"127.0.0.1:8080\"]\n\n\
             [assist.llm]\n{llm}\n"
        );
        let raw: RawGateway = toml::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let mut errors = Vec::new();
        let file = Path::new("gateway.toml");
        let settings = validate_gateway(raw, &mut Problems::new(file, &mut errors));
        (settings, errors)
    }

    fn llm_config(llm: &str) -> LlmConfig {
        match validate(llm) {
            (Some(settings), errors) if errors.is_empty() => {
                settings.assist.llm.expect("an [assist.llm]")
            }
            (_, errors) => panic!("{llm}: {errors:?}"),
        }
    }

    /// The error messages recorded for `llm`, which must be refused.
    fn refused(llm: &str) -> Vec<String> {
        let (settings, errors) = validate(llm);
        assert!(settings.is_none(), "{llm}: accepted");
        assert!(!errors.is_empty(), "{llm}: refused without a reason");
        errors.iter().map(ToString::to_string).collect()
    }

    const ENDPOINT: &str = "base_url = \"http://127.0.0.1:8000/v1\"\nmodel = \"m\"";

    #[test]
    fn each_documented_response_format_is_read_from_toml() {
        // The spellings themselves are the LLM client's to test; here, that each is read.
        for mode in ResponseFormatMode::ALL {
            let text = mode.as_str();
            let cfg = llm_config(&format!("{ENDPOINT}\nresponse_format = \"{text}\""));
            assert_eq!(cfg.response_format, mode, "{text}");
        }
    }

    #[test]
    fn the_response_format_defaults_to_json_schema() {
        assert_eq!(
            llm_config(ENDPOINT).response_format,
            ResponseFormatMode::JsonSchema
        );
    }

    #[test]
    fn an_unknown_response_format_is_an_error_naming_the_key() {
        let errors = refused(&format!("{ENDPOINT}\nresponse_format = \"grammar\""));
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].contains("assist.llm.response_format")
                && errors[0].contains("json_object_schema"),
            "{errors:?}"
        );
    }

    #[test]
    fn the_check_refuses_what_the_llm_client_would_refuse() {
        for (llm, key) in [
            (
                "base_url = \"http://127.0.0.1:8000/v1?key=x\"\nmodel = \"m\"",
                "assist.llm.base_url",
            ),
            (
                "base_url = \"http://user:pass@127.0.0.1:8000/v1\"\nmodel = \"m\"",
                "assist.llm.base_url",
            ),
            (
                "base_url = \"ftp://127.0.0.1/v1\"\nmodel = \"m\"",
                "assist.llm.base_url",
            ),
            (
                "base_url = \"http://127.0.0.1:8000/v1\"\nmodel = \"\\u0007\"",
                "assist.llm.model",
            ),
            (
                &format!("{ENDPOINT}\ndeadline = \"0s\""),
                "assist.llm.deadline",
            ),
        ] {
            let errors = refused(llm);
            assert!(errors.iter().any(|e| e.contains(key)), "{llm}: {errors:?}");
        }
    }

    #[test]
    fn every_problem_of_the_table_is_reported_in_one_run() {
        let errors = refused(
            "base_url = \"http://127.0.0.1:8000/v1#frag\"\nmodel = \" \"\nretries = 9\n\
             response_format = \"xml\"",
        );
        for key in ["base_url", "model", "retries", "response_format"] {
            let key = format!("assist.llm.{key}");
            assert!(errors.iter().any(|e| e.contains(&key)), "{key}: {errors:?}");
        }
    }
}
