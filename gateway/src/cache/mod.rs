//! The response cache: what makes slow, flaky legacy sites fast and keeps their public pages
//! up while they are down. Built on pingora's HTTP cache (its phases, RFC 9111 freshness,
//! revalidation, `Age`, the cache lock against stampedes, stale-while-revalidate and
//! stale-if-error); this room decides what may be shared and keeps it.
//!
//! - `policy.rs`: a service's `[cache]`, compiled once per snapshot: which requests may be
//!   answered from the cache, what the key leaves out.
//! - `freshness.rs`: whether an answer may be stored and for how long.
//! - `storage.rs`: L1 in memory (bounded, TinyLFU eviction) and L2 in `[redis]`.
//! - `purge.rs`: whole-service purges by generation, URL purges, seen by every instance.
//! - `purged_urls.rs`: when each URL was last purged, so a fill begun before is not kept.
//!
//! Never one citizen's page to another: a `citizen`/`professional` service's pages are stored
//! only on paths it marks public, and a request whose answer is stored goes to the legacy
//! site without the citizen's identity, cookies or `Authorization` (those requests bypass);
//! answers that set a cookie are not stored. What is stored is the adapted answer (UTF-8,
//! rewritten links), so a hit costs no rewriting.

pub mod freshness;
mod l2_room;
pub mod policy;
pub mod purge;
pub mod purged_urls;
mod shares;
pub mod storage;

pub use policy::{Bypass, Policy};
pub use purge::{Generations, PurgeError};
pub use storage::{StorageEvents, TieredStorage};

use crate::config::CacheSettings;
use crate::kv::Kv;
use pingora::cache::key::{CacheHashKey, CacheKey, HashBinary};
use pingora::cache::lock::{CacheKeyLockImpl, CacheLock};
use pingora::cache::CacheOptionOverrides;
use pingora::cache::{CacheMeta, CachePhase, VarianceBuilder};
use pingora::http::RequestHeader;
use std::sync::Arc;

/// How the cache takes part in one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CacheUse {
    /// The service has no cache, or the request is not proxied.
    #[default]
    Off,
    /// The service caches, but not this request.
    Bypass(Bypass),
    /// Looked up, and stored if the answer allows; `strip_set_cookie` when the path's
    /// cookies are dropped.
    Shared { strip_set_cookie: bool },
}

impl CacheUse {
    /// Whether the answer may be shared (the request is sent without the citizen's state).
    pub fn is_shared(self) -> bool {
        matches!(self, CacheUse::Shared { .. })
    }

    /// Whether the answer's `Set-Cookie` must go before it may be stored and shared.
    pub fn strips_set_cookie(self) -> bool {
        matches!(
            self,
            CacheUse::Shared {
                strip_set_cookie: true
            }
        )
    }
}

/// The cache of one gateway process.
pub struct ResponseCache {
    pub storage: &'static TieredStorage,
    lock: &'static CacheKeyLockImpl,
    /// `cache.lock_timeout`: how long a miss waits, in all, for another's fetch.
    lock_timeout: std::time::Duration,
    pub generations: Arc<Generations>,
    /// Objects larger than this pass through.
    pub max_object_size: usize,
}

impl ResponseCache {
    /// The cache `settings` describe; L2 and purges through `shared` (the deployment's Redis,
    /// or this process's memory).
    pub fn new(
        settings: &CacheSettings,
        shared: Arc<dyn Kv>,
        events: Arc<dyn StorageEvents>,
    ) -> Self {
        let l2 = settings
            .shared
            .then(|| (Arc::clone(&shared), settings.shared_size));
        // pingora's cache wants `'static` storage and lock; there is one of each per process
        // (per gateway in tests).
        let storage: &'static TieredStorage = Box::leak(Box::new(TieredStorage::new(
            settings.memory_size,
            l2,
            events,
        )));
        let lock: &'static CacheKeyLockImpl =
            Box::leak(Box::new(CacheLock::new(settings.lock_timeout)));
        Self {
            storage,
            lock,
            lock_timeout: settings.lock_timeout,
            generations: Arc::new(Generations::new(shared)),
            max_object_size: settings.max_object_size,
        }
    }

    /// Turns pingora's cache on for a request to `policy`'s service: its storage, the
    /// lock misses wait behind (none when `no_lock`), and the largest object it keeps (the
    /// service's, within the gateway's).
    pub fn enable(
        &self,
        session: &mut pingora::proxy::Session,
        policy: Option<&Policy>,
        no_lock: bool,
    ) {
        let limit = policy
            .and_then(|p| p.max_object_size)
            .map_or(self.max_object_size, |m| m.min(self.max_object_size));
        let lock: &'static CacheKeyLockImpl = self.lock;
        let (lock, waits) = if no_lock {
            (None, None)
        } else {
            (Some(lock), Some(self.lock_waits()))
        };
        session.cache.enable(self.storage, None, None, lock, waits);
        session.cache.set_max_file_size_bytes(limit);
    }

    /// How long a miss waits behind another's fetch of the same answer: `cache.lock_timeout`
    /// in all, then it goes to the site itself, uncached (nginx's `proxy_cache_lock_timeout`).
    /// The lock's own timeout is only its age: without this, a waiter whose writer's lock
    /// aged out competed to fetch again and waited anew, and behind a hung site citizens
    /// waited three lock ages before their own request even started (found when tried: 25 s
    /// for a 5 s `lock_timeout` and a 10 s read timeout).
    pub fn lock_waits(&self) -> CacheOptionOverrides {
        let mut waits = CacheOptionOverrides::default();
        waits.wait_timeout = Some(self.lock_timeout);
        waits
    }

    /// The key of `path` (under the service) and `query` of `service`: the service, its
    /// incarnation ([`Policy::incarnation`]), its current generation, the path and the kept
    /// query parameters, each with its escapes in normal form (`/%7Ea` is `/~a`, for lookups
    /// and purges alike).
    pub fn key(&self, service: &str, policy: &Policy, path: &str, query: Option<&str>) -> CacheKey {
        let generation = self.generations.of(service);
        let query = policy.key_query(query);
        let path = egov_adapters::paths::normal_escapes(path);
        // Length-prefixed, so no service id or path can be made to collide with another.
        let mut primary = Vec::with_capacity(service.len() + path.len() + query.len() + 52);
        for part in [
            service.as_bytes(),
            &policy.incarnation.to_be_bytes(),
            &generation.to_be_bytes(),
            path.as_bytes(),
            query.as_bytes(),
        ] {
            primary.extend_from_slice(&(part.len() as u32).to_be_bytes());
            primary.extend_from_slice(part);
        }
        CacheKey::new(primary, &*policy.ministry)
    }

    /// The primary slot of `path` and `query` of `service` (what a URL purge deletes; its
    /// variants are found only through it, so they go with it).
    pub fn slot(
        &self,
        service: &str,
        policy: &Policy,
        path: &str,
        query: Option<&str>,
    ) -> HashBinary {
        self.key(service, policy, path, query).combined_bin()
    }
}

/// The citizen's request headers a request whose answer may be shared still carries to the
/// legacy site: content negotiation (`Origin` and `X-Requested-With` too: found in review,
/// a public font or JSON a site answers with `Access-Control-Allow-Origin` and
/// `Vary: Origin`, or a legacy page's AJAX answer, was fetched without them and stored under
/// the variant of a request that had them), the conditionals pingora's revalidation rests
/// on and the framing. `Host` and the forwarding headers go too ([`ask_as_nobody`]): sites
/// that refuse a request without `X-Forwarded-For` exist, so the citizen's address still
/// goes. The free ones are made any citizen's by then ([`as_any_citizen`]).
static SHAREABLE: [http::HeaderName; 8] = [
    http::header::ACCEPT,
    http::header::ACCEPT_LANGUAGE,
    http::header::USER_AGENT,
    http::header::ORIGIN,
    http::HeaderName::from_static("x-requested-with"),
    http::header::IF_NONE_MATCH,
    http::header::IF_MODIFIED_SINCE,
    http::header::CONTENT_LENGTH,
];
/// The forwarding headers that name the citizen's address, out of a shared fetch.
const ADDRESS_HEADERS: [&str; 3] = ["x-forwarded-for", "x-real-ip", "forwarded"];

/// What the citizen sent that an answer others will get must not depend on, taken out of
/// the request the legacy site gets: every header but [`SHAREABLE`], `Host`, the
/// forwarding headers (`forwarded::FORWARDING_HEADERS`, whose trust `forward` decides) and
/// those the service's request rules rename (`renamed`; run before the gateway adds its own). Found when tried: a cacheable fetch carried the citizen's
/// `Accept-Language` as it was, which the key does not name; a site that writes it into its
/// page without `Vary` (as old sites choosing their language do) stored one citizen's
/// `<script>` for everyone. A `Referer`, an `X-Anything`, any header a legacy page echoes,
/// was the same door. [`as_any_citizen`] makes the free ones that stay any citizen's.
pub fn ask_as_nobody<'a>(
    req: &mut RequestHeader,
    renamed: impl Iterator<Item = &'a http::HeaderName> + Clone,
) {
    let unshared: Vec<http::HeaderName> = req
        .headers
        .keys()
        .filter(|name| !carried_when_shared(name, renamed.clone()))
        .cloned()
        .collect();
    for name in unshared {
        req.remove_header(&name);
    }
}

/// Whether a request whose answer may be shared carries the citizen's header `name` to the
/// site ([`ask_as_nobody`] takes out the others).
fn carried_when_shared<'a>(
    name: &http::HeaderName,
    mut renamed: impl Iterator<Item = &'a http::HeaderName>,
) -> bool {
    SHAREABLE.contains(name)
        || crate::forwarded::FORWARDING_HEADERS.contains(name)
        || *name == http::header::HOST
        || renamed.any(|r| r == name)
}

/// The `User-Agent` a request whose answer may be shared is sent with: one for every
/// browser, since the answer will be every browser's.
pub const SHARED_USER_AGENT: &str = "Mozilla/5.0 (compatible; egov-gateway shared cache)";

/// Makes the headers of a request whose answer may be shared that a site may write into
/// its page any citizen's, before the cache looks it up (the variant a `Vary` picks is then
/// one of few, not one per spelling a client sends, and what the site is asked never holds
/// one client's text):
/// - `Accept-Language`: the portal's language of the citizen
///   ([`crate::lang::Lang::accept_language`]), one of four;
/// - `User-Agent`: [`SHARED_USER_AGENT`] (found in review: a site that writes "your browser
///   X is not supported" into its page stored the first client's text for everyone);
/// - `X-Requested-With`: `XMLHttpRequest` if sent at all;
/// - `Accept`: one of [`ACCEPT_CLASSES`], by what the client asks for (found when tried:
///   `Accept: text/html<script>…` reached the site as written, and a site echoing it stored
///   the script for everyone); the class is also the stored variant (`variance`), so a site
///   answering JSON or HTML by `Accept` without `Vary` keeps one of each;
/// - `Origin`: kept only as an origin (`scheme://host[:port]` or `null`).
pub fn as_any_citizen(req: &mut RequestHeader) {
    use http::HeaderValue;
    let ajax = http::HeaderName::from_static("x-requested-with");
    if req.headers.contains_key(http::header::ACCEPT) {
        let class = accept_class(&req.headers);
        // A static value: cannot fail.
        let _ = req.insert_header(http::header::ACCEPT, HeaderValue::from_static(class));
    }
    let mut origins = req.headers.get_all(http::header::ORIGIN).iter();
    let origin_ok = match (origins.next(), origins.next()) {
        (Some(o), None) => o.to_str().is_ok_and(is_an_origin),
        (None, _) => true,
        _ => false,
    };
    if !origin_ok {
        req.remove_header(&http::header::ORIGIN);
    }
    let ajax_sent = req.headers.contains_key(&ajax);
    let lang = crate::lang::Lang::of_request(req).accept_language();
    // Runs on every request the cache may answer, hits included: no allocation.
    let results = [
        req.insert_header(http::header::ACCEPT_LANGUAGE, lang),
        req.insert_header(
            http::header::USER_AGENT,
            HeaderValue::from_static(SHARED_USER_AGENT),
        ),
        if ajax_sent {
            req.insert_header(ajax, HeaderValue::from_static("XMLHttpRequest"))
        } else {
            Ok(())
        },
    ];
    for e in results.into_iter().filter_map(Result::err) {
        // Static names and values: cannot fail.
        tracing::warn!(error = %e, "a shared request's header");
    }
}

/// The `Accept` values a request whose answer may be shared is sent with, by what its client
/// asks for, in this order: the first whose marks one of its `Accept` lines carries (case
/// aside) wins; the last, any type, for everything else. The document's and the image's
/// are Chromium's for a page and an image (whose own lists carry `xml` too, so `xml` comes
/// after them: from review, every image fetch was asked as XML), the others what script
/// libraries send.
pub const ACCEPT_CLASSES: [(&[&str], &str); 6] = [
    (
        &["text/html", "application/xhtml+xml"],
        "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    ),
    (&["json"], "application/json,*/*;q=0.8"),
    (
        &["image/"],
        "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8",
    ),
    (&["text/css"], "text/css,*/*;q=0.1"),
    (&["xml"], "application/xml,text/xml;q=0.9,*/*;q=0.8"),
    (&[], ANY_TYPE),
];

/// `Accept` for any type: what a request without a narrower class is sent with, and no
/// variant of its own.
const ANY_TYPE: &str = "*/*";

/// The value of [`ACCEPT_CLASSES`] for the `Accept` lines in `headers`.
fn accept_class(headers: &http::HeaderMap) -> &'static str {
    let sent = || headers.get_all(http::header::ACCEPT).iter();
    let carries = |mark: &str| {
        sent().any(|v| {
            v.as_bytes()
                .windows(mark.len())
                .any(|w| w.eq_ignore_ascii_case(mark.as_bytes()))
        })
    };
    ACCEPT_CLASSES
        .iter()
        .find(|(marks, _)| marks.iter().any(|m| carries(m)))
        .map_or(ANY_TYPE, |(_, value)| value)
}

/// Whether `origin` is a serialised origin (RFC 6454): `null`, or `http`/`https`, `://`
/// and a well-formed `host[:port]`.
fn is_an_origin(origin: &str) -> bool {
    origin == "null"
        || origin
            .strip_prefix("https://")
            .or_else(|| origin.strip_prefix("http://"))
            .is_some_and(crate::host::well_formed)
}

/// Takes out of a citizen's `Range` on an answer the cache serves the suffix ranges of
/// length zero (`bytes=-0`), which no byte satisfies (RFC 9110 §14.1.1); a `Range` of
/// nothing else becomes one pingora answers with `416` and `Content-Range: bytes */<length>`.
/// Found when tried: pingora's range filter served `bytes=-0` as a `206` of no byte, with
/// `Content-Range: bytes 2769-2768/2769`, an impossible range a client or a cache in front
/// could only misread.
pub fn mend_range(req: &mut RequestHeader) {
    let Some(value) = req.headers.get(http::header::RANGE) else {
        return;
    };
    let Some(specs) = value
        .to_str()
        .ok()
        .and_then(|v| v.split_once('='))
        .filter(|(unit, _)| unit.trim().eq_ignore_ascii_case("bytes"))
        .map(|(_, specs)| specs)
    else {
        return;
    };
    let empty = |spec: &str| {
        spec.trim()
            .strip_prefix('-')
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b == b'0'))
    };
    if !specs.split(',').any(empty) {
        return;
    }
    let kept: Vec<&str> = specs.split(',').filter(|s| !empty(s)).collect();
    let mended = format!("bytes={}", kept.join(","));
    match http::HeaderValue::from_str(&mended) {
        Ok(v) => {
            if let Err(e) = req.insert_header(http::header::RANGE, v) {
                tracing::debug!(error = %e, "the mended range");
            }
        }
        Err(_) => {
            req.remove_header(&http::header::RANGE);
        }
    }
}

/// Takes the citizen's own state out of a request whose answer may be shared (run after the
/// request is assembled): cookies, the citizen's address (`X-Forwarded-For` and `X-Real-IP`
/// name `gateway`, the gateway's own; `Forwarded` goes), and `Accept-Encoding` (the stored answer is uncompressed;
/// the gateway compresses toward each client). A citizen's own `Authorization` never gets
/// here (such requests bypass); one present now is the service account's, from its adapter.
/// The target is what the key names: path and query in their normal form
/// ([`egov_adapters::paths::normal_escapes`], [`policy::normal_query`]), less the
/// parameters `policy` leaves out of the key ([`Policy::forwarded_query`]). A site that reads escapes as written would otherwise
/// answer one spelling for all (found when tried: `/%64emande` was a 404 at a site that
/// does not decode, stored for `default_ttl` under the key of `/demande`, the public form
/// everyone then got as a 404). (Headers that make legacy frameworks serve another URL or
/// method than the key names never reach a backend at all: `forwarded::SPOOFABLE`.)
pub fn anonymise(
    req: &mut RequestHeader,
    policy: Option<&Policy>,
    gateway: Option<&pingora::protocols::l4::socket::SocketAddr>,
) {
    // The whole answer is asked for and kept; pingora serves a citizen's range from it (a
    // 206 the site sent could not be kept, and the requests waiting on the cache's lock
    // would each go to the site).
    for name in [
        http::header::COOKIE,
        http::header::ACCEPT_ENCODING,
        http::header::RANGE,
        http::header::IF_RANGE,
    ] {
        req.remove_header(&name);
    }
    // Nobody's request names no citizen's address: a page saying "votre adresse IP" without
    // `Vary` stored the first citizen's for every citizen after him (found in a probe). A
    // site that requires the header (`requires-xff`) gets the gateway's own address.
    for name in ADDRESS_HEADERS {
        let own = gateway
            .and_then(|a| a.as_inet())
            .and_then(|a| crate::forwarded::address_value(a.ip()));
        match own.filter(|_| name != "forwarded" && req.headers.contains_key(name)) {
            Some(v) => {
                let _ = req.insert_header(name, v);
            }
            None => {
                req.remove_header(name);
            }
        }
    }
    use egov_adapters::paths::normal_escapes;
    use std::borrow::Cow;
    let uri = &req.uri;
    let path = normal_escapes(uri.path());
    let query = uri.query().map(policy::normal_query);
    let kept = policy
        .zip(query.as_deref())
        .and_then(|(p, q)| p.forwarded_query(q));
    let same = |c: &Cow<'_, str>| matches!(c, Cow::Borrowed(_));
    if same(&path) && query.as_ref().is_none_or(same) && kept.is_none() {
        return;
    }
    let query = kept.or_else(|| query.map(Cow::into_owned));
    let target = match query.as_deref() {
        None | Some("") => path.into_owned(),
        Some(q) => format!("{path}?{q}"),
    };
    match http::Uri::try_from(target) {
        Ok(u) => req.set_uri(u),
        // Only escapes made characters they stand for, and pairs of a valid query joined
        // again: cannot fail; if it did, the site is asked as the citizen asked.
        Err(e) => tracing::warn!(error = %e, "the shared fetch's target in normal form"),
    }
}

/// Whether and how long the answer `resp` to a request of `policy`'s service begun at `began`
/// may be stored ([`freshness::decide`]); a stored one carries when its request began, so
/// that a URL purge landing during its fetch drops it ([`purged_urls`]).
pub fn decide(
    policy: &Policy,
    resp: &pingora::http::ResponseHeader,
    began: Option<std::time::Instant>,
) -> pingora::cache::RespCacheable {
    let mut decided = freshness::decide(policy, resp);
    if let (pingora::cache::RespCacheable::Cacheable(meta), Some(began)) = (&mut decided, began) {
        meta.extensions_mut().insert(purged_urls::FetchBegan(began));
    }
    decided
}

/// The variant of `req` for a stored answer: the headers its `Vary` names, and what the
/// gateway keeps apart without it (below).
///
/// Never none, the plainest request's included: pingora serves the primary slot to a
/// request whose variance is none, whatever variant filled it (from review: a JSON answer
/// first fetched with a hostile `Origin` or renamed header, stored there, was every plain
/// request's; pages were spared only because their language always varies).
///
/// `renamed`: the headers the service's request rules pass on under another name (kept on
/// a shared fetch, `ask_as_nobody`, because the site needs them): a request carrying one is
/// its own variant, `Vary` or not (a site that writes one into its page would otherwise
/// store one citizen's text for everyone).
pub fn variance<'a>(
    meta: &CacheMeta,
    req: &RequestHeader,
    strip: Option<u8>,
    renamed: impl Iterator<Item = &'a http::HeaderName> + Clone,
) -> HashBinary {
    // At most `MAX_VARY_NAMES` (no longer `Vary` is stored: `freshness::decide`), so the
    // pairwise deduplication stays small.
    let mut names: Vec<String> = Vec::new();
    'all: for v in meta.headers().get_all(http::header::VARY) {
        for name in v.to_str().unwrap_or("").split(',') {
            let name = name.trim().to_ascii_lowercase();
            // Only a header's name: the gateway's own parts of a variant are named with a
            // `:`, which no header name has, so a hostile site's `Vary: egov:lang` cannot
            // overwrite one (a site saying `Vary` on a name no request can carry varies on
            // nothing).
            if http::HeaderName::from_bytes(name.as_bytes()).is_ok() && !names.contains(&name) {
                names.push(name);
            }
            if names.len() > freshness::MAX_VARY_NAMES {
                break 'all;
            }
        }
    }
    // A page is kept per language of the portal even when its site does not say `Vary`
    // (found when tried: old sites choose the language from `Accept-Language` and say
    // nothing, and the first citizen's language was everyone's); the request's is one of
    // four by then (`as_any_citizen`). Other answers (styles, scripts, images, documents)
    // seldom change with it, and are kept once.
    // Whether it is a page is read from the request's `Accept` class where it names one
    // (from review: read from the stored answer only, a site answering JSON or a page by
    // `Accept` at one address had its lookup and its fill disagree, and each overwrote the
    // other's slot); a request for any type goes by the answer stored.
    let class = req.headers.get(http::header::ACCEPT).map(|v| v.as_bytes());
    let page = match class {
        None => is_a_page(meta.headers()),
        Some(c) if c == ANY_TYPE.as_bytes() => is_a_page(meta.headers()),
        Some(c) => c == ACCEPT_CLASSES[0].1.as_bytes(),
    };
    let by_language = strip.is_none() && !names.iter().any(|n| n == "accept-language") && page;
    // A request that carries an `Origin` (forwarded on a shared fetch, as a site's CORS
    // answer needs it) is its own variant even when the site says no `Vary: Origin` (from
    // review: a site echoing any origin in `Access-Control-Allow-Origin` would otherwise
    // store one caller's origin in everyone's answer).
    let origin = req
        .headers
        .get(http::header::ORIGIN)
        .filter(|_| !names.iter().any(|n| n == "origin"));
    // The `Accept` class (`as_any_citizen`) is its own variant, `Vary` or not; any type is
    // none.
    let accept = req
        .headers
        .get(http::header::ACCEPT)
        .filter(|v| v.as_bytes() != ANY_TYPE.as_bytes() && !names.iter().any(|n| n == "accept"));
    let mut builder = VarianceBuilder::new();
    builder.add_value("egov:", "");
    if let Some(variant) = strip {
        // The portal strip in the page differs by language and login state: each variant is
        // its own stored answer, so no citizen gets another's strip.
        builder.add_owned_value("egov:strip", vec![variant]);
    }
    if by_language {
        let lang = req
            .headers
            .get(http::header::ACCEPT_LANGUAGE)
            .map_or(&[][..], http::HeaderValue::as_bytes);
        builder.add_value("egov:lang", lang);
    }
    if let Some(origin) = origin {
        builder.add_value("egov:origin", origin.as_bytes());
    }
    if let Some(accept) = accept {
        builder.add_value("egov:accept", accept.as_bytes());
    }
    // An AJAX request (`X-Requested-With`, forwarded as `XMLHttpRequest`) is its own variant:
    // a site answering it with a fragment, without `Vary`, would otherwise store the
    // fragment for page loads (from review).
    let ajax = http::HeaderName::from_static("x-requested-with");
    if req.headers.contains_key(&ajax) && !names.iter().any(|n| n == ajax.as_str()) {
        builder.add_value("egov:ajax", "");
    }
    for name in renamed
        .clone()
        .filter(|name| !names.iter().any(|n| n == name.as_str()))
    {
        if req.headers.contains_key(name) {
            builder.add_owned_value(name.as_str(), joined(req, name.as_str()));
        }
    }
    for name in names {
        // A header a shared fetch does not carry (`ask_as_nobody`, `anonymise`: no cookie,
        // no `Authorization`, no `X-Anything`) was the same for every request asking this
        // way, whatever the citizen sent: the site's `Vary` on it is one variant. From
        // review: the citizen's own `Cookie` (an analytics id, one per browser) made a copy
        // per browser of a page saying `Vary: Cookie`; found when tried: `Vary: X-Foo` made
        // one copy of the same page per value a client made up, up to the service's share.
        let carried = http::HeaderName::from_bytes(name.as_bytes())
            .is_ok_and(|h| carried_when_shared(&h, renamed.clone()));
        let value = if carried {
            joined(req, &name)
        } else {
            Vec::new()
        };
        builder.add_owned_name_value(name, value);
    }
    // Always some: the marker above is a variance.
    builder.finalize().unwrap_or_default()
}

/// Every value of header `name` in `req`, each followed by a comma (one variant per
/// sequence of values, however the client split them into lines).
fn joined(req: &RequestHeader, name: &str) -> Vec<u8> {
    req.headers
        .get_all(name)
        .iter()
        .flat_map(|v| v.as_bytes().iter().copied().chain([b',']))
        .collect()
}

/// Whether an answer's headers say it is a page (HTML or XHTML).
fn is_a_page(headers: &http::HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(egov_adapters::charset::media_type)
        .is_some_and(|t| {
            t.eq_ignore_ascii_case("text/html") || t.eq_ignore_ascii_case("application/xhtml+xml")
        })
}

/// The path of a backend `uri` under the service root `base_path` (what `[cache]` globs
/// are written against).
pub fn service_path<'a>(base_path: &str, uri_path: &'a str) -> &'a str {
    let base = base_path.trim_end_matches('/');
    match uri_path.strip_prefix(base) {
        Some(rest) if rest.starts_with('/') => rest,
        Some("") => "/",
        _ => uri_path,
    }
}

/// The header that says, on every proxied answer, what the cache did ([`status`]).
pub static STATUS_HEADER: http::HeaderName = http::HeaderName::from_static("x-cache-status");

/// How many headers [`mark_answer`] adds, at most.
pub const ANSWER_HEADERS: usize = 3;

/// The gateway's own headers on every proxied answer: the request's id, how the cache
/// took part (`X-Cache-Status`) and, over an HTTPS portal (`https`), the portal's HSTS in
/// place of the legacy site's, which the adapters removed (a stored copy has none either).
pub fn mark_answer(
    headers: &mut http::HeaderMap,
    request_id: &crate::request_id::RequestId,
    cache_status: &'static str,
    https: bool,
) {
    headers.insert(
        crate::request_id::HEADER.clone(),
        request_id.header_value().clone(),
    );
    headers.insert(
        STATUS_HEADER.clone(),
        http::HeaderValue::from_static(cache_status),
    );
    if https {
        let (name, value) = crate::response::strict_transport_security();
        headers.insert(name, value);
    }
}

/// A stale copy may be served because of `error`. When the proxying itself failed (rather
/// than the legacy site answering with a 5xx), pingora ends the citizen's connection after
/// the copy. The copy must then say `Connection: close`: an answer that promised
/// `keep-alive` on a connection then dropped makes the client's next request on it fail.
pub fn stale_on_error(session: &mut pingora::proxy::Session, error: &pingora::Error) {
    if !matches!(error.etype(), pingora::ErrorType::HTTPStatus(_)) {
        session.set_keepalive(None);
    }
}

/// `X-Cache-Status` of a proxied answer: `HIT`, `MISS`, `EXPIRED`, `STALE`, `REVALIDATED`
/// or `BYPASS` (also for services whose cache is off).
pub fn status(use_: CacheUse, phase: CachePhase) -> &'static str {
    match use_ {
        CacheUse::Off | CacheUse::Bypass(_) => "BYPASS",
        CacheUse::Shared { .. } => match phase {
            CachePhase::Hit => "HIT",
            CachePhase::Stale | CachePhase::StaleUpdating => "STALE",
            CachePhase::Expired => "EXPIRED",
            CachePhase::Revalidated | CachePhase::RevalidatedNoCache(_) => "REVALIDATED",
            // Fetched from the site and not stored: still a miss, as nginx counts it.
            CachePhase::Miss | CachePhase::Disabled(_) => "MISS",
            _ => "BYPASS",
        },
    }
}

/// The storage reports to the process's metrics.
impl StorageEvents for crate::telemetry::Metrics {
    fn evicted(&self) {
        self.response_cache_evictions.inc();
    }

    fn l1_size(&self, bytes: u64, objects: u64) {
        self.response_cache_l1_bytes
            .set(i64::try_from(bytes).unwrap_or(i64::MAX));
        self.response_cache_l1_objects
            .set(i64::try_from(objects).unwrap_or(i64::MAX));
    }

    fn l2(&self, op: &'static str, result: &'static str) {
        self.response_cache_l2
            .with_label_values(&[op, result])
            .inc();
    }

    fn redis_nearly_full(&self, full: bool) {
        self.response_cache_redis_nearly_full.set(i64::from(full));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A service whose request rules rename nothing.
    const NONE_RENAMED: std::iter::Empty<&http::HeaderName> = std::iter::empty();

    /// A `GET /` carrying `headers`.
    fn asking(headers: &[(&str, &str)]) -> RequestHeader {
        let mut r = RequestHeader::build("GET", b"/", None).expect("req");
        for (name, value) in headers {
            r.append_header(name.to_string(), *value).expect("header");
        }
        r
    }

    /// A stored answer with no header but its status.
    fn stored_plain() -> CacheMeta {
        let now = std::time::SystemTime::now();
        let header = pingora::http::ResponseHeader::build(200, None).expect("header");
        CacheMeta::new(now, now, 0, 0, header)
    }

    /// A stored answer of `content_type`.
    fn stored_as(content_type: &str) -> CacheMeta {
        let mut meta = stored_plain();
        meta.response_header_mut()
            .append_header("content-type", content_type)
            .expect("type");
        meta
    }

    #[test]
    fn a_service_path_is_the_backend_path_under_its_root() {
        assert_eq!(service_path("/", "/a/b"), "/a/b");
        assert_eq!(service_path("/cnie", "/cnie/a"), "/a");
        assert_eq!(service_path("/cnie/", "/cnie"), "/");
        assert_eq!(service_path("/cnie", "/cniex/a"), "/cniex/a");
    }

    #[test]
    fn a_shared_fetch_asks_for_the_target_its_key_names() {
        let fetched = |target: &[u8]| {
            let mut req = RequestHeader::build("GET", target, None).expect("req");
            anonymise(&mut req, None, None);
            req.uri.to_string()
        };
        assert_eq!(fetched(b"/%64emande?n=%7e&q=%3d"), "/demande?n=~&q=%3D");
        assert_eq!(
            fetched(b"/a%2Fb?x=%41"),
            "/a%2Fb?x=A",
            "a separator stays escaped"
        );
        assert_eq!(fetched(b"/page?"), "/page?", "nothing to change: as asked");
        assert_eq!(
            fetched(b"/p%%35?x"),
            "/p%%35?x",
            "a malformed escape: as asked"
        );
    }

    #[test]
    fn a_request_whose_answer_may_be_shared_carries_nothing_free_a_citizen_wrote() {
        let mut req = RequestHeader::build("GET", b"/page", None).expect("req");
        for (name, value) in [
            ("accept", "text/html"),
            ("accept-language", "<script>alert(1)</script>"),
            ("user-agent", "Mozilla/5.0"),
            ("if-none-match", "\"v1\""),
            ("referer", "https://evil.example/<script>"),
            ("x-anything", "<img src=x onerror=alert(1)>"),
            ("origin", "https://evil.example"),
            ("dnt", "1"),
        ] {
            req.append_header(name, value).expect("header");
        }
        req.append_header("x-service-hint", "kept").expect("header");
        req.append_header("x-requested-with", "<b>xss")
            .expect("header");
        as_any_citizen(&mut req);
        let renamed = [http::HeaderName::from_static("x-service-hint")];
        ask_as_nobody(&mut req, renamed.iter());
        let mut left: Vec<&str> = req.headers.keys().map(http::HeaderName::as_str).collect();
        left.sort_unstable();
        assert_eq!(
            left,
            [
                "accept",
                "accept-language",
                "if-none-match",
                "origin",
                "user-agent",
                "x-requested-with",
                "x-service-hint"
            ]
        );
        assert_eq!(req.headers["user-agent"], SHARED_USER_AGENT);
        assert_eq!(req.headers["accept"], ACCEPT_CLASSES[0].1);
        assert_eq!(req.headers["x-requested-with"], "XMLHttpRequest");
        assert_eq!(req.headers["origin"], "https://evil.example");
        for bad in ["https://evil.example/<b>", "javascript:alert(1)", "x"] {
            let mut req = RequestHeader::build("GET", b"/", None).expect("req");
            req.append_header("origin", bad).expect("header");
            as_any_citizen(&mut req);
            assert!(req.headers.get("origin").is_none(), "{bad}");
        }
        assert_eq!(req.headers["accept-language"], "ar", "none of ours: Arabic");
    }

    #[test]
    fn a_shared_request_asks_in_the_accept_of_its_kind_of_fetch() {
        for (sent, asked) in [
            (
                "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8",
                0,
            ),
            ("TEXT/HTML<script>alert(1)</script>", 0),
            ("application/json, text/plain, */*", 1),
            ("application/ld+json", 1),
            // Chromium's, Firefox's and Safari's for an image (each names `svg+xml`).
            ("image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8", 2),
            ("image/avif,image/webp,image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5", 2),
            ("image/webp,image/avif,image/jxl,image/heic,image/heic-sequence,video/*;q=0.8,image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5", 2),
            ("text/css,*/*;q=0.1", 3),
            ("text/xml", 4),
            ("*/*", 5),
            ("call 0600000000 to claim your refund", 5),
        ] {
            let mut req = RequestHeader::build("GET", b"/", None).expect("req");
            req.append_header("accept", sent).expect("accept");
            as_any_citizen(&mut req);
            assert_eq!(req.headers["accept"], ACCEPT_CLASSES[asked].1, "{sent}");
        }
        let mut req = RequestHeader::build("GET", b"/", None).expect("req");
        as_any_citizen(&mut req);
        assert!(req.headers.get("accept").is_none(), "none sent, none asked");
    }

    #[test]
    fn a_range_of_no_byte_is_taken_out_so_the_cache_answers_416_not_an_empty_206() {
        for (sent, mended) in [
            ("bytes=-0", Some("bytes=")),
            ("bytes= -000 ", Some("bytes=")),
            ("bytes=0-1,-0", Some("bytes=0-1")),
            ("bytes=-0, 5-9", Some("bytes= 5-9")),
            ("bytes=-5", Some("bytes=-5")),
            ("bytes=0-0", Some("bytes=0-0")),
            ("items=-0", Some("items=-0")),
        ] {
            let mut req = RequestHeader::build("GET", b"/", None).expect("req");
            req.append_header("range", sent).expect("h");
            mend_range(&mut req);
            assert_eq!(
                req.headers.get("range").and_then(|v| v.to_str().ok()),
                mended,
                "{sent}"
            );
        }
    }

    #[test]
    fn a_shared_request_speaks_one_of_the_portals_four_languages() {
        for (sent, cookie, asked) in [
            ("fr-FR,fr;q=0.9,en;q=0.8", None, "fr"),
            ("en-GB", None, "en"),
            ("tzm, fr;q=0.5", None, "zgh, ar;q=0.8"),
            ("de, es", None, "ar"),
            ("fr", Some("egov_lang=en"), "en"),
        ] {
            let mut req = RequestHeader::build("GET", b"/", None).expect("req");
            req.append_header("accept-language", sent).expect("h");
            if let Some(c) = cookie {
                req.append_header("cookie", c).expect("h");
            }
            as_any_citizen(&mut req);
            assert_eq!(req.headers["accept-language"], asked, "{sent} {cookie:?}");
            assert_eq!(req.headers.get_all("accept-language").iter().count(), 1);
        }
    }

    #[test]
    fn the_variant_follows_the_headers_vary_names() {
        let mut stored = pingora::http::ResponseHeader::build(200, None).expect("header");
        stored
            .append_header("vary", "Accept-Language")
            .expect("vary");
        let now = std::time::SystemTime::now();
        let meta = CacheMeta::new(now, now, 0, 0, stored);
        let req = |lang: &str| {
            let mut r = RequestHeader::build("GET", b"/", None).expect("req");
            r.append_header("accept-language", lang).expect("h");
            r
        };
        let fr = variance(&meta, &req("fr"), None, NONE_RENAMED);
        assert_eq!(fr, variance(&meta, &req("fr"), None, NONE_RENAMED));
        assert_ne!(fr, variance(&meta, &req("ar"), None, NONE_RENAMED));
    }

    #[test]
    fn a_page_is_kept_per_language_without_vary_and_a_style_once() {
        let req = |lang: &str| {
            let mut r = RequestHeader::build("GET", b"/", None).expect("req");
            r.append_header("accept-language", lang).expect("h");
            r
        };
        let page = stored_as("text/html; charset=utf-8");
        let fr = variance(&page, &req("fr"), None, NONE_RENAMED);
        assert_ne!(fr, variance(&page, &req("ar"), None, NONE_RENAMED));
        assert_eq!(fr, variance(&page, &req("fr"), None, NONE_RENAMED));
        let style = stored_as("text/css");
        assert_eq!(
            variance(&style, &req("fr"), None, NONE_RENAMED),
            variance(&style, &req("ar"), None, NONE_RENAMED)
        );
    }

    /// From review: `Origin` is forwarded on a shared fetch; a site echoing it in
    /// `Access-Control-Allow-Origin` without `Vary: Origin` stored one caller's origin in
    /// everyone's answer.
    #[test]
    fn a_request_with_an_origin_is_its_own_variant_without_vary() {
        let meta = stored_plain();
        let req = |origin: Option<&str>| {
            let mut r = RequestHeader::build("GET", b"/api/data.json", None).expect("req");
            if let Some(o) = origin {
                r.append_header("origin", o).expect("origin");
            }
            r
        };
        let plain = variance(&meta, &req(None), None, NONE_RENAMED);
        assert_eq!(
            plain,
            variance(&meta, &req(None), None, NONE_RENAMED),
            "no origin, one answer"
        );
        let evil = variance(
            &meta,
            &req(Some("https://evil.example")),
            None,
            NONE_RENAMED,
        );
        let portal = variance(
            &meta,
            &req(Some("https://portail.gov.ma")),
            None,
            NONE_RENAMED,
        );
        assert_ne!(evil, portal);
        assert_ne!(evil, plain, "never the plain request's");
    }

    /// From the last read: the headers a service's rules rename reach a shared fetch (the
    /// site needs them); a site writing one into a public page without `Vary` stored one
    /// citizen's text for everyone.
    #[test]
    fn a_request_with_a_header_the_rules_rename_is_its_own_variant_without_vary() {
        let meta = stored_plain();
        let renamed = [http::HeaderName::from_static("x-citizen-note")];
        let req = |note: Option<&str>| {
            let mut r = RequestHeader::build("GET", b"/notice", None).expect("req");
            if let Some(n) = note {
                r.append_header("x-citizen-note", n).expect("note");
            }
            r
        };
        let plain = variance(&meta, &req(None), None, renamed.iter());
        let evil = variance(&meta, &req(Some("<script>")), None, renamed.iter());
        let kind = variance(&meta, &req(Some("hello")), None, renamed.iter());
        assert_ne!(evil, kind);
        assert_ne!(evil, plain, "never the plain request's");
        assert_eq!(
            evil,
            variance(&meta, &req(Some("<script>")), None, renamed.iter())
        );
        // A header no rule renames is not sent on a shared fetch at all: no variant.
        assert_eq!(
            variance(&meta, &req(Some("<script>")), None, NONE_RENAMED),
            plain
        );
    }

    /// From review: whether a request is for a page was read from the stored answer only,
    /// so a site answering JSON or a page by `Accept` at one address had a lookup (against
    /// the stored JSON) and a fill (the page) disagree, and each overwrote the other's slot.
    /// A request naming its kind gets one variant whatever is stored.
    #[test]
    fn a_requests_variant_does_not_depend_on_the_kind_of_answer_stored() {
        let (json, html) = (stored_as("application/json"), stored_as("text/html"));
        for accept in [ACCEPT_CLASSES[0].1, ACCEPT_CLASSES[1].1] {
            let mut req = RequestHeader::build("GET", b"/data", None).expect("req");
            req.append_header("accept", accept).expect("accept");
            req.append_header("accept-language", "fr").expect("lang");
            assert_eq!(
                variance(&json, &req, None, NONE_RENAMED),
                variance(&html, &req, None, NONE_RENAMED),
                "{accept}"
            );
        }
    }

    /// From review and a third cache probe: `X-Requested-With` is forwarded on a shared
    /// fetch, and a site answering it with a fragment without `Vary` stored the fragment
    /// for page loads.
    /// From review: a page saying `Vary: Cookie` was kept once per browser (each with its
    /// own analytics id), though the shared fetch carries no cookie.
    #[test]
    fn vary_on_a_header_the_site_is_never_sent_is_one_variant_whatever_its_value() {
        let mut meta = stored_plain();
        meta.response_header_mut()
            .append_header("vary", "X-Foo, Accept-Language")
            .expect("vary");
        let asked = |foo: &str, lang: &str| {
            let req = asking(&[("x-foo", foo), ("accept-language", lang)]);
            variance(&meta, &req, None, NONE_RENAMED)
        };
        assert_eq!(asked("a", "fr"), asked("b", "fr"));
        assert_ne!(
            asked("a", "fr"),
            asked("a", "ar"),
            "what the site is sent still varies"
        );
    }

    #[test]
    fn vary_on_cookie_is_one_variant_for_every_cookie_a_browser_holds() {
        let mut meta = stored_plain();
        meta.response_header_mut()
            .append_header("vary", "Cookie")
            .expect("vary");
        assert_eq!(
            variance(
                &meta,
                &asking(&[("cookie", "_ga=GA1.2.1")]),
                None,
                NONE_RENAMED
            ),
            variance(
                &meta,
                &asking(&[("cookie", "_ga=GA1.2.2")]),
                None,
                NONE_RENAMED
            )
        );
    }

    /// A hostile site's `Vary` naming a part of the gateway's own (`egov:lang`) cannot
    /// overwrite it: pages stay kept per language.
    #[test]
    fn a_vary_naming_the_gateways_own_parts_changes_nothing() {
        let mut meta = stored_as("text/html");
        meta.response_header_mut()
            .append_header("vary", "egov:lang, egov-lang, egov:")
            .expect("vary");
        let fr = variance(
            &meta,
            &asking(&[("accept-language", "fr")]),
            None,
            NONE_RENAMED,
        );
        let ar = variance(
            &meta,
            &asking(&[("accept-language", "ar")]),
            None,
            NONE_RENAMED,
        );
        assert_ne!(fr, ar);
    }

    #[test]
    fn an_ajax_request_is_its_own_variant() {
        let meta = stored_plain();
        assert_ne!(
            variance(&meta, &asking(&[]), None, NONE_RENAMED),
            variance(
                &meta,
                &asking(&[("x-requested-with", "XMLHttpRequest")]),
                None,
                NONE_RENAMED
            )
        );
    }

    #[test]
    fn each_portal_strip_variant_is_stored_apart_even_without_vary() {
        let meta = stored_plain();
        let req = RequestHeader::build("GET", b"/", None).expect("req");
        let plain = variance(&meta, &req, None, NONE_RENAMED);
        let arabic = variance(&meta, &req, Some(0), NONE_RENAMED);
        assert_ne!(arabic, plain);
        assert_ne!(arabic, variance(&meta, &req, Some(1), NONE_RENAMED));
        assert_eq!(arabic, variance(&meta, &req, Some(0), NONE_RENAMED));
    }
}
