//! The citizen portal in a real headless Chromium: every page type in all four languages
//! passes axe-core's WCAG 2.1 A/AA rules, the keyboard reaches everything with a visible
//! focus, and a citizen goes from a Darija request to the adapted legacy page and back out.
//!
//! Screenshots of the home page (Arabic, Amazigh, French) and of a service page are written
//! to `target/screenshots/` (or `$EGOV_SCREENSHOTS`: the README's come from
//! `EGOV_SCREENSHOTS=docs/screenshots`).

use egov_integration::chromium::{Chromium, Outcome, Visit};
use egov_integration::sso::{SsoOptions, SsoWorld, Store};
use serde_json::Value;
use std::path::PathBuf;

/// A citizen service whose legacy site serves windows-1256 Arabic.
const SERVICE: &str = "onee-electricity-bill";
/// What a citizen types in Darija (Latin script) to pay that bill.
const DARIJA: &str = "bghit nkhelles lfatura dyal kahraba";
const LANGS: [&str; 4] = ["ar", "zgh", "fr", "en"];

fn screenshots() -> PathBuf {
    let dir = std::env::var_os("EGOV_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots"));
    std::fs::create_dir_all(&dir).expect("the screenshot folder");
    dir
}

/// The language switcher's own link: sets the cookie, then shows `path`.
fn in_lang(world: &SsoWorld, lang: &str, path: &str) -> String {
    let back: String = path
        .bytes()
        .map(|b| match b {
            b'/' => "%2F".to_string(),
            b'?' => "%3F".to_string(),
            b'=' => "%3D".to_string(),
            b'&' => "%26".to_string(),
            b' ' => "%20".to_string(),
            b'+' => "%2B".to_string(),
            b => (b as char).to_string(),
        })
        .collect();
    world.gateway.url(&format!("/lang?set={lang}&back={back}"))
}

fn violations(outcome: &Outcome) -> Vec<String> {
    outcome
        .visits
        .iter()
        .flat_map(|v| {
            v.audit
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(move |x| format!("{}: {} ({}) {}", v.url, x["id"], x["impact"], x["targets"]))
        })
        .collect()
}

#[test]
fn every_page_type_in_every_language_passes_axe_wcag_2_1_aa() {
    let world = SsoWorld::start(SsoOptions::new(Store::Memory));
    let chromium = Chromium::start();
    let mut visits = Vec::new();
    for lang in LANGS {
        for path in [
            "/".to_string(),
            "/categories/energy-water".to_string(),
            format!("/services/{SERVICE}"),
            format!("/search?q={}", DARIJA.replace(' ', "+")),
            "/search?q=recette+de+tajine".to_string(),
            "/search?q=".to_string(),
            "/no-such-page".to_string(),
        ] {
            visits.push(Visit::to(in_lang(&world, lang, &path)).audited());
        }
        // "Not what I meant", answered: the thanks page.
        visits.push(
            Visit::to(in_lang(
                &world,
                lang,
                &format!("/search?q={}", DARIJA.replace(' ', "+")),
            ))
            .clicking("form.feedback button[type=submit]")
            .audited(),
        );
    }
    let outcome = chromium.visit(world.provider.issuer(), &visits);
    for v in &outcome.visits {
        assert!(!v.audit.is_null(), "{}: not audited\n{outcome}", v.url);
    }
    let found = violations(&outcome);
    assert!(found.is_empty(), "{}", found.join("\n"));
    // The one error expected: the 404 of the page that does not exist.
    let errors: Vec<&String> = outcome
        .console_errors
        .iter()
        .filter(|e| {
            !e.contains(
                "/no-such-page: Failed to load resource: the server responded with a status of 404",
            )
        })
        .collect();
    assert!(errors.is_empty(), "{errors:?}\n{outcome}");
}

#[test]
fn the_keyboard_reaches_every_link_and_button_with_a_visible_focus() {
    let world = SsoWorld::start(SsoOptions::new(Store::Memory));
    let chromium = Chromium::start();
    let visits: Vec<Visit> = ["/", &format!("/services/{SERVICE}")]
        .iter()
        .flat_map(|p| {
            ["ar", "fr"].map(|lang| Visit::to(in_lang(&world, lang, p)).tabbing_through())
        })
        .collect();
    let outcome = chromium.visit(world.provider.issuer(), &visits);
    for v in &outcome.visits {
        let walk = &v.keyboard;
        let reached = walk["reached"].as_array().cloned().unwrap_or_default();
        assert!(reached.len() > 5, "{}: Tab reached {walk}", v.url);
        assert_eq!(
            reached[0]["href"], "#main",
            "{}: the skip link comes first",
            v.url
        );
        let invisible: Vec<&Value> = reached.iter().filter(|r| r["outline"] != true).collect();
        assert!(
            invisible.is_empty(),
            "{}: focus not visible on {invisible:?}",
            v.url
        );
        assert_eq!(walk["unreached"], serde_json::json!([]), "{}", v.url);
    }
}

#[test]
fn a_darija_request_leads_to_the_service_the_legacy_page_and_back_out() {
    let world = SsoWorld::start(SsoOptions::new(Store::Memory));
    let chromium = Chromium::start();
    let shots = screenshots();
    let mut visits: Vec<Visit> = ["ar", "zgh", "fr"]
        .iter()
        .map(|lang| {
            Visit::to(in_lang(&world, lang, "/"))
                .screenshot_to(shots.join(format!("home-{lang}.png")))
        })
        .collect();
    visits.push(
        Visit::to(in_lang(&world, "ar", &format!("/services/{SERVICE}")))
            .screenshot_to(shots.join("service-ar.png")),
    );
    visits.push(
        Visit::to(in_lang(&world, "ar", "/"))
            .searching(DARIJA)
            .clicking("ul.cards a")
            .clicking("a.button")
            .logging_in_as("amina"),
    );
    visits.push(Visit::to(world.gateway.url("/")));
    visits.push(Visit::to(world.gateway.url("/auth/logout")).confirming_logout());
    visits.push(Visit::to(world.gateway.url("/")));
    let outcome = chromium.visit(world.provider.issuer(), &visits);

    let journey = &outcome.visits[4];
    assert_eq!(
        journey.actions[..3],
        ["search", "click ul.cards a", "click a.button"],
        "{outcome}"
    );
    assert!(
        journey
            .navigations
            .iter()
            .any(|n| n.ends_with(&format!("/services/{SERVICE}"))),
        "the box did not lead to the service page:\n{outcome}"
    );
    assert!(journey.actions.contains(&"login".to_string()), "{outcome}");
    assert!(
        journey
            .url
            .starts_with(&world.gateway.url(&format!("/s/{SERVICE}/"))),
        "not on the legacy page:\n{outcome}"
    );
    assert_eq!(journey.status, Some(200), "{outcome}");
    assert_eq!(journey.charset, "UTF-8", "adapted to UTF-8:\n{outcome}");
    // The portal strip: the way back, the service's name in Arabic, the login state.
    assert!(
        journey
            .links
            .iter()
            .any(|l| l == &format!("/services/{SERVICE}"))
            && journey.links.iter().any(|l| l == "/auth/logout"),
        "no portal strip on the legacy page:\n{outcome}"
    );
    assert!(
        journey.text.starts_with("البوابة الوطنية للخدمات الإدارية"),
        "{outcome}"
    );

    let logged_in = &outcome.visits[5];
    assert!(
        logged_in.text.contains("متصل باسم"),
        "the portal shows the login state:\n{outcome}"
    );
    let logged_out = &outcome.visits[7];
    assert!(
        !logged_out.text.contains("متصل باسم") && logged_out.text.contains("تسجيل الدخول"),
        "still logged in after logout:\n{outcome}"
    );
    for name in [
        "home-ar.png",
        "home-zgh.png",
        "home-fr.png",
        "service-ar.png",
    ] {
        let size = std::fs::metadata(shots.join(name))
            .map(|m| m.len())
            .unwrap_or(0);
        assert!(size > 10_000, "{name}: {size} bytes");
    }
    // The provider's own login page asks for web fonts; nothing the portal or the adapted
    // legacy page serves leaves the machine.
    let ours: Vec<&String> = outcome
        .offsite_requests
        .iter()
        .filter(|u| !u.starts_with("https://fonts.googleapis.com/"))
        .collect();
    assert!(ours.is_empty(), "{ours:?}\n{outcome}");
}

/// What a citizen types into the box stays out of every address her browser keeps (its
/// history, the address bar, each page's links and `Referer`) and out of any log in front
/// of the gateway, while the page answers it; Back from the service it found shows the
/// answer again, and its address opened in another browser shows the empty box.
#[test]
fn a_citizens_search_stays_out_of_every_address_her_browser_keeps() {
    let world = SsoWorld::start(SsoOptions::new(Store::Memory));
    let chromium = Chromium::start();
    let typed = format!("{DARIJA} AB123456");
    let outcome = chromium.visit(
        world.provider.issuer(),
        &[Visit::to(in_lang(&world, "fr", "/"))
            .searching(&typed)
            .clicking("ul.cards a")
            .going_back()],
    );
    let answer = outcome.last();
    assert_eq!(
        answer.actions,
        ["search", "click ul.cards a", "back"],
        "{outcome}"
    );
    assert_eq!(answer.status, Some(200), "{outcome}");
    assert!(
        answer.url.starts_with(&world.gateway.url("/search?t=")),
        "{outcome}"
    );
    assert!(
        answer
            .links
            .iter()
            .any(|l| l == &format!("/services/{SERVICE}")),
        "Back shows the answer again:\n{outcome}"
    );
    for word in ["AB123456", "kahraba", "lfatura"] {
        let addresses = answer.navigations.iter().chain(&answer.links);
        let carrying: Vec<&String> = addresses.filter(|a| a.contains(word)).collect();
        assert!(carrying.is_empty(), "{word} in {carrying:?}\n{outcome}");
    }

    let elsewhere = chromium.visit(world.provider.issuer(), &[Visit::to(&answer.url)]);
    let seen = elsewhere.last();
    assert_eq!(seen.status, Some(200), "{elsewhere}");
    assert!(
        !seen.text.contains("AB123456")
            && !seen
                .links
                .iter()
                .any(|l| l == &format!("/services/{SERVICE}")),
        "another browser reads nothing at the address:\n{elsewhere}"
    );
}

/// A citizen who logs in from her search's answer comes back to it: the login's way back
/// is the sealed address, and her browser's navigation back from the provider is hers,
/// not another site's call on the search box.
#[test]
fn a_citizen_who_logs_in_from_her_searchs_answer_comes_back_to_it() {
    let world = SsoWorld::start(SsoOptions::new(Store::Memory));
    let chromium = Chromium::start();
    let outcome = chromium.visit(
        world.provider.issuer(),
        &[Visit::to(in_lang(&world, "fr", "/"))
            .searching(DARIJA)
            .clicking("a.login")
            .logging_in_as("amina")],
    );
    let back = outcome.last();
    assert!(back.actions.contains(&"login".to_string()), "{outcome}");
    assert_eq!(back.status, Some(200), "{outcome}");
    assert!(
        back.url.starts_with(&world.gateway.url("/search?t=")),
        "{outcome}"
    );
    assert!(
        back.links
            .iter()
            .any(|l| l == &format!("/services/{SERVICE}")),
        "her answer again, signed in:\n{outcome}"
    );
}

/// Another site's page, served from `http://elsewhere.localhost:<port>/` for any path:
/// it makes its visitor's browser call the portal's search, router and feedback every way a
/// page can without a click (images, frames, a prefetch, forms posted into hidden frames,
/// a `fetch`), and offers a link to a search (`#go`). Returns its address.
fn another_sites_page(portal: &str) -> String {
    let page = format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Elsewhere</title>
<link rel="prefetch" href="{portal}/search?q=prefetched"></head><body>
<img alt="" src="{portal}/search?q=image"><img alt="" src="{portal}/search?q=image2">
<iframe title="a" src="{portal}/search?q=frame"></iframe>
<iframe title="b" src="{portal}/search?q=frame2"></iframe>
<iframe title="sink" name="sink"></iframe>
<iframe title="sink2" name="sink2"></iframe>
<form id="f" method="post" action="{portal}/feedback" target="sink">
<input name="q" value="passeport"><input name="routed" value="cnie-renewal">
<input name="chosen" value="passport-application"></form>
<form id="s" method="post" action="{portal}/search" target="sink2">
<input name="q" value="passeport"></form>
<script>
document.getElementById('f').submit();
document.getElementById('s').submit();
fetch('{portal}/api/route', {{method: 'POST', mode: 'no-cors',
  headers: {{'Content-Type': 'text/plain'}}, body: '{{"query":"passeport"}}'}});
</script>
<a id="go" href="{portal}/search?q=passeport">Search the portal</a></body></html>"#
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port for the page");
    let port = listener.local_addr().expect("its address").port();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut head = [0u8; 4096];
            let _ = stream.read(&mut head);
            let answer = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{page}",
                page.len()
            );
            let _ = stream.write_all(answer.as_bytes());
        }
    });
    format!("http://elsewhere.localhost:{port}/")
}

/// The portal's 4xx answers so far, from its `/metrics`.
async fn portal_refusals(gw: &egov_integration::TestGateway) -> u64 {
    let text = gw.metrics_showing(&[]).await;
    text.lines()
        .find(|l| {
            l.starts_with("egov_http_requests_total{")
                && l.contains(r#"class="4xx""#)
                && l.contains(r#"service="_portal""#)
        })
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0)
}

/// What a real browser sends, not headers written by hand: another site's page spends none
/// of the search budget of the address its visitors share (a carrier's NAT), while a link
/// on it that the citizen clicks is a search like any other.
#[tokio::test(flavor = "multi_thread")]
async fn another_sites_page_in_a_real_browser_spends_no_search_budget_but_its_clicked_link_does() {
    let estate = egov_integration::start_estate(None);
    let gw = egov_integration::TestGateway::with(&estate, |c| {
        c.gateway.limits.rate.route_per_ip = egov_gateway::config::Rate {
            count: 3,
            per: std::time::Duration::from_secs(60),
        };
    });
    let portal = format!("http://{}", gw.addr);
    let elsewhere = another_sites_page(&portal);
    let chromium = Chromium::start();
    let before = portal_refusals(&gw).await;
    let wait_for_calls = "new Promise(done => setTimeout(() => done(true), 1500))";
    let visits = [
        Visit::to(&elsewhere).running(wait_for_calls),
        Visit::to(&elsewhere).clicking("#go"),
    ];
    let outcome = chromium.visit(&portal, &visits);
    let seen = outcome.last();
    assert_eq!(
        seen.status,
        Some(200),
        "the clicked link is a search\n{outcome}"
    );
    assert!(seen.url.contains("/search?q=passeport"), "{outcome}");
    let refused = portal_refusals(&gw).await - before;
    assert!(
        refused >= 9,
        "the page's calls reached the portal and were refused: {refused}\n{outcome}"
    );
    // The click spent one of three; the citizen's own two searches spend the rest, one
    // each, whether typed into the box (a post, then its page) or followed as a link.
    let own = [
        Visit::to(format!("{portal}/")).searching("passeport"),
        Visit::to(format!("{portal}/search?q=permis")),
        Visit::to(format!("{portal}/")).searching("bourse"),
    ];
    let outcome = chromium.visit(&portal, &own);
    let statuses: Vec<Option<u16>> = outcome.visits.iter().map(|v| v.status).collect();
    assert_eq!(statuses, [Some(200), Some(200), Some(429)], "{outcome}");
}
