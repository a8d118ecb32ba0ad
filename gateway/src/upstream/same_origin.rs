//! The service's own pages, named as the legacy site knows them: a request the citizen's
//! browser sends from one of the service's pages carries that page's address in `Origin`
//! and `Referer`, which is the portal's (the service's origin, or `/s/<id>/` on the
//! portal's). Many legacy sites check those against their own host before taking a form
//! (ASP.NET's and Django's CSRF checks, hand-written `Referer` tests): found when tried,
//! every postback of such a site was refused with 403 behind the gateway, and the only way
//! round it, a header rule writing the legacy `Origin`, wrote it on every request, a
//! foreign site's included, which switched the site's protection off.
//!
//! So only the service's own addresses are mapped, each to the legacy address it stands
//! for (`Host` as sent upstream, the backend's path); any other origin reaches the site as
//! it came, and the site's check still refuses it. Only on a service's own origin: on the
//! portal's shared origin, a script of any service's page may send a request naming
//! another's page as its `Referer` (found in a bypass probe), so nothing there is the
//! service's own, and such a site's check goes on refusing.

use crate::registry::Service;
use http::header::{ORIGIN, REFERER};
use http::{HeaderMap, HeaderValue};

/// Maps `Origin` and `Referer` when they name the address the citizen asked for
/// (`citizen_host`, the request's own `Host`), the service's own origin.
pub fn to_legacy(headers: &mut HeaderMap, service: &Service, citizen_host: Option<&HeaderValue>) {
    if service.origin.is_none() {
        return;
    }
    let Some(here) = citizen_host.and_then(|h| h.to_str().ok()) else {
        return;
    };
    let mapped_origin = headers
        .get(ORIGIN)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| split_url(v))
        .filter(|(authority, rest)| rest.is_empty() && authority.eq_ignore_ascii_case(here))
        .map(|_| service.upstream.legacy_origin.clone());
    let mapped_referer = headers
        .get(REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| split_url(v))
        .filter(|(authority, _)| authority.eq_ignore_ascii_case(here))
        .and_then(|(_, rest)| legacy_page(service, rest));
    if let Some(v) = mapped_origin.and_then(|o| HeaderValue::from_str(&o).ok()) {
        headers.insert(ORIGIN, v);
    }
    if let Some(v) = mapped_referer.and_then(|r| HeaderValue::from_str(&r).ok()) {
        headers.insert(REFERER, v);
    }
}

/// `scheme://authority` and the rest (path and query) of an absolute http(s) URL.
fn split_url(url: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return None;
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    Some(rest.split_at(end))
}

/// The legacy address of the service's page at `rest` (path and query on the address the
/// citizen asked for), if it is one of the service's pages.
fn legacy_page(service: &Service, rest: &str) -> Option<String> {
    let rest = rest.split('#').next().unwrap_or(rest);
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    let path = if path.is_empty() { "/" } else { path };
    let target = egov_adapters::paths::request_target(&service.upstream.base_path, path, query);
    Some(format!("{}{target}", service.upstream.legacy_origin))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(on_own_origin: bool) -> std::sync::Arc<Service> {
        let snap = if on_own_origin {
            crate::registry::fixtures::snapshot_on_origins()
        } else {
            crate::registry::fixtures::snapshot()
        };
        let s = snap
            .services()
            .iter()
            .find(|s| s.upstream.base_path.len() > 1)
            .expect("a service at a path of its backend");
        std::sync::Arc::clone(s)
    }

    fn sent(
        service: &Service,
        host: &str,
        origin: Option<&str>,
        referer: Option<&str>,
    ) -> (Option<String>, Option<String>) {
        let mut h = HeaderMap::new();
        if let Some(o) = origin {
            h.insert(ORIGIN, HeaderValue::from_str(o).expect("origin"));
        }
        if let Some(r) = referer {
            h.insert(REFERER, HeaderValue::from_str(r).expect("referer"));
        }
        to_legacy(
            &mut h,
            service,
            Some(&HeaderValue::from_str(host).expect("host")),
        );
        let text = |v: Option<&HeaderValue>| v.and_then(|v| v.to_str().ok()).map(str::to_string);
        (text(h.get(ORIGIN)), text(h.get(REFERER)))
    }

    #[test]
    fn the_services_own_origin_and_pages_reach_the_site_as_its_own() {
        let s = service(true);
        let here = "svc.localhost:8080";
        let legacy = format!("http://{}", s.upstream.host);
        let base = s.upstream.base_path.trim_end_matches('/');
        let (origin, referer) = sent(
            &s,
            here,
            Some("http://svc.localhost:8080"),
            Some("http://svc.localhost:8080/Default.aspx?x=1"),
        );
        assert_eq!(origin, Some(legacy.clone()));
        assert_eq!(referer, Some(format!("{legacy}{base}/Default.aspx?x=1")));
    }

    #[test]
    fn on_the_portals_shared_origin_nothing_is_mapped() {
        let s = service(false);
        let page = format!("https://portail.gov.ma{}/form", s.portal_prefix);
        let (origin, referer) = sent(
            &s,
            "portail.gov.ma",
            Some("https://portail.gov.ma"),
            Some(&page),
        );
        assert_eq!(origin.as_deref(), Some("https://portail.gov.ma"));
        assert_eq!(referer, Some(page));
    }

    #[test]
    fn another_origin_reaches_the_site_as_it_came() {
        let s = service(true);
        for foreign in [
            "https://evil.example",
            "http://other.localhost:8080",
            "null",
        ] {
            let (origin, referer) = sent(
                &s,
                "svc.localhost:8080",
                Some(foreign),
                Some(&format!("{foreign}/page")),
            );
            assert_eq!(origin.as_deref(), Some(foreign), "{foreign}");
            assert_eq!(referer, Some(format!("{foreign}/page")), "{foreign}");
        }
    }
}
