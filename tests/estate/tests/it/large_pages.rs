//! Large pages are over a megabyte and streamed in chunks.

use crate::common::{header, TestEstate};

#[tokio::test]
async fn large_pages_site_releve_is_over_a_megabyte_and_chunked() {
    let estate = TestEstate::calm();
    let home = estate
        .get_site("court-case-tracking", "/")
        .send()
        .await
        .expect("response");
    assert!(home
        .text()
        .await
        .expect("body")
        .contains(r#"href="/releve""#));

    let response = estate
        .get_site("court-case-tracking", "/releve")
        .send()
        .await
        .expect("response");
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "transfer-encoding").as_deref(),
        Some("chunked")
    );
    assert_eq!(response.content_length(), None);
    let page = response.text().await.expect("utf-8 body");
    assert!(page.len() > 1_000_000, "only {} bytes", page.len());
    assert!(page.contains("في طور المعالجة") || page.contains("مقبول"));
    assert!(page.trim_end().ends_with("</html>"));
}

#[tokio::test]
async fn big_instrument_streams_n_megabytes_in_site_charset_with_absolute_links() {
    let estate = TestEstate::calm();
    let response = estate
        .get_site("cnie-renewal", "/__estate/big?mb=2")
        .send()
        .await
        .expect("response");
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "content-type").as_deref(),
        Some("text/html")
    );
    let bytes = response.bytes().await.expect("body");
    assert!(bytes.len() >= 2 * 1024 * 1024 && bytes.len() < 2 * 1024 * 1024 + 64 * 1024);
    let (text, _, errors) = encoding_rs::WINDOWS_1256.decode(&bytes);
    assert!(!errors);
    assert!(text.contains(r#"href="http://www.cnie.ma/cnie-renewal/suivi?ref="#));
}
