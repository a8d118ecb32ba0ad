//! A citizen whose cookies outgrew the header limit: the refusal (431) expires them, so that
//! reloading the page works again.
//!
//! Found when tried: a legacy site setting a new cookie on every page (each with its binding
//! companion) grew a citizen's `Cookie` header past `portal.max_header_bytes`; from then on
//! every request to that service got the 431 page, which told her to clear her cookies, a
//! thing most citizens cannot do (nginx answers such a browser 400 for ever, too). The
//! refusal now carries an expiry for each cookie of the request but the portal's session,
//! at every path the request could have been sent them from, host-only and (on a service's
//! own origin) for the services' domain, where a sibling's page may have planted them.

use egov_adapters::cookies::{portal_reserved, BINDING_PREFIX};
use http::header::COOKIE;
use http::HeaderValue;
use pingora::http::RequestHeader;

/// The most cookie names expired (browsers keep about 180 cookies for a site; the biggest
/// are what matter, and they are few).
const MAX_NAMES: usize = 64;
/// The largest cookie a browser keeps (name and value; RFC 6265bis, and every browser).
const MAX_BROWSER_COOKIE: usize = 4096;
/// The deepest path segment a cookie is expired at (`/a/b/c` and `/a/b/c/`, and above).
const MAX_DEPTH: usize = 3;
/// The most bytes of expiries one refusal carries, whatever the request's size: HTTP/2
/// sends a repeated cookie as a few bytes of its header table, and `Set-Cookie` lines are
/// not compressed (found in a bypass probe: 363 bytes in, 15 KB out).
const MAX_EXPIRY_BYTES: usize = 4 * 1024;

/// The `Set-Cookie` values that expire the cookies of `req`, a request refused for the size
/// of its header block; none unless its cookies are most of that block (a flood of other
/// headers gets a refusal, nothing more). `services_domain`: the domain of the services'
/// origins when `req` came to one (`Domain=` copies are expired there too); `secure`: the
/// portal is reached over HTTPS. Their size never exceeds the request's own header block
/// nor [`MAX_EXPIRY_BYTES`]: a refusal is not a lever to make the gateway send much more
/// than it was sent. The shallowest paths come first, host-only before `Domain=`.
pub fn expiries(
    req: &RequestHeader,
    services_domain: Option<&str>,
    secure: bool,
) -> Vec<HeaderValue> {
    let cookie_bytes: usize = req
        .headers
        .get_all(COOKIE)
        .iter()
        .map(HeaderValue::len)
        .sum();
    let header_bytes: usize = req
        .headers
        .iter()
        .map(|(n, v)| n.as_str().len() + v.len() + 4)
        .sum();
    if cookie_bytes * 2 < header_bytes {
        return Vec::new();
    }
    let names = names_to_expire(req);
    let paths = paths_sent_to(req.uri.path());
    let secure = if secure { "; Secure" } else { "" };
    let domains: Vec<String> = std::iter::once(String::new())
        .chain(services_domain.map(|d| format!("; Domain={d}")))
        .collect();
    let budget = header_bytes.min(MAX_EXPIRY_BYTES);
    let mut out = Vec::new();
    let mut spent = 0;
    for (p, path) in paths.iter().enumerate() {
        for (n, name) in names.iter().enumerate() {
            // The largest cookie at `/`, in every scope it may have, whatever the budget:
            // each refusal then rids the browser of one cookie at least, and reloads heal.
            // Found in a probe: names of 3,000 bytes planted with `Domain=` by a sibling's
            // page got, at each refusal, a host-only expiry of the first and nothing else
            // (the budget spent), so every service's origin answered 431 for a year.
            // Only a name a browser could hold (a cookie is at most 4,096 bytes, name and
            // value): a crafted request's longer one gets no more than the budget (from a
            // last read: a 30 KB name, sent once and then as a few bytes of HTTP/2's header
            // table, had 60 KB written back at every refusal).
            let largest = p == 0 && n == 0 && name.len() <= MAX_BROWSER_COOKIE;
            for domain in &domains {
                let value = format!("{name}=; Max-Age=0; Path={path}{domain}{secure}; HttpOnly");
                spent += "set-cookie: \r\n".len() + value.len();
                if spent > budget && !largest {
                    return out;
                }
                if let Ok(v) = HeaderValue::from_str(&value) {
                    out.push(v);
                }
            }
        }
    }
    out
}

/// The distinct names of `req`'s cookies, but the portal's own (its session cookies; the
/// binding companions of legacy cookies are expired with them), that can be written back
/// (token characters only), the largest cookie first.
fn names_to_expire(req: &RequestHeader) -> Vec<&str> {
    let mut names: Vec<(&str, usize)> = Vec::new();
    let pairs = req
        .headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'));
    for pair in pairs {
        let name = pair.split('=').next().unwrap_or_default().trim();
        let kept = portal_reserved(name) && !name.starts_with(BINDING_PREFIX);
        if name.is_empty() || kept || !name.bytes().all(token) {
            continue;
        }
        match names.iter_mut().find(|(n, _)| *n == name) {
            Some((_, size)) => *size = (*size).max(pair.len()),
            None => names.push((name, pair.len())),
        }
        if names.len() == MAX_NAMES {
            break;
        }
    }
    names.sort_by_key(|n| std::cmp::Reverse(n.1));
    names.into_iter().map(|(name, _)| name).collect()
}

/// A byte of an HTTP token (RFC 9110 §5.6.2), as cookie names are.
fn token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// The cookie paths a browser sends on a request for `path`: `/`, then each directory
/// above it with and without its slash (`/a`, `/a/`, `/a/b`, ...), to [`MAX_DEPTH`]; none
/// holding a byte that would end the attribute.
fn paths_sent_to(path: &str) -> Vec<&str> {
    let mut paths = vec!["/"];
    let ends = path
        .match_indices('/')
        .map(|(i, _)| i)
        .skip(1)
        .chain((path.len() > 1 && !path.ends_with('/')).then_some(path.len()));
    for end in ends.take(MAX_DEPTH) {
        let dir = &path[..end];
        if dir.len() <= 1 || dir.bytes().any(|b| b == b';' || b.is_ascii_control()) {
            break;
        }
        paths.push(dir);
        if end < path.len() {
            paths.push(&path[..=end]);
        }
    }
    paths
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(path: &str, cookie: &str, other: usize) -> RequestHeader {
        let mut req = RequestHeader::build("GET", path.as_bytes(), None).expect("request");
        req.insert_header("host", "cnie-renewal.services.gov.ma")
            .expect("host");
        req.insert_header("cookie", cookie).expect("cookie");
        if other > 0 {
            req.insert_header("x-other", "x".repeat(other))
                .expect("other");
        }
        req
    }

    fn crowded() -> String {
        let mut cookie = "egov_session=keep; __Host-egov_sid=keep".to_string();
        for i in 0..20 {
            cookie.push_str(&format!("; track{i}={}", "v".repeat(1500)));
            cookie.push_str(&format!("; egov_bound_track{i}=d"));
        }
        cookie
    }

    fn texts(values: &[HeaderValue]) -> Vec<&str> {
        values.iter().map(|v| v.to_str().expect("ascii")).collect()
    }

    #[test]
    fn every_legacy_cookie_and_its_binding_is_expired_but_not_the_portals_session() {
        let out = expiries(&request("/", &crowded(), 0), None, true);
        let out = texts(&out);
        assert!(
            out.contains(&"track0=; Max-Age=0; Path=/; Secure; HttpOnly"),
            "{out:?}"
        );
        assert!(out.contains(&"egov_bound_track19=; Max-Age=0; Path=/; Secure; HttpOnly"));
        assert!(out
            .iter()
            .all(|v| !v.starts_with("egov_session") && !v.starts_with("__Host-egov")));
        assert_eq!(out.len(), 40);
    }

    #[test]
    fn cookies_are_expired_at_each_path_they_may_have_been_sent_from() {
        let out = expiries(
            &request(
                "/cnie/demande/etape;x=1/fin",
                &format!("track={}", "v".repeat(2000)),
                0,
            ),
            Some("services.gov.ma"),
            false,
        );
        let out = texts(&out);
        assert_eq!(
            out,
            [
                "track=; Max-Age=0; Path=/; HttpOnly",
                "track=; Max-Age=0; Path=/; Domain=services.gov.ma; HttpOnly",
                "track=; Max-Age=0; Path=/cnie; HttpOnly",
                "track=; Max-Age=0; Path=/cnie; Domain=services.gov.ma; HttpOnly",
                "track=; Max-Age=0; Path=/cnie/; HttpOnly",
                "track=; Max-Age=0; Path=/cnie/; Domain=services.gov.ma; HttpOnly",
                "track=; Max-Age=0; Path=/cnie/demande; HttpOnly",
                "track=; Max-Age=0; Path=/cnie/demande; Domain=services.gov.ma; HttpOnly",
                "track=; Max-Age=0; Path=/cnie/demande/; HttpOnly",
                "track=; Max-Age=0; Path=/cnie/demande/; Domain=services.gov.ma; HttpOnly",
            ]
        );
    }

    /// Found in a probe: a sibling's page planted a dozen cookies with names of 3,000 bytes
    /// for the services' domain; each refusal expired the first host-only, where it was
    /// not, and nothing else, so the citizen was refused on every service for a year.
    #[test]
    fn each_refusal_expires_the_largest_cookie_in_every_scope_whatever_its_size() {
        let mut cookie = "small=1".to_string();
        for i in 0..12 {
            cookie.push_str(&format!("; {}{i}=1", "n".repeat(3000)));
        }
        cookie.push_str(&format!("; {}=1", "m".repeat(3500)));
        let out = expiries(&request("/page", &cookie, 0), Some("services.gov.ma"), true);
        let out = texts(&out);
        let largest = "m".repeat(3500);
        assert_eq!(
            out,
            [
                format!("{largest}=; Max-Age=0; Path=/; Secure; HttpOnly"),
                format!("{largest}=; Max-Age=0; Path=/; Domain=services.gov.ma; Secure; HttpOnly"),
            ]
        );
    }

    #[test]
    fn a_name_no_browser_could_hold_gets_no_more_than_the_budget() {
        let name = "n".repeat(30_000);
        let out = expiries(
            &request("/", &format!("{name}=1"), 0),
            Some("services.gov.ma"),
            true,
        );
        let size: usize = out.iter().map(|v| v.len() + 14).sum();
        assert!(size <= MAX_EXPIRY_BYTES, "{size}");
    }

    #[test]
    fn a_header_block_grown_by_other_headers_expires_nothing() {
        assert!(expiries(&request("/", "a=1", 20_000), None, true).is_empty());
    }

    #[test]
    fn the_expiries_are_bounded_whatever_the_request_says_it_carried() {
        let mut cookie = String::new();
        for i in 0..64 {
            cookie.push_str(&format!("c{i}={}; ", "v".repeat(600)));
        }
        let out = expiries(
            &request("/a/b/c/d", &cookie, 0),
            Some("services.gov.ma"),
            true,
        );
        let size: usize = out.iter().map(|v| v.len() + 14).sum();
        assert!(!out.is_empty() && size <= MAX_EXPIRY_BYTES, "{size}");
    }

    #[test]
    fn the_expiries_never_outweigh_the_request() {
        // Many small cookies: one expiry each would be larger than what was sent.
        let cookie: Vec<String> = (0..60).map(|i| format!("c{i}=1")).collect();
        let req = request("/a/b/c/d", &cookie.join("; "), 0);
        let sent: usize = req
            .headers
            .iter()
            .map(|(n, v)| n.as_str().len() + v.len() + 4)
            .sum();
        let out = expiries(&req, Some("services.gov.ma"), true);
        let size: usize = out.iter().map(|v| v.len() + 14).sum();
        assert!(!out.is_empty() && size <= sent, "{size} > {sent}");
    }
}
