//! Absolute legacy URLs written inside JavaScript: inline event handlers
//! (`onload="MM_preloadImages('http://www.cnie.ma/img/logo.gif')"`, the Dreamweaver habit of
//! the 2000s) and `<script>` text.
//!
//! Only absolute URLs (`http://`, `https://`, `//host`) to hosts the link map knows are
//! touched: rewriting root-relative strings inside code would break regexes and paths that
//! are not URLs.

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
        let end = b[slashes + 2..]
            .iter()
            .position(|&c| ends_url(c))
            .map_or(b.len(), |p| slashes + 2 + p);
        if let Some(new) = code.get(start..end).and_then(|u| links.rewrite(u, current)) {
            edits.push((start, end, new));
        }
        from = end.max(slashes + 2);
    }
    escaped_urls(code, links, current, &mut edits);
    apply_edits(code, edits)
}

/// The URLs of `code` written with their slashes escaped, as JSON encoders write them
/// (PHP's `json_encode`, WordPress's `var ajaxurl = "http:\/\/www.site.ma\/wp-admin\/…"`):
/// each read without its escapes, rewritten, and escaped again, as edits of `code`. Found
/// when tried: such a URL went to the citizen's browser untouched, and the page's requests
/// to it went to the legacy host, around the gateway.
fn escaped_urls(
    code: &str,
    links: &LinkMap,
    current: &ServiceLinks,
    edits: &mut Vec<(usize, usize, String)>,
) {
    const SLASHES: &[u8] = b"\\/\\/";
    let b = code.as_bytes();
    let mut from = 0;
    while let Some(rel) = memchr::memmem::find(&b[from..], SLASHES) {
        let slashes = from + rel;
        from = slashes + SLASHES.len();
        let start = if slashes >= 6 && b[slashes - 6..slashes].eq_ignore_ascii_case(b"https:") {
            slashes - 6
        } else if slashes >= 5 && b[slashes - 5..slashes].eq_ignore_ascii_case(b"http:") {
            slashes - 5
        } else if slashes > 0 && matches!(b[slashes - 1], b'"' | b'\'') {
            slashes
        } else {
            continue;
        };
        // To the first character that ends a URL, an escaped slash `\/` being part of it.
        let mut end = from;
        while end < b.len() {
            match b[end] {
                b'\\' if b.get(end + 1) == Some(&b'/') => end += 2,
                c if ends_url(c) => break,
                _ => end += 1,
            }
        }
        let Some(written) = code.get(start..end) else {
            continue;
        };
        if let Some(new) = links.rewrite(&written.replace("\\/", "/"), current) {
            edits.push((start, end, new.replace('/', "\\/")));
        }
        from = end;
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
            rewrite_embedded_urls("location = '/cnie-renewal/x'", &m, &here),
            None
        );
    }
}
