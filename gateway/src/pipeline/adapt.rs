//! A legacy answer made the citizen's, once pingora has it and its exchange is settled
//! (`ProxyHttp::upstream_response_filter`): the service's response adapters
//! ([`crate::chain::AdapterChain::adapt_response`]), the answer marked with its request id
//! and cache status when the cache takes no part in it, and the body's feed; or, for the
//! site's own server error page ([`crate::chain::AdapterChain::replaces_error_page`]), the
//! portal's page in its place ([`SITE_ERROR_REPLACED`]).

use super::RequestCtx;
use crate::cache::{self, mark_answer, ANSWER_HEADERS};
use crate::chain::edit_response;
use crate::telemetry::Telemetry;
use http::header::{RETRY_AFTER, SET_COOKIE};
use http::HeaderMap;
use pingora::http::ResponseHeader;
use pingora::proxy::Session;
use pingora::{Error, ErrorSource, ErrorType};

/// What ends the exchange with a site whose server error page the portal's replaces: its
/// answer's head was read; the page (`RequestCtx::site_error`) is written at once by the
/// failure's writer (`pipeline::answer_failure`), and the connection to the site is dropped
/// with the rest of its body, as nginx's `proxy_intercept_errors` does. Found in a probe:
/// while the page waited for the site's body to end, a site trickling its error page kept
/// the citizen before a blank page for 100 s (past the `total` timeout), and one that closed
/// or stalled mid-body left her with nothing at all. Neither a failure of the site (it
/// answered, and was counted so) nor an error of the gateway's: it is not logged as one.
pub const SITE_ERROR_REPLACED: &str = "the site's server error page is replaced by the portal's";

/// Whether `e` is [`SITE_ERROR_REPLACED`].
pub fn replaced_the_sites_page(e: &Error) -> bool {
    matches!(e.etype(), ErrorType::Custom(what) if *what == SITE_ERROR_REPLACED)
}

/// Adapts the routed service's answer `upstream_response` in place, and leaves its body's
/// feed in `ctx.body`; or leaves the portal's page for the site's server error in
/// `ctx.site_error`, and ends the exchange ([`SITE_ERROR_REPLACED`]).
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
    let mut page = (chain.replaces_error_page(code, &upstream_response.headers)
        && !crate::fetch_metadata::read_by_a_script(req))
    .then(|| ctx.site_error_page(status, req));
    let adapted = edit_response(upstream_response, ANSWER_HEADERS, |headers| {
        if strip_set_cookie {
            headers.remove(http::header::SET_COOKIE);
        }
        // A page to be replaced gets its headers adapted (its cookies scoped), and keeps
        // of them what the browser still needs.
        let asked = ctx.asked(head || status.is_informational() || page.is_some());
        let banner = ctx.strip.as_ref().map(|(_, html)| html);
        let adapted = chain.adapt_response(headers, code, asked, banner);
        if let Some(page) = page.as_mut() {
            page.headers.extend(kept_for_the_page(headers));
            return None;
        }
        if let Some(cache_status) = mark {
            mark_answer(headers, &ctx.request_id, cache_status, ctx.https());
        }
        adapted
    });
    ctx.answer_marked = mark.is_some();
    if page.is_some() {
        ctx.site_error = page;
        return Err(Error::create(
            ErrorType::Custom(SITE_ERROR_REPLACED),
            ErrorSource::Internal,
            None,
            None,
        ));
    }
    if let Some((feed, transcodes)) = adapted {
        telemetry.body_rewritten(service.id(), transcodes);
        ctx.body = Some(feed);
    }
    Ok(())
}

/// What the portal's page for a site's server error keeps of the site's answer (`headers`,
/// after the response adapters): its cookies (scoped already: a site's session may be set
/// even on an error) and `Retry-After`. Nothing else: not what described the site's body
/// (type, length, encoding, validators, language), nor its reason phrase, links, refresh
/// or security policy.
fn kept_for_the_page(headers: &HeaderMap) -> Vec<(http::HeaderName, http::HeaderValue)> {
    [SET_COOKIE, RETRY_AFTER]
        .into_iter()
        .flat_map(|name| {
            headers
                .get_all(&name)
                .iter()
                .map(move |value| (name.clone(), value.clone()))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_keeps_the_sites_cookies_and_retry_after_and_nothing_else_of_its_answer() {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("content-type", "text/html; charset=iso-8859-1"),
            ("set-cookie", "JSESSIONID=1; Path=/"),
            ("set-cookie", "lang=fr; Path=/"),
            ("retry-after", "120"),
            ("content-length", "912"),
            ("x-backend", "10.2.0.15:8080"),
            ("refresh", "0; url=http://elsewhere.example/"),
        ] {
            headers.append(
                http::HeaderName::from_static(name),
                http::HeaderValue::from_static(value),
            );
        }
        let kept: Vec<(String, String)> = kept_for_the_page(&headers)
            .into_iter()
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or_default().to_owned()))
            .collect();
        assert_eq!(
            kept,
            [
                ("set-cookie".to_owned(), "JSESSIONID=1; Path=/".to_owned()),
                ("set-cookie".to_owned(), "lang=fr; Path=/".to_owned()),
                ("retry-after".to_owned(), "120".to_owned()),
            ]
        );
    }

    #[test]
    fn the_replacement_is_told_from_a_failure() {
        let replaced = Error::create(
            ErrorType::Custom(SITE_ERROR_REPLACED),
            ErrorSource::Internal,
            None,
            None,
        );
        assert!(replaced_the_sites_page(&replaced));
        assert!(!replaced_the_sites_page(&Error::new_up(
            ErrorType::ReadTimedout
        )));
    }
}
