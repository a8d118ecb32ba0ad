//! What a citizen sees in a real headless Chromium (Debian's, driven by `tests/browser`):
//! the gateway, the simulated estate and the real OpenID provider as in the SSO tests, but
//! every redirect, charset decision and cookie rule is the browser's own.
//!
//! The service is `onee-electricity-bill`: citizens only, and its legacy site serves
//! windows-1256 Arabic announced only in a `<meta>`, with absolute links to its own hostname.

use egov_estate::Site;
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

/// Whether a link keeps the citizen on the portal: a service path, a relative reference, or
/// a scheme that does not navigate elsewhere.
fn stays_on_portal(href: &str) -> bool {
    let relative = !href.starts_with('/') && !href.split('/').next().unwrap_or("").contains(':');
    href.starts_with("/s/")
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
    assert_eq!(claims["claims"]["name"], "Amina El Idrissi", "{claims}");
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
    assert_eq!(logout.actions, ["logout"], "{outcome}");

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
