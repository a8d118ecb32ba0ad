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
