//! Whether an answer may be stored, and for how long (RFC 9111 as pingora reads it, then the
//! service's policy): `no-store`, `private`, `no-cache` and `Authorization` rules, `max-age`,
//! `s-maxage`, `Expires`, the stale windows; then the policy's default TTL for answers that
//! say nothing and its cap for absurd ones. Never an answer that sets a cookie or varies on
//! everything.

use super::policy::Policy;
use pingora::cache::cache_control::{
    CacheControl, Cacheable as CcCacheable, InterpretCacheControl,
};
use pingora::cache::filters::resp_cacheable;
use pingora::cache::{CacheMeta, CacheMetaDefaults, NoCacheReason, RespCacheable};
use pingora::http::ResponseHeader;
use std::time::{Duration, SystemTime};

/// Statuses a cache may store by default (RFC 9110 §15.1 "heuristically cacheable").
fn heuristically_cacheable(status: u16) -> bool {
    matches!(
        status,
        200 | 203 | 204 | 300 | 301 | 308 | 404 | 405 | 410 | 414 | 501
    )
}

/// Statuses a service's `default_ttl` stores when the site said nothing of their freshness:
/// answers, not refusals. Found in a probe: under `default_ttl = "5m"` a site's silent 404
/// (a page asked for a moment before it was published), 410, 405 or 501 was served to
/// everyone for five minutes; nginx's `proxy_cache_valid 5m` stores 200, 301 and 302 only.
/// A negative answer is stored for as long as the site itself says.
fn stored_by_default(status: u16) -> bool {
    matches!(status, 200 | 203 | 300 | 301 | 308)
}

fn no_heuristic(_: http::StatusCode) -> Option<Duration> {
    None
}

fn secs(d: Duration) -> u32 {
    u32::try_from(d.as_secs()).unwrap_or(u32::MAX)
}

fn refuse(reason: &'static str) -> RespCacheable {
    RespCacheable::Uncacheable(NoCacheReason::Custom(reason))
}

/// The `Age` the answer came with (delta-seconds; an unreadable one counts as none, a
/// huge one is capped at a year, also one past any integer, which RFC 9111 §1.2.2 counts as
/// 2^31 seconds: found when tried, `Age: 99999999999999999999999` was unreadable as a
/// number and the answer was stored as fresh).
fn received_age(resp: &ResponseHeader) -> Option<Duration> {
    const YEAR: u64 = 365 * 24 * 3600;
    let age = resp.headers.get(http::header::AGE)?.to_str().ok()?.trim();
    if age.is_empty() || !age.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs = age.parse::<u64>().unwrap_or(YEAR);
    Some(Duration::from_secs(secs.min(YEAR)))
}

/// Whether `Vary` names a header the gateway writes on the way to the site:
/// the forwarding headers, the request id, the trace context. A variant is chosen by the
/// *citizen's* request (all pingora shows a lookup), but the site answered the gateway's:
/// a page varying on `X-Forwarded-For` would be stored under the first citizen's absent
/// header and served, with his address in it, to every citizen after him.
fn varies_on_what_the_gateway_writes(resp: &ResponseHeader) -> bool {
    const TRACE_CONTEXT: [&str; 2] = ["traceparent", "tracestate"];
    resp.headers.get_all(http::header::VARY).iter().any(|v| {
        v.to_str().map_or(true, |s| {
            s.split(',').map(str::trim).any(|name| {
                crate::forwarded::FORWARDING_HEADERS
                    .iter()
                    .chain([&crate::request_id::HEADER])
                    .any(|h| name.eq_ignore_ascii_case(h.as_str()))
                    || TRACE_CONTEXT.iter().any(|t| name.eq_ignore_ascii_case(t))
            })
        })
    })
}

/// The most request headers a stored answer may vary on, and the most bytes its `Vary`
/// may take (nginx stores no answer whose `Vary` is over 128 bytes). Every lookup of a
/// stored answer reads its `Vary` again (found when tried: a legacy site's `Vary` of
/// thousands of names was deduplicated pairwise on every request for that page).
pub const MAX_VARY_NAMES: usize = 16;
const MAX_VARY_BYTES: usize = 512;

fn vary_too_long(resp: &ResponseHeader) -> bool {
    let mut bytes = 0;
    let mut names = 0;
    for v in resp.headers.get_all(http::header::VARY) {
        bytes += v.len();
        names += v
            .as_bytes()
            .split(|b| *b == b',')
            .filter(|n| n.iter().any(|b| !b.is_ascii_whitespace()))
            .count();
        if bytes > MAX_VARY_BYTES || names > MAX_VARY_NAMES {
            return true;
        }
    }
    false
}

/// The decision for `resp` under `policy`.
pub fn decide(policy: &Policy, resp: &ResponseHeader) -> RespCacheable {
    if resp.headers.contains_key(http::header::SET_COOKIE) {
        return refuse("set-cookie");
    }
    if resp.headers.get_all(http::header::VARY).iter().any(|v| {
        v.to_str()
            .map_or(true, |s| s.split(',').any(|p| p.trim() == "*"))
    }) {
        return refuse("vary-star");
    }
    if varies_on_what_the_gateway_writes(resp) {
        return refuse("vary-gateway-header");
    }
    if vary_too_long(resp) {
        return refuse("vary-too-long");
    }
    if !heuristically_cacheable(resp.status.as_u16()) {
        return refuse("status");
    }
    let cc = CacheControl::from_resp_headers(resp);
    if cc.as_ref().is_some_and(|c| c.no_cache()) {
        // May be stored only to be validated before every use (RFC 9111 §5.2.2.4), and never
        // served stale (§4.2.4), which the stale windows would do: not stored, as nginx.
        return refuse("no-cache");
    }
    let defaults = CacheMetaDefaults::new(
        no_heuristic,
        secs(policy.stale_while_revalidate),
        secs(policy.stale_if_error),
    );
    let decided = match resp_cacheable(cc.as_ref(), resp.clone(), false, &defaults) {
        RespCacheable::Uncacheable(NoCacheReason::OriginNotCache) => {
            // Nothing said how long (or it said "never"): only a policy default may store it,
            // and never over an explicit refusal.
            let forbidden = cc
                .as_ref()
                .is_some_and(|c| c.is_cacheable() == CcCacheable::No);
            match policy.default_ttl {
                Some(ttl)
                    if !forbidden && !ttl.is_zero() && stored_by_default(resp.status.as_u16()) =>
                {
                    let now = SystemTime::now();
                    let mut header = resp.clone();
                    if let Some(c) = &cc {
                        c.strip_private_headers(&mut header);
                    }
                    RespCacheable::Cacheable(CacheMeta::new(
                        now + ttl,
                        now,
                        secs(policy.stale_while_revalidate),
                        secs(policy.stale_if_error),
                        header,
                    ))
                }
                _ => RespCacheable::Uncacheable(NoCacheReason::OriginNotCache),
            }
        }
        other => other,
    };
    let decided = match (decided, received_age(resp)) {
        (RespCacheable::Cacheable(meta), Some(age)) if !age.is_zero() => {
            // The answer was already `age` old when it came (another cache on the way): its
            // lifetime counts from then (RFC 9111 §4.2.3), and so does the `Age` of a hit.
            let at = |t: SystemTime| t.checked_sub(age).unwrap_or(SystemTime::UNIX_EPOCH);
            // Counted once: a revalidation merges the 304 into the stored header, and an
            // `Age` left in it would be taken off the lifetime again each time.
            let mut header = meta.response_header_copy();
            header.remove_header(&http::header::AGE);
            RespCacheable::Cacheable(CacheMeta::new(
                at(meta.fresh_until()),
                at(meta.created()),
                meta.stale_while_revalidate_sec(),
                meta.stale_if_error_sec(),
                header,
            ))
        }
        (other, _) => other,
    };
    match (decided, policy.max_ttl) {
        (RespCacheable::Cacheable(meta), Some(cap)) => {
            let created = meta.created();
            if meta.fresh_until() > created + cap {
                // Browsers are told the capped lifetime too, not the site's year.
                let mut header = meta.response_header_copy();
                header.remove_header(&http::header::EXPIRES);
                let _ = header.insert_header(
                    http::header::CACHE_CONTROL,
                    format!("public, max-age={}", cap.as_secs()),
                );
                RespCacheable::Cacheable(CacheMeta::new(
                    created + cap,
                    created,
                    meta.stale_while_revalidate_sec(),
                    meta.stale_if_error_sec(),
                    header,
                ))
            } else {
                RespCacheable::Cacheable(meta)
            }
        }
        (other, _) => other,
    }
}

/// What the caches after the gateway (the browser's, a CDN's) are told of an answer going
/// out, fresh or from the response cache:
/// - a page carrying the portal strip varies on `Accept-Language` and `Cookie` (the strip's
///   language and login state): a shared cache in front kept the first citizen's variant
///   for all (found when tried). Only on the way out: the response cache tells its
///   variants apart by the strip itself, and a stored `Vary: Cookie` would split it by
///   every citizen's cookies;
/// - an answer the cache takes part in (`policy`) is told the policy's `max_ttl` as its
///   stored copy is: a miss carried the site's year-long `max-age` and `Expires` while
///   hits carried the cap (found when tried: the first visitor of each page kept it a year,
///   `immutable`, beyond any purge). One the cache may not keep (`private`, `no-store`) and
///   one fresh for no longer than the cap keep theirs.
pub fn for_caches_after_us(
    policy: Option<(&Policy, bool)>,
    strip: bool,
    resp: &mut ResponseHeader,
) {
    const HTML: &str = "text/html";
    if strip
        && resp
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|ct| ct.trim_start().get(..HTML.len()))
            .is_some_and(|t| t.eq_ignore_ascii_case(HTML))
    {
        let _ = resp.append_header(http::header::VARY, "Accept-Language, Cookie");
    }
    let Some((cap, shared)) = policy.and_then(|(p, shared)| Some((p.max_ttl?, shared))) else {
        return;
    };
    let cc = CacheControl::from_resp_headers(resp);
    // Answers that may not be kept, or only revalidated, keep what they say.
    if cc
        .as_ref()
        .is_some_and(|c| c.private() || c.no_store() || c.no_cache())
    {
        return;
    }
    for name in crate::config::TARGETED_CACHING {
        resp.remove_header(*name);
    }
    // How long the answer says it is fresh: `max-age`/`s-maxage`, else `Expires` (RFC 9111
    // §4.2.1). Only a longer one is cut: found when tried, a `max-age=60` beside an
    // `Expires` (as Apache's mod_expires writes them) went out as ten minutes.
    let age = |v: pingora::Result<Option<u32>>| v.ok().flatten().map(u64::from);
    let directives = cc
        .as_ref()
        .map(|c| (age(c.max_age()), age(c.s_maxage())))
        .unwrap_or((None, None));
    let fresh_for = match directives {
        (None, None) => resp
            .headers
            .get(http::header::EXPIRES)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| httpdate::parse_http_date(v.trim()).ok())
            .and_then(|at| at.duration_since(SystemTime::now()).ok())
            .map(|d| d.as_secs()),
        (a, b) => a.max(b),
    };
    if fresh_for.is_none_or(|secs| secs <= cap.as_secs()) {
        return;
    }
    resp.remove_header(&http::header::EXPIRES);
    // A request the cache bypassed (it carried the site's cookie, or `Authorization`) may
    // have a personal answer: capped too (found when tried: a year, `immutable`), but for
    // the browser alone.
    let scope = if shared { "public" } else { "private" };
    let revalidate = if cc.as_ref().is_some_and(|c| c.must_revalidate()) {
        ", must-revalidate"
    } else {
        ""
    };
    let _ = resp.insert_header(
        http::header::CACHE_CONTROL,
        format!("{scope}, max-age={}{revalidate}", cap.as_secs()),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Access, ServiceCache};

    fn policy(edit: impl FnOnce(&mut ServiceCache)) -> Policy {
        let mut svc = crate::config::fixtures::config_without_secrets()
            .services
            .remove(0);
        svc.access = Access::Public;
        svc.cache = ServiceCache {
            enabled: true,
            ..ServiceCache::default()
        };
        edit(&mut svc.cache);
        Policy::compile(&svc).expect("valid").expect("on")
    }

    fn resp(status: u16, headers: &[(&str, &str)]) -> ResponseHeader {
        let mut r = ResponseHeader::build(status, None).expect("header");
        for (n, v) in headers {
            r.append_header(n.to_string(), *v).expect("header");
        }
        r
    }

    fn fresh_for(d: &RespCacheable) -> Option<u64> {
        match d {
            RespCacheable::Cacheable(m) => Some(
                m.fresh_until()
                    .duration_since(m.created())
                    .map(|d| d.as_secs())
                    .unwrap_or(0),
            ),
            RespCacheable::Uncacheable(_) => None,
        }
    }

    #[test]
    fn a_fresh_answer_going_out_is_told_the_cap_as_its_stored_copy_is() {
        let p = policy(|s| s.max_ttl = Some(Duration::from_secs(600)));
        let told = |headers: &[(&str, &str)]| {
            let mut r = resp(200, headers);
            for_caches_after_us(Some((&p, true)), false, &mut r);
            let cc = r
                .headers
                .get("cache-control")
                .map(|v| v.as_bytes().to_vec());
            (cc, r.headers.contains_key("expires"))
        };
        let capped = (Some(b"public, max-age=600".to_vec()), false);
        assert_eq!(
            told(&[
                ("cache-control", "public, max-age=31536000, immutable"),
                ("expires", "Thu, 31 Dec 2037 23:55:55 GMT")
            ]),
            capped
        );
        assert_eq!(told(&[("cache-control", "s-maxage=3600")]), capped);
        assert_eq!(
            told(&[("expires", "Thu, 31 Dec 2037 23:55:55 GMT")]),
            capped
        );
        // Within the cap, or not the cache's to keep: as the site said.
        assert_eq!(
            told(&[("cache-control", "max-age=60")]),
            (Some(b"max-age=60".to_vec()), false)
        );
        // Found when the fix was tried: a short lifetime beside an `Expires`, or an answer
        // only to revalidate, was lengthened to the cap.
        assert_eq!(
            told(&[
                ("cache-control", "max-age=60"),
                ("expires", "Thu, 31 Dec 2037 23:55:55 GMT")
            ]),
            (Some(b"max-age=60".to_vec()), true)
        );
        assert_eq!(
            told(&[
                ("cache-control", "no-cache"),
                ("expires", "Thu, 01 Jan 1970 00:00:00 GMT")
            ]),
            (Some(b"no-cache".to_vec()), true)
        );
        assert_eq!(
            told(&[("expires", "Thu, 01 Jan 1970 00:00:00 GMT")]),
            (None, true)
        );
        assert_eq!(
            told(&[("cache-control", "max-age=31536000, must-revalidate")]),
            (
                Some(b"public, max-age=600, must-revalidate".to_vec()),
                false
            )
        );
        assert_eq!(
            told(&[("cache-control", "private, max-age=31536000")]),
            (Some(b"private, max-age=31536000".to_vec()), false)
        );
        // What a cache in front would obey instead goes; a bypassed request's answer is
        // capped for the browser alone.
        let mut r = resp(
            200,
            &[
                ("cache-control", "public, max-age=31536000"),
                ("cdn-cache-control", "public, max-age=31536000"),
            ],
        );
        for_caches_after_us(Some((&p, false)), false, &mut r);
        assert_eq!(r.headers["cache-control"], "private, max-age=600");
        assert!(!r.headers.contains_key("cdn-cache-control"));
    }

    #[test]
    fn a_page_carrying_the_strip_varies_on_language_and_cookie_on_the_way_out() {
        let mut page = resp(200, &[("content-type", "text/html; charset=utf-8")]);
        for_caches_after_us(None, true, &mut page);
        assert_eq!(page.headers["vary"], "Accept-Language, Cookie");
        let mut image = resp(200, &[("content-type", "image/png")]);
        for_caches_after_us(None, true, &mut image);
        assert!(!image.headers.contains_key("vary"));
        let mut unstripped = resp(200, &[("content-type", "text/html")]);
        for_caches_after_us(None, false, &mut unstripped);
        assert!(!unstripped.headers.contains_key("vary"));
    }

    #[test]
    fn max_age_and_s_maxage_give_the_freshness() {
        let p = policy(|_| {});
        assert_eq!(
            fresh_for(&decide(&p, &resp(200, &[("cache-control", "max-age=60")]))),
            Some(60)
        );
        assert_eq!(
            fresh_for(&decide(
                &p,
                &resp(200, &[("cache-control", "max-age=60, s-maxage=120")])
            )),
            Some(120)
        );
    }

    #[test]
    fn no_store_private_and_no_cache_headers_are_not_stored_without_a_default() {
        let p = policy(|_| {});
        for cc in ["no-store", "private", "max-age=0, no-store"] {
            assert_eq!(
                fresh_for(&decide(&p, &resp(200, &[("cache-control", cc)]))),
                None,
                "{cc}"
            );
        }
        assert_eq!(fresh_for(&decide(&p, &resp(200, &[]))), None);
    }

    #[test]
    fn a_policy_default_covers_silent_answers_but_never_overrides_no_store() {
        let p = policy(|s| s.default_ttl = Some(Duration::from_secs(300)));
        assert_eq!(fresh_for(&decide(&p, &resp(200, &[]))), Some(300));
        assert_eq!(
            fresh_for(&decide(&p, &resp(200, &[("cache-control", "no-store")]))),
            None
        );
        assert_eq!(
            fresh_for(&decide(&p, &resp(200, &[("cache-control", "private")]))),
            None
        );
    }

    #[test]
    fn a_policy_default_stores_answers_and_no_refusal_the_site_said_nothing_of() {
        let p = policy(|s| s.default_ttl = Some(Duration::from_secs(300)));
        for status in [200, 203, 300, 301, 308] {
            assert_eq!(
                fresh_for(&decide(&p, &resp(status, &[]))),
                Some(300),
                "{status}"
            );
        }
        for status in [204, 404, 405, 410, 414, 501] {
            assert_eq!(fresh_for(&decide(&p, &resp(status, &[]))), None, "{status}");
            let said = decide(&p, &resp(status, &[("cache-control", "max-age=60")]));
            assert_eq!(fresh_for(&said), Some(60), "{status}, as the site says");
        }
    }

    #[test]
    fn the_policy_caps_absurd_lifetimes_for_browsers_too() {
        let p = policy(|s| s.max_ttl = Some(Duration::from_secs(600)));
        let d = decide(
            &p,
            &resp(
                200,
                &[
                    ("cache-control", "public, max-age=31536000, immutable"),
                    ("expires", "Thu, 31 Dec 2037 23:55:55 GMT"),
                ],
            ),
        );
        assert_eq!(fresh_for(&d), Some(600));
        let RespCacheable::Cacheable(m) = d else {
            panic!("stored")
        };
        assert_eq!(m.headers()["cache-control"], "public, max-age=600");
        assert!(m.headers().get("expires").is_none());
    }

    #[test]
    fn answers_setting_a_cookie_or_varying_on_everything_are_never_stored() {
        let p = policy(|s| s.default_ttl = Some(Duration::from_secs(300)));
        assert_eq!(
            fresh_for(&decide(
                &p,
                &resp(
                    200,
                    &[("cache-control", "max-age=60"), ("set-cookie", "a=b")]
                )
            )),
            None
        );
        assert_eq!(
            fresh_for(&decide(
                &p,
                &resp(200, &[("cache-control", "max-age=60"), ("vary", "*")])
            )),
            None
        );
        assert_eq!(
            fresh_for(&decide(&p, &resp(500, &[("cache-control", "max-age=60")]))),
            None
        );
    }

    /// Found when tried: a `no-cache` page was served stale, without asking the site,
    /// while it answered 503.
    #[test]
    fn a_no_cache_answer_is_not_stored_even_with_a_policy_default() {
        let p = policy(|s| {
            s.default_ttl = Some(Duration::from_secs(300));
            s.stale_if_error = Duration::from_secs(3600);
        });
        for cc in ["no-cache", "max-age=600, no-cache", "public, no-cache"] {
            assert_eq!(
                fresh_for(&decide(&p, &resp(200, &[("cache-control", cc)]))),
                None,
                "{cc}"
            );
        }
    }

    #[test]
    fn an_answer_varying_on_too_many_headers_is_not_stored() {
        let p = policy(|_| {});
        let names: Vec<String> = (0..=MAX_VARY_NAMES).map(|i| format!("x-h{i}")).collect();
        let vary = names.join(", ");
        let too_many = resp(200, &[("cache-control", "max-age=60"), ("vary", &vary)]);
        assert_eq!(fresh_for(&decide(&p, &too_many)), None);
        let vary = names[..MAX_VARY_NAMES].join(", ");
        let enough = resp(200, &[("cache-control", "max-age=60"), ("vary", &vary)]);
        assert!(fresh_for(&decide(&p, &enough)).is_some());
    }

    /// Found when tried: `Vary: X-Forwarded-For` stored one citizen's address for all.
    #[test]
    fn an_answer_varying_on_a_header_the_gateway_writes_is_not_stored() {
        let p = policy(|_| {});
        for vary in [
            "X-Forwarded-For",
            "accept-language, x-forwarded-for",
            "X-Request-Id",
            "traceparent",
            "Forwarded",
        ] {
            assert_eq!(
                fresh_for(&decide(
                    &p,
                    &resp(200, &[("cache-control", "max-age=60"), ("vary", vary)])
                )),
                None,
                "{vary}"
            );
        }
        assert_eq!(
            fresh_for(&decide(
                &p,
                &resp(
                    200,
                    &[("cache-control", "max-age=60"), ("vary", "Accept-Language")]
                )
            )),
            Some(60)
        );
    }

    /// Found when tried: `max-age=600` with `Age: 100000` was kept fresh for ten minutes
    /// and its hits said `Age: 0`.
    #[test]
    fn the_age_an_answer_came_with_counts_against_its_lifetime() {
        let p = policy(|_| {});
        let d = decide(
            &p,
            &resp(200, &[("cache-control", "max-age=600"), ("age", "100")]),
        );
        let RespCacheable::Cacheable(m) = d else {
            panic!("stored")
        };
        assert!(m.headers().get("age").is_none(), "counted once, not kept");
        let now = SystemTime::now();
        let left = m.fresh_until().duration_since(now).expect("still fresh");
        assert!(left <= Duration::from_secs(500), "{left:?}");
        let age = now.duration_since(m.created()).expect("created before now");
        assert!(age >= Duration::from_secs(100), "{age:?}");
        let old = decide(
            &p,
            &resp(200, &[("cache-control", "max-age=600"), ("age", "100000")]),
        );
        let RespCacheable::Cacheable(m) = old else {
            panic!("stored, stale")
        };
        assert!(m.fresh_until() < SystemTime::now(), "stale on arrival");
    }

    /// Found by a cache probe: an `Age` past any integer was unreadable, so the answer was
    /// stored as fresh; it is the oldest there is (RFC 9111 §1.2.2).
    #[test]
    fn an_age_past_any_integer_is_stale_on_arrival() {
        let p = policy(|_| {});
        let huge = decide(
            &p,
            &resp(
                200,
                &[
                    ("cache-control", "max-age=60"),
                    ("age", "99999999999999999999999"),
                ],
            ),
        );
        let RespCacheable::Cacheable(m) = huge else {
            panic!("stored, stale")
        };
        assert!(m.fresh_until() < SystemTime::now(), "stale on arrival");
    }

    #[test]
    fn the_stale_windows_come_from_the_answer_or_else_the_policy() {
        let p = policy(|s| s.stale_if_error = Duration::from_secs(3600));
        match decide(&p, &resp(200, &[("cache-control", "max-age=60")])) {
            RespCacheable::Cacheable(m) => assert_eq!(m.stale_if_error_sec(), 3600),
            RespCacheable::Uncacheable(r) => panic!("{r:?}"),
        }
        match decide(
            &p,
            &resp(200, &[("cache-control", "max-age=60, stale-if-error=5")]),
        ) {
            RespCacheable::Cacheable(m) => assert_eq!(m.stale_if_error_sec(), 5),
            RespCacheable::Uncacheable(r) => panic!("{r:?}"),
        }
    }
}
