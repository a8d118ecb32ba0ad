//! Absolute legacy URLs written inside JavaScript: inline event handlers
//! (`onload="MM_preloadImages('http://www.cnie.ma/img/logo.gif')"`, the Dreamweaver habit of
//! the 2000s) and `<script>` text.
//!
//! Absolute URLs (`http://`, `https://`, `//host`) to hosts the link map knows are touched,
//! and of root-relative paths only a whole string literal under a service's base below its
//! host's root (`'/cnie-renewal/img/logo.gif'`): rewriting any other root-relative string
//! inside code would break regexes and paths that are not URLs.

use crate::css::apply_edits;
use crate::links::{LinkMap, ServiceLinks};

/// Characters that end a URL embedded in code or markup.
fn ends_url(b: u8) -> bool {
    matches!(
        b,
        b'"' | b'\''
            | b'`'
            | b' '
            | b'\t'
            | b'\n'
            | b'\r'
            | b')'
            | b'('
            | b'<'
            | b'>'
            | b'\\'
            | b';'
            | b','
    )
}

/// `code` with every mapped absolute URL replaced by its portal path, or `None` if nothing
/// changed.
pub fn rewrite_embedded_urls(
    code: &str,
    links: &LinkMap,
    current: &ServiceLinks,
) -> Option<String> {
    let b = code.as_bytes();
    let mut edits: Vec<(usize, usize, String)> = Vec::new();
    let mut from = 0;
    while let Some(rel) = memchr::memmem::find(&b[from..], b"//") {
        let slashes = from + rel;
        // The URL starts at its scheme (`http:`/`https:`) or, protocol-relative, at `//`
        // right after a quote or `=`.
        let start = if slashes >= 6 && b[slashes - 6..slashes].eq_ignore_ascii_case(b"https:") {
            slashes - 6
        } else if slashes >= 5 && b[slashes - 5..slashes].eq_ignore_ascii_case(b"http:") {
            slashes - 5
        } else if slashes > 0 && matches!(b[slashes - 1], b'"' | b'\'' | b'=' | b'(') {
            slashes
        } else {
            from = slashes + 2;
            continue;
        };
        // To the first character that ends a URL, an escaped `/` being part of it (its path
        // may be written with escaped slashes after a plain `//host`: found in a bypass
        // probe, `"//www.site.ma\/x/y"` and `"http://host\u002fx"`).
        let mut end = slashes + 2;
        let mut escaped = None;
        while end < b.len() {
            match escaped_slash(b, end) {
                Some(form) => {
                    escaped.get_or_insert(form);
                    end += form.len();
                }
                None if ends_url(b[end]) => break,
                None => end += 1,
            }
        }
        let read = code.get(start..end).map(|u| match escaped {
            Some(_) => unescaped(u),
            None => u.to_string(),
        });
        if let Some(new) = read.and_then(|u| links.rewrite_in_code(&u, current)) {
            let new = match escaped {
                Some(form) => escaped_after_authority(&new, form),
                None => new,
            };
            edits.push((start, end, new));
        }
        from = end.max(slashes + 2);
    }
    escaped_urls(code, links, current, &mut edits);
    quoted_paths(code, links, current, &mut edits);
    apply_edits(code, edits)
}

/// The root-relative paths of `code` that are a whole string literal (`'/cnie-renewal/img/
/// logo.gif'`), each rewritten as [`LinkMap::rewrite_path_in_code`] allows, as edits of
/// `code`. Only a whole literal: a `/` inside a longer string or a regex is not a link.
fn quoted_paths(
    code: &str,
    links: &LinkMap,
    current: &ServiceLinks,
    edits: &mut Vec<(usize, usize, String)>,
) {
    let b = code.as_bytes();
    let mut from = 0;
    while let Some(rel) = memchr::memchr2(b'\'', b'"', &b[from..]) {
        let quote_at = from + rel;
        let quote = b[quote_at];
        let start = quote_at + 1;
        from = start;
        if b.get(start) != Some(&b'/') || b.get(start + 1).is_some_and(|&c| c == b'/') {
            continue;
        }
        let mut end = start + 1;
        while end < b.len() && b[end] != quote && !ends_url(b[end]) {
            end += 1;
        }
        if b.get(end) != Some(&quote) {
            continue;
        }
        // The closing quote opens nothing.
        from = end + 1;
        let Some(path) = code.get(start..end) else {
            continue;
        };
        if let Some(new) = links.rewrite_path_in_code(path, current) {
            edits.push((start, end, new));
        }
    }
}

/// How code writes a `/` it escapes: JSON's `\/` (PHP's `json_encode`), `\\/` (JSON
/// inside a JSON string), and JavaScript's `\u002f` and `\x2f`.
const ESCAPED_SLASHES: [&[u8]; 6] = [b"\\\\/", b"\\/", b"\\u002f", b"\\u002F", b"\\x2f", b"\\x2F"];

/// The escaped `/` that begins at `at` in `b`, if one does.
fn escaped_slash(b: &[u8], at: usize) -> Option<&'static [u8]> {
    let rest = b.get(at..)?;
    ESCAPED_SLASHES
        .iter()
        .copied()
        .find(|form| rest.starts_with(form))
}

/// `written` with each escaped `/` ([`ESCAPED_SLASHES`]) a `/`.
fn unescaped(written: &str) -> String {
    let mut plain = written.to_string();
    for f in ESCAPED_SLASHES {
        plain = plain.replace(std::str::from_utf8(f).unwrap_or("/"), "/");
    }
    plain
}

/// `url` with the slashes after its scheme and authority (all of a path's) written as
/// `form`: a URL whose path was escaped in code goes back escaped alike.
fn escaped_after_authority(url: &str, form: &[u8]) -> String {
    let form = std::str::from_utf8(form).unwrap_or("/");
    let path_at = match url.find("//") {
        Some(i) => url[i + 2..].find('/').map_or(url.len(), |p| i + 2 + p),
        None => 0,
    };
    format!("{}{}", &url[..path_at], url[path_at..].replace('/', form))
}

/// The URLs of `code` written with their slashes escaped, as JSON encoders and minifiers
/// write them (WordPress's `var ajaxurl = "http:\/\/www.site.ma\/wp-admin\/…"`,
/// `"https:\u002f\u002fwww.site.ma\u002f…"`): each read without its escapes, rewritten
/// ([`LinkMap::rewrite_in_code`]), and escaped again as it was, as edits of `code`. Found
/// when tried: such a URL went to the citizen's browser untouched, and the page's requests
/// to it went to the legacy host, around the gateway; then, in a bypass probe, the
/// `\u002f` and `\\/` spellings.
fn escaped_urls(
    code: &str,
    links: &LinkMap,
    current: &ServiceLinks,
    edits: &mut Vec<(usize, usize, String)>,
) {
    let b = code.as_bytes();
    let mut from = 0;
    while let Some(rel) = memchr::memchr(b'\\', &b[from..]) {
        let slashes = from + rel;
        from = slashes + 1;
        let Some(form) = escaped_slash(b, slashes) else {
            continue;
        };
        if escaped_slash(b, slashes + form.len()).is_none() {
            from = slashes + form.len();
            continue;
        }
        let start = if slashes >= 6 && b[slashes - 6..slashes].eq_ignore_ascii_case(b"https:") {
            slashes - 6
        } else if slashes >= 5 && b[slashes - 5..slashes].eq_ignore_ascii_case(b"http:") {
            slashes - 5
        } else if slashes > 0 && matches!(b[slashes - 1], b'"' | b'\'') {
            slashes
        } else {
            from = slashes + form.len();
            continue;
        };
        // To the first character that ends a URL, an escaped `/` being part of it.
        let mut end = slashes;
        while end < b.len() {
            match escaped_slash(b, end) {
                Some(f) => end += f.len(),
                None if ends_url(b[end]) => break,
                None => end += 1,
            }
        }
        from = end.max(from);
        let Some(written) = code.get(start..end) else {
            continue;
        };
        if let Some(new) = links.rewrite_in_code(&unescaped(written), current) {
            let again = std::str::from_utf8(form).unwrap_or("/");
            edits.push((start, end, new.replace('/', again)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::links::LinkMapBuilder;

    fn map() -> (LinkMap, ServiceLinks) {
        let mut b = LinkMapBuilder::new();
        b.add_legacy("www.cnie.ma", "/cnie-renewal", "/s/cnie-renewal")
            .expect("mount");
        (
            b.build(),
            ServiceLinks::new("www.cnie.ma", "/s/cnie-renewal"),
        )
    }

    #[test]
    fn urls_in_event_handlers_are_rewritten() {
        let (m, here) = map();
        let out = rewrite_embedded_urls(
            "MM_preloadImages('http://www.cnie.ma/cnie-renewal/img/logo.gif','//www.cnie.ma/cnie-renewal/x.gif')",
            &m,
            &here,
        );
        assert_eq!(
            out.as_deref(),
            Some("MM_preloadImages('/s/cnie-renewal/img/logo.gif','/s/cnie-renewal/x.gif')")
        );
    }

    /// Found when tried: a site that writes root-relative links preloaded its logo at
    /// `/cnie-renewal/img/logo.gif`, which its own origin answered with a 404 on every page.
    #[test]
    fn a_path_under_the_services_base_quoted_in_code_is_rewritten() {
        let (m, here) = map();
        let out = rewrite_embedded_urls(
            r#"MM_preloadImages('/cnie-renewal/img/logo.gif', "/cnie-renewal/?a=1#b")"#,
            &m,
            &here,
        );
        assert_eq!(
            out.as_deref(),
            Some(r#"MM_preloadImages('/s/cnie-renewal/img/logo.gif', "/s/cnie-renewal/?a=1#b")"#)
        );
    }

    #[test]
    fn on_its_own_origin_a_quoted_path_under_its_base_loses_the_base() {
        let origin = "https://cnie-renewal.services.gov.ma";
        let mut b = LinkMapBuilder::new();
        b.add_legacy("www.cnie.ma", "/cnie-renewal", origin)
            .expect("mount");
        let (m, here) = (b.build(), ServiceLinks::new("www.cnie.ma", origin));
        assert_eq!(
            rewrite_embedded_urls("MM_preloadImages('/cnie-renewal/img/logo.gif')", &m, &here)
                .as_deref(),
            Some("MM_preloadImages('/img/logo.gif')")
        );
    }

    #[test]
    fn paths_in_code_that_are_not_a_whole_literal_under_a_base_are_left_alone() {
        let (m, here) = map();
        let mut root = LinkMapBuilder::new();
        root.add_legacy("www.cnie.ma", "/", "/s/cnie-renewal")
            .expect("mount");
        let root = root.build();
        for code in [
            "d.split('/')",
            "x = '/other/img.gif'",
            "x = 'see /cnie-renewal/img.gif'",
            "re = /cnie-renewal/g",
            "x = '/cnie-renewal/a b.gif'",
            "x = '/cnie-renewalx/a.gif'",
        ] {
            assert_eq!(rewrite_embedded_urls(code, &m, &here), None, "{code}");
        }
        // On a site owning its host's root, a quoted path is the same path on its origin.
        assert_eq!(
            rewrite_embedded_urls("x = '/img/logo.gif'", &root, &here),
            None
        );
    }

    #[test]
    fn urls_with_escaped_slashes_are_rewritten_and_escaped_again() {
        let (m, here) = map();
        let out = rewrite_embedded_urls(
            r#"var ajaxurl = "http:\/\/www.cnie.ma\/cnie-renewal\/wp-admin\/admin-ajax.php"; var o = {"root":"\/\/WWW.cnie.ma\/cnie-renewal\/wp-json\/?a=1\u0026b=2","other":"https:\/\/example.org\/x"};"#,
            &m,
            &here,
        );
        assert_eq!(
            out.as_deref(),
            Some(
                r#"var ajaxurl = "\/s\/cnie-renewal\/wp-admin\/admin-ajax.php"; var o = {"root":"\/s\/cnie-renewal\/wp-json\/?a=1\u0026b=2","other":"https:\/\/example.org\/x"};"#
            )
        );
    }

    #[test]
    fn urls_escaped_every_way_code_escapes_a_slash_are_rewritten_and_escaped_as_they_were() {
        let (m, here) = map();
        for (code, rewritten) in [
            (
                r#"u = "https:\u002f\u002fwww.cnie.ma\u002fcnie-renewal\u002fx";"#,
                r#"u = "\u002fs\u002fcnie-renewal\u002fx";"#,
            ),
            (
                r#"u = "http:\x2F\x2Fwww.cnie.ma\x2Fcnie-renewal\x2Fx";"#,
                r#"u = "\x2Fs\x2Fcnie-renewal\x2Fx";"#,
            ),
            (
                r#"j = "{\"u\":\"http:\\/\\/www.cnie.ma\\/cnie-renewal\\/x\"}";"#,
                r#"j = "{\"u\":\"\\/s\\/cnie-renewal\\/x\"}";"#,
            ),
        ] {
            assert_eq!(
                rewrite_embedded_urls(code, &m, &here).as_deref(),
                Some(rewritten),
                "{code}"
            );
        }
    }

    /// Found in a bypass probe: on the service's own origin, a URL in code made
    /// root-relative broke the code built on it.
    #[test]
    fn on_its_own_origin_a_url_in_code_keeps_its_form() {
        let origin = "https://cnie-renewal.services.gov.ma";
        let mut b = LinkMapBuilder::new();
        b.add_legacy("www.cnie.ma", "/cnie-renewal", origin)
            .expect("mount");
        let (m, here) = (b.build(), ServiceLinks::new("www.cnie.ma", origin));
        for (code, rewritten) in [
            (
                r#"new URL("a/b", "http://www.cnie.ma/cnie-renewal/")"#,
                r#"new URL("a/b", "https://cnie-renewal.services.gov.ma/")"#,
            ),
            (
                r#"location.protocol + "//www.cnie.ma/cnie-renewal/x""#,
                r#"location.protocol + "//cnie-renewal.services.gov.ma/x""#,
            ),
            (
                r#"b = "http:\/\/www.cnie.ma\/cnie-renewal\/""#,
                r#"b = "https:\/\/cnie-renewal.services.gov.ma\/""#,
            ),
        ] {
            assert_eq!(
                rewrite_embedded_urls(code, &m, &here).as_deref(),
                Some(rewritten),
                "{code}"
            );
        }
    }

    #[test]
    fn a_host_followed_by_an_escaped_slash_keeps_one_slash() {
        let origin = "https://probe.services.gov.ma";
        let mut b = LinkMapBuilder::new();
        b.add_legacy("legacy.probe.ma", "/", origin).expect("mount");
        let (m, here) = (b.build(), ServiceLinks::new("legacy.probe.ma", origin));
        assert_eq!(
            rewrite_embedded_urls(r#"u = "http://legacy.probe.ma\u002fx";"#, &m, &here).as_deref(),
            Some(r#"u = "https://probe.services.gov.ma\u002fx";"#)
        );
    }

    /// Found in a bypass probe: a path written with escaped slashes after a plain `//host`.
    #[test]
    fn a_plain_host_with_an_escaped_path_is_rewritten_and_its_path_escaped_again() {
        let origin = "https://probe.services.gov.ma";
        let mut b = LinkMapBuilder::new();
        b.add_legacy("legacy.probe.ma", "/x", origin)
            .expect("mount");
        let (m, here) = (b.build(), ServiceLinks::new("legacy.probe.ma", origin));
        assert_eq!(
            rewrite_embedded_urls(r#"a = "//legacy.probe.ma\/x/y";"#, &m, &here).as_deref(),
            Some(r#"a = "//probe.services.gov.ma\/y";"#)
        );
    }

    #[test]
    fn escaped_slashes_that_are_no_url_are_untouched() {
        let (m, here) = map();
        for code in [
            r#"var re = /a\/\/b/;"#,
            r#"x = "www.cnie.ma\/\/cnie-renewal";"#,
            r#"s = "http:\/\/";"#,
        ] {
            assert_eq!(rewrite_embedded_urls(code, &m, &here), None, "{code}");
        }
    }

    #[test]
    fn code_without_mapped_urls_is_untouched() {
        let (m, here) = map();
        assert_eq!(
            rewrite_embedded_urls("var re = /a\\/\\/b/; // comment", &m, &here),
            None
        );
        assert_eq!(
            rewrite_embedded_urls("go('http://example.org/x')", &m, &here),
            None
        );
        assert_eq!(
            rewrite_embedded_urls("location = '/other-site/x'", &m, &here),
            None
        );
    }
}
