//! The element and text handlers one page's rewrite is made of, built from [`HtmlOptions`].
//!
//! Each handler is one legacy habit: URL-bearing attributes, `<meta>` refresh and charset
//! declarations, `<style>` text, and the portal banner after `<body>`. They only read the
//! (shared, immutable) link map and never fail on content, so a page can always be rewritten.

use super::srcset::rewrite_srcset;
use super::HtmlOptions;
use crate::charset::utf8_content_type;
use crate::css::rewrite_css_urls;
use crate::links::{LinkMap, ServiceLinks};
use crate::redirects::{is_long_refresh, rewrite_refresh};
use crate::script::rewrite_embedded_urls;
use lol_html::html_content::{ContentType, TextChunk};
use lol_html::send::{Element, ElementContentHandlers};
use lol_html::{HandlerResult, Selector};
use std::borrow::Cow;
use std::sync::{Arc, LazyLock};

/// Every element goes to the link handler, which looks at its attributes once. On a
/// link-dense page this costs about 11% fewer instructions than a selector list of the nine
/// URL attributes, whose matching lol_html repeats for every attribute selector.
static LINK_SELECTOR: LazyLock<Selector> = LazyLock::new(|| built_in("*"));
static STYLE_SELECTOR: LazyLock<Selector> = LazyLock::new(|| built_in("style"));
static SCRIPT_SELECTOR: LazyLock<Selector> = LazyLock::new(|| built_in("script"));
static META_SELECTOR: LazyLock<Selector> = LazyLock::new(|| built_in("meta"));
static BODY_SELECTOR: LazyLock<Selector> = LazyLock::new(|| built_in("body"));
static FORM_SELECTOR: LazyLock<Selector> = LazyLock::new(|| built_in("form"));

/// The handlers' selectors are constants, parsed once for the process rather than for every
/// page; a typo in one is a bug that the first test (or page) finds at once.
fn built_in(selector: &str) -> Selector {
    selector
        .parse()
        .unwrap_or_else(|e| panic!("built-in selector {selector:?} is invalid: {e}"))
}

/// `<style>` text is held until its end so a `url(` cut between chunks is still seen; past
/// this many bytes what was held is rewritten and emitted, to keep memory bounded.
const STYLE_HOLD_LIMIT: usize = 256 * 1024;

/// A `(selector, handlers)` pair as lol_html's settings take it.
pub(super) type Handler = (Cow<'static, Selector>, ElementContentHandlers<'static>);

/// Shared by every handler of a page: cloning it only bumps two reference counts.
#[derive(Clone)]
struct Links {
    map: Arc<LinkMap>,
    here: ServiceLinks,
}

impl Links {
    fn rewrite(&self, url: &str) -> Option<String> {
        self.map.rewrite(url, &self.here)
    }
}

/// The handlers `options` ask for, in the order they run on an element.
pub(super) fn handlers(options: HtmlOptions) -> Vec<Handler> {
    let links = options.links.map(|(map, here)| Links { map, here });
    let mut out = Vec::new();
    if let Some(links) = &links {
        let l = links.clone();
        out.push((
            Cow::Borrowed(&*LINK_SELECTOR),
            ElementContentHandlers::default()
                .element(move |el: &mut Element<'_, '_>| rewrite_link_attributes(el, &l)),
        ));
        out.push((
            Cow::Borrowed(&*STYLE_SELECTOR),
            held_text_handler(links.clone(), rewrite_css_urls),
        ));
        out.push((
            Cow::Borrowed(&*SCRIPT_SELECTOR),
            held_text_handler(links.clone(), rewrite_embedded_urls),
        ));
    }
    let fix = options.fix_charset_meta;
    if links.is_some() || fix {
        out.push((
            Cow::Borrowed(&*META_SELECTOR),
            ElementContentHandlers::default()
                .element(move |el: &mut Element<'_, '_>| rewrite_meta(el, links.as_ref(), fix)),
        ));
    }
    if let Some(charset) = options.form_charset {
        out.push((
            Cow::Borrowed(&*FORM_SELECTOR),
            ElementContentHandlers::default().element(move |el: &mut Element<'_, '_>| {
                match charset.get() {
                    Some(enc)
                        if *enc != encoding_rs::UTF_8 && !el.has_attribute("accept-charset") =>
                    {
                        el.set_attribute("accept-charset", enc.name())?;
                    }
                    _ => {}
                }
                Ok(())
            }),
        ));
    }
    if let Some(banner) = options.banner {
        let mut injected = false;
        out.push((
            Cow::Borrowed(&*BODY_SELECTOR),
            ElementContentHandlers::default().element(move |el: &mut Element<'_, '_>| {
                if !injected {
                    el.prepend(&banner, ContentType::Html);
                    injected = true;
                }
                Ok(())
            }),
        ));
    }
    out
}

/// How an attribute's value holds URLs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum UrlKind {
    /// The whole value is one URL.
    Whole,
    /// `srcset` candidates.
    Srcset,
    /// Inline CSS.
    Style,
    /// `data`, a URL only on `<object>`.
    ObjectData,
    /// URLs separated by spaces (`ping`).
    List,
}

/// The attributes that carry URLs, by (lowercase) name, with a bit of their own.
fn url_attribute(name: &str) -> Option<(&'static str, UrlKind, u16)> {
    Some(match name {
        "href" => ("href", UrlKind::Whole, 1),
        "src" => ("src", UrlKind::Whole, 1 << 1),
        "action" => ("action", UrlKind::Whole, 1 << 2),
        "formaction" => ("formaction", UrlKind::Whole, 1 << 3),
        "background" => ("background", UrlKind::Whole, 1 << 4),
        "poster" => ("poster", UrlKind::Whole, 1 << 5),
        "srcset" => ("srcset", UrlKind::Srcset, 1 << 6),
        "style" => ("style", UrlKind::Style, 1 << 7),
        "data" => ("data", UrlKind::ObjectData, 1 << 8),
        // SVG's links and icon sprites (`<a xlink:href>`, `<use xlink:href>`), and the
        // addresses a link reports its use to: found in a bypass probe, both still named
        // the legacy host.
        "xlink:href" => ("xlink:href", UrlKind::Whole, 1 << 9),
        "ping" => ("ping", UrlKind::List, 1 << 10),
        _ => return None,
    })
}

fn rewrite_link_attributes(el: &mut Element<'_, '_>, links: &Links) -> HandlerResult {
    // One pass over the attributes: each `get_attribute` call would allocate and scan.
    let mut changes: Vec<(&'static str, String)> = Vec::new();
    // Browsers use the first of duplicated attributes, and so does `set_attribute`.
    let mut seen = 0u16;
    let mut handler_changes: Vec<(String, String)> = Vec::new();
    for attr in el.attributes() {
        let attr_name = attr.name();
        let Some((name, kind, bit)) = url_attribute(&attr_name) else {
            // Inline event handlers (`onload`, `onclick`...) may carry absolute URLs in code.
            if attr_name.starts_with("on") {
                let raw = attr.value();
                let value = as_read(&raw);
                if let Some(new) = rewrite_embedded_urls(&value, &links.map, &links.here) {
                    handler_changes.push((attr_name, written_back(&value, new)));
                }
            }
            continue;
        };
        if seen & bit != 0 {
            continue;
        }
        seen |= bit;
        let raw = attr.value();
        let value = as_read(&raw);
        let new = match kind {
            // A `javascript:` URL is code (found in a bypass probe: its legacy URLs stayed).
            UrlKind::Whole if is_javascript(&value) => {
                rewrite_embedded_urls(&value, &links.map, &links.here)
            }
            UrlKind::Whole | UrlKind::ObjectData => links.rewrite(&value),
            UrlKind::Srcset => rewrite_srcset(&value, &links.map, &links.here),
            UrlKind::Style => rewrite_css_urls(&value, &links.map, &links.here),
            UrlKind::List => rewrite_list(&value, links),
        };
        if let Some(new) = new.map(|new| written_back(&value, new)) {
            if kind != UrlKind::ObjectData || el.tag_name() == "object" {
                changes.push((name, new));
            }
        }
    }
    for (name, value) in changes {
        el.set_attribute(name, &value)?;
    }
    for (name, value) in handler_changes {
        el.set_attribute(&name, &value)?;
    }
    Ok(())
}

/// Whether a URL attribute's value is a `javascript:` URL, as browsers read its scheme.
fn is_javascript(value: &str) -> bool {
    let v = value.trim_start().as_bytes();
    v.len() > 11 && v[..11].eq_ignore_ascii_case(b"javascript:")
}

/// Each URL of a space-separated list rewritten; `None` when none was.
fn rewrite_list(value: &str, links: &Links) -> Option<String> {
    let mut changed = false;
    let urls: Vec<String> = value
        .split_ascii_whitespace()
        .map(|u| match links.rewrite(u) {
            Some(new) => {
                changed = true;
                new
            }
            None => u.to_string(),
        })
        .collect();
    changed.then(|| urls.join(" "))
}

/// An attribute's value as the browser reads it: its character references decoded, when
/// it has any (lol_html gives values as written). Found in a bypass probe:
/// `onclick="location='http&#58;//www.site.ma/x'"` and `http:&#x2F;&#x2F;…` (what OWASP's
/// attribute encoder writes) reached the browser with the legacy host, which it then read.
fn as_read(raw: &str) -> Cow<'_, str> {
    if !raw.contains('&') {
        return Cow::Borrowed(raw);
    }
    Cow::Owned(crate::entities::decode(raw))
}

/// A rewritten value to write back: a value read with its references decoded goes back with
/// each `&` as `&amp;`, so the browser reads what was rewritten.
#[allow(clippy::ptr_arg)] // whether it was decoded is the `Cow`'s kind
fn written_back(read: &Cow<'_, str>, new: String) -> String {
    if matches!(read, Cow::Owned(_)) {
        new.replace('&', "&amp;")
    } else {
        new
    }
}

/// `<meta http-equiv="refresh">` URLs (a long one dropped, see
/// [`crate::redirects::LONGEST_REFRESH_KEPT_SECS`]), and charset declarations once the body
/// is UTF-8.
fn rewrite_meta(
    el: &mut Element<'_, '_>,
    links: Option<&Links>,
    fix_charset: bool,
) -> HandlerResult {
    if let Some(equiv) = el.get_attribute("http-equiv") {
        let equiv = equiv.trim();
        if equiv.eq_ignore_ascii_case("refresh") {
            if el
                .get_attribute("content")
                .is_some_and(|c| is_long_refresh(c.as_bytes()))
            {
                el.remove();
                return Ok(());
            }
            if let (Some(l), Some(raw)) = (links, el.get_attribute("content")) {
                let content = as_read(&raw);
                if let Some(new) = rewrite_refresh(&content, &l.map, &l.here) {
                    el.set_attribute("content", &written_back(&content, new))?;
                }
            }
        } else if fix_charset && equiv.eq_ignore_ascii_case("content-type") {
            let content = el.get_attribute("content").unwrap_or_default();
            el.set_attribute("content", &utf8_content_type(&content))?;
        }
    }
    if fix_charset && el.has_attribute("charset") {
        el.set_attribute("charset", "utf-8")?;
    }
    Ok(())
}

/// How much of a held text's end is held on past [`STYLE_HOLD_LIMIT`]: longer than any URL
/// a page writes.
const HELD_ON: usize = 8 * 1024;

/// Where to cut held text past its limit: before the last quote, space, line end, `;` or
/// parenthesis in the [`HELD_ON`] bytes ahead of its final [`HELD_ON`] (no URL runs across
/// one), or [`HELD_ON`] from its end when there is none there (a URL that long is no
/// link). What is held on is thus at most twice [`HELD_ON`]: looked for anywhere ahead, the
/// cut was at the text's first quote when a long run had none (a `data:` URL's base64, a
/// minified blob), and the whole text was held, and scanned again, at every piece (found in
/// a last read: memory and time grew with the square of such a script).
fn unbroken_split(held: &str) -> usize {
    let b = held.as_bytes();
    let before = b.len().saturating_sub(HELD_ON);
    let from = before.saturating_sub(HELD_ON);
    let mut at = b[from..before]
        .iter()
        .rposition(|c| matches!(c, b'"' | b'\'' | b' ' | b'\n' | b';' | b'(' | b')'))
        .map_or(before, |p| from + p);
    while !held.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// URLs in `<style>` (`url(...)`) or `<script>` (absolute URLs) text. lol_html hands text
/// over in arbitrary fragments, so they are held (and removed from the output) until the
/// text node ends, then emitted rewritten.
fn held_text_handler(
    links: Links,
    rewrite: fn(&str, &LinkMap, &ServiceLinks) -> Option<String>,
) -> ElementContentHandlers<'static> {
    let mut held = String::new();
    ElementContentHandlers::default().text(move |t: &mut TextChunk<'_>| {
        if t.last_in_text_node() && held.is_empty() {
            if let Some(new) = rewrite(t.as_str(), &links.map, &links.here) {
                t.replace(&new, ContentType::Html);
            }
            return Ok(());
        }
        held.push_str(t.as_str());
        if t.last_in_text_node() || held.len() > STYLE_HOLD_LIMIT {
            // Past the limit, the end is held on from a character no URL runs across, so
            // a URL cut by the limit is still seen whole (found in a bypass probe: one URL
            // of a 441 KB script, at the limit, reached the browser untouched).
            let rest = if t.last_in_text_node() {
                String::new()
            } else {
                held.split_off(unbroken_split(&held))
            };
            let out = rewrite(&held, &links.map, &links.here)
                .unwrap_or_else(|| std::mem::take(&mut held));
            t.replace(&out, ContentType::Html);
            held = rest;
        } else {
            t.remove();
        }
        Ok(())
    })
}

#[cfg(test)]
mod held_text_tests {
    use super::{unbroken_split, HELD_ON, STYLE_HOLD_LIMIT};

    #[test]
    fn a_long_text_with_nowhere_to_cut_holds_on_to_its_end_only() {
        for run in ["A", "é"] {
            let held = format!(
                "var img = \"data:image/png;base64,{}",
                run.repeat(STYLE_HOLD_LIMIT)
            );
            let at = unbroken_split(&held);
            assert!(held.is_char_boundary(at), "{run}");
            assert!(
                at > 0 && held.len() - at <= 2 * HELD_ON,
                "{run}: {} bytes held on",
                held.len() - at
            );
        }
    }

    #[test]
    fn a_url_across_the_limit_is_held_on_whole() {
        let url = format!("\"http://www.site.ma/{}\"", "p".repeat(100));
        // The final `HELD_ON` bytes begin inside the URL.
        let held = format!(
            "{} u = {url}{}",
            "x".repeat(STYLE_HOLD_LIMIT),
            "y".repeat(HELD_ON - 50)
        );
        let at = unbroken_split(&held);
        assert!(held[at..].starts_with(&url), "cut inside the URL");
    }
}
