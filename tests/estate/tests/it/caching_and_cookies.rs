//! Caching headers and legacy cookies.

use crate::common::{header, header_values, TestEstate};

const CACHE_HEADERS: [&str; 5] = [
    "cache-control",
    "expires",
    "etag",
    "last-modified",
    "pragma",
];

#[tokio::test]
async fn no_cache_headers_site_sends_no_caching_header_at_all() {
    let estate = TestEstate::calm();
    let response = estate
        .get_site("university-housing", "/")
        .send()
        .await
        .expect("response");
    assert_eq!(response.status(), 200);
    for name in CACHE_HEADERS {
        assert!(response.headers().get(name).is_none(), "{name} present");
    }
}

#[tokio::test]
async fn aggressive_caching_site_caches_dynamic_pages_for_a_year() {
    let estate = TestEstate::calm();
    let response = estate
        .get_site("ofppt-registration", "/suivi?ref=2008/1")
        .header("x-api-key", "estate-ofppt-registration-key")
        .send()
        .await
        .expect("response");
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "cache-control").as_deref(),
        Some("public, max-age=31536000, immutable")
    );
    assert!(header(&response, "expires").is_some_and(|e| e.contains("2037")));
}

#[tokio::test]
async fn ordinary_site_sends_private_no_cache() {
    let estate = TestEstate::calm();
    let response = estate
        .get_site("cnie-renewal", "/")
        .send()
        .await
        .expect("response");
    assert_eq!(
        header(&response, "cache-control").as_deref(),
        Some("private, no-cache")
    );
}

#[tokio::test]
async fn legacy_cookies_site_sets_domain_cookies() {
    let estate = TestEstate::calm();
    let response = estate
        .get_site("birth-certificate-full-copy", "/")
        .send()
        .await
        .expect("response");
    let cookies = header_values(&response, "set-cookie");
    assert!(cookies.contains(&"PREF=lang-ar; Domain=www.watiqa.ma; Path=/".to_string()));
    assert!(cookies
        .iter()
        .any(|c| c.starts_with("SITE_BIRTH_CERTIFICATE_FULL_COPY=")
            && c.contains("Domain=.watiqa.ma; Path=/; Expires=")));
}
