use super::login::authenticated_during;
use super::*;

fn login_start(headers: &[(&str, &str)]) -> pingora::http::RequestHeader {
    let mut req =
        pingora::http::RequestHeader::build("GET", b"/auth/login", None).expect("request");
    for (n, v) in headers {
        req.insert_header(n.to_string(), *v).expect("header");
    }
    req
}

/// The Fetch Metadata a browser sends with each way a login can start: what the
/// citizen does herself, or the portal's own pages, start one; what another site's page
/// does by itself does not (found in a bypass probe: a page re-submitting a form into
/// its own window every 20 ms was a "document" navigation each time).
#[test]
fn a_login_starts_from_the_citizens_own_act_or_the_portals_pages_only() {
    let navigation = |site: &'static str| {
        vec![
            ("sec-fetch-site", site),
            ("sec-fetch-mode", "navigate"),
            ("sec-fetch-dest", "document"),
        ]
    };
    let with_user = |site| {
        let mut h = navigation(site);
        h.push(("sec-fetch-user", "?1"));
        h
    };
    for started in [
        vec![],
        with_user("none"),
        navigation("same-origin"),
        with_user("same-origin"),
        with_user("same-site"),
        with_user("cross-site"),
    ] {
        assert!(opened_as_a_page(&login_start(&started)), "{started:?}");
    }
    let mut prefetched = with_user("cross-site");
    prefetched.push(("sec-purpose", "prefetch"));
    // Without Fetch Metadata: a page's request asks for pages, a picture's for images.
    assert!(opened_as_a_page(&login_start(&[(
        "accept",
        "text/html,application/xhtml+xml,*/*;q=0.8"
    )])));
    assert!(!opened_as_a_page(&login_start(&[(
        "accept",
        "image/avif,image/webp,image/*,*/*;q=0.8"
    )])));
    for refused in [
        navigation("cross-site"),
        navigation("same-site"),
        prefetched,
        vec![
            ("sec-fetch-site", "cross-site"),
            ("sec-fetch-mode", "no-cors"),
            ("sec-fetch-dest", "image"),
        ],
        vec![
            ("sec-fetch-site", "same-origin"),
            ("sec-fetch-mode", "navigate"),
            ("sec-fetch-dest", "iframe"),
        ],
    ] {
        assert!(!opened_as_a_page(&login_start(&refused)), "{refused:?}");
    }
}

#[test]
fn a_page_opened_without_the_citizens_act_is_told_apart_from_what_is_no_page() {
    let pushed = |site| {
        vec![
            ("sec-fetch-site", site),
            ("sec-fetch-mode", "navigate"),
            ("sec-fetch-dest", "document"),
        ]
    };
    for unshown in [pushed("cross-site"), pushed("same-site")] {
        assert_eq!(
            page_navigation(&login_start(&unshown)),
            Some(Act::Unshown),
            "{unshown:?}"
        );
    }
    let mut prefetched = pushed("cross-site");
    prefetched.push(("sec-purpose", "prefetch"));
    let framed = vec![
        ("sec-fetch-site", "cross-site"),
        ("sec-fetch-mode", "navigate"),
        ("sec-fetch-dest", "iframe"),
    ];
    for no_page in [prefetched, framed] {
        assert_eq!(page_navigation(&login_start(&no_page)), None, "{no_page:?}");
    }
}

fn claims(
    auth_time: Option<u64>,
    issued_at: Option<u64>,
) -> super::super::provider::IdentityClaims {
    super::super::provider::IdentityClaims {
        iss: "https://idp.example".into(),
        sub: "amina".into(),
        sid: None,
        name: None,
        acr: None,
        professional: false,
        expires_at: 0,
        auth_time,
        issued_at,
    }
}

/// From review: the provider's times are compared with each other, the gateway's with
/// each other, so a provider whose clock is a minute behind (or ahead) is believed
/// when it authenticated the citizen during the login, and only then.
#[test]
fn a_fresh_authentication_is_told_by_the_providers_clock_alone() {
    let (began, now) = (1_000_000, 1_000_030);
    for behind in [0, 60, 3_600] {
        let provider_now = now - behind;
        let fresh = claims(Some(provider_now - 20), Some(provider_now));
        assert!(
            authenticated_during(&fresh, began, now),
            "{behind} s behind"
        );
        let stale = claims(Some(provider_now - 600), Some(provider_now));
        assert!(
            !authenticated_during(&stale, began, now),
            "{behind} s behind"
        );
    }
    let ahead = claims(Some(now + 90 - 10), Some(now + 90));
    assert!(authenticated_during(&ahead, began, now));
    assert!(!authenticated_during(&claims(None, Some(now)), began, now));
    assert!(!authenticated_during(&claims(Some(now), None), began, now));
    assert!(!authenticated_during(
        &claims(Some(0), Some(u64::MAX)),
        began,
        now
    ));
}

#[test]
fn return_to_accepts_only_same_origin_relative_paths() {
    assert_eq!(
        safe_return_to(Some("/s/cnie-renewal/?a=1")),
        "/s/cnie-renewal/?a=1"
    );
    for evil in [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example",
        "evil",
        "/a\r\nSet-Cookie: x",
        "/\t/evil.example",
        "/\x0b/evil.example",
        "/ /evil.example",
        "/\x7f/evil.example",
        "/s/caf\u{e9}/",
        "/\u{ff0f}/evil.example",
    ] {
        assert_eq!(safe_return_to(Some(evil)), "/", "{evil:?}");
    }
    assert_eq!(safe_return_to(None), "/");
}
