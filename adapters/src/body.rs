//! One response body's way through the adapters: charset → UTF-8, then HTML rewriting (or,
//! for a stylesheet, the links in its CSS).
//!
//! The gateway decides once per response, from its headers, whether the body is touched at
//! all ([`plan`]): only HTML and CSS, only bodies that have one, never a compressed body (the gateway
//! asks the legacy site for `identity` whenever the service's [`BodyPolicy`] is active). Then
//! a [`BodyPipeline`] streams the chunks through, holding at most the first 1024 bytes while
//! it looks for a `<meta charset>` or `@charset` (when the response did not declare a
//! charset), and one unfinished tag (or CSS rule) inside the rewriter.

use crate::charset::{
    charset_from_content_type, media_type, sniff_meta_charset, utf8_content_type, Encoding,
    Transcoder, PRESCAN_LEN,
};
use crate::html::{Fallback, HtmlError, HtmlOptions, HtmlRewriter};
use crate::links::{LinkMap, ServiceLinks};
use crate::stylesheet::{sniff_css_charset, StylesheetRewriter};
use std::borrow::Cow;
use std::sync::Arc;

/// What one service's adapter steps ask of its HTML bodies; built with the registry snapshot.
#[derive(Debug, Clone, Default)]
pub struct BodyPolicy {
    /// Convert pages to UTF-8 (the service has a `charset` step). The encoding is the one
    /// assumed when neither the response nor the page declares one.
    pub transcode_fallback: Option<&'static Encoding>,
    /// Map legacy links to portal paths.
    pub links: Option<(Arc<LinkMap>, ServiceLinks)>,
    /// HTML to put after `<body>` (a caller may choose another per response: see
    /// [`BodyPipeline::with_banner`]).
    pub banner: Option<String>,
}

impl BodyPolicy {
    /// Whether any body transform may apply, i.e. whether the gateway should ask the legacy
    /// site for an uncompressed (`Accept-Encoding: identity`) body.
    pub fn is_active(&self) -> bool {
        self.transcode_fallback.is_some() || self.links.is_some() || self.banner.is_some()
    }
}

/// Why a body is forwarded as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Untouched {
    /// 1xx, 204, 205 and 304 responses have no body.
    NoBody,
    /// Not `text/html`, `application/xhtml+xml` or `text/css` (or no `Content-Type` at all).
    NotHtml,
    /// Compressed with a `Content-Encoding` the adapters do not undo.
    Compressed,
    /// The service asks for no body transform.
    NothingToDo,
    /// Declared in an encoding (UTF-16) that can only be rewritten after transcoding, and
    /// the service has no `charset` step.
    UnsupportedEncoding,
}

/// Which charset the body is read in, and whether it is converted to UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CharsetPlan {
    /// Convert from the charset the response declared (a byte order mark still wins).
    Declared(&'static Encoding),
    /// Convert from what a `<meta>` in the first 1024 bytes declares, else from `fallback`.
    Sniff {
        /// The service's configured charset for pages that declare none.
        fallback: &'static Encoding,
    },
    /// No conversion (the service has no `charset` step): links are rewritten in place and
    /// the body stays in `encoding`.
    InPlace {
        /// The charset the HTML rewriter reads and writes.
        encoding: &'static Encoding,
        /// The response declared no charset, so a `<meta>` may switch it, as in browsers.
        follow_meta: bool,
    },
}

/// The kind of body the adapters rewrite under `content_type` (its media type, whatever its
/// parameters): an HTML or XHTML page, a stylesheet; `None` for every other type, which
/// passes as the site sent it.
pub fn rewritten_kind(content_type: &str) -> Option<BodyKind> {
    let media = media_type(content_type);
    if media.eq_ignore_ascii_case("text/html")
        || media.eq_ignore_ascii_case("application/xhtml+xml")
    {
        Some(BodyKind::Html)
    } else if media.eq_ignore_ascii_case("text/css") {
        Some(BodyKind::Css)
    } else {
        None
    }
}

/// What kind of text a transformed body is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// An HTML (or XHTML) page.
    Html,
    /// A stylesheet: only its `url(...)` and `@import` links are rewritten.
    Css,
}

/// The transform one response gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyTransform {
    /// HTML or CSS.
    pub kind: BodyKind,
    /// The `Content-Type` to send instead of the legacy one (`charset=utf-8`), if it changes.
    /// The body's length changes in any case: the gateway drops `Content-Length`.
    pub content_type: Option<String>,
    /// How the body's charset is handled.
    pub charset: CharsetPlan,
}

impl BodyTransform {
    /// Whether the body comes out as UTF-8 converted from its legacy charset.
    pub fn transcodes(&self) -> bool {
        !matches!(self.charset, CharsetPlan::InPlace { .. })
    }
}

/// Whether and how a response body is transformed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyPlan {
    /// Forward the body as the legacy site sent it.
    Untouched(Untouched),
    /// Run it through a [`BodyPipeline`] built from this.
    Transform(BodyTransform),
}

/// Decides, from a response's status and headers, what happens to its body. HEAD responses
/// have no body either; the gateway does not build a pipeline for them.
pub fn plan(
    status: u16,
    content_type: Option<&str>,
    content_encoding: Option<&str>,
    policy: &BodyPolicy,
) -> BodyPlan {
    use BodyPlan::Untouched as U;
    if (100..200).contains(&status) || matches!(status, 204 | 205 | 304) {
        return U(Untouched::NoBody);
    }
    let Some(ct) = content_type else {
        return U(Untouched::NotHtml);
    };
    let Some(kind) = rewritten_kind(ct) else {
        return U(Untouched::NotHtml);
    };
    if kind == BodyKind::Css && policy.links.is_none() && policy.transcode_fallback.is_none() {
        // A banner is for pages only.
        return U(Untouched::NothingToDo);
    }
    if content_encoding
        .map(str::trim)
        .is_some_and(|e| !e.is_empty() && !e.eq_ignore_ascii_case("identity"))
    {
        return U(Untouched::Compressed);
    }
    if !policy.is_active() {
        return U(Untouched::NothingToDo);
    }
    let declared = charset_from_content_type(ct);
    if let Some(fallback) = policy.transcode_fallback {
        return BodyPlan::Transform(BodyTransform {
            kind,
            content_type: Some(utf8_content_type(ct)),
            charset: match declared {
                Some(enc) => CharsetPlan::Declared(enc),
                None => CharsetPlan::Sniff { fallback },
            },
        });
    }
    let in_place = |encoding, follow_meta| {
        BodyPlan::Transform(BodyTransform {
            kind,
            content_type: None,
            charset: CharsetPlan::InPlace {
                encoding,
                follow_meta,
            },
        })
    };
    match declared {
        Some(enc) if !enc.is_ascii_compatible() => U(Untouched::UnsupportedEncoding),
        Some(enc) => in_place(enc, false),
        // Every byte round-trips through windows-1252, so an undeclared page is unharmed.
        None => in_place(encoding_rs::WINDOWS_1252, true),
    }
}

/// A body transform failed in a way that may have lost output.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error(transparent)]
    Html(#[from] HtmlError),
}

enum Decoding {
    Off,
    /// Holding the first bytes until the `<meta>` prescan can decide.
    Sniffing {
        held: Vec<u8>,
        fallback: &'static Encoding,
    },
    On(Transcoder),
}

/// How a body's first bytes declare its charset.
type Sniffer = fn(&[u8]) -> Option<&'static Encoding>;

/// The rewriter after the transcoder.
enum Markup {
    Html(HtmlRewriter),
    Css(StylesheetRewriter),
    /// A page rewritten in place, until its first bytes say whether a byte order mark
    /// overrides the declared charset ([`InPlaceStart`]).
    Starting(InPlaceStart),
    /// A page in UTF-16 by its byte order mark: passed on as it is (its links cannot be
    /// rewritten without transcoding).
    Untouched,
}

/// The start of a page rewritten in place. Browsers let a byte order mark win over the
/// declared charset, so the gateway must too: a UTF-8 page declared `windows-1256` got the
/// portal strip written in windows-1256, which the browser showed as garbage (found when
/// tried).
struct InPlaceStart {
    options: HtmlOptions,
    encoding: &'static Encoding,
    follow_meta: bool,
    held: Vec<u8>,
}

/// The longest byte order mark (UTF-8's).
const BOM_LEN: usize = 3;

impl InPlaceStart {
    /// The markup the held start (and `more`) calls for, once enough is known or at the end.
    fn decide(&mut self, more: &[u8], end: bool) -> Result<Option<Markup>, BodyError> {
        self.held.extend_from_slice(more);
        if self.held.len() < BOM_LEN && !end {
            return Ok(None);
        }
        let (encoding, follow_meta) = match crate::charset::bom_encoding(&self.held) {
            Some(bom) if !bom.is_ascii_compatible() => return Ok(Some(Markup::Untouched)),
            Some(bom) => (bom, false),
            None => (self.encoding, self.follow_meta),
        };
        let options = std::mem::take(&mut self.options);
        Ok(Some(Markup::Html(HtmlRewriter::for_encoding(
            options,
            encoding,
            follow_meta,
        )?)))
    }
}

impl Markup {
    fn feed(&mut self, chunk: &[u8]) -> Result<Vec<u8>, BodyError> {
        match self {
            Markup::Html(h) => Ok(h.feed(chunk)?),
            Markup::Css(c) => Ok(c.feed(chunk)),
            Markup::Untouched => Ok(chunk.to_vec()),
            Markup::Starting(start) => match start.decide(chunk, false)? {
                None => Ok(Vec::new()),
                Some(next) => {
                    let held = std::mem::take(&mut start.held);
                    *self = next;
                    self.feed(&held)
                }
            },
        }
    }

    fn finish(&mut self) -> Result<Vec<u8>, BodyError> {
        match self {
            Markup::Html(h) => Ok(h.finish()?),
            Markup::Css(c) => Ok(c.finish()),
            Markup::Untouched => Ok(Vec::new()),
            Markup::Starting(start) => {
                let next = start.decide(&[], true)?;
                let held = std::mem::take(&mut start.held);
                if let Some(next) = next {
                    *self = next;
                }
                let mut out = self.feed(&held)?;
                out.extend(self.finish()?);
                Ok(out)
            }
        }
    }
}

/// One response body: optional transcoding to UTF-8, then HTML (or CSS) rewriting. `Send`.
pub struct BodyPipeline {
    decoding: Decoding,
    /// The charset a transcoded page is converted from, for its forms
    /// ([`HtmlOptions::form_charset`]); set when decoding starts.
    form_charset: Option<crate::html::FormCharset>,
    /// How a held prefix declares its charset: `<meta>` for HTML, `@charset` for CSS.
    sniff: Sniffer,
    markup: Markup,
}

impl std::fmt::Debug for BodyPipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let decoding = match &self.decoding {
            Decoding::Off => "off".to_string(),
            Decoding::Sniffing { .. } => "sniffing".to_string(),
            Decoding::On(t) => format!("{t:?}"),
        };
        match &self.markup {
            Markup::Html(h) => write!(f, "BodyPipeline(decoding: {decoding}, {h:?})"),
            Markup::Css(c) => write!(f, "BodyPipeline(decoding: {decoding}, {c:?})"),
            Markup::Starting(s) => write!(
                f,
                "BodyPipeline(in place, {}, waiting for the first bytes)",
                s.encoding.name()
            ),
            Markup::Untouched => write!(f, "BodyPipeline(untouched: UTF-16 by its mark)"),
        }
    }
}

impl BodyPipeline {
    /// The pipeline for a response [`plan`] chose to transform.
    pub fn new(transform: &BodyTransform, policy: &BodyPolicy) -> Result<Self, BodyError> {
        Self::with_banner(transform, policy, policy.banner.as_deref().map(Arc::from))
    }

    /// Like [`BodyPipeline::new`], with this response's own banner instead of the policy's
    /// (the portal strip in the citizen's language and login state). Only a policy that has
    /// a banner puts one in.
    pub fn with_banner(
        transform: &BodyTransform,
        policy: &BodyPolicy,
        banner: Option<Arc<str>>,
    ) -> Result<Self, BodyError> {
        let decoding = match transform.charset {
            CharsetPlan::Declared(enc) => Decoding::On(Transcoder::new(enc)),
            CharsetPlan::Sniff { fallback } => Decoding::Sniffing {
                held: Vec::new(),
                fallback,
            },
            CharsetPlan::InPlace { .. } => Decoding::Off,
        };
        let form_charset = (transform.transcodes() && transform.kind == BodyKind::Html)
            .then(crate::html::FormCharset::default);
        if let (Some(cell), CharsetPlan::Declared(enc)) = (&form_charset, transform.charset) {
            let _ = cell.set(enc);
        }
        let (markup, sniff): (Markup, Sniffer) = match transform.kind {
            BodyKind::Html => {
                let options = HtmlOptions {
                    links: policy.links.clone(),
                    fix_charset_meta: transform.transcodes(),
                    banner: banner.filter(|_| policy.banner.is_some()),
                    form_charset: form_charset.clone(),
                };
                let html = match transform.charset {
                    CharsetPlan::InPlace {
                        encoding,
                        follow_meta,
                    } => Markup::Starting(InPlaceStart {
                        options,
                        encoding,
                        follow_meta,
                        held: Vec::new(),
                    }),
                    _ => Markup::Html(HtmlRewriter::new(options)?),
                };
                (html, sniff_meta_charset)
            }
            // In place or transcoded, only the ASCII of the URLs changes.
            BodyKind::Css => (
                Markup::Css(StylesheetRewriter::new(policy.links.clone())),
                sniff_css_charset,
            ),
        };
        Ok(Self {
            decoding,
            form_charset,
            sniff,
            markup,
        })
    }

    /// Transforms the next chunk of the body. The output may lag: up to 1024 bytes while the
    /// charset is sniffed, and an unfinished tag.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<Vec<u8>, BodyError> {
        let decoded: Cow<'_, [u8]> = match &mut self.decoding {
            Decoding::Off => Cow::Borrowed(chunk),
            Decoding::On(t) => Cow::Owned(t.feed(chunk, false)),
            Decoding::Sniffing { held, .. } => {
                held.extend_from_slice(chunk);
                if held.len() < PRESCAN_LEN {
                    return Ok(Vec::new());
                }
                return self.settle_charset();
            }
        };
        self.markup.feed(&decoded)
    }

    /// Whether the start of the body is still held to find its charset.
    pub fn is_sniffing(&self) -> bool {
        matches!(self.decoding, Decoding::Sniffing { .. })
    }

    /// Decides the charset from what is held now, without waiting for [`PRESCAN_LEN`] bytes,
    /// and returns the output so far. A browser's prescan gives up waiting after 500 ms
    /// (HTML, "determining the character encoding"); a page that trickles a progress
    /// message showed nothing at all until 1 KiB had come (found when tried).
    pub fn settle_charset(&mut self) -> Result<Vec<u8>, BodyError> {
        let Decoding::Sniffing { held, fallback } = &mut self.decoding else {
            return Ok(Vec::new());
        };
        let held = std::mem::take(held);
        let encoding = (self.sniff)(&held).unwrap_or(*fallback);
        self.settled(encoding);
        let mut t = Transcoder::new(encoding);
        let out = t.feed(&held, false);
        self.decoding = Decoding::On(t);
        self.markup.feed(&out)
    }

    /// The page's charset is known: its forms are to name it.
    fn settled(&self, encoding: &'static Encoding) {
        if let Some(cell) = &self.form_charset {
            let _ = cell.set(encoding);
        }
    }

    /// Ends the body and returns the rest of the output.
    pub fn finish(&mut self) -> Result<Vec<u8>, BodyError> {
        let tail = match std::mem::replace(&mut self.decoding, Decoding::Off) {
            Decoding::Off => Vec::new(),
            Decoding::On(mut t) => t.feed(&[], true),
            Decoding::Sniffing { held, fallback } => {
                let encoding = (self.sniff)(&held).unwrap_or(fallback);
                self.settled(encoding);
                Transcoder::new(encoding).feed(&held, true)
            }
        };
        let mut out = self.markup.feed(&tail)?;
        out.extend(self.markup.finish()?);
        Ok(out)
    }

    /// Why HTML rewriting stopped early and the rest passed through, if it did.
    pub fn fallback(&self) -> Option<&Fallback> {
        match &self.markup {
            Markup::Html(h) => h.fallback(),
            Markup::Css(_) | Markup::Starting(_) | Markup::Untouched => None,
        }
    }
}

#[cfg(test)]
mod tests;
