//! Validation of `gateway.toml` and `ministries.toml`.

use super::error::Problems;
use super::raw::{RawGateway, RawLocalized, RawMinistries, RawTimeouts};
use super::values;
use super::{
    Defaults, GatewaySettings, LegacyHostMode, Localized, Ministry, PortalSettings, PublicUrl,
    ServerSettings, Timeouts, TlsListener,
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
