//! A legacy answer made the citizen's, once pingora has it and its exchange is settled
//! (`ProxyHttp::upstream_response_filter`): the service's response adapters
//! ([`crate::chain::AdapterChain::adapt_response`]), the site's own server error page
//! replaced by the portal's ([`replace_with_page`], where
//! [`crate::chain::AdapterChain::replaces_error_page`] says), the answer marked with its
//! request id and cache status when the cache takes no part in it, and the body's feed.

use super::RequestCtx;
use crate::cache::{self, mark_answer, ANSWER_HEADERS};
use crate::chain::{edit_response, BodyFeed};
use crate::response::LocalResponse;
use crate::telemetry::Telemetry;
use http::header::{CONTENT_LENGTH, RETRY_AFTER, SET_COOKIE};
use http::HeaderMap;
use pingora::http::ResponseHeader;
use pingora::proxy::Session;

/// Adapts the routed service's answer `upstream_response` in place, and leaves its body's
/// feed (a rewrite, or a page in place of the site's) in `ctx.body`.
pub fn legacy_answer(
    session: &Session,
    upstream_response: &mut ResponseHeader,
    ctx: &mut RequestCtx,
    telemetry: &Telemetry,
) -> pingora::Result<()> {
    let status = upstream_response.status;
    let Some(service) = ctx.service.as_ref() else {
        return Ok(());
    };
    let (chain, code) = (&service.chain, status.as_u16());
    chain.refuse_page_slice(code, &upstream_response.headers)?;
    let strip_set_cookie = ctx.cache.strips_set_cookie();
    let head = ctx.upstream_head;
    // An answer the cache takes no part in is marked in this edit (the others as they
    // leave: `RequestCtx::answer_leaving`).
    let mark = (!status.is_informational() && !ctx.cache.is_shared())
        .then(|| cache::status(ctx.cache, session.cache.phase()));
    // A page the browser shows, not what a legacy page's script reads (its own error
    // message, which it may show in place, or act on).
    let req = session.req_header();
    let page = (chain.replaces_error_page(code, &upstream_response.headers)
        && !crate::fetch_metadata::read_by_a_script(req))
    .then(|| ctx.site_error_page(status, req));
    let adapted = edit_response(upstream_response, ANSWER_HEADERS, |headers| {
        if strip_set_cookie {
            headers.remove(http::header::SET_COOKIE);
        }
        // A page to be replaced gets its headers adapted (its cookies scoped) and no feed.
        let asked = ctx.asked(head || status.is_informational() || page.is_some());
        let banner = ctx.strip.as_ref().map(|(_, html)| html);
        let adapted = chain.adapt_response(headers, code, asked, banner);
        let adapted = match &page {
            Some(page) => replace_with_page(headers, page, head, ctx.https()).map(|f| (f, false)),
            None => adapted,
        };
        if let Some(cache_status) = mark {
            mark_answer(headers, &ctx.request_id, cache_status, ctx.https());
        }
        adapted
    });
    ctx.answer_marked = mark.is_some();
    if page.is_some() {
        upstream_response.set_reason_phrase(None)?; // the site's may say what its page did
    }
    if let Some((feed, transcodes)) = adapted {
        telemetry.body_rewritten(service.id(), transcodes);
        ctx.body = Some(feed);
    }
    Ok(())
}

/// Puts `page` (rendered for its reader) in place of the site's answer, whose headers
/// `headers` are after the response adapters: of the site's, only what the browser still
/// needs is kept (its cookies, scoped already, and `Retry-After`); everything that described
/// the site's body (type, length, encoding, validators, its language...) goes, with whatever
/// else the site said. The page's own headers and the portal's security headers come in.
/// Returns the feed that sends the page in place of the site's body, which is read and
/// dropped (the connection to the site stays usable); `None` for a `HEAD`.
pub fn replace_with_page(
    headers: &mut HeaderMap,
    page: &LocalResponse,
    head: bool,
    https: bool,
) -> Option<BodyFeed> {
    let mut kept = HeaderMap::with_capacity(page.headers.len() + 10);
    for name in [SET_COOKIE, RETRY_AFTER] {
        for value in headers.get_all(&name) {
            kept.append(name.clone(), value.clone());
        }
    }
    for (name, value) in &page.headers {
        kept.append(name.clone(), value.clone());
    }
    for (name, value) in crate::response::security_headers(https) {
        if !kept.contains_key(&name) {
            kept.insert(name, value);
        }
    }
    kept.insert(CONTENT_LENGTH, page.body.len().into());
    *headers = kept;
    (!head).then(|| BodyFeed::replacing(page.body.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::response::{error_page, ErrorKind};
    use http::header::CONTENT_TYPE;
    use http::HeaderValue;

    fn typed(ct: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(CONTENT_TYPE, HeaderValue::from_str(ct).expect("a type"));
        h
    }

    #[test]
    fn the_page_keeps_the_sites_cookies_and_retry_after_and_nothing_else_of_its_answer() {
        let mut headers = typed("text/html; charset=iso-8859-1");
        for (name, value) in [
            ("set-cookie", "JSESSIONID=1; Path=/"),
            ("retry-after", "120"),
            ("content-length", "912"),
            ("x-backend", "10.2.0.15:8080"),
            ("etag", "\"abc\""),
            ("content-language", "en"),
        ] {
            headers.append(
                http::HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        let page = error_page(ErrorKind::SiteError, "req-1");
        let feed = replace_with_page(&mut headers, &page, false, false);
        assert!(feed.is_some());
        assert_eq!(headers["set-cookie"], "JSESSIONID=1; Path=/");
        assert_eq!(headers["retry-after"], "120");
        assert_eq!(headers["content-type"], "text/html; charset=utf-8");
        assert_eq!(
            headers["content-length"],
            page.body.len().to_string().as_str()
        );
        assert_eq!(headers["x-frame-options"], "SAMEORIGIN");
        for gone in ["x-backend", "etag", "content-language"] {
            assert!(!headers.contains_key(gone), "{gone} kept");
        }
    }

    #[test]
    fn a_head_gets_the_pages_headers_and_no_body() {
        let mut headers = typed("text/html");
        let page = error_page(ErrorKind::SiteError, "req-1");
        assert!(replace_with_page(&mut headers, &page, true, false).is_none());
        assert_eq!(
            headers["content-length"],
            page.body.len().to_string().as_str()
        );
    }
}
