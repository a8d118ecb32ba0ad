//! Random header values and URLs through the header-side adapters and the SOAP parser.
//!
//! These all parse text a legacy site (or a citizen) controls; none may panic. A rewritten
//! `Location` stays under the service prefix, and a scoped `Set-Cookie` never carries a
//! `Domain` nor one of the portal's own cookie names.

#![no_main]

use egov_adapters::cookies::{
    forwarded_cookies, framework_session_name, portal_reserved, scope_set_cookie,
    scope_set_cookie_bytes, CookieScope,
};
use egov_adapters::css::rewrite_css_urls;
use egov_adapters::links::{LinkMapBuilder, ServiceLinks};
use egov_adapters::redirects::{
    rewrite_link, rewrite_link_bytes, rewrite_location, rewrite_location_bytes, rewrite_refresh,
    rewrite_refresh_bytes,
};
use egov_adapters::soap::{envelope_to_json, envelope_to_json_with_content_type};
use libfuzzer_sys::fuzz_target;

/// The name a browser would store a `Set-Cookie` under: the bytes before the first `=`,
/// without surrounding spaces and tabs.
fn cookie_name(set_cookie: &[u8]) -> &[u8] {
    let pair = set_cookie.split(|&b| b == b';').next().unwrap_or_default();
    let name = pair.split(|&b| b == b'=').next().unwrap_or_default();
    let is_ws = |b: &u8| matches!(b, b' ' | b'\t');
    let start = name.iter().position(|b| !is_ws(b)).unwrap_or(name.len());
    let end = name
        .iter()
        .rposition(|b| !is_ws(b))
        .map_or(start, |i| i + 1);
    &name[start..end]
}

fuzz_target!(|data: &[u8]| {
    let _ = envelope_to_json(data);
    let _ = envelope_to_json_with_content_type(data, Some("text/xml; charset=iso-8859-1"));
    let mut b = LinkMapBuilder::new();
    b.add_legacy("www.cnie.ma", "/cnie", "/s/cnie-renewal")
        .expect("valid mount");
    b.add_upstream("[::1]:9400", "/", "/s/cnie-renewal")
        .expect("valid mount");
    let map = b.build();
    let here = ServiceLinks::new("www.cnie.ma", "/s/cnie-renewal");
    // Raw header bytes, as the gateway hands them over.
    if let Some(new) = rewrite_location_bytes(data, &map, &here) {
        assert!(new.starts_with(b"/s/cnie-renewal"), "{new:?}");
    }
    let _ = rewrite_refresh_bytes(data, &map, &here);
    if let Some(new) = rewrite_link_bytes(data, &map, &here) {
        // Only targets change: what is outside `<...>` is the legacy value's, byte for byte.
        let outside = |v: &[u8]| v.iter().filter(|&&b| b == b'>').count();
        assert_eq!(outside(&new), outside(data), "{new:?}");
    }
    for https in [false, true] {
        let scope = CookieScope {
            portal_prefix: "/s/cnie-renewal".into(),
            legacy_base: "/cnie".into(),
            portal_https: https,
        };
        if let Some(cookie) = scope_set_cookie_bytes(data, &scope) {
            let name = String::from_utf8_lossy(cookie_name(&cookie)).into_owned();
            assert!(!portal_reserved(&name), "{cookie:?}");
            assert!(
                !cookie
                    .to_ascii_lowercase()
                    .windows(9)
                    .any(|w| w == b"; domain="),
                "{cookie:?}"
            );
        }
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(new) = rewrite_location(text, &map, &here) {
        assert!(new.starts_with("/s/cnie-renewal"), "{new}");
    }
    let _ = rewrite_refresh(text, &map, &here);
    let _ = rewrite_link(text, &map, &here);
    let _ = rewrite_css_urls(text, &map, &here);
    for https in [false, true] {
        let scope = CookieScope {
            portal_prefix: "/s/cnie-renewal".into(),
            legacy_base: "/cnie".into(),
            portal_https: https,
        };
        if let Some(cookie) = scope_set_cookie(text, &scope) {
            assert!(
                !cookie.to_ascii_lowercase().contains("; domain="),
                "{cookie}"
            );
            let name = std::str::from_utf8(cookie_name(cookie.as_bytes())).unwrap_or_default();
            assert!(
                !portal_reserved(name),
                "a reserved cookie was scoped: {cookie}"
            );
        }
    }
    if let Some(kept) = forwarded_cookies(&[text.as_bytes()], None, framework_session_name) {
        let kept = String::from_utf8_lossy(&kept);
        assert!(
            !kept
                .split("; ")
                .any(|c| c.starts_with("egov_") && c.contains('=')),
            "{kept}"
        );
    }
});
