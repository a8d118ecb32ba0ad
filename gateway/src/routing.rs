//! Where a request goes: a service (and the path its backend should see), a redirect,
//! a page the gateway answers itself, or nowhere.
//!
//! Portal URLs are `/s/<service-id>/...`. A request whose `Host` is one of the old
//! ministry domains (they now point at the gateway) is sent to the same page on the portal
//! with a 301, or served in place for services configured to proxy. Lookups are hash
//! probes in the [`Snapshot`], so routing costs the same with 5 or 5,000 services.

use crate::config::LegacyHostMode;
use crate::registry::{Service, Snapshot};
use crate::sso::endpoints::AuthEndpoint;
use egov_adapters::paths::{self, PathError};
use std::borrow::Cow;
use std::sync::Arc;

/// The routing decision for one request.
#[derive(Debug)]
pub enum Route<'a> {
    /// Proxy to `service`; `path` is the cleaned path under the service root (starts with `/`).
    Service {
        service: &'a Arc<Service>,
        path: Cow<'a, str>,
    },
    /// Answer with a redirect to `location`.
    Redirect { location: String, permanent: bool },
    /// The portal's home page.
    Home,
    /// A single sign-on endpoint (`/auth/*`, `/.well-known/jwks.json`).
    Auth(AuthEndpoint),
    /// `POST /api/route`: where does this free-text request go?
    Assist,
    /// No service here: the 404 page.
    NotFound,
    /// The path is unsafe or malformed: 400.
    BadPath(PathError),
}

/// Routes a request by its `host` (as sent, any case, maybe with a port), `path` and raw `query`.
pub fn route<'a>(snap: &'a Snapshot, host: &str, path: &'a str, query: Option<&str>) -> Route<'a> {
    let host = normalize_host(host);
    if host != snap.portal.host && snap.legacy().knows_host(&host) {
        if path.starts_with(PORTAL_SERVICES) {
            return portal_path_on_legacy_host(snap, path, query);
        }
        return legacy_route(snap, &host, path, query);
    }
    portal_route(snap, path, query)
}

/// Where the portal's services live.
const PORTAL_SERVICES: &str = "/s/";

/// Routing on the portal's own host.
fn portal_route<'a>(snap: &'a Snapshot, path: &'a str, query: Option<&str>) -> Route<'a> {
    if path == "/" {
        return Route::Home;
    }
    if let Some(endpoint) = AuthEndpoint::from_path(path) {
        return Route::Auth(endpoint);
    }
    if path == "/api/route" {
        return Route::Assist;
    }
    let Some(under_s) = path.strip_prefix(PORTAL_SERVICES) else {
        return Route::NotFound;
    };
    let (id, rest) = match under_s.find('/') {
        Some(i) => (&under_s[..i], Some(&under_s[i..])),
        None => (under_s, None),
    };
    let Some(service) = snap.service(id) else {
        return Route::NotFound;
    };
    match rest {
        None => Route::Redirect {
            location: with_query(format!("{}/", service.portal_prefix), query),
            permanent: true,
        },
        Some(rest) => match paths::clean(rest) {
            Ok(path) => Route::Service { service, path },
            Err(e) => Route::BadPath(e),
        },
    }
}

/// A portal path (`/s/<id>/...`) asked of a legacy host. Pages a service serves in place
/// (`on_host = "proxy"`) still carry portal links and portal-scoped cookies, which lead
/// here: such a service is served on the legacy host too; any other is sent to the portal.
fn portal_path_on_legacy_host<'a>(
    snap: &'a Snapshot,
    path: &'a str,
    query: Option<&str>,
) -> Route<'a> {
    match portal_route(snap, path, query) {
        Route::Service { service, .. }
            if service.config.legacy.on_host != LegacyHostMode::Proxy =>
        {
            Route::Redirect {
                location: with_query(format!("{}{path}", snap.portal.origin), query),
                permanent: true,
            }
        }
        route => route,
    }
}

fn legacy_route<'a>(
    snap: &'a Snapshot,
    host: &str,
    path: &'a str,
    query: Option<&str>,
) -> Route<'a> {
    let path = match paths::clean(path) {
        Ok(p) => p,
        Err(e) => return Route::BadPath(e),
    };
    let Some((mount, rest)) = snap.legacy().resolve(host, &path) else {
        // A retired domain's other pages: its home is the portal now.
        return Route::Redirect {
            location: format!("{}/", snap.portal.origin),
            permanent: true,
        };
    };
    let service = snap.service_at(mount.target);
    match service.config.legacy.on_host {
        LegacyHostMode::Redirect => Route::Redirect {
            location: with_query(
                format!("{}{}{}", snap.portal.origin, service.portal_prefix, rest),
                query,
            ),
            permanent: true,
        },
        LegacyHostMode::Proxy => Route::Service {
            service,
            path: Cow::Owned(rest.to_string()),
        },
    }
}

/// Lowercase host without port or trailing dot.
pub fn normalize_host(host: &str) -> Cow<'_, str> {
    let h = if host.starts_with('[') {
        // IPv6 literal: keep the brackets' content.
        host.split(']')
            .next()
            .map_or(host, |s| s.trim_start_matches('['))
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    let h = h.strip_suffix('.').unwrap_or(h);
    if h.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(h.to_ascii_lowercase())
    } else {
        Cow::Borrowed(h)
    }
}

/// `location` with `?query` appended, when there is one.
pub(crate) fn with_query(mut location: String, query: Option<&str>) -> String {
    if let Some(q) = query {
        location.push('?');
        location.push_str(q);
    }
    location
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_lose_port_case_and_trailing_dot() {
        assert_eq!(normalize_host("WWW.Cnie.ma:80"), "www.cnie.ma");
        assert_eq!(normalize_host("www.cnie.ma."), "www.cnie.ma");
        assert_eq!(normalize_host("[::1]:8080"), "::1");
        assert_eq!(normalize_host("127.0.0.1"), "127.0.0.1");
    }
}
