//! Which calls to the portal's own endpoints another site made through the citizen's
//! browser. The search box, the router and the feedback form share one budget per address
//! (`limits.rate.route_per_ip`), and many citizens share an address behind a carrier's NAT:
//! a page anywhere that made its visitors' browsers call them would spend that budget for
//! everyone behind it, and could post feedback in their name. Such calls are refused before
//! they are counted ([`crate::pipeline::limits`]).

use pingora::http::RequestHeader;

/// Whether `req` was sent by a page of another site (or of a service's origin, a sibling
/// the portal does not trust with its endpoints) rather than by the portal's own pages or a
/// program calling the API directly.
///
/// The browser says so in two ways: `Origin` (on every `POST` and every cross-origin
/// `fetch`), which must then be `portal_origin` (a sandboxed frame anywhere sends `null`);
/// and `Sec-Fetch-Site` (every current browser, on every request), which must be
/// `same-origin` or `none` (typed in, a bookmark), except for a link followed to a page,
/// which any site may offer. A client that sends neither (the router's API called by an
/// app or a script) is not a browser acting for someone else.
pub fn sent_by_another_site(req: &RequestHeader, portal_origin: &str) -> bool {
    if let Some(origin) = req.headers.get(http::header::ORIGIN) {
        if origin.as_bytes() != portal_origin.as_bytes() {
            return true;
        }
    }
    let Some(site) = req.headers.get("sec-fetch-site") else {
        return false;
    };
    let own = site.as_bytes().eq_ignore_ascii_case(b"same-origin")
        || site.as_bytes().eq_ignore_ascii_case(b"none");
    let followed_link = matches!(req.method, http::Method::GET | http::Method::HEAD)
        && req
            .headers
            .get("sec-fetch-mode")
            .is_some_and(|m| m.as_bytes().eq_ignore_ascii_case(b"navigate"));
    !own && !followed_link
}

#[cfg(test)]
mod tests {
    use super::*;

    const PORTAL: &str = "https://portail.gov.ma";

    fn req(method: &str, headers: &[(&str, &str)]) -> RequestHeader {
        let mut r = RequestHeader::build(method, b"/feedback", None).expect("request");
        for (n, v) in headers {
            r.insert_header(n.to_string(), *v).expect("header");
        }
        r
    }

    #[test]
    fn the_portals_own_pages_and_programs_are_not_another_site() {
        assert!(!sent_by_another_site(&req("POST", &[]), PORTAL));
        let own = [("origin", PORTAL), ("sec-fetch-site", "same-origin")];
        assert!(!sent_by_another_site(&req("POST", &own), PORTAL));
        let typed = [("sec-fetch-site", "none"), ("sec-fetch-mode", "navigate")];
        assert!(!sent_by_another_site(&req("GET", &typed), PORTAL));
    }

    #[test]
    fn a_link_from_anywhere_to_a_page_is_followed() {
        let link = [
            ("sec-fetch-site", "cross-site"),
            ("sec-fetch-mode", "navigate"),
        ];
        assert!(!sent_by_another_site(&req("GET", &link), PORTAL));
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
            assert!(
                sent_by_another_site(&req(method, &headers), PORTAL),
                "{method} {headers:?}"
            );
        }
    }
}
