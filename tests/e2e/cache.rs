//! The response cache in front of the simulated estate: HTTP semantics (hits, revalidation,
//! Vary, what is never stored), the per-service policy, stale answers while a site fails,
//! one fetch for a stampede, purges, two instances sharing Redis, Redis going away, and never
//! one citizen's page to another.
//!
//! The estate's `__estate/cacheable` answers with the caching headers a test asks for and
//! says how many times it really produced the page, so a hit is told from a fetch.

use egov_estate::RunningEstate;
use egov_gateway::demo::DemoKeys;
use egov_integration::admin::AdminApi;
use egov_integration::browser::Browser;
use egov_integration::redis::RedisServer;
use egov_integration::sso::{SsoOptions, SsoWorld, Store, Tweak};
use egov_integration::{client, set_failing, start_estate, Staged, TestGateway};
use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;

/// cnie-renewal: a public, windows-1256 site with absolute links (its pages are adapted).
const SERVICE: &str = "cnie-renewal";
const MINISTRY: &str = "interior";

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    fn cache(&self) -> &str {
        self.headers
            .get("x-cache-status")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-")
    }

    /// The estate's fetch number the page carries.
    fn fetch(&self) -> String {
        let start = self.body.find("fetch ").map(|i| i + 6).unwrap_or(0);
        self.body[start..]
            .split(' ')
            .next()
            .unwrap_or("")
            .to_string()
    }
}

async fn get(url: &str, headers: &[(&str, &str)]) -> Answer {
    let mut req = client().get(url);
    for (n, v) in headers {
        req = req.header(*n, *v);
    }
    let r = req.send().await.unwrap_or_else(|e| panic!("{url}: {e}"));
    let status = r.status();
    let headers = r.headers().clone();
    let body = r.text().await.unwrap_or_default();
    Answer {
        status,
        headers,
        body,
    }
}

/// How many times the estate really produced the page of `tag`.
async fn fetches(estate: &RunningEstate, tag: &str) -> u64 {
    let url = format!(
        "http://{}/cnie-renewal/__estate/fetches?tag={tag}",
        estate.addr()
    );
    let text = client()
        .get(url)
        .header("host", "www.cnie.ma")
        .send()
        .await
        .expect("estate")
        .text()
        .await
        .expect("text");
    text.trim().parse().expect("a number")
}

/// A `[cache]` table, after request rules that pass the citizen's `X-Citizen-Note` on as
/// `X-Note` (a header kept on a shared fetch).
const RENAMES_A_NOTE: &str = "[[adapters]]\nstep = \"headers\"\n[adapters.request.rename]\n\"x-citizen-note\" = \"x-note\"\n\n[cache]";

/// A gateway whose cnie-renewal service has the `[cache]` table `cache`.
fn gateway_with(estate: &RunningEstate, cache: &str) -> TestGateway {
    let staged = Staged::new(estate);
    staged.append_to_service(MINISTRY, SERVICE, cache);
    TestGateway::staged(estate, staged, |_| {})
}

/// The page of `tag` with `params` (already URL-encoded).
fn page(gateway: &TestGateway, tag: &str, params: &str) -> String {
    gateway.url(&format!(
        "/s/{SERVICE}/__estate/cacheable?tag={tag}&{params}"
    ))
}

#[tokio::test]
async fn a_second_request_is_a_hit_with_the_adapted_body_and_its_age() {
    let estate = start_estate(None);
    let g = gateway_with(&estate, "[cache]");
    let url = page(&g, "hit", "cc=max-age%3D60");
    assert!(
        g.registry
            .snapshot()
            .service(SERVICE)
            .expect("served")
            .cache
            .is_some(),
        "the policy is compiled"
    );
    let first = get(&url, &[]).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.cache(), "MISS");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let second = get(&url, &[]).await;
    assert_eq!(second.cache(), "HIT");
    assert_eq!(
        second.fetch(),
        first.fetch(),
        "the same page, not a new fetch"
    );
    assert_eq!(fetches(&estate, "hit").await, 1);
    let age: u64 = second.headers["age"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("a number");
    assert!(age >= 1, "Age says how long it was stored: {age}");
    // What was stored is the adapted page: UTF-8, whatever the site's charset.
    let ct = second.headers["content-type"].to_str().expect("ascii");
    assert!(ct.contains("utf-8"), "{ct}");
    // Counted per service and result.
    let metrics = g
        .metrics_showing(&[
            // The hit is counted once its answer is sent (pingora's logging phase), which can
            // be after the client has read it: wait for the count, not for the series.
            "egov_response_cache_requests_total{ministry=\"interior\",result=\"hit\",service=\"cnie-renewal\"} 1",
        ])
        .await;
    let counted = |result: &str| {
        metrics.lines().any(|l| {
            l.starts_with("egov_response_cache_requests_total{")
                && l.contains("service=\"cnie-renewal\"")
                && l.contains(&format!("result=\"{result}\""))
                && l.ends_with(" 1")
        })
    };
    assert!(counted("hit") && counted("miss"), "{metrics}");
    assert!(
        metrics.contains("egov_response_cache_l1_objects 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn an_expired_answer_is_revalidated_with_its_etag_and_a_304_makes_it_fresh_again() {
    let estate = start_estate(None);
    let g = gateway_with(&estate, "[cache]");
    let url = page(&g, "reval", "cc=max-age%3D1&etag=v1");
    assert_eq!(get(&url, &[]).await.cache(), "MISS");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let again = get(&url, &[]).await;
    assert_eq!(again.cache(), "REVALIDATED");
    assert_eq!(again.fetch(), "1", "the stored body, confirmed by a 304");
    assert_eq!(fetches(&estate, "reval").await, 1);
    assert_eq!(get(&url, &[]).await.cache(), "HIT");
}

/// A legacy site whose page is stored for a second, and whose revalidation `304` carries
/// `extra` and a cookie it plants: a hostile site. Its address; it lives as long as the
/// test process.
fn site_revalidating_with(extra: &'static str) -> std::net::SocketAddr {
    egov_integration::raw_http::answering_site(move |head| {
        let asks = String::from_utf8_lossy(head).to_ascii_lowercase();
        if asks.contains("if-none-match") {
            let mut a = b"HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\n\
                Cache-Control: max-age=1\r\nSet-Cookie: egov_session=planted; Path=/\r\n"
                .to_vec();
            a.extend_from_slice(extra.as_bytes());
            a.extend_from_slice(b"Connection: close\r\n\r\n");
            a
        } else {
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n\
              ETag: \"v1\"\r\nCache-Control: max-age=1\r\nConnection: close\r\n\r\nstored"
                .to_vec()
        }
    })
}

/// Found in review: a revalidation `304` whose header was over the limit was refused, and
/// pingora then served the stored page with that 304's header as it came: 200 KB and a
/// planted cookie, past every header rule. Then found by a bypass probe: the same through a
/// 304 with a transfer coding it may not have.
#[tokio::test]
async fn a_refused_revalidation_serves_the_stored_page_as_it_was() {
    let estate = start_estate(None);
    let huge: &'static str = Box::leak(
        (0..50)
            .map(|i| format!("X-Pad-{i}: {}\r\n", "p".repeat(4_000)))
            .collect::<String>()
            .into_boxed_str(),
    );
    for extra in [huge, "Transfer-Encoding: identity\r\n"] {
        let site = site_revalidating_with(extra);
        let staged = Staged::new(&estate);
        staged.append_to_service(MINISTRY, SERVICE, "[cache]");
        let g = TestGateway::staged(&estate, staged, |c| {
            egov_integration::backend_at(c, SERVICE, site.port())
        });
        let url = g.url(&format!("/s/{SERVICE}/page"));
        let first = get(&url, &[]).await;
        assert_eq!(
            (first.status, first.body.as_str()),
            (StatusCode::OK, "stored")
        );
        tokio::time::sleep(Duration::from_millis(2100)).await;
        let again = get(&url, &[]).await;
        let said = &extra[..extra.len().min(40)];
        assert_eq!(
            (again.status, again.body.as_str()),
            (StatusCode::OK, "stored"),
            "{said}"
        );
        assert!(again.headers.get("x-pad-0").is_none(), "{said}");
        assert!(again.headers.get("transfer-encoding").is_none(), "{said}");
        assert!(again.headers.get("set-cookie").is_none(), "{said}");
    }
}

/// Found when tried: a rewritten page is announced with a weak `ETag` (the same page, not
/// the same bytes), but the legacy `304` of its revalidation put its strong one back, and
/// the Arabic and French strips of one page then shared a strong validator for `If-Range`.
#[tokio::test]
async fn a_rewritten_page_keeps_its_weak_etag_through_a_revalidation() {
    let estate = start_estate(None);
    let g = gateway_with(&estate, "[cache]");
    let url = page(&g, "reval-weak", "cc=max-age%3D1&etag=v1");
    let etag = |a: &Answer| {
        a.headers
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let first = get(&url, &[]).await;
    assert_eq!(first.cache(), "MISS");
    assert_eq!(etag(&first).as_deref(), Some("W/\"v1\""));
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let again = get(&url, &[]).await;
    assert_eq!(again.cache(), "REVALIDATED");
    assert_eq!(etag(&again).as_deref(), Some("W/\"v1\""));
    assert_eq!(etag(&get(&url, &[]).await).as_deref(), Some("W/\"v1\""));
}

#[tokio::test]
async fn vary_keeps_one_variant_per_language() {
    let estate = start_estate(None);
    let g = gateway_with(&estate, "[cache]");
    let url = page(&g, "vary", "cc=max-age%3D60&vary=Accept-Language");
    let fr = [("accept-language", "fr")];
    let ar = [("accept-language", "ar")];
    assert_eq!(get(&url, &fr).await.cache(), "MISS");
    assert_eq!(get(&url, &ar).await.cache(), "MISS");
    let fr_again = get(&url, &fr).await;
    let ar_again = get(&url, &ar).await;
    assert_eq!(fr_again.cache(), "HIT");
    assert_eq!(ar_again.cache(), "HIT");
    assert!(fr_again.body.contains(">fr<"), "{}", fr_again.body);
    assert!(ar_again.body.contains(">ar<"), "{}", ar_again.body);
    assert_eq!(fetches(&estate, "vary").await, 2);
}

/// Found when tried (a citizen's probe of the demo): a cacheable page was fetched with
/// the first citizen's `Accept-Language` as he wrote it, which the key does not name. A site
/// that writes it into the page without `Vary` (as old sites choosing their language do)
/// stored his `<script>` for every citizen after him. The site is now asked in one of the
/// portal's four languages, whatever the browser sent.
#[tokio::test]
async fn a_header_the_key_does_not_name_cannot_put_one_citizens_text_into_the_stored_page() {
    let estate = start_estate(None);
    let g = gateway_with(&estate, "[cache]");
    let url = page(&g, "poison", "cc=public,max-age%3D600");
    let attacker = get(
        &url,
        &[("accept-language", "<script>alert(document.domain)</script>")],
    )
    .await;
    assert_eq!(attacker.cache(), "MISS");
    assert!(!attacker.body.contains("<script>"), "{}", attacker.body);
    assert!(
        attacker.body.contains("<p id=\"lang\">ar</p>"),
        "{}",
        attacker.body
    );
    let citizen = get(&url, &[]).await;
    assert_eq!(citizen.cache(), "HIT");
    assert!(!citizen.body.contains("<script>"), "{}", citizen.body);
    // A site that varies on the language keeps one variant per language of the portal,
    // not one per spelling a browser sends.
    let url = page(&g, "poison-vary", "cc=max-age%3D60&vary=Accept-Language");
    assert_eq!(
        get(&url, &[("accept-language", "fr-FR,fr;q=0.9")])
            .await
            .cache(),
        "MISS"
    );
    let fr = get(&url, &[("accept-language", "fr-CA, en;q=0.1")]).await;
    assert_eq!(fr.cache(), "HIT");
    assert!(fr.body.contains("<p id=\"lang\">fr</p>"), "{}", fr.body);
    assert_eq!(fetches(&estate, "poison-vary").await, 1);
}

/// Found in a hostile-citizen probe: a fetch whose answer is stored for everyone still
/// carried the first citizen's address (`X-Forwarded-For`), which a page saying "votre
/// adresse IP" without `Vary` would have shown every citizen after him. Such a fetch is
/// nobody's, and names no address.
#[tokio::test]
async fn a_shared_fetch_names_no_citizens_address() {
    let estate = start_estate(None);
    let g = gateway_with(&estate, "[cache]\ndefault_ttl = \"60s\"");
    let citizen: std::net::IpAddr = "127.0.0.9".parse().expect("address");
    let echo = |tag: &str| {
        let path = format!("/s/{SERVICE}/__estate/echo?tag={tag}");
        let answer = egov_integration::raw_http::get_from(citizen, g.addr, &path);
        let seen: serde_json::Value = serde_json::from_slice(&answer.body).expect("the echo");
        (answer.header("x-cache-status").map(str::to_string), seen)
    };
    let (cache, seen) = echo("address");
    assert_eq!(cache.as_deref(), Some("MISS"), "{seen}");
    let gateway = g.addr.ip().to_string();
    assert_eq!(
        seen["headers"]["x-forwarded-for"],
        serde_json::json!([gateway]),
        "{seen}"
    );
    assert!(seen["headers"].get("x-real-ip").is_none(), "{seen}");
    assert!(seen["headers"].get("forwarded").is_none(), "{seen}");
}

/// From the last read: a header the service's rules rename reaches a shared fetch (the
/// site needs it), and a site writing it into a public page without `Vary` stored the first
/// citizen's text for everyone. A request carrying one is now its own variant.
#[tokio::test]
async fn a_header_the_rules_rename_keeps_its_own_variant_of_a_shared_page() {
    let estate = start_estate(None);
    let g = gateway_with(&estate, RENAMES_A_NOTE);
    let url = page(&g, "renamed", "cc=public,max-age%3D600");
    let attacker = get(&url, &[("x-citizen-note", "<script>alert(1)</script>")]).await;
    assert_eq!(attacker.cache(), "MISS");
    let citizen = get(&url, &[]).await;
    assert_eq!(citizen.cache(), "MISS", "not the attacker's variant");
    assert_eq!(get(&url, &[]).await.cache(), "HIT");
    let same_note = get(&url, &[("x-citizen-note", "<script>alert(1)</script>")]).await;
    assert_eq!(
        same_note.cache(),
        "HIT",
        "the same note is the same variant"
    );
    assert_eq!(fetches(&estate, "renamed").await, 2);
}

/// Found when tried (a cache probe): `Accept` reached a shared fetch as the client wrote it,
/// and a site echoing it stored `text/html<script>…` for everyone. A shared fetch now asks
/// in one of a few `Accept` values, by what the client asked for, each its own variant.
#[tokio::test]
async fn a_shared_fetch_asks_in_one_of_a_few_accept_values_each_kept_apart() {
    let estate = start_estate(None);
    let g = gateway_with(&estate, "[cache]");
    let url = page(&g, "accept", "cc=public,max-age%3D600");
    let attacker = get(&url, &[("accept", "text/html<script>alert(1)</script>")]).await;
    assert_eq!(attacker.cache(), "MISS");
    assert!(!attacker.body.contains("<script>"), "{}", attacker.body);
    let document =
        "<p id=\"accept\">text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8</p>";
    assert!(attacker.body.contains(document), "{}", attacker.body);
    let browser = get(
        &url,
        &[("accept", "text/html,application/xhtml+xml,*/*;q=0.8")],
    )
    .await;
    assert_eq!(browser.cache(), "HIT", "the same class, the same answer");
    let ajax = get(&url, &[("accept", "application/json, text/plain, */*")]).await;
    assert_eq!(ajax.cache(), "MISS", "another class, its own variant");
    assert!(
        ajax.body
            .contains("<p id=\"accept\">application/json,*/*;q=0.8</p>"),
        "{}",
        ajax.body
    );
    assert_eq!(fetches(&estate, "accept").await, 2);
}

/// From review: pingora serves the primary slot to a request whose variant is none, and
/// the first answer stored fills it, whatever its variant. An answer that is no page (a
/// script, JSON) fetched first with a hostile `Origin`, a renamed header or another
/// `Accept` was every plain request's. The plain request is now a variant of its own.
#[tokio::test]
async fn a_plain_request_never_gets_the_variant_a_first_request_stored_of_an_answer_no_page() {
    let estate = start_estate(None);
    let g = gateway_with(&estate, RENAMES_A_NOTE);
    for (tag, first) in [
        ("first-origin", ("origin", "https://evil.example")),
        (
            "first-renamed",
            ("x-citizen-note", "<script>alert(1)</script>"),
        ),
        ("first-accept", ("accept", "application/json")),
    ] {
        let url = page(&g, tag, "cc=public,max-age%3D600&type=text/javascript");
        assert_eq!(get(&url, &[first]).await.cache(), "MISS", "{tag}");
        let plain = get(&url, &[]).await;
        assert_eq!(
            plain.cache(),
            "MISS",
            "{tag}: not the first request's variant"
        );
        assert_eq!(get(&url, &[]).await.cache(), "HIT", "{tag}");
        assert_eq!(get(&url, &[first]).await.cache(), "HIT", "{tag}");
        assert_eq!(fetches(&estate, tag).await, 2, "{tag}");
    }
}

/// Found when tried (a second probe): with the language one of four, the first citizen's
/// was still everyone's, for a site that picks it from `Accept-Language` without `Vary`. A
/// page is now kept per language of the portal; a style sheet once.
#[tokio::test]
async fn a_page_is_kept_per_language_of_the_portal_though_its_site_says_no_vary() {
    let estate = start_estate(None);
    let g = gateway_with(&estate, "[cache]");
    let url = page(&g, "by-language", "cc=public,max-age%3D600");
    // The language the citizen chose on the portal (its cookie is no legacy site's).
    let fr = get(&url, &[("cookie", "egov_lang=fr")]).await;
    assert_eq!(fr.cache(), "MISS");
    assert!(fr.body.contains("<p id=\"lang\">fr</p>"), "{}", fr.body);
    let ar = get(&url, &[]).await;
    assert_eq!(ar.cache(), "MISS", "Arabic is another variant");
    assert!(ar.body.contains("<p id=\"lang\">ar</p>"), "{}", ar.body);
    let again = get(&url, &[("accept-language", "fr")]).await;
    assert_eq!(again.cache(), "HIT");
    assert!(
        again.body.contains("<p id=\"lang\">fr</p>"),
        "{}",
        again.body
    );
    assert_eq!(fetches(&estate, "by-language").await, 2);
}

/// Found when tried: `Range: bytes=-0` (the last zero bytes, which no byte satisfies) got a
/// `206` of no byte with `Content-Range: bytes 2769-2768/2769` from the cache. It is a 416
/// that names the length; a suffix of five bytes is still served.
#[tokio::test]
async fn a_range_of_no_byte_gets_416_from_the_cache_and_a_real_suffix_its_bytes() {
    let estate = start_estate(None);
    let g = gateway_with(&estate, "[cache]");
    let url = page(&g, "suffix", "cc=public,max-age%3D600");
    let whole = get(&url, &[]).await;
    assert_eq!(whole.status, 200);
    let length = whole.body.len();
    let none = get(&url, &[("range", "bytes=-0")]).await;
    assert_eq!(none.status, 416, "{:?}", none.headers);
    assert_eq!(
        none.headers["content-range"],
        format!("bytes */{length}").as_str()
    );
    let tail = get(&url, &[("range", "bytes=-5")]).await;
    assert_eq!(tail.status, 206, "{:?}", tail.headers);
    assert_eq!(tail.body, whole.body[length - 5..]);
}

#[tokio::test]
async fn private_no_store_and_cookie_setting_answers_are_never_stored() {
    let estate = start_estate(None);
    let g = gateway_with(&estate, "[cache]\ndefault_ttl = \"60s\"");
    for (tag, params) in [
        ("private", "cc=private%2C%20max-age%3D60"),
        ("nostore", "cc=no-store"),
        ("cookie", "cc=max-age%3D60&cookie=1"),
    ] {
        let url = page(&g, tag, params);
        get(&url, &[]).await;
        let second = get(&url, &[]).await;
        assert_eq!(second.cache(), "MISS", "{tag}");
        assert_eq!(fetches(&estate, tag).await, 2, "{tag}");
    }
}

#[tokio::test]
async fn the_policy_caps_an_absurd_max_age() {
    let estate = start_estate(None);
    let g = gateway_with(&estate, "[cache]\nmax_ttl = \"1s\"");
    let url = page(&g, "cap", "cc=public%2C%20max-age%3D31536000");
    let miss = get(&url, &[]).await;
    assert_eq!(miss.cache(), "MISS");
    // The browser is told the cap on the miss too (it was told the site's year).
    assert_eq!(
        miss.headers.get("cache-control").map(|v| v.as_bytes()),
        Some(&b"public, max-age=1"[..])
    );
    assert_eq!(get(&url, &[]).await.cache(), "HIT");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let later = get(&url, &[]).await;
    assert_ne!(later.cache(), "HIT", "fresh for one second, not a year");
    assert_eq!(later.fetch(), "2");
}

#[tokio::test]
async fn a_default_ttl_covers_a_site_that_sends_no_cache_headers_and_only_then() {
    let estate = start_estate(None);
    let with_default = gateway_with(&estate, "[cache]\ndefault_ttl = \"60s\"");
    let url = page(&with_default, "silent", "");
    get(&url, &[]).await;
    assert_eq!(get(&url, &[]).await.cache(), "HIT");
    let without = gateway_with(&estate, "[cache]");
    let url = page(&without, "silent-nodefault", "");
    get(&url, &[]).await;
    assert_eq!(
        get(&url, &[]).await.cache(),
        "MISS",
        "no heuristic freshness"
    );
}

#[tokio::test]
async fn a_static_path_of_a_jsessionid_site_is_stored_without_its_cookie() {
    let estate = start_estate(None);
    let g = gateway_with(
        &estate,
        "[cache]\nstrip_set_cookie_paths = [\"/__estate/cacheable\"]",
    );
    let url = page(&g, "strip", "cc=max-age%3D60&cookie=1");
    let first = get(&url, &[]).await;
    assert!(first.headers.get("set-cookie").is_none());
    let second = get(&url, &[("cookie", "JSESSIONID=someone-elses")]).await;
    assert_eq!(second.cache(), "HIT", "its cookie makes no difference here");
    assert!(second.headers.get("set-cookie").is_none());
}

/// Found when tried (a cache probe): once an analytics script had set its cookie (`_ga`),
/// every request of a browser to a cached public service bypassed the cache. Those
/// cookies choose no page; alone, they no longer keep a request from the cache, and the
/// site still never gets them on a shared fetch.
#[tokio::test]
async fn analytics_cookies_alone_do_not_keep_a_request_from_the_cache() {
    let estate = start_estate(None);
    let g = gateway_with(&estate, "[cache]");
    let url = page(&g, "analytics", "cc=max-age%3D60");
    let tracked = [(
        "cookie",
        "_ga=GA1.2.111.222; _gid=GA1.2.333; _ga_X1Y2=GS1.1",
    )];
    let first = get(&url, &tracked).await;
    assert_eq!(first.cache(), "MISS");
    assert!(first.body.contains("cookie: no"), "{}", first.body);
    assert_eq!(get(&url, &tracked).await.cache(), "HIT");
    assert_eq!(get(&url, &[]).await.cache(), "HIT");
    let with_session = get(&url, &[("cookie", "_ga=GA1.2.111.222; JSESSIONID=mine")]).await;
    assert_eq!(
        with_session.cache(),
        "BYPASS",
        "a session cookie beside it still does"
    );
    // Found by a probe: behind a comma, an old parser reads another cookie.
    let hidden = get(&url, &[("cookie", "_ga=1, JSESSIONID=mine")]).await;
    assert_eq!(
        hidden.cache(),
        "BYPASS",
        "a session cookie in its value too"
    );
}

#[tokio::test]
async fn requests_with_the_citizens_own_credentials_or_cookies_bypass() {
    let estate = start_estate(None);
    let g = gateway_with(&estate, "[cache]");
    let url = page(&g, "creds", "cc=max-age%3D60");
    assert_eq!(get(&url, &[]).await.cache(), "MISS");
    let with_auth = get(&url, &[("authorization", "Basic YTpi")]).await;
    assert_eq!(with_auth.cache(), "BYPASS");
    assert!(with_auth.body.contains("authorization: yes"));
    let with_cookie = get(&url, &[("cookie", "JSESSIONID=mine")]).await;
    assert_eq!(with_cookie.cache(), "BYPASS");
    assert!(with_cookie.body.contains("cookie: yes"));
    // The stored page was asked for without either.
    let stored = get(&url, &[]).await;
    assert_eq!(stored.cache(), "HIT");
    assert!(stored.body.contains("cookie: no") && stored.body.contains("authorization: no"));
}

#[tokio::test]
async fn a_stale_copy_is_served_while_the_legacy_site_fails_and_only_within_its_window() {
    let estate = start_estate(None);
    let g = gateway_with(&estate, "[cache]\nstale_if_error = \"1h\"");
    let url = page(&g, "stale", "cc=max-age%3D1");
    let first = get(&url, &[]).await;
    set_failing(&estate, "stale", true).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let during = get(&url, &[]).await;
    assert_eq!(during.status, StatusCode::OK, "{}", during.body);
    assert_eq!(during.cache(), "STALE");
    assert_eq!(during.fetch(), first.fetch());
    assert!(during.headers.contains_key("age"));
    // Without a stale window the failure shows.
    let strict = gateway_with(&estate, "[cache]");
    let url = page(&strict, "strict", "cc=max-age%3D1");
    get(&url, &[]).await;
    set_failing(&estate, "strict", true).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(get(&url, &[]).await.status, StatusCode::SERVICE_UNAVAILABLE);
}

/// Found when tried: the refresh pingora makes in the background for a stale answer was
/// counted as a citizen's request (and logged with his address and bytes never sent), so
/// three requests showed as five.
#[tokio::test]
async fn a_background_refresh_is_no_citizens_request_in_the_metrics() {
    let estate = start_estate(None);
    let g = gateway_with(&estate, "[cache]\nstale_while_revalidate = \"30s\"");
    let url = page(&g, "swr", "cc=max-age%3D1");
    assert_eq!(get(&url, &[]).await.cache(), "MISS");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(get(&url, &[]).await.cache(), "STALE");
    let start = std::time::Instant::now();
    while fetches(&estate, "swr").await < 2 {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "no background refresh"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let counted = format!(
        "egov_http_requests_total{{class=\"2xx\",ministry=\"{MINISTRY}\",service=\"{SERVICE}\"}} "
    );
    let metrics = g.metrics_showing(&[&counted]).await;
    let line = metrics
        .lines()
        .find(|l| l.starts_with(&counted))
        .unwrap_or_default();
    assert_eq!(line, format!("{counted}2"), "{metrics}");
}

#[tokio::test]
async fn fifty_concurrent_misses_make_one_request_to_the_legacy_site() {
    let estate = start_estate(None);
    let g = gateway_with(&estate, "[cache]");
    let url = page(&g, "stampede", "cc=max-age%3D60&delay_ms=400");
    let all = futures_util::future::join_all((0..50).map(|_| get(&url, &[]))).await;
    assert!(all.iter().all(|a| a.status == StatusCode::OK));
    assert_eq!(fetches(&estate, "stampede").await, 1);
    assert!(all.iter().all(|a| a.fetch() == "1"));
}

/// Found when tried: behind a hung site, a miss waiting for another's fetch waited one
/// lock age, then competed to fetch again and waited anew, three times: citizens waited 25 s
/// for a 5 s `lock_timeout`. Now each waits `lock_timeout` in all, then asks the site itself
/// (nginx's `proxy_cache_lock_timeout`).
#[tokio::test(flavor = "multi_thread")]
async fn a_miss_waits_for_anothers_fetch_at_most_the_lock_timeout() {
    let estate = start_estate(None);
    let site = egov_integration::raw_http::SilentSite::start();
    let port = site.port;
    let staged = Staged::new(&estate);
    staged.append_to_service(MINISTRY, SERVICE, "[cache]");
    let g = TestGateway::staged(&estate, staged, move |c| {
        c.gateway.cache.lock_timeout = Duration::from_secs(2);
        egov_integration::backend_at(c, SERVICE, port);
        egov_integration::service_mut(c, SERVICE)
            .upstream
            .timeouts
            .read = Duration::from_secs(20);
    });
    let url = g.url(&format!("/s/{SERVICE}/hung"));
    let misses = futures_util::future::join_all((0..6).map(|_| get(&url, &[])));
    // None is ever answered; what counts is when each reached the site.
    let _ = tokio::time::timeout(Duration::from_secs(5), misses).await;
    let arrivals = site.arrivals();
    assert_eq!(
        arrivals.len(),
        6,
        "every citizen's request reached the site"
    );
    let last = arrivals[arrivals.len() - 1].duration_since(arrivals[0]);
    // One lock timeout (2 s) after the first fetch; three lock ages would be 6 s.
    assert!(
        last < Duration::from_millis(3500),
        "the last waiter reached the site {last:?} after the first fetch"
    );
}

#[tokio::test]
async fn a_service_without_a_cache_table_is_never_cached() {
    let estate = start_estate(None);
    let g = TestGateway::in_front_of(&estate);
    let url = page(&g, "off", "cc=max-age%3D60");
    get(&url, &[]).await;
    let second = get(&url, &[]).await;
    assert_eq!(second.cache(), "BYPASS");
    assert_eq!(fetches(&estate, "off").await, 2);
}

fn api(gateway: &TestGateway, keys: &DemoKeys, ministry: &str) -> AdminApi {
    AdminApi::new(gateway.admin, Some(&keys.ministries[ministry]))
}

#[tokio::test]
async fn a_ministry_purges_one_url_or_its_whole_service_and_no_other_ministrys() {
    let estate = start_estate(None);
    let staged = Staged::new(&estate);
    staged.append_to_service(MINISTRY, SERVICE, "[cache]");
    let keys = staged.admin_keys();
    let g = TestGateway::staged(&estate, staged, |_| {});
    let one = page(&g, "purge-one", "cc=max-age%3D600");
    let two = page(&g, "purge-two", "cc=max-age%3D600");
    for u in [&one, &two] {
        get(u, &[]).await;
        assert_eq!(get(u, &[]).await.cache(), "HIT");
    }
    let refused = api(&g, &keys, "justice")
        .post(&format!("/services/{SERVICE}/purge"), &json!({}))
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(get(&one, &[]).await.cache(), "HIT", "nothing purged");
    let by_url = api(&g, &keys, MINISTRY)
        .post(
            &format!("/services/{SERVICE}/purge"),
            &json!({ "paths": ["/__estate/cacheable?tag=purge-one&cc=max-age%3D600"] }),
        )
        .await;
    assert_eq!(by_url.status, StatusCode::OK, "{}", by_url.body);
    assert_eq!(by_url.body["found"], 1);
    assert_eq!(get(&one, &[]).await.cache(), "MISS");
    assert_eq!(get(&two, &[]).await.cache(), "HIT");
    // Paths no request could have, or too many of them: 422, nothing purged.
    for bad in [
        json!({ "paths": ["no-slash"] }),
        json!({ "paths": ["/a/../b"] }),
        json!({ "paths": ["/a%2fb"] }),
        json!({ "paths": vec!["/x"; 101] }),
    ] {
        let refused = api(&g, &keys, MINISTRY)
            .post(&format!("/services/{SERVICE}/purge"), &bad)
            .await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        assert!(!refused.pointers().is_empty(), "{}", refused.body);
    }
    assert_eq!(get(&two, &[]).await.cache(), "HIT");
    let all = api(&g, &keys, MINISTRY)
        .post(&format!("/services/{SERVICE}/purge"), &json!({}))
        .await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.body);
    assert_eq!(get(&two, &[]).await.cache(), "MISS");
}

/// Found when tried: `%7E` and `~`, `%3d` and `%3D` name the same resource (RFC 3986
/// §6.2.2), yet each spelling was its own stored page and a purge reached only the one it
/// was written in; the others were served for their whole lifetime.
#[tokio::test]
async fn a_url_purge_reaches_every_spelling_of_its_escapes() {
    let estate = start_estate(None);
    let staged = Staged::new(&estate);
    staged.append_to_service(MINISTRY, SERVICE, "[cache]");
    let keys = staged.admin_keys();
    let g = TestGateway::staged(&estate, staged, |_| {});
    let lower = page(&g, "spelt", "cc=max-age%3d600&n=%7e");
    let upper = page(&g, "spelt", "cc=max-age%3D600&n=~");
    assert_eq!(get(&lower, &[]).await.cache(), "MISS");
    assert_eq!(
        get(&upper, &[]).await.cache(),
        "HIT",
        "one page, two spellings"
    );
    let purged = api(&g, &keys, MINISTRY)
        .post(
            &format!("/services/{SERVICE}/purge"),
            &json!({ "paths": ["/__estate/cache%61ble?tag=spelt&cc=max-age%3D600&n=%7E"] }),
        )
        .await;
    assert_eq!(purged.status, StatusCode::OK, "{}", purged.body);
    assert_eq!(purged.body["found"], 1, "{}", purged.body);
    assert_eq!(get(&lower, &[]).await.cache(), "MISS");
    assert_eq!(fetches(&estate, "spelt").await, 2);
}

/// Found when tried (a cache probe): the key reads `/%64emande` as `/demande`, but the site
/// was asked `/%64emande`. A site that does not decode escapes answered 404, which a
/// service with `default_ttl` stored under the key of the real page: one request, and the
/// public form was a 404 for everyone until it expired. The shared fetch now asks for what
/// the key names.
#[tokio::test]
async fn a_spelling_a_site_does_not_decode_cannot_store_another_answer_for_the_page() {
    let estate = start_estate(None);
    let g = gateway_with(&estate, "[cache]\ndefault_ttl = \"5m\"");
    let spelt = g.url(&format!("/s/{SERVICE}/__estate/c%61cheable?tag=undecoded"));
    let attacker = get(&spelt, &[]).await;
    let plain = g.url(&format!("/s/{SERVICE}/__estate/cacheable?tag=undecoded"));
    let citizen = get(&plain, &[]).await;
    assert_eq!(citizen.status, StatusCode::OK, "{}", citizen.body);
    assert_eq!(citizen.cache(), "HIT");
    assert_eq!(attacker.status, StatusCode::OK, "one page, asked once");
    assert_eq!(fetches(&estate, "undecoded").await, 1);
}

/// The page of `tag` on `fetching`, which its site takes 1.5 s to send, purged through
/// `purging` half a second into that fetch; the page's address once the fetch has ended
/// (the first the site answered).
async fn purged_while_fetched(
    fetching: &TestGateway,
    purging: &TestGateway,
    keys: &DemoKeys,
    tag: &str,
) -> String {
    let params = "cc=max-age%3D600&delay_ms=1500";
    let url = page(fetching, tag, params);
    let slow = {
        let url = url.clone();
        tokio::spawn(async move { get(&url, &[]).await })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let purged = api(purging, keys, MINISTRY)
        .post(
            &format!("/services/{SERVICE}/purge"),
            &json!({ "paths": [format!("/__estate/cacheable?tag={tag}&{params}")] }),
        )
        .await;
    assert_eq!(purged.status, StatusCode::OK, "{}", purged.body);
    let slow = slow.await.expect("the slow fetch");
    assert_eq!((slow.cache(), slow.fetch()), ("MISS", "1".to_string()));
    url
}

/// Found by a cache probe: a page the site took seconds to send, purged meanwhile, was
/// stored once its fetch ended and served as it was for the next ten minutes, while the
/// purge had answered `found: 0`. A fill begun before its URL's purge is not kept.
#[tokio::test]
async fn a_fill_on_its_way_when_its_url_is_purged_is_not_kept() {
    let estate = start_estate(None);
    let staged = Staged::new(&estate);
    staged.append_to_service(MINISTRY, SERVICE, "[cache]");
    let keys = staged.admin_keys();
    let g = TestGateway::staged(&estate, staged, |_| {});
    let url = purged_while_fetched(&g, &g, &keys, "purge-race").await;
    // Before the purge's second pass (`cache::purge`, 2 s after it).
    let after = get(&url, &[]).await;
    assert_eq!(
        after.cache(),
        "MISS",
        "the fill from before the purge was not kept"
    );
    assert_eq!(after.fetch(), "2");
    // Past the second pass, which also deletes what was stored in between: stored again.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    get(&url, &[]).await;
    assert_eq!(get(&url, &[]).await.cache(), "HIT");
}

/// Found when tried: a ministry stored a year-long page, deleted its service, and another
/// ministry's service registered under the same id was answered with that page (its own
/// site never asked, its one-minute cap ignored).
#[tokio::test]
async fn a_re_registered_id_is_answered_by_its_new_site_not_the_old_ones_stored_pages() {
    let estate = start_estate(None);
    let staged = Staged::new(&estate);
    let keys = staged.admin_keys();
    let g = TestGateway::staged(&estate, staged, |_| {});
    // Each on a site of its own ministry's: none may be placed inside another ministry's
    // service's path on the estate's shared server.
    let doc = |ministry: &str, max_ttl: Option<&str>, path: &str, host: &str| {
        let mut cache = json!({});
        if let Some(t) = max_ttl {
            cache["max_ttl"] = json!(t);
        }
        json!({
            "id": "reborn",
            "ministry": ministry,
            "category": "identity",
            "access": "public",
            "names": { "ar": "خدمة", "fr": "Service", "en": "Service" },
            "descriptions": { "ar": "خدمة للتجربة.", "fr": "Un service d'essai.", "en": "A test service." },
            "legacy": { "hostname": "reborn.legacy.gov.ma" },
            "upstream": { "url": format!("http://{}{path}", estate.addr()), "host": host },
            "cache": cache,
        })
    };
    let url = g.url("/s/reborn/__estate/cacheable?tag=reborn&cc=max-age%3D31536000");
    let created = api(&g, &keys, MINISTRY)
        .post(
            "/services",
            &doc(MINISTRY, None, "/cnie-renewal", "www.cnie.ma"),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(get(&url, &[]).await.cache(), "MISS");
    assert_eq!(get(&url, &[]).await.cache(), "HIT");
    let deleted = api(&g, &keys, MINISTRY).delete("/services/reborn").await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.body);
    let again = api(&g, &keys, "justice")
        .post(
            "/services",
            &doc("justice", Some("1m"), "", "www.mahakim.ma"),
        )
        .await;
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.body);
    let answer = get(&url, &[]).await;
    assert_eq!(answer.cache(), "MISS", "{}", answer.body);
    assert_eq!(answer.fetch(), "2", "the new service's site was asked");
    let stored = get(&url, &[]).await;
    assert_eq!(stored.cache(), "HIT");
    assert_eq!(
        stored.headers["cache-control"], "public, max-age=60",
        "the new service's cap"
    );
}

/// Found when tried: a page reflecting an `ignore_query` parameter was stored with it and
/// served to everyone asking without it.
#[tokio::test]
async fn an_ignored_parameter_is_neither_in_the_key_nor_sent_to_the_site() {
    let estate = start_estate(None);
    let g = gateway_with(&estate, "[cache]\nignore_query = [\"utm_source\"]");
    let with = page(&g, "ignored", "cc=max-age%3D600&utm_source=planted");
    let first = get(&with, &[]).await;
    assert_eq!(first.cache(), "MISS");
    assert!(
        first
            .body
            .contains("query: tag=ignored&amp;cc=max-age%3D600<"),
        "{}",
        first.body
    );
    let without = get(&page(&g, "ignored", "cc=max-age%3D600"), &[]).await;
    assert_eq!(without.cache(), "HIT");
    assert!(!without.body.contains("planted"), "{}", without.body);
}

/// Found when tried: a `GET` with a body was stored, and the page its body chose served to
/// everyone.
#[tokio::test]
async fn a_get_with_a_body_bypasses_the_cache() {
    let estate = start_estate(None);
    let g = gateway_with(&estate, "[cache]");
    let url = page(&g, "fat-get", "cc=max-age%3D600");
    let fat = client()
        .get(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("q=planted")
        .send()
        .await
        .expect("fat GET");
    assert_eq!(fat.status(), StatusCode::OK);
    assert_eq!(fat.headers()["x-cache-status"], "BYPASS");
    assert_eq!(get(&url, &[]).await.cache(), "MISS", "nothing was stored");
}

/// Two instances whose caches share one `redis-server` (L2 and purges).
fn pair(estate: &RunningEstate, redis: &RedisServer) -> (TestGateway, TestGateway, DemoKeys) {
    let first = Staged::new(estate);
    first.append_to_service(MINISTRY, SERVICE, "[cache]");
    let keys = first.admin_keys();
    let second = Staged::new(estate);
    second.share_keys_of(&first);
    second.append_to_service(MINISTRY, SERVICE, "[cache]");
    let start = |staged: Staged| {
        let url = redis.url();
        TestGateway::staged(estate, staged, |c| {
            c.gateway.redis = Some(egov_gateway::config::RedisSettings::new(vec![url]));
            c.gateway.cache.shared = true;
        })
    };
    (start(first), start(second), keys)
}

/// The cache status of `url` once it is `want` (an L2 write lands just after the answer).
async fn eventually(url: &str, want: &str) -> Answer {
    for _ in 0..50 {
        let a = get(url, &[]).await;
        if a.cache() == want {
            return a;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    get(url, &[]).await
}

#[tokio::test]
async fn two_instances_share_stored_answers_and_a_purge_on_one_is_seen_by_both() {
    let estate = start_estate(None);
    let redis = RedisServer::start();
    let (a, b, keys) = pair(&estate, &redis);
    let on_a = page(&a, "pair", "cc=max-age%3D600");
    let on_b = page(&b, "pair", "cc=max-age%3D600");
    let first = get(&on_a, &[]).await;
    assert_eq!(first.cache(), "MISS");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let from_b = get(&on_b, &[]).await;
    assert_eq!(from_b.cache(), "HIT", "B read A's answer from Redis");
    assert_eq!(from_b.fetch(), first.fetch());
    assert_eq!(fetches(&estate, "pair").await, 1);
    let purged = api(&b, &keys, MINISTRY)
        .post(&format!("/services/{SERVICE}/purge"), &json!({}))
        .await;
    assert_eq!(purged.status, StatusCode::OK, "{}", purged.body);
    // A learns of B's purge from Redis.
    let after = eventually(&on_a, "MISS").await;
    assert_eq!(after.cache(), "MISS");
    assert_eq!(fetches(&estate, "pair").await, 2);
}

/// Found when tried: a purge made in the second after another instance's subscription to
/// Redis broke (a Redis restart, a network blip) was missed by it until its periodic
/// catch-up, 30 s later; the ministry had been told "purged".
#[tokio::test]
async fn a_purge_made_while_another_instance_resubscribes_reaches_it() {
    let estate = start_estate(None);
    let redis = RedisServer::start();
    let (a, b, keys) = pair(&estate, &redis);
    let on_a = page(&a, "gap", "cc=max-age%3D600");
    assert_eq!(get(&on_a, &[]).await.cache(), "MISS");
    assert_eq!(eventually(&on_a, "HIT").await.cache(), "HIT");
    redis
        .command(&["CLIENT", "KILL", "TYPE", "pubsub"])
        .expect("the subscriptions cut");
    // After A has noticed (its feed's end) and before it subscribes again, a second later.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let purged = api(&b, &keys, MINISTRY)
        .post(&format!("/services/{SERVICE}/purge"), &json!({}))
        .await;
    assert_eq!(purged.status, StatusCode::OK, "{}", purged.body);
    let after = eventually(&on_a, "MISS").await;
    assert_eq!(after.cache(), "MISS", "A served the purged page");
}

/// The purge of a URL through one instance while another fetches it, on a real
/// `redis-server`: the instance fetching hears of the purge and does not keep the fill
/// from before it.
#[tokio::test]
async fn a_fill_on_another_instance_when_its_url_is_purged_is_not_kept() {
    let estate = start_estate(None);
    let redis = RedisServer::start();
    let (a, b, keys) = pair(&estate, &redis);
    let on_a = purged_while_fetched(&a, &b, &keys, "pair-race").await;
    // At once, before the purge's second pass (2 s after it) could delete anything.
    let again = get(&on_a, &[]).await;
    assert_eq!(
        again.cache(),
        "MISS",
        "A did not keep the fill from before the purge"
    );
    assert_eq!(again.fetch(), "2");
}

#[tokio::test]
async fn with_redis_gone_every_request_succeeds_from_memory_and_redis_is_used_again_when_back() {
    let estate = start_estate(None);
    let mut redis = RedisServer::start();
    let (a, b, _) = pair(&estate, &redis);
    let cached = page(&a, "gone", "cc=max-age%3D600");
    get(&cached, &[]).await;
    redis.stop();
    for i in 0..20 {
        let url = page(&a, &format!("gone-{i}"), "cc=max-age%3D600");
        let answer = get(&url, &[]).await;
        assert_eq!(answer.status, StatusCode::OK, "{i}");
    }
    assert_eq!(get(&cached, &[]).await.cache(), "HIT", "L1 still serves");
    redis.restart();
    // Back: an answer stored through A reaches B again, without a restart.
    let mut shared = false;
    for k in 0..40 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let tag = format!("back-{k}");
        get(&page(&a, &tag, "cc=max-age%3D600"), &[]).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        if get(&page(&b, &tag, "cc=max-age%3D600"), &[]).await.cache() == "HIT" {
            shared = true;
            break;
        }
    }
    assert!(shared, "L2 is used again after Redis came back");
}

/// criminal-record-extract: a citizen service (its site is told who the citizen is).
const CITIZEN_SERVICE: &str = "criminal-record-extract";

/// The citizen service with a `[cache]` whose public paths are `public_paths`.
fn citizen_cache(public_paths: &'static [&'static str]) -> Tweak {
    Box::new(move |c: &mut egov_gateway::config::Config| {
        let s = egov_integration::service_mut(c, CITIZEN_SERVICE);
        s.cache = egov_gateway::config::ServiceCache {
            enabled: true,
            public_paths: public_paths.iter().map(|p| p.to_string()).collect(),
            ..Default::default()
        };
        c.gateway.cache.shared = c.gateway.redis.is_some();
    })
}

/// `browser`'s answer for the citizen service's cacheable page of `tag` on `gateway`.
async fn citizen_page(gateway: &TestGateway, browser: &Browser, tag: &str) -> Answer {
    let r = browser
        .get(gateway.url(&format!(
            "/s/{CITIZEN_SERVICE}/__estate/cacheable?tag={tag}&cc=public%2C%20max-age%3D600"
        )))
        .await;
    let status = r.status();
    let headers = r.headers().clone();
    let body = r.text().await.unwrap_or_default();
    Answer {
        status,
        headers,
        body,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn citizen_b_never_receives_citizen_a_s_page_even_when_the_site_says_public() {
    let mut options = SsoOptions::new(Store::Memory);
    // Nothing of the service is marked public: its pages may be personal.
    options.tweak = Some(citizen_cache(&["/aide/**"]));
    let world = SsoWorld::start(options);
    let (amina, youssef) = (Browser::new(), Browser::new());
    world
        .login(&amina, "/s/criminal-record-extract/", "amina")
        .await;
    world
        .login(&youssef, "/s/criminal-record-extract/", "youssef")
        .await;
    let a = citizen_page(&world.gateway, &amina, "personal").await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.body.contains("identity: yes"), "{}", a.body);
    assert_eq!(a.cache(), "BYPASS");
    let b = citizen_page(&world.gateway, &youssef, "personal").await;
    assert_eq!(b.cache(), "BYPASS");
    assert_eq!(b.fetch(), "2", "Youssef's own page, fetched for him");
}

/// Found when tried: a signed-in citizen's page went to the browser with the site's
/// `public, max-age`, and after the citizen logged out the next person at the computer typed
/// the address and read it from the browser's cache.
#[tokio::test(flavor = "multi_thread")]
async fn a_signed_in_citizens_page_leaves_private_whatever_the_site_says() {
    let world = SsoWorld::start(SsoOptions::new(Store::Memory));
    let amina = Browser::new();
    world
        .login(&amina, "/s/criminal-record-extract/", "amina")
        .await;
    let page = citizen_page(&world.gateway, &amina, "mine").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("identity: yes"), "{}", page.body);
    assert_eq!(
        page.headers.get("cache-control").map(|v| v.as_bytes()),
        Some(&b"private, no-store"[..]),
        "{:?}",
        page.headers
    );
    assert!(page.headers.get("expires").is_none(), "{:?}", page.headers);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_public_path_of_a_citizen_service_is_stored_as_nobodys_page_on_every_instance() {
    let mut options = SsoOptions::new(Store::Redis);
    options.tweak = Some(citizen_cache(&["/__estate/cacheable"]));
    let world = SsoWorld::start(options);
    let second = world.second_instance_with(Some(citizen_cache(&["/__estate/cacheable"])));
    let (amina, youssef) = (Browser::new(), Browser::new());
    world
        .login(&amina, "/s/criminal-record-extract/", "amina")
        .await;
    let a = citizen_page(&world.gateway, &amina, "public").await;
    assert_eq!(a.cache(), "MISS");
    assert!(
        a.body.contains("identity: no") && a.body.contains("cookie: no"),
        "a page that will be shared is asked for as nobody: {}",
        a.body
    );
    // Youssef (his session is in Redis too) browses the other instance and gets the shared
    // page: nothing of Amina is in it.
    world
        .login(&youssef, "/s/criminal-record-extract/", "youssef")
        .await;
    let mut b = citizen_page(&second, &youssef, "public").await;
    for _ in 0..20 {
        if b.cache() == "HIT" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        b = citizen_page(&second, &youssef, "public").await;
    }
    assert_eq!(b.cache(), "HIT");
    assert_eq!(b.fetch(), a.fetch());
    assert!(b.body.contains("identity: no"));
}

#[tokio::test]
async fn a_forged_host_is_refused_and_never_ends_up_in_a_stored_page() {
    let estate = start_estate(None);
    let g = gateway_with(&estate, "[cache]");
    let url = page(&g, "host", "cc=max-age%3D600");
    let forged = get(&url, &[("host", "attacker.example")]).await;
    assert_eq!(forged.status, StatusCode::MISDIRECTED_REQUEST);
    let first = get(&url, &[]).await;
    assert_eq!(first.status, StatusCode::OK);
    let next = get(&url, &[]).await;
    assert_eq!(next.cache(), "HIT");
    assert!(!next.body.contains("attacker.example"));
}

#[tokio::test]
async fn url_override_headers_never_reach_the_site_on_a_request_whose_answer_is_shared() {
    let estate = start_estate(None);
    let g = gateway_with(&estate, "[cache]");
    let url = page(&g, "override", "cc=max-age%3D600");
    let poisoned = get(
        &url,
        &[
            ("x-original-url", "/admin"),
            ("x-http-method-override", "DELETE"),
        ],
    )
    .await;
    assert!(
        poisoned.body.contains("url override: no"),
        "{}",
        poisoned.body
    );
}

/// Found when tried: a `JSESSIONID` a citizen service's site first set on a page the cache
/// may share (a public path, asked as nobody) went to the signed-in citizen unbound to her
/// session, so it reached the site beside the next citizen's identity at the same computer.
#[tokio::test(flavor = "multi_thread")]
async fn a_cookie_set_on_a_shared_page_of_a_citizen_service_is_bound_to_the_citizens_session() {
    let mut options = SsoOptions::new(Store::Memory);
    options.tweak = Some(citizen_cache(&["/__estate/headers"]));
    let world = SsoWorld::start(options);
    let amina = Browser::new();
    world
        .login(&amina, "/s/criminal-record-extract/", "amina")
        .await;
    let page = amina
        .get(world.gateway.url(&format!(
            "/s/{CITIZEN_SERVICE}/__estate/headers?set=set-cookie%3AJSESSIONID%3Damina%3B%20Path%3D%2F"
        )))
        .await;
    assert_eq!(page.status(), StatusCode::OK);
    let cache = page
        .headers()
        .get("x-cache-status")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    assert_eq!(
        cache.as_deref(),
        Some("MISS"),
        "asked as nobody, for the cache"
    );
    let set: Vec<String> = page
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_string))
        .collect();
    assert!(
        set.iter().any(|c| c.starts_with("egov_bound_JSESSIONID=")),
        "{set:?}"
    );
}

/// A gateway whose cnie-renewal is cached, with L2 in `redis` and `shared_size` bytes of
/// room there.
fn cached_through(estate: &RunningEstate, redis: &RedisServer, shared_size: usize) -> TestGateway {
    let staged = Staged::new(estate);
    staged.append_to_service(MINISTRY, SERVICE, "[cache]");
    let url = redis.url();
    TestGateway::staged(estate, staged, move |c| {
        c.gateway.redis = Some(egov_gateway::config::RedisSettings::new(vec![url]));
        c.gateway.cache.shared = true;
        c.gateway.cache.shared_size = shared_size;
    })
}

/// The bytes the response cache's entries (`egov:rc:*`) hold in `redis`.
fn cache_bytes_in(redis: &RedisServer) -> u64 {
    redis
        .records_of(&["rc"])
        .iter()
        .map(|(key, _)| {
            redis
                .command(&["STRLEN", key])
                .ok()
                .and_then(|v| redis::from_redis_value::<u64>(v).ok())
                .unwrap_or(0)
        })
        .sum()
}

#[tokio::test]
async fn a_flood_of_one_off_urls_cannot_fill_the_redis_that_holds_sessions() {
    // Found when tried: every miss went to the Redis that holds sessions and must not
    // evict; a flood of one-off URLs of a cached public service filled it, and every
    // session write (every login) was then refused.
    let estate = start_estate(None);
    let redis = RedisServer::start();
    let gateway = cached_through(&estate, &redis, 1 << 20);
    // Room for the sessions' few records and 1.5 MB more, never evicting (as in production).
    let limit = (egov_integration::redis::used_memory(redis.addr()) + (3 << 19)).to_string();
    redis
        .command(&["CONFIG", "SET", "maxmemory", &limit])
        .expect("maxmemory");
    redis
        .command(&["CONFIG", "SET", "maxmemory-policy", "noeviction"])
        .expect("noeviction");
    for i in 0..120 {
        let answer = get(
            &page(
                &gateway,
                &format!("flood-{i}"),
                "cc=max-age%3D600&pad=20000",
            ),
            &[],
        )
        .await;
        assert_eq!(answer.status, StatusCode::OK, "{i}");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    redis
        .command(&["SET", "egov:a-session", "still written"])
        .expect("Redis still takes a session's write after the flood");
    let held = cache_bytes_in(&redis);
    assert!(
        held > 128 << 10 && held <= 256 << 10,
        "120 pages of 20 kB (2.4 MB) hold {held} bytes of Redis: a quarter of 1 MiB at most"
    );
    // Another ministry's cached service still has its room.
    let other =
        gateway.url("/s/customs-tariff-lookup/__estate/cacheable?tag=other&cc=max-age%3D600");
    assert_eq!(get(&other, &[]).await.status, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        cache_bytes_in(&redis) > held,
        "the other ministry's page reached Redis"
    );
    // The flooded service's last pages are still served from this instance's memory.
    let last = page(&gateway, "flood-119", "cc=max-age%3D600&pad=20000");
    assert_eq!(get(&last, &[]).await.cache(), "HIT");
}

#[tokio::test]
async fn a_gateway_writes_no_page_to_a_redis_already_nearly_full_of_others() {
    // Found in review: the room is counted by each process, and a restarted one (or one of
    // many) started from nothing while Redis still held others' pages.
    let estate = start_estate(None);
    let redis = RedisServer::start();
    let limit = egov_integration::redis::used_memory(redis.addr()) + (3 << 19);
    redis
        .command(&["CONFIG", "SET", "maxmemory", &limit.to_string()])
        .expect("maxmemory");
    redis
        .command(&["CONFIG", "SET", "maxmemory-policy", "noeviction"])
        .expect("noeviction");
    // Others' writes: Redis at 92 % of its limit.
    let filler = "x".repeat(16 << 10);
    for i in 0.. {
        if egov_integration::redis::used_memory(redis.addr()) >= limit / 100 * 92 {
            break;
        }
        redis
            .command(&["SET", &format!("egov:rc:other-{i}"), &filler])
            .expect("filler");
    }
    let gateway = cached_through(&estate, &redis, 256 << 20);
    for i in 0..40 {
        let answer = get(
            &page(&gateway, &format!("late-{i}"), "cc=max-age%3D600&pad=10000"),
            &[],
        )
        .await;
        assert_eq!(answer.status, StatusCode::OK, "{i}");
        assert_eq!(answer.cache(), "MISS", "{i}");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Found in the last read: the process's first pages went to Redis before its first
    // look at how full Redis was came back.
    let written: Vec<String> = redis
        .records_of(&["rc"])
        .into_iter()
        .map(|(key, _)| key)
        .filter(|key| !key.starts_with("egov:rc:other-"))
        .collect();
    assert!(written.is_empty(), "pages written: {written:?}");
    redis
        .command(&["SET", "egov:a-session", "still written"])
        .expect("Redis still takes a session's write");
    let full = "egov_response_cache_l2_operations_total{op=\"write\",result=\"full\"}";
    let nearly_full = "egov_response_cache_redis_nearly_full";
    let metrics = gateway
        .metrics_showing(&[full, &format!("\n{nearly_full} 1")])
        .await;
    assert!(metrics.contains(full), "the refused writes are counted");
    // What the SRE's alert reads: the writes' refusals mix this with the services' shares.
    assert_eq!(
        egov_integration::metric_value(&metrics, nearly_full),
        Some(1),
        "the guard's state is published"
    );
}
