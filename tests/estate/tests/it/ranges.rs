//! Byte ranges on pages, as the legacy sites' Apache served them.

use crate::common::{header, TestEstate};

#[tokio::test]
async fn a_page_range_is_answered_with_a_206_slice_of_the_legacy_bytes() {
    let estate = TestEstate::calm();
    let whole = estate
        .get_site("cnie-renewal", "/")
        .send()
        .await
        .expect("response");
    assert_eq!(header(&whole, "accept-ranges").as_deref(), Some("bytes"));
    let whole = whole.bytes().await.expect("body");
    let part = estate
        .get_site("cnie-renewal", "/")
        .header("range", "bytes=0-99")
        .send()
        .await
        .expect("response");
    assert_eq!(part.status(), 206);
    assert_eq!(
        header(&part, "content-range"),
        Some(format!("bytes 0-99/{}", whole.len()))
    );
    assert_eq!(part.bytes().await.expect("body"), whole.slice(0..100));
}

#[tokio::test]
async fn a_range_with_if_range_gets_the_whole_page() {
    let estate = TestEstate::calm();
    let response = estate
        .get_site("cnie-renewal", "/")
        .header("range", "bytes=0-99")
        .header("if-range", "\"some-etag\"")
        .send()
        .await
        .expect("response");
    assert_eq!(response.status(), 200);
}
