//! `[portal]`: the citizen-facing listeners and origin; `[admin]` and `[metrics]` listeners.

use crate::config::error::Problems;
use crate::config::fields::{opt_listen, relative_to};
use crate::config::raw::RawPortal;
use crate::config::values;
use crate::config::{PortalSettings, PublicUrl, TlsListener};

pub(super) fn validate(raw: &RawPortal, p: &mut Problems<'_>) -> Option<PortalSettings> {
    let file = p.file().to_path_buf();
    let public_url = p.check("portal.public_url", public_url(&raw.public_url));
    let mut listen = Vec::new();
    for (i, a) in raw.listen.iter().enumerate() {
        if let Some(addr) = p.check(format!("portal.listen[{i}]"), values::listen_addr(a)) {
            listen.push(addr);
        }
    }
    let mut tls = Vec::new();
    for (i, t) in raw.tls.iter().enumerate() {
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
    if raw.listen.is_empty() && raw.tls.is_empty() {
        p.add(
            "portal.listen",
            "at least one plain or TLS listener is required",
        );
    }
    let mut trusted = Vec::new();
    for (i, cidr) in raw.trusted_proxies.iter().enumerate() {
        let parsed = cidr
            .parse::<ipnet::IpNet>()
            .or_else(|_| cidr.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
            .map_err(|_| format!("{cidr:?} is not an IP address or CIDR block"));
        if let Some(net) = p.check(format!("portal.trusted_proxies[{i}]"), parsed) {
            trusted.push(net);
        }
    }
    let max_header_bytes = match raw.max_header_bytes {
        None => Some(32 * 1024),
        Some(v) => p.check(
            "portal.max_header_bytes",
            values::bounded(v, 1024, 1024 * 1024),
        ),
    };
    Some(PortalSettings {
        public_url: public_url?,
        listen,
        h2c: raw.h2c.unwrap_or(true),
        tls,
        trusted_proxies: trusted,
        max_header_bytes: max_header_bytes?,
    })
}

/// `[admin] listen` or `[metrics] listen`: absent or `""` disables it.
pub(super) fn side_listener(
    p: &mut Problems<'_>,
    field: &str,
    value: Option<&str>,
) -> Option<Option<std::net::SocketAddr>> {
    opt_listen(p, field, value)
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
