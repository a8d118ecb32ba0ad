//! What a citizen sees in a real headless Chromium (Debian's, driven by `tests/browser`):
//! the gateway, the simulated estate and the real OpenID provider as in the SSO tests, but
//! every redirect, charset decision and cookie rule is the browser's own.
//!
//! The service is `onee-electricity-bill`: citizens only, and its legacy site serves
//! windows-1256 Arabic announced only in a `<meta>`, with absolute links to its own hostname.

use egov_estate::Site;
use egov_integration::browser::Browser;
use egov_integration::chromium::{Chromium, Outcome, Visit};
use egov_integration::sso::{SsoOptions, SsoWorld, Store};
use serde_json::Value;

const SERVICE: &str = "onee-electricity-bill";
/// The service's home page, with a query that has to survive the trip to the provider.
const PAGE: &str = "/s/onee-electricity-bill/?lang=ar&ref=a%20b";
const WHOAMI: &str = "/s/onee-electricity-bill/__estate/whoami";
/// The portal's session cookie over plain HTTP.
const SESSION_COOKIE: &str = "egov_session";

fn legacy_site() -> &'static Site {
    egov_estate::site(SERVICE).unwrap_or_else(|| panic!("no estate site {SERVICE}"))
}

/// Whether a link keeps the citizen on the portal: a service path, one of the portal's own
/// pages (the portal strip links home, to the service's page, to login or logout and to the
/// language switcher), a relative reference, or a scheme that does not navigate elsewhere.
fn stays_on_portal(href: &str) -> bool {
    let relative = !href.starts_with('/') && !href.split('/').next().unwrap_or("").contains(':');
    href.starts_with("/s/")
        || href == "/"
        || href.starts_with("/services/")
        || href.starts_with("/auth/")
        || href.starts_with("/lang?")
        || href.starts_with("mailto:")
        || href.starts_with("javascript:")
        || relative
}

fn world_and_browser() -> (SsoWorld, Chromium) {
    (
        SsoWorld::start(SsoOptions::new(Store::Memory)),
        Chromium::start(),
    )
}

fn login_then(world: &SsoWorld, chromium: &Chromium, then: &[Visit]) -> Outcome {
    let mut visits = vec![Visit::to(world.gateway.url(PAGE)).logging_in_as("amina")];
    visits.extend_from_slice(then);
    chromium.visit(world.provider.issuer(), &visits)
}

#[test]
fn a_citizen_logs_in_from_a_protected_page_and_reads_its_arabic_with_portal_links_only() {
    let (world, chromium) = world_and_browser();
    let outcome = login_then(&world, &chromium, &[]);
    let page = outcome.last();

    assert_eq!(page.actions, ["login", "consent"], "{outcome}");
    assert!(
        page.passed_through(world.provider.issuer()),
        "never sent to the provider:\n{outcome}"
    );
    assert_eq!(
        page.url,
        world.gateway.url(PAGE),
        "not back at the original URL:\n{outcome}"
    );
    assert_eq!(page.status, Some(200), "{outcome}");

    let site = legacy_site();
    assert!(
        page.title.contains(&site.title.ar),
        "the Arabic title is not readable in the tab: {:?}",
        page.title
    );
    for arabic in [&site.summary.ar, &site.owner.ar] {
        assert!(
            page.text.contains(arabic.as_str()),
            "{arabic:?} is not on the page:\n{outcome}"
        );
    }
    assert!(
        !page.text.contains('\u{fffd}'),
        "undecodable bytes:\n{outcome}"
    );

    let hosts: Vec<&str> = egov_estate::sites()
        .iter()
        .map(|s| s.host.as_str())
        .collect();
    assert!(!page.links.is_empty(), "a page without links:\n{outcome}");
    for href in &page.links {
        assert!(
            stays_on_portal(href) && !hosts.iter().any(|h| href.contains(h)),
            "a link leads off the portal: {href}\n{outcome}"
        );
    }
    let to_legacy: Vec<&String> = outcome
        .offsite_requests
        .iter()
        .filter(|u| hosts.iter().any(|h| u.contains(h)))
        .collect();
    assert!(
        to_legacy.is_empty(),
        "the page made the browser call legacy hosts: {to_legacy:?}\n{outcome}"
    );
}

#[test]
fn page_scripts_cannot_read_the_session_cookie_yet_navigation_stays_authenticated() {
    let (world, chromium) = world_and_browser();
    let outcome = login_then(&world, &chromium, &[Visit::to(world.gateway.url(WHOAMI))]);
    let whoami = outcome.last();

    let session = whoami
        .cookies
        .iter()
        .find(|c| c.name == SESSION_COOKIE)
        .unwrap_or_else(|| panic!("the browser holds no {SESSION_COOKIE}:\n{outcome}"));
    assert!(session.http_only, "{session:?}");
    for page in &outcome.visits {
        assert!(
            !page.document_cookie.contains(SESSION_COOKIE),
            "page scripts read the session at {}: {:?}",
            page.url,
            page.document_cookie
        );
    }

    assert!(
        !whoami.passed_through(world.provider.issuer()),
        "logged in, yet sent to the provider again:\n{outcome}"
    );
    assert_eq!(whoami.status, Some(200), "{outcome}");
    let claims: Value = serde_json::from_str(&whoami.text)
        .unwrap_or_else(|e| panic!("whoami is not JSON ({e}):\n{outcome}"));
    assert_eq!(claims["verified"], true, "{claims}");
    assert!(claims["claims"]["sub"].is_string(), "{claims}");
    assert!(
        claims["claims"].get("name").is_none(),
        "a service that asked for no claims learns no name: {claims}"
    );
}

#[test]
fn logging_out_of_the_portal_sends_the_next_visit_to_the_provider_again() {
    let (world, chromium) = world_and_browser();
    let outcome = login_then(
        &world,
        &chromium,
        &[
            Visit::to(world.gateway.url("/auth/logout")).confirming_logout(),
            Visit::to(world.gateway.url(PAGE)),
        ],
    );
    let [logged_in, logout, again] = &outcome.visits[..] else {
        panic!("three visits expected:\n{outcome}");
    };
    assert_eq!(logged_in.url, world.gateway.url(PAGE), "{outcome}");
    assert_eq!(logout.actions, ["confirm-logout", "logout"], "{outcome}");

    assert!(
        again.url.starts_with(world.provider.issuer()),
        "still inside the service after logout:\n{outcome}"
    );
    assert!(
        again.passed_through(&world.gateway.url("/auth/login")),
        "{outcome}"
    );
    assert!(
        again.cookies.iter().all(|c| c.name != SESSION_COOKIE),
        "the session cookie outlived the logout:\n{outcome}"
    );
}

/// The world with every service on its own origin (`http://<id>.localhost:<port>`).
fn world_on_origins() -> SsoWorld {
    let mut options = SsoOptions::new(Store::Memory);
    options.tweak = Some(Box::new(egov_integration::own_origins));
    SsoWorld::start(options)
}

#[test]
fn on_its_own_origin_the_citizen_logs_in_once_and_reads_the_arabic_page_with_links_that_stay() {
    let world = world_on_origins();
    let chromium = Chromium::start();
    let page_url = world.gateway.origin_url(SERVICE, "/?lang=ar&ref=a%20b");
    let outcome = chromium.visit(
        world.provider.issuer(),
        &[Visit::to(page_url.clone()).logging_in_as("amina")],
    );
    let page = outcome.last();
    assert_eq!(page.actions, ["login", "consent"], "{outcome}");
    assert_eq!(
        page.url, page_url,
        "not back on the service's origin:\n{outcome}"
    );
    assert_eq!(page.status, Some(200), "{outcome}");
    let site = legacy_site();
    assert!(page.title.contains(&site.title.ar), "{:?}", page.title);
    assert!(
        !page.text.contains('\u{fffd}'),
        "undecodable bytes:\n{outcome}"
    );
    let hosts: Vec<&str> = egov_estate::sites()
        .iter()
        .map(|s| s.host.as_str())
        .collect();
    assert!(!page.links.is_empty(), "a page without links:\n{outcome}");
    for href in &page.links {
        assert!(
            !href.starts_with("/s/") && !hosts.iter().any(|h| href.contains(h)),
            "a link leads off the service's origin: {href}\n{outcome}"
        );
    }
    // (The provider's own pages ask for web fonts; only legacy hosts matter here.)
    let to_legacy: Vec<&String> = outcome
        .offsite_requests
        .iter()
        .filter(|u| hosts.iter().any(|h| u.contains(h)))
        .collect();
    assert!(
        to_legacy.is_empty(),
        "the page made the browser call legacy hosts: {to_legacy:?}\n{outcome}"
    );
    let session = page
        .cookies
        .iter()
        .find(|c| c.name == SESSION_COOKIE && c.domain.starts_with(SERVICE))
        .unwrap_or_else(|| panic!("no session cookie of the service's origin:\n{outcome}"));
    assert!(session.http_only, "{session:?}");
}

/// A live session of the attacker (Youssef, another citizen) on `SERVICE`'s origin: what an
/// attacker who logs in with their own account holds, and would plant in a victim's browser.
fn attackers_own_session(world: &SsoWorld) -> String {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let browser = Browser::resolving_service_origins(world.gateway.addr);
        let url = world.gateway.origin_url(SERVICE, "/__estate/whoami");
        let provider = world.provider.issuer().to_string();
        let (_, seen) = browser.follow_from(&url, Some(&provider)).await;
        let authorize = seen.last().expect("a URL").to_string();
        let callback = browser
            .oidc_provider_login(&authorize, "youssef", "any-password")
            .await;
        let (page, _) = browser.follow_from(callback.as_str(), None).await;
        assert_eq!(page.status(), 200, "the attacker's own login failed");
        let cookies = browser.cookies_for(&url).expect("the attacker's cookies");
        cookies
            .split("; ")
            .find_map(|c| c.strip_prefix(&format!("{SESSION_COOKIE}=")))
            .expect("the attacker's session on the service's origin")
            .to_string()
    })
}

#[test]
fn a_hostile_page_on_one_service_origin_can_neither_read_another_nor_plant_its_session() {
    let world = world_on_origins();
    let chromium = Chromium::start();
    let victim = world.gateway.origin_url(SERVICE, "/__estate/whoami");
    let attacker = attackers_own_session(&world);
    // What script on a legacy page of another (public) service tries, once it runs there.
    let script = format!(
        r#"(async () => {{
            const out = {{}};
            try {{
                const r = await fetch({victim:?}, {{ credentials: 'include' }});
                out.read = await r.text();
            }} catch (e) {{
                out.blocked = String(e);
            }}
            document.cookie = "{SESSION_COOKIE}={attacker}; path=/";
            document.cookie = "{SESSION_COOKIE}={attacker}; domain=localhost; path=/";
            return out;
        }})()"#
    );
    let outcome = chromium.visit(
        world.provider.issuer(),
        &[
            Visit::to(victim.clone()).logging_in_as("amina"),
            Visit::to(world.gateway.origin_url("cnie-renewal", "/")).running(&script),
            Visit::to(victim.clone()),
        ],
    );
    let [signed_in, hostile, after] = &outcome.visits[..] else {
        panic!("three visits expected:\n{outcome}");
    };
    assert_eq!(signed_in.url, victim, "{outcome}");
    assert!(
        hostile.evaluated["read"].is_null() && hostile.evaluated["blocked"].is_string(),
        "the hostile page read the other service as the citizen:\n{outcome}"
    );
    // The browser keeps the planted cookie to the hostile page's own origin (a session of
    // another service is worthless there) and refuses it for any other.
    assert!(
        !hostile.cookies.iter().any(|c| c.name == SESSION_COOKIE
            && !c.domain.starts_with("cnie-renewal")
            && !c.http_only),
        "a cookie planted for another origin was kept:\n{outcome}"
    );
    assert_eq!(after.url, victim, "{outcome}");
    assert!(
        !after.passed_through(world.provider.issuer()),
        "sent to log in again:\n{outcome}"
    );
    let claims: Value = serde_json::from_str(&after.text)
        .unwrap_or_else(|e| panic!("whoami is not JSON ({e}):\n{outcome}"));
    assert_eq!(claims["verified"], true, "{claims}");
    assert!(
        claims["claims"]["sub"].is_string(),
        "the service no longer sees the citizen's own identity: {claims}"
    );
}

/// Found when tried (WCAG 2.2.1, Timing Adjustable): a citizen's session ended after its
/// idle time without a word, and the form she then sent was lost. A signed-in page's strip
/// now warns her before the end, moves the keyboard to "stay signed in", and one press
/// gives the session its whole idle time again.
#[test]
fn a_signed_in_citizen_is_warned_before_her_session_ends_and_may_stay_signed_in() {
    let mut options = SsoOptions::new(Store::Memory);
    options.tweak = Some(Box::new(|c: &mut egov_gateway::config::Config| {
        egov_integration::own_origins(c);
        // The warning comes 20 s before the end: here 10 s after the page.
        c.gateway.sessions.idle_timeout = std::time::Duration::from_secs(30);
    }));
    let world = SsoWorld::start(options);
    let chromium = Chromium::start();
    let page_url = world.gateway.origin_url(SERVICE, "/");
    let stay = r#"(async () => {
        const until = async (test, ms) => {
            const end = Date.now() + ms;
            while (Date.now() < end) {
                const v = test();
                if (v) return v;
                await new Promise((r) => setTimeout(r, 200));
            }
            return null;
        };
        const box = await until(() => document.getElementById('egov-session'), 25000);
        if (!box) return { shown: false };
        const button = box.querySelector('button');
        const seen = {
            shown: true,
            role: box.getAttribute('role'),
            text: box.textContent,
            focused: document.activeElement === button,
        };
        button.click();
        seen.gone = (await until(() => !document.getElementById('egov-session'), 5000)) === true;
        seen.after = await (await fetch('/__egov/keep-alive', { cache: 'no-store' })).json();
        // Asking how long is left (what the warning does before it warns) moves nothing on.
        const peek = async () =>
            (await (await fetch('/__egov/keep-alive?peek', { cache: 'no-store' })).json()).expires_in;
        const first = await peek();
        await new Promise((r) => setTimeout(r, 4500));
        seen.peeked = [first, await peek()];
        return seen;
    })()"#;
    let outcome = chromium.visit(
        world.provider.issuer(),
        &[Visit::to(page_url).logging_in_as("amina").running(stay)],
    );
    let seen = outcome.last().evaluated.clone();
    assert_eq!(seen["shown"], true, "no warning:\n{outcome}");
    assert_eq!(seen["role"], "alert", "{seen}");
    assert!(
        seen["text"].as_str().is_some_and(|t| t.len() > 20),
        "{seen}"
    );
    assert_eq!(
        seen["focused"], true,
        "the keyboard is not on the button: {seen}"
    );
    assert_eq!(seen["gone"], true, "{seen}");
    assert_eq!(seen["after"]["authenticated"], true, "{seen}");
    assert!(
        seen["after"]["expires_in"].as_u64().is_some_and(|s| s > 20),
        "{seen}"
    );
    let peeked: Vec<u64> = seen["peeked"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default();
    assert!(
        peeked.len() == 2 && peeked[1] + 3 <= peeked[0],
        "a peek moved the session's idle clock on: {seen}"
    );
}

/// A windows-1256 legacy site (its charset in a `<meta>` only) with a form holding an Arabic
/// name, which keeps the body of each form sent to it.
fn windows_1256_form_site() -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let kept = std::sync::Arc::clone(&received);
    let page = {
        let html = "<html><head><meta charset=\"windows-1256\"><title>طلب</title></head><body>\
            <form method=\"post\" action=\"/cnie-renewal/save\">\
            <input name=\"nom\" value=\"أمينة\"><input type=\"submit\" id=\"send\" value=\"إرسال\">\
            </form></body></html>";
        encoding_rs::WINDOWS_1256.encode(html).0.into_owned()
    };
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(5)));
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            let end = loop {
                if let Some(i) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                    break i + 4;
                }
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break got.len(),
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            };
            let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            while got.len() < end + length {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
            let answer: Vec<u8> = if head.starts_with("post") {
                if let Ok(mut k) = kept.lock() {
                    *k = got[end..].to_vec();
                }
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok".to_vec()
            } else {
                let mut a = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    page.len()
                )
                .into_bytes();
                a.extend_from_slice(&page);
                a
            };
            let _ = stream.write_all(&answer);
        }
    });
    (addr, received)
}

/// Found when tried: the charset step made a windows-1256 page UTF-8, and the browser sent
/// what the citizen typed in its forms as UTF-8: the site stored `ط£ظ…ظٹظ†ط©` for `أمينة`.
#[test]
fn a_form_on_a_transcoded_page_reaches_the_site_in_the_charset_it_reads() {
    let estate = egov_integration::start_estate(None);
    let (site, received) = windows_1256_form_site();
    let gw = egov_integration::TestGateway::with(&estate, move |c| {
        egov_integration::backend_at(c, "cnie-renewal", site.port());
    });
    let chromium = Chromium::start();
    let outcome = chromium.visit(
        "http://127.0.0.1:9",
        &[Visit::to(gw.url("/s/cnie-renewal/")).clicking("#send")],
    );
    assert_eq!(outcome.last().status, Some(200), "{outcome}");
    let body = received.lock().map(|b| b.clone()).unwrap_or_default();
    assert_eq!(
        String::from_utf8_lossy(&body),
        "nom=%C3%E3%ED%E4%C9",
        "أمينة in windows-1256; {outcome}"
    );
}

/// Found when tried: a legacy site setting a new cookie on every page grew the citizen's
/// `Cookie` header past the limit, and from then on every request to the service got the
/// 431 page, which told her to clear her cookies. The refusal now expires them: reloading
/// the page works again.
#[test]
fn a_citizen_whose_cookies_outgrew_the_limit_is_back_on_the_page_at_the_next_reload() {
    let estate = egov_integration::start_estate(None);
    let pages = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = std::sync::Arc::clone(&pages);
    let site = egov_integration::raw_http::answering_site(move |_| {
        let n = counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let page = "<html><head><title>Suivi</title></head><body>Suivi</body></html>";
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nSet-Cookie: suivi{n}={}; Path=/\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{page}",
            "v".repeat(1500),
            page.len()
        )
        .into_bytes()
    });
    let gw = egov_integration::TestGateway::with(&estate, move |c| {
        egov_integration::own_origins(c);
        c.gateway.portal.max_header_bytes = 8 * 1024;
        egov_integration::backend_at(c, "cnie-renewal", site.port());
    });
    let url = gw.origin_url("cnie-renewal", "/");
    let visits: Vec<Visit> = (0..6).map(|_| Visit::to(url.clone())).collect();
    let outcome = Chromium::start().visit("http://127.0.0.1:9", &visits);
    let statuses: Vec<Option<u16>> = outcome.visits.iter().map(|v| v.status).collect();
    let refused = statuses
        .iter()
        .position(|s| *s == Some(431))
        .unwrap_or_else(|| panic!("the cookies never outgrew the limit: {statuses:?}"));
    assert_eq!(
        statuses.get(refused + 1),
        Some(&Some(200)),
        "stuck after the refusal: {statuses:?}\n{outcome}"
    );
    let held = |visit: usize| {
        outcome.visits[visit]
            .cookies
            .iter()
            .filter(|c| c.name.starts_with("suivi"))
            .count()
    };
    assert!(
        refused > 0 && held(refused + 1) < held(refused - 1),
        "the site's cookies were not cleared: {outcome}"
    );
}

/// Found when tried: 25 `<img src=".../auth/login">` on a page of any site spent the 20
/// logins in progress its visitor's address may hold, and every citizen behind it (a
/// carrier's NAT) was refused logins for ten minutes. A login started by a picture, frame
/// or script is refused before it is counted.
#[test]
fn pictures_of_the_login_on_another_sites_page_leave_its_visitor_free_to_log_in() {
    let (world, chromium) = world_and_browser();
    let login = world.gateway.url("/auth/login?return_to=/");
    let pictures: String = (0..25)
        .map(|i| format!("<img src=\"{login}&n={i}\"><iframe src=\"{login}&f={i}\"></iframe>"))
        .collect();
    let page = format!("<html><head><title>Promo</title></head><body>{pictures}</body></html>");
    let hostile = egov_integration::raw_http::answering_site(move |_| {
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{page}",
            page.len()
        )
        .into_bytes()
    });
    let outcome = chromium.visit(
        world.provider.issuer(),
        &[
            Visit::to(format!("http://{hostile}/"))
                .running("new Promise(r => setTimeout(() => r(document.images.length), 1500))"),
            Visit::to(world.gateway.url(PAGE)).logging_in_as("amina"),
        ],
    );
    let page = outcome.last();
    assert_eq!(page.actions, ["login", "consent"], "{outcome}");
    assert_eq!(page.status, Some(200), "{outcome}");
    assert_eq!(page.url, world.gateway.url(PAGE), "{outcome}");
}
