//! Random header values and URLs through the header-side adapters and the SOAP parser.
//!
//! These all parse text a legacy site (or a citizen) controls; none may panic.

#![no_main]

use egov_adapters::cookies::{
    filter_cookie_header, portal_reserved, scope_set_cookie, CookieScope,
};
use egov_adapters::css::rewrite_css_urls;
use egov_adapters::links::{LinkMapBuilder, ServiceLinks};
use egov_adapters::redirects::{rewrite_location, rewrite_refresh};
use egov_adapters::soap::envelope_to_json;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = envelope_to_json(data);
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut b = LinkMapBuilder::new();
    b.add_legacy("www.cnie.ma", "/cnie", "/s/cnie-renewal")
        .expect("valid mount");
    b.add_upstream("[::1]:9400", "/", "/s/cnie-renewal")
        .expect("valid mount");
    let map = b.build();
    let here = ServiceLinks::new("www.cnie.ma", "/s/cnie-renewal");
    if let Some(new) = rewrite_location(text, &map, &here) {
        assert!(new.starts_with("/s/cnie-renewal"), "{new}");
    }
    let _ = rewrite_refresh(text, &map, &here);
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
        }
    }
    if let Some(kept) = filter_cookie_header(text, portal_reserved) {
        assert!(
            !kept
                .split("; ")
                .any(|c| c.starts_with("egov_") && c.contains('=')),
            "{kept}"
        );
    }
});
