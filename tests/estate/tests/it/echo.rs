//! The echo instrument reflects exactly what reached the legacy side.

use reqwest::Method;
use serde_json::Value;

use crate::common::TestEstate;

#[tokio::test]
async fn echo_reflects_method_path_query_headers_cookies_and_body() {
    let estate = TestEstate::calm();
    let response = estate
        .request(
            Method::PUT,
            "WWW.CNIE.MA:8080",
            "/cnie-renewal/__estate/echo/deep/path?a=1&b=%C3%A9",
        )
        .header("x-custom", "one")
        .header("cookie", "PREF=lang-ar; JSESSIONID=ABC")
        .body("bonjour مرحبا")
        .send()
        .await
        .expect("response");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response
            .headers()
            .get("cache-control")
            .map(|v| v.as_bytes()),
        Some(&b"no-store"[..])
    );
    let echo: Value = response.json().await.expect("json");
    assert_eq!(echo["site"], "cnie-renewal");
    assert_eq!(echo["host"], "WWW.CNIE.MA:8080");
    assert_eq!(echo["method"], "PUT");
    assert_eq!(echo["path"], "/cnie-renewal/__estate/echo/deep/path");
    assert_eq!(echo["query"], "a=1&b=%C3%A9");
    assert_eq!(echo["headers"]["x-custom"], serde_json::json!(["one"]));
    assert_eq!(echo["cookies"]["PREF"], "lang-ar");
    assert_eq!(echo["cookies"]["JSESSIONID"], "ABC");
    assert_eq!(echo["body"], "bonjour مرحبا");
    assert_eq!(echo["body_len"], "bonjour مرحبا".len());
}

#[tokio::test]
async fn echo_truncates_large_bodies_but_reports_full_length() {
    let estate = TestEstate::calm();
    let body = vec![b'x'; 100 * 1024];
    let echo: Value = estate
        .request(Method::POST, "www.cnie.ma", "/cnie-renewal/__estate/echo")
        .body(body)
        .send()
        .await
        .expect("response")
        .json()
        .await
        .expect("json");
    assert_eq!(echo["body_len"], 100 * 1024);
    assert_eq!(echo["body"].as_str().map(str::len), Some(64 * 1024));
    assert_eq!(echo["query"], Value::Null);
}
