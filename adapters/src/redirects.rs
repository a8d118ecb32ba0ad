//! Headers that send the browser to a URL: `Location`, `Content-Location`, `Refresh` and
//! `Link`.
//!
//! A legacy site redirects to its own absolute URL (`Location: http://www.cnie.ma/cnie/suivi`),
//! to the internal address it is deployed at, or with a timed `Refresh: 5; url=...`, and
//! asks for its style sheets and scripts ahead of the page with
//! `Link: <http://www.cnie.ma/cnie/app.css>; rel=preload`. Left alone, a redirect sends the
//! citizen off the portal, and a preload fetches from the old domain what the page then
//! asks of the portal (twice the bytes, or a blocked cross-origin fetch). Each value is
//! mapped with the [`LinkMap`]; relative values and foreign hosts are left as they are,
//! since the browser resolves them against the portal URL it already shows.

use crate::headers::HeaderEdit;
use crate::links::{on_bytes, LinkMap, ServiceLinks};
use http::{HeaderName, HeaderValue};

/// `Refresh` is not in `http`'s list of standard names.
const REFRESH: &str = "refresh";

/// The portal path for a `Location` or `Content-Location` value, or `None` to leave it.
pub fn rewrite_location(value: &str, links: &LinkMap, current: &ServiceLinks) -> Option<String> {
    links.rewrite(value, current)
}

/// [`rewrite_location`] on a header's raw bytes, for the legacy sites that redirect to a path
/// with raw UTF-8 or windows-1256 in it (which `HeaderValue::to_str` refuses). Bytes other
/// than the rewritten scheme, host and service base are copied verbatim.
pub fn rewrite_location_bytes(
    value: &[u8],
    links: &LinkMap,
    current: &ServiceLinks,
) -> Option<Vec<u8>> {
    on_bytes(value, |v| rewrite_location(v, links, current))
}

/// [`rewrite_refresh`] on a header's raw bytes, like [`rewrite_location_bytes`].
pub fn rewrite_refresh_bytes(
    value: &[u8],
    links: &LinkMap,
    current: &ServiceLinks,
) -> Option<Vec<u8>> {
    on_bytes(value, |v| rewrite_refresh(v, links, current))
}

/// A `Refresh` header (or `<meta http-equiv="refresh">` content) with its URL mapped:
/// `5; url=http://host/x`, `0;URL='...'`, `3, url="..."` or a bare `0; http://...`. The delay
/// and punctuation are kept; `None` if there is no URL or it is not mapped.
pub fn rewrite_refresh(value: &str, links: &LinkMap, current: &ServiceLinks) -> Option<String> {
    let (start, end) = refresh_url_span(value)?;
    let new = links.rewrite(value.get(start..end)?, current)?;
    let mut out = String::with_capacity(value.len() + new.len());
    out.push_str(value.get(..start)?);
    out.push_str(&new);
    out.push_str(value.get(end..)?);
    Some(out)
}

/// A `Link` header (RFC 8288: `<url>; rel=preload; as=style, <url>; rel=canonical`) with
/// every target URL mapped; parameters, punctuation and unmapped targets kept as they are.
/// A `<` inside a quoted parameter (`title="a<b>"`) starts no target. `None` if no target
/// is mapped.
pub fn rewrite_link(value: &str, links: &LinkMap, current: &ServiceLinks) -> Option<String> {
    let b = value.as_bytes();
    let mut out = String::new();
    let mut copied = 0;
    let mut quoted = false;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' if quoted => i += 1, // the escaped character is not a quote
            b'"' => quoted = !quoted,
            b'<' if !quoted => {
                let Some(len) = b[i + 1..].iter().position(|&c| c == b'>') else {
                    break; // an unterminated target: the rest is left as it is
                };
                let (start, end) = (i + 1, i + 1 + len);
                // `<`, `>`, `"` and `\` are ASCII: every index here is a char boundary.
                if let Some(new) = links.rewrite(&value[start..end], current) {
                    out.push_str(&value[copied..start]);
                    out.push_str(&new);
                    copied = end;
                }
                i = end;
            }
            _ => {}
        }
        i += 1;
    }
    if copied == 0 {
        return None;
    }
    out.push_str(&value[copied..]);
    Some(out)
}

/// [`rewrite_link`] on a header's raw bytes, like [`rewrite_location_bytes`].
pub fn rewrite_link_bytes(
    value: &[u8],
    links: &LinkMap,
    current: &ServiceLinks,
) -> Option<Vec<u8>> {
    on_bytes(value, |v| rewrite_link(v, links, current))
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\x0c' | b'\r')
}

/// Where the URL of a refresh value is, following the HTML standard's "shared declarative
/// refresh steps".
fn refresh_url_span(value: &str) -> Option<(usize, usize)> {
    let b = value.as_bytes();
    let mut i = 0;
    let skip_ws = |mut i: usize| {
        while i < b.len() && is_ws(b[i]) {
            i += 1;
        }
        i
    };
    i = skip_ws(i);
    let time_start = i;
    while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
        i += 1;
    }
    if i == time_start {
        return None;
    }
    if i < b.len() && !(is_ws(b[i]) || b[i] == b';' || b[i] == b',') {
        return None;
    }
    i = skip_ws(i);
    if i < b.len() && (b[i] == b';' || b[i] == b',') {
        i += 1;
    }
    i = skip_ws(i);
    let url_start = i;
    if b.len() >= i + 3 && b[i..i + 3].eq_ignore_ascii_case(b"url") {
        let j = skip_ws(i + 3);
        i = if b.get(j) == Some(&b'=') {
            skip_ws(j + 1)
        } else {
            url_start
        };
    }
    let (start, end) = match b.get(i) {
        Some(&q @ (b'"' | b'\'')) => {
            let start = i + 1;
            let len = b[start..].iter().position(|&c| c == q);
            (start, len.map_or(b.len(), |l| start + l))
        }
        _ => (i, b.len()),
    };
    let mut end = end;
    while end > start && is_ws(b[end - 1]) {
        end -= 1;
    }
    (end > start).then_some((start, end))
}

/// A refresh (`<meta http-equiv="refresh">` or a `Refresh` header) this many seconds or more
/// after the page shows is dropped: it is a time limit the citizen can neither see nor extend
/// (WCAG 2.2.1; failures F40 and F41). Found when tried: a legacy form page refreshed to the
/// site's home after 300 s, and a citizen slow to type lost what she had typed. Shorter ones
/// stay: a "please wait" page polls the site that way, and a 0 is a redirect.
pub const LONGEST_REFRESH_KEPT_SECS: u64 = 59;

/// The delay a refresh's value starts with (`300; url=...`, `300`, `300.5`), if it starts
/// with one; a delay too long to read is longer than any kept.
pub fn refresh_delay(value: &[u8]) -> Option<u64> {
    let start = value.iter().position(|b| !is_ws(*b)).unwrap_or(value.len());
    let digits = &value[start..];
    let len = digits
        .iter()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(digits.len());
    (len > 0).then(|| {
        std::str::from_utf8(&digits[..len])
            .ok()
            .and_then(|d| d.parse().ok())
            .unwrap_or(u64::MAX)
    })
}

/// Whether a refresh's value is one to drop ([`LONGEST_REFRESH_KEPT_SECS`]).
pub fn is_long_refresh(value: &[u8]) -> bool {
    refresh_delay(value).is_some_and(|d| d > LONGEST_REFRESH_KEPT_SECS)
}

/// Rewrites `Location`, `Content-Location`, `Refresh` and `Link` in place (and drops a long
/// `Refresh`, see [`LONGEST_REFRESH_KEPT_SECS`]); true if any changed. Values are read as
/// raw bytes, so one holding non-ASCII bytes is rewritten too.
pub fn rewrite_redirect_headers(
    headers: &mut impl HeaderEdit,
    links: &LinkMap,
    current: &ServiceLinks,
) -> bool {
    let mut changed = false;
    let names = [
        (http::header::LOCATION, rewrite_location_bytes as Rewrite),
        (http::header::CONTENT_LOCATION, rewrite_location_bytes),
        (HeaderName::from_static(REFRESH), rewrite_refresh_bytes),
        (http::header::LINK, rewrite_link_bytes),
    ];
    for (name, rewrite) in names {
        let values = headers.get_all(&name);
        let mut new_values = Vec::with_capacity(values.len());
        let mut any = false;
        for v in values {
            if name == REFRESH && is_long_refresh(v.as_bytes()) {
                any = true;
                continue;
            }
            let new = rewrite(v.as_bytes(), links, current)
                .and_then(|b| HeaderValue::from_bytes(&b).ok());
            any |= new.is_some();
            new_values.push(new.unwrap_or(v));
        }
        if any {
            headers.remove(&name);
            for v in new_values {
                headers.append(name.clone(), v);
            }
            changed = true;
        }
    }
    changed
}

type Rewrite = fn(&[u8], &LinkMap, &ServiceLinks) -> Option<Vec<u8>>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::links::LinkMapBuilder;
    use http::HeaderMap;

    fn map() -> (LinkMap, ServiceLinks) {
        let mut b = LinkMapBuilder::new();
        b.add_legacy("www.cnie.ma", "/cnie-renewal", "/s/cnie-renewal")
            .expect("valid");
        b.add_upstream("127.0.0.1:9400", "/", "/s/cnie-renewal")
            .expect("valid");
        (
            b.build(),
            ServiceLinks::new("www.cnie.ma", "/s/cnie-renewal"),
        )
    }

    fn refresh(v: &str) -> Option<String> {
        let (m, here) = map();
        rewrite_refresh(v, &m, &here)
    }

    #[test]
    fn absolute_locations_to_the_legacy_host_become_portal_paths() {
        let (m, here) = map();
        assert_eq!(
            rewrite_location("http://www.cnie.ma/cnie-renewal/suivi?id=4", &m, &here).as_deref(),
            Some("/s/cnie-renewal/suivi?id=4")
        );
    }

    #[test]
    fn locations_to_the_internal_backend_address_become_portal_paths() {
        let (m, here) = map();
        assert_eq!(
            rewrite_location("http://127.0.0.1:9400/login", &m, &here).as_deref(),
            Some("/s/cnie-renewal/login")
        );
    }

    #[test]
    fn relative_and_foreign_locations_are_left_alone() {
        let (m, here) = map();
        for v in ["suivi", "../x", "?page=2", "https://www.google.com/"] {
            assert_eq!(rewrite_location(v, &m, &here), None, "{v}");
        }
    }

    #[test]
    fn refresh_urls_are_mapped_keeping_delay_and_punctuation() {
        assert_eq!(
            refresh("5; url=http://www.cnie.ma/cnie-renewal/x").as_deref(),
            Some("5; url=/s/cnie-renewal/x")
        );
        assert_eq!(
            refresh("0;URL='http://www.cnie.ma/cnie-renewal/'").as_deref(),
            Some("0;URL='/s/cnie-renewal/'")
        );
        assert_eq!(
            refresh("3, url = \"/cnie-renewal/y\" ").as_deref(),
            Some("3, url = \"/s/cnie-renewal/y\" ")
        );
        assert_eq!(
            refresh("0; http://www.cnie.ma/cnie-renewal/z").as_deref(),
            Some("0; /s/cnie-renewal/z")
        );
    }

    #[test]
    fn refresh_without_a_mapped_url_is_left_alone() {
        for v in [
            "5",
            "5;",
            "x; url=/cnie-renewal/",
            "5; url=page.html",
            "",
            "5x",
        ] {
            assert_eq!(refresh(v), None, "{v:?}");
        }
    }

    fn link(v: &str) -> Option<String> {
        let (m, here) = map();
        rewrite_link(v, &m, &here)
    }

    #[test]
    fn link_targets_are_mapped_keeping_their_parameters() {
        assert_eq!(
            link("<http://www.cnie.ma/cnie-renewal/app.css>; rel=preload; as=style").as_deref(),
            Some("</s/cnie-renewal/app.css>; rel=preload; as=style")
        );
        assert_eq!(
            link("<http://127.0.0.1:9400/a.js>;rel=preload;as=script, <https://cdn.example/x.js>; rel=preload, </cnie-renewal/next>; rel=next").as_deref(),
            Some("</s/cnie-renewal/a.js>;rel=preload;as=script, <https://cdn.example/x.js>; rel=preload, </s/cnie-renewal/next>; rel=next")
        );
    }

    #[test]
    fn a_link_without_a_mapped_target_is_left_alone() {
        for v in [
            "<style.css>; rel=preload",
            "<https://www.google.com/>; rel=preconnect",
            "",
            "</cnie-renewal/x; rel=next", // no closing `>`
            "rel=preload",
        ] {
            assert_eq!(link(v), None, "{v:?}");
        }
    }

    #[test]
    fn a_less_than_sign_inside_a_quoted_link_parameter_starts_no_target() {
        assert_eq!(
            link(r#"<a.css>; title="x \" <http://www.cnie.ma/cnie-renewal/q>", <http://www.cnie.ma/cnie-renewal/b.css>; rel=preload"#).as_deref(),
            Some(r#"<a.css>; title="x \" <http://www.cnie.ma/cnie-renewal/q>", </s/cnie-renewal/b.css>; rel=preload"#)
        );
    }

    #[test]
    fn redirect_headers_are_rewritten_in_place() {
        let (m, here) = map();
        let mut h = HeaderMap::new();
        h.insert(
            "location",
            HeaderValue::from_static("http://www.cnie.ma/cnie-renewal/a"),
        );
        h.insert(
            "content-location",
            HeaderValue::from_static("/cnie-renewal/b"),
        );
        h.insert(
            "refresh",
            HeaderValue::from_static("1;url=http://127.0.0.1:9400/c"),
        );
        h.insert(
            "x-other",
            HeaderValue::from_static("http://www.cnie.ma/cnie-renewal/"),
        );
        h.append(
            "link",
            HeaderValue::from_static("<http://www.cnie.ma/cnie-renewal/d.css>; rel=preload"),
        );
        h.append("link", HeaderValue::from_static("<e.js>; rel=preload"));
        assert!(rewrite_redirect_headers(&mut h, &m, &here));
        let links: Vec<_> = h
            .get_all("link")
            .iter()
            .map(HeaderValue::as_bytes)
            .collect();
        assert_eq!(
            links,
            [
                &b"</s/cnie-renewal/d.css>; rel=preload"[..],
                b"<e.js>; rel=preload"
            ]
        );
        let get = |n: &str| h.get(n).and_then(|v| v.to_str().ok()).map(str::to_string);
        assert_eq!(get("location").as_deref(), Some("/s/cnie-renewal/a"));
        assert_eq!(
            get("content-location").as_deref(),
            Some("/s/cnie-renewal/b")
        );
        assert_eq!(get("refresh").as_deref(), Some("1;url=/s/cnie-renewal/c"));
        assert_eq!(
            get("x-other").as_deref(),
            Some("http://www.cnie.ma/cnie-renewal/")
        );
    }

    #[test]
    fn raw_utf8_and_legacy_bytes_in_redirects_are_rewritten_and_kept() {
        let (m, here) = map();
        assert_eq!(
            rewrite_location_bytes("http://www.cnie.ma/cnie-renewal/état".as_bytes(), &m, &here)
                .as_deref(),
            Some("/s/cnie-renewal/état".as_bytes())
        );
        assert_eq!(
            rewrite_location_bytes(
                b"http://www.cnie.ma/cnie-renewal/\xc7\xe1?q=\xff",
                &m,
                &here
            )
            .as_deref(),
            Some(&b"/s/cnie-renewal/\xc7\xe1?q=\xff"[..])
        );
        assert_eq!(
            rewrite_refresh_bytes(b"0; url='http://127.0.0.1:9400/\xe9'", &m, &here).as_deref(),
            Some(&b"0; url='/s/cnie-renewal/\xe9'"[..])
        );
    }

    #[test]
    fn a_location_header_with_non_ascii_bytes_is_rewritten_in_place() {
        let (m, here) = map();
        let mut h = HeaderMap::new();
        h.insert(
            "location",
            HeaderValue::from_bytes("http://www.cnie.ma/cnie-renewal/reçu".as_bytes())
                .expect("valid header"),
        );
        assert!(rewrite_redirect_headers(&mut h, &m, &here));
        assert_eq!(
            h.get("location").map(HeaderValue::as_bytes),
            Some("/s/cnie-renewal/reçu".as_bytes())
        );
    }

    /// Found when tried: a `Refresh: 300; url=...` header reloaded a legacy form page as
    /// surely as the `<meta>` the HTML adapter drops (WCAG 2.2.1).
    #[test]
    fn a_refresh_header_a_minute_or_more_away_is_dropped_and_a_short_one_kept() {
        let (m, here) = map();
        let mut h = HeaderMap::new();
        h.append("refresh", HeaderValue::from_static("300; url=next.php"));
        assert!(rewrite_redirect_headers(&mut h, &m, &here));
        assert!(h.get("refresh").is_none());
        let mut h = HeaderMap::new();
        h.append("refresh", HeaderValue::from_static("5; url=next.php"));
        rewrite_redirect_headers(&mut h, &m, &here);
        assert_eq!(
            h.get("refresh").map(|v| v.as_bytes()),
            Some(&b"5; url=next.php"[..])
        );
        assert_eq!(refresh_delay(b" 300.5;url=x"), Some(300));
        assert_eq!(refresh_delay(b"99999999999999999999999"), Some(u64::MAX));
        assert_eq!(refresh_delay(b"; url=x"), None);
        assert_eq!(
            refresh_delay(b"+300"),
            None,
            "no delay a browser reads either"
        );
    }

    #[test]
    fn headers_without_mapped_urls_report_no_change() {
        let (m, here) = map();
        let mut h = HeaderMap::new();
        h.insert("location", HeaderValue::from_static("next.php"));
        assert!(!rewrite_redirect_headers(&mut h, &m, &here));
        assert_eq!(
            h.get("location").map(|v| v.as_bytes()),
            Some(&b"next.php"[..])
        );
    }
}
