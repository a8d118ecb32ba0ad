//! Each legacy service on its own browser origin (`http://<id>.localhost:<port>` here), one
//! login across all of them: routing, adapters and the one-time code hop, against the real
//! OpenID provider and, for two instances, a real Redis.

use egov_gateway::config::Config;
use egov_integration::browser::{redirect_target, Browser};
use egov_integration::sso::{SsoOptions, SsoWorld, Store};
use egov_integration::{all_public, origin_client, own_origins, start_estate, TestGateway};
use serde_json::Value;
use std::time::Duration;

fn on_own_origins(c: &mut Config) {
    all_public(c);
    own_origins(c);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_service_answers_on_its_own_origin_with_its_path_unchanged() {
    let estate = start_estate(None);
    let gw = TestGateway::with(&estate, on_own_origins);
    let http = origin_client(gw.addr);
    let echo: Value = http
        .get(gw.origin_url("cnie-renewal", "/__estate/echo?x=1"))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(echo["site"], "cnie-renewal", "{echo}");
    let path = echo["path"].as_str().expect("path");
    assert!(path.ends_with("/__estate/echo"), "{echo}");
    let unknown = http
        .get(gw.origin_url("no-such-service", "/"))
        .send()
        .await
        .expect("request");
    assert_eq!(unknown.status(), 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_portal_path_and_a_legacy_host_redirect_to_the_services_own_origin() {
    let estate = start_estate(None);
    let gw = TestGateway::with(&estate, on_own_origins);
    let http = origin_client(gw.addr);
    let old = http
        .get(gw.url("/s/cnie-renewal/renouvellement?etape=2"))
        .send()
        .await
        .expect("request");
    assert_eq!(old.status(), 301);
    assert_eq!(
        old.headers()["location"],
        gw.origin_url("cnie-renewal", "/renouvellement?etape=2")
            .as_str()
    );
    let legacy = http
        .get(gw.url("/cnie-renewal/renouvellement"))
        .header("host", "www.cnie.ma")
        .send()
        .await
        .expect("request");
    assert_eq!(legacy.status(), 301);
    assert_eq!(
        legacy.headers()["location"],
        gw.origin_url("cnie-renewal", "/renouvellement").as_str()
    );
}

/// A form posted to an old address (a legacy page's absolute `action`, a bookmark, a
/// script) keeps its method and body: a 301 made browsers send it again as a GET, without
/// the file (found when tried).
#[tokio::test(flavor = "multi_thread")]
async fn a_post_to_an_old_address_is_redirected_with_308_so_it_stays_a_post() {
    let estate = start_estate(None);
    let gw = TestGateway::with(&estate, on_own_origins);
    let http = origin_client(gw.addr);
    let old = http
        .post(gw.url("/s/cnie-renewal/depot"))
        .body("scan=...")
        .send()
        .await
        .expect("request");
    assert_eq!(old.status(), 308);
    assert_eq!(
        old.headers()["location"],
        gw.origin_url("cnie-renewal", "/depot").as_str()
    );
    let legacy = http
        .put(gw.url("/cnie-renewal/depot"))
        .header("host", "www.cnie.ma")
        .body("scan=...")
        .send()
        .await
        .expect("request");
    assert_eq!(legacy.status(), 308);
    assert_eq!(
        legacy.headers()["location"],
        gw.origin_url("cnie-renewal", "/depot").as_str()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn on_its_origin_a_legacy_pages_links_to_itself_are_root_relative() {
    let estate = start_estate(None);
    let gw = TestGateway::with(&estate, on_own_origins);
    let page = origin_client(gw.addr)
        .get(gw.origin_url("cnie-renewal", "/"))
        .send()
        .await
        .expect("request");
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("html");
    assert!(
        !html.contains("www.cnie.ma"),
        "a legacy host survived:\n{html}"
    );
    assert!(
        !html.contains("href=\"/s/"),
        "a portal path on a service origin:\n{html}"
    );
    assert!(html.contains("href=\"/"), "no root-relative link:\n{html}");
}

/// Found when tried: a site writing root-relative links preloads its logo from code
/// (`onload="MM_preloadImages('/birth-certificate-full-copy/img/logo.gif')"`), and its
/// origin answered that path, the base written twice upstream, with a 404 on every page.
#[tokio::test(flavor = "multi_thread")]
async fn on_its_origin_a_path_a_legacy_page_preloads_from_code_is_found() {
    let estate = start_estate(None);
    let gw = TestGateway::with(&estate, on_own_origins);
    let http = origin_client(gw.addr);
    let page = http
        .get(gw.origin_url("birth-certificate-full-copy", "/"))
        .send()
        .await
        .expect("request");
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("html");
    let preloaded = html
        .split("MM_preloadImages('")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .unwrap_or_else(|| panic!("no preload in:\n{html}"));
    assert_eq!(preloaded, "/img/logo.gif", "{html}");
    let logo = http
        .get(gw.origin_url("birth-certificate-full-copy", preloaded))
        .send()
        .await
        .expect("request");
    assert_eq!(logo.status(), 200, "the preloaded {preloaded}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_legacy_self_redirect_stays_on_the_services_origin() {
    let estate = start_estate(None);
    let gw = TestGateway::with(&estate, on_own_origins);
    let resp = origin_client(gw.addr)
        .get(gw.origin_url("cnie-first-application", "/"))
        .send()
        .await
        .expect("request");
    if resp.status().is_redirection() {
        let location = resp.headers()["location"].to_str().expect("ascii");
        assert!(
            location.starts_with('/')
                && !location.starts_with("/s/")
                && !location.contains("cnie.ma"),
            "{location}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn legacy_cookies_are_host_only_on_the_services_origin() {
    let estate = start_estate(None);
    let gw = TestGateway::with(&estate, on_own_origins);
    let resp = origin_client(gw.addr)
        .get(gw.origin_url("birth-certificate-full-copy", "/"))
        .send()
        .await
        .expect("request");
    let cookies: Vec<&str> = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().expect("ascii"))
        .collect();
    assert!(!cookies.is_empty(), "the legacy site sets cookies");
    for c in &cookies {
        assert!(!c.to_ascii_lowercase().contains("domain="), "{c}");
        assert!(!c.contains("Path=/s/"), "{c}");
    }
}

/// The service whose legacy pages carry the portal strip in the shipped catalog.
const WITH_STRIP: &str = "onee-electricity-bill";

/// The `lang` attribute of the portal strip on `html`, if it has one.
fn strip_lang(html: &str) -> Option<&str> {
    let strip = &html[html.find("id=\"egov-strip\"")?..];
    let lang = &strip[strip.find("lang=\"")? + 6..];
    lang.split('"').next()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_language_read_on_the_portal_goes_with_the_citizen_to_a_services_own_origin() {
    let estate = start_estate(None);
    let gw = TestGateway::with(&estate, on_own_origins);
    let browser = Browser::resolving_service_origins(gw.addr);
    // Her browser asks for Arabic; she chooses French on the portal.
    let chosen = browser
        .get(gw.url(&format!("/lang?set=fr&back=/services/{WITH_STRIP}")))
        .await;
    assert_eq!(chosen.status(), 303);
    let page = browser.follow(chosen).await.text().await.expect("html");
    let start = page
        .split("class=\"button\" href=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no way into the service:\n{page}"))
        .replace("&amp;", "&");
    assert_eq!(
        start,
        gw.origin_url(WITH_STRIP, "/__egov/lang?set=fr&back=%2F")
    );
    let (landed, seen) = browser.follow_from(&start, None).await;
    assert_eq!(landed.status(), 200, "{seen:?}");
    assert_eq!(seen.last().map(|u| u.path()), Some("/"), "{seen:?}");
    let html = landed.text().await.expect("html");
    assert_eq!(strip_lang(&html), Some("fr"), "{html}");
    // Remembered on that origin: the next visit there, straight from a bookmark, too.
    let again = browser.get(gw.origin_url(WITH_STRIP, "/")).await;
    let html = again.text().await.expect("html");
    assert_eq!(strip_lang(&html), Some("fr"), "{html}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_services_origin_remembers_only_a_language_of_ours_and_goes_back_only_to_itself() {
    let estate = start_estate(None);
    let gw = TestGateway::with(&estate, on_own_origins);
    let http = origin_client(gw.addr);
    let switch = |query: &str| gw.origin_url(WITH_STRIP, &format!("/__egov/lang?{query}"));
    let unknown = http
        .get(switch("set=xx&back=%2F"))
        .send()
        .await
        .expect("request");
    assert_eq!(unknown.status(), 400);
    assert!(unknown.headers().get("set-cookie").is_none());
    for elsewhere in [
        "%2F%2Fevil.example%2F",
        "https%3A%2F%2Fevil.example%2F",
        "%2F%5Cevil.example",
    ] {
        let answer = http
            .get(switch(&format!("set=en&back={elsewhere}")))
            .send()
            .await
            .expect("request");
        assert_eq!(answer.status(), 303, "{elsewhere}");
        assert_eq!(answer.headers()["location"], "/", "{elsewhere}");
        let cookie = answer.headers()["set-cookie"].to_str().expect("ascii");
        assert!(cookie.starts_with("egov_lang=en;"), "{cookie}");
        assert!(!cookie.to_ascii_lowercase().contains("domain="), "{cookie}");
    }
}

/// Found when tried: a citizen who opened a service from a bookmark read its strip in her
/// browser's language with no way to change it. The strip links the other languages to the
/// origin's switcher, which, without `back`, returns to the page it was pressed on (only a
/// page of that same origin).
#[tokio::test(flavor = "multi_thread")]
async fn the_strips_language_links_come_back_to_the_page_they_were_pressed_on() {
    let estate = start_estate(None);
    let gw = TestGateway::with(&estate, on_own_origins);
    let http = origin_client(gw.addr);
    let html = http
        .get(gw.origin_url(WITH_STRIP, "/"))
        .header("accept-language", "fr")
        .send()
        .await
        .expect("request")
        .text()
        .await
        .expect("page");
    assert_eq!(strip_lang(&html), Some("fr"), "{html}");
    assert!(html.contains("href=\"/__egov/lang?set=zgh\""), "{html}");
    let switch = |referer: String| {
        let http = http.clone();
        let url = gw.origin_url(WITH_STRIP, "/__egov/lang?set=zgh");
        async move {
            let answer = http
                .get(url)
                .header("referer", referer)
                .send()
                .await
                .expect("request");
            assert_eq!(answer.status(), 303);
            let cookie = answer.headers()["set-cookie"].to_str().expect("ascii");
            assert!(cookie.starts_with("egov_lang=zgh;"), "{cookie}");
            answer.headers()["location"]
                .to_str()
                .expect("ascii")
                .to_string()
        }
    };
    assert_eq!(
        switch(gw.origin_url(WITH_STRIP, "/demande?x=1#top")).await,
        "/demande?x=1"
    );
    assert_eq!(switch(gw.origin_url("cnie-renewal", "/demande")).await, "/");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_answer_the_gateway_writes_carries_the_security_headers() {
    let estate = start_estate(None);
    let gw = TestGateway::with(&estate, on_own_origins);
    let http = origin_client(gw.addr);
    // The portal's pages are never framed; an error page only by a page of its own origin
    // (a legacy site of frames shows it where the failed page would have been).
    for (url, framed_by) in [
        (gw.url("/"), "'none'"),
        (gw.url("/s/no-such-service/"), "'self'"),
        (gw.url("/auth/session"), "'none'"),
        (gw.origin_url("no-such-service", "/"), "'self'"),
    ] {
        let resp = http.get(&url).send().await.expect("request");
        let csp = resp
            .headers()
            .get("content-security-policy")
            .unwrap_or_else(|| panic!("{url}: no CSP"))
            .to_str()
            .expect("ascii");
        assert!(csp.contains("script-src 'self';"), "{url}: {csp}");
        assert!(
            csp.ends_with(&format!("frame-ancestors {framed_by}")),
            "{url}: {csp}"
        );
        let frames = if framed_by == "'none'" {
            "DENY"
        } else {
            "SAMEORIGIN"
        };
        assert_eq!(resp.headers()["x-frame-options"], frames, "{url}");
        assert_eq!(resp.headers()["x-content-type-options"], "nosniff", "{url}");
        assert!(resp.headers().contains_key("referrer-policy"), "{url}");
    }
}

/// The SSO world with every service on its own origin.
fn world(store: Store) -> SsoWorld {
    let mut options = SsoOptions::new(store);
    options.tweak = Some(Box::new(own_origins));
    SsoWorld::start(options)
}

/// Visits `url` (a citizen service on its own origin) and follows every redirect: through
/// the portal's hop, and at the first visit through the provider's login too. Returns the
/// final page and whether the provider was involved.
async fn visit(world: &SsoWorld, browser: &Browser, url: &str) -> (reqwest::Response, bool) {
    visit_as(world, browser, url, "amina").await
}

/// [`visit`], signing in as `citizen` when the provider asks.
async fn visit_as(
    world: &SsoWorld,
    browser: &Browser,
    url: &str,
    citizen: &str,
) -> (reqwest::Response, bool) {
    let provider = world.provider.issuer().to_string();
    let (resp, seen) = browser.follow_from(url, Some(&provider)).await;
    if !seen
        .last()
        .is_some_and(|u| u.as_str().starts_with(&provider))
    {
        return (resp, false);
    }
    let authorize = seen.last().expect("a URL").as_str().to_string();
    let callback = browser
        .oidc_provider_login(&authorize, citizen, "any-password")
        .await;
    let (resp, _) = browser.follow_from(callback.as_str(), None).await;
    (resp, true)
}

async fn whoami(resp: reqwest::Response) -> Value {
    assert_eq!(resp.status(), 200, "{}", resp.url());
    resp.json().await.expect("whoami is JSON")
}

const CITIZEN_SERVICES: [&str; 3] = [
    "onee-electricity-bill",
    "tax-certificates",
    "university-housing",
];

#[tokio::test(flavor = "multi_thread")]
async fn one_login_serves_three_citizen_services_on_three_origins() {
    let world = world(Store::Memory);
    let browser = Browser::resolving_service_origins(world.gateway.addr);
    for (i, service) in CITIZEN_SERVICES.iter().enumerate() {
        let url = world.gateway.origin_url(service, "/__estate/whoami");
        let (page, provider) = visit(&world, &browser, &url).await;
        assert_eq!(
            provider,
            i == 0,
            "{service}: the provider is seen at the first login only"
        );
        assert_eq!(page.url().as_str(), url, "not back on {service}'s origin");
        let me = whoami(page).await;
        assert_eq!(me["verified"], true, "{service}: {me}");
        assert!(me["claims"]["sub"].is_string(), "{service}: {me}");
    }
    let issued = world
        .gateway
        .metrics_showing(&[r#"egov_sso_origin_codes_total{result="accepted"} 3"#])
        .await;
    assert!(
        issued.contains(r#"egov_sso_origin_codes_total{result="accepted"} 3"#),
        "{issued}"
    );
}

/// Found when tried: a citizen who chose Amazigh on the portal and then opened a service
/// from a bookmark read its strip (and its refusals) in her browser's language: the
/// language cookie is the portal origin's alone. The way in through the portal's hop now
/// carries it to the service's origin, unless that origin has one of its own.
#[tokio::test(flavor = "multi_thread")]
async fn the_language_chosen_on_the_portal_reaches_a_service_opened_from_a_bookmark() {
    let world = world(Store::Memory);
    let browser = Browser::resolving_service_origins(world.gateway.addr);
    let chose = browser
        .get(world.gateway.url("/lang?set=zgh&back=%2F"))
        .await;
    assert_eq!(chose.status(), 303);
    let url = world.gateway.origin_url(WITH_STRIP, "/");
    let (page, provider) = visit(&world, &browser, &url).await;
    assert!(provider, "the citizen logged in on the way");
    assert_eq!(page.url().as_str(), url);
    let html = page.text().await.expect("page");
    assert_eq!(strip_lang(&html), Some("zgh"), "{html}");
}

/// Logs in and visits every citizen service through `gateway_url`'s instance.
async fn signed_in_everywhere(world: &SsoWorld, browser: &Browser) {
    for service in CITIZEN_SERVICES {
        let (page, _) = visit(
            world,
            browser,
            &world.gateway.origin_url(service, "/__estate/whoami"),
        )
        .await;
        assert_eq!(whoami(page).await["verified"], true, "{service}");
    }
}

/// Asserts that every citizen service, through the instance on `port`, asks for login again
/// (is sent to the portal's hop, not served).
async fn every_origin_asks_for_login_again(browser: &Browser, port: u16) {
    for service in CITIZEN_SERVICES {
        let url = format!("http://{service}.localhost:{port}/__estate/echo");
        let resp = browser.get(&url).await;
        assert_eq!(resp.status(), 302, "{service} still served after logout");
        let to = redirect_target(&resp);
        assert_eq!(to.path(), "/auth/hop", "{service}: {to}");
    }
}

/// Found in a browser probe: after a logout, Back showed the service pages the citizen had
/// opened (her dossier, her identity's claims) from the browser's back/forward cache, which
/// keeps even `no-store` pages while their own origin's cookies are unchanged: the logout
/// had ended only the portal's. It now goes through every service origin she opened, the
/// latest last, ending its session cookie there, and then where a logout ends.
#[tokio::test(flavor = "multi_thread")]
async fn a_logout_goes_through_every_origin_the_citizen_opened_and_ends_its_cookie_there() {
    let world = world(Store::Memory);
    let browser = Browser::resolving_service_origins(world.gateway.addr);
    signed_in_everywhere(&world, &browser).await;
    let out = browser.logout(&world.gateway.url("/auth/logout")).await;
    assert_eq!(out.status(), 303);
    let (steps, next) = browser.through_the_origins(&out).await;
    let mut ended = Vec::new();
    for (url, step) in &steps {
        let cleared = step.get_all("set-cookie").iter().any(|c| {
            c.to_str()
                .is_ok_and(|c| c.starts_with("egov_session=; Max-Age=0"))
        });
        assert!(cleared, "{url}: {step:?}");
        assert_eq!(step["clear-site-data"], "\"cache\"", "{url}");
        ended.push(url.host_str().unwrap_or_default().to_string());
    }
    let opened: Vec<String> = CITIZEN_SERVICES
        .iter()
        .map(|s| format!("{s}.localhost"))
        .collect();
    assert_eq!(ended, opened);
    assert!(
        next.as_str().starts_with(world.provider.issuer()),
        "then the provider's logout: {next}"
    );
}

/// Found in a bypass probe: anonymous requests that spent a service's `rate_total` (its
/// site's capacity) stopped every citizen's logout at that origin with a 429, her other
/// origins still signed in. The gateway's own answers on an origin spend none of it.
#[tokio::test(flavor = "multi_thread")]
async fn a_logout_goes_through_an_origin_whose_site_is_at_its_rate() {
    let mut options = SsoOptions::new(Store::Memory);
    options.tweak = Some(Box::new(|c: &mut Config| {
        own_origins(c);
        egov_integration::service_mut(c, "tax-certificates")
            .limits
            .rate_total = Some(egov_gateway::config::Rate {
            count: 6,
            per: Duration::from_secs(600),
        });
    }));
    let world = SsoWorld::start(options);
    let browser = Browser::resolving_service_origins(world.gateway.addr);
    signed_in_everywhere(&world, &browser).await;
    let anonymous = origin_client(world.gateway.addr);
    let url = world.gateway.origin_url("tax-certificates", "/");
    let mut spent = false;
    for _ in 0..10 {
        let status = anonymous.get(&url).send().await.expect("request").status();
        spent |= status == 429;
    }
    assert!(spent, "the service's rate was never reached");
    let out = browser.logout(&world.gateway.url("/auth/logout")).await;
    let (steps, next) = browser.through_the_origins(&out).await;
    assert_eq!(steps.len(), CITIZEN_SERVICES.len(), "one step an origin");
    assert!(next.as_str().starts_with(world.provider.issuer()), "{next}");
}

/// Found in a browser probe: on most services the only logout a citizen sees is the legacy
/// site's own "Déconnexion", which ended the site's session and left her signed in at the
/// portal and on every service. A page named in `[identity] logout_paths` is the portal's
/// logout page, asked of her on the service's origin and under the portal's path alike.
#[tokio::test(flavor = "multi_thread")]
async fn a_legacy_sites_own_logout_link_leads_to_the_portals_logout() {
    let world = world(Store::Memory);
    let browser = Browser::resolving_service_origins(world.gateway.addr);
    signed_in_everywhere(&world, &browser).await;
    let logout = world.gateway.url("/auth/logout");
    let on_origin = browser
        .get(world.gateway.origin_url("tax-certificates", "/deconnexion"))
        .await;
    assert_eq!(on_origin.status(), 302);
    assert_eq!(redirect_target(&on_origin).as_str(), logout);
    // As a Java site writes it into its links.
    let with_parameter = browser
        .get(
            world
                .gateway
                .origin_url("tax-certificates", "/deconnexion;jsessionid=A1B2"),
        )
        .await;
    assert_eq!(redirect_target(&with_parameter).as_str(), logout);
    // A page of the site that is not its logout still reaches it.
    let page = browser
        .get(
            world
                .gateway
                .origin_url("tax-certificates", "/deconnexion/aide"),
        )
        .await;
    assert_ne!(
        redirect_target_or_none(&page).as_deref(),
        Some(logout.as_str())
    );
    // The logout page itself: her session, its button.
    let page = browser.get(&logout).await;
    assert_eq!(page.status(), 200);
    assert!(page
        .text()
        .await
        .unwrap_or_default()
        .contains("name=\"csrf\""));
}

/// Where `answer` redirects, if it does.
fn redirect_target_or_none(answer: &reqwest::Response) -> Option<String> {
    answer
        .status()
        .is_redirection()
        .then(|| redirect_target(answer).to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn one_logout_ends_every_origin_session_on_every_instance() {
    one_logout_ends_every_origin_session_on_every_instance_of(Store::Redis).await;
}

/// The same on a Redis Cluster: origin sessions, their index under the portal session and
/// the revocation all live on whichever shard their keys hash to.
#[tokio::test(flavor = "multi_thread")]
async fn on_a_redis_cluster_one_logout_ends_every_origin_session_on_every_instance() {
    one_logout_ends_every_origin_session_on_every_instance_of(Store::Cluster).await;
}

async fn one_logout_ends_every_origin_session_on_every_instance_of(store: Store) {
    let world = world(store);
    let other = world.second_instance_with(Some(Box::new(own_origins)));
    let browser = Browser::resolving_service_origins(world.gateway.addr);
    signed_in_everywhere(&world, &browser).await;
    // The same hosts on the other instance (a load balancer's view): still signed in. (The
    // echo, not whoami: each test instance signs assertions with keys of its own.)
    let probe = browser
        .get(format!(
            "http://{}.localhost:{}/__estate/echo",
            CITIZEN_SERVICES[0],
            other.addr.port()
        ))
        .await;
    assert_eq!(
        probe.status(),
        200,
        "the other instance does not share the sessions"
    );

    // RP-initiated logout at the portal of the first instance: there, at once.
    let logout = browser.logout(&world.gateway.url("/auth/logout")).await;
    assert_eq!(logout.status(), 303);
    every_origin_asks_for_login_again(&browser, world.gateway.addr.port()).await;
    // The other instance hears of it on the Redis revocation feed, a moment later.
    wait_for_the_revocation_to_reach(&browser, other.addr.port()).await;
    every_origin_asks_for_login_again(&browser, other.addr.port()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_back_channel_logout_ends_every_origin_session_on_every_instance() {
    let world = world(Store::Redis);
    let other = world.second_instance_with(Some(Box::new(own_origins)));
    let browser = Browser::resolving_service_origins(world.gateway.addr);
    signed_in_everywhere(&world, &browser).await;
    // The citizen logs out at the provider, which tells the gateway over the back channel.
    let end = format!("{}/session/end", world.provider.issuer());
    browser.oidc_provider_logout(&end).await;
    assert!(
        world
            .provider
            .wait_for_log("backchannel.success", Duration::from_secs(10)),
        "the provider did not deliver the logout token:\n{}",
        world.provider.logs()
    );
    wait_for_the_revocation_to_reach(&browser, other.addr.port()).await;
    every_origin_asks_for_login_again(&browser, other.addr.port()).await;
}

/// Waits (up to 10 s) until the instance on `port` no longer serves the first citizen
/// service's origin session: a revocation made elsewhere reaches an instance's session cache
/// through the Redis revocation feed, asynchronously (the cache's 5 s lifetime bounds it if
/// the feed is down).
async fn wait_for_the_revocation_to_reach(browser: &Browser, port: u16) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let resp = browser
            .get(format!(
                "http://{}.localhost:{port}/__estate/echo",
                CITIZEN_SERVICES[0]
            ))
            .await;
        if resp.status() == 302 {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the logout never reached the origin sessions on the instance on port {port}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A one-time code for `service`'s origin, issued to the signed-in `browser` by the portal,
/// not yet exchanged: asked for as a browser does, from the service's origin (which gives
/// the browser the nonce the code is bound to).
async fn code_for(world: &SsoWorld, browser: &Browser, service: &str) -> String {
    let start = browser
        .get(world.gateway.origin_url(service, "/__estate/whoami"))
        .await;
    assert_eq!(start.status(), 302, "{service} served without a session");
    let hop_url = redirect_target(&start);
    assert_eq!(hop_url.path(), "/auth/hop");
    let hop = browser.get(hop_url).await;
    assert_eq!(hop.status(), 302);
    let to = redirect_target(&hop);
    assert_eq!(to.host_str(), Some(format!("{service}.localhost").as_str()));
    to.query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("a code")
}

/// Login CSRF across origins: a signed-in attacker mints a code for a service and has a
/// victim's browser open it. Unbound, the victim's session on that origin became his (the
/// legacy site then saw his identity in her browser). Bound to the nonce of the browser
/// that asked for it, the code is burnt and she stays herself.
#[tokio::test(flavor = "multi_thread")]
async fn a_code_minted_by_another_citizen_gives_the_victims_browser_nothing() {
    let world = world(Store::Memory);
    let service = CITIZEN_SERVICES[0];
    let whoami_url = world.gateway.origin_url(service, "/__estate/whoami");
    let victim = Browser::resolving_service_origins(world.gateway.addr);
    let (page, _) = visit(&world, &victim, &whoami_url).await;
    let before = whoami(page).await;
    let attacker = Browser::resolving_service_origins(world.gateway.addr);
    let elsewhere = world
        .gateway
        .origin_url(CITIZEN_SERVICES[1], "/__estate/whoami");
    let (his, _) = visit_as(&world, &attacker, &elsewhere, "youssef").await;
    assert!(
        whoami(his).await["claims"]["sub"].is_string(),
        "he is signed in"
    );
    let code = code_for(&world, &attacker, service).await;
    let planted = victim
        .get(
            world
                .gateway
                .origin_url(service, &format!("/__egov/session?code={code}")),
        )
        .await;
    assert_eq!(planted.status(), 302);
    let cookies: Vec<&str> = planted
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|c| c.to_str().ok())
        .collect();
    assert!(
        !cookies.iter().any(|c| c.starts_with("egov_session=")),
        "the attacker's code set a session in the victim's browser: {cookies:?}"
    );
    let after = whoami(victim.get(&whoami_url).await).await;
    assert_eq!(after["claims"]["sub"], before["claims"]["sub"], "{after}");
    assert!(!after.to_string().contains("Youssef"), "{after}");
    // And the attacker's own browser can no longer use the code either: it sets nothing.
    let replay = attacker
        .get(
            world
                .gateway
                .origin_url(service, &format!("/__egov/session?code={code}")),
        )
        .await;
    assert_eq!(replay.status(), 302);
    assert!(!sets_a_session(&replay), "a used code set a session");
}

/// Whether `answer` sets a session cookie.
fn sets_a_session(answer: &reqwest::Response) -> bool {
    answer
        .headers()
        .get_all("set-cookie")
        .iter()
        .any(|c| c.to_str().is_ok_and(|c| c.starts_with("egov_session=")))
}

/// Found when tried: on a flaky network the answer of a service origin's code exchange was
/// lost (the request had reached the gateway, the code was used), and her reload got "the
/// login could not be completed", a dead end, though she was signed in at the portal and
/// typing the service's address went on at once. A code that can no longer be used sends
/// the browser on to the page, which starts a hop again; once a minute, so that a store
/// losing codes cannot send it round until it gives up: the second time, the page, whose
/// link is the portal's login.
#[tokio::test(flavor = "multi_thread")]
async fn a_reload_of_an_exchange_whose_answer_was_lost_goes_on_to_the_page() {
    let world = world(Store::Memory);
    let browser = Browser::resolving_service_origins(world.gateway.addr);
    let first = world
        .gateway
        .origin_url(CITIZEN_SERVICES[0], "/__estate/whoami");
    let (page, _) = visit(&world, &browser, &first).await;
    assert_eq!(page.status(), 200, "signed in at the portal");
    let whoami_url = world
        .gateway
        .origin_url(CITIZEN_SERVICES[1], "/__estate/whoami");
    let start = browser.get(&whoami_url).await;
    let hop = browser.get(redirect_target(&start)).await;
    let exchange = redirect_target(&hop);
    // The exchange reaches the gateway; its answer never reaches her browser.
    let cookies = browser.cookies_for(exchange.as_str()).expect("the nonce");
    let elsewhere = Browser::resolving_service_origins(world.gateway.addr);
    let lost = elsewhere
        .client()
        .get(exchange.clone())
        .header("cookie", cookies)
        .send()
        .await
        .expect("the exchange");
    assert_eq!(lost.status(), 302, "the code was good");
    // Her reload.
    let (reloaded, seen) = browser.follow_from(exchange.as_str(), None).await;
    assert_eq!(seen[1].path(), "/__estate/whoami", "{seen:?}");
    assert!(
        whoami(reloaded).await["claims"]["sub"].is_string(),
        "signed in on the service's origin"
    );
    // Within the minute, a used code again: the page, and its way to log in.
    let again = browser.get(exchange.clone()).await;
    assert_eq!(again.status(), 400);
    let text = again.text().await.expect("the page");
    let login = format!(
        "href=\"{}/auth/login\"",
        world.gateway.url("").trim_end_matches('/')
    );
    assert!(text.contains(&login), "{login} in {text}");
}

/// Found in a bypass probe: a signed-in attacker asked for a code bound to the digest of an
/// empty nonce, which every browser without a nonce cookie (or with two) matched; one link
/// signed a citizen in to the service as him. A code is bound only to a nonce the gateway
/// made.
#[tokio::test(flavor = "multi_thread")]
async fn a_code_bound_to_an_empty_nonce_gives_a_browser_without_one_nothing() {
    let world = world(Store::Memory);
    let service = CITIZEN_SERVICES[0];
    let attacker = Browser::resolving_service_origins(world.gateway.addr);
    let elsewhere = world
        .gateway
        .origin_url(CITIZEN_SERVICES[1], "/__estate/whoami");
    let (his, _) = visit_as(&world, &attacker, &elsewhere, "youssef").await;
    assert_eq!(his.status(), 200, "he is signed in");
    // SHA-256 of the empty string.
    let empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    for nonces in [None, Some("egov_hop=a; egov_hop=b")] {
        let hop = attacker
            .get(world.gateway.url(&format!(
                "/auth/hop?service={service}&return_to=/__estate/whoami&binding={empty}"
            )))
            .await;
        assert_eq!(hop.status(), 302);
        let planted = redirect_target(&hop);
        let victim = Browser::resolving_service_origins(world.gateway.addr);
        let mut request = victim.client().get(planted.clone());
        if let Some(cookies) = nonces {
            request = request.header("cookie", cookies);
        }
        let opened = request.send().await.expect("the link");
        assert!(
            !sets_a_session(&opened),
            "{nonces:?}: the attacker's code set a session"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_code_replayed_for_another_origin_or_late_is_refused_and_counted() {
    let mut options = SsoOptions::new(Store::Memory);
    options.tweak = Some(Box::new(|c: &mut Config| {
        own_origins(c);
        c.gateway.sessions.origin_code_ttl = Duration::from_secs(1);
    }));
    let world = SsoWorld::start(options);
    let browser = Browser::resolving_service_origins(world.gateway.addr);
    let (page, _) = visit(
        &world,
        &browser,
        &world
            .gateway
            .origin_url(CITIZEN_SERVICES[0], "/__estate/whoami"),
    )
    .await;
    assert_eq!(page.status(), 200);
    let exchange = |service: &str, code: &str| {
        world
            .gateway
            .origin_url(service, &format!("/__egov/session?code={code}"))
    };
    // Used once: fine; used again: refused.
    let code = code_for(&world, &browser, CITIZEN_SERVICES[1]).await;
    let first = browser.get(exchange(CITIZEN_SERVICES[1], &code)).await;
    assert_eq!(first.status(), 302, "a fresh code is accepted");
    let replay = browser.get(exchange(CITIZEN_SERVICES[1], &code)).await;
    assert_eq!(replay.status(), 302, "a replayed code: on to the page");
    assert!(!sets_a_session(&replay), "a replayed code was accepted");
    // Issued for one origin, presented at another.
    let code = code_for(&world, &browser, CITIZEN_SERVICES[2]).await;
    let elsewhere = browser.get(exchange(CITIZEN_SERVICES[1], &code)).await;
    assert_eq!(elsewhere.status(), 400, "a code worked on another origin");
    // Too late.
    let code = code_for(&world, &browser, CITIZEN_SERVICES[2]).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let late = browser.get(exchange(CITIZEN_SERVICES[2], &code)).await;
    assert_eq!(late.status(), 302, "a late code: on to the page");
    // No code at all is no refused code (found in a bypass probe: each made a WARN line
    // and moved the count below).
    let none = browser.get(exchange(CITIZEN_SERVICES[2], "")).await;
    assert_eq!(none.status(), 302);
    assert!(!sets_a_session(&late), "a late code was accepted");
    let text = world
        .gateway
        .metrics_showing(&[
            r#"egov_sso_origin_codes_total{result="wrong_origin"} 1"#,
            r#"egov_sso_origin_codes_total{result="unknown"} 2"#,
        ])
        .await;
    assert!(
        text.contains(r#"egov_sso_origin_codes_total{result="wrong_origin"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"egov_sso_origin_codes_total{result="unknown"} 2"#),
        "the replay and the late code: {text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_carrying_two_session_cookies_is_anonymous_and_the_duplicates_expire() {
    // Path mode: a legacy page under /s/a/ could plant a cookie for /s/b/.
    let world = SsoWorld::start(SsoOptions::new(Store::Memory));
    let browser = Browser::new();
    let path = "/s/onee-electricity-bill/__estate/whoami";
    let page = world.login(&browser, path, "amina").await;
    assert_eq!(page.status(), 200);
    let attacker = egov_gateway::sso::session::random_token();
    browser.plant_cookie(
        &format!("egov_session={attacker}; Path=/s/onee-electricity-bill/"),
        &world.gateway.url("/s/onee-electricity-bill/"),
    );
    let resp = browser.get(world.gateway.url(path)).await;
    assert_eq!(
        resp.status(),
        302,
        "a request with two session cookies was served"
    );
    let expired: Vec<String> = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().expect("ascii").to_string())
        .collect();
    assert!(
        expired
            .iter()
            .any(|c| c.contains("Max-Age=0") && c.contains("Path=/s/onee-electricity-bill/")),
        "the planted cookie is not expired: {expired:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_write_sent_from_another_services_origin_is_refused() {
    let estate = start_estate(None);
    let gw = TestGateway::with(&estate, on_own_origins);
    let http = origin_client(gw.addr);
    let post = |origin: String| {
        http.post(gw.origin_url("cnie-renewal", "/__estate/echo"))
            .header("origin", origin)
            .body("a=1")
            .send()
    };
    let sibling = post(gw.origin_url("chikaya-complaint", ""))
        .await
        .expect("request");
    assert_eq!(
        sibling.status(),
        403,
        "a sibling service's page wrote as the citizen"
    );
    // What a sibling's page sends from a sandboxed frame: an origin that says nothing.
    let opaque = post("null".into()).await.expect("request");
    assert_eq!(
        opaque.status(),
        403,
        "a write from an opaque origin went through"
    );
    let own = post(gw.origin_url("cnie-renewal", ""))
        .await
        .expect("request");
    assert_eq!(own.status(), 200, "the service's own form was refused");
    let elsewhere = post("https://paiement.cmi.co.ma".into())
        .await
        .expect("request");
    assert_eq!(
        elsewhere.status(),
        200,
        "a payment provider's post-back was refused"
    );
    let read = http
        .get(gw.origin_url("cnie-renewal", "/__estate/echo"))
        .header("origin", gw.origin_url("chikaya-complaint", ""))
        .send()
        .await
        .expect("request");
    assert_eq!(
        read.status(),
        200,
        "a read is the same-origin policy's to guard"
    );
}

/// Found when tried: a WebSocket handshake is a GET, and one from a sibling service's page
/// went through with the citizen's identity; the page then read and wrote on the socket.
#[tokio::test(flavor = "multi_thread")]
async fn a_websocket_opened_from_another_services_origin_is_refused() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let estate = start_estate(None);
    let gw = TestGateway::with(&estate, on_own_origins);
    let handshake = |origin: String| {
        let url = gw
            .origin_url("cnie-renewal", "/__estate/ws")
            .replace("http://", "ws://");
        async move {
            let tcp = tokio::net::TcpStream::connect(gw.addr)
                .await
                .expect("connect");
            let mut req = url.into_client_request().expect("request");
            req.headers_mut()
                .insert("origin", origin.parse().expect("an origin"));
            match tokio_tungstenite::client_async(req, tcp).await {
                Ok((_, resp)) => resp.status().as_u16(),
                Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => resp.status().as_u16(),
                Err(e) => panic!("handshake: {e}"),
            }
        }
    };
    let sibling = handshake(gw.origin_url("chikaya-complaint", "")).await;
    assert_eq!(sibling, 403, "a sibling service's page opened the socket");
    assert_eq!(handshake("null".into()).await, 403, "an opaque origin did");
    // Found when the fix was tried: a page on another service's legacy host, which the
    // gateway serves too, is another origin of the deployment.
    assert_eq!(handshake("http://www.chikaya.ma".into()).await, 403);
    let own = handshake(gw.origin_url("cnie-renewal", "")).await;
    assert_eq!(own, 101, "the service's own page was refused");
    let own_legacy = handshake("http://www.cnie.ma".into()).await;
    assert_eq!(own_legacy, 101, "the service's own legacy host was refused");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_error_page_on_a_service_origin_links_back_to_the_portal_and_styles_itself() {
    let estate = start_estate(None);
    let gw = TestGateway::with(&estate, |c| {
        on_own_origins(c);
        egov_integration::backend_down(c, "cnie-renewal", 9);
    });
    let http = origin_client(gw.addr);
    let page = http
        .get(gw.origin_url("cnie-renewal", "/"))
        .send()
        .await
        .expect("request");
    assert_eq!(page.status(), 502);
    let html = page.text().await.expect("page");
    let portal = format!("href=\"{}/\"", gw.url(""));
    assert!(html.contains(&portal), "no link to {portal} in {html}");
    assert!(!html.contains("href=\"/\""), "{html}");
    // Also a page answered before any service is chosen (a path refused with 400).
    let refused = http
        .get(gw.origin_url("cnie-renewal", "/a%2fb"))
        .send()
        .await
        .expect("request");
    assert_eq!(refused.status(), 400);
    let refused = refused.text().await.expect("page");
    assert!(
        refused.contains(&portal),
        "no link to {portal} in {refused}"
    );
    // Its stylesheets, linked from the service's origin, are the gateway's, not the site's.
    let css = html
        .split("rel=\"stylesheet\" href=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a stylesheet link");
    let sheet = http
        .get(gw.origin_url("cnie-renewal", css))
        .send()
        .await
        .expect("request");
    assert_eq!(sheet.status(), 200, "{css}");
    assert!(sheet.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .starts_with("text/css"));
}

/// Found when tried: the SSO's refusal of a citizen who is no professional linked "back to
/// the portal" as `/`, which on the service's own origin is the service, so the link (and
/// the header's) reloaded the refusal.
#[tokio::test(flavor = "multi_thread")]
async fn a_refusal_for_professionals_on_a_services_origin_links_back_to_the_portal() {
    let world = world(Store::Memory);
    let browser = Browser::resolving_service_origins(world.gateway.addr);
    let url = world
        .gateway
        .origin_url("vat-declaration", "/__estate/whoami");
    let (page, _) = visit(&world, &browser, &url).await;
    assert_eq!(page.status(), 403);
    let html = page.text().await.expect("page");
    let portal = format!("href=\"{}/\"", world.gateway.url(""));
    assert!(html.contains(&portal), "no link to {portal} in {html}");
    assert!(!html.contains("href=\"/\""), "{html}");
}

/// Found when tried: every error page was `<html lang="ar">` with an Arabic title and no
/// Amazigh at all, whatever language the citizen had chosen. A page in every language
/// (the reader may not read the one her browser names) now puts hers first: its `lang`,
/// title, header and first section.
#[tokio::test(flavor = "multi_thread")]
async fn an_error_page_puts_the_citizens_language_first_and_keeps_the_others() {
    let estate = start_estate(None);
    let gw = TestGateway::with(&estate, on_own_origins);
    let http = origin_client(gw.addr);
    let page_for = |url: String, header: (&'static str, &'static str)| {
        let http = http.clone();
        async move {
            let answer = http
                .get(url)
                .header(header.0, header.1)
                .send()
                .await
                .expect("request");
            assert_eq!(answer.status(), 404);
            answer.text().await.expect("page")
        }
    };
    let sections = |html: &str| -> Vec<String> {
        html.split("<section lang=\"")
            .skip(1)
            .filter_map(|s| s.split('"').next().map(str::to_owned))
            .collect()
    };
    // On a service's origin (here one no service has), the language its switcher remembered.
    let amazigh = page_for(
        gw.origin_url("no-such-service", "/"),
        ("cookie", "egov_lang=zgh"),
    )
    .await;
    assert!(
        amazigh.contains("<html lang=\"zgh\" dir=\"ltr\">"),
        "{amazigh}"
    );
    assert!(
        amazigh.contains("<title>404 ⵜⴰⵎⴰⵡⴰⵙⵜ ⵓⵔ ⵜⵍⵍⵉ</title>"),
        "{amazigh}"
    );
    assert_eq!(sections(&amazigh), ["zgh", "ar", "fr", "en"]);
    // On the portal, the browser's language when none was chosen.
    let french = page_for(
        gw.url("/s/no-such-service/"),
        ("accept-language", "fr-MA, fr;q=0.9"),
    )
    .await;
    assert!(
        french.contains("<html lang=\"fr\" dir=\"ltr\">"),
        "{french}"
    );
    assert!(
        french.contains("<title>404 Service introuvable</title>"),
        "{french}"
    );
    assert_eq!(sections(&french), ["fr", "ar", "zgh", "en"]);
    assert!(french.contains("Aller au contenu"), "{french}");
}

/// A form sent on a service's origin without a session (it ended while the citizen filled
/// the form in) gets a page that says what was lost, linking to the portal's hop, which
/// brings her back to the form's page on the service's origin after logging in.
#[tokio::test(flavor = "multi_thread")]
async fn a_form_sent_without_a_session_on_a_services_origin_leads_back_to_the_form() {
    let world = world(Store::Memory);
    let browser = Browser::resolving_service_origins(world.gateway.addr);
    let form_page = world
        .gateway
        .origin_url("criminal-record-extract", "/__estate/echo?form=1");
    let sent = browser
        .submit_form(
            &form_page,
            &world
                .gateway
                .origin_url("criminal-record-extract", "/__estate/echo"),
            &[("motif", "emploi")],
        )
        .await;
    assert_eq!(sent.status(), 401);
    let page = sent.text().await.expect("body");
    let hop = page
        .split("href=\"")
        .find(|rest| rest.contains("/auth/hop?"))
        .and_then(|rest| rest.split('"').next())
        .expect("a link to log in again")
        .replace("&amp;", "&");
    let (landed, _) = visit(&world, &browser, &hop).await;
    assert_eq!(landed.status(), 200);
    assert_eq!(landed.url().as_str(), form_page, "not back at the form");
}

/// The cookies a citizen service's legacy site got with `browser`'s next request there.
async fn cookies_sent_to(world: &SsoWorld, browser: &Browser, service: &str) -> Value {
    let echo = world.gateway.origin_url(service, "/__estate/echo");
    let (page, _) = visit(world, browser, &echo).await;
    assert_eq!(page.status(), 200, "{echo}");
    page.json::<Value>().await.expect("the echo is JSON")["cookies"].clone()
}

/// Found when tried (a hostile legacy site): a script on one service's compromised page
/// set `JSESSIONID` (a legacy session of the attacker's) for the whole services domain,
/// and a signed-in citizen's first visit to another service carried it there, where the
/// site took it as hers. A cookie a page script sets for itself still goes.
#[tokio::test(flavor = "multi_thread")]
async fn a_legacy_session_cookie_planted_from_a_sibling_origin_does_not_reach_the_site() {
    let world = world(Store::Memory);
    let browser = Browser::resolving_service_origins(world.gateway.addr);
    let sibling = world.gateway.origin_url("onee-electricity-bill", "/");
    browser.plant_cookie(
        "JSESSIONID=attackers-session; Domain=localhost; Path=/",
        &sibling,
    );
    let target = world.gateway.origin_url("tax-certificates", "/");
    // The sibling's cookie alone is what the browser sends the target (as any browser
    // does until the services domain is on the Public Suffix List).
    assert!(
        browser
            .cookies_for(&target)
            .is_some_and(|c| c.contains("JSESSIONID=attackers-session")),
        "the sibling's cookie does not reach the target's requests"
    );
    browser.plant_cookie("font_size=large; Path=/", &target);

    let sent = cookies_sent_to(&world, &browser, "tax-certificates").await;
    assert!(
        sent.get("JSESSIONID").is_none(),
        "the planted session went: {sent}"
    );
    assert_eq!(
        sent["font_size"], "large",
        "a page's own cookie was kept back: {sent}"
    );

    // Found when tried: a name padded with a Unicode space is no framework name to the
    // gateway, but the site's parser trims it into one.
    let echo = world
        .gateway
        .origin_url("tax-certificates", "/__estate/echo");
    let session = browser
        .cookie(&echo, "egov_session")
        .expect("signed in on the origin");
    let mut padded = b"\xc2\xa0JSESSIONID=attackers-session; egov_session=".to_vec();
    padded.extend_from_slice(session.as_bytes());
    let answer = browser
        .client()
        .get(&echo)
        .header(
            "cookie",
            reqwest::header::HeaderValue::from_bytes(&padded).expect("obs-text"),
        )
        .send()
        .await
        .expect("echo");
    assert_eq!(answer.status(), 200);
    let got: Value = answer.json().await.expect("json");
    assert!(got["cookies"].get("JSESSIONID").is_none(), "{got}");
}

/// Found in a probe: service origins are same-site with each other, so a sibling
/// service's page had the citizen's browser fetch another service's pages as a picture, a
/// style, a script, a `fetch` or a frame, with her session: the legacy site acted and
/// answered as her. Before the gateway the two sites were cross-site and such requests
/// carried none of her cookies; they carry none now either. A link she follows from a
/// sibling keeps her signed in, as a page of the service's own does.
#[tokio::test(flavor = "multi_thread")]
async fn a_siblings_page_fetching_another_service_sends_no_cookie_but_a_link_followed_does() {
    let world = world(Store::Memory);
    let browser = Browser::resolving_service_origins(world.gateway.addr);
    let echo = world
        .gateway
        .origin_url("tax-certificates", "/__estate/echo");
    let (page, _) = visit(&world, &browser, &echo).await;
    assert_eq!(page.status(), 200, "signed in on the origin");
    let fetched = |site: &'static str, mode: &'static str, dest: &'static str| {
        browser
            .client()
            .get(&echo)
            .header("sec-fetch-site", site)
            .header("sec-fetch-mode", mode)
            .header("sec-fetch-dest", dest)
            .send()
    };
    for (mode, dest) in [
        ("no-cors", "image"),
        ("no-cors", "script"),
        ("no-cors", "style"),
        ("cors", "empty"),
        ("navigate", "iframe"),
    ] {
        let answer = fetched("same-site", mode, dest).await.expect("request");
        assert!(
            answer.status().is_redirection() || answer.status() == 401,
            "a sibling's {dest} ({mode}) reached the site as the citizen: {}",
            answer.status()
        );
    }
    for (site, mode, dest) in [
        ("same-site", "navigate", "document"),
        ("same-origin", "no-cors", "image"),
        ("none", "navigate", "document"),
    ] {
        let answer = fetched(site, mode, dest).await.expect("request");
        assert_eq!(answer.status(), 200, "{site} {mode} {dest}");
    }
}

/// The hop nonce a service origin gives an anonymous browser.
fn hop_nonce_set_by(answer: &reqwest::Response) -> Option<String> {
    answer
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.strip_prefix("egov_hop="))
        .and_then(|c| c.split(';').next())
        .map(str::to_string)
}

/// Found in a probe: every anonymous request on a service's origin (a sibling page's
/// pictures, answered 401) gave the browser a new hop nonce, and a login in progress in
/// another tab, bound to the nonce before, failed its hop. The browser's nonce is kept.
#[tokio::test(flavor = "multi_thread")]
async fn an_anonymous_request_keeps_the_hop_nonce_a_login_in_progress_is_bound_to() {
    let world = world(Store::Memory);
    let browser = Browser::resolving_service_origins(world.gateway.addr);
    let page = world.gateway.origin_url("tax-certificates", "/");
    let first = browser.get(&page).await;
    let nonce = hop_nonce_set_by(&first).expect("a nonce for the hop");
    for dest in ["image", "document"] {
        let again = browser
            .client()
            .get(&page)
            .header("sec-fetch-dest", dest)
            .send()
            .await
            .expect("request");
        assert_eq!(
            hop_nonce_set_by(&again).as_deref(),
            Some(nonce.as_str()),
            "{dest}"
        );
    }
}

/// The names a site sets are learned from its answers: one it set for Amina, planted in
/// Youssef's browser with no binding, does not reach it beside his identity.
#[tokio::test(flavor = "multi_thread")]
async fn a_cookie_name_the_site_set_for_one_citizen_planted_for_another_does_not_go() {
    let world = world(Store::Memory);
    let service = "tax-certificates";
    let amina = Browser::resolving_service_origins(world.gateway.addr);
    let mut set =
        reqwest::Url::parse(&world.gateway.origin_url(service, "/__estate/headers")).expect("url");
    set.query_pairs_mut()
        .append_pair("set", "set-cookie:DOSSIER_TOKEN=aminas; Path=/");
    let (page, _) = visit(&world, &amina, set.as_str()).await;
    assert_eq!(page.status(), 200);
    assert_eq!(
        cookies_sent_to(&world, &amina, service).await["DOSSIER_TOKEN"],
        "aminas",
        "the site's own cookie, bound to her session"
    );

    let youssef = Browser::resolving_service_origins(world.gateway.addr);
    youssef.plant_cookie(
        "DOSSIER_TOKEN=aminas; Path=/",
        &world.gateway.origin_url(service, "/"),
    );
    let (page, _) = visit_as(
        &world,
        &youssef,
        &world.gateway.origin_url(service, "/__estate/whoami"),
        "youssef",
    )
    .await;
    assert_eq!(page.status(), 200);
    let sent = cookies_sent_to(&world, &youssef, service).await;
    assert!(
        sent.get("DOSSIER_TOKEN").is_none(),
        "the planted copy went: {sent}"
    );
}

/// Found when tried (a data-protection audit): after a citizen's portal session idled out,
/// her origin sessions, their list and her subject's index stayed in Redis for the rest of
/// the absolute lifetime (12 h), saying which services she had used. They now live as long
/// as the session, and move on with it while she uses any of them.
#[tokio::test(flavor = "multi_thread")]
async fn origin_sessions_and_indexes_live_and_end_with_the_citizens_idle_session() {
    let mut options = SsoOptions::new(Store::Redis);
    options.tweak = Some(Box::new(|c: &mut Config| {
        own_origins(c);
        c.gateway.sessions.idle_timeout = Duration::from_secs(3);
    }));
    let world = SsoWorld::start(options);
    let browser = Browser::resolving_service_origins(world.gateway.addr);
    let page = world
        .gateway
        .origin_url("tax-certificates", "/__estate/whoami");
    let (first, _) = visit(&world, &browser, &page).await;
    assert_eq!(first.status(), 200);
    let redis = world.redis.as_ref().expect("redis");
    let records = || -> Vec<String> {
        redis
            .records_of(&["s", "o", "kids", "sub", "sid"])
            .into_iter()
            .map(|(key, _)| key)
            .collect()
    };
    assert!(
        records().iter().any(|k| k.starts_with("egov:o:")),
        "{:?}",
        records()
    );

    // In use for twice the idle timeout: the origin session is served throughout.
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let again = browser.get(&page).await;
        assert_eq!(again.status(), 200, "the origin session ended while in use");
    }
    tokio::time::sleep(Duration::from_millis(4500)).await;
    assert!(
        records().is_empty(),
        "left after the session idled out: {:?}",
        records()
    );
}

/// Services a hostile page steers the browser's hops through (none the citizen opened).
const STEERED: [&str; 16] = [
    "agricultural-subsidy-fda",
    "land-registration-tracking",
    "property-certificate",
    "chikaya-complaint",
    "public-job-applications",
    "cmr-pension",
    "customs-tariff-lookup",
    "income-tax-declaration",
    "local-taxes-payment",
    "vat-declaration",
    "anapec-jobseeker",
    "cnss-insured-portal",
    "consular-appointment",
    "hajj-registration",
    "amo-tadamon",
    "diploma-equivalence",
];

/// Found in a bypass probe: any page could push a citizen's services out of the browser's
/// list of the origins she opened, by steering a pop-up through 16 hops to other services
/// with a binding no origin would accept; her logout then went through those 16, and ended
/// none of her real origins' cookies (the back/forward cache exposure the chain closes).
/// The logout now goes through the origins whose code was accepted, as the store has them.
#[tokio::test(flavor = "multi_thread")]
async fn a_page_cannot_push_her_origins_out_of_her_logouts_way() {
    a_page_cannot_push_her_origins_out_of_her_logouts_way_with(Store::Memory).await;
}

/// The same with the sessions in a real Redis: the origins are read from the portal
/// session's list there.
#[tokio::test(flavor = "multi_thread")]
async fn with_redis_a_page_cannot_push_her_origins_out_of_her_logouts_way() {
    a_page_cannot_push_her_origins_out_of_her_logouts_way_with(Store::Redis).await;
}

async fn a_page_cannot_push_her_origins_out_of_her_logouts_way_with(store: Store) {
    let world = world(store);
    let browser = Browser::resolving_service_origins(world.gateway.addr);
    signed_in_everywhere(&world, &browser).await;
    let junk = "ab".repeat(32);
    for service in STEERED {
        let hop = world.gateway.url(&format!(
            "/auth/hop?service={service}&return_to=/&binding={junk}"
        ));
        assert_eq!(browser.get(&hop).await.status(), 302, "{service}");
    }
    let out = browser.logout(&world.gateway.url("/auth/logout")).await;
    let (steps, _) = browser.through_the_origins(&out).await;
    let ended: Vec<String> = steps
        .iter()
        .map(|(url, _)| url.host_str().unwrap_or_default().to_string())
        .collect();
    for service in CITIZEN_SERVICES {
        assert!(
            ended.contains(&format!("{service}.localhost")),
            "{service} not ended: {ended:?}"
        );
    }
}

/// Found in the bypass probe: with the way cut at 16 origins, a page that had her browser
/// sign in to 17 other services' origins one after another (each signs her in by itself)
/// pushed the origins she had opened herself out of it. The way now holds every origin the
/// store lists, and goes on past a run of 16 redirects from a page (a new navigation).
#[tokio::test(flavor = "multi_thread")]
async fn a_logout_goes_through_more_origins_than_one_run_of_redirects_holds() {
    let world = world(Store::Memory);
    let browser = Browser::resolving_service_origins(world.gateway.addr);
    signed_in_everywhere(&world, &browser).await;
    let more = [
        "criminal-record-extract",
        "job-loss-allowance",
        "ofppt-registration",
        "onee-water-connection",
    ];
    for service in STEERED.iter().chain(more.iter()) {
        let url = world.gateway.origin_url(service, "/__estate/whoami");
        // Signed in to each origin on the way (a service for professionals refuses her
        // page, but its origin has her session all the same).
        visit(&world, &browser, &url).await;
    }
    let out = browser.logout(&world.gateway.url("/auth/logout")).await;
    let (steps, next) = browser.through_the_origins(&out).await;
    let ended: Vec<String> = steps
        .iter()
        .map(|(url, _)| url.host_str().unwrap_or_default().to_string())
        .collect();
    assert!(
        ended.len() > 16,
        "more than one run of redirects: {ended:?}"
    );
    for service in CITIZEN_SERVICES {
        assert!(
            ended.contains(&format!("{service}.localhost")),
            "{service}: {ended:?}"
        );
    }
    assert!(next.as_str().starts_with(world.provider.issuer()), "{next}");
}
