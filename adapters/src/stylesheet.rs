//! Stylesheets (`text/css` responses) streamed through the link rewriter of [`crate::css`].
//!
//! A legacy page's own HTML is rewritten, but its external stylesheet still says
//! `background: url(http://www.one.org.ma/img/bg.png)`: the browser would fetch the image
//! from the legacy host (leaking the citizen's visit to it, or failing once the old name
//! points at the portal). Stylesheets get the same URL rewriting as inline CSS.
//!
//! Streaming without a CSS parser: the rewriter only needs whole URL tokens, and a URL token
//! never contains an unescaped `}` or `;` outside quotes in practice (`url()` arguments and
//! `@import` strings end before the declaration or rule does). So the text up to the last `}`
//! or `;` of what has arrived is rewritten and sent, and the rest is held for the next chunk.
//! A stylesheet without either for [`MAX_HELD`] bytes is passed on as it is (nothing is lost;
//! a URL cut there stays unrewritten).

use crate::css::rewrite_css_urls;
use crate::links::{LinkMap, ServiceLinks};
use encoding_rs::WINDOWS_1252;
use std::sync::Arc;

/// The most text held while waiting for the end of a rule.
pub const MAX_HELD: usize = 64 * 1024;

/// One stylesheet body on its way through the link rewriter.
#[derive(Debug)]
pub struct StylesheetRewriter {
    links: Option<(Arc<LinkMap>, ServiceLinks)>,
    /// Whether the bytes are UTF-8 (transcoded, or declared so). Otherwise they are in an
    /// ASCII-compatible legacy charset, read and written back through windows-1252, which
    /// maps every byte to one character and back: URL tokens are ASCII, the rest is
    /// untouched.
    utf8: bool,
    held: Vec<u8>,
}

impl StylesheetRewriter {
    /// A rewriter mapping `links` (nothing to map: the body passes through).
    pub fn new(links: Option<(Arc<LinkMap>, ServiceLinks)>, utf8: bool) -> Self {
        Self {
            links,
            utf8,
            held: Vec::new(),
        }
    }

    /// Rewrites what can be rewritten of the text so far; holds the unfinished rule.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<u8> {
        self.held.extend_from_slice(chunk);
        let cut = match self.held.iter().rposition(|&b| b == b'}' || b == b';') {
            Some(i) => i + 1,
            None if self.held.len() > MAX_HELD => self.held.len(),
            None => return Vec::new(),
        };
        let rest = self.held.split_off(cut);
        let ready = std::mem::replace(&mut self.held, rest);
        self.rewrite(ready)
    }

    /// Ends the stylesheet: the held rest, rewritten.
    pub fn finish(&mut self) -> Vec<u8> {
        let rest = std::mem::take(&mut self.held);
        self.rewrite(rest)
    }

    fn rewrite(&self, bytes: Vec<u8>) -> Vec<u8> {
        let Some((map, here)) = &self.links else {
            return bytes;
        };
        if self.utf8 {
            return match std::str::from_utf8(&bytes) {
                Ok(text) => rewrite_css_urls(text, map, here).map_or(bytes, String::into_bytes),
                // Not the UTF-8 it claims to be: passed on as received.
                Err(_) => bytes,
            };
        }
        let (text, _) = WINDOWS_1252.decode_without_bom_handling(&bytes);
        match rewrite_css_urls(&text, map, here) {
            Some(new) => WINDOWS_1252.encode(&new).0.into_owned(),
            None => bytes,
        }
    }
}

/// The charset a stylesheet declares in its first bytes: a byte order mark, or an
/// `@charset "name";` rule, which CSS only honours as the very first bytes of the file.
pub fn sniff_css_charset(first_bytes: &[u8]) -> Option<&'static encoding_rs::Encoding> {
    if let Some(encoding) = crate::charset::bom_encoding(first_bytes) {
        return Some(encoding);
    }
    let rest = first_bytes.strip_prefix(b"@charset \"")?;
    let end = rest.iter().position(|&b| b == b'"')?;
    if rest.get(end + 1) != Some(&b';') {
        return None;
    }
    crate::charset::declared_in_document(&rest[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::links::LinkMapBuilder;

    fn links() -> Option<(Arc<LinkMap>, ServiceLinks)> {
        let mut b = LinkMapBuilder::new();
        b.add_legacy("www.one.org.ma", "/", "/s/onee-electricity-bill")
            .expect("valid");
        let here = ServiceLinks::new("www.one.org.ma", "/s/onee-electricity-bill");
        Some((Arc::new(b.build()), here))
    }

    fn through(rewriter: &mut StylesheetRewriter, chunks: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for chunk in chunks {
            out.extend(rewriter.feed(chunk));
        }
        out.extend(rewriter.finish());
        out
    }

    #[test]
    fn a_url_split_across_chunks_is_rewritten_whole() {
        let mut r = StylesheetRewriter::new(links(), true);
        let out = through(
            &mut r,
            &[
                b"body { margin: 0; background: url(http://www.one.or",
                b"g.ma/img/bg.png) repeat-x; }\n#pied { color: #666; }",
            ],
        );
        assert_eq!(
            String::from_utf8(out).expect("utf-8"),
            "body { margin: 0; background: url(/s/onee-electricity-bill/img/bg.png) repeat-x; }\n#pied { color: #666; }"
        );
    }

    #[test]
    fn legacy_charset_bytes_around_a_url_survive_unchanged() {
        // "ق" in windows-1256 is 0xE2, which is not UTF-8 on its own.
        let css = b".ar:before { content: \"\xe2\"; background: url(/img/bg.png) }";
        let mut r = StylesheetRewriter::new(links(), false);
        let out = through(&mut r, &[css]);
        assert_eq!(
            out,
            b".ar:before { content: \"\xe2\"; background: url(/s/onee-electricity-bill/img/bg.png) }"
        );
    }

    #[test]
    fn text_without_a_rule_end_is_held_only_up_to_the_limit() {
        let mut r = StylesheetRewriter::new(links(), true);
        assert!(
            r.feed(b"a { color: red").is_empty(),
            "an unfinished rule is held"
        );
        let long = vec![b' '; MAX_HELD + 1];
        assert_eq!(r.feed(&long).len(), MAX_HELD + 1 + 14, "then passed on");
        assert!(r.finish().is_empty());
    }

    #[test]
    fn without_links_to_map_the_stylesheet_passes_through() {
        let mut r = StylesheetRewriter::new(None, true);
        let css = b"a { background: url(http://www.one.org.ma/x.png) }";
        assert_eq!(through(&mut r, &[css]), css);
    }

    #[test]
    fn the_charset_rule_and_the_byte_order_mark_are_read() {
        assert_eq!(
            sniff_css_charset(b"@charset \"windows-1256\";\nbody{}"),
            Some(encoding_rs::WINDOWS_1256)
        );
        assert_eq!(
            sniff_css_charset(b"\xef\xbb\xbfbody{}"),
            Some(encoding_rs::UTF_8)
        );
        assert_eq!(
            sniff_css_charset(b"body{} @charset \"windows-1256\";"),
            None
        );
        assert_eq!(sniff_css_charset(b"@charset 'windows-1256';"), None);
    }
}
