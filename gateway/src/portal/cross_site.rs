//! Which calls to the portal's own endpoints another site made through the citizen's
//! browser. The search box, the router and the feedback form share one budget per address
//! (`limits.rate.route_per_ip`), and many citizens share an address behind a carrier's NAT:
//! a page anywhere that made its visitors' browsers call them would spend that budget for
//! everyone behind it, and could post feedback in their name. Such calls are refused before
//! they are counted (by the limits stage of the pipeline).

use crate::registry::PortalInfo;
use pingora::http::RequestHeader;

/// Whether `req` was sent by a page of another site (or of a service's origin, a sibling
/// the portal does not trust with its endpoints) rather than by the portal's own pages or a
/// program calling the API directly.
///
/// The browser says so in two ways: `Origin` (on every `POST` and every cross-origin
/// `fetch`), which must then be the portal's own ([`PortalInfo::is_own_origin`]: its
/// public origin or an alias it answers to; a sandboxed frame anywhere sends `null`); and `Sec-Fetch-Site`
/// (every current browser, on every request), which must be `same-origin` or `none` (typed
/// in, a bookmark), except for a link to a page (`page`) followed into a window of its own,
/// which any site may offer. A frame is not such a link: fifty hidden ones would spend
/// fifty of the address's budget. A client that sends neither (the router's API called by
/// an app or a script) is not a browser acting for someone else.
pub fn sent_by_another_site(req: &RequestHeader, page: bool, portal: &PortalInfo) -> bool {
    if let Some(origin) = req.headers.get(http::header::ORIGIN) {
        if !portal.is_own_origin(origin.as_bytes()) {
            return true;
        }
    }
    let Some(site) = req.headers.get("sec-fetch-site") else {
        // A browser that says nothing of what it is doing still names what it accepts.
        return crate::fetch_metadata::asks_for_a_picture(req);
    };
    let own = site.as_bytes().eq_ignore_ascii_case(b"same-origin")
        || site.as_bytes().eq_ignore_ascii_case(b"none");
    let is = |name: &str, value: &[u8]| {
        req.headers
            .get(name)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(value))
    };
    // A prefetch (`Sec-Purpose`, `Purpose`) is no citizen: a page's speculation rules fire
    // dozens without a click. Nor is a navigation no user made (`Sec-Fetch-User: ?1`): a
    // script driving a window it opened.
    let prefetch = req.headers.contains_key("sec-purpose") || req.headers.contains_key("purpose");
    let followed_link = page
        && !prefetch
        && matches!(req.method, http::Method::GET | http::Method::HEAD)
        && is("sec-fetch-mode", b"navigate")
        && is("sec-fetch-user", b"?1")
        && req
            .headers
            .get("sec-fetch-dest")
            .is_none_or(|d| d.as_bytes().eq_ignore_ascii_case(b"document"));
    !own && !followed_link
}

#[cfg(test)]
mod tests {
    use super::*;

    fn portal() -> PortalInfo {
        let mut p = crate::config::fixtures::config_without_secrets()
            .gateway
            .portal;
        p.public_url.https = true;
        p.public_url.host = "portail.gov.ma".into();
        p.public_url.authority = "portail.gov.ma".into();
        p.hosts = vec!["www.portail.gov.ma".into()];
        PortalInfo::new(p)
    }

    /// The demo's portal is on a loopback address: its pages may be opened as `localhost`.
    #[test]
    fn a_portal_on_a_loopback_address_takes_the_loopback_names_at_its_port_only() {
        let mut p = crate::config::fixtures::config_without_secrets()
            .gateway
            .portal;
        p.public_url.https = false;
        p.public_url.host = "127.0.0.1".into();
        p.public_url.authority = "127.0.0.1:8080".into();
        p.hosts = Vec::new();
        let demo = PortalInfo::new(p);
        for own in [
            "http://127.0.0.1:8080",
            "http://localhost:8080",
            "HTTP://LOCALHOST:8080",
        ] {
            assert!(demo.is_own_origin(own.as_bytes()), "{own}");
        }
        for other in [
            "http://localhost:3000",
            "https://localhost:8080",
            "http://127.0.0.1",
        ] {
            assert!(!demo.is_own_origin(other.as_bytes()), "{other}");
        }
    }

    fn req(method: &str, headers: &[(&str, &str)]) -> RequestHeader {
        let mut r = RequestHeader::build(method, b"/feedback", None).expect("request");
        for (n, v) in headers {
            r.insert_header(n.to_string(), *v).expect("header");
        }
        r
    }

    fn another(method: &str, page: bool, headers: &[(&str, &str)]) -> bool {
        sent_by_another_site(&req(method, headers), page, &portal())
    }

    #[test]
    fn the_portals_own_pages_its_aliases_and_programs_are_not_another_site() {
        assert!(!another("POST", false, &[]));
        let own = [
            ("origin", "https://portail.gov.ma"),
            ("sec-fetch-site", "same-origin"),
        ];
        assert!(!another("POST", false, &own));
        let alias = [
            ("origin", "https://www.portail.gov.ma"),
            ("sec-fetch-site", "same-origin"),
        ];
        assert!(
            !another("POST", false, &alias),
            "an alias the portal answers to"
        );
        let typed = [("sec-fetch-site", "none"), ("sec-fetch-mode", "navigate")];
        assert!(!another("GET", true, &typed));
    }

    #[test]
    fn a_link_a_citizen_follows_from_anywhere_to_a_page_is_followed_into_its_window_only() {
        let link = [
            ("sec-fetch-site", "cross-site"),
            ("sec-fetch-mode", "navigate"),
            ("sec-fetch-user", "?1"),
        ];
        assert!(!another("GET", true, &link));
        let document = [
            ("sec-fetch-site", "cross-site"),
            ("sec-fetch-mode", "navigate"),
            ("sec-fetch-user", "?1"),
            ("sec-fetch-dest", "document"),
        ];
        assert!(!another("GET", true, &document));
        let scripted = [
            ("sec-fetch-site", "cross-site"),
            ("sec-fetch-mode", "navigate"),
        ];
        assert!(another("GET", true, &scripted), "no user made it");
        let prefetch = [
            ("sec-fetch-site", "cross-site"),
            ("sec-fetch-mode", "navigate"),
            ("sec-fetch-user", "?1"),
            ("sec-purpose", "prefetch"),
        ];
        assert!(another("GET", true, &prefetch), "a prefetch is no citizen");
        let frame = [
            ("sec-fetch-site", "cross-site"),
            ("sec-fetch-mode", "navigate"),
            ("sec-fetch-user", "?1"),
            ("sec-fetch-dest", "iframe"),
        ];
        assert!(
            another("GET", true, &frame),
            "a hidden frame is not a link followed"
        );
        assert!(
            another("GET", false, &link),
            "the API is no page to link to"
        );
    }

    #[test]
    fn a_picture_from_a_browser_without_fetch_metadata_is_another_site() {
        let picture = [("accept", "image/webp,image/png,image/*;q=0.8,*/*;q=0.5")];
        assert!(another("GET", true, &picture));
        let page = [("accept", "text/html,application/xhtml+xml,*/*;q=0.8")];
        assert!(!another("GET", true, &page));
        assert!(!another("POST", false, &[("accept", "application/json")]));
    }

    #[test]
    fn posts_fetches_and_images_from_other_sites_are_another_site() {
        for (method, headers) in [
            ("POST", vec![("origin", "https://evil.example")]),
            ("POST", vec![("origin", "null")]),
            (
                "POST",
                vec![("origin", "https://passport-application.portail.gov.ma")],
            ),
            ("POST", vec![("origin", "http://portail.gov.ma")]),
            ("POST", vec![("origin", "https://portail.gov.ma:8443")]),
            ("POST", vec![("origin", "https://localhost")]),
            (
                "GET",
                vec![
                    ("sec-fetch-site", "cross-site"),
                    ("sec-fetch-mode", "no-cors"),
                ],
            ),
            (
                "GET",
                vec![("sec-fetch-site", "same-site"), ("sec-fetch-mode", "cors")],
            ),
            (
                "POST",
                vec![
                    ("sec-fetch-site", "cross-site"),
                    ("sec-fetch-mode", "navigate"),
                ],
            ),
        ] {
            assert!(another(method, true, &headers), "{method} {headers:?}");
        }
    }
}
