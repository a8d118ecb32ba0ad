//! Stylesheets (`text/css` responses) streamed through the link rewriter of [`crate::css`].
//!
//! A legacy page's own HTML is rewritten, but its external stylesheet still says
//! `background: url(http://www.one.org.ma/img/bg.png)`: the browser would fetch the image
//! from the legacy host (leaking the citizen's visit to it, or failing once the old name
//! points at the portal). Stylesheets get the same URL rewriting as inline CSS.
//!
//! Streaming without a CSS parser: the rewriter only needs whole URL tokens, and no URL token
//! goes past the end of its declaration or rule. So the text up to the last `}` or `;` that
//! is outside quotes and comments is rewritten and sent, and the rest is held for the next
//! chunk. A stylesheet without such a point for [`MAX_HELD`] bytes is passed on as it is
//! (nothing is lost; a URL cut there stays unrewritten).
//!
//! Bytes are rewritten with [`crate::links::on_bytes`]: UTF-8 as text, any other
//! ASCII-compatible charset one byte per character, so only the ASCII of the URLs changes.

use crate::css::rewrite_css_urls;
use crate::links::{on_bytes, LinkMap, ServiceLinks};
use std::sync::Arc;

/// The most text held while waiting for the end of a rule.
pub const MAX_HELD: usize = 64 * 1024;

/// One stylesheet body on its way through the link rewriter.
#[derive(Debug)]
pub struct StylesheetRewriter {
    links: Option<(Arc<LinkMap>, ServiceLinks)>,
    held: Vec<u8>,
    /// How far `held` has been read for rule ends: each byte is read once, however small
    /// the chunks (a legacy site sending one byte at a time made a rescan of everything
    /// held, up to [`MAX_HELD`], per byte).
    ends: RuleEnds,
}

impl StylesheetRewriter {
    /// A rewriter mapping `links` (nothing to map: the body passes through).
    pub fn new(links: Option<(Arc<LinkMap>, ServiceLinks)>) -> Self {
        Self {
            links,
            held: Vec::new(),
            ends: RuleEnds::default(),
        }
    }

    /// Rewrites what can be rewritten of the text so far; holds the unfinished rule.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<u8> {
        self.held.extend_from_slice(chunk);
        self.ends.read(&self.held);
        let cut = match self.ends.last.take() {
            Some(end) => {
                self.ends.scanned -= end;
                end
            }
            None if self.held.len() > MAX_HELD => {
                // Passed on as it is; what follows is read as if a rule began there.
                self.ends = RuleEnds::default();
                self.held.len()
            }
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
        on_bytes(&bytes, |text| rewrite_css_urls(text, map, here)).unwrap_or(bytes)
    }
}

/// Where a rewrite can safely stop: just past a `}` or `;` outside strings and comments.
/// The text held starts at such a point (or at the start of the file), so reading starts
/// with no string or comment open; it goes on from where it stopped as chunks arrive.
#[derive(Debug, Default)]
struct RuleEnds {
    /// Bytes of the held text read so far.
    scanned: usize,
    quote: Option<u8>,
    comment: bool,
    /// Just past the last rule end read.
    last: Option<usize>,
}

impl RuleEnds {
    /// Reads `css` from where the last call stopped. A byte whose meaning depends on the
    /// next one (`*` in a comment, `/`, `\` in a string) is left for the next call when the
    /// next one has not arrived.
    fn read(&mut self, css: &[u8]) {
        let mut i = self.scanned;
        while i < css.len() {
            let b = css[i];
            let next = css.get(i + 1);
            match (self.comment, self.quote) {
                (true, _) => {
                    if b == b'*' {
                        match next {
                            None => break,
                            Some(b'/') => {
                                self.comment = false;
                                i += 1;
                            }
                            Some(_) => {}
                        }
                    }
                }
                (false, Some(q)) => {
                    if b == b'\\' {
                        if next.is_none() {
                            break;
                        }
                        i += 1;
                    } else if b == q || b == b'\n' {
                        self.quote = None;
                    }
                }
                (false, None) => match b {
                    b'"' | b'\'' => self.quote = Some(b),
                    b'/' => match next {
                        None => break,
                        Some(b'*') => {
                            self.comment = true;
                            i += 1;
                        }
                        Some(_) => {}
                    },
                    b'}' | b';' => self.last = Some(i + 1),
                    _ => {}
                },
            }
            i += 1;
        }
        self.scanned = i;
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
        let mut r = StylesheetRewriter::new(links());
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
    fn a_stylesheet_cut_anywhere_comes_out_the_same_as_whole() {
        let css = concat!(
            "/* a } comment; with url(http://www.one.org.ma/c.png) */\n",
            "a { background: url(\"http://www.one.org.ma/img/x.png;v=2\") }\n",
            "b:before { content: '};' ; background: url('/img/y.png') }\n",
            "@import \"http://www.one.org.ma/css/more.css\";\n",
            ".ar { content: \"عربي\" } c { background: url(//www.one.org.ma/z.gif) }",
        )
        .as_bytes();
        let whole = through(&mut StylesheetRewriter::new(links()), &[css]);
        let text = String::from_utf8(whole.clone()).expect("utf-8");
        assert!(!text.contains("url(\"http://www.one.org.ma"), "{text}");
        assert!(!text.contains("//www.one.org.ma/z.gif"), "{text}");
        assert!(
            text.contains("/s/onee-electricity-bill/img/x.png;v=2"),
            "{text}"
        );
        for cut in 1..css.len() {
            let split = through(
                &mut StylesheetRewriter::new(links()),
                &[&css[..cut], &css[cut..]],
            );
            assert_eq!(split, whole, "cut at byte {cut}");
        }
    }

    /// Found when tried: a legacy site sending its stylesheet one byte at a time made the
    /// rewriter read everything it held again for each byte (64 KiB cost 6.6 s of CPU).
    #[test]
    fn a_stylesheet_sent_a_byte_at_a_time_is_read_once_and_comes_out_the_same() {
        let css = concat!(
            "/* a } comment; with url(http://www.one.org.ma/c.png) */\n",
            "a { background: url(\"http://www.one.org.ma/img/x.png;v=2\") }\n",
            "b:before { content: '}\\';' ; background: url('/img/y.png') }\n",
            "c { background: url(//www.one.org.ma/z.gif) }",
        )
        .as_bytes();
        let whole = through(&mut StylesheetRewriter::new(links()), &[css]);
        let mut r = StylesheetRewriter::new(links());
        let mut out = Vec::new();
        for byte in css.chunks(1) {
            out.extend(r.feed(byte));
            // Nothing held is read again: at most the last byte waits for the next.
            assert!(r.ends.scanned + 1 >= r.held.len(), "{:?}", r.ends);
        }
        out.extend(r.finish());
        assert_eq!(out, whole);
        // An open comment: held, and read once, up to the limit.
        let mut r = StylesheetRewriter::new(links());
        assert!(r.feed(b"a{} /*").len() == 3);
        for _ in 0..1000 {
            assert!(r.feed(b"A;").is_empty(), "no rule ends in a comment");
            assert_eq!(r.ends.scanned, r.held.len());
        }
        assert!(r.ends.comment);
    }

    #[test]
    fn legacy_charset_bytes_around_a_url_survive_unchanged() {
        // "ق" in windows-1256 is 0xE2, which is not UTF-8 on its own.
        let css = b".ar:before { content: \"\xe2\"; background: url(/img/bg.png) }";
        let mut r = StylesheetRewriter::new(links());
        let out = through(&mut r, &[css]);
        assert_eq!(
            out,
            b".ar:before { content: \"\xe2\"; background: url(/s/onee-electricity-bill/img/bg.png) }"
        );
    }

    #[test]
    fn text_without_a_rule_end_is_held_only_up_to_the_limit() {
        let mut r = StylesheetRewriter::new(links());
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
        let mut r = StylesheetRewriter::new(None);
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
