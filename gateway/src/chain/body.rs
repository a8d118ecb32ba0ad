//! Per-response use of a service's compiled adapters: legacy redirects and cookies made
//! portal-relative, and the body plan (charset → UTF-8, HTML links) for each response.

use super::{AdapterChain, BodyFeed};
use egov_adapters::body::{plan, BodyPipeline, BodyPlan, BodyTransform};
use egov_adapters::cookies::{scope_set_cookie_headers, CookieBinding};
use egov_adapters::headers::{remove_hop_by_hop, HeaderEdit, HeaderSet};
use egov_adapters::redirects::rewrite_redirect_headers;
use http::header::{ACCEPT_RANGES, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, ETAG};
use http::{HeaderName, HeaderValue};
use std::borrow::Cow;
use std::sync::{Arc, LazyLock};

/// What the request a legacy answer answers was, for [`AdapterChain::adapt_response`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Asked {
    /// A `HEAD` (or the answer is interim): no body, the headers its `GET` would carry.
    pub head: bool,
    /// The response cache may keep the answer.
    pub shared: bool,
    /// The citizen's byte ranges were forwarded (`upstream::forwards_ranges`); if not, the
    /// answer offers none.
    pub ranges: bool,
    /// The session of the signed-in citizen the answer is for: each legacy cookie it sets
    /// is bound to it (also in an answer the cache may keep: it keeps none that sets a
    /// cookie; found when tried: a `JSESSIONID` first set on a cached public path of a
    /// citizen service went unbound to the next citizen).
    pub cookies_bound_to: Option<CookieBinding>,
}

/// [`LEGACY_MAY_NOT_SEND`](crate::config::LEGACY_MAY_NOT_SEND), as a set to remove at once.
static LEGACY_MAY_NOT_SEND: LazyLock<HeaderSet> = LazyLock::new(|| {
    crate::config::LEGACY_MAY_NOT_SEND
        .iter()
        .map(|name| HeaderName::from_static(name))
        .collect()
});

/// Whether an answer is a download a client may resume with a range and `If-Range` (which
/// goes to the site whatever the path: `upstream::forwards_ranges`): a type the adapters
/// never rewrite, with a strong validator to resume against.
fn resumable_download(headers: &http::HeaderMap) -> bool {
    let rewritable = headers.get_all(CONTENT_TYPE).iter().any(|v| {
        v.to_str()
            .map_or(true, |ct| egov_adapters::body::rewritten_kind(ct).is_some())
    });
    let strong_etag = headers
        .get(ETAG)
        .is_some_and(|v| !v.as_bytes().starts_with(b"W/"));
    let validator = strong_etag || headers.contains_key(http::header::LAST_MODIFIED);
    headers.contains_key(CONTENT_TYPE) && !rewritable && validator
}

/// What a browser does with an answer, by its type: render it as a document (HTML, XML,
/// SVG), use it as a page's static part (a stylesheet, a script, an image, a font), or
/// anything else (a PDF, JSON, a download).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Document {
    Page,
    Static,
    Other,
}

/// What a browser may make of an answer with these headers. An answer it could render as a
/// document is a page: one with no `Content-Type` (the browser sniffs it), or with several
/// types, in several fields or in one (`text/plain, text/html`: Chromium takes the last), of
/// which one is a document's (found when tried: each rendered in a sibling's frame).
fn document_kind(headers: &http::HeaderMap) -> Document {
    let mut values = headers.get_all(&CONTENT_TYPE).iter().peekable();
    if values.peek().is_none() {
        return Document::Page;
    }
    let mut kind = Document::Static;
    for value in values {
        let Ok(text) = value.to_str() else {
            return Document::Page;
        };
        for ct in text.split(',') {
            match media_kind(ct) {
                Document::Page => return Document::Page,
                Document::Other => kind = Document::Other,
                Document::Static => {}
            }
        }
    }
    kind
}

fn media_kind(ct: &str) -> Document {
    let essence = ct.split(';').next().unwrap_or("").trim();
    let is = |prefix: &str| {
        essence
            .get(..prefix.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
    };
    let ends = |suffix: &str| {
        essence
            .len()
            .checked_sub(suffix.len())
            .and_then(|i| essence.get(i..))
            .is_some_and(|s| s.eq_ignore_ascii_case(suffix))
    };
    if essence.is_empty()
        || is("text/html")
        || is("application/xhtml")
        || is("image/svg")
        || ends("xml")
        || is("multipart/")
    {
        Document::Page
    } else if is("text/css")
        || is("image/")
        || is("font/")
        || is("application/font")
        || is("application/x-font")
        || is("application/vnd.ms-fontobject")
        || ends("javascript")
    {
        Document::Static
    } else {
        Document::Other
    }
}

/// [`TARGETED_CACHING`](crate::config::TARGETED_CACHING), as a set to remove at once.
static TARGETED_CACHING: LazyLock<HeaderSet> = LazyLock::new(|| {
    crate::config::TARGETED_CACHING
        .iter()
        .map(|name| HeaderName::from_static(name))
        .collect()
});

/// `frame-ancestors 'self'`, added (as a policy of its own, which browsers enforce beside
/// the site's) to every legacy document: every service's origin is same-site with its
/// siblings' (`*.services.gov.ma`), so the citizen's session cookies go to a sibling's
/// frame, and one hostile legacy page could frame another service's signed-in page and
/// have the citizen click its buttons (found when tried: a form submitted from inside an
/// invisible frame; the write came from the framed service's own origin, so the sibling
/// check let it through). A site still frames its own pages.
static FRAMED_ONLY_BY_ITSELF: HeaderValue = HeaderValue::from_static("frame-ancestors 'self'");

/// The caching an answer to a signed-in citizen leaves the gateway with, whatever the legacy
/// site asked for: none in a shared cache (`private`), and in the browser's a page is not
/// kept at all (`no-store`) and a stylesheet, script, image or font only to be revalidated
/// (`no-cache`: after a logout, the gateway answers the revalidation with a login). Found
/// when tried: a site's `public, max-age=31536000, immutable` went to the browser as
/// written, and after the citizen logged out the next person at the computer typed the
/// address and read the page from the browser's cache.
fn keep_private(headers: &mut impl HeaderEdit, kind: Document) {
    static PAGE: HeaderValue = HeaderValue::from_static("private, no-store");
    static STATIC: HeaderValue = HeaderValue::from_static("private, no-cache");
    let value = if kind == Document::Static {
        &STATIC
    } else {
        &PAGE
    };
    headers.set(http::header::CACHE_CONTROL, value.clone());
    headers.remove(&http::header::EXPIRES);
    headers.remove_any(&TARGETED_CACHING);
}

impl AdapterChain {
    /// Response headers: `Location`/`Content-Location`/`Refresh`/`Link` to where services live now,
    /// every `Set-Cookie` scoped to the service (and bound to the citizen's session,
    /// `bound_to`), what no legacy site may tell a browser on
    /// the portal's behalf removed, then the service's own header rules. A signed-in
    /// answer's cookie names are learned as the site's own ([`super::SiteCookies`]).
    pub fn apply_response(&self, headers: &mut impl HeaderEdit, bound_to: Option<&CookieBinding>) {
        rewrite_redirect_headers(headers, &self.link_map, &self.links);
        if bound_to.is_some() {
            self.site_cookies.learn(headers);
        }
        scope_set_cookie_headers(headers, &self.cookie_scope, bound_to);
        headers.remove_any(&LEGACY_MAY_NOT_SEND);
        self.response_rules.apply(headers);
    }

    /// What a legacy answer may let a browser do with it, whatever the site said: be framed
    /// only by its own pages, and, answering a signed-in citizen (`shared`: the request was
    /// asked as nobody, for the response cache), be kept nowhere but privately.
    fn guard(&self, headers: &mut http::HeaderMap, status: u16, shared: bool) {
        // A 304 has no body and rarely a type: it refreshes what the browser holds, which
        // was kept only if it was no page (found when tried: a stylesheet's 304 said
        // `no-store`, and the browser dropped the copy it had just revalidated).
        let kind = if status == 304 {
            Document::Static
        } else {
            document_kind(headers)
        };
        if kind == Document::Page {
            headers.append(
                http::header::CONTENT_SECURITY_POLICY,
                FRAMED_ONLY_BY_ITSELF.clone(),
            );
        }
        if self.signed_in && !shared {
            keep_private(headers, kind);
        }
    }

    /// The response adapters, in order, for a legacy answer ([`Asked`]: what the
    /// request it answers was): redirects and cookies made
    /// portal-relative and the header rules ([`Self::apply_response`]), then, for a body that
    /// gets rewritten (never for a `101`'s upgraded connection), its [`BodyFeed`] and whether it
    /// transcodes; a `HEAD` answer gets no feed but the headers its `GET` would carry. A
    /// WebSocket handshake's headers are adapted like any answer's (its cookies are scoped,
    /// portal names refused). Every answer is guarded ([`Self::guard`]).
    pub fn adapt_response(
        &self,
        headers: &mut http::HeaderMap,
        status: u16,
        asked: Asked,
        banner: Option<&Arc<str>>,
    ) -> Option<(BodyFeed, bool)> {
        let Asked {
            head,
            shared,
            ranges,
            cookies_bound_to,
        } = asked;
        remove_hop_by_hop(headers, status);
        if !ranges && !resumable_download(headers) {
            // The citizen's ranges were not forwarded (`upstream::forwards_ranges`): an
            // answer offering them would have clients ask for ranges that are never served.
            headers.remove(&http::header::ACCEPT_RANGES);
        }
        self.apply_response(headers, cookies_bound_to.as_ref());
        self.guard(headers, status, shared);
        if status == 204 || (100..200).contains(&status) {
            // RFC 9110 §8.6 and RFC 9112 §6.1: none may carry a length or chunks, and a
            // client or a proxy in front trusting a legacy `204`'s would read the next
            // answer as its body.
            headers.remove(&CONTENT_LENGTH);
            headers.remove(&http::header::TRANSFER_ENCODING);
        } else {
            // One plain decimal length, as for requests (`010` and `5, 5` went to citizens
            // as the legacy site wrote them).
            crate::content_length::canonicalise(headers);
        }
        // A WebSocket handshake the site refused with a page (not `101`) is answered as
        // any request, its page through the adapters (found in a bypass probe: the refusal
        // page came in its legacy charset, with its legacy links).
        if status == 101 {
            return None;
        }
        if status == 304 && self.body_policy.is_active() {
            // The validator of the page stored or held by the browser, which was rewritten
            // and so announced weak: the legacy `304`'s strong one would be merged over it
            // and name two languages' different bytes alike (`If-Range` would mix them).
            weaken_etag(headers);
            return None;
        }
        // An empty body stays empty, and says so. Found when tried: a page or stylesheet
        // answered with `Content-Length: 0` lost its length to a rewrite that never ran, and
        // pingora, the answer ended with its head, added no chunks either: the head said
        // keep-alive, and the connection closed under the citizen's next request.
        let empty = headers
            .get(&CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() == b"0");
        if head || empty {
            // No body, but the headers the GET's answer would carry: a HEAD that announced
            // the legacy length, charset and byte ranges would describe another page.
            if let Some(transform) = self.transform(status, headers) {
                announce(&transform, headers);
                if empty {
                    headers.insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
                }
            }
            return None;
        }
        self.body_pipeline(status, headers, banner)
            .map(|(pipeline, transcodes)| (BodyFeed::new(pipeline), transcodes))
    }

    /// Whether requests to this service should ask the legacy site for an uncompressed
    /// body (some of its responses may be rewritten).
    pub fn rewrites_bodies(&self) -> bool {
        self.body_policy.is_active()
    }

    /// Whether the service's pages get the portal strip (`html-links` with `banner = true`).
    pub fn has_banner(&self) -> bool {
        self.body_policy.banner.is_some()
    }

    /// What happens to this response's body, if it is rewritten. A 206 never is: a slice of
    /// a page cannot be.
    /// Refuses a `206` that is a slice of a page this service rewrites: in the site's old
    /// charset, with its old links and without the portal's strip, it cannot be rewritten
    /// (a slice is not a page) and is not sent; the citizen gets the 502 page. A site did
    /// answer a range of `/index.php/x.pdf`, or a range no one asked for, with part of a
    /// page (found when tried). Slices of files the adapters leave alone pass.
    pub fn refuse_page_slice(&self, status: u16, headers: &http::HeaderMap) -> pingora::Result<()> {
        if status == 206 && self.transform(200, headers).is_some() {
            return Err(pingora::Error::explain(
                pingora::ErrorType::HTTPStatus(502),
                "the legacy site answered with a slice (206) of a page the service rewrites",
            ));
        }
        Ok(())
    }

    fn transform(&self, status: u16, headers: &impl HeaderEdit) -> Option<BodyTransform> {
        if status == 206 || !self.body_policy.is_active() {
            return None;
        }
        let ct = headers.get(&CONTENT_TYPE).and_then(|v| v.to_str().ok());
        let first = headers.get(&CONTENT_ENCODING);
        let ce = match first {
            // `identity` then `gzip` in two fields is the list `identity, gzip` (RFC 9110
            // §5.3): read as the first field alone, a gzip body was transcoded as text
            // (found when tried). Only then are the other fields looked at.
            Some(v) if !is_coded(v) => {
                let others = headers.get_all(&CONTENT_ENCODING);
                others
                    .iter()
                    .find(|v| is_coded(v))
                    .map(|coded| Cow::Owned(coded.to_str().unwrap_or("unreadable").to_owned()))
            }
            Some(v) => Some(Cow::Borrowed(v.to_str().unwrap_or("unreadable"))),
            None => None,
        };
        match plan(status, ct, ce.as_deref(), &self.body_policy) {
            BodyPlan::Transform(t) => Some(t),
            BodyPlan::Untouched(_) => None,
        }
    }

    /// The pipeline for this response's body, with the headers adjusted for it (see
    /// [`announce`]); `None` when the body goes through untouched.
    pub fn body_pipeline(
        &self,
        status: u16,
        headers: &mut impl HeaderEdit,
        banner: Option<&Arc<str>>,
    ) -> Option<(BodyPipeline, bool)> {
        let transform = self.transform(status, headers)?;
        let banner = banner
            .cloned()
            .or_else(|| self.body_policy.banner.as_deref().map(Arc::from));
        let pipeline = match BodyPipeline::with_banner(&transform, &self.body_policy, banner) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "body left untouched: pipeline could not start");
                return None;
            }
        };
        announce(&transform, headers);
        Some((pipeline, transform.transcodes()))
    }
}

/// The headers of a rewritten body: its new `Content-Type`, no `Content-Length` (it is
/// streamed), no byte ranges, a weak `ETag` (the same page, not the same bytes).
fn announce(transform: &BodyTransform, headers: &mut impl HeaderEdit) {
    if let Some(new_ct) = transform
        .content_type
        .as_deref()
        .and_then(|c| HeaderValue::from_str(c).ok())
    {
        headers.set(CONTENT_TYPE, new_ct);
    }
    headers.remove(&CONTENT_LENGTH);
    headers.remove(&ACCEPT_RANGES);
    weaken_etag(headers);
}

/// A weak `ETag` in place of a strong one: the same page, not the same bytes.
fn weaken_etag(headers: &mut impl HeaderEdit) {
    if let Some(etag) = headers
        .get(&ETAG)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
    {
        if !etag.starts_with("W/") {
            if let Ok(weak) = HeaderValue::from_str(&format!("W/{etag}")) {
                headers.set(ETAG, weak);
            }
        }
    }
}

/// Whether a `Content-Encoding` field names a coding (anything but empty or `identity`).
fn is_coded(v: &http::HeaderValue) -> bool {
    let t = v.as_bytes().trim_ascii();
    !t.is_empty() && !t.eq_ignore_ascii_case(b"identity")
}

#[cfg(test)]
mod tests {
    use super::{document_kind, Document};
    use http::header::{CONTENT_ENCODING, CONTENT_TYPE};
    use http::{HeaderMap, HeaderValue};

    #[test]
    fn a_coding_named_in_a_second_content_encoding_field_leaves_the_body_untouched() {
        let snap = crate::registry::fixtures::snapshot();
        let chain = &snap
            .services()
            .iter()
            .find(|s| s.chain.body_policy.transcode_fallback.is_some())
            .expect("a service whose pages are transcoded")
            .chain;
        let page = |encodings: &[&'static str]| {
            let mut h = HeaderMap::new();
            h.insert(CONTENT_TYPE, HeaderValue::from_static("text/html"));
            for e in encodings {
                h.append(CONTENT_ENCODING, HeaderValue::from_static(e));
            }
            h
        };
        assert!(chain.transform(200, &page(&[])).is_some());
        assert!(chain.transform(200, &page(&["identity"])).is_some());
        assert!(chain.transform(200, &page(&["identity", "gzip"])).is_none());
        assert!(chain.transform(200, &page(&["gzip"])).is_none());
    }

    #[test]
    fn a_signed_in_answer_is_private_and_its_304_keeps_the_copy_revalidated() {
        let snap = crate::registry::fixtures::snapshot();
        let chain = &snap
            .services()
            .iter()
            .find(|s| s.chain.signed_in)
            .expect("a signed-in service")
            .chain;
        let answer = |ct: Option<&'static str>, status: u16| {
            let mut h = HeaderMap::new();
            h.insert(
                http::header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000"),
            );
            h.insert("cdn-cache-control", HeaderValue::from_static("max-age=60"));
            if let Some(ct) = ct {
                h.insert(CONTENT_TYPE, HeaderValue::from_static(ct));
            }
            chain.guard(&mut h, status, false);
            h
        };
        let page = answer(Some("text/html"), 200);
        assert_eq!(page["cache-control"], "private, no-store");
        assert_eq!(page["content-security-policy"], "frame-ancestors 'self'");
        assert!(!page.contains_key("cdn-cache-control"));
        assert_eq!(
            answer(Some("text/css"), 200)["cache-control"],
            "private, no-cache"
        );
        let revalidated = answer(None, 304);
        assert_eq!(revalidated["cache-control"], "private, no-cache");
        assert!(!revalidated.contains_key("content-security-policy"));
        // Shared through the response cache: as the site said.
        let mut shared = HeaderMap::new();
        shared.insert(
            http::header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=60"),
        );
        chain.guard(&mut shared, 200, true);
        assert_eq!(shared["cache-control"], "public, max-age=60");
    }

    /// Found when tried: a legacy page sent without a `Content-Type`, with two, or with
    /// `text/plain, text/html` rendered as HTML in a sibling's frame, unguarded.
    #[test]
    fn an_answer_a_browser_may_render_as_a_document_is_a_page() {
        let kind = |types: &[&str]| {
            let mut h = HeaderMap::new();
            for t in types {
                h.append(CONTENT_TYPE, HeaderValue::from_str(t).expect("value"));
            }
            document_kind(&h)
        };
        assert!(kind(&[]) == Document::Page, "sniffed");
        assert!(kind(&["text/plain", "text/html"]) == Document::Page);
        assert!(kind(&["text/plain, text/html"]) == Document::Page);
        assert!(kind(&["TEXT/HTML; charset=utf-8"]) == Document::Page);
        assert!(kind(&["application/rss+XML"]) == Document::Page);
        assert!(kind(&["image/png"]) == Document::Static);
        assert!(kind(&["application/font-woff"]) == Document::Static);
        assert!(kind(&["text/css", "application/pdf"]) == Document::Other);
        assert!(kind(&["application/json"]) == Document::Other);
    }
}
