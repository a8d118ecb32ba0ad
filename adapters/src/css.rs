//! Links inside CSS: `url(...)` (quoted or not) and `@import "..."`.
//!
//! Legacy pages put their background images and imported stylesheets in inline `style`
//! attributes and `<style>` elements with absolute URLs to the legacy host. Those URLs are
//! rewritten with the same [`LinkMap`] as HTML attributes; the rest of the CSS is copied byte
//! for byte. This is a scanner, not a CSS parser: it only has to find URL tokens.

use crate::links::{LinkMap, ServiceLinks};
use memchr::memmem;

/// Quote tokens a URL may be wrapped in. Entities appear when the CSS sits in a raw HTML
/// attribute value (`style="background:url(&quot;/x.png&quot;)"`).
const QUOTES: [&str; 6] = ["\"", "'", "&quot;", "&#39;", "&#x27;", "&apos;"];

/// The longest URL argument rewritten. A legacy stylesheet's URLs are short; a longer
/// argument is left as it is, and the scan for its end stops there (found when tried: a
/// `<style>` of `url(/url(/url(/...` with no `)` made each opener an argument running to
/// the end of the text, quadratic in memory: a 256 KB block asked for gigabytes).
pub(crate) const MAX_URL: usize = 8 * 1024;

/// `css` with every mapped `url(...)` / `@import "..."` URL replaced by its portal path, or
/// `None` if nothing changed.
pub fn rewrite_css_urls(css: &str, links: &LinkMap, current: &ServiceLinks) -> Option<String> {
    apply_edits(css, url_edits(css, links, current))
}

/// The rewritten URL arguments of `css`, as `(start, end, new)` spans. Each scan goes on
/// from where the last argument ended: an opener inside an argument already taken is part
/// of that argument, so no byte is scanned or copied twice.
fn url_edits(css: &str, links: &LinkMap, current: &ServiceLinks) -> Vec<(usize, usize, String)> {
    let mut edits: Vec<(usize, usize, String)> = Vec::new();
    let b = css.as_bytes();
    let mut from = 0;
    for open in memchr::memchr_iter(b'(', b) {
        if open < from {
            continue;
        }
        let Some(u) = open.checked_sub(3) else {
            continue;
        };
        if !b[u..open].eq_ignore_ascii_case(b"url") {
            continue;
        }
        if u > 0 && (b[u - 1].is_ascii_alphanumeric() || matches!(b[u - 1], b'-' | b'_')) {
            continue;
        }
        let (span, resume) = url_argument(css, open + 1);
        if let Some((start, end)) = span {
            push_edit(&mut edits, css, start, end, links, current);
        }
        from = resume;
    }
    let finder = memmem::Finder::new(b"@import");
    let mut from = 0;
    for at in finder.find_iter(b) {
        if at < from {
            continue;
        }
        let (span, resume) = quoted_at(css, skip_ws(css, at + 7));
        if let Some((start, end)) = span {
            push_edit(&mut edits, css, start, end, links, current);
        }
        from = resume;
    }
    edits
}

fn push_edit(
    edits: &mut Vec<(usize, usize, String)>,
    css: &str,
    start: usize,
    end: usize,
    links: &LinkMap,
    current: &ServiceLinks,
) {
    if let Some(new) = css.get(start..end).and_then(|u| links.rewrite(u, current)) {
        edits.push((start, end, new));
    }
}

/// Replaces the `(start, end)` spans of `s` (in any order, not overlapping) with new text.
pub(crate) fn apply_edits(s: &str, mut edits: Vec<(usize, usize, String)>) -> Option<String> {
    if edits.is_empty() {
        return None;
    }
    edits.sort_by_key(|e| e.0);
    let mut out = String::with_capacity(s.len() + 16 * edits.len());
    let mut at = 0;
    for (start, end, new) in &edits {
        if *start < at {
            continue;
        }
        out.push_str(s.get(at..*start)?);
        out.push_str(new);
        at = *end;
    }
    out.push_str(s.get(at..)?);
    Some(out)
}

fn skip_ws(s: &str, mut i: usize) -> usize {
    let b = s.as_bytes();
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r' | b'\x0c') {
        i += 1;
    }
    i
}

/// The span of a quoted string starting at `i`, without its quotes (none if it does not
/// close within [`MAX_URL`]), and where scanning may go on.
fn quoted_at(s: &str, i: usize) -> (Option<(usize, usize)>, usize) {
    let b = s.as_bytes();
    let Some(quote) = b
        .get(i..)
        .and_then(|rest| QUOTES.iter().find(|q| rest.starts_with(q.as_bytes())))
    else {
        return (None, i);
    };
    let start = i + quote.len();
    let window = &b[start..b.len().min(start + MAX_URL)];
    match memmem::find(window, quote.as_bytes()) {
        Some(len) => (Some((start, start + len)), start + len + quote.len()),
        None => (None, start + window.len()),
    }
}

/// The span of the URL inside `url(` ... `)`, `i` being just after the parenthesis, and
/// where scanning may go on.
fn url_argument(s: &str, i: usize) -> (Option<(usize, usize)>, usize) {
    let i = skip_ws(s, i);
    let (span, resume) = quoted_at(s, i);
    if span.is_some() || resume > i {
        return (span, resume);
    }
    let b = s.as_bytes();
    let window = &b[i.min(b.len())..b.len().min(i + MAX_URL + 1)];
    match window
        .iter()
        .position(|c| matches!(c, b')' | b' ' | b'\t' | b'\n' | b'\r' | b'\x0c'))
    {
        Some(0) => (None, i),
        Some(len) => (Some((i, i + len)), i + len),
        // Unclosed to the end of the text: the rest is the URL, if short enough.
        None if window.len() <= MAX_URL => (
            (!window.is_empty()).then_some((i, i + window.len())),
            i + window.len(),
        ),
        None => (None, i + window.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::links::LinkMapBuilder;

    fn links() -> (LinkMap, ServiceLinks) {
        let mut b = LinkMapBuilder::new();
        b.add_legacy("www.cnie.ma", "/cnie-renewal", "/s/cnie-renewal")
            .expect("valid");
        (
            b.build(),
            ServiceLinks::new("www.cnie.ma", "/s/cnie-renewal"),
        )
    }

    fn rw(css: &str) -> Option<String> {
        let (map, here) = links();
        rewrite_css_urls(css, &map, &here)
    }

    /// How many arguments the scan took, and how many bytes they held in all.
    fn taken(css: &str) -> (usize, usize) {
        let (map, here) = links();
        let found = url_edits(css, &map, &here);
        (found.len(), found.iter().map(|(s, e, _)| e - s).sum())
    }

    #[test]
    fn an_opener_inside_a_taken_argument_is_not_scanned_again() {
        // Each opener of `url(/u/url(/u/...` without `)` was an argument running to the end
        // of the text: memory quadratic in the text's length.
        let css = "url(/cnie-renewal/".repeat(100);
        assert_eq!(taken(&css), (1, css.len() - 4), "one argument, to the end");
        // Quoted, each string ends at the next quote: spans side by side, none inside another.
        let css = "url(\"/cnie-renewal/".repeat(100) + "\")";
        let (_, bytes) = taken(&css);
        assert!(bytes <= css.len(), "{bytes} bytes taken of {}", css.len());
        // Longer than a URL may be: nothing taken twice, whatever is left alone.
        let css = "url(/cnie-renewal/".repeat(2000);
        let (_, bytes) = taken(&css);
        assert!(bytes <= css.len(), "{bytes} bytes taken of {}", css.len());
    }

    #[test]
    fn a_url_longer_than_the_bound_is_left_as_it_is() {
        let long = format!("a{{background:url(/cnie-renewal/{})}}", "x".repeat(MAX_URL));
        assert_eq!(rw(&long), None);
        let short = format!("a{{background:url(/cnie-renewal/{})}}", "x".repeat(100));
        assert!(rw(&short).is_some());
    }

    #[test]
    fn unquoted_single_and_double_quoted_urls_are_rewritten() {
        assert_eq!(
            rw("background:url(http://www.cnie.ma/cnie-renewal/img/bg.png) repeat-x").as_deref(),
            Some("background:url(/s/cnie-renewal/img/bg.png) repeat-x")
        );
        assert_eq!(
            rw("a{background: URL( '/cnie-renewal/a.gif' )}").as_deref(),
            Some("a{background: URL( '/s/cnie-renewal/a.gif' )}")
        );
        assert_eq!(
            rw(r#"b{list-style:url("//www.cnie.ma/cnie-renewal/b.gif")}"#).as_deref(),
            Some(r#"b{list-style:url("/s/cnie-renewal/b.gif")}"#)
        );
    }

    #[test]
    fn entity_quoted_urls_in_attribute_values_are_rewritten() {
        assert_eq!(
            rw("background:url(&quot;/cnie-renewal/x.png&quot;)").as_deref(),
            Some("background:url(&quot;/s/cnie-renewal/x.png&quot;)")
        );
    }

    #[test]
    fn import_strings_are_rewritten() {
        assert_eq!(
            rw("@import \"http://www.cnie.ma/cnie-renewal/print.css\" print;").as_deref(),
            Some("@import \"/s/cnie-renewal/print.css\" print;")
        );
    }

    #[test]
    fn relative_and_foreign_urls_and_lookalike_functions_are_left_alone() {
        assert_eq!(rw("background:url(img/bg.png)"), None);
        assert_eq!(rw("background:url(http://cdn.example.com/x.png)"), None);
        assert_eq!(rw("x:myurl(/cnie-renewal/x)"), None);
        assert_eq!(rw("url(  )"), None);
        assert_eq!(rw("url("), None);
        assert_eq!(rw("url('/cnie-renewal/never-closed"), None);
    }

    #[test]
    fn several_urls_in_one_declaration_are_all_rewritten() {
        assert_eq!(
            rw("background:url(/cnie-renewal/a.png),url(/cnie-renewal/b.png)").as_deref(),
            Some("background:url(/s/cnie-renewal/a.png),url(/s/cnie-renewal/b.png)")
        );
    }
}
