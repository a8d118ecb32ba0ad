//! The cache stage: whether the response cache may answer this request, decided once the
//! request is routed and let through (so a refused request never reaches the cache). It
//! never answers itself; pingora's cache phases act on what it decides.

use super::{RequestCtx, Stage, Step};
use crate::cache::{service_path, CacheUse};
use pingora::proxy::Session;

/// Turns pingora's cache on for a request to `service` (`ProxyHttp::request_cache_filter`),
/// without its lock while the service's bulkhead is full: a miss then goes straight to be
/// refused (503, or a stale copy) rather than wait behind the one fetch. Found when tried:
/// the misses that waited behind a slow site's fetch (up to `cache.lock_timeout` each)
/// held a connection apiece outside the bulkhead, and filled every slot the gateway had.
pub fn enable(
    cache: &crate::cache::ResponseCache,
    session: &mut Session,
    service: Option<&crate::registry::Service>,
) {
    let policy = service.and_then(|s| s.cache.as_deref());
    let full = service.is_some_and(|s| s.in_flight.is_full());
    cache.enable(session, policy, full);
}

pub struct CacheStage;

impl Stage for CacheStage {
    fn name(&self) -> &'static str {
        "cache"
    }

    async fn run(&self, session: &mut Session, ctx: &mut RequestCtx) -> Step {
        ctx.cache = decide(session, ctx);
        if ctx.cache.is_shared() {
            crate::cache::as_any_citizen(session.req_header_mut());
            crate::cache::mend_range(session.req_header_mut());
        }
        Step::Continue
    }
}

fn decide(session: &mut Session, ctx: &RequestCtx) -> CacheUse {
    let (Some(service), Some(uri)) = (ctx.service.as_ref(), ctx.upstream_uri.as_ref()) else {
        return CacheUse::Off;
    };
    let Some(policy) = service.cache.as_ref() else {
        return CacheUse::Off;
    };
    if ctx.local.is_some() || ctx.upgrade {
        return CacheUse::Off;
    }
    let bodied = !session.is_body_empty();
    let req = session.req_header();
    // The rules read the path as the key does ([`crate::cache::ResponseCache::key`]):
    // found in review, `/%61ccount/x` passed `bypass_paths = ["/account/**"]` and was
    // stored under the key of `/account/x`.
    let path = service_path(&service.upstream.base_path, uri.path());
    let path = &*egov_adapters::paths::normal_escapes(path);
    let authorization = req.headers.contains_key(http::header::AUTHORIZATION);
    // Cookies the site would get asked as nobody (`anonymise` removes them all).
    let cookies: Vec<&[u8]> = req
        .headers
        .get_all(http::header::COOKIE)
        .iter()
        .map(http::HeaderValue::as_bytes)
        .collect();
    // The citizen's own bound cookies count (found when reviewed: read as nobody's, they
    // were dropped, and a signed-in citizen was served the anonymous stored page).
    // Analytics scripts' cookies choose no page (`is_only_analytics`): alone, they do not
    // keep a request from the cache (the shared fetch carries no cookie at all), unless the
    // site sets the name itself (server-side tagging; from review).
    let chain = &service.chain;
    let legacy_cookies = chain
        .forwarded_cookies(&cookies, ctx.cookie_binding.as_ref())
        .is_some_and(|sent| {
            egov_adapters::cookies::cookie_pairs(&sent).any(|(name, value)| {
                !egov_adapters::cookies::is_only_analytics(name, value)
                    || chain.site_sets_cookie(name)
            })
        });
    match policy.admits(&req.method, path, authorization, legacy_cookies) {
        // A GET with a body (a "fat GET") may be answered from the body, which the key does
        // not name: one citizen's body would choose everyone's page.
        Ok(()) if bodied => CacheUse::Bypass(crate::cache::Bypass::Body),
        Ok(()) => CacheUse::Shared {
            strip_set_cookie: policy.strips_set_cookie(path),
        },
        Err(why) => CacheUse::Bypass(why),
    }
}
