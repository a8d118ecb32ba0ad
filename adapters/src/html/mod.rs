//! Streaming HTML rewriting: legacy links become portal paths inside pages.
//!
//! Pages are rewritten as they stream through, with Cloudflare's `lol_html`, so the gateway
//! never holds a whole page: links in attributes, `srcset`, inline and `<style>` CSS, and
//! `<meta>` refreshes are mapped with the [`LinkMap`]; charset declarations are replaced once
//! the body has been converted to UTF-8; a portal banner can be put after `<body>`.
//!
//! Memory is bounded: `lol_html` only buffers an unfinished tag, and a tag larger than the
//! limit (a megabyte-long attribute, a runaway unclosed quote) makes the rewriter give up
//! gracefully. From then on the rest of the page passes through unchanged, so the citizen
//! still gets the whole page, only with later links unmapped. [`HtmlRewriter::fallback`] tells
//! the gateway when that happened.

mod handlers;
mod srcset;
#[cfg(test)]
mod tests;

use crate::charset::Encoding;
use crate::links::{LinkMap, ServiceLinks};
use lol_html::errors::RewritingError;
use lol_html::{AsciiCompatibleEncoding, MemorySettings, OutputSink};
use std::cell::RefCell;
use std::sync::Arc;

/// The most memory one page's rewriter may use before it falls back to passing through.
pub const MEMORY_LIMIT: usize = 2 * 1024 * 1024;

/// The most output buffer kept reserved between chunks.
const MAX_RESERVE: usize = 256 * 1024;

/// What to do to one page.
#[derive(Debug, Clone, Default)]
pub struct HtmlOptions {
    /// Map legacy links to portal paths, as found on a page of this service.
    pub links: Option<(Arc<LinkMap>, ServiceLinks)>,
    /// The body was converted to UTF-8: make `<meta charset>` and the `http-equiv`
    /// Content-Type say so, or the browser would decode it as the legacy charset again.
    pub fix_charset_meta: bool,
    /// HTML put right after the first `<body ...>` tag (not injected into framesets). Shared,
    /// since it is the same for every page of a service.
    pub banner: Option<Arc<str>>,
    /// The body was converted to UTF-8 from this charset (set once it is known, before the
    /// first byte reaches the rewriter): each `<form>` without an `accept-charset` of its
    /// own gets one naming it, so the browser sends what the citizen types in the charset
    /// the site reads. Found when tried: Arabic typed into a windows-1256 site's form
    /// arrived as UTF-8 and was stored as `ط£ظ…ظٹظ†ط©`, not `أمينة`.
    pub form_charset: Option<FormCharset>,
}

/// The charset a transcoded page was converted from, known once its start is sniffed.
pub type FormCharset = Arc<std::sync::OnceLock<&'static Encoding>>;

/// Why a page could not be (fully) rewritten.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HtmlError {
    #[error("{0} is not ASCII-compatible; decode the body to UTF-8 first")]
    UnsupportedEncoding(&'static str),
    #[error("the HTML rewriter failed and output may be incomplete: {0}")]
    Rewrite(String),
    #[error("the page was already finished")]
    Finished,
}

/// Why a page's rewriting stopped early and the rest passed through unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fallback {
    /// A tag or attribute was larger than [`MEMORY_LIMIT`].
    MemoryLimit,
    /// A handler or the parser failed; the message says which.
    Error(String),
}

thread_local! {
    /// The output of the rewriter writing on this thread right now (see [`ThreadSink`]).
    static OUTPUT: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// lol_html's output sink: appends to this thread's [`OUTPUT`].
///
/// lol_html calls its sink once per token (about every 13 bytes of a legacy page), and only
/// from inside `write` and `end`, on the caller's thread. A sink shared with the rewriter
/// through a mutex paid two atomic operations per call; this one pays none. The buffer is
/// emptied before each `write`/`end` and handed over whole right after it ([`run`]), so no
/// output outlives the call that made it or reaches another page on the same thread.
struct ThreadSink;

impl OutputSink for ThreadSink {
    fn handle_chunk(&mut self, chunk: &[u8]) {
        OUTPUT.with_borrow_mut(|out| out.extend_from_slice(chunk));
    }
}

/// Runs one `write` or `end` of a rewriter and returns what it wrote. The buffer left
/// behind is sized like this output, so the next call's output does not grow it step by
/// step.
fn run<T>(call: impl FnOnce() -> T) -> (T, Vec<u8>) {
    // Whatever a call that panicked on this thread left behind is not this page's.
    OUTPUT.with_borrow_mut(Vec::clear);
    let result = call();
    let out = OUTPUT.with_borrow_mut(|out| {
        let capacity = out.len().min(MAX_RESERVE);
        std::mem::replace(out, Vec::with_capacity(capacity))
    });
    (result, out)
}

type Inner = lol_html::send::HtmlRewriter<'static, ThreadSink>;

enum State {
    Rewriting(Box<Inner>),
    PassThrough,
    Finished,
}

/// Rewrites one HTML page, chunk by chunk. `Send`, so it can live in a request's context
/// across await points.
pub struct HtmlRewriter {
    state: State,
    fallback: Option<Fallback>,
}

impl std::fmt::Debug for HtmlRewriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match self.state {
            State::Rewriting(_) => "rewriting",
            State::PassThrough => "passing through",
            State::Finished => "finished",
        };
        write!(f, "HtmlRewriter({state})")
    }
}

impl HtmlRewriter {
    /// A rewriter for a UTF-8 page (the transcoder has run, or the page was UTF-8).
    pub fn new(options: HtmlOptions) -> Result<Self, HtmlError> {
        Self::build(options, encoding_rs::UTF_8, false, MEMORY_LIMIT)
    }

    /// A rewriter for a page left in its legacy encoding (no charset step): the output stays
    /// in that encoding. With `follow_meta` (the response declared no charset), a `<meta>`
    /// declaration switches the encoding the way a browser would.
    pub fn for_encoding(
        options: HtmlOptions,
        encoding: &'static Encoding,
        follow_meta: bool,
    ) -> Result<Self, HtmlError> {
        Self::build(options, encoding, follow_meta, MEMORY_LIMIT)
    }

    fn build(
        options: HtmlOptions,
        encoding: &'static Encoding,
        follow_meta: bool,
        memory_limit: usize,
    ) -> Result<Self, HtmlError> {
        let ascii_encoding = AsciiCompatibleEncoding::new(encoding)
            .ok_or(HtmlError::UnsupportedEncoding(encoding.name()))?;
        let mut settings = lol_html::send::Settings::new_send()
            .with_encoding(ascii_encoding)
            .with_adjust_charset_on_meta_tag(follow_meta)
            // Not strict: ambiguous markup is rewritten as best we can rather than refused,
            // and refusing is the one error lol_html cannot recover from gracefully.
            .with_strict(false)
            .with_enable_esi_tags(false)
            .with_memory_settings(
                MemorySettings::new()
                    .with_max_allowed_memory_usage(memory_limit)
                    .with_graceful_bail_out_on_memory_limit_exceeded(true),
            )
            .with_graceful_bail_out_on_content_handler_error(true);
        for handler in handlers::handlers(options) {
            settings = settings.append_element_content_handler(handler);
        }
        let inner = lol_html::send::HtmlRewriter::new(settings, ThreadSink);
        Ok(Self {
            state: State::Rewriting(Box::new(inner)),
            fallback: None,
        })
    }

    /// Rewrites the next chunk of the page; the output may lag the input by an unfinished
    /// tag. After a fallback, chunks come back unchanged.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<Vec<u8>, HtmlError> {
        match &mut self.state {
            State::Rewriting(inner) => {
                let (result, out) = run(|| inner.write(chunk));
                match result {
                    Ok(()) => Ok(out),
                    Err(e) => self.fall_back(e, out),
                }
            }
            State::PassThrough => Ok(chunk.to_vec()),
            State::Finished => Err(HtmlError::Finished),
        }
    }

    /// Ends the page and returns whatever the rewriter still held.
    pub fn finish(&mut self) -> Result<Vec<u8>, HtmlError> {
        match std::mem::replace(&mut self.state, State::Finished) {
            State::Rewriting(inner) => {
                let (result, out) = run(|| inner.end());
                match result {
                    Ok(()) => Ok(out),
                    Err(e) => self.fall_back(e, out),
                }
            }
            State::PassThrough => Ok(Vec::new()),
            State::Finished => Err(HtmlError::Finished),
        }
    }

    /// Why rewriting stopped early, if it did.
    pub fn fallback(&self) -> Option<&Fallback> {
        self.fallback.as_ref()
    }

    /// After a lol_html error: with graceful bail-out (memory, handler errors) it has already
    /// flushed every byte it held unchanged, so `out` is complete and the rest passes through.
    fn fall_back(&mut self, e: RewritingError, out: Vec<u8>) -> Result<Vec<u8>, HtmlError> {
        if !matches!(self.state, State::Finished) {
            self.state = State::PassThrough;
        }
        match e {
            RewritingError::MemoryLimitExceeded(_) => {
                self.fallback = Some(Fallback::MemoryLimit);
                Ok(out)
            }
            RewritingError::ContentHandlerError(e) => {
                self.fallback = Some(Fallback::Error(e.to_string()));
                Ok(out)
            }
            // Not reachable with strict mode off; lol_html does not flush for these, so the
            // output may miss input and the caller must know.
            other => {
                self.fallback = Some(Fallback::Error(other.to_string()));
                Err(HtmlError::Rewrite(other.to_string()))
            }
        }
    }
}
