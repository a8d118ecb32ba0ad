//! The response headers a legacy site adds to everything it serves — its
//! `Server` banner, its caching policy (`no-cache-headers`,
//! `aggressive-caching` or the usual `private, no-cache`), its
//! `legacy-cookies`, and for an `absolute-links` site the `Link` preloads of its
//! pages at its own hostname — and the request-side cookie parser shared by sessions
//! and the echo instrument.

use axum::http::{header, HeaderMap};
use axum::response::Response;

use crate::html::Links;
use crate::respond::add_header;
use crate::sites::{Quirk, Site};

/// Header naming the estate site that produced a response (for tests and logs).
pub(crate) const SITE_HEADER: &str = "x-estate-site";

/// The far-future date of `aggressive-caching` and legacy cookies.
const FAR_FUTURE_EXPIRES: &str = "Thu, 31 Dec 2037 23:55:55 GMT";
const FAR_FUTURE_COOKIE: &str = "Thu, 31-Dec-2037 23:59:59 GMT";

/// Adds the site's banner, caching headers and legacy cookies to a response.
pub(crate) fn apply_site_headers(site: &Site, response: &mut Response) {
    let (server, powered_by) = banner(site);
    if !response.headers().contains_key(header::SERVER) {
        add_header(response, "server", server);
        add_header(response, "x-powered-by", powered_by);
    }
    add_header(response, SITE_HEADER, &site.id);
    apply_caching(site, response);
    let html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|t| t.as_bytes().starts_with(b"text/html"));
    if html && site.has(Quirk::AbsoluteLinks) {
        // The page's style sheet and script asked for ahead of it, at the site's own name.
        let links = Links::new(site);
        let preload = format!(
            "<{}>; rel=preload; as=style, <{}>; rel=preload; as=script",
            links.own("css/style.css"),
            links.own("js/app.js")
        );
        add_header(response, "link", &preload);
    }
    if site.has(Quirk::LegacyCookies) {
        for cookie in legacy_cookies(site) {
            add_header(response, "set-cookie", &cookie);
        }
    }
}

/// The web server and platform a site of this era would announce.
fn banner(site: &Site) -> (&'static str, &'static str) {
    if site.has(Quirk::Jsessionid) {
        (
            "Apache-Coyote/1.1",
            "Servlet 2.4; JBoss-4.2.3.GA/Tomcat-5.5",
        )
    } else if site.has(Quirk::Soap) {
        ("Microsoft-IIS/6.0", "ASP.NET")
    } else {
        ("Apache/2.2.3 (CentOS)", "PHP/5.2.6")
    }
}

/// The site's caching policy.
pub(crate) fn apply_caching(site: &Site, response: &mut Response) {
    let headers = response.headers_mut();
    for name in [
        header::CACHE_CONTROL,
        header::EXPIRES,
        header::ETAG,
        header::LAST_MODIFIED,
        header::PRAGMA,
    ] {
        headers.remove(name);
    }
    if site.has(Quirk::NoCacheHeaders) {
        return;
    }
    if site.has(Quirk::AggressiveCaching) {
        add_header(
            response,
            "cache-control",
            "public, max-age=31536000, immutable",
        );
        add_header(response, "expires", FAR_FUTURE_EXPIRES);
    } else {
        add_header(response, "cache-control", "private, no-cache");
    }
}

/// The `Set-Cookie` values of a `legacy-cookies` site.
pub(crate) fn legacy_cookies(site: &Site) -> [String; 2] {
    let name: String = site
        .id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    let parent = site.host.strip_prefix("www.").unwrap_or(&site.host);
    [
        format!("PREF=lang-ar; Domain={}; Path=/", site.host),
        format!("SITE_{name}=visite-2008; Domain=.{parent}; Path=/; Expires={FAR_FUTURE_COOKIE}"),
    ]
}

/// The cookies of a request, in order, from every `Cookie` header.
pub(crate) fn request_cookies(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .get_all(header::COOKIE)
        .iter()
        // Read as a servlet container or PHP reads them: every byte, not only ASCII.
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
        .collect::<Vec<_>>()
        .iter()
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| {
            let (name, value) = pair.split_once('=')?;
            let name = name.trim();
            (!name.is_empty()).then(|| (name.to_string(), value.trim().to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sites::site;

    #[test]
    fn legacy_cookies_name_the_parent_domain() {
        let s = site("birth-certificate-full-copy").expect("site");
        let [pref, own] = legacy_cookies(s);
        assert_eq!(pref, "PREF=lang-ar; Domain=www.watiqa.ma; Path=/");
        assert!(own.starts_with("SITE_BIRTH_CERTIFICATE_FULL_COPY="));
        assert!(own.contains("Domain=.watiqa.ma; Path=/; Expires="));
    }

    #[test]
    fn cookies_are_parsed_from_all_headers() {
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, "a=1; b=2".parse().expect("header"));
        headers.append(header::COOKIE, "c=3".parse().expect("header"));
        let names: Vec<_> = request_cookies(&headers)
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(names, ["a", "b", "c"]);
    }
}
