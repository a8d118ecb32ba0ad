//! Where a request goes: a service (and the path its backend should see), a redirect,
//! a page the gateway answers itself, or nowhere.
//!
//! A service lives at `/s/<service-id>/...` of the portal origin, or, when
//! `portal.service_origin` is set, on its own origin (`https://<id>.services.gov.ma/...`,
//! path unchanged); then `/s/<id>/...` on the portal answers a 301 to that origin. A request
//! whose `Host` is one of the old ministry domains (they now point at the gateway) is sent to
//! the same page where the service lives now with a 301, or served in place for services
//! configured to proxy. Lookups are hash probes in the [`Snapshot`], so routing costs the
//! same with 5 or 5,000 services.

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
    /// On a service's own origin, an SSO endpoint of that origin's: the exchange of a
    /// one-time login code for its session ([`ORIGIN_EXCHANGE_PATH`]), or its keep-alive
    /// ([`ORIGIN_KEEP_ALIVE_PATH`]).
    OriginAuth {
        service: &'a Arc<Service>,
        endpoint: AuthEndpoint,
    },
    /// Answer with a redirect to `location`: the same page elsewhere (`same_page`: a form
    /// posted there keeps its method and body, 308) or another page (the portal's home for a
    /// retired domain's pages: a 301, which a browser follows with a GET).
    Redirect {
        location: String,
        permanent: bool,
        same_page: bool,
    },
    /// A page of the citizen portal (home, categories, services, search...).
    Portal(crate::portal::PortalPage),
    /// A single sign-on endpoint (`/auth/*`, `/.well-known/jwks.json`).
    Auth(AuthEndpoint),
    /// `POST /api/route`: where does this free-text request go?
    Assist,
    /// No service here: the 404 page.
    NotFound,
    /// The path is unsafe or malformed: 400.
    BadPath(PathError),
    /// A host the gateway does not serve: 421. Serving it as the portal would let it reach
    /// legacy sites that build absolute links or reset e-mails from `X-Forwarded-Host`.
    UnknownHost,
}

pub use crate::sso::origin::{
    ORIGIN_EXCHANGE_PATH, ORIGIN_KEEP_ALIVE_PATH, ORIGIN_SIGNED_OUT_PATH,
};

/// Routes a request by its `host` (as sent, any case, maybe with a port), `path` and raw `query`.
pub fn route<'a>(snap: &'a Snapshot, host: &str, path: &'a str, query: Option<&str>) -> Route<'a> {
    let host = crate::host::normalize(host);
    if let Some(id) = snap
        .portal
        .settings
        .service_origins
        .as_ref()
        .and_then(|o| o.service_of(&host))
    {
        return service_origin_route(snap, id, path);
    }
    if host != snap.portal.host && snap.legacy().knows_host(&host) {
        if path.starts_with(PORTAL_SERVICES) {
            return portal_path_on_legacy_host(snap, path, query);
        }
        return legacy_route(snap, &host, path, query);
    }
    if !snap.portal.settings.answers_to(&host) {
        // The 421 page's own stylesheet (a fingerprinted file of the gateway's, the same
        // on every host): found when tried, the page for an old bookmark's domain linked it
        // on that domain, got a 421 for it, and showed unstyled.
        if crate::response::assets::is_ours(path) {
            return Route::Portal(crate::portal::PortalPage::Asset);
        }
        return Route::UnknownHost;
    }
    portal_route(snap, path, query)
}

/// Where the portal's services live.
const PORTAL_SERVICES: &str = "/s/";

/// The paths the gateway keeps for itself on a service's own origin (the login exchange,
/// the keep-alive, the language switcher).
const RESERVED_ON_ORIGINS: &str = "/__egov/";

/// A request on service `id`'s own origin: its path goes to the service unchanged (cleaned),
/// but for the gateway's own login exchange, language switcher and stylesheets.
fn service_origin_route<'a>(snap: &'a Snapshot, id: &str, path: &'a str) -> Route<'a> {
    let Some(service) = snap.service(id) else {
        return Route::NotFound;
    };
    if path == ORIGIN_EXCHANGE_PATH {
        return Route::OriginAuth {
            service,
            endpoint: AuthEndpoint::OriginExchange,
        };
    }
    if path == ORIGIN_KEEP_ALIVE_PATH {
        return Route::OriginAuth {
            service,
            endpoint: AuthEndpoint::KeepAlive,
        };
    }
    if path == ORIGIN_SIGNED_OUT_PATH {
        return Route::OriginAuth {
            service,
            endpoint: AuthEndpoint::OriginSignedOut,
        };
    }
    if path == crate::portal::lang::ORIGIN_SWITCH_PATH {
        return Route::Portal(crate::portal::PortalPage::Language);
    }
    if crate::response::assets::is_ours(path) {
        return Route::Portal(crate::portal::PortalPage::Asset);
    }
    match paths::clean(path) {
        // The prefix is the gateway's on every service origin: an address under it that is
        // none of the above is no page of the legacy site's either (found when tried: it
        // reached the site, while the documentation said the site never sees it).
        Ok(path) if is_reserved_on_origins(&path) => Route::NotFound,
        Ok(path) => {
            logout_page_of(snap, service, &path).unwrap_or(Route::Service { service, path })
        }
        Err(e) => Route::BadPath(e),
    }
}

/// Whether a cleaned path is under [`RESERVED_ON_ORIGINS`] in any spelling a legacy server
/// could read as it ([`paths::reaches_under`]): found when tried, `/./__egov/y`,
/// `/x/../__egov/y` and `//__egov/y` reached the site (the prefix was looked for before dot
/// segments were resolved), then `/__egov;x/y`, `/__egov./y`, `/%255F%255Fegov/y`,
/// `/(S(x))/__egov/y`, and in review `/:$x/__egov/y`, `/+__egov/`, then raw `/＿＿egov/`.
/// Most paths cost one glance (see `reaches_under`).
fn is_reserved_on_origins(cleaned: &str) -> bool {
    paths::reaches_under(RESERVED_ON_ORIGINS.trim_end_matches('/'), cleaned)
}

/// The portal's logout page for `path` of `service`, when it is one of the legacy site's own
/// "log out" pages (`[identity] logout_paths`). Found in a browser probe: the site's
/// "Déconnexion", the only logout a citizen sees on most services, ended the site's session
/// and left her signed in at the portal and on every service; the next person at a shared
/// computer was her. The portal's page asks her to confirm (a link cannot log anyone out).
/// A path parameter after it (`/logout.do;jsessionid=…`, what Java sites write into their
/// links) is the same page.
fn logout_page_of<'a>(snap: &Snapshot, service: &Service, path: &str) -> Option<Route<'a>> {
    let logout = &service.config.logout_paths;
    let same = |p: &String| {
        path.strip_prefix(p.as_str())
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(';'))
    };
    (!logout.is_empty() && logout.iter().any(same)).then(|| Route::Redirect {
        location: format!("{}/auth/logout", snap.portal.origin),
        permanent: false,
        same_page: false,
    })
}

/// Routing on the portal's own host.
fn portal_route<'a>(snap: &'a Snapshot, path: &'a str, query: Option<&str>) -> Route<'a> {
    if let Some(page) = crate::portal::PortalPage::from_path(path) {
        return Route::Portal(page);
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
    if service.origin.is_some() {
        // The service lives on its own origin: the same page there (dot segments are the
        // service origin's to resolve, within the service).
        return Route::Redirect {
            location: with_query(
                service.citizen_url(&snap.portal.origin, rest.unwrap_or("/")),
                query,
            ),
            permanent: true,
            same_page: true,
        };
    }
    match rest {
        None => Route::Redirect {
            location: with_query(format!("{}/", service.portal_prefix), query),
            permanent: true,
            same_page: true,
        },
        Some(rest) => match paths::clean(rest) {
            Ok(path) => {
                logout_page_of(snap, service, &path).unwrap_or(Route::Service { service, path })
            }
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
                same_page: true,
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
            same_page: false,
        };
    };
    let service = snap.service_at(mount.target);
    match service.config.legacy.on_host {
        LegacyHostMode::Redirect => Route::Redirect {
            location: with_query(service.citizen_url(&snap.portal.origin, rest), query),
            permanent: true,
            same_page: true,
        },
        LegacyHostMode::Proxy => Route::Service {
            service,
            path: Cow::Owned(rest.to_string()),
        },
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
    use crate::registry::fixtures::snapshot_on_origins;

    fn a_service(snap: &Snapshot) -> (String, String, String) {
        let s = &snap.services()[0];
        (
            s.id().to_string(),
            s.config.legacy.hostname.clone(),
            s.config.legacy.path.clone(),
        )
    }

    #[test]
    fn a_request_on_a_service_origin_goes_to_that_service_with_its_path_unchanged() {
        let snap = snapshot_on_origins();
        let (id, _, _) = a_service(&snap);
        match route(
            &snap,
            &format!("{id}.services.gov.ma"),
            "/a/./b",
            Some("x=1"),
        ) {
            Route::Service { service, path } => {
                assert_eq!(service.id(), id);
                assert_eq!(path, "/a/b");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            route(
                &snap,
                &format!("{id}.services.gov.ma"),
                ORIGIN_EXCHANGE_PATH,
                None
            ),
            Route::OriginAuth {
                endpoint: AuthEndpoint::OriginExchange,
                ..
            }
        ));
        assert!(matches!(
            route(
                &snap,
                &format!("{id}.services.gov.ma"),
                ORIGIN_KEEP_ALIVE_PATH,
                None
            ),
            Route::OriginAuth {
                endpoint: AuthEndpoint::KeepAlive,
                ..
            }
        ));
        assert!(matches!(
            route(&snap, "no-such-service.services.gov.ma", "/", None),
            Route::NotFound
        ));
        // The rest of the gateway's own prefix never reaches the site.
        assert!(matches!(
            route(
                &snap,
                &format!("{id}.services.gov.ma"),
                "/__egov/anything",
                None
            ),
            Route::NotFound
        ));
        // The gateway's own stylesheets, which its error pages there link.
        assert!(matches!(
            route(
                &snap,
                &format!("{id}.services.gov.ma"),
                crate::response::assets::stylesheet(),
                None
            ),
            Route::Portal(crate::portal::PortalPage::Asset)
        ));
    }

    /// Found when tried: the 421 page for an old bookmark's domain linked its stylesheet on
    /// that domain, got a 421 for it, and showed unstyled. The gateway's fingerprinted
    /// files are served on any host; nothing else is.
    #[test]
    fn an_unknown_host_gets_the_gateways_stylesheet_and_nothing_else() {
        let snap = snapshot_on_origins();
        let host = "www.anciensite.gov.ma";
        assert!(matches!(
            route(&snap, host, crate::response::assets::stylesheet(), None),
            Route::Portal(crate::portal::PortalPage::Asset)
        ));
        for path in ["/", "/assets/portal.css", "/s/x/", "/auth/login"] {
            assert!(
                matches!(route(&snap, host, path, None), Route::UnknownHost),
                "{path}"
            );
        }
    }

    /// Found when tried: the prefix was looked for before dot segments were resolved, so
    /// `/./__egov/y` reached the legacy site (and was stored by its cache).
    #[test]
    fn no_spelling_of_the_gateways_own_prefix_reaches_a_service() {
        let snap = snapshot_on_origins();
        let (id, _, _) = a_service(&snap);
        let host = format!("{id}.services.gov.ma");
        for path in [
            "/./__egov/y",
            "/x/../__egov/y",
            "/%2e/__egov/y",
            "//__egov/y",
            "/%5F%5fegov/y",
            "/__EGOV/y",
            // Found by the re-probe: what a loose server reads as the prefix.
            "/__egov;x/y",
            "/__egov%3b/y",
            "/__egov./y",
            "/__egov%20/y",
            "/__egov::$DATA/y",
            "/%255F%255Fegov/y",
            "/%25%35%46%25%35%46egov/y",
            "/(S(x))/__egov/y",
            "/;x/__egov/y",
            "/__egov",
            // Found in review: a segment a stream name empties.
            "/:$x/__egov/y",
            // Found by the last probe: full-width, white space before.
            "/%ef%bc%bf%ef%bc%bfegov/y",
            "/%20__egov/y",
            // Found by the last probe: look-alikes written raw.
            "/＿＿egov/session",
            "/\u{a0}__egov/x",
            "/；x/__egov/y",
            // Found in review.
            "/+__egov/x",
            "/__egov.a.json/x",
            "/＿＿egov;%FF/x",
        ] {
            assert!(
                matches!(route(&snap, &host, path, None), Route::NotFound),
                "{path}"
            );
        }
        for path in ["/__egovx/y", "/a/__egov/y", "/_egov/y"] {
            assert!(
                matches!(route(&snap, &host, path, None), Route::Service { .. }),
                "{path}"
            );
        }
    }

    #[test]
    fn a_service_origin_answers_the_language_switcher_itself() {
        let snap = snapshot_on_origins();
        let (id, _, _) = a_service(&snap);
        assert!(matches!(
            route(
                &snap,
                &format!("{id}.services.gov.ma"),
                crate::portal::lang::ORIGIN_SWITCH_PATH,
                Some("set=fr&back=%2F")
            ),
            Route::Portal(crate::portal::PortalPage::Language)
        ));
    }

    #[test]
    fn a_portal_path_to_a_service_on_its_own_origin_redirects_there() {
        let snap = snapshot_on_origins();
        let (id, _, _) = a_service(&snap);
        match route(
            &snap,
            "portail.gov.ma",
            &format!("/s/{id}/form"),
            Some("a=1"),
        ) {
            Route::Redirect {
                location,
                permanent,
                ..
            } => {
                assert!(permanent);
                assert_eq!(location, format!("https://{id}.services.gov.ma/form?a=1"));
            }
            other => panic!("{other:?}"),
        }
        match route(&snap, "portail.gov.ma", &format!("/s/{id}"), None) {
            Route::Redirect { location, .. } => {
                assert_eq!(location, format!("https://{id}.services.gov.ma/"))
            }
            other => panic!("{other:?}"),
        }
    }

    /// A form posted to a legacy page keeps its method on the service's origin (308), but
    /// one posted to a retired domain's other pages is not posted to the portal's home.
    #[test]
    fn only_a_redirect_to_the_same_page_elsewhere_keeps_a_forms_method() {
        let snap = snapshot_on_origins();
        let service = snap.service("cnie-renewal").expect("cnie-renewal");
        let host = service.config.legacy.hostname.clone();
        let page = format!("{}/form", service.config.legacy.path.trim_end_matches('/'));
        assert!(matches!(
            route(&snap, &host, &page, None),
            Route::Redirect {
                same_page: true,
                ..
            }
        ));
        match route(&snap, &host, "/no-service-here/form", None) {
            Route::Redirect {
                location,
                same_page,
                ..
            } => {
                assert!(!same_page, "{location}");
                assert_eq!(location, format!("{}/", snap.portal.origin));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_legacy_host_redirects_to_the_services_own_origin() {
        let snap = snapshot_on_origins();
        let (id, host, base) = a_service(&snap);
        let page = format!("{}/page", base.trim_end_matches('/'));
        match route(&snap, &host, &page, None) {
            Route::Redirect { location, .. } => {
                assert_eq!(location, format!("https://{id}.services.gov.ma/page"))
            }
            Route::Service { .. } => {} // a service configured to be served in place
            other => panic!("{other:?}"),
        }
    }
}
